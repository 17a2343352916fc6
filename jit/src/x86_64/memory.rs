//! Memory instructions: loads (zero- and sign-extending), stores of registers and immediates,
//! and atomics (`lock`-prefixed add/or/and/xor, `xadd` for fetch-add, `cmpxchg` loops for
//! fetch-or/and/xor, `xchg`, `cmpxchg`). Accesses are unchecked (the JIT runs verified
//! programs) unless the program is compiled with checked memory: then each access is first
//! tested inline against the context window, and out of line against the stack window, the
//! last region found, and finally the run's memory map through the check trampoline.
//! Faulting loads (`Instruction::ProbeLoad`) always test their address against the blank
//! region inline and give 0 outside it.

use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi};
use sockops_vm::{AtomicOp, Operand, Reg, Size};

use super::abi::{check_lean_trampoline, check_trampoline};
use super::regs::{asm, host_reg};
use super::{Compiler, Src, StubKind};
use crate::error::JitError;
use crate::runtime::{Status, offsets};

/// The out-of-line part of one access check of checked-memory code.
pub(super) struct CheckStub {
    /// Where the inline check jumps when the context window does not admit the access.
    slow: DynamicLabel,
    /// The access itself, right after the inline check.
    resume: DynamicLabel,
    pc: usize,
    /// Host base register and displacement of the access.
    base: u8,
    off: i32,
    len: u32,
    write: bool,
}

/// The window field offset (in the run state) of `window` for an access that writes or not.
fn span_field(window: i32, write: bool) -> i32 {
    window
        + if write {
            offsets::WINDOW_WRITE_SPAN
        } else {
            offsets::WINDOW_READ_SPAN
        }
}

/// A load `mn reg, size [base + off]`, with a one-byte displacement when `off` fits (dynasm
/// cannot pick the encoding of a run-time displacement itself).
macro_rules! load {
    ($c:expr; $mn:ident $rk:ident($d:expr), $sz:ident [$s:expr, $off:expr]) => {
        match i8::try_from($off) {
            Ok(o) => asm!($c.ops; $mn $rk($d), $sz [BYTE Rq($s) + o]),
            Err(_) => asm!($c.ops; $mn $rk($d), $sz [Rq($s) + $off]),
        }
    };
}

/// A store `mov size [base + off], src`, with a one-byte displacement when `off` fits.
macro_rules! store {
    ($c:expr; $sz:ident [$d:expr, $off:expr], $($src:tt)+) => {
        match i8::try_from($off) {
            Ok(o) => asm!($c.ops; mov $sz [BYTE Rq($d) + o], $($src)+),
            Err(_) => asm!($c.ops; mov $sz [Rq($d) + $off], $($src)+),
        }
    };
}

impl Compiler<'_> {
    /// With checked memory, the check of an access of `len` bytes at `[base + off]` (eBPF
    /// registers and offset), emitted before it: the address minus the context window's
    /// start plus `len`, in `tmp_b`, must not carry and must be at most the window's span;
    /// anything else goes to the out-of-line part. Uses only `tmp_b` and the flags, so an
    /// operand the access lowers afterwards is not disturbed.
    pub(super) fn emit_access_check(
        &mut self,
        pc: usize,
        base: Reg,
        off: i16,
        len: usize,
        write: bool,
    ) {
        if !self.input.options.checked_memory
            || (base == Reg::R10 && self.facts.frame_access_is_safe(off, len))
        {
            return;
        }
        let (slow, resume) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        let (b, off) = (host_reg(base), i32::from(off));
        let start = offsets::CONTEXT_WINDOW + offsets::WINDOW_START;
        let span = span_field(offsets::CONTEXT_WINDOW, write);
        asm!(self.ops
            ; lea tmp_b, [Rq(b) + off]
            ; sub tmp_b, [state + start]
            ; add tmp_b, len as i32
            ; jc =>slow
            ; cmp tmp_b, [state + span]
            ; ja =>slow
            ; =>resume
        );
        self.checks.push(CheckStub {
            slow,
            resume,
            pc,
            base: b,
            off,
            len: len as u32,
            write,
        });
    }

    /// The out-of-line parts of every access check: the stack window, then the last region
    /// found, then the check trampoline with r0-r5 (the caller-saved eBPF registers) kept
    /// around the call (six pushes keep rsp 16-byte aligned); a fault leaves with
    /// `Status::Failed` at the access's pc.
    pub(super) fn emit_check_stubs(&mut self) {
        let trampoline = if self.lean {
            check_lean_trampoline as *const () as usize as i64
        } else {
            check_trampoline as *const () as usize as i64
        };
        for check in std::mem::take(&mut self.checks) {
            let CheckStub {
                slow,
                resume,
                pc,
                base: b,
                off,
                len,
                write,
            } = check;
            let failed = self.stub(pc, StubKind::Fixed(Status::Failed, 0));
            asm!(self.ops; =>slow);
            for window in [offsets::STACK_WINDOW, offsets::LAST_REGION_WINDOW] {
                let start = window + offsets::WINDOW_START;
                let span = span_field(window, write);
                asm!(self.ops
                    ; lea tmp_b, [Rq(b) + off]
                    ; sub tmp_b, [state + start]
                    ; add tmp_b, len as i32
                    ; jc >next
                    ; cmp tmp_b, [state + span]
                    ; jbe =>resume
                    ; next:
                );
            }
            asm!(self.ops
                ; push rax
                ; push rdi
                ; push rsi
                ; push rdx
                ; push rcx
                ; push r8
                ; lea rdi, [Rq(b) + off]
                ; mov esi, len as i32
                ; mov edx, write as i32
                ; mov rcx, state
                ; mov rax, QWORD trampoline
                ; call rax
                ; mov tmp_b, rax
                ; pop r8
                ; pop rcx
                ; pop rdx
                ; pop rsi
                ; pop rdi
                ; pop rax
                ; test tmp_b, tmp_b
                ; jz =>resume
                ; jmp =>failed
            );
        }
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
        if !(size == Size::DW && sign_extend) {
            self.emit_access_check(pc, src, off, size.bytes(), false);
        }
        let (d, s, off) = (host_reg(dst), host_reg(src), off as i32);
        match (size, sign_extend) {
            (Size::B, false) => load!(self; movzx Rd(d), BYTE [s, off]),
            (Size::H, false) => load!(self; movzx Rd(d), WORD [s, off]),
            (Size::W, false) => load!(self; mov Rd(d), DWORD [s, off]),
            (Size::DW, false) => load!(self; mov Rq(d), QWORD [s, off]),
            (Size::B, true) => load!(self; movsx Rq(d), BYTE [s, off]),
            (Size::H, true) => load!(self; movsx Rq(d), WORD [s, off]),
            (Size::W, true) => load!(self; movsxd Rq(d), DWORD [s, off]),
            (Size::DW, true) => {
                return Err(JitError::Unsupported {
                    pc,
                    what: "sign-extending 64-bit load",
                });
            }
        }
        Ok(())
    }

    /// A faulting load (`Instruction::ProbeLoad`): the address minus the blank region's
    /// start plus `len`, in `tmp_b`, must not carry and must be at most the region's length
    /// (both constants of the process), or `dst` is 0 and nothing is read. Checked and
    /// unchecked code alike: the test is what makes the load safe.
    pub(super) fn emit_probe_load(
        &mut self,
        size: Size,
        sign_extend: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        let blanks = sockops_vm::vmlinux::blank::region();
        let (d, s, off) = (host_reg(dst), host_reg(src), i32::from(off));
        let (zero, done) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        asm!(self.ops
            ; lea tmp_b, [Rq(s) + off]
            ; mov tmp_a, QWORD blanks.start as i64
            ; sub tmp_b, tmp_a
            ; add tmp_b, size.bytes() as i32
            ; jc =>zero
            ; mov tmp_a, QWORD blanks.len as i64
            ; cmp tmp_b, tmp_a
            ; ja =>zero
        );
        match (size, sign_extend) {
            (Size::B, false) => asm!(self.ops; movzx Rd(d), BYTE [Rq(s) + off]),
            (Size::H, false) => asm!(self.ops; movzx Rd(d), WORD [Rq(s) + off]),
            (Size::W, false) => asm!(self.ops; mov Rd(d), DWORD [Rq(s) + off]),
            (Size::DW, _) => asm!(self.ops; mov Rq(d), QWORD [Rq(s) + off]),
            (Size::B, true) => asm!(self.ops; movsx Rq(d), BYTE [Rq(s) + off]),
            (Size::H, true) => asm!(self.ops; movsx Rq(d), WORD [Rq(s) + off]),
            (Size::W, true) => asm!(self.ops; movsxd Rq(d), DWORD [Rq(s) + off]),
        }
        asm!(self.ops
            ; jmp =>done
            ; =>zero
            ; xor Rd(d), Rd(d)
            ; =>done
        );
    }

    pub(super) fn emit_store(&mut self, pc: usize, size: Size, dst: Reg, off: i16, src: Operand) {
        self.emit_access_check(pc, dst, off, size.bytes(), true);
        let (d, off) = (host_reg(dst), off as i32);
        match (size, self.lower(src)) {
            (Size::B, Src::Reg(s)) => store!(self; BYTE [d, off], Rb(s)),
            (Size::H, Src::Reg(s)) => store!(self; WORD [d, off], Rw(s)),
            (Size::W, Src::Reg(s)) => store!(self; DWORD [d, off], Rd(s)),
            (Size::DW, Src::Reg(s)) => store!(self; QWORD [d, off], Rq(s)),
            (Size::B, Src::Imm(i)) => store!(self; BYTE [d, off], i as i8),
            (Size::H, Src::Imm(i)) => store!(self; WORD [d, off], i as i16),
            (Size::W, Src::Imm(i)) => store!(self; DWORD [d, off], i),
            (Size::DW, Src::Imm(i)) => store!(self; QWORD [d, off], i),
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
        let (d, s, off) = (host_reg(dst), host_reg(src), off as i32);
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
        self.emit_access_check(pc, dst, off as i16, size.bytes(), true);
        match (op, fetch, wide) {
            (AtomicOp::Add, false, true) => asm!(self.ops; lock add QWORD [Rq(d) + off], Rq(s)),
            (AtomicOp::Add, false, false) => asm!(self.ops; lock add DWORD [Rq(d) + off], Rd(s)),
            (AtomicOp::Or, false, true) => asm!(self.ops; lock or QWORD [Rq(d) + off], Rq(s)),
            (AtomicOp::Or, false, false) => asm!(self.ops; lock or DWORD [Rq(d) + off], Rd(s)),
            (AtomicOp::And, false, true) => asm!(self.ops; lock and QWORD [Rq(d) + off], Rq(s)),
            (AtomicOp::And, false, false) => asm!(self.ops; lock and DWORD [Rq(d) + off], Rd(s)),
            (AtomicOp::Xor, false, true) => asm!(self.ops; lock xor QWORD [Rq(d) + off], Rq(s)),
            (AtomicOp::Xor, false, false) => asm!(self.ops; lock xor DWORD [Rq(d) + off], Rd(s)),
            (AtomicOp::Add, true, true) => asm!(self.ops; lock xadd QWORD [Rq(d) + off], Rq(s)),
            (AtomicOp::Add, true, false) => asm!(self.ops; lock xadd DWORD [Rq(d) + off], Rd(s)),
            (AtomicOp::Xchg, _, true) => asm!(self.ops; xchg QWORD [Rq(d) + off], Rq(s)),
            (AtomicOp::Xchg, _, false) => asm!(self.ops; xchg DWORD [Rq(d) + off], Rd(s)),
            (AtomicOp::CmpXchg, _, true) => {
                asm!(self.ops; lock cmpxchg QWORD [Rq(d) + off], Rq(s))
            }
            (AtomicOp::CmpXchg, _, false) => asm!(self.ops
                ; lock cmpxchg DWORD [Rq(d) + off], Rd(s)
                // A successful 32-bit cmpxchg leaves rax's upper half as it was; r0 must be
                // the zero-extended old value either way.
                ; mov bpf_r0_d, bpf_r0_d
            ),
            (AtomicOp::Or | AtomicOp::And | AtomicOp::Xor, true, _) => {
                self.emit_fetch_loop(op, wide, d, s, off)
            }
        }
        Ok(())
    }

    /// Fetch-or/and/xor: a `lock cmpxchg` loop. rax (r0) is the comparand, so it is pushed;
    /// `tmp_b` holds the address, `tmp_c` the operand, `tmp_a` the new value.
    fn emit_fetch_loop(&mut self, op: AtomicOp, wide: bool, d: u8, s: u8, off: i32) {
        asm!(self.ops
            ; mov tmp_c, Rq(s)
            ; lea tmp_b, [Rq(d) + off]
            ; push bpf_r0
        );
        if wide {
            asm!(self.ops
                ; mov bpf_r0, QWORD [tmp_b]
                ; retry:
                ; mov tmp_a, bpf_r0
            );
            match op {
                AtomicOp::Or => asm!(self.ops; or tmp_a, tmp_c),
                AtomicOp::And => asm!(self.ops; and tmp_a, tmp_c),
                _ => asm!(self.ops; xor tmp_a, tmp_c),
            }
            asm!(self.ops
                ; lock cmpxchg QWORD [tmp_b], tmp_a
                ; jne <retry
                ; mov tmp_c, bpf_r0
            );
        } else {
            asm!(self.ops
                ; mov bpf_r0_d, DWORD [tmp_b]
                ; retry:
                ; mov tmp_a_d, bpf_r0_d
            );
            match op {
                AtomicOp::Or => asm!(self.ops; or tmp_a_d, tmp_c_d),
                AtomicOp::And => asm!(self.ops; and tmp_a_d, tmp_c_d),
                _ => asm!(self.ops; xor tmp_a_d, tmp_c_d),
            }
            asm!(self.ops
                ; lock cmpxchg DWORD [tmp_b], tmp_a_d
                ; jne <retry
                ; mov tmp_c_d, bpf_r0_d
            );
        }
        asm!(self.ops
            ; pop bpf_r0
            ; mov Rq(s), tmp_c
        );
    }
}
