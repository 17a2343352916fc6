//! `sockops simulate NET.toml [--engine interp|jit|jit-checked] [--checked] [--seed N] [--json] [--plot FILE.svg]`:
//! runs two smoltcp hosts joined by a simulated link with the file's programs attached and
//! prints a table per connection, or with `--json` one JSON object per connection and a final
//! `{"maps": ...}` object. The run completes before anything is printed or written, so bad
//! input yields an error on stderr and no output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sockops::net::sim::plot::render_svg;
use sockops::net::sim::{NetPlan, render_json, render_table, simulate};
use sockops::runtime::Engine;

use super::CliError;

/// Arguments of `sockops simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// The simulation file (NET.toml); object paths in it are relative to its folder.
    net: PathBuf,
    /// The engine: `interp` (checked interpreter), `jit` or `jit-checked` (the JIT with
    /// checked memory, as `--engine jit --checked`).
    #[arg(long, default_value = "interp", value_parser = parse_engine)]
    engine: Engine,
    /// With `--engine jit`: compile with checked memory (every load, store and atomic
    /// confined to the run's regions; a violation is the interpreter's memory error).
    #[arg(long)]
    checked: bool,
    /// Seed of the link's losses, sequence numbers and bpf_get_prandom_u32 (overrides `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Print JSON lines instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write a time-sequence graph (SVG) to this file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

fn parse_engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text)
        .ok_or_else(|| format!("unknown engine {text:?} (expected interp, jit or jit-checked)"))
}

/// Runs `sockops simulate`.
pub fn run(args: SimulateArgs) -> Result<ExitCode, CliError> {
    let plan = NetPlan::read(&args.net)?;
    let report = simulate(
        &plan,
        args.engine.with_checked_memory(args.checked),
        args.seed,
    )?;
    let text = if args.json {
        render_json(&report)
    } else {
        render_table(&report)
    };
    if let Some(path) = &args.plot {
        let svg = render_svg(&report)?;
        std::fs::write(path, svg)
            .map_err(|e| format!("cannot write the plot {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: &str, engine: Engine) -> SimulateArgs {
        SimulateArgs {
            net: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/simulate")
                .join(file),
            engine,
            checked: false,
            seed: None,
            json: true,
            plot: None,
        }
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_panic() {
        let e = run(args("no-such.toml", Engine::Interpreter)).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn the_example_runs_and_plots() {
        let dir = std::env::temp_dir().join(format!("sockops-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut a = args("nagle.toml", Engine::Interpreter);
        a.plot = Some(dir.join("plot.svg"));
        assert_eq!(run(a).unwrap(), ExitCode::SUCCESS);
        let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(
            svg.contains("rpc-nodelay client -&gt; server")
                || svg.contains("rpc-nodelay client -> server")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
