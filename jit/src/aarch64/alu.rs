//! ALU emission: binary operations (32-bit forms on `Wn` registers, which zero-extend),
//! immediates in whatever encoding fits (add/sub imm12, optionally shifted; logical
//! immediates; otherwise a `movz`/`movn` + `movk` constant in a scratch register), division
//! and modulo (`udiv`/`sdiv` + `msub`: the hardware's results for a zero divisor and
//! `INT_MIN / -1` are exactly the eBPF ones), shifts (`lslv`/`lsrv`/`asrv` mask the count as
//! eBPF does), negation, sign-extending moves, byte swaps and LD_IMM64.

use dynasmrt::DynasmApi;
use dynasmrt::aarch64::{encode_logical_immediate_32bit, encode_logical_immediate_64bit};
use sockops_vm::{AluOp, ByteOrder, Imm64Kind, Operand, Reg, Width};

use super::regs::{TMP_A, TMP_B, TMP_D, asm, host_reg};
use super::{Compiler, Src};
use crate::backend::ld_imm64_value;
use crate::error::JitError;

/// The logical-immediate value of `imm` for a `width` operation, if it has an encoding.
pub(super) fn logical_immediate(width: Width, imm: i32) -> Option<u64> {
    match width {
        Width::W64 => {
            let value = imm as i64 as u64;
            encode_logical_immediate_64bit(value).map(|_| value)
        }
        Width::W32 => {
            let value = imm as u32;
            encode_logical_immediate_32bit(value).map(|_| u64::from(value))
        }
    }
}

/// The three-register forms of the binary operations.
macro_rules! three {
    ($c:expr, $mn:ident, $width:expr, $d:expr, $n:expr, $m:expr) => {
        match $width {
            Width::W64 => asm!($c.ops; $mn X($d), X($n), X($m)),
            Width::W32 => asm!($c.ops; $mn W($d), W($n), W($m)),
        }
    };
}

impl Compiler<'_> {
    pub(super) fn emit_alu(
        &mut self,
        pc: usize,
        op: AluOp,
        width: Width,
        dst: Reg,
        src: Operand,
    ) -> Result<(), JitError> {
        let d = host_reg(dst);
        if op == AluOp::Mov {
            self.emit_mov(width, d, src);
            return Ok(());
        }
        let src = self.lower(src);
        match op {
            AluOp::Add | AluOp::Sub => self.emit_add_sub(op == AluOp::Sub, width, d, src),
            AluOp::Or | AluOp::And | AluOp::Xor => self.emit_logical(op, width, d, src),
            AluOp::Mul => {
                let s = self.in_register(width, src, TMP_A);
                three!(self, mul, width, d, d, s);
            }
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => {
                if let Src::Imm(divisor) = src
                    && self.emit_div_by_constant(op, width, d, divisor)
                {
                    return Ok(());
                }
                let s = self.in_register(width, src, TMP_B);
                self.emit_div_by_register(op, width, d, s);
            }
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.emit_shift(op, width, d, src),
            AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
                let Src::Reg(s) = src else {
                    return Err(JitError::Unsupported {
                        pc,
                        what: "movsx with an immediate",
                    });
                };
                match (op, width) {
                    (AluOp::MovSx8, Width::W64) => asm!(self.ops; sxtb X(d), W(s)),
                    (AluOp::MovSx16, Width::W64) => asm!(self.ops; sxth X(d), W(s)),
                    (AluOp::MovSx32, Width::W64) => asm!(self.ops; sxtw X(d), W(s)),
                    (AluOp::MovSx8, Width::W32) => asm!(self.ops; sxtb W(d), W(s)),
                    (AluOp::MovSx16, Width::W32) => asm!(self.ops; sxth W(d), W(s)),
                    _ => {
                        return Err(JitError::Unsupported {
                            pc,
                            what: "32-bit movsx32",
                        });
                    }
                }
            }
            // Moves returned above: `emit_mov` takes the operand before lowering.
            AluOp::Mov => {}
        }
        Ok(())
    }

    /// The operand in a register: itself, or the immediate (sign-extended for 64-bit
    /// operations, as a 32-bit value for 32-bit ones) materialised in `scratch`.
    pub(super) fn in_register(&mut self, width: Width, src: Src, scratch: u32) -> u32 {
        match src {
            Src::Reg(s) => s,
            Src::Imm(i) => {
                let value = match width {
                    Width::W64 => i as i64 as u64,
                    Width::W32 => u64::from(i as u32),
                };
                self.emit_constant(scratch, value);
                scratch
            }
        }
    }

    /// `dst += src` or `dst -= src`: an immediate whose magnitude fits imm12 (or imm12 << 12)
    /// is encoded, with the opposite operation for a negative one.
    fn emit_add_sub(&mut self, subtract: bool, width: Width, d: u32, src: Src) {
        if let Src::Imm(i) = src {
            let magnitude = i64::from(i).unsigned_abs();
            let negate = (i < 0) != subtract;
            let encodable =
                magnitude < 4096 || (magnitude.is_multiple_of(4096) && magnitude < 1 << 24);
            if encodable {
                let (imm, shifted) = if magnitude < 4096 {
                    (magnitude as u32, false)
                } else {
                    ((magnitude >> 12) as u32, true)
                };
                match (negate, width, shifted) {
                    (false, Width::W64, false) => asm!(self.ops; add XSP(d), XSP(d), imm),
                    (false, Width::W32, false) => asm!(self.ops; add WSP(d), WSP(d), imm),
                    (true, Width::W64, false) => asm!(self.ops; sub XSP(d), XSP(d), imm),
                    (true, Width::W32, false) => asm!(self.ops; sub WSP(d), WSP(d), imm),
                    (false, Width::W64, true) => asm!(self.ops; add XSP(d), XSP(d), imm, lsl 12),
                    (false, Width::W32, true) => asm!(self.ops; add WSP(d), WSP(d), imm, lsl 12),
                    (true, Width::W64, true) => asm!(self.ops; sub XSP(d), XSP(d), imm, lsl 12),
                    (true, Width::W32, true) => asm!(self.ops; sub WSP(d), WSP(d), imm, lsl 12),
                }
                return;
            }
        }
        let s = self.in_register(width, src, TMP_A);
        if subtract {
            three!(self, sub, width, d, d, s);
        } else {
            three!(self, add, width, d, d, s);
        }
    }

    /// `dst |= src`, `&=`, `^=`: a logical-immediate encoding when the mask has one.
    fn emit_logical(&mut self, op: AluOp, width: Width, d: u32, src: Src) {
        if let Src::Imm(i) = src
            && let Some(mask) = logical_immediate(width, i)
        {
            match (op, width) {
                (AluOp::Or, Width::W64) => asm!(self.ops; orr XSP(d), X(d), mask),
                (AluOp::Or, Width::W32) => asm!(self.ops; orr WSP(d), W(d), mask as u32),
                (AluOp::And, Width::W64) => asm!(self.ops; and XSP(d), X(d), mask),
                (AluOp::And, Width::W32) => asm!(self.ops; and WSP(d), W(d), mask as u32),
                (_, Width::W64) => asm!(self.ops; eor XSP(d), X(d), mask),
                (_, Width::W32) => asm!(self.ops; eor WSP(d), W(d), mask as u32),
            }
            return;
        }
        let s = self.in_register(width, src, TMP_A);
        match op {
            AluOp::Or => three!(self, orr, width, d, d, s),
            AluOp::And => three!(self, and, width, d, d, s),
            _ => three!(self, eor, width, d, d, s),
        }
    }

    /// `dst = src`: 32-bit moves zero-extend (a `Wn` write).
    fn emit_mov(&mut self, width: Width, d: u32, src: Operand) {
        match (width, src) {
            (Width::W64, Operand::Reg(s)) => {
                let s = host_reg(s);
                if s != d {
                    asm!(self.ops; mov X(d), X(s));
                }
            }
            (Width::W32, Operand::Reg(s)) => asm!(self.ops; mov W(d), W(host_reg(s))),
            (_, Operand::Imm(imm)) => self.emit_program_immediate(width, d, imm),
        }
    }

    /// `reg = imm` for an instruction's 32-bit immediate (sign-extended to 64 bits, or
    /// zero-extended from 32): blinded with a 32-bit key when constant blinding is on, so
    /// that both halves stay short `movz`/`movn` + `movk` sequences.
    fn emit_program_immediate(&mut self, width: Width, d: u32, imm: i32) {
        let extend = |v: i32| match width {
            Width::W64 => v as i64 as u64,
            Width::W32 => u64::from(v as u32),
        };
        let Some(blinder) = self.blinder.as_mut() else {
            self.emit_constant(d, extend(imm));
            return;
        };
        let key = blinder.next_i32();
        self.emit_constant(d, extend(imm ^ key));
        self.emit_constant(TMP_D, extend(key));
        asm!(self.ops; eor X(d), X(d), tmp_d);
    }

    /// Division and modulo by a constant known at compile time (not blinded): zero gives 0
    /// (div) or leaves `d` (mod, zero-extended in 32-bit form); an unsigned power of two is a
    /// shift or a mask. Returns whether it emitted the operation.
    fn emit_div_by_constant(&mut self, op: AluOp, width: Width, d: u32, divisor: i32) -> bool {
        let value = match width {
            Width::W64 => divisor as i64 as u64,
            Width::W32 => u64::from(divisor as u32),
        };
        match op {
            AluOp::Div | AluOp::SDiv if value == 0 => asm!(self.ops; mov X(d), xzr),
            AluOp::Mod | AluOp::SMod if value == 0 => {
                if width == Width::W32 {
                    asm!(self.ops; mov W(d), W(d));
                }
            }
            AluOp::Div if value.is_power_of_two() => {
                let shift = value.trailing_zeros();
                match width {
                    _ if shift == 0 && width == Width::W64 => {}
                    Width::W64 => asm!(self.ops; lsr X(d), X(d), shift),
                    Width::W32 if shift == 0 => asm!(self.ops; mov W(d), W(d)),
                    Width::W32 => asm!(self.ops; lsr W(d), W(d), shift),
                }
            }
            AluOp::Mod if value.is_power_of_two() => match width {
                _ if value == 1 => asm!(self.ops; mov X(d), xzr),
                Width::W64 => asm!(self.ops; and XSP(d), X(d), value - 1),
                Width::W32 => asm!(self.ops; and WSP(d), W(d), (value - 1) as u32),
            },
            _ => return false,
        }
        true
    }

    /// Division and modulo of `d` by the register `s`. `udiv`/`sdiv` give 0 for a zero
    /// divisor and `INT_MIN` for `INT_MIN / -1`, as eBPF defines them; the remainder is
    /// `d - (d / s) * s` (`msub`), which leaves `d` for a zero divisor (zero-extended in
    /// 32-bit form) and gives 0 for `INT_MIN % -1`.
    fn emit_div_by_register(&mut self, op: AluOp, width: Width, d: u32, s: u32) {
        match (op, width) {
            (AluOp::Div, _) => three!(self, udiv, width, d, d, s),
            (AluOp::SDiv, _) => three!(self, sdiv, width, d, d, s),
            (AluOp::Mod, Width::W64) => asm!(self.ops
                ; udiv tmp_c, X(d), X(s)
                ; msub X(d), tmp_c, X(s), X(d)
            ),
            (AluOp::Mod, Width::W32) => asm!(self.ops
                ; udiv tmp_c_w, W(d), W(s)
                ; msub W(d), tmp_c_w, W(s), W(d)
            ),
            (_, Width::W64) => asm!(self.ops
                ; sdiv tmp_c, X(d), X(s)
                ; msub X(d), tmp_c, X(s), X(d)
            ),
            (_, Width::W32) => asm!(self.ops
                ; sdiv tmp_c_w, W(d), W(s)
                ; msub W(d), tmp_c_w, W(s), W(d)
            ),
        }
    }

    /// Shifts: an immediate count is masked to 5 or 6 bits as the interpreter does; the
    /// register forms mask by the operation's width in hardware.
    fn emit_shift(&mut self, op: AluOp, width: Width, d: u32, src: Src) {
        match src {
            Src::Imm(count) => {
                let count = match width {
                    Width::W64 => (count & 63) as u32,
                    Width::W32 => (count & 31) as u32,
                };
                if count == 0 {
                    // Shifting by 0 leaves the value; a 32-bit operation still zero-extends.
                    if width == Width::W32 {
                        asm!(self.ops; mov W(d), W(d));
                    }
                    return;
                }
                match (op, width) {
                    (AluOp::Lsh, Width::W64) => asm!(self.ops; lsl X(d), X(d), count),
                    (AluOp::Lsh, Width::W32) => asm!(self.ops; lsl W(d), W(d), count),
                    (AluOp::Rsh, Width::W64) => asm!(self.ops; lsr X(d), X(d), count),
                    (AluOp::Rsh, Width::W32) => asm!(self.ops; lsr W(d), W(d), count),
                    (_, Width::W64) => asm!(self.ops; asr X(d), X(d), count),
                    (_, Width::W32) => asm!(self.ops; asr W(d), W(d), count),
                }
            }
            Src::Reg(s) => match op {
                AluOp::Lsh => three!(self, lslv, width, d, d, s),
                AluOp::Rsh => three!(self, lsrv, width, d, d, s),
                _ => three!(self, asrv, width, d, d, s),
            },
        }
    }

    pub(super) fn emit_neg(&mut self, width: Width, dst: Reg) {
        let d = host_reg(dst);
        match width {
            Width::W64 => asm!(self.ops; neg X(d), X(d)),
            Width::W32 => asm!(self.ops; neg W(d), W(d)),
        }
    }

    /// Byte-order conversion of the low `bits`, zero-extended (the host is little-endian, so
    /// `le` only truncates).
    pub(super) fn emit_endian(
        &mut self,
        pc: usize,
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    ) -> Result<(), JitError> {
        let d = host_reg(dst);
        match (order, bits) {
            (ByteOrder::ToLe, 16) => asm!(self.ops; uxth W(d), W(d)),
            (ByteOrder::ToLe, 32) => asm!(self.ops; mov W(d), W(d)),
            (ByteOrder::ToLe, 64) => {}
            (_, 16) => asm!(self.ops
                ; rev16 W(d), W(d)
                ; uxth W(d), W(d)
            ),
            (_, 32) => asm!(self.ops; rev W(d), W(d)),
            (_, 64) => asm!(self.ops; rev X(d), X(d)),
            _ => {
                return Err(JitError::Unsupported {
                    pc,
                    what: "byte swap width",
                });
            }
        }
        Ok(())
    }

    /// LD_IMM64 (`backend::ld_imm64_value`): a reference the program's maps cannot serve, or
    /// a kind this runtime does not execute, compiles to the interpreter's run-time error.
    pub(super) fn emit_ld_imm64(&mut self, pc: usize, dst: Reg, kind: Imm64Kind, imm: u64) {
        match ld_imm64_value(self.input.maps, kind, imm, &mut self.value_regions) {
            Ok(value) => self.emit_program_constant(host_reg(dst), value),
            Err((status, arg)) => self.emit_failing(pc, status, arg),
        }
    }

    /// `reg = value` for a constant of the program: blinded (`(value ^ key) ^ key` through
    /// `tmp_d`) when constant blinding is on, else `emit_constant`.
    pub(super) fn emit_program_constant(&mut self, d: u32, value: u64) {
        let Some(blinder) = self.blinder.as_mut() else {
            self.emit_constant(d, value);
            return;
        };
        let key = blinder.next_u64();
        self.emit_constant(d, value ^ key);
        self.emit_constant(TMP_D, key);
        asm!(self.ops; eor X(d), X(d), tmp_d);
    }

    /// `reg = value` in the fewest instructions: `movz` + `movk` for the non-zero 16-bit
    /// chunks (a 32-bit `Wn` form for values below 2^32, which zero-extends), `movn` +
    /// `movk` when more chunks are 0xffff than zero, or one `orr` of a logical immediate when
    /// that is shorter.
    pub(super) fn emit_constant(&mut self, d: u32, value: u64) {
        let chunks: [u32; 4] = std::array::from_fn(|i| ((value >> (16 * i)) & 0xffff) as u32);
        let zero = chunks.iter().filter(|&&c| c == 0).count();
        let ones = chunks.iter().filter(|&&c| c == 0xffff).count();
        let needed = 4 - zero.max(ones);
        if needed > 1 && encode_logical_immediate_64bit(value).is_some() {
            asm!(self.ops; orr XSP(d), xzr, value);
            return;
        }
        if value <= u64::from(u32::MAX) {
            // movz/movk on the low word (a W write zero-extends).
            let (lo, hi) = (chunks[0], chunks[1]);
            if value == 0 {
                asm!(self.ops; mov X(d), xzr);
            } else if hi == 0 {
                asm!(self.ops; movz W(d), lo);
            } else if lo == 0 {
                asm!(self.ops; movz W(d), hi, lsl 16);
            } else if hi == 0xffff {
                asm!(self.ops; movn W(d), !lo & 0xffff);
            } else {
                asm!(self.ops
                    ; movz W(d), lo
                    ; movk W(d), hi, lsl 16
                );
            }
            return;
        }
        let inverted = ones > zero;
        let skip = if inverted { 0xffff } else { 0 };
        let mut first = true;
        for (i, &chunk) in chunks.iter().enumerate() {
            if chunk == skip {
                continue;
            }
            let shift = 16 * i as u32;
            if first {
                first = false;
                let imm = if inverted { !chunk & 0xffff } else { chunk };
                match (inverted, shift) {
                    (false, 0) => asm!(self.ops; movz X(d), imm),
                    (false, 16) => asm!(self.ops; movz X(d), imm, lsl 16),
                    (false, 32) => asm!(self.ops; movz X(d), imm, lsl 32),
                    (false, _) => asm!(self.ops; movz X(d), imm, lsl 48),
                    (true, 0) => asm!(self.ops; movn X(d), imm),
                    (true, 16) => asm!(self.ops; movn X(d), imm, lsl 16),
                    (true, 32) => asm!(self.ops; movn X(d), imm, lsl 32),
                    (true, _) => asm!(self.ops; movn X(d), imm, lsl 48),
                }
                continue;
            }
            match shift {
                0 => asm!(self.ops; movk X(d), chunk),
                16 => asm!(self.ops; movk X(d), chunk, lsl 16),
                32 => asm!(self.ops; movk X(d), chunk, lsl 32),
                _ => asm!(self.ops; movk X(d), chunk, lsl 48),
            }
        }
        if first {
            // Every chunk was skipped: all ones (all zeros took the 32-bit path).
            asm!(self.ops; movn X(d), 0);
        }
    }

    /// `d = n + value` for a signed constant: imm12 (or imm12 << 12) with `add`/`sub`, else
    /// through a constant in `d` (which must differ from `n`).
    pub(super) fn emit_add_immediate(&mut self, d: u32, n: u32, value: i64) {
        let magnitude = value.unsigned_abs();
        if magnitude < 4096 {
            let imm = magnitude as u32;
            if value < 0 {
                asm!(self.ops; sub XSP(d), XSP(n), imm);
            } else {
                asm!(self.ops; add XSP(d), XSP(n), imm);
            }
            return;
        }
        if magnitude.is_multiple_of(4096) && magnitude < 1 << 24 {
            let imm = (magnitude >> 12) as u32;
            if value < 0 {
                asm!(self.ops; sub XSP(d), XSP(n), imm, lsl 12);
            } else {
                asm!(self.ops; add XSP(d), XSP(n), imm, lsl 12);
            }
            return;
        }
        debug_assert_ne!(d, n);
        self.emit_constant(d, value as u64);
        asm!(self.ops; add X(d), X(n), X(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_immediates_follow_the_operation_width() {
        assert_eq!(logical_immediate(Width::W64, 0xff), Some(0xff));
        assert_eq!(
            logical_immediate(Width::W64, -256),
            Some(0xffff_ffff_ffff_ff00)
        );
        assert_eq!(logical_immediate(Width::W32, -256), Some(0xffff_ff00));
        assert_eq!(logical_immediate(Width::W64, 0), None);
        assert_eq!(logical_immediate(Width::W64, -1), None);
        assert_eq!(logical_immediate(Width::W64, 0x1234_5678), None);
    }
}
