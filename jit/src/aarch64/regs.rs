//! The aarch64 register map: which host register holds each eBPF register, which are
//! scratch, and which holds the run-state pointer, laid onto AAPCS64. The `asm!` macro here
//! wraps `dynasm!` (`.arch aarch64`) with aliases for the fixed roles, so emitters write
//! `bpf_r0`, `bpf_fp`, `state`, `tmp_a` instead of raw host names.

/// eBPF register number -> host register number (`Xn`). The eBPF calling convention (r0
/// result, r1-r5 arguments clobbered by calls, r6-r9 callee-saved, r10 read-only frame
/// pointer) is laid onto AAPCS64 so that helper calls need no argument shuffling.
pub(crate) const REGISTER_MAP: [u32; 11] = [
    // r0: x7, caller-saved and not an argument register any call here uses (helpers take
    // x0-x4, trampolines x0-x5): a helper's result in x0 is moved here after the call. Kept
    // out of x0 so that r1 can be x0.
    7,
    // r1-r5: x0-x4, the first five AAPCS64 argument registers in order: helper arguments
    // are already in place, and the entry receives the context pointer and length in x0/x1.
    0, 1, 2, 3, 4,
    // r6-r9: x19-x22, callee-saved in AAPCS64, so they survive helper calls as eBPF
    // requires.
    19, 20, 21, 22, // r10: x25, callee-saved; stack accesses are [x25 - k].
    25,
];

/// Holds the `RunState` pointer for the whole run: x26, callee-saved, so helper calls keep
/// it.
pub(crate) const STATE: u32 = 26;
/// Scratch A (x9): lowered and blinded immediates.
pub(crate) const TMP_A: u32 = 9;
/// Scratch B (x10): addresses (large offsets, atomics), divisors.
pub(crate) const TMP_B: u32 = 10;
/// Scratch C (x11): old values of atomic loops, quotients.
pub(crate) const TMP_C: u32 = 11;
/// Scratch D (x12): blinding keys, new values of atomic loops.
pub(crate) const TMP_D: u32 = 12;
/// Scratch E (x13): exclusive-store status of atomic loops.
pub(crate) const TMP_E: u32 = 13;
/// x16 (IP0), the intra-procedure-call scratch register: call targets.
pub(crate) const CALL_TARGET: u32 = 16;
/// The zero register in the register operand slots that name it (`xzr`/`wzr`).
pub(crate) const ZR: u32 = 31;

// The `asm!` aliases below name these registers literally (dynasm aliases take register
// names, not constants); this ties the two together.
const _: () = assert!(STATE == 26 && TMP_A == 9 && TMP_B == 10 && TMP_C == 11 && TMP_D == 12);
const _: () = assert!(TMP_E == 13 && CALL_TARGET == 16);
const _: () = assert!(REGISTER_MAP[0] == 7 && REGISTER_MAP[10] == 25);

/// The host register of eBPF register `reg`.
pub(crate) fn host_reg(reg: sockops_vm::Reg) -> u32 {
    REGISTER_MAP[reg.index()]
}

/// `dynasm!` for aarch64 with the register roles aliased: `bpf_r0`/`bpf_r0_w` (r0), `bpf_fp`
/// (r10), `state` (run-state pointer), `tmp_a`..`tmp_e` and their `_w` 32-bit forms, `ip0`
/// (call targets).
macro_rules! asm {
    ($ops:expr; $($t:tt)*) => {
        dynasmrt::dynasm!($ops
            ; .arch aarch64
            ; .alias bpf_r0, x7
            ; .alias bpf_r0_w, w7
            ; .alias bpf_fp, x25
            ; .alias state, x26
            ; .alias tmp_a, x9
            ; .alias tmp_a_w, w9
            ; .alias tmp_b, x10
            ; .alias tmp_b_w, w10
            ; .alias tmp_c, x11
            ; .alias tmp_c_w, w11
            ; .alias tmp_d, x12
            ; .alias tmp_d_w, w12
            ; .alias tmp_e, x13
            ; .alias tmp_e_w, w13
            ; .alias ip0, x16
            ; $($t)*
        )
    };
}
pub(crate) use asm;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_map_is_injective_and_avoids_reserved_registers() {
        let mut seen = [false; 32];
        for &r in &REGISTER_MAP {
            assert!(!seen[r as usize], "host register {r} mapped twice");
            seen[r as usize] = true;
        }
        // x18 is the platform register, x29/x30 the frame pointer and link register.
        for reserved in [
            STATE,
            TMP_A,
            TMP_B,
            TMP_C,
            TMP_D,
            TMP_E,
            CALL_TARGET,
            18,
            29,
            30,
            31,
        ] {
            assert!(
                !seen[reserved as usize],
                "reserved register {reserved} is mapped"
            );
        }
    }

    #[test]
    fn callee_saved_ebpf_registers_are_callee_saved_on_the_host() {
        // AAPCS64 callee-saved: x19-x28.
        for (r, host) in REGISTER_MAP.iter().enumerate().skip(6) {
            assert!((19..=28).contains(host), "r{r}");
        }
        assert!((19..=28).contains(&STATE));
        // Helper arguments r1-r5 sit in the AAPCS64 argument registers in order.
        assert_eq!(&REGISTER_MAP[1..=5], &[0, 1, 2, 3, 4]);
    }
}
