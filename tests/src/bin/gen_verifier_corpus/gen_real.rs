//! Realistic sock_ops programs (op dispatch, setsockopt with stack buffers, cb flags, map
//! counters with atomics, header parsing with packet bounds checks, bounded loops, local
//! calls) and random single-field mutations of them.

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

fn tuner() -> Vec<Insn> {
    // switch (op): TCP_CONNECT_CB/ESTABLISHED: set cb flags and SO_SNDBUF; TIMEOUT_INIT: reply=10
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(ldx(4, R2, R6, 0))
        .i(jmp_imm(BPF_JEQ, R2, 1, 14))
        .i(jmp_imm(BPF_JEQ, R2, 3, 1))
        .i(ja(15))
        // TCP_CONNECT_CB:
        .i(mov64_reg(R1, R6))
        .i(mov64_imm(R2, 0x0f))
        .i(call(59))
        .i(st(4, R10, -4, 65536))
        .i(mov64_reg(R1, R6))
        .i(mov64_imm(R2, 1))
        .i(mov64_imm(R3, 7))
        .i(mov64_reg(R4, R10))
        .i(alu64_imm(BPF_ADD, R4, -4))
        .i(mov64_imm(R5, 4))
        .i(call(49))
        .i(ja(2))
        // TIMEOUT_INIT:
        .i(st(4, R6, 4, 10))
        .i(ja(0))
        .ret(1)
        .ret(1);
    p.done()
}

fn counter() -> (Vec<Insn>, Vec<MapDef>) {
    // key = op; v = lookup(map, &key); if v: atomic add 1; reply = 0
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(ldx(4, R2, R6, 0))
        .i(stx(4, R10, R2, -4))
        .w(ld_map(R1, 0))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -4))
        .i(call(1))
        .i(jmp_imm(BPF_JEQ, R0, 0, 3))
        .i(mov64_imm(R1, 1))
        .i(atomic(8, R0, R1, 0, BPF_ADD as i32))
        .i(ldx(8, R3, R0, 8))
        .i(st(4, R6, 4, 0))
        .ret(1);
    (p.done(), vec![map(MapType::Hash, 4, 16, 32)])
}

fn header_parse() -> Vec<Insn> {
    // In PARSE_HDR_OPT_CB: read TCP header doff and flags with a bounds check.
    let mut p = P::new();
    p.i(ldx(4, R2, R1, 0))
        .i(jmp_imm(BPF_JNE, R2, 13, 12))
        .i(ldx(8, R2, R1, 192))
        .i(ldx(8, R3, R1, 200))
        .i(mov64_reg(R4, R2))
        .i(alu64_imm(BPF_ADD, R4, 20))
        .i(jmp_reg(BPF_JGT, R4, R3, 7))
        .i(ldx(1, R5, R2, 12))
        .i(alu64_imm(BPF_RSH, R5, 4))
        .i(ldx(1, R7, R2, 13))
        .i(alu64_imm(BPF_AND, R7, 2))
        .i(jmp_imm(BPF_JEQ, R7, 0, 2))
        .i(ldx(4, R0, R1, 212))
        .i(stx(4, R1, R5, 4))
        .ret(1);
    p.done()
}

fn sk_reader() -> Vec<Insn> {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(ldx(8, R1, R6, 184))
        .i(jmp_imm(BPF_JEQ, R1, 0, 7))
        .i(ldx(4, R2, R1, 4))
        .i(jmp_imm(BPF_JNE, R2, 2, 5))
        .i(call(96))
        .i(jmp_imm(BPF_JEQ, R0, 0, 3))
        .i(ldx(4, R3, R0, 8))
        .i(stx(4, R6, R3, 164))
        .i(ja(0))
        .ret(1);
    p.done()
}

fn looper() -> Vec<Insn> {
    // Sum args[0..4] in a bounded loop over a stack array, then reply = sum & 0xff.
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(st(8, R10, -8, 0))
        .i(st(8, R10, -16, 0))
        .i(st(8, R10, -24, 0))
        .i(st(8, R10, -32, 0))
        .i(mov64_imm(R7, 0))
        .i(mov64_imm(R8, 0))
        // loop:
        .i(mov64_reg(R2, R7))
        .i(alu64_imm(BPF_LSH, R2, 3))
        .i(mov64_reg(R3, R10))
        .i(alu64_imm(BPF_ADD, R3, -32))
        .i(alu64_reg(BPF_ADD, R3, R2))
        .i(ldx(8, R4, R3, 0))
        .i(alu64_reg(BPF_ADD, R8, R4))
        .i(alu64_imm(BPF_ADD, R7, 1))
        .i(jmp_imm(BPF_JLT, R7, 4, -9))
        .i(alu64_imm(BPF_AND, R8, 0xff))
        .i(stx(4, R6, R8, 4))
        .ret(1);
    p.done()
}

fn with_subprog() -> Vec<Insn> {
    // main: r6 = ctx; r0 = f(op); reply = r0; return 1.   f(x): return x < 4 ? x*2 : 0
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(ldx(4, R1, R6, 0))
        .i(call_local(3))
        .i(stx(4, R6, R0, 4))
        .ret(1)
        .i(mov64_imm(R0, 0))
        .i(jmp_imm(BPF_JGE, R1, 4, 2))
        .i(mov64_reg(R0, R1))
        .i(alu64_imm(BPF_LSH, R0, 1))
        .i(exit());
    p.done()
}

fn getsockopt_cc() -> Vec<Insn> {
    // getsockopt(SOL_TCP, TCP_CONGESTION, buf[16], 16); if buf[0]=='c' reply = 1
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(mov64_imm(R2, 6))
        .i(mov64_imm(R3, 13))
        .i(mov64_reg(R4, R10))
        .i(alu64_imm(BPF_ADD, R4, -16))
        .i(mov64_imm(R5, 16))
        .i(call(57))
        .i(jmp_imm(BPF_JNE, R0, 0, 3))
        .i(ldx(1, R2, R10, -16))
        .i(jmp_imm(BPF_JNE, R2, 'c' as i32, 1))
        .i(st(4, R6, 4, 1))
        .ret(1);
    p.done()
}

fn hdr_opt_writer() -> Vec<Insn> {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1))
        .i(ldx(4, R2, R6, 0))
        .i(jmp_imm(BPF_JNE, R2, 14, 4))
        .i(mov64_reg(R1, R6))
        .i(mov64_imm(R2, 4))
        .i(mov64_imm(R3, 0))
        .i(call(144))
        .i(ldx(4, R2, R6, 0))
        .i(jmp_imm(BPF_JNE, R2, 15, 7))
        .i(st(4, R10, -8, 0x0000_04fd_u32 as i32))
        .i(mov64_reg(R1, R6))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -8))
        .i(mov64_imm(R3, 4))
        .i(mov64_imm(R4, 0))
        .i(call(143))
        .ret(1);
    p.done()
}

fn mutate(rng: &mut Rng, insns: &[Insn]) -> Vec<Insn> {
    let mut v = insns.to_vec();
    if v.is_empty() {
        return v;
    }
    let n = rng.range(1, 2);
    for _ in 0..n {
        let k = rng.below(v.len() as u64) as usize;
        let i = &mut v[k];
        match rng.below(9) {
            0 => i.off = i.off.wrapping_add(rng.range(-4, 4) as i16),
            1 => i.imm = rng.pick(&[0, 1, -1, 2, 4, 8, 16, 184, 192, 200, 212, 0x7fffffff]),
            2 => i.dst = rng.below(11) as u8,
            3 => i.src = rng.below(11) as u8,
            4 => i.opcode ^= 1 << rng.below(8),
            5 => i.off = rng.pick(&[0i16, -1, -8, 4, 8, -512, 168, 184]),
            6 => {
                // Drop one instruction (shifts jumps!).
                v.remove(k);
            }
            7 => {
                // Swap a conditional jump's condition.
                if class(i.opcode) == BPF_JMP
                    && op(i.opcode) >= BPF_JEQ
                    && op(i.opcode) <= BPF_JSLE
                    && op(i.opcode) != BPF_CALL
                    && op(i.opcode) != BPF_EXIT
                {
                    let c = rng.pick(&[
                        BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSGT, BPF_JSLT,
                    ]);
                    i.opcode = (i.opcode & 0x0f) | c;
                }
            }
            _ => {
                // Replace with a no-op-ish move (e.g. removes a null check or a bounds check).
                *i = mov64_imm(R9, 0);
            }
        }
    }
    v
}

/// Generates `realistic` and `mutations`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    let (cnt, cnt_maps) = counter();
    let progs: Vec<(Vec<Insn>, Vec<MapDef>)> = vec![
        (tuner(), vec![]),
        (cnt, cnt_maps),
        (header_parse(), vec![]),
        (sk_reader(), vec![]),
        (looper(), vec![]),
        (with_subprog(), vec![]),
        (getsockopt_cc(), vec![]),
        (hdr_opt_writer(), vec![]),
    ];
    out.category = "realistic";
    for (p, m) in &progs {
        out.push_maps(p.clone(), m.clone());
    }
    // Concatenations: program A's body followed by program B under an op switch is complex to
    // build; instead chain a few programs through local calls from a dispatcher.
    for _ in 0..10 {
        let a = rng.below(progs.len() as u64) as usize;
        let b = rng.below(progs.len() as u64) as usize;
        if !progs[a].1.is_empty() || !progs[b].1.is_empty() {
            continue;
        }
        // main: r6=r1; call A; r1=r6; call B; r0=1; exit; A...; B...
        let pa = &progs[a].0;
        let pb = &progs[b].0;
        let mut p = P::new();
        p.i(mov64_reg(R6, R1))
            .i(call_local(4))
            .i(mov64_reg(R1, R6))
            .i(call_local(2 + pa.len() as i32))
            .ret(1);
        for i in pa.iter().chain(pb.iter()) {
            p.i(*i);
        }
        out.push(p.done());
    }
    out.category = "mutations";
    for (p, m) in &progs {
        for _ in 0..45 {
            out.push_maps(mutate(rng, p), m.clone());
        }
    }
}
