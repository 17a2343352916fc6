//! Tiny instruction builders for the corpus generator: one function per encoding, producing
//! raw `Insn` slots (LD_IMM64 gives two). Kept local so the generator does not depend on the
//! text assembler; encodings follow RFC 9669 and the Linux cpu v4 extensions.

use sockops_vm::Insn;
use sockops_vm::opcode::*;

/// Register numbers by name, for readability at call sites.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R5: u8 = 5;
pub const R6: u8 = 6;
pub const R7: u8 = 7;
pub const R8: u8 = 8;
pub const R9: u8 = 9;
pub const R10: u8 = 10;

/// Size code from a byte count (1, 2, 4, 8).
pub fn size_code(bytes: u8) -> u8 {
    match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}

/// `dst = imm` (64-bit).
pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
}
/// `dst = src` (64-bit).
pub fn mov64_reg(dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
}
/// `w_dst = imm` (32-bit).
pub fn mov32_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)
}
/// `w_dst = w_src` (32-bit).
pub fn mov32_reg(dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
}
/// 64-bit ALU with an immediate.
pub fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
}
/// 64-bit ALU with a register.
pub fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
}
/// 32-bit ALU with an immediate.
pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
}
/// 32-bit ALU with a register.
pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU | op | BPF_X, dst, src, 0, 0)
}
/// `dst = *(size *)(src + off)`.
pub fn ldx(bytes: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_LDX | BPF_MEM | size_code(bytes), dst, src, off, 0)
}
/// `dst = *(signed size *)(src + off)` (cpu v4).
pub fn ldxs(bytes: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_LDX | BPF_MEMSX | size_code(bytes), dst, src, off, 0)
}
/// `*(size *)(dst + off) = src`.
pub fn stx(bytes: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_STX | BPF_MEM | size_code(bytes), dst, src, off, 0)
}
/// `*(size *)(dst + off) = imm`.
pub fn st(bytes: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(BPF_ST | BPF_MEM | size_code(bytes), dst, 0, off, imm)
}
/// Atomic operation `imm` on `*(size *)(dst + off)` with `src`.
pub fn atomic(bytes: u8, dst: u8, src: u8, off: i16, op: i32) -> Insn {
    Insn::new(BPF_STX | BPF_ATOMIC | size_code(bytes), dst, src, off, op)
}
/// Conditional jump against an immediate (64-bit).
pub fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(BPF_JMP | op | BPF_K, dst, 0, off, imm)
}
/// Conditional jump against a register (64-bit).
pub fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_JMP | op | BPF_X, dst, src, off, 0)
}
/// Conditional jump against an immediate (32-bit).
pub fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
}
/// `goto +off`.
pub fn ja(off: i16) -> Insn {
    Insn::new(BPF_JMP | BPF_JA, 0, 0, off, 0)
}
/// `gotol +imm` (cpu v4).
pub fn gotol(imm: i32) -> Insn {
    Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, imm)
}
/// `call helper#id`.
pub fn call(id: i32) -> Insn {
    Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, id)
}
/// `call pc+1+off` (BPF-to-BPF).
pub fn call_local(off: i32) -> Insn {
    Insn::new(BPF_JMP | BPF_CALL, 0, 1, 0, off)
}
/// `exit`.
pub fn exit() -> Insn {
    Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
}
/// `dst = imm64` (two slots).
pub fn ld_imm64(dst: u8, imm: u64) -> [Insn; 2] {
    [
        Insn::new(LD_IMM64, dst, 0, 0, imm as u32 as i32),
        Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
    ]
}
/// `dst = map[idx]` (LD_IMM64 src 1, imm = map index).
pub fn ld_map(dst: u8, idx: i32) -> [Insn; 2] {
    [
        Insn::new(LD_IMM64, dst, BPF_PSEUDO_MAP_FD, 0, idx),
        Insn::new(0, 0, 0, 0, 0),
    ]
}
/// `dst = &map[idx].value[off]` (LD_IMM64 src 2).
pub fn ld_map_value(dst: u8, idx: i32, off: i32) -> [Insn; 2] {
    [
        Insn::new(LD_IMM64, dst, BPF_PSEUDO_MAP_VALUE, 0, idx),
        Insn::new(0, 0, 0, 0, off),
    ]
}

/// A program under construction.
#[derive(Default, Clone)]
pub struct P(pub Vec<Insn>);

impl P {
    /// Empty program.
    pub fn new() -> P {
        P(Vec::new())
    }
    /// Appends one slot.
    pub fn i(&mut self, insn: Insn) -> &mut P {
        self.0.push(insn);
        self
    }
    /// Appends two slots.
    pub fn w(&mut self, pair: [Insn; 2]) -> &mut P {
        self.0.extend_from_slice(&pair);
        self
    }
    /// Appends `r0 = v; exit`.
    pub fn ret(&mut self, v: i32) -> &mut P {
        self.i(mov64_imm(R0, v)).i(exit())
    }
    /// Finished slots.
    pub fn done(&self) -> Vec<Insn> {
        self.0.clone()
    }
}
