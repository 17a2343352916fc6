//! What compiled code runs against: the `#[repr(C)]` run state machine code reads and writes
//! at fixed offsets, the status codes it returns, and the `extern "sysv64"` trampolines through
//! which it calls helpers. Nothing unwinds into machine code: helper errors and panics are
//! stored in the run state and reported as a status; the run function turns them back into
//! the interpreter's `ExecError` (or resumes the panic) once machine code has returned.
//!
//! Tail calls follow the interpreter (and the kernel): the target replaces the running program
//! in the current frame. The trampoline resolves and (once) compiles the target, and machine
//! code jumps to the target's body with r1 restored, so the target's `exit` returns to
//! whoever called the frame.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use sockops_vm::{ExecErrorKind, Helper, HelperEnv, HelperTable, Memory, Region, RegionKind};

use crate::program::Compiled;

/// Size of one eBPF stack frame (`MAX_BPF_STACK`).
pub const FRAME_SIZE: u64 = 512;
/// Maximum number of frames of one run, the main program included (`MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;
/// Maximum number of tail calls in one run (`MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALLS: u32 = 33;

/// How machine code (or a trampoline) ended; returned in `rdx` next to r0 in `rax`.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// The program exited (or the helper returned normally); r0 is the result.
    Exit = 0,
    /// The run failed; the error is in `RunState::error`.
    Failed = 1,
    /// A helper requested a tail call whose target is in `RunState::tail_target`.
    TailCall = 2,
    /// A call to an unknown helper id (`fault_arg`).
    UnknownHelper = 3,
    /// A local call past `MAX_FRAMES`.
    CallDepth = 4,
    /// A jump or call to the slot `fault_arg`, outside the program.
    JumpOutOfRange = 5,
    /// A jump or call to the slot `fault_arg`, the second half of an LD_IMM64.
    JumpIntoLdImm64 = 6,
    /// Execution ran past the last slot.
    FellOffEnd = 7,
    /// A helper panicked; the payload is in `RunState::panic`.
    HelperPanicked = 8,
}

impl Status {
    /// The status with code `code`, if it is one.
    pub(crate) fn from_code(code: u64) -> Option<Status> {
        const ALL: [Status; 9] = [
            Status::Exit,
            Status::Failed,
            Status::TailCall,
            Status::UnknownHelper,
            Status::CallDepth,
            Status::JumpOutOfRange,
            Status::JumpIntoLdImm64,
            Status::FellOffEnd,
            Status::HelperPanicked,
        ];
        ALL.into_iter().find(|s| *s as u64 == code)
    }
}

/// Two words returned in `rax:rdx` (SysV returns a two-integer `repr(C)` struct there): the
/// JIT entry and the trampolines both return it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallResult {
    /// r0.
    pub r0: u64,
    /// A `Status` code.
    pub status: u64,
}

impl CallResult {
    fn new(r0: u64, status: Status) -> CallResult {
        CallResult {
            r0,
            status: status as u64,
        }
    }
}

/// The state of one run, shared by the run function, machine code and the trampolines.
/// The first fields are read and written by machine code at `offset_of!` offsets.
#[repr(C)]
pub(crate) struct RunState<'a> {
    /// Host `rsp` right after the entry saved the callee-saved registers; the epilogue (and
    /// so every error stub) resets to it.
    pub saved_rsp: u64,
    /// Lowest address of the eBPF stack block (the prologue stores it).
    pub stack_lo: u64,
    /// Number of local-call frames above the main one.
    pub call_depth: u64,
    /// Slot index of the instruction that ended the run with an error.
    pub fault_pc: u64,
    /// Extra word of the error (helper id, jump target).
    pub fault_arg: u64,
    /// Index into the running program's helpers of the helper being called.
    pub helper_slot: u64,
    /// Helper id of a `callx`.
    pub callx_id: u64,
    /// Body address of a tail-call target.
    pub tail_target: u64,
    /// r1 at the tail call (the target starts with it).
    pub tail_r1: u64,
    /// The program running now (changes on tail calls). Points into the root program or its
    /// tail-call cache, both of which outlive the run.
    pub program: *const Compiled,
    /// The embedder's payload for helpers.
    pub payload: &'a mut dyn Any,
    /// The context region, if the context is not empty.
    pub ctx: Option<Region>,
    /// Extra regions helpers may access.
    pub extra: &'a [Region],
    /// Length of the eBPF stack block the root program's entry reserved.
    pub stack_len: u64,
    /// Helper-visible memory, built on the first helper call of the run.
    pub memory: Option<Memory>,
    /// Why the run failed (`Status::Failed`).
    pub error: Option<ExecErrorKind>,
    /// Tail calls done so far in this run.
    pub tail_calls: u32,
    /// A helper's panic payload, resumed once machine code has returned.
    pub panic: Option<Box<dyn Any + Send>>,
}

/// Offsets of the machine-code-visible fields, for the emitters.
pub(crate) mod offsets {
    use super::RunState;
    use std::mem::offset_of;
    /// `saved_rsp`
    pub const SAVED_RSP: i32 = offset_of!(RunState<'static>, saved_rsp) as i32;
    /// `stack_lo`
    pub const STACK_LO: i32 = offset_of!(RunState<'static>, stack_lo) as i32;
    /// `call_depth`
    pub const CALL_DEPTH: i32 = offset_of!(RunState<'static>, call_depth) as i32;
    /// `fault_pc`
    pub const FAULT_PC: i32 = offset_of!(RunState<'static>, fault_pc) as i32;
    /// `fault_arg`
    pub const FAULT_ARG: i32 = offset_of!(RunState<'static>, fault_arg) as i32;
    /// `helper_slot`
    pub const HELPER_SLOT: i32 = offset_of!(RunState<'static>, helper_slot) as i32;
    /// `callx_id`
    pub const CALLX_ID: i32 = offset_of!(RunState<'static>, callx_id) as i32;
    /// `tail_target`
    pub const TAIL_TARGET: i32 = offset_of!(RunState<'static>, tail_target) as i32;
    /// `tail_r1`
    pub const TAIL_R1: i32 = offset_of!(RunState<'static>, tail_r1) as i32;
}

impl<'a> RunState<'a> {
    /// A fresh state for running `program`.
    pub fn new(
        program: &'a Compiled,
        ctx: Option<Region>,
        extra: &'a [Region],
        payload: &'a mut dyn Any,
    ) -> RunState<'a> {
        RunState {
            saved_rsp: 0,
            stack_lo: 0,
            call_depth: 0,
            fault_pc: 0,
            fault_arg: 0,
            helper_slot: 0,
            callx_id: 0,
            tail_target: 0,
            tail_r1: 0,
            program,
            payload,
            ctx,
            extra,
            stack_len: program.stack_len,
            memory: None,
            error: None,
            tail_calls: 0,
            panic: None,
        }
    }

    /// The running program.
    fn program(&self) -> &'a Compiled {
        // SAFETY: `program` always points to the root `Compiled` (borrowed for 'a by the run
        // function) or to a tail-call target held by the root's cache, which never drops
        // entries while the root lives.
        unsafe { &*self.program }
    }

    /// The memory helpers see: context, the run's stack block, the extra regions and the map
    /// values the programs reference.
    fn memory(&mut self) -> &mut Memory {
        let program = self.program();
        let (ctx, extra, stack_lo, stack_len) =
            (self.ctx, self.extra, self.stack_lo, self.stack_len);
        self.memory.get_or_insert_with(|| {
            let mut memory = Memory::new();
            // SAFETY: the context is the `&mut [u8]` the run function borrows for the whole
            // run; the stack block is reserved on the host stack by the entry prologue for
            // as long as machine code runs, and helpers run only while it does; extra
            // regions come with the run function's own safety contract; map value regions
            // live as long as the program's maps. No Rust reference to these bytes is used
            // while the program runs.
            unsafe {
                if let Some(ctx) = ctx {
                    memory.add(ctx);
                }
                memory.add(Region {
                    start: stack_lo,
                    len: stack_len,
                    writable: true,
                    kind: RegionKind::Stack,
                });
                for &region in extra.iter().chain(&program.value_regions) {
                    memory.add(region);
                }
            }
            memory
        })
    }

    /// Calls `helper` with r1..r5 and turns its outcome into a `CallResult`.
    fn invoke(&mut self, helper: Helper, args: [u64; 5]) -> CallResult {
        let program = self.program();
        self.memory();
        let RunState {
            memory, payload, ..
        } = self;
        let Some(memory) = memory.as_mut() else {
            return CallResult::new(0, Status::HelperPanicked);
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut env = HelperEnv {
                memory,
                maps: &program.maps,
                payload: &mut **payload,
                tail_call: None,
            };
            let result = (helper.func)(&mut env, args);
            (result, env.tail_call)
        }));
        match outcome {
            Err(panic) => {
                self.panic = Some(panic);
                CallResult::new(0, Status::HelperPanicked)
            }
            Ok((Err(source), _)) => {
                self.error = Some(ExecErrorKind::Helper {
                    name: helper.signature.name,
                    source,
                });
                CallResult::new(0, Status::Failed)
            }
            Ok((Ok(r0), Some((map, index)))) if self.tail_calls < MAX_TAIL_CALLS => {
                match program.tail_call_target(map, index) {
                    Err(kind) => {
                        self.error = Some(kind);
                        CallResult::new(r0, Status::Failed)
                    }
                    Ok(None) => CallResult::new(r0, Status::Exit),
                    Ok(Some(target)) => {
                        self.tail_calls += 1;
                        self.tail_target = target.body_address();
                        self.tail_r1 = args[0];
                        self.program = std::sync::Arc::as_ptr(&target);
                        if let Some(memory) = self.memory.as_mut() {
                            for &region in &target.value_regions {
                                // SAFETY: map value regions live as long as the target's
                                // maps, which the tail-call cache keeps for the run.
                                unsafe { memory.add(region) };
                            }
                        }
                        CallResult::new(r0, Status::TailCall)
                    }
                }
            }
            Ok((Ok(r0), _)) => CallResult::new(r0, Status::Exit),
        }
    }
}

/// Calls the running program's helper number `state.helper_slot`; r1..r5 arrive in the SysV
/// argument registers exactly where the register map keeps them, the state in r9.
///
/// # Safety
/// `state` must be the `RunState` of the run in progress (machine code passes its r12).
pub(crate) unsafe extern "sysv64" fn helper_trampoline(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    state: *mut c_void,
) -> CallResult {
    // SAFETY: per the contract, `state` points to the live `RunState` of this run, which the
    // run function does not touch while machine code (and so this trampoline) runs.
    let state = unsafe { &mut *(state as *mut RunState<'_>) };
    let Some(&helper) = state.program().helpers.get(state.helper_slot as usize) else {
        state.fault_arg = state.helper_slot;
        return CallResult::new(0, Status::UnknownHelper);
    };
    state.invoke(helper, [r1, r2, r3, r4, r5])
}

/// Calls the helper whose id is `state.callx_id` (`callx`), or reports it unknown.
///
/// # Safety
/// As `helper_trampoline`.
pub(crate) unsafe extern "sysv64" fn callx_trampoline(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    state: *mut c_void,
) -> CallResult {
    // SAFETY: as in `helper_trampoline`.
    let state = unsafe { &mut *(state as *mut RunState<'_>) };
    let id = state.callx_id;
    let table: &HelperTable = &state.program().table;
    match u32::try_from(id).ok().and_then(|id| table.get(id)) {
        Some(&helper) => state.invoke(helper, [r1, r2, r3, r4, r5]),
        None => {
            state.fault_arg = id;
            CallResult::new(0, Status::UnknownHelper)
        }
    }
}

/// Signature of a trampoline, as machine code calls it.
pub(crate) type Trampoline =
    unsafe extern "sysv64" fn(u64, u64, u64, u64, u64, *mut c_void) -> CallResult;

/// Signature of a compiled program's entry: context pointer, context length, run state.
pub(crate) type JitEntry = unsafe extern "sysv64" fn(u64, u64, *mut c_void) -> CallResult;
