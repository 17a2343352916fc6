//! Memory instructions: loads (zero- and sign-extending), stores of registers and immediates,
//! and atomics (`lock`-prefixed add/or/and/xor, `xadd` for fetch-add, `cmpxchg` loops for
//! fetch-or/and/xor, `xchg`, `cmpxchg`). Accesses are unchecked: the JIT runs verified programs.

use dynasmrt::{DynasmApi, DynasmLabelApi};
use sockops_vm::{AtomicOp, Operand, Reg, Size};

use super::regs::{asm, host_reg};
use super::{Compiler, Src};
use crate::error::JitError;

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
    pub(super) fn emit_load(
        &mut self,
        pc: usize,
        size: Size,
        sign_extend: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), JitError> {
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

    pub(super) fn emit_store(&mut self, size: Size, dst: Reg, off: i16, src: Operand) {
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
