//! State pruning as kernel 6.18 prunes (`is_state_visited` / `func_states_equal` /
//! `stacksafe`), each expectation recorded from the live kernel and checked against it again
//! when `bpf()` works here:
//! - registers that are not live (no path reads them before writing them) are not compared,
//!   whatever their types (`live_regs_before`, `compute_live_registers`);
//! - a register an instruction reads still counts even when that instruction's result is never
//!   used (its operand types are checked there);
//! - stack bytes the explored state held as unknown data cover anything when uninitialised
//!   stack may be read (root), a spilled pointer's bytes included.
//!
//! The first three programs are live-kernel-oracle fuzz findings: before these rules our
//! verifier kept exploring a path the kernel pruned and rejected it at a 4-byte fill of a
//! spilled pointer ("invalid size of register fill"); the kernel accepts them.

use sockops_tests::recorded::{RecordedCase, differences_from_live_kernel, differences_from_ours};

fn case(name: &'static str, text: &str, kernel: Option<(usize, &'static str)>) -> RecordedCase {
    RecordedCase {
        name,
        maps: vec![],
        text: text.to_string(),
        kernel,
    }
}

/// A scalar on the explored path and a pointer on the other meet at a register read by
/// `r3 *= 3` (the result is overwritten unused): the register is live, the states differ,
/// and the pointer path is explored and rejected, as by the kernel.
const READ_BY_UNUSED_ALU: &str = "mov %r6, %r1
ldxw %r2, [%r6]
jeq %r2, 0, +2
mov %r3, 0
ja +1
mov %r3, %r10
mul %r3, 3
mov %r3, 0
mov %r0, 1
exit";

/// The same meeting where the register is overwritten before any read: not live, so the
/// second path is pruned (and would be safe anyway).
const OVERWRITTEN_UNREAD: &str = "mov %r6, %r1
ldxw %r2, [%r6]
jeq %r2, 0, +2
mov %r3, 0
ja +1
mov %r3, %r10
mov %r3, 7
mov %r0, 1
exit";

fn cases() -> Vec<RecordedCase> {
    vec![
        case(
            "fuzz finding 162f354fcb28d16e: dead pointer register, spilled pointer under MISC",
            r"mov %r6, %r1
ldxw %r2, [%r6]
ldxw %r3, [%r6+4]
stdw [%r10-8], 0
stdw [%r10-16], 0
mov %r4, 0
mov %r5, 0
mov %r7, 0
mov %r8, 0
mov %r9, %r10
add %r9, -16
lock or [%r10-8], %r4
lock or32 [%r10-8], %r4
stxdw [%r10-8], %r9
jeq32 %r3, 8, +3
lock add [%r10-8], %r4
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
call 7
mov %r2, %r0
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxw %r9, [%r10-8]
add %r9, 4
mov %r0, 1
exit",
            None,
        ),
        case(
            "fuzz finding 429ee019d2332f5f: the same after a store-release",
            r"mov %r6, %r1
ldxw %r2, [%r6]
ldxw %r3, [%r6+4]
stdw [%r10-8], 0
stdw [%r10-16], 0
mov %r4, 0
mov %r5, 0
mov %r7, 0
mov %r8, 0
mov %r9, %r10
add %r9, -16
lock or [%r10-8], %r4
strelw [%r10-8], %r4
stxdw [%r10-8], %r9
jlt32 %r3, 8, +3
lock add [%r10-8], %r4
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
call 7
mov %r2, %r0
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxw %r9, [%r10-8]
mov %r0, 1
exit",
            None,
        ),
        case(
            "fuzz finding 5056b0757ccce32e: the same with the fill into another register",
            r"mov %r6, %r1
ldxw %r2, [%r6]
ldxw %r3, [%r6+4]
stdw [%r10-8], 0
stdw [%r10-16], 0
mov %r4, 0
mov %r5, 0
mov %r7, 0
mov %r8, 0
mov %r9, %r10
add %r9, -16
lock or [%r10-8], %r4
lock or32 [%r10-8], %r4
stxdw [%r10-8], %r9
jeq32 %r3, 8, +3
lock add [%r10-8], %r4
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
call 7
mov %r2, %r0
ldxdw %r9, [%r10-8]
ldxdw %r9, [%r10-8]
ldxw %r2, [%r10-8]
ldxdw %r9, [%r10-8]
mov %r0, 1
exit",
            None,
        ),
        case(
            "a register read by an ALU instruction whose result is unused is live",
            READ_BY_UNUSED_ALU,
            Some((6, "R3 pointer arithmetic with *= operator prohibited")),
        ),
        case(
            "a register overwritten before any read is not live",
            OVERWRITTEN_UNREAD,
            None,
        ),
    ]
}

/// Our verdicts equal the recorded kernel verdicts, message and slot included.
#[test]
fn pruning_keeps_and_drops_what_the_kernel_does() {
    let failures = differences_from_ours(&cases(), false);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The recorded verdicts are still the live kernel's (skipped, with the reason, where
/// `bpf()` is not permitted).
#[test]
fn recorded_verdicts_match_the_live_kernel() {
    match differences_from_live_kernel(&cases(), None) {
        Ok(failures) => assert!(failures.is_empty(), "{}", failures.join("\n\n")),
        Err(reason) => println!("skipped: {reason}"),
    }
}
