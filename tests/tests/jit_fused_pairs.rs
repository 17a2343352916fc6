//! The instruction pairs the JIT compiles as one: shift pairs (`lsh k` + `rsh k` clears the
//! top `k` bits, `lsh k` + `arsh k` sign-extends) on every count class and awkward register,
//! against the ISA's definition (shift counts modulo 64) and the interpreter; a conditional
//! jump over an unconditional one (compiled as the inverted condition) for every condition,
//! width and operand kind; and the pairs that must not be fused (a jump into the second
//! slot, different registers or counts).

mod jit_support;

use jit_support::{differential_asm, expect_r0};
use sockops_vm::ExecErrorKind;

const VALUES: [u64; 6] = [
    0,
    1,
    u64::MAX,
    0x8000_0000_8000_8080,
    0x7fff_ffff_7fff_7f7f,
    0x0123_4567_89ab_cdef,
];

/// Shift counts as written in the program (the ISA masks them to 6 bits).
const COUNTS: [i32; 11] = [1, 7, 16, 31, 32, 33, 48, 56, 63, 64, 95];

/// r0 of `lddw rX, value; lsh rX, k; <second> rX, k; r0 = rX`, computed from the definition.
fn expected(value: u64, k: i32, arithmetic: bool) -> u64 {
    let k = (k & 63) as u32;
    let shifted = value << k;
    if arithmetic {
        ((shifted as i64) >> k) as u64
    } else {
        shifted >> k
    }
}

#[test]
fn zero_and_sign_extending_shift_pairs() {
    for reg in ["%r0", "%r1", "%r3", "%r4", "%r6", "%r9"] {
        for k in COUNTS {
            for value in VALUES {
                for (second, arithmetic) in [("rsh", false), ("arsh", true)] {
                    let text = format!(
                        "lddw {reg}, {value:#x}\nlsh {reg}, {k}\n{second} {reg}, {k}\nmov %r0, {reg}\nexit"
                    );
                    expect_r0(&text, &[], expected(value, k, arithmetic));
                }
            }
        }
    }
}

#[test]
fn pairs_that_must_not_fuse() {
    let value = 0x8000_0000_8000_8080u64;
    // A jump lands on the second shift: only the right shift runs on that path.
    let text =
        format!("lddw %r0, {value:#x}\nmov %r2, 1\njeq %r2, 1, +1\nlsh %r0, 32\nrsh %r0, 32\nexit");
    expect_r0(&text, &[], value >> 32);
    // Different registers and different counts.
    let text =
        format!("lddw %r0, {value:#x}\nmov %r1, %r0\nlsh %r0, 8\nrsh %r1, 8\nxor %r0, %r1\nexit");
    expect_r0(&text, &[], (value << 8) ^ (value >> 8));
    let text = format!("lddw %r0, {value:#x}\nlsh %r0, 8\nrsh %r0, 4\nexit");
    expect_r0(&text, &[], (value << 8) >> 4);
    // 32-bit shifts stay as they are.
    let text = format!("lddw %r0, {value:#x}\nlsh32 %r0, 16\nrsh32 %r0, 16\nexit");
    expect_r0(&text, &[], u64::from(((value as u32) << 16) >> 16));
}

/// Whether a jump condition holds for `(dst, src)`.
type Decide = fn(u64, u64) -> bool;

/// Each condition with how it decides `a ? b` (a, b as the 64-bit values, or their low
/// halves for the 32-bit forms).
const CONDITIONS: [(&str, Decide); 11] = [
    ("jeq", |a, b| a == b),
    ("jne", |a, b| a != b),
    ("jset", |a, b| a & b != 0),
    ("jgt", |a, b| a > b),
    ("jge", |a, b| a >= b),
    ("jlt", |a, b| a < b),
    ("jle", |a, b| a <= b),
    ("jsgt", |a, b| (a as i64) > (b as i64)),
    ("jsge", |a, b| (a as i64) >= (b as i64)),
    ("jslt", |a, b| (a as i64) < (b as i64)),
    ("jsle", |a, b| (a as i64) <= (b as i64)),
];

#[test]
fn conditional_jump_over_unconditional_jump() {
    let values = [0u64, 1, 7, u64::MAX, 1 << 63, 0xffff_ffff, 0x1_0000_0007];
    for (name, holds) in CONDITIONS {
        for a in values {
            for b in values {
                // 64-bit, register operand: r0 = 1 if the condition holds, else 2.
                let text = format!(
                    "lddw %r2, {a:#x}\nlddw %r3, {b:#x}\n{name} %r2, %r3, +1\nja +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit"
                );
                expect_r0(&text, &[], if holds(a, b) { 1 } else { 2 });
                // 32-bit, immediate operand (sign-extended to 64 bits, then truncated).
                let imm = b as i32;
                let (a32, b32) = (u64::from(a as u32), u64::from(imm as u32));
                let holds32 = holds(
                    if name.starts_with("js") {
                        a32 as u32 as i32 as i64 as u64
                    } else {
                        a32
                    },
                    if name.starts_with("js") {
                        imm as i64 as u64
                    } else {
                        b32
                    },
                );
                let text = format!(
                    "lddw %r2, {a:#x}\n{name}32 %r2, {imm}, +1\nja +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit"
                );
                expect_r0(&text, &[], if holds32 { 1 } else { 2 });
            }
        }
    }
}

#[test]
fn jump_pairs_that_must_not_fuse_and_errors_at_the_right_slot() {
    // Something jumps to the `ja` itself.
    let text =
        "mov %r2, 5\njne %r2, 5, +1\njeq %r2, 5, +1\nja +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit";
    expect_r0(text, &[], 1);
    let text =
        "mov %r2, 4\njne %r2, 5, +1\njeq %r2, 5, +1\nja +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit";
    expect_r0(text, &[], 2);
    // The unconditional jump's target is outside the program: the error names its slot.
    let obs = differential_asm("mov %r2, 0\njeq %r2, 1, +1\nja +100\nmov %r0, 0\nexit", &[]);
    let err = obs.result.expect_err("jumps out of the program");
    assert_eq!(err.pc, 2);
    assert!(
        matches!(err.kind, ExecErrorKind::JumpOutOfRange { .. }),
        "{err:?}"
    );
}
