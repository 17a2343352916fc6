//! The aarch64 backend: one dynamic label per eBPF slot, straight-line emission of each
//! instruction (`alu`, `memory`, `control`, `peephole`), out-of-line error stubs, and the
//! entry prologue/epilogue, mirroring the x86-64 backend's design on AAPCS64 (`regs` has the
//! register map, `abi` the entry type, trampolines, `brk` fill and cache maintenance).
//!
//! Two entry conventions, as on x86-64:
//! - lean code (no calls but calls of pure helpers): the prologue saves x29/x30 and the
//!   callee-saved host registers the program names, reserves one 512-byte frame if the
//!   program uses r10, and falls into slot 0; every `exit` restores and returns inline;
//!   error stubs leave through the shared lean epilogue. A pure helper is a plain `blr` with
//!   r1-r5 already in x0-x4; its result is moved from x0 to r0 (x7).
//! - full code (environment helpers, `callx`, local calls, tail-call targets): the entry
//!   saves x29, x30, x19-x22, x25, x26 in a 64-byte record, stores sp in
//!   `RunState::saved_rsp`, takes r10 from `RunState::stack_top` and calls slot 0 with `bl`;
//!   functions return with `ret`. A call site saves x30 (the current function's return
//!   address) around its helper call; a local call saves r6-r9, r10 and x30 in 48 bytes.
//!   Every way out ends in the shared epilogue that resets sp from `saved_rsp`, so error
//!   stubs work at any call depth. sp moves only in multiples of 16, so it is 16-byte
//!   aligned at every helper call, as AAPCS64 requires.
//!
//! Both conventions return r0 in x0 and the status word (`runtime::Status`) in x1.
//!
//! Branches: a conditional branch (`b.cond`, `cbnz`) reaches ±1 MiB, `b` ±128 MiB. Code is
//! first assembled with direct conditional branches; if the assembler reports a branch out
//! of range, the program is assembled again with every conditional branch to a slot or a stub
//! as an inverted conditional branch over a `b` (`far_branches`). Branches to the shared
//! epilogue and tail-call sequences are always `b`.
//!
//! Atomics: LSE instructions or exclusive-load/store loops, chosen when the program is
//! compiled (`JitOptions::atomics`, by default from the CPU's features).
//!
//! The code generator compiles on every host when testing (golden machine-code tests run on
//! x86-64); only `abi` needs an aarch64 target.

#[cfg(target_arch = "aarch64")]
pub(crate) mod abi;
mod alu;
mod control;
#[cfg(test)]
mod golden_tests;
mod memory;
mod peephole;
pub(crate) mod regs;

use dynasmrt::aarch64::Aarch64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use sockops_vm::interp::unsupported::LEGACY_PACKET_LOAD;
use sockops_vm::{Helper, Instruction, Operand, Region};

use crate::AtomicsLowering;
use crate::backend::{
    Backend, Blinder, CompileInput, MachineCode, ProgramFacts, compiles_lean, environment_helpers,
    unsupported_index,
};
use crate::error::JitError;
use crate::runtime::{FRAME_SIZE, MAX_FRAMES, Status, offsets};
use regs::{REGISTER_MAP, TMP_A, TMP_B, TMP_C, ZR, asm};

/// The aarch64 code generator.
pub(crate) struct Aarch64;

impl Backend for Aarch64 {
    fn compile(input: &CompileInput<'_>) -> Result<MachineCode, JitError> {
        let target = TargetFacts::of_this_host(input.options.atomics);
        compile_for(input, target)
    }
}

/// Compiles `input` for `target`: with direct conditional branches first, and again with far
/// ones if some branch is out of their range.
pub(crate) fn compile_for(
    input: &CompileInput<'_>,
    target: TargetFacts,
) -> Result<MachineCode, JitError> {
    match Compiler::new(input, target, false).compile() {
        Err(JitError::Assembler(_)) => Compiler::new(input, target, true).compile(),
        other => other,
    }
}

/// What the code depends on besides the program: the atomics form and the trampolines'
/// addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TargetFacts {
    /// Use LSE atomics (else exclusive-load/store loops).
    pub lse: bool,
    /// Address of the helper trampoline.
    pub helper_trampoline: u64,
    /// Address of the `callx` trampoline.
    pub callx_trampoline: u64,
    /// Address of the memory-check trampoline (checked-memory full code).
    pub check_trampoline: u64,
    /// Address of the memory-check trampoline of lean checked-memory code.
    pub check_lean_trampoline: u64,
}

impl TargetFacts {
    /// The facts of the CPU this runs on, with the atomics form `atomics` asks for.
    #[cfg(target_arch = "aarch64")]
    fn of_this_host(atomics: AtomicsLowering) -> TargetFacts {
        let [
            helper_trampoline,
            callx_trampoline,
            check_trampoline,
            check_lean_trampoline,
        ] = abi::trampoline_addresses();
        TargetFacts {
            lse: match atomics {
                AtomicsLowering::Detect => abi::cpu_has_lse(),
                AtomicsLowering::LargeSystemExtensions => true,
                AtomicsLowering::ExclusiveLoop => false,
            },
            helper_trampoline,
            callx_trampoline,
            check_trampoline,
            check_lean_trampoline,
        }
    }

    /// On another host the code is only assembled to be inspected (golden tests), never run:
    /// there are no trampolines to call, and atomics are LSE only when asked for.
    #[cfg(not(target_arch = "aarch64"))]
    fn of_this_host(atomics: AtomicsLowering) -> TargetFacts {
        TargetFacts {
            lse: atomics == AtomicsLowering::LargeSystemExtensions,
            helper_trampoline: 0,
            callx_trampoline: 0,
            check_trampoline: 0,
            check_lean_trampoline: 0,
        }
    }
}

/// An operand after lowering: a host register or an immediate that may be encoded inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Src {
    /// A host register.
    Reg(u32),
    /// A 32-bit immediate (sign-extended in 64-bit operations).
    Imm(i32),
}

/// A condition of `b.cond`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cond {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Unsigned >=.
    Hs,
    /// Unsigned <.
    Lo,
    /// Unsigned >.
    Hi,
    /// Unsigned <=.
    Ls,
    /// Signed >=.
    Ge,
    /// Signed <.
    Lt,
    /// Signed >.
    Gt,
    /// Signed <=.
    Le,
}

impl Cond {
    /// The condition that holds exactly when `self` does not.
    pub(super) fn inverse(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
        }
    }
}

/// What an out-of-line error stub reports.
#[derive(Clone, Copy, Debug)]
enum StubKind {
    /// A fixed status with its extra word.
    Fixed(Status, u64),
    /// The status a trampoline returned, already in x1 (its extra word in x0).
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
    ops: VecAssembler<Aarch64Relocation>,
    input: &'a CompileInput<'a>,
    target: TargetFacts,
    /// Conditional branches to slots and stubs go through an inverted branch over a `b`.
    far_branches: bool,
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
    /// Callee-saved host registers lean code saves in its prologue, in order.
    saved: Vec<u32>,
    /// What the whole program does (calls, registers, stack reads).
    facts: ProgramFacts,
}

/// Bytes of the register record full code's entry saves (x29, x30, x19-x22, x25, x26).
const FULL_SAVE_AREA: u32 = 64;

impl<'a> Compiler<'a> {
    fn new(input: &'a CompileInput<'a>, target: TargetFacts, far_branches: bool) -> Compiler<'a> {
        let n = input.insns.len();
        let mut ops = VecAssembler::new_with_capacity(0, 16 * n + 512, 8, 4, n + 8, 16, n + 8);
        let slot_labels = (0..n).map(|_| ops.new_dynamic_label()).collect();
        let facts = ProgramFacts::of(input.insns);
        let has_calls = facts.has_calls;
        let lean = compiles_lean(input);
        let (stack_len, saved) = if lean {
            let mut saved: Vec<u32> = [6usize, 7, 8, 9, 10]
                .into_iter()
                .filter(|&r| facts.names(r))
                .map(|r| REGISTER_MAP[r])
                .collect();
            // With checked memory x26 holds the `LeanCheckState`.
            if input.options.checked_memory {
                saved.push(regs::STATE);
            }
            (if facts.names(10) { FRAME_SIZE } else { 0 }, saved)
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
            target,
            far_branches,
            slot_labels,
            stubs: Vec::new(),
            checks: Vec::new(),
            helpers: helpers.into_boxed_slice(),
            value_regions: Vec::new(),
            blinder: input.options.constant_blinding.then(Blinder::new),
            stack_len,
            lean,
            saved,
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

    /// Bytes of lean code's register record: x29/x30 and the saved registers, in 16-byte
    /// pairs.
    fn lean_save_area(&self) -> u32 {
        16 * (1 + self.saved.len().div_ceil(2) as u32)
    }

    /// Lean entry: save x29/x30 and the named callee-saved registers, reserve the frame if
    /// r10 is used, zero the named registers that are not arguments and the readable stack
    /// bytes; then fall into slot 0.
    fn emit_lean_prologue(&mut self) {
        let area = self.lean_save_area() as i32;
        asm!(self.ops
            ; stp x29, x30, [sp, -area]!
            ; mov x29, sp
        );
        for (i, pair) in self.saved.clone().chunks(2).enumerate() {
            let off = 16 + 16 * i as u32;
            match *pair {
                [a, b] => asm!(self.ops; stp X(a), X(b), [sp, off as i32]),
                [a] => asm!(self.ops; str X(a), [sp, off]),
                _ => {}
            }
        }
        if self.stack_len > 0 {
            let frame = self.stack_len as u32;
            asm!(self.ops
                ; mov bpf_fp, sp
                ; sub sp, sp, frame
            );
        }
        if self.input.options.checked_memory {
            // The state (the entry's third argument, in r3's register until r3 is zeroed),
            // and the frame as its stack window.
            asm!(self.ops; mov state, x2);
            if self.stack_len > 0 {
                let frame = self.stack_len as u32;
                let (start, read, write) = (
                    (offsets::STACK_WINDOW + offsets::WINDOW_START) as u32,
                    (offsets::STACK_WINDOW + offsets::WINDOW_READ_SPAN) as u32,
                    (offsets::STACK_WINDOW + offsets::WINDOW_WRITE_SPAN) as u32,
                );
                asm!(self.ops
                    ; sub tmp_b, bpf_fp, frame
                    ; str tmp_b, [state, start]
                    ; movz tmp_b, frame
                    ; str tmp_b, [state, read]
                    ; str tmp_b, [state, write]
                );
            }
        }
        // r1 and r2 are the entry's arguments, r10 was just set.
        for r in [0usize, 3, 4, 5, 6, 7, 8, 9] {
            if self.facts.zeroes(r) {
                let host = REGISTER_MAP[r];
                asm!(self.ops; mov X(host), xzr);
            }
        }
        self.emit_stack_zeroing();
    }

    /// Lean exit: undo the prologue and return (r0 in x0, the status word in x1).
    fn emit_lean_leave(&mut self) {
        if self.stack_len > 0 {
            let frame = self.stack_len as u32;
            asm!(self.ops; add sp, sp, frame);
        }
        for (i, pair) in self.saved.clone().chunks(2).enumerate() {
            let off = 16 + 16 * i as u32;
            match *pair {
                [a, b] => asm!(self.ops; ldp X(a), X(b), [sp, off as i32]),
                [a] => asm!(self.ops; ldr X(a), [sp, off]),
                _ => {}
            }
        }
        let area = self.lean_save_area() as i32;
        asm!(self.ops
            ; ldp x29, x30, [sp], area
            ; ret
        );
    }

    /// `exit` of the main program (lean code) or of any function (full code, where main is
    /// called by the entry).
    fn emit_exit(&mut self) {
        if self.lean {
            asm!(self.ops
                ; mov x0, bpf_r0
                ; mov x1, xzr
            );
            self.emit_lean_leave();
        } else {
            asm!(self.ops; ret);
        }
    }

    /// Full entry: save the callee-saved registers, set the state and frame-pointer
    /// registers, zero the eBPF registers that are not arguments and the stack bytes the
    /// program can read, call the main function; then the shared epilogue (status in x1)
    /// and the tail-call jump.
    fn emit_full_prologue(&mut self) {
        let main = self.slot_labels[0];
        let area = FULL_SAVE_AREA as i32;
        let saved_sp = offsets::SAVED_RSP as u32;
        let stack_top = offsets::STACK_TOP as u32;
        asm!(self.ops
            ; stp x29, x30, [sp, -area]!
            ; mov x29, sp
            ; stp x19, x20, [sp, 16]
            ; stp x21, x22, [sp, 32]
            ; stp x25, x26, [sp, 48]
            ; mov state, x2
            ; mov tmp_a, sp
            ; str tmp_a, [state, saved_sp]
            ; ldr bpf_fp, [state, stack_top]
            ; mov bpf_r0, xzr
            ; mov x2, xzr
            ; mov x3, xzr
            ; mov x4, xzr
            ; mov x19, xzr
            ; mov x20, xzr
            ; mov x21, xzr
            ; mov x22, xzr
        );
        self.emit_stack_zeroing();
        let tail_r1 = offsets::TAIL_R1 as u32;
        let tail_target = offsets::TAIL_TARGET as u32;
        asm!(self.ops
            ; bl =>main
            ; mov x0, bpf_r0
            ; mov x1, xzr
            ; ->epilogue:
            ; ldr tmp_a, [state, saved_sp]
            ; mov sp, tmp_a
            ; ldp x25, x26, [sp, 48]
            ; ldp x21, x22, [sp, 32]
            ; ldp x19, x20, [sp, 16]
            ; ldp x29, x30, [sp], area
            ; ret
            // A helper requested a tail call: the trampoline switched the run state to the
            // target; enter its body in this frame with r1 as the caller passed it (x30 is
            // the return address of the function that made the call).
            ; ->tail_call:
            ; ldr x0, [state, tail_r1]
            ; ldr ip0, [state, tail_target]
            ; br ip0
        );
    }

    /// Zeroes the stack words that can be read before they are written
    /// (`ProgramFacts::zeroed_words`) in every frame the run may use, as the interpreter's
    /// zeroed stack has them: a few stores of the zero register, or a loop of 16-byte `stp
    /// xzr, xzr` over the span of every frame.
    fn emit_stack_zeroing(&mut self) {
        let words = self.facts.zeroed_words;
        if words == 0 || self.stack_len == 0 {
            return;
        }
        let frames = (self.stack_len / FRAME_SIZE) as i32;
        let frame = FRAME_SIZE as i32;
        let word_offset = |w: u32| 8 * w as i32 - frame;
        if words.count_ones() as i32 * frames <= 16 {
            for f in 0..frames {
                for w in (0..64).filter(|w| words & (1 << w) != 0) {
                    let off = word_offset(w) - f * frame;
                    self.emit_store_register(sockops_vm::Size::DW, REGISTER_MAP[10], off, ZR);
                }
            }
            return;
        }
        // One span over every frame, from the lowest zeroed word of the deepest frame to the
        // end of the highest zeroed word of the entry frame.
        let lo = word_offset(words.trailing_zeros());
        let hi = word_offset(64 - words.leading_zeros());
        let start = lo - (frames - 1) * frame;
        let bytes = (hi - start) as u64;
        self.emit_add_immediate(TMP_B, REGISTER_MAP[10], i64::from(start));
        self.emit_constant(TMP_C, bytes / 16);
        asm!(self.ops
            ; zero_pair:
            ; stp xzr, xzr, [tmp_b], 16
            ; subs tmp_c, tmp_c, 1
            ; b.ne <zero_pair
        );
        if !bytes.is_multiple_of(16) {
            asm!(self.ops; str xzr, [tmp_b]);
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
            Instruction::LdImm64 { dst, kind, imm } => {
                self.emit_ld_imm64(pc, dst, kind, imm);
                Ok(())
            }
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
            Instruction::LoadAcquire {
                size,
                dst,
                src,
                off,
            } => {
                self.emit_load_acquire(pc, size, dst, src, off);
                Ok(())
            }
            Instruction::StoreRelease {
                size,
                dst,
                src,
                off,
            } => {
                self.emit_store_release(pc, size, dst, src, off);
                Ok(())
            }
            Instruction::Ja { off, .. } => {
                let label = self.jump_label(pc, pc as i64 + 1 + off as i64);
                asm!(self.ops; b =>label);
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
            Instruction::Call(target) => {
                self.emit_call(pc, target);
                Ok(())
            }
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
    /// a stub reporting `status` with its extra word `arg` (see the x86-64 backend).
    fn emit_failing(&mut self, pc: usize, status: Status, arg: u64) {
        let stub = self.stub(pc, StubKind::Fixed(status, arg));
        asm!(self.ops; b =>stub);
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

    /// One stub for the instruction at `pc`: the extra word in x0, the status word (status
    /// and pc) in x1, out through the epilogue. A trampoline's `TailCall` status goes to the
    /// tail-call jump instead; its other statuses get the pc added.
    fn emit_stub(&mut self, pc: usize, kind: StubKind) {
        match kind {
            StubKind::Fixed(status, arg) => {
                self.emit_constant(0, arg);
                self.emit_constant(1, status.word_at(pc));
                asm!(self.ops; b ->epilogue);
            }
            StubKind::FromTrampoline => {
                let tail = Status::TailCall as u32;
                asm!(self.ops
                    ; cmp w1, tail
                    ; b.ne >not_tail
                    ; b ->tail_call
                    ; not_tail:
                );
                self.emit_constant(TMP_A, Status::Exit.word_at(pc));
                asm!(self.ops
                    ; orr x1, x1, tmp_a
                    ; b ->epilogue
                );
            }
        }
    }

    /// A conditional branch to `target` taken when `cond` holds: `b.cond`, or with far
    /// branches the inverted condition over a `b`.
    pub(super) fn emit_branch(&mut self, cond: Cond, target: DynamicLabel) {
        if !self.far_branches {
            self.emit_branch_to(cond, target);
            return;
        }
        let skip = self.ops.new_dynamic_label();
        self.emit_branch_to(cond.inverse(), skip);
        asm!(self.ops
            ; b =>target
            ; =>skip
        );
    }

    /// `b.cond target`.
    fn emit_branch_to(&mut self, cond: Cond, target: DynamicLabel) {
        match cond {
            Cond::Eq => asm!(self.ops; b.eq =>target),
            Cond::Ne => asm!(self.ops; b.ne =>target),
            Cond::Hs => asm!(self.ops; b.hs =>target),
            Cond::Lo => asm!(self.ops; b.lo =>target),
            Cond::Hi => asm!(self.ops; b.hi =>target),
            Cond::Ls => asm!(self.ops; b.ls =>target),
            Cond::Ge => asm!(self.ops; b.ge =>target),
            Cond::Lt => asm!(self.ops; b.lt =>target),
            Cond::Gt => asm!(self.ops; b.gt =>target),
            Cond::Le => asm!(self.ops; b.le =>target),
        }
    }

    /// A branch to `target` taken when the 64-bit register `reg` is not zero: `cbnz`, or
    /// with far branches `cbz` over a `b`.
    pub(super) fn emit_branch_if_nonzero(&mut self, reg: u32, target: DynamicLabel) {
        if self.far_branches {
            asm!(self.ops
                ; cbz X(reg), >zero
                ; b =>target
                ; zero:
            );
        } else {
            asm!(self.ops; cbnz X(reg), =>target);
        }
    }

    /// Lowers an operand; with constant blinding an immediate is materialised in `tmp_a`
    /// as `(imm ^ key) ^ key` (sign-extended), so that the program's constant never appears
    /// in the code.
    fn lower(&mut self, src: Operand) -> Src {
        match src {
            Operand::Reg(r) => Src::Reg(regs::host_reg(r)),
            Operand::Imm(imm) => match self.blinder.as_mut() {
                None => Src::Imm(imm),
                Some(blinder) => {
                    let key = blinder.next_i32();
                    let blinded = imm ^ key;
                    self.emit_constant(TMP_A, blinded as i64 as u64);
                    self.emit_constant(regs::TMP_D, key as i64 as u64);
                    asm!(self.ops; eor tmp_a, tmp_a, tmp_d);
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
