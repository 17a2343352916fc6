//! `JitError`: why a program could not be compiled. "This backend cannot compile it"
//! (`Unsupported`) is kept apart from malformed input (`Decode`, bad map references). Run
//! errors are the interpreter's `ExecError`, so both engines report failures identically.

use sockops_vm::DecodeError;

/// Why a program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The program does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The program is empty.
    #[error("program has no instructions")]
    Empty,
    /// The instruction at `pc` is valid eBPF but this backend does not compile it.
    #[error("instruction {pc}: {what} is not supported by the JIT")]
    Unsupported {
        /// Slot index of the instruction.
        pc: usize,
        /// What is not supported.
        what: &'static str,
    },
    /// An LD_IMM64 map reference names a map the program does not have.
    #[error("instruction {pc}: map index {index} out of range ({count} maps)")]
    BadMapIndex {
        /// Slot index of the LD_IMM64.
        pc: usize,
        /// The map index in the immediate.
        index: u64,
        /// Number of maps of the program.
        count: usize,
    },
    /// An LD_IMM64 map value reference the map cannot serve (not an array map, offset past
    /// the value).
    #[error(
        "instruction {pc}: ld_imm64 map value of map {map} at offset {offset} is not available"
    )]
    BadMapValue {
        /// Slot index of the LD_IMM64.
        pc: usize,
        /// Map index.
        map: u32,
        /// Offset into the value.
        offset: u32,
    },
    /// The assembler could not resolve a label (a bug in the backend, reported, never a panic).
    #[error("assembler error: {0}")]
    Assembler(String),
    /// Executable memory could not be mapped or sealed.
    #[error("executable memory: {0}")]
    Memory(#[from] std::io::Error),
    /// The host architecture has no backend.
    #[error(
        "the JIT has no backend for the {arch} architecture (it compiles for x86_64 and aarch64); use the interpreter"
    )]
    NoBackend {
        /// The architecture this build runs on (`std::env::consts::ARCH`).
        arch: &'static str,
    },
}
