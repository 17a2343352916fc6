//! The contract between the architecture-neutral part of the JIT (program decoding, run
//! state, trampolines, executable memory) and one architecture's code generator. A backend
//! turns decoded instructions into position-independent machine code whose entry follows the
//! `JitEntry` ABI of `runtime` and whose calls follow its trampoline ABI.

use std::sync::Arc;

use sockops_vm::helper::HelperCall;
use sockops_vm::interp::unsupported::{self, BTF_VARIABLE, FUNCTION_ADDRESS};
use sockops_vm::{
    AluOp, AtomicOp, CallTarget, Helper, HelperTable, Imm64Kind, Instruction, Map, MapType,
    Operand, Reg, Region,
};

use crate::runtime::{FRAME_SIZE, Status};

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
    /// The code is lean: it calls nothing but pure helpers and ignores the run-state argument
    /// of its entry.
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

/// The index of `message` in `unsupported::ALL`, the extra word of `Status::Unsupported`.
pub(crate) fn unsupported_index(message: &str) -> u64 {
    unsupported::ALL
        .iter()
        .position(|m| *m == message)
        .unwrap_or(unsupported::ALL.len()) as u64
}

/// Whether `input` compiles to lean code: not a tail-call target, and no calls but of pure
/// helpers. Lean code with checked memory gets a `LeanCheckState` instead of no state.
pub(crate) fn compiles_lean(input: &CompileInput<'_>) -> bool {
    !input.tail_target && only_pure_calls(input.insns, input.table)
}

/// Whether every call of `insns` is a call by immediate id of a helper `table` registers as
/// pure, or of an id it does not know (an error stub): such code can be lean. Local calls,
/// `callx` and environment helpers need the run state.
pub(crate) fn only_pure_calls(insns: &[Instruction], table: &HelperTable) -> bool {
    insns.iter().all(|insn| match *insn {
        Instruction::Call(CallTarget::Helper(id)) => u32::try_from(id)
            .ok()
            .and_then(|id| table.lookup(id))
            .is_none_or(|(_, call)| matches!(call, HelperCall::Pure(_))),
        Instruction::Call(_) => false,
        _ => true,
    })
}

/// The environment helpers `insns` call by immediate id, each once: call sites embed the
/// address of their entry in this list.
pub(crate) fn environment_helpers(insns: &[Instruction], table: &HelperTable) -> Vec<Helper> {
    let mut helpers: Vec<Helper> = Vec::new();
    for insn in insns {
        if let Instruction::Call(CallTarget::Helper(id)) = *insn
            && let Some((helper, HelperCall::Env(_))) =
                u32::try_from(id).ok().and_then(|id| table.lookup(id))
            && !helpers.iter().any(|h| h.id == helper.id)
        {
            helpers.push(*helper);
        }
    }
    helpers
}

/// The value an LD_IMM64 loads: a constant, a map pointer (`Map::program_ptr`, the map's
/// kernel struct image, as helpers expect) or a map value address. The region behind a map
/// pointer or value is added to `value_regions`. A
/// reference the program's maps cannot serve, or a kind this runtime does not execute, is
/// the status and extra word of the interpreter's run-time error.
pub(crate) fn ld_imm64_value(
    maps: &[Arc<Map>],
    kind: Imm64Kind,
    imm: u64,
    value_regions: &mut Vec<Region>,
) -> Result<u64, (Status, u64)> {
    match kind {
        Imm64Kind::Imm => Ok(imm),
        Imm64Kind::MapFd | Imm64Kind::MapIdx => {
            let index = imm & 0xffff_ffff;
            match maps.get(index as usize) {
                Some(map) => {
                    // The struct image, and the blanks its pointer members lead to.
                    let blanks = sockops_vm::vmlinux::blank::region();
                    for region in [map.kernel_struct_region(), blanks] {
                        if !value_regions.contains(&region) {
                            value_regions.push(region);
                        }
                    }
                    Ok(map.program_ptr())
                }
                None => Err((Status::BadMapIndex, index)),
            }
        }
        Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
            let (index, offset) = (imm & 0xffff_ffff, imm >> 32);
            // Array values have stable addresses; per-CPU values would depend on the CPU
            // at run time (and the kernel refuses them here).
            let region = maps.get(index as usize).map(|map| {
                (map.map_type() == MapType::Array)
                    .then(|| map.value_region(0))
                    .flatten()
                    .filter(|r| offset < r.len)
            });
            match region {
                None => Err((Status::BadMapIndex, index)),
                Some(None) => Err((Status::BadMapValue, index | (offset << 32))),
                Some(Some(region)) => {
                    if !value_regions.contains(&region) {
                        value_regions.push(region);
                    }
                    Ok(region.start + offset)
                }
            }
        }
        Imm64Kind::BtfId => Err((Status::Unsupported, unsupported_index(BTF_VARIABLE))),
        Imm64Kind::Func => Err((Status::Unsupported, unsupported_index(FUNCTION_ADDRESS))),
    }
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

/// What the backend needs to know about a whole program, gathered in one pass over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProgramFacts {
    /// Slots some jump or local call targets (bit `pc % 64` of word `pc / 64`).
    pub jump_targets: Vec<u64>,
    /// The program calls something (a helper, `callx` or a local function). Its code needs
    /// the run state unless every call is of a pure helper; code without calls is lean.
    pub has_calls: bool,
    /// The eBPF registers (bit `n` for rN) the program names anywhere, implicitly used
    /// operands (r0 of `cmpxchg` and `exit`, r1-r5 of calls) included.
    pub named_registers: u16,
    /// The eBPF registers a run may read before writing them (besides r1, r2 and r10, which
    /// the entry sets): exactly what lean code must zero. Writes count only in the
    /// straight-line start, as for the stack.
    pub zeroed_registers: u16,
    /// The 8-byte words of a stack frame that must start zeroed: bit `w` stands for the
    /// frame bytes `[8w - 512, 8w - 504)` below the frame pointer.
    pub zeroed_words: u64,
    /// Some instruction writes r10 (only unverified programs do): checked-memory code then
    /// checks `[r10 + k]` accesses like any other.
    pub writes_frame_pointer: bool,
}

/// Helper id of `bpf_tail_call`.
const TAIL_CALL: i32 = 12;

/// Frame bytes as a bit set: bit `b` of the set is frame byte `b - 512`.
#[derive(Default)]
struct FrameBytes([u64; 8]);

impl FrameBytes {
    /// The frame bytes of an access of `len` bytes at `off` from the frame pointer, clamped
    /// to the frame.
    fn span(off: i16, len: usize) -> std::ops::Range<usize> {
        let frame = FRAME_SIZE as i32;
        let lo = (i32::from(off) + frame).clamp(0, frame) as usize;
        let hi = (i32::from(off) + len as i32 + frame).clamp(0, frame) as usize;
        lo..hi
    }

    fn insert(&mut self, bytes: std::ops::Range<usize>) {
        for b in bytes {
            self.0[b / 64] |= 1 << (b % 64);
        }
    }

    fn contains(&self, b: usize) -> bool {
        self.0[b / 64] & (1 << (b % 64)) != 0
    }
}

impl ProgramFacts {
    /// The facts of `insns`.
    ///
    /// The stack: the interpreter starts every run with a zeroed stack; the JIT zeroes only
    /// the words that can be read before they are written, so the common program that reads
    /// nothing, or only what it stored first, pays nothing for it. Reads through r10 with a
    /// constant offset (loads, atomics) are counted exactly. Writes count only in the
    /// straight-line start of a program without calls (before its first jump, call or exit,
    /// every instruction runs once and in order, and local calls would use other frames).
    /// Any other use of r10's value (copied, compared, stored, passed on) lets the program
    /// read anywhere in its frames, and gives the whole frame; so does a possible tail call
    /// (`bpf_tail_call`, helper 12, or a `callx`): the target runs in this frame and its
    /// reads are not known here.
    pub fn of(insns: &[Instruction]) -> ProgramFacts {
        let fp = Reg::R10;
        let bit = |r: Reg| 1u16 << r.index();
        let op = |o: Operand| match o {
            Operand::Reg(r) => bit(r),
            Operand::Imm(_) => 0,
        };
        let mut has_calls = false;
        let mut named = 0u16;
        let mut whole_frame = false;
        let mut straight = true;
        let mut written = FrameBytes::default();
        // Words read anywhere, and words read before the straight-line start wrote them.
        let (mut read_words, mut unwritten_words) = (0u64, 0u64);
        let mut read = |off: i16, len: usize, written: &FrameBytes| {
            for b in FrameBytes::span(off, len) {
                read_words |= 1 << (b / 8);
                if !written.contains(b) {
                    unwritten_words |= 1 << (b / 8);
                }
            }
        };
        let (mut regs_written, mut regs_read_first) = (0u16, 0u16);
        let mut writes_frame_pointer = false;
        let mut jump_targets = vec![0u64; insns.len().div_ceil(64)];
        for (pc, insn) in insns.iter().enumerate() {
            let offset = match *insn {
                Instruction::Ja { off, .. } | Instruction::Call(CallTarget::Local(off)) => {
                    Some(i64::from(off))
                }
                Instruction::Jump { off, .. } => Some(i64::from(off)),
                _ => None,
            };
            if let Some(target) = offset.and_then(|off| usize::try_from(pc as i64 + 1 + off).ok())
                && target < insns.len()
            {
                jump_targets[target / 64] |= 1 << (target % 64);
            }
            let (reads, writes) = registers_read_and_written(insn);
            regs_read_first |= reads & !regs_written;
            writes_frame_pointer |= writes & bit(fp) != 0;
            // Every register an instruction reads or writes, implicitly too (a legacy packet
            // load reads r6), is named: lean code saves the callee-saved host registers of
            // named ones, and zeroes only registers it saved or may clobber.
            named |= reads | writes;
            if straight {
                regs_written |= writes;
            }
            named |= match *insn {
                Instruction::Alu { dst, src, .. } | Instruction::Jump { dst, src, .. } => {
                    whole_frame |= dst == fp || src == Operand::Reg(fp);
                    bit(dst) | op(src)
                }
                Instruction::Store {
                    dst,
                    src,
                    off,
                    size,
                } => {
                    whole_frame |= src == Operand::Reg(fp);
                    if dst == fp && straight {
                        written.insert(FrameBytes::span(off, size.bytes()));
                    }
                    bit(dst) | op(src)
                }
                Instruction::Neg { dst, .. } | Instruction::Endian { dst, .. } => {
                    whole_frame |= dst == fp;
                    bit(dst)
                }
                Instruction::LdImm64 { dst, .. } => bit(dst),
                // Reads only the blank region, never the frame.
                Instruction::ProbeLoad { dst, src, .. } => bit(dst) | bit(src),
                Instruction::Load {
                    dst,
                    src,
                    off,
                    size,
                    ..
                } => {
                    if src == fp {
                        read(off, size.bytes(), &written);
                    }
                    bit(dst) | bit(src)
                }
                Instruction::Atomic {
                    dst,
                    src,
                    off,
                    size,
                    ..
                } => {
                    whole_frame |= src == fp;
                    if dst == fp {
                        read(off, size.bytes(), &written);
                    }
                    bit(dst) | bit(src) | bit(Reg::R0)
                }
                Instruction::LoadAcquire {
                    dst,
                    src,
                    off,
                    size,
                } => {
                    if src == fp {
                        read(off, size.bytes(), &written);
                    }
                    bit(dst) | bit(src)
                }
                Instruction::StoreRelease {
                    dst,
                    src,
                    off,
                    size,
                } => {
                    whole_frame |= src == fp;
                    if dst == fp && straight {
                        written.insert(FrameBytes::span(off, size.bytes()));
                    }
                    bit(dst) | bit(src)
                }
                Instruction::LegacyPacketLoad { index, .. } => {
                    whole_frame |= index == Some(fp);
                    index.map_or(0, bit) | bit(Reg::R0)
                }
                Instruction::Call(target) => {
                    has_calls = true;
                    straight = false;
                    match target {
                        CallTarget::Register(r) => {
                            whole_frame = true;
                            bit(r) | 0x3f
                        }
                        CallTarget::Helper(TAIL_CALL) => {
                            whole_frame = true;
                            0x3f
                        }
                        _ => 0x3f,
                    }
                }
                Instruction::Exit => {
                    straight = false;
                    bit(Reg::R0)
                }
                Instruction::Ja { .. } => {
                    straight = false;
                    0
                }
                Instruction::LdImm64Tail => 0,
            };
            if matches!(insn, Instruction::Jump { .. }) {
                straight = false;
            }
        }
        let zeroed_words = if whole_frame {
            u64::MAX
        } else if has_calls {
            read_words
        } else {
            unwritten_words
        };
        let entry_set = bit(Reg::R1) | bit(Reg::R2) | bit(Reg::R10);
        ProgramFacts {
            jump_targets,
            has_calls,
            named_registers: named,
            zeroed_registers: regs_read_first & !entry_set,
            zeroed_words,
            writes_frame_pointer,
        }
    }

    /// Whether checked-memory code may leave out the check of an access of `len` bytes at
    /// `[r10 + off]`: r10 always points to the top of a frame (the program never writes it,
    /// the entry and local calls set it, the call depth is bounded), and the access lies
    /// inside that frame.
    pub fn frame_access_is_safe(&self, off: i16, len: usize) -> bool {
        let (off, len) = (i32::from(off), len as i32);
        !self.writes_frame_pointer && off >= -(FRAME_SIZE as i32) && off + len <= 0
    }

    /// Whether some jump or local call targets slot `pc`.
    pub fn is_jump_target(&self, pc: usize) -> bool {
        self.jump_targets
            .get(pc / 64)
            .is_some_and(|w| w & (1 << (pc % 64)) != 0)
    }

    /// Whether lean code must zero eBPF register `r` at entry.
    pub fn zeroes(&self, r: usize) -> bool {
        self.zeroed_registers & (1 << r) != 0
    }

    /// Whether the program names eBPF register `r`.
    pub fn names(&self, r: usize) -> bool {
        self.named_registers & (1 << r) != 0
    }
}

/// The eBPF registers `insn` reads and writes (bit `n` for rN), implicit operands included.
fn registers_read_and_written(insn: &Instruction) -> (u16, u16) {
    let bit = |r: Reg| 1u16 << r.index();
    let op = |o: Operand| match o {
        Operand::Reg(r) => bit(r),
        Operand::Imm(_) => 0,
    };
    let args = 0b11_1110;
    match *insn {
        Instruction::Alu {
            op: AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32,
            dst,
            src,
            ..
        } => (op(src), bit(dst)),
        Instruction::Alu { dst, src, .. } => (bit(dst) | op(src), bit(dst)),
        Instruction::Neg { dst, .. } | Instruction::Endian { dst, .. } => (bit(dst), bit(dst)),
        Instruction::LdImm64 { dst, .. } => (0, bit(dst)),
        Instruction::Load { dst, src, .. } | Instruction::ProbeLoad { dst, src, .. } => {
            (bit(src), bit(dst))
        }
        Instruction::Store { dst, src, .. } | Instruction::Jump { dst, src, .. } => {
            (bit(dst) | op(src), 0)
        }
        Instruction::Atomic {
            op: atomic,
            fetch,
            dst,
            src,
            ..
        } => match atomic {
            AtomicOp::CmpXchg => (bit(dst) | bit(src) | bit(Reg::R0), bit(Reg::R0)),
            AtomicOp::Xchg => (bit(dst) | bit(src), bit(src)),
            _ if fetch => (bit(dst) | bit(src), bit(src)),
            _ => (bit(dst) | bit(src), 0),
        },
        Instruction::LoadAcquire { dst, src, .. } => (bit(src), bit(dst)),
        Instruction::StoreRelease { dst, src, .. } => (bit(dst) | bit(src), 0),
        Instruction::LegacyPacketLoad { index, .. } => {
            (index.map_or(0, bit) | bit(Reg::R6), bit(Reg::R0) | args)
        }
        Instruction::Call(CallTarget::Register(r)) => (bit(r) | args, bit(Reg::R0) | args),
        Instruction::Call(_) => (args, bit(Reg::R0) | args),
        Instruction::Exit => (bit(Reg::R0), 0),
        Instruction::Ja { .. } | Instruction::LdImm64Tail => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_vm::{assemble, decode_program};

    fn facts(text: &str) -> ProgramFacts {
        ProgramFacts::of(&decode_program(&assemble(text).unwrap()).unwrap())
    }

    /// The zeroed-word bit of the 8 bytes at `off` from the frame pointer.
    fn word(off: i32) -> u64 {
        1 << ((off + FRAME_SIZE as i32) / 8)
    }

    #[test]
    fn stack_words_to_zero() {
        assert_eq!(facts("mov %r0, 0\nexit").zeroed_words, 0);
        assert_eq!(facts("ldxw %r0, [%r10-8]\nexit").zeroed_words, word(-8));
        // An unaligned 8-byte read touches two words.
        assert_eq!(
            facts("ldxdw %r0, [%r10-12]\nexit").zeroed_words,
            word(-16) | word(-8)
        );
        assert_eq!(
            facts("stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit").zeroed_words,
            0
        );
        assert_eq!(
            facts("ja +0\nstdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit").zeroed_words,
            word(-8)
        );
        // With calls, writes do not count (other frames read the same offsets).
        assert_eq!(
            facts("stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\ncall 1\nexit").zeroed_words,
            word(-8)
        );
        assert_eq!(facts("mov %r1, %r10\nexit").zeroed_words, u64::MAX);
        assert_eq!(facts("call 12\nexit").zeroed_words, u64::MAX);
    }

    #[test]
    fn registers_zeroed_are_named() {
        // A legacy packet load reads r6 implicitly: zeroed (read before written) and so
        // named, or lean code would zero the callee-saved host register without saving it
        // (found by fuzzing: the caller's rbx was clobbered).
        for text in [
            "ldabsh 4\nexit",
            "mov %r0, 0\nja +1\nldindb %r7, 0\nexit",
            "call 1\nexit",
            "mov %r0, %r9\nexit",
        ] {
            let f = facts(text);
            assert_eq!(
                f.zeroed_registers & !f.named_registers,
                0,
                "{text}: zeroed {:#x}, named {:#x}",
                f.zeroed_registers,
                f.named_registers
            );
        }
        assert!(facts("ldabsh 4\nexit").names(6));
    }

    #[test]
    fn registers_to_zero_and_calls() {
        let f = facts("mov %r0, %r6\nmov %r7, 1\nadd %r7, %r8\nexit");
        assert_eq!(f.zeroed_registers, 1 << 6 | 1 << 8);
        assert!(!f.has_calls);
        assert!(f.names(7) && !f.names(9));
        let f = facts("mov %r2, 1\njeq %r2, 1, +1\nmov %r7, 9\nmov %r0, %r7\nexit");
        assert_eq!(f.zeroed_registers, 1 << 7 | 1 << 0);
        assert!(facts("call local f\nexit\nf:\nmov %r0, 0\nexit").has_calls);
    }
}
