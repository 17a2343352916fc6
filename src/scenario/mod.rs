//! Connection scenarios: a TOML script of programs, sockets and events that `sockops run`
//! replays through the runtime. `format` holds the file format (the contract), `prepare`
//! checks a file and resolves its names, `replay` runs it, `report` renders the readable
//! table and the JSON lines, `bench` times each event on each engine (`sockops bench`).

pub mod bench;
pub mod format;
pub mod prepare;
pub mod replay;
pub mod report;

pub use format::{
    EventSpec, FormatError, OpSpec, ProgramSpec, ScenarioFile, SocketSpec, SysctlValue,
};
pub use prepare::{EventPlan, ProgramPlan, Scenario, ScenarioError, program_plans, sysctls_from};
pub use replay::{
    AttachedProgram, EventOutcome, MapDump, Replay, dump_maps, load_programs, op_input, replay,
};
pub use report::{hex, render_json, render_maps_json, render_table};

use std::path::Path;

use crate::runtime::Engine;

/// What `sockops run` prints for the scenario at `path`: the table, or the JSON lines with
/// `json`. The replay completes before any text exists, so an error means no output at all.
pub fn run_scenario_file(
    path: &Path,
    engine: Engine,
    seed: Option<u64>,
    json: bool,
) -> Result<String, ScenarioError> {
    let scenario = Scenario::read(path)?;
    run_scenario(&scenario, engine, seed, json)
}

/// What `sockops run` prints for `scenario` (see [`run_scenario_file`]).
pub fn run_scenario(
    scenario: &Scenario,
    engine: Engine,
    seed: Option<u64>,
    json: bool,
) -> Result<String, ScenarioError> {
    let result = replay(scenario, engine, seed)?;
    Ok(if json {
        render_json(&result)
    } else {
        render_table(&result)
    })
}
