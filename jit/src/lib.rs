//! `sockops-jit`: compiles eBPF programs to x86-64 machine code with dynasm, with exactly
//! the interpreter's results. The architecture-neutral parts live here (`runtime`: run state,
//! status codes, helper trampolines; `exec_memory`: W^X code memory; `program`: the compiled
//! program and its run API); each architecture is a `backend::Backend` in its own module
//! (`x86_64` now; aarch64 shares the register-map and trampoline ABI design).

mod backend;
pub mod error;
pub mod exec_memory;
mod program;
mod runtime;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use error::JitError;
pub use exec_memory::ExecutableMemory;
pub use program::{JitOptions, JitProgram};
pub use runtime::{FRAME_SIZE, MAX_FRAMES, MAX_TAIL_CALLS};
