//! Text assembler for the bpf_conformance `-- asm` dialect (see
//! `shared/conformance/README.md` §3), producing raw `Insn` slots. It never panics on any
//! text; every problem is an `AsmError` with the 1-based line number.
//!
//! # Dialect
//!
//! * One instruction or label per line. `#` and `;` start comments. Operands are separated by
//!   whitespace; one trailing comma per operand is dropped (`mov %r0, 1`).
//! * Registers `%r0`..`%r10`; `%r11`..`%r15` are accepted to produce invalid encodings.
//! * Labels: a first token ending in `:` defines a label at the next slot (the rest of that
//!   line is ignored). The first `exit` instruction also defines the label `exit`. Label
//!   offsets count 8-byte slots (`lddw` counts two).
//! * Immediates (32-bit): signed decimal, or `0x` hex read as unsigned and stored as those
//!   bits (`0xffffffff` = -1). Offsets (16-bit) likewise. A leading `-` before hex negates it.
//! * Memory operands `[%rN+off]`, `[%rN-off]`, `[%rN]`. Jump targets `+N`, `-N` or a label.
//! * ALU: `add sub mul div sdiv or and lsh rsh mod smod xor mov arsh` `dst, src|imm`, with
//!   suffix `32` for class ALU and none or `64` for ALU64; `neg`/`neg32 dst`;
//!   `movsx864 movsx1664 movsx3264 movsx832 movsx1632 dst, src`; `le16/32/64`, `be16/32/64`,
//!   `bswap16/32/64` (alias `swap16/32/64`) `dst`.
//! * Memory: `ldx{b,h,w,dw} dst, [src+off]`, `ldxs{b,h,w}` (sign-extending),
//!   `st{b,h,w,dw} [dst+off], imm`, `stx{b,h,w,dw} [dst+off], src`,
//!   `lock [fetch] {add,or,and,xor,xchg,cmpxchg}[32] [dst+off], src`;
//!   load-acquire `ldacq{b,h,w,dw} dst, [src+off]`, store-release `strel{b,h,w,dw} [dst+off], src`.
//! * Legacy packet loads: `ldabs{b,h,w} imm`, `ldind{b,h,w} src, imm`.
//! * Jumps: `ja target`, `ja32 target` (32-bit offset in imm), `jeq jgt jge jset jne jsgt
//!   jsge jlt jle jslt jsle` (+ `32`) `dst, src|imm, target`; `exit`.
//! * Calls: `call N` / `call helper N` (helper), `call %rN` / `call helper %rN` (callx, register
//!   in the dst field), `call local target` (bpf-to-bpf, offset in imm),
//!   `call runtime N [MODULE]` (kfunc by BTF id; MODULE goes in the offset field).
//! * `lddw dst, imm64`: two slots; hex is unsigned 64-bit, decimal may be negative.
//!
//! # LD_IMM64 pseudo forms (an extension of the dialect)
//!
//! `lddw dst, KIND LOW [HIGH]` sets the pseudo source field to KIND, the first slot's imm to
//! LOW and the second slot's imm to HIGH (default 0), both 32-bit immediates:
//!
//! | text | src | meaning |
//! | --- | --- | --- |
//! | `lddw %r1, map_fd 0` | 1 | map number 0 (an index into `Program::maps`) |
//! | `lddw %r1, map_value 0 16` | 2 | address of byte 16 of map 0's value |
//! | `lddw %r1, btf_id ID [FD]` | 3 | kernel variable by BTF id |
//! | `lddw %r1, func target` | 4 | address of a function; target is `+N`/`-N`/label |
//! | `lddw %r1, map_idx 0` | 5 | map by index into the fd array |
//! | `lddw %r1, map_idx_value 0 16` | 6 | map value by index into the fd array |
//!
//! The disassembler prints exactly these forms (the value forms always with their offset).

mod mnemonic;
mod number;

use std::collections::HashMap;

use crate::insn::Insn;
use mnemonic::{Field, assemble_line};

/// What is wrong with an assembler line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// The first token is not a known mnemonic.
    #[error("unknown mnemonic `{0}`")]
    UnknownMnemonic(String),
    /// Wrong number of operands.
    #[error("`{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// The mnemonic.
        mnemonic: String,
        /// How many it takes.
        expected: &'static str,
        /// How many were given.
        found: usize,
    },
    /// Not a register `%r0`..`%r15`.
    #[error("invalid register `{0}` (expected %r0 .. %r10, or %r11 .. %r15 for invalid encodings)")]
    InvalidRegister(String),
    /// Not a number.
    #[error("invalid number `{0}`")]
    InvalidNumber(String),
    /// A number that does not fit 32 bits.
    #[error("immediate `{0}` is out of the 32-bit range")]
    ImmOutOfRange(String),
    /// A number that does not fit 16 bits.
    #[error("offset `{0}` is out of the 16-bit range")]
    OffsetOutOfRange(String),
    /// A number that does not fit 64 bits.
    #[error("64-bit immediate `{0}` is out of range")]
    Imm64OutOfRange(String),
    /// Not `[%rN+off]`, `[%rN-off]` or `[%rN]`.
    #[error("invalid memory operand `{0}` (expected [%rN+off], [%rN-off] or [%rN])")]
    InvalidMemoryOperand(String),
    /// `call` with a mode other than helper/local/runtime.
    #[error("invalid call mode `{0}` (expected helper, local or runtime)")]
    InvalidCallMode(String),
    /// `lock` followed by something other than an atomic operation.
    #[error(
        "invalid atomic operation `{0}` (expected add, or, and, xor, xchg or cmpxchg, optionally with 32)"
    )]
    InvalidAtomicOp(String),
    /// A label defined twice.
    #[error("duplicate label `{0}`")]
    DuplicateLabel(String),
    /// A line that is only `:`.
    #[error("empty label name")]
    EmptyLabel,
    /// A jump to a label that is never defined.
    #[error("undefined label `{0}`")]
    UndefinedLabel(String),
    /// A label too far away for the offset field.
    #[error("label `{label}` is {offset} slots away, out of range for the {bits}-bit field")]
    LabelOutOfRange {
        /// The label.
        label: String,
        /// Its relative slot offset.
        offset: i64,
        /// Width of the field (16 or 32).
        bits: u8,
    },
}

/// An assembler error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct AsmError {
    /// 1-based line number in the source text.
    pub line: usize,
    /// What is wrong.
    pub kind: AsmErrorKind,
}

/// A label reference to patch once all labels are known.
struct Fixup {
    slot: usize,
    line: usize,
    label: String,
    field: Field,
}

/// Removes a `#` or `;` comment.
fn strip_comment(line: &str) -> &str {
    match line.find(['#', ';']) {
        Some(at) => &line[..at],
        None => line,
    }
}

/// Assembles a whole program into raw slots.
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut slots: Vec<Insn> = Vec::new();
    let mut fixups: Vec<Fixup> = Vec::new();
    let mut exit_seen = false;

    for (index, raw_line) in text.split('\n').enumerate() {
        let line = index + 1;
        let err = |kind| AsmError { line, kind };
        let mut tokens = strip_comment(raw_line).split_whitespace();
        let Some(mnemonic) = tokens.next() else {
            continue;
        };
        if let Some(label) = mnemonic.strip_suffix(':') {
            if label.is_empty() {
                return Err(err(AsmErrorKind::EmptyLabel));
            }
            if labels.insert(label.to_string(), slots.len()).is_some() {
                return Err(err(AsmErrorKind::DuplicateLabel(label.to_string())));
            }
            continue;
        }
        if mnemonic == "exit" && !exit_seen {
            // The first `exit` is an implicit label (it replaces an earlier `exit:`).
            labels.insert("exit".to_string(), slots.len());
            exit_seen = true;
        }
        let operands: Vec<&str> = tokens
            .map(|t| t.strip_suffix(',').unwrap_or(t))
            .filter(|t| !t.is_empty())
            .collect();
        let assembled = assemble_line(mnemonic, &operands).map_err(err)?;
        if let Some((label, field)) = assembled.fixup {
            fixups.push(Fixup {
                slot: slots.len(),
                line,
                label,
                field,
            });
        }
        slots.extend_from_slice(&assembled.slots);
    }

    for fixup in fixups {
        let err = |kind| AsmError {
            line: fixup.line,
            kind,
        };
        let target = *labels
            .get(&fixup.label)
            .ok_or_else(|| err(AsmErrorKind::UndefinedLabel(fixup.label.clone())))?;
        let offset = target as i64 - fixup.slot as i64 - 1;
        let out_of_range = |bits| {
            err(AsmErrorKind::LabelOutOfRange {
                label: fixup.label.clone(),
                offset,
                bits,
            })
        };
        let insn = &mut slots[fixup.slot];
        match fixup.field {
            Field::Off => insn.off = i16::try_from(offset).map_err(|_| out_of_range(16))?,
            Field::Imm => insn.imm = i32::try_from(offset).map_err(|_| out_of_range(32))?,
        }
    }
    Ok(slots)
}
