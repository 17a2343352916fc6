//! Branch prediction from known bits (`tnum_overlap` in `is_scalar_branch_taken`, kernel
//! 6.18): `r & 0xf8` can never equal 1, so `if r != 1` is always taken and its fall-through
//! is dead code the kernel never checks. Likewise a range and known bits with a single value
//! in common make a constant (`__update_reg64_bounds`). Both found by the live-kernel
//! differential test.

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn};

fn run(p: &[Insn], strict: bool) -> Result<u64, String> {
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(p, &[], &HelperTable::new(), &opts)
        .map(|s| s.insns_processed)
        .map_err(|e| e.message)
}

fn program(cond: u8, imm: i32) -> Vec<Insn> {
    vec![
        Insn::new(0x61, 4, 1, 0, 0),    // r4 = ctx->op
        Insn::new(0x57, 4, 0, 0, 0xf8), // r4 &= 0xf8
        Insn::new(cond, 4, 0, 1, imm),  // if r4 <cond> imm goto +1
        Insn::new(0x79, 0, 10, 8, 0),   // r0 = *(u64 *)(r10 +8): invalid
        Insn::new(0xb7, 0, 0, 0, 1),    // r0 = 1
        Insn::new(0x95, 0, 0, 0, 0),    // exit
    ]
}

#[test]
fn jne_on_impossible_bits_is_always_taken() {
    assert_eq!(run(&program(0x55, 1), false), Ok(5));
}

#[test]
fn jeq_on_impossible_bits_is_never_taken_but_possible_bits_are_explored() {
    // if r4 == 1 goto +1: never taken, so the invalid load is reached.
    assert_eq!(
        run(&program(0x15, 1), false),
        Err("invalid read from stack R10 off=8 size=8".into())
    );
    // if r4 != 8: 8 fits the known bits, both sides are explored.
    assert_eq!(
        run(&program(0x55, 8), false),
        Err("invalid read from stack R10 off=8 size=8".into())
    );
}

#[test]
fn strict_mode_still_explores_the_dead_side_speculatively() {
    // The mispredicted fall-through runs speculatively; its fault becomes a barrier, not a
    // rejection.
    assert!(run(&program(0x55, 1), true).is_ok());
}

#[test]
fn range_and_known_bits_with_one_common_value_make_a_constant() {
    // r3 = ctx->reply & 24 is one of 0, 8, 16, 24; past `if r3 <= 16` it can only be 24, so
    // strict mode (which refuses variable stack offsets) accepts fp-32 + r3 — as the kernel
    // does (13 instructions processed there too).
    let p = vec![
        Insn::new(0x61, 3, 1, 4, 0),   // r3 = *(u32 *)(r1 +4)
        Insn::new(0x57, 3, 0, 0, 24),  // r3 &= 24
        Insn::new(0x7a, 10, 0, -8, 0), // *(u64 *)(r10 -8) = 0
        Insn::new(0xb5, 3, 0, 5, 16),  // if r3 <= 16 goto +5
        Insn::new(0xbf, 9, 10, 0, 0),  // r9 = r10
        Insn::new(0x07, 9, 0, 0, -32), // r9 += -32
        Insn::new(0x0f, 9, 3, 0, 0),   // r9 += r3
        Insn::new(0x79, 0, 9, 0, 0),   // r0 = *(u64 *)(r9 +0)
        Insn::new(0x57, 0, 0, 0, 1),   // r0 &= 1
        Insn::new(0xb7, 0, 0, 0, 1),   // r0 = 1
        Insn::new(0x95, 0, 0, 0, 0),   // exit
    ];
    assert_eq!(run(&p, true), Ok(13));
    assert_eq!(run(&p, false), Ok(13));
}

#[test]
fn u32_range_on_one_side_of_the_s32_sign_boundary_tightens_both() {
    // w4 = 0 - w2 with w2 in [0, 2] gives s32 [-2, 0]; past `if r4 s< 8` (64-bit) the u32
    // range is [8, 0xffffffff], so the value is 0xfffffffe or 0xffffffff — and fp-32 + r4 is
    // refused as the kernel refuses it (`__reg32_deduce_bounds`, kernel 6.18). Found by the
    // live-kernel differential test: without the deduction smin stayed 8 and we accepted.
    let p = vec![
        Insn::new(0x61, 2, 1, 0, 0),   // r2 = ctx->op
        Insn::new(0x57, 2, 0, 0, 3),   // r2 &= 3
        Insn::new(0x25, 2, 0, 7, 2),   // if r2 > 2 goto exit
        Insn::new(0xb7, 4, 0, 0, 0),   // r4 = 0
        Insn::new(0x1c, 4, 2, 0, 0),   // w4 -= w2
        Insn::new(0xc5, 4, 0, 3, 8),   // if r4 s< 8 goto +3
        Insn::new(0xbf, 9, 10, 0, 0),  // r9 = r10
        Insn::new(0x07, 9, 0, 0, -32), // r9 += -32
        Insn::new(0x0f, 9, 4, 0, 0),   // r9 += r4
        Insn::new(0xb7, 0, 0, 0, 1),   // r0 = 1
        Insn::new(0x95, 0, 0, 0, 0),   // exit
    ];
    assert_eq!(
        run(&p, false),
        Err("value 4294967294 makes fp pointer be out of bounds".into())
    );
}

#[test]
fn to_le_keeps_the_bounds_of_a_value_that_fits() {
    // r4 in [0, 6]; `le16` on a little-endian machine is a truncation that keeps [0, 6], so
    // `if r4 < 7` is always taken and the invalid NEG behind it is dead (kernel 6.18 accepts, 6 instructions processed).
    let p = vec![
        Insn::new(0x61, 4, 1, 0, 0),    // r4 = ctx->op
        Insn::new(0x57, 4, 0, 0, 6),    // r4 &= 6
        Insn::new(0xd4, 4, 0, 0, 16),   // r4 = le16 r4
        Insn::new(0xa5, 4, 0, 1, 7),    // if r4 < 7 goto +1
        Insn::new(0x87, 4, 0, 0, 0xff), // r4 = -r4 with a reserved field set
        Insn::new(0xb7, 0, 0, 0, 1),    // r0 = 1
        Insn::new(0x95, 0, 0, 0, 0),    // exit
    ];
    assert_eq!(run(&p, false), Ok(6));
    // be16 swaps the bytes: [0, 6] becomes {0, 0x200, 0x400, 0x600} and the NEG is reached.
    let mut swapped = p.clone();
    swapped[2] = Insn::new(0xdc, 4, 0, 0, 16);
    assert_eq!(
        run(&swapped, false),
        Err("BPF_NEG uses reserved fields".into())
    );
}
