//! Random structured programs: sequences of small snippets (context loads, stack stores and
//! loads, spills, map lookups with or without null checks, packet reads with or without bounds
//! checks, helper calls, ALU on random registers, forward branches), ending in a return. They
//! cross the categories the way real programs do, so they test how the rules combine.

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::MapType;
use sockops_vm::opcode::*;

const CTX_OFFS: &[(i16, u8)] = &[
    (0, 4),
    (4, 4),
    (8, 4),
    (20, 4),
    (24, 4),
    (64, 4),
    (68, 4),
    (72, 4),
    (76, 4),
    (88, 4),
    (164, 4),
    (168, 8),
    (184, 8),
    (192, 8),
    (200, 8),
    (208, 4),
    (212, 1),
    (212, 4),
    (216, 8),
    (2, 2),
    (6, 4),
    (170, 4),
    (186, 8),
];

fn reg(rng: &mut Rng) -> u8 {
    rng.pick(&[R0, R1, R2, R3, R4, R5, R6, R7, R8, R9])
}

fn snippet(rng: &mut Rng, p: &mut P) {
    match rng.below(14) {
        0 | 1 => {
            // ctx load (r6 holds ctx)
            let (off, size) = rng.pick(CTX_OFFS);
            p.i(ldx(size, reg(rng).clamp(R2, R9), R6, off));
        }
        2 => {
            // stack store
            let off = -(rng.range(1, 8) as i16) * 8 + rng.pick(&[0i16, 0, 0, 4]);
            let size = rng.pick(&[8u8, 8, 4, 1]);
            if rng.chance(1, 2) {
                p.i(st(size, R10, off, rng.range(-2, 2) as i32));
            } else {
                p.i(stx(size, R10, reg(rng), off));
            }
        }
        3 => {
            // stack load
            let off = -(rng.range(1, 8) as i16) * 8 + rng.pick(&[0i16, 0, 4]);
            p.i(ldx(
                rng.pick(&[8u8, 4, 1]),
                rng.pick(&[R2, R3, R4, R7, R8]),
                R10,
                off,
            ));
        }
        4 => {
            // map lookup, maybe null check, value access
            p.i(st(4, R10, -4, rng.range(0, 5) as i32))
                .w(ld_map(R1, 0))
                .i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, -4))
                .i(call(1));
            let checked = rng.chance(3, 4);
            if checked {
                p.i(jmp_imm(BPF_JEQ, R0, 0, 2));
            }
            let off = rng.pick(&[0i16, 4, 8, 12, 16]);
            if rng.chance(1, 2) {
                p.i(ldx(rng.pick(&[4u8, 8]), R7, R0, off));
            } else {
                p.i(st(4, R0, off, 1));
            }
            if checked {
                p.i(ja(0));
            }
            p.i(mov64_reg(R1, R6));
        }
        5 => {
            // packet read with (maybe) a check
            let n = rng.pick(&[4i32, 8, 20]);
            p.i(ldx(8, R2, R6, 192))
                .i(ldx(8, R3, R6, 200))
                .i(mov64_reg(R4, R2))
                .i(alu64_imm(BPF_ADD, R4, n));
            if rng.chance(3, 4) {
                p.i(jmp_reg(BPF_JGT, R4, R3, 1));
            }
            p.i(ldx(
                rng.pick(&[1u8, 2, 4]),
                R5,
                R2,
                rng.pick(&[0i16, 2, 12, 16, 19]),
            ));
        }
        6 => {
            // helper without memory args
            let id = rng.pick(&[5, 7, 8, 46, 59, 122, 144]);
            p.i(mov64_reg(R1, R6))
                .i(mov64_imm(R2, rng.range(0, 3) as i32))
                .i(mov64_imm(R3, 0))
                .i(call(id));
        }
        7 => {
            // setsockopt / getsockopt with a stack buffer
            let len = rng.pick(&[4i32, 8, 12]);
            if rng.chance(2, 3) {
                p.i(st(8, R10, -16, 1)).i(st(8, R10, -8, 2));
            }
            p.i(mov64_reg(R1, R6))
                .i(mov64_imm(R2, 6))
                .i(mov64_imm(R3, rng.pick(&[1, 2, 13])))
                .i(mov64_reg(R4, R10))
                .i(alu64_imm(BPF_ADD, R4, -16))
                .i(mov64_imm(R5, len))
                .i(call(rng.pick(&[49, 57])));
        }
        8 | 9 => {
            // scalar ALU on a random register
            let op = rng.pick(&[
                BPF_ADD, BPF_SUB, BPF_AND, BPF_OR, BPF_LSH, BPF_RSH, BPF_MUL, BPF_XOR, BPF_MOV,
            ]);
            let d = rng.pick(&[R2, R3, R4, R7, R8, R9]);
            if rng.chance(1, 2) {
                p.i(alu64_imm(op, d, rng.range(0, 40) as i32));
            } else {
                p.i(alu64_reg(op, d, reg(rng)));
            }
        }
        10 => {
            // forward branch over one or two instructions
            let d = rng.pick(&[R2, R3, R7]);
            p.i(jmp_imm(
                rng.pick(&[BPF_JEQ, BPF_JGT, BPF_JNE, BPF_JSLT]),
                d,
                rng.range(0, 10) as i32,
                1,
            ));
            p.i(mov64_imm(d, rng.range(0, 3) as i32));
        }
        11 => {
            // sk pointer use
            p.i(ldx(8, R2, R6, 184));
            if rng.chance(3, 4) {
                p.i(jmp_imm(BPF_JEQ, R2, 0, 1));
            }
            p.i(ldx(4, R3, R2, rng.pick(&[0i16, 4, 16, 72])));
        }
        12 => {
            // spill and fill a pointer
            let src = rng.pick(&[R6, R10, R0]);
            p.i(stx(8, R10, src, -24)).i(ldx(8, R7, R10, -24));
        }
        _ => {
            // write reply / txhash
            p.i(stx(
                4,
                R6,
                rng.pick(&[R2, R3, R7]),
                rng.pick(&[4i16, 164, 8]),
            ));
        }
    }
}

/// Generates `random`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "random";
    let maps = vec![map(MapType::Array, 4, 16, 4)];
    for _ in 0..700 {
        let mut p = P::new();
        p.i(mov64_reg(R6, R1))
            .i(mov64_imm(R2, 0))
            .i(mov64_imm(R3, 0))
            .i(mov64_imm(R7, 0));
        for _ in 0..rng.range(1, 6) {
            snippet(rng, &mut p);
        }
        match rng.below(4) {
            0 => {
                p.i(mov64_reg(R0, rng.pick(&[R2, R3, R7])))
                    .i(alu64_imm(BPF_AND, R0, 1))
                    .i(exit());
            }
            1 => {
                p.i(mov64_reg(R0, rng.pick(&[R2, R3, R7]))).i(exit());
            }
            _ => {
                p.ret(rng.pick(&[0, 1, 1, 1]));
            }
        }
        out.push_maps(p.done(), maps.clone());
    }
}
