//! Pruning must not hide a failing instruction: a scalar whose value no later instruction
//! reads can still matter to the instruction itself — `scalar += pointer` checks the scalar's
//! bounds even when the sum is overwritten right after. Found by the live-kernel
//! differential test (tests/tests/verifier_fuzz.rs); the kernel rejects this program.

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
