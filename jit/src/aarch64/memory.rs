//! Memory instructions: loads (zero- and sign-extending), stores of registers and immediates,
//! with the addressing form chosen by the offset (scaled unsigned imm12, unscaled imm9
//! `ldur`/`stur`, else a register offset), and atomics, as LSE instructions (`ldaddal`,
//! `ldsetal`, `ldclral`, `ldeoral`, `swpal`, `casal`) or as `ldaxr`/`stlxr` retry loops;
//! load-acquire and store-release as `ldar`/`stlr` (byte, halfword, word, doubleword).
//! Accesses are unchecked (the JIT runs verified programs) unless the program is compiled
//! with checked memory: then each access is first tested inline against the context window,
//! and out of line against the stack window, the last region found, and finally the run's
//! memory map through the check trampoline (as on x86-64). Faulting loads
//! (`Instruction::ProbeLoad`) always test their address against the blank region inline and
//! give 0 outside it.

use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi};
use sockops_vm::{AtomicOp, Operand, Reg, Size};

use super::regs::{CALL_TARGET, TMP_A, TMP_B, TMP_C, TMP_D, TMP_E, ZR, asm, host_reg};
use super::{Compiler, Cond, Src, StubKind};
use crate::error::JitError;
use crate::runtime::{Status, offsets};

/// The out-of-line part of one access check of checked-memory code (the address is in
/// `tmp_c`).
pub(super) struct CheckStub {
    /// Where the inline check branches when the context window does not admit the access.
    slow: DynamicLabel,
    /// The access itself, right after the inline check.
    resume: DynamicLabel,
    pc: usize,
    len: u32,
    write: bool,
}

/// The run-state offsets of `window`'s start and of its span for an access that writes or
/// not.
fn window_fields(window: i32, write: bool) -> (u32, u32) {
    let span = if write {
        offsets::WINDOW_WRITE_SPAN
    } else {
        offsets::WINDOW_READ_SPAN
    };
    (
        (window + offsets::WINDOW_START) as u32,
        (window + span) as u32,
    )
}

/// How an access of `[base + off]` is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Address {
    /// `[base, #off]` with an unsigned offset that is a multiple of the access size, below
    /// 4096 times it.
    Scaled(u32, u32),
    /// `[base, #off]` with `-256 <= off < 256` (`ldur`/`stur`).
    Unscaled(u32, i32),
    /// `[base, index]`: the offset in a scratch register.
    Indexed(u32, u32),
}

/// Emits an access through the form `$addr` chose: `$scaled` for the scaled and register
/// forms, `$unscaled` for the unscaled one.
macro_rules! access {
    ($c:expr, $addr:expr, $scaled:ident, $unscaled:ident, $rk:ident($r:expr)) => {
        match $addr {
            Address::Scaled(b, o) => asm!($c.ops; $scaled $rk($r), [X(b), o]),
            Address::Unscaled(b, o) => asm!($c.ops; $unscaled $rk($r), [X(b), o]),
            Address::Indexed(b, i) => asm!($c.ops; $scaled $rk($r), [X(b), X(i)]),
        }
    };
}

impl Compiler<'_> {
    /// With checked memory, the check of an access of `len` bytes at `[base + off]` (eBPF
    /// registers and offset), emitted before it: the address goes to `tmp_c`; it minus the
    /// context window's start plus `len` (`tmp_d`) must not carry and must be at most the
    /// window's span (`tmp_e`); anything else goes to the out-of-line part. Uses only
    /// `tmp_c`..`tmp_e` and the flags, so an operand the access lowers afterwards (`tmp_a`,
    /// `tmp_b`) is not disturbed.
    fn emit_access_check(&mut self, pc: usize, base: Reg, off: i16, len: usize, write: bool) {
        if !self.input.options.checked_memory
            || (base == Reg::R10 && self.facts.frame_access_is_safe(off, len))
        {
            return;
        }
        let (slow, resume) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        let b = host_reg(base);
        if off == 0 {
            asm!(self.ops; mov tmp_c, X(b));
        } else {
            self.emit_add_immediate(TMP_C, b, i64::from(off));
        }
        let (start, span) = window_fields(offsets::CONTEXT_WINDOW, write);
        let len = len as u32;
        asm!(self.ops
            ; ldr tmp_d, [state, start]
            ; sub tmp_d, tmp_c, tmp_d
            ; adds tmp_d, tmp_d, len
        );
        self.emit_branch(Cond::Hs, slow);
        asm!(self.ops
            ; ldr tmp_e, [state, span]
            ; cmp tmp_d, tmp_e
        );
        self.emit_branch(Cond::Hi, slow);
        asm!(self.ops; =>resume);
        self.checks.push(CheckStub {
            slow,
            resume,
            pc,
            len,
            write,
        });
    }

    /// The out-of-line parts of every access check: the stack window, then the last region
    /// found, then the check trampoline (address in x0) with r0-r5 (x7, x0-x4, the
    /// caller-saved eBPF registers) and x30 kept in a 64-byte record around the call; a
    /// fault leaves with `Status::Failed` at the access's pc.
    pub(super) fn emit_check_stubs(&mut self) {
        for check in std::mem::take(&mut self.checks) {
            let CheckStub {
                slow,
                resume,
                pc,
                len,
                write,
            } = check;
            let failed = self.stub(pc, StubKind::Fixed(Status::Failed, 0));
            asm!(self.ops; =>slow);
            for window in [offsets::STACK_WINDOW, offsets::LAST_REGION_WINDOW] {
                let (start, span) = window_fields(window, write);
                asm!(self.ops
                    ; ldr tmp_d, [state, start]
                    ; sub tmp_d, tmp_c, tmp_d
                    ; adds tmp_d, tmp_d, len
                    ; b.hs >next
                    ; ldr tmp_e, [state, span]
                    ; cmp tmp_d, tmp_e
                );
                self.emit_branch(Cond::Ls, resume);
                asm!(self.ops; next:);
            }
            let trampoline = if self.lean {
                self.target.check_lean_trampoline
            } else {
                self.target.check_trampoline
            };
            self.emit_constant(CALL_TARGET, trampoline);
            asm!(self.ops
                ; stp x0, x1, [sp, -64]!
                ; stp x2, x3, [sp, 16]
                ; stp x4, bpf_r0, [sp, 32]
                ; str x30, [sp, 48]
                ; mov x0, tmp_c
                ; movz x1, len
                ; movz x2, write as u32
                ; mov x3, state
                ; blr ip0
                ; mov tmp_c, x0
                ; ldr x30, [sp, 48]
                ; ldp x4, bpf_r0, [sp, 32]
                ; ldp x2, x3, [sp, 16]
                ; ldp x0, x1, [sp], 64
            );
            self.emit_branch_if_nonzero(TMP_C, failed);
            asm!(self.ops; b =>resume);
        }
    }

    /// The addressing form of an access of `bytes` bytes at `[base + off]`; a register offset
    /// is materialised in `tmp_b`.
    pub(super) fn address(&mut self, base: u32, off: i32, bytes: u32) -> Address {
        if off >= 0 && (off as u32).is_multiple_of(bytes) && (off as u32) / bytes < 4096 {
            return Address::Scaled(base, off as u32);
        }
        if (-256..256).contains(&off) {
            return Address::Unscaled(base, off);
        }
        self.emit_constant(TMP_B, off as i64 as u64);
        Address::Indexed(base, TMP_B)
    }

    pub(super) fn emit_load(
        &mut self,
        pc: usize,
        size: Size,
        sign_extend: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), JitError> {
        let (d, s) = (host_reg(dst), host_reg(src));
        if size == Size::DW && sign_extend {
            return Err(JitError::Unsupported {
                pc,
                what: "sign-extending 64-bit load",
            });
        }
        self.emit_access_check(pc, src, off, size.bytes(), false);
        let addr = self.address(s, i32::from(off), size.bytes() as u32);
        match (size, sign_extend) {
            (Size::B, false) => access!(self, addr, ldrb, ldurb, W(d)),
            (Size::H, false) => access!(self, addr, ldrh, ldurh, W(d)),
            (Size::W, false) => access!(self, addr, ldr, ldur, W(d)),
            (Size::DW, _) => access!(self, addr, ldr, ldur, X(d)),
            (Size::B, true) => access!(self, addr, ldrsb, ldursb, X(d)),
            (Size::H, true) => access!(self, addr, ldrsh, ldursh, X(d)),
            (Size::W, true) => access!(self, addr, ldrsw, ldursw, X(d)),
        }
        Ok(())
    }

    /// A faulting load (`Instruction::ProbeLoad`): the address (in `tmp_c`) minus the blank
    /// region's start plus `len`, in `tmp_d`, must not carry and must be at most the
    /// region's length (both constants of the process), or `dst` is 0 and nothing is read.
    /// Checked and unchecked code alike: the test is what makes the load safe.
    pub(super) fn emit_probe_load(
        &mut self,
        size: Size,
        sign_extend: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        let blanks = sockops_vm::vmlinux::blank::region();
        let (d, s) = (host_reg(dst), host_reg(src));
        let (zero, done) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        if off == 0 {
            asm!(self.ops; mov tmp_c, X(s));
        } else {
            self.emit_add_immediate(TMP_C, s, i64::from(off));
        }
        self.emit_constant(TMP_D, blanks.start);
        asm!(self.ops
            ; sub tmp_d, tmp_c, tmp_d
            ; adds tmp_d, tmp_d, size.bytes() as u32
        );
        self.emit_branch(Cond::Hs, zero);
        self.emit_constant(TMP_E, blanks.len);
        asm!(self.ops; cmp tmp_d, tmp_e);
        self.emit_branch(Cond::Hi, zero);
        match (size, sign_extend) {
            (Size::B, false) => asm!(self.ops; ldrb W(d), [tmp_c]),
            (Size::H, false) => asm!(self.ops; ldrh W(d), [tmp_c]),
            (Size::W, false) => asm!(self.ops; ldr W(d), [tmp_c]),
            (Size::DW, _) => asm!(self.ops; ldr X(d), [tmp_c]),
            (Size::B, true) => asm!(self.ops; ldrsb X(d), [tmp_c]),
            (Size::H, true) => asm!(self.ops; ldrsh X(d), [tmp_c]),
            (Size::W, true) => asm!(self.ops; ldrsw X(d), [tmp_c]),
        }
        asm!(self.ops
            ; b =>done
            ; =>zero
            ; mov X(d), xzr
            ; =>done
        );
    }

    pub(super) fn emit_store(&mut self, pc: usize, size: Size, dst: Reg, off: i16, src: Operand) {
        self.emit_access_check(pc, dst, off, size.bytes(), true);
        let value = match self.lower(src) {
            Src::Reg(s) => s,
            Src::Imm(0) => ZR,
            Src::Imm(i) => {
                self.emit_constant(TMP_A, i as i64 as u64);
                TMP_A
            }
        };
        self.emit_store_register(size, host_reg(dst), i32::from(off), value);
    }

    /// Stores the low `size` bytes of host register `value` (31: the zero register) at
    /// `[base + off]`.
    pub(super) fn emit_store_register(&mut self, size: Size, base: u32, off: i32, value: u32) {
        let addr = self.address(base, off, size.bytes() as u32);
        match size {
            Size::B => access!(self, addr, strb, sturb, W(value)),
            Size::H => access!(self, addr, strh, sturh, W(value)),
            Size::W => access!(self, addr, str, stur, W(value)),
            Size::DW => access!(self, addr, str, stur, X(value)),
        }
    }

    /// Atomics on `[dst + off]`. 32-bit forms zero-extend what they write to a register.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_atomic(
        &mut self,
        pc: usize,
        op: AtomicOp,
        fetch: bool,
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), JitError> {
        let (d, s) = (host_reg(dst), host_reg(src));
        let wide = match size {
            Size::DW => true,
            Size::W => false,
            _ => {
                return Err(JitError::Unsupported {
                    pc,
                    what: "atomic of 1 or 2 bytes",
                });
            }
        };
        self.emit_access_check(pc, dst, off, size.bytes(), true);
        // The address in tmp_b (the exclusive and LSE forms take a bare base register).
        self.address_in_tmp_b(d, off);
        if self.target.lse {
            self.emit_lse_atomic(op, fetch, wide, s);
        } else {
            self.emit_exclusive_atomic(op, fetch, wide, s);
        }
        Ok(())
    }

    /// The address `base + off` in tmp_b (acquire/release and exclusive forms take a bare
    /// base register).
    fn address_in_tmp_b(&mut self, base: u32, off: i16) {
        let off = i64::from(off);
        if off == 0 {
            asm!(self.ops; mov tmp_b, X(base));
        } else {
            self.emit_add_immediate(TMP_B, base, off);
        }
    }

    /// Load-acquire `dst = *(size *)(src + off)`, zero-extended: `ldarb`/`ldarh`/`ldar`.
    pub(super) fn emit_load_acquire(
        &mut self,
        pc: usize,
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        self.emit_access_check(pc, src, off, size.bytes(), false);
        let d = host_reg(dst);
        self.address_in_tmp_b(host_reg(src), off);
        match size {
            Size::B => asm!(self.ops; ldarb W(d), [tmp_b]),
            Size::H => asm!(self.ops; ldarh W(d), [tmp_b]),
            Size::W => asm!(self.ops; ldar W(d), [tmp_b]),
            Size::DW => asm!(self.ops; ldar X(d), [tmp_b]),
        }
    }

    /// Store-release `*(size *)(dst + off) = src`: `stlrb`/`stlrh`/`stlr`.
    pub(super) fn emit_store_release(
        &mut self,
        pc: usize,
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        self.emit_access_check(pc, dst, off, size.bytes(), true);
        let s = host_reg(src);
        self.address_in_tmp_b(host_reg(dst), off);
        match size {
            Size::B => asm!(self.ops; stlrb W(s), [tmp_b]),
            Size::H => asm!(self.ops; stlrh W(s), [tmp_b]),
            Size::W => asm!(self.ops; stlr W(s), [tmp_b]),
            Size::DW => asm!(self.ops; stlr X(s), [tmp_b]),
        }
    }

    /// An LSE atomic on `[tmp_b]` with operand `s`. Without fetch the old value goes to the
    /// zero register; `and` is `ldclr` of the complement.
    fn emit_lse_atomic(&mut self, op: AtomicOp, fetch: bool, wide: bool, s: u32) {
        let old = if fetch || op == AtomicOp::Xchg { s } else { ZR };
        match (op, wide) {
            (AtomicOp::Add, true) => asm!(self.ops; ldaddal X(s), X(old), [tmp_b]),
            (AtomicOp::Add, false) => asm!(self.ops; ldaddal W(s), W(old), [tmp_b]),
            (AtomicOp::Or, true) => asm!(self.ops; ldsetal X(s), X(old), [tmp_b]),
            (AtomicOp::Or, false) => asm!(self.ops; ldsetal W(s), W(old), [tmp_b]),
            (AtomicOp::Xor, true) => asm!(self.ops; ldeoral X(s), X(old), [tmp_b]),
            (AtomicOp::Xor, false) => asm!(self.ops; ldeoral W(s), W(old), [tmp_b]),
            (AtomicOp::And, true) => asm!(self.ops
                ; mvn tmp_c, X(s)
                ; ldclral tmp_c, X(old), [tmp_b]
            ),
            (AtomicOp::And, false) => asm!(self.ops
                ; mvn tmp_c_w, W(s)
                ; ldclral tmp_c_w, W(old), [tmp_b]
            ),
            (AtomicOp::Xchg, true) => asm!(self.ops; swpal X(s), X(old), [tmp_b]),
            (AtomicOp::Xchg, false) => asm!(self.ops; swpal W(s), W(old), [tmp_b]),
            // r0 is the comparand and receives the old value; the new value is `s`.
            (AtomicOp::CmpXchg, true) => asm!(self.ops; casal bpf_r0, X(s), [tmp_b]),
            (AtomicOp::CmpXchg, false) => asm!(self.ops; casal bpf_r0_w, W(s), [tmp_b]),
        }
    }

    /// An atomic on `[tmp_b]` as an `ldaxr`/`stlxr` loop: the old value in `tmp_c`, the new
    /// one in `tmp_d`, the store status in `tmp_e`.
    fn emit_exclusive_atomic(&mut self, op: AtomicOp, fetch: bool, wide: bool, s: u32) {
        if op == AtomicOp::CmpXchg {
            self.emit_exclusive_cmpxchg(wide, s);
            return;
        }
        match wide {
            true => asm!(self.ops; retry: ; ldaxr tmp_c, [tmp_b]),
            false => asm!(self.ops; retry: ; ldaxr tmp_c_w, [tmp_b]),
        }
        let new = if op == AtomicOp::Xchg { s } else { TMP_D };
        match (op, wide) {
            (AtomicOp::Add, true) => asm!(self.ops; add tmp_d, tmp_c, X(s)),
            (AtomicOp::Add, false) => asm!(self.ops; add tmp_d_w, tmp_c_w, W(s)),
            (AtomicOp::Or, true) => asm!(self.ops; orr tmp_d, tmp_c, X(s)),
            (AtomicOp::Or, false) => asm!(self.ops; orr tmp_d_w, tmp_c_w, W(s)),
            (AtomicOp::And, true) => asm!(self.ops; and tmp_d, tmp_c, X(s)),
            (AtomicOp::And, false) => asm!(self.ops; and tmp_d_w, tmp_c_w, W(s)),
            (AtomicOp::Xor, true) => asm!(self.ops; eor tmp_d, tmp_c, X(s)),
            (AtomicOp::Xor, false) => asm!(self.ops; eor tmp_d_w, tmp_c_w, W(s)),
            (AtomicOp::Xchg | AtomicOp::CmpXchg, _) => {}
        }
        match wide {
            true => asm!(self.ops; stlxr tmp_e_w, X(new), [tmp_b]),
            false => asm!(self.ops; stlxr tmp_e_w, W(new), [tmp_b]),
        }
        asm!(self.ops; cbnz tmp_e_w, <retry);
        if fetch || op == AtomicOp::Xchg {
            // tmp_c holds the old value (a 32-bit load zero-extended it).
            asm!(self.ops; mov X(s), tmp_c);
        }
    }

    /// `cmpxchg` as an exclusive loop: store `s` if the old value equals r0; r0 gets the old
    /// value either way (zero-extended in 32-bit form).
    fn emit_exclusive_cmpxchg(&mut self, wide: bool, s: u32) {
        if wide {
            asm!(self.ops
                ; retry:
                ; ldaxr tmp_c, [tmp_b]
                ; cmp tmp_c, bpf_r0
                ; b.ne >differs
                ; stlxr tmp_e_w, X(s), [tmp_b]
                ; cbnz tmp_e_w, <retry
                ; b >done
            );
        } else {
            asm!(self.ops
                ; retry:
                ; ldaxr tmp_c_w, [tmp_b]
                ; cmp tmp_c_w, bpf_r0_w
                ; b.ne >differs
                ; stlxr tmp_e_w, W(s), [tmp_b]
                ; cbnz tmp_e_w, <retry
                ; b >done
            );
        }
        asm!(self.ops
            ; differs:
            ; clrex
            ; done:
            ; mov bpf_r0, tmp_c
        );
    }
}
