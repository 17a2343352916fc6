//! The aarch64 machine ABI of compiled code (only built for aarch64 targets): the AAPCS64
//! entry type, the `extern "C"` trampolines machine code calls for environment helpers and
//! `callx`, and the memory-check trampoline of checked-memory code (their bodies are the architecture-neutral `runtime::call_helper` and
//! `call_helper_by_id`), the `brk` trap that fills unused code bytes, the instruction-cache
//! synchronisation after code is written, and the LSE feature test.
//!
//! A two-`u64` `repr(C)` struct (`CallResult`) is returned in x0:x1 under AAPCS64, which is
//! what the entry and the trampolines return.

use std::ffi::c_void;

use crate::runtime::{CallResult, call_helper, call_helper_by_id, check_access, check_access_lean};

/// Calls the helper the call site stored in `state.helper`; r1..r5 arrive in x0-x4 exactly
/// where the register map keeps them, the state in x5.
///
/// # Safety
/// As `runtime::call_helper`.
pub(crate) unsafe extern "C" fn helper_trampoline(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    state: *mut c_void,
) -> CallResult {
    // SAFETY: forwarded contract.
    unsafe { call_helper([r1, r2, r3, r4, r5], state) }
}

/// Calls the helper whose id is `state.callx_id` (`callx`), or reports it unknown.
///
/// # Safety
/// As `runtime::call_helper_by_id`.
pub(crate) unsafe extern "C" fn callx_trampoline(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    state: *mut c_void,
) -> CallResult {
    // SAFETY: forwarded contract.
    unsafe { call_helper_by_id([r1, r2, r3, r4, r5], state) }
}

/// Checks an access checked-memory code's inline windows did not admit: 0 if the run's
/// memory map allows it, else 1 with the fault recorded in the run state.
///
/// # Safety
/// As `runtime::check_access`.
pub(crate) unsafe extern "C" fn check_trampoline(
    addr: u64,
    len: u64,
    write: u64,
    state: *mut c_void,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { check_access(addr, len, write, state) }
}

/// `check_trampoline` for lean checked-memory code, whose state is a `LeanCheckState`.
///
/// # Safety
/// As `runtime::check_access_lean`.
pub(crate) unsafe extern "C" fn check_lean_trampoline(
    addr: u64,
    len: u64,
    write: u64,
    state: *mut c_void,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { check_access_lean(addr, len, write, state) }
}

/// Signature of a compiled program's entry: context pointer, context length, run state
/// (null for lean code, which has no calls); r0 and the status word come back in x0:x1.
pub(crate) type JitEntry = unsafe extern "C" fn(u64, u64, *mut c_void) -> CallResult;

/// What unused and recycled code bytes hold: `brk #0`.
pub(crate) const TRAP_FILL: [u8; 4] = 0xd420_0000u32.to_le_bytes();

/// Makes freshly written code visible to instruction fetch: cleans the data cache lines of
/// `code` to the point of unification (`dc cvau`), invalidates the instruction cache lines
/// (`ic ivau`), with the `dsb ish` barriers between and after (line sizes from `CTR_EL0`;
/// `dynasmrt::cache_control::synchronize_icache`), then an `isb` for this thread's pipeline.
/// Other threads reach new code only through the `mprotect` that seals it and the publication
/// of its address, both of which order after this.
pub(crate) fn synchronize_instruction_cache(code: &[u8]) {
    dynasmrt::cache_control::synchronize_icache(code);
    dynasmrt::cache_control::prepare_for_execution(code);
}

/// Whether this CPU has the ARMv8.1 LSE atomic instructions.
pub(crate) fn cpu_has_lse() -> bool {
    std::arch::is_aarch64_feature_detected!("lse")
}

/// Addresses of the helper, `callx` and memory-check (full and lean code) trampolines,
/// which call sites embed.
pub(crate) fn trampoline_addresses() -> [u64; 4] {
    [
        helper_trampoline as *const () as u64,
        callx_trampoline as *const () as u64,
        check_trampoline as *const () as u64,
        check_lean_trampoline as *const () as u64,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI sets `SOCKOPS_EXPECT_LSE` for each emulated CPU (qemu's default CPU has LSE,
    /// `QEMU_CPU=cortex-a72` does not), so that the two runs provably compile atomics both
    /// ways.
    #[test]
    fn lse_detection_matches_the_emulated_cpu() {
        match std::env::var("SOCKOPS_EXPECT_LSE").as_deref() {
            Ok("1") => assert!(cpu_has_lse(), "expected a CPU with LSE"),
            Ok("0") => assert!(!cpu_has_lse(), "expected a CPU without LSE"),
            _ => {}
        }
    }

    #[test]
    fn trampolines_have_distinct_addresses() {
        let all = trampoline_addresses();
        for (i, a) in all.iter().enumerate() {
            assert!(*a != 0 && !all[..i].contains(a), "{all:x?}");
        }
    }
}
