//! The runtime an embedder uses: load an object -> pick a program -> verify -> choose the
//! engine -> attach to a cgroup path -> `call(op, &mut Socket)` -> a [`Decision`].
//!
//! ```no_run
//! use sockops::cgroup::AttachFlags;
//! use sockops::ctx::{SockOp, Socket};
//! use sockops::runtime::{Engine, Runtime};
//!
//! let mut rt = Runtime::new();
//! let obj = rt.load_object_file("examples/syn_rto.o").unwrap();
//! let prog = rt.load_program(obj, Some("sockops"), Engine::Interpreter).unwrap();
//! rt.attach(prog, "/", AttachFlags::None).unwrap();
//! let mut sock = Socket::new("10.0.0.1:40000".parse().unwrap(), "10.1.2.3:443".parse().unwrap());
//! let decision = rt.call(SockOp::TimeoutInit, &mut sock).unwrap();
//! println!("SYN RTO: {:?} jiffies", decision.result);
//! ```
//!
//! Semantics (SOCK_OPS.md §2-4, kernel `tcp_call_bpf` and `__cgroup_bpf_run_filter_sock_ops`):
//! an op gated by a callback flag the socket lacks runs no program; otherwise the effective
//! programs of the socket's cgroup (the [`CgroupTree`] rules) run in order on one shared
//! context, so a `reply` written by one is seen by the next; the kernel's caller gets the
//! reply when every program returned 1, else -1. Helpers change the socket; `sk_txhash`
//! writes apply on locked sockets. Programs loaded from one object share its maps.
//!
//! Modules: `engine` (load-time checks, verifier step, engines), `decision` (what an op
//! returns), `helper_log` (the helper table, every call logged), `error`.

mod decision;
mod engine;
mod error;
mod helper_log;
mod timing;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sockops_ctx::{Clock, CurrentTask, OpInput, Prng, SockOp, SockOpsEnv, Socket};
use sockops_vm::elf::Object;
use sockops_vm::{HelperTable, Map, Memory, Program, RegionKind, RunOptions, VerifiedProgram};

use crate::cgroup::{AttachFlags, CgroupTree};

pub use decision::{Decision, FieldChange, OptionChange, ProgramRun, SocketChanges};
pub use engine::{Engine, Verdict, Verification, check_program, is_gpl_compatible, verify_program};
pub use error::RuntimeError;
pub use helper_log::runtime_helper_table;
pub use timing::TimedCall;

/// Instructions one program run may execute in the checked interpreter unless changed with
/// [`Runtime::set_instruction_budget`] (a stand-in for the verifier's termination proof).
pub const DEFAULT_INSTRUCTION_BUDGET: u64 = 10_000_000;

/// A loaded object, by the order objects were loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub usize);

/// A loaded program, by the order programs were loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgId(pub usize);

/// What the cgroup tree holds: the program id (identity) and its name (for messages).
#[derive(Clone, Debug)]
struct AttachedProg {
    id: ProgId,
    name: Arc<str>,
}

impl PartialEq for AttachedProg {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl fmt::Display for AttachedProg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// One loaded object: its programs and maps.
#[derive(Debug)]
struct LoadedObject {
    object: Object,
    /// The prog-array slots the object initialises have been filled (`fill_prog_arrays`).
    prog_arrays_filled: bool,
}

/// One loaded program, ready to run.
#[derive(Debug)]
struct LoadedProgram {
    program: Arc<Program>,
    object: Option<ObjectId>,
    verdict: Verdict,
    /// The verifier's proof, for prog arrays the JIT tail-calls through.
    verified: Option<VerifiedProgram>,
    /// Why the verifier could not judge the program (`Verdict::NotVerified`).
    not_verified_reason: Option<String>,
    engine: Engine,
    executor: engine::Executor,
}

/// Facts about a loaded program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    /// Function name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// The object it came from (`None` for raw programs).
    pub object: Option<ObjectId>,
    /// What the verifier said.
    pub verdict: Verdict,
    /// Why the verifier could not judge it (only for `Verdict::NotVerified`).
    pub not_verified_reason: Option<String>,
    /// The engine that runs it.
    pub engine: Engine,
}

/// The sock_ops runtime: loaded objects and programs, the cgroup attach tree, the helper
/// table, and the clock, PRNG and current task helpers read (kept across calls, so runs are
/// reproducible).
#[derive(Debug)]
pub struct Runtime {
    helpers: HelperTable,
    objects: Vec<LoadedObject>,
    programs: Vec<LoadedProgram>,
    tree: CgroupTree<AttachedProg>,
    clock: Clock,
    prng: Prng,
    task: CurrentTask,
    options: RunOptions,
}

impl Drop for Runtime {
    /// Empties every prog array the runtime's programs can reach: a slot holds its program,
    /// whose map list holds the prog array, so the cycle would otherwise keep both alive
    /// (the kernel breaks it the same way when the last user reference to a prog array goes).
    fn drop(&mut self) {
        let object_maps = self.objects.iter().flat_map(|o| o.object.maps());
        let program_maps = self.programs.iter().flat_map(|p| p.program.maps.iter());
        for map in object_maps.chain(program_maps) {
            // One pass under one lock: a slot per index would take seconds for a prog array
            // of millions of entries (a fuzzed object had one).
            map.prog_array_clear();
        }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Runtime {
    /// A runtime with every sock_ops helper this crate provides, a default clock and the
    /// PRNG seeded with 0.
    pub fn new() -> Runtime {
        Runtime {
            helpers: runtime_helper_table(),
            objects: Vec::new(),
            programs: Vec::new(),
            tree: CgroupTree::new(),
            clock: Clock::default(),
            prng: Prng::new(0),
            task: CurrentTask::default(),
            options: RunOptions {
                instruction_budget: Some(DEFAULT_INSTRUCTION_BUDGET),
            },
        }
    }

    /// Reseeds `bpf_get_prandom_u32`.
    pub fn set_seed(&mut self, seed: u64) {
        self.prng = Prng::new(seed);
    }

    /// Sets the clock `bpf_ktime_get_*_ns` read.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The clock as it is now.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Sets the task programs run "in": what `bpf_get_current_pid_tgid`, `_uid_gid`,
    /// `_cgroup_id`, `_comm` and `bpf_get_current_task_btf` report (default: the idle task).
    pub fn set_current_task(&mut self, task: CurrentTask) {
        self.task = task;
    }

    /// The task programs run "in".
    pub fn current_task(&self) -> CurrentTask {
        self.task
    }

    /// Sets the interpreter's per-run instruction budget (`None`: unlimited, only sound for
    /// verified programs).
    pub fn set_instruction_budget(&mut self, budget: Option<u64>) {
        self.options.instruction_budget = budget;
    }

    /// The helper table programs are checked against and call through.
    pub fn helpers(&self) -> &HelperTable {
        &self.helpers
    }

    /// Reads and parses a BPF ELF object; its name is the file name up to the first `.`.
    pub fn load_object_file(&mut self, path: impl AsRef<Path>) -> Result<ObjectId, RuntimeError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = sockops_vm::elf::object_name_from_path(&path.to_string_lossy());
        self.load_object_bytes(&name, &bytes)
    }

    /// Parses a BPF ELF object from its bytes under the object name `name`.
    pub fn load_object_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
    ) -> Result<ObjectId, RuntimeError> {
        let object = Object::parse(name, bytes).map_err(|source| RuntimeError::Elf {
            object: name.to_string(),
            source: Box::new(source),
        })?;
        self.objects.push(LoadedObject {
            object,
            prog_arrays_filled: false,
        });
        Ok(ObjectId(self.objects.len() - 1))
    }

    fn object(&self, id: ObjectId) -> Result<&LoadedObject, RuntimeError> {
        self.objects
            .get(id.0)
            .ok_or(RuntimeError::UnknownObject(id.0))
    }

    /// The name of object `id`.
    pub fn object_name(&self, id: ObjectId) -> Result<&str, RuntimeError> {
        Ok(self.object(id)?.object.name())
    }

    /// The function name of the program `selector` picks from object `obj` (see
    /// [`Runtime::load_program`]), without loading it.
    pub fn select_program(
        &self,
        obj: ObjectId,
        selector: Option<&str>,
    ) -> Result<String, RuntimeError> {
        Ok(select_program(&self.object(obj)?.object, selector)?
            .name
            .clone())
    }

    /// Loads a program of object `obj`: `selector` is a section name or a function name
    /// (optional when the object has one program). Checks it, verifies it and prepares it
    /// for `engine`.
    pub fn load_program(
        &mut self,
        obj: ObjectId,
        selector: Option<&str>,
        engine: Engine,
    ) -> Result<ProgId, RuntimeError> {
        let object = &self.object(obj)?.object;
        let program = select_program(object, selector)?.clone();
        let id = self.add_program(program, Some(obj), engine)?;
        self.fill_prog_arrays(obj, id, engine)?;
        Ok(id)
    }

    /// Fills the prog-array slots object `obj` initialises (`.values = { [i] = &prog }`),
    /// as libbpf does when it loads an object: the first time one of its programs is loaded
    /// (`just_loaded`), every program those slots name is loaded with `engine` — verified
    /// like any other — and stored in its slot.
    fn fill_prog_arrays(
        &mut self,
        obj: ObjectId,
        just_loaded: ProgId,
        engine: Engine,
    ) -> Result<(), RuntimeError> {
        let o = self.object(obj)?;
        if o.prog_arrays_filled {
            return Ok(());
        }
        let inits = o.object.prog_array_inits().to_vec();
        let mut loaded = vec![(self.loaded(just_loaded)?.program.name.clone(), just_loaded)];
        for init in inits {
            let id = match loaded.iter().find(|(name, _)| *name == init.program) {
                Some((_, id)) => *id,
                None => {
                    let program =
                        select_program(&self.object(obj)?.object, Some(&init.program))?.clone();
                    let id = self.add_program(program, Some(obj), engine)?;
                    loaded.push((init.program.clone(), id));
                    id
                }
            };
            self.set_tail_call(obj, &init.map, init.index, Some(id))?;
        }
        self.objects[obj.0].prog_arrays_filled = true;
        Ok(())
    }

    /// Loads a program that did not come from an object (its maps, if any, are its own).
    pub fn load_raw_program(
        &mut self,
        program: Program,
        engine: Engine,
    ) -> Result<ProgId, RuntimeError> {
        self.add_program(program, None, engine)
    }

    fn add_program(
        &mut self,
        program: Program,
        object: Option<ObjectId>,
        engine: Engine,
    ) -> Result<ProgId, RuntimeError> {
        check_program(&program, &self.helpers)?;
        let program = Arc::new(program);
        let verification = verify_program(&program, &self.helpers)?;
        let executor =
            engine::Executor::new(program.clone(), &self.helpers, engine, &verification)?;
        let (verdict, verified, not_verified_reason) = match verification {
            Verification::Verified(v) => {
                (Verdict::Verified, Some(v.verified_program().clone()), None)
            }
            Verification::NotVerified { reason } => (Verdict::NotVerified, None, Some(reason)),
        };
        self.programs.push(LoadedProgram {
            program,
            object,
            verdict,
            verified,
            not_verified_reason,
            engine,
            executor,
        });
        Ok(ProgId(self.programs.len() - 1))
    }

    fn loaded(&self, id: ProgId) -> Result<&LoadedProgram, RuntimeError> {
        self.programs
            .get(id.0)
            .ok_or(RuntimeError::UnknownProgram(id.0))
    }

    /// Facts about program `id`.
    pub fn program_info(&self, id: ProgId) -> Result<ProgramInfo, RuntimeError> {
        let p = self.loaded(id)?;
        Ok(ProgramInfo {
            name: p.program.name.clone(),
            section: p.program.section.clone(),
            object: p.object,
            verdict: p.verdict,
            not_verified_reason: p.not_verified_reason.clone(),
            engine: p.engine,
        })
    }

    /// Attaches program `id` to the cgroup at `path` with `flags`, by the kernel's rules.
    pub fn attach(
        &mut self,
        id: ProgId,
        path: &str,
        flags: AttachFlags,
    ) -> Result<(), RuntimeError> {
        let name: Arc<str> = self.loaded(id)?.program.name.as_str().into();
        self.tree
            .attach(
                path,
                AttachedProg {
                    id,
                    name: name.clone(),
                },
                flags,
            )
            .map_err(|source| RuntimeError::Attach {
                program: name.to_string(),
                source,
            })
    }

    /// Detaches program `id` from the cgroup at `path` (`BPF_PROG_DETACH` rules).
    pub fn detach(&mut self, id: ProgId, path: &str) -> Result<(), RuntimeError> {
        let name: Arc<str> = self.loaded(id)?.program.name.as_str().into();
        let prog = AttachedProg {
            id,
            name: name.clone(),
        };
        self.tree
            .detach(path, Some(&prog))
            .map_err(|source| RuntimeError::Attach {
                program: name.to_string(),
                source,
            })
    }

    /// The programs that run for a socket in the cgroup at `path`, in run order.
    pub fn effective(&self, path: &str) -> Result<Vec<ProgId>, RuntimeError> {
        let progs = self.tree.effective(path).map_err(RuntimeError::BadCgroup)?;
        Ok(progs.into_iter().map(|p| p.id).collect())
    }

    /// The map `name` of object `obj` (a map symbol, or a global data map such as
    /// `syn_rto.bss`). Read it with `Map::lookup` / `Map::entries`.
    pub fn map(&self, obj: ObjectId, name: &str) -> Option<&Map> {
        let o = self.objects.get(obj.0)?;
        o.object.map(name).ok().map(|m| &**m)
    }

    /// Puts program `prog` (or nothing, with `None`) in slot `index` of the prog array `map`
    /// of object `obj`, as user space fills a tail-call table with `bpf_map_update_elem`.
    /// The program passed the same load-time checks as every loaded program.
    pub fn set_tail_call(
        &mut self,
        obj: ObjectId,
        map: &str,
        index: u32,
        prog: Option<ProgId>,
    ) -> Result<(), RuntimeError> {
        let loaded = prog.map(|id| self.loaded(id)).transpose()?;
        let object = &self.object(obj)?.object;
        let m = object.map(map).map_err(|_| RuntimeError::NoSuchMap {
            object: object.name().to_string(),
            map: map.to_string(),
        })?;
        // A verified program goes in as verified, so JIT code may tail-call into it.
        match loaded {
            Some(LoadedProgram {
                verified: Some(v), ..
            }) => m.prog_array_set_verified(index, v),
            other => m.prog_array_set(index, other.map(|p| p.program.clone())),
        }
        .map_err(|source| RuntimeError::Map {
            object: object.name().to_string(),
            map: map.to_string(),
            source: Box::new(source),
        })
    }

    /// Every map of every loaded object, in load order, with its object's id.
    pub fn maps(&self) -> impl Iterator<Item = (ObjectId, &Map)> {
        self.objects
            .iter()
            .enumerate()
            .flat_map(|(i, o)| o.object.maps().iter().map(move |m| (ObjectId(i), &**m)))
    }

    /// Delivers `op` (no args, no skb) to `socket`'s cgroup programs. See [`Runtime::call_input`].
    pub fn call(&mut self, op: SockOp, socket: &mut Socket) -> Result<Decision, RuntimeError> {
        self.call_input(OpInput::new(op), socket)
    }

    /// Delivers the op `input` to `socket` as the kernel would: if the socket's callback flags
    /// enable it, runs the effective programs of `socket.cgroup` in order on one shared
    /// context, then applies what they changed to `socket`. On an error (only possible for
    /// unverified programs) the socket is left as it was.
    pub fn call_input(
        &mut self,
        input: OpInput,
        socket: &mut Socket,
    ) -> Result<Decision, RuntimeError> {
        let op = input.op;
        let enabled = op.is_enabled(socket.cb_flags, socket.options.sk_bpf_cb_flags);
        let progs = if enabled {
            self.effective(&socket.cgroup)?
        } else {
            Vec::new()
        };
        if progs.is_empty() {
            return Ok(Decision {
                op,
                enabled,
                runs: Vec::new(),
                reply: input.args[0],
                replylong: input.args,
                result: None,
                helper_calls: Vec::new(),
                trace: Vec::new(),
                perf: Vec::new(),
                write_back: None,
                changes: SocketChanges::default(),
            });
        }
        let mut env = SockOpsEnv::new(socket.clone(), input);
        env.clock = self.clock;
        env.prng = self.prng;
        env.task = self.task;
        let mut memory = Memory::new();
        // SAFETY: `memory` is dropped at the end of this function, before `env`.
        unsafe { env.add_regions(&mut memory) };
        let ctx_region = memory
            .regions()
            .iter()
            .copied()
            .find(|r| r.kind == RegionKind::Context);
        let others: Vec<_> = memory
            .regions()
            .iter()
            .copied()
            .filter(|r| r.kind != RegionKind::Context)
            .collect();
        let Some(ctx_region) = ctx_region else {
            return Err(RuntimeError::Exec {
                program: String::new(),
                op: op.name().into(),
                source: Box::new(sockops_vm::ExecError::new(
                    0,
                    sockops_vm::ExecErrorKind::Unsupported("the op context has no memory"),
                )),
            });
        };
        let mut runs = Vec::with_capacity(progs.len());
        let mut outcome = Ok(());
        for id in progs {
            let options = self.options;
            let p = &mut self.programs[id.0];
            // SAFETY: the regions are the op context's buffers owned by `env`, which lives
            // until after the run; they are only accessed through raw pointers (by the guest
            // and the helpers), never through Rust references.
            let r = unsafe { p.executor.run(ctx_region, &others, &mut env, &options) };
            match r {
                Ok(ret) => runs.push(ProgramRun {
                    id,
                    name: p.program.name.clone(),
                    ret,
                }),
                Err(source) => {
                    outcome = Err(RuntimeError::Exec {
                        program: p.program.name.clone(),
                        op: op.name().into(),
                        source: Box::new(source),
                    });
                    break;
                }
            }
        }
        self.release_deferred_map_values();
        self.clock = env.clock;
        self.prng = env.prng;
        outcome?;
        drop(memory);
        let write_back = env.finish();
        let changes = SocketChanges::between(socket, &env.socket);
        let result = Decision::kernel_result(&runs, write_back.reply);
        let SockOpsEnv {
            socket: after,
            calls,
            trace,
            perf,
            ..
        } = env;
        *socket = after;
        Ok(Decision {
            op,
            enabled,
            runs,
            reply: write_back.reply,
            replylong: write_back.replylong,
            result,
            helper_calls: calls,
            trace,
            perf,
            write_back: Some(write_back),
            changes,
        })
    }
}

impl Runtime {
    /// Frees the map values deleted during the runs that just ended: no pointer a program
    /// obtained can be used any more. Called after every batch of runs.
    fn release_deferred_map_values(&self) {
        for m in self.objects.iter().flat_map(|o| o.object.maps()) {
            // SAFETY: no run is in progress (callers hold `&mut self`, and programs of this
            // runtime only run inside its methods); maps are not handed out as `Arc`s.
            unsafe { m.release_deferred() };
        }
    }
}

/// Picks the program `selector` names (section first, then function name) from `object`,
/// or its only program when `selector` is `None`.
pub(crate) fn select_program<'a>(
    object: &'a Object,
    selector: Option<&str>,
) -> Result<&'a Program, RuntimeError> {
    let list = |progs: &[&Program]| {
        progs
            .iter()
            .map(|p| format!("{} ({})", p.name, p.section))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all: Vec<&Program> = object.programs().iter().collect();
    let (wanted, matches): (String, Vec<&Program>) = match selector {
        None => ("(none named)".into(), all.clone()),
        Some(s) => {
            let by_section: Vec<&Program> =
                all.iter().copied().filter(|p| p.section == s).collect();
            let found = if by_section.is_empty() {
                all.iter().copied().filter(|p| p.name == s).collect()
            } else {
                by_section
            };
            (format!("{s:?}"), found)
        }
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(RuntimeError::NoSuchProgram {
            object: object.name().to_string(),
            wanted: if selector.is_some() {
                format!("with section or name {wanted}")
            } else {
                "at all".into()
            },
            available: if all.is_empty() {
                "none".into()
            } else {
                list(&all)
            },
        }),
        many => Err(RuntimeError::AmbiguousProgram {
            object: object.name().to_string(),
            wanted,
            count: many.len(),
            available: list(many),
        }),
    }
}
