//! `sockops compare PROGRAM.o [--section S] [--connections N] [--ipv6] [--json]` (root):
//! runs the program in the live kernel on real loopback connections in a child cgroup of our
//! own (recorders before and after it), replays the same calls through it here, and prints
//! per op the kernel's reply, callback flags, metrics and options against ours, then `N ops,
//! M agree`. Exit 0 only when everything agrees, 1 on any disagreement, 2 on errors.
//! `sockops __loopback CGROUP COUNT [--ipv6]` is the helper process it starts (hidden).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sockops::record::compare::{CompareConfig, MAX_CONNECTIONS, run_compare};
use sockops::record::loopback;
use sockops::runtime::Engine;

use super::CliError;

/// Arguments of `sockops compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The candidate: an ELF object with a sock_ops program.
    program: PathBuf,
    /// The section or function name, when the object has several programs.
    #[arg(long)]
    section: Option<String>,
    /// Loopback connections to open (1 to 32).
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Connect over ::1 instead of 127.0.0.1.
    #[arg(long)]
    ipv6: bool,
    /// The engine of the replay here: interp, jit or jit-checked.
    #[arg(long, default_value = "interp", value_parser = parse_engine)]
    engine: Engine,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

fn parse_engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text)
        .ok_or_else(|| format!("unknown engine {text:?} (expected interp, jit or jit-checked)"))
}

/// Arguments of the hidden helper `sockops __loopback`.
#[derive(clap::Args, Debug)]
pub struct LoopbackArgs {
    /// The cgroup2 directory to join first.
    cgroup: PathBuf,
    /// Connections to open.
    count: usize,
    /// Over ::1.
    #[arg(long)]
    ipv6: bool,
}

extern "C" fn on_signal(_: libc::c_int) {
    sockops::record::compare::request_stop();
}

/// Runs `sockops compare`.
pub fn run(args: CompareArgs) -> Result<ExitCode, CliError> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs an async-signal-safe handler (one atomic store) for a standard
        // signal; `signal` has no other preconditions.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        return Err(format!("--connections must be 1 to {MAX_CONNECTIONS}").into());
    }
    let exe = std::env::current_exe()?;
    let config = CompareConfig {
        object: args.program,
        section: args.section,
        connections: args.connections,
        ipv6: args.ipv6,
        engine: args.engine,
        helper: vec![exe.into_os_string(), "__loopback".into()],
    };
    let comparison = run_compare(&config)?;
    let text = if args.json {
        comparison.to_json() + "\n"
    } else {
        comparison.render()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(if comparison.all_agree() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs the helper: joins the cgroup, opens the connections, prints one JSON line
/// `[client, server]` per connection.
pub fn run_loopback(args: LoopbackArgs) -> Result<ExitCode, CliError> {
    if args.count == 0 || args.count > MAX_CONNECTIONS {
        return Err(format!("COUNT must be 1 to {MAX_CONNECTIONS}").into());
    }
    loopback::join_cgroup(&args.cgroup)
        .map_err(|e| format!("cannot join {}: {e}", args.cgroup.display()))?;
    let reports = loopback::run_connections(args.count, args.ipv6)?;
    let mut out = std::io::stdout().lock();
    for r in reports {
        writeln!(out, "{}", serde_json::to_string(&r)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
