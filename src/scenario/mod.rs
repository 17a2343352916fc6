//! Connection scenarios: a TOML script of programs, sockets and events that `sockops run`
//! replays through the runtime. `format` holds the file format.

pub mod format;

pub use format::{
    EventSpec, FormatError, OpSpec, ProgramSpec, ScenarioFile, SocketSpec, SysctlValue,
};
