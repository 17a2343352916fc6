//! The x86-64 register map: which host register holds each eBPF register, which host
//! registers are scratch, and which holds the run-state pointer. The `asm!` macro here wraps
//! `dynasm!` with aliases for the fixed roles, so emitters write `bpf_r0`, `state`, `tmp_a`
//! instead of raw host names.

/// Host register numbers as dynasm's dynamic register syntax (`Rq(n)`) takes them.
pub(crate) mod host {
    /// rax
    pub const RAX: u8 = 0;
    /// rcx
    pub const RCX: u8 = 1;
    /// rdx
    pub const RDX: u8 = 2;
    /// rbx
    pub const RBX: u8 = 3;
    /// rbp
    pub const RBP: u8 = 5;
    /// rsi
    pub const RSI: u8 = 6;
    /// rdi
    pub const RDI: u8 = 7;
    /// r8
    pub const R8: u8 = 8;
    /// r9
    pub const R9: u8 = 9;
    /// r10
    pub const R10: u8 = 10;
    /// r11
    pub const R11: u8 = 11;
    /// r12
    pub const R12: u8 = 12;
    /// r13
    pub const R13: u8 = 13;
    /// r14
    pub const R14: u8 = 14;
    /// r15
    pub const R15: u8 = 15;
}

use host::*;

/// eBPF register number -> host register. The eBPF calling convention (r0 result, r1-r5
/// arguments clobbered by calls, r6-r9 callee-saved, r10 read-only frame pointer) is laid
/// onto the System V AMD64 ABI so that helper calls need no register shuffling.
pub(crate) const REGISTER_MAP: [u8; 11] = [
    // r0: rax is where SysV returns a value, so a helper's result lands in r0 with no move.
    // It is also the implicit operand of div/idiv and cmpxchg (saved around division).
    RAX,
    // r1: rdi is the 1st SysV argument register: helper argument 1 is already in place, and
    // the JIT entry receives the context pointer there.
    RDI, // r2: rsi, 2nd SysV argument (the entry receives the context length there).
    RSI,
    // r3: rdx, 3rd SysV argument. div/idiv clobber it: saved in tmp_c around division.
    RDX,
    // r4: rcx, 4th SysV argument. cl is the variable shift count: saved in tmp_b around shifts.
    RCX, // r5: r8, 5th SysV argument.
    R8,
    // r6: rbx is callee-saved in SysV, so it survives helper calls as eBPF requires; and as a
    // legacy register it needs no REX.B for 32-bit operations.
    RBX, // r7: r13, callee-saved.
    R13, // r8: r14, callee-saved.
    R14, // r9: r15, callee-saved.
    R15,
    // r10: rbp, callee-saved, the natural frame-pointer register; stack accesses are
    // [rbp - k] with a one-byte displacement for the common small offsets.
    RBP,
];

/// Holds the `RunState` pointer for the whole run: callee-saved (r12), so helper calls keep it,
/// and used only on the slow paths (calls, error stubs) where its SIB-byte cost does not matter.
pub(crate) const STATE: u8 = R12;
/// Scratch A (r10): caller-saved and not an eBPF register: divisors, blinded immediates.
pub(crate) const TMP_A: u8 = R10;
/// Scratch B (r11): caller-saved: saved rax around division, saved rcx around shifts,
/// addresses in atomic loops.
pub(crate) const TMP_B: u8 = R11;
/// Scratch C (r9): the 6th SysV argument register, which carries the run-state pointer into
/// trampolines; between calls it saves rdx around division and holds atomic operands.
pub(crate) const TMP_C: u8 = R9;

// The `asm!` aliases below name these registers literally (dynasm aliases take register
// names, not constants); this ties the two together.
const _: () = assert!(STATE == R12 && TMP_A == R10 && TMP_B == R11 && TMP_C == R9);
const _: () = assert!(REGISTER_MAP[0] == RAX && REGISTER_MAP[3] == RDX && REGISTER_MAP[10] == RBP);

/// The host register of eBPF register `reg`.
pub(crate) fn host_reg(reg: sockops_vm::Reg) -> u8 {
    REGISTER_MAP[reg.index()]
}

/// `dynasm!` for x86-64 with the register roles aliased: `bpf_r0`/`bpf_r0_d` (r0), `bpf_fp`
/// (r10), `state` (run-state pointer), `tmp_a`/`tmp_b`/`tmp_c` and their `_d` 32-bit forms.
macro_rules! asm {
    ($ops:expr; $($t:tt)*) => {
        dynasmrt::dynasm!($ops
            ; .arch x64
            ; .alias bpf_r0, rax
            ; .alias bpf_r0_d, eax
            ; .alias bpf_r3, rdx
            ; .alias bpf_r3_d, edx
            ; .alias bpf_r4, rcx
            ; .alias bpf_fp, rbp
            ; .alias state, r12
            ; .alias tmp_a, r10
            ; .alias tmp_a_d, r10d
            ; .alias tmp_b, r11
            ; .alias tmp_b_d, r11d
            ; .alias tmp_c, r9
            ; .alias tmp_c_d, r9d
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
        let mut seen = [false; 16];
        for &r in &REGISTER_MAP {
            assert!(!seen[r as usize], "host register {r} mapped twice");
            seen[r as usize] = true;
        }
        for reserved in [STATE, TMP_A, TMP_B, TMP_C, 4 /* rsp */] {
            assert!(
                !seen[reserved as usize],
                "reserved register {reserved} is mapped"
            );
        }
    }

    #[test]
    fn callee_saved_ebpf_registers_are_callee_saved_on_the_host() {
        // SysV callee-saved: rbx, rbp, r12-r15.
        let callee_saved = [RBX, RBP, R12, R13, R14, R15];
        for (r, host) in REGISTER_MAP.iter().enumerate().skip(6) {
            assert!(callee_saved.contains(host), "r{r}");
        }
        // Helper arguments r1-r5 sit in the SysV argument registers in order.
        assert_eq!(&REGISTER_MAP[1..=5], &[RDI, RSI, RDX, RCX, R8]);
    }
}
