//! `sockops exec`: run a raw program on memory in the checked interpreter.

use std::path::PathBuf;
use std::process::ExitCode;

use super::CliError;

/// Arguments of `sockops exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Raw program file (8-byte slots).
    file: PathBuf,
    /// Input memory as hex bytes (r1 points to it, r2 holds its length).
    #[arg(long)]
    mem: Option<String>,
}

/// Runs `sockops exec`.
pub fn run(args: ExecArgs) -> Result<ExitCode, CliError> {
    let _ = args;
    Err("the interpreter is not built yet".into())
}
