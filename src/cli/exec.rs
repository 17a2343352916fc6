//! `sockops exec`: run a raw program on memory in the checked interpreter and print r0.
//! The program is not verified: checked mode bounds every memory access, jump and call, and
//! an instruction budget stops runaway loops. No helpers are registered.

use std::path::PathBuf;
use std::process::ExitCode;

use sockops_vm::{HelperTable, Insn, Interpreter, Program, RunOptions};

use super::CliError;

/// Instructions a run may execute unless `--budget` says otherwise.
const DEFAULT_BUDGET: u64 = 100_000_000;

/// Arguments of `sockops exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Raw program file (8-byte little-endian instruction slots).
    file: PathBuf,
    /// Input memory as hex bytes, spaces allowed ("aa bb 0c" or "aabb0c"); r1 points to a
    /// writable copy, r2 holds its length. Without it r1 = r2 = 0.
    #[arg(long)]
    mem: Option<String>,
    /// Maximum number of instructions to execute.
    #[arg(long, default_value_t = DEFAULT_BUDGET)]
    budget: u64,
}

/// Runs `sockops exec`.
pub fn run(args: ExecArgs) -> Result<ExitCode, CliError> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let insns =
        Insn::slice_from_bytes(&bytes).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let mut memory = match &args.mem {
        Some(text) => parse_hex_bytes(text).map_err(|e| format!("--mem: {e}"))?,
        None => Vec::new(),
    };
    let name = args
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let program = Program::from_insns(name, insns);
    let mut vm = Interpreter::new(&program, &HelperTable::new())
        .map_err(|e| format!("{}: cannot load the program: {e}", args.file.display()))?;
    let options = RunOptions {
        instruction_budget: Some(args.budget),
    };
    let result = vm
        .run(&mut memory, &mut (), &options)
        .map_err(|e| format!("{}: run failed: {e}", args.file.display()))?;
    println!("r0 = {:#x} ({})", result.r0, result.r0);
    Ok(ExitCode::SUCCESS)
}

/// Parses hex bytes: whitespace-separated tokens of whole bytes (two hex digits each), an
/// optional `0x` prefix per token.
fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let digits = token.strip_prefix("0x").unwrap_or(token);
        if digits.is_empty()
            || !digits.len().is_multiple_of(2)
            || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!(
                "{token:?} is not a sequence of two-digit hex bytes"
            ));
        }
        for pair in digits.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).map_err(|_| format!("{token:?} is not hex"))?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| format!("{token:?} is not hex"))?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_hex_bytes;

    #[test]
    fn hex_bytes_with_and_without_spaces() {
        assert_eq!(parse_hex_bytes("aa bb 0C").unwrap(), vec![0xaa, 0xbb, 0x0c]);
        assert_eq!(
            parse_hex_bytes("aabb\n0x0c").unwrap(),
            vec![0xaa, 0xbb, 0x0c]
        );
        assert_eq!(parse_hex_bytes("").unwrap(), Vec::<u8>::new());
        assert!(parse_hex_bytes("abc").is_err());
        assert!(parse_hex_bytes("zz").is_err());
        assert!(parse_hex_bytes("é1").is_err());
        assert!(parse_hex_bytes("+1").is_err());
    }
}
