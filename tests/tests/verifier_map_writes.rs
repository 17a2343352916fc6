//! Helpers that write a map (`map_update_elem`, `map_delete_elem`, `map_push_elem`,
//! `map_pop_elem`) and a map programs may only read (`BPF_F_RDONLY_PROG`): the kernel refuses
//! the call ("write into map forbidden", `record_func_map`); lookups stay allowed. Each
//! verdict recorded from the live kernel and checked against it again when `bpf()` works
//! here. Found by the kernel-oracle fuzz target as a false accept (`map_delete_elem`).

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
};
use sockops_vm::maps::BPF_F_RDONLY_PROG;
use sockops_vm::{MapDef, MapType};

fn maps(map_type: MapType, key_size: u32, flags: u32) -> Vec<MapDef> {
    vec![MapDef {
        map_type,
        key_size,
        value_size: 8,
        max_entries: 4,
        map_flags: flags,
    }]
}

const KEY_ON_STACK: &str = "stw [%r10-4], 0
stdw [%r10-16], 0
lddw %r1, map_fd 0
mov %r2, %r10
add %r2, -4
";

fn case(
    name: &'static str,
    maps: Vec<MapDef>,
    call: &str,
    kernel: Option<(usize, &'static str)>,
) -> RecordedCase {
    RecordedCase {
        name,
        maps,
        text: format!("{KEY_ON_STACK}{call}mov %r0, 1\nexit"),
        kernel,
    }
}

fn cases() -> Vec<RecordedCase> {
    let ro = || maps(MapType::Hash, 4, BPF_F_RDONLY_PROG);
    let rw = || maps(MapType::Hash, 4, 0);
    vec![
        case(
            "delete from a read-only map",
            ro(),
            "call 3\n",
            Some((6, "write into map forbidden")),
        ),
        case(
            "update of a read-only map",
            ro(),
            "mov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\n",
            Some((9, "write into map forbidden")),
        ),
        case("lookup in a read-only map", ro(), "call 1\n", None),
        case("delete from a writable map", rw(), "call 3\n", None),
        case(
            "push to a read-only queue",
            maps(MapType::Queue, 0, BPF_F_RDONLY_PROG),
            "mov %r2, %r10\nadd %r2, -16\nmov %r3, 0\ncall 87\n",
            Some((9, "write into map forbidden")),
        ),
    ]
}

/// Our verdicts equal the recorded kernel verdicts, message and slot included.
#[test]
fn map_writes_are_judged_as_the_kernel_judges_them() {
    assert_ours_match_recorded(&cases(), false);
}

/// The recorded verdicts are still the live kernel's (skipped, with the reason, where
/// `bpf()` is not permitted).
#[test]
fn recorded_verdicts_match_the_live_kernel() {
    assert_recorded_match_live_kernel(&cases(), false);
}
