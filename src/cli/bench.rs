//! `sockops bench SCENARIO.toml [--engine interp|jit|jit-checked|both|all] [--rounds N] [--json]`: times each
//! event of a scenario on each engine (see `sockops::scenario::bench`) and prints one row per
//! event: op, socket, instructions executed, helper calls, ns per call (minimum and median
//! of interleaved rounds) per engine and the JIT/interpreter ratio; `--json` prints one
//! object per event instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sockops::runtime::Engine;
use sockops::scenario::Scenario;
use sockops::scenario::bench::{BenchOptions, bench, render_bench_json, render_bench_table};

use super::CliError;

/// Arguments of `sockops bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The scenario file (TOML); object paths in it are relative to its folder.
    scenario: PathBuf,
    /// The engines to time: `interp`, `jit`, `jit-checked` (the JIT with checked memory),
    /// `both` (interp and jit) or `all`.
    #[arg(long, default_value = "both", value_parser = parse_engines)]
    engine: EngineChoice,
    /// Interleaved rounds per event (at least 1).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// Print one JSON object per event instead of the table.
    #[arg(long)]
    json: bool,
}

/// The engines `--engine` names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EngineChoice(Vec<Engine>);

fn parse_engines(text: &str) -> Result<EngineChoice, String> {
    match text {
        "both" => Ok(EngineChoice(vec![Engine::Interpreter, Engine::Jit])),
        "all" => Ok(EngineChoice(vec![
            Engine::Interpreter,
            Engine::Jit,
            Engine::CheckedJit,
        ])),
        _ => Engine::parse(text)
            .map(|e| EngineChoice(vec![e]))
            .ok_or_else(|| {
                format!("unknown engine {text:?} (expected interp, jit, jit-checked, both or all)")
            }),
    }
}

/// Runs `sockops bench`.
pub fn run(args: BenchArgs) -> Result<ExitCode, CliError> {
    let scenario = Scenario::read(&args.scenario)?;
    let options = BenchOptions {
        engines: args.engine.0,
        rounds: args.rounds as usize,
        ..BenchOptions::default()
    };
    let report = bench(&scenario, &options)?;
    let text = if args.json {
        render_bench_json(&report)
    } else {
        render_bench_table(&report)
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_by_name() {
        assert_eq!(
            parse_engines("both"),
            Ok(EngineChoice(vec![Engine::Interpreter, Engine::Jit]))
        );
        assert_eq!(parse_engines("jit"), Ok(EngineChoice(vec![Engine::Jit])));
        assert_eq!(
            parse_engines("all"),
            Ok(EngineChoice(vec![
                Engine::Interpreter,
                Engine::Jit,
                Engine::CheckedJit
            ]))
        );
        assert!(
            parse_engines("fast")
                .unwrap_err()
                .contains("jit-checked, both or all")
        );
    }

    #[test]
    fn a_missing_scenario_is_an_error_not_a_panic() {
        let e = run(BenchArgs {
            scenario: PathBuf::from("no-such-scenario.toml"),
            engine: EngineChoice(vec![Engine::Interpreter]),
            rounds: 1,
            json: false,
        })
        .unwrap_err();
        assert!(e.to_string().contains("cannot read scenario"), "{e}");
    }
}
