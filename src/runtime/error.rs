//! `RuntimeError`: why loading, attaching or running a sock_ops program failed. Every variant
//! names what it is about (object, program, instruction index, cgroup), so the CLI can print
//! it as is. "Not supported by this runtime" (`EngineUnavailable`, `HelperRefused` with
//! `NotProvided`, `Kfunc`) is kept apart from "the program is unsafe or malformed".

use std::path::PathBuf;

use sockops_ctx::HelperRefusal;
use sockops_vm::elf::ElfError;
use sockops_vm::{DecodeError, ExecError};

use crate::cgroup::AttachError;
use crate::runtime::Engine;

/// Why the runtime refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The object file could not be read.
    #[error("cannot read object {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The object is not a valid BPF ELF object (or uses something the loader rejects).
    #[error("object {object}: {source}")]
    Elf {
        /// Object name.
        object: String,
        /// The loader's error.
        source: Box<ElfError>,
    },
    /// The object has no program matching the selector (or none at all).
    #[error("object {object}: no program {wanted} (programs: {available})")]
    NoSuchProgram {
        /// Object name.
        object: String,
        /// What was asked for (`section or name "x"`, or `at all`).
        wanted: String,
        /// The programs the object has, as `name (section)`.
        available: String,
    },
    /// Several programs match; the caller must name one.
    #[error(
        "object {object}: {count} programs match {wanted}; name one by its function name (programs: {available})"
    )]
    AmbiguousProgram {
        /// Object name.
        object: String,
        /// What was asked for.
        wanted: String,
        /// How many matched.
        count: usize,
        /// The matching programs.
        available: String,
    },
    /// A program slot does not decode.
    #[error("program {program}: {source}")]
    Decode {
        /// Program name.
        program: String,
        /// The decoder's error (names the instruction index).
        source: Box<DecodeError>,
    },
    /// The program calls a helper sock_ops may not call, or that this runtime does not
    /// provide (the kernel's words: `program of this type cannot use helper bpf_x#N`).
    #[error("program {program}: insn {pc}: {refusal}")]
    HelperRefused {
        /// Program name.
        program: String,
        /// Instruction index of the call.
        pc: usize,
        /// Why.
        refusal: HelperRefusal,
    },
    /// A non-GPL program calls a GPL-only helper.
    #[error(
        "program {program}: insn {pc}: cannot call GPL-restricted function {helper}#{id} from non-GPL compatible program (license {license:?})"
    )]
    GplOnly {
        /// Program name.
        program: String,
        /// Instruction index of the call.
        pc: usize,
        /// Helper name.
        helper: &'static str,
        /// Helper id.
        id: u32,
        /// The program's license.
        license: String,
    },
    /// The program calls a kernel function (kfunc), which this runtime does not provide.
    #[error(
        "program {program}: insn {pc}: kernel function calls (kfunc btf_id {btf_id}) are not supported by this runtime"
    )]
    Kfunc {
        /// Program name.
        program: String,
        /// Instruction index of the call.
        pc: usize,
        /// The kfunc's BTF id.
        btf_id: i32,
    },
    /// The verifier rejected the program; `message` is its log line in the kernel's words.
    #[error("program {program}: rejected by the verifier at insn {pc}: {message}")]
    Rejected {
        /// Program name.
        program: String,
        /// Index of the instruction the verifier stopped at.
        pc: usize,
        /// The verifier's message (e.g. `invalid bpf_context access off=20 size=4`).
        message: String,
    },
    /// The requested engine cannot run this program.
    #[error("program {program}: the {engine} engine is not available: {reason}")]
    EngineUnavailable {
        /// Program name.
        program: String,
        /// The engine asked for.
        engine: Engine,
        /// Why.
        reason: String,
    },
    /// The cgroup rules refused an attach or detach.
    #[error("program {program}: {source}")]
    Attach {
        /// Program name.
        program: String,
        /// The cgroup tree's refusal (with the kernel's errno).
        source: AttachError,
    },
    /// The object has no map of that name.
    #[error("object {object}: no map named {map:?}")]
    NoSuchMap {
        /// Object name.
        object: String,
        /// The map asked for.
        map: String,
    },
    /// A map operation failed.
    #[error("object {object}: map {map}: {source}")]
    Map {
        /// Object name.
        object: String,
        /// Map name.
        map: String,
        /// The map's error.
        source: Box<sockops_vm::maps::MapError>,
    },
    /// A socket's cgroup path is malformed.
    #[error("socket cgroup: {0}")]
    BadCgroup(AttachError),
    /// A program id that this runtime did not hand out.
    #[error("no loaded program with id {0}")]
    UnknownProgram(usize),
    /// An object id that this runtime did not hand out.
    #[error("no loaded object with id {0}")]
    UnknownObject(usize),
    /// A program stopped with an error in the checked interpreter (only possible for
    /// programs the verifier did not check: a bad memory access, a helper misuse, ...).
    #[error("program {program}: {op}: run failed at insn {}: {}", source.pc, source.kind)]
    Exec {
        /// Program name.
        program: String,
        /// The op being run.
        op: String,
        /// The engine's error.
        source: Box<ExecError>,
    },
}
