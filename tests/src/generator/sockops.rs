//! Generators aimed at the sock_ops rules: context loads and stores at the real
//! `bpf_sock_ops` offsets and sizes (from the ctx field table) and their near-misses, helper
//! calls with plausible and wrong argument types, bounded and unbounded loops, atomics on
//! the stack and on map values, and cpu v4 instructions. Every program starts with
//! `r6 = ctx`, zeroes a 32-byte stack buffer at fp-32 and sets r7-r9 to small constants, so
//! most later instructions have initialised operands; it ends `r0 = 1; exit`. Maps are
//! those of [`super::sockops_maps`].

use sockops_ctx::field_table::{LoadYields, SOCK_OPS_FIELDS};
use sockops_vm::Insn;

use super::Source;
use super::structured::{COND_IMM, Piece, ins, lay_out, pick};

/// The registers the bodies compute with (r6 keeps the context).
const WORK: [u8; 6] = [0, 2, 3, 7, 8, 9];

/// Load opcodes by size: ldxb, ldxh, ldxw, ldxdw.
fn ldx(size: u32) -> u8 {
    match size {
        1 => 0x71,
        2 => 0x69,
        4 => 0x61,
        _ => 0x79,
    }
}

/// Register-store opcodes by size: stxb, stxh, stxw, stxdw.
fn stx(size: u32) -> u8 {
    match size {
        1 => 0x73,
        2 => 0x6b,
        4 => 0x63,
        _ => 0x7b,
    }
}

/// The common prologue: r6 = ctx, fp-32..fp-1 zeroed, r7-r9 small constants.
fn prologue() -> Vec<Insn> {
    let mut pro = vec![ins(0xbf, 6, 1, 0, 0)];
    for k in 1..=4 {
        pro.push(ins(0x7a, 10, 0, -8 * k, 0));
    }
    pro.push(ins(0xb7, 7, 0, 0, 1));
    pro.push(ins(0xb7, 8, 0, 0, 8));
    pro.push(ins(0xb7, 9, 0, 0, 0));
    pro.push(ins(0xb7, 0, 0, 0, 0));
    pro.push(ins(0xb7, 2, 0, 0, 0));
    pro.push(ins(0xb7, 3, 0, 0, 0));
    pro
}

/// `r1 = map m` (LD_IMM64 with a map index).
fn load_map(body: &mut Vec<Piece>, m: i32) {
    body.push(Piece::Insn(ins(0x18, 1, 1, 0, m)));
    body.push(Piece::Insn(ins(0, 0, 0, 0, 0)));
}

/// `r2 = fp + off`.
fn stack_arg(body: &mut Vec<Piece>, reg: u8, off: i32) {
    body.push(Piece::Insn(ins(0xbf, reg, 10, 0, 0)));
    body.push(Piece::Insn(ins(0x07, reg, 0, 0, off)));
}

/// A context access: a real field at a size it allows (mostly), or a near-miss (inside a
/// field, a wrong size, past the end, a store to a read-only field).
fn context_access<S: Source>(s: &mut S, body: &mut Vec<Piece>) {
    let field = SOCK_OPS_FIELDS[s.below(SOCK_OPS_FIELDS.len() as u64) as usize];
    let a = pick(s, &WORK);
    let exact = s.below(4) != 0;
    let (off, size) = if exact {
        let sizes = if field.load_sizes.is_empty() {
            &[4u32][..]
        } else {
            field.load_sizes
        };
        (field.offset as i16, pick(s, sizes))
    } else {
        (
            field.offset as i16 + pick(s, &[1i16, 2, 3, 4, -1, -4, 8, 240]),
            pick(s, &[1u32, 2, 4, 8]),
        )
    };
    if s.below(3) == 0 {
        // A store: from a register (a scalar, or the context pointer itself) or an immediate.
        let sizes = if field.store_sizes.is_empty() || !exact {
            &[4u32][..]
        } else {
            field.store_sizes
        };
        let size = pick(s, sizes);
        match s.below(3) {
            0 => body.push(Piece::Insn(ins(
                stx(size) - 1,
                6,
                0,
                off,
                s.below(100) as i32,
            ))),
            1 => body.push(Piece::Insn(ins(stx(size), 6, 1, off, 0))),
            _ => body.push(Piece::Insn(ins(stx(size), 6, a, off, 0))),
        }
        return;
    }
    body.push(Piece::Insn(ins(ldx(size), a, 6, off, 0)));
    match field.yields {
        LoadYields::SocketOrNull if a != 0 => {
            // The socket: null-checked (mostly), then a field of `struct bpf_sock` read.
            if s.below(4) != 0 {
                body.push(Piece::Skip {
                    op: 0x15,
                    reg: a,
                    imm: 0,
                    skip: 1,
                });
            }
            let sock_off = pick(s, &[0i16, 4, 8, 12, 16, 20, 24, 28, 40, 44, 200]);
            body.push(Piece::Insn(ins(0x61, 2, a, sock_off, 0)));
        }
        LoadYields::Packet if a != 0 => {
            // skb_data: checked against skb_data_end (mostly), then read.
            if s.below(4) != 0 {
                body.push(Piece::Insn(ins(0x79, 3, 6, 200, 0)));
                body.push(Piece::Insn(ins(0xbf, 2, a, 0, 0)));
                body.push(Piece::Insn(ins(0x07, 2, 0, 0, pick(s, &[1, 4, 20, 60]))));
                body.push(Piece::SkipReg {
                    op: 0x2d,
                    reg: 2,
                    src: 3,
                    skip: 1,
                });
            }
            body.push(Piece::Insn(ins(0x71, 2, a, pick(s, &[0i16, 3, 19, 59]), 0)));
        }
        _ => {}
    }
}

/// Context loads and stores, scalar arithmetic on what was loaded, and conditional skips.
pub fn context_program<S: Source>(s: &mut S) -> Vec<Insn> {
    let mut body = Vec::new();
    for _ in 0..2 + s.below(10) {
        match s.below(5) {
            0 | 1 => context_access(s, &mut body),
            2 => body.push(Piece::Skip {
                op: pick(s, &COND_IMM),
                reg: pick(s, &WORK),
                imm: pick(s, &[0, 1, 2, 4, 8, 10, 12]),
                skip: 1 + s.below(3) as i16,
            }),
            3 => {
                let a = pick(s, &WORK);
                let op = pick(s, &[0x07u8, 0x57, 0x67, 0x77, 0x04, 0x54, 0xa7]);
                body.push(Piece::Insn(ins(op, a, 0, 0, pick(s, &[1, 3, 7, 15, 255]))));
            }
            _ => {
                // The reply, as most real programs set it.
                body.push(Piece::Insn(ins(0x62, 6, 0, 4, pick(s, &[0, 1, 10, -1]))));
            }
        }
    }
    lay_out(prologue(), body)
}

/// Helper calls with their arguments set up plausibly (mostly) or wrongly: map lookups with
/// and without null checks and uses of the value, setsockopt/getsockopt on the stack buffer,
/// header-option helpers, cb flags, queue pops, writing helpers, base helpers.
pub fn helper_program<S: Source>(s: &mut S) -> Vec<Insn> {
    let mut body = Vec::new();
    for _ in 0..1 + s.below(6) {
        let wrong = s.below(6) == 0;
        match s.below(11) {
            0 => {
                // bpf_map_lookup_elem(map, key on the stack), maybe null-checked, then used.
                let m = pick(s, &[0, 1, 3]);
                body.push(Piece::Insn(ins(0x62, 10, 0, -8, s.below(6) as i32)));
                load_map(&mut body, m);
                if wrong {
                    body.push(Piece::Insn(ins(0xbf, 2, 6, 0, 0)));
                } else {
                    stack_arg(&mut body, 2, -8);
                }
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, 1)));
                if s.below(5) != 0 {
                    body.push(Piece::Skip {
                        op: 0x15,
                        reg: 0,
                        imm: 0,
                        skip: 2,
                    });
                }
                let off = pick(s, &[0i16, 4, 8, 12, 16, -4]);
                match s.below(3) {
                    0 => body.push(Piece::Insn(ins(0x61, 2, 0, off, 0))),
                    1 => body.push(Piece::Insn(ins(0x63, 0, 7, off, 0))),
                    _ => body.push(Piece::Insn(ins(0x7b, 10, 0, -16, 0))),
                }
                body.push(Piece::Insn(ins(0xb7, 0, 0, 0, 0)));
            }
            1 => {
                // bpf_map_update_elem / delete on the hash map.
                body.push(Piece::Insn(ins(0x7a, 10, 0, -8, s.below(4) as i32)));
                load_map(&mut body, 1);
                stack_arg(&mut body, 2, -8);
                if s.below(2) == 0 {
                    stack_arg(&mut body, 3, -16);
                    body.push(Piece::Insn(ins(0xb7, 4, 0, 0, s.below(3) as i32)));
                    body.push(Piece::Insn(ins(0x85, 0, 0, 0, 2)));
                } else {
                    body.push(Piece::Insn(ins(0x85, 0, 0, 0, 3)));
                }
            }
            2 | 3 => {
                // bpf_setsockopt / bpf_getsockopt(ctx, level, optname, fp-16, len).
                let (level, name) = pick(
                    s,
                    &[
                        (6, 1),
                        (6, 2),
                        (6, 13),
                        (1, 7),
                        (1, 8),
                        (0, 1),
                        (6, 1006),
                        (41, 67),
                    ],
                );
                body.push(Piece::Insn(ins(
                    0x62,
                    10,
                    0,
                    -16,
                    pick(s, &[0, 1, 1000, -1]),
                )));
                body.push(Piece::Insn(ins(0xbf, 1, if wrong { 10 } else { 6 }, 0, 0)));
                body.push(Piece::Insn(ins(0xb7, 2, 0, 0, level)));
                body.push(Piece::Insn(ins(0xb7, 3, 0, 0, name)));
                stack_arg(&mut body, 4, -16);
                body.push(Piece::Insn(ins(0xb7, 5, 0, 0, pick(s, &[4, 8, 16, 0, 33]))));
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, pick(s, &[49, 57]))));
            }
            4 => {
                // bpf_sock_ops_cb_flags_set(ctx, flags).
                body.push(Piece::Insn(ins(0xbf, 1, 6, 0, 0)));
                body.push(Piece::Insn(ins(0xb7, 2, 0, 0, s.below(0x100) as i32)));
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, 59)));
            }
            5 => {
                // bpf_load_hdr_opt / bpf_store_hdr_opt / bpf_reserve_hdr_opt.
                body.push(Piece::Insn(ins(0x72, 10, 0, -16, pick(s, &[184, 2, 0]))));
                body.push(Piece::Insn(ins(0xbf, 1, 6, 0, 0)));
                match s.below(3) {
                    0 => {
                        stack_arg(&mut body, 2, -16);
                        body.push(Piece::Insn(ins(0xb7, 3, 0, 0, pick(s, &[2, 3, 8, 16, 40]))));
                        body.push(Piece::Insn(ins(0xb7, 4, 0, 0, 0)));
                        body.push(Piece::Insn(ins(0x85, 0, 0, 0, 142)));
                        // Katran's pattern: branch on a byte the helper may have written.
                        body.push(Piece::Insn(ins(0x71, 2, 10, pick(s, &[-14, -8, -1]), 0)));
                        body.push(Piece::Skip {
                            op: 0x15,
                            reg: 2,
                            imm: 0,
                            skip: 1,
                        });
                        body.push(Piece::Insn(ins(0x71, 3, 2, 0, 0)));
                    }
                    1 => {
                        stack_arg(&mut body, 2, -16);
                        body.push(Piece::Insn(ins(0xb7, 3, 0, 0, pick(s, &[2, 4, 8]))));
                        body.push(Piece::Insn(ins(0xb7, 4, 0, 0, 0)));
                        body.push(Piece::Insn(ins(0x85, 0, 0, 0, 143)));
                    }
                    _ => {
                        body.push(Piece::Insn(ins(0xb7, 2, 0, 0, pick(s, &[4, 8, 40]))));
                        body.push(Piece::Insn(ins(0xb7, 3, 0, 0, 0)));
                        body.push(Piece::Insn(ins(0x85, 0, 0, 0, 144)));
                    }
                }
            }
            6 => {
                // Queue pop/peek into the stack, then the value used.
                load_map(&mut body, 2);
                stack_arg(&mut body, 2, if wrong { -4 } else { -16 });
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, pick(s, &[88, 89]))));
                body.push(Piece::Insn(ins(0x79, 2, 10, -16, 0)));
            }
            7 => {
                // Writing helpers into the stack buffer: strtol's result, probe reads.
                body.push(Piece::Insn(ins(0x72, 10, 0, -32, 0x31)));
                stack_arg(&mut body, 1, -32);
                body.push(Piece::Insn(ins(0xb7, 2, 0, 0, 8)));
                body.push(Piece::Insn(ins(0xb7, 3, 0, 0, 0)));
                stack_arg(&mut body, 4, pick(s, &[-16, -8, -12]));
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, pick(s, &[105, 106]))));
                body.push(Piece::Insn(ins(0x79, 2, 10, -16, 0)));
            }
            8 if s.below(2) == 0 => {
                // Any helper sock_ops may call (or, now and then, one it may not), with each
                // argument a context, stack, map, map-value-or-null or scalar register.
                let callable: Vec<u32> = sockops_ctx::helper_ids::sock_ops_callable_ids().collect();
                let id = if s.below(8) == 0 {
                    s.below(215) as i32
                } else {
                    callable[s.below(callable.len() as u64) as usize] as i32
                };
                for reg in 1..=5u8 {
                    match s.below(6) {
                        0 => body.push(Piece::Insn(ins(0xbf, reg, 6, 0, 0))),
                        1 => stack_arg(&mut body, reg, pick(s, &[-8, -16, -32, -4])),
                        2 if reg == 1 => load_map(&mut body, pick(s, &[0, 1, 2, 3])),
                        _ => body.push(Piece::Insn(ins(
                            0xb7,
                            reg,
                            0,
                            0,
                            pick(s, &[0, 1, 4, 8, 16, 64, -1]),
                        ))),
                    }
                }
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, id)));
            }
            10 => {
                // bpf_skc_to_tcp_sock(ctx->sk), the socket null-checked (mostly) and the
                // result too, then reads through the kernel tcp_sock: scalar members, bytes
                // inside them, pointer members, past the end, stores, arithmetic.
                body.push(Piece::Insn(ins(0x79, 1, 6, 184, 0)));
                if !wrong {
                    body.push(Piece::Skip {
                        op: 0x15,
                        reg: 1,
                        imm: 0,
                        skip: 8,
                    });
                }
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, 137)));
                if s.below(6) != 0 {
                    body.push(Piece::Skip {
                        op: 0x15,
                        reg: 0,
                        imm: 0,
                        skip: 6,
                    });
                }
                if s.below(4) == 0 {
                    body.push(Piece::Insn(ins(0x07, 0, 0, 0, pick(s, &[8, 16, -8, 1]))));
                }
                let off = pick(
                    s,
                    &[0i16, 2, 16, 40, 532, 1444, 1446, 1916, 2296, 2300, 2304, -4],
                );
                let size = pick(s, &[0x61u8, 0x69, 0x71, 0x79, 0x81, 0x91]);
                match s.below(6) {
                    0 => body.push(Piece::Insn(ins(0x62, 0, 0, off, 1))),
                    1 => body.push(Piece::Insn(ins(0xbf, 1, 0, 0, 0))),
                    _ => body.push(Piece::Insn(ins(size, pick(s, &[2u8, 7, 8]), 0, off, 0))),
                }
                if s.below(2) == 0 {
                    body.push(Piece::Insn(ins(0x85, 0, 0, 0, pick(s, &[137, 96, 107]))));
                }
            }
            _ => {
                // Base helpers without arguments (time, random, cpu, cookie...).
                let id = pick(s, &[5, 7, 8, 14, 15, 46, 125, 160]);
                if id == 46 {
                    body.push(Piece::Insn(ins(0xbf, 1, 6, 0, 0)));
                }
                body.push(Piece::Insn(ins(0x85, 0, 0, 0, id)));
                body.push(Piece::Insn(ins(0xbf, pick(s, &[7u8, 8]), 0, 0, 0)));
            }
        }
    }
    lay_out(prologue(), body)
}

/// Bounded loops (a counter against a constant), loops whose bound is a context value or
/// unknown, and loops that walk the stack or the array value.
pub fn loop_program<S: Source>(s: &mut S) -> Vec<Insn> {
    let mut pro = prologue();
    let bound = pick(s, &[1i32, 2, 4, 16, 60]);
    let counter = pick(s, &[7u8, 8, 9]);
    let mut loop_body = Vec::new();
    for _ in 0..1 + s.below(4) {
        match s.below(5) {
            0 => loop_body.push(ins(0x07, 0, 0, 0, 1)),
            1 => {
                // fp-32 + (counter & 31) read.
                loop_body.push(ins(0xbf, 2, counter, 0, 0));
                loop_body.push(ins(0x57, 2, 0, 0, pick(s, &[31, 24, 63])));
                loop_body.push(ins(0xbf, 3, 10, 0, 0));
                loop_body.push(ins(0x07, 3, 0, 0, -32));
                loop_body.push(ins(0x0f, 3, 2, 0, 0));
                loop_body.push(ins(0x71, 2, 3, 0, 0));
            }
            2 => loop_body.push(ins(0x61, 2, 6, pick(s, &[4, 8, 32, 48]), 0)),
            3 => loop_body.push(ins(0x0f, 0, counter, 0, 0)),
            _ => loop_body.push(ins(0x85, 0, 0, 0, pick(s, &[5, 7]))),
        }
    }
    pro.push(ins(0xb7, counter, 0, 0, 0));
    let unbounded = s.below(5) == 0;
    if unbounded {
        // The bound comes from the context: unknown to the verifier.
        pro.push(ins(0x61, 3, 6, 4, 0));
    }
    let len = loop_body.len() as i16;
    pro.extend(loop_body);
    pro.push(ins(0x07, counter, 0, 0, 1));
    if unbounded {
        pro.push(ins(0xad, counter, 3, -(len + 2), 0));
    } else {
        let op = pick(s, &[0xa5u8, 0x55, 0xb5, 0xa6]);
        pro.push(ins(op, counter, 0, -(len + 2), bound));
    }
    pro.push(ins(0xb7, 0, 0, 0, 1));
    pro.push(ins(0x95, 0, 0, 0, 0));
    pro
}

/// Atomics on the stack buffer and on a looked-up array value: every op, fetch or not, 32
/// and 64 bits, `src == dst` and `src == r0`, at aligned and misaligned offsets; load-acquire
/// and store-release at every size.
pub fn atomic_program<S: Source>(s: &mut S) -> Vec<Insn> {
    let mut body = Vec::new();
    let value = s.below(2) == 0;
    if value {
        // r9 = array value for key 0 (null-checked).
        body.push(Piece::Insn(ins(0x62, 10, 0, -4, 0)));
        load_map(&mut body, 0);
        stack_arg(&mut body, 2, -4);
        body.push(Piece::Insn(ins(0x85, 0, 0, 0, 1)));
        body.push(Piece::Skip {
            op: 0x15,
            reg: 0,
            imm: 0,
            skip: 1_000,
        });
        body.push(Piece::Insn(ins(0xbf, 9, 0, 0, 0)));
    }
    for _ in 0..1 + s.below(6) {
        // Read-modify-write ops, and load-acquire (0x100) / store-release (0x110), which
        // also take bytes and halfwords.
        let op = pick(
            s,
            &[
                0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110,
            ],
        );
        let opcode = if op >= 0x100 {
            pick(s, &[0xc3u8, 0xdb, 0xd3, 0xcb])
        } else {
            pick(s, &[0xc3u8, 0xdb])
        };
        let src = pick(s, &[0u8, 2, 3, 7, 8]);
        let (dst, off) = if value && s.below(3) != 0 {
            (9, pick(s, &[0i16, 4, 8, 12, 2]))
        } else {
            (10, pick(s, &[-8i16, -16, -24, -32, -4, -12, -6]))
        };
        body.push(Piece::Insn(ins(
            0xb7,
            src,
            0,
            0,
            pick(s, &[1, -1, 0x7fff_ffff]),
        )));
        // A load-acquire names its destination in dst and its base in src.
        let (d, sr) = if op == 0x100 { (src, dst) } else { (dst, src) };
        body.push(Piece::Insn(ins(opcode, d, sr, off, op)));
        if s.below(2) == 0 {
            body.push(Piece::Insn(ins(0x79, 2, 10, -8, 0)));
        }
    }
    lay_out(prologue(), body)
}

/// cpu v4: sign-extending moves and loads, signed division and modulo (by zero too), byte
/// swaps, `gotol`, 32-bit jumps.
pub fn cpu_v4_program<S: Source>(s: &mut S) -> Vec<Insn> {
    let mut body = Vec::new();
    for _ in 0..2 + s.below(10) {
        let a = pick(s, &WORK);
        let b = pick(s, &WORK);
        let i = |op, d, sr, off, imm| Piece::Insn(ins(op, d, sr, off, imm));
        match s.below(9) {
            0 => body.push(i(
                pick(s, &[0xbfu8, 0xbc]),
                a,
                b,
                pick(s, &[8i16, 16, 32]),
                0,
            )),
            1 => body.push(i(
                pick(s, &[0x81u8, 0x89, 0x91]),
                a,
                pick(s, &[10u8, 6]),
                pick(s, &[-8i16, -16, -2, 0, 4, 8]),
                0,
            )),
            2 => body.push(i(pick(s, &[0x3fu8, 0x9f, 0x3c, 0x9c]), a, b, 1, 0)),
            3 => body.push(i(
                pick(s, &[0x37u8, 0x97, 0x34, 0x94]),
                a,
                0,
                1,
                pick(s, &[0, -1, 3, i32::MIN]),
            )),
            4 => body.push(i(0xd7, a, 0, 0, pick(s, &[16, 32, 64]))),
            5 => body.push(i(pick(s, &[0xd4u8, 0xdc]), a, 0, 0, pick(s, &[16, 32, 64]))),
            6 => body.push(i(0x06, 0, 0, 0, s.below(3) as i32)),
            7 => body.push(Piece::Skip {
                op: pick(s, &[0x16u8, 0x26, 0x56, 0x66, 0xa6, 0xc6]),
                reg: a,
                imm: pick(s, &[0, 1, -1, 0x8000]),
                skip: 1 + s.below(3) as i16,
            }),
            _ => body.push(i(0xb7, a, 0, 0, pick(s, &[0, 1, -1, i32::MIN, 255]))),
        }
    }
    lay_out(prologue(), body)
}

/// Dynptrs: `r9` = the array's value (map 0); local dynptrs over it and ring buffer dynptrs
/// (map 1) built at stack offsets (mostly whole slot pairs), then read and written through,
/// sliced (null-checked or not; the slice used at once, or kept in r8 for later), their
/// bytes loaded and stored, rebuilt, submitted or discarded (maybe on one branch only), and
/// usually the releases a ring buffer dynptr needs before the exit.
pub fn dynptr_program<S: Source>(s: &mut S) -> Vec<Insn> {
    let mut pro = vec![ins(0xbf, 6, 1, 0, 0), ins(0x61, 7, 1, 0, 0)];
    pro.push(ins(0x7a, 10, 0, -8, 0));
    pro.extend([ins(0xbf, 2, 10, 0, 0), ins(0x07, 2, 0, 0, -8)]);
    pro.extend([ins(0x18, 1, 1, 0, 0), ins(0, 0, 0, 0, 0)]);
    pro.push(ins(0x85, 0, 0, 0, 1));
    pro.extend([
        ins(0x55, 0, 0, 2, 0),
        ins(0xb7, 0, 0, 0, 1),
        ins(0x95, 0, 0, 0, 0),
    ]);
    pro.extend([ins(0xbf, 9, 0, 0, 0), ins(0xb7, 8, 0, 0, 0)]);
    let slot = |s: &mut S| -> i32 {
        if s.below(10) == 0 {
            pick(s, &[-8, -12, -20, -4, 0, -512, -520])
        } else {
            -8 * (2 + s.below(6) as i32)
        }
    };
    let call = |body: &mut Vec<Piece>, id: i32| body.push(Piece::Insn(ins(0x85, 0, 0, 0, id)));
    let imm =
        |body: &mut Vec<Piece>, reg: u8, v: i32| body.push(Piece::Insn(ins(0xb7, reg, 0, 0, v)));
    let mut body = Vec::new();
    let mut rings: Vec<i32> = Vec::new();
    let mut slots: Vec<i32> = Vec::new();
    for k in 0..2 + s.below(7) {
        let at = if slots.is_empty() || s.below(8) == 0 {
            slot(s)
        } else {
            pick(s, &slots)
        };
        let flags = i32::from(s.below(10) == 0);
        let len = pick(s, &[0, 1, 4, 8, 8, 16, 24]);
        let off = pick(s, &[0, 0, 0, 4, 8, 15, -1]);
        // The first step builds a dynptr; a release picks a live ring buffer dynptr (mostly).
        let what = match s.below(10) {
            _ if k == 0 => s.below(2),
            2 if rings.is_empty() && s.below(4) != 0 => 3 + s.below(4),
            w => w,
        };
        match what {
            0 => {
                // bpf_dynptr_from_mem(r9, size, flags, fp + at).
                body.push(Piece::Insn(ins(0xbf, 1, 9, 0, 0)));
                imm(&mut body, 2, pick(s, &[0, 8, 16, 32, 40]));
                imm(&mut body, 3, flags);
                stack_arg(&mut body, 4, at);
                call(&mut body, 197);
                slots.push(at);
            }
            1 => {
                // bpf_ringbuf_reserve_dynptr(map 1 (or the array), size, flags, fp + at).
                load_map(&mut body, if s.below(12) == 0 { 0 } else { 1 });
                imm(&mut body, 2, pick(s, &[0, 8, 16, 100]));
                imm(&mut body, 3, flags);
                stack_arg(&mut body, 4, at);
                call(&mut body, 198);
                slots.push(at);
                rings.push(at);
            }
            2 => {
                // Submit or discard, maybe only when ctx->op is 4.
                let at = match rings.len() {
                    n if n > 0 && s.below(5) != 0 => rings.remove(s.below(n as u64) as usize),
                    _ => at,
                };
                if s.below(4) == 0 {
                    body.push(Piece::Skip {
                        op: 0x15,
                        reg: 7,
                        imm: 4,
                        skip: 4,
                    });
                }
                stack_arg(&mut body, 1, at);
                imm(&mut body, 2, 0);
                call(&mut body, pick(s, &[199, 200]));
            }
            3 => {
                // bpf_dynptr_read(fp + dst, len, fp + at, off, flags).
                stack_arg(&mut body, 1, at - 8 * (1 + s.below(3) as i32));
                imm(&mut body, 2, len);
                stack_arg(&mut body, 3, at);
                imm(&mut body, 4, off);
                imm(&mut body, 5, flags);
                call(&mut body, 201);
            }
            4 => {
                // bpf_dynptr_write(fp + at, off, r9 or the stack, len, flags).
                stack_arg(&mut body, 1, at);
                imm(&mut body, 2, off);
                if s.below(2) == 0 {
                    body.push(Piece::Insn(ins(0xbf, 3, 9, 0, 0)));
                } else {
                    stack_arg(&mut body, 3, at - 8 * (1 + s.below(3) as i32));
                }
                imm(&mut body, 4, len);
                imm(&mut body, 5, flags);
                call(&mut body, 202);
            }
            5 | 6 => {
                // r0 = bpf_dynptr_data(fp + at, off, len); null check; an access (or keep it).
                stack_arg(&mut body, 1, at);
                imm(&mut body, 2, off);
                imm(&mut body, 3, len);
                call(&mut body, 203);
                if s.below(4) == 0 {
                    body.push(Piece::Insn(ins(0xbf, 8, 0, 0, 0)));
                } else {
                    if s.below(6) != 0 {
                        body.push(Piece::Skip {
                            op: 0x15,
                            reg: 0,
                            imm: 0,
                            skip: 1,
                        });
                    }
                    let size = pick(s, &[1u32, 2, 4, 8]);
                    let o = s.below(len.max(1) as u64 + 2) as i16 - 1;
                    if s.below(2) == 0 {
                        body.push(Piece::Insn(ins(ldx(size), 2, 0, o, 0)));
                    } else {
                        body.push(Piece::Insn(ins(stx(size) - 1, 0, 0, o, 7)));
                    }
                }
            }
            7 => {
                // The kept slice (NULL, or maybe invalidated since).
                body.push(Piece::Skip {
                    op: 0x15,
                    reg: 8,
                    imm: 0,
                    skip: 1,
                });
                body.push(Piece::Insn(ins(0x71, 2, 8, 0, 0)));
            }
            8 => {
                // A load or store over the dynptr's bytes.
                let size = pick(s, &[1u32, 2, 4, 8]);
                let o = (at + s.below(16) as i32) as i16;
                let o = o - o.rem_euclid(size as i16);
                if s.below(2) == 0 {
                    body.push(Piece::Insn(ins(stx(size) - 1, 10, 0, o, 0)));
                } else {
                    body.push(Piece::Insn(ins(ldx(size), 2, 10, o, 0)));
                }
            }
            _ => body.push(Piece::Skip {
                op: pick(s, &COND_IMM),
                reg: 7,
                imm: pick(s, &[0, 1, 4, 5]),
                skip: 1 + s.below(4) as i16,
            }),
        }
    }
    if s.below(8) != 0 {
        for at in rings {
            stack_arg(&mut body, 1, at);
            imm(&mut body, 2, 0);
            call(&mut body, pick(s, &[199, 200]));
        }
    }
    lay_out(pro, body)
}

/// Every pointer member of recorded struct `index` (unions included), at any depth: its
/// offset and the name of the struct it points to (`""` for anything else).
fn pointer_members(index: u16) -> Vec<(u32, &'static str)> {
    members(index).0
}

/// The pointer members of struct `index` (as [`pointer_members`]) and its scalar members of
/// a loadable size (offset, size), at any depth.
#[allow(clippy::type_complexity)]
fn members(index: u16) -> (Vec<(u32, &'static str)>, Vec<(u32, u32)>) {
    use sockops_vm::vmlinux::{KElem, kstruct};
    type Out = (Vec<(u32, &'static str)>, Vec<(u32, u32)>);
    fn walk(index: u16, base: u32, depth: u32, out: &mut Out) {
        let Some(st) = kstruct(index) else { return };
        if depth > 8 {
            return;
        }
        for m in st.members {
            if m.bitfield_size != 0 {
                continue;
            }
            let at = base + m.bit_offset / 8;
            let (n, esize) = match m.nelems {
                None => (1, m.size),
                Some(0) => continue,
                Some(n) => (n.min(4), m.size / n),
            };
            for k in 0..n {
                match m.elem {
                    KElem::Struct(i) => walk(i, at + k * esize, depth + 1, out),
                    KElem::Ptr(t) => out.0.push((at + k * esize, t)),
                    KElem::Scalar if [1, 2, 4, 8].contains(&esize) => {
                        out.1.push((at + k * esize, esize))
                    }
                    KElem::Scalar => {}
                }
            }
        }
    }
    let mut out = (Vec::new(), Vec::new());
    walk(index, 0, 0, &mut out);
    out
}

/// BTF pointers followed: r7 = the current task (`bpf_get_current_task_btf`), r8 = the
/// kernel `tcp_sock` of `ctx->sk` (null-checked, or 0), r9 = map 0's pointer; then loads of
/// their pointer members (the allow-listed `real_parent`, `group_leader`, `cpus_ptr`, any
/// other, near-misses) into r2-r5, chained, null-checked or not, read through at offsets
/// inside and past the struct, written, moved, spilled and filled, compared, and passed
/// to `bpf_skc_to_tcp_sock` and `bpf_probe_read_kernel`.
pub fn btf_pointer_program<S: Source>(s: &mut S) -> Vec<Insn> {
    use sockops_vm::vmlinux::{field, kstruct_index, readable_len};
    let task = kstruct_index("task_struct").unwrap_or(0);
    let tcp = kstruct_index("tcp_sock").unwrap_or(0);
    let map = kstruct_index("bpf_array").unwrap_or(0);
    let mut pro = vec![ins(0xbf, 6, 1, 0, 0), ins(0x7a, 10, 0, -8, 0)];
    pro.push(ins(0x85, 0, 0, 0, 158));
    pro.push(ins(0xbf, 7, 0, 0, 0));
    // r8 = bpf_skc_to_tcp_sock(ctx->sk) when ctx->sk is set, else 0.
    pro.extend([
        ins(0xb7, 8, 0, 0, 0),
        ins(0x79, 1, 6, 184, 0),
        ins(0x15, 1, 0, 3, 0),
        ins(0x85, 0, 0, 0, 137),
        ins(0x15, 0, 0, 1, 0),
        ins(0xbf, 8, 0, 0, 0),
    ]);
    pro.extend([ins(0x18, 9, 1, 0, 0), ins(0, 0, 0, 0, 0)]);
    // What each register points to: (recorded struct, or None for unknown memory).
    let mut regs: Vec<(u8, Option<u16>)> = vec![(7, Some(task)), (9, Some(map))];
    let mut body = Vec::new();
    // The tcp_sock may be NULL: its reads sit behind a check (mostly).
    let tcp_checked = s.below(6) != 0;
    if tcp_checked {
        body.push(Piece::Skip {
            op: 0x15,
            reg: 8,
            imm: 0,
            skip: 120,
        });
    }
    regs.push((8, Some(tcp)));
    let named: Vec<u32> = [
        "real_parent",
        "group_leader",
        "cpus_ptr",
        "parent",
        "mm",
        "stack",
    ]
    .iter()
    .filter_map(|f| field("task_struct", f).map(|p| p.offset))
    .collect();
    let mut next_temp = 2u8;
    for _ in 0..2 + s.below(8) {
        let (src, kind) = regs[s.below(regs.len() as u64) as usize];
        match s.below(10) {
            0..=4 => {
                // dst = *(u64 *)(src + a pointer member's offset) (or a near-miss).
                let members = kind.map(pointer_members).unwrap_or_default();
                let (off, target) = if src == 7 && s.below(2) == 0 && !named.is_empty() {
                    let o = pick(s, &named);
                    let t = members.iter().find(|m| m.0 == o).map_or("", |m| m.1);
                    (o as i32, t)
                } else if !members.is_empty() && s.below(8) != 0 {
                    let (o, t) = members[s.below(members.len() as u64) as usize];
                    (o as i32, t)
                } else {
                    (pick(s, &[0, 4, 8, 16, 24, 40, 64, 200, -8]), "")
                };
                let near = s.below(10) == 0;
                let (off, size) = if near {
                    (off + pick(s, &[1, 4, -4]), pick(s, &[4u32, 8]))
                } else {
                    (off, 8)
                };
                let dst = next_temp;
                next_temp = if next_temp == 5 { 2 } else { next_temp + 1 };
                body.push(Piece::Insn(ins(ldx(size), dst, src, off as i16, 0)));
                regs.retain(|r| r.0 != dst);
                regs.push((dst, kstruct_index(target)));
                if s.below(3) == 0 {
                    body.push(Piece::Skip {
                        op: 0x15,
                        reg: dst,
                        imm: 0,
                        skip: 1 + s.below(3) as i16,
                    });
                }
            }
            5 | 6 => {
                // r0 = a read through src: inside the struct (mostly), past it, negative.
                let len = kind.map_or(64, readable_len).max(1);
                let scalars = kind.map(|k| members(k).1).unwrap_or_default();
                let mut size = pick(s, &[1u32, 2, 4, 8]);
                let off = match s.below(8) {
                    _ if !scalars.is_empty() && s.below(4) != 0 => {
                        let (o, sz) = scalars[s.below(scalars.len() as u64) as usize];
                        size = sz;
                        o as i32
                    }
                    0 => len as i32 - 2,
                    1 => -8,
                    _ => (s.below(u64::from(len.min(4096))) as i32) & !(size as i32 - 1),
                };
                let off = off.clamp(-512, i16::MAX as i32) as i16;
                if s.below(8) == 0 {
                    body.push(Piece::Insn(ins(stx(size) - 1, src, 0, off, 1)));
                } else {
                    body.push(Piece::Insn(ins(ldx(size), 0, src, off, 0)));
                }
            }
            7 => {
                // Arithmetic: move the pointer by a constant, or scalar += pointer (a map
                // pointer mostly left alone: the kernel refuses both).
                if src == 9 && s.below(4) != 0 {
                    continue;
                }
                if s.below(2) == 0 {
                    body.push(Piece::Insn(ins(0x07, src, 0, 0, pick(s, &[8, 16, -8, 4]))));
                    regs.retain(|r| r.0 != src);
                    regs.push((src, None));
                } else {
                    body.push(Piece::Insn(ins(0xb7, 0, 0, 0, 5)));
                    body.push(Piece::Insn(ins(0x0f, 0, src, 0, 0)));
                }
            }
            8 => {
                // Spill and fill.
                body.push(Piece::Insn(ins(0x7b, 10, src, -16, 0)));
                body.push(Piece::Insn(ins(0x79, src, 10, -16, 0)));
            }
            _ => {
                // A helper: bpf_skc_to_tcp_sock(src) or bpf_probe_read_kernel(fp-8, 8, src).
                if s.below(if src == 7 || src == 9 { 6 } else { 2 }) == 0 {
                    body.push(Piece::Insn(ins(0xbf, 1, src, 0, 0)));
                    body.push(Piece::Insn(ins(0x85, 0, 0, 0, 137)));
                } else {
                    body.push(Piece::Insn(ins(0xbf, 3, src, 0, 0)));
                    stack_arg(&mut body, 1, -8);
                    body.push(Piece::Insn(ins(0xb7, 2, 0, 0, 8)));
                    body.push(Piece::Insn(ins(0x85, 0, 0, 0, 113)));
                }
                // The call clobbers r0-r5.
                regs.retain(|r| r.0 >= 6);
            }
        }
    }
    lay_out(pro, body)
}
