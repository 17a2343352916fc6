//! Argument parsing and dispatch of the `sockops` subcommands. Every subcommand prints its
//! errors on stderr and returns a non-zero exit code; none panics on bad input.

mod asm;
mod bench;
mod compare;
mod exec;
mod inspect;
mod record;
mod run;
#[cfg(feature = "net")]
mod simulate;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sockops: a userspace runtime for eBPF sock_ops programs.
#[derive(Parser, Debug)]
#[command(name = "sockops", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Assemble a text program (bpf_conformance dialect) into raw instruction bytes.
    Asm(asm::AsmArgs),
    /// Disassemble a raw program or an ELF object.
    Disasm(asm::DisasmArgs),
    /// Run a raw program on memory in the checked interpreter and print r0.
    Exec(exec::ExecArgs),
    /// Replay a connection scenario (TOML) through attached sock_ops programs.
    Run(run::RunArgs),
    /// Record the sock_ops calls of a cgroup's real connections on this kernel (root) into
    /// a scenario `run` replays.
    Record(record::RecordArgs),
    /// Run a program in the live kernel on real loopback connections (root) and here on the
    /// same calls, and compare every op; exit 0 only when everything agrees.
    Compare(compare::CompareArgs),
    /// The helper process of `compare` (joins a cgroup, opens loopback connections).
    #[command(name = "__loopback", hide = true)]
    Loopback(compare::LoopbackArgs),
    /// Time each event of a scenario on each engine (ns per call, JIT/interpreter ratio).
    Bench(bench::BenchArgs),
    /// List the programs and maps of an ELF object (`--json` for tools).
    Inspect(inspect::InspectArgs),
    /// Verify programs as the kernel's sock_ops verifier would: the sock_ops programs of an
    /// object (others are listed as skipped); exit 0 accept, 1 reject, 3 cannot be judged here.
    Verify(verify::VerifyArgs),
    /// Run two smoltcp hosts over a simulated link with the programs attached (NET.toml).
    #[cfg(feature = "net")]
    Simulate(simulate::SimulateArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Asm(a) => asm::run_asm(a),
        Command::Disasm(a) => asm::run_disasm(a),
        Command::Exec(a) => exec::run(a),
        Command::Run(a) => run::run(a),
        Command::Record(a) => record::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Loopback(a) => compare::run_loopback(a),
        Command::Bench(a) => bench::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Verify(a) => verify::run(a),
        #[cfg(feature = "net")]
        Command::Simulate(a) => simulate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockops: {e}");
            ExitCode::from(2)
        }
    }
}

/// An error a subcommand reports to the user.
pub type CliError = Box<dyn std::error::Error>;
