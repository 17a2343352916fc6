//! Decoding raw slots (`Insn`) into validated `Instruction`s, with the Linux kernel's checks
//! and messages (`resolve_pseudo_ldimm64`, `check_alu_op`, `check_cond_jmp_op`, `do_check` in
//! kernel/bpf/verifier.c). Every error names the instruction index.
//!
//! Encodings that RFC 9669 defines but Linux rejects (e.g. `callx`) decode successfully; the
//! verifier refuses them with the kernel's message. Reachability, jump ranges and register
//! roles (writes to r10, ...) are the verifier's business, not the decoder's.

use crate::insn::{Insn, Reg};
use crate::instruction::*;
use crate::opcode::*;

/// Why a slot does not decode. Messages follow the kernel verifier's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The opcode is not in the instruction table.
    #[error("unknown opcode {0:02x}")]
    UnknownOpcode(u8),
    /// A register field above r10.
    #[error("R{0} is invalid")]
    InvalidRegister(u8),
    /// LD_IMM64 without a valid second slot.
    #[error("invalid bpf_ld_imm64 insn")]
    InvalidLdImm64,
    /// LD_IMM64 with an unknown pseudo source.
    #[error("unrecognized bpf_ld_imm64 insn")]
    UnrecognizedLdImm64,
    /// LD_IMM64 with a non-zero offset.
    #[error("BPF_LD_IMM64 uses reserved fields")]
    LdImm64Reserved,
    /// Legacy packet load with reserved fields set.
    #[error("BPF_LD_[ABS|IND] uses reserved fields")]
    LegacyLoadReserved,
    /// LDX with reserved fields set or a bad mode.
    #[error("BPF_LDX uses reserved fields")]
    LdxReserved,
    /// ST with reserved fields set.
    #[error("BPF_ST uses reserved fields")]
    StReserved,
    /// STX with reserved fields set.
    #[error("BPF_STX uses reserved fields")]
    StxReserved,
    /// Atomic with an unknown operation.
    #[error("BPF_ATOMIC uses invalid atomic opcode {0:02x}")]
    InvalidAtomicOp(i32),
    /// Atomic with a size other than 4 or 8.
    #[error("invalid atomic operand size")]
    InvalidAtomicSize,
    /// ALU with reserved fields set.
    #[error("BPF_ALU uses reserved fields")]
    AluReserved,
    /// MOV with reserved fields set.
    #[error("BPF_MOV uses reserved fields")]
    MovReserved,
    /// NEG with reserved fields set.
    #[error("BPF_NEG uses reserved fields")]
    NegReserved,
    /// END / BSWAP with reserved fields or a bad width.
    #[error("BPF_END uses reserved fields")]
    EndReserved,
    /// Conditional jump with reserved fields set.
    #[error("BPF_JMP/JMP32 uses reserved fields")]
    JmpReserved,
    /// JA with reserved fields set.
    #[error("BPF_JA uses reserved fields")]
    JaReserved,
    /// CALL with reserved fields set.
    #[error("BPF_CALL uses reserved fields")]
    CallReserved,
    /// EXIT with reserved fields set.
    #[error("BPF_EXIT uses reserved fields")]
    ExitReserved,
}

/// A slot that does not decode, with its index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insn {pc}: {kind}")]
pub struct DecodeError {
    /// Instruction (slot) index.
    pub pc: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

fn reg(n: u8) -> Result<Reg, DecodeErrorKind> {
    Reg::new(n).ok_or(DecodeErrorKind::InvalidRegister(n))
}

fn mem_size(opcode: u8) -> Size {
    match size(opcode) {
        BPF_W => Size::W,
        BPF_H => Size::H,
        BPF_B => Size::B,
        _ => Size::DW,
    }
}

/// Decodes the instruction starting at slot `pc` of `insns`. An LD_IMM64 consumes slot
/// `pc + 1` too; a slot that is the tail of an LD_IMM64 must not be passed here on its own
/// (use `decode_program`, which marks tails as `Instruction::LdImm64Tail`).
pub fn decode_at(insns: &[Insn], pc: usize) -> Result<Instruction, DecodeError> {
    let insn = insns.get(pc).copied().unwrap_or_default();
    decode_slot(insn, insns.get(pc + 1).copied()).map_err(|kind| DecodeError { pc, kind })
}

/// Decodes one slot; `next` is the following slot (needed for LD_IMM64).
pub fn decode_slot(insn: Insn, next: Option<Insn>) -> Result<Instruction, DecodeErrorKind> {
    let code = insn.opcode;
    match class(code) {
        BPF_LD => decode_ld(insn, next),
        BPF_LDX => {
            let m = mode(code);
            if (m == BPF_PROBE_MEM || m == BPF_PROBE_MEMSX) && insn.imm == 0 {
                if m == BPF_PROBE_MEMSX && size(code) == BPF_DW {
                    return Err(DecodeErrorKind::UnknownOpcode(code));
                }
                return Ok(Instruction::ProbeLoad {
                    size: mem_size(code),
                    sign_extend: m == BPF_PROBE_MEMSX,
                    dst: reg(insn.dst)?,
                    src: reg(insn.src)?,
                    off: insn.off,
                });
            }
            if (m != BPF_MEM && m != BPF_MEMSX) || insn.imm != 0 {
                return Err(DecodeErrorKind::LdxReserved);
            }
            if m == BPF_MEMSX && size(code) == BPF_DW {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            Ok(Instruction::Load {
                size: mem_size(code),
                sign_extend: m == BPF_MEMSX,
                dst: reg(insn.dst)?,
                src: reg(insn.src)?,
                off: insn.off,
            })
        }
        BPF_ST => {
            if mode(code) != BPF_MEM {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            if insn.src != 0 {
                return Err(DecodeErrorKind::StReserved);
            }
            Ok(Instruction::Store {
                size: mem_size(code),
                dst: reg(insn.dst)?,
                off: insn.off,
                src: Operand::Imm(insn.imm),
            })
        }
        BPF_STX => match mode(code) {
            BPF_MEM => {
                if insn.imm != 0 {
                    return Err(DecodeErrorKind::StxReserved);
                }
                Ok(Instruction::Store {
                    size: mem_size(code),
                    dst: reg(insn.dst)?,
                    off: insn.off,
                    src: Operand::Reg(reg(insn.src)?),
                })
            }
            BPF_ATOMIC => decode_atomic(insn),
            _ => Err(DecodeErrorKind::UnknownOpcode(code)),
        },
        BPF_ALU | BPF_ALU64 => decode_alu(insn),
        _ => decode_jmp(insn), // BPF_JMP | BPF_JMP32
    }
}

fn decode_ld(insn: Insn, next: Option<Insn>) -> Result<Instruction, DecodeErrorKind> {
    let code = insn.opcode;
    match mode(code) {
        BPF_IMM => {
            if size(code) != BPF_DW {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            let Some(n) = next else {
                return Err(DecodeErrorKind::InvalidLdImm64);
            };
            if n.opcode != 0 || n.dst != 0 || n.src != 0 || n.off != 0 {
                return Err(DecodeErrorKind::InvalidLdImm64);
            }
            let kind = match insn.src {
                BPF_PSEUDO_NONE => Imm64Kind::Imm,
                BPF_PSEUDO_MAP_FD => Imm64Kind::MapFd,
                BPF_PSEUDO_MAP_VALUE => Imm64Kind::MapValue,
                BPF_PSEUDO_BTF_ID => Imm64Kind::BtfId,
                BPF_PSEUDO_FUNC => Imm64Kind::Func,
                BPF_PSEUDO_MAP_IDX => Imm64Kind::MapIdx,
                BPF_PSEUDO_MAP_IDX_VALUE => Imm64Kind::MapIdxValue,
                _ => return Err(DecodeErrorKind::UnrecognizedLdImm64),
            };
            // resolve_pseudo_ldimm64: a map reference by fd or index has no high half.
            if matches!(kind, Imm64Kind::MapFd | Imm64Kind::MapIdx) && n.imm != 0 {
                return Err(DecodeErrorKind::UnrecognizedLdImm64);
            }
            if insn.off != 0 {
                return Err(DecodeErrorKind::LdImm64Reserved);
            }
            let imm = (insn.imm as u32 as u64) | ((n.imm as u32 as u64) << 32);
            Ok(Instruction::LdImm64 {
                dst: reg(insn.dst)?,
                kind,
                imm,
            })
        }
        m @ (BPF_ABS | BPF_IND) => {
            if size(code) == BPF_DW {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            if insn.dst != 0 || insn.off != 0 || (m == BPF_ABS && insn.src != 0) {
                return Err(DecodeErrorKind::LegacyLoadReserved);
            }
            let index = if m == BPF_IND {
                Some(reg(insn.src)?)
            } else {
                None
            };
            Ok(Instruction::LegacyPacketLoad {
                size: mem_size(code),
                index,
                imm: insn.imm,
            })
        }
        _ => Err(DecodeErrorKind::UnknownOpcode(code)),
    }
}

fn decode_atomic(insn: Insn) -> Result<Instruction, DecodeErrorKind> {
    // Load-acquire and store-release take every size.
    if insn.imm == BPF_LOAD_ACQ || insn.imm == BPF_STORE_REL {
        let size = match size(insn.opcode) {
            BPF_B => Size::B,
            BPF_H => Size::H,
            BPF_W => Size::W,
            _ => Size::DW,
        };
        let (dst, src, off) = (reg(insn.dst)?, reg(insn.src)?, insn.off);
        return Ok(if insn.imm == BPF_LOAD_ACQ {
            Instruction::LoadAcquire {
                size,
                dst,
                src,
                off,
            }
        } else {
            Instruction::StoreRelease {
                size,
                dst,
                src,
                off,
            }
        });
    }
    let size = match size(insn.opcode) {
        BPF_W => Size::W,
        BPF_DW => Size::DW,
        _ => return Err(DecodeErrorKind::UnknownOpcode(insn.opcode)),
    };
    let (op, fetch) = match insn.imm {
        x if x == BPF_ADD as i32 => (AtomicOp::Add, false),
        x if x == BPF_ADD as i32 | BPF_FETCH => (AtomicOp::Add, true),
        x if x == BPF_OR as i32 => (AtomicOp::Or, false),
        x if x == BPF_OR as i32 | BPF_FETCH => (AtomicOp::Or, true),
        x if x == BPF_AND as i32 => (AtomicOp::And, false),
        x if x == BPF_AND as i32 | BPF_FETCH => (AtomicOp::And, true),
        x if x == BPF_XOR as i32 => (AtomicOp::Xor, false),
        x if x == BPF_XOR as i32 | BPF_FETCH => (AtomicOp::Xor, true),
        BPF_XCHG => (AtomicOp::Xchg, true),
        BPF_CMPXCHG => (AtomicOp::CmpXchg, true),
        other => return Err(DecodeErrorKind::InvalidAtomicOp(other)),
    };
    Ok(Instruction::Atomic {
        op,
        fetch,
        size,
        dst: reg(insn.dst)?,
        src: reg(insn.src)?,
        off: insn.off,
    })
}

fn decode_alu(insn: Insn) -> Result<Instruction, DecodeErrorKind> {
    let code = insn.opcode;
    let width = if class(code) == BPF_ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let is_x = source(code) == BPF_X;
    let o = op(code);
    match o {
        BPF_NEG => {
            if is_x || insn.src != 0 || insn.off != 0 || insn.imm != 0 {
                return Err(DecodeErrorKind::NegReserved);
            }
            Ok(Instruction::Neg {
                width,
                dst: reg(insn.dst)?,
            })
        }
        BPF_END => {
            if insn.src != 0
                || insn.off != 0
                || !matches!(insn.imm, 16 | 32 | 64)
                || (width == Width::W64 && is_x)
            {
                return Err(DecodeErrorKind::EndReserved);
            }
            let order = match (width, is_x) {
                (Width::W64, _) => ByteOrder::Swap,
                (Width::W32, false) => ByteOrder::ToLe,
                (Width::W32, true) => ByteOrder::ToBe,
            };
            Ok(Instruction::Endian {
                order,
                bits: insn.imm as u8,
                dst: reg(insn.dst)?,
            })
        }
        BPF_MOV => {
            let op = if is_x {
                let allowed = match width {
                    Width::W32 => matches!(insn.off, 0 | 8 | 16),
                    Width::W64 => matches!(insn.off, 0 | 8 | 16 | 32),
                };
                if !allowed || insn.imm != 0 {
                    return Err(DecodeErrorKind::MovReserved);
                }
                match insn.off {
                    8 => AluOp::MovSx8,
                    16 => AluOp::MovSx16,
                    32 => AluOp::MovSx32,
                    _ => AluOp::Mov,
                }
            } else {
                if insn.src != 0 || insn.off != 0 {
                    return Err(DecodeErrorKind::MovReserved);
                }
                AluOp::Mov
            };
            let src = if is_x {
                Operand::Reg(reg(insn.src)?)
            } else {
                Operand::Imm(insn.imm)
            };
            Ok(Instruction::Alu {
                op,
                width,
                dst: reg(insn.dst)?,
                src,
            })
        }
        _ if o > BPF_END => Err(DecodeErrorKind::UnknownOpcode(code)),
        _ => {
            let signed_ok = o == BPF_DIV || o == BPF_MOD;
            let bad_off = (insn.off != 0 && insn.off != 1) || (insn.off == 1 && !signed_ok);
            if bad_off || (is_x && insn.imm != 0) || (!is_x && insn.src != 0) {
                return Err(DecodeErrorKind::AluReserved);
            }
            let signed = insn.off == 1;
            let op = match o {
                BPF_ADD => AluOp::Add,
                BPF_SUB => AluOp::Sub,
                BPF_MUL => AluOp::Mul,
                BPF_DIV if signed => AluOp::SDiv,
                BPF_DIV => AluOp::Div,
                BPF_OR => AluOp::Or,
                BPF_AND => AluOp::And,
                BPF_LSH => AluOp::Lsh,
                BPF_RSH => AluOp::Rsh,
                BPF_MOD if signed => AluOp::SMod,
                BPF_MOD => AluOp::Mod,
                BPF_XOR => AluOp::Xor,
                _ => AluOp::Arsh, // BPF_ARSH: every other value below BPF_END is handled above
            };
            let src = if is_x {
                Operand::Reg(reg(insn.src)?)
            } else {
                Operand::Imm(insn.imm)
            };
            Ok(Instruction::Alu {
                op,
                width,
                dst: reg(insn.dst)?,
                src,
            })
        }
    }
}

fn decode_jmp(insn: Insn) -> Result<Instruction, DecodeErrorKind> {
    let code = insn.opcode;
    let width = if class(code) == BPF_JMP32 {
        Width::W32
    } else {
        Width::W64
    };
    let is_x = source(code) == BPF_X;
    match op(code) {
        BPF_JA => {
            if is_x
                || insn.src != 0
                || insn.dst != 0
                || (width == Width::W64 && insn.imm != 0)
                || (width == Width::W32 && insn.off != 0)
            {
                return Err(DecodeErrorKind::JaReserved);
            }
            Ok(match width {
                Width::W64 => Instruction::Ja {
                    off: insn.off as i32,
                    long: false,
                },
                Width::W32 => Instruction::Ja {
                    off: insn.imm,
                    long: true,
                },
            })
        }
        BPF_CALL => {
            if width == Width::W32 {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            if is_x {
                // callx (RFC 9669 "callx" group): register in dst, everything else zero.
                if insn.src != 0 || insn.off != 0 || insn.imm != 0 {
                    return Err(DecodeErrorKind::CallReserved);
                }
                return Ok(Instruction::Call(CallTarget::Register(reg(insn.dst)?)));
            }
            if (insn.src != BPF_PSEUDO_KFUNC_CALL && insn.off != 0)
                || !matches!(
                    insn.src,
                    BPF_PSEUDO_HELPER | BPF_PSEUDO_CALL | BPF_PSEUDO_KFUNC_CALL
                )
                || insn.dst != 0
            {
                return Err(DecodeErrorKind::CallReserved);
            }
            Ok(Instruction::Call(match insn.src {
                BPF_PSEUDO_HELPER => CallTarget::Helper(insn.imm),
                BPF_PSEUDO_CALL => CallTarget::Local(insn.imm),
                _ => CallTarget::Kfunc {
                    btf_id: insn.imm,
                    module: insn.off,
                },
            }))
        }
        BPF_EXIT => {
            if width == Width::W32 {
                return Err(DecodeErrorKind::UnknownOpcode(code));
            }
            if is_x || insn.imm != 0 || insn.src != 0 || insn.dst != 0 {
                return Err(DecodeErrorKind::ExitReserved);
            }
            Ok(Instruction::Exit)
        }
        o if o > BPF_JSLE => Err(DecodeErrorKind::UnknownOpcode(code)),
        o => {
            if (is_x && insn.imm != 0) || (!is_x && insn.src != 0) {
                return Err(DecodeErrorKind::JmpReserved);
            }
            let cond = match o {
                BPF_JEQ => JmpCond::Eq,
                BPF_JGT => JmpCond::Gt,
                BPF_JGE => JmpCond::Ge,
                BPF_JSET => JmpCond::Set,
                BPF_JNE => JmpCond::Ne,
                BPF_JSGT => JmpCond::Sgt,
                BPF_JSGE => JmpCond::Sge,
                BPF_JLT => JmpCond::Lt,
                BPF_JLE => JmpCond::Le,
                BPF_JSLT => JmpCond::Slt,
                _ => JmpCond::Sle,
            };
            let src = if is_x {
                Operand::Reg(reg(insn.src)?)
            } else {
                Operand::Imm(insn.imm)
            };
            Ok(Instruction::Jump {
                cond,
                width,
                dst: reg(insn.dst)?,
                src,
                off: insn.off,
            })
        }
    }
}

/// Decodes a whole program, one entry per slot (LD_IMM64 tails become `LdImm64Tail`).
/// Returns the first error in slot order.
pub fn decode_program(insns: &[Insn]) -> Result<Vec<Instruction>, DecodeError> {
    let mut out = Vec::with_capacity(insns.len());
    let mut pc = 0;
    while pc < insns.len() {
        let i = decode_at(insns, pc)?;
        out.push(i);
        if i.slots() == 2 {
            out.push(Instruction::LdImm64Tail);
        }
        pc += i.slots();
    }
    Ok(out)
}
