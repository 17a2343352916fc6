//! The checks behind the fuzz targets that run programs, and their regression tests: a
//! program with its maps runs through the runtime on each engine in a [`World`](crate::engines::World) (a socket,
//! the ops delivered to it, initial map contents). Whatever the verifier accepts must be
//! accepted for both engines and run without any fault in the checked interpreter for
//! every op; when strict mode accepts it too (no address leaks, so results cannot depend on
//! where memory lives) the interpreter and the JIT must decide exactly alike: return values,
//! reply, result, helper calls and their return codes, socket changes, the socket and the
//! maps afterwards.

use std::sync::Arc;

use arbitrary::Unstructured;
use sockops::cgroup::AttachFlags;
use sockops::ctx::ops::cb_flags;
use sockops::ctx::{OpInput, SockOp, Socket};
use sockops::runtime::{Engine, Runtime, Verdict};
use sockops::vm::{HelperTable, Insn, Map, MapDef, MapType, Program};
use sockops_verifier::{VerifyOptions, verify, verify_insns};

/// The verifier's processed-instruction limit for checked worlds: a program it cannot
/// judge within this many instructions is not run (the check says "not verified"). This
/// bounds what one input may cost (at the kernel's 1,000,000 a state-heavy program takes
/// about half a second even in a release build) without hiding anything the verifier
/// accepts: below the limit, the runtime's own verification (at the kernel's limit) reaches
/// the same verdict.
pub const WORLD_INSN_LIMIT: u64 = 100_000;

/// Helpers whose return value is an address (it differs between engines by design, so
/// only whether it is NULL is compared).
pub const POINTER_RETURNS: [u32; 5] = [1, 96, 107, 131, 195];

/// The map definitions of the raw-bytes fuzz target: an array (key 4, value 16, 4
/// entries) and a hash (key 8, value 8, 16 entries).
pub fn classic_maps() -> Vec<MapDef> {
    let def = |map_type, key_size, value_size, max_entries| MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    };
    vec![def(MapType::Array, 4, 16, 4), def(MapType::Hash, 8, 8, 16)]
}

/// The ops (with their args) the raw-bytes target runs, in order.
pub const CLASSIC_OPS: [(SockOp, [u32; 4]); 4] = [
    (SockOp::TimeoutInit, [0; 4]),
    (SockOp::TcpConnectCb, [0; 4]),
    (SockOp::RtoCb, [1, 100, 0, 0]),
    (SockOp::StateCb, [1, 4, 0, 0]),
];

/// The socket the raw-bytes target runs on: IPv4, every callback flag set.
pub fn classic_socket() -> Socket {
    let mut socket = Socket::new(
        "10.0.0.1:40000".parse().expect("address"),
        "10.1.2.3:443".parse().expect("address"),
    );
    socket.cb_flags = cb_flags::ALL;
    socket
}

/// Everything one checked run needs.
#[derive(Clone, Debug)]
pub struct World {
    /// The program.
    pub insns: Vec<Insn>,
    /// Its maps (LD_IMM64 map references are indices into this list).
    pub maps: Vec<MapDef>,
    /// The socket the ops are delivered on (each engine gets a copy).
    pub socket: Socket,
    /// The ops, in order.
    pub ops: Vec<OpInput>,
    /// Bytes the initial map contents are drawn from (`generator::world::fill_maps`).
    pub map_fill: Vec<u8>,
}

impl World {
    /// The raw-bytes target's world for `insns`: `classic_maps`, `classic_socket`,
    /// `CLASSIC_OPS`, empty maps.
    pub fn classic(insns: &[Insn]) -> World {
        World {
            insns: insns.to_vec(),
            maps: classic_maps(),
            socket: classic_socket(),
            ops: CLASSIC_OPS
                .iter()
                .map(|&(op, args)| OpInput::new(op).with_args(&args))
                .collect(),
            map_fill: Vec::new(),
        }
    }

    /// The world fuzzer bytes describe: the generators of `crate::generator` make the
    /// program (any kind; a quarter of the inputs get one instruction perturbed), then an
    /// arbitrary socket, op inputs and initial map contents follow from the rest. An input
    /// `0xff, n (u16 LE), n slots, ...` gives the program as slots instead (with
    /// `classic_maps`), which is how the seed corpora carry the project's own programs.
    pub fn from_bytes(data: &[u8]) -> World {
        use crate::generator::{self, Bytes, world};
        let mut u = Unstructured::new(data);
        // A program given as slots (the seed corpora hold the project's own programs so):
        // 0xff, the slot count (u16, little-endian), the slots; `classic_maps`.
        if let [0xff, lo, hi, rest @ ..] = data {
            let n = usize::from(u16::from_le_bytes([*lo, *hi]));
            if let Some(slots) = rest.get(..n * 8)
                && let Ok(insns) = Insn::slice_from_bytes(slots)
                && !insns.is_empty()
            {
                let mut u = Unstructured::new(&rest[n * 8..]);
                let socket = world::socket(&mut u);
                let ops = world::op_inputs(&mut u);
                let map_fill = u.bytes(u.len().min(256)).unwrap_or(&[]).to_vec();
                return World {
                    insns,
                    maps: classic_maps(),
                    socket,
                    ops,
                    map_fill,
                };
            }
        }
        let mutated = u.ratio(1, 4).unwrap_or(false);
        let generated = {
            let mut source = Bytes(&mut u);
            let mut g = generator::any(&mut source);
            if mutated {
                generator::mutate(&mut source, &mut g.insns);
            }
            g
        };
        let socket = world::socket(&mut u);
        let ops = world::op_inputs(&mut u);
        let map_fill = u.bytes(u.len().min(256)).unwrap_or(&[]).to_vec();
        World {
            insns: generated.insns,
            maps: generated.maps,
            socket,
            ops,
            map_fill,
        }
    }

    /// Whether the verifier accepts the program within [`WORLD_INSN_LIMIT`] processed
    /// instructions (as root, judging only as the kernel would).
    pub fn verifies_within_limit(&self) -> bool {
        let options = VerifyOptions {
            require_runtime_helpers: false,
            insn_limit: WORLD_INSN_LIMIT,
            ..VerifyOptions::default()
        };
        verify_insns(&self.insns, &self.maps, &HelperTable::new(), &options).is_ok()
    }

    /// Whether strict mode (a loader without CAP_PERFMON: no address leaks) accepts it.
    pub fn strict_accepts(&self) -> bool {
        let Ok(program) = self.program() else {
            return false;
        };
        let strict = VerifyOptions {
            strict: true,
            require_runtime_helpers: false,
            ..VerifyOptions::default()
        };
        verify(&program, &HelperTable::new(), &strict).is_ok()
    }

    /// The program with fresh maps, filled from `map_fill`.
    fn program(&self) -> Result<Program, String> {
        let maps: Vec<Arc<Map>> = self
            .maps
            .iter()
            .enumerate()
            .map(|(i, def)| Map::try_new(format!("map{i}"), *def).map(Arc::new))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        crate::generator::world::fill_maps(&mut Unstructured::new(&self.map_fill), &maps);
        Ok(Program {
            maps,
            license: "GPL".into(),
            ..Program::from_insns("checked", self.insns.clone())
        })
    }
}

/// What one op decided: return values, reply, replylong, result, the helpers called with
/// their return codes (NULL or not for pointer results), and the socket's changes.
pub type OpOutcome = (
    Vec<u64>,
    u32,
    [u32; 4],
    Option<i32>,
    Vec<(u32, i64)>,
    String,
);

/// What a run of every op decided, then the socket and each map's contents afterwards.
pub type Outcome = (Vec<OpOutcome>, String, Vec<Vec<(Vec<u8>, Vec<u8>)>>);

/// How a program failed a check.
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
    #[error("the engines decided differently:\n interpreter {interp:?}\n {engine} {jit:?}")]
    Differ {
        /// The machine-code engine (the JIT, or the JIT with checked memory).
        engine: Engine,
        /// The interpreter's outcome.
        interp: Box<Outcome>,
        /// The machine-code engine's outcome.
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

/// Loads the world's program for `engine` and delivers every op to a copy of its socket:
/// `Ok(Err(..))` if the runtime does not load it verified.
pub fn run_on(world: &World, engine: Engine) -> Result<Result<Outcome, NotRun>, EngineCheckError> {
    let program = match world.program() {
        Ok(program) => program,
        Err(e) => return Ok(Err(NotRun::LoadFailed(e))),
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
    let mut socket = world.socket.clone();
    let mut decisions = Vec::new();
    for input in &world.ops {
        let d =
            rt.call_input(input.clone(), &mut socket)
                .map_err(|e| EngineCheckError::RunFailed {
                    engine,
                    error: format!("{:?}: {e}", input.op),
                })?;
        let calls = d
            .helper_calls
            .iter()
            .map(|c| {
                let ret = if POINTER_RETURNS.contains(&c.id) {
                    i64::from(c.ret != 0)
                } else {
                    c.ret
                };
                (c.id, ret)
            })
            .collect();
        decisions.push((
            d.returns(),
            d.reply,
            d.replylong,
            d.result,
            calls,
            format!("{:?}", d.changes),
        ));
    }
    Ok(Ok((
        decisions,
        format!("{socket:?}"),
        maps.iter().map(|m| m.entries()).collect(),
    )))
}

/// The soundness check alone: `Ok(true)` if the verifier accepted the program and every op
/// ran without a fault in the checked interpreter and in the JIT with checked memory (each
/// confines every access to the run's regions and reports an escape as an error), `Ok(false)`
/// if it was not verified (or not within [`WORLD_INSN_LIMIT`]).
pub fn check_no_fault(world: &World) -> Result<bool, EngineCheckError> {
    if !world.verifies_within_limit() {
        return Ok(false);
    }
    if run_on(world, Engine::Interpreter)?.is_err() {
        return Ok(false);
    }
    match run_on(world, Engine::CheckedJit)? {
        Ok(_) => Ok(true),
        Err(NotRun::LoadFailed(error)) => Err(EngineCheckError::OneEngine(error)),
        Err(NotRun::NotVerified) => Err(EngineCheckError::OneEngine(
            "loaded for the checked JIT without being verified".to_string(),
        )),
    }
}

/// The whole check: soundness on the interpreter and on the JIT with checked memory, the
/// same verdict for the JITs, and the same decisions on all three when strict mode accepts
/// the program. `Ok(true)` if it was
/// verified and passed, `Ok(false)` if the verifier refused it.
pub fn check_world(world: &World) -> Result<bool, EngineCheckError> {
    if !world.verifies_within_limit() {
        return Ok(false);
    }
    let Ok(interp) = run_on(world, Engine::Interpreter)? else {
        return Ok(false);
    };
    // The JIT, and the JIT with checked memory: a verifier bug that the interpreter's
    // particular run did not step on still faults (not crashes) there, as a `RunFailed`.
    for engine in [Engine::Jit, Engine::CheckedJit] {
        let jit = match run_on(world, engine)? {
            Ok(jit) => jit,
            Err(NotRun::LoadFailed(error)) => return Err(EngineCheckError::OneEngine(error)),
            Err(NotRun::NotVerified) => {
                return Err(EngineCheckError::OneEngine(format!(
                    "loaded for {engine} without being verified"
                )));
            }
        };
        if interp != jit && world.strict_accepts() {
            return Err(EngineCheckError::Differ {
                engine,
                interp: Box::new(interp),
                jit: Box::new(jit),
            });
        }
    }
    Ok(true)
}

/// `check_world` in the raw-bytes target's world.
pub fn check_program(insns: &[Insn]) -> Result<bool, EngineCheckError> {
    check_world(&World::classic(insns))
}
