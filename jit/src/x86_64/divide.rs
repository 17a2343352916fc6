//! Unsigned division and modulo by a positive constant without a `div` instruction (which
//! takes tens of cycles): a shift and a mask for powers of two, otherwise a multiplication by
//! a "magic" reciprocal (Granlund and Montgomery, "Division by invariant integers using
//! multiplication", 1994, figure 4.1; Hacker's Delight 10-8), exact for every dividend.
//! Signed forms and divisors known only at run time keep the guarded `div`/`idiv` of `alu`.

use dynasmrt::DynasmApi;
use sockops_vm::Width;

use super::Compiler;
use super::regs::asm;

/// The reciprocal of `d` (not a power of two, `2 <= d < 2^31`) for `bits`-bit dividends:
/// `(m, l)` such that, with `t = (m * x) >> bits`, `x / d == (t + ((x - t) >> 1)) >> (l - 1)`
/// for every `bits`-bit `x`. `l = ceil(log2(d))`, `m = floor(2^(bits+l) / d) - 2^bits + 1`.
pub(super) fn reciprocal(d: u32, bits: u32) -> (u64, u32) {
    let l = 32 - (d - 1).leading_zeros();
    let m = (1u128 << (bits + l)) / u128::from(d) - (1u128 << bits) + 1;
    (m as u64, l)
}

impl Compiler<'_> {
    /// `r = r / divisor` or `r = r % divisor` (unsigned, `width` bits) for `divisor > 0`.
    pub(super) fn emit_unsigned_div_by_constant(
        &mut self,
        remainder: bool,
        width: Width,
        r: u8,
        divisor: u32,
    ) {
        if divisor.is_power_of_two() {
            let shift = divisor.trailing_zeros() as i8;
            let mask = (divisor - 1) as i32;
            match (remainder, width) {
                (false, Width::W64) if shift > 0 => asm!(self.ops; shr Rq(r), shift),
                (false, Width::W64) => {}
                (false, Width::W32) => asm!(self.ops; shr Rd(r), shift),
                (true, Width::W64) => asm!(self.ops; and Rq(r), mask),
                (true, Width::W32) => asm!(self.ops; and Rd(r), mask),
            }
            return;
        }
        match width {
            Width::W64 => self.emit_div64_by_reciprocal(remainder, r, divisor),
            Width::W32 => self.emit_div32_by_reciprocal(remainder, r, divisor),
        }
    }

    /// 64-bit: the high half of the product comes from `mul`, which uses rax (r0) and rdx
    /// (r3): they are saved in tmp_b/tmp_c around it, as the `div` path does; the dividend
    /// and then the result live in tmp_a.
    fn emit_div64_by_reciprocal(&mut self, remainder: bool, r: u8, divisor: u32) {
        let (m, l) = reciprocal(divisor, 64);
        let post_shift = (l - 1) as i8;
        asm!(self.ops
            ; mov tmp_a, Rq(r)
            ; mov tmp_b, rax
            ; mov tmp_c, rdx
            ; mov rax, QWORD m as i64
            ; mul tmp_a
            ; mov rax, tmp_a
            ; sub rax, rdx
            ; shr rax, 1
            ; add rax, rdx
            ; shr rax, post_shift
        );
        if remainder {
            // divisor < 2^31: a positive imm32.
            let d = divisor as i32;
            asm!(self.ops
                ; imul rax, rax, d
                ; sub tmp_a, rax
            );
        } else {
            asm!(self.ops; mov tmp_a, rax);
        }
        asm!(self.ops
            ; mov rax, tmp_b
            ; mov rdx, tmp_c
            ; mov Rq(r), tmp_a
        );
    }

    /// 32-bit: the 32x32-bit product fits a 64-bit `imul`, so only scratch registers are
    /// used: tmp_a the dividend, tmp_b the product's high half, tmp_c the quotient.
    fn emit_div32_by_reciprocal(&mut self, remainder: bool, r: u8, divisor: u32) {
        let (m, l) = reciprocal(divisor, 32);
        let post_shift = (l - 1) as i8;
        asm!(self.ops
            ; mov tmp_a_d, Rd(r)
            ; mov tmp_b_d, m as u32 as i32
            ; imul tmp_b, tmp_a
            ; shr tmp_b, 32
            ; mov tmp_c_d, tmp_a_d
            ; sub tmp_c_d, tmp_b_d
            ; shr tmp_c_d, 1
            ; add tmp_c_d, tmp_b_d
            ; shr tmp_c_d, post_shift
        );
        if remainder {
            let d = divisor as i32;
            asm!(self.ops
                ; imul tmp_c_d, tmp_c_d, d
                ; sub tmp_a_d, tmp_c_d
                ; mov Rd(r), tmp_a_d
            );
        } else {
            asm!(self.ops; mov Rd(r), tmp_c_d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reciprocal;

    fn quotient64(x: u64, d: u32) -> u64 {
        let (m, l) = reciprocal(d, 64);
        let t = ((u128::from(m) * u128::from(x)) >> 64) as u64;
        (t + ((x - t) >> 1)) >> (l - 1)
    }

    fn quotient32(x: u32, d: u32) -> u32 {
        let (m, l) = reciprocal(d, 32);
        let t = ((m * u64::from(x)) >> 32) as u32;
        (t + ((x - t) >> 1)) >> (l - 1)
    }

    #[test]
    fn reciprocals_divide_exactly() {
        let divisors = [
            3u32,
            5,
            6,
            7,
            10,
            12,
            25,
            100,
            641,
            1000,
            65537,
            0x7fff_ffff,
            0x4000_0001,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for &d in &divisors {
            let edges = [0u64, 1, u64::from(d) - 1, u64::from(d), u64::from(d) + 1];
            let more = [
                u64::from(u32::MAX),
                u64::MAX,
                u64::MAX - 1,
                1 << 63,
                (1 << 63) - 1,
            ];
            for &v in edges.iter().chain(&more) {
                assert_eq!(quotient64(v, d), v / u64::from(d), "{v} / {d}");
                assert_eq!(quotient32(v as u32, d), v as u32 / d, "{v} / {d} (32)");
            }
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(quotient64(x, d), x / u64::from(d), "{x} / {d}");
                assert_eq!(quotient32(x as u32, d), x as u32 / d, "{x} / {d} (32)");
            }
        }
    }
}
