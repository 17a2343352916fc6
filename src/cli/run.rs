//! `sockops run SCENARIO.toml [--engine interp|jit|jit-checked] [--checked] [--seed N] [--json]`: replays a connection
//! scenario through the attached programs and prints a readable table per event, or with
//! `--json` one JSON object per event and a final `{"maps": ...}` object. The whole replay
//! runs before anything is printed, so bad input yields an error on stderr and no output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sockops::runtime::Engine;
use sockops::scenario::run_scenario_file;

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
}

fn parse_engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text)
        .ok_or_else(|| format!("unknown engine {text:?} (expected interp, jit or jit-checked)"))
}

/// Runs `sockops run`.
pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let text = run_scenario_file(
        &args.scenario,
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
