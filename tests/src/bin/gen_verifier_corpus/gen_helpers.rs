//! Helper categories: availability of every helper id, argument types of the sock_ops helpers
//! (setsockopt/getsockopt buffers and sizes, cb_flags_set, cookies, header-option helpers,
//! perf output), and map helpers (keys, values, null checks, value access bounds).

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::opcode::*;
use sockops_vm::{MapDef, MapType};

/// Generates `helpers`, `setsockopt`, `maps`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    helpers(rng, out);
    setsockopt(rng, out);
    maps(rng, out);
}

fn helpers(rng: &mut Rng, out: &mut Out) {
    out.category = "helpers";
    for id in -1i32..216 {
        let mut p = P::new();
        p.i(mov64_imm(R2, 0))
            .i(mov64_imm(R3, 0))
            .i(mov64_imm(R4, 0))
            .i(mov64_imm(R5, 0))
            .i(call(id))
            .ret(1);
        out.push(p.done());
    }
    for id in [1000i32, 0x7fffffff, -2] {
        let mut p = P::new();
        p.i(call(id)).ret(1);
        out.push(p.done());
    }
    // Simple helpers with an uninit argument register / wrong arg types.
    for (id, r1_kind) in [
        (46, 0u8),
        (46, 1),
        (46, 2),
        (46, 3),
        (122, 0),
        (122, 1),
        (122, 2),
        (122, 3),
        (59, 0),
        (59, 1),
        (59, 2),
        (144, 0),
        (144, 2),
        (7, 3),
        (5, 3),
    ] {
        let mut p = P::new();
        match r1_kind {
            0 => {}
            1 => {
                p.i(mov64_imm(R1, 0));
            }
            2 => {
                p.i(mov64_reg(R1, R10));
            }
            _ => {
                p.i(alu64_imm(BPF_ADD, R1, 4));
            }
        }
        p.i(mov64_imm(R2, 0)).i(mov64_imm(R3, 0)).i(call(id)).ret(1);
        out.push(p.done());
    }
    // cb_flags_set with r2 uninit/pointer.
    let mut p = P::new();
    p.i(call(59)).ret(1);
    out.push(p.done());
    let mut p = P::new();
    p.i(mov64_reg(R2, R10)).i(call(59)).ret(1);
    out.push(p.done());
    // Helper return value used as r0 directly and masked.
    for id in [46i32, 59, 7, 5] {
        let mut p = P::new();
        p.i(mov64_imm(R2, 0)).i(call(id)).i(exit());
        out.push(p.done());
        let mut p = P::new();
        p.i(mov64_imm(R2, 0))
            .i(call(id))
            .i(alu64_imm(BPF_AND, R0, 1))
            .i(exit());
        out.push(p.done());
    }
    // trace_printk with a stack string.
    for (len, init) in [
        (4i32, true),
        (8, true),
        (8, false),
        (0, true),
        (9, true),
        (-1, true),
    ] {
        let mut p = P::new();
        if init {
            p.i(st(8, R10, -8, 0x0a6968));
        }
        p.i(mov64_reg(R1, R10))
            .i(alu64_imm(BPF_ADD, R1, -8))
            .i(mov64_imm(R2, len))
            .i(call(6))
            .ret(1);
        out.push(p.done());
    }
    // Header-option helpers.
    for (id, len, buf_bytes) in [
        (142i32, 8i32, 8i16),
        (142, 16, 8),
        (142, 0, 8),
        (143, 4, 8),
        (143, 8, 8),
        (143, 12, 8),
        (144, 4, 0),
        (142, 8, 0),
        (143, 4, 0),
    ] {
        let mut p = P::new();
        if buf_bytes > 0 {
            p.i(st(8, R10, -8, 0x0204fe));
            p.i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, -buf_bytes as i32));
        } else {
            p.i(mov64_imm(R2, 4));
        }
        p.i(mov64_imm(R3, len))
            .i(mov64_imm(R4, 0))
            .i(call(id))
            .ret(1);
        out.push(p.done());
    }
    // perf_event_output with a perf map and a stack buffer.
    let perf = map(MapType::PerfEventArray, 4, 4, 4);
    for (size, map_ok) in [(8i32, true), (16, true), (0, true), (8, false)] {
        let mut p = P::new();
        p.i(st(8, R10, -8, 1));
        if map_ok {
            p.w(ld_map(R2, 0));
        } else {
            p.i(mov64_imm(R2, 0));
        }
        p.w(ld_imm64(R3, 0xffff_ffff))
            .i(mov64_reg(R4, R10))
            .i(alu64_imm(BPF_ADD, R4, -8))
            .i(mov64_imm(R5, size))
            .i(call(25))
            .ret(1);
        out.push_maps(p.done(), vec![perf]);
    }
    let _ = rng;
}

fn setsockopt(rng: &mut Rng, out: &mut Out) {
    out.category = "setsockopt";
    for id in [49i32, 57] {
        for _ in 0..45 {
            let buf = rng.pick(&[4i16, 8, 16, 32, 64]);
            let init = rng.pick(&[0i16, 4, 8, 16, 64]).min(buf);
            let len_kind = rng.below(7);
            let mut p = P::new();
            p.i(mov64_reg(R6, R1));
            for k in (0..init / 4).map(|k| -buf + k * 4) {
                p.i(st(4, R10, k, 1));
            }
            p.i(mov64_reg(R1, R6))
                .i(mov64_imm(R2, 6))
                .i(mov64_imm(R3, 1))
                .i(mov64_reg(R4, R10))
                .i(alu64_imm(BPF_ADD, R4, -(buf as i32)));
            match len_kind {
                0 => p.i(mov64_imm(R5, buf as i32)),
                1 => p.i(mov64_imm(R5, buf as i32 + rng.range(1, 8) as i32)),
                2 => p.i(mov64_imm(R5, 0)),
                3 => p.i(mov64_imm(R5, -1)),
                4 => p.i(ldx(4, R5, R1, 0)),
                5 => p
                    .i(ldx(4, R5, R1, 0))
                    .i(alu64_imm(BPF_AND, R5, (buf as i32) - 1)),
                _ => p
                    .i(ldx(4, R5, R1, 0))
                    .i(jmp_imm(BPF_JGT, R5, buf as i32, 3))
                    .i(jmp_imm(BPF_JEQ, R5, 0, 2)),
            };
            p.i(call(id)).ret(1);
            out.push(p.done());
        }
        // Buffer is not a stack pointer: ctx, scalar, map value, null.
        for kind in 0..4 {
            let mut p = P::new();
            let mut maps = Vec::new();
            p.i(mov64_imm(R2, 6)).i(mov64_imm(R3, 1));
            match kind {
                0 => p.i(mov64_reg(R4, R1)),
                1 => p.i(mov64_imm(R4, 0)),
                2 => {
                    maps.push(map(MapType::Array, 4, 16, 1));
                    p.w(ld_map_value(R4, 0, 0))
                }
                _ => p.i(mov64_imm(R4, 4)),
            };
            p.i(mov64_imm(R5, 4)).i(call(id)).ret(1);
            out.push_maps(p.done(), maps);
        }
        // optval in a map value after lookup.
        for (voff, len) in [(0i32, 4i32), (4, 4), (12, 4), (12, 8), (0, 16), (0, 17)] {
            let mut p = P::new();
            p.i(mov64_reg(R6, R1))
                .i(st(4, R10, -4, 0))
                .w(ld_map(R1, 0))
                .i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, -4))
                .i(call(1))
                .i(jmp_imm(BPF_JEQ, R0, 0, 7))
                .i(mov64_reg(R1, R6))
                .i(mov64_imm(R2, 6))
                .i(mov64_imm(R3, 1))
                .i(mov64_reg(R4, R0))
                .i(alu64_imm(BPF_ADD, R4, voff))
                .i(mov64_imm(R5, len))
                .i(call(id))
                .ret(1);
            out.push_maps(p.done(), vec![map(MapType::Hash, 4, 16, 4)]);
        }
    }
}

fn lookup_prefix(p: &mut P, key_off: i16, key_init: bool) {
    if key_init {
        p.i(st(8, R10, -8, 0)).i(st(8, R10, -16, 0));
    }
    p.w(ld_map(R1, 0))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, key_off as i32));
}

fn maps(rng: &mut Rng, out: &mut Out) {
    out.category = "maps";
    let defs: [MapDef; 6] = [
        map(MapType::Array, 4, 8, 4),
        map(MapType::Hash, 4, 16, 8),
        map(MapType::Hash, 8, 8, 8),
        map(MapType::PercpuArray, 4, 32, 2),
        map(MapType::LruHash, 4, 8, 8),
        map(MapType::Array, 4, 48, 1),
    ];
    // Lookup, then access value at offsets with / without null check.
    for _ in 0..120 {
        let d = rng.pick(&defs);
        let mut p = P::new();
        let key_off = rng.pick(&[-8i16, -8, -16, -4, -2, 0]);
        lookup_prefix(&mut p, key_off, rng.chance(5, 6));
        p.i(call(1));
        let null_check = rng.below(4);
        match null_check {
            0 => {}
            1 => {
                p.i(jmp_imm(BPF_JEQ, R0, 0, 2));
            }
            2 => {
                p.i(jmp_imm(BPF_JNE, R0, 0, 1)).ret(1);
            }
            _ => {
                p.i(jmp_imm(BPF_JEQ, R0, 0, 2));
            }
        }
        let size = rng.pick(&[1u8, 4, 8]);
        let off = rng.pick(&[0i16, 4, 8, 12, 15, 16, 24, 31, 32, 40, 44, 48, -1, -8]);
        if rng.chance(1, 2) {
            p.i(ldx(size, R1, R0, off));
        } else {
            p.i(st(size, R0, off, 1));
        }
        if null_check == 1 {
            p.i(ja(0));
        }
        p.ret(1);
        out.push_maps(p.done(), vec![d]);
    }
    // Constant vs unknown key for arrays (non-null when the key is a known in-range constant).
    for key in [0i32, 3, 4, 100] {
        for known in [true, false] {
            let mut p = P::new();
            if known {
                p.i(st(4, R10, -4, key));
            } else {
                p.i(ldx(4, R2, R1, 0)).i(stx(4, R10, R2, -4));
            }
            p.w(ld_map(R1, 0))
                .i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, -4))
                .i(call(1))
                .i(ldx(8, R0, R0, 0))
                .ret(1);
            out.push_maps(p.done(), vec![map(MapType::Array, 4, 8, 4)]);
        }
    }
    // Update / delete with key and value of various sizes.
    for _ in 0..50 {
        let d = rng.pick(&defs);
        let buf = rng.pick(&[8i16, 16, 32, 48]);
        let init = rng.pick(&[0i16, 8, 16, 32, 48]).min(buf);
        let mut p = P::new();
        for k in (0..init / 8).map(|k| -buf + k * 8) {
            p.i(st(8, R10, k, 0));
        }
        p.w(ld_map(R1, 0))
            .i(mov64_reg(R2, R10))
            .i(alu64_imm(BPF_ADD, R2, -(buf as i32)));
        if rng.chance(1, 2) {
            p.i(mov64_reg(R3, R10))
                .i(alu64_imm(BPF_ADD, R3, -(buf as i32)))
                .i(mov64_imm(R4, 0))
                .i(call(2));
        } else {
            p.i(call(3));
        }
        p.ret(1);
        out.push_maps(p.done(), vec![d]);
    }
    // Wrong argument types: map pointer not a map, key not a pointer, map value as key.
    let d = map(MapType::Hash, 4, 8, 8);
    for kind in 0..6 {
        let mut p = P::new();
        p.i(st(8, R10, -8, 0));
        match kind {
            0 => p
                .i(mov64_imm(R1, 0))
                .i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, -8)),
            1 => p.w(ld_map(R1, 0)).i(mov64_imm(R2, 0)),
            2 => p.w(ld_map(R1, 0)).i(mov64_reg(R2, R1)),
            3 => p.w(ld_map(R1, 0)).w(ld_map_value(R2, 1, 0)),
            4 => p.w(ld_map(R1, 0)).i(ldx(8, R2, R1, 0)),
            _ => p
                .w(ld_map(R1, 0))
                .i(alu64_imm(BPF_ADD, R1, 8))
                .i(mov64_reg(R2, R10))
                .i(alu64_imm(BPF_ADD, R2, -8)),
        };
        p.i(call(1)).ret(1);
        out.push_maps(p.done(), vec![d, map(MapType::Array, 4, 8, 1)]);
    }
    // Map value direct (LD_IMM64 src 2) accesses.
    for (voff, size, aoff) in [
        (0i32, 8u8, 0i16),
        (8, 8, 0),
        (44, 4, 0),
        (44, 8, 0),
        (48, 1, 0),
        (0, 1, -1),
        (4, 4, 40),
    ] {
        for write in [false, true] {
            let mut p = P::new();
            p.w(ld_map_value(R2, 0, voff));
            if write {
                p.i(st(size, R2, aoff, 1));
            } else {
                p.i(ldx(size, R0, R2, aoff));
            }
            p.ret(1);
            out.push_maps(p.done(), vec![map(MapType::Array, 4, 48, 1)]);
        }
    }
    // Map index out of range, map value on a hash map.
    let mut p = P::new();
    p.w(ld_map(R1, 3)).ret(1);
    out.push_maps(p.done(), vec![d]);
    let mut p = P::new();
    p.w(ld_map_value(R1, 0, 0)).ret(1);
    out.push_maps(p.done(), vec![d]);
    // Sockmap update from sock_ops via map_update_elem (forbidden) vs sock_map_update.
    let sm = map(MapType::Sockmap, 4, 4, 2);
    let mut p = P::new();
    p.i(st(8, R10, -8, 0))
        .i(st(8, R10, -16, 0))
        .w(ld_map(R1, 0))
        .i(mov64_reg(R2, R10))
        .i(alu64_imm(BPF_ADD, R2, -8))
        .i(mov64_reg(R3, R10))
        .i(alu64_imm(BPF_ADD, R3, -16))
        .i(mov64_imm(R4, 0))
        .i(call(2))
        .ret(1);
    out.push_maps(p.done(), vec![sm]);
    for (id, key_init) in [(53i32, true), (53, false), (70, true)] {
        let mut p = P::new();
        if key_init {
            p.i(st(4, R10, -4, 0));
        }
        p.w(ld_map(R2, 0))
            .i(mov64_reg(R3, R10))
            .i(alu64_imm(BPF_ADD, R3, -4))
            .i(mov64_imm(R4, 0))
            .i(call(id))
            .ret(1);
        let m = if id == 70 {
            map(MapType::Sockhash, 4, 4, 2)
        } else {
            sm
        };
        out.push_maps(p.done(), vec![m]);
    }
    // Queue push/pop/peek, ringbuf output.
    let q = map(MapType::Queue, 0, 8, 4);
    for id in [87i32, 88, 89] {
        let mut p = P::new();
        p.i(st(8, R10, -8, 0))
            .w(ld_map(R1, 0))
            .i(mov64_reg(R2, R10))
            .i(alu64_imm(BPF_ADD, R2, -8));
        if id == 87 {
            p.i(mov64_imm(R3, 0));
        }
        p.i(call(id)).ret(1);
        out.push_maps(p.done(), vec![q]);
    }
    let rb = map(MapType::Ringbuf, 0, 0, 4096);
    for size in [8i32, 0, 16] {
        let mut p = P::new();
        p.i(st(8, R10, -8, 0))
            .w(ld_map(R1, 0))
            .i(mov64_reg(R2, R10))
            .i(alu64_imm(BPF_ADD, R2, -8))
            .i(mov64_imm(R3, size))
            .i(mov64_imm(R4, 0))
            .i(call(130))
            .ret(1);
        out.push_maps(p.done(), vec![rb]);
    }
    // Map value pointer arithmetic with bounds checks.
    for (mask, check, size) in [
        (7i32, 0i32, 8u8),
        (0xf, 0, 8),
        (0x1f, 0, 1),
        (0xff, 40, 8),
        (0xff, 41, 8),
        (-1, 40, 8),
    ] {
        let mut p = P::new();
        p.i(mov64_reg(R6, R1));
        lookup_prefix(&mut p, -8, true);
        p.i(call(1)).i(jmp_imm(BPF_JEQ, R0, 0, 6));
        p.i(ldx(4, R2, R6, 0)).i(alu64_imm(BPF_AND, R2, mask));
        if check > 0 {
            p.i(jmp_imm(BPF_JGT, R2, check, 2));
        } else {
            p.i(ja(0));
        }
        p.i(alu64_reg(BPF_ADD, R0, R2)).i(ldx(size, R1, R0, 0));
        p.ret(1);
        out.push_maps(p.done(), vec![map(MapType::Array, 4, 48, 1)]);
    }
}
