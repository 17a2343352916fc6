//! Malformed objects: each class of bad input is a typed `ElfError` naming what and where,
//! and no truncated or byte-mutated version of any example object makes the loader panic.
//! Bad objects are made by patching the example objects at offsets goblin finds for us.

use std::path::PathBuf;

use goblin::elf::Elf;
use sockops_vm::elf::{ElfError, Object, RelocErrorKind};

fn example_bytes(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const EXAMPLES: [&str; 6] = [
    "op_count.o",
    "syn_rto.o",
    "tcp_tuning.o",
    "legacy_maps.o",
    "tail_call.o",
    "tail_values.o",
];

/// File offset and size of section `name`, and the offset of its header.
fn section(bytes: &[u8], name: &str) -> (usize, usize, usize) {
    let elf = Elf::parse(bytes).unwrap();
    let shoff = elf.header.e_shoff as usize;
    let shentsize = elf.header.e_shentsize as usize;
    for (i, sh) in elf.section_headers.iter().enumerate() {
        if elf.shdr_strtab.get_at(sh.sh_name) == Some(name) {
            return (
                sh.sh_offset as usize,
                sh.sh_size as usize,
                shoff + i * shentsize,
            );
        }
    }
    panic!("no section {name}");
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn load(bytes: &[u8]) -> Result<Object, ElfError> {
    Object::parse("test", bytes)
}

#[test]
fn truncated_and_not_elf() {
    let b = example_bytes("op_count.o");
    assert!(matches!(load(&[]), Err(ElfError::NotElf(_))));
    assert!(matches!(load(&b[..3]), Err(ElfError::NotElf(_))));
    assert!(matches!(load(&b[..40]), Err(ElfError::NotElf(_))));
    assert!(matches!(
        load(b"not an elf file at all, just text"),
        Err(ElfError::NotElf(_))
    ));
    // Cut in the middle: the section headers (at the end of the file) are gone.
    assert!(load(&b[..b.len() / 2]).is_err());
}

#[test]
fn wrong_class_endianness_machine_type() {
    let b = example_bytes("op_count.o");
    let mut c = b.clone();
    c[4] = 1; // ELFCLASS32
    assert!(matches!(load(&c), Err(ElfError::WrongClass(1))));
    let mut c = b.clone();
    c[5] = 2; // ELFDATA2MSB
    assert!(matches!(load(&c), Err(ElfError::WrongEndianness(2))));
    let mut c = b.clone();
    put_u16(&mut c, 18, 62); // EM_X86_64
    assert!(matches!(load(&c), Err(ElfError::WrongMachine(62))));
    let mut c = b.clone();
    put_u16(&mut c, 16, 2); // ET_EXEC
    assert!(matches!(load(&c), Err(ElfError::NotRelocatable(2))));
}

/// The first relocation entry of `.relsockops` (file offset of the entry).
fn first_reloc(bytes: &[u8]) -> usize {
    section(bytes, ".relsockops").0
}

#[test]
fn relocation_against_nothing() {
    let mut b = example_bytes("op_count.o");
    let r = first_reloc(&b);
    // r_info = (sym << 32) | type; symbol 0 is the null symbol.
    put_u64(&mut b, r + 8, 1);
    match load(&b) {
        Err(ElfError::Relocation {
            section,
            kind: RelocErrorKind::NoSymbol(0),
            ..
        }) => assert_eq!(section, "sockops"),
        other => panic!("{other:?}"),
    }
    // A symbol index beyond the symbol table.
    put_u64(&mut b, r + 8, (100_000u64 << 32) | 1);
    assert!(matches!(
        load(&b),
        Err(ElfError::Relocation {
            kind: RelocErrorKind::NoSymbol(100_000),
            ..
        })
    ));
}

#[test]
fn relocation_offset_type_and_instruction() {
    let b = example_bytes("op_count.o");
    let r = first_reloc(&b);
    let mut c = b.clone();
    put_u64(&mut c, r, 1 << 20); // r_offset beyond the section
    assert!(matches!(
        load(&c),
        Err(ElfError::Relocation {
            kind: RelocErrorKind::BadOffset,
            ..
        })
    ));
    let mut c = b.clone();
    let info = u64::from_le_bytes(c[r + 8..r + 16].try_into().unwrap());
    put_u64(&mut c, r + 8, (info & !0xffff_ffff) | 3); // R_BPF_64_ABS32
    assert!(matches!(
        load(&c),
        Err(ElfError::Relocation {
            kind: RelocErrorKind::BadType { r_type: 3 },
            ..
        })
    ));
    // The relocated instruction is no longer an LD_IMM64.
    let mut c = b.clone();
    let r_offset = u64::from_le_bytes(c[r..r + 8].try_into().unwrap()) as usize;
    let (code, _, _) = section(&c, "sockops");
    c[code + r_offset] = 0xb7; // mov64 imm
    assert!(matches!(
        load(&c),
        Err(ElfError::Relocation {
            kind: RelocErrorKind::NotLdImm64 { opcode: 0xb7 },
            ..
        })
    ));
}

#[test]
fn relocation_against_an_extern() {
    // `dc_prefix_len` made undefined (SHN_UNDEF), as an `extern` variable would be.
    let mut b = example_bytes("syn_rto.o");
    let elf = Elf::parse(&b).unwrap();
    let symtab = elf
        .section_headers
        .iter()
        .find(|s| s.sh_type == goblin::elf::section_header::SHT_SYMTAB)
        .unwrap();
    let idx = elf
        .syms
        .iter()
        .position(|s| elf.strtab.get_at(s.st_name) == Some("dc_prefix_len"))
        .unwrap();
    let at = symtab.sh_offset as usize + idx * 24 + 6; // st_shndx
    drop(elf);
    put_u16(&mut b, at, 0);
    match load(&b) {
        Err(ElfError::Relocation {
            section,
            kind: RelocErrorKind::Extern(name),
            ..
        }) => assert_eq!(
            (section.as_str(), name.as_str()),
            ("sockops", "dc_prefix_len")
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_btf_section() {
    let mut b = example_bytes("op_count.o");
    let elf = Elf::parse(&b).unwrap();
    let strtab = &elf.section_headers[elf.header.e_shstrndx as usize];
    let sh = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".BTF"))
        .unwrap();
    let at = strtab.sh_offset as usize + sh.sh_name + 3;
    drop(elf);
    b[at] = b'X'; // ".BTF" -> ".BTX"
    assert!(matches!(load(&b), Err(ElfError::MissingSection(s)) if s == ".BTF"));
}

#[test]
fn btf_that_does_not_parse() {
    let b = example_bytes("op_count.o");
    let (btf, size, _) = section(&b, ".BTF");
    let mut c = b.clone();
    c[btf] = 0; // magic
    assert!(matches!(load(&c), Err(ElfError::Btf(e)) if e.offset == 0));
    let mut c = b.clone();
    put_u32(&mut c, btf + 12, u32::MAX); // type_len
    assert!(matches!(load(&c), Err(ElfError::Btf(_))));
    let mut c = b.clone();
    put_u32(&mut c, btf + 24 + 4, 31 << 24); // first type: unknown kind 31
    assert!(matches!(load(&c), Err(ElfError::Btf(e)) if e.reason.contains("unknown type kind")));
    assert!(size > 24);
}

#[test]
fn unknown_map_type() {
    let mut b = example_bytes("legacy_maps.o");
    let (maps, _, _) = section(&b, "maps");
    put_u32(&mut b, maps, 99);
    match load(&b) {
        Err(ElfError::UnknownMapType { map, type_id }) => {
            assert_eq!((map.as_str(), type_id), ("ops_seen", 99));
        }
        other => panic!("{other:?}"),
    }
    // A definition the kernel refuses (array with key_size 8) is a map error.
    let mut b = example_bytes("legacy_maps.o");
    put_u32(&mut b, maps + 4, 8);
    assert!(matches!(load(&b), Err(ElfError::Map(_))));
}

#[test]
fn section_out_of_bounds_and_bad_sizes() {
    let b = example_bytes("op_count.o");
    let (_, _, hdr) = section(&b, ".BTF");
    let mut c = b.clone();
    put_u64(&mut c, hdr + 24, 1 << 40); // sh_offset
    assert!(
        matches!(load(&c), Err(ElfError::SectionOutOfBounds { section, .. }) if section == ".BTF")
    );

    let (_, size, hdr) = section(&b, "sockops");
    let mut c = b.clone();
    put_u64(&mut c, hdr + 32, size as u64 - 4); // sh_size
    assert!(matches!(load(&c), Err(ElfError::CodeSize { section, .. }) if section == "sockops"));

    let b = example_bytes("legacy_maps.o");
    let (_, size, hdr) = section(&b, "maps");
    let mut c = b.clone();
    put_u64(&mut c, hdr + 32, size as u64 - 4);
    assert!(matches!(load(&c), Err(ElfError::LegacyMaps(_))));
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn truncated_and_mutated_examples_never_panic() {
    let mut rng = Rng(0x5eed_0b1e_c7f1_1e5a);
    for name in EXAMPLES {
        let b = example_bytes(name);
        assert!(load(&b).is_ok(), "{name} must load unmodified");
        for len in (0..b.len()).step_by(13).chain(0..128) {
            let r = std::panic::catch_unwind(|| load(&b[..len]).map(|_| ()));
            assert!(r.is_ok(), "{name} truncated to {len} panicked");
        }
        for round in 0..3000 {
            let mut c = b.clone();
            let flips = 1 + rng.next() % 8;
            for _ in 0..flips {
                // Half the mutations hit the first 64 bytes or the section headers region,
                // where structure lives; the rest anywhere.
                let at = match rng.next() % 4 {
                    0 => (rng.next() % 64) as usize,
                    1 => c.len() - 1 - (rng.next() % (c.len() as u64 / 4)) as usize,
                    _ => (rng.next() % c.len() as u64) as usize,
                };
                c[at] = match rng.next() % 3 {
                    0 => rng.next() as u8,
                    1 => c[at] ^ (1 << (rng.next() % 8)),
                    _ => 0xff,
                };
            }
            let r = std::panic::catch_unwind(|| load(&c).map(|_| ()));
            assert!(r.is_ok(), "{name} mutation round {round} panicked");
        }
    }
}

/// `.values` initialisers of a prog array (`.rel.maps`): a relocation of another type,
/// outside the `values` array, or against something that is not a program is an error
/// naming the map section and offset.
#[test]
fn bad_prog_array_initialisers() {
    let good = example_bytes("tail_values.o");
    let inits = load(&good).unwrap().prog_array_inits().len();
    assert_eq!(inits, 2);
    let r = section(&good, ".rel.maps").0;
    let expect = |b: &[u8], needle: &str| {
        let e = load(b).unwrap_err().to_string();
        assert!(e.contains(".maps") && e.contains(needle), "{e}");
    };
    // Relocation type 1 (R_BPF_64_64) instead of R_BPF_64_ABS64.
    let mut b = good.clone();
    b[r + 8] = 1;
    expect(&b, "relocation type 1");
    // An offset before the `values` array (inside the map's key_size field).
    let mut b = good.clone();
    put_u64(&mut b, r, 8);
    expect(&b, "not inside a map's `values` array");
    // A misaligned slot.
    let mut b = good.clone();
    let off = u64::from_le_bytes(b[r..r + 8].try_into().unwrap());
    put_u64(&mut b, r, off + 4);
    expect(&b, "8-byte slot");
    // Against a symbol that is not a program (symbol 1: the first non-null symbol, which
    // clang makes a section or file symbol).
    let mut b = good.clone();
    put_u32(&mut b, r + 12, 1);
    expect(&b, "not a program of this object");
}
