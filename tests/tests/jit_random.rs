//! Seeded random programs on both engines: thousands of programs that are safe by
//! construction (ALU of every kind, forward jumps, in-bounds context and stack accesses,
//! aligned atomics, LD_IMM64, helper calls) run with random contexts on the interpreter and
//! the JIT (with and without constant blinding) through the differential harness.

mod jit_support;

use jit_support::differential;
use sockops_vm::opcode::*;
use sockops_vm::{Insn, Program};

/// splitmix64: a small deterministic generator, so failures replay from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    /// Immediates biased toward edge cases.
    fn imm(&mut self) -> i32 {
        match self.below(8) {
            0 => 0,
            1 => -1,
            2 => i32::MIN,
            3 => i32::MAX,
            4 => 1,
            5 => self.below(64) as i32,
            _ => self.next() as i32,
        }
    }
}

/// Registers the program computes with; r6 holds the context pointer and r10 the frame
/// pointer, neither is ever written or used as a value (their values differ per engine).
const WORK: [u8; 9] = [0, 1, 2, 3, 4, 5, 7, 8, 9];
/// Context size.
const CTX: i16 = 64;

/// One generated unit: slots, and for a forward jump the item index it targets.
struct Item {
    slots: Vec<Insn>,
    jump_to: Option<usize>,
}

fn item(slots: Vec<Insn>) -> Item {
    Item {
        slots,
        jump_to: None,
    }
}

fn size_code(bytes: i16) -> u8 {
    match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}

fn gen_item(rng: &mut Rng, index: usize, count: usize) -> Item {
    let dst = rng.pick(&WORK);
    let src = rng.pick(&WORK);
    let class = if rng.below(2) == 0 {
        BPF_ALU64
    } else {
        BPF_ALU
    };
    match rng.below(20) {
        0..=5 => {
            let op = rng.pick(&[
                BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_MOD,
                BPF_XOR, BPF_MOV, BPF_ARSH,
            ]);
            // off 1 selects sdiv/smod.
            let off = if matches!(op, BPF_DIV | BPF_MOD) && rng.below(2) == 0 {
                1
            } else {
                0
            };
            if rng.below(2) == 0 {
                item(vec![Insn::new(class | BPF_X | op, dst, src, off, 0)])
            } else {
                item(vec![Insn::new(class | BPF_K | op, dst, 0, off, rng.imm())])
            }
        }
        6 => {
            let bits = if class == BPF_ALU64 {
                rng.pick(&[8, 16, 32])
            } else {
                rng.pick(&[8, 16])
            };
            item(vec![Insn::new(class | BPF_X | BPF_MOV, dst, src, bits, 0)])
        }
        7 => match rng.below(3) {
            0 => item(vec![Insn::new(class | BPF_NEG, dst, 0, 0, 0)]),
            1 => {
                let order = rng.pick(&[BPF_ALU | BPF_TO_LE, BPF_ALU | BPF_TO_BE, BPF_ALU64]);
                item(vec![Insn::new(
                    order | BPF_END,
                    dst,
                    0,
                    0,
                    rng.pick(&[16, 32, 64]),
                )])
            }
            _ => {
                let v = rng.next();
                item(vec![
                    Insn::new(LD_IMM64, dst, 0, 0, v as i32),
                    Insn::new(0, 0, 0, 0, (v >> 32) as i32),
                ])
            }
        },
        8..=9 => {
            // Load from the context or the stack, maybe sign-extending.
            let bytes = rng.pick(&[1i16, 2, 4, 8]);
            let sx = bytes < 8 && rng.below(3) == 0;
            let mode = if sx { BPF_MEMSX } else { BPF_MEM };
            let (base, off) = if rng.below(2) == 0 {
                (6, rng.below((CTX - bytes + 1) as u64) as i16)
            } else {
                (10, -(rng.below(512 / bytes as u64) as i16 + 1) * bytes)
            };
            item(vec![Insn::new(
                BPF_LDX | mode | size_code(bytes),
                dst,
                base,
                off,
                0,
            )])
        }
        10..=11 => {
            let bytes = rng.pick(&[1i16, 2, 4, 8]);
            let (base, off) = if rng.below(2) == 0 {
                (6, rng.below((CTX - bytes + 1) as u64) as i16)
            } else {
                (10, -(rng.below(512 / bytes as u64) as i16 + 1) * bytes)
            };
            if rng.below(2) == 0 {
                item(vec![Insn::new(
                    BPF_STX | BPF_MEM | size_code(bytes),
                    base,
                    src,
                    off,
                    0,
                )])
            } else {
                item(vec![Insn::new(
                    BPF_ST | BPF_MEM | size_code(bytes),
                    base,
                    0,
                    off,
                    rng.imm(),
                )])
            }
        }
        12 => {
            // Aligned atomics on the context or the stack.
            let bytes = rng.pick(&[4i16, 8]);
            let (base, off) = if rng.below(2) == 0 {
                (6, rng.below((CTX / bytes) as u64) as i16 * bytes)
            } else {
                (10, -(rng.below(512 / bytes as u64) as i16 + 1) * bytes)
            };
            let op = rng.pick(&[
                BPF_ADD as i32,
                BPF_OR as i32,
                BPF_AND as i32,
                BPF_XOR as i32,
                BPF_ADD as i32 | BPF_FETCH,
                BPF_OR as i32 | BPF_FETCH,
                BPF_AND as i32 | BPF_FETCH,
                BPF_XOR as i32 | BPF_FETCH,
                BPF_XCHG,
                BPF_CMPXCHG,
            ]);
            item(vec![Insn::new(
                BPF_STX | BPF_ATOMIC | size_code(bytes),
                base,
                src,
                off,
                op,
            )])
        }
        13..=16 if index + 1 < count => {
            // Forward conditional jump (or ja) to a later item, the final exit included.
            let target = index + 1 + rng.below((count - index) as u64) as usize;
            let class = if rng.below(2) == 0 {
                BPF_JMP
            } else {
                BPF_JMP32
            };
            let op = rng.pick(&[
                BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE,
                BPF_JSLT, BPF_JSLE, BPF_JA,
            ]);
            let insn = if op == BPF_JA {
                Insn::new(BPF_JMP | BPF_JA, 0, 0, 0, 0)
            } else if rng.below(2) == 0 {
                Insn::new(class | BPF_X | op, dst, src, 0, 0)
            } else {
                Insn::new(class | BPF_K | op, dst, 0, 0, rng.imm())
            };
            Item {
                slots: vec![insn],
                jump_to: Some(target),
            }
        }
        17 => {
            // A recorded helper call; r1..r5 are then reset (the JIT clobbers them, the
            // interpreter keeps them, and the verifier forbids reading them).
            let mut slots = vec![Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, 100)];
            for r in 1..=5 {
                slots.push(Insn::new(BPF_ALU64 | BPF_K | BPF_MOV, r, 0, 0, rng.imm()));
            }
            item(slots)
        }
        _ => item(vec![Insn::new(
            BPF_ALU64 | BPF_K | BPF_MOV,
            dst,
            0,
            0,
            rng.imm(),
        )]),
    }
}

fn gen_program(rng: &mut Rng) -> Vec<Insn> {
    let count = 5 + rng.below(40) as usize;
    let mut items = vec![item(vec![Insn::new(
        BPF_ALU64 | BPF_X | BPF_MOV,
        6,
        1,
        0,
        0,
    )])];
    for &r in &WORK {
        let v = rng.next();
        items.push(item(vec![
            Insn::new(LD_IMM64, r, 0, 0, v as i32),
            Insn::new(0, 0, 0, 0, (v >> 32) as i32),
        ]));
    }
    let first = items.len();
    for i in 0..count {
        items.push(gen_item(rng, first + i, first + count));
    }
    items.push(item(vec![Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)]));
    // Lay out: slot index of each item, then fix jump offsets.
    let mut starts = Vec::with_capacity(items.len());
    let mut slot = 0usize;
    for it in &items {
        starts.push(slot);
        slot += it.slots.len();
    }
    let mut insns = Vec::with_capacity(slot);
    for (i, it) in items.iter().enumerate() {
        let mut slots = it.slots.clone();
        if let Some(target) = it.jump_to {
            slots[0].off = (starts[target] as i64 - starts[i] as i64 - 1) as i16;
        }
        insns.extend(slots);
    }
    insns
}

#[test]
fn random_programs_agree_on_both_engines() {
    let seed = std::env::var("JIT_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0005_eed0_fb0f);
    let programs: usize = std::env::var("JIT_RANDOM_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut rng = Rng(seed);
    for n in 0..programs {
        let insns = gen_program(&mut rng);
        let mut ctx = vec![0u8; CTX as usize];
        for b in ctx.iter_mut() {
            *b = rng.next() as u8;
        }
        let build = || Program::from_insns("random", insns.clone());
        let result = std::panic::catch_unwind(|| differential(&build, &ctx));
        if let Err(panic) = result {
            let text = sockops_vm::disassemble(&insns).unwrap_or_default();
            eprintln!("program {n} (seed {seed:#x}) differs:\n{text}\nctx {ctx:02x?}");
            std::panic::resume_unwind(panic);
        }
    }
}
