//! The `ringbuf` category: ring buffer reservations as acquired references
//! (`bpf_ringbuf_reserve` / `submit` / `discard`), their null checks, accesses within and past
//! the reserved size, leaks at exit and at tail calls, double release, use after release
//! (through copies and stack spills), modified pointers passed to the release helpers, wrong
//! map types, and `bpf_ringbuf_output` / `bpf_ringbuf_query`.

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

const RESERVE: i32 = 131;
const SUBMIT: i32 = 132;
const DISCARD: i32 = 133;
const OUTPUT: i32 = 130;
const QUERY: i32 = 134;

fn rb() -> MapDef {
    map(MapType::Ringbuf, 0, 0, 4096)
}

/// `r0 = bpf_ringbuf_reserve(map[idx], size, 0)`.
fn reserve(p: &mut P, idx: i32, size: i32) {
    p.w(ld_map(R1, idx))
        .i(mov64_imm(R2, size))
        .i(mov64_imm(R3, 0))
        .i(call(RESERVE));
}

/// `helper(reg, 0)` (submit or discard).
fn release(p: &mut P, helper: i32, reg: u8) {
    p.i(mov64_reg(R1, reg)).i(mov64_imm(R2, 0)).i(call(helper));
}

/// reserve(size); r6 = r0; if r6 == 0 goto out; body; helper(r6); out: return 1.
fn guarded(size: i32, body: &[Insn], helper: i32) -> Vec<Insn> {
    let mut p = P::new();
    reserve(&mut p, 0, size);
    p.i(mov64_reg(R6, R0))
        .i(jmp_imm(BPF_JEQ, R6, 0, body.len() as i16 + 3));
    for i in body {
        p.i(*i);
    }
    release(&mut p, helper, R6);
    p.ret(1);
    p.done()
}

/// Generates `ringbuf`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "ringbuf";
    let one = || vec![rb()];
    // Stores and loads within and past the reserved size, submitted or discarded.
    for size in [1i32, 4, 8, 16, 24, 64, 0] {
        for (w, off) in [
            (1u8, 0i16),
            (8, 0),
            (4, size as i16 - 4),
            (8, size as i16 - 8),
        ] {
            for (k, helper) in [SUBMIT, DISCARD].into_iter().enumerate() {
                let body = if k == 0 {
                    [st(w, R6, off, 7)]
                } else {
                    [ldx(w, R2, R6, off)]
                };
                out.push_maps(guarded(size, &body, helper), one());
            }
        }
        let off = size as i16 + (rng.below(3) as i16);
        out.push_maps(guarded(size, &[st(1, R6, off, 1)], SUBMIT), one());
    }
    // A negative constant size is a huge u32 mem_size; a negative offset is out of range.
    out.push_maps(guarded(-1, &[st(8, R6, 0, 1)], SUBMIT), one());
    out.push_maps(guarded(16, &[st(8, R6, -8, 1)], SUBMIT), one());
    // Register stores (scalar, and a pointer: a leak in strict mode).
    out.push_maps(
        guarded(16, &[mov64_imm(R2, 5), stx(8, R6, R2, 8)], SUBMIT),
        one(),
    );
    out.push_maps(guarded(16, &[stx(8, R6, R10, 0)], SUBMIT), one());
    out.push_maps(guarded(16, &[stx(8, R6, R6, 8)], DISCARD), one());
    // Missing null check: access, and release of the maybe-null pointer.
    for helper in [SUBMIT, DISCARD] {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0)).i(st(8, R6, 0, 1));
        release(&mut p, helper, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        release(&mut p, helper, R0);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Leaks: after the null check, without one, in one branch only, at a tail call.
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.i(jmp_imm(BPF_JEQ, R0, 0, 0)).ret(1);
    out.push_maps(p.done(), one());
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.ret(1);
    out.push_maps(p.done(), one());
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.i(mov64_reg(R6, R0)).i(exit());
    out.push_maps(p.done(), one());
    for take in [0i32, 1] {
        // r7 = ctx->op; reserve; if null out; if r7 == take skip the submit.
        let mut p = P::new();
        p.i(ldx(4, R7, R1, 0));
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 4))
            .i(jmp_imm(BPF_JEQ, R7, take, 3));
        release(&mut p, SUBMIT, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
        // The same with a discard on the other branch: both paths release.
        let mut p = P::new();
        p.i(ldx(4, R7, R1, 0));
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 8))
            .i(jmp_imm(BPF_JEQ, R7, take, 4));
        release(&mut p, SUBMIT, R6);
        p.i(ja(3));
        release(&mut p, DISCARD, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    for held in [true, false] {
        let mut p = P::new();
        p.i(mov64_reg(R9, R1));
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, if held { 11 } else { 8 }));
        if !held {
            release(&mut p, SUBMIT, R6);
        } else {
            p.i(mov64_imm(R2, 0))
                .i(mov64_imm(R2, 0))
                .i(mov64_imm(R2, 0));
        }
        p.i(mov64_reg(R1, R9))
            .w(ld_map(R2, 1))
            .i(mov64_imm(R3, 0))
            .i(call(12));
        if held {
            release(&mut p, SUBMIT, R6);
        }
        p.ret(1);
        out.push_maps(p.done(), vec![rb(), map(MapType::ProgArray, 4, 4, 2)]);
    }
    // Double release and use after release, through a copy and a stack spill.
    for (a, b) in [(SUBMIT, SUBMIT), (SUBMIT, DISCARD), (DISCARD, DISCARD)] {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0)).i(jmp_imm(BPF_JEQ, R6, 0, 6));
        release(&mut p, a, R6);
        release(&mut p, b, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    for (k, use_insn) in [
        st(8, R7, 0, 1),
        ldx(8, R2, R7, 0),
        mov64_reg(R0, R7),
        alu64_imm(BPF_ADD, R7, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 5))
            .i(mov64_reg(R7, R6));
        release(&mut p, if k % 2 == 0 { SUBMIT } else { DISCARD }, R6);
        p.i(use_insn).ret(1);
        out.push_maps(p.done(), one());
    }
    // Spill and fill of the reserved pointer; release through the fill, use of the spill.
    for reuse in [false, true] {
        let mut p = P::new();
        reserve(&mut p, 0, 16);
        p.i(jmp_imm(BPF_JEQ, R0, 0, if reuse { 8 } else { 6 }))
            .i(stx(8, R10, R0, -8))
            .i(mov64_imm(R0, 0))
            .i(ldx(8, R6, R10, -8));
        release(&mut p, SUBMIT, R6);
        if reuse {
            p.i(ldx(8, R6, R10, -8)).i(st(8, R6, 0, 1));
        }
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Modified pointers passed to the release helpers.
    for (n, fix) in [(8i32, 0i32), (1, 0), (-8, 0), (8, -8), (4, 4)] {
        let mut body = vec![alu64_imm(BPF_ADD, R6, n)];
        if fix != 0 {
            body.push(alu64_imm(BPF_ADD, R6, fix));
        }
        out.push_maps(guarded(16, &body, SUBMIT), one());
    }
    for mask in [0i32, 7] {
        let mut p = P::new();
        p.i(ldx(4, R7, R1, 0)).i(alu64_imm(BPF_AND, R7, mask));
        reserve(&mut p, 0, 16);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 4))
            .i(alu64_reg(BPF_ADD, R6, R7));
        release(&mut p, DISCARD, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Variable-offset access within the reservation.
    for (mask, size) in [(7i32, 16i32), (15, 16), (8, 16)] {
        let mut p = P::new();
        p.i(ldx(4, R7, R1, 0)).i(alu64_imm(BPF_AND, R7, mask));
        reserve(&mut p, 0, size);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 6))
            .i(mov64_reg(R8, R6))
            .i(alu64_reg(BPF_ADD, R8, R7))
            .i(st(8, R8, 0, 3));
        release(&mut p, SUBMIT, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Non-constant sizes.
    for mask in [0xffi32, 0, -1] {
        let mut p = P::new();
        p.i(ldx(4, R7, R1, 0));
        if mask != -1 {
            p.i(alu64_imm(BPF_AND, R7, mask));
        }
        p.w(ld_map(R1, 0))
            .i(mov64_reg(R2, R7))
            .i(mov64_imm(R3, 0))
            .i(call(RESERVE))
            .i(jmp_imm(BPF_JEQ, R0, 0, 3));
        release(&mut p, SUBMIT, R0);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Wrong argument types for reserve.
    let mut p = P::new();
    p.i(mov64_reg(R1, R10))
        .i(mov64_imm(R2, 8))
        .i(mov64_imm(R3, 0))
        .i(call(RESERVE))
        .ret(1);
    out.push_maps(p.done(), one());
    let mut p = P::new();
    p.w(ld_map(R1, 0))
        .i(mov64_reg(R2, R10))
        .i(mov64_imm(R3, 0))
        .i(call(RESERVE))
        .ret(1);
    out.push_maps(p.done(), one());
    let mut p = P::new();
    p.w(ld_map(R1, 0))
        .i(mov64_imm(R2, 8))
        .i(mov64_reg(R3, R10))
        .i(call(RESERVE))
        .i(jmp_imm(BPF_JEQ, R0, 0, 3));
    release(&mut p, SUBMIT, R0);
    p.ret(1);
    out.push_maps(p.done(), one());
    // Wrong map types.
    for m in [
        map(MapType::Array, 4, 8, 1),
        map(MapType::Hash, 4, 8, 4),
        map(MapType::PerfEventArray, 4, 4, 2),
    ] {
        out.push_maps(guarded(8, &[st(8, R6, 0, 1)], SUBMIT), vec![m]);
    }
    // Release helpers given other pointers.
    for setup in [
        vec![mov64_reg(R1, R10), alu64_imm(BPF_ADD, R1, -8)],
        vec![mov64_imm(R1, 0)],
        vec![],
        ld_map(R1, 0).to_vec(),
    ] {
        for helper in [SUBMIT, DISCARD] {
            let mut p = P::new();
            for i in &setup {
                p.i(*i);
            }
            p.i(mov64_imm(R2, 0)).i(call(helper)).ret(1);
            out.push_maps(p.done(), one());
        }
    }
    let mut p = P::new();
    p.i(st(4, R10, -4, 0))
        .w(ld_map(R1, 1))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -4))
        .i(call(1))
        .i(jmp_imm(BPF_JEQ, R0, 0, 3));
    release(&mut p, SUBMIT, R0);
    p.ret(1);
    out.push_maps(p.done(), vec![rb(), map(MapType::Array, 4, 8, 1)]);
    // Release flags: a pointer.
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.i(mov64_reg(R6, R0))
        .i(jmp_imm(BPF_JEQ, R6, 0, 3))
        .i(mov64_reg(R1, R6))
        .i(mov64_reg(R2, R10))
        .i(call(SUBMIT))
        .ret(1);
    out.push_maps(p.done(), one());
    // Null branch: its pointer is the scalar 0.
    for (op, null_use) in [(BPF_JNE, true), (BPF_JNE, false)] {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(jmp_imm(op, R0, 0, if null_use { 3 } else { 2 }));
        if null_use {
            p.i(st(8, R0, 0, 1)).ret(1);
        } else {
            p.ret(1);
        }
        p.i(mov64_reg(R6, R0));
        release(&mut p, SUBMIT, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Pointer comparison against a scalar other than zero.
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.i(mov64_reg(R6, R0))
        .i(jmp_imm(BPF_JEQ, R6, 0, 4))
        .i(jmp_imm(BPF_JEQ, R6, 5, 0));
    release(&mut p, SUBMIT, R6);
    p.ret(1);
    out.push_maps(p.done(), one());
    // Two reservations: both released, one leaked, released in the other order.
    for mode in 0..3 {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0));
        reserve(&mut p, 0, 16);
        p.i(mov64_reg(R7, R0));
        let rel = if mode == 1 { 3 } else { 6 };
        p.i(jmp_imm(BPF_JEQ, R6, 0, rel + 8))
            .i(jmp_imm(BPF_JEQ, R7, 0, rel + 2));
        if mode == 2 {
            release(&mut p, SUBMIT, R7);
            release(&mut p, DISCARD, R6);
        } else if mode == 1 {
            release(&mut p, SUBMIT, R6);
        } else {
            release(&mut p, SUBMIT, R6);
            release(&mut p, SUBMIT, R7);
        }
        p.ret(1);
        // R7 null: release r6, then exit.
        release(&mut p, DISCARD, R6);
        p.ret(1);
        // R6 null: r7 may be held.
        p.i(jmp_imm(BPF_JEQ, R7, 0, 3));
        release(&mut p, DISCARD, R7);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // The reserved memory as another helper's buffer.
    for (size, n) in [(16i32, 16i32), (16, 17), (8, 0)] {
        let body = [
            mov64_reg(R2, R6),
            mov64_imm(R3, n),
            mov64_imm(R4, 0),
            ld_map(R1, 0)[0],
            ld_map(R1, 0)[1],
            call(OUTPUT),
        ];
        out.push_maps(guarded(size, &body, SUBMIT), one());
    }
    // bpf_ringbuf_output with a stack buffer.
    for (init, size) in [(true, 8i32), (false, 8), (true, 16), (true, 0), (true, -1)] {
        let mut p = P::new();
        if init {
            p.i(st(8, R10, -8, 0));
        }
        p.w(ld_map(R1, 0))
            .i(mov64_reg(R2, R10))
            .i(alu64_imm(BPF_ADD, R2, -8))
            .i(mov64_imm(R3, size))
            .i(mov64_imm(R4, 0))
            .i(call(OUTPUT))
            .ret(1);
        out.push_maps(p.done(), one());
    }
    let mut p = P::new();
    p.i(st(8, R10, -8, 0))
        .i(ldx(4, R3, R1, 0))
        .i(alu64_imm(BPF_AND, R3, 7))
        .w(ld_map(R1, 0))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -8))
        .i(mov64_imm(R4, 0))
        .i(call(OUTPUT))
        .ret(1);
    out.push_maps(p.done(), one());
    let mut p = P::new();
    p.i(st(8, R10, -8, 0))
        .w(ld_map(R1, 0))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -8))
        .i(mov64_imm(R3, 8))
        .i(mov64_imm(R4, 0))
        .i(call(OUTPUT))
        .ret(1);
    out.push_maps(p.done(), vec![map(MapType::Array, 4, 8, 1)]);
    // bpf_ringbuf_query, and the result of a submit used as r0.
    for flag in [0i32, 1] {
        let mut p = P::new();
        p.w(ld_map(R1, 0))
            .i(mov64_imm(R2, flag))
            .i(call(QUERY))
            .i(alu64_imm(BPF_AND, R0, 1))
            .i(exit());
        out.push_maps(p.done(), one());
    }
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.i(jmp_imm(BPF_JEQ, R0, 0, 4));
    release(&mut p, SUBMIT, R0);
    p.i(exit());
    p.ret(1);
    out.push_maps(p.done(), one());
    // Reserve and submit in a loop (bounded).
    let mut p = P::new();
    p.i(mov64_imm(R8, 0));
    reserve(&mut p, 0, 8);
    p.i(mov64_reg(R6, R0))
        .i(jmp_imm(BPF_JEQ, R6, 0, 4))
        .i(stx(8, R6, R8, 0));
    release(&mut p, SUBMIT, R6);
    p.i(alu64_imm(BPF_ADD, R8, 1))
        .i(jmp_imm(BPF_JLT, R8, 4, -13))
        .ret(1);
    out.push_maps(p.done(), one());
    more(out);
}

/// Subprograms, other null checks, large sizes, the reservation as other helpers' memory,
/// atomics, and pointer operations on the reservation.
fn more(out: &mut Out) {
    let one = || vec![rb()];
    // A subprogram returns the maybe-null reservation; the caller checks and submits it.
    let mut p = P::new();
    p.i(call_local(7))
        .i(mov64_reg(R6, R0))
        .i(jmp_imm(BPF_JEQ, R6, 0, 3));
    release(&mut p, SUBMIT, R6);
    p.ret(1);
    reserve(&mut p, 0, 8);
    p.i(exit());
    out.push_maps(p.done(), one());
    // A subprogram reserves and returns without releasing: the main exit leaks.
    let mut p = P::new();
    p.i(call_local(2)).ret(1);
    reserve(&mut p, 0, 8);
    p.i(mov64_imm(R0, 0)).i(exit());
    out.push_maps(p.done(), one());
    // A subprogram releases the caller's reservation; the caller's copy is invalid after.
    for use_after in [false, true] {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, if use_after { 3 } else { 2 }))
            .i(mov64_reg(R1, R6))
            .i(call_local(if use_after { 3 } else { 2 }));
        if use_after {
            p.i(st(8, R6, 0, 1));
        }
        p.ret(1);
        p.i(mov64_imm(R2, 0))
            .i(call(SUBMIT))
            .i(mov64_imm(R0, 0))
            .i(exit());
        out.push_maps(p.done(), one());
    }
    // Null checks: against a register holding zero, in 32 bits, through a copy.
    for kind in 0..3 {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        match kind {
            0 => {
                p.i(mov64_imm(R1, 0)).i(jmp_reg(BPF_JEQ, R0, R1, 4));
            }
            1 => {
                p.i(jmp32_imm(BPF_JEQ, R0, 0, 4));
            }
            _ => {
                p.i(mov64_reg(R7, R0)).i(jmp_imm(BPF_JEQ, R7, 0, 4));
            }
        }
        p.i(st(8, R0, 0, 1));
        release(&mut p, SUBMIT, R0);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // Arithmetic on the maybe-null pointer; 32-bit arithmetic on the reservation.
    let mut p = P::new();
    reserve(&mut p, 0, 16);
    p.i(alu64_imm(BPF_ADD, R0, 8)).i(jmp_imm(BPF_JEQ, R0, 0, 3));
    release(&mut p, SUBMIT, R0);
    p.ret(1);
    out.push_maps(p.done(), one());
    out.push_maps(guarded(16, &[alu32_imm(BPF_ADD, R6, 8)], SUBMIT), one());
    out.push_maps(
        guarded(
            16,
            &[
                mov64_reg(R7, R6),
                alu64_imm(BPF_SUB, R7, 4),
                st(4, R7, 4, 1),
            ],
            SUBMIT,
        ),
        one(),
    );
    // Large and odd sizes.
    for (size, off) in [
        (4096i32, 4088i16),
        (4096, 4089),
        (0x7fffffff, 32760),
        (1 << 20, 32760),
        (-8, 0),
        (3, 0),
    ] {
        out.push_maps(guarded(size, &[st(8, R6, off, 1)], SUBMIT), one());
    }
    // Loads wider than the reservation, negative offsets.
    out.push_maps(guarded(4, &[ldx(8, R2, R6, 0)], DISCARD), one());
    out.push_maps(guarded(8, &[ldx(1, R2, R6, -1)], DISCARD), one());
    // The reservation as another helper's memory: bpf_getsockopt's buffer (written),
    // bpf_ringbuf_output's data with a bounded variable size, bpf_get_current_comm.
    for (n, size) in [(4i32, 8i32), (8, 8), (12, 8)] {
        let mut p = P::new();
        p.i(mov64_reg(R9, R1));
        reserve(&mut p, 0, size);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 9))
            .i(mov64_reg(R1, R9))
            .i(mov64_imm(R2, 6))
            .i(mov64_imm(R3, 13))
            .i(mov64_reg(R4, R6))
            .i(mov64_imm(R5, n))
            .i(call(57));
        release(&mut p, SUBMIT, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    for mask in [7i32, 15] {
        let mut p = P::new();
        p.i(ldx(4, R7, R1, 0)).i(alu64_imm(BPF_AND, R7, mask));
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 9))
            .w(ld_map(R1, 0))
            .i(mov64_reg(R2, R6))
            .i(mov64_reg(R3, R7))
            .i(mov64_imm(R4, 0))
            .i(call(OUTPUT));
        release(&mut p, SUBMIT, R6);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    out.push_maps(
        guarded(
            16,
            &[mov64_reg(R1, R6), mov64_imm(R2, 16), call(16)],
            SUBMIT,
        ),
        one(),
    );
    // Atomics on the reservation.
    out.push_maps(
        guarded(
            8,
            &[mov64_imm(R2, 1), atomic(8, R6, R2, 0, BPF_ADD as i32)],
            SUBMIT,
        ),
        one(),
    );
    out.push_maps(
        guarded(
            8,
            &[mov64_imm(R2, 1), atomic(4, R6, R2, 6, BPF_ADD as i32)],
            SUBMIT,
        ),
        one(),
    );
    // Flags: a constant, a scalar from the context; reserve's flags from the context.
    for flags in [1i32, 2] {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(jmp_imm(BPF_JEQ, R0, 0, 3))
            .i(mov64_reg(R1, R0))
            .i(mov64_imm(R2, flags))
            .i(call(DISCARD))
            .ret(1);
        out.push_maps(p.done(), one());
    }
    let mut p = P::new();
    p.i(ldx(4, R3, R1, 4))
        .w(ld_map(R1, 0))
        .i(mov64_imm(R2, 8))
        .i(call(RESERVE))
        .i(jmp_imm(BPF_JEQ, R0, 0, 3));
    release(&mut p, SUBMIT, R0);
    p.ret(1);
    out.push_maps(p.done(), one());
    // Two reservations compared with each other; one submitted through a copy of the other.
    for k in 0..2 {
        let mut p = P::new();
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R6, R0));
        reserve(&mut p, 0, 8);
        p.i(mov64_reg(R7, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 15))
            .i(jmp_imm(BPF_JEQ, R7, 0, 9));
        if k == 0 {
            p.i(jmp_reg(BPF_JGT, R6, R7, 0));
        } else {
            p.i(mov64_reg(R8, R7));
        }
        release(&mut p, SUBMIT, R6);
        release(&mut p, DISCARD, if k == 0 { R7 } else { R8 });
        p.ret(1);
        release(&mut p, DISCARD, R6);
        p.ret(1);
        // r6 null: r7 may be held.
        p.i(jmp_imm(BPF_JEQ, R7, 0, 3));
        release(&mut p, DISCARD, R7);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
    // The reservation returned as r0 without release, and after a re-reservation.
    out.push_maps(guarded(8, &[mov64_reg(R0, R6), exit()], SUBMIT), one());
    let mut p = P::new();
    reserve(&mut p, 0, 8);
    p.i(jmp_imm(BPF_JEQ, R0, 0, 3));
    release(&mut p, DISCARD, R0);
    reserve(&mut p, 0, 8);
    p.ret(1);
    out.push_maps(p.done(), one());
    // Two memory arguments of one helper holding references (bpf_snprintf_btf): the same
    // reservation twice, and two reservations.
    for two in [false, true] {
        let mut p = P::new();
        reserve(&mut p, 0, 32);
        p.i(mov64_reg(R6, R0));
        reserve(&mut p, 0, 32);
        p.i(mov64_reg(R7, R0))
            .i(jmp_imm(BPF_JEQ, R6, 0, 20))
            .i(jmp_imm(BPF_JEQ, R7, 0, 14))
            .i(mov64_reg(R1, R6))
            .i(mov64_imm(R2, 16))
            .i(mov64_reg(R3, if two { R7 } else { R6 }))
            .i(mov64_imm(R4, 16))
            .i(mov64_imm(R5, 0))
            .i(call(149));
        release(&mut p, SUBMIT, R6);
        release(&mut p, SUBMIT, R7);
        p.ret(1);
        release(&mut p, DISCARD, R6);
        p.ret(1);
        p.i(jmp_imm(BPF_JEQ, R7, 0, 3));
        release(&mut p, DISCARD, R7);
        p.ret(1);
        out.push_maps(p.done(), one());
    }
}
