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
pub mod semantics;

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub use error::{ExecError, ExecErrorKind, unsupported};

use crate::decode::decode_program;
use crate::helper::{HelperCall, HelperEnv, HelperTable};
use crate::insn::Reg;
use crate::instruction::{AtomicOp, CallTarget, Imm64Kind, Instruction, Operand, Size};
use crate::memory::{Access, Memory, MemoryFault, Region, RegionKind};
use crate::program::Program;
use semantics::{alu, atomic_new_value, endian, imm64, jump_taken, neg};

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

/// A decoded program: the entry program or a tail-call target.
#[derive(Debug)]
struct Loaded {
    program: Arc<Program>,
    code: Vec<Instruction>,
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
/// once; reuses its stack and frame buffers across runs.
pub struct Interpreter {
    /// Index 0: the entry program; then tail-call targets as they are first called.
    loaded: Vec<Loaded>,
    helpers: HelperTable,
    /// The stack of all frames, as u64 words so atomics on it are naturally aligned.
    stack: Vec<u64>,
    frames: Vec<Frame>,
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
            loaded: vec![Loaded { program, code }],
            helpers: helpers.clone(),
            stack: vec![0; STACK_SIZE / 8],
            frames: Vec::with_capacity(MAX_CALL_FRAMES),
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
        let ctx_region = (!ctx.is_empty()).then(|| GuestRegion::writable(ctx, RegionKind::Context));
        let mut memory = Memory::new();
        for r in ctx_region.iter().chain(regions) {
            // SAFETY: each `GuestRegion` borrows its bytes (mutably if writable) for at least
            // the duration of this call, so they stay valid and unaliased while the guest runs.
            unsafe { memory.add(r.region()) };
        }
        let ctx = ctx_region.map(|r| r.region());
        self.execute(memory, ctx, payload, options)
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
        let mut memory = Memory::new();
        for r in ctx.iter().chain(regions) {
            // SAFETY: forwarded from this function's contract.
            unsafe { memory.add(*r) };
        }
        self.execute(memory, ctx, payload, options)
    }

    /// The fetch-execute loop. `memory` holds the context and caller regions; the stack is
    /// added here.
    fn execute(
        &mut self,
        mut memory: Memory,
        ctx: Option<Region>,
        payload: &mut dyn Any,
        options: &RunOptions,
    ) -> Result<RunResult, ExecError> {
        let Interpreter {
            loaded,
            helpers,
            stack,
            frames,
        } = self;

        // Zero the whole stack: any frame's bytes are reachable from any frame (and from
        // helpers), so runs stay independent and deterministic.
        stack.fill(0);
        frames.clear();
        // Forget cached tail-call targets if prog arrays keep changing (entries keep their
        // programs alive, and indices into `loaded` are only held during a run).
        if loaded.len() > MAX_CACHED_TAIL_CALL_TARGETS + 1 {
            loaded.truncate(1);
        }

        let stack_base = stack.as_mut_ptr() as u64;
        let stack_top = stack_base + STACK_SIZE as u64;
        // SAFETY: `stack` is a heap buffer of STACK_SIZE bytes owned by `self`, which is
        // mutably borrowed for this whole call; no Rust reference to it is used until the
        // run ends (the guest and helpers access it only through `memory`).
        unsafe {
            memory.add(Region {
                start: stack_base,
                len: STACK_SIZE as u64,
                writable: true,
                kind: RegionKind::Stack,
            })
        };

        let budget = options.instruction_budget.unwrap_or(u64::MAX);
        let mut stats = RunStats {
            max_call_depth: 1,
            ..RunStats::default()
        };
        let mut regs = [0u64; Reg::COUNT];
        if let Some(c) = ctx {
            regs[1] = c.start;
            regs[2] = c.len;
        }
        regs[10] = stack_top;
        let mut prog = 0usize;
        let mut pc = 0usize;

        loop {
            let code = &loaded[prog].code;
            let Some(&insn) = code.get(pc) else {
                // Only reachable by falling through past the last slot (jump targets and
                // return addresses inside the program are checked when taken).
                return Err(ExecError::new(
                    pc.saturating_sub(1),
                    ExecErrorKind::FellOffEnd,
                ));
            };
            if stats.instructions >= budget {
                return Err(ExecError::new(
                    pc,
                    ExecErrorKind::BudgetExhausted { budget },
                ));
            }
            stats.instructions += 1;
            let err = move |kind: ExecErrorKind| ExecError::new(pc, kind);
            let fault = move |f: MemoryFault| ExecError::new(pc, ExecErrorKind::Memory(f));
            let mut next = pc + 1;

            match insn {
                Instruction::Alu {
                    op,
                    width,
                    dst,
                    src,
                } => {
                    let s = operand(&regs, src);
                    regs[dst.index()] = alu(op, width, regs[dst.index()], s);
                }
                Instruction::Neg { width, dst } => {
                    regs[dst.index()] = neg(width, regs[dst.index()]);
                }
                Instruction::Endian { order, bits, dst } => {
                    regs[dst.index()] = endian(order, bits, regs[dst.index()]);
                }
                Instruction::LdImm64 { dst, kind, imm } => {
                    regs[dst.index()] =
                        ld_imm64(&loaded[prog].program, &mut memory, kind, imm).map_err(err)?;
                    next = pc + 2;
                }
                Instruction::LdImm64Tail => {
                    // Unreachable by construction (entry is slot 0, which is never a tail, and
                    // targets are checked), kept as an error rather than trusting that.
                    return Err(err(ExecErrorKind::JumpIntoLdImm64 { target: pc }));
                }
                Instruction::LegacyPacketLoad { .. } => {
                    return Err(err(ExecErrorKind::Unsupported(
                        unsupported::LEGACY_PACKET_LOAD,
                    )));
                }
                Instruction::Load {
                    size,
                    sign_extend,
                    dst,
                    src,
                    off,
                } => {
                    let addr = regs[src.index()].wrapping_add(off as i64 as u64);
                    let v = memory.load(addr, size.bytes() as u64).map_err(fault)?;
                    regs[dst.index()] = if sign_extend {
                        sign_extend_value(size, v)
                    } else {
                        v
                    };
                }
                Instruction::Store {
                    size,
                    dst,
                    off,
                    src,
                } => {
                    let addr = regs[dst.index()].wrapping_add(off as i64 as u64);
                    let v = operand(&regs, src);
                    memory.store(addr, size.bytes() as u64, v).map_err(fault)?;
                }
                Instruction::Atomic {
                    op,
                    fetch,
                    size,
                    dst,
                    src,
                    off,
                } => {
                    let addr = regs[dst.index()].wrapping_add(off as i64 as u64);
                    let old = atomic_rmw(&memory, op, size, addr, regs[src.index()], regs[0])
                        .map_err(fault)?;
                    match op {
                        AtomicOp::CmpXchg => regs[0] = old,
                        _ if fetch => regs[src.index()] = old,
                        _ => {}
                    }
                }
                Instruction::Ja { off, .. } => {
                    next = jump_target(code, pc, off as i64)?;
                }
                Instruction::Jump {
                    cond,
                    width,
                    dst,
                    src,
                    off,
                } => {
                    if jump_taken(cond, width, regs[dst.index()], operand(&regs, src)) {
                        next = jump_target(code, pc, off as i64)?;
                    }
                }
                Instruction::Call(target) => {
                    let id = match target {
                        CallTarget::Helper(id) => id as u32 as u64,
                        CallTarget::Register(r) => regs[r.index()],
                        CallTarget::Kfunc { .. } => {
                            return Err(err(ExecErrorKind::Unsupported(unsupported::KFUNC_CALL)));
                        }
                        CallTarget::Local(off) => {
                            let target = jump_target(code, pc, off as i64)?;
                            if frames.len() + 1 >= MAX_CALL_FRAMES {
                                return Err(err(ExecErrorKind::CallDepthExceeded {
                                    max: MAX_CALL_FRAMES,
                                }));
                            }
                            frames.push(Frame {
                                prog,
                                return_pc: pc + 1,
                                callee_saved: [regs[6], regs[7], regs[8], regs[9]],
                                frame_pointer: regs[10],
                            });
                            let depth = frames.len() + 1;
                            regs[10] = stack_top - (frames.len() * STACK_FRAME_SIZE) as u64;
                            stats.local_calls += 1;
                            stats.max_call_depth = stats.max_call_depth.max(depth);
                            pc = target;
                            continue;
                        }
                    };
                    let (helper, call) = u32::try_from(id)
                        .ok()
                        .and_then(|id| helpers.lookup(id))
                        .ok_or_else(|| err(ExecErrorKind::UnknownHelper(id)))?;
                    stats.helper_calls += 1;
                    let func = match call {
                        HelperCall::Pure(pure) => {
                            // No environment: r1..r5 in, r0 out, nothing else can change.
                            regs[0] = pure(regs[1], regs[2], regs[3], regs[4], regs[5]);
                            pc = next;
                            continue;
                        }
                        HelperCall::Env(func) => func,
                    };
                    let mut env = HelperEnv {
                        memory: &mut memory,
                        maps: &loaded[prog].program.maps,
                        payload: &mut *payload,
                        tail_call: None,
                    };
                    let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
                    regs[0] = func(&mut env, args).map_err(|source| {
                        err(ExecErrorKind::Helper {
                            name: helper.signature.name,
                            source,
                        })
                    })?;
                    if let Some((map_index, index)) = env.tail_call
                        && stats.tail_calls < MAX_TAIL_CALL_CNT
                        && let Some(target) =
                            tail_call_target(loaded, prog, map_index, index).map_err(err)?
                    {
                        stats.tail_calls += 1;
                        prog = target;
                        pc = 0;
                        continue;
                    }
                }
                Instruction::Exit => match frames.pop() {
                    None => {
                        return Ok(RunResult { r0: regs[0], stats });
                    }
                    Some(frame) => {
                        regs[6..10].copy_from_slice(&frame.callee_saved);
                        regs[10] = frame.frame_pointer;
                        prog = frame.prog;
                        next = frame.return_pc;
                    }
                },
            }
            pc = next;
        }
    }
}

/// The value of a second operand: a register, or the sign-extended immediate.
fn operand(regs: &[u64; Reg::COUNT], src: Operand) -> u64 {
    match src {
        Operand::Reg(r) => regs[r.index()],
        Operand::Imm(i) => imm64(i),
    }
}

/// Sign-extends a loaded value of `size` bytes to 64 bits.
fn sign_extend_value(size: Size, v: u64) -> u64 {
    match size {
        Size::B => v as u8 as i8 as i64 as u64,
        Size::H => v as u16 as i16 as i64 as u64,
        Size::W => v as u32 as i32 as i64 as u64,
        Size::DW => v,
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
/// a map is named by its run-time pointer value (`Arc::as_ptr`), a map value by its host
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
            Ok(Arc::as_ptr(map) as u64)
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
    loaded.push(Loaded {
        program: target,
        code,
    });
    Ok(Some(loaded.len() - 1))
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
