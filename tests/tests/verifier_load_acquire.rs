//! Load-acquire and store-release (`BPF_STX | BPF_ATOMIC`, imm `BPF_LOAD_ACQ` / `BPF_STORE_REL`,
//! kernel 6.15+) judged as kernel 6.18 judges them (every expectation below was recorded from
//! the live kernel, and is checked against it again when `bpf()` works here): every size on
//! the stack and in map values, strict alignment, uninitialised stack, pointer leaks, and no
//! atomic access through context, packet or socket pointers (the base's type is looked at
//! after the access, as `check_atomic_load` does).

use sockops_tests::recorded::{RecordedCase, differences_from_live_kernel, differences_from_ours};
use sockops_vm::{MapDef, MapType};

fn array(value_size: u32) -> MapDef {
    MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size,
        max_entries: 1,
        map_flags: 0,
    }
}

/// Looks up key 0 of map 0 into r0 and returns 1 when it is NULL; `body` follows.
fn with_value(body: &str) -> String {
    format!(
        "stw [%r10-4], 0
lddw %r1, map_fd 0
mov %r2, %r10
add %r2, -4
call 1
jne %r0, 0, +2
mov %r0, 1
exit
{body}"
    )
}

fn case(name: &'static str, text: String) -> RecordedCase {
    RecordedCase {
        name,
        maps: vec![],
        text,
        kernel: kernel_verdict(name),
    }
}

/// The live 6.18 kernel's verdict of each case, by name.
fn kernel_verdict(name: &str) -> Option<(usize, &'static str)> {
    KERNEL
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no recorded kernel verdict for {name:?}"))
        .1
}

/// Recorded from kernel 6.18 (`BPF_PROG_LOAD` of each case as `BPF_PROG_TYPE_SOCK_OPS`).
const KERNEL: &[(&str, Option<(usize, &str)>)] = &[
    (
        "load-acquire 8-bit from the stack",
        Some((
            2,
            "At program exit the register R0 has smin=0 smax=255 should have been in [0, 1]",
        )),
    ),
    (
        "store-release 8-bit to the stack",
        Some((
            3,
            "At program exit the register R0 has smin=0 smax=255 should have been in [0, 1]",
        )),
    ),
    (
        "load-acquire 16-bit from the stack",
        Some((
            2,
            "At program exit the register R0 has smin=0 smax=65535 should have been in [0, 1]",
        )),
    ),
    (
        "store-release 16-bit to the stack",
        Some((
            3,
            "At program exit the register R0 has smin=0 smax=65535 should have been in [0, 1]",
        )),
    ),
    (
        "load-acquire 32-bit from the stack",
        Some((
            2,
            "At program exit the register R0 has smin=0 smax=4294967295 should have been in [0, 1]",
        )),
    ),
    (
        "store-release 32-bit to the stack",
        Some((
            3,
            "At program exit the register R0 has smin=0 smax=4294967295 should have been in [0, 1]",
        )),
    ),
    (
        "load-acquire 64-bit from the stack",
        Some((
            2,
            "At program exit the register R0 has smin=7 smax=7 should have been in [0, 1]",
        )),
    ),
    (
        "store-release 64-bit to the stack",
        Some((
            3,
            "At program exit the register R0 has smin=7 smax=7 should have been in [0, 1]",
        )),
    ),
    (
        "load-acquire misaligned on the stack",
        Some((1, "misaligned stack access off 0+0+-6 size 4")),
    ),
    (
        "store-release misaligned on the stack",
        Some((1, "misaligned stack access off 0+0+-5 size 2")),
    ),
    (
        "load-acquire of uninitialised stack",
        Some((
            1,
            "At program exit the register R0 has unknown scalar value should have been in [0, 1]",
        )),
    ),
    (
        "load-acquire from the context",
        Some((0, "BPF_ATOMIC loads from R1 ctx is not allowed")),
    ),
    (
        "load-acquire from the context into its own base register",
        Some((0, "BPF_ATOMIC loads from R1 ctx is not allowed")),
    ),
    (
        "load-acquire from an invalid context offset",
        Some((0, "BPF_ATOMIC loads from R1 ctx is not allowed")),
    ),
    (
        "store-release into a read-only context field",
        Some((1, "invalid bpf_context access off=0 size=4")),
    ),
    (
        "store-release into the context (reply)",
        Some((1, "BPF_ATOMIC stores into R1 ctx is not allowed")),
    ),
    (
        "store-release of the frame pointer to the stack",
        Some((0, "invalid size of register spill")),
    ),
    (
        "load-acquire of an uninitialised register base",
        Some((0, "R3 !read_ok")),
    ),
    (
        "load-acquire into the frame pointer",
        Some((1, "frame pointer is read only")),
    ),
    (
        "load-acquire 32-bit from a map value",
        Some((
            10,
            "At program exit the register R0 has smin=0 smax=4294967295 should have been in [0, 1]",
        )),
    ),
    ("store-release 64-bit to a map value", None),
    (
        "load-acquire misaligned in a map value",
        Some((9, "misaligned value access off 0+0+2 size 4")),
    ),
    (
        "load-acquire past the end of a map value",
        Some((9, "misaligned value access off 0+0+12 size 8")),
    ),
    ("store-release of a pointer into a map value", None),
];

fn cases() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for (size, bytes, name_ld, name_st) in [
        (
            "b",
            1,
            "load-acquire 8-bit from the stack",
            "store-release 8-bit to the stack",
        ),
        (
            "h",
            2,
            "load-acquire 16-bit from the stack",
            "store-release 16-bit to the stack",
        ),
        (
            "w",
            4,
            "load-acquire 32-bit from the stack",
            "store-release 32-bit to the stack",
        ),
        (
            "dw",
            8,
            "load-acquire 64-bit from the stack",
            "store-release 64-bit to the stack",
        ),
    ] {
        let off = -8 - bytes;
        cases.push(case(
            name_ld,
            format!("stdw [%r10-16], 7\nldacq{size} %r0, [%r10{off}]\nexit"),
        ));
        cases.push(case(
            name_st,
            format!("mov %r1, 7\nstrel{size} [%r10{off}], %r1\nldx{size} %r0, [%r10{off}]\nexit"),
        ));
    }
    cases.extend([
        case(
            "load-acquire misaligned on the stack",
            "stdw [%r10-8], 7\nldacqw %r0, [%r10-6]\nexit".into(),
        ),
        case(
            "store-release misaligned on the stack",
            "mov %r1, 7\nstrelh [%r10-5], %r1\nmov %r0, 0\nexit".into(),
        ),
        case(
            "load-acquire of uninitialised stack",
            "ldacqdw %r0, [%r10-8]\nexit".into(),
        ),
        case(
            "load-acquire from the context",
            "ldacqw %r0, [%r1+0]\nmov %r0, 1\nexit".into(),
        ),
        case(
            "load-acquire from the context into its own base register",
            "ldacqw %r1, [%r1+0]\nmov %r0, 1\nexit".into(),
        ),
        case(
            "load-acquire from an invalid context offset",
            "ldacqw %r0, [%r1+2]\nmov %r0, 1\nexit".into(),
        ),
        case(
            "store-release into a read-only context field",
            "mov %r2, 5\nstrelw [%r1+0], %r2\nmov %r0, 1\nexit".into(),
        ),
        case(
            "store-release into the context (reply)",
            "mov %r2, 5\nstrelw [%r1+4], %r2\nmov %r0, 1\nexit".into(),
        ),
        case(
            "store-release of the frame pointer to the stack",
            "strelw [%r10-8], %r10\nmov %r0, 0\nexit".into(),
        ),
        case(
            "load-acquire of an uninitialised register base",
            "ldacqw %r0, [%r3+0]\nexit".into(),
        ),
        case(
            "load-acquire into the frame pointer",
            "stdw [%r10-8], 0\nldacqdw %r10, [%r10-8]\nexit".into(),
        ),
    ]);
    let value = |name, body: &str| RecordedCase {
        name,
        maps: vec![array(16)],
        text: with_value(body),
        kernel: kernel_verdict(name),
    };
    cases.extend([
        value(
            "load-acquire 32-bit from a map value",
            "ldacqw %r0, [%r0+4]\nexit",
        ),
        value(
            "store-release 64-bit to a map value",
            "mov %r1, 9\nstreldw [%r0+8], %r1\nmov %r0, 0\nexit",
        ),
        value(
            "load-acquire misaligned in a map value",
            "ldacqw %r0, [%r0+2]\nexit",
        ),
        value(
            "load-acquire past the end of a map value",
            "ldacqdw %r0, [%r0+12]\nexit",
        ),
        value(
            "store-release of a pointer into a map value",
            "streldw [%r0+0], %r10\nmov %r0, 0\nexit",
        ),
    ]);
    cases
}

/// Our verdicts equal the recorded kernel verdicts, message and slot included.
#[test]
fn load_acquire_and_store_release_as_the_kernel_judges_them() {
    let failures = differences_from_ours(&cases(), false);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The recorded verdicts are still the live kernel's (skipped, with the reason, where
/// `bpf()` is not permitted or the kernel predates load-acquire).
#[test]
fn recorded_verdicts_match_the_live_kernel() {
    match differences_from_live_kernel(&cases(), false, Some("invalid atomic opcode")) {
        Ok(failures) => assert!(failures.is_empty(), "{}", failures.join("\n\n")),
        Err(reason) => println!("skipped: {reason}"),
    }
}
