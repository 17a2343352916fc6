//! A tiny instruction builder and run helpers shared by the interpreter tests
//! (`interp_*.rs`). Encodings follow RFC 9669 / the opcode constants in `sockops_vm::opcode`.

#![allow(dead_code)]

use sockops_vm::opcode::*;
use sockops_vm::{ExecError, HelperTable, Insn, Interpreter, Program, RunOptions, RunResult};

/// r0..r10 as raw numbers.
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

/// 64-bit ALU with an immediate (`op` is `BPF_ADD`, ...).
pub fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU64 | BPF_K | op, dst, 0, 0, imm)
}
/// 64-bit ALU with a register.
pub fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU64 | BPF_X | op, dst, src, 0, 0)
}
/// 32-bit ALU with an immediate.
pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU | BPF_K | op, dst, 0, 0, imm)
}
/// 32-bit ALU with a register.
pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU | BPF_X | op, dst, src, 0, 0)
}
/// Signed div/mod (`op` = BPF_DIV or BPF_MOD), 64-bit, register.
pub fn s64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU64 | BPF_X | op, dst, src, 1, 0)
}
/// Signed div/mod, 64-bit, immediate.
pub fn s64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU64 | BPF_K | op, dst, 0, 1, imm)
}
/// Signed div/mod, 32-bit, register.
pub fn s32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU | BPF_X | op, dst, src, 1, 0)
}
/// Signed div/mod, 32-bit, immediate.
pub fn s32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU | BPF_K | op, dst, 0, 1, imm)
}
/// `mov64 dst, imm`.
pub fn mov64(dst: u8, imm: i32) -> Insn {
    alu64_imm(BPF_MOV, dst, imm)
}
/// `mov64 dst, src`.
pub fn mov64_reg(dst: u8, src: u8) -> Insn {
    alu64_reg(BPF_MOV, dst, src)
}
/// `movsx{bits}64 dst, src` (bits = 8, 16, 32).
pub fn movsx64(dst: u8, src: u8, bits: i16) -> Insn {
    Insn::new(BPF_ALU64 | BPF_X | BPF_MOV, dst, src, bits, 0)
}
/// `movsx{bits}32 dst, src` (bits = 8, 16).
pub fn movsx32(dst: u8, src: u8, bits: i16) -> Insn {
    Insn::new(BPF_ALU | BPF_X | BPF_MOV, dst, src, bits, 0)
}
/// `neg64 dst` / `neg32 dst`.
pub fn neg(dst: u8, wide: bool) -> Insn {
    let class = if wide { BPF_ALU64 } else { BPF_ALU };
    Insn::new(class | BPF_NEG, dst, 0, 0, 0)
}
/// `le{bits} dst`.
pub fn le(dst: u8, bits: i32) -> Insn {
    Insn::new(BPF_ALU | BPF_TO_LE | BPF_END, dst, 0, 0, bits)
}
/// `be{bits} dst`.
pub fn be(dst: u8, bits: i32) -> Insn {
    Insn::new(BPF_ALU | BPF_TO_BE | BPF_END, dst, 0, 0, bits)
}
/// `bswap{bits} dst`.
pub fn bswap(dst: u8, bits: i32) -> Insn {
    Insn::new(BPF_ALU64 | BPF_END, dst, 0, 0, bits)
}
/// `lddw dst, value` with a pseudo source (0 for a constant): two slots.
pub fn lddw_pseudo(dst: u8, src: u8, value: u64) -> [Insn; 2] {
    [
        Insn::new(LD_IMM64, dst, src, 0, value as u32 as i32),
        Insn::new(0, 0, 0, 0, (value >> 32) as u32 as i32),
    ]
}
/// `lddw dst, value`: two slots.
pub fn lddw(dst: u8, value: u64) -> [Insn; 2] {
    lddw_pseudo(dst, 0, value)
}
/// Size code from a byte count.
pub fn size_code(bytes: usize) -> u8 {
    match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}
/// `ldx{size} dst, [src+off]`.
pub fn ldx(bytes: usize, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_LDX | BPF_MEM | size_code(bytes), dst, src, off, 0)
}
/// `ldxs{size} dst, [src+off]` (sign-extending).
pub fn ldxs(bytes: usize, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_LDX | BPF_MEMSX | size_code(bytes), dst, src, off, 0)
}
/// `st{size} [dst+off], imm`.
pub fn st(bytes: usize, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(BPF_ST | BPF_MEM | size_code(bytes), dst, 0, off, imm)
}
/// `stx{size} [dst+off], src`.
pub fn stx(bytes: usize, dst: u8, off: i16, src: u8) -> Insn {
    Insn::new(BPF_STX | BPF_MEM | size_code(bytes), dst, src, off, 0)
}
/// Atomic `lock` instruction with the raw atomic `imm` (BPF_ADD, BPF_ADD | BPF_FETCH, ...).
pub fn atomic(bytes: usize, imm: i32, dst: u8, off: i16, src: u8) -> Insn {
    Insn::new(BPF_STX | BPF_ATOMIC | size_code(bytes), dst, src, off, imm)
}
/// `ja off`.
pub fn ja(off: i16) -> Insn {
    Insn::new(BPF_JMP | BPF_JA, 0, 0, off, 0)
}
/// `gotol off` (JMP32 class ja, offset in imm).
pub fn gotol(off: i32) -> Insn {
    Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, off)
}
/// Conditional jump with an immediate; `wide` = JMP (64-bit) else JMP32.
pub fn jmp_imm(op: u8, wide: bool, dst: u8, imm: i32, off: i16) -> Insn {
    let class = if wide { BPF_JMP } else { BPF_JMP32 };
    Insn::new(class | BPF_K | op, dst, 0, off, imm)
}
/// Conditional jump with a register.
pub fn jmp_reg(op: u8, wide: bool, dst: u8, src: u8, off: i16) -> Insn {
    let class = if wide { BPF_JMP } else { BPF_JMP32 };
    Insn::new(class | BPF_X | op, dst, src, off, 0)
}
/// `call id` (helper).
pub fn call(id: i32) -> Insn {
    Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_HELPER, 0, id)
}
/// `call local off` (bpf-to-bpf, target = pc + 1 + off).
pub fn call_local(off: i32) -> Insn {
    Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, off)
}
/// `call kfunc btf_id`.
pub fn call_kfunc(btf_id: i32) -> Insn {
    Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, btf_id)
}
/// `callx reg`.
pub fn callx(reg: u8) -> Insn {
    Insn::new(BPF_JMP | BPF_X | BPF_CALL, reg, 0, 0, 0)
}
/// `exit`.
pub fn exit() -> Insn {
    Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
}

/// Flattens instruction groups (single slots and lddw pairs) into a program.
pub fn prog(parts: &[&[Insn]]) -> Vec<Insn> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// An interpreter for `insns` with `helpers`.
pub fn interp(insns: &[Insn], helpers: &HelperTable) -> Interpreter {
    Interpreter::new(&Program::from_insns("test", insns.to_vec()), helpers)
        .expect("test program decodes")
}

/// Runs `insns` on `mem` with no helpers and a budget of one million instructions.
pub fn run_mem(insns: &[Insn], mem: &mut [u8]) -> Result<RunResult, ExecError> {
    let options = RunOptions {
        instruction_budget: Some(1_000_000),
    };
    interp(insns, &HelperTable::new()).run(mem, &mut (), &options)
}

/// Runs `insns` with no memory and returns r0, panicking on an execution error.
pub fn r0(insns: &[Insn]) -> u64 {
    run_mem(insns, &mut []).expect("program runs").r0
}

/// Runs `insns` with no memory and returns the error, panicking if it succeeds.
pub fn err(insns: &[Insn]) -> ExecError {
    run_mem(insns, &mut []).expect_err("program fails")
}
