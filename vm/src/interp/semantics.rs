//! The value semantics of eBPF ALU, byte-order and jump instructions as pure functions,
//! exactly as RFC 9669 and the Linux kernel (`___bpf_prog_run` in kernel/bpf/core.c, plus the
//! division fix-ups of `do_misc_fixups` in kernel/bpf/verifier.c) define them:
//!
//! - division by zero gives 0; modulo by zero leaves the dividend (32-bit forms zero-extend it);
//! - signed division and modulo truncate towards zero as in C; `INT_MIN / -1` is `INT_MIN` and
//!   `INT_MIN % -1` is 0 (the kernel rewrites these to `neg` and `0`);
//! - shift counts are masked to 63 (64-bit) or 31 (32-bit);
//! - every 32-bit ALU result is zero-extended to 64 bits;
//! - immediates are sign-extended to 64 bits; 32-bit operations use their low 32 bits.
//!
//! Memory, calls and control flow live in the interpreter proper (`interp/mod.rs`); the JIT
//! differential tests and constant folding may use these functions as the reference.

use crate::instruction::{AluOp, AtomicOp, ByteOrder, JmpCond, Width};

/// The 64-bit value of an immediate operand: sign-extended, as every eBPF form uses it.
pub const fn imm64(imm: i32) -> u64 {
    imm as i64 as u64
}

/// `dst op src` for a 64-bit (ALU64) binary operation. `src` is the register value or the
/// sign-extended immediate.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::SDiv => {
            if src == 0 {
                0
            } else {
                (dst as i64).wrapping_div(src as i64) as u64
            }
        }
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        AluOp::Lsh => dst << (src & 63),
        AluOp::Rsh => dst >> (src & 63),
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::SMod => {
            if src == 0 {
                dst
            } else {
                (dst as i64).wrapping_rem(src as i64) as u64
            }
        }
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        AluOp::MovSx8 => src as i8 as i64 as u64,
        AluOp::MovSx16 => src as i16 as i64 as u64,
        AluOp::MovSx32 => src as i32 as i64 as u64,
        AluOp::Arsh => ((dst as i64) >> (src & 63)) as u64,
    }
}

/// `dst op src` for a 32-bit (ALU) binary operation on the low 32 bits of both operands; the
/// result is zero-extended to 64 bits.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u64, src: u64) -> u64 {
    let d = dst as u32;
    let s = src as u32;
    let r: u32 = match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::SDiv => {
            if s == 0 {
                0
            } else {
                (d as i32).wrapping_div(s as i32) as u32
            }
        }
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Lsh => d << (s & 31),
        AluOp::Rsh => d >> (s & 31),
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::SMod => {
            if s == 0 {
                d
            } else {
                (d as i32).wrapping_rem(s as i32) as u32
            }
        }
        AluOp::Xor => d ^ s,
        AluOp::Mov => s,
        AluOp::MovSx8 => s as u8 as i8 as i32 as u32,
        AluOp::MovSx16 => s as u16 as i16 as i32 as u32,
        // Not encodable for ALU (the decoder rejects it); the natural meaning is a plain move.
        AluOp::MovSx32 => s,
        AluOp::Arsh => ((d as i32) >> (s & 31)) as u32,
    };
    r as u64
}

/// A binary ALU operation of either width.
pub fn alu(op: AluOp, width: Width, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => alu32(op, dst, src),
    }
}

/// `-dst` of either width (32-bit results zero-extended).
#[inline(always)]
pub fn neg(width: Width, dst: u64) -> u64 {
    match width {
        Width::W64 => dst.wrapping_neg(),
        Width::W32 => (dst as u32).wrapping_neg() as u64,
    }
}

/// A byte-order conversion of the low `bits` (16, 32 or 64) bits of `value`, zero-extended.
/// `to_le` / `to_be` follow the host byte order as the kernel does (`cpu_to_le16`, ...): on a
/// little-endian host `le` only truncates, `be` swaps. `Swap` always swaps.
#[inline(always)]
pub fn endian(order: ByteOrder, bits: u8, value: u64) -> u64 {
    match (order, bits) {
        (ByteOrder::ToLe, 16) => (value as u16).to_le() as u64,
        (ByteOrder::ToLe, 32) => (value as u32).to_le() as u64,
        (ByteOrder::ToLe, _) => value.to_le(),
        (ByteOrder::ToBe, 16) => (value as u16).to_be() as u64,
        (ByteOrder::ToBe, 32) => (value as u32).to_be() as u64,
        (ByteOrder::ToBe, _) => value.to_be(),
        (ByteOrder::Swap, 16) => (value as u16).swap_bytes() as u64,
        (ByteOrder::Swap, 32) => (value as u32).swap_bytes() as u64,
        (ByteOrder::Swap, _) => value.swap_bytes(),
    }
}

/// Whether a conditional jump is taken. `src` is the register value or the sign-extended
/// immediate; 32-bit jumps compare the low 32 bits of both.
#[inline(always)]
pub fn jump_taken(cond: JmpCond, width: Width, dst: u64, src: u64) -> bool {
    match width {
        Width::W64 => compare(cond, dst, src, dst as i64, src as i64),
        Width::W32 => compare(
            cond,
            dst as u32 as u64,
            src as u32 as u64,
            dst as u32 as i32 as i64,
            src as u32 as i32 as i64,
        ),
    }
}

#[inline(always)]
fn compare(cond: JmpCond, a: u64, b: u64, sa: i64, sb: i64) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Set => a & b != 0,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Sgt => sa > sb,
        JmpCond::Sge => sa >= sb,
        JmpCond::Slt => sa < sb,
        JmpCond::Sle => sa <= sb,
    }
}

/// The value an atomic read-modify-write stores, given the old memory value and the operand
/// (for `CmpXchg`, `expected` is r0 and the store happens only if `old == expected`; this
/// function then returns `None` when nothing is stored). Values are already truncated to the
/// access width by the caller.
pub fn atomic_new_value(op: AtomicOp, old: u64, operand: u64, expected: u64) -> Option<u64> {
    match op {
        AtomicOp::Add => Some(old.wrapping_add(operand)),
        AtomicOp::Or => Some(old | operand),
        AtomicOp::And => Some(old & operand),
        AtomicOp::Xor => Some(old ^ operand),
        AtomicOp::Xchg => Some(operand),
        AtomicOp::CmpXchg => (old == expected).then_some(operand),
    }
}
