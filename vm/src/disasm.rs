//! Disassembler: raw slots -> text in the bpf_conformance dialect that `asm` reads, one
//! instruction per line, such that `assemble(disassemble(x)) == x` for every decodable program
//! (except the ignored `off` of `exit`, see `encode`), and `disassemble(assemble(t))` is a
//! canonical, stable form of `t`.
//!
//! Canonical choices: 64-bit ALU mnemonics without suffix (`add`, `neg`), 32-bit ones with
//! `32`; immediates in signed decimal; `lddw` constants in unsigned hex; memory operands as
//! `[%rN+off]` / `[%rN-off]` / `[%rN]`; jumps and local calls as relative slot offsets `+N` /
//! `-N`; LD_IMM64 pseudo forms as documented in `asm`. Callers may attach a `; comment` to
//! any line (`disassemble_annotated`), e.g. the map name of a relocated `lddw`.
//!
//! `Display` for `Instruction` lives here too (the single-line form, no comment).

use std::fmt::{self, Write as _};

use crate::decode::{DecodeError, decode_program};
use crate::insn::{Insn, Reg};
use crate::instruction::*;

/// The `%rN` form of a register.
struct R(Reg);

impl fmt::Display for R {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%r{}", self.0.num())
    }
}

/// A relative slot offset as `+N` / `-N`.
struct Rel(i64);

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "+{}", self.0)
        }
    }
}

/// A memory operand `[%rN+off]`.
struct Mem(Reg, i16);

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            0 => write!(f, "[{}]", R(self.0)),
            off if off < 0 => write!(f, "[{}{}]", R(self.0), off),
            off => write!(f, "[{}+{}]", R(self.0), off),
        }
    }
}

/// A second operand: register or signed decimal immediate.
struct Src(Operand);

impl fmt::Display for Src {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Operand::Reg(r) => write!(f, "{}", R(r)),
            Operand::Imm(i) => write!(f, "{i}"),
        }
    }
}

fn width_suffix(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn size_suffix(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

/// Mnemonic stem of a binary ALU operation (before the width suffix).
pub(crate) fn alu_stem(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "add",
        AluOp::Sub => "sub",
        AluOp::Mul => "mul",
        AluOp::Div => "div",
        AluOp::SDiv => "sdiv",
        AluOp::Or => "or",
        AluOp::And => "and",
        AluOp::Lsh => "lsh",
        AluOp::Rsh => "rsh",
        AluOp::Mod => "mod",
        AluOp::SMod => "smod",
        AluOp::Xor => "xor",
        AluOp::Mov => "mov",
        AluOp::MovSx8 => "movsx8",
        AluOp::MovSx16 => "movsx16",
        AluOp::MovSx32 => "movsx32",
        AluOp::Arsh => "arsh",
    }
}

/// Mnemonic stem of a conditional jump (before the `32` suffix).
pub(crate) fn jmp_stem(cond: JmpCond) -> &'static str {
    match cond {
        JmpCond::Eq => "jeq",
        JmpCond::Gt => "jgt",
        JmpCond::Ge => "jge",
        JmpCond::Set => "jset",
        JmpCond::Ne => "jne",
        JmpCond::Sgt => "jsgt",
        JmpCond::Sge => "jsge",
        JmpCond::Lt => "jlt",
        JmpCond::Le => "jle",
        JmpCond::Slt => "jslt",
        JmpCond::Sle => "jsle",
    }
}

/// Mnemonic of an atomic operation (before the `32` suffix).
pub(crate) fn atomic_stem(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add => "add",
        AtomicOp::Or => "or",
        AtomicOp::And => "and",
        AtomicOp::Xor => "xor",
        AtomicOp::Xchg => "xchg",
        AtomicOp::CmpXchg => "cmpxchg",
    }
}

/// The keyword of an LD_IMM64 pseudo form (`None` for a plain constant).
pub(crate) fn imm64_keyword(kind: Imm64Kind) -> Option<&'static str> {
    match kind {
        Imm64Kind::Imm => None,
        Imm64Kind::MapFd => Some("map_fd"),
        Imm64Kind::MapValue => Some("map_value"),
        Imm64Kind::BtfId => Some("btf_id"),
        Imm64Kind::Func => Some("func"),
        Imm64Kind::MapIdx => Some("map_idx"),
        Imm64Kind::MapIdxValue => Some("map_idx_value"),
    }
}

fn fmt_ld_imm64(f: &mut fmt::Formatter<'_>, dst: Reg, kind: Imm64Kind, imm: u64) -> fmt::Result {
    let Some(keyword) = imm64_keyword(kind) else {
        return write!(f, "lddw {}, {:#x}", R(dst), imm);
    };
    let low = imm as u32 as i32;
    let high = (imm >> 32) as u32 as i32;
    write!(f, "lddw {}, {keyword} ", R(dst))?;
    if kind == Imm64Kind::Func {
        write!(f, "{}", Rel(i64::from(low)))?;
    } else {
        write!(f, "{low}")?;
    }
    // The value forms always show their offset; the others only a non-zero high half.
    if high != 0 || matches!(kind, Imm64Kind::MapValue | Imm64Kind::MapIdxValue) {
        write!(f, " {high}")?;
    }
    Ok(())
}

impl fmt::Display for Instruction {
    /// The instruction as one line of the assembler dialect (no trailing newline).
    /// `LdImm64Tail` prints as a comment since it is not an instruction of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Instruction::Alu {
                op,
                width,
                dst,
                src,
            } => write!(
                f,
                "{}{} {}, {}",
                alu_stem(op),
                match (op, width) {
                    // movsx always names its width, so `movsx864` is not read as `movsx8`.
                    (AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32, Width::W64) => "64",
                    _ => width_suffix(width),
                },
                R(dst),
                Src(src)
            ),
            Instruction::Neg { width, dst } => write!(f, "neg{} {}", width_suffix(width), R(dst)),
            Instruction::Endian { order, bits, dst } => {
                let stem = match order {
                    ByteOrder::ToLe => "le",
                    ByteOrder::ToBe => "be",
                    ByteOrder::Swap => "bswap",
                };
                write!(f, "{stem}{bits} {}", R(dst))
            }
            Instruction::LdImm64 { dst, kind, imm } => fmt_ld_imm64(f, dst, kind, imm),
            Instruction::LdImm64Tail => write!(f, "; (second slot of lddw)"),
            Instruction::LegacyPacketLoad { size, index, imm } => match index {
                None => write!(f, "ldabs{} {imm}", size_suffix(size)),
                Some(r) => write!(f, "ldind{} {}, {imm}", size_suffix(size), R(r)),
            },
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => write!(
                f,
                "ldx{}{} {}, {}",
                if sign_extend { "s" } else { "" },
                size_suffix(size),
                R(dst),
                Mem(src, off)
            ),
            Instruction::ProbeLoad {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => write!(
                f,
                "probe_ldx{}{} {}, {}",
                if sign_extend { "s" } else { "" },
                size_suffix(size),
                R(dst),
                Mem(src, off)
            ),
            Instruction::Store {
                size,
                dst,
                off,
                src,
            } => match src {
                Operand::Imm(imm) => write!(f, "st{} {}, {imm}", size_suffix(size), Mem(dst, off)),
                Operand::Reg(r) => {
                    write!(f, "stx{} {}, {}", size_suffix(size), Mem(dst, off), R(r))
                }
            },
            Instruction::LoadAcquire {
                size,
                dst,
                src,
                off,
            } => write!(
                f,
                "ldacq{} {}, {}",
                size_suffix(size),
                R(dst),
                Mem(src, off)
            ),
            Instruction::StoreRelease {
                size,
                dst,
                src,
                off,
            } => write!(
                f,
                "strel{} {}, {}",
                size_suffix(size),
                Mem(dst, off),
                R(src)
            ),
            Instruction::Atomic {
                op,
                fetch,
                size,
                dst,
                src,
                off,
            } => {
                let fetch_word = match op {
                    AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor if fetch => {
                        "fetch "
                    }
                    _ => "",
                };
                let suffix = if size == Size::W { "32" } else { "" };
                write!(
                    f,
                    "lock {fetch_word}{}{suffix} {}, {}",
                    atomic_stem(op),
                    Mem(dst, off),
                    R(src)
                )
            }
            Instruction::Ja { off, long } => {
                write!(
                    f,
                    "{} {}",
                    if long { "ja32" } else { "ja" },
                    Rel(i64::from(off))
                )
            }
            Instruction::Jump {
                cond,
                width,
                dst,
                src,
                off,
            } => write!(
                f,
                "{}{} {}, {}, {}",
                jmp_stem(cond),
                width_suffix(width),
                R(dst),
                Src(src),
                Rel(i64::from(off))
            ),
            Instruction::Call(target) => match target {
                CallTarget::Helper(id) => write!(f, "call {id}"),
                CallTarget::Local(rel) => write!(f, "call local {}", Rel(i64::from(rel))),
                CallTarget::Kfunc { btf_id, module: 0 } => write!(f, "call runtime {btf_id}"),
                CallTarget::Kfunc { btf_id, module } => {
                    write!(f, "call runtime {btf_id} {module}")
                }
                CallTarget::Register(r) => write!(f, "call {}", R(r)),
            },
            Instruction::Exit => write!(f, "exit"),
        }
    }
}

/// Disassembles a program, one instruction per line (LD_IMM64 is one line for two slots).
pub fn disassemble(insns: &[Insn]) -> Result<String, DecodeError> {
    disassemble_annotated(insns, |_, _| None)
}

/// Disassembles a program; `annotate(pc, instruction)` may return a comment for the line of
/// the instruction at slot `pc`, printed after the instruction as `  ; comment` (comments
/// are ignored by the assembler, so the output still round-trips).
pub fn disassemble_annotated<F>(insns: &[Insn], annotate: F) -> Result<String, DecodeError>
where
    F: FnMut(usize, &Instruction) -> Option<String>,
{
    let mut out = String::new();
    for (_, line) in lines(insns, annotate)? {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Like `disassemble_annotated`, but prefixes each line with its slot index (`  12: ...`),
/// for humans. The prefixed form is not assembler input.
pub fn disassemble_listing<F>(insns: &[Insn], annotate: F) -> Result<String, DecodeError>
where
    F: FnMut(usize, &Instruction) -> Option<String>,
{
    let width = insns.len().saturating_sub(1).to_string().len();
    let mut out = String::new();
    for (pc, line) in lines(insns, annotate)? {
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{pc:>width$}: {line}");
    }
    Ok(out)
}

/// The text line of every instruction (tails skipped) with its slot index.
fn lines<F>(insns: &[Insn], mut annotate: F) -> Result<Vec<(usize, String)>, DecodeError>
where
    F: FnMut(usize, &Instruction) -> Option<String>,
{
    let decoded = decode_program(insns)?;
    let mut out = Vec::with_capacity(decoded.len());
    for (pc, ins) in decoded.iter().enumerate() {
        if *ins == Instruction::LdImm64Tail {
            continue;
        }
        let mut line = ins.to_string();
        if let Some(comment) = annotate(pc, ins) {
            // Keep the comment on one line whatever the caller gave.
            let one_line: String = comment
                .chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                .collect();
            let _ = write!(line, "  ; {one_line}");
        }
        out.push((pc, line));
    }
    Ok(out)
}
