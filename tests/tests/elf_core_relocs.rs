//! CO-RE relocations (`.BTF.ext`): the loader reads them (section, instruction, kind, local
//! type, access string) and reports them, without applying them; a malformed `.BTF.ext` is
//! ignored as libbpf ignores it, with the reason kept. The object is
//! `tests/objects/core_relocs.c`, whose context struct is declared with
//! `preserve_access_index`.

use std::path::Path;

use sockops_vm::elf::{CoreReloKind, Object};

fn object_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("objects/core_relocs.o");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn core_relocations_are_read_with_their_instructions_and_access_strings() {
    let object = Object::parse("core_relocs", &object_bytes()).expect("loads");
    assert_eq!(object.btf_ext_error(), None);
    let relocs = object.core_relocations();
    let seen: Vec<(String, usize, CoreReloKind, String, String)> = relocs
        .iter()
        .map(|r| {
            (
                r.section.clone(),
                r.insn,
                r.kind,
                r.type_name.clone(),
                r.access.clone(),
            )
        })
        .collect();
    // `s->op` (member 0) is read, `s->reply` (member 1) written; each access is a
    // byte-offset relocation on its load or store.
    let program = object.program("core_timeout").expect("program");
    for (section, insn, kind, tname, access) in &seen {
        assert_eq!(section, "sockops");
        assert_eq!(*kind, CoreReloKind::FieldByteOffset);
        assert_eq!(tname, "bpf_sock_ops___core");
        let i = program.insns[*insn];
        let expected_off = match access.as_str() {
            "0:0" => 0,
            "0:1" => 4,
            a => panic!("unexpected access string {a}"),
        };
        assert_eq!(
            i.off, expected_off,
            "insn {insn} keeps the compiler's offset"
        );
    }
    let accesses: Vec<&str> = seen.iter().map(|s| s.4.as_str()).collect();
    assert_eq!(accesses, ["0:0", "0:1"]);
    assert!(
        relocs[0]
            .to_string()
            .contains("byte_off of 'bpf_sock_ops___core' (access 0:0)"),
        "{}",
        relocs[0]
    );
}

#[test]
fn objects_without_core_types_have_none() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/syn_rto.o");
    let object = Object::open(&path).expect("loads");
    assert!(object.core_relocations().is_empty());
    assert_eq!(object.btf_ext_error(), None);
}

/// A `.BTF.ext` whose core_relo subsection points outside the section: the object still
/// loads (libbpf goes on without it) and the reason is kept.
#[test]
fn a_malformed_btf_ext_is_ignored_with_its_reason() {
    let mut bytes = object_bytes();
    let ext = find_btf_ext(&bytes).expect("the object has a .BTF.ext");
    // core_relo_len (header word at +28) far beyond the section.
    bytes[ext + 28..ext + 32].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let object = Object::parse("core_relocs", &bytes).expect("still loads");
    assert!(object.core_relocations().is_empty());
    let why = object.btf_ext_error().expect("the reason");
    assert!(why.contains("core_relo subsection"), "{why}");
}

/// File offset of the `.BTF.ext` section (ELF64 little-endian section headers).
fn find_btf_ext(b: &[u8]) -> Option<usize> {
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let strtab = u64_at(shoff + shstrndx * shentsize + 0x18);
    (0..shnum).find_map(|i| {
        let sh = shoff + i * shentsize;
        let name_at = strtab + u32_at(sh);
        let name = b[name_at..].split(|&c| c == 0).next()?;
        (name == b".BTF.ext").then(|| u64_at(sh + 0x18))
    })
}
