//! The check behind the `verified_programs_never_fault` fuzz target and its regression
//! tests: a raw program with two maps (an array and a hash) goes through the runtime on
//! each engine. Whatever the verifier accepts must be accepted for both engines, must run
//! without any fault in the checked interpreter for every op, and — when strict mode accepts
//! it too (no address leaks, so results cannot differ by where memory lives) — must decide
//! exactly alike on the interpreter and the JIT.

use std::sync::Arc;

use sockops::cgroup::AttachFlags;
use sockops::ctx::ops::cb_flags;
use sockops::ctx::{OpInput, SockOp, Socket};
use sockops::runtime::{Engine, Runtime, Verdict};
use sockops::vm::{HelperTable, Insn, Map, MapDef, MapType, Program};
use sockops_verifier::{VerifyOptions, verify};

/// The maps every checked program gets: an array (key 4, value 16, 4 entries) and a hash
/// (key 8, value 8, 16 entries).
pub fn maps() -> Vec<Arc<Map>> {
    let def = |map_type, key_size, value_size, max_entries| MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    };
    vec![
        Arc::new(Map::try_new("array", def(MapType::Array, 4, 16, 4)).expect("array map")),
        Arc::new(Map::try_new("hash", def(MapType::Hash, 8, 8, 16)).expect("hash map")),
    ]
}

/// What one op decided: return values, reply, result and the ids of the helpers called.
pub type OpOutcome = (Vec<u64>, u32, Option<i32>, Vec<u32>);

/// What a run of every op decided, then each map's contents.
pub type Outcome = (Vec<OpOutcome>, Vec<Vec<(Vec<u8>, Vec<u8>)>>);

/// The ops (with their args) every checked program runs for, in order.
pub const OPS: [(SockOp, [u32; 4]); 4] = [
    (SockOp::TimeoutInit, [0; 4]),
    (SockOp::TcpConnectCb, [0; 4]),
    (SockOp::RtoCb, [1, 100, 0, 0]),
    (SockOp::StateCb, [1, 4, 0, 0]),
];

/// The socket every checked program runs on: IPv4, every callback flag set.
pub fn socket() -> Socket {
    let mut socket = Socket::new(
        "10.0.0.1:40000".parse().expect("address"),
        "10.1.2.3:443".parse().expect("address"),
    );
    socket.cb_flags = cb_flags::ALL;
    socket
}

/// How a program failed the check.
#[derive(Debug, thiserror::Error)]
pub enum EngineCheckError {
    /// Verified when loaded for one engine and not for the other (or not loadable there).
    #[error("verified for one engine, not the other: {0}")]
    OneEngine(String),
    /// A verified program failed at run time (a verifier soundness bug).
    #[error("a verified program failed on {engine}: {error}")]
    RunFailed {
        /// The engine.
        engine: Engine,
        /// The run error.
        error: String,
    },
    /// The engines decided differently on a program strict mode accepts.
    #[error("the engines decided differently:\n interpreter {interp:?}\n JIT {jit:?}")]
    Differ {
        /// The interpreter's outcome.
        interp: Box<Outcome>,
        /// The JIT's outcome.
        jit: Box<Outcome>,
    },
}

/// Why `run_on` did not run a program.
#[derive(Debug)]
pub enum NotRun {
    /// The runtime did not load it (the verifier's or another load error, as text).
    LoadFailed(String),
    /// It loaded, but not as `Verdict::Verified`.
    NotVerified,
}

/// Loads `insns` (with fresh `maps()`) for `engine` and runs every op of `OPS` on a copy of
/// `socket`: `Ok(Err(..))` if the runtime does not load it verified.
pub fn run_on(
    insns: &[Insn],
    engine: Engine,
    socket: &Socket,
) -> Result<Result<Outcome, NotRun>, EngineCheckError> {
    let program = Program {
        maps: maps(),
        license: "GPL".into(),
        ..Program::from_insns("checked", insns.to_vec())
    };
    let maps = program.maps.clone();
    let mut rt = Runtime::new();
    rt.set_instruction_budget(None);
    let id = match rt.load_raw_program(program, engine) {
        Ok(id) => id,
        Err(error) => return Ok(Err(NotRun::LoadFailed(error.to_string()))),
    };
    let verified = rt
        .program_info(id)
        .map(|info| info.verdict == Verdict::Verified)
        .unwrap_or(false);
    if !verified {
        return Ok(Err(NotRun::NotVerified));
    }
    rt.attach(id, "/", AttachFlags::None)
        .map_err(|e| EngineCheckError::OneEngine(e.to_string()))?;
    let mut socket = socket.clone();
    let mut decisions = Vec::new();
    for (op, args) in OPS {
        let mut input = OpInput::new(op);
        input.args = args;
        let d = rt
            .call_input(input, &mut socket)
            .map_err(|e| EngineCheckError::RunFailed {
                engine,
                error: e.to_string(),
            })?;
        decisions.push((
            d.returns(),
            d.reply,
            d.result,
            d.helper_calls.iter().map(|c| c.id).collect(),
        ));
    }
    Ok(Ok((decisions, maps.iter().map(|m| m.entries()).collect())))
}

/// The whole check of one program: `Ok(true)` if it was verified and passed on both engines,
/// `Ok(false)` if the verifier refused it.
pub fn check_program(insns: &[Insn]) -> Result<bool, EngineCheckError> {
    let socket = socket();
    let Ok(interp) = run_on(insns, Engine::Interpreter, &socket)? else {
        return Ok(false);
    };
    let jit = match run_on(insns, Engine::Jit, &socket)? {
        Ok(jit) => jit,
        Err(NotRun::LoadFailed(error)) => return Err(EngineCheckError::OneEngine(error)),
        Err(NotRun::NotVerified) => {
            return Err(EngineCheckError::OneEngine(
                "loaded for the JIT without being verified".to_string(),
            ));
        }
    };
    let strict = VerifyOptions {
        strict: true,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let program = Program {
        maps: maps(),
        ..Program::from_insns("checked", insns.to_vec())
    };
    if verify(&program, &HelperTable::new(), &strict).is_ok() && interp != jit {
        return Err(EngineCheckError::Differ {
            interp: Box::new(interp),
            jit: Box::new(jit),
        });
    }
    Ok(true)
}
