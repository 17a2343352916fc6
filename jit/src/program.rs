//! `JitProgram`: a compiled program in executable memory and its run API, which mirrors the
//! interpreter's: context bytes (r1 = address, r2 = length), extra regions for helpers, a
//! helper payload, and r0 or the interpreter's `ExecError` as the result. Tail-call targets
//! are compiled on first use and cached with the program that reached them.

use std::any::Any;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, Weak};

use sockops_vm::{
    ExecError, ExecErrorKind, Helper, HelperTable, Instruction, Map, Memory, Program, Region,
    RegionKind, VerifiedProgram, decode_program,
};

use crate::backend::{Backend, CompileInput};
use crate::error::JitError;
use crate::exec_memory::ExecutableMemory;
use crate::host::JitEntry;
use crate::runtime::{
    AccessWindow, CallResult, LeanCheckState, MAX_FRAMES, RunState, STACK_BLOCK, Status,
    recycle_memory, take_region_buffer,
};

/// Compilation options.
#[derive(Clone, Debug, Default)]
pub struct JitOptions {
    /// Blind immediates: every 32- and 64-bit constant of the program is emitted XORed with
    /// a random key and decoded through a scratch register at run time, as the kernel's
    /// `bpf_jit_harden` does, so attacker-chosen constants never appear in executable memory.
    pub constant_blinding: bool,
    /// How atomic instructions are compiled where the architecture has a choice (aarch64;
    /// x86-64 has one form and ignores this).
    pub atomics: AtomicsLowering,
    /// Checked memory: every load, store and atomic is confined to the regions the run was
    /// given (context, stack frames, map values, packet data, what helpers expose), as the
    /// interpreter confines them; an access outside them ends the run with the interpreter's
    /// `ExecErrorKind::Memory` error at that instruction, never a signal. Defense in depth
    /// for verified programs (a verifier bug cannot become a wild access), and a way to run
    /// programs the verifier never saw. Accesses to the context and to the stack are checked
    /// inline, others out of line against the run's memory map (the last region found is
    /// remembered, so a loop over one map value stays inline); `[r10 + k]` accesses inside
    /// the frame need no check in a program that never writes r10. The stack a checked run
    /// may touch is the frames the program reserves (one 512-byte frame, or all eight if it
    /// calls anything), where the interpreter allows all eight: only a program the verifier
    /// rejects can tell. Lean code (no calls but of pure helpers) stays lean: its state is a
    /// few words on the run function's stack, and no memory map is built per run.
    pub checked_memory: bool,
}

/// How the aarch64 backend compiles eBPF atomics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AtomicsLowering {
    /// LSE instructions if the CPU has them (`is_aarch64_feature_detected!("lse")`, asked
    /// when the program is compiled), exclusive-load/store loops otherwise.
    #[default]
    Detect,
    /// The ARMv8.1 Large System Extensions (`ldaddal`, `ldsetal`, `ldclral`, `ldeoral`,
    /// `swpal`, `casal`). Code compiled so traps on a CPU without them: for tests that
    /// checked the CPU has them.
    LargeSystemExtensions,
    /// `ldaxr`/`stlxr` retry loops, which every ARMv8 CPU runs.
    ExclusiveLoop,
}

/// Tail-call targets compiled so far, shared by a root program and every target it reaches.
#[derive(Default)]
pub(crate) struct TailCache {
    entries: Mutex<Vec<(Arc<Program>, Arc<Compiled>)>>,
    /// The root was compiled by `compile_unverified`, whose caller vouches for every program
    /// its tail calls reach; otherwise only slots stored verified may be entered.
    trust_unverified: bool,
}

/// One compiled program and what its run needs besides the code.
pub(crate) struct Compiled {
    pub name: String,
    pub code: ExecutableMemory,
    pub entry: JitEntry,
    /// Number of instruction slots.
    pub len: usize,
    pub maps: Vec<Arc<Map>>,
    /// Helpers called by immediate id; call sites hold the addresses of its entries, so it is
    /// only kept (in place), never read from Rust.
    #[allow(dead_code, reason = "owned for the machine code, which reads it")]
    pub helpers: Box<[Helper]>,
    /// Lean code: no calls but pure helper calls, the entry ignores its run-state argument.
    pub lean: bool,
    /// The whole table, for `callx` and tail-call targets (only kept by code with calls).
    pub table: Option<Arc<HelperTable>>,
    pub options: JitOptions,
    /// Bytes of eBPF stack the entry reserves.
    pub stack_len: u64,
    /// Map values LD_IMM64 references, visible to helpers.
    pub value_regions: Vec<Region>,
    pub insn_offsets: Vec<usize>,
    pub tail_cache: Weak<TailCache>,
}

/// Where a compilation gets its helper table and tail-call cache from.
enum Origin<'t> {
    /// A root program (`trust_unverified`: given to `compile_unverified`): the table is
    /// copied, and a tail-call cache made, only if the program calls anything.
    Root {
        table: &'t HelperTable,
        trust_unverified: bool,
    },
    /// A tail-call target: shares its root's.
    TailTarget(Arc<HelperTable>, Weak<TailCache>),
}

impl Compiled {
    /// Compiles without verification (see `JitProgram::compile_unverified`); a root program
    /// with calls also gets the tail-call cache it must keep alive.
    fn compile(
        program: &Program,
        origin: Origin<'_>,
        options: &JitOptions,
    ) -> Result<(Compiled, Option<Arc<TailCache>>), JitError> {
        let insns = decode_program(&program.insns)?;
        let has_calls = insns.iter().any(|i| matches!(i, Instruction::Call(_)));
        let tail_target = matches!(origin, Origin::TailTarget(..));
        let (table, tail_cache, root_cache) = match origin {
            Origin::TailTarget(table, cache) => (Some(table), cache, None),
            Origin::Root {
                table,
                trust_unverified,
            } if has_calls => {
                let cache = Arc::new(TailCache {
                    entries: Mutex::default(),
                    trust_unverified,
                });
                (
                    Some(Arc::new(table.clone())),
                    Arc::downgrade(&cache),
                    Some(cache),
                )
            }
            Origin::Root { .. } => (None, Weak::new(), None),
        };
        let empty = HelperTable::new();
        let input = CompileInput {
            insns: &insns,
            maps: &program.maps,
            table: table.as_deref().unwrap_or(&empty),
            options,
            tail_target,
        };
        let machine = crate::host::Target::compile(&input)?;
        let code = ExecutableMemory::new(&machine.bytes)?;
        // SAFETY: the backend emitted a function with the `JitEntry` ABI at offset 0 of the
        // code, which is now mapped read-execute for as long as `code` lives; `entry` is only
        // called while `self` (which owns `code`) is borrowed.
        let entry = unsafe { std::mem::transmute::<*const u8, JitEntry>(code.as_ptr()) };
        let compiled = Compiled {
            name: program.name.clone(),
            code,
            entry,
            len: insns.len(),
            maps: program.maps.clone(),
            helpers: machine.helpers,
            lean: machine.lean,
            table,
            options: options.clone(),
            stack_len: machine.stack_len,
            value_regions: machine.value_regions,
            insn_offsets: machine.insn_offsets,
            tail_cache,
        };
        Ok((compiled, root_cache))
    }

    /// Address of the code of slot 0, where tail calls enter.
    pub fn body_address(&self) -> u64 {
        self.code.as_ptr() as u64 + self.insn_offsets.first().copied().unwrap_or(0) as u64
    }

    /// The program in slot `index` of the prog array at map index `map`, compiled (once).
    /// `Ok(None)` for an empty slot: the caller continues after the call.
    pub fn tail_call_target(
        &self,
        map: usize,
        index: u32,
    ) -> Result<Option<Arc<Compiled>>, ExecErrorKind> {
        let prog_array = self
            .maps
            .get(map)
            .ok_or(ExecErrorKind::BadTailCallMap(map))?;
        let Some(entry) = prog_array.prog_array_entry(index) else {
            return Ok(None);
        };
        let Some(cache) = self.tail_cache.upgrade() else {
            return Err(ExecErrorKind::Unsupported(
                "tail call after the program was dropped",
            ));
        };
        if !entry.verified && !cache.trust_unverified {
            return Err(ExecErrorKind::UnverifiedTailCallTarget { index });
        }
        let program = entry.program;
        let Some(table) = self.table.clone() else {
            return Err(ExecErrorKind::Unsupported(
                "tail call from a program compiled without calls",
            ));
        };
        let mut entries = cache.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, compiled)) = entries.iter().find(|(p, _)| Arc::ptr_eq(p, &program)) {
            return Ok(Some(compiled.clone()));
        }
        let origin = Origin::TailTarget(table, Arc::downgrade(&cache));
        let (compiled, _) =
            Compiled::compile(&program, origin, &self.options).map_err(|e| match e {
                JitError::Decode(error) => ExecErrorKind::BadTailCallTarget { index, error },
                JitError::Unsupported { what, .. } => ExecErrorKind::Unsupported(what),
                _ => ExecErrorKind::Unsupported("tail-call target the JIT cannot compile"),
            })?;
        let compiled = Arc::new(compiled);
        entries.push((program, compiled.clone()));
        Ok(Some(compiled))
    }
}

/// A program compiled to machine code.
pub struct JitProgram {
    root: Compiled,
    /// Keeps the tail-call targets alive (the programs hold only weak references to it);
    /// only programs with calls have one.
    _tail_cache: Option<Arc<TailCache>>,
}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("name", &self.root.name)
            .field("code_len", &self.root.code.bytes().len())
            .finish_non_exhaustive()
    }
}

impl JitProgram {
    /// Compiles a verified program. Its tail calls enter only prog-array slots stored with
    /// `Map::prog_array_set_verified`; a tail call into any other filled slot stops the run
    /// with `ExecErrorKind::UnverifiedTailCallTarget`.
    pub fn compile(
        program: &VerifiedProgram,
        helpers: &HelperTable,
        options: &JitOptions,
    ) -> Result<JitProgram, JitError> {
        let origin = Origin::Root {
            table: helpers,
            trust_unverified: false,
        };
        let (root, cache) = Compiled::compile(program.program(), origin, options)?;
        Ok(JitProgram {
            root,
            _tail_cache: cache,
        })
    }

    /// Compiles any program, verified or not, with checked memory
    /// (`JitOptions::checked_memory` is forced on): every load, store and atomic is confined
    /// to the run's regions and an access outside them is the interpreter's memory error, so
    /// running the result is memory-safe whatever the program does. Jumps, calls and
    /// helpers are as safe as in the interpreter (jump targets are resolved at compile time,
    /// the call depth and tail calls are bounded, helpers check the memory they are given);
    /// unlike the interpreter, machine code has no instruction budget, so a program the
    /// verifier never saw may run for ever. Tail calls enter only prog-array slots stored
    /// verified, as with `compile`.
    pub fn compile_checked(
        program: &Program,
        helpers: &HelperTable,
        options: &JitOptions,
    ) -> Result<JitProgram, JitError> {
        let options = JitOptions {
            checked_memory: true,
            ..options.clone()
        };
        let origin = Origin::Root {
            table: helpers,
            trust_unverified: false,
        };
        let (root, cache) = Compiled::compile(program, origin, &options)?;
        Ok(JitProgram {
            root,
            _tail_cache: cache,
        })
    }

    /// Compiles a program that has NOT been verified.
    ///
    /// Only for the conformance plugin and benchmarks, whose programs are trusted test
    /// inputs. Everything else must compile verified programs.
    ///
    /// # Safety
    /// Machine code does not check memory accesses: running the result is sound only if the
    /// program, and every program it reaches by tail calls, accesses nothing but its context,
    /// its stack frames and memory helpers hand it, within bounds (what the verifier proves),
    /// and does not write r10.
    pub unsafe fn compile_unverified(
        program: &Program,
        helpers: &HelperTable,
        options: &JitOptions,
    ) -> Result<JitProgram, JitError> {
        let origin = Origin::Root {
            table: helpers,
            trust_unverified: true,
        };
        let (root, cache) = Compiled::compile(program, origin, options)?;
        Ok(JitProgram {
            root,
            _tail_cache: cache,
        })
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.root.name
    }

    /// The machine code.
    pub fn code(&self) -> &[u8] {
        self.root.code.bytes()
    }

    /// Offset in `code()` of the machine code of each eBPF slot, then the end of the body.
    pub fn insn_offsets(&self) -> &[usize] {
        &self.root.insn_offsets
    }

    /// Runs the program on `ctx` (r1 = its address, or 0 if empty; r2 = its length).
    #[inline(always)]
    pub fn run(&self, ctx: &mut [u8], payload: &mut dyn Any) -> Result<u64, ExecError> {
        if self.root.lean && self.root.options.checked_memory {
            // SAFETY: the context region is `ctx`, mutably borrowed for this call.
            return unsafe { self.run_lean_checked(context_region(ctx), &[]) };
        }
        if self.root.lean {
            // No calls but pure helper calls: no helper can see memory or the payload, and
            // there is no run state.
            let (addr, len) = context_words(ctx);
            // SAFETY: `entry` is this program's lean code, called with its ABI (the state
            // argument is unused); `ctx` is mutably borrowed for the call.
            let result = unsafe { (self.root.entry)(addr, len, std::ptr::null_mut()) };
            if result.status == Status::Exit as u64 {
                return Ok(result.r0);
            }
            return Err(self.lean_error(result));
        }
        self.run_with_state(ctx, payload)
    }

    /// `run` of full code: the run state and its slow paths stay out of the inlined `run`.
    #[inline(never)]
    fn run_with_state(&self, ctx: &mut [u8], payload: &mut dyn Any) -> Result<u64, ExecError> {
        let ctx_region = context_region(ctx);
        // SAFETY: the context region is `ctx`, mutably borrowed for this call; no other regions.
        unsafe { self.run_full(ctx_region, &[], payload) }
    }

    /// Runs the program with `regions` (packet data, ...) visible to the program and helpers.
    pub fn run_with_regions(
        &self,
        ctx: &mut [u8],
        regions: &[sockops_vm::GuestRegion<'_>],
        payload: &mut dyn Any,
    ) -> Result<u64, ExecError> {
        let ctx_region = context_region(ctx);
        let extra: Vec<Region> = regions.iter().map(|r| r.region()).collect();
        // SAFETY: each `GuestRegion` borrows its bytes for at least this call; `ctx` is
        // mutably borrowed for this call.
        unsafe { self.run_raw(ctx_region, &extra, payload) }
    }

    /// Runs the program with a context and regions given as raw `Region`s (r1 = `ctx.start`,
    /// r2 = `ctx.len`, or 0 and 0 for `None`), as `Interpreter::run_raw`.
    ///
    /// # Safety
    /// Every region (the context included) must be memory valid for reads (and writes if
    /// `writable`) for the whole run, not aliased by a live Rust reference (`Memory::add`).
    #[inline]
    pub unsafe fn run_raw(
        &self,
        ctx: Option<Region>,
        regions: &[Region],
        payload: &mut dyn Any,
    ) -> Result<u64, ExecError> {
        if self.root.lean && self.root.options.checked_memory {
            // SAFETY: forwarded contract.
            return unsafe { self.run_lean_checked(ctx, regions) };
        }
        if self.root.lean {
            let (addr, len) = ctx.map_or((0, 0), |c| (c.start, c.len));
            // SAFETY: lean code touches only the context (valid per this function's
            // contract) and its own stack frame, and calls only pure helpers, which touch no
            // guest memory; the state argument is unused.
            let result = unsafe { (self.root.entry)(addr, len, std::ptr::null_mut()) };
            if result.status == Status::Exit as u64 {
                return Ok(result.r0);
            }
            return Err(self.lean_error(result));
        }
        // SAFETY: forwarded contract.
        unsafe { self.run_full(ctx, regions, payload) }
    }

    /// Runs full code (with calls) with a run state. Always inlined: a `Region` passed in
    /// memory to a separate function is re-read with wider loads than it was written with,
    /// which stalls store forwarding.
    ///
    /// # Safety
    /// As `run_raw`.
    #[inline(always)]
    unsafe fn run_full(
        &self,
        ctx: Option<Region>,
        regions: &[Region],
        payload: &mut dyn Any,
    ) -> Result<u64, ExecError> {
        let (ctx_addr, ctx_len) = ctx.map_or((0, 0), |c| (c.start, c.len));
        // The eBPF stack block of every frame of the run. Machine code zeroes what a program
        // can read before writing it, as the interpreter's zeroed stack has it.
        let mut stack = MaybeUninit::<[u64; STACK_BLOCK / 8]>::uninit();
        let stack_start = stack.as_mut_ptr() as u64;
        let stack_top = stack_start + STACK_BLOCK as u64;
        debug_assert!(self.root.stack_len <= STACK_BLOCK as u64);
        // Unchecked code may touch the whole block (helpers check against it); checked code
        // only the frames the program reserves (and zeroes where it may read first), so that
        // it never reads host stack bytes the interpreter would show as zero.
        let stack_region = if self.root.options.checked_memory {
            Region {
                start: stack_top - self.root.stack_len,
                len: self.root.stack_len,
                writable: true,
                kind: RegionKind::Stack,
            }
        } else {
            Region {
                start: stack_start,
                len: STACK_BLOCK as u64,
                writable: true,
                kind: RegionKind::Stack,
            }
        };
        // The helpers' memory map, complete before the run (in this thread's recycled
        // buffer). The regions are added here, where their words are still in registers:
        // copied later from memory, they would be re-read with wider loads than they were
        // stored with (a store-forwarding stall).
        let mut memory = Memory::with_buffer(take_region_buffer());
        // SAFETY: the caller guarantees the context and the regions per this function's
        // contract (`Memory::add`'s) for the whole run; the stack block is a local of this
        // function, not otherwise referenced while the program runs; map value regions live
        // as long as the program's maps.
        unsafe {
            if let Some(ctx) = ctx {
                memory.add(ctx);
            }
            for &region in regions {
                memory.add(region);
            }
            memory.add(stack_region);
            for &region in &self.root.value_regions {
                memory.add(region);
            }
        }
        let outcome = {
            // The state stays in place (it is large): dropped at the end of this block,
            // errors read it by reference.
            let windows = [
                ctx.map(AccessWindow::of).unwrap_or_default(),
                AccessWindow::of(stack_region),
            ];
            let mut state = RunState::new(&self.root, payload, &mut memory, stack_top, windows);
            let state_ptr = &mut state as *mut RunState<'_> as *mut c_void;
            // SAFETY: `entry` is this program's compiled code, called with its ABI; `state`
            // lives across the call and is only touched by machine code and the trampolines
            // it calls; the caller guarantees the regions per this function's contract.
            let result = unsafe { (self.root.entry)(ctx_addr, ctx_len, state_ptr) };
            if result.status == Status::Exit as u64 {
                Ok(result.r0)
            } else {
                Err(full_error(result, &mut state))
            }
        };
        // The memory map's buffer is kept for the next run on this thread.
        recycle_memory(memory);
        outcome
    }

    /// Runs lean checked-memory code: its state is a `LeanCheckState` on this frame, with no
    /// memory map built (its out-of-line checks search the regions themselves).
    ///
    /// # Safety
    /// As `run_raw`.
    #[inline(always)]
    unsafe fn run_lean_checked(
        &self,
        ctx: Option<Region>,
        regions: &[Region],
    ) -> Result<u64, ExecError> {
        let (addr, len) = ctx.map_or((0, 0), |c| (c.start, c.len));
        let mut state = LeanCheckState::new(ctx, regions, &self.root.value_regions);
        let state_ptr = &mut state as *mut LeanCheckState<'_> as *mut c_void;
        // SAFETY: `entry` is this program's lean checked code, called with its ABI; every
        // access it makes is checked against the windows and regions of `state`, which lives
        // across the call and which only machine code and the check trampoline touch; the
        // regions are valid per this function's contract; pure helpers touch no memory.
        let result = unsafe { (self.root.entry)(addr, len, state_ptr) };
        if result.status == Status::Exit as u64 {
            return Ok(result.r0);
        }
        Err(self.lean_checked_error(result, &mut state))
    }

    /// The error lean checked code reported (a memory fault is in its state).
    #[cold]
    #[inline(never)]
    fn lean_checked_error(&self, result: CallResult, state: &mut LeanCheckState<'_>) -> ExecError {
        error_of(result, &self.root, state.error.take())
    }

    /// The error lean code reported.
    #[cold]
    #[inline(never)]
    fn lean_error(&self, result: CallResult) -> ExecError {
        error_of(result, &self.root, None)
    }
}

/// The error full code reported (or the helper panic it caught, resumed here).
#[cold]
#[inline(never)]
fn full_error(result: CallResult, state: &mut RunState<'_>) -> ExecError {
    if let Some(panic) = state.panic.take() {
        std::panic::resume_unwind(panic);
    }
    let program = state.program();
    error_of(result, program, state.error.take())
}

/// The interpreter's error for the returned words `result` of `program` (the one running when
/// the run ended); `error` is the run state's stored error, if any.
fn error_of(result: CallResult, program: &Compiled, error: Option<ExecErrorKind>) -> ExecError {
    let arg = result.r0;
    let kind = match Status::from_code(result.status_code()) {
        Some(Status::Failed) => error.unwrap_or(ExecErrorKind::Unsupported(
            "JIT run failed without an error",
        )),
        Some(Status::UnknownHelper) => ExecErrorKind::UnknownHelper(arg),
        Some(Status::CallDepth) => ExecErrorKind::CallDepthExceeded { max: MAX_FRAMES },
        Some(Status::JumpOutOfRange) => ExecErrorKind::JumpOutOfRange {
            target: arg as i64,
            len: program.len,
        },
        Some(Status::JumpIntoLdImm64) => ExecErrorKind::JumpIntoLdImm64 {
            target: arg as usize,
        },
        Some(Status::FellOffEnd) => ExecErrorKind::FellOffEnd,
        Some(Status::Unsupported) => ExecErrorKind::Unsupported(
            sockops_vm::interp::unsupported::ALL
                .get(arg as usize)
                .copied()
                .unwrap_or("an instruction the JIT does not execute"),
        ),
        Some(Status::BadMapIndex) => ExecErrorKind::BadMapIndex {
            index: arg,
            count: program.maps.len(),
        },
        Some(Status::BadMapValue) => ExecErrorKind::BadMapValue {
            map: arg as u32,
            offset: (arg >> 32) as u32,
        },
        Some(Status::Exit | Status::TailCall | Status::HelperPanicked) | None => {
            ExecErrorKind::Unsupported("JIT returned an unknown status")
        }
    };
    ExecError::new(result.pc(), kind)
}

/// r1 and r2 for `ctx`: its address and length, or 0 and 0 if it is empty.
#[inline(always)]
fn context_words(ctx: &mut [u8]) -> (u64, u64) {
    if ctx.is_empty() {
        (0, 0)
    } else {
        (ctx.as_mut_ptr() as u64, ctx.len() as u64)
    }
}

/// The context as a writable region, or `None` if it is empty (r1 = r2 = 0 then).
#[inline(always)]
fn context_region(ctx: &mut [u8]) -> Option<Region> {
    if ctx.is_empty() {
        return None;
    }
    Some(Region {
        start: ctx.as_mut_ptr() as u64,
        len: ctx.len() as u64,
        writable: true,
        kind: RegionKind::Context,
    })
}
