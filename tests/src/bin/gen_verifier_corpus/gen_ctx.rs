//! Context categories: loads at every offset and size (plain and sign-extending), stores
//! (register, immediate, atomics) including read-only fields, and ctx pointer arithmetic.

use crate::asm::*;
use crate::{Out, Rng};
use sockops_vm::opcode::*;

/// Generates `ctx_load`, `ctx_store` and `ctx_ptr`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "ctx_load";
    for off in -8i16..232 {
        for size in [1u8, 2, 4, 8] {
            // Keep every aligned access and a third of the misaligned ones.
            if off % size as i16 != 0 && !rng.chance(1, 3) {
                continue;
            }
            let dst = rng.pick(&[R0, R2, R3, R6]);
            let mut p = P::new();
            p.i(ldx(size, dst, R1, off));
            p.ret(1);
            out.push(p.done());
        }
    }
    for off in (-4i16..228).step_by(2) {
        for size in [1u8, 2, 4] {
            if !rng.chance(1, 2) {
                continue;
            }
            let mut p = P::new();
            p.i(ldxs(size, R2, R1, off)).ret(1);
            out.push(p.done());
        }
    }
    // Loaded value used as return value: bounds of the loaded scalar matter.
    for (off, size) in [(0, 4), (212, 1), (212, 2), (212, 4), (168, 8), (72, 4)] {
        let mut p = P::new();
        p.i(ldx(size, R0, R1, off)).i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(size, R0, R1, off))
            .i(alu64_imm(BPF_AND, R0, 1))
            .i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(size, R0, R1, off))
            .i(alu64_imm(BPF_RSH, R0, 31))
            .i(exit());
        out.push(p.done());
    }
    // Load into the ctx register itself, then use it.
    for off in [0i16, 4, 184, 192, 200] {
        let mut p = P::new();
        p.i(ldx(if off >= 184 { 8 } else { 4 }, R1, R1, off));
        p.i(ldx(4, R2, R1, 0));
        p.ret(1);
        out.push(p.done());
    }

    out.category = "ctx_store";
    for off in -4i16..228 {
        for size in [1u8, 2, 4, 8] {
            let interesting = matches!(off, 0..=8 | 160..=168 | 184 | 192 | 212);
            if !interesting && !rng.chance(1, 12) {
                continue;
            }
            if off % size as i16 != 0 && !rng.chance(1, 3) {
                continue;
            }
            let mut p = P::new();
            p.i(mov64_imm(R2, 7)).i(stx(size, R1, R2, off)).ret(1);
            out.push(p.done());
            let mut p = P::new();
            p.i(st(size, R1, off, 3)).ret(1);
            out.push(p.done());
        }
    }
    // Atomics on ctx, pointer stores into ctx, store of uninit register.
    for (op, size) in [
        (BPF_ADD as i32, 4),
        (BPF_ADD as i32 | BPF_FETCH, 4),
        (BPF_XCHG, 4),
        (BPF_OR as i32, 8),
    ] {
        let mut p = P::new();
        p.i(mov64_imm(R2, 1)).i(atomic(size, R1, R2, 4, op)).ret(1);
        out.push(p.done());
    }
    for src in [R10, R1, R3] {
        let mut p = P::new();
        p.i(stx(4, R1, src, 4)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(stx(4, R1, src, 164)).ret(1);
        out.push(p.done());
    }
    // Store through a copy, and a store of a loaded field.
    for off in [4i16, 164, 8, 88] {
        let mut p = P::new();
        p.i(mov64_reg(R6, R1))
            .i(ldx(4, R2, R6, 0))
            .i(stx(4, R6, R2, off))
            .ret(1);
        out.push(p.done());
    }

    out.category = "ctx_ptr";
    for k in [-8i32, -4, 0, 4, 8, 184, 1, 224, 0x10000] {
        for off in [0i16, 4, -4] {
            let mut p = P::new();
            p.i(alu64_imm(BPF_ADD, R1, k)).i(ldx(4, R2, R1, off)).ret(1);
            out.push(p.done());
        }
        let mut p = P::new();
        p.i(alu64_imm(BPF_SUB, R1, k)).i(st(4, R1, 4, 1)).ret(1);
        out.push(p.done());
    }
    // Variable offsets from ctx.
    for mask in [0i32, 4, 7, 0xff] {
        let mut p = P::new();
        p.i(ldx(4, R2, R1, 0))
            .i(alu64_imm(BPF_AND, R2, mask))
            .i(alu64_reg(BPF_ADD, R1, R2))
            .i(ldx(4, R0, R1, 0))
            .ret(1);
        out.push(p.done());
    }
    // Other ALU on ctx.
    for (op, imm) in [
        (BPF_MUL, 2),
        (BPF_OR, 0),
        (BPF_AND, -1),
        (BPF_XOR, 0),
        (BPF_LSH, 0),
        (BPF_DIV, 1),
        (BPF_NEG, 0),
        (BPF_MOV, 0),
    ] {
        let mut p = P::new();
        p.i(alu64_imm(op, R1, imm)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(alu32_imm(op, R1, imm)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(mov64_reg(R2, R1))
            .i(alu64_imm(op, R2, imm))
            .i(ldx(4, R0, R2, 0))
            .ret(1);
        out.push(p.done());
    }
    // ctx - ctx, ctx + ctx, ctx returned.
    let mut p = P::new();
    p.i(mov64_reg(R2, R1)).i(alu64_reg(BPF_SUB, R2, R1)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_reg(R2, R1)).i(alu64_reg(BPF_ADD, R2, R1)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_reg(R0, R1)).i(exit());
    out.push(p.done());
    // Add and subtract back to zero.
    let mut p = P::new();
    p.i(alu64_imm(BPF_ADD, R1, 4))
        .i(alu64_imm(BPF_ADD, R1, -4))
        .i(ldx(4, R0, R1, 0))
        .ret(1);
    out.push(p.done());
}
