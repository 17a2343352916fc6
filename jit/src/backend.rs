//! The contract between the architecture-neutral part of the JIT (program decoding, run
//! state, trampolines, executable memory) and one architecture's code generator. A backend
//! turns decoded instructions into position-independent machine code whose entry follows the
//! `JitEntry` ABI of `runtime` and whose calls follow its trampoline ABI.

use std::sync::Arc;

use sockops_vm::{Helper, HelperTable, Instruction, Map, Operand, Reg, Region};

use crate::JitOptions;
use crate::error::JitError;

/// Everything a backend compiles from.
pub(crate) struct CompileInput<'a> {
    /// Decoded slots (LD_IMM64 second halves decode to `LdImm64Tail`).
    pub insns: &'a [Instruction],
    /// The program's maps, for LD_IMM64 map references.
    pub maps: &'a [Arc<Map>],
    /// The helper table calls are resolved against.
    pub table: &'a HelperTable,
    /// Compilation options.
    pub options: &'a JitOptions,
    /// The program is compiled as a tail-call target: it runs in the frame of a root program
    /// with calls, so it must use the full (run-state) convention even without calls.
    pub tail_target: bool,
}

/// A backend's output: code to map executable plus what the run needs to know about it.
pub(crate) struct MachineCode {
    /// Machine code; the entry point is at offset 0.
    pub bytes: Vec<u8>,
    /// Offset of the code of each eBPF slot in `bytes` (tail slots get the next slot's offset),
    /// followed by the offset where the body ends.
    pub insn_offsets: Vec<usize>,
    /// Helpers called by immediate id; call sites hold the addresses of these entries, so the
    /// slice must stay where it is (boxed) for as long as the code lives.
    pub helpers: Box<[Helper]>,
    /// The code is lean: it makes no calls and ignores the run-state argument of its entry.
    pub lean: bool,
    /// Map values LD_IMM64 references (helpers must see them as guest memory).
    pub value_regions: Vec<Region>,
    /// Bytes of eBPF stack the entry reserves.
    pub stack_len: u64,
}

/// One architecture's code generator.
pub(crate) trait Backend {
    /// Compiles the program, or says which instruction it cannot compile.
    fn compile(input: &CompileInput<'_>) -> Result<MachineCode, JitError>;
}

/// A generator of blinding keys (xorshift64*), seeded from the OS-seeded hasher of the standard
/// library, as the kernel's `bpf_jit_blind_constants` draws a random key per instruction.
pub(crate) struct Blinder {
    state: u64,
}

impl Blinder {
    /// A generator with a fresh random seed.
    pub fn new() -> Blinder {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        Blinder {
            state: hasher.finish() | 1,
        }
    }

    /// The next 64-bit key.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next 32-bit key.
    pub fn next_i32(&mut self) -> i32 {
        (self.next_u64() >> 32) as i32
    }
}

/// Whether the program calls anything (a helper, `callx` or a local function): such code
/// needs the run state; code without calls is lean.
pub(crate) fn has_calls(insns: &[Instruction]) -> bool {
    insns.iter().any(|i| matches!(i, Instruction::Call(_)))
}

/// The eBPF registers (bit `n` for rN) the program names anywhere, implicitly used operands
/// (r0 of `cmpxchg`) included.
pub(crate) fn named_registers(insns: &[Instruction]) -> u16 {
    let bit = |r: Reg| 1u16 << r.index();
    let op = |o: Operand| match o {
        Operand::Reg(r) => bit(r),
        Operand::Imm(_) => 0,
    };
    insns.iter().fold(0, |acc, insn| {
        acc | match *insn {
            Instruction::Alu { dst, src, .. } | Instruction::Jump { dst, src, .. } => {
                bit(dst) | op(src)
            }
            Instruction::Store { dst, src, .. } => bit(dst) | op(src),
            Instruction::Neg { dst, .. }
            | Instruction::Endian { dst, .. }
            | Instruction::LdImm64 { dst, .. } => bit(dst),
            Instruction::Load { dst, src, .. } => bit(dst) | bit(src),
            Instruction::Atomic { dst, src, .. } => bit(dst) | bit(src) | bit(Reg::R0),
            Instruction::LegacyPacketLoad { index, .. } => index.map_or(0, bit) | bit(Reg::R0),
            Instruction::Call(sockops_vm::CallTarget::Register(r)) => bit(r) | 0x3f,
            Instruction::Call(_) => 0x3f,
            Instruction::Exit => bit(Reg::R0),
            Instruction::Ja { .. } | Instruction::LdImm64Tail => 0,
        }
    })
}

/// Helper id of `bpf_tail_call`.
const TAIL_CALL: i32 = 12;

/// The bytes of a stack frame, relative to its frame pointer, that a program may read:
/// `[lo, hi)` with `-512 <= lo <= hi <= 0`, multiples of 8. The interpreter starts every run
/// with a zeroed stack; the JIT zeroes only what can be read, so the common program that
/// reads nothing (or a few slots) pays nothing (or a few stores) for it.
///
/// Reads through r10 with a constant offset (loads, atomics) are counted exactly; any other
/// use of r10's value (copied, compared, stored, passed on) lets the program read anywhere
/// in its frames, and gives the whole frame. So does a possible tail call (`bpf_tail_call`,
/// helper 12, or a `callx`): the target runs in this frame and its reads are not known here.
pub(crate) fn readable_stack(insns: &[Instruction]) -> (i32, i32) {
    const FULL: (i32, i32) = (-(crate::runtime::FRAME_SIZE as i32), 0);
    let fp = Reg::R10;
    let is_fp = |op: Operand| op == Operand::Reg(fp);
    let (mut lo, mut hi) = (0i32, -(crate::runtime::FRAME_SIZE as i32));
    let mut read = |off: i16, len: usize| {
        lo = lo.min(off as i32);
        hi = hi.max(off as i32 + len as i32);
    };
    for insn in insns {
        match *insn {
            Instruction::Load { src, off, size, .. } if src == fp => read(off, size.bytes()),
            Instruction::Atomic {
                dst,
                src,
                off,
                size,
                ..
            } => {
                if src == fp {
                    return FULL;
                }
                if dst == fp {
                    read(off, size.bytes());
                }
            }
            Instruction::Alu { dst, src, .. } | Instruction::Jump { dst, src, .. }
                if dst == fp || is_fp(src) =>
            {
                return FULL;
            }
            Instruction::Neg { dst, .. } | Instruction::Endian { dst, .. } if dst == fp => {
                return FULL;
            }
            Instruction::Store { src, .. } if is_fp(src) => return FULL,
            Instruction::LegacyPacketLoad { index: Some(r), .. } if r == fp => return FULL,
            Instruction::Call(
                sockops_vm::CallTarget::Register(_) | sockops_vm::CallTarget::Helper(TAIL_CALL),
            ) => return FULL,
            _ => {}
        }
    }
    let lo = lo.clamp(FULL.0, 0).div_euclid(8) * 8;
    let hi = ((hi.clamp(FULL.0, 0) + 7).div_euclid(8)) * 8;
    if lo >= hi { (0, 0) } else { (lo, hi) }
}
