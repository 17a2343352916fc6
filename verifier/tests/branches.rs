//! Branch prediction from known bits (`tnum_overlap` in `is_scalar_branch_taken`, kernel
//! 6.18): `r & 0xf8` can never equal 1, so `if r != 1` is always taken and its fall-through
//! is dead code the kernel never checks. Found by the live-kernel differential test.

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
