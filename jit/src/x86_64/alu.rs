//! ALU emission: binary operations (32-bit forms zero-extend, as x86-64 32-bit operations do),
//! division and modulo with the kernel's zero-divisor and `INT_MIN / -1` rules guarded inline,
//! masked shifts, negation, sign-extending moves, byte-order conversions and LD_IMM64.

use dynasmrt::{DynasmApi, DynasmLabelApi};
use sockops_vm::{AluOp, ByteOrder, Imm64Kind, Operand, Reg, Width};

use super::regs::{TMP_B, asm, host::RCX, host_reg};
use super::{Compiler, Src};
use crate::backend::ld_imm64_value;
use crate::error::JitError;

/// Emits `$mn dst, src` for an operation with register, imm8 and imm32 forms.
macro_rules! binary {
    ($c:expr, $mn:ident, $width:expr, $d:expr, $src:expr) => {
        match ($width, $src) {
            (Width::W64, Src::Reg(s)) => asm!($c.ops; $mn Rq($d), Rq(s)),
            (Width::W32, Src::Reg(s)) => asm!($c.ops; $mn Rd($d), Rd(s)),
            (Width::W64, Src::Imm(i)) if i8::try_from(i).is_ok() => {
                asm!($c.ops; $mn Rq($d), BYTE i as i8)
            }
            (Width::W32, Src::Imm(i)) if i8::try_from(i).is_ok() => {
                asm!($c.ops; $mn Rd($d), BYTE i as i8)
            }
            (Width::W64, Src::Imm(i)) => asm!($c.ops; $mn Rq($d), DWORD i),
            (Width::W32, Src::Imm(i)) => asm!($c.ops; $mn Rd($d), DWORD i),
        }
    };
}

/// Emits a shift `$mn dst, imm` or `$mn dst, cl` (count in rcx).
macro_rules! shift {
    ($c:expr, $mn:ident, $width:expr, $d:expr, imm $count:expr) => {
        match $width {
            Width::W64 => asm!($c.ops; $mn Rq($d), ($count & 63) as i8),
            Width::W32 => asm!($c.ops; $mn Rd($d), ($count & 31) as i8),
        }
    };
    ($c:expr, $mn:ident, $width:expr, $d:expr, cl) => {
        match $width {
            Width::W64 => asm!($c.ops; $mn Rq($d), cl),
            Width::W32 => asm!($c.ops; $mn Rd($d), cl),
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
            AluOp::Add => binary!(self, add, width, d, src),
            AluOp::Sub => binary!(self, sub, width, d, src),
            AluOp::Or => binary!(self, or, width, d, src),
            AluOp::And => binary!(self, and, width, d, src),
            AluOp::Xor => binary!(self, xor, width, d, src),
            AluOp::Mul => match (width, src) {
                (Width::W64, Src::Reg(s)) => asm!(self.ops; imul Rq(d), Rq(s)),
                (Width::W32, Src::Reg(s)) => asm!(self.ops; imul Rd(d), Rd(s)),
                (Width::W64, Src::Imm(i)) => asm!(self.ops; imul Rq(d), Rq(d), i),
                (Width::W32, Src::Imm(i)) => asm!(self.ops; imul Rd(d), Rd(d), i),
            },
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => self.emit_div(op, width, d, src),
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.emit_shift(op, width, d, src),
            AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
                let Src::Reg(s) = src else {
                    return Err(JitError::Unsupported {
                        pc,
                        what: "movsx with an immediate",
                    });
                };
                match (op, width) {
                    (AluOp::MovSx8, Width::W64) => asm!(self.ops; movsx Rq(d), Rb(s)),
                    (AluOp::MovSx16, Width::W64) => asm!(self.ops; movsx Rq(d), Rw(s)),
                    (AluOp::MovSx32, Width::W64) => asm!(self.ops; movsxd Rq(d), Rd(s)),
                    (AluOp::MovSx8, Width::W32) => asm!(self.ops; movsx Rd(d), Rb(s)),
                    (AluOp::MovSx16, Width::W32) => asm!(self.ops; movsx Rd(d), Rw(s)),
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

    /// `dst = src`: 32-bit moves zero-extend; a non-negative immediate uses the shorter
    /// zero-extending 32-bit form, a negative one the sign-extending 64-bit form.
    fn emit_mov(&mut self, width: Width, d: u8, src: Operand) {
        match (width, src) {
            (Width::W64, Operand::Reg(s)) => {
                let s = host_reg(s);
                if s != d {
                    asm!(self.ops; mov Rq(d), Rq(s));
                }
            }
            (Width::W32, Operand::Reg(s)) => asm!(self.ops; mov Rd(d), Rd(host_reg(s))),
            (_, Operand::Imm(imm)) => {
                if let Some(blinder) = self.blinder.as_mut() {
                    let key = blinder.next_i32();
                    let blinded = imm ^ key;
                    match width {
                        Width::W64 => asm!(self.ops
                            ; mov Rq(d), DWORD blinded
                            ; xor Rq(d), DWORD key
                        ),
                        Width::W32 => asm!(self.ops
                            ; mov Rd(d), DWORD blinded
                            ; xor Rd(d), DWORD key
                        ),
                    }
                } else if imm == 0 {
                    asm!(self.ops; xor Rd(d), Rd(d));
                } else if imm > 0 || width == Width::W32 {
                    asm!(self.ops; mov Rd(d), DWORD imm);
                } else {
                    asm!(self.ops; mov Rq(d), DWORD imm);
                }
            }
        }
    }

    /// Division and modulo. The divisor goes to `tmp_a`; r0 (rax) and r3 (rdx), which
    /// `div`/`idiv` use, are saved in `tmp_b`/`tmp_c` around the instruction. Guards:
    /// divisor 0 gives 0 (div) or leaves dst (mod, zero-extended when 32-bit); a signed
    /// divisor of -1 becomes a negation (sdiv) or 0 (smod), so `INT_MIN / -1` never traps.
    fn emit_div(&mut self, op: AluOp, width: Width, d: u8, src: Src) {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let remainder = matches!(op, AluOp::Mod | AluOp::SMod);
        // A known divisor decides the guards at compile time.
        let known = match src {
            Src::Imm(i) => Some(i),
            Src::Reg(_) => None,
        };
        match (known, remainder, width) {
            (Some(0), false, _) => {
                asm!(self.ops; xor Rd(d), Rd(d));
                return;
            }
            (Some(0), true, Width::W32) => {
                asm!(self.ops; mov Rd(d), Rd(d));
                return;
            }
            (Some(0), true, Width::W64) => return,
            (Some(-1), _, _) if signed => {
                match (remainder, width) {
                    (true, _) => asm!(self.ops; xor Rd(d), Rd(d)),
                    (false, Width::W64) => asm!(self.ops; neg Rq(d)),
                    (false, Width::W32) => asm!(self.ops; neg Rd(d)),
                }
                return;
            }
            (Some(i), _, _) if i > 0 && !signed => {
                self.emit_unsigned_div_by_constant(remainder, width, d, i as u32);
                return;
            }
            _ => {}
        }
        let guarded = known.is_none();
        match (width, src) {
            (Width::W64, Src::Reg(s)) => asm!(self.ops; mov tmp_a, Rq(s)),
            (Width::W32, Src::Reg(s)) => asm!(self.ops; mov tmp_a_d, Rd(s)),
            (Width::W64, Src::Imm(i)) => asm!(self.ops; mov tmp_a, DWORD i),
            (Width::W32, Src::Imm(i)) => asm!(self.ops; mov tmp_a_d, DWORD i),
        }
        if guarded {
            match width {
                Width::W64 => asm!(self.ops; test tmp_a, tmp_a; jz >zero),
                Width::W32 => asm!(self.ops; test tmp_a_d, tmp_a_d; jz >zero),
            }
        }
        if signed && guarded {
            match width {
                Width::W64 => asm!(self.ops; cmp tmp_a, -1; je >minus_one),
                Width::W32 => asm!(self.ops; cmp tmp_a_d, -1; je >minus_one),
            }
        }
        asm!(self.ops
            ; mov tmp_b, bpf_r0
            ; mov tmp_c, bpf_r3
        );
        match (width, signed) {
            (Width::W64, false) => asm!(self.ops
                ; mov bpf_r0, Rq(d)
                ; xor edx, edx
                ; div tmp_a
            ),
            (Width::W64, true) => asm!(self.ops
                ; mov bpf_r0, Rq(d)
                ; cqo
                ; idiv tmp_a
            ),
            (Width::W32, false) => asm!(self.ops
                ; mov bpf_r0_d, Rd(d)
                ; xor edx, edx
                ; div tmp_a_d
            ),
            (Width::W32, true) => asm!(self.ops
                ; mov bpf_r0_d, Rd(d)
                ; cdq
                ; idiv tmp_a_d
            ),
        }
        if remainder {
            asm!(self.ops; mov tmp_a, bpf_r3);
        } else {
            asm!(self.ops; mov tmp_a, bpf_r0);
        }
        asm!(self.ops
            ; mov bpf_r0, tmp_b
            ; mov bpf_r3, tmp_c
            ; mov Rq(d), tmp_a
        );
        if !guarded {
            return;
        }
        asm!(self.ops
            ; jmp >done
            ; zero:
        );
        match (remainder, width) {
            (false, _) => asm!(self.ops; xor Rd(d), Rd(d)),
            (true, Width::W32) => asm!(self.ops; mov Rd(d), Rd(d)),
            (true, Width::W64) => {}
        }
        if signed {
            asm!(self.ops; jmp >done; minus_one:);
            match (remainder, width) {
                (true, _) => asm!(self.ops; xor Rd(d), Rd(d)),
                (false, Width::W64) => asm!(self.ops; neg Rq(d)),
                (false, Width::W32) => asm!(self.ops; neg Rd(d)),
            }
        }
        asm!(self.ops; done:);
    }

    /// Shifts; x86 masks the count to 5 or 6 bits exactly as eBPF does. A register count
    /// must be in cl: rcx (r4) is saved in `tmp_b` around the shift.
    fn emit_shift(&mut self, op: AluOp, width: Width, d: u8, src: Src) {
        let s = match src {
            Src::Imm(count) => {
                match op {
                    AluOp::Lsh => shift!(self, shl, width, d, imm count),
                    AluOp::Rsh => shift!(self, shr, width, d, imm count),
                    _ => shift!(self, sar, width, d, imm count),
                }
                return;
            }
            Src::Reg(s) => s,
        };
        let target = if s == RCX {
            d
        } else {
            asm!(self.ops
                ; mov tmp_b, rcx
                ; mov rcx, Rq(s)
            );
            if d == RCX { TMP_B } else { d }
        };
        match op {
            AluOp::Lsh => shift!(self, shl, width, target, cl),
            AluOp::Rsh => shift!(self, shr, width, target, cl),
            _ => shift!(self, sar, width, target, cl),
        }
        if s != RCX {
            asm!(self.ops; mov rcx, tmp_b);
        }
    }

    pub(super) fn emit_neg(&mut self, width: Width, dst: Reg) {
        let d = host_reg(dst);
        match width {
            Width::W64 => asm!(self.ops; neg Rq(d)),
            Width::W32 => asm!(self.ops; neg Rd(d)),
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
            (ByteOrder::ToLe, 16) => asm!(self.ops; movzx Rd(d), Rw(d)),
            (ByteOrder::ToLe, 32) => asm!(self.ops; mov Rd(d), Rd(d)),
            (ByteOrder::ToLe, 64) => {}
            (_, 16) => asm!(self.ops
                ; ror Rw(d), 8
                ; movzx Rd(d), Rw(d)
            ),
            (_, 32) => asm!(self.ops; bswap Rd(d)),
            (_, 64) => asm!(self.ops; bswap Rq(d)),
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
    pub(super) fn emit_ld_imm64(
        &mut self,
        pc: usize,
        dst: Reg,
        kind: Imm64Kind,
        imm: u64,
    ) -> Result<(), JitError> {
        let value = ld_imm64_value(self.input.maps, kind, imm, &mut self.value_regions);
        match value {
            Ok(value) => self.emit_load_u64(host_reg(dst), value),
            Err((status, arg)) => self.emit_failing(pc, status, arg),
        }
        Ok(())
    }

    /// `reg = value` in the shortest form (blinded: through `tmp_a` with a 64-bit key).
    pub(super) fn emit_load_u64(&mut self, d: u8, value: u64) {
        if let Some(blinder) = self.blinder.as_mut() {
            let key = blinder.next_u64();
            asm!(self.ops
                ; mov Rq(d), QWORD (value ^ key) as i64
                ; mov tmp_a, QWORD key as i64
                ; xor Rq(d), tmp_a
            );
        } else if value == 0 {
            asm!(self.ops; xor Rd(d), Rd(d));
        } else if value <= u32::MAX as u64 {
            asm!(self.ops; mov Rd(d), DWORD value as u32 as i32);
        } else if value as i64 >= i32::MIN as i64 && value as i64 <= i32::MAX as i64 {
            asm!(self.ops; mov Rq(d), DWORD value as i64 as i32);
        } else {
            asm!(self.ops; mov Rq(d), QWORD value as i64);
        }
    }
}
