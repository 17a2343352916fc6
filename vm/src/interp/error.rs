//! Errors of the checked interpreter: `ExecError { pc, kind }`. Every message names the
//! instruction index (`pc`, a slot index of the program that was running) and, for memory
//! faults, the guest address. "Not supported by this runtime" (`Unsupported`) is kept apart
//! from "the program did something unsafe or invalid" (every other kind).

use crate::decode::DecodeErrorKind;
use crate::helper::HelperError;
use crate::memory::MemoryFault;

/// Why a run (or the construction of an interpreter) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecErrorKind {
    /// The program (or a tail-call target) does not decode.
    #[error("{0}")]
    Decode(DecodeErrorKind),
    /// A load, store or atomic outside every region, or a write to a read-only region.
    #[error(transparent)]
    Memory(#[from] MemoryFault),
    /// A jump, call or fall-through to a slot outside the program.
    #[error("jump out of range to slot {target} (program has {len} slots)")]
    JumpOutOfRange {
        /// The target slot (may be negative).
        target: i64,
        /// Number of slots in the program.
        len: usize,
    },
    /// A jump or call into the second slot of an LD_IMM64.
    #[error("jump into the middle of ld_imm64 at slot {target}")]
    JumpIntoLdImm64 {
        /// The target slot.
        target: usize,
    },
    /// Execution ran past the last slot without `exit`.
    #[error("fell off the end of the program without exit")]
    FellOffEnd,
    /// A helper id that is not in the helper table (or a `callx` register value that is not a
    /// helper id).
    #[error("unknown helper id {0}")]
    UnknownHelper(u64),
    /// A helper stopped the program.
    #[error("helper {name} failed: {source}")]
    Helper {
        /// Kernel name of the helper.
        name: &'static str,
        /// What went wrong.
        source: HelperError,
    },
    /// A local call from the deepest allowed frame (the kernel's MAX_CALL_FRAMES is 8).
    #[error("the call stack of {max} frames is too deep")]
    CallDepthExceeded {
        /// The frame limit.
        max: usize,
    },
    /// The instruction budget of `RunOptions` ran out.
    #[error("instruction budget of {budget} exhausted")]
    BudgetExhausted {
        /// The budget that was set.
        budget: u64,
    },
    /// An LD_IMM64 map reference whose index is not one of the program's maps.
    #[error("ld_imm64 references map index {index}, but the program has {count} maps")]
    BadMapIndex {
        /// The map index in the instruction.
        index: u64,
        /// Number of maps the program holds.
        count: usize,
    },
    /// An LD_IMM64 map value reference the map cannot serve (not an array map, offset past
    /// the value).
    #[error("ld_imm64 map value of map {map} at offset {offset} is not available")]
    BadMapValue {
        /// Map index.
        map: u32,
        /// Offset into the value.
        offset: u32,
    },
    /// A tail call whose map index does not name one of the program's maps.
    #[error("tail call through map index {0}, which the program does not have")]
    BadTailCallMap(usize),
    /// A tail-call target program that does not decode.
    #[error("tail call target at index {index} does not decode: {error}")]
    BadTailCallTarget {
        /// The prog array index.
        index: u32,
        /// The target's decode error (its own slot index).
        error: crate::decode::DecodeError,
    },
    /// A tail call, in an engine that runs only verified code (the JIT), into a prog-array
    /// slot whose program was not stored verified (`Map::prog_array_set_verified`).
    #[error(
        "tail call to index {index}: the slot holds a program that was not verified, which only the checked interpreter may run"
    )]
    UnverifiedTailCallTarget {
        /// The prog array index.
        index: u32,
    },
    /// Something this runtime does not implement (kfunc calls, legacy packet loads, ...).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}

/// The `ExecErrorKind::Unsupported` messages of instructions that decode (and that a
/// verifier may accept where they are dead code) but that this runtime does not execute.
/// Every engine reports exactly these when such an instruction runs.
pub mod unsupported {
    /// `BPF_LD | BPF_ABS/BPF_IND` (legacy socket-buffer loads; no sock_ops context has one).
    pub const LEGACY_PACKET_LOAD: &str = "legacy packet loads (BPF_LD | BPF_ABS/BPF_IND)";
    /// A call of a kernel function (`BPF_PSEUDO_KFUNC_CALL`).
    pub const KFUNC_CALL: &str = "kfunc calls";
    /// `ld_imm64` of a kernel variable (`BPF_PSEUDO_BTF_ID`).
    pub const BTF_VARIABLE: &str = "ld_imm64 of a kernel variable (BPF_PSEUDO_BTF_ID)";
    /// `ld_imm64` of a function address (`BPF_PSEUDO_FUNC`).
    pub const FUNCTION_ADDRESS: &str = "ld_imm64 of a function address (BPF_PSEUDO_FUNC)";
    /// Every message, in a fixed order (engines may report one by its index here).
    pub const ALL: [&str; 4] = [
        LEGACY_PACKET_LOAD,
        KFUNC_CALL,
        BTF_VARIABLE,
        FUNCTION_ADDRESS,
    ];
}

/// A failed run, at slot `pc` of the program that was executing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insn {pc}: {kind}")]
pub struct ExecError {
    /// Slot index of the failing instruction.
    pub pc: usize,
    /// What went wrong.
    pub kind: ExecErrorKind,
}

impl ExecError {
    /// An error at `pc`.
    pub fn new(pc: usize, kind: ExecErrorKind) -> ExecError {
        ExecError { pc, kind }
    }
}

impl From<crate::decode::DecodeError> for ExecError {
    fn from(e: crate::decode::DecodeError) -> ExecError {
        ExecError {
            pc: e.pc,
            kind: ExecErrorKind::Decode(e.kind),
        }
    }
}
