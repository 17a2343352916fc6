//! The x86-64 backend: one dynamic label per eBPF slot, straight-line emission of each
//! instruction (`alu`, `memory`, `control`), out-of-line error stubs, and the entry
//! prologue/epilogue that sets up the run-state register and the eBPF stack block.
//!
//! Frame layout of a run (host stack grows down):
//! ```text
//!   [caller's return address]
//!   rbp rbx r12 r13 r14 r15       saved by the prologue; saved_rsp points at r15
//!   eBPF stack block              stack_len bytes; bpf_fp (rbp) starts at its top, each
//!                                 local call moves it down by 512
//!   [return address into entry]   pushed by `call main`
//!   ...pushes of local calls and helper calls
//! ```
//! Every way out (main's `exit` returning into the entry, error stubs from any depth) ends in
//! the shared epilogue, which resets rsp from `saved_rsp`: it does not depend on the block
//! size, so a tail-call target's stubs can leave through it too.

mod alu;
mod control;
mod memory;
pub(crate) mod regs;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use sockops_vm::{Helper, Instruction, Operand, Region};

use crate::backend::{Backend, Blinder, CompileInput, MachineCode, readable_stack};
use crate::error::JitError;
use crate::runtime::{FRAME_SIZE, MAX_FRAMES, Status, offsets};
use regs::{TMP_A, asm};

/// The x86-64 code generator.
pub(crate) struct X86_64;

impl Backend for X86_64 {
    fn compile(input: &CompileInput<'_>) -> Result<MachineCode, JitError> {
        Compiler::new(input).compile()
    }
}

/// An operand after lowering: a host register or an immediate that may be encoded inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Src {
    /// A host register.
    Reg(u8),
    /// A 32-bit immediate (sign-extended in 64-bit operations).
    Imm(i32),
}

/// What an out-of-line error stub reports.
#[derive(Clone, Copy, Debug)]
enum StubKind {
    /// A fixed status with its extra word.
    Fixed(Status, u64),
    /// The status a trampoline returned, already in rdx.
    FromTrampoline,
}

/// One out-of-line error stub, emitted after the body.
struct Stub {
    label: DynamicLabel,
    pc: usize,
    kind: StubKind,
}

/// State of one compilation.
pub(super) struct Compiler<'a> {
    ops: VecAssembler<X64Relocation>,
    input: &'a CompileInput<'a>,
    /// The label of each eBPF slot.
    slot_labels: Vec<DynamicLabel>,
    /// Where the body falls through past its last slot.
    end_label: DynamicLabel,
    stubs: Vec<Stub>,
    helpers: Vec<Helper>,
    value_regions: Vec<Region>,
    helper_ids: Vec<u32>,
    blinder: Option<Blinder>,
    stack_len: u64,
}

impl<'a> Compiler<'a> {
    fn new(input: &'a CompileInput<'a>) -> Compiler<'a> {
        let mut ops = VecAssembler::new(0);
        let slot_labels = (0..input.insns.len())
            .map(|_| ops.new_dynamic_label())
            .collect();
        let end_label = ops.new_dynamic_label();
        // Local calls need the callee frames; any helper call may be a tail call into a
        // program with local calls, running in this block.
        let has_calls = input
            .insns
            .iter()
            .any(|i| matches!(i, Instruction::Call(_)));
        let frames = if has_calls { MAX_FRAMES as u64 } else { 1 };
        Compiler {
            ops,
            input,
            slot_labels,
            end_label,
            stubs: Vec::new(),
            helpers: Vec::new(),
            value_regions: Vec::new(),
            helper_ids: Vec::new(),
            blinder: input.options.constant_blinding.then(Blinder::new),
            stack_len: frames * FRAME_SIZE,
        }
    }

    fn compile(mut self) -> Result<MachineCode, JitError> {
        if self.input.insns.is_empty() {
            return Err(JitError::Empty);
        }
        self.emit_prologue();
        let mut insn_offsets = Vec::with_capacity(self.input.insns.len() + 1);
        for (pc, insn) in self.input.insns.iter().enumerate() {
            insn_offsets.push(self.ops.offset().0);
            if matches!(insn, Instruction::LdImm64Tail) {
                // Never a jump target (`jump_label` sends those to a stub); bound to a stub
                // anyway so that no label is left undefined.
                let label = self.slot_labels[pc];
                self.stubs.push(Stub {
                    label,
                    pc,
                    kind: StubKind::Fixed(Status::JumpIntoLdImm64, pc as u64),
                });
                continue;
            }
            let label = self.slot_labels[pc];
            asm!(self.ops; =>label);
            self.emit_instruction(pc, insn)?;
        }
        insn_offsets.push(self.ops.offset().0);
        // Falling through the last slot: the interpreter reports the last slot.
        let (end, pc) = (self.end_label, self.input.insns.len() - 1);
        self.stubs.push(Stub {
            label: end,
            pc,
            kind: StubKind::Fixed(Status::FellOffEnd, 0),
        });
        self.emit_stubs();
        let bytes = self
            .ops
            .finalize()
            .map_err(|e| JitError::Assembler(e.to_string()))?;
        Ok(MachineCode {
            bytes,
            insn_offsets,
            helpers: self.helpers,
            value_regions: self.value_regions,
            stack_len: self.stack_len,
        })
    }

    /// Entry: save callee-saved registers, reserve the eBPF stack block, set the state and
    /// frame-pointer registers, zero the eBPF registers that are not arguments and the stack
    /// bytes the program can read, call the main function; then the shared epilogue (status
    /// in rdx) and the tail-call jump.
    fn emit_prologue(&mut self) {
        let stack = self.stack_len as i32;
        let main = self.slot_labels[0];
        asm!(self.ops
            ; push rbp
            ; push rbx
            ; push r12
            ; push r13
            ; push r14
            ; push r15
            ; mov state, rdx
            ; mov [state + offsets::SAVED_RSP], rsp
            // 6 pushes + return address: rsp is 8 mod 16 here and stays so after the block.
            ; sub rsp, stack
            ; mov [state + offsets::STACK_LO], rsp
            ; lea bpf_fp, [rsp + stack]
            ; xor eax, eax
            ; xor edx, edx
            ; xor ecx, ecx
            ; xor r8d, r8d
            ; xor ebx, ebx
            ; xor r13d, r13d
            ; xor r14d, r14d
            ; xor r15d, r15d
        );
        self.emit_stack_zeroing();
        asm!(self.ops
            // Calling main leaves rsp 16-byte aligned inside the body, as helper calls need.
            ; call =>main
            ; xor edx, edx
            ; ->epilogue:
            ; mov rsp, [state + offsets::SAVED_RSP]
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop r12
            ; pop rbx
            ; pop rbp
            ; ret
            // A helper requested a tail call: the trampoline switched the run state to the
            // target; enter its body in this frame with r1 as the caller passed it.
            ; ->tail_call:
            ; mov rdi, [state + offsets::TAIL_R1]
            ; jmp QWORD [state + offsets::TAIL_TARGET]
        );
    }

    /// Zeroes the readable bytes (`readable_stack`) of every frame the run may use, as the
    /// interpreter's zeroed stack has them: a few stores of the zero in rax, or `rep stosq`
    /// over the span (r1 in rdi is kept in tmp_b meanwhile; rax and rcx are zero after).
    fn emit_stack_zeroing(&mut self) {
        let (lo, hi) = readable_stack(self.input.insns);
        if lo == hi {
            return;
        }
        let frames = (self.stack_len / FRAME_SIZE) as i32;
        let frame = FRAME_SIZE as i32;
        let words_per_frame = (hi - lo) / 8;
        if words_per_frame * frames <= 16 {
            for f in 0..frames {
                for w in 0..words_per_frame {
                    let off = lo + 8 * w - f * frame;
                    asm!(self.ops; mov [bpf_fp + off], rax);
                }
            }
        } else {
            let start = lo - (frames - 1) * frame;
            let words = (hi - start) / 8;
            asm!(self.ops
                ; mov tmp_b, rdi
                ; lea rdi, [bpf_fp + start]
                ; mov ecx, words
                ; rep stosq
                ; mov rdi, tmp_b
            );
        }
    }

    fn emit_instruction(&mut self, pc: usize, insn: &Instruction) -> Result<(), JitError> {
        match *insn {
            Instruction::Alu {
                op,
                width,
                dst,
                src,
            } => self.emit_alu(pc, op, width, dst, src),
            Instruction::Neg { width, dst } => {
                self.emit_neg(width, dst);
                Ok(())
            }
            Instruction::Endian { order, bits, dst } => self.emit_endian(pc, order, bits, dst),
            Instruction::LdImm64 { dst, kind, imm } => self.emit_ld_imm64(pc, dst, kind, imm),
            Instruction::LdImm64Tail => Ok(()),
            Instruction::LegacyPacketLoad { .. } => Err(JitError::Unsupported {
                pc,
                what: "legacy packet load (BPF_ABS/BPF_IND)",
            }),
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => self.emit_load(pc, size, sign_extend, dst, src, off),
            Instruction::Store {
                size,
                dst,
                off,
                src,
            } => {
                self.emit_store(size, dst, off, src);
                Ok(())
            }
            Instruction::Atomic {
                op,
                fetch,
                size,
                dst,
                src,
                off,
            } => self.emit_atomic(pc, op, fetch, size, dst, src, off),
            Instruction::Ja { off, .. } => {
                let label = self.jump_label(pc, pc as i64 + 1 + off as i64);
                asm!(self.ops; jmp =>label);
                Ok(())
            }
            Instruction::Jump {
                cond,
                width,
                dst,
                src,
                off,
            } => {
                self.emit_jump(pc, cond, width, dst, src, off);
                Ok(())
            }
            Instruction::Call(target) => self.emit_call(pc, target),
            Instruction::Exit => {
                asm!(self.ops; ret);
                Ok(())
            }
        }
    }

    /// The label a jump at `pc` to slot `target` goes to: the slot's own label, or a stub
    /// reporting the interpreter's error for a target outside the program or inside an
    /// LD_IMM64.
    fn jump_label(&mut self, pc: usize, target: i64) -> DynamicLabel {
        match usize::try_from(target) {
            Ok(t) if t < self.slot_labels.len() => {
                if self.input.insns[t] == Instruction::LdImm64Tail {
                    self.stub(pc, StubKind::Fixed(Status::JumpIntoLdImm64, t as u64))
                } else {
                    self.slot_labels[t]
                }
            }
            _ => self.stub(pc, StubKind::Fixed(Status::JumpOutOfRange, target as u64)),
        }
    }

    /// A new out-of-line stub for the instruction at `pc`.
    fn stub(&mut self, pc: usize, kind: StubKind) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.stubs.push(Stub { label, pc, kind });
        label
    }

    /// Emits every stub: record pc (and the extra word), set the status, leave through the
    /// epilogue. A trampoline's `TailCall` status goes to the tail-call jump instead.
    fn emit_stubs(&mut self) {
        for stub in std::mem::take(&mut self.stubs) {
            let label = stub.label;
            let pc = stub.pc as i32;
            asm!(self.ops; =>label);
            match stub.kind {
                StubKind::Fixed(status, arg) => {
                    let status = status as i32;
                    asm!(self.ops
                        ; mov QWORD [state + offsets::FAULT_PC], pc
                        ; mov tmp_a, QWORD arg as i64
                        ; mov [state + offsets::FAULT_ARG], tmp_a
                        ; mov edx, status
                        ; jmp ->epilogue
                    );
                }
                StubKind::FromTrampoline => {
                    let tail = Status::TailCall as i32;
                    asm!(self.ops
                        ; cmp edx, tail
                        ; je ->tail_call
                        ; mov QWORD [state + offsets::FAULT_PC], pc
                        ; jmp ->epilogue
                    );
                }
            }
        }
    }

    /// Lowers an operand; with constant blinding an immediate is materialised in `tmp_a`
    /// as `(imm ^ key) ^ key` so that the program's constant never appears in the code.
    fn lower(&mut self, src: Operand) -> Src {
        match src {
            Operand::Reg(r) => Src::Reg(regs::host_reg(r)),
            Operand::Imm(imm) => match self.blinder.as_mut() {
                None => Src::Imm(imm),
                Some(blinder) => {
                    let key = blinder.next_i32();
                    let blinded = imm ^ key;
                    asm!(self.ops
                        ; mov tmp_a, DWORD blinded
                        ; xor tmp_a, DWORD key
                    );
                    Src::Reg(TMP_A)
                }
            },
        }
    }

    /// Index of helper `id` in the program's helper list, registering it on first use.
    fn helper_slot(&mut self, id: u32) -> Option<usize> {
        if let Some(i) = self.helper_ids.iter().position(|&h| h == id) {
            return Some(i);
        }
        let helper = self.input.table.get(id)?;
        self.helper_ids.push(id);
        self.helpers.push(*helper);
        Some(self.helpers.len() - 1)
    }
}
