//! Unsigned division and modulo by immediates, which the JIT compiles without `div` (shifts
//! and masks for powers of two, multiplication by a reciprocal otherwise): every divisor
//! shape against dividends at the edges, on both engines through the differential harness
//! (with constant blinding, which turns the divisor back into a register), and against the
//! ISA's definition (`dst = dst / imm`, `dst = dst % imm`, unsigned; 32-bit forms on the low
//! halves, zero-extended).

mod jit_support;

use jit_support::expect_r0;

/// Divisors: powers of two, 1, small odd and even numbers, large primes and the largest
/// positive immediate.
const DIVISORS: [i32; 14] = [
    1,
    2,
    8,
    1 << 30,
    3,
    7,
    10,
    12,
    641,
    1000,
    65_537,
    0x4000_0001,
    0x7fff_fffe,
    i32::MAX,
];

fn dividends(d: i32) -> Vec<u64> {
    let d = d as u64;
    vec![
        0,
        1,
        d - 1,
        d,
        d + 1,
        3 * d - 1,
        u64::from(u32::MAX),
        u64::from(u32::MAX) - 1,
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        (1 << 63) - 1,
        0xfedc_ba98_7654_3210,
        0x0123_4567_89ab_cdef,
    ]
}

#[test]
fn division_and_modulo_by_constants_64() {
    for d in DIVISORS {
        for x in dividends(d) {
            let load = format!("lddw %r0, {x:#x}\n");
            expect_r0(&format!("{load}div %r0, {d}\nexit"), &[], x / d as u64);
            expect_r0(&format!("{load}mod %r0, {d}\nexit"), &[], x % d as u64);
            // Through a register other than r0/r3 (the `mul` ones), with r0 and r3 live.
            let text = format!(
                "lddw %r7, {x:#x}\nmov %r0, 11\nmov %r3, 33\nmod %r7, {d}\nadd %r0, %r3\nadd %r0, %r7\nexit"
            );
            expect_r0(&text, &[], (x % d as u64).wrapping_add(44));
            let text = format!("lddw %r3, {x:#x}\nmov %r0, 5\ndiv %r3, {d}\nadd %r0, %r3\nexit");
            expect_r0(&text, &[], (x / d as u64).wrapping_add(5));
        }
    }
}

#[test]
fn division_and_modulo_by_constants_32() {
    for d in DIVISORS {
        for x in dividends(d) {
            // The upper half of the dividend is ignored and the result zero-extended.
            let low = x as u32;
            let load = format!("lddw %r4, {x:#x}\n");
            let text = format!("{load}div32 %r4, {d}\nmov %r0, %r4\nexit");
            expect_r0(&text, &[], u64::from(low / d as u32));
            let text = format!("{load}mod32 %r4, {d}\nmov %r0, %r4\nexit");
            expect_r0(&text, &[], u64::from(low % d as u32));
            let text = format!("lddw %r0, {x:#x}\nmod32 %r0, {d}\nexit");
            expect_r0(&text, &[], u64::from(low % d as u32));
        }
    }
}
