//! The `state_heavy` category: programs that make a verifier keep and compare many states.
//! Each is a run of branches on unknown context values, each branch writing different
//! constants into registers and stack slots, with bounded loops in between and an ending
//! that makes those values matter (a branch decided by them, a stack read indexed by
//! them), so few paths prune. Half are then mutated in one instruction, as a fuzzer would.
//! Most run to the kernel's 1M-instruction limit or close to it; `main` keeps only those the
//! kernel needs at least [`MIN_KERNEL_PROCESSED`] instructions for, and records the kernel's
//! load time (log off) beside the label.

use sockops_vm::Insn;
use sockops_vm::opcode::*;

use crate::asm::*;
use crate::{Out, Rng};

/// The kernel's `processed N insns` below which a candidate is not kept.
pub const MIN_KERNEL_PROCESSED: u64 = 50_000;

/// Programs kept in the category (candidates are generated until this many pass).
pub const KEEP: usize = 60;

/// Candidates generated (the filter keeps the state-heavy ones).
const CANDIDATES: usize = 900;

/// Registers holding unknown context values, compared by the branches.
const UNKNOWN: [u8; 3] = [R7, R8, R9];
/// Registers holding tracked constants.
const VALUES: [u8; 4] = [R2, R3, R4, R5];

/// One assignment inside a branch arm: a constant into a value register or a stack slot,
/// or arithmetic on a value register.
fn assignment(rng: &mut Rng, p: &mut P) {
    let v = rng.pick(&VALUES);
    match rng.below(5) {
        0 | 1 => {
            p.i(mov64_imm(v, rng.range(0, 1000) as i32));
        }
        2 => {
            p.i(st(
                8,
                R10,
                -8 * rng.range(1, 8) as i16,
                rng.range(0, 1000) as i32,
            ));
        }
        3 => {
            p.i(alu64_imm(
                rng.pick(&[BPF_ADD, BPF_XOR, BPF_OR]),
                v,
                rng.range(1, 64) as i32,
            ));
        }
        _ => {
            p.i(stx(8, R10, v, -8 * rng.range(1, 8) as i16));
        }
    }
}

/// A forward branch on an unknown value over 1-3 assignments.
fn diamond(rng: &mut Rng, p: &mut P) {
    let mut arm = P::new();
    for _ in 0..rng.range(1, 3) {
        assignment(rng, &mut arm);
    }
    let arm = arm.done();
    let op = rng.pick(&[BPF_JEQ, BPF_JGT, BPF_JSGT, BPF_JSET, BPF_JNE]);
    p.i(jmp_imm(
        op,
        rng.pick(&UNKNOWN),
        rng.range(0, 300) as i32,
        arm.len() as i16,
    ));
    for insn in arm {
        p.i(insn);
    }
}

/// A bounded loop (counter in r1) whose body branches on an unknown value and on the
/// counter.
fn bounded_loop(rng: &mut Rng, p: &mut P) {
    let mut body = P::new();
    diamond(rng, &mut body);
    if rng.chance(1, 2) {
        let mut arm = P::new();
        assignment(rng, &mut arm);
        let arm = arm.done();
        body.i(jmp_imm(
            BPF_JGT,
            R1,
            rng.range(0, 4) as i32,
            arm.len() as i16,
        ));
        for insn in arm {
            body.i(insn);
        }
    }
    let body = body.done();
    p.i(mov64_imm(R1, 0));
    let len = body.len() as i16;
    for insn in body {
        p.i(insn);
    }
    p.i(alu64_imm(BPF_ADD, R1, 1));
    p.i(jmp_imm(BPF_JLT, R1, rng.range(2, 24) as i32, -(len + 2)));
}

/// One state-heavy program (before the kernel's filter).
fn program(rng: &mut Rng) -> Vec<Insn> {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1));
    for (r, off) in UNKNOWN.iter().zip([4i16, 64, 76]) {
        p.i(ldx(4, *r, R6, off));
    }
    for v in [R0, R2, R3, R4, R5] {
        p.i(mov64_imm(v, 0));
    }
    for slot in 1..=8 {
        p.i(st(8, R10, -8 * slot, 0));
    }
    for _ in 0..rng.range(12, 40) {
        match rng.below(6) {
            0 => bounded_loop(rng, &mut p),
            1 => {
                let (a, b) = (rng.pick(&VALUES), rng.pick(&VALUES));
                p.i(alu64_reg(BPF_ADD, a, b)).i(alu64_imm(BPF_AND, a, 7));
            }
            _ => diamond(rng, &mut p),
        }
    }
    // The ending: the values and the stack slots decide branches and index the stack, so
    // they are precise.
    for v in VALUES {
        p.i(jmp_imm(BPF_JGT, v, rng.range(0, 1000) as i32, 1))
            .i(alu64_imm(BPF_ADD, R0, 0));
    }
    for slot in 1..=8 {
        p.i(ldx(8, R0, R10, -8 * slot))
            .i(jmp_imm(BPF_JGT, R0, rng.range(0, 1000) as i32, 1))
            .i(alu64_imm(BPF_ADD, R0, 0));
    }
    let v = rng.pick(&VALUES);
    p.i(mov64_reg(R0, v))
        .i(alu64_imm(BPF_AND, R0, 7))
        .i(alu64_imm(BPF_LSH, R0, 3))
        .i(mov64_reg(R1, R10))
        .i(alu64_imm(BPF_ADD, R1, -64))
        .i(alu64_reg(BPF_ADD, R1, R0))
        .i(ldx(8, R0, R1, 0))
        .i(alu64_imm(BPF_AND, R0, 1))
        .i(exit());
    p.done()
}

/// One instruction perturbed (a field, or the whole slot), as the fuzzers' mutation mode.
fn mutate(rng: &mut Rng, insns: &mut [Insn]) {
    let k = rng.below(insns.len() as u64) as usize;
    let insn = &mut insns[k];
    match rng.below(6) {
        0 => insn.off = insn.off.wrapping_add(rng.range(-3, 3) as i16),
        1 => insn.imm = insn.imm.wrapping_add(rng.range(-4, 4) as i32),
        2 => insn.dst = rng.below(11) as u8,
        3 => insn.src = rng.below(11) as u8,
        4 => insn.opcode ^= 1 << rng.below(8),
        _ => insn.imm = rng.next_u64() as i32,
    }
}

/// Generates the `state_heavy` candidates.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "state_heavy";
    for _ in 0..CANDIDATES {
        let mut insns = program(rng);
        if rng.chance(1, 2) {
            mutate(rng, &mut insns);
        }
        out.push(insns);
    }
}
