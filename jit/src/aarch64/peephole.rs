//! Pairs of instructions compiled as one, when nothing jumps to the second slot: the shift
//! pairs compilers emit to extend a value, `lsh k` then `rsh k` (clear the top `k` bits: one
//! `ubfx`) and `lsh k` then `arsh k` (sign-extend the low `64 - k` bits: one `sbfx`), for
//! every `k` in 1..63 (not with blinded immediates).

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
        // Shift counts are taken modulo 64, as the interpreter does.
        let k = (k & 63) as u32;
        if second_dst != dst || (k2 & 63) as u32 != k || k == 0 {
            return false;
        }
        let r = host_reg(dst);
        // The field is the low `64 - k` bits.
        let (lsb, bits) = (0u32, 64 - k);
        if second_op == AluOp::Rsh {
            asm!(self.ops; ubfx X(r), X(r), lsb, bits);
        } else {
            asm!(self.ops; sbfx X(r), X(r), lsb, bits);
        }
        true
    }
}
