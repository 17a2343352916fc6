//! Pruning must not hide a failing instruction: a scalar whose value no later instruction
//! reads can still matter to the instruction itself — `scalar += pointer` checks the scalar's
//! bounds even when the sum is overwritten right after. Found by the live-kernel
//! differential test (tests/tests/verifier_fuzz.rs); the kernel rejects this program. The
//! scalar matters only once a path shows its partner to be a pointer: sums that never meet a
//! pointer stay imprecise and prune.

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn};

fn insns(hex: &str) -> Vec<Insn> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    Insn::slice_from_bytes(&bytes).expect("whole slots")
}

#[test]
fn dead_result_of_scalar_plus_pointer_still_checks_the_scalar() {
    // r4 = *(u64 *)(fp-40) (uninitialised: an unknown scalar in root mode);
    // if r4 != 16 goto L; w4 -= w7; L: r4 += r9 (r9 = fp-32); ...; r4 = r9 (sum unused).
    // The path with r4 == 16 reaches L first and is stored; the path with r4 unknown must
    // not be pruned against it.
    let p = insns(concat!(
        "bf16000000000000616200000000000061630400000000007a0af8ff000000007a0af0ff00000000",
        "7a0ae8ff000000007a0ae0ff00000000b704000000000000b705000000000000b707000000000000",
        "b708000000000000bfa900000000000007090000e0ffffff7994f8ff000000001507010000000000",
        "7b3908000000000055040100100000001c740000000000000f940000000000001c32000000000000",
        "0704000001000000bf9400000000000007050000ffffffff670800000300000007080000f8ffffff",
        "b7000000010000009500000000000000",
    ));
    let opts = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let e = verify_insns(&p, &[], &HelperTable::new(), &opts).expect_err("kernel rejects");
    assert_eq!(
        e.message,
        "math between fp pointer and register with unbounded min value is not allowed"
    );
    assert_eq!(e.pc, 18);
}

#[test]
fn sums_no_path_adds_to_a_pointer_stay_imprecise() {
    // 64 if/else diamonds each adding 1 or 2 to r8 with a register add: r8 never meets a
    // pointer, so its value does not matter and the joins prune (linear, not 2^64 paths).
    let mut p = vec![
        Insn::new(0xbf, 6, 1, 0, 0), // r6 = r1
        Insn::new(0xb7, 8, 0, 0, 0), // r8 = 0
    ];
    for k in 0..64 {
        p.push(Insn::new(0x61, 2, 6, 0, 0)); // r2 = ctx->op
        p.push(Insn::new(0x25, 2, 0, 2, k)); // if r2 > k goto +2
        p.push(Insn::new(0xb7, 3, 0, 0, 2)); // r3 = 2
        p.push(Insn::new(0x05, 0, 0, 1, 0)); // goto +1
        p.push(Insn::new(0xb7, 3, 0, 0, 1)); // r3 = 1
        p.push(Insn::new(0x0f, 8, 3, 0, 0)); // r8 += r3
    }
    p.push(Insn::new(0xb7, 0, 0, 0, 1));
    p.push(Insn::new(0x95, 0, 0, 0, 0));
    let opts = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let s = verify_insns(&p, &[], &HelperTable::new(), &opts).expect("accepted");
    assert!(s.insns_processed < 2000, "{} insns", s.insns_processed);
}
