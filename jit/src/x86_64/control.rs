//! Control flow: conditional jumps (`cmp`/`test` + `jcc` to the target slot's label), direct
//! calls of pure helpers, environment helper calls through the trampolines, `callx`, and local
//! calls that give the callee its own 512-byte frame and preserve r6-r9 and r10 for the
//! caller.

use dynasmrt::{DynasmApi, DynasmLabelApi};
use sockops_vm::{CallTarget, JmpCond, Operand, Reg, Width};

use super::abi::{Trampoline, callx_trampoline, helper_trampoline};
use super::regs::{asm, host_reg};
use super::{Compiler, Src, StubKind};
use crate::error::JitError;
use crate::runtime::{FRAME_SIZE, MAX_FRAMES, Status, offsets};

impl Compiler<'_> {
    pub(super) fn emit_jump(
        &mut self,
        pc: usize,
        cond: JmpCond,
        width: Width,
        dst: Reg,
        src: Operand,
        off: i16,
    ) {
        let target = (pc, pc as i64 + 1 + off as i64);
        self.emit_conditional_jump(cond, false, width, dst, src, target);
    }

    /// Compare-and-branch to `target` = (slot whose jump it is, target slot): taken when
    /// `cond` holds, or when it does not if `negate`.
    pub(super) fn emit_conditional_jump(
        &mut self,
        cond: JmpCond,
        negate: bool,
        width: Width,
        dst: Reg,
        src: Operand,
        (jump_pc, target): (usize, i64),
    ) {
        let d = host_reg(dst);
        let src = self.lower(src);
        let target = self.jump_label(jump_pc, target);
        match (cond == JmpCond::Set, width, src) {
            (false, Width::W64, Src::Reg(s)) => asm!(self.ops; cmp Rq(d), Rq(s)),
            (false, Width::W32, Src::Reg(s)) => asm!(self.ops; cmp Rd(d), Rd(s)),
            (false, _, Src::Imm(i)) if i8::try_from(i).is_ok() => {
                self.emit_cmp_imm8(width, d, i as i8)
            }
            (false, Width::W64, Src::Imm(i)) => asm!(self.ops; cmp Rq(d), DWORD i),
            (false, Width::W32, Src::Imm(i)) => asm!(self.ops; cmp Rd(d), DWORD i),
            (true, Width::W64, Src::Reg(s)) => asm!(self.ops; test Rq(d), Rq(s)),
            (true, Width::W32, Src::Reg(s)) => asm!(self.ops; test Rd(d), Rd(s)),
            (true, Width::W64, Src::Imm(i)) => asm!(self.ops; test Rq(d), DWORD i),
            (true, Width::W32, Src::Imm(i)) => asm!(self.ops; test Rd(d), DWORD i),
        }
        match (cond, negate) {
            (JmpCond::Eq, false) | (JmpCond::Ne, true) => asm!(self.ops; je =>target),
            (JmpCond::Ne, false) | (JmpCond::Eq, true) => asm!(self.ops; jne =>target),
            (JmpCond::Set, false) => asm!(self.ops; jnz =>target),
            (JmpCond::Set, true) => asm!(self.ops; jz =>target),
            (JmpCond::Gt, false) | (JmpCond::Le, true) => asm!(self.ops; ja =>target),
            (JmpCond::Ge, false) | (JmpCond::Lt, true) => asm!(self.ops; jae =>target),
            (JmpCond::Lt, false) | (JmpCond::Ge, true) => asm!(self.ops; jb =>target),
            (JmpCond::Le, false) | (JmpCond::Gt, true) => asm!(self.ops; jbe =>target),
            (JmpCond::Sgt, false) | (JmpCond::Sle, true) => asm!(self.ops; jg =>target),
            (JmpCond::Sge, false) | (JmpCond::Slt, true) => asm!(self.ops; jge =>target),
            (JmpCond::Slt, false) | (JmpCond::Sge, true) => asm!(self.ops; jl =>target),
            (JmpCond::Sle, false) | (JmpCond::Sgt, true) => asm!(self.ops; jle =>target),
        }
    }

    /// `cmp reg, imm8` (opcode 83 /7 ib, sign-extended), encoded here because dynasm picks
    /// the imm32 form for a run-time immediate even when told `BYTE`.
    fn emit_cmp_imm8(&mut self, width: Width, d: u8, imm: i8) {
        let rex_w = if width == Width::W64 { 0x08 } else { 0 };
        let rex = 0x40 | rex_w | (d >> 3);
        self.ops.extend([rex, 0x83, 0xf8 | (d & 7), imm as u8]);
    }

    pub(super) fn emit_call(&mut self, pc: usize, target: CallTarget) -> Result<(), JitError> {
        match target {
            CallTarget::Helper(id) => {
                let pure = u32::try_from(id)
                    .ok()
                    .and_then(|id| self.input.table.pure(id));
                if let Some(pure) = pure {
                    // r1..r5 are in the SysV argument registers, the result lands in r0 (rax);
                    // r6-r9, r10 and the state are callee-saved; rsp is 16-byte aligned here.
                    asm!(self.ops
                        ; mov rax, QWORD pure as usize as i64
                        ; call rax
                    );
                    return Ok(());
                }
                let helper = u32::try_from(id)
                    .ok()
                    .and_then(|id| self.helper_address(id));
                match helper {
                    Some(helper) => {
                        asm!(self.ops
                            ; mov rax, QWORD helper as usize as i64
                            ; mov [state + offsets::HELPER], rax
                        );
                        self.emit_trampoline_call(pc, helper_trampoline);
                    }
                    None => {
                        let stub =
                            self.stub(pc, StubKind::Fixed(Status::UnknownHelper, id as u32 as u64));
                        asm!(self.ops; jmp =>stub);
                    }
                }
            }
            CallTarget::Register(reg) => {
                let r = host_reg(reg);
                asm!(self.ops; mov [state + offsets::CALLX_ID], Rq(r));
                self.emit_trampoline_call(pc, callx_trampoline);
            }
            CallTarget::Local(off) => self.emit_local_call(pc, pc as i64 + 1 + off as i64),
            CallTarget::Kfunc { .. } => {
                let kfunc =
                    crate::backend::unsupported_index(sockops_vm::interp::unsupported::KFUNC_CALL);
                self.emit_failing(pc, Status::Unsupported, kfunc);
            }
        }
        Ok(())
    }

    /// r1..r5 are already in the SysV argument registers; the state goes in r9. The result
    /// comes back in rax (r0) and the status in rdx; any status but `Exit` leaves the program
    /// through a stub that records this call's pc.
    fn emit_trampoline_call(&mut self, pc: usize, trampoline: Trampoline) {
        let stub = self.stub(pc, StubKind::FromTrampoline);
        asm!(self.ops
            ; mov tmp_c, state
            ; mov rax, QWORD trampoline as usize as i64
            ; call rax
            ; test edx, edx
            ; jnz =>stub
        );
    }

    /// A BPF-to-BPF call: check and count the depth, save the caller's r6-r9 and frame
    /// pointer, give the callee the next 512-byte frame, call; restore on return. Each push
    /// pair keeps rsp 16-byte aligned at the callee's helper calls (5 pushes + return address).
    fn emit_local_call(&mut self, pc: usize, target: i64) {
        let label = self.jump_label(pc, target);
        let too_deep = self.stub(pc, StubKind::Fixed(Status::CallDepth, MAX_FRAMES as u64));
        let limit = (MAX_FRAMES - 1) as i32;
        let frame = FRAME_SIZE as i32;
        asm!(self.ops
            ; cmp QWORD [state + offsets::CALL_DEPTH], limit
            ; jae =>too_deep
            ; add QWORD [state + offsets::CALL_DEPTH], 1
            ; push rbx
            ; push r13
            ; push r14
            ; push r15
            ; push bpf_fp
            ; sub bpf_fp, frame
            ; call =>label
            ; pop bpf_fp
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop rbx
            ; sub QWORD [state + offsets::CALL_DEPTH], 1
        );
    }
}
