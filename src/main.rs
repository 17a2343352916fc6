//! The `sockops` command line: assemble, disassemble, execute, inspect, verify and replay
//! sock_ops programs. Each subcommand lives in its own module under `src/cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
