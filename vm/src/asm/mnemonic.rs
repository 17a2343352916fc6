//! One assembler line (mnemonic + operands) -> raw slots, with at most one label to resolve.
//! The tables here name the mnemonics of the dialect; the numbers come from `opcode`.

use super::AsmErrorKind;
use super::number::{
    Target, is_reg, parse_imm32, parse_imm64, parse_mem, parse_off16, parse_reg, parse_target,
};
use crate::insn::Insn;
use crate::opcode::*;

/// Which field of the first slot receives a label's relative offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    /// The 16-bit `off` (jumps).
    Off,
    /// The 32-bit `imm` (`ja32`, `call local`, `lddw func`).
    Imm,
}

/// The slots of one line and the label (if any) that still has to be resolved.
pub(super) struct Line {
    /// One or two slots.
    pub slots: Vec<Insn>,
    /// Label whose offset goes into `field` of the first slot.
    pub fixup: Option<(String, Field)>,
}

impl Line {
    fn one(insn: Insn) -> Line {
        Line {
            slots: vec![insn],
            fixup: None,
        }
    }
}

/// Binary ALU stems: (name, operation bits, offset field).
const ALU_STEMS: &[(&str, u8, i16)] = &[
    ("add", BPF_ADD, 0),
    ("sub", BPF_SUB, 0),
    ("mul", BPF_MUL, 0),
    ("div", BPF_DIV, 0),
    ("sdiv", BPF_DIV, 1),
    ("or", BPF_OR, 0),
    ("and", BPF_AND, 0),
    ("lsh", BPF_LSH, 0),
    ("rsh", BPF_RSH, 0),
    ("mod", BPF_MOD, 0),
    ("smod", BPF_MOD, 1),
    ("xor", BPF_XOR, 0),
    ("mov", BPF_MOV, 0),
    ("arsh", BPF_ARSH, 0),
];

/// Sign-extending moves: (mnemonic, class, offset field = source width).
const MOVSX: &[(&str, u8, i16)] = &[
    ("movsx864", BPF_ALU64, 8),
    ("movsx1664", BPF_ALU64, 16),
    ("movsx3264", BPF_ALU64, 32),
    ("movsx832", BPF_ALU, 8),
    ("movsx1632", BPF_ALU, 16),
];

/// Conditional jump stems.
const JMP_STEMS: &[(&str, u8)] = &[
    ("jeq", BPF_JEQ),
    ("jgt", BPF_JGT),
    ("jge", BPF_JGE),
    ("jset", BPF_JSET),
    ("jne", BPF_JNE),
    ("jsgt", BPF_JSGT),
    ("jsge", BPF_JSGE),
    ("jlt", BPF_JLT),
    ("jle", BPF_JLE),
    ("jslt", BPF_JSLT),
    ("jsle", BPF_JSLE),
];

/// Byte-order stems: (name, opcode).
const ENDIAN_STEMS: &[(&str, u8)] = &[
    ("le", BPF_ALU | BPF_END | BPF_TO_LE),
    ("be", BPF_ALU | BPF_END | BPF_TO_BE),
    ("bswap", BPF_ALU64 | BPF_END | BPF_TO_LE),
    ("swap", BPF_ALU64 | BPF_END | BPF_TO_LE),
];

/// Memory-access size suffixes.
const SIZES: &[(&str, u8)] = &[("b", BPF_B), ("h", BPF_H), ("w", BPF_W), ("dw", BPF_DW)];

/// Atomic operations: (name, imm without the fetch bit, whether `fetch` is optional).
const ATOMIC_OPS: &[(&str, i32, bool)] = &[
    ("add", BPF_ADD as i32, true),
    ("or", BPF_OR as i32, true),
    ("and", BPF_AND as i32, true),
    ("xor", BPF_XOR as i32, true),
    ("xchg", BPF_XCHG, false),
    ("cmpxchg", BPF_CMPXCHG, false),
];

/// LD_IMM64 pseudo forms: (keyword, src field).
pub(super) const LDDW_KINDS: &[(&str, u8)] = &[
    ("map_fd", BPF_PSEUDO_MAP_FD),
    ("map_value", BPF_PSEUDO_MAP_VALUE),
    ("btf_id", BPF_PSEUDO_BTF_ID),
    ("func", BPF_PSEUDO_FUNC),
    ("map_idx", BPF_PSEUDO_MAP_IDX),
    ("map_idx_value", BPF_PSEUDO_MAP_IDX_VALUE),
];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn count(
    mnemonic: &str,
    ops: &[&str],
    expected: &'static str,
    ok: bool,
) -> Result<(), AsmErrorKind> {
    if ok {
        Ok(())
    } else {
        Err(AsmErrorKind::OperandCount {
            mnemonic: mnemonic.to_string(),
            expected,
            found: ops.len(),
        })
    }
}

/// A slot with `target` placed in `field`, or a fixup for a label.
fn with_target(mut insn: Insn, target: Target, field: Field) -> Line {
    match target {
        Target::Rel(rel) => {
            match field {
                // parse_target checked the 16-bit range for `Field::Off`.
                Field::Off => insn.off = rel as i16,
                Field::Imm => insn.imm = rel,
            }
            Line::one(insn)
        }
        Target::Label(label) => Line {
            slots: vec![insn],
            fixup: Some((label, field)),
        },
    }
}

/// Assembles one instruction line.
pub(super) fn assemble_line(m: &str, ops: &[&str]) -> Result<Line, AsmErrorKind> {
    match m {
        "exit" => {
            count(m, ops, "0", ops.is_empty())?;
            Ok(Line::one(Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)))
        }
        "ja" => {
            count(m, ops, "1", ops.len() == 1)?;
            let insn = Insn::new(BPF_JMP | BPF_JA, 0, 0, 0, 0);
            Ok(with_target(insn, parse_target(ops[0], 16)?, Field::Off))
        }
        "ja32" => {
            count(m, ops, "1", ops.len() == 1)?;
            let insn = Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, 0);
            Ok(with_target(insn, parse_target(ops[0], 32)?, Field::Imm))
        }
        "call" => call(ops),
        "lddw" => lddw(ops),
        "lock" => lock(ops),
        _ => other(m, ops),
    }
}

fn call(ops: &[&str]) -> Result<Line, AsmErrorKind> {
    count("call", ops, "1 to 3", (1..=3).contains(&ops.len()))?;
    let (mode, rest) = if ops.len() == 1 {
        ("helper", ops)
    } else {
        (ops[0], &ops[1..])
    };
    let call = BPF_JMP | BPF_CALL;
    match (mode, rest) {
        ("helper", [target]) if is_reg(target) => {
            // callx: the register number goes in the dst field.
            Ok(Line::one(Insn::new(
                call | BPF_X,
                parse_reg(target)?,
                0,
                0,
                0,
            )))
        }
        ("helper", [id]) => Ok(Line::one(Insn::new(
            call,
            0,
            BPF_PSEUDO_HELPER,
            0,
            parse_imm32(id)?,
        ))),
        ("local", [target]) => {
            let insn = Insn::new(call, 0, BPF_PSEUDO_CALL, 0, 0);
            Ok(with_target(insn, parse_target(target, 32)?, Field::Imm))
        }
        ("runtime", [id]) => Ok(Line::one(Insn::new(
            call,
            0,
            BPF_PSEUDO_KFUNC_CALL,
            0,
            parse_imm32(id)?,
        ))),
        ("runtime", [id, module]) => Ok(Line::one(Insn::new(
            call,
            0,
            BPF_PSEUDO_KFUNC_CALL,
            parse_off16(module)?,
            parse_imm32(id)?,
        ))),
        ("helper" | "local" | "runtime", _) => Err(AsmErrorKind::OperandCount {
            mnemonic: "call".to_string(),
            expected: "2 (3 for `call runtime ID MODULE`)",
            found: ops.len(),
        }),
        (other, _) => Err(AsmErrorKind::InvalidCallMode(other.to_string())),
    }
}

fn lddw(ops: &[&str]) -> Result<Line, AsmErrorKind> {
    count("lddw", ops, "2 to 4", (2..=4).contains(&ops.len()))?;
    let dst = parse_reg(ops[0])?;
    let Some(src) = lookup(LDDW_KINDS, ops[1]) else {
        count(
            "lddw",
            ops,
            "2 (or a pseudo form such as `map_fd N`)",
            ops.len() == 2,
        )?;
        let v = parse_imm64(ops[1])?;
        return Ok(Line {
            slots: vec![
                Insn::new(LD_IMM64, dst, BPF_PSEUDO_NONE, 0, v as u32 as i32),
                Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
            ],
            fixup: None,
        });
    };
    count("lddw", ops, "3 or 4 for a pseudo form", ops.len() >= 3)?;
    let high = match ops.get(3) {
        Some(h) => parse_imm32(h)?,
        None => 0,
    };
    let head = Insn::new(LD_IMM64, dst, src, 0, 0);
    let tail = Insn::new(0, 0, 0, 0, high);
    let mut line = if src == BPF_PSEUDO_FUNC {
        with_target(head, parse_target(ops[2], 32)?, Field::Imm)
    } else {
        Line::one(Insn {
            imm: parse_imm32(ops[2])?,
            ..head
        })
    };
    line.slots.push(tail);
    Ok(line)
}

fn lock(ops: &[&str]) -> Result<Line, AsmErrorKind> {
    let fetch = ops.first() == Some(&"fetch");
    let rest = if fetch { &ops[1..] } else { ops };
    count("lock", ops, "3 (4 with `fetch`)", rest.len() == 3)?;
    let (name, class_size) = match rest[0].strip_suffix("32") {
        Some(stem) => (stem, BPF_STX | BPF_ATOMIC | BPF_W),
        None => (rest[0], BPF_STX | BPF_ATOMIC | BPF_DW),
    };
    let (base, fetch_optional) = ATOMIC_OPS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, imm, opt)| (*imm, *opt))
        .ok_or_else(|| AsmErrorKind::InvalidAtomicOp(rest[0].to_string()))?;
    let imm = if fetch && fetch_optional {
        base | BPF_FETCH
    } else {
        base
    };
    let (dst, off) = parse_mem(rest[1])?;
    let src = parse_reg(rest[2])?;
    Ok(Line::one(Insn::new(class_size, dst, src, off, imm)))
}

/// Loads, stores, legacy packet loads, byte swaps, conditional jumps and ALU operations.
fn other(m: &str, ops: &[&str]) -> Result<Line, AsmErrorKind> {
    // Load-acquire `ldacq{b,h,w,dw} dst, [src+off]`, store-release `strel{..} [dst+off], src`.
    if let Some(size) = m.strip_prefix("ldacq").and_then(|s| lookup(SIZES, s)) {
        count(m, ops, "2", ops.len() == 2)?;
        let (src, off) = parse_mem(ops[1])?;
        let code = BPF_STX | BPF_ATOMIC | size;
        return Ok(Line::one(Insn::new(
            code,
            parse_reg(ops[0])?,
            src,
            off,
            BPF_LOAD_ACQ,
        )));
    }
    if let Some(size) = m.strip_prefix("strel").and_then(|s| lookup(SIZES, s)) {
        count(m, ops, "2", ops.len() == 2)?;
        let (dst, off) = parse_mem(ops[0])?;
        let code = BPF_STX | BPF_ATOMIC | size;
        return Ok(Line::one(Insn::new(
            code,
            dst,
            parse_reg(ops[1])?,
            off,
            BPF_STORE_REL,
        )));
    }
    if let Some((mode, size)) =
        m.strip_prefix("probe_ldx")
            .and_then(|s| match s.strip_prefix('s') {
                Some(s) => lookup(SIZES, s)
                    .filter(|&z| z != BPF_DW)
                    .map(|z| (BPF_PROBE_MEMSX, z)),
                None => lookup(SIZES, s).map(|z| (BPF_PROBE_MEM, z)),
            })
    {
        count(m, ops, "2", ops.len() == 2)?;
        let (src, off) = parse_mem(ops[1])?;
        return Ok(Line::one(Insn::new(
            BPF_LDX | mode | size,
            parse_reg(ops[0])?,
            src,
            off,
            0,
        )));
    }
    if let Some(size) = m
        .strip_prefix("ldxs")
        .and_then(|s| lookup(SIZES, s))
        .filter(|&s| s != BPF_DW)
    {
        count(m, ops, "2", ops.len() == 2)?;
        let (src, off) = parse_mem(ops[1])?;
        return Ok(Line::one(Insn::new(
            BPF_LDX | BPF_MEMSX | size,
            parse_reg(ops[0])?,
            src,
            off,
            0,
        )));
    }
    if let Some(size) = m.strip_prefix("ldx").and_then(|s| lookup(SIZES, s)) {
        count(m, ops, "2", ops.len() == 2)?;
        let (src, off) = parse_mem(ops[1])?;
        return Ok(Line::one(Insn::new(
            BPF_LDX | BPF_MEM | size,
            parse_reg(ops[0])?,
            src,
            off,
            0,
        )));
    }
    if let Some(size) = m.strip_prefix("stx").and_then(|s| lookup(SIZES, s)) {
        count(m, ops, "2", ops.len() == 2)?;
        let (dst, off) = parse_mem(ops[0])?;
        return Ok(Line::one(Insn::new(
            BPF_STX | BPF_MEM | size,
            dst,
            parse_reg(ops[1])?,
            off,
            0,
        )));
    }
    if let Some(size) = m.strip_prefix("st").and_then(|s| lookup(SIZES, s)) {
        count(m, ops, "2", ops.len() == 2)?;
        let (dst, off) = parse_mem(ops[0])?;
        return Ok(Line::one(Insn::new(
            BPF_ST | BPF_MEM | size,
            dst,
            0,
            off,
            parse_imm32(ops[1])?,
        )));
    }
    if let Some(size) = m
        .strip_prefix("ldabs")
        .and_then(|s| lookup(SIZES, s))
        .filter(|&s| s != BPF_DW)
    {
        count(m, ops, "1", ops.len() == 1)?;
        return Ok(Line::one(Insn::new(
            BPF_LD | BPF_ABS | size,
            0,
            0,
            0,
            parse_imm32(ops[0])?,
        )));
    }
    if let Some(size) = m
        .strip_prefix("ldind")
        .and_then(|s| lookup(SIZES, s))
        .filter(|&s| s != BPF_DW)
    {
        count(m, ops, "2", ops.len() == 2)?;
        return Ok(Line::one(Insn::new(
            BPF_LD | BPF_IND | size,
            0,
            parse_reg(ops[0])?,
            0,
            parse_imm32(ops[1])?,
        )));
    }
    for (stem, code) in ENDIAN_STEMS {
        if let Some(bits @ ("16" | "32" | "64")) = m.strip_prefix(stem) {
            count(m, ops, "1", ops.len() == 1)?;
            let imm = parse_imm32(bits)?;
            return Ok(Line::one(Insn::new(*code, parse_reg(ops[0])?, 0, 0, imm)));
        }
    }
    let (jmp_stem, jmp_class) = match m.strip_suffix("32") {
        Some(stem) => (stem, BPF_JMP32),
        None => (m, BPF_JMP),
    };
    if let Some(op_bits) = lookup(JMP_STEMS, jmp_stem) {
        count(m, ops, "3", ops.len() == 3)?;
        let dst = parse_reg(ops[0])?;
        let insn = if is_reg(ops[1]) {
            Insn::new(jmp_class | op_bits | BPF_X, dst, parse_reg(ops[1])?, 0, 0)
        } else {
            Insn::new(jmp_class | op_bits | BPF_K, dst, 0, 0, parse_imm32(ops[1])?)
        };
        return Ok(with_target(insn, parse_target(ops[2], 16)?, Field::Off));
    }
    alu(m, ops)
}

fn alu(m: &str, ops: &[&str]) -> Result<Line, AsmErrorKind> {
    let (stem, class) = if let Some(s) = m.strip_suffix("32") {
        (s, BPF_ALU)
    } else if let Some(s) = m.strip_suffix("64") {
        (s, BPF_ALU64)
    } else {
        (m, BPF_ALU64)
    };
    if stem == "neg" {
        count(m, ops, "1", ops.len() == 1)?;
        return Ok(Line::one(Insn::new(
            class | BPF_NEG,
            parse_reg(ops[0])?,
            0,
            0,
            0,
        )));
    }
    let (code, off) = if let Some((_, class, off)) = MOVSX.iter().find(|(n, _, _)| *n == m) {
        (class | BPF_MOV, *off)
    } else if let Some((_, op_bits, off)) = ALU_STEMS.iter().find(|(n, _, _)| *n == stem) {
        (class | op_bits, *off)
    } else {
        return Err(AsmErrorKind::UnknownMnemonic(m.to_string()));
    };
    count(m, ops, "2", ops.len() == 2)?;
    let dst = parse_reg(ops[0])?;
    Ok(Line::one(if is_reg(ops[1]) {
        Insn::new(code | BPF_X, dst, parse_reg(ops[1])?, off, 0)
    } else {
        Insn::new(code | BPF_K, dst, 0, off, parse_imm32(ops[1])?)
    }))
}
