//! `sockops-jit`: compiles eBPF programs to machine code with dynasm, with exactly the
//! interpreter's results. The architecture-neutral parts live here (`backend`: the backend
//! interface and what every backend needs to know about a program; `runtime`: run state,
//! status codes, the bodies of the helper trampolines; `exec_memory`: W^X code memory with
//! instruction-cache synchronisation; `program`: the compiled program and its run API). Each
//! architecture is a `backend::Backend` in its own module, owning its machine ABI (entry type,
//! trampolines, trap instruction, cache maintenance): `x86_64` and `aarch64`, chosen at build
//! time by `target_arch` as the `host` module. On any other target the crate builds and
//! compilation fails with `JitError::NoBackend`, naming the architecture.
//!
//! The aarch64 code generator itself compiles on every host when testing, so that its golden
//! machine-code tests run on x86-64 too; only its ABI part needs an aarch64 target.

// On a target without a backend the shared code-generation support has no user.
#![cfg_attr(
    not(any(all(target_arch = "x86_64", unix), all(target_arch = "aarch64", unix))),
    allow(dead_code)
)]

#[cfg(any(target_arch = "aarch64", test))]
mod aarch64;
mod backend;
pub mod error;
pub mod exec_memory;
mod program;
mod runtime;
#[cfg(all(target_arch = "x86_64", unix))]
mod x86_64;

/// The backend of the architecture this crate is built for, and its machine ABI.
#[cfg(all(target_arch = "x86_64", unix))]
mod host {
    pub(crate) use crate::x86_64::X86_64 as Target;
    pub(crate) use crate::x86_64::abi::{JitEntry, TRAP_FILL, synchronize_instruction_cache};
}

/// The backend of the architecture this crate is built for, and its machine ABI.
#[cfg(all(target_arch = "aarch64", unix))]
mod host {
    pub(crate) use crate::aarch64::Aarch64 as Target;
    pub(crate) use crate::aarch64::abi::{JitEntry, TRAP_FILL, synchronize_instruction_cache};
}

/// No backend for this architecture: compiling fails with `JitError::NoBackend`.
#[cfg(not(any(all(target_arch = "x86_64", unix), all(target_arch = "aarch64", unix))))]
mod host {
    use std::ffi::c_void;

    use crate::backend::{Backend, CompileInput, MachineCode};
    use crate::error::JitError;
    use crate::runtime::CallResult;

    /// The backend of a target without one.
    pub(crate) struct Target;

    impl Backend for Target {
        fn compile(_: &CompileInput<'_>) -> Result<MachineCode, JitError> {
            Err(JitError::NoBackend {
                arch: std::env::consts::ARCH,
            })
        }
    }

    /// Never called: no code is ever compiled here.
    pub(crate) type JitEntry = unsafe fn(u64, u64, *mut c_void) -> CallResult;

    /// Zero bytes (no code is ever mapped here).
    pub(crate) const TRAP_FILL: [u8; 4] = [0; 4];

    /// Nothing to synchronise: no code is ever mapped here.
    pub(crate) fn synchronize_instruction_cache(_code: &[u8]) {}
}

pub use error::JitError;
pub use exec_memory::ExecutableMemory;
pub use program::{AtomicsLowering, JitOptions, JitProgram};
pub use runtime::{FRAME_SIZE, MAX_FRAMES, MAX_TAIL_CALLS};
