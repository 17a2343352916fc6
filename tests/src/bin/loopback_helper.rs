//! Test helper for the live recorder and `compare` tests. Three modes:
//! - `loopback_helper [--hold S] CGROUP COUNT [--ipv6]`: joins the cgroup2 directory, runs
//!   loopback TCP connections (`sockops::record::loopback::run_connections`; COUNT of them,
//!   `--ipv6` for ::1), prints the options read back, one JSON line per connection
//!   (`[client, server]`), then with `--hold` waits S seconds before exiting. Tests run it
//!   as the only process of a cgroup they (or `compare`) created.
//! - `loopback_helper compare OBJECT [SECTION]`: runs `sockops::record::compare` on OBJECT
//!   with this helper, holding 30 s (so a test can kill it mid-run); SIGTERM asks it to stop
//!   and clean up. Prints the summary line.
//! - `loopback_helper record CGROUP OUT`: records the cgroup's sock_ops calls for 30 s as
//!   `sockops record` does (`sockops::record::record_cgroup`); SIGTERM stops it early. Writes
//!   the scenario to OUT, prints the number of calls.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use sockops::record::compare::{CompareConfig, run_compare};
use sockops::record::{RecordLimits, loopback, record_cgroup, request_stop, scenario_text};
use sockops::runtime::Engine;

extern "C" fn on_signal(_: libc::c_int) {
    request_stop();
}

fn catch_sigterm() {
    // SAFETY: installs an async-signal-safe handler (one atomic store) for SIGTERM.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

fn record_mode(args: &[String]) -> ExitCode {
    let (Some(cgroup), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: loopback_helper record CGROUP OUT");
        return ExitCode::from(2);
    };
    catch_sigterm();
    let limits = RecordLimits {
        duration: Duration::from_secs(30),
        count: None,
        all_callbacks: false,
    };
    match record_cgroup(&PathBuf::from(cgroup), limits, |_| {}) {
        Ok((records, _)) => match std::fs::write(out, scenario_text(&records, None)) {
            Ok(()) => {
                println!("{}", records.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("loopback_helper record: cannot write {out}: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("loopback_helper record: {e}");
            ExitCode::from(1)
        }
    }
}

fn compare_mode(args: &[String]) -> ExitCode {
    let Some(object) = args.first() else {
        eprintln!("usage: loopback_helper compare OBJECT [SECTION]");
        return ExitCode::from(2);
    };
    catch_sigterm();
    let Ok(me) = std::env::current_exe() else {
        return ExitCode::from(2);
    };
    let config = CompareConfig {
        object: PathBuf::from(object),
        section: args.get(1).cloned(),
        connections: 1,
        ipv6: false,
        engine: Engine::Interpreter,
        helper: vec![me.into_os_string(), "--hold".into(), "30".into()],
    };
    match run_compare(&config) {
        Ok(c) => {
            println!("{}", c.render().lines().last().unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loopback_helper compare: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("compare") {
        return compare_mode(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("record") {
        return record_mode(&args[1..]);
    }
    let mut hold = 0u64;
    if args.first().map(String::as_str) == Some("--hold") {
        hold = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        args.drain(..2.min(args.len()));
    }
    let (Some(cgroup), Some(count)) = (args.first(), args.get(1)) else {
        eprintln!("usage: loopback_helper [--hold S] CGROUP COUNT [--ipv6]");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<usize>() else {
        eprintln!("loopback_helper: COUNT {count:?} is not a number");
        return ExitCode::from(2);
    };
    let ipv6 = args.iter().any(|a| a == "--ipv6");
    if let Err(e) = loopback::join_cgroup(&PathBuf::from(cgroup)) {
        eprintln!("loopback_helper: cannot join {cgroup}: {e}");
        return ExitCode::from(1);
    }
    match loopback::run_connections(count, ipv6) {
        Ok(reports) => {
            for r in reports {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            }
            std::thread::sleep(std::time::Duration::from_secs(hold));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loopback_helper: {e}");
            ExitCode::from(1)
        }
    }
}
