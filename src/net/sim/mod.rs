//! `sockops simulate`: two smoltcp hosts in one process joined by a simulated link, with a
//! manual clock, deterministic for a seed. `format` holds the NET.toml contract and its
//! checks, `link` the link, `run` the event loop, `report` the table and the JSON lines,
//! `plot` the time-sequence graph.

pub mod format;
pub mod link;
pub mod plot;
pub mod report;
pub mod run;

pub use format::{NetFile, NetPlan, SimError};
pub use report::{render_json, render_table};
pub use run::{ConnectionReport, SideReport, SimReport, simulate};
