//! The x86-64 backend: one dynamic label per eBPF slot, straight-line emission of each
//! instruction (`alu`, `memory`, `control`), out-of-line error stubs, and the entry
//! prologue/epilogue.
//!
//! Two entry conventions:
//! - lean code (no calls but calls of pure helpers, see `sockops_vm::helper::PureHelper`): the
//!   prologue saves only the callee-saved host registers the program names, reserves one
//!   512-byte frame if the program uses r10 (plus 8 bytes of padding if that is what keeps
//!   rsp 16-byte aligned at pure helper calls), and falls into slot 0; every `exit` restores
//!   and returns inline; error stubs put the error in the returned words and leave through the
//!   shared epilogue. No run state is touched: a pure helper is a plain SysV `call`, with
//!   r1-r5 already in the argument registers and its result landing in rax (r0).
//! - full code (environment helper calls, `callx`, local calls, tail-call targets): frame
//!   layout below (pure helpers are called directly here too),
//!   `state` (r12) holds the run state, and every way out ends in the shared epilogue that
//!   resets rsp from `saved_rsp`, so error stubs work at any call depth and a tail-call
//!   target's stubs can leave through it too.
//!
//! Full-code frame layout of a run (host stack grows down):
//! ```text
//!   [run function's frame]        holds the eBPF stack block (`runtime::STACK_BLOCK` bytes);
//!                                 bpf_fp (rbp) starts at its top (`RunState::stack_top`),
//!                                 each local call moves it down by 512
//!   [caller's return address]
//!   rbp rbx r12 r13 r14 r15       saved by the prologue; saved_rsp points at r15
//!   [return address into entry]   pushed by `call main`
//!   ...pushes of local calls and helper calls
//! ```
//! Both conventions return r0 in rax and the status word (`runtime::Status`) in rdx.

pub(crate) mod abi;
mod alu;
mod control;
mod divide;
mod memory;
mod peephole;
pub(crate) mod regs;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use sockops_vm::{Helper, Instruction, Operand, Region};

use crate::backend::{
    Backend, Blinder, CompileInput, MachineCode, ProgramFacts, compiles_lean, environment_helpers,
    unsupported_index,
};
use crate::error::JitError;
use crate::runtime::{FRAME_SIZE, MAX_FRAMES, Status, offsets};
use regs::host::{self, R13, R14, R15, RBX};
use regs::{TMP_A, asm};
use sockops_vm::interp::unsupported::LEGACY_PACKET_LOAD;

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
    stubs: Vec<Stub>,
    /// Out-of-line parts of the access checks of checked-memory code.
    checks: Vec<memory::CheckStub>,
    /// Environment helpers called by immediate id; call sites embed the address of their
    /// entry.
    helpers: Box<[Helper]>,
    value_regions: Vec<Region>,
    blinder: Option<Blinder>,
    stack_len: u64,
    /// Lean code (see the module doc): no calls but pure helper calls, no run state.
    lean: bool,
    /// Host registers lean code saves in its prologue, in push order.
    saved: Vec<u8>,
    /// Bytes lean code reserves below its frame so that rsp is 16-byte aligned at pure
    /// helper calls (0 or 8).
    lean_pad: u64,
    /// What the whole program does (calls, registers, stack reads).
    facts: ProgramFacts,
}

impl<'a> Compiler<'a> {
    fn new(input: &'a CompileInput<'a>) -> Compiler<'a> {
        let n = input.insns.len();
        // Sized for typical code (under 8 bytes per instruction, a jump per instruction or
        // fewer) so that compiling rarely reallocates.
        let mut ops = VecAssembler::new_with_capacity(0, 8 * n + 256, 8, 4, n + 8, 16, n + 8);
        let slot_labels = (0..n).map(|_| ops.new_dynamic_label()).collect();
        let facts = ProgramFacts::of(input.insns);
        let has_calls = facts.has_calls;
        let lean = compiles_lean(input);
        let names = |r: usize| facts.names(r);
        let mut lean_pad = 0;
        let checked = input.options.checked_memory;
        let (stack_len, saved) = if lean {
            // rbp holds r10 (the frame pointer), rbx/r13/r14/r15 hold r6-r9; with checked
            // memory r12 holds the `LeanCheckState`.
            let mut saved: Vec<u8> = [(10, host::RBP), (6, RBX), (7, R13), (8, R14), (9, R15)]
                .into_iter()
                .filter(|&(r, _)| names(r))
                .map(|(_, host)| host)
                .collect();
            if checked {
                saved.push(regs::STATE);
            }
            // rsp is 8 mod 16 at the entry; each push adds 8, the frame is 512 bytes. Pure
            // helper calls and the out-of-line checks' trampoline calls need it aligned.
            if (has_calls || checked) && saved.len().is_multiple_of(2) {
                lean_pad = 8;
            }
            (if names(10) { FRAME_SIZE } else { 0 }, saved)
        } else {
            // Local calls need the callee frames; any helper call may be a tail call into a
            // program with local calls, running in this block.
            let frames = if has_calls { MAX_FRAMES as u64 } else { 1 };
            (frames * FRAME_SIZE, Vec::new())
        };
        let helpers = if has_calls {
            environment_helpers(input.insns, input.table)
        } else {
            Vec::new()
        };
        Compiler {
            ops,
            input,
            slot_labels,
            stubs: Vec::new(),
            checks: Vec::new(),
            helpers: helpers.into_boxed_slice(),
            value_regions: Vec::new(),
            blinder: input.options.constant_blinding.then(Blinder::new),
            stack_len,
            lean,
            saved,
            lean_pad,
            facts,
        }
    }

    fn compile(mut self) -> Result<MachineCode, JitError> {
        if self.input.insns.is_empty() {
            return Err(JitError::Empty);
        }
        self.emit_prologue();
        let mut insn_offsets = Vec::with_capacity(self.input.insns.len() + 1);
        // The second slot of a fused pair: no code of its own (see `peephole`).
        let mut fused = false;
        for (pc, insn) in self.input.insns.iter().enumerate() {
            insn_offsets.push(self.ops.offset().0);
            if std::mem::take(&mut fused) {
                let label = self.slot_labels[pc];
                asm!(self.ops; =>label);
                continue;
            }
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
            fused = self.emit_fused_pair(pc);
            if !fused {
                self.emit_instruction(pc, insn)?;
            }
        }
        insn_offsets.push(self.ops.offset().0);
        // Falling through the last slot lands here: the interpreter reports the last slot.
        let last = self.input.insns.len() - 1;
        self.emit_stub(last, StubKind::Fixed(Status::FellOffEnd, 0));
        if self.lean {
            asm!(self.ops; ->epilogue:);
            self.emit_lean_leave();
        }
        self.emit_check_stubs();
        self.emit_stubs();
        let bytes = self
            .ops
            .finalize()
            .map_err(|e| JitError::Assembler(e.to_string()))?;
        Ok(MachineCode {
            bytes,
            insn_offsets,
            helpers: self.helpers,
            lean: self.lean,
            value_regions: self.value_regions,
            stack_len: self.stack_len,
        })
    }

    /// The entry of lean or full code (see the module doc).
    fn emit_prologue(&mut self) {
        if self.lean {
            self.emit_lean_prologue();
        } else {
            self.emit_full_prologue();
        }
    }

    /// Lean entry: save the named callee-saved registers, reserve the frame if r10 is used,
    /// zero the named registers that are not arguments and the readable stack bytes; then
    /// fall into slot 0.
    fn emit_lean_prologue(&mut self) {
        for i in 0..self.saved.len() {
            let r = self.saved[i];
            asm!(self.ops; push Rq(r));
        }
        if self.stack_len > 0 {
            asm!(self.ops; mov bpf_fp, rsp);
        }
        let reserved = (self.stack_len + self.lean_pad) as i32;
        if reserved > 0 {
            asm!(self.ops; sub rsp, reserved);
        }
        if self.input.options.checked_memory {
            // The state (the entry's third argument, in r3's register until r3 is zeroed),
            // and the frame as its stack window.
            asm!(self.ops; mov state, rdx);
            if self.stack_len > 0 {
                let frame = self.stack_len as i32;
                let start = offsets::STACK_WINDOW + offsets::WINDOW_START;
                let read = offsets::STACK_WINDOW + offsets::WINDOW_READ_SPAN;
                let write = offsets::STACK_WINDOW + offsets::WINDOW_WRITE_SPAN;
                asm!(self.ops
                    ; lea tmp_b, [bpf_fp - frame]
                    ; mov [state + start], tmp_b
                    ; mov QWORD [state + read], frame
                    ; mov QWORD [state + write], frame
                );
            }
        }
        // r1 and r2 are the entry's arguments, r10 was just set.
        for r in [0usize, 3, 4, 5, 6, 7, 8, 9] {
            if self.facts.zeroes(r) {
                let host = regs::REGISTER_MAP[r];
                asm!(self.ops; xor Rd(host), Rd(host));
            }
        }
        self.emit_stack_zeroing();
    }

    /// Lean exit: undo the prologue and return (r0 in rax, the status word in rdx).
    fn emit_lean_leave(&mut self) {
        let reserved = (self.stack_len + self.lean_pad) as i32;
        if reserved > 0 {
            asm!(self.ops; add rsp, reserved);
        }
        for i in (0..self.saved.len()).rev() {
            let r = self.saved[i];
            asm!(self.ops; pop Rq(r));
        }
        asm!(self.ops; ret);
    }

    /// `exit` of the main program (lean code) or of any function (full code, where main is
    /// called by the entry).
    fn emit_exit(&mut self) {
        if self.lean {
            asm!(self.ops; xor edx, edx);
            self.emit_lean_leave();
        } else {
            asm!(self.ops; ret);
        }
    }

    /// Full entry: save callee-saved registers, set the state and frame-pointer registers
    /// (r10 is the top of the run function's stack block), zero the eBPF registers that are
    /// not arguments and the stack bytes the program can read, call the main function; then
    /// the shared epilogue (status in rdx) and the tail-call jump.
    fn emit_full_prologue(&mut self) {
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
            // 6 pushes + return address: rsp is 8 mod 16 here.
            ; mov bpf_fp, [state + offsets::STACK_TOP]
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

    /// Zeroes the stack words that can be read before they are written
    /// (`ProgramFacts::zeroed_words`) in every frame the run may use, as the interpreter's
    /// zeroed stack has them: a few 8-byte stores of a zero register, 16-byte SSE stores over
    /// a span of up to 1 KiB (xmm registers are caller-saved and unused otherwise), or
    /// `rep stosq` beyond (r1 in rdi, r4 in rcx and r0 in rax are kept in the scratch
    /// registers meanwhile).
    fn emit_stack_zeroing(&mut self) {
        let words = self.facts.zeroed_words;
        if words == 0 || self.stack_len == 0 {
            return;
        }
        let frames = (self.stack_len / FRAME_SIZE) as i32;
        let frame = FRAME_SIZE as i32;
        let word_offset = |w: u32| 8 * w as i32 - frame;
        if words.count_ones() as i32 * frames <= 16 {
            asm!(self.ops; xor tmp_a_d, tmp_a_d);
            for f in 0..frames {
                for w in (0..64).filter(|w| words & (1 << w) != 0) {
                    let off = word_offset(w) - f * frame;
                    asm!(self.ops; mov [bpf_fp + off], tmp_a);
                }
            }
            return;
        }
        // One span over every frame, from the lowest zeroed word of the deepest frame to the
        // end of the highest zeroed word of the entry frame.
        let lo = word_offset(words.trailing_zeros());
        let hi = word_offset(64 - words.leading_zeros());
        let start = lo - (frames - 1) * frame;
        let bytes = hi - start;
        if bytes <= 1024 {
            asm!(self.ops; xorps xmm0, xmm0);
            let mut off = start;
            while off + 16 <= hi {
                asm!(self.ops; movups [bpf_fp + off], xmm0);
                off += 16;
            }
            if off < hi {
                asm!(self.ops; movsd [bpf_fp + off], xmm0);
            }
            return;
        }
        let words = bytes / 8;
        asm!(self.ops
            ; mov tmp_b, rdi
            ; mov tmp_c, rcx
            ; mov tmp_a, rax
            ; xor eax, eax
            ; lea rdi, [bpf_fp + start]
            ; mov ecx, words
            ; rep stosq
            ; mov rdi, tmp_b
            ; mov rcx, tmp_c
            ; mov rax, tmp_a
        );
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
            Instruction::LegacyPacketLoad { .. } => {
                self.emit_failing(
                    pc,
                    Status::Unsupported,
                    unsupported_index(LEGACY_PACKET_LOAD),
                );
                Ok(())
            }
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => self.emit_load(pc, size, sign_extend, dst, src, off),
            Instruction::ProbeLoad {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                self.emit_probe_load(size, sign_extend, dst, src, off);
                Ok(())
            }
            Instruction::Store {
                size,
                dst,
                off,
                src,
            } => {
                self.emit_store(pc, size, dst, off, src);
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
            // x86-64 is TSO: a plain load has acquire and a plain store release ordering (as
            // the kernel's x86 JIT emits them).
            Instruction::LoadAcquire {
                size,
                dst,
                src,
                off,
            } => self.emit_load(pc, size, false, dst, src, off),
            Instruction::StoreRelease {
                size,
                dst,
                src,
                off,
            } => {
                self.emit_store(pc, size, dst, off, Operand::Reg(src));
                Ok(())
            }
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
                self.emit_exit();
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

    /// An instruction that fails whenever it runs, as the interpreter fails on it: a jump to
    /// a stub reporting `status` with its extra word `arg`. Such instructions decode, and a
    /// verifier accepts them where it proved them dead (as the kernel's does, which then
    /// never runs them), so they must compile: a run that reaches one anyway gets the
    /// interpreter's error.
    fn emit_failing(&mut self, pc: usize, status: Status, arg: u64) {
        let stub = self.stub(pc, StubKind::Fixed(status, arg));
        asm!(self.ops; jmp =>stub);
    }

    /// A new out-of-line stub for the instruction at `pc`.
    fn stub(&mut self, pc: usize, kind: StubKind) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.stubs.push(Stub { label, pc, kind });
        label
    }

    /// Emits every stub queued so far.
    fn emit_stubs(&mut self) {
        for stub in std::mem::take(&mut self.stubs) {
            let label = stub.label;
            asm!(self.ops; =>label);
            self.emit_stub(stub.pc, stub.kind);
        }
    }

    /// One stub for the instruction at `pc`: the extra word in rax, the status word (status
    /// and pc) in rdx, out through the epilogue. A trampoline's `TailCall` status goes to the
    /// tail-call jump instead; its other statuses get the pc added.
    fn emit_stub(&mut self, pc: usize, kind: StubKind) {
        match kind {
            StubKind::Fixed(status, arg) => {
                self.emit_load_u64(regs::host::RAX, arg);
                let word = status.word_at(pc);
                asm!(self.ops
                    ; mov rdx, QWORD word as i64
                    ; jmp ->epilogue
                );
            }
            StubKind::FromTrampoline => {
                let tail = Status::TailCall as i32;
                let pc_bits = Status::Exit.word_at(pc);
                asm!(self.ops
                    ; cmp edx, tail
                    ; je ->tail_call
                    ; mov rcx, QWORD pc_bits as i64
                    ; or rdx, rcx
                    ; jmp ->epilogue
                );
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

    /// Address of the entry of helper `id` in the program's helper list.
    fn helper_address(&self, id: u32) -> Option<*const Helper> {
        self.helpers
            .iter()
            .find(|h| h.id == id)
            .map(|h| h as *const Helper)
    }
}
