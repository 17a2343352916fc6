//! Connection scenarios: a TOML script of programs, sockets and events that `sockops run`
//! replays through the runtime. `format` holds the file format (the contract), `prepare`
//! checks a file and resolves its names, `replay` runs it, `report` renders the readable
//! table and the JSON lines.

pub mod format;
pub mod prepare;
pub mod replay;
pub mod report;

pub use format::{
    EventSpec, FormatError, OpSpec, ProgramSpec, ScenarioFile, SocketSpec, SysctlValue,
};
pub use prepare::{EventPlan, ProgramPlan, Scenario, ScenarioError};
pub use replay::{AttachedProgram, EventOutcome, MapDump, Replay, replay};
pub use report::{hex, render_json, render_table};
