//! The shift pairs the JIT compiles as one instruction (`lsh k` + `rsh k` clears the top `k`
//! bits, `lsh k` + `arsh k` sign-extends): every count class on every awkward register,
//! against the ISA's definition (shift counts modulo 64) and the interpreter; and the pairs
//! it must not fuse (a jump into the second slot, different registers or counts).

mod jit_support;

use jit_support::expect_r0;

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
