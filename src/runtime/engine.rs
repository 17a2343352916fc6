//! Getting a program ready to run: the load-time checks (every instruction decodes; every
//! helper it calls is one sock_ops may call, this runtime provides, and its license allows;
//! no kfunc calls), the verifier step, and the engine that runs it.
//!
//! The verifier step is [`verify_program`]: the `sockops-verifier` crate judges the program
//! by the kernel's rules. A rejection becomes `RuntimeError::Rejected` with the kernel's
//! message; an acceptance gives the `VerifiedProgram` proof the JIT requires. A program that
//! uses something the verifier does not model (an argument type of a helper it cannot
//! judge) is neither: it is [`Verdict::NotVerified`] and runs only in the checked
//! interpreter, which bounds every memory access, jump and call and stops runaway loops with
//! an instruction budget.

use std::fmt;
use std::sync::Arc;

use sockops_ctx::check_helper;
use sockops_vm::{
    CallTarget, ExecError, HelperTable, Instruction, Interpreter, Program, Region, RunOptions,
    decode_program,
};

use sockops_jit::{JitOptions, JitProgram};
use sockops_verifier::{Verified, VerifyOptions, verify_shared};

use crate::runtime::RuntimeError;

/// Which engine runs a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Engine {
    /// The checked interpreter (runs verified and unverified programs).
    #[default]
    Interpreter,
    /// The JIT (verified programs only).
    Jit,
    /// The JIT with checked memory (`JitOptions::checked_memory`, verified programs only):
    /// every load, store and atomic is confined to the run's regions as the interpreter
    /// confines them, so a verifier bug ends the run with the interpreter's memory error
    /// instead of becoming a wild access.
    CheckedJit,
}

impl Engine {
    /// Parses `interp` / `interpreter`, `jit` or `jit-checked`.
    pub fn parse(text: &str) -> Option<Engine> {
        match text {
            "interp" | "interpreter" => Some(Engine::Interpreter),
            "jit" => Some(Engine::Jit),
            "jit-checked" => Some(Engine::CheckedJit),
            _ => None,
        }
    }

    /// This engine with checked memory if `checked` (the JIT becomes the checked JIT; the
    /// interpreter checks every access anyway).
    pub fn with_checked_memory(self, checked: bool) -> Engine {
        match (self, checked) {
            (Engine::Jit, true) => Engine::CheckedJit,
            (engine, _) => engine,
        }
    }

    /// Whether this engine runs machine code.
    pub fn is_jit(self) -> bool {
        matches!(self, Engine::Jit | Engine::CheckedJit)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Interpreter => "interpreter",
            Engine::Jit => "jit",
            Engine::CheckedJit => "jit-checked",
        })
    }
}

/// What the verifier said about a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The verifier accepted it.
    Verified,
    /// The verifier could not judge it (it uses something the verifier does not model): the
    /// program may run only in the checked interpreter.
    NotVerified,
}

/// The outcome of [`verify_program`] for a program the verifier did not reject.
#[derive(Debug)]
pub enum Verification {
    /// Accepted: the proof the JIT takes, and the verifier's statistics.
    Verified(Box<Verified>),
    /// Not judged; the reason names the instruction and what is not modelled.
    NotVerified {
        /// Why the verifier could not judge the program.
        reason: String,
    },
}

impl Verification {
    /// The verdict alone.
    pub fn verdict(&self) -> Verdict {
        match self {
            Verification::Verified(_) => Verdict::Verified,
            Verification::NotVerified { .. } => Verdict::NotVerified,
        }
    }
}

/// Runs the verifier on `program` as the kernel judges a `BPF_PROG_TYPE_SOCK_OPS` load by
/// root: `Err(RuntimeError::Rejected)` with the kernel's message (and instruction index)
/// when it rejects the program.
pub fn verify_program(
    program: &Arc<Program>,
    helpers: &HelperTable,
) -> Result<Verification, RuntimeError> {
    let options = VerifyOptions {
        require_runtime_helpers: true,
        ..VerifyOptions::default()
    };
    match verify_shared(program, helpers, &options) {
        Ok(verified) => Ok(Verification::Verified(Box::new(verified))),
        Err(e) if e.unsupported => Ok(Verification::NotVerified {
            reason: format!("insn {}: {}", e.pc, e.message),
        }),
        Err(e) => Err(RuntimeError::Rejected {
            program: program.name.clone(),
            pc: e.pc,
            message: e.message,
        }),
    }
}

/// Licenses the kernel treats as GPL-compatible (`license_is_gpl_compatible`).
const GPL_COMPATIBLE: &[&str] = &[
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
];

/// Whether the kernel treats `license` as GPL-compatible.
pub fn is_gpl_compatible(license: &str) -> bool {
    GPL_COMPATIBLE.contains(&license)
}

/// The load-time checks: every slot decodes; every `call` names a helper that sock_ops may
/// call, that `helpers` provides and that the program's license allows; no kfunc calls.
pub fn check_program(program: &Program, helpers: &HelperTable) -> Result<(), RuntimeError> {
    let code = decode_program(&program.insns).map_err(|source| RuntimeError::Decode {
        program: program.name.clone(),
        source: Box::new(source),
    })?;
    for (pc, insn) in code.iter().enumerate() {
        let Instruction::Call(target) = insn else {
            continue;
        };
        match *target {
            CallTarget::Helper(id) => {
                let id = u32::try_from(id).unwrap_or(u32::MAX);
                check_helper(helpers, id).map_err(|refusal| RuntimeError::HelperRefused {
                    program: program.name.clone(),
                    pc,
                    refusal,
                })?;
                if let Some(h) = helpers.get(id)
                    && h.signature.gpl_only
                    && !is_gpl_compatible(&program.license)
                {
                    return Err(RuntimeError::GplOnly {
                        program: program.name.clone(),
                        pc,
                        helper: h.signature.name,
                        id,
                        license: program.license.clone(),
                    });
                }
            }
            CallTarget::Kfunc { btf_id, .. } => {
                return Err(RuntimeError::Kfunc {
                    program: program.name.clone(),
                    pc,
                    btf_id,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// A program made ready for one engine.
#[derive(Debug)]
pub(crate) enum Executor {
    /// The checked interpreter (reuses its stack across runs).
    Interpreter(Box<Interpreter>),
    /// Machine code of a verified program.
    Jit(Box<JitProgram>),
}

impl Executor {
    /// Prepares `program` for `engine`; `verification` is what the verifier said.
    pub(crate) fn new(
        program: Arc<Program>,
        helpers: &HelperTable,
        engine: Engine,
        verification: &Verification,
    ) -> Result<Executor, RuntimeError> {
        // A verified program runs as verified: its loads through untrusted kernel memory
        // are faulting loads (`Stats::faulting_loads`).
        let program = match verification {
            Verification::Verified(verified) => verified.verified_program().program_arc().clone(),
            Verification::NotVerified { .. } => program,
        };
        match (engine, verification) {
            (Engine::Interpreter, _) => Interpreter::from_arc(program.clone(), helpers)
                .map(|i| Executor::Interpreter(Box::new(i)))
                .map_err(|e| RuntimeError::Exec {
                    program: program.name.clone(),
                    op: "load".into(),
                    source: Box::new(e),
                }),
            (Engine::Jit | Engine::CheckedJit, Verification::Verified(verified)) => {
                let options = JitOptions {
                    checked_memory: engine == Engine::CheckedJit,
                    ..JitOptions::default()
                };
                JitProgram::compile(verified.verified_program(), helpers, &options)
                    .map(|j| Executor::Jit(Box::new(j)))
                    .map_err(|e| RuntimeError::EngineUnavailable {
                        program: program.name.clone(),
                        engine,
                        reason: e.to_string(),
                    })
            }
            (Engine::Jit | Engine::CheckedJit, Verification::NotVerified { reason }) => {
                Err(RuntimeError::EngineUnavailable {
                    program: program.name.clone(),
                    engine,
                    reason: format!(
                        "the JIT runs only verified programs, and the verifier could not judge this one ({reason}); use the interpreter"
                    ),
                })
            }
        }
    }

    /// As `run`, also returning the instructions executed when the interpreter runs the
    /// program (`None` for machine code, which does not count them).
    ///
    /// # Safety
    /// As `run`.
    pub(crate) unsafe fn run_counted(
        &mut self,
        ctx: Region,
        regions: &[Region],
        payload: &mut dyn std::any::Any,
        options: &RunOptions,
    ) -> Result<(u64, Option<u64>), ExecError> {
        match self {
            Executor::Interpreter(i) => {
                // SAFETY: forwarded from this function's contract.
                unsafe { i.run_raw(Some(ctx), regions, payload, options) }
                    .map(|r| (r.r0, Some(r.stats.instructions)))
            }
            // SAFETY: forwarded from this function's contract.
            Executor::Jit(_) => {
                unsafe { self.run(ctx, regions, payload, options) }.map(|r0| (r0, None))
            }
        }
    }

    /// Runs the program once with the context region `ctx` and the extra `regions`.
    ///
    /// # Safety
    /// Every region must be valid for reads (and writes if writable) for the whole run and
    /// not aliased by a live Rust reference (`Memory::add`'s contract).
    pub(crate) unsafe fn run(
        &mut self,
        ctx: Region,
        regions: &[Region],
        payload: &mut dyn std::any::Any,
        options: &RunOptions,
    ) -> Result<u64, ExecError> {
        match self {
            Executor::Interpreter(i) => {
                // SAFETY: forwarded from this function's contract.
                unsafe { i.run_raw(Some(ctx), regions, payload, options) }.map(|r| r.r0)
            }
            Executor::Jit(j) => {
                // SAFETY: forwarded from this function's contract; the code is a verified
                // program's, which touches only these regions and its own stack.
                unsafe { j.run_raw(Some(ctx), regions, payload) }
            }
        }
    }
}
