//! The interpreter's pre-lowered form of a program: one 16-byte `Op` per slot, whose `Code`
//! names the operation *and* its operand kinds (`Add64Imm`, `Jne32Reg`, `LdxW`, ...), with
//! jump targets resolved to slot indices and helper calls resolved to their entry points
//! once, when the program is loaded. The fetch-execute loop (`interp/mod.rs`) then does one
//! dispatch per instruction instead of nested matching on the decoded `Instruction`.
//!
//! Everything uncommon or that can fail in an unusual way is lowered to `Code::Generic`,
//! which the loop executes from the decoded `Instruction` of the same slot with the original,
//! fully checked semantics: atomics (load-acquire and store-release included), map references of LD_IMM64, `callx`, kfunc calls,
//! unknown helpers, legacy packet loads, and every jump or local call whose target is out of
//! the program or inside an LD_IMM64 (these fail only when taken, as before). One extra op
//! after the last slot, `Code::FellOffEnd`, catches a run that falls through the end.

use crate::helper::{Helper, HelperCall, HelperTable, PureHelperFn};
use crate::instruction::{
    AluOp, ByteOrder, CallTarget, Imm64Kind, Instruction, JmpCond, Operand, Size, Width,
};

/// What an `Op` does, with its operand kinds. `#[repr(u8)]` so the loop's `match` is one
/// jump table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
pub(crate) enum Code {
    // 64-bit ALU, register and immediate source.
    Add64Reg, Add64Imm, Sub64Reg, Sub64Imm, Mul64Reg, Mul64Imm, Div64Reg, Div64Imm,
    SDiv64Reg, SDiv64Imm, Or64Reg, Or64Imm, And64Reg, And64Imm, Lsh64Reg, Lsh64Imm,
    Rsh64Reg, Rsh64Imm, Mod64Reg, Mod64Imm, SMod64Reg, SMod64Imm, Xor64Reg, Xor64Imm,
    Mov64Reg, Mov64Imm, Arsh64Reg, Arsh64Imm, MovSx8To64, MovSx16To64, MovSx32To64,
    // 32-bit ALU (results zero-extended).
    Add32Reg, Add32Imm, Sub32Reg, Sub32Imm, Mul32Reg, Mul32Imm, Div32Reg, Div32Imm,
    SDiv32Reg, SDiv32Imm, Or32Reg, Or32Imm, And32Reg, And32Imm, Lsh32Reg, Lsh32Imm,
    Rsh32Reg, Rsh32Imm, Mod32Reg, Mod32Imm, SMod32Reg, SMod32Imm, Xor32Reg, Xor32Imm,
    Mov32Reg, Mov32Imm, Arsh32Reg, Arsh32Imm, MovSx8To32, MovSx16To32,
    Neg64, Neg32,
    // Byte-order conversions.
    Le16, Le32, Le64, Be16, Be32, Be64, Swap16, Swap32, Swap64,
    /// LD_IMM64 of a plain 64-bit constant (`imm`); the next slot is its tail.
    LdImm64,
    // Loads (`imm` = sign-extended offset), plain and sign-extending.
    LdxB, LdxH, LdxW, LdxDW, LdxSB, LdxSH, LdxSW,
    /// A faulting load (`imm` = offset, `aux` = length, plus 0x100 to sign-extend).
    ProbeLdx,
    // Stores of a register (`imm` = offset) and of an immediate (`aux` = offset, `imm` = value).
    StxB, StxH, StxW, StxDW, StB, StH, StW, StDW,
    /// Unconditional jump to `aux`.
    Ja,
    // Conditional jumps to `aux`, 64-bit and 32-bit, register and immediate.
    Jeq64Reg, Jeq64Imm, Jgt64Reg, Jgt64Imm, Jge64Reg, Jge64Imm, Jset64Reg, Jset64Imm,
    Jne64Reg, Jne64Imm, Jsgt64Reg, Jsgt64Imm, Jsge64Reg, Jsge64Imm, Jlt64Reg, Jlt64Imm,
    Jle64Reg, Jle64Imm, Jslt64Reg, Jslt64Imm, Jsle64Reg, Jsle64Imm,
    Jeq32Reg, Jeq32Imm, Jgt32Reg, Jgt32Imm, Jge32Reg, Jge32Imm, Jset32Reg, Jset32Imm,
    Jne32Reg, Jne32Imm, Jsgt32Reg, Jsgt32Imm, Jsge32Reg, Jsge32Imm, Jlt32Reg, Jlt32Imm,
    Jle32Reg, Jle32Imm, Jslt32Reg, Jslt32Imm, Jsle32Reg, Jsle32Imm,
    /// Call of a pure helper: `aux` indexes `Lowered::calls`.
    CallPure,
    /// Call of an environment helper: `aux` indexes `Lowered::calls`.
    CallEnv,
    /// BPF-to-BPF call of the slot `aux`.
    CallLocal,
    Exit,
    /// Executed from the decoded instruction with the original checked semantics.
    Generic,
    /// The slot after the last: the run fell through the end of the program.
    FellOffEnd,
}

/// One lowered slot. `dst`/`src` are register numbers (0..=10); `aux` and `imm` as the
/// `Code` documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Op {
    pub code: Code,
    pub dst: u8,
    pub src: u8,
    pub aux: u32,
    pub imm: u64,
}

impl Op {
    fn new(code: Code) -> Op {
        Op {
            code,
            dst: 0,
            src: 0,
            aux: 0,
            imm: 0,
        }
    }
}

/// A lowered program: `ops` has one op per slot plus the final `FellOffEnd`; `pure` and
/// `env` are the helpers its `CallPure` and `CallEnv` ops call, by their `aux` index.
#[derive(Debug)]
pub(crate) struct Lowered {
    pub ops: Vec<Op>,
    pub pure: Vec<PureHelperFn>,
    pub env: Vec<Helper>,
}

/// The valid target of a jump at `pc` with relative offset `off`: inside the program and not
/// the tail of an LD_IMM64. `None` leaves the jump to the generic, erroring path.
fn target(code: &[Instruction], pc: usize, off: i64) -> Option<u32> {
    let t = usize::try_from(pc as i64 + 1 + off).ok()?;
    (t < code.len() && code[t] != Instruction::LdImm64Tail)
        .then(|| u32::try_from(t).ok())
        .flatten()
}

/// The `[reg64, imm64, reg32, imm32]` codes of an ALU operation (`None` where the form does
/// not exist: sign-extending moves take a register and are 32-bit only up to 16 bits).
fn alu_codes(op: AluOp) -> [Option<Code>; 4] {
    use Code::*;
    let all = |a, b, c, d| [Some(a), Some(b), Some(c), Some(d)];
    match op {
        AluOp::Add => all(Add64Reg, Add64Imm, Add32Reg, Add32Imm),
        AluOp::Sub => all(Sub64Reg, Sub64Imm, Sub32Reg, Sub32Imm),
        AluOp::Mul => all(Mul64Reg, Mul64Imm, Mul32Reg, Mul32Imm),
        AluOp::Div => all(Div64Reg, Div64Imm, Div32Reg, Div32Imm),
        AluOp::SDiv => all(SDiv64Reg, SDiv64Imm, SDiv32Reg, SDiv32Imm),
        AluOp::Or => all(Or64Reg, Or64Imm, Or32Reg, Or32Imm),
        AluOp::And => all(And64Reg, And64Imm, And32Reg, And32Imm),
        AluOp::Lsh => all(Lsh64Reg, Lsh64Imm, Lsh32Reg, Lsh32Imm),
        AluOp::Rsh => all(Rsh64Reg, Rsh64Imm, Rsh32Reg, Rsh32Imm),
        AluOp::Mod => all(Mod64Reg, Mod64Imm, Mod32Reg, Mod32Imm),
        AluOp::SMod => all(SMod64Reg, SMod64Imm, SMod32Reg, SMod32Imm),
        AluOp::Xor => all(Xor64Reg, Xor64Imm, Xor32Reg, Xor32Imm),
        AluOp::Mov => all(Mov64Reg, Mov64Imm, Mov32Reg, Mov32Imm),
        AluOp::Arsh => all(Arsh64Reg, Arsh64Imm, Arsh32Reg, Arsh32Imm),
        AluOp::MovSx8 => [Some(MovSx8To64), None, Some(MovSx8To32), None],
        AluOp::MovSx16 => [Some(MovSx16To64), None, Some(MovSx16To32), None],
        AluOp::MovSx32 => [Some(MovSx32To64), None, None, None],
    }
}

/// The `[reg64, imm64, reg32, imm32]` codes of a conditional jump.
fn jump_codes(cond: JmpCond) -> [Code; 4] {
    use Code::*;
    match cond {
        JmpCond::Eq => [Jeq64Reg, Jeq64Imm, Jeq32Reg, Jeq32Imm],
        JmpCond::Gt => [Jgt64Reg, Jgt64Imm, Jgt32Reg, Jgt32Imm],
        JmpCond::Ge => [Jge64Reg, Jge64Imm, Jge32Reg, Jge32Imm],
        JmpCond::Set => [Jset64Reg, Jset64Imm, Jset32Reg, Jset32Imm],
        JmpCond::Ne => [Jne64Reg, Jne64Imm, Jne32Reg, Jne32Imm],
        JmpCond::Sgt => [Jsgt64Reg, Jsgt64Imm, Jsgt32Reg, Jsgt32Imm],
        JmpCond::Sge => [Jsge64Reg, Jsge64Imm, Jsge32Reg, Jsge32Imm],
        JmpCond::Lt => [Jlt64Reg, Jlt64Imm, Jlt32Reg, Jlt32Imm],
        JmpCond::Le => [Jle64Reg, Jle64Imm, Jle32Reg, Jle32Imm],
        JmpCond::Slt => [Jslt64Reg, Jslt64Imm, Jslt32Reg, Jslt32Imm],
        JmpCond::Sle => [Jsle64Reg, Jsle64Imm, Jsle32Reg, Jsle32Imm],
    }
}

/// Index into a `[reg64, imm64, reg32, imm32]` table, and the immediate (sign-extended).
fn form(width: Width, src: Operand) -> (usize, u8, u64) {
    let w = match width {
        Width::W64 => 0,
        Width::W32 => 2,
    };
    match src {
        Operand::Reg(r) => (w, r.index() as u8, 0),
        Operand::Imm(i) => (w + 1, 0, i as i64 as u64),
    }
}

/// Lowers decoded `code` (one `Instruction` per slot) for the loop, resolving helper calls
/// against `helpers`.
pub(crate) fn lower(code: &[Instruction], helpers: &HelperTable) -> Lowered {
    let mut lowered = Lowered {
        ops: Vec::with_capacity(code.len() + 1),
        pure: Vec::new(),
        env: Vec::new(),
    };
    for (pc, &insn) in code.iter().enumerate() {
        let op = lower_one(code, pc, insn, helpers, &mut lowered);
        lowered.ops.push(op);
    }
    lowered.ops.push(Op::new(Code::FellOffEnd));
    lowered
}

fn lower_one(
    code: &[Instruction],
    pc: usize,
    insn: Instruction,
    helpers: &HelperTable,
    lowered: &mut Lowered,
) -> Op {
    let generic = Op::new(Code::Generic);
    match insn {
        Instruction::Alu {
            op,
            width,
            dst,
            src,
        } => {
            let (i, s, imm) = form(width, src);
            match alu_codes(op)[i] {
                Some(code) => Op {
                    code,
                    dst: dst.index() as u8,
                    src: s,
                    aux: 0,
                    imm,
                },
                None => generic,
            }
        }
        Instruction::Neg { width, dst } => Op {
            dst: dst.index() as u8,
            ..Op::new(match width {
                Width::W64 => Code::Neg64,
                Width::W32 => Code::Neg32,
            })
        },
        Instruction::Endian { order, bits, dst } => {
            let code = match (order, bits) {
                (ByteOrder::ToLe, 16) => Code::Le16,
                (ByteOrder::ToLe, 32) => Code::Le32,
                (ByteOrder::ToLe, _) => Code::Le64,
                (ByteOrder::ToBe, 16) => Code::Be16,
                (ByteOrder::ToBe, 32) => Code::Be32,
                (ByteOrder::ToBe, _) => Code::Be64,
                (ByteOrder::Swap, 16) => Code::Swap16,
                (ByteOrder::Swap, 32) => Code::Swap32,
                (ByteOrder::Swap, _) => Code::Swap64,
            };
            Op {
                dst: dst.index() as u8,
                ..Op::new(code)
            }
        }
        Instruction::LdImm64 {
            dst,
            kind: Imm64Kind::Imm,
            imm,
        } => Op {
            dst: dst.index() as u8,
            imm,
            ..Op::new(Code::LdImm64)
        },
        Instruction::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => {
            let code = match (size, sign_extend) {
                (Size::B, false) => Code::LdxB,
                (Size::H, false) => Code::LdxH,
                (Size::W, false) => Code::LdxW,
                (Size::DW, _) => Code::LdxDW,
                (Size::B, true) => Code::LdxSB,
                (Size::H, true) => Code::LdxSH,
                (Size::W, true) => Code::LdxSW,
            };
            Op {
                code,
                dst: dst.index() as u8,
                src: src.index() as u8,
                aux: 0,
                imm: off as i64 as u64,
            }
        }
        Instruction::ProbeLoad {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => Op {
            code: Code::ProbeLdx,
            dst: dst.index() as u8,
            src: src.index() as u8,
            aux: size.bytes() as u32 | if sign_extend { 0x100 } else { 0 },
            imm: off as i64 as u64,
        },
        Instruction::Store {
            size,
            dst,
            off,
            src,
        } => match src {
            Operand::Reg(r) => Op {
                code: match size {
                    Size::B => Code::StxB,
                    Size::H => Code::StxH,
                    Size::W => Code::StxW,
                    Size::DW => Code::StxDW,
                },
                dst: dst.index() as u8,
                src: r.index() as u8,
                aux: 0,
                imm: off as i64 as u64,
            },
            Operand::Imm(v) => Op {
                code: match size {
                    Size::B => Code::StB,
                    Size::H => Code::StH,
                    Size::W => Code::StW,
                    Size::DW => Code::StDW,
                },
                dst: dst.index() as u8,
                src: 0,
                aux: off as i32 as u32,
                imm: v as i64 as u64,
            },
        },
        Instruction::Ja { off, .. } => match target(code, pc, off as i64) {
            Some(t) => Op {
                aux: t,
                ..Op::new(Code::Ja)
            },
            None => generic,
        },
        Instruction::Jump {
            cond,
            width,
            dst,
            src,
            off,
        } => match target(code, pc, off as i64) {
            Some(t) => {
                let (i, s, imm) = form(width, src);
                Op {
                    code: jump_codes(cond)[i],
                    dst: dst.index() as u8,
                    src: s,
                    aux: t,
                    imm,
                }
            }
            None => generic,
        },
        Instruction::Call(CallTarget::Local(off)) => match target(code, pc, off as i64) {
            Some(t) => Op {
                aux: t,
                ..Op::new(Code::CallLocal)
            },
            None => generic,
        },
        Instruction::Call(CallTarget::Helper(id)) => {
            let Some((helper, call)) = u32::try_from(id).ok().and_then(|id| helpers.lookup(id))
            else {
                return generic;
            };
            let (code, index) = match call {
                HelperCall::Pure(pure) => {
                    lowered.pure.push(pure);
                    (Code::CallPure, lowered.pure.len() - 1)
                }
                HelperCall::Env(_) => {
                    lowered.env.push(*helper);
                    (Code::CallEnv, lowered.env.len() - 1)
                }
            };
            Op {
                aux: index as u32,
                ..Op::new(code)
            }
        }
        Instruction::Exit => Op::new(Code::Exit),
        Instruction::LdImm64 { .. }
        | Instruction::LdImm64Tail
        | Instruction::LegacyPacketLoad { .. }
        | Instruction::Atomic { .. }
        | Instruction::LoadAcquire { .. }
        | Instruction::StoreRelease { .. }
        | Instruction::Call(_) => generic,
    }
}
