//! Memory categories: stack bounds/alignment/uninitialised reads/variable offsets, spills and
//! fills of pointers, the `sk` pointer field, packet pointers, and register rules (r10 writes,
//! uninitialised registers).

use crate::asm::*;
use crate::{Out, Rng};
use sockops_vm::opcode::*;

/// Generates `stack`, `spill_fill`, `sk_field`, `packet`, `registers`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    stack(rng, out);
    spill_fill(rng, out);
    sk_field(rng, out);
    packet(rng, out);
    registers(rng, out);
}

fn stack(rng: &mut Rng, out: &mut Out) {
    out.category = "stack";
    // Store then load at offsets across the frame and beyond.
    for _ in 0..110 {
        let size = rng.pick(&[1u8, 2, 4, 8]);
        let off = rng
            .pick(&[
                -520i64, -513, -512, -511, -508, -504, -16, -9, -8, -7, -4, -3, -1, 0, 1, 8,
            ])
            .max(-32768) as i16;
        let off = if rng.chance(1, 3) {
            rng.range(-520, 8) as i16
        } else {
            off
        };
        let mut p = P::new();
        match rng.below(4) {
            0 => {
                p.i(st(size, R10, off, 5));
            }
            1 => {
                p.i(mov64_imm(R2, 5)).i(stx(size, R10, R2, off));
            }
            2 => {
                p.i(mov64_imm(R2, 5))
                    .i(stx(size, R10, R2, off))
                    .i(ldx(size, R0, R10, off));
            }
            _ => {
                let lsize = rng.pick(&[1u8, 2, 4, 8]);
                let loff = off + rng.range(-4, 4) as i16;
                p.i(st(size, R10, off, 0)).i(ldx(lsize, R0, R10, loff));
            }
        }
        p.ret(1);
        out.push(p.done());
    }
    // Uninitialised reads.
    for (wsize, woff, rsize, roff) in [
        (8u8, -8i16, 8u8, -8i16),
        (4, -8, 8, -8),
        (4, -4, 8, -8),
        (0, 0, 8, -8),
        (0, 0, 4, -4),
        (0, 0, 1, -1),
        (1, -1, 1, -1),
        (2, -8, 4, -8),
        (8, -16, 8, -8),
        (8, -8, 4, -4),
        (8, -8, 1, -3),
    ] {
        let mut p = P::new();
        if wsize > 0 {
            p.i(st(wsize, R10, woff, 1));
        }
        p.i(ldx(rsize, R2, R10, roff)).ret(1);
        out.push(p.done());
    }
    // Via a copy of r10 with offsets.
    for add in [-8i32, -512, -520, 0, 8, -4] {
        for off in [0i16, -8, 4] {
            let mut p = P::new();
            p.i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, add))
                .i(st(8, R2, off, 1))
                .ret(1);
            out.push(p.done());
        }
    }
    // Variable offset stack access.
    for (mask, sub, read) in [
        (7, -16, false),
        (7, -16, true),
        (8, -16, false),
        (0x1f, -64, false),
        (0x1f, -64, true),
        (0xff, -8, false),
        (3, -8, true),
    ] {
        let mut p = P::new();
        for k in (1..=(-sub / 8)).map(|k| -(k as i16) * 8) {
            p.i(st(8, R10, k, 0));
        }
        p.i(ldx(4, R3, R1, 0))
            .i(alu64_imm(BPF_AND, R3, mask))
            .i(mov64_reg(R2, R10))
            .i(alu64_imm(BPF_ADD, R2, sub))
            .i(alu64_reg(BPF_ADD, R2, R3));
        if read {
            p.i(ldx(1, R0, R2, 0));
        } else {
            p.i(st(1, R2, 0, 1));
        }
        p.ret(1);
        out.push(p.done());
    }
    // Alignment of stack accesses through r10 and copies.
    for off in [-7i16, -6, -5, -3, -2, -12] {
        for size in [2u8, 4, 8] {
            let mut p = P::new();
            p.i(st(size, R10, off, 1)).ret(1);
            out.push(p.done());
        }
    }
}

fn spill_fill(rng: &mut Rng, out: &mut Out) {
    out.category = "spill_fill";
    // Pointer sources: ctx, fp, pkt, pkt_end, sk (after null check)
    #[derive(Clone, Copy)]
    enum Src {
        Ctx,
        Fp,
        Pkt,
        PktEnd,
        Scalar,
        SkNull,
    }
    for src in [
        Src::Ctx,
        Src::Fp,
        Src::Pkt,
        Src::PktEnd,
        Src::Scalar,
        Src::SkNull,
    ] {
        for _ in 0..10 {
            let mut p = P::new();
            p.i(mov64_reg(R6, R1));
            match src {
                Src::Ctx => p.i(mov64_reg(R2, R1)),
                Src::Fp => p.i(mov64_reg(R2, R10)),
                Src::Pkt => p.i(ldx(8, R2, R1, 192)),
                Src::PktEnd => p.i(ldx(8, R2, R1, 200)),
                Src::Scalar => p.i(ldx(4, R2, R1, 0)),
                Src::SkNull => p.i(ldx(8, R2, R1, 184)),
            };
            let spill_size = rng.pick(&[8u8, 8, 8, 4, 2, 1]);
            let spill_off = rng.pick(&[-8i16, -8, -16, -4, -12]);
            p.i(stx(spill_size, R10, R2, spill_off));
            // Clobber.
            if rng.chance(1, 3) {
                p.i(st(
                    rng.pick(&[1u8, 4]),
                    R10,
                    spill_off + rng.range(0, 3) as i16,
                    0,
                ));
            }
            let fill_size = rng.pick(&[8u8, 8, 4, 1]);
            let fill_off = if rng.chance(3, 4) {
                spill_off
            } else {
                spill_off + 4
            };
            p.i(ldx(fill_size, R3, R10, fill_off));
            match rng.below(4) {
                0 => {
                    p.i(ldx(4, R0, R3, 0));
                }
                1 => {
                    p.i(mov64_reg(R1, R3)).i(call(46));
                }
                2 => {
                    p.i(ldx(4, R0, R3, 4));
                }
                _ => {}
            }
            p.ret(1);
            out.push(p.done());
        }
    }
    // Spill ctx, fill, use ctx for a helper and stores.
    let mut p = P::new();
    p.i(stx(8, R10, R1, -8))
        .i(mov64_imm(R1, 0))
        .i(ldx(8, R1, R10, -8))
        .i(st(4, R1, 4, 1))
        .i(call(46))
        .ret(1);
    out.push(p.done());
    // Spilled scalar keeps bounds.
    for k in [0i32, 1, 2] {
        let mut p = P::new();
        p.i(mov64_imm(R2, k))
            .i(stx(8, R10, R2, -8))
            .i(ldx(8, R0, R10, -8))
            .i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(st(8, R10, -8, k)).i(ldx(8, R0, R10, -8)).i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(st(4, R10, -8, k)).i(ldx(4, R0, R10, -8)).i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(mov64_imm(R2, k))
            .i(stx(4, R10, R2, -4))
            .i(ldx(4, R0, R10, -4))
            .i(exit());
        out.push(p.done());
    }
}

fn sk_field(rng: &mut Rng, out: &mut Out) {
    out.category = "sk_field";
    for off in -4i16..84 {
        for size in [1u8, 2, 4, 8] {
            if off % size as i16 != 0 && !rng.chance(1, 4) {
                continue;
            }
            if !rng.chance(2, 3) {
                continue;
            }
            let mut p = P::new();
            p.i(ldx(8, R2, R1, 184))
                .i(jmp_imm(BPF_JEQ, R2, 0, 1))
                .i(ldx(size, R0, R2, off))
                .ret(1);
            out.push(p.done());
        }
    }
    // No null check; writes; arithmetic; null check on a copy.
    let mut p = P::new();
    p.i(ldx(8, R2, R1, 184)).i(ldx(4, R0, R2, 4)).ret(1);
    out.push(p.done());
    for size in [1u8, 4] {
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 184))
            .i(jmp_imm(BPF_JEQ, R2, 0, 1))
            .i(st(size, R2, 16, 1))
            .ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 184))
            .i(jmp_imm(BPF_JEQ, R2, 0, 2))
            .i(mov64_imm(R3, 1))
            .i(stx(size, R2, R3, 16))
            .ret(1);
        out.push(p.done());
    }
    for (op, imm) in [(BPF_ADD, 4), (BPF_ADD, 0), (BPF_SUB, 4), (BPF_AND, -1)] {
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 184))
            .i(jmp_imm(BPF_JEQ, R2, 0, 2))
            .i(alu64_imm(op, R2, imm))
            .i(ldx(4, R0, R2, 0))
            .ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 184)).i(alu64_imm(op, R2, imm)).ret(1);
        out.push(p.done());
    }
    // Null check on a copy; check with jne; check against other values.
    for (cond, imm, skip) in [
        (BPF_JEQ, 0, 2),
        (BPF_JNE, 0, 1),
        (BPF_JEQ, 1, 2),
        (BPF_JGT, 0, 1),
        (BPF_JSGT, 0, 1),
    ] {
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 184)).i(mov64_reg(R3, R2));
        if cond == BPF_JEQ {
            p.i(jmp_imm(cond, R3, imm, skip))
                .i(ldx(4, R0, R2, 4))
                .i(ldx(4, R0, R3, 8));
        } else {
            p.i(jmp_imm(cond, R3, imm, 1)).ret(1).i(ldx(4, R0, R2, 4));
        }
        p.ret(1);
        out.push(p.done());
    }
    // bpf_tcp_sock(sk) then fields.
    for off in [0i16, 4, 8, 100, 104, 108, 112, 116, 200, 208, 216] {
        for size in [4u8, 8] {
            if !rng.chance(1, 2) {
                continue;
            }
            let mut p = P::new();
            p.i(ldx(8, R1, R1, 184))
                .i(jmp_imm(BPF_JEQ, R1, 0, 4))
                .i(call(96))
                .i(jmp_imm(BPF_JEQ, R0, 0, 2))
                .i(ldx(size, R2, R0, off))
                .i(ja(0))
                .ret(1);
            out.push(p.done());
        }
    }
    let mut p = P::new();
    p.i(ldx(8, R1, R1, 184)).i(call(96)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(ldx(8, R1, R1, 184))
        .i(jmp_imm(BPF_JEQ, R1, 0, 2))
        .i(call(96))
        .i(ldx(4, R2, R0, 0))
        .ret(1);
    out.push(p.done());
}

fn packet(rng: &mut Rng, out: &mut Out) {
    out.category = "packet";
    for _ in 0..90 {
        let check = rng.pick(&[0i32, 1, 4, 8, 14, 20, 40, 60, 0xffff]);
        let size = rng.pick(&[1u8, 2, 4, 8]);
        let off = rng.pick(&[0i16, 1, 2, 4, 12, 16, 19, 20, 36, 39, 56, -1]);
        let cond_style = rng.below(5);
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 192))
            .i(ldx(8, R3, R1, 200))
            .i(mov64_reg(R4, R2));
        p.i(alu64_imm(BPF_ADD, R4, check));
        match cond_style {
            0 => p.i(jmp_reg(BPF_JGT, R4, R3, 1)), // if data+N > end goto out
            1 => p.i(jmp_reg(BPF_JLT, R3, R4, 1)), // if end < data+N goto out
            2 => p.i(jmp_reg(BPF_JGE, R3, R4, 1)).ret(1), // wrong direction: ok branch is the jump
            3 => p.i(jmp_reg(BPF_JLE, R4, R3, 1)).ret(1),
            _ => p.i(jmp_reg(BPF_JEQ, R4, R3, 1)),
        };
        if rng.chance(1, 6) {
            p.i(st(size, R2, off, 0));
        } else {
            p.i(ldx(size, R0, R2, off));
        }
        p.ret(1);
        out.push(p.done());
    }
    // No check at all; pkt_end deref; pkt arithmetic.
    for size in [1u8, 4] {
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 192)).i(ldx(size, R0, R2, 0)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 200)).i(ldx(size, R0, R2, 0)).ret(1);
        out.push(p.done());
    }
    for (op, imm) in [
        (BPF_ADD, 8),
        (BPF_SUB, 8),
        (BPF_AND, 0xff),
        (BPF_ADD, 0x10000),
    ] {
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 192))
            .i(ldx(8, R3, R1, 200))
            .i(alu64_imm(op, R2, imm));
        p.i(mov64_reg(R4, R2)).i(alu64_imm(BPF_ADD, R4, 4));
        p.i(jmp_reg(BPF_JGT, R4, R3, 1)).i(ldx(4, R0, R2, 0)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(ldx(8, R3, R1, 200)).i(alu64_imm(op, R3, imm)).ret(1);
        out.push(p.done());
    }
    // Variable offset into packet after check.
    for mask in [0x3i32, 0xf, 0xff] {
        let mut p = P::new();
        p.i(ldx(8, R2, R1, 192))
            .i(ldx(8, R3, R1, 200))
            .i(ldx(4, R5, R1, 0))
            .i(alu64_imm(BPF_AND, R5, mask))
            .i(alu64_reg(BPF_ADD, R2, R5))
            .i(mov64_reg(R4, R2))
            .i(alu64_imm(BPF_ADD, R4, 4))
            .i(jmp_reg(BPF_JGT, R4, R3, 1))
            .i(ldx(4, R0, R2, 0))
            .ret(1);
        out.push(p.done());
    }
    // Comparisons between pkt and other pointer types, pkt_end - pkt.
    let mut p = P::new();
    p.i(ldx(8, R2, R1, 192))
        .i(ldx(8, R3, R1, 200))
        .i(alu64_reg(BPF_SUB, R3, R2))
        .i(mov64_reg(R0, R3))
        .i(alu64_imm(BPF_AND, R0, 1))
        .i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(ldx(8, R2, R1, 192))
        .i(jmp_reg(BPF_JGT, R2, R10, 1))
        .ret(1)
        .ret(0);
    out.push(p.done());
    let mut p = P::new();
    p.i(ldx(8, R2, R1, 192))
        .i(ldx(8, R3, R1, 200))
        .i(alu64_reg(BPF_SUB, R2, R3))
        .ret(1);
    out.push(p.done());
}

fn registers(rng: &mut Rng, out: &mut Out) {
    out.category = "registers";
    for op in [BPF_MOV, BPF_ADD, BPF_SUB, BPF_AND] {
        let mut p = P::new();
        p.i(alu64_imm(op, R10, 8)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(alu32_imm(op, R10, 0)).ret(1);
        out.push(p.done());
    }
    let mut p = P::new();
    p.i(ldx(8, R10, R1, 184)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.w(ld_imm64(R10, 1)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(Insn_neg(R10)).ret(1);
    out.push(p.done());
    // Reads of uninitialised registers in many positions.
    for r in 0u8..10 {
        let mut p = P::new();
        p.i(mov64_reg(R6, r)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(alu64_imm(BPF_ADD, r, 1)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(jmp_imm(BPF_JEQ, r, 0, 0)).ret(1);
        out.push(p.done());
        let mut p = P::new();
        p.i(stx(8, R10, r, -8)).ret(1);
        out.push(p.done());
    }
    // After a helper call r1-r5 are clobbered.
    for r in [R1, R2, R5, R6] {
        let mut p = P::new();
        p.i(mov64_reg(R6, R1)).i(call(7)).i(mov64_reg(R0, r)).ret(1);
        out.push(p.done());
    }
    // Exit without setting r0; r0 from a helper as return.
    let mut p = P::new();
    p.i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(call(7)).i(exit());
    out.push(p.done());
    let mut p = P::new();
    p.i(call(7)).i(alu64_imm(BPF_AND, R0, 1)).i(exit());
    out.push(p.done());
    for _ in 0..20 {
        let r = rng.below(11) as u8;
        let mut p = P::new();
        p.i(mov64_imm(R2, 1))
            .i(mov64_reg(R0, r))
            .i(alu64_imm(BPF_AND, R0, 1))
            .i(exit());
        out.push(p.done());
    }
}

/// `dst = -dst` (64-bit).
#[allow(non_snake_case)]
fn Insn_neg(dst: u8) -> sockops_vm::Insn {
    sockops_vm::Insn::new(BPF_ALU64 | BPF_NEG, dst, 0, 0, 0)
}
