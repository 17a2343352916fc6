//! The x86-64 machine ABI of compiled code: the System V entry type and the `extern
//! "sysv64"` trampolines machine code calls for environment helpers, `callx` and the
//! out-of-line memory checks of checked-memory code. Their
//! bodies are the architecture-neutral `runtime::call_helper`/`call_helper_by_id`; only the
//! calling convention is this module's.

use std::ffi::c_void;

use crate::runtime::{CallResult, call_helper, call_helper_by_id, check_access, check_access_lean};

/// Calls the helper the call site stored in `state.helper`; r1..r5 arrive in the SysV
/// argument registers exactly where the register map keeps them, the state in r9.
///
/// # Safety
/// As `runtime::call_helper`.
pub(crate) unsafe extern "sysv64" fn helper_trampoline(
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
pub(crate) unsafe extern "sysv64" fn callx_trampoline(
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
pub(crate) unsafe extern "sysv64" fn check_trampoline(
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
pub(crate) unsafe extern "sysv64" fn check_lean_trampoline(
    addr: u64,
    len: u64,
    write: u64,
    state: *mut c_void,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { check_access_lean(addr, len, write, state) }
}

/// Signature of a trampoline, as machine code calls it.
pub(crate) type Trampoline =
    unsafe extern "sysv64" fn(u64, u64, u64, u64, u64, *mut c_void) -> CallResult;

/// Signature of a compiled program's entry: context pointer, context length, run state
/// (null for lean code, which has no calls).
pub(crate) type JitEntry = unsafe extern "sysv64" fn(u64, u64, *mut c_void) -> CallResult;

/// What unused and recycled code bytes hold: `int3`.
pub(crate) const TRAP_FILL: [u8; 4] = [0xcc; 4];

/// Makes freshly written code visible to instruction fetch: nothing to do on x86-64, whose
/// instruction cache is coherent with data writes (the sealing `mprotect` serialises).
#[inline(always)]
pub(crate) fn synchronize_instruction_cache(_code: &[u8]) {}
