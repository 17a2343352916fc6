//! Control-flow categories: return value range, jumps out of range / into LDDW / unreachable
//! code, bounded and unbounded loops, invalid opcodes and reserved fields, ALU rules (division
//! by an immediate zero, shifts), and BPF-to-BPF calls.

use crate::asm::*;
use crate::{Out, Rng};
use sockops_vm::Insn;
use sockops_vm::opcode::*;

/// Generates `return_value`, `cfg`, `loops`, `opcodes`, `alu`, `calls`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    return_value(rng, out);
    cfg(rng, out);
    loops(rng, out);
    opcodes(rng, out);
    alu(rng, out);
    calls(rng, out);
}

fn return_value(rng: &mut Rng, out: &mut Out) {
    out.category = "return_value";
    for v in [-1i32, 0, 1, 2, 3, 0x7fffffff, i32::MIN, 255] {
        let mut p = P::new();
        p.ret(v);
        out.push(p.done());
        let mut p = P::new();
        p.i(mov32_imm(R0, v)).i(exit());
        out.push(p.done());
    }
    let mut p = P::new();
    p.w(ld_imm64(R0, 1 << 32)).i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.w(ld_imm64(R0, 1)).i(exit());
    out.push(p.done());
    // Ranges from masks / shifts / comparisons.
    for _ in 0..40 {
        let mut p = P::new();
        p.i(ldx(4, R0, R1, rng.pick(&[0i16, 4, 20, 72])));
        match rng.below(6) {
            0 => p.i(alu64_imm(BPF_AND, R0, rng.pick(&[1, 2, 3, 0x101]))),
            1 => p.i(alu64_imm(BPF_RSH, R0, rng.pick(&[30, 31, 32, 63]))),
            2 => p.i(alu64_imm(BPF_MOD, R0, rng.pick(&[1, 2, 3]))),
            3 => p
                .i(jmp_imm(
                    rng.pick(&[BPF_JGT, BPF_JGE, BPF_JLE]),
                    R0,
                    rng.pick(&[0, 1, 2]),
                    1,
                ))
                .ret(0),
            4 => p
                .i(jmp_imm(BPF_JSGT, R0, 1, 1))
                .i(jmp_imm(BPF_JSGE, R0, rng.pick(&[0, -1]), 1))
                .ret(0),
            _ => p
                .i(jmp32_imm(BPF_JGT, R0, rng.pick(&[0, 1]), 1))
                .i(exit())
                .ret(1),
        };
        p.i(exit());
        out.push(p.done());
    }
    // r0 pointer at exit.
    for src in [R1, R10] {
        let mut p = P::new();
        p.i(mov64_reg(R0, src)).i(exit());
        out.push(p.done());
    }
}

fn cfg(rng: &mut Rng, out: &mut Out) {
    out.category = "cfg";
    for off in [-3i16, -2, -1, 1, 2, 3, 100, 0x7fff] {
        let mut p = P::new();
        p.i(mov64_imm(R0, 1)).i(ja(off)).i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(mov64_imm(R0, 1))
            .i(jmp_imm(BPF_JEQ, R0, 0, off))
            .i(exit());
        out.push(p.done());
    }
    // Into LDDW tail.
    let mut p = P::new();
    p.i(mov64_imm(R0, 1))
        .i(jmp_imm(BPF_JEQ, R0, 0, 1))
        .w(ld_imm64(R2, 5))
        .i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R0, 1)).i(ja(1)).w(ld_imm64(R2, 5)).i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R0, 1)).i(ja(2)).w(ld_imm64(R2, 5)).i(exit());
    out.push(p.done());
    // Truncated LDDW at the end; lddw tail with garbage.
    let mut p = P::new();
    p.i(mov64_imm(R0, 1)).i(exit()).i(ld_imm64(R2, 5)[0]);
    out.push(p.done());
    let mut p = P::new();
    p.i(ld_imm64(R2, 5)[0]).i(Insn::new(0, 1, 0, 0, 0)).ret(1);
    out.push(p.done());
    // Unreachable code (after exit, skipped by ja).
    let mut p = P::new();
    p.ret(1).i(mov64_imm(R0, 0));
    out.push(p.done());
    let mut p = P::new();
    p.ret(1).ret(0);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R0, 1)).i(ja(1)).i(mov64_imm(R0, 0)).i(exit());
    out.push(p.done());
    // Dead branch (constant condition): the kernel keeps it reachable in cfg terms.
    let mut p = P::new();
    p.i(mov64_imm(R0, 1))
        .i(jmp_imm(BPF_JEQ, R0, 5, 1))
        .i(exit())
        .i(ldx(8, R0, R10, -8))
        .i(exit());
    out.push(p.done());
    // Falls off the end, empty program, no exit.
    let mut p = P::new();
    p.i(mov64_imm(R0, 1));
    out.push(p.done());
    out.push(Vec::new());
    let mut p = P::new();
    p.i(mov64_imm(R0, 1))
        .i(jmp_imm(BPF_JEQ, R1, 0, 1))
        .i(exit());
    out.push(p.done());
    // Random jump-offset programs.
    for _ in 0..40 {
        let n = rng.range(4, 10) as usize;
        let mut p = P::new();
        p.i(mov64_imm(R0, 1)).i(ldx(4, R2, R1, 0));
        for _ in 0..n {
            match rng.below(4) {
                0 => p.i(jmp_imm(
                    rng.pick(&[BPF_JEQ, BPF_JGT, BPF_JNE]),
                    R2,
                    rng.range(0, 4) as i32,
                    rng.range(-3, 6) as i16,
                )),
                1 => p.i(ja(rng.range(-2, 5) as i16)),
                2 => p.i(alu64_imm(BPF_ADD, R2, 1)),
                _ => p.i(exit()),
            };
        }
        p.i(exit());
        out.push(p.done());
    }
}

fn loops(rng: &mut Rng, out: &mut Out) {
    out.category = "loops";
    // Bounded counting loops of various bounds and shapes.
    for bound in [1i32, 4, 16, 100, 1000, 5000, 100_000] {
        let mut p = P::new();
        p.i(mov64_imm(R2, 0))
            .i(alu64_imm(BPF_ADD, R2, 1))
            .i(jmp_imm(BPF_JLT, R2, bound, -2))
            .ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(mov64_imm(R2, bound))
            .i(alu64_imm(BPF_SUB, R2, 1))
            .i(jmp_imm(BPF_JNE, R2, 0, -2))
            .ret(1);
        out.push(p.done());
        // With a body that touches the stack.
        let mut p = P::new();
        p.i(mov64_imm(R2, 0))
            .i(st(8, R10, -8, 0))
            .i(ldx(8, R3, R10, -8))
            .i(alu64_imm(BPF_ADD, R3, 1))
            .i(stx(8, R10, R3, -8))
            .i(alu64_imm(BPF_ADD, R2, 1))
            .i(jmp_imm(BPF_JLT, R2, bound, -5))
            .ret(1);
        out.push(p.done());
        // 32-bit counter.
        let mut p = P::new();
        p.i(mov32_imm(R2, 0))
            .i(alu32_imm(BPF_ADD, R2, 1))
            .i(jmp32_imm(BPF_JLT, R2, bound, -2))
            .ret(1);
        out.push(p.done());
    }
    // Infinite loops.
    let mut p = P::new();
    p.i(mov64_imm(R0, 1)).i(ja(-1)).i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R2, 0)).i(jmp_imm(BPF_JEQ, R2, 0, -1)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R2, 0))
        .i(alu64_imm(BPF_ADD, R2, 1))
        .i(jmp_imm(BPF_JNE, R2, 0, -2))
        .ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R2, 0))
        .i(alu64_imm(BPF_ADD, R2, 0))
        .i(jmp_imm(BPF_JLT, R2, 10, -2))
        .ret(1);
    out.push(p.done());
    // Loop on an unknown value.
    for step in [1i32, 2] {
        let mut p = P::new();
        p.i(ldx(4, R2, R1, 0))
            .i(alu64_imm(BPF_ADD, R2, step))
            .i(jmp_imm(BPF_JLT, R2, 64, -2))
            .ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(4, R2, R1, 0))
            .i(alu64_imm(BPF_AND, R2, 0xff))
            .i(alu64_imm(BPF_SUB, R2, step))
            .i(jmp_imm(BPF_JSGT, R2, 0, -2))
            .ret(1);
        out.push(p.done());
    }
    // Random small loops.
    for _ in 0..30 {
        let bound = rng.range(1, 40) as i32;
        let step = rng.range(0, 3) as i32;
        let cond = rng.pick(&[BPF_JLT, BPF_JLE, BPF_JNE, BPF_JSLT, BPF_JGT]);
        let start = rng.range(0, 5) as i32;
        let mut p = P::new();
        p.i(mov64_imm(R2, start))
            .i(mov64_imm(R3, 0))
            .i(alu64_imm(BPF_ADD, R3, 3))
            .i(alu64_imm(BPF_ADD, R2, step))
            .i(jmp_imm(cond, R2, bound, -3))
            .ret(1);
        out.push(p.done());
    }
    // Back-edge to the first instruction.
    let mut p = P::new();
    p.i(mov64_imm(R0, 1))
        .i(jmp_imm(BPF_JEQ, R1, 0, -2))
        .i(exit());
    out.push(p.done());
}

fn opcodes(rng: &mut Rng, out: &mut Out) {
    out.category = "opcodes";
    // Every opcode byte once with plain operands, then random fields.
    for opc in 0u16..256 {
        let opc = opc as u8;
        if opc == LD_IMM64 {
            continue;
        }
        if !rng.chance(3, 4) {
            continue;
        }
        let mut p = P::new();
        p.i(mov64_imm(R2, 1)).i(mov64_imm(R3, 1));
        let reg_ok = class(opc) == BPF_LDX || class(opc) == BPF_STX;
        let dst = if class(opc) == BPF_STX || class(opc) == BPF_ST {
            R10
        } else {
            R2
        };
        let off = if reg_ok || class(opc) == BPF_ST {
            -8
        } else {
            0
        };
        let src = if reg_ok && class(opc) == BPF_LDX {
            R10
        } else {
            R3
        };
        p.i(st(8, R10, -8, 0));
        p.i(Insn::new(
            opc,
            dst,
            src,
            off,
            if class(opc) == BPF_JMP { 0 } else { 1 },
        ));
        p.ret(1);
        out.push(p.done());
    }
    for _ in 0..150 {
        let opc = rng.below(256) as u8;
        let mut p = P::new();
        p.i(mov64_imm(R2, 1))
            .i(mov64_imm(R3, 1))
            .i(st(8, R10, -8, 0));
        let insn = Insn::new(
            opc,
            rng.pick(&[0u8, 2, 3, 10, 11, 15]),
            rng.pick(&[0u8, 2, 3, 10, 11, 15]),
            rng.pick(&[0i16, 0, 1, -8, 8, 16, 32]),
            rng.pick(&[0i32, 0, 1, 16, 32, 64, -1, 0xe1, 0xf1]),
        );
        p.i(insn);
        if opc == LD_IMM64 {
            p.i(Insn::new(0, 0, 0, 0, rng.pick(&[0, 1])));
        }
        p.ret(1);
        out.push(p.done());
    }
    // Reserved fields on common instructions.
    let bad = [
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_K, R2, 3, 0, 1),
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_X, R2, 3, 1, 0),
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_X, R2, 3, 0, 1),
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, R2, 0, 1, 1),
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, R2, 3, 0, 1),
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, R2, 3, 7, 0),
        Insn::new(BPF_ALU | BPF_MOV | BPF_X, R2, 3, 32, 0),
        Insn::new(BPF_ALU64 | BPF_NEG, R2, 0, 0, 1),
        Insn::new(BPF_ALU | BPF_END | BPF_TO_BE, R2, 0, 0, 8),
        Insn::new(BPF_ALU64 | BPF_END | BPF_TO_BE, R2, 0, 0, 16),
        Insn::new(BPF_JMP | BPF_JEQ | BPF_K, R2, 3, 0, 0),
        Insn::new(BPF_JMP | BPF_JEQ | BPF_X, R2, 3, 0, 1),
        Insn::new(BPF_JMP | BPF_JA, 1, 0, 0, 0),
        Insn::new(BPF_JMP | BPF_JA, 0, 0, 0, 1),
        Insn::new(BPF_JMP | BPF_CALL, 1, 0, 0, 7),
        Insn::new(BPF_JMP | BPF_CALL, 0, 3, 0, 7),
        Insn::new(BPF_JMP | BPF_CALL, 0, 0, 1, 7),
        Insn::new(BPF_JMP | BPF_EXIT, 1, 0, 0, 0),
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, R2, R10, -8, 1),
        Insn::new(BPF_STX | BPF_MEM | BPF_W, R10, R2, -8, 1),
        Insn::new(BPF_ST | BPF_MEM | BPF_W, R10, 2, -8, 1),
        Insn::new(BPF_ALU64 | BPF_DIV | BPF_K, R2, 0, 2, 1),
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_K, R2, 0, 1, 1),
        Insn::new(BPF_JMP | BPF_CALL | BPF_X, R2, 0, 0, 0),
    ];
    for insn in bad {
        let mut p = P::new();
        p.i(mov64_imm(R2, 1))
            .i(mov64_imm(R3, 1))
            .i(st(8, R10, -8, 0))
            .i(insn)
            .ret(1);
        out.push(p.done());
    }
    // LDDW with pseudo sources and reserved fields.
    for (src, off, second) in [
        (0u8, 0i16, Insn::new(0, 0, 0, 0, 0)),
        (0, 1, Insn::new(0, 0, 0, 0, 0)),
        (7, 0, Insn::new(0, 0, 0, 0, 0)),
        (0, 0, Insn::new(0, 0, 1, 0, 0)),
        (0, 0, Insn::new(0, 0, 0, 1, 0)),
        (1, 0, Insn::new(0, 0, 0, 0, 0)),
        (4, 0, Insn::new(0, 0, 0, 0, 0)),
        (3, 0, Insn::new(0, 0, 0, 0, 0)),
    ] {
        let mut p = P::new();
        p.i(Insn::new(LD_IMM64, R2, src, off, 0)).i(second).ret(1);
        out.push(p.done());
    }
    // Legacy packet loads (not allowed for sock_ops).
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(Insn::new(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 0))
        .ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(Insn::new(BPF_LD | BPF_IND | BPF_B, 0, R2, 0, 0))
        .ret(1);
    out.push(p.done());
    // Kfunc call.
    let mut p = P::new();
    p.i(Insn::new(BPF_JMP | BPF_CALL, 0, 2, 0, 1)).ret(1);
    out.push(p.done());
}

fn alu(rng: &mut Rng, out: &mut Out) {
    out.category = "alu";
    for op in [BPF_DIV, BPF_MOD] {
        for signed in [0i16, 1] {
            for imm in [0i32, 1, -1] {
                for cls in [BPF_ALU64, BPF_ALU] {
                    let mut p = P::new();
                    p.i(mov64_imm(R2, 10))
                        .i(Insn::new(cls | op | BPF_K, R2, 0, signed, imm))
                        .ret(1);
                    out.push(p.done());
                }
            }
            // Register divisor zero: allowed (runtime gives 0 / dst).
            let mut p = P::new();
            p.i(mov64_imm(R2, 10))
                .i(mov64_imm(R3, 0))
                .i(Insn::new(BPF_ALU64 | op | BPF_X, R2, R3, signed, 0))
                .ret(1);
            out.push(p.done());
        }
    }
    // Shifts by large immediates.
    for op in [BPF_LSH, BPF_RSH, BPF_ARSH] {
        for imm in [0i32, 31, 32, 63, 64, -1] {
            let mut p = P::new();
            p.i(mov64_imm(R2, 1)).i(alu64_imm(op, R2, imm)).ret(1);
            out.push(p.done());
            let mut p = P::new();
            p.i(mov64_imm(R2, 1)).i(alu32_imm(op, R2, imm)).ret(1);
            out.push(p.done());
        }
    }
    // Bounds tracking into return values through ALU chains.
    for _ in 0..60 {
        let mut p = P::new();
        p.i(ldx(4, R0, R1, rng.pick(&[0i16, 4, 8])));
        for _ in 0..rng.range(1, 4) {
            let op = rng.pick(&[
                BPF_AND, BPF_RSH, BPF_ADD, BPF_SUB, BPF_MUL, BPF_OR, BPF_XOR, BPF_LSH, BPF_MOD,
                BPF_DIV, BPF_ARSH,
            ]);
            let imm = rng.pick(&[0i32, 1, 2, 3, 31, 32, -1, 0xff]);
            if (op == BPF_MOD || op == BPF_DIV) && imm == 0 {
                continue;
            }
            if rng.chance(1, 3) {
                p.i(alu32_imm(op, R0, imm));
            } else {
                p.i(alu64_imm(op, R0, imm));
            }
        }
        if rng.chance(1, 2) {
            p.i(jmp_imm(BPF_JGT, R0, 1, 1)).i(exit()).ret(0);
        } else {
            p.i(exit());
        }
        out.push(p.done());
    }
    // Endianness ops on r0.
    for (cls, src, imm) in [
        (BPF_ALU, BPF_TO_LE, 16),
        (BPF_ALU, BPF_TO_BE, 16),
        (BPF_ALU, BPF_TO_LE, 64),
        (BPF_ALU64, 0, 16),
    ] {
        let mut p = P::new();
        p.i(mov64_imm(R0, 1))
            .i(Insn::new(cls | BPF_END | src, R0, 0, 0, imm))
            .i(exit());
        out.push(p.done());
    }
}

fn calls(rng: &mut Rng, out: &mut Out) {
    out.category = "calls";
    // main calls f (returns 1).
    let mut p = P::new();
    p.i(call_local(1)).i(exit()).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(call_local(2))
        .i(alu64_imm(BPF_AND, R0, 1))
        .i(exit())
        .i(mov64_imm(R0, 7))
        .i(exit());
    out.push(p.done());
    // Callee reads caller's stack via pointer arg; callee reads uninit r6; callee uses r1 ctx.
    let mut p = P::new();
    p.i(st(8, R10, -8, 1))
        .i(mov64_reg(R1, R10))
        .i(alu64_imm(BPF_ADD, R1, -8))
        .i(call_local(2))
        .i(mov64_imm(R0, 1))
        .i(exit())
        .i(ldx(8, R0, R1, 0))
        .i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_imm(R6, 1))
        .i(call_local(1))
        .ret(1)
        .i(mov64_reg(R0, R6))
        .i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(call_local(1))
        .ret(1)
        .i(ldx(4, R0, R1, 0))
        .i(mov64_imm(R0, 0))
        .i(exit());
    out.push(p.done());
    // Call out of range / into the middle / to self (recursion).
    for off in [-1i32, 5, 100, -100] {
        let mut p = P::new();
        p.i(call_local(off)).ret(1);
        out.push(p.done());
    }
    let mut p = P::new();
    p.i(call_local(1)).ret(1).i(call_local(-1)).ret(0);
    out.push(p.done());
    // Nesting depth: chains of k calls.
    for depth in [2usize, 7, 8, 9, 10] {
        let mut p = P::new();
        for _ in 0..depth {
            p.i(call_local(2)).ret(1);
        }
        // Patch the last callee: r0 = 0; exit. (the shape above already ends with ret)
        p.ret(0);
        out.push(p.done());
    }
    // Combined stack: each frame uses `use` bytes.
    for (depth, use_) in [
        (2usize, 256i16),
        (2, 264),
        (3, 200),
        (4, 128),
        (8, 64),
        (8, 72),
        (1, 512),
    ] {
        let mut p = P::new();
        for _ in 0..depth {
            p.i(st(8, R10, -use_, 0)).i(call_local(2)).ret(1);
        }
        p.i(st(8, R10, -use_, 0)).ret(0);
        out.push(p.done());
    }
    // Callee jumping back into caller; caller falling into callee.
    let mut p = P::new();
    p.i(call_local(2))
        .i(mov64_imm(R0, 1))
        .i(exit())
        .i(ja(-3))
        .ret(0);
    out.push(p.done());
    let mut p = P::new();
    p.i(call_local(1)).i(mov64_imm(R0, 1)).ret(0);
    out.push(p.done());
    // Callee returning a pointer / stack pointer.
    let mut p = P::new();
    p.i(call_local(2))
        .i(mov64_imm(R0, 1))
        .i(exit())
        .i(mov64_reg(R0, R10))
        .i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(call_local(3))
        .i(ldx(8, R0, R0, 0))
        .ret(1)
        .i(mov64_reg(R0, R10))
        .i(exit());
    out.push(p.done());
    // Random call trees.
    for _ in 0..20 {
        let nfuncs = rng.range(2, 4) as usize;
        let mut p = P::new();
        let mut starts = Vec::new();
        // Each function: [maybe call next] r0 = v; exit  (3 or 1+2 slots)
        let mut bodies: Vec<Vec<Insn>> = Vec::new();
        for f in 0..nfuncs {
            let mut b = Vec::new();
            if f + 1 < nfuncs && rng.chance(2, 3) {
                b.push(call_local(0)); // patched below
            }
            if rng.chance(1, 3) {
                b.push(st(8, R10, -(rng.range(1, 40) as i16) * 8, 0));
            }
            b.push(mov64_imm(R0, rng.pick(&[0, 1, 2])));
            b.push(exit());
            bodies.push(b);
        }
        let mut pos = 0;
        for b in &bodies {
            starts.push(pos);
            pos += b.len();
        }
        for (f, b) in bodies.iter_mut().enumerate() {
            if b[0].opcode == (BPF_JMP | BPF_CALL) {
                let target = starts[f + 1] as i32;
                b[0].imm = target - (starts[f] as i32) - 1;
            }
        }
        for b in bodies {
            for i in b {
                p.i(i);
            }
        }
        out.push(p.done());
    }
}
