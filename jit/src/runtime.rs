//! What compiled code runs against: the `#[repr(C)]` run state machine code reads and writes
//! at fixed offsets, the encoding of the two words every entry and trampoline returns, and the
//! architecture-neutral bodies of the trampolines through which machine code calls
//! environment helpers (each backend wraps them in functions of its host ABI).
//! Nothing unwinds into machine code: helper errors and panics are stored in the run state and
//! reported as a status; the run function turns them back into the interpreter's `ExecError`
//! (or resumes the panic) once machine code has returned.
//!
//! Programs without calls, or whose only calls are of pure helpers (which machine code calls
//! directly, without a trampoline), are "lean" code and run without any run state: their entry
//! gets a null state pointer and reports errors in the returned words alone.
//!
//! Checked-memory code tests each access against the `AccessWindows` at the start of its state
//! (context, stack, last region found) and calls a check trampoline (`check_access`, or
//! `check_access_lean` for lean code, whose state is a small `LeanCheckState` instead of
//! none) for anything they do not admit; a fault is stored in the state and reported as
//! `Status::Failed`.
//!
//! A run of full code gets its eBPF stack block from the run function, which also builds the
//! helpers' memory map (context, caller regions, stack block, map values) before the run, in
//! a region buffer recycled per thread: no allocation and no lazy set-up per run.
//!
//! Tail calls follow the interpreter (and the kernel): the target replaces the running program
//! in the current frame. The trampoline resolves and (once) compiles the target, and machine
//! code jumps to the target's body with r1 restored, so the target's `exit` returns to
//! whoever called the frame.

use std::any::Any;
use std::cell::Cell;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use sockops_vm::helper::HelperCall;
use sockops_vm::{
    Access, ExecErrorKind, Helper, HelperEnv, HelperError, HelperTable, Memory, Region,
};

use crate::program::Compiled;

/// Size of one eBPF stack frame (`MAX_BPF_STACK`).
pub const FRAME_SIZE: u64 = 512;
/// Maximum number of frames of one run, the main program included (`MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;
/// Maximum number of tail calls in one run (`MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALLS: u32 = 33;
/// Bytes of the eBPF stack block of a run of full code: every frame a run may use (local
/// calls, tail-call targets with local calls).
pub const STACK_BLOCK: usize = MAX_FRAMES * FRAME_SIZE as usize;

/// How machine code (or a trampoline) ended: the low 32 bits of the status word returned in
/// the second result register next to r0 in the first (`rdx`/`rax` on x86-64, `x1`/`x0` on
/// aarch64). For every status but `Exit`, the high 32 bits of the status word hold the slot
/// index of the failing instruction and the first register holds the status's extra word
/// (helper id, jump target).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// The program exited (or the helper returned normally); r0 is the result.
    Exit = 0,
    /// The run failed; the error is in `RunState::error`.
    Failed = 1,
    /// A helper requested a tail call whose target is in `RunState::tail_target`.
    TailCall = 2,
    /// A call to an unknown helper id (the extra word).
    UnknownHelper = 3,
    /// A local call past `MAX_FRAMES`.
    CallDepth = 4,
    /// A jump or call to the slot in the extra word, outside the program.
    JumpOutOfRange = 5,
    /// A jump or call to the slot in the extra word, the second half of an LD_IMM64.
    JumpIntoLdImm64 = 6,
    /// Execution ran past the last slot.
    FellOffEnd = 7,
    /// A helper panicked; the payload is in `RunState::panic`.
    HelperPanicked = 8,
    /// An instruction this runtime decodes but does not execute ran: the extra word is the
    /// index of its message in `sockops_vm::interp::unsupported::ALL`.
    Unsupported = 9,
    /// An LD_IMM64 map reference to the map index in the extra word, which the program does
    /// not have.
    BadMapIndex = 10,
    /// An LD_IMM64 map value reference the map cannot serve: the extra word is the map index
    /// in its low and the offset in its high 32 bits.
    BadMapValue = 11,
}

impl Status {
    /// The status with code `code`, if it is one.
    pub(crate) fn from_code(code: u32) -> Option<Status> {
        const ALL: [Status; 12] = [
            Status::Exit,
            Status::Failed,
            Status::TailCall,
            Status::UnknownHelper,
            Status::CallDepth,
            Status::JumpOutOfRange,
            Status::JumpIntoLdImm64,
            Status::FellOffEnd,
            Status::HelperPanicked,
            Status::Unsupported,
            Status::BadMapIndex,
            Status::BadMapValue,
        ];
        ALL.into_iter().find(|s| *s as u32 == code)
    }

    /// The status word an error stub of slot `pc` returns.
    pub(crate) fn word_at(self, pc: usize) -> u64 {
        ((pc as u64) << 32) | self as u64
    }
}

/// Two words returned in two registers (`rax:rdx` under SysV x86-64, `x0:x1` under AAPCS64:
/// both return a two-integer `repr(C)` struct there): the JIT entry and the trampolines both
/// return it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallResult {
    /// r0, or the extra word of an error status.
    pub r0: u64,
    /// The status word (see `Status`).
    pub status: u64,
}

impl CallResult {
    /// A result with status `status` (no pc: trampolines leave that to the call site).
    #[inline(always)]
    fn new(r0: u64, status: Status) -> CallResult {
        CallResult {
            r0,
            status: status as u64,
        }
    }

    /// The `Status` part of the status word.
    pub fn status_code(&self) -> u32 {
        self.status as u32
    }

    /// The slot index part of the status word.
    pub fn pc(&self) -> usize {
        (self.status >> 32) as usize
    }
}

/// The state of one run of code with calls, shared by the run function, machine code and the
/// trampolines. The first fields are read and written by machine code at `offset_of!`
/// offsets; the rest is only touched by Rust.
#[repr(C)]
pub(crate) struct RunState<'a> {
    /// The windows of checked-memory code's inline checks. First, as in `LeanCheckState`,
    /// so that machine code finds them at the same offsets in both.
    pub windows: AccessWindows,
    /// Host stack pointer right after the entry saved the callee-saved registers; the
    /// epilogue (and so every error stub) resets to it.
    pub saved_rsp: u64,
    /// Number of local-call frames above the main one.
    pub call_depth: u64,
    /// The top of the run's eBPF stack block (`STACK_BLOCK` bytes, owned by the run
    /// function): the entry frame's r10.
    pub stack_top: u64,
    /// The helper a `call` site is calling (stored by the call site before the trampoline).
    pub helper: *const Helper,
    /// Helper id of a `callx`.
    pub callx_id: u64,
    /// Body address of a tail-call target.
    pub tail_target: u64,
    /// r1 at the tail call (the target starts with it).
    pub tail_r1: u64,
    /// The program running now (changes on tail calls). Points into the root program or its
    /// tail-call cache, both of which outlive the run.
    pub program: *const Compiled,
    /// The environment of every helper call of the run (the run function fills its memory
    /// map before the run starts).
    env: HelperEnv<'a>,
    /// The error the helper being called returned.
    helper_error: Option<HelperError>,
    /// Why the run failed (`Status::Failed`).
    pub error: Option<ExecErrorKind>,
    /// Tail calls done so far in this run.
    tail_calls: u32,
    /// A helper's panic payload, resumed once machine code has returned.
    pub panic: Option<Box<dyn Any + Send>>,
}

/// A memory window checked-memory code tests inline: an access of `n` bytes at `addr` is
/// inside when `t = addr - start` (wrapping) plus `n` does not carry and is at most the span
/// of the access's kind. A read-only region has a write span of 0, an unset window both.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AccessWindow {
    /// First byte.
    pub start: u64,
    /// Bytes loads may touch from `start`.
    pub read_span: u64,
    /// Bytes stores and atomics may touch from `start` (0 if the region is read-only).
    pub write_span: u64,
}

impl AccessWindow {
    /// The window of `region`.
    pub fn of(region: Region) -> AccessWindow {
        AccessWindow {
            start: region.start,
            read_span: region.len,
            write_span: if region.writable { region.len } else { 0 },
        }
    }

    /// The region this window was made of (`None` for an unset window).
    pub fn region(&self, kind: sockops_vm::RegionKind) -> Option<Region> {
        (self.read_span > 0).then_some(Region {
            start: self.start,
            len: self.read_span,
            writable: self.write_span > 0,
            kind,
        })
    }

    /// Whether the inline check machine code makes accepts `len` bytes at `addr` (the
    /// reference the backends' emitted sequences implement).
    #[cfg(test)]
    pub fn admits(&self, addr: u64, len: u64, write: bool) -> bool {
        let span = if write {
            self.write_span
        } else {
            self.read_span
        };
        match addr.wrapping_sub(self.start).checked_add(len) {
            Some(end) => end <= span,
            None => false,
        }
    }
}

/// What checked-memory code (`JitOptions::checked_memory`) tests its accesses against
/// before calling out (see `AccessWindow`): the context, the stack frames the run may use
/// (lean code fills this one in its prologue), and the region the last out-of-line check
/// found.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AccessWindows {
    /// The context's window (unset without a context).
    pub context: AccessWindow,
    /// The stack's window.
    pub stack: AccessWindow,
    /// The region the last out-of-line check found.
    pub last_region: AccessWindow,
}

/// The state of one run of lean checked-memory code (no calls but of pure helpers): the
/// windows its inline checks read, and what its out-of-line checks need to check an access
/// the windows did not admit without a `Memory` being built per run. Its entry gets a pointer
/// to it where full code gets the `RunState`.
#[repr(C)]
pub(crate) struct LeanCheckState<'a> {
    /// As `RunState::windows` (same offset).
    pub windows: AccessWindows,
    /// The caller's regions (the context's is `windows.context`).
    regions: &'a [Region],
    /// The program's map value regions (LD_IMM64 map value references).
    value_regions: &'a [Region],
    /// The fault of a failed check (`Status::Failed`).
    pub error: Option<ExecErrorKind>,
}

const _: () = assert!(
    std::mem::offset_of!(RunState<'static>, windows)
        == std::mem::offset_of!(LeanCheckState<'static>, windows)
);

impl<'a> LeanCheckState<'a> {
    /// A fresh state for a run with the context `ctx`, the caller's `regions` and the
    /// program's map value regions; the stack window is left for the prologue to fill.
    #[inline(always)]
    pub fn new(
        ctx: Option<Region>,
        regions: &'a [Region],
        value_regions: &'a [Region],
    ) -> LeanCheckState<'a> {
        LeanCheckState {
            windows: AccessWindows {
                context: ctx.map(AccessWindow::of).unwrap_or_default(),
                ..AccessWindows::default()
            },
            regions,
            value_regions,
            error: None,
        }
    }
}

/// Offsets of the machine-code-visible fields, for the emitters.
pub(crate) mod offsets {
    use super::RunState;
    use std::mem::offset_of;
    /// `saved_rsp`
    pub const SAVED_RSP: i32 = offset_of!(RunState<'static>, saved_rsp) as i32;
    /// `call_depth`
    pub const CALL_DEPTH: i32 = offset_of!(RunState<'static>, call_depth) as i32;
    /// `stack_top`
    pub const STACK_TOP: i32 = offset_of!(RunState<'static>, stack_top) as i32;
    /// `helper`
    pub const HELPER: i32 = offset_of!(RunState<'static>, helper) as i32;
    /// `callx_id`
    pub const CALLX_ID: i32 = offset_of!(RunState<'static>, callx_id) as i32;
    /// `tail_target`
    pub const TAIL_TARGET: i32 = offset_of!(RunState<'static>, tail_target) as i32;
    /// `tail_r1`
    pub const TAIL_R1: i32 = offset_of!(RunState<'static>, tail_r1) as i32;
    /// `windows.context` (the same in `LeanCheckState`).
    pub const CONTEXT_WINDOW: i32 =
        (offset_of!(RunState<'static>, windows) + offset_of!(super::AccessWindows, context)) as i32;
    /// `windows.stack`
    pub const STACK_WINDOW: i32 =
        (offset_of!(RunState<'static>, windows) + offset_of!(super::AccessWindows, stack)) as i32;
    /// `windows.last_region`
    pub const LAST_REGION_WINDOW: i32 = (offset_of!(RunState<'static>, windows)
        + offset_of!(super::AccessWindows, last_region))
        as i32;
    /// `AccessWindow::start`, from a window's offset.
    pub const WINDOW_START: i32 = offset_of!(super::AccessWindow, start) as i32;
    /// `AccessWindow::read_span`, from a window's offset.
    pub const WINDOW_READ_SPAN: i32 = offset_of!(super::AccessWindow, read_span) as i32;
    /// `AccessWindow::write_span`, from a window's offset.
    pub const WINDOW_WRITE_SPAN: i32 = offset_of!(super::AccessWindow, write_span) as i32;
}

impl<'a> RunState<'a> {
    /// A fresh state for running `program` on the stack block whose top is `stack_top`;
    /// `memory` holds every region helpers may see (the context, the caller's regions, the
    /// stack block and the program's map values); `windows` are the context's and the
    /// stack's (checked-memory code tests them inline; other code ignores them).
    #[inline(always)]
    pub fn new(
        program: &'a Compiled,
        payload: &'a mut dyn Any,
        memory: &'a mut Memory,
        stack_top: u64,
        [context_window, stack_window]: [AccessWindow; 2],
    ) -> RunState<'a> {
        RunState {
            windows: AccessWindows {
                context: context_window,
                stack: stack_window,
                last_region: AccessWindow::default(),
            },
            saved_rsp: 0,
            call_depth: 0,
            stack_top,
            helper: std::ptr::null(),
            callx_id: 0,
            tail_target: 0,
            tail_r1: 0,
            program,
            env: HelperEnv {
                memory,
                maps: &program.maps,
                payload,
                tail_call: None,
            },
            helper_error: None,
            error: None,
            tail_calls: 0,
            panic: None,
        }
    }

    /// The running program.
    #[inline(always)]
    pub fn program(&self) -> &'a Compiled {
        // SAFETY: `program` always points to the root `Compiled` (borrowed for 'a by the run
        // function) or to a tail-call target held by the root's cache, which never drops
        // entries while the root lives.
        unsafe { &*self.program }
    }

    /// Calls the helper at `self.helper` with r1..r5 and turns its outcome into a
    /// `CallResult`. Only the helper call itself runs under `catch_unwind` (a panic is
    /// stored and reported as `HelperPanicked`), with the arguments as plain values and the
    /// result reduced to two words before it leaves the closure, so nothing crosses the
    /// unwind boundary as a memory copy. Only the run state is live across the helper call:
    /// errors and tail calls are cold functions.
    #[inline(always)]
    fn call(&mut self, args: [u64; 5]) -> CallResult {
        // r1 of a tail call; a store is cheaper than keeping it across the call.
        self.tail_r1 = args[0];
        let env = &mut self.env;
        // SAFETY: `helper` points into the running program's helper list or its helper
        // table (see the trampolines), both alive for the run.
        let func = unsafe { (*self.helper).func };
        let error = &mut self.helper_error;
        let outcome = catch_unwind(AssertUnwindSafe(|| match func(env, args) {
            Ok(r0) => (r0, env.tail_call.is_some()),
            Err(source) => {
                *error = Some(source);
                (0, true)
            }
        }));
        match outcome {
            Ok((r0, false)) => CallResult::new(r0, Status::Exit),
            Ok((r0, true)) => self.after_call(r0),
            Err(panic) => self.helper_panicked(panic),
        }
    }

    /// Records a helper's panic payload.
    #[cold]
    #[inline(never)]
    fn helper_panicked(&mut self, panic: Box<dyn Any + Send>) -> CallResult {
        self.panic = Some(panic);
        CallResult::new(0, Status::HelperPanicked)
    }

    /// The unusual ends of a helper call: its error (recorded as the interpreter reports it)
    /// or its tail-call request.
    #[cold]
    #[inline(never)]
    fn after_call(&mut self, r0: u64) -> CallResult {
        if let Some(source) = self.helper_error.take() {
            // SAFETY: as in `call`.
            let helper = unsafe { &*self.helper };
            self.error = Some(ExecErrorKind::Helper {
                name: helper.signature.name,
                source,
            });
            return CallResult::new(0, Status::Failed);
        }
        match self.env.tail_call.take() {
            Some((map, index)) => self.tail_call(r0, map, index),
            None => CallResult::new(r0, Status::Exit),
        }
    }

    /// A helper returned `r0` and asked for a tail call into slot `index` of the prog array
    /// at map index `map`: resolve (and compile once) the target and switch the state to it,
    /// or continue after the call as the interpreter does (empty slot, limit reached).
    fn tail_call(&mut self, r0: u64, map: usize, index: u32) -> CallResult {
        if self.tail_calls >= MAX_TAIL_CALLS {
            return CallResult::new(r0, Status::Exit);
        }
        match self.program().tail_call_target(map, index) {
            Err(kind) => {
                self.error = Some(kind);
                CallResult::new(r0, Status::Failed)
            }
            Ok(None) => CallResult::new(r0, Status::Exit),
            Ok(Some(target)) => {
                self.tail_calls += 1;
                self.tail_target = target.body_address();
                self.program = std::sync::Arc::as_ptr(&target);
                let program = self.program();
                self.env.maps = &program.maps;
                for &region in &program.value_regions {
                    // SAFETY: map value regions live as long as the target's maps, which the
                    // tail-call cache keeps for the run.
                    unsafe { self.env.memory.add(region) };
                }
                CallResult::new(r0, Status::TailCall)
            }
        }
    }
}

/// What a backend's helper trampoline does: calls the helper the call site stored in
/// `state.helper` with r1..r5. The trampoline itself (the function machine code calls, with
/// the host ABI) lives in the backend's module.
///
/// # Safety
/// `state` must be the `RunState` of the run in progress (machine code passes the pointer it
/// keeps in its state register), and `state.helper` must point to a helper of the running
/// program.
#[inline(always)]
pub(crate) unsafe fn call_helper(args: [u64; 5], state: *mut c_void) -> CallResult {
    // SAFETY: per the contract, `state` points to the live `RunState` of this run, which the
    // run function does not touch while machine code (and so this trampoline) runs.
    let state = unsafe { &mut *(state as *mut RunState<'_>) };
    // The call site stored a pointer into the running program's helper list, which lives
    // (unmoved, in a boxed slice) as long as the program.
    state.call(args)
}

/// What a backend's `callx` trampoline does: calls the helper whose id is `state.callx_id`,
/// or reports it unknown.
///
/// # Safety
/// As `call_helper` (without the `helper` requirement).
#[inline(always)]
pub(crate) unsafe fn call_helper_by_id(args: [u64; 5], state: *mut c_void) -> CallResult {
    // SAFETY: as in `call_helper`.
    let state = unsafe { &mut *(state as *mut RunState<'_>) };
    let id = state.callx_id;
    let table: Option<&HelperTable> = state.program().table.as_deref();
    match u32::try_from(id).ok().and_then(|id| table?.lookup(id)) {
        Some((_, HelperCall::Pure(pure))) => {
            let [r1, r2, r3, r4, r5] = args;
            CallResult::new(pure(r1, r2, r3, r4, r5), Status::Exit)
        }
        Some((helper, HelperCall::Env(_))) => {
            state.helper = helper;
            state.call(args)
        }
        None => CallResult::new(id, Status::UnknownHelper),
    }
}

/// What a backend's memory-check trampoline does for checked-memory code whose inline
/// windows did not admit an access: checks `len` bytes at `addr` (a store or atomic if
/// `write`) against the run's memory map, exactly as the interpreter does. Returns 0 and
/// remembers the region found as the last-region window, or records the interpreter's
/// `ExecErrorKind::Memory` fault as the run's error and returns 1 (the call site then leaves
/// with `Status::Failed` and its pc).
///
/// # Safety
/// `state` must be the `RunState` of the run in progress (as for `call_helper`).
#[inline(always)]
pub(crate) unsafe fn check_access(addr: u64, len: u64, write: u64, state: *mut c_void) -> u64 {
    // SAFETY: as in `call_helper`.
    let state = unsafe { &mut *(state as *mut RunState<'_>) };
    let access = if write != 0 {
        Access::Write
    } else {
        Access::Read
    };
    match state.env.memory.check(addr, len, access) {
        Ok(region) => {
            state.windows.last_region = AccessWindow::of(region);
            0
        }
        Err(fault) => {
            state.error = Some(ExecErrorKind::Memory(fault));
            1
        }
    }
}

/// `check_access` for lean checked-memory code, whose state is a `LeanCheckState`: the
/// regions are searched as `Memory::check` searches them (the most recently added first: map
/// values, the stack frame, the caller's regions, the context), with the same test.
///
/// # Safety
/// `state` must be the `LeanCheckState` of the run in progress (the pointer lean checked code
/// keeps in its state register).
#[inline(always)]
pub(crate) unsafe fn check_access_lean(addr: u64, len: u64, write: u64, state: *mut c_void) -> u64 {
    // SAFETY: per the contract; the run function does not touch the state while machine
    // code runs.
    let state = unsafe { &mut *(state as *mut LeanCheckState<'_>) };
    let access = if write != 0 {
        Access::Write
    } else {
        Access::Read
    };
    let stack = state.windows.stack.region(sockops_vm::RegionKind::Stack);
    let ctx = state
        .windows
        .context
        .region(sockops_vm::RegionKind::Context);
    let found = addr.checked_add(len).and_then(|end| {
        state
            .value_regions
            .iter()
            .rev()
            .chain(stack.as_ref())
            .chain(state.regions.iter().rev())
            .chain(ctx.as_ref())
            .find(|r| {
                addr >= r.start
                    && r.start.checked_add(r.len).is_some_and(|r_end| end <= r_end)
                    && (access == Access::Read || r.writable)
            })
            .copied()
    });
    match found {
        Some(region) => {
            state.windows.last_region = AccessWindow::of(region);
            0
        }
        None => {
            state.error = Some(ExecErrorKind::Memory(sockops_vm::MemoryFault {
                addr,
                len,
                access,
            }));
            1
        }
    }
}

thread_local! {
    /// A region buffer kept from an earlier run on this thread, so that runs with helper
    /// calls do not allocate their `Memory` (see `take_region_buffer`).
    static SPARE_REGIONS: Cell<Vec<Region>> = const { Cell::new(Vec::new()) };
}

/// This thread's spare region buffer (empty, possibly without an allocation yet).
#[inline]
pub(crate) fn take_region_buffer() -> Vec<Region> {
    SPARE_REGIONS.try_with(Cell::take).unwrap_or_default()
}

/// Keeps the memory map of a finished run as this thread's spare region buffer (if it has an
/// allocation: runs without helper calls leave nothing to keep).
#[inline]
pub(crate) fn recycle_memory(memory: Memory) {
    let buffer = memory.into_buffer();
    if buffer.capacity() == 0 {
        return;
    }
    // During thread teardown the buffer is simply dropped.
    let _ = SPARE_REGIONS.try_with(|spare| spare.set(buffer));
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_vm::RegionKind;

    /// The window test the backends emit (`t = addr - start`, `t + len` without carry, at
    /// most the span) accepts exactly the accesses `Memory::check` accepts in the region,
    /// at the edges of the address space too (for regions of real memory: none ends at
    /// 2^64, where `Memory` refuses everything).
    #[test]
    fn window_test_is_the_region_check() {
        let starts = [0u64, 1, 0x1000, u64::MAX - 0x21, 1 << 63];
        let lens = [0u64, 1, 8, 16, 0x21];
        let addrs = |s: u64| {
            [
                s.wrapping_sub(1),
                s,
                s.wrapping_add(1),
                s.wrapping_add(7),
                s.wrapping_add(8),
                s.wrapping_add(9),
                s.wrapping_add(0x20),
                u64::MAX,
                0,
                u64::MAX - 7,
            ]
        };
        for &start in &starts {
            for &len in &lens {
                for writable in [false, true] {
                    let region = Region {
                        start,
                        len,
                        writable,
                        kind: RegionKind::Other,
                    };
                    let window = AccessWindow::of(region);
                    let mut memory = Memory::new();
                    // SAFETY: the memory map is only asked to check addresses, never to
                    // access them.
                    unsafe { memory.add(region) };
                    for addr in addrs(start) {
                        for size in [1u64, 2, 4, 8] {
                            for (write, access) in [(false, Access::Read), (true, Access::Write)] {
                                assert_eq!(
                                    window.admits(addr, size, write),
                                    memory.check(addr, size, access).is_ok(),
                                    "{region:?} {addr:#x}+{size} write {write}"
                                );
                            }
                        }
                    }
                }
            }
        }
        // The unset window (no context) admits nothing.
        assert!(!AccessWindow::default().admits(0, 1, false));
    }
}
