//! Loads through a map pointer (`r1 = map_fd; r0 = *(u32 *)(r1 + 24)`, `map->max_entries`):
//! the kernel's `check_ptr_to_map_access`. The map's vmlinux BTF struct depends on its type
//! (`bpf_array`, `bpf_htab`, `bpf_stab`...) and names it in every message. Unprivileged
//! loaders are refused first ("access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"),
//! then negative offsets and writes; a read walks the kernel's own struct
//! (`btf_struct_access`) in the recorded vmlinux layout (`sockops_vm::vmlinux`): a scalar
//! member is accepted, a part of a pointer or a byte past the struct is refused with the
//! kernel's message, and a whole pointer member is an `untrusted_ptr_` (a read through
//! `map->ops` walks the recorded `struct bpf_map_ops`). Verdicts recorded from the live
//! kernel and checked against it again where `bpf()` works. What the reads give at run time
//! (the map's own values, on every engine) is `jit_differential.rs`'s
//! `map_struct_fields_read_through_the_map_pointer`.

use sockops_tests::kernel::Oracle;
use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel, leak,
};
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::vmlinux::{KElem, field, kstruct, kstruct_index};
use sockops_vm::{HelperTable, MapDef, MapType, assemble};

/// Each map type with the struct the kernel names, and a definition it accepts.
const TYPES: &[(MapType, &str, u32, u32, u32)] = &[
    (MapType::Hash, "bpf_htab", 8, 8, 4),
    (MapType::LruPercpuHash, "bpf_htab", 8, 8, 4),
    (MapType::Array, "bpf_array", 4, 8, 4),
    (MapType::PerfEventArray, "bpf_array", 4, 4, 4),
    (MapType::Sockmap, "bpf_stab", 4, 4, 4),
    (MapType::Sockhash, "bpf_shtab", 4, 4, 4),
    (MapType::Queue, "bpf_queue_stack", 0, 8, 4),
    (MapType::Ringbuf, "bpf_ringbuf_map", 0, 0, 4096),
];

const READ: &str = "ldxw %r0, [%r1+24]\n";
const NEGATIVE: &str = "ldxw %r0, [%r1-8]\n";
const WRITE: &str = "stxw [%r1+24], %r0\n";

fn program(access: &str) -> String {
    format!("lddw %r1, map_fd 0\nmov %r0, 0\n{access}mov %r0, 1\nexit")
}

fn maps(t: MapType, key: u32, value: u32, max: u32) -> Vec<MapDef> {
    vec![MapDef {
        map_type: t,
        key_size: key,
        value_size: value,
        max_entries: max,
        map_flags: 0,
    }]
}

/// Offset of `path` in struct `name` (recorded layout).
fn off(name: &str, path: &str) -> u32 {
    field(name, path)
        .unwrap_or_else(|| panic!("{name}.{path} is not recorded"))
        .offset
}

/// `sizeof(struct name)` in the recorded layout.
fn size_of(name: &str) -> u32 {
    kstruct(kstruct_index(name).expect("recorded"))
        .expect("recorded")
        .size
}

/// Whether the struct ends in a flexible array of scalars (`bpf_queue_stack.elements`).
fn ends_flexible(name: &str) -> bool {
    let s = kstruct(kstruct_index(name).expect("recorded")).expect("recorded");
    s.members
        .last()
        .is_some_and(|m| m.nelems == Some(0) && m.elem == KElem::Scalar)
}

/// The scalar members each struct's reads are tried on (besides `struct bpf_map`'s).
fn own_fields(name: &str) -> &'static [&'static str] {
    match name {
        "bpf_htab" => &["n_buckets", "elem_size", "hashrnd"],
        "bpf_array" => &["elem_size", "index_mask"],
        "bpf_shtab" => &["buckets_num", "elem_size"],
        "bpf_queue_stack" => &["head", "tail", "size"],
        _ => &[],
    }
}

/// Reads the kernel accepts: `struct bpf_map`'s scalar members (whole, and the name 8
/// bytes at a time), the type's own scalar members, and a byte of the SHA.
fn accepted_reads() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for &(t, name, k, v, m) in TYPES {
        let mut reads: Vec<(String, u32, &str)> = Vec::new();
        for f in [
            "map_type",
            "key_size",
            "value_size",
            "max_entries",
            "map_flags",
            "id",
        ] {
            reads.push((format!("map.{f}"), off(name, &format!("map.{f}")), "ldxw"));
        }
        reads.push(("map.map_extra".into(), off(name, "map.map_extra"), "ldxdw"));
        reads.push(("map.name".into(), off(name, "map.name"), "ldxdw"));
        reads.push(("map.name+8".into(), off(name, "map.name") + 8, "ldxdw"));
        reads.push(("map.frozen".into(), off(name, "map.frozen"), "ldxb"));
        reads.push(("map.sha+3".into(), off(name, "map.sha") + 3, "ldxh"));
        for f in own_fields(name) {
            reads.push(((*f).into(), off(name, f), "ldxw"));
        }
        if ends_flexible(name) {
            // 6.18 lets a read run into a trailing flexible array of scalars, at any
            // offset an instruction can name.
            reads.push(("elements".into(), size_of(name), "ldxw"));
            reads.push(("elements at 32759".into(), 32759, "ldxdw"));
            reads.push(("elements, last byte".into(), 32767, "ldxb"));
        }
        for (what, o, insn) in reads {
            cases.push(RecordedCase {
                name: leak(format!("{name}: read {what}")),
                maps: maps(t, k, v, m),
                text: program(&format!("{insn} %r0, [%r1+{o}]\n")),
                kernel: None,
            });
        }
    }
    cases
}

/// A whole pointer member of `struct bpf_map`, which the kernel reads (a BTF pointer).
fn pointer_read(name: &str) -> String {
    program(&format!("ldxdw %r0, [%r1+{}]\n", off(name, "map.ops")))
}

/// `map->ops->...`: a read through the pointer member (its first member, a function
/// pointer).
fn read_through_pointer(name: &str) -> String {
    program(&format!(
        "ldxdw %r0, [%r1+{}]\nldxdw %r0, [%r0+0]\n",
        off(name, "map.ops")
    ))
}

fn root_rejections() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for &(t, name, k, v, m) in TYPES {
        let ops = off(name, "map.ops");
        cases.push(RecordedCase {
            name: leak(format!("{name}: half of a pointer member")),
            maps: maps(t, k, v, m),
            text: program(&format!("ldxw %r0, [%r1+{ops}]\n")),
            kernel: Some((
                3,
                leak(format!(
                    "cannot access ptr member ops with moff {ops} in struct bpf_map with off {ops} size 4"
                )),
            )),
        });
        // Past the end; for `bpf_queue_stack`, which ends in a flexible array that reads
        // may run into, a read that starts before the array and ends in it.
        let end = size_of(name) - if ends_flexible(name) { 1 } else { 0 };
        cases.push(RecordedCase {
            name: leak(format!("{name}: past the struct")),
            maps: maps(t, k, v, m),
            text: program(&format!("ldxw %r0, [%r1+{end}]\n")),
            kernel: Some((
                3,
                leak(format!("access beyond struct {name} at off {end} size 4")),
            )),
        });
        cases.push(RecordedCase {
            name: leak(format!("{name}: negative offset")),
            maps: maps(t, k, v, m),
            text: program(NEGATIVE),
            kernel: Some((
                3,
                leak(format!("R1 is {name} invalid negative access: off=-8")),
            )),
        });
        cases.push(RecordedCase {
            name: leak(format!("{name}: write")),
            maps: maps(t, k, v, m),
            text: program(WRITE),
            kernel: Some((3, leak(format!("only read from {name} is supported")))),
        });
    }
    cases
}

fn strict_rejections() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for &(t, name, k, v, m) in TYPES {
        for access in [READ, NEGATIVE, WRITE] {
            cases.push(RecordedCase {
                name: leak(format!("{name}: {access} unprivileged")),
                maps: maps(t, k, v, m),
                text: program(access),
                kernel: Some((
                    3,
                    leak(format!(
                        "'struct {name}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"
                    )),
                )),
            });
        }
    }
    cases
}

#[test]
fn map_pointer_misuse_is_rejected_as_the_kernel_rejects_it() {
    assert_ours_match_recorded(&root_rejections(), false);
    assert_ours_match_recorded(&strict_rejections(), true);
}

#[test]
fn map_field_reads_are_accepted_as_the_kernel_accepts_them() {
    let cases = accepted_reads();
    assert!(cases.len() > 100, "{} cases", cases.len());
    assert_ours_match_recorded(&cases, false);
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    assert_recorded_match_live_kernel(&root_rejections(), false);
    assert_recorded_match_live_kernel(&strict_rejections(), true);
    assert_recorded_match_live_kernel(&accepted_reads(), false);
}

/// A whole pointer member (`map->ops`) is read as the kernel reads it (an
/// `untrusted_ptr_bpf_map_ops`), and so is a member of the struct it points to (every struct
/// a program can reach is recorded). The live kernel accepts both (checked where `bpf()`
/// works).
#[test]
fn pointer_member_reads_and_reads_through_them_are_accepted() {
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    for &(t, name, k, v, m) in TYPES {
        for text in [pointer_read(name), read_through_pointer(name)] {
            let insns = assemble(&text).expect("assembles");
            let verdict = verify_insns(&insns, &maps(t, k, v, m), &HelperTable::new(), &options);
            assert!(verdict.is_ok(), "{name}: {verdict:?}");
        }
    }
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped the live half: the kernel cannot be asked: {e}");
            return;
        }
    };
    for &(t, name, k, v, m) in TYPES {
        for text in [pointer_read(name), read_through_pointer(name)] {
            let insns = assemble(&text).expect("assembles");
            let kmaps = oracle.create_maps(&maps(t, k, v, m)).expect("map");
            let verdict = oracle.load(&insns, &kmaps, 1);
            assert!(verdict.accepted, "{name}: {}", verdict.message);
        }
    }
}
