//! `sockops bench`: the cost of each event of a scenario on each engine. Every engine gets
//! its own runtime with the scenario's programs, and the events are delivered in order on
//! each, as `sockops run` delivers them; before an event is delivered, its op is timed on
//! every engine in interleaved rounds (each round one batch per engine, each call of a batch
//! on a fresh copy of the socket as it is at that event), and the minimum and median over
//! rounds are kept. A loaded machine slows every engine alike within a round, so the
//! minimum and the JIT/interpreter ratio stay put.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use sockops_ctx::Socket;

use crate::runtime::{Engine, Runtime, TimedCall};
use crate::scenario::prepare::{Scenario, ScenarioError};
use crate::scenario::replay::{event_input, load_programs};

/// How to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchOptions {
    /// Engines to time, in column order.
    pub engines: Vec<Engine>,
    /// Interleaved rounds per event.
    pub rounds: usize,
    /// Target duration of one timed batch (the number of calls per batch is calibrated to
    /// it, between 1 and `max_calls`).
    pub batch: Duration,
    /// Most calls in one batch.
    pub max_calls: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            engines: vec![Engine::Interpreter, Engine::Jit],
            rounds: 10,
            batch: Duration::from_micros(300),
            max_calls: 2000,
        }
    }
}

/// One engine's timing of one event.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineTiming {
    /// The engine.
    pub engine: Engine,
    /// Fastest round, ns per call.
    pub min_ns: f64,
    /// Median round, ns per call.
    pub median_ns: f64,
    /// Calls per batch.
    pub calls: usize,
    /// Helper calls in one call of the op.
    pub helper_calls: usize,
    /// r0 of each program.
    pub returns: Vec<u64>,
    /// `reply` after the programs ran.
    pub reply: u32,
}

/// One event's row.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTiming {
    /// Event index in the file.
    pub index: usize,
    /// The op's name.
    pub op: &'static str,
    /// Socket name.
    pub socket: String,
    /// Programs that ran per call.
    pub programs: usize,
    /// Instructions executed per call (counted by the interpreter; `None` when it is not
    /// among the engines).
    pub instructions: Option<u64>,
    /// Per engine, in `BenchOptions::engines` order.
    pub engines: Vec<EngineTiming>,
}

impl EventTiming {
    /// The JIT's minimum over the interpreter's, when both were timed.
    pub fn jit_over_interpreter(&self) -> Option<f64> {
        let of = |e| {
            self.engines
                .iter()
                .find(|t| t.engine == e)
                .map(|t| t.min_ns)
        };
        Some(of(Engine::Jit)? / of(Engine::Interpreter)?)
    }
}

/// The whole measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// Engines timed.
    pub engines: Vec<Engine>,
    /// Rounds per event.
    pub rounds: usize,
    /// One row per event, in file order.
    pub events: Vec<EventTiming>,
}

/// Times every event of `scenario` on `options.engines`.
pub fn bench(scenario: &Scenario, options: &BenchOptions) -> Result<BenchReport, ScenarioError> {
    let mut runtimes: Vec<(Engine, Runtime, Vec<Socket>, Vec<u32>)> = Vec::new();
    for &engine in &options.engines {
        let mut rt = Runtime::new();
        rt.set_seed(scenario.seed);
        load_programs(&mut rt, &scenario.programs, engine)?;
        let sockets: Vec<Socket> = scenario.sockets.iter().map(|(_, s)| s.clone()).collect();
        let reserved = vec![0; sockets.len()];
        runtimes.push((engine, rt, sockets, reserved));
    }
    let rounds = options.rounds.max(1);
    let mut events = Vec::with_capacity(scenario.events.len());
    for (index, ev) in scenario.events.iter().enumerate() {
        let place = format!("event {index}");
        let runtime_error = |source| ScenarioError::Runtime {
            place: place.clone(),
            source: Box::new(source),
        };
        // Each engine's socket as it is when the event arrives.
        let mut inputs = Vec::with_capacity(runtimes.len());
        for (_, _, sockets, reserved) in &mut runtimes {
            let socket = &mut sockets[ev.socket];
            for (field, value) in &ev.set {
                socket
                    .set_field(field, *value)
                    .map_err(|e| ScenarioError::Invalid {
                        place: place.clone(),
                        message: format!("set: {e}"),
                    })?;
            }
            inputs.push(event_input(ev, socket, reserved[ev.socket]));
        }
        // Calibrate each engine's batch, then interleave the rounds.
        let mut calls = Vec::with_capacity(runtimes.len());
        for ((_, rt, sockets, _), input) in runtimes.iter_mut().zip(&inputs) {
            let socket = &sockets[ev.socket];
            let mut n = 1usize;
            loop {
                let t = rt.time_call(input, socket, n).map_err(runtime_error)?;
                if t.elapsed >= options.batch || n >= options.max_calls {
                    break;
                }
                n = (n * 4).min(options.max_calls);
            }
            calls.push(n);
        }
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); runtimes.len()];
        let mut last: Vec<Option<TimedCall>> = vec![None; runtimes.len()];
        for _ in 0..rounds {
            for (i, ((_, rt, sockets, _), input)) in runtimes.iter_mut().zip(&inputs).enumerate() {
                let t = rt
                    .time_call(input, &sockets[ev.socket], calls[i])
                    .map_err(runtime_error)?;
                samples[i].push(t.ns_per_call());
                last[i] = Some(t);
            }
        }
        let mut row = EventTiming {
            index,
            op: ev.op.name(),
            socket: scenario.sockets[ev.socket].0.clone(),
            programs: 0,
            instructions: None,
            engines: Vec::with_capacity(runtimes.len()),
        };
        for (i, (engine, _, _, _)) in runtimes.iter().enumerate() {
            let Some(t) = last[i].take() else { continue };
            row.programs = t.programs;
            if *engine == Engine::Interpreter {
                row.instructions = t.instructions;
            }
            let s = &mut samples[i];
            s.sort_by(f64::total_cmp);
            row.engines.push(EngineTiming {
                engine: *engine,
                min_ns: s[0],
                median_ns: s[s.len() / 2],
                calls: calls[i],
                helper_calls: t.helper_calls,
                returns: t.returns,
                reply: t.reply,
            });
        }
        events.push(row);
        // Deliver the event for real, so the next one sees the socket it changed.
        for (_, rt, sockets, reserved) in &mut runtimes {
            let socket = &mut sockets[ev.socket];
            let input = event_input(ev, socket, reserved[ev.socket]);
            let decision = rt.call_input(input, socket).map_err(runtime_error)?;
            if let Some(r) = decision
                .write_back
                .as_ref()
                .and_then(|w| w.hdr_opt_reserved)
            {
                reserved[ev.socket] = r;
            }
        }
    }
    Ok(BenchReport {
        engines: options.engines.clone(),
        rounds,
        events,
    })
}

/// Short engine name for tables and JSON keys.
fn engine_key(engine: Engine) -> &'static str {
    match engine {
        Engine::Interpreter => "interp",
        Engine::Jit => "jit",
        Engine::CheckedJit => "jit-checked",
    }
}

/// The readable table: one row per event.
pub fn render_bench_table(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ns per call: minimum and median of {} interleaved rounds; each call on a fresh copy of the socket",
        report.rounds
    );
    let mut header = format!(
        "{:>3}  {:<22} {:<10} {:>5} {:>7}",
        "#", "op", "socket", "insns", "helpers"
    );
    for e in &report.engines {
        let _ = write!(header, "  {:>17}", format!("{} min/med", engine_key(*e)));
    }
    if report.engines.len() > 1 {
        header.push_str("  jit/interp");
    }
    let _ = writeln!(out, "{header}");
    for ev in &report.events {
        let insns = ev
            .instructions
            .map_or_else(|| "-".to_string(), |n| n.to_string());
        let helpers = ev.engines.first().map_or(0, |t| t.helper_calls);
        let mut line = format!(
            "{:>3}  {:<22} {:<10} {:>5} {:>7}",
            ev.index, ev.op, ev.socket, insns, helpers
        );
        for t in &ev.engines {
            let _ = write!(
                line,
                "  {:>17}",
                format!("{:.1}/{:.1}", t.min_ns, t.median_ns)
            );
        }
        if report.engines.len() > 1 {
            match ev.jit_over_interpreter() {
                Some(r) if ev.programs > 0 => {
                    let _ = write!(line, "  {r:>9.2}x");
                }
                _ => line.push_str("          -"),
            }
        }
        if ev.programs == 0 {
            line.push_str("  (no program runs)");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// One engine's numbers in the JSON output.
#[derive(Serialize)]
struct JsonEngine<'a> {
    min_ns: f64,
    median_ns: f64,
    calls_per_batch: usize,
    helper_calls: usize,
    returns: &'a [u64],
    reply: u32,
}

/// One event in the JSON output.
#[derive(Serialize)]
struct JsonEvent<'a> {
    event: usize,
    op: &'a str,
    socket: &'a str,
    programs: usize,
    instructions: Option<u64>,
    engines: BTreeMap<&'static str, JsonEngine<'a>>,
    jit_over_interp: Option<f64>,
}

/// One JSON object per event: `event`, `op`, `socket`, `programs`, `instructions`,
/// `engines` (per engine key `interp`/`jit`: `min_ns`, `median_ns`, `calls_per_batch`,
/// `helper_calls`, `returns`, `reply`) and `jit_over_interp`.
pub fn render_bench_json(report: &BenchReport) -> String {
    let mut out = String::new();
    for ev in &report.events {
        let engines = ev
            .engines
            .iter()
            .map(|t| {
                let engine = JsonEngine {
                    min_ns: t.min_ns,
                    median_ns: t.median_ns,
                    calls_per_batch: t.calls,
                    helper_calls: t.helper_calls,
                    returns: &t.returns,
                    reply: t.reply,
                };
                (engine_key(t.engine), engine)
            })
            .collect();
        let line = JsonEvent {
            event: ev.index,
            op: ev.op,
            socket: &ev.socket,
            programs: ev.programs,
            instructions: ev.instructions,
            engines,
            jit_over_interp: ev.jit_over_interpreter().filter(|_| ev.programs > 0),
        };
        match serde_json::to_string(&line) {
            Ok(text) => {
                out.push_str(&text);
                out.push('\n');
            }
            Err(e) => {
                let _ = writeln!(out, "{{\"error\":\"{e}\"}}");
            }
        }
    }
    out
}
