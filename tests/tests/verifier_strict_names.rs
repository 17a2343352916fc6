//! Which register the kernel names when it refuses pointer arithmetic to an unprivileged
//! loader (`sanitize_err`, no CAP_PERFMON), each verdict recorded from the live 6.18 kernel
//! and checked against it again when `bpf()` works here. Kernel 6.18 names the
//! instruction's source register for an offset of mixed sign and its destination for a
//! pointer it cannot mask, whichever operand holds the pointer: `r4 += r10` with r4 of mixed
//! sign names R10, though R4 is the scalar.

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
};

/// r4 = a random byte, `offset` applied (a line, or none), then `arith` (r6 is the segment's
/// data pointer).
fn program(offset: &str, arith: &str) -> String {
    format!(
        "ldxdw %r6, [%r1+192]
call 7
mov %r4, %r0
and %r4, 255
{offset}
{arith}
mov %r0, 1
exit"
    )
}

fn case(name: &'static str, text: String, kernel: Option<(usize, &'static str)>) -> RecordedCase {
    RecordedCase {
        name,
        maps: vec![],
        text,
        kernel,
    }
}

fn cases() -> Vec<RecordedCase> {
    vec![
        case(
            "scalar += fp, scalar of mixed sign: the kernel names the source, R10",
            program("sub %r4, 100", "add %r4, %r10"),
            Some((
                5,
                "R10 has unknown scalar with mixed signed bounds, pointer arithmetic with it prohibited for !root",
            )),
        ),
        case(
            "fp += scalar of mixed sign: the source, R4",
            program("sub %r4, 100", "mov %r3, %r10\nadd %r3, %r4"),
            Some((
                6,
                "R4 has unknown scalar with mixed signed bounds, pointer arithmetic with it prohibited for !root",
            )),
        ),
        case(
            "scalar += packet pointer: the kernel names the destination, R4",
            program("", "add %r4, %r6"),
            Some((
                4,
                "R4 has pointer with unsupported alu operation, pointer arithmetic with it prohibited for !root",
            )),
        ),
        case(
            "packet pointer += scalar: the destination, R6",
            program("", "add %r6, %r4"),
            Some((
                4,
                "R6 has pointer with unsupported alu operation, pointer arithmetic with it prohibited for !root",
            )),
        ),
        case(
            "constant scalar += fp is allowed",
            program("", "mov %r4, -8\nadd %r4, %r10"),
            None,
        ),
    ]
}

#[test]
fn our_strict_verdicts_name_the_kernels_register() {
    assert_ours_match_recorded(&cases(), true);
}

#[test]
fn the_recorded_strict_verdicts_are_the_live_kernels() {
    assert_recorded_match_live_kernel(&cases(), true);
}
