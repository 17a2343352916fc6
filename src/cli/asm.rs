//! `sockops asm` and `sockops disasm`: text (bpf_conformance dialect, see `sockops_vm::asm`)
//! to raw instruction bytes and back. `disasm` prints assembler input, so
//! `sockops disasm p.bin > p.s && sockops asm p.s -o q.bin` reproduces `p.bin`.
//! ELF objects are disassembled per program, relocated, maps named (`inspect::disasm_object`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sockops::vm::{Insn, assemble, disassemble, disassemble_listing};

use super::CliError;

/// The first bytes of an ELF file.
const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Arguments of `sockops asm`.
#[derive(clap::Args, Debug)]
pub struct AsmArgs {
    /// Assembly source file.
    input: PathBuf,
    /// Output file for the raw instruction bytes (8 bytes per slot, little-endian).
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `sockops disasm`.
#[derive(clap::Args, Debug)]
pub struct DisasmArgs {
    /// Raw program (8-byte slots) or ELF object.
    file: PathBuf,
    /// Prefix every line with its slot index (the output is then not assembler input).
    #[arg(long)]
    pc: bool,
    /// For an ELF object: only the program with this function name.
    #[arg(long)]
    program: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// Runs `sockops asm`.
pub fn run_asm(args: AsmArgs) -> Result<ExitCode, CliError> {
    let bytes = read(&args.input)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("{}: not UTF-8 text: {e}", args.input.display()))?;
    let slots =
        assemble(&text).map_err(|e| format!("{}:{}: {}", args.input.display(), e.line, e.kind))?;
    std::fs::write(&args.output, Insn::slice_to_bytes(&slots))
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `sockops disasm`.
pub fn run_disasm(args: DisasmArgs) -> Result<ExitCode, CliError> {
    let bytes = read(&args.file)?;
    if bytes.starts_with(ELF_MAGIC) {
        let text =
            super::inspect::disasm_object(&args.file, &bytes, args.program.as_deref(), args.pc)?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let slots =
        Insn::slice_from_bytes(&bytes).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let text = if args.pc {
        disassemble_listing(&slots, |_, _| None)
    } else {
        disassemble(&slots)
    }
    .map_err(|e| format!("{}: {e}", args.file.display()))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
