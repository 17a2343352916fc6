//! Timing one op on the runtime's programs, for `sockops bench`: the same op delivered many
//! times, each time to a fresh copy of the same socket (so every call does the same work),
//! with only the program runs inside the timed loop. Setting up the contexts, and everything
//! `Runtime::call_input` does around the runs (decisions, socket diffs), stays outside.

use std::time::{Duration, Instant};

use sockops_ctx::{OpInput, SockOpsEnv, Socket};
use sockops_vm::{Memory, Region, RegionKind};

use crate::runtime::{ProgId, Runtime, RuntimeError};

/// What [`Runtime::time_call`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedCall {
    /// Programs that ran per call (0 when the op is gated off or nothing is attached).
    pub programs: usize,
    /// Instructions the programs executed in one call, when every program runs in the
    /// interpreter (which counts them); `None` if any runs as machine code.
    pub instructions: Option<u64>,
    /// Helper calls the programs made in one call.
    pub helper_calls: usize,
    /// r0 of each program, in run order.
    pub returns: Vec<u64>,
    /// `reply` after the programs ran.
    pub reply: u32,
    /// Calls in the timed batch.
    pub calls: usize,
    /// Wall time of the timed batch (the program runs only).
    pub elapsed: Duration,
}

impl TimedCall {
    /// Nanoseconds per call.
    pub fn ns_per_call(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.calls.max(1) as f64
    }
}

/// One prepared call: its environment and the memory regions pointing into it.
struct Prepared {
    env: Box<SockOpsEnv>,
    ctx: Region,
    others: Vec<Region>,
}

impl Prepared {
    fn new(rt: &Runtime, input: &OpInput, socket: &Socket) -> Result<Prepared, RuntimeError> {
        let mut env = Box::new(SockOpsEnv::new(socket.clone(), input.clone()));
        env.clock = rt.clock;
        env.prng = rt.prng;
        env.task = rt.task;
        let mut memory = Memory::new();
        // SAFETY: `memory` only collects the regions (dropped below); they point into the
        // boxed `env`, whose heap allocation keeps its address when the `Prepared` moves, and
        // are used only while the `Prepared` (and so `env`) is alive.
        unsafe { env.add_regions(&mut memory) };
        let ctx = memory
            .regions()
            .iter()
            .copied()
            .find(|r| r.kind == RegionKind::Context)
            .ok_or_else(|| RuntimeError::Exec {
                program: String::new(),
                op: input.op.name().into(),
                source: Box::new(sockops_vm::ExecError::new(
                    0,
                    sockops_vm::ExecErrorKind::Unsupported("the op context has no memory"),
                )),
            })?;
        let others = memory
            .regions()
            .iter()
            .copied()
            .filter(|r| r.kind != RegionKind::Context)
            .collect();
        Ok(Prepared { env, ctx, others })
    }
}

impl Runtime {
    /// Delivers `input` to a copy of `socket` `calls + 1` times and times the last `calls`
    /// deliveries (the first one, untimed, counts instructions and helper calls). Every
    /// delivery starts from the same socket, clock and PRNG; `socket` and the runtime's clock
    /// and PRNG are left unchanged. Maps are shared, so what programs write to them persists,
    /// as it would over repeated real calls.
    pub fn time_call(
        &mut self,
        input: &OpInput,
        socket: &Socket,
        calls: usize,
    ) -> Result<TimedCall, RuntimeError> {
        let op = input.op;
        let progs: Vec<ProgId> = if op.is_enabled(socket.cb_flags, socket.options.sk_bpf_cb_flags) {
            self.effective(&socket.cgroup)?
        } else {
            Vec::new()
        };
        let mut probe = Prepared::new(self, input, socket)?;
        let mut instructions = Some(0u64);
        let mut returns = Vec::with_capacity(progs.len());
        for &id in &progs {
            let options = self.options;
            let p = &mut self.programs[id.0];
            // SAFETY: the regions point into `probe.env`, alive and not otherwise referenced
            // during the run (see `Prepared::new`).
            let r = unsafe {
                p.executor
                    .run_counted(probe.ctx, &probe.others, &mut *probe.env, &options)
            };
            let (r0, counted) = r.map_err(|source| RuntimeError::Exec {
                program: p.program.name.clone(),
                op: op.name().into(),
                source: Box::new(source),
            })?;
            instructions = instructions.zip(counted).map(|(a, b)| a + b);
            returns.push(r0);
        }
        let helper_calls = probe.env.calls.len();
        let reply = probe.env.finish().reply;

        let mut batch = (0..calls)
            .map(|_| Prepared::new(self, input, socket))
            .collect::<Result<Vec<_>, _>>()?;
        let options = self.options;
        let start = Instant::now();
        let mut failure = None;
        'calls: for call in &mut batch {
            for &id in &progs {
                let p = &mut self.programs[id.0];
                // SAFETY: as above, for this call's environment.
                let r = unsafe {
                    p.executor
                        .run(call.ctx, &call.others, &mut *call.env, &options)
                };
                if let Err(source) = r {
                    failure = Some(RuntimeError::Exec {
                        program: p.program.name.clone(),
                        op: op.name().into(),
                        source: Box::new(source),
                    });
                    break 'calls;
                }
            }
        }
        let elapsed = start.elapsed();
        self.release_deferred_map_values();
        if let Some(e) = failure {
            return Err(e);
        }
        drop(batch);
        Ok(TimedCall {
            programs: progs.len(),
            instructions: if progs.is_empty() {
                Some(0)
            } else {
                instructions
            },
            helper_calls,
            returns,
            reply,
            calls,
            elapsed,
        })
    }
}
