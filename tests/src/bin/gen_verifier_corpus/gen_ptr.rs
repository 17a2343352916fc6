//! Pointer categories: comparisons, leaks and arithmetic between pointer kinds, 32-bit ALU on
//! pointers; atomics on stack and map values; cpu v4 instructions.

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::Insn;
use sockops_vm::MapType;
use sockops_vm::opcode::*;

#[derive(Clone, Copy)]
enum PtrKind {
    Ctx,
    Fp,
    FpOff,
    Pkt,
    PktEnd,
    Sk,
    MapPtr,
    MapValue,
    Scalar,
}

const ALL: [PtrKind; 9] = [
    PtrKind::Ctx,
    PtrKind::Fp,
    PtrKind::FpOff,
    PtrKind::Pkt,
    PtrKind::PktEnd,
    PtrKind::Sk,
    PtrKind::MapPtr,
    PtrKind::MapValue,
    PtrKind::Scalar,
];

/// Loads a pointer of kind `k` into `dst` (r1 must still be ctx; uses r0 for map values).
fn load_ptr(p: &mut P, k: PtrKind, dst: u8) {
    match k {
        PtrKind::Ctx => p.i(mov64_reg(dst, R1)),
        PtrKind::Fp => p.i(mov64_reg(dst, R10)),
        PtrKind::FpOff => p.i(mov64_reg(dst, R10)).i(alu64_imm(BPF_ADD, dst, -16)),
        PtrKind::Pkt => p.i(ldx(8, dst, R1, 192)),
        PtrKind::PktEnd => p.i(ldx(8, dst, R1, 200)),
        PtrKind::Sk => p
            .i(ldx(8, dst, R1, 184))
            .i(jmp_imm(BPF_JNE, dst, 0, 2))
            .ret(1),
        PtrKind::MapPtr => p.w(ld_map(dst, 0)),
        PtrKind::MapValue => p.w(ld_map_value(dst, 0, 8)),
        PtrKind::Scalar => p.i(ldx(4, dst, R1, 0)),
    };
}

/// Generates `pointers`, `alu32_ptr`, `atomics`, `cpuv4`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    let m = vec![map(MapType::Array, 4, 32, 1)];
    out.category = "pointers";
    // Comparisons between every pair of kinds.
    for a in ALL {
        for b in ALL {
            if !rng.chance(1, 2) {
                continue;
            }
            let mut p = P::new();
            p.i(mov64_reg(R6, R1));
            load_ptr(&mut p, a, R7);
            load_ptr(&mut p, b, R8);
            p.i(jmp_reg(
                rng.pick(&[BPF_JEQ, BPF_JGT, BPF_JNE, BPF_JSLT]),
                R7,
                R8,
                1,
            ))
            .ret(0)
            .ret(1);
            out.push_maps(p.done(), m.clone());
        }
        // Compare with immediates.
        for imm in [0i32, 1] {
            let mut p = P::new();
            load_ptr(&mut p, a, R7);
            p.i(jmp_imm(rng.pick(&[BPF_JEQ, BPF_JGT]), R7, imm, 1))
                .ret(0)
                .ret(1);
            out.push_maps(p.done(), m.clone());
        }
        // Leaks: store into ctx reply, map value, stack (spill), return.
        let mut p = P::new();
        p.i(mov64_reg(R6, R1));
        load_ptr(&mut p, a, R7);
        p.i(stx(4, R6, R7, 4)).ret(1);
        out.push_maps(p.done(), m.clone());
        let mut p = P::new();
        load_ptr(&mut p, a, R7);
        p.w(ld_map_value(R8, 0, 0)).i(stx(8, R8, R7, 0)).ret(1);
        out.push_maps(p.done(), m.clone());
        // Arithmetic: add/sub scalar, add pointers, sub pointers, mul, shifts.
        for (op, imm) in [
            (BPF_ADD, 8),
            (BPF_SUB, 8),
            (BPF_MUL, 2),
            (BPF_OR, 1),
            (BPF_LSH, 1),
            (BPF_ADD, 0),
        ] {
            let mut p = P::new();
            load_ptr(&mut p, a, R7);
            p.i(alu64_imm(op, R7, imm)).ret(1);
            out.push_maps(p.done(), m.clone());
        }
        for b in [
            PtrKind::Scalar,
            PtrKind::Fp,
            PtrKind::Ctx,
            PtrKind::MapValue,
        ] {
            for op in [BPF_ADD, BPF_SUB] {
                let mut p = P::new();
                p.i(mov64_reg(R6, R1));
                load_ptr(&mut p, a, R7);
                p.i(mov64_reg(R1, R6));
                load_ptr(&mut p, b, R8);
                p.i(alu64_reg(op, R7, R8)).ret(1);
                out.push_maps(p.done(), m.clone());
            }
        }
        // Pointer passed as helper scalar argument (cb_flags_set flags).
        let mut p = P::new();
        p.i(mov64_reg(R6, R1));
        load_ptr(&mut p, a, R2);
        p.i(mov64_reg(R1, R6)).i(call(59)).ret(1);
        out.push_maps(p.done(), m.clone());
    }
    // Unbounded / bounded scalar added to stack and map value pointers.
    for (mask, target) in [
        (-1i32, PtrKind::Fp),
        (0xff, PtrKind::MapValue),
        (7, PtrKind::MapValue),
        (-1, PtrKind::MapValue),
        (7, PtrKind::FpOff),
    ] {
        let mut p = P::new();
        p.i(st(8, R10, -8, 0)).i(st(8, R10, -16, 0));
        p.i(ldx(4, R2, R1, 0));
        if mask != -1 {
            p.i(alu64_imm(BPF_AND, R2, mask));
        }
        load_ptr(&mut p, target, R7);
        p.i(alu64_reg(BPF_ADD, R7, R2)).ret(1);
        out.push_maps(p.done(), m.clone());
    }

    out.category = "alu32_ptr";
    for a in ALL {
        for (op, imm) in [
            (BPF_ADD, 0),
            (BPF_ADD, 4),
            (BPF_MOV, 0),
            (BPF_AND, -1),
            (BPF_SUB, 0),
        ] {
            let mut p = P::new();
            load_ptr(&mut p, a, R7);
            p.i(alu32_imm(op, R7, imm)).ret(1);
            out.push_maps(p.done(), m.clone());
        }
        let mut p = P::new();
        load_ptr(&mut p, a, R7);
        p.i(mov32_reg(R2, R7))
            .i(mov64_reg(R0, R2))
            .i(alu64_imm(BPF_AND, R0, 1))
            .i(exit());
        out.push_maps(p.done(), m.clone());
        let mut p = P::new();
        load_ptr(&mut p, a, R7);
        p.i(mov64_imm(R2, 1)).i(alu32_reg(BPF_ADD, R2, R7)).ret(1);
        out.push_maps(p.done(), m.clone());
        let mut p = P::new();
        load_ptr(&mut p, a, R7);
        p.i(jmp32_imm(BPF_JEQ, R7, 0, 1)).ret(0).ret(1);
        out.push_maps(p.done(), m.clone());
        let mut p = P::new();
        load_ptr(&mut p, a, R7);
        p.i(Insn::new(BPF_ALU64 | BPF_NEG, R7, 0, 0, 0)).ret(1);
        out.push_maps(p.done(), m.clone());
        let mut p = P::new();
        load_ptr(&mut p, a, R7);
        p.i(Insn::new(BPF_ALU | BPF_END | BPF_TO_BE, R7, 0, 0, 32))
            .ret(1);
        out.push_maps(p.done(), m.clone());
    }

    out.category = "atomics";
    let ops = [
        BPF_ADD as i32,
        BPF_ADD as i32 | BPF_FETCH,
        BPF_OR as i32,
        BPF_AND as i32 | BPF_FETCH,
        BPF_XOR as i32,
        BPF_XCHG,
        BPF_CMPXCHG,
    ];
    for op in ops {
        for size in [4u8, 8] {
            for target in [PtrKind::Fp, PtrKind::MapValue, PtrKind::Pkt, PtrKind::Sk] {
                for init in [true, false] {
                    if !init && !matches!(target, PtrKind::Fp) {
                        continue;
                    }
                    let mut p = P::new();
                    if init {
                        p.i(st(8, R10, -8, 0));
                    }
                    load_ptr(&mut p, target, R7);
                    p.i(mov64_imm(R2, 1)).i(mov64_imm(R0, 0));
                    let off = if matches!(target, PtrKind::Fp) { -8 } else { 0 };
                    p.i(atomic(size, R7, R2, off, op));
                    if op & BPF_FETCH != 0 {
                        p.i(mov64_reg(R3, if op == BPF_CMPXCHG { R0 } else { R2 }));
                    }
                    p.ret(1);
                    out.push_maps(p.done(), m.clone());
                }
            }
        }
    }
    // Atomic with a pointer operand, misaligned, and atomics on spilled pointers.
    for (off, src_ptr) in [(-4i16, false), (-6, false), (-8, true), (-12, false)] {
        let mut p = P::new();
        p.i(st(8, R10, -8, 0)).i(st(8, R10, -16, 0));
        if src_ptr {
            p.i(mov64_reg(R2, R10));
        } else {
            p.i(mov64_imm(R2, 1));
        }
        p.i(atomic(8, R10, R2, off, BPF_ADD as i32)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(st(8, R10, -8, 0))
            .i(st(8, R10, -16, 0))
            .i(mov64_imm(R2, 1));
        p.i(atomic(4, R10, R2, off, BPF_ADD as i32 | BPF_FETCH))
            .ret(1);
        out.push(p.done());
    }
    let mut p = P::new();
    p.i(stx(8, R10, R1, -8))
        .i(mov64_imm(R2, 1))
        .i(atomic(8, R10, R2, -8, BPF_ADD as i32))
        .ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(stx(8, R10, R1, -8))
        .i(mov64_imm(R2, 1))
        .i(atomic(8, R10, R2, -8, BPF_XCHG))
        .ret(1);
    out.push(p.done());

    out.category = "cpuv4";
    for op in [BPF_DIV, BPF_MOD] {
        for cls in [BPF_ALU64, BPF_ALU] {
            for (a, b) in [(-7i32, 2i32), (7, -2), (i32::MIN, -1), (5, 0)] {
                let mut p = P::new();
                p.i(mov64_imm(R2, a))
                    .i(mov64_imm(R3, b))
                    .i(Insn::new(cls | op | BPF_X, R2, R3, 1, 0))
                    .i(mov64_reg(R0, R2))
                    .i(alu64_imm(BPF_AND, R0, 1))
                    .i(exit());
                out.push(p.done());
                let mut p = P::new();
                p.i(mov64_imm(R0, a))
                    .i(Insn::new(cls | op | BPF_K, R0, 0, 1, b))
                    .i(exit());
                out.push(p.done());
            }
        }
    }
    for (cls, off) in [
        (BPF_ALU64, 8i16),
        (BPF_ALU64, 16),
        (BPF_ALU64, 32),
        (BPF_ALU, 8),
        (BPF_ALU, 16),
    ] {
        for v in [0x80i32, 0x7f, 0x8000, -1, 1] {
            let mut p = P::new();
            p.i(mov64_imm(R2, v))
                .i(Insn::new(cls | BPF_MOV | BPF_X, R0, R2, off, 0))
                .i(exit());
            out.push(p.done());
        }
        let mut p = P::new();
        p.i(Insn::new(cls | BPF_MOV | BPF_X, R0, R1, off, 0))
            .i(alu64_imm(BPF_AND, R0, 1))
            .i(exit());
        out.push(p.done());
    }
    for bits in [16i32, 32, 64] {
        for v in [1i32, 0x100, 0x01000000] {
            let mut p = P::new();
            p.i(mov64_imm(R0, v))
                .i(Insn::new(BPF_ALU64 | BPF_END, R0, 0, 0, bits))
                .i(exit());
            out.push(p.done());
        }
    }
    for (imm, body) in [(1i32, 1usize), (0, 0), (2, 1), (-1, 0), (-3, 1)] {
        let mut p = P::new();
        p.i(mov64_imm(R0, 1)).i(gotol(imm));
        for _ in 0..body {
            p.i(mov64_imm(R0, 2));
        }
        p.i(exit());
        out.push(p.done());
    }
    // Sign-extending loads from stack and map values, and the result as return value.
    for size in [1u8, 2, 4] {
        for v in [1i32, -1, 0x80, 0x7fff] {
            let mut p = P::new();
            p.i(st(8, R10, -8, v)).i(ldxs(size, R0, R10, -8)).i(exit());
            out.push(p.done());
            let mut p = P::new();
            p.i(st(8, R10, -8, v))
                .i(ldxs(size, R0, R10, -8))
                .i(alu64_imm(BPF_AND, R0, 1))
                .i(exit());
            out.push(p.done());
        }
        let mut p = P::new();
        p.w(ld_map_value(R2, 0, 0))
            .i(ldxs(size, R0, R2, 4))
            .i(jmp_imm(BPF_JSGT, R0, 1, 2))
            .i(jmp_imm(BPF_JSLT, R0, 0, 1))
            .i(exit())
            .ret(0);
        out.push_maps(p.done(), m.clone());
    }
}
