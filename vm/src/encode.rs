//! Encoding typed `Instruction`s back into raw `Insn` slots: the inverse of `decode`.
//!
//! For every slot sequence `x` that decodes, `encode(decode(x)) == x`, with one exception the
//! kernel forces on us: `exit` ignores its `off` field (Linux's `do_check` does not check it),
//! so an `exit` slot with a non-zero offset decodes to `Instruction::Exit` and re-encodes with
//! `off = 0`. Conversely `decode(encode(i)) == i` for every encodable `i`.
//!
//! `Instruction` values the decoder can never produce (a `movsx` with an immediate, a 12-bit
//! byte swap, a byte-sized atomic, a `ja` offset beyond 16 bits, ...) are refused with
//! `EncodeError` instead of being silently truncated.

use std::ops::Deref;

use crate::decode::decode_slot;
use crate::insn::{Insn, Reg};
use crate::instruction::*;
use crate::opcode::*;

/// Why an `Instruction` has no encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeErrorKind {
    /// The value cannot be represented in the instruction format (the decoder would never
    /// produce it): the debug form of the instruction is included.
    #[error("instruction has no valid encoding: {0}")]
    NotEncodable(String),
}

/// An instruction of a program that has no encoding, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insn {index}: {kind}")]
pub struct EncodeError {
    /// Index of the instruction in the sequence given to the encoder (0 for single encodes).
    pub index: usize,
    /// What is wrong.
    pub kind: EncodeErrorKind,
}

/// The raw slots of one encoded instruction: two for LD_IMM64, none for `LdImm64Tail`
/// (the tail is produced together with its head), one otherwise. Derefs to a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedInsn {
    slots: [Insn; 2],
    len: usize,
}

impl EncodedInsn {
    /// The encoded slots.
    pub fn as_slice(&self) -> &[Insn] {
        &self.slots[..self.len]
    }
}

impl Deref for EncodedInsn {
    type Target = [Insn];

    fn deref(&self) -> &[Insn] {
        self.as_slice()
    }
}

fn one(insn: Insn) -> EncodedInsn {
    EncodedInsn {
        slots: [insn, Insn::default()],
        len: 1,
    }
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => BPF_ALU,
        Width::W64 => BPF_ALU64,
    }
}

fn jmp_class(width: Width) -> u8 {
    match width {
        Width::W32 => BPF_JMP32,
        Width::W64 => BPF_JMP,
    }
}

fn size_bits(size: Size) -> u8 {
    match size {
        Size::B => BPF_B,
        Size::H => BPF_H,
        Size::W => BPF_W,
        Size::DW => BPF_DW,
    }
}

/// Operation bits and `off` field of a binary ALU operation.
fn alu_op_bits(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (BPF_ADD, 0),
        AluOp::Sub => (BPF_SUB, 0),
        AluOp::Mul => (BPF_MUL, 0),
        AluOp::Div => (BPF_DIV, 0),
        AluOp::SDiv => (BPF_DIV, 1),
        AluOp::Or => (BPF_OR, 0),
        AluOp::And => (BPF_AND, 0),
        AluOp::Lsh => (BPF_LSH, 0),
        AluOp::Rsh => (BPF_RSH, 0),
        AluOp::Mod => (BPF_MOD, 0),
        AluOp::SMod => (BPF_MOD, 1),
        AluOp::Xor => (BPF_XOR, 0),
        AluOp::Mov => (BPF_MOV, 0),
        AluOp::MovSx8 => (BPF_MOV, 8),
        AluOp::MovSx16 => (BPF_MOV, 16),
        AluOp::MovSx32 => (BPF_MOV, 32),
        AluOp::Arsh => (BPF_ARSH, 0),
    }
}

/// Operation bits of a conditional jump.
fn jmp_op_bits(cond: JmpCond) -> u8 {
    match cond {
        JmpCond::Eq => BPF_JEQ,
        JmpCond::Gt => BPF_JGT,
        JmpCond::Ge => BPF_JGE,
        JmpCond::Set => BPF_JSET,
        JmpCond::Ne => BPF_JNE,
        JmpCond::Sgt => BPF_JSGT,
        JmpCond::Sge => BPF_JSGE,
        JmpCond::Lt => BPF_JLT,
        JmpCond::Le => BPF_JLE,
        JmpCond::Slt => BPF_JSLT,
        JmpCond::Sle => BPF_JSLE,
    }
}

/// The `imm` of an atomic operation.
fn atomic_imm(op: AtomicOp, fetch: bool) -> i32 {
    let fetch_bit = if fetch { BPF_FETCH } else { 0 };
    match op {
        AtomicOp::Add => BPF_ADD as i32 | fetch_bit,
        AtomicOp::Or => BPF_OR as i32 | fetch_bit,
        AtomicOp::And => BPF_AND as i32 | fetch_bit,
        AtomicOp::Xor => BPF_XOR as i32 | fetch_bit,
        AtomicOp::Xchg => BPF_XCHG,
        AtomicOp::CmpXchg => BPF_CMPXCHG,
    }
}

/// The LD_IMM64 pseudo source field of a `kind`.
pub fn imm64_pseudo_src(kind: Imm64Kind) -> u8 {
    match kind {
        Imm64Kind::Imm => BPF_PSEUDO_NONE,
        Imm64Kind::MapFd => BPF_PSEUDO_MAP_FD,
        Imm64Kind::MapValue => BPF_PSEUDO_MAP_VALUE,
        Imm64Kind::BtfId => BPF_PSEUDO_BTF_ID,
        Imm64Kind::Func => BPF_PSEUDO_FUNC,
        Imm64Kind::MapIdx => BPF_PSEUDO_MAP_IDX,
        Imm64Kind::MapIdxValue => BPF_PSEUDO_MAP_IDX_VALUE,
    }
}

/// Register field and immediate of a second operand.
fn operand_fields(src: Operand) -> (u8, u8, i32) {
    match src {
        Operand::Reg(r) => (BPF_X, r.num(), 0),
        Operand::Imm(imm) => (BPF_K, 0, imm),
    }
}

/// Builds the slots without checking that they decode back to `ins`.
fn raw_slots(ins: &Instruction) -> Option<EncodedInsn> {
    let r = Reg::num;
    Some(match *ins {
        Instruction::Alu {
            op,
            width,
            dst,
            src,
        } => {
            let (op_bits, off) = alu_op_bits(op);
            let (x, src_reg, imm) = operand_fields(src);
            one(Insn::new(
                alu_class(width) | op_bits | x,
                r(dst),
                src_reg,
                off,
                imm,
            ))
        }
        Instruction::Neg { width, dst } => {
            one(Insn::new(alu_class(width) | BPF_NEG, r(dst), 0, 0, 0))
        }
        Instruction::Endian { order, bits, dst } => {
            let code = match order {
                ByteOrder::ToLe => BPF_ALU | BPF_END | BPF_TO_LE,
                ByteOrder::ToBe => BPF_ALU | BPF_END | BPF_TO_BE,
                ByteOrder::Swap => BPF_ALU64 | BPF_END | BPF_TO_LE,
            };
            one(Insn::new(code, r(dst), 0, 0, i32::from(bits)))
        }
        Instruction::LdImm64 { dst, kind, imm } => EncodedInsn {
            slots: [
                Insn::new(
                    LD_IMM64,
                    r(dst),
                    imm64_pseudo_src(kind),
                    0,
                    imm as u32 as i32,
                ),
                Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
            ],
            len: 2,
        },
        Instruction::LdImm64Tail => EncodedInsn {
            slots: [Insn::default(); 2],
            len: 0,
        },
        Instruction::LegacyPacketLoad { size, index, imm } => {
            let (mode_bits, src) = match index {
                None => (BPF_ABS, 0),
                Some(reg) => (BPF_IND, r(reg)),
            };
            one(Insn::new(
                BPF_LD | mode_bits | size_bits(size),
                0,
                src,
                0,
                imm,
            ))
        }
        Instruction::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => {
            let mode_bits = if sign_extend { BPF_MEMSX } else { BPF_MEM };
            one(Insn::new(
                BPF_LDX | mode_bits | size_bits(size),
                r(dst),
                r(src),
                off,
                0,
            ))
        }
        Instruction::ProbeLoad {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => {
            let mode_bits = if sign_extend {
                BPF_PROBE_MEMSX
            } else {
                BPF_PROBE_MEM
            };
            one(Insn::new(
                BPF_LDX | mode_bits | size_bits(size),
                r(dst),
                r(src),
                off,
                0,
            ))
        }
        Instruction::Store {
            size,
            dst,
            off,
            src,
        } => match src {
            Operand::Imm(imm) => one(Insn::new(
                BPF_ST | BPF_MEM | size_bits(size),
                r(dst),
                0,
                off,
                imm,
            )),
            Operand::Reg(s) => one(Insn::new(
                BPF_STX | BPF_MEM | size_bits(size),
                r(dst),
                r(s),
                off,
                0,
            )),
        },
        Instruction::Atomic {
            op,
            fetch,
            size,
            dst,
            src,
            off,
        } => one(Insn::new(
            BPF_STX | BPF_ATOMIC | size_bits(size),
            r(dst),
            r(src),
            off,
            atomic_imm(op, fetch),
        )),
        Instruction::LoadAcquire {
            size,
            dst,
            src,
            off,
        } => one(Insn::new(
            BPF_STX | BPF_ATOMIC | size_bits(size),
            r(dst),
            r(src),
            off,
            BPF_LOAD_ACQ,
        )),
        Instruction::StoreRelease {
            size,
            dst,
            src,
            off,
        } => one(Insn::new(
            BPF_STX | BPF_ATOMIC | size_bits(size),
            r(dst),
            r(src),
            off,
            BPF_STORE_REL,
        )),
        Instruction::Ja { off, long: true } => one(Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, off)),
        Instruction::Ja { off, long: false } => one(Insn::new(
            BPF_JMP | BPF_JA,
            0,
            0,
            i16::try_from(off).ok()?,
            0,
        )),
        Instruction::Jump {
            cond,
            width,
            dst,
            src,
            off,
        } => {
            let (x, src_reg, imm) = operand_fields(src);
            one(Insn::new(
                jmp_class(width) | jmp_op_bits(cond) | x,
                r(dst),
                src_reg,
                off,
                imm,
            ))
        }
        Instruction::Call(target) => one(match target {
            CallTarget::Helper(id) => Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_HELPER, 0, id),
            CallTarget::Local(rel) => Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel),
            CallTarget::Kfunc { btf_id, module } => {
                Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, module, btf_id)
            }
            CallTarget::Register(reg) => Insn::new(BPF_JMP | BPF_CALL | BPF_X, r(reg), 0, 0, 0),
        }),
        Instruction::Exit => one(Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)),
    })
}

/// Encodes one instruction. `LdImm64Tail` encodes to no slots (its head produces both).
/// Fails if the instruction is not one the decoder could have produced.
pub fn encode(ins: &Instruction) -> Result<EncodedInsn, EncodeError> {
    let not_encodable = || EncodeError {
        index: 0,
        kind: EncodeErrorKind::NotEncodable(format!("{ins:?}")),
    };
    let encoded = raw_slots(ins).ok_or_else(not_encodable)?;
    if let Some(&first) = encoded.first() {
        // The encoding is exact iff decoding it gives the instruction back.
        let round = decode_slot(first, encoded.get(1).copied());
        if round.as_ref() != Ok(ins) {
            return Err(not_encodable());
        }
    }
    Ok(encoded)
}

/// Encodes one instruction and appends its slots to `out`.
pub fn encode_into(ins: &Instruction, out: &mut Vec<Insn>) -> Result<(), EncodeError> {
    out.extend_from_slice(&encode(ins)?);
    Ok(())
}

/// Encodes a sequence of instructions (as produced by `decode_program`: `LdImm64Tail`
/// entries are skipped, LD_IMM64 heads produce both slots). Errors carry the index in `program`.
pub fn encode_program(program: &[Instruction]) -> Result<Vec<Insn>, EncodeError> {
    let mut out = Vec::with_capacity(program.len());
    for (index, ins) in program.iter().enumerate() {
        encode_into(ins, &mut out).map_err(|e| EncodeError { index, ..e })?;
    }
    Ok(out)
}
