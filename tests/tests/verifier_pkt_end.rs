//! Comparisons of packet pointers with `pkt_end` as kernel 6.18 judges them, each verdict
//! recorded from the live kernel and checked against it again when `bpf()` works here.
//! `ptr > pkt_end` taken marks the pointer BEYOND_PKT_END (and `>=` AT_PKT_END), which
//! decides a later comparison of the same pointer; any arithmetic on the pointer drops the
//! mark (`adjust_ptr_min_max_vals`). Found by the kernel-oracle fuzz target as a false
//! accept: we kept the mark through `r4 += -4`, decided `pkt - 3 > pkt_end` as always
//! true, and never checked the packet read on the other path.

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
};

fn case(name: &'static str, text: &str, kernel: Option<(usize, &'static str)>) -> RecordedCase {
    RecordedCase {
        name,
        maps: vec![],
        text: text.to_string(),
        kernel,
    }
}

/// `pkt + 1 > pkt_end` (taken: BEYOND_PKT_END), then `r4 += addend` and `r4 > pkt_end`
/// again, whose fall-through reads a byte of the packet.
fn after_beyond(addend: i32) -> String {
    format!(
        "mov %r6, %r1
ldxdw %r7, [%r6+192]
ldxdw %r8, [%r6+200]
mov %r4, %r7
add %r4, 1
jle %r4, %r8, +5
add %r4, {addend}
jgt %r4, %r8, +3
ldxb %r2, [%r7]
mov %r0, 1
exit
mov %r0, 1
exit"
    )
}

fn cases() -> Vec<RecordedCase> {
    vec![
        case(
            "pointer arithmetic drops BEYOND_PKT_END",
            // pkt - 3 > pkt_end is not decided: the fall-through reads a byte nothing proved.
            &after_beyond(-4),
            Some((8, "R7 offset is outside of the packet")),
        ),
        case(
            "adding 0 drops the mark too; the fall-through then proves the byte",
            // The mark is dropped as well; the fall-through proves pkt + 1 <= pkt_end.
            &after_beyond(0),
            None,
        ),
        case(
            "fuzz finding fa222472: the mark kept through r4 += -4 was a false accept",
            include_str!("../regressions/pkt-end-mark-after-arithmetic.txt"),
            Some((19, "R9 offset is outside of the packet")),
        ),
    ]
}

/// Our verdicts equal the recorded kernel verdicts, message and slot included.
#[test]
fn pkt_end_marks_are_judged_as_the_kernel_judges_them() {
    assert_ours_match_recorded(&cases(), false);
}

/// The recorded verdicts are still the live kernel's (skipped, with the reason, where
/// `bpf()` is not permitted).
#[test]
fn recorded_verdicts_match_the_live_kernel() {
    assert_recorded_match_live_kernel(&cases(), false);
}
