//! Control flow: conditional jumps (`cmp`/`cmn`/`tst` + `b.cond` to the target slot's label,
//! relaxed by `Compiler::emit_branch`), direct calls of pure helpers, environment helper
//! calls through the trampolines, `callx`, and local calls that give the callee its own
//! 512-byte frame and preserve r6-r9, r10 and the return address for the caller.

use dynasmrt::{DynasmApi, DynasmLabelApi};
use sockops_vm::{CallTarget, JmpCond, Operand, Reg, Width};

use super::alu::logical_immediate;
use super::regs::{STATE, TMP_A, asm, host_reg};
use super::{Compiler, Cond, Src, StubKind};
use crate::backend::unsupported_index;
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
        let target = self.jump_label(pc, pc as i64 + 1 + off as i64);
        let d = host_reg(dst);
        let src = self.lower(src);
        if cond == JmpCond::Set {
            self.emit_test(width, d, src);
        } else {
            self.emit_compare(width, d, src);
        }
        let cond = match cond {
            JmpCond::Eq => Cond::Eq,
            JmpCond::Ne | JmpCond::Set => Cond::Ne,
            JmpCond::Gt => Cond::Hi,
            JmpCond::Ge => Cond::Hs,
            JmpCond::Lt => Cond::Lo,
            JmpCond::Le => Cond::Ls,
            JmpCond::Sgt => Cond::Gt,
            JmpCond::Sge => Cond::Ge,
            JmpCond::Slt => Cond::Lt,
            JmpCond::Sle => Cond::Le,
        };
        self.emit_branch(cond, target);
    }

    /// Sets the flags as `d - src`: `cmp` with an imm12, `cmn` with the magnitude of a small
    /// negative immediate (the same flags for every condition), else a register.
    fn emit_compare(&mut self, width: Width, d: u32, src: Src) {
        if let Src::Imm(i) = src
            && i64::from(i).unsigned_abs() < 4096
        {
            let magnitude = i64::from(i).unsigned_abs() as u32;
            match (i < 0, width) {
                (false, Width::W64) => asm!(self.ops; cmp XSP(d), magnitude),
                (false, Width::W32) => asm!(self.ops; cmp WSP(d), magnitude),
                (true, Width::W64) => asm!(self.ops; cmn XSP(d), magnitude),
                (true, Width::W32) => asm!(self.ops; cmn WSP(d), magnitude),
            }
            return;
        }
        let s = self.in_register(width, src, TMP_A);
        match width {
            Width::W64 => asm!(self.ops; cmp X(d), X(s)),
            Width::W32 => asm!(self.ops; cmp W(d), W(s)),
        }
    }

    /// Sets the flags as `d & src` (`tst`), with a logical immediate when the mask has one.
    fn emit_test(&mut self, width: Width, d: u32, src: Src) {
        if let Src::Imm(i) = src
            && let Some(mask) = logical_immediate(width, i)
        {
            match width {
                Width::W64 => asm!(self.ops; tst X(d), mask),
                Width::W32 => asm!(self.ops; tst W(d), mask as u32),
            }
            return;
        }
        let s = self.in_register(width, src, TMP_A);
        match width {
            Width::W64 => asm!(self.ops; tst X(d), X(s)),
            Width::W32 => asm!(self.ops; tst W(d), W(s)),
        }
    }

    pub(super) fn emit_call(&mut self, pc: usize, target: CallTarget) {
        match target {
            CallTarget::Helper(id) => {
                let pure = u32::try_from(id)
                    .ok()
                    .and_then(|id| self.input.table.pure(id));
                if let Some(pure) = pure {
                    // r1..r5 are in x0-x4; the result comes back in x0. Lean code saved x30
                    // in its prologue; full code keeps the function's return address
                    // across the call.
                    self.emit_constant(super::regs::CALL_TARGET, pure as usize as u64);
                    if self.lean {
                        asm!(self.ops; blr ip0);
                    } else {
                        asm!(self.ops
                            ; str x30, [sp, -16]!
                            ; blr ip0
                            ; ldr x30, [sp], 16
                        );
                    }
                    asm!(self.ops; mov bpf_r0, x0);
                    return;
                }
                let helper = u32::try_from(id)
                    .ok()
                    .and_then(|id| self.helper_address(id));
                match helper {
                    Some(helper) => {
                        let field = offsets::HELPER as u32;
                        self.emit_constant(TMP_A, helper as usize as u64);
                        asm!(self.ops; str tmp_a, [state, field]);
                        let trampoline = self.target.helper_trampoline;
                        self.emit_trampoline_call(pc, trampoline);
                    }
                    None => {
                        let stub =
                            self.stub(pc, StubKind::Fixed(Status::UnknownHelper, id as u32 as u64));
                        asm!(self.ops; b =>stub);
                    }
                }
            }
            CallTarget::Register(reg) => {
                let r = host_reg(reg);
                let field = offsets::CALLX_ID as u32;
                asm!(self.ops; str X(r), [state, field]);
                let trampoline = self.target.callx_trampoline;
                self.emit_trampoline_call(pc, trampoline);
            }
            CallTarget::Local(off) => self.emit_local_call(pc, pc as i64 + 1 + off as i64),
            CallTarget::Kfunc { .. } => {
                let kfunc = unsupported_index(sockops_vm::interp::unsupported::KFUNC_CALL);
                self.emit_failing(pc, Status::Unsupported, kfunc);
            }
        }
    }

    /// r1..r5 are already in x0-x4; the state goes in x5. The result comes back in x0 (moved
    /// to r0) and the status in x1; any status but `Exit` leaves the program through a stub
    /// that records this call's pc. x30 (the function's return address) is kept on the stack
    /// across the call, so sp stays 16-byte aligned.
    fn emit_trampoline_call(&mut self, pc: usize, trampoline: u64) {
        let stub = self.stub(pc, StubKind::FromTrampoline);
        self.emit_constant(super::regs::CALL_TARGET, trampoline);
        debug_assert_eq!(STATE, 26);
        asm!(self.ops
            ; mov x5, state
            ; str x30, [sp, -16]!
            ; blr ip0
            ; ldr x30, [sp], 16
            ; mov bpf_r0, x0
        );
        self.emit_branch_if_nonzero(1, stub);
    }

    /// A BPF-to-BPF call: check and count the depth, save the caller's r6-r9, frame pointer
    /// and return address (48 bytes, keeping sp 16-byte aligned), give the callee the next
    /// 512-byte frame, call; restore on return.
    fn emit_local_call(&mut self, pc: usize, target: i64) {
        let label = self.jump_label(pc, target);
        let too_deep = self.stub(pc, StubKind::Fixed(Status::CallDepth, MAX_FRAMES as u64));
        let limit = (MAX_FRAMES - 1) as u32;
        let frame = FRAME_SIZE as u32;
        let depth = offsets::CALL_DEPTH as u32;
        asm!(self.ops
            ; ldr tmp_a, [state, depth]
            ; cmp tmp_a, limit
        );
        self.emit_branch(Cond::Hs, too_deep);
        asm!(self.ops
            ; add tmp_a, tmp_a, 1
            ; str tmp_a, [state, depth]
            ; stp x19, x20, [sp, -48]!
            ; stp x21, x22, [sp, 16]
            ; stp x25, x30, [sp, 32]
            ; sub bpf_fp, bpf_fp, frame
            ; bl =>label
            ; ldp x25, x30, [sp, 32]
            ; ldp x21, x22, [sp, 16]
            ; ldp x19, x20, [sp], 48
            ; ldr tmp_a, [state, depth]
            ; sub tmp_a, tmp_a, 1
            ; str tmp_a, [state, depth]
        );
    }
}
