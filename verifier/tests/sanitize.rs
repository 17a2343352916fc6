//! Strict-mode (no CAP_PERFMON) pointer-arithmetic sanitation and speculative-path limits,
//! checked against what kernel 6.18 answers for the same programs: an add/sub with a register
//! operand must need the same masking on every path (`update_alu_sanitation_state`), and the
//! speculative paths pushed for decided branches count against the 8192 pending-branch limit.

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn};

const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const ADD64_IMM: u8 = 0x07;
const ADD64_REG: u8 = 0x0f;
const LSH64_IMM: u8 = 0x67;
const ST_DW: u8 = 0x7a;
const LDX_DW: u8 = 0x79;
const STX_W: u8 = 0x63;
const JLT_IMM: u8 = 0xa5;
const JGT_IMM: u8 = 0x25;
const JEQ_IMM: u8 = 0x15;
const JA: u8 = 0x05;
const LDX_W: u8 = 0x61;
const EXIT: u8 = 0x95;

fn i(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(op, dst, src, off, imm)
}

fn run(insns: &[Insn], strict: bool) -> Result<(), String> {
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(insns, &[], &HelperTable::new(), &opts)
        .map(|_| ())
        .map_err(|e| e.message)
}

/// Sums two stack slots in a loop: `r3 = fp-32 + (i << 3)` with i = 0, 1 — a constant offset
/// that differs between iterations (corpus mutations-0183).
fn stack_walk_loop() -> Vec<Insn> {
    vec![
        i(MOV64_REG, 6, 1, 0, 0),
        i(ST_DW, 10, 0, -8, 0),
        i(ST_DW, 10, 0, -16, 0),
        i(ST_DW, 10, 0, -24, 0),
        i(ST_DW, 10, 0, -32, 0),
        i(MOV64_IMM, 7, 0, 0, 0),
        i(MOV64_IMM, 8, 0, 0, 0),
        i(MOV64_REG, 2, 7, 0, 0),
        i(LSH64_IMM, 2, 0, 0, 3),
        i(MOV64_REG, 3, 10, 0, 0),
        i(ADD64_IMM, 3, 0, 0, -32),
        i(ADD64_REG, 3, 2, 0, 0),
        i(LDX_DW, 4, 3, 0, 0),
        i(ADD64_REG, 8, 4, 0, 0),
        i(ADD64_IMM, 7, 0, 0, 1),
        i(JLT_IMM, 7, 0, -9, 2),
        i(STX_W, 6, 8, 4, 0),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ]
}

#[test]
fn different_constant_offsets_on_two_paths_are_refused_in_strict_mode() {
    let p = stack_walk_loop();
    assert_eq!(run(&p, false), Ok(()));
    assert_eq!(
        run(&p, true),
        Err("R3 tried to add from different maps, paths or scalars, pointer arithmetic with it prohibited for !root".into())
    );
}

#[test]
fn one_constant_offset_on_every_path_is_accepted_in_strict_mode() {
    // The loop runs once: the add sees offset 0 only.
    let mut p = stack_walk_loop();
    p[15] = i(JLT_IMM, 7, 0, -9, 1);
    assert_eq!(run(&p, true), Ok(()));
}

/// `r3 += r2` is pointer arithmetic on one path and scalar arithmetic on the other.
fn pointer_or_scalar_add() -> Vec<Insn> {
    vec![
        i(LDX_W, 4, 1, 0, 0), // r4 = ctx->op (unknown)
        i(MOV64_IMM, 2, 0, 0, 8),
        i(MOV64_IMM, 3, 0, 0, 5),
        i(JEQ_IMM, 4, 0, 2, 0),
        i(MOV64_REG, 3, 10, 0, 0),
        i(ADD64_IMM, 3, 0, 0, -16),
        i(ADD64_REG, 3, 2, 0, 0),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ]
}

#[test]
fn pointer_and_scalar_paths_through_one_add_are_refused_in_strict_mode() {
    let p = pointer_or_scalar_add();
    assert_eq!(run(&p, false), Ok(()));
    assert_eq!(
        run(&p, true),
        Err("R3 tried to add from different maps, paths or scalars, pointer arithmetic with it prohibited for !root".into())
    );
}

#[test]
fn unknown_offset_with_mixed_signs_is_refused_in_strict_mode() {
    let p = vec![
        i(LDX_W, 2, 1, 0, 0),
        i(ADD64_IMM, 2, 0, 0, -4), // [-4, 2^32-5]: mixed signs
        i(MOV64_REG, 3, 10, 0, 0),
        i(ADD64_IMM, 3, 0, 0, -16),
        i(ADD64_REG, 3, 2, 0, 0),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ];
    assert_eq!(
        run(&p, true),
        Err("R2 has unknown scalar with mixed signed bounds, pointer arithmetic with it prohibited for !root".into())
    );
}

#[test]
fn speculative_paths_count_against_the_pending_branch_limit() {
    // r2 = 3 never exceeds 17, so the loop is dead in root mode; strict mode explores the
    // mispredicted back edge with r2 unknown, where it loops forever, pushing one speculative
    // fall-through per iteration (corpus loops-0058).
    let p = vec![
        i(MOV64_IMM, 2, 0, 0, 3),
        i(MOV64_IMM, 3, 0, 0, 0),
        i(ADD64_IMM, 3, 0, 0, 3),
        i(ADD64_IMM, 2, 0, 0, 0),
        i(JGT_IMM, 2, 0, -3, 17),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ];
    assert_eq!(run(&p, false), Ok(()));
    assert_eq!(
        run(&p, true),
        Err("The sequence of 8193 jumps is too complex.".into())
    );
}

#[test]
fn forward_jump_over_pointer_add_is_accepted() {
    // Both paths through the add use the same pointer and the same constant.
    let p = vec![
        i(LDX_W, 4, 1, 0, 0),
        i(MOV64_IMM, 2, 0, 0, 8),
        i(JEQ_IMM, 4, 0, 1, 0),
        i(JA, 0, 0, 0, 0),
        i(MOV64_REG, 3, 10, 0, 0),
        i(ADD64_IMM, 3, 0, 0, -16),
        i(ADD64_REG, 3, 2, 0, 0),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ];
    assert_eq!(run(&p, true), Ok(()));
}

#[test]
fn speculative_path_ends_after_a_store_over_a_spilled_slot() {
    // A counter kept in a stack slot (spilled constant from `*(u64 *)(fp-8) = 0`): the loop
    // is dead, and the mispredicted back edge would loop forever with r2 unknown, but the
    // store over the spilled slot is followed by a barrier (`nospec_result`), so the
    // speculative path ends there (corpus loops-0002; the kernel processes 12 insns).
    let p = vec![
        i(MOV64_IMM, 2, 0, 0, 0),
        i(ST_DW, 10, 0, -8, 0),
        i(LDX_DW, 3, 10, -8, 0),
        i(ADD64_IMM, 3, 0, 0, 1),
        i(0x7b, 10, 3, -8, 0), // *(u64 *)(fp-8) = r3
        i(ADD64_IMM, 2, 0, 0, 1),
        i(JLT_IMM, 2, 0, -5, 1),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ];
    let opts = VerifyOptions {
        strict: true,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let stats = verify_insns(&p, &[], &HelperTable::new(), &opts).expect("accepted");
    assert_eq!(stats.insns_processed, 12);
}

#[test]
fn add_behind_a_speculation_barrier_needs_no_masking() {
    // `r9 += r4` (r9 a packet pointer, which cannot be masked) is first reached by the
    // mispredicted side of `if r4 s<= 4` with r4 unknown: that speculative path faults, so the
    // kernel puts a barrier before the add (`nospec`) — and then skips sanitation there
    // (`can_skip_alu_sanitation`) when the real path with r4 = 0 arrives. Found by the
    // live-kernel differential test; kernel 6.18 accepts.
    let hex = concat!(
        "bf160000000000007967c000000000007968c800000000006162000000000000b703000000000000",
        "b704000000000000b705000000000000bf790000000000006505030008000000c502010008000000",
        "d504030004000000bf79000000000000bf790000000000000f4900000000000007030000fcffffff",
        "3505000004000000b7000000010000009500000000000000",
    );
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(&hex[k..k + 2], 16).expect("hex"))
        .collect();
    let p = Insn::slice_from_bytes(&bytes).expect("slots");
    assert_eq!(run(&p, true), Ok(()));
    // Without the speculative path first, the same add on a real path is refused.
    let direct = vec![
        i(0x79, 7, 1, 192, 0), // r7 = ctx->skb_data
        i(MOV64_IMM, 4, 0, 0, 0),
        i(ADD64_REG, 7, 4, 0, 0),
        i(MOV64_IMM, 0, 0, 0, 1),
        i(EXIT, 0, 0, 0, 0),
    ];
    assert_eq!(
        run(&direct, true),
        Err("R7 has pointer with unsupported alu operation, pointer arithmetic with it prohibited for !root".into())
    );
}
