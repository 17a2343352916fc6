//! `sockops-conformance-plugin`: the bpf_conformance plugin protocol over the sockops engines
//! (see `shared/conformance/README.md` §4).
//!
//! `sockops-conformance-plugin [MEMORY_HEX] [--interpret | --jit | --jit-checked] [--elf]`: the program comes
//! as hex bytes on stdin; a first argument that does not start with `--` is the input memory
//! as hex bytes. The program runs with r1 = the memory (0 if none), r2 = its length, and
//! helper 5 returning its first argument. On success r0 is printed in hex on stdout and the
//! exit status is 0; on any error a message goes to stderr and the exit status is 1.
//! `--jit-checked` compiles with checked memory (`JitOptions::checked_memory`).

use std::io::Read;
use std::process::ExitCode;

use sockops::jit::{JitOptions, JitProgram};
use sockops::vm::{
    ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, Insn, Interpreter,
    Program, RetKind, RunOptions,
};

/// Instructions one test may execute before the plugin gives up (the suite's programs are
/// short; this only stops runaway loops with a clear error instead of the runner's timeout).
const INSTRUCTION_BUDGET: u64 = 100_000_000;

/// Which engine runs the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Interpret,
    /// The JIT, with checked memory if `checked`.
    Jit {
        checked: bool,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(r0) => {
            println!("{r0:x}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<u64, String> {
    let mut args = std::env::args().skip(1).peekable();
    let mut memory = match args.peek() {
        Some(a) if !a.starts_with("--") => {
            let hex = args.next().unwrap_or_default();
            parse_hex(&hex).map_err(|e| format!("bad memory argument: {e}"))?
        }
        _ => Vec::new(),
    };
    let mut engine = Engine::Interpret;
    for a in args {
        match a.as_str() {
            "--interpret" => engine = Engine::Interpret,
            "--jit" => engine = Engine::Jit { checked: false },
            "--jit-checked" => engine = Engine::Jit { checked: true },
            "--elf" => return Err("ELF input (--elf) is not supported by this plugin".into()),
            "" => {}
            other => return Err(format!("unknown option {other:?}")),
        }
    }

    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the program from stdin: {e}"))?;
    let bytes = parse_hex(&text).map_err(|e| format!("bad program: {e}"))?;
    let insns = Insn::slice_from_bytes(&bytes).map_err(|e| e.to_string())?;
    let program = Program::from_insns("conformance", insns);

    match engine {
        Engine::Interpret => {
            let mut vm = Interpreter::new(&program, &conformance_helpers())
                .map_err(|e| format!("cannot load the program: {e}"))?;
            let options = RunOptions {
                instruction_budget: Some(INSTRUCTION_BUDGET),
            };
            vm.run(&mut memory, &mut (), &options)
                .map(|r| r.r0)
                .map_err(|e| format!("run failed: {e}"))
        }
        Engine::Jit { checked } => {
            // SAFETY: the conformance suite's programs are trusted test inputs that access
            // only their memory and stack (`compile_unverified` exists for this plugin).
            let jit = unsafe {
                JitProgram::compile_unverified(
                    &program,
                    &conformance_helpers(),
                    &JitOptions {
                        checked_memory: checked,
                        ..JitOptions::default()
                    },
                )
            }
            .map_err(|e| format!("cannot compile the program: {e}"))?;
            jit.run(&mut memory, &mut ())
                .map_err(|e| format!("run failed: {e}"))
        }
    }
}

/// Helper 5 of the conformance suite: returns its first argument (uBPF's "unwind" helper in
/// its continue case, which is what `call_unwind_fail.data` and `callx.data` expect).
fn return_first_argument(_env: &mut HelperEnv<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    Ok(args[0])
}

fn conformance_helpers() -> HelperTable {
    let mut table = HelperTable::new();
    table.register(Helper {
        id: 5,
        signature: HelperSignature {
            name: "conformance_return_r1",
            args: &[ArgKind::Anything],
            ret: RetKind::Integer,
            gpl_only: false,
        },
        func: return_first_argument,
    });
    table
}

/// Parses whitespace-separated hex bytes (`"aa  bb 0c"`); each token is one or more whole
/// bytes of two hex digits.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let digits = token.strip_prefix("0x").unwrap_or(token);
        if digits.is_empty()
            || !digits.len().is_multiple_of(2)
            || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!("{token:?} is not whole hex bytes"));
        }
        for i in (0..digits.len()).step_by(2) {
            let pair = digits
                .get(i..i + 2)
                .ok_or_else(|| format!("{token:?} is not hex"))?;
            out.push(u8::from_str_radix(pair, 16).map_err(|_| format!("{token:?} is not hex"))?);
        }
    }
    Ok(out)
}
