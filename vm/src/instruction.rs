//! The typed, validated eBPF instruction (`Instruction`) that every consumer matches on:
//! interpreter, verifier, JIT backends, disassembler. Produced by `decode`, turned back into
//! raw slots by `encode`. Raw opcode numbers do not appear here; see `opcode`.

use crate::insn::Reg;

/// Operand width of an ALU or jump instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit: class ALU / JMP32. ALU results are zero-extended to 64 bits.
    W32,
    /// 64-bit: class ALU64 / JMP.
    W64,
}

/// Second operand of an ALU or jump instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register.
    Reg(Reg),
    /// The 32-bit immediate, sign-extended to 64 bits where used as a 64-bit value.
    Imm(i32),
}

/// Binary ALU operations (negation and byte swaps have their own variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// dst += src
    Add,
    /// dst -= src
    Sub,
    /// dst *= src
    Mul,
    /// dst /= src, unsigned; division by zero gives 0.
    Div,
    /// dst /= src, signed (cpu v4, off = 1); division by zero gives 0.
    SDiv,
    /// dst |= src
    Or,
    /// dst &= src
    And,
    /// dst <<= src (count masked to the width)
    Lsh,
    /// dst >>= src, logical (count masked to the width)
    Rsh,
    /// dst %= src, unsigned; modulo by zero leaves dst.
    Mod,
    /// dst %= src, signed (cpu v4, off = 1); modulo by zero leaves dst.
    SMod,
    /// dst ^= src
    Xor,
    /// dst = src
    Mov,
    /// dst = sign_extend(low 8 bits of src) (cpu v4, off = 8)
    MovSx8,
    /// dst = sign_extend(low 16 bits of src) (cpu v4, off = 16)
    MovSx16,
    /// dst = sign_extend(low 32 bits of src) (cpu v4, off = 32; 64-bit only)
    MovSx32,
    /// dst >>= src, arithmetic (count masked to the width)
    Arsh,
}

/// What a byte-order instruction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Convert host to little-endian (`le16/32/64`; truncation only on little-endian hosts).
    ToLe,
    /// Convert host to big-endian (`be16/32/64`).
    ToBe,
    /// Unconditional byte swap (`bswap16/32/64`, cpu v4).
    Swap,
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Condition of a conditional jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// ==
    Eq,
    /// > unsigned
    Gt,
    /// >= unsigned
    Ge,
    /// (dst & src) != 0
    Set,
    /// !=
    Ne,
    /// > signed
    Sgt,
    /// >= signed
    Sge,
    /// < unsigned
    Lt,
    /// <= unsigned
    Le,
    /// < signed
    Slt,
    /// <= signed
    Sle,
}

/// Atomic read-modify-write operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// *addr += src
    Add,
    /// *addr |= src
    Or,
    /// *addr &= src
    And,
    /// *addr ^= src
    Xor,
    /// src = xchg(*addr, src) (always fetches)
    Xchg,
    /// r0 = cmpxchg(*addr, r0, src) (always fetches into r0)
    CmpXchg,
}

/// Which kind of value an LD_IMM64 (`lddw`) carries, from its pseudo source field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Imm64Kind {
    /// src 0: a plain 64-bit constant.
    Imm,
    /// src 1 (BPF_PSEUDO_MAP_FD): a map; the low 32 bits name it (fd or map index).
    MapFd,
    /// src 2 (BPF_PSEUDO_MAP_VALUE): address of a map value; low 32 bits = map, high 32 bits = offset.
    MapValue,
    /// src 3 (BPF_PSEUDO_BTF_ID): address of a kernel variable by BTF id.
    BtfId,
    /// src 4 (BPF_PSEUDO_FUNC): address of a BPF function; low 32 bits = relative slot offset.
    Func,
    /// src 5 (BPF_PSEUDO_MAP_IDX): a map by index into the fd array.
    MapIdx,
    /// src 6 (BPF_PSEUDO_MAP_IDX_VALUE): a map value by index into the fd array.
    MapIdxValue,
}

/// Target of a call instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// src 0: helper function by id.
    Helper(i32),
    /// src 1: BPF-to-BPF call; relative slot offset (target = pc + 1 + offset).
    Local(i32),
    /// src 2: kernel function by BTF id (not callable in this runtime).
    Kfunc {
        /// BTF id of the function.
        btf_id: i32,
        /// Index of the module BTF in the fd array (0 = vmlinux), from the offset field.
        module: i16,
    },
    /// `callx` (opcode 0x8d): helper id taken from a register at run time.
    Register(Reg),
}

/// One decoded eBPF instruction. LD_IMM64 occupies two slots; the second slot decodes to
/// `LdImm64Tail` so that decoded programs stay indexed by slot like the raw ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// Binary ALU operation: `dst = dst op src` (or `dst = src` for moves).
    Alu {
        /// Operation.
        op: AluOp,
        /// 32 or 64 bit.
        width: Width,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 32 or 64 bit.
        width: Width,
        /// Register negated in place.
        dst: Reg,
    },
    /// Byte-order conversion of the low `bits` bits of `dst`, zero-extended.
    Endian {
        /// Conversion kind.
        order: ByteOrder,
        /// 16, 32 or 64.
        bits: u8,
        /// Register converted in place.
        dst: Reg,
    },
    /// `dst = imm64` (two slots); `kind` says whether it is a constant or a pseudo reference.
    LdImm64 {
        /// Destination register.
        dst: Reg,
        /// Pseudo source kind.
        kind: Imm64Kind,
        /// First slot's imm in the low 32 bits, second slot's imm in the high 32 bits.
        imm: u64,
    },
    /// Second slot of an LD_IMM64; never executed (jumping here is an error).
    LdImm64Tail,
    /// Legacy packet load (`BPF_LD | BPF_ABS/BPF_IND`): r0 = ntoh(packet[src? + imm]).
    LegacyPacketLoad {
        /// Access size (1, 2 or 4 bytes).
        size: Size,
        /// Index register for the BPF_IND form; `None` for BPF_ABS.
        index: Option<Reg>,
        /// Constant offset.
        imm: i32,
    },
    /// `dst = *(size *)(src + off)`, zero- or sign-extended.
    Load {
        /// Access size.
        size: Size,
        /// Sign-extend the loaded value (cpu v4 `ldxs*`).
        sign_extend: bool,
        /// Destination register.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Signed offset.
        off: i16,
    },
    /// A faulting load: `dst = *(size *)(src + off)` where the address lies inside the blank
    /// kernel structs (`vmlinux::blank`), 0 anywhere else. The kernel's verifier writes
    /// `BPF_PROBE_MEM` / `BPF_PROBE_MEMSX` loads in place of loads through untrusted kernel
    /// pointers, whose bad addresses its JIT turns into 0; this verifier does the same for
    /// loads through untrusted memory and pointers read out of unions. Programs handed to a
    /// verifier may not contain it (`BPF_LDX uses reserved fields`).
    ProbeLoad {
        /// Access size.
        size: Size,
        /// Sign-extend the loaded value.
        sign_extend: bool,
        /// Destination register.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Signed offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = src` (register or immediate).
    Store {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Signed offset.
        off: i16,
        /// Stored value: register (STX) or immediate (ST).
        src: Operand,
    },
    /// Atomic read-modify-write on `*(size *)(dst + off)` (size W or DW).
    Atomic {
        /// Operation.
        op: AtomicOp,
        /// Whether the old value is returned (in `src`, or `r0` for cmpxchg).
        fetch: bool,
        /// W or DW.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Operand register (receives the old value when fetching).
        src: Reg,
        /// Signed offset.
        off: i16,
    },
    /// Load-acquire (`BPF_STX | BPF_ATOMIC`, imm `BPF_LOAD_ACQ`): `dst = *(size *)(src +
    /// off)` zero-extended, with acquire ordering (no later memory access moves before it).
    LoadAcquire {
        /// B, H, W or DW.
        size: Size,
        /// Destination register.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Signed offset.
        off: i16,
    },
    /// Store-release (`BPF_STX | BPF_ATOMIC`, imm `BPF_STORE_REL`): `*(size *)(dst + off) =
    /// src` with release ordering (no earlier memory access moves after it).
    StoreRelease {
        /// B, H, W or DW.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Value register.
        src: Reg,
        /// Signed offset.
        off: i16,
    },
    /// Unconditional jump; `ja` (16-bit offset) or `gotol` (JMP32 class, 32-bit offset in imm).
    Ja {
        /// Relative slot offset: target = pc + 1 + off.
        off: i32,
        /// True for the 32-bit-offset `gotol` form (cpu v4).
        long: bool,
    },
    /// Conditional jump: `if dst cond src goto pc + 1 + off`.
    Jump {
        /// Condition.
        cond: JmpCond,
        /// Compare 32 bits (JMP32) or 64 bits (JMP).
        width: Width,
        /// Left operand.
        dst: Reg,
        /// Right operand.
        src: Operand,
        /// Relative slot offset.
        off: i16,
    },
    /// Function call.
    Call(CallTarget),
    /// Return r0 to the caller (or end the program in the outermost frame).
    Exit,
}

impl Instruction {
    /// Number of 8-byte slots the instruction occupies (2 for LD_IMM64, 1 otherwise).
    pub const fn slots(&self) -> usize {
        match self {
            Instruction::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The jump target slot of a jump at `pc`, if the instruction is a jump or a local call.
    /// Returns `None` for other instructions; the result may be out of range (callers check).
    pub fn branch_target(&self, pc: usize) -> Option<i64> {
        let rel = match *self {
            Instruction::Ja { off, .. } => off as i64,
            Instruction::Jump { off, .. } => off as i64,
            Instruction::Call(CallTarget::Local(off)) => off as i64,
            _ => return None,
        };
        Some(pc as i64 + 1 + rel)
    }
}
