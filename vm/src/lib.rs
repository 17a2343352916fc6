//! `sockops-vm`: the eBPF machine. Instruction set (raw `Insn`, typed `Instruction`,
//! decoder and encoder), text assembler and disassembler, programs, ELF objects, maps, the
//! helper table and the checked interpreter. It knows eBPF, not sockets. `vmlinux` holds the
//! kernel's own struct layouts recorded from a live kernel (maps need `struct bpf_map`'s).

pub mod asm;
pub mod decode;
pub mod disasm;
pub mod elf;
pub mod encode;
pub mod helper;
pub mod insn;
pub mod instruction;
pub mod interp;
pub mod maps;
pub mod memory;
pub mod opcode;
pub mod program;
pub mod verified;
pub mod vmlinux;

pub use asm::{AsmError, AsmErrorKind, assemble};
pub use decode::{DecodeError, DecodeErrorKind, decode_at, decode_program, decode_slot};
pub use disasm::{disassemble, disassemble_annotated, disassemble_listing};
pub use encode::{EncodeError, EncodeErrorKind, EncodedInsn, encode, encode_into, encode_program};
pub use helper::{
    ArgKind, Helper, HelperEnv, HelperError, HelperFn, HelperSignature, HelperTable, PureHelper,
    PureHelperFn, RetKind,
};
pub use insn::{INSN_SIZE, Insn, Reg};
pub use instruction::*;
pub use interp::{
    ExecError, ExecErrorKind, GuestRegion, Interpreter, RunOptions, RunResult, RunStats,
};
pub use maps::{Map, MapDef, MapType, ProgArrayEntry};
pub use memory::{Access, Memory, MemoryFault, Region, RegionKind};
pub use program::Program;
pub use verified::VerifiedProgram;
