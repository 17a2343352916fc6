//! The checked eBPF interpreter: the executable specification of the instruction set, with
//! Linux / RFC 9669 semantics (`___bpf_prog_run` in kernel/bpf/core.c is the reference).
//!
//! **Checked mode.** Every load, store and atomic is checked against the run's `Memory`
//! (context, stack, caller-supplied regions, map values the program or its helpers obtained),
//! every jump target against the program, every call against the frame limit, so a program
//! that the verifier never saw still cannot touch host memory outside those regions, panic,
//! or hang past its instruction budget. Unverified programs may run only here; the JIT runs
//! only `Verified` programs.
//!
//! Machine model:
//! - one stack buffer of `MAX_CALL_FRAMES` x 512 bytes for all frames (one `Region` of kind
//!   `Stack`, zeroed before each run); frame `k` (0 = entry) has `r10` = the top of the
//!   `k`-th 512-byte slice counted from the top of the buffer;
//! - `r1` = the context address and `r2` = its length at entry (0 and 0 without a context);
//! - helper calls (`call N`, `callx`) look the id up in the `HelperTable`, pass r1..r5 and put
//!   the result in r0 (a pure helper is called with r1..r5 alone, without an environment);
//!   r1..r5 keep their values afterwards, as in the kernel's interpreter
//!   (the verifier forbids reading them, and the JIT clobbers them);
//! - local calls get a fresh 512-byte frame with their own `r10`; r6..r9 and r10 of the caller
//!   are saved and restored on `exit`; r1..r5 after the call hold whatever the callee left;
//! - a tail call (requested by the `bpf_tail_call` helper through `HelperEnv::tail_call`)
//!   replaces the running program in the current frame and starts it at slot 0 with the
//!   registers as they are (r1 = the context the caller passed); at most
//!   `MAX_TAIL_CALL_CNT` tail calls per run, a missing target continues after the call.
//!
//! The value semantics of ALU, byte-order and jump instructions are pure functions in
//! `semantics`; errors are in `error`.

mod error;
mod lower;
pub mod semantics;

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

pub use error::{ExecError, ExecErrorKind, unsupported};

use crate::decode::decode_program;
use crate::helper::{Helper, HelperCall, HelperEnv, HelperTable};
use crate::instruction::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Imm64Kind, Instruction, JmpCond, Operand, Size, Width,
};
use crate::memory::{Access, Memory, MemoryFault, Region, RegionKind};
use crate::program::Program;
use lower::{Code, Lowered, Op, lower};
use semantics::{alu, alu32, alu64, atomic_new_value, endian, imm64, jump_taken, neg};

/// Bytes of stack per call frame (the kernel's MAX_BPF_STACK).
pub const STACK_FRAME_SIZE: usize = 512;
/// Maximum number of call frames, the entry frame included (the kernel's MAX_CALL_FRAMES).
pub const MAX_CALL_FRAMES: usize = 8;
/// Maximum number of tail calls in one run (the kernel's MAX_TAIL_CALL_CNT).
pub const MAX_TAIL_CALL_CNT: u32 = 33;
/// Decoded tail-call targets kept between runs before the cache is reset.
const MAX_CACHED_TAIL_CALL_TARGETS: usize = 64;
/// Total stack bytes of one run.
pub const STACK_SIZE: usize = STACK_FRAME_SIZE * MAX_CALL_FRAMES;

/// Options of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Stop with `ExecErrorKind::BudgetExhausted` once this many instructions have executed
    /// and another one is due. `None`: no limit (only safe for verified programs).
    pub instruction_budget: Option<u64>,
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Instructions executed (an LD_IMM64 counts once).
    pub instructions: u64,
    /// Helper calls made (`call N` and `callx`), tail-call requests included.
    pub helper_calls: u64,
    /// BPF-to-BPF calls made.
    pub local_calls: u64,
    /// Tail calls performed.
    pub tail_calls: u32,
    /// Deepest call-frame count reached (1 = the entry frame only).
    pub max_call_depth: usize,
}

/// The outcome of a successful run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// r0 at the final `exit`.
    pub r0: u64,
    /// Counters.
    pub stats: RunStats,
}

/// Guest-visible memory the caller lends to one run (e.g. read-only packet data for
/// sock_ops). The borrow guarantees the bytes stay valid and unaliased while the run lasts.
#[derive(Debug)]
pub struct GuestRegion<'a> {
    region: Region,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> GuestRegion<'a> {
    /// Bytes the guest may read but not write.
    pub fn read_only(bytes: &'a [u8], kind: RegionKind) -> GuestRegion<'a> {
        GuestRegion {
            region: Region {
                start: bytes.as_ptr() as u64,
                len: bytes.len() as u64,
                writable: false,
                kind,
            },
            _borrow: PhantomData,
        }
    }

    /// Bytes the guest may read and write.
    pub fn writable(bytes: &'a mut [u8], kind: RegionKind) -> GuestRegion<'a> {
        GuestRegion {
            region: Region {
                start: bytes.as_mut_ptr() as u64,
                len: bytes.len() as u64,
                writable: true,
                kind,
            },
            _borrow: PhantomData,
        }
    }

    /// The region as the memory checker sees it.
    pub fn region(&self) -> Region {
        self.region
    }
}

/// A decoded program: the entry program or a tail-call target, with its lowered form.
#[derive(Debug)]
struct Loaded {
    program: Arc<Program>,
    code: Vec<Instruction>,
    lowered: Lowered,
}

impl Loaded {
    fn new(program: Arc<Program>, code: Vec<Instruction>, helpers: &HelperTable) -> Loaded {
        let lowered = lower(&code, helpers);
        Loaded {
            program,
            code,
            lowered,
        }
    }
}

/// What a local call saves to return to its caller.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Index into `Interpreter::loaded` of the caller's program.
    prog: usize,
    /// Slot to continue at in the caller.
    return_pc: usize,
    /// The caller's r6..r9.
    callee_saved: [u64; 4],
    /// The caller's r10.
    frame_pointer: u64,
}

/// The checked interpreter for one program (and the tail-call targets it reaches). Decodes
/// and lowers once; reuses its stack, frame and region buffers across runs, so a run
/// allocates nothing.
pub struct Interpreter {
    /// Index 0: the entry program; then tail-call targets as they are first called.
    loaded: Vec<Loaded>,
    helpers: HelperTable,
    /// The stack of all frames, as u64 words so atomics on it are naturally aligned.
    stack: Vec<u64>,
    /// Offset from the stack's base of the lowest byte a run may have written since the
    /// stack was last cleared (`STACK_SIZE`: all clear). Only `[offset, STACK_SIZE)` is
    /// zeroed before the next run; it is 0 (everything) while a run is in progress, so a
    /// run that unwinds (a panicking helper) leaves it all to clear.
    dirty_from: usize,
    frames: Vec<Frame>,
    /// The region buffer of the runs' `Memory`, kept between runs.
    spare_regions: Vec<Region>,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("program", &self.loaded[0].program.name)
            .field("slots", &self.loaded[0].code.len())
            .field("cached_tail_call_targets", &(self.loaded.len() - 1))
            .finish_non_exhaustive()
    }
}

impl Interpreter {
    /// Decodes `program` for execution with `helpers` (both are cloned; maps are shared).
    pub fn new(program: &Program, helpers: &HelperTable) -> Result<Interpreter, ExecError> {
        Self::from_arc(Arc::new(program.clone()), helpers)
    }

    /// As `new`, for a program the caller already shares.
    pub fn from_arc(
        program: Arc<Program>,
        helpers: &HelperTable,
    ) -> Result<Interpreter, ExecError> {
        let code = decode_program(&program.insns)?;
        Ok(Interpreter {
            loaded: vec![Loaded::new(program, code, helpers)],
            helpers: helpers.clone(),
            stack: vec![0; STACK_SIZE / 8],
            dirty_from: STACK_SIZE,
            frames: Vec::with_capacity(MAX_CALL_FRAMES),
            spare_regions: Vec::new(),
        })
    }

    /// The entry program.
    pub fn program(&self) -> &Program {
        &self.loaded[0].program
    }

    /// The entry program's decoded instructions, one per slot.
    pub fn instructions(&self) -> &[Instruction] {
        &self.loaded[0].code
    }

    /// The helper table calls go through.
    pub fn helpers(&self) -> &HelperTable {
        &self.helpers
    }

    /// Runs the program on `ctx` (r1 = its address, r2 = its length; both 0 if it is empty)
    /// with no payload and no budget. Convenient for tests and raw programs.
    pub fn run_plain(&mut self, ctx: &mut [u8]) -> Result<RunResult, ExecError> {
        self.run(ctx, &mut (), &RunOptions::default())
    }

    /// Runs the program on `ctx` (r1 = its address, r2 = its length; both 0 if it is empty).
    /// Helpers see `payload`.
    pub fn run(
        &mut self,
        ctx: &mut [u8],
        payload: &mut dyn Any,
        options: &RunOptions,
    ) -> Result<RunResult, ExecError> {
        self.run_with_regions(ctx, &[], payload, options)
    }

    /// As `run`, with extra guest memory the program may access (packet data, ...).
    pub fn run_with_regions(
        &mut self,
        ctx: &mut [u8],
        regions: &[GuestRegion<'_>],
        payload: &mut dyn Any,
        options: &RunOptions,
    ) -> Result<RunResult, ExecError> {
        // An empty context is no context: r1 = r2 = 0 (not the slice's dangling address).
        let ctx = match ctx.is_empty() {
            true => None,
            false => Some(GuestRegion::writable(ctx, RegionKind::Context).region()),
        };
        let (start, len) = ctx.map_or((0, 0), |c| (c.start, c.len));
        let all = ctx
            .into_iter()
            .chain(regions.iter().map(GuestRegion::region));
        // SAFETY: `ctx` and each `GuestRegion` borrow their bytes (mutably if writable) for at
        // least the duration of this call, so they stay valid and unaliased while the guest
        // runs.
        unsafe { self.execute(start, len, true, all, payload, options) }
    }

    /// Runs the program with a context and regions given as raw `Region`s (r1 = `ctx.start`,
    /// r2 = `ctx.len`, or 0 and 0 for `None`).
    ///
    /// # Safety
    /// Every region (the context included) must satisfy `Memory::add`'s contract for the
    /// duration of the call: valid for reads (and writes if `writable`), not aliased by a
    /// live Rust reference.
    pub unsafe fn run_raw(
        &mut self,
        ctx: Option<Region>,
        regions: &[Region],
        payload: &mut dyn Any,
        options: &RunOptions,
    ) -> Result<RunResult, ExecError> {
        let (start, len, writable) = ctx.map_or((0, 0, false), |c| (c.start, c.len, c.writable));
        let all = ctx.into_iter().chain(regions.iter().copied());
        // SAFETY: forwarded from this function's contract.
        unsafe { self.execute(start, len, writable, all, payload, options) }
    }

    /// Sets up one run (stack, registers, memory map), runs the entry program and whatever it
    /// calls or tail-calls into, and tears down. The stack region is added here.
    ///
    /// The context is passed as scalars (r1 = `ctx_start`, r2 = `ctx_len`; a length of 0 is
    /// no context) and is also among `regions`, every region the run may access.
    ///
    /// # Safety
    /// Every region must satisfy `Memory::add`'s contract for the duration of the call.
    unsafe fn execute(
        &mut self,
        ctx_start: u64,
        ctx_len: u64,
        ctx_writable: bool,
        regions: impl Iterator<Item = Region>,
        payload: &mut dyn Any,
        options: &RunOptions,
    ) -> Result<RunResult, ExecError> {
        // Clear what earlier runs may have written (any frame's bytes are reachable from any
        // frame and from helpers, so runs stay independent and deterministic), and count the
        // whole stack as written until this run ends normally or with an error.
        let dirty_words = self.dirty_from / 8;
        if let Some(dirty) = self.stack.get_mut(dirty_words..).filter(|d| !d.is_empty()) {
            dirty.fill(0);
        }
        self.dirty_from = 0;
        self.frames.clear();
        // Forget cached tail-call targets if prog arrays keep changing (entries keep their
        // programs alive, and indices into `loaded` are only held during a run).
        if self.loaded.len() > MAX_CACHED_TAIL_CALL_TARGETS + 1 {
            self.loaded.truncate(1);
        }

        let stack_base = self.stack.as_mut_ptr() as u64;
        let stack_top = stack_base + STACK_SIZE as u64;
        let budget = options.instruction_budget.unwrap_or(u64::MAX);
        // Built in place, the memory map included (moving it in later costs a store-forwarding
        // stall on every run).
        let mut machine = Machine {
            regs: [0u64; REG_SLOTS],
            remaining: budget,
            budget,
            stats: RunStats {
                max_call_depth: 1,
                ..RunStats::default()
            },
            guest: Guest {
                memory: Memory::with_buffer(std::mem::take(&mut self.spare_regions)),
                bounds: Bounds {
                    stack_base,
                    ctx_start,
                    ctx_len,
                    ctx_writable,
                },
                stack_low: STACK_SIZE as u64,
            },
            stack_top,
            frames: &mut self.frames,
            payload,
        };
        machine.regs[1] = ctx_start;
        machine.regs[2] = ctx_len;
        machine.regs[10] = stack_top;
        for r in regions {
            // SAFETY: forwarded from this function's contract.
            unsafe { machine.guest.memory.add(r) };
        }
        // SAFETY: `stack` is a heap buffer of STACK_SIZE bytes owned by `self`, which is
        // mutably borrowed for this whole call; no Rust reference to it is used until the
        // run ends (the guest and helpers access it only through raw addresses checked
        // against `memory` or against its bounds in `Bounds`).
        unsafe {
            machine.guest.memory.add(Region {
                start: stack_base,
                len: STACK_SIZE as u64,
                writable: true,
                kind: RegionKind::Stack,
            })
        };

        let mut prog = 0usize;
        let mut pc = 0usize;
        let result = loop {
            let left = run_lowered(&mut machine, &self.loaded[prog], prog, pc, &self.helpers);
            match left {
                Err(e) => break Err(e),
                Ok(Leave::Exit(r0)) => break Ok(r0),
                Ok(Leave::Return { prog: p, pc: q }) => (prog, pc) = (p, q),
                Ok(Leave::TailCall { map, index, resume }) => {
                    match tail_call_target(&mut self.loaded, &self.helpers, prog, map, index) {
                        Err(kind) => break Err(ExecError::new(resume - 1, kind)),
                        Ok(Some(target)) => {
                            machine.stats.tail_calls += 1;
                            (prog, pc) = (target, 0);
                        }
                        Ok(None) => pc = resume,
                    }
                }
            }
        };

        let Machine {
            guest,
            stats,
            remaining,
            ..
        } = machine;
        let helper_low = guest
            .memory
            .lowest_stack_write()
            .map_or(STACK_SIZE as u64, |a| a.saturating_sub(stack_base));
        self.dirty_from = guest.stack_low.min(helper_low) as usize;
        self.spare_regions = guest.memory.into_buffer();
        result.map(|r0| RunResult {
            r0,
            stats: RunStats {
                instructions: budget - remaining,
                ..stats
            },
        })
    }
}

/// Register slots of the loop: r0..r10, padded to 16 so that an index masked with 15 needs
/// no bounds check.
const REG_SLOTS: usize = 16;

/// The guest memory of one run: the checked `Memory`, the bounds of the two regions most
/// accesses hit (`Bounds`), and how low this run's direct stack stores went.
struct Guest {
    memory: Memory,
    bounds: Bounds,
    /// Offset from the stack's base of the lowest stack byte this run stored to directly
    /// (`STACK_SIZE`: none).
    stack_low: u64,
}

/// Fast paths for the stack (checked first) and the context. Everything else goes through
/// `Memory`'s region search, which covers these two regions as well, so the fast paths change
/// speed, never outcomes. A plain copyable value, so the loop keeps it in registers.
#[derive(Clone, Copy)]
struct Bounds {
    stack_base: u64,
    ctx_start: u64,
    ctx_len: u64,
    ctx_writable: bool,
}

impl Bounds {
    /// Whether `[addr, addr + len)` lies in the context (a length-0 context contains nothing).
    #[inline(always)]
    fn in_ctx(self, addr: u64, len: u64) -> bool {
        let off = addr.wrapping_sub(self.ctx_start);
        off < self.ctx_len && self.ctx_len - off >= len
    }

    /// Loads `len` (1, 2, 4 or 8) bytes at `addr`, little-endian, zero-extended.
    #[inline(always)]
    fn load(self, memory: &Memory, addr: u64, len: u64) -> Result<u64, MemoryFault> {
        if addr.wrapping_sub(self.stack_base) <= STACK_SIZE as u64 - len || self.in_ctx(addr, len) {
            // SAFETY: [addr, addr + len) lies inside the stack buffer or the context, both
            // valid for reads for the whole run (see `execute` and the run functions).
            return Ok(unsafe { read_le(addr, len) });
        }
        memory.load(addr, len)
    }

    /// Stores the low `len` (1, 2, 4 or 8) bytes of `value` at `addr`, little-endian; a
    /// stack store lowers `stack_low` to its offset.
    #[inline(always)]
    fn store(
        self,
        memory: &Memory,
        stack_low: &mut u64,
        addr: u64,
        len: u64,
        value: u64,
    ) -> Result<(), MemoryFault> {
        let off = addr.wrapping_sub(self.stack_base);
        if off <= STACK_SIZE as u64 - len {
            *stack_low = (*stack_low).min(off);
            // SAFETY: [addr, addr + len) lies inside the stack buffer, valid for writes and
            // not referenced by Rust code while the run lasts.
            unsafe { write_le(addr, len, value) };
            return Ok(());
        }
        if self.ctx_writable && self.in_ctx(addr, len) {
            // SAFETY: inside the writable context, which the caller lent mutably for the run.
            unsafe { write_le(addr, len, value) };
            return Ok(());
        }
        memory.store(addr, len, value)
    }
}

/// Reads `len` (1, 2, 4 or 8) bytes at `addr` as a little-endian value.
///
/// # Safety
/// `[addr, addr + len)` must be valid for reads.
#[inline(always)]
unsafe fn read_le(addr: u64, len: u64) -> u64 {
    let p = addr as *const u8;
    // SAFETY: per the contract; unaligned reads are allowed by `read_unaligned`.
    unsafe {
        match len {
            1 => u64::from(p.read()),
            2 => u64::from(u16::from_le(p.cast::<u16>().read_unaligned())),
            4 => u64::from(u32::from_le(p.cast::<u32>().read_unaligned())),
            _ => u64::from_le(p.cast::<u64>().read_unaligned()),
        }
    }
}

/// Writes the low `len` (1, 2, 4 or 8) bytes of `value` at `addr`, little-endian.
///
/// # Safety
/// `[addr, addr + len)` must be valid for writes and not aliased by a live Rust reference.
#[inline(always)]
unsafe fn write_le(addr: u64, len: u64, value: u64) {
    let p = addr as *mut u8;
    // SAFETY: per the contract; unaligned writes are allowed by `write_unaligned`.
    unsafe {
        match len {
            1 => p.write(value as u8),
            2 => p.cast::<u16>().write_unaligned((value as u16).to_le()),
            4 => p.cast::<u32>().write_unaligned((value as u32).to_le()),
            _ => p.cast::<u64>().write_unaligned(value.to_le()),
        }
    }
}

/// The state of one run shared by every program it runs (entry and tail-call targets).
struct Machine<'r> {
    regs: [u64; REG_SLOTS],
    /// Instructions that may still run before the budget is exhausted.
    remaining: u64,
    budget: u64,
    stats: RunStats,
    guest: Guest,
    stack_top: u64,
    frames: &'r mut Vec<Frame>,
    payload: &'r mut dyn Any,
}

/// Why `run_lowered` returned without an error.
enum Leave {
    /// The entry frame exited with this r0.
    Exit(u64),
    /// A local call returned into a caller in another program (`loaded` index).
    Return { prog: usize, pc: usize },
    /// A helper asked for a tail call; without a target the run resumes at `resume`.
    TailCall {
        map: usize,
        index: u32,
        resume: usize,
    },
}

/// What a generic op did.
enum Flow {
    /// Continue at this slot.
    Next(usize),
    /// A helper asked for a tail call.
    TailCall { map: usize, index: u32 },
}

/// A memory fault of the instruction at `pc`.
#[cold]
#[inline(never)]
fn fault_at(pc: usize, fault: MemoryFault) -> ExecError {
    ExecError::new(pc, ExecErrorKind::Memory(fault))
}

/// The budget ran out before the instruction at `pc`.
#[cold]
#[inline(never)]
fn budget_exhausted(pc: usize, budget: u64) -> ExecError {
    ExecError::new(pc, ExecErrorKind::BudgetExhausted { budget })
}

/// Runs program `loaded` (index `prog`) from slot `pc` until it exits, returns into another
/// program, asks for a tail call, or fails.
fn run_lowered(
    m: &mut Machine<'_>,
    loaded: &Loaded,
    prog: usize,
    pc: usize,
    helpers: &HelperTable,
) -> Result<Leave, ExecError> {
    // The lowest stack store lives in a local during the loop (so it can stay in a register
    // across the guest's raw stores) and goes back to the machine on every way out.
    let mut stack_low = m.guest.stack_low;
    let bounds = m.guest.bounds;
    let left = run_ops(m, bounds, &mut stack_low, loaded, prog, pc, helpers);
    m.guest.stack_low = stack_low;
    left
}

/// The fetch-execute loop of `run_lowered`: one `match` on the lowered op's `Code` per
/// instruction.
#[inline(always)]
fn run_ops(
    m: &mut Machine<'_>,
    bounds: Bounds,
    stack_low: &mut u64,
    loaded: &Loaded,
    prog: usize,
    mut pc: usize,
    helpers: &HelperTable,
) -> Result<Leave, ExecError> {
    let ops: &[Op] = &loaded.lowered.ops;
    let Machine {
        regs,
        remaining: remaining_slot,
        budget,
        stats,
        guest,
        stack_top,
        frames,
        payload,
    } = m;
    let budget = *budget;
    let stack_top = *stack_top;
    let mut remaining = *remaining_slot;

    // Register access by a lowered register number (always 0..=10; the mask only spares a
    // bounds check).
    macro_rules! r {
        ($n:expr) => {
            regs[($n & 15) as usize]
        };
    }
    // dst = f(dst, src) for ALU operations, with `semantics`' reference functions.
    macro_rules! alu {
        ($op:expr, $f:ident, $kind:ident, reg) => {{
            let s = r!($op.src);
            r!($op.dst) = $f(AluOp::$kind, r!($op.dst), s);
        }};
        ($op:expr, $f:ident, $kind:ident, imm) => {{
            r!($op.dst) = $f(AluOp::$kind, r!($op.dst), $op.imm);
        }};
    }
    macro_rules! jmp {
        ($op:expr, $w:ident, $cond:ident, reg) => {{
            if jump_taken(JmpCond::$cond, Width::$w, r!($op.dst), r!($op.src)) {
                pc = $op.aux as usize;
            }
        }};
        ($op:expr, $w:ident, $cond:ident, imm) => {{
            if jump_taken(JmpCond::$cond, Width::$w, r!($op.dst), $op.imm) {
                pc = $op.aux as usize;
            }
        }};
    }
    macro_rules! load {
        ($op:expr, $at:expr, $len:expr) => {{
            let addr = r!($op.src).wrapping_add($op.imm);
            bounds
                .load(&guest.memory, addr, $len)
                .map_err(|f| fault_at($at, f))?
        }};
    }
    macro_rules! store {
        ($op:expr, $at:expr, $len:expr, reg) => {{
            let addr = r!($op.dst).wrapping_add($op.imm);
            let v = r!($op.src);
            bounds
                .store(&guest.memory, stack_low, addr, $len, v)
                .map_err(|f| fault_at($at, f))?;
        }};
        ($op:expr, $at:expr, $len:expr, imm) => {{
            let addr = r!($op.dst).wrapping_add($op.aux as i32 as i64 as u64);
            bounds
                .store(&guest.memory, stack_low, addr, $len, $op.imm)
                .map_err(|f| fault_at($at, f))?;
        }};
    }
    macro_rules! endian {
        ($op:expr, $order:ident, $bits:expr) => {{
            r!($op.dst) = endian(ByteOrder::$order, $bits, r!($op.dst));
        }};
    }

    loop {
        let op = ops[pc];
        if remaining == 0 && op.code != Code::FellOffEnd {
            return Err(budget_exhausted(pc, budget));
        }
        remaining = remaining.wrapping_sub(1);
        let at = pc;
        pc += 1;
        use Code as C;
        match op.code {
            C::Add64Reg => alu!(op, alu64, Add, reg),
            C::Add64Imm => alu!(op, alu64, Add, imm),
            C::Sub64Reg => alu!(op, alu64, Sub, reg),
            C::Sub64Imm => alu!(op, alu64, Sub, imm),
            C::Mul64Reg => alu!(op, alu64, Mul, reg),
            C::Mul64Imm => alu!(op, alu64, Mul, imm),
            C::Div64Reg => alu!(op, alu64, Div, reg),
            C::Div64Imm => alu!(op, alu64, Div, imm),
            C::SDiv64Reg => alu!(op, alu64, SDiv, reg),
            C::SDiv64Imm => alu!(op, alu64, SDiv, imm),
            C::Or64Reg => alu!(op, alu64, Or, reg),
            C::Or64Imm => alu!(op, alu64, Or, imm),
            C::And64Reg => alu!(op, alu64, And, reg),
            C::And64Imm => alu!(op, alu64, And, imm),
            C::Lsh64Reg => alu!(op, alu64, Lsh, reg),
            C::Lsh64Imm => alu!(op, alu64, Lsh, imm),
            C::Rsh64Reg => alu!(op, alu64, Rsh, reg),
            C::Rsh64Imm => alu!(op, alu64, Rsh, imm),
            C::Mod64Reg => alu!(op, alu64, Mod, reg),
            C::Mod64Imm => alu!(op, alu64, Mod, imm),
            C::SMod64Reg => alu!(op, alu64, SMod, reg),
            C::SMod64Imm => alu!(op, alu64, SMod, imm),
            C::Xor64Reg => alu!(op, alu64, Xor, reg),
            C::Xor64Imm => alu!(op, alu64, Xor, imm),
            C::Mov64Reg => alu!(op, alu64, Mov, reg),
            C::Mov64Imm => alu!(op, alu64, Mov, imm),
            C::Arsh64Reg => alu!(op, alu64, Arsh, reg),
            C::Arsh64Imm => alu!(op, alu64, Arsh, imm),
            C::MovSx8To64 => alu!(op, alu64, MovSx8, reg),
            C::MovSx16To64 => alu!(op, alu64, MovSx16, reg),
            C::MovSx32To64 => alu!(op, alu64, MovSx32, reg),
            C::Add32Reg => alu!(op, alu32, Add, reg),
            C::Add32Imm => alu!(op, alu32, Add, imm),
            C::Sub32Reg => alu!(op, alu32, Sub, reg),
            C::Sub32Imm => alu!(op, alu32, Sub, imm),
            C::Mul32Reg => alu!(op, alu32, Mul, reg),
            C::Mul32Imm => alu!(op, alu32, Mul, imm),
            C::Div32Reg => alu!(op, alu32, Div, reg),
            C::Div32Imm => alu!(op, alu32, Div, imm),
            C::SDiv32Reg => alu!(op, alu32, SDiv, reg),
            C::SDiv32Imm => alu!(op, alu32, SDiv, imm),
            C::Or32Reg => alu!(op, alu32, Or, reg),
            C::Or32Imm => alu!(op, alu32, Or, imm),
            C::And32Reg => alu!(op, alu32, And, reg),
            C::And32Imm => alu!(op, alu32, And, imm),
            C::Lsh32Reg => alu!(op, alu32, Lsh, reg),
            C::Lsh32Imm => alu!(op, alu32, Lsh, imm),
            C::Rsh32Reg => alu!(op, alu32, Rsh, reg),
            C::Rsh32Imm => alu!(op, alu32, Rsh, imm),
            C::Mod32Reg => alu!(op, alu32, Mod, reg),
            C::Mod32Imm => alu!(op, alu32, Mod, imm),
            C::SMod32Reg => alu!(op, alu32, SMod, reg),
            C::SMod32Imm => alu!(op, alu32, SMod, imm),
            C::Xor32Reg => alu!(op, alu32, Xor, reg),
            C::Xor32Imm => alu!(op, alu32, Xor, imm),
            C::Mov32Reg => alu!(op, alu32, Mov, reg),
            C::Mov32Imm => alu!(op, alu32, Mov, imm),
            C::Arsh32Reg => alu!(op, alu32, Arsh, reg),
            C::Arsh32Imm => alu!(op, alu32, Arsh, imm),
            C::MovSx8To32 => alu!(op, alu32, MovSx8, reg),
            C::MovSx16To32 => alu!(op, alu32, MovSx16, reg),
            C::Neg64 => r!(op.dst) = neg(Width::W64, r!(op.dst)),
            C::Neg32 => r!(op.dst) = neg(Width::W32, r!(op.dst)),
            C::Le16 => endian!(op, ToLe, 16),
            C::Le32 => endian!(op, ToLe, 32),
            C::Le64 => endian!(op, ToLe, 64),
            C::Be16 => endian!(op, ToBe, 16),
            C::Be32 => endian!(op, ToBe, 32),
            C::Be64 => endian!(op, ToBe, 64),
            C::Swap16 => endian!(op, Swap, 16),
            C::Swap32 => endian!(op, Swap, 32),
            C::Swap64 => endian!(op, Swap, 64),
            C::LdImm64 => {
                r!(op.dst) = op.imm;
                pc += 1;
            }
            C::LdxB => r!(op.dst) = load!(op, at, 1),
            C::LdxH => r!(op.dst) = load!(op, at, 2),
            C::LdxW => r!(op.dst) = load!(op, at, 4),
            C::LdxDW => r!(op.dst) = load!(op, at, 8),
            C::LdxSB => r!(op.dst) = load!(op, at, 1) as u8 as i8 as i64 as u64,
            C::LdxSH => r!(op.dst) = load!(op, at, 2) as u16 as i16 as i64 as u64,
            C::LdxSW => r!(op.dst) = load!(op, at, 4) as u32 as i32 as i64 as u64,
            C::ProbeLdx => {
                let addr = r!(op.src).wrapping_add(op.imm);
                r!(op.dst) = probe_load(addr, op.aux & 0xff, op.aux & 0x100 != 0);
            }
            C::StxB => store!(op, at, 1, reg),
            C::StxH => store!(op, at, 2, reg),
            C::StxW => store!(op, at, 4, reg),
            C::StxDW => store!(op, at, 8, reg),
            C::StB => store!(op, at, 1, imm),
            C::StH => store!(op, at, 2, imm),
            C::StW => store!(op, at, 4, imm),
            C::StDW => store!(op, at, 8, imm),
            C::Ja => pc = op.aux as usize,
            C::Jeq64Reg => jmp!(op, W64, Eq, reg),
            C::Jeq64Imm => jmp!(op, W64, Eq, imm),
            C::Jgt64Reg => jmp!(op, W64, Gt, reg),
            C::Jgt64Imm => jmp!(op, W64, Gt, imm),
            C::Jge64Reg => jmp!(op, W64, Ge, reg),
            C::Jge64Imm => jmp!(op, W64, Ge, imm),
            C::Jset64Reg => jmp!(op, W64, Set, reg),
            C::Jset64Imm => jmp!(op, W64, Set, imm),
            C::Jne64Reg => jmp!(op, W64, Ne, reg),
            C::Jne64Imm => jmp!(op, W64, Ne, imm),
            C::Jsgt64Reg => jmp!(op, W64, Sgt, reg),
            C::Jsgt64Imm => jmp!(op, W64, Sgt, imm),
            C::Jsge64Reg => jmp!(op, W64, Sge, reg),
            C::Jsge64Imm => jmp!(op, W64, Sge, imm),
            C::Jlt64Reg => jmp!(op, W64, Lt, reg),
            C::Jlt64Imm => jmp!(op, W64, Lt, imm),
            C::Jle64Reg => jmp!(op, W64, Le, reg),
            C::Jle64Imm => jmp!(op, W64, Le, imm),
            C::Jslt64Reg => jmp!(op, W64, Slt, reg),
            C::Jslt64Imm => jmp!(op, W64, Slt, imm),
            C::Jsle64Reg => jmp!(op, W64, Sle, reg),
            C::Jsle64Imm => jmp!(op, W64, Sle, imm),
            C::Jeq32Reg => jmp!(op, W32, Eq, reg),
            C::Jeq32Imm => jmp!(op, W32, Eq, imm),
            C::Jgt32Reg => jmp!(op, W32, Gt, reg),
            C::Jgt32Imm => jmp!(op, W32, Gt, imm),
            C::Jge32Reg => jmp!(op, W32, Ge, reg),
            C::Jge32Imm => jmp!(op, W32, Ge, imm),
            C::Jset32Reg => jmp!(op, W32, Set, reg),
            C::Jset32Imm => jmp!(op, W32, Set, imm),
            C::Jne32Reg => jmp!(op, W32, Ne, reg),
            C::Jne32Imm => jmp!(op, W32, Ne, imm),
            C::Jsgt32Reg => jmp!(op, W32, Sgt, reg),
            C::Jsgt32Imm => jmp!(op, W32, Sgt, imm),
            C::Jsge32Reg => jmp!(op, W32, Sge, reg),
            C::Jsge32Imm => jmp!(op, W32, Sge, imm),
            C::Jlt32Reg => jmp!(op, W32, Lt, reg),
            C::Jlt32Imm => jmp!(op, W32, Lt, imm),
            C::Jle32Reg => jmp!(op, W32, Le, reg),
            C::Jle32Imm => jmp!(op, W32, Le, imm),
            C::Jslt32Reg => jmp!(op, W32, Slt, reg),
            C::Jslt32Imm => jmp!(op, W32, Slt, imm),
            C::Jsle32Reg => jmp!(op, W32, Sle, reg),
            C::Jsle32Imm => jmp!(op, W32, Sle, imm),
            C::CallPure => {
                let pure = loaded.lowered.pure[op.aux as usize];
                stats.helper_calls += 1;
                // No environment: r1..r5 in, r0 out, nothing else can change.
                regs[0] = pure(regs[1], regs[2], regs[3], regs[4], regs[5]);
            }
            C::CallEnv => {
                stats.helper_calls += 1;
                let helper = &loaded.lowered.env[op.aux as usize];
                let (r0, tail_call) =
                    call_env(guest, &loaded.program, &mut **payload, helper, regs, at)?;
                regs[0] = r0;
                if let Some((map, index)) = tail_call
                    && stats.tail_calls < MAX_TAIL_CALL_CNT
                {
                    *remaining_slot = remaining;
                    return Ok(Leave::TailCall {
                        map,
                        index,
                        resume: pc,
                    });
                }
            }
            C::CallLocal => {
                if frames.len() + 1 >= MAX_CALL_FRAMES {
                    return Err(ExecError::new(
                        at,
                        ExecErrorKind::CallDepthExceeded {
                            max: MAX_CALL_FRAMES,
                        },
                    ));
                }
                frames.push(Frame {
                    prog,
                    return_pc: pc,
                    callee_saved: [regs[6], regs[7], regs[8], regs[9]],
                    frame_pointer: regs[10],
                });
                let depth = frames.len() + 1;
                regs[10] = stack_top - (frames.len() * STACK_FRAME_SIZE) as u64;
                stats.local_calls += 1;
                stats.max_call_depth = stats.max_call_depth.max(depth);
                pc = op.aux as usize;
            }
            C::Exit => match frames.pop() {
                None => {
                    *remaining_slot = remaining;
                    return Ok(Leave::Exit(regs[0]));
                }
                Some(frame) => {
                    regs[6..10].copy_from_slice(&frame.callee_saved);
                    regs[10] = frame.frame_pointer;
                    if frame.prog != prog {
                        *remaining_slot = remaining;
                        return Ok(Leave::Return {
                            prog: frame.prog,
                            pc: frame.return_pc,
                        });
                    }
                    pc = frame.return_pc;
                }
            },
            C::Generic => {
                let insn = loaded.code[at];
                match run_generic(
                    guest,
                    loaded,
                    &mut **payload,
                    helpers,
                    stats,
                    regs,
                    insn,
                    at,
                )? {
                    Flow::Next(next) => pc = next,
                    Flow::TailCall { map, index } => {
                        if stats.tail_calls < MAX_TAIL_CALL_CNT {
                            *remaining_slot = remaining;
                            return Ok(Leave::TailCall {
                                map,
                                index,
                                resume: pc,
                            });
                        }
                    }
                }
            }
            C::FellOffEnd => {
                // Only reachable by falling through past the last slot (jump targets and
                // return addresses inside the program are checked when lowered).
                return Err(ExecError::new(
                    at.saturating_sub(1),
                    ExecErrorKind::FellOffEnd,
                ));
            }
        }
    }
}

/// Calls an environment helper with r1..r5; returns r0 and the tail call it asked for.
#[inline(always)]
fn call_env(
    guest: &mut Guest,
    program: &Program,
    payload: &mut dyn Any,
    helper: &Helper,
    regs: &[u64; REG_SLOTS],
    at: usize,
) -> Result<(u64, Option<(usize, u32)>), ExecError> {
    let mut env = HelperEnv {
        memory: &mut guest.memory,
        maps: &program.maps,
        payload,
        tail_call: None,
    };
    let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
    match (helper.func)(&mut env, args) {
        Ok(r0) => Ok((r0, env.tail_call)),
        Err(source) => Err(helper_failed(at, helper, source)),
    }
}

/// A helper's error, as the error of the call at `pc`.
#[cold]
#[inline(never)]
fn helper_failed(pc: usize, helper: &Helper, source: crate::helper::HelperError) -> ExecError {
    ExecError::new(
        pc,
        ExecErrorKind::Helper {
            name: helper.signature.name,
            source,
        },
    )
}

/// Executes an instruction lowered to `Code::Generic` with the original checked semantics:
/// LD_IMM64 map references, atomics, `callx`, kfunc and unknown-helper calls, legacy packet
/// loads, and jumps or local calls whose target is invalid (which fail when taken).
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn run_generic(
    guest: &mut Guest,
    loaded: &Loaded,
    payload: &mut dyn Any,
    helpers: &HelperTable,
    stats: &mut RunStats,
    regs: &mut [u64; REG_SLOTS],
    insn: Instruction,
    pc: usize,
) -> Result<Flow, ExecError> {
    let err = move |kind: ExecErrorKind| ExecError::new(pc, kind);
    let code = &loaded.code;
    let next = pc + 1;
    match insn {
        Instruction::LdImm64 { dst, kind, imm } => {
            regs[dst.index()] =
                ld_imm64(&loaded.program, &mut guest.memory, kind, imm).map_err(err)?;
            Ok(Flow::Next(pc + 2))
        }
        Instruction::LdImm64Tail => {
            // Unreachable by construction (entry is slot 0, which is never a tail, and
            // targets are checked), kept as an error rather than trusting that.
            Err(err(ExecErrorKind::JumpIntoLdImm64 { target: pc }))
        }
        Instruction::LegacyPacketLoad { .. } => Err(err(ExecErrorKind::Unsupported(
            unsupported::LEGACY_PACKET_LOAD,
        ))),
        Instruction::Atomic {
            op,
            fetch,
            size,
            dst,
            src,
            off,
        } => {
            let addr = regs[dst.index()].wrapping_add(off as i64 as u64);
            let old = atomic_rmw(&guest.memory, op, size, addr, regs[src.index()], regs[0])
                .map_err(|f| fault_at(pc, f))?;
            match op {
                AtomicOp::CmpXchg => regs[0] = old,
                _ if fetch => regs[src.index()] = old,
                _ => {}
            }
            Ok(Flow::Next(next))
        }
        Instruction::LoadAcquire {
            size,
            dst,
            src,
            off,
        } => {
            let addr = regs[src.index()].wrapping_add(off as i64 as u64);
            regs[dst.index()] =
                load_acquire(&guest.memory, size, addr).map_err(|f| fault_at(pc, f))?;
            Ok(Flow::Next(next))
        }
        Instruction::StoreRelease {
            size,
            dst,
            src,
            off,
        } => {
            let addr = regs[dst.index()].wrapping_add(off as i64 as u64);
            store_release(&guest.memory, size, addr, regs[src.index()])
                .map_err(|f| fault_at(pc, f))?;
            Ok(Flow::Next(next))
        }
        Instruction::Ja { off, .. } => jump_target(code, pc, off as i64).map(Flow::Next),
        Instruction::Jump {
            cond,
            width,
            dst,
            src,
            off,
        } => {
            let s = match src {
                Operand::Reg(r) => regs[r.index()],
                Operand::Imm(i) => imm64(i),
            };
            if jump_taken(cond, width, regs[dst.index()], s) {
                jump_target(code, pc, off as i64).map(Flow::Next)
            } else {
                Ok(Flow::Next(next))
            }
        }
        Instruction::Call(CallTarget::Local(off)) => {
            jump_target(code, pc, off as i64).map(Flow::Next)
        }
        Instruction::Call(CallTarget::Kfunc { .. }) => {
            Err(err(ExecErrorKind::Unsupported(unsupported::KFUNC_CALL)))
        }
        Instruction::Call(target) => {
            let id = match target {
                CallTarget::Register(r) => regs[r.index()],
                CallTarget::Helper(id) => id as u32 as u64,
                CallTarget::Local(_) | CallTarget::Kfunc { .. } => unreachable!("matched above"),
            };
            let (helper, call) = u32::try_from(id)
                .ok()
                .and_then(|id| helpers.lookup(id))
                .ok_or_else(|| err(ExecErrorKind::UnknownHelper(id)))?;
            stats.helper_calls += 1;
            match call {
                HelperCall::Pure(pure) => {
                    regs[0] = pure(regs[1], regs[2], regs[3], regs[4], regs[5]);
                    Ok(Flow::Next(next))
                }
                HelperCall::Env(_) => {
                    let (r0, tail_call) =
                        call_env(guest, &loaded.program, payload, helper, regs, pc)?;
                    regs[0] = r0;
                    Ok(match tail_call {
                        Some((map, index)) => Flow::TailCall { map, index },
                        None => Flow::Next(next),
                    })
                }
            }
        }
        // Lowered to their own codes; executed here with the same semantics all the same.
        Instruction::Alu {
            op,
            width,
            dst,
            src,
        } => {
            let s = match src {
                Operand::Reg(r) => regs[r.index()],
                Operand::Imm(i) => imm64(i),
            };
            regs[dst.index()] = alu(op, width, regs[dst.index()], s);
            Ok(Flow::Next(next))
        }
        Instruction::Neg { .. }
        | Instruction::Endian { .. }
        | Instruction::Load { .. }
        | Instruction::ProbeLoad { .. }
        | Instruction::Store { .. }
        | Instruction::Exit => Err(err(ExecErrorKind::Unsupported(
            "an instruction with its own lowered form reached the generic path",
        ))),
    }
}

/// A faulting load of `len` bytes at `addr` (`vmlinux::blank::probe_read`), sign-extended
/// from `len` bytes if asked.
fn probe_load(addr: u64, len: u32, sign_extend: bool) -> u64 {
    let v = crate::vmlinux::blank::probe_read(addr, u64::from(len));
    match (sign_extend, len) {
        (true, 1) => v as u8 as i8 as i64 as u64,
        (true, 2) => v as u16 as i16 as i64 as u64,
        (true, 4) => v as u32 as i32 as i64 as u64,
        _ => v,
    }
}

/// The slot a jump at `pc` with relative offset `off` lands on, checked: inside the program
/// and not the second slot of an LD_IMM64.
fn jump_target(code: &[Instruction], pc: usize, off: i64) -> Result<usize, ExecError> {
    let target = pc as i64 + 1 + off;
    let len = code.len();
    let idx = usize::try_from(target)
        .ok()
        .filter(|&t| t < len)
        .ok_or_else(|| ExecError::new(pc, ExecErrorKind::JumpOutOfRange { target, len }))?;
    if code[idx] == Instruction::LdImm64Tail {
        return Err(ExecError::new(
            pc,
            ExecErrorKind::JumpIntoLdImm64 { target: idx },
        ));
    }
    Ok(idx)
}

/// The value an LD_IMM64 loads. Map references resolve against the running program's maps:
/// a map is named by its run-time pointer value (`Map::program_ptr`), a map value by its host
/// address, whose region is added to the run's memory.
fn ld_imm64(
    program: &Program,
    memory: &mut Memory,
    kind: Imm64Kind,
    imm: u64,
) -> Result<u64, ExecErrorKind> {
    let map_at = |index: u64| {
        program
            .maps
            .get(index as usize)
            .ok_or(ExecErrorKind::BadMapIndex {
                index,
                count: program.maps.len(),
            })
    };
    match kind {
        Imm64Kind::Imm => Ok(imm),
        Imm64Kind::MapFd | Imm64Kind::MapIdx => {
            let map = map_at(imm & 0xffff_ffff)?;
            // SAFETY: the region is the map's kernel struct image, which lives at a stable
            // address for the map's lifetime; the running program holds an `Arc` to the map
            // for the whole run. Guest reads go through `memory`; it is read-only.
            unsafe { memory.add(map.kernel_struct_region()) };
            // SAFETY: the blank structs its pointer members lead to live, unwritten, as long
            // as the process.
            unsafe { memory.add(crate::vmlinux::blank::region()) };
            Ok(map.program_ptr())
        }
        Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
            // Direct value access (global data): the value of key 0 of an array map, at
            // `offset` < value_size (the kernel's `array_map_direct_value_addr`).
            let index = imm as u32;
            let offset = (imm >> 32) as u32;
            // Only plain arrays have one value address (per-CPU values depend on the CPU),
            // as only they implement the kernel's `map_direct_value_addr`.
            let map = map_at(u64::from(index))?;
            let region = (map.map_type() == crate::maps::MapType::Array)
                .then(|| map.value_region(0))
                .flatten()
                .filter(|r| u64::from(offset) < r.len)
                .ok_or(ExecErrorKind::BadMapValue { map: index, offset })?;
            // SAFETY: the region is a map value, which lives at a stable address for the
            // map's lifetime; the running program holds an `Arc` to the map (through
            // `Interpreter::loaded`) for the whole run. Guest accesses go through `memory`.
            unsafe { memory.add(region) };
            Ok(region.start + u64::from(offset))
        }
        Imm64Kind::BtfId => Err(ExecErrorKind::Unsupported(unsupported::BTF_VARIABLE)),
        Imm64Kind::Func => Err(ExecErrorKind::Unsupported(unsupported::FUNCTION_ADDRESS)),
    }
}

/// Resolves a tail call requested from program `prog`: `Ok(Some(i))` with the index of the
/// (decoded, cached) target in `loaded`, `Ok(None)` if the slot is empty.
fn tail_call_target(
    loaded: &mut Vec<Loaded>,
    helpers: &HelperTable,
    prog: usize,
    map_index: usize,
    index: u32,
) -> Result<Option<usize>, ExecErrorKind> {
    let map = loaded[prog]
        .program
        .maps
        .get(map_index)
        .ok_or(ExecErrorKind::BadTailCallMap(map_index))?;
    let Some(target) = map.prog_array_get(index) else {
        return Ok(None);
    };
    if let Some(i) = loaded.iter().position(|l| Arc::ptr_eq(&l.program, &target)) {
        return Ok(Some(i));
    }
    let code = decode_program(&target.insns)
        .map_err(|error| ExecErrorKind::BadTailCallTarget { index, error })?;
    loaded.push(Loaded::new(target, code, helpers));
    Ok(Some(loaded.len() - 1))
}

/// A load-acquire of `size` at `addr` (zero-extended). Aligned accesses use host atomics
/// with acquire ordering; misaligned ones, which the verifier rejects but checked mode may
/// meet, are plain loads.
fn load_acquire(memory: &Memory, size: Size, addr: u64) -> Result<u64, MemoryFault> {
    let len = size.bytes() as u64;
    memory.check(addr, len, Access::Read)?;
    if !addr.is_multiple_of(len) {
        return memory.load(addr, len);
    }
    let ord = Ordering::Acquire;
    // SAFETY: `check` proved [addr, addr + len) is inside a region kept valid for the run;
    // `addr` is aligned to `len`; guest memory is only accessed through raw pointers during
    // the run, so no Rust reference observes the access.
    let v = unsafe {
        match size {
            Size::B => u64::from(AtomicU8::from_ptr(addr as *mut u8).load(ord)),
            Size::H => u64::from(AtomicU16::from_ptr(addr as *mut u16).load(ord)),
            Size::W => u64::from(AtomicU32::from_ptr(addr as *mut u32).load(ord)),
            Size::DW => AtomicU64::from_ptr(addr as *mut u64).load(ord),
        }
    };
    Ok(v)
}

/// A store-release of the low `size` bytes of `value` at `addr`. Aligned accesses use host
/// atomics with release ordering; misaligned ones (checked mode only) are plain stores.
fn store_release(memory: &Memory, size: Size, addr: u64, value: u64) -> Result<(), MemoryFault> {
    let len = size.bytes() as u64;
    memory.check(addr, len, Access::Write)?;
    if !addr.is_multiple_of(len) {
        return memory.store(addr, len, value);
    }
    let ord = Ordering::Release;
    // SAFETY: `check` proved [addr, addr + len) is inside a writable region kept valid for
    // the run; `addr` is aligned to `len`; no Rust reference observes the access.
    unsafe {
        match size {
            Size::B => AtomicU8::from_ptr(addr as *mut u8).store(value as u8, ord),
            Size::H => AtomicU16::from_ptr(addr as *mut u16).store(value as u16, ord),
            Size::W => AtomicU32::from_ptr(addr as *mut u32).store(value as u32, ord),
            Size::DW => AtomicU64::from_ptr(addr as *mut u64).store(value, ord),
        }
    }
    Ok(())
}

/// An atomic read-modify-write of `size` at `addr`; returns the old value (zero-extended).
/// Aligned accesses use host atomics (map values may be shared between threads); misaligned
/// ones, which the verifier rejects but checked mode may meet, are done as a plain
/// load-modify-store.
fn atomic_rmw(
    memory: &Memory,
    op: AtomicOp,
    size: Size,
    addr: u64,
    operand: u64,
    expected: u64,
) -> Result<u64, MemoryFault> {
    let len = size.bytes() as u64;
    memory.check(addr, len, Access::Write)?;
    let mask = if size == Size::W {
        0xffff_ffff
    } else {
        u64::MAX
    };
    let (operand, expected) = (operand & mask, expected & mask);
    if !addr.is_multiple_of(len) {
        let old = memory.load(addr, len)?;
        if let Some(new) = atomic_new_value(op, old, operand, expected) {
            memory.store(addr, len, new)?;
        }
        return Ok(old);
    }
    let ord = Ordering::SeqCst;
    if size == Size::W {
        // SAFETY: `check` proved [addr, addr + 4) is inside a writable region kept valid for
        // the run; `addr` is 4-byte aligned; guest memory is only accessed through raw
        // pointers during the run, so no Rust reference observes the atomic write.
        let a = unsafe { AtomicU32::from_ptr(addr as *mut u32) };
        let (o, e) = (operand as u32, expected as u32);
        let old = match op {
            AtomicOp::Add => a.fetch_add(o, ord),
            AtomicOp::Or => a.fetch_or(o, ord),
            AtomicOp::And => a.fetch_and(o, ord),
            AtomicOp::Xor => a.fetch_xor(o, ord),
            AtomicOp::Xchg => a.swap(o, ord),
            AtomicOp::CmpXchg => a.compare_exchange(e, o, ord, ord).unwrap_or_else(|v| v),
        };
        Ok(old as u64)
    } else {
        // SAFETY: as above, for [addr, addr + 8) and 8-byte alignment.
        let a = unsafe { AtomicU64::from_ptr(addr as *mut u64) };
        Ok(match op {
            AtomicOp::Add => a.fetch_add(operand, ord),
            AtomicOp::Or => a.fetch_or(operand, ord),
            AtomicOp::And => a.fetch_and(operand, ord),
            AtomicOp::Xor => a.fetch_xor(operand, ord),
            AtomicOp::Xchg => a.swap(operand, ord),
            AtomicOp::CmpXchg => a
                .compare_exchange(expected, operand, ord, ord)
                .unwrap_or_else(|v| v),
        })
    }
}
