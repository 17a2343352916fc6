//! Copies of a scalar linked by a 32-bit move (`w8 = w2`), as kernel 6.18 links them: when
//! the source fits in 32 bits the copy is the same value, so a branch on one refines the
//! other (`assign_scalar_id_before_mov`, `sync_linked_regs`); a wider source is not linked.
//! Each verdict recorded from the live kernel, and checked against it again when `bpf()`
//! works here. Found by the kernel-oracle fuzz target as a false reject: we did not link
//! 32-bit copies, walked a branch the kernel knows is never taken, and read an unset r0.

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
};

/// `source` sets r2; `w8 = w2`; `w8 s< 0` goes to a clean exit, then `w2 s< 0` (never
/// taken if the copies are linked) skips the only write of r7, which is then read.
fn program(source: &str) -> String {
    format!(
        "{source}
mov32 %r8, %r2
jslt32 %r8, 0, +4
jslt32 %r2, 0, +1
mov %r7, 1
mov %r0, %r7
exit
mov %r0, 1
exit"
    )
}

fn cases() -> Vec<RecordedCase> {
    vec![
        RecordedCase {
            name: "a 32-bit source: the copies are linked, the branch is never taken",
            maps: vec![],
            text: program("ldxw %r2, [%r1]"),
            kernel: None,
        },
        RecordedCase {
            name: "a 64-bit source: not linked, the branch may be taken",
            maps: vec![],
            text: program("call 7\nmov %r2, %r0"),
            kernel: Some((6, "R7 !read_ok")),
        },
        RecordedCase {
            name: "fuzz finding (kernel oracle): linked copies through a chain of branches",
            maps: vec![],
            text: include_str!("../regressions/mov32-linked-copies.txt").to_string(),
            kernel: None,
        },
    ]
}

#[test]
fn our_verdicts_on_linked_copies_are_the_kernels() {
    assert_ours_match_recorded(&cases(), false);
}

#[test]
fn the_recorded_verdicts_are_the_live_kernels() {
    assert_recorded_match_live_kernel(&cases(), false);
}
