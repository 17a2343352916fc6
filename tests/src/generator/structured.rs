//! The structured generators of the live-kernel differential test, driven by any
//! [`Source`]: each aims at one family of path-sensitive rules (stack walks, map-value
//! pointer arithmetic, mixed 32-bit/spill/atomic/helper code, bpf-to-bpf calls, packet
//! pointers, bounds arithmetic), plus single random instructions that mostly decode.

use sockops_vm::Insn;

use super::Source;

/// Opcodes that decode (so random programs get past the first instruction often).
pub const OPCODES: &[u8] = &[
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x37, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x77, 0x87, 0x97, 0xa7, 0xaf,
    0xb7, 0xbf, 0xc7, 0xd7, 0x04, 0x0c, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0xa4,
    0xb4, 0xbc, 0xc4, 0xd4, 0xdc, 0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x45, 0x55, 0x5d, 0x65, 0x6d,
    0x75, 0xa5, 0xad, 0xb5, 0xc5, 0xd5, 0x16, 0x1e, 0x26, 0x56, 0x06, 0x85, 0x95, 0x61, 0x69, 0x71,
    0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18,
];

pub fn random_insn<S: Source>(rng: &mut S) -> Insn {
    let opcode = if rng.below(10) == 0 {
        rng.below(256) as u8
    } else {
        OPCODES[rng.below(OPCODES.len() as u64) as usize]
    };
    let reg = |rng: &mut S| {
        if rng.below(20) == 0 {
            rng.below(16) as u8
        } else {
            rng.below(11) as u8
        }
    };
    let off = match rng.below(4) {
        0 => rng.below(8) as i16 - 4,
        1 => -(rng.below(64) as i16) * 8,
        2 => rng.below(232) as i16,
        _ => rng.next() as i16,
    };
    let imm = match rng.below(4) {
        0 => rng.below(8) as i32,
        1 => [0, 1, 7, 46, 49, 57, 59, 96, 144][rng.below(9) as usize],
        2 => rng.below(0x10000) as i32 - 0x8000,
        _ => rng.next() as i32,
    };
    Insn::new(opcode, reg(rng), reg(rng), off, imm)
}

pub fn ins(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(op, dst, src, off, imm)
}

pub fn pick<S: Source, T: Copy>(rng: &mut S, xs: &[T]) -> T {
    xs[rng.below(xs.len() as u64) as usize]
}

/// A block of the structured generator: instructions, or a forward conditional jump over the
/// next `skip` instructions (resolved once the program is laid out).
pub enum Piece {
    /// One instruction.
    Insn(Insn),
    /// A forward conditional jump comparing a register with an immediate.
    Skip {
        /// Jump opcode (immediate source).
        op: u8,
        /// The register compared.
        reg: u8,
        /// The immediate.
        imm: i32,
        /// Instructions to skip (clamped to the end of the body).
        skip: i16,
    },
    /// A forward conditional jump comparing two registers.
    SkipReg {
        /// Jump opcode (register source).
        op: u8,
        /// First operand.
        reg: u8,
        /// Second operand.
        src: u8,
        /// Instructions to skip (clamped to the end of the body).
        skip: i16,
    },
}

/// Lays out pieces: a skip never jumps past the end of the body.
pub fn lay_out(prologue: Vec<Insn>, body: Vec<Piece>) -> Vec<Insn> {
    let n = body.len();
    let mut out = prologue;
    for (k, p) in body.into_iter().enumerate() {
        match p {
            Piece::Insn(i) => out.push(i),
            Piece::Skip { op, reg, imm, skip } => {
                let skip = skip.min((n - k - 1) as i16);
                out.push(ins(op, reg, 0, skip, imm));
            }
            Piece::SkipReg { op, reg, src, skip } => {
                let skip = skip.min((n - k - 1) as i16);
                out.push(ins(op, reg, src, skip, 0));
            }
        }
    }
    out.push(ins(0xb7, 0, 0, 0, 1));
    out.push(ins(0x95, 0, 0, 0, 0));
    out
}

pub const COND_IMM: [u8; 9] = [0x15, 0x25, 0x35, 0xa5, 0xb5, 0x55, 0x65, 0xc5, 0xd5];
pub const SCALARS: [u8; 6] = [2, 3, 4, 5, 7, 8];

/// Stack programs: r9 walks fp-32..fp-1 by constants and registers, inside and outside
/// bounded loops; r6 = ctx.
pub fn stack_program<S: Source>(rng: &mut S) -> Vec<Insn> {
    let mut pro = vec![
        ins(0xbf, 6, 1, 0, 0),
        ins(0x61, 2, 6, 0, 0),
        ins(0x61, 3, 6, 4, 0),
    ];
    for k in 1..=4 {
        pro.push(ins(0x7a, 10, 0, -8 * k, 0));
    }
    for r in [4, 5, 7, 8] {
        pro.push(ins(0xb7, r, 0, 0, 0));
    }
    pro.push(ins(0xbf, 9, 10, 0, 0));
    pro.push(ins(0x07, 9, 0, 0, -32));
    let mut body = Vec::new();
    for _ in 0..3 + rng.below(12) {
        let a = pick(rng, &SCALARS);
        let b = pick(rng, &SCALARS);
        let i = |op, d, s, off, imm| Piece::Insn(ins(op, d, s, off, imm));
        match rng.below(13) {
            0 => body.push(i(
                0xb7,
                a,
                0,
                0,
                pick(rng, &[0, 1, 3, 8, 16, 24, -8, 31, 32, 7]),
            )),
            1 => body.push(i(0x57, a, 0, 0, pick(rng, &[7, 15, 24, 31, 0xf8, 3]))),
            2 => body.push(i(0x61, a, 6, pick(rng, &[0, 4, 8, 12, 16]), 0)),
            3 => body.push(Piece::Skip {
                op: pick(rng, &COND_IMM),
                reg: a,
                imm: pick(rng, &[0, 1, 2, 8, 16, 24]),
                skip: 1 + rng.below(3) as i16,
            }),
            4 => {
                body.push(i(0xbf, 9, 10, 0, 0));
                body.push(i(0x07, 9, 0, 0, pick(rng, &[-32, -24, -16, -8])));
            }
            5 => body.push(i(pick(rng, &[0x0f, 0x1f]), 9, a, 0, 0)),
            6 => body.push(i(pick(rng, &[0x0f, 0x1f, 0x0c, 0x1c]), a, b, 0, 0)),
            7 => body.push(i(0x79, a, 9, pick(rng, &[0, -8, 8]), 0)),
            8 => body.push(i(0x7b, 9, a, pick(rng, &[0, -8, 8]), 0)),
            9 => body.push(i(0x67, a, 0, 0, 3)),
            10 => body.push(i(pick(rng, &[0xbf, 0x0f]), a, 9, 0, 0)),
            11 => {
                // for (a = 0; a < k; a++) r1 = *(u64 *)(fp - 32 + a * 8)
                let k = pick(rng, &[2, 3, 4]);
                body.push(i(0xb7, a, 0, 0, 0));
                let walk = [
                    ins(0xbf, 0, a, 0, 0),
                    ins(0x67, 0, 0, 0, 3),
                    ins(0xbf, 9, 10, 0, 0),
                    ins(0x07, 9, 0, 0, -32),
                    ins(0x0f, 9, 0, 0, 0),
                    ins(0x79, 1, 9, 0, 0),
                    ins(0x07, a, 0, 0, 1),
                ];
                for w in walk {
                    body.push(Piece::Insn(w));
                }
                body.push(i(0xa5, a, 0, -(walk.len() as i16 + 1), k));
            }
            _ => body.push(i(0x07, a, 0, 0, pick(rng, &[1, -1, 8, -8]))),
        }
    }
    lay_out(pro, body)
}

/// Map-value programs: r9 = a looked-up array value (null-checked), moved by constants and
/// bounded or unbounded registers, then loaded from and stored to.
pub fn map_program<S: Source>(rng: &mut S) -> Vec<Insn> {
    let pro = vec![
        ins(0xbf, 6, 1, 0, 0),
        ins(0x7a, 10, 0, -8, 0),
        ins(0xbf, 2, 10, 0, 0),
        ins(0x07, 2, 0, 0, -8),
        ins(0x18, 1, 1, 0, 0),
        ins(0, 0, 0, 0, 0),
        ins(0x85, 0, 0, 0, 1),
        ins(0x55, 0, 0, 2, 0),
        ins(0xb7, 0, 0, 0, 1),
        ins(0x95, 0, 0, 0, 0),
        ins(0xbf, 9, 0, 0, 0),
        ins(0x61, 2, 6, 0, 0),
        ins(0x61, 3, 6, 4, 0),
        ins(0xb7, 4, 0, 0, 0),
        ins(0xb7, 5, 0, 0, 0),
        ins(0xb7, 7, 0, 0, 0),
        ins(0xb7, 8, 0, 0, 0),
    ];
    let mut body = Vec::new();
    for _ in 0..3 + rng.below(10) {
        let a = pick(rng, &SCALARS);
        let b = pick(rng, &SCALARS);
        let i = |op, d, s, off, imm| Piece::Insn(ins(op, d, s, off, imm));
        match rng.below(12) {
            0 => body.push(i(
                0xb7,
                a,
                0,
                0,
                pick(rng, &[0, 1, 3, 4, 8, 12, 16, -4, -8, 7]),
            )),
            1 => body.push(i(0x57, a, 0, 0, pick(rng, &[7, 15, 3, 12]))),
            2 => body.push(i(0x61, a, 6, pick(rng, &[0, 4, 8]), 0)),
            3 => body.push(Piece::Skip {
                op: pick(rng, &COND_IMM),
                reg: a,
                imm: pick(rng, &[0, 1, 2, 4, 8, 12, 16]),
                skip: 1 + rng.below(3) as i16,
            }),
            4 => body.push(i(0xbf, 9, 0, 0, 0)),
            5 => body.push(i(pick(rng, &[0x0f, 0x1f]), 9, a, 0, 0)),
            6 => body.push(i(pick(rng, &[0x0f, 0x1f]), a, b, 0, 0)),
            7 => body.push(i(
                pick(rng, &[0x61, 0x79, 0x71]),
                a,
                9,
                pick(rng, &[0, 4, 8, -4]),
                0,
            )),
            8 => body.push(i(pick(rng, &[0x63, 0x7b]), 9, a, pick(rng, &[0, 4, 8]), 0)),
            9 => body.push(i(0x07, 9, 0, 0, pick(rng, &[4, 8, -4, 16, 12]))),
            10 => body.push(i(0x87, a, 0, 0, 0)),
            _ => body.push(i(0x07, a, 0, 0, pick(rng, &[1, -1, 4, -4]))),
        }
    }
    lay_out(pro, body)
}

/// Mixed programs: 32-bit ALU and jumps, sign extension, byte swaps, spills and fills of
/// pointers and scalars at every size, atomics on the stack, helper calls with stack
/// arguments, and map lookups whose value pointer is spilled and reloaded.
pub fn mixed_program<S: Source>(rng: &mut S) -> Vec<Insn> {
    let mut pro = vec![
        ins(0xbf, 6, 1, 0, 0),
        ins(0x61, 2, 6, 0, 0),
        ins(0x61, 3, 6, 4, 0),
        ins(0x7a, 10, 0, -8, 0),
        ins(0x7a, 10, 0, -16, 0),
    ];
    for r in [4, 5, 7, 8] {
        pro.push(ins(0xb7, r, 0, 0, 0));
    }
    pro.push(ins(0xbf, 9, 10, 0, 0));
    pro.push(ins(0x07, 9, 0, 0, -16));
    let mut body = Vec::new();
    for _ in 0..3 + rng.below(14) {
        let a = pick(rng, &SCALARS);
        let b = pick(rng, &SCALARS);
        let i = |op, d, s, off, imm| Piece::Insn(ins(op, d, s, off, imm));
        let slot = pick(rng, &[-8i16, -16, -24, -4, -12, -2, -1]);
        match rng.below(16) {
            0 => body.push(i(
                pick(rng, &[0x04, 0x14, 0x24, 0x54, 0x64, 0x74, 0xc4, 0xb4, 0x84]),
                a,
                0,
                0,
                pick(rng, &[0, 1, 3, 8, 31, -1, 0xff]),
            )),
            1 => body.push(i(pick(rng, &[0x0c, 0x1c, 0x5c, 0xac, 0xbc]), a, b, 0, 0)),
            // movsx r, w: sign extension of 8/16/32 bits
            2 => body.push(i(pick(rng, &[0xbf, 0xbc]), a, b, pick(rng, &[8, 16]), 0)),
            3 => body.push(i(0xd4, a, 0, 0, pick(rng, &[16, 32, 64]))),
            4 => body.push(Piece::Skip {
                op: pick(rng, &[0x16, 0x26, 0x56, 0xa6, 0xb6, 0xc6, 0x66]),
                reg: a,
                imm: pick(rng, &[0, 1, 8, -1, 0x7fff_ffff]),
                skip: 1 + rng.below(3) as i16,
            }),
            // spill / fill a scalar at any size
            5 => body.push(i(pick(rng, &[0x7b, 0x63, 0x6b, 0x73]), 10, a, slot, 0)),
            6 => body.push(i(pick(rng, &[0x79, 0x61, 0x69, 0x71]), a, 10, slot, 0)),
            // spill / fill the stack pointer r9 or the ctx pointer
            7 => body.push(i(
                pick(rng, &[0x7b, 0x63]),
                10,
                pick(rng, &[9, 6]),
                pick(rng, &[-8i16, -16, -24]),
                0,
            )),
            8 => body.push(i(
                pick(rng, &[0x79, 0x61]),
                pick(rng, &[9, a]),
                10,
                pick(rng, &[-8i16, -16, -24]),
                0,
            )),
            // loads through r9 (may be a filled pointer or a scalar)
            9 => body.push(i(0x79, a, 9, pick(rng, &[0, -8, 8]), 0)),
            // atomics on the stack (store-release included), or a load-acquire from it
            10 if rng.below(3) == 0 => body.push(i(
                pick(rng, &[0xdb, 0xc3, 0xcb, 0xd3]),
                a,
                10,
                pick(rng, &[-8i16, -16, -4]),
                0x100,
            )),
            10 => body.push(i(
                pick(rng, &[0xdb, 0xc3]),
                10,
                a,
                pick(rng, &[-8i16, -16]),
                pick(rng, &[0, 1, 0x40, 0x50, 0xa0, 0xe1, 0xf1, 0x110]),
            )),
            // r0 = bpf_get_prandom_u32(); r_a = r0
            11 => {
                body.push(i(0x85, 0, 0, 0, 7));
                body.push(i(0xbf, a, 0, 0, 0));
            }
            // bpf_map_lookup_elem(map, fp-8): spill the value pointer, reload it, load
            12 => {
                body.push(i(0xbf, 2, 10, 0, 0));
                body.push(i(0x07, 2, 0, 0, -8));
                body.push(i(0x18, 1, 1, 0, 0));
                body.push(i(0, 0, 0, 0, 0));
                body.push(i(0x85, 0, 0, 0, 1));
                body.push(i(0x7b, 10, 0, -24, 0));
                body.push(i(0x79, 9, 10, -24, 0));
                body.push(Piece::Skip {
                    op: pick(rng, &[0x15, 0x55]),
                    reg: 9,
                    imm: 0,
                    skip: 1,
                });
                body.push(i(0x61, a, 9, pick(rng, &[0, 4, 8]), 0));
            }
            13 => body.push(i(pick(rng, &[0x0f, 0x1f]), 9, a, 0, 0)),
            14 => body.push(i(0x57, a, 0, 0, pick(rng, &[7, 15, 0xf8]))),
            _ => body.push(i(0x07, 9, 0, 0, pick(rng, &[-8, 8, -4, 4]))),
        }
    }
    lay_out(pro, body)
}

/// Programs with a bpf-to-bpf call: the caller passes a pointer to its stack and a scalar;
/// the callee reads and writes through the pointer, branches and loops on the scalar and
/// returns a value the caller uses as an offset.
pub fn call_program<S: Source>(rng: &mut S) -> Vec<Insn> {
    let mut callee: Vec<Insn> = Vec::new();
    for _ in 0..2 + rng.below(8) {
        let a = pick(rng, &[2u8, 3, 4, 5]);
        let off = pick(rng, &[0i16, -8, 8, 4, -4]);
        match rng.below(9) {
            0 => callee.push(ins(0x7b, 1, a, off, 0)),
            1 => callee.push(ins(pick(rng, &[0x79, 0x61]), a, 1, off, 0)),
            2 => callee.push(ins(0x57, a, 0, 0, pick(rng, &[7, 8, 15, 24]))),
            3 => callee.push(ins(0x07, 1, 0, 0, pick(rng, &[-8, 8, 0]))),
            4 => callee.push(ins(0xb7, a, 0, 0, pick(rng, &[0, 1, 8, 16, -8]))),
            5 => callee.push(ins(
                pick(rng, &[0x25, 0xa5, 0x15, 0x55]),
                a,
                0,
                1,
                pick(rng, &[0, 1, 8, 16]),
            )),
            6 => callee.push(ins(0x0f, 1, a, 0, 0)),
            7 => callee.push(ins(0xbf, 0, a, 0, 0)),
            _ => {
                // for (a = 0; a < k; a++) *(u64 *)(r1 + 0) += 1
                let k = pick(rng, &[1, 2, 3]);
                callee.push(ins(0xb7, a, 0, 0, 0));
                callee.push(ins(0x79, 0, 1, 0, 0));
                callee.push(ins(0x07, 0, 0, 0, 1));
                callee.push(ins(0x7b, 1, 0, 0, 0));
                callee.push(ins(0x07, a, 0, 0, 1));
                callee.push(ins(0xa5, a, 0, -5, k));
            }
        }
    }
    // The last jump of the callee must not leave it: clamp forward skips.
    let n = callee.len();
    for (k, i) in callee.iter_mut().enumerate() {
        if matches!(i.opcode, 0x25 | 0xa5 | 0x15 | 0x55) && i.off > 0 {
            i.off = i.off.min((n - k) as i16);
        }
    }
    if rng.below(2) == 0 {
        callee.push(ins(0xb7, 0, 0, 0, pick(rng, &[0, 8, 16])));
    }
    callee.push(ins(0x57, 0, 0, 0, pick(rng, &[8, 15, 24, -1])));
    callee.push(ins(0x95, 0, 0, 0, 0));
    let mut main = vec![
        ins(0xbf, 6, 1, 0, 0),
        ins(0x7a, 10, 0, -8, 0),
        ins(0x7a, 10, 0, -16, 0),
        ins(0x7a, 10, 0, -24, 0),
        ins(0xbf, 1, 10, 0, 0),
        ins(0x07, 1, 0, 0, pick(rng, &[-8, -16, -24, -4])),
        ins(0x61, 2, 6, 0, 0),
        ins(0xb7, 3, 0, 0, 0),
        ins(0xb7, 4, 0, 0, 0),
        ins(0xb7, 5, 0, 0, 0),
    ];
    let after = [
        ins(0xbf, 9, 10, 0, 0),
        ins(0x07, 9, 0, 0, -24),
        ins(0x0f, 9, 0, 0, 0),
        ins(0x79, 2, 9, 0, 0),
        ins(0xb7, 0, 0, 0, 1),
        ins(0x95, 0, 0, 0, 0),
    ];
    let uses = rng.below(2) == 0;
    let tail = if uses { after.len() } else { 2 };
    main.push(ins(0x85, 0, 1, 0, tail as i32));
    if uses {
        main.extend(after);
    } else {
        main.push(ins(0xb7, 0, 0, 0, 1));
        main.push(ins(0x95, 0, 0, 0, 0));
    }
    main.extend(callee);
    main
}

/// Packet programs: r7 = skb_data, r8 = skb_data_end; pointers into the packet moved by
/// constants and bounded scalars, compared with the end (in either order, on 64 or 32 bits),
/// then loaded from — the range-tracking rules of `find_good_pkt_pointers`.
pub fn packet_program<S: Source>(rng: &mut S) -> Vec<Insn> {
    let pro = vec![
        ins(0xbf, 6, 1, 0, 0),
        ins(0x79, 7, 6, 192, 0),
        ins(0x79, 8, 6, 200, 0),
        ins(0x61, 2, 6, 0, 0),
        ins(0xb7, 3, 0, 0, 0),
        ins(0xb7, 4, 0, 0, 0),
        ins(0xb7, 5, 0, 0, 0),
        ins(0xbf, 9, 7, 0, 0),
    ];
    let mut body = Vec::new();
    for _ in 0..3 + rng.below(10) {
        let a = pick(rng, &[2u8, 3, 4, 5]);
        let i = |op, d, s, off, imm| Piece::Insn(ins(op, d, s, off, imm));
        match rng.below(10) {
            0 => body.push(i(0x07, 9, 0, 0, pick(rng, &[1, 4, 8, 20, 60]))),
            1 => body.push(i(0x0f, 9, a, 0, 0)),
            2 => body.push(i(0x57, a, 0, 0, pick(rng, &[3, 7, 15, 0x3c]))),
            3 => body.push(i(0x61, a, 6, pick(rng, &[0, 4, 208]), 0)),
            4 | 9 => {
                // r4 = r9 + k; if r4 > r8 goto +1 (or r8 < r4, or the 32-bit forms);
                // r_a = *(size *)(r9 + off) — in bounds when off + size <= k.
                let k = pick(rng, &[1, 2, 4, 8, 20]);
                body.push(i(0xbf, 4, 9, 0, 0));
                body.push(i(0x07, 4, 0, 0, k));
                let (op, d, s) = pick(
                    rng,
                    &[
                        (0x2du8, 4u8, 8u8),
                        (0xad, 8, 4),
                        (0x3d, 4, 8),
                        (0xbd, 8, 4),
                        (0x2e, 4, 8),
                    ],
                );
                body.push(i(op, d, s, 1, 0));
                body.push(i(
                    pick(rng, &[0x71, 0x69, 0x61]),
                    pick(rng, &[2u8, 3, 5]),
                    9,
                    pick(rng, &[0, 1, 2, 4, 16]),
                    0,
                ));
            }
            5 if rng.below(3) == 0 => body.push(i(
                pick(rng, &[0x71, 0x69, 0x61, 0x79]),
                a,
                9,
                pick(rng, &[0, 1, 2, 4, 8, -1]),
                0,
            )),
            6 => body.push(i(0xbf, 9, 7, 0, 0)),
            // the packet is read-only for sock_ops: the kernel refuses the store
            7 if rng.below(4) == 0 => body.push(i(0x73, 9, a, pick(rng, &[0, 1]), 0)),
            8 => body.push(Piece::Skip {
                op: pick(rng, &COND_IMM),
                reg: a,
                imm: pick(rng, &[0, 4, 8, 16]),
                skip: 1 + rng.below(3) as i16,
            }),
            _ => body.push(i(0x07, a, 0, 0, pick(rng, &[1, 4, -4]))),
        }
    }
    // Forward jumps inside the body were laid out with absolute skips; clamp them.
    let mut out = pro;
    let n = body.len();
    for (k, p) in body.into_iter().enumerate() {
        match p {
            Piece::Insn(mut i) => {
                if matches!(i.opcode, 0x2d | 0xad | 0x3d | 0xbd | 0x2e | 0xa5) && i.off > 0 {
                    i.off = i.off.min((n - k - 1) as i16);
                }
                out.push(i);
            }
            Piece::Skip { op, reg, imm, skip } => {
                out.push(ins(op, reg, 0, skip.min((n - k - 1) as i16), imm));
            }
            Piece::SkipReg { op, reg, src, skip } => {
                out.push(ins(op, reg, src, skip.min((n - k - 1) as i16), 0));
            }
        }
    }
    out.push(ins(0xb7, 0, 0, 0, 1));
    out.push(ins(0x95, 0, 0, 0, 0));
    out
}

/// Bounds programs: random 32- and 64-bit arithmetic on context values and constants,
/// random signed/unsigned comparisons on 32 or 64 bits, then the result used as a stack
/// offset (`fp - 32 + r`, which the kernel judges by the register's bounds) and read.
pub fn bounds_program<S: Source>(rng: &mut S) -> Vec<Insn> {
    let mut pro = vec![
        ins(0xbf, 6, 1, 0, 0),
        ins(0x61, 2, 6, 0, 0),
        ins(0x61, 3, 6, 4, 0),
        ins(0x79, 4, 6, 168, 0),
        ins(0xb7, 5, 0, 0, 0),
    ];
    for k in 1..=4 {
        pro.push(ins(0x7a, 10, 0, -8 * k, 0));
    }
    const ALU: [u8; 24] = [
        0x07, 0x17, 0x27, 0x47, 0x57, 0x67, 0x77, 0xa7, 0xc7, 0x87, 0xdc, 0xd4, 0x04, 0x14, 0x24,
        0x44, 0x54, 0x64, 0x74, 0xa4, 0xc4, 0x84, 0xb4, 0xbc,
    ];
    const ALU_X: [u8; 12] = [
        0x0f, 0x1f, 0x2f, 0x4f, 0x5f, 0xaf, 0x0c, 0x1c, 0x2c, 0x4c, 0x5c, 0xac,
    ];
    const JMP: [u8; 20] = [
        0x15, 0x25, 0x35, 0x45, 0x55, 0x65, 0x75, 0xa5, 0xb5, 0xc5, 0xd5, 0x16, 0x26, 0x36, 0x56,
        0x66, 0x76, 0xa6, 0xb6, 0xc6,
    ];
    let mut body = Vec::new();
    for _ in 0..4 + rng.below(12) {
        let a = pick(rng, &[2u8, 3, 4, 5]);
        let b = pick(rng, &[2u8, 3, 4, 5]);
        let i = |op, d, s, off, imm| Piece::Insn(ins(op, d, s, off, imm));
        match rng.below(6) {
            0 | 1 => {
                let op = pick(rng, &ALU);
                let imm = match op & 0xf0 {
                    // shifts in range; byte swaps of 16/32/64 bits
                    0x60 | 0x70 | 0xc0 => pick(rng, &[1, 3, 8, 31]),
                    0xd0 => pick(rng, &[16, 32, 64]),
                    _ => pick(rng, &[0, 1, 7, 8, 255, -1, -8, 0x7fff_ffff, i32::MIN]),
                };
                // movsx (0xbf/0xbc with off 8/16/32) uses the off field
                if op == 0xbc {
                    body.push(i(op, a, b, pick(rng, &[0, 8, 16]), 0));
                } else {
                    body.push(i(op, a, 0, 0, imm));
                }
            }
            2 => body.push(i(pick(rng, &ALU_X), a, b, 0, 0)),
            3 | 4 => body.push(Piece::Skip {
                op: pick(rng, &JMP),
                reg: a,
                imm: pick(rng, &[0, 1, 7, 8, 16, 24, 31, 32, -1, -8, 0x7fff_ffff]),
                skip: 1 + rng.below(4) as i16,
            }),
            _ => {
                // fp - 32 + r, then read 1 byte there
                body.push(i(0xbf, 9, 10, 0, 0));
                body.push(i(0x07, 9, 0, 0, -32));
                body.push(i(0x0f, 9, a, 0, 0));
                body.push(i(0x71, 0, 9, 0, 0));
            }
        }
    }
    lay_out(pro, body)
}
