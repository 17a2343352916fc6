//! Pairs of instructions compiled as one, when nothing jumps to the second slot:
//! - the shift pairs compilers emit to extend a value, `lsh k` then `rsh k` (clear the top
//!   `k` bits) and `lsh k` then `arsh k` (sign-extend the low `64 - k` bits), each one short
//!   instruction instead of two on the dependency chain (not with blinded immediates);
//! - a conditional jump over an unconditional one (`jeq r, k, +1` then `ja L`), one inverted
//!   conditional jump to `L`.

use dynasmrt::DynasmApi;
use sockops_vm::{AluOp, Instruction, Operand, Width};

use super::Compiler;
use super::regs::{asm, host_reg};

impl Compiler<'_> {
    /// Emits the instructions at `pc` and `pc + 1` as one if they form a fusable pair;
    /// returns whether it did.
    pub(super) fn emit_fused_pair(&mut self, pc: usize) -> bool {
        if self.blinder.is_some() || self.facts.is_jump_target(pc + 1) {
            return false;
        }
        let (Some(&first), Some(&second)) =
            (self.input.insns.get(pc), self.input.insns.get(pc + 1))
        else {
            return false;
        };
        let Instruction::Alu {
            op: AluOp::Lsh,
            width: Width::W64,
            dst,
            src: Operand::Imm(k),
        } = first
        else {
            return false;
        };
        let Instruction::Alu {
            op: second_op @ (AluOp::Rsh | AluOp::Arsh),
            width: Width::W64,
            dst: second_dst,
            src: Operand::Imm(k2),
        } = second
        else {
            return false;
        };
        // Shift counts are taken modulo 64, as the interpreter and x86 do.
        let k = k & 63;
        if second_dst != dst || k2 & 63 != k || k == 0 {
            return false;
        }
        let r = host_reg(dst);
        match (second_op, k) {
            (AluOp::Rsh, 32) => asm!(self.ops; mov Rd(r), Rd(r)),
            (AluOp::Rsh, 33..) => {
                let mask = (u64::MAX >> k) as i32;
                asm!(self.ops; and Rq(r), mask);
            }
            (AluOp::Rsh, _) => {
                let mask = (u64::MAX >> k) as i64;
                asm!(self.ops
                    ; mov tmp_a, QWORD mask
                    ; and Rq(r), tmp_a
                );
            }
            (_, 32) => asm!(self.ops; movsxd Rq(r), Rd(r)),
            (_, 48) => asm!(self.ops; movsx Rq(r), Rw(r)),
            (_, 56) => asm!(self.ops; movsx Rq(r), Rb(r)),
            _ => return false,
        }
        true
    }
}
