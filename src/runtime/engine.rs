//! Getting a program ready to run: the load-time checks (every instruction decodes; every
//! helper it calls is one sock_ops may call, this runtime provides, and its license allows;
//! no kfunc calls), the verifier step, and the engine that runs it.
//!
//! The verifier step is one function, [`verify_program`]. The `sockops-verifier` crate does
//! not expose a `verify` API yet, so today it reports [`Verdict::NotVerified`] and programs
//! run only in the checked interpreter, which bounds every memory access, jump and call and
//! stops runaway loops with an instruction budget. When the verifier lands, `verify_program`
//! calls it: a rejection becomes `RuntimeError::Rejected` with the verifier's message, an
//! acceptance `Verdict::Verified`, which the JIT requires.

use std::fmt;
use std::sync::Arc;

use sockops_ctx::check_helper;
use sockops_vm::{
    CallTarget, ExecError, HelperTable, Instruction, Interpreter, Program, Region, RunOptions,
    decode_program,
};

use crate::runtime::RuntimeError;

/// Which engine runs a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Engine {
    /// The checked interpreter (runs verified and unverified programs).
    #[default]
    Interpreter,
    /// The JIT (verified programs only).
    Jit,
}

impl Engine {
    /// Parses `interp` / `interpreter` or `jit`.
    pub fn parse(text: &str) -> Option<Engine> {
        match text {
            "interp" | "interpreter" => Some(Engine::Interpreter),
            "jit" => Some(Engine::Jit),
            _ => None,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Interpreter => "interpreter",
            Engine::Jit => "jit",
        })
    }
}

/// What the verifier said about a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The verifier accepted it.
    Verified,
    /// No verifier ran: the program may run only in the checked interpreter.
    NotVerified,
}

/// Runs the verifier on `program` (see the module docs): `Err(RuntimeError::Rejected)` with
/// the verifier's message when it rejects the program.
pub fn verify_program(_program: &Program, _helpers: &HelperTable) -> Result<Verdict, RuntimeError> {
    // The sockops-verifier crate exposes no `verify` function yet; this is the one call to
    // replace when it does (mapping its rejection to `RuntimeError::Rejected`).
    Ok(Verdict::NotVerified)
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
}

impl Executor {
    /// Prepares `program` for `engine`; `verdict` is what the verifier said.
    pub(crate) fn new(
        program: Arc<Program>,
        helpers: &HelperTable,
        engine: Engine,
        verdict: Verdict,
    ) -> Result<Executor, RuntimeError> {
        match engine {
            Engine::Interpreter => Interpreter::from_arc(program.clone(), helpers)
                .map(|i| Executor::Interpreter(Box::new(i)))
                .map_err(|e| RuntimeError::Exec {
                    program: program.name.clone(),
                    op: "load".into(),
                    source: Box::new(e),
                }),
            Engine::Jit => Err(RuntimeError::EngineUnavailable {
                program: program.name.clone(),
                engine,
                reason: match verdict {
                    Verdict::NotVerified => "the JIT runs only verified programs, and the verifier is not available yet; use the interpreter".into(),
                    Verdict::Verified => "the sockops-jit crate does not expose a safe compile API for verified programs yet; use the interpreter".into(),
                },
            }),
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
        }
    }
}
