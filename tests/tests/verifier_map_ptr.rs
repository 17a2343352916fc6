//! Loads through a map pointer (`r1 = map_fd; r0 = *(u32 *)(r1 + 24)`, `map->max_entries`):
//! the kernel's `check_ptr_to_map_access`. The map's vmlinux BTF struct depends on its type
//! (`bpf_array`, `bpf_htab`, `bpf_stab`...) and names it in every message. Unprivileged
//! loaders are refused first ("access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"),
//! then negative offsets and writes; a read the kernel allows walks the kernel's own struct
//! (`btf_struct_access`), which this runtime does not have: it is `NotVerified` (the
//! program is not judged, never accepted). Rejections recorded from the live kernel and
//! checked against it again where `bpf()` works; the reads are checked to be accepted there.

use sockops_tests::kernel::Oracle;
use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
};
use sockops_verifier::{VerifyOptions, verify_insns};
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

/// `'static` messages for the recorded-case table.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn root_rejections() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for &(t, name, k, v, m) in TYPES {
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
fn recorded_verdicts_match_the_live_kernel() {
    assert_recorded_match_live_kernel(&root_rejections(), false);
    assert_recorded_match_live_kernel(&strict_rejections(), true);
}

/// A read the kernel allows is not judged here: `NotVerified` (unsupported), naming the
/// struct, never an acceptance.
#[test]
fn map_field_reads_are_not_judged() {
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    for &(t, name, k, v, m) in TYPES {
        let insns = assemble(&program(READ)).expect("assembles");
        let err = verify_insns(&insns, &maps(t, k, v, m), &HelperTable::new(), &options)
            .expect_err("a map field read must not be accepted");
        assert!(err.unsupported, "{name}: {err:?}");
        assert_eq!(
            err.message,
            format!("R1 read of 'struct {name}' off=24 size=4 is not supported by this runtime")
        );
    }
}

/// The live kernel accepts those reads (skipped, with the reason, where `bpf()` is denied).
#[test]
fn the_live_kernel_accepts_map_field_reads() {
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: the kernel cannot be asked: {e}");
            return;
        }
    };
    for &(t, name, k, v, m) in TYPES {
        let insns = assemble(&program(READ)).expect("assembles");
        let kmaps = oracle.create_maps(&maps(t, k, v, m)).expect("map");
        let verdict = oracle.load(&insns, &kmaps, 1);
        assert!(verdict.accepted, "{name}: {}", verdict.message);
    }
}
