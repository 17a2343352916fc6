//! `sockops run SCENARIO.toml [--engine interp|jit|jit-checked] [--checked] [--seed N] [--json]
//! [--program OBJ [--section S]]`: replays a connection
//! scenario through the attached programs and prints a readable table per event, or with
//! `--json` one JSON object per event and a final `{"maps": ...}` object. The whole replay
//! runs before anything is printed, so bad input yields an error on stderr and no output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sockops::cgroup::AttachFlags;
use sockops::runtime::Engine;
use sockops::scenario::{ProgramPlan, Scenario, run_scenario};

use super::CliError;

/// Arguments of `sockops run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML); object paths in it are relative to its folder.
    scenario: PathBuf,
    /// The engine: `interp` (checked interpreter), `jit` or `jit-checked` (the JIT with
    /// checked memory, as `--engine jit --checked`).
    #[arg(long, default_value = "interp", value_parser = parse_engine)]
    engine: Engine,
    /// With `--engine jit`: compile with checked memory (every load, store and atomic
    /// confined to the run's regions; a violation is the interpreter's memory error).
    #[arg(long)]
    checked: bool,
    /// Seed of bpf_get_prandom_u32 (overrides the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Print JSON lines instead of the table.
    #[arg(long)]
    json: bool,
    /// Replay through this object's program instead of the scenario's `[[program]]`s
    /// (attached at `/`): e.g. a trace from `sockops record` through a candidate program.
    #[arg(long)]
    program: Option<PathBuf>,
    /// With `--program`: the section or function name, when the object has several.
    #[arg(long, requires = "program")]
    section: Option<String>,
}

fn parse_engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text)
        .ok_or_else(|| format!("unknown engine {text:?} (expected interp, jit or jit-checked)"))
}

/// Runs `sockops run`.
pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let mut scenario = Scenario::read(&args.scenario)?;
    if let Some(object) = args.program {
        scenario.programs = vec![ProgramPlan {
            object,
            selector: args.section,
            cgroup: "/".to_string(),
            flags: AttachFlags::None,
        }];
    }
    let text = run_scenario(
        &scenario,
        args.engine.with_checked_memory(args.checked),
        args.seed,
        args.json,
    )?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(scenario: &str, engine: Engine) -> RunArgs {
        RunArgs {
            scenario: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/scenarios")
                .join(scenario),
            engine,
            checked: false,
            seed: None,
            json: true,
            program: None,
            section: None,
        }
    }

    #[test]
    fn engines_parse_by_name() {
        assert_eq!(parse_engine("interp"), Ok(Engine::Interpreter));
        assert_eq!(parse_engine("jit"), Ok(Engine::Jit));
        assert_eq!(parse_engine("jit-checked"), Ok(Engine::CheckedJit));
        assert_eq!(Engine::Jit.with_checked_memory(true), Engine::CheckedJit);
        assert_eq!(
            Engine::Interpreter.with_checked_memory(true),
            Engine::Interpreter
        );
        assert!(
            parse_engine("llvm")
                .unwrap_err()
                .contains("interp, jit or jit-checked")
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let e = run(args("no-such-scenario.toml", Engine::Interpreter)).unwrap_err();
        assert!(e.to_string().contains("cannot read scenario"), "{e}");
    }

    #[test]
    fn a_program_given_on_the_command_line_replaces_the_scenarios() {
        let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
        let with = RunArgs {
            program: Some(examples.join("op_count.o")),
            ..args("datacenter.toml", Engine::Interpreter)
        };
        assert_eq!(run(with).unwrap(), ExitCode::SUCCESS);
        let missing = RunArgs {
            program: Some(examples.join("no-such.o")),
            ..args("datacenter.toml", Engine::Interpreter)
        };
        let e = run(missing).unwrap_err().to_string();
        assert!(e.contains("no-such.o"), "{e}");
    }

    #[test]
    fn the_jit_engine_replays_the_examples() {
        assert_eq!(
            run(args("datacenter.toml", Engine::Jit)).unwrap(),
            ExitCode::SUCCESS
        );
        let checked = RunArgs {
            checked: true,
            ..args("datacenter.toml", Engine::Jit)
        };
        assert_eq!(run(checked).unwrap(), ExitCode::SUCCESS);
    }
}
