//! The `dynptr` category: dynptrs on the stack (helpers 197-203). Local dynptrs over a map
//! value (`bpf_dynptr_from_mem`) and ring buffer dynptrs (`bpf_ringbuf_reserve_dynptr`) at
//! aligned, unaligned and out-of-frame offsets, then random sequences of what programs do
//! with them and what they must not: `bpf_dynptr_read` / `_write` (into and out of the stack,
//! over the dynptr itself), `bpf_dynptr_data` slices (null checked or not, accessed inside
//! and past their size, spilled, used after their dynptr is overwritten or released), loads
//! and stores over the dynptr's bytes, re-initialisation over a live dynptr, submit and
//! discard (twice, of a local dynptr, at the wrong offset, on one branch only), and leaks.

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

const LOOKUP: i32 = 1;
const FROM_MEM: i32 = 197;
const RESERVE: i32 = 198;
const SUBMIT: i32 = 199;
const DISCARD: i32 = 200;
const READ: i32 = 201;
const WRITE: i32 = 202;
const DATA: i32 = 203;

/// Map 0: an array of one value of `value_size` bytes; map 1: a ring buffer.
fn maps(value_size: u32) -> Vec<MapDef> {
    vec![
        map(MapType::Array, 4, value_size, 1),
        map(MapType::Ringbuf, 0, 0, 4096),
    ]
}

/// `r7 = ctx->op; r9 = &array[0]` (returns 1 when the lookup fails).
fn prologue(p: &mut P) {
    p.i(ldx(4, R7, R1, 0))
        .i(st(8, R10, -8, 0))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -8))
        .w(ld_map(R1, 0))
        .i(call(LOOKUP))
        .i(jmp_imm(BPF_JNE, R0, 0, 2))
        .ret(1)
        .i(mov64_reg(R9, R0));
}

/// `r{reg} = fp + off`.
fn fp(p: &mut P, reg: u8, off: i32) {
    p.i(mov64_reg(reg, R10)).i(alu64_imm(BPF_ADD, reg, off));
}

/// `bpf_dynptr_from_mem(r9 + value_off, size, flags, fp + at)`.
fn from_mem(p: &mut P, value_off: i32, size: i32, flags: i32, at: i32) {
    p.i(mov64_reg(R1, R9));
    if value_off != 0 {
        p.i(alu64_imm(BPF_ADD, R1, value_off));
    }
    p.i(mov64_imm(R2, size)).i(mov64_imm(R3, flags));
    fp(p, R4, at);
    p.i(call(FROM_MEM));
}

/// `bpf_ringbuf_reserve_dynptr(map[idx], size, flags, fp + at)`.
fn reserve(p: &mut P, idx: i32, size: i32, flags: i32, at: i32) {
    p.w(ld_map(R1, idx))
        .i(mov64_imm(R2, size))
        .i(mov64_imm(R3, flags));
    fp(p, R4, at);
    p.i(call(RESERVE));
}

/// `submit`/`discard(fp + at, 0)`.
fn release(p: &mut P, helper: i32, at: i32) {
    fp(p, R1, at);
    p.i(mov64_imm(R2, 0)).i(call(helper));
}

/// `bpf_dynptr_read(fp + dst, len, fp + at, off, flags)`.
fn read(p: &mut P, dst: i32, len: i32, at: i32, off: i32, flags: i32) {
    fp(p, R1, dst);
    p.i(mov64_imm(R2, len));
    fp(p, R3, at);
    p.i(mov64_imm(R4, off))
        .i(mov64_imm(R5, flags))
        .i(call(READ));
}

/// `bpf_dynptr_write(fp + at, off, src, len, flags)` with the source on the stack at
/// `fp + src` or, for `src == 0`, the map value.
fn write(p: &mut P, at: i32, off: i32, src: i32, len: i32, flags: i32) {
    fp(p, R1, at);
    p.i(mov64_imm(R2, off));
    if src == 0 {
        p.i(mov64_reg(R3, R9));
    } else {
        fp(p, R3, src);
    }
    p.i(mov64_imm(R4, len))
        .i(mov64_imm(R5, flags))
        .i(call(WRITE));
}

/// `r0 = bpf_dynptr_data(fp + at, off, len)`.
fn data(p: &mut P, at: i32, off: i32, len: i32) {
    fp(p, R1, at);
    p.i(mov64_imm(R2, off)).i(mov64_imm(R3, len)).i(call(DATA));
}

/// Dynptr offsets: mostly whole slot pairs inside the frame, sometimes not.
fn slot(rng: &mut Rng) -> i32 {
    if rng.chance(1, 12) {
        rng.pick(&[-8, -12, -20, -4, 0, 8, -512, -520, -504])
    } else {
        -8 * rng.range(2, 8) as i32
    }
}

/// An access width and an offset in (mostly) or around a slice of `len` bytes.
fn slice_access(rng: &mut Rng, len: i32) -> (u8, i16) {
    let w = rng.pick(&[1u8, 2, 4, 8]);
    let off = if rng.chance(3, 4) && len >= i32::from(w) {
        rng.range(0, i64::from(len - i32::from(w)) + 1) as i16
    } else {
        rng.range(-2, i64::from(len.max(1)) + 2) as i16
    };
    (w, off)
}

/// One random step on the dynptrs at `slots`; `rings` are the ring buffer dynptrs not yet
/// released (a step that releases one on every path removes it).
fn step(rng: &mut Rng, p: &mut P, slots: &[i32], rings: &mut Vec<i32>, spilled: &mut bool) {
    let at = if rng.chance(1, 10) {
        slot(rng)
    } else {
        rng.pick(slots)
    };
    let len = rng.pick(&[0, 1, 4, 8, 8, 16, 24]);
    let off = rng.pick(&[0, 0, 0, 4, 8, 15, -1]);
    let flags = if rng.chance(1, 10) { 1 } else { 0 };
    match rng.below(11) {
        0 => read(p, at - 8 * rng.range(1, 4) as i32, len, at, off, flags),
        1 => write(
            p,
            at,
            off,
            if rng.chance(1, 2) {
                0
            } else {
                at - 8 * rng.range(1, 4) as i32
            },
            len,
            flags,
        ),
        2 | 3 => {
            data(p, at, off, len);
            let checked = !rng.chance(1, 6);
            let (w, o) = slice_access(rng, len);
            let store = rng.chance(1, 2);
            let access = if store {
                st(w, R0, o, 3)
            } else {
                ldx(w, R2, R0, o)
            };
            if rng.chance(1, 4) {
                // Keep the slice (r8 and a spill at fp-120) for a later step.
                p.i(mov64_reg(R8, R0)).i(stx(8, R10, R0, -120));
                *spilled = true;
            } else {
                if checked {
                    p.i(jmp_imm(BPF_JEQ, R0, 0, 1));
                }
                p.i(access);
            }
        }
        4 => {
            // A load or store over the stack around the dynptrs.
            let o = (at + rng.range(-8, 16) as i32) as i16;
            let w = rng.pick(&[1u8, 2, 4, 8]);
            let o = o - o.rem_euclid(i16::from(w));
            if rng.chance(1, 2) {
                p.i(st(w, R10, o, 0));
            } else {
                p.i(ldx(w, R2, R10, o));
            }
        }
        5 => {
            // The kept slice, through the register or a fill.
            if *spilled && rng.chance(1, 2) {
                p.i(ldx(8, R8, R10, -120));
            }
            if *spilled {
                p.i(jmp_imm(BPF_JEQ, R8, 0, 1))
                    .i(st(rng.pick(&[1u8, 8]), R8, 0, 9));
            }
        }
        6 => {
            let at = match rings.len() {
                n if n > 0 && !rng.chance(1, 5) => rings.remove(rng.below(n as u64) as usize),
                _ => at,
            };
            release(p, rng.pick(&[SUBMIT, DISCARD]), at);
        }
        7 => {
            // On one branch only.
            let at = if rings.is_empty() || rng.chance(1, 5) {
                at
            } else {
                rng.pick(rings)
            };
            let mut q = P::new();
            release(&mut q, rng.pick(&[SUBMIT, DISCARD]), at);
            let body = q.done();
            p.i(jmp_imm(BPF_JEQ, R7, 4, body.len() as i16));
            for i in body {
                p.i(i);
            }
        }
        8 => from_mem(p, 0, rng.pick(&[8, 16]), 0, at),
        9 => reserve(p, rng.pick(&[1, 1, 1, 0]), 8, 0, at),
        _ => {
            // Pointer arithmetic on the slice, then an access.
            data(p, at, 0, 16);
            p.i(jmp_imm(BPF_JEQ, R0, 0, 2))
                .i(alu64_imm(BPF_ADD, R0, rng.pick(&[4, 8, 12, 16])))
                .i(ldx(4, R2, R0, 0));
        }
    }
}

/// One random program: a prologue, one or two dynptrs, a few steps, then (usually) the
/// releases the ring buffer dynptrs need.
fn random_program(rng: &mut Rng) -> (Vec<Insn>, Vec<MapDef>) {
    let value_size = rng.pick(&[16u32, 32, 64]);
    let mut p = P::new();
    prologue(&mut p);
    let n = 1 + rng.below(2) as usize;
    let mut slots = Vec::new();
    let mut rings = Vec::new();
    for k in 0..n {
        // The second dynptr below the first, overlapping it only sometimes.
        let at = match slots.first() {
            Some(&first) if k > 0 && !rng.chance(1, 6) => first - 16 * rng.range(1, 3) as i32,
            _ => slot(rng),
        };
        slots.push(at);
        if rng.chance(1, 2) {
            let size = if rng.chance(1, 10) {
                64
            } else {
                rng.pick(&[0, 8, 16, 16])
            };
            let off = if rng.chance(1, 6) { 8 } else { 0 };
            from_mem(&mut p, off, size, if rng.chance(1, 12) { 1 } else { 0 }, at);
        } else {
            let size = rng.pick(&[8, 16, 0, 100]);
            reserve(&mut p, 1, size, if rng.chance(1, 12) { 1 } else { 0 }, at);
            rings.push(at);
        }
    }
    let mut spilled = false;
    for _ in 0..rng.range(1, 5) {
        step(rng, &mut p, &slots, &mut rings, &mut spilled);
    }
    if !rng.chance(1, 8) {
        for at in rings {
            release(&mut p, rng.pick(&[SUBMIT, DISCARD]), at);
        }
    }
    if spilled && rng.chance(1, 2) {
        step(rng, &mut p, &slots, &mut Vec::new(), &mut spilled);
    }
    p.ret(1);
    (p.done(), maps(value_size))
}

/// Generates `dynptr`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "dynptr";
    // Each helper's argument registers of the wrong type.
    for (helper, args) in [
        (FROM_MEM, 4),
        (RESERVE, 4),
        (SUBMIT, 2),
        (DISCARD, 2),
        (READ, 5),
        (WRITE, 5),
        (DATA, 3),
    ] {
        for bad in 1..=args {
            let mut p = P::new();
            prologue(&mut p);
            from_mem(&mut p, 0, 8, 0, -32);
            reserve(&mut p, 1, 8, 0, -48);
            // Well-typed arguments first, then one replaced by a scalar or the context.
            let regs: Vec<u8> = (1..=args).map(|r| r as u8).collect();
            let mut q = P::new();
            for &r in &regs {
                let good = match (helper, r) {
                    (FROM_MEM, 1) => Some(mov64_reg(R1, R9)),
                    (RESERVE, 1) => None,
                    (SUBMIT | DISCARD | WRITE | DATA, 1) | (READ, 3) => {
                        fp(&mut q, r, -48);
                        None
                    }
                    (FROM_MEM | RESERVE, 4) | (READ, 1) => {
                        fp(&mut q, r, -64);
                        None
                    }
                    (WRITE, 3) => Some(mov64_reg(R3, R9)),
                    _ => Some(mov64_imm(r, 8)),
                };
                if let Some(i) = good {
                    q.i(i);
                }
            }
            for i in q.done() {
                p.i(i);
            }
            if helper == RESERVE {
                p.w(ld_map(R1, 1));
            }
            if rng.chance(1, 2) {
                p.i(mov64_imm(bad as u8, 0));
            } else {
                p.i(ldx(8, bad as u8, R10, -8));
            }
            p.i(call(helper));
            release(&mut p, DISCARD, -48);
            p.ret(1);
            out.push_maps(p.done(), maps(16));
        }
    }
    // Every placement of a local and a ring buffer dynptr.
    for at in [
        -8, -16, -24, -32, -12, -20, -4, 0, 8, -504, -512, -520, -496,
    ] {
        let mut p = P::new();
        prologue(&mut p);
        from_mem(&mut p, 0, 16, 0, at);
        p.ret(1);
        out.push_maps(p.done(), maps(16));
        let mut p = P::new();
        prologue(&mut p);
        reserve(&mut p, 1, 8, 0, at);
        release(&mut p, SUBMIT, at);
        p.ret(1);
        out.push_maps(p.done(), maps(16));
    }
    // from_mem over other memory, of other sizes, and reserve on the array.
    for size in [0, 1, 16, 17, 64, -1] {
        let mut p = P::new();
        prologue(&mut p);
        from_mem(&mut p, 0, size, 0, -32);
        p.ret(1);
        out.push_maps(p.done(), maps(16));
    }
    for src in [R10, R6] {
        let mut p = P::new();
        p.i(mov64_reg(R6, R1));
        prologue(&mut p);
        p.i(mov64_reg(R1, src));
        if src == R10 {
            p.i(alu64_imm(BPF_ADD, R1, -16)).i(st(8, R10, -16, 0));
        }
        p.i(mov64_imm(R2, 8)).i(mov64_imm(R3, 0));
        fp(&mut p, R4, -32);
        p.i(call(FROM_MEM)).ret(1);
        out.push_maps(p.done(), maps(16));
    }
    let mut p = P::new();
    prologue(&mut p);
    reserve(&mut p, 0, 8, 0, -32);
    release(&mut p, SUBMIT, -32);
    p.ret(1);
    out.push_maps(p.done(), maps(16));
    // Random programs.
    for _ in 0..1200 {
        let (insns, m) = random_program(rng);
        out.push_maps(insns, m);
    }
}
