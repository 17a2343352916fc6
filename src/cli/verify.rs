//! `sockops verify`: the verifier's verdict on the programs of an ELF object, on a raw
//! program, or on a stream of JSON requests (one per line, answered in order). Judges as the
//! kernel does for `BPF_PROG_TYPE_SOCK_OPS`. Of an object, the sock_ops programs are judged
//! (by section, as libbpf assigns program types); the others are listed as skipped with
//! their type, unless `--program` names one. Exit 0 = accepted, 1 = rejected, 2 = usage/I/O,
//! 3 = a program this verifier cannot judge (and none rejected).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use sockops_verifier::{StreamRequest, StreamResponse, VerifyOptions, verify, verify_request};
use sockops_vm::elf::Object;
use sockops_vm::{HelperTable, Insn, Program};

use super::CliError;

/// Arguments of `sockops verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// ELF object (or, with `--raw`, a raw program of 8-byte slots).
    #[arg(required_unless_present = "stream")]
    file: Option<PathBuf>,
    /// Verify only this program (function or section name) of the object.
    #[arg(long, conflicts_with_all = ["raw", "stream"])]
    program: Option<String>,
    /// The file is a raw program, not an ELF object.
    #[arg(long, conflicts_with = "stream")]
    raw: bool,
    /// With `--raw`: JSON list of the maps its LD_IMM64 map references index
    /// (`[{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4, "map_flags": 0}]`).
    #[arg(long, requires = "raw")]
    maps: Option<PathBuf>,
    /// Read JSON-lines requests on stdin and answer each with one JSON line.
    #[arg(long, conflicts_with = "file")]
    stream: bool,
    /// Judge as a loader without CAP_PERFMON (no uninitialised stack reads, pointer leaks, ...).
    #[arg(long)]
    strict: bool,
    /// Print the kernel-style verifier log of each program, accepted or rejected (`-v`: the
    /// processed instructions, the state at branches and the `processed N insns` line; `-vv`:
    /// also the registers every instruction touched).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn options(strict: bool) -> VerifyOptions {
    VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    }
}

fn helper_table() -> HelperTable {
    let mut table = HelperTable::new();
    sockops_ctx::helpers::register_sock_ops_helpers(&mut table);
    table
}

/// Runs `sockops verify`.
pub fn run(args: VerifyArgs) -> Result<ExitCode, CliError> {
    let helpers = helper_table();
    let mut opts = options(args.strict);
    if args.stream {
        return stream(&helpers, &opts);
    }
    let path = args
        .file
        .as_ref()
        .ok_or("a file is needed unless --stream is given")?;
    opts.log_level = u32::from(args.verbose);
    let programs: Vec<Program> = if args.raw {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let insns =
            Insn::slice_from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let maps = match &args.maps {
            Some(m) => raw_maps(m)?,
            None => Vec::new(),
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![Program {
            name,
            insns,
            maps,
            ..Program::default()
        }]
    } else {
        let object = Object::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(first) = object.core_relocations().first() {
            eprintln!(
                "warning: {}: {} CO-RE relocations are not applied, the compiler's offsets are used (first: {first})",
                path.display(),
                object.core_relocations().len()
            );
        }
        match &args.program {
            Some(n) => vec![object.program(n)?.clone()],
            None => {
                let (judged, skipped) = sock_ops_programs(object.programs());
                for (p, kind) in &skipped {
                    println!(
                        "{} ({}): skipped: a {kind} program, not sock_ops",
                        p.name, p.section
                    );
                }
                if judged.is_empty() && !skipped.is_empty() {
                    return Err(
                        format!("{}: the object has no sock_ops programs", path.display()).into(),
                    );
                }
                judged
            }
        }
    };
    if programs.is_empty() {
        return Err(format!("{}: the object has no programs", path.display()).into());
    }
    let mut all_ok = true;
    let mut unjudged = false;
    for p in &programs {
        let label = if p.section.is_empty() {
            p.name.clone()
        } else {
            format!("{} ({})", p.name, p.section)
        };
        match verify(p, &helpers, &opts) {
            Ok(v) => {
                let s = v.stats();
                if args.verbose > 0 {
                    print!("{}", s.log);
                }
                println!(
                    "{label}: accepted: processed {} insns, {} states (peak {}), stack depth {}",
                    s.insns_processed,
                    s.total_states,
                    s.peak_states,
                    s.stack_depth
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("+")
                );
            }
            Err(e) => {
                if e.unsupported {
                    unjudged = true;
                } else {
                    all_ok = false;
                }
                if args.verbose > 0 {
                    print!("{}", e.log);
                }
                let kind = if e.unsupported {
                    "not supported by this runtime"
                } else {
                    "rejected"
                };
                println!("{label}: {kind}: insn {}: {}", e.pc, e.message);
            }
        }
    }
    Ok(if !all_ok {
        ExitCode::from(1)
    } else if unjudged {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// The programs of an object that are sock_ops by their section (libbpf's rule), and the
/// others with the program type their section gives (`unknown` if libbpf knows none).
fn sock_ops_programs(programs: &[Program]) -> (Vec<Program>, Vec<(Program, &'static str)>) {
    let mut judged = Vec::new();
    let mut skipped = Vec::new();
    for p in programs {
        match sockops_vm::elf::program_type_of_section(&p.section) {
            Some("sock_ops") => judged.push(p.clone()),
            other => skipped.push((p.clone(), other.unwrap_or("unknown"))),
        }
    }
    (judged, skipped)
}

/// Reads the `--maps` file: map definitions in the `--stream` request format.
fn raw_maps(path: &PathBuf) -> Result<Vec<std::sync::Arc<sockops_vm::Map>>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let list: Vec<sockops_verifier::request::StreamMap> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let defs = sockops_verifier::request::map_defs(&list)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    defs.iter()
        .enumerate()
        .map(|(i, d)| {
            sockops_vm::Map::try_new(format!("map{i}"), *d)
                .map(std::sync::Arc::new)
                .map_err(|e| format!("{}: map {i}: {e}", path.display()).into())
        })
        .collect()
}

/// `--stream` on stdin and stdout.
fn stream(helpers: &HelperTable, opts: &VerifyOptions) -> Result<ExitCode, CliError> {
    stream_io(
        std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        helpers,
        opts,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// One JSON request per input line, one JSON answer per line, flushed each time. A line that
/// is not a request is answered with a rejection whose id is null.
fn stream_io(
    input: impl BufRead,
    out: &mut impl Write,
    helpers: &HelperTable,
    opts: &VerifyOptions,
) -> Result<(), CliError> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<StreamRequest>(&line) {
            Ok(req) => verify_request(&req, helpers, opts),
            Err(e) => StreamResponse {
                id: serde_json::Value::Null,
                verdict: "reject".into(),
                msg: format!("bad request: {e}"),
            },
        };
        serde_json::to_writer(&mut *out, &response)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(input: &str, strict: bool) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        stream_io(
            input.as_bytes(),
            &mut out,
            &helper_table(),
            &options(strict),
        )
        .unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn request(id: &str, asm: &str) -> String {
        let insns = sockops_vm::asm::assemble(asm).unwrap();
        let hex: String = Insn::slice_to_bytes(&insns)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(r#"{{"id": "{id}", "prog_type": "sock_ops", "insns_hex": "{hex}", "maps": []}}"#)
    }

    #[test]
    fn only_sock_ops_sections_are_judged() {
        let program = |name: &str, section: &str| Program {
            name: name.into(),
            section: section.into(),
            ..Program::default()
        };
        let (judged, skipped) = sock_ops_programs(&[
            program("tuning", "sockops"),
            program("connect", "cgroup/connect6"),
            program("trace", "fexit/tcp_v4_connect"),
            program("odd", "my_section"),
        ]);
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].name, "tuning");
        let kinds: Vec<(&str, &str)> = skipped.iter().map(|(p, k)| (p.name.as_str(), *k)).collect();
        assert_eq!(
            kinds,
            [
                ("connect", "cgroup_sock_addr"),
                ("trace", "tracing"),
                ("odd", "unknown")
            ]
        );
    }

    #[test]
    fn stream_answers_each_line_in_order() {
        let input = format!(
            "{}\n\n{}\n{}\nnot json\n",
            request("a", "ldxw %r2, [%r1+0]\nmov %r0, 1\nexit"),
            request("b", "ldxb %r2, [%r1+5]\nmov %r0, 1\nexit"),
            r#"{"id": 7, "insns_hex": "b70000000100000095000000000000000", "maps": []}"#,
        );
        let a = answers(&input, false);
        assert_eq!(a.len(), 4, "{a:?}");
        assert_eq!(
            (&a[0]["id"], &a[0]["verdict"]),
            (&"a".into(), &"accept".into()),
            "{a:?}"
        );
        // A narrow load of `reply` is refused in the kernel's words.
        assert_eq!(a[1]["verdict"], "reject");
        assert_eq!(a[1]["msg"], "invalid bpf_context access off=5 size=1");
        // An odd number of hex digits is a rejection naming the problem, with the request's id.
        assert_eq!(
            (&a[2]["id"], &a[2]["verdict"]),
            (&7.into(), &"reject".into())
        );
        assert_eq!(a[3]["id"], serde_json::Value::Null);
        assert!(a[3]["msg"].as_str().unwrap().starts_with("bad request"));
    }

    #[test]
    fn return_value_outside_0_1_is_refused() {
        let a = answers(&format!("{}\n", request("r", "mov %r0, 2\nexit")), true);
        assert_eq!(a[0]["verdict"], "reject");
        assert_eq!(
            a[0]["msg"],
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"
        );
    }
}
