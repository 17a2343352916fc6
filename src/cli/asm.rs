//! `sockops asm` and `sockops disasm`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::CliError;

/// Arguments of `sockops asm`.
#[derive(clap::Args, Debug)]
pub struct AsmArgs {
    /// Assembly source file.
    input: PathBuf,
    /// Output file for the raw instruction bytes.
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `sockops disasm`.
#[derive(clap::Args, Debug)]
pub struct DisasmArgs {
    /// Raw program (8-byte slots) or ELF object.
    file: PathBuf,
}

/// Runs `sockops asm`.
pub fn run_asm(args: AsmArgs) -> Result<ExitCode, CliError> {
    let _ = args;
    Err("the assembler is not built yet".into())
}

/// Runs `sockops disasm`.
pub fn run_disasm(args: DisasmArgs) -> Result<ExitCode, CliError> {
    let _ = args;
    Err("the disassembler is not built yet".into())
}
