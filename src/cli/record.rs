//! `sockops record --cgroup PATH [--duration S | --count N] [--out trace.toml]
//! [--all-callbacks]`: attaches the recorder (bpf/recorder.c) to a cgroup2 directory the user
//! names, beside whatever is attached there (a BPF link, `BPF_F_ALLOW_MULTI` semantics; it
//! only reads, returns 1 and leaves `reply` alone), captures every sock_ops call with its
//! whole context until the time or op count is reached or Ctrl-C, detaches (on every exit
//! path; the kernel drops the link even if the process is killed), and writes the calls as a
//! scenario `sockops run` replays. The loop is [`sockops::record::record_cgroup`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sockops::kernel::Cgroup;
use sockops::record::trace::sockets;
use sockops::record::{RecordLimits, record_cgroup, scenario_text};

use super::CliError;

/// Longest recording (`--duration`), in seconds.
const MAX_DURATION_S: u64 = 24 * 3600;

/// Arguments of `sockops record`.
#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// The cgroup2 directory whose sockets to record (e.g. /sys/fs/cgroup/unified/web);
    /// nothing else is attached anywhere.
    #[arg(long)]
    cgroup: PathBuf,
    /// Stop after this many seconds (default 10; at most one day).
    #[arg(long, conflicts_with = "count")]
    duration: Option<u64>,
    /// Stop after this many sock_ops calls.
    #[arg(long)]
    count: Option<usize>,
    /// Where to write the scenario (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also turn every callback flag on (RTO, RETRANS, STATE, RTT, header options) for the
    /// sockets of the cgroup, so those ops are recorded too. Every other program attached
    /// there then also sees those ops: only for cgroups you own.
    #[arg(long)]
    all_callbacks: bool,
}

extern "C" fn on_signal(_: libc::c_int) {
    sockops::record::request_stop();
}

/// Makes SIGINT and SIGTERM ask the recording loop to stop (so it detaches and writes what
/// it has) instead of killing the process.
fn catch_stop_signals() {
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
}

/// Runs `sockops record`.
pub fn run(args: RecordArgs) -> Result<ExitCode, CliError> {
    let duration = args.duration.unwrap_or(if args.count.is_some() {
        MAX_DURATION_S
    } else {
        10
    });
    if duration == 0 || duration > MAX_DURATION_S {
        return Err(format!("--duration {duration}: give 1 to {MAX_DURATION_S} seconds").into());
    }
    if args.count == Some(0) {
        return Err("--count 0: give at least one call".into());
    }
    // Refuse a path that is not cgroup2 before loading anything.
    Cgroup::open(&args.cgroup)?;
    catch_stop_signals();
    eprintln!(
        "recording sock_ops calls in {} for {}{} (Ctrl-C stops)",
        args.cgroup.display(),
        match args.count {
            Some(n) => format!("{n} calls or "),
            None => String::new(),
        },
        format_args!("{duration} s")
    );
    let limits = RecordLimits {
        duration: Duration::from_secs(duration),
        count: args.count,
        all_callbacks: args.all_callbacks,
    };
    let (records, recorder) = record_cgroup(&args.cgroup, limits, |records| {
        eprint!(
            "\r{} ops, {} sockets captured",
            records.len(),
            sockets(records).len()
        );
    })?;
    eprintln!();
    if recorder.foreign_records() > 0 {
        eprintln!(
            "warning: {} ring buffer records were not recorder records (skipped)",
            recorder.foreign_records()
        );
    }
    let text = scenario_text(&records, None);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "wrote {} ({} ops, {} sockets); replay it with: sockops run {} --program PROG.o",
                path.display(),
                records.len(),
                sockets(&records).len(),
                path.display()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cgroup: &str) -> RecordArgs {
        RecordArgs {
            cgroup: PathBuf::from(cgroup),
            duration: Some(1),
            count: None,
            out: None,
            all_callbacks: false,
        }
    }

    #[test]
    fn a_path_that_is_not_cgroup2_is_refused_before_anything_is_loaded() {
        let dir = std::env::temp_dir();
        let e = run(args(dir.to_str().unwrap())).unwrap_err().to_string();
        assert!(e.contains("is not a cgroup2 directory"), "{e}");
        let e = run(args("/no/such/cgroup")).unwrap_err().to_string();
        assert!(
            e.contains("/no/such/cgroup") && e.contains("cgroup2"),
            "{e}"
        );
    }

    #[test]
    fn unbounded_or_empty_recordings_are_refused() {
        let e = run(RecordArgs {
            duration: Some(0),
            ..args("/tmp")
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--duration 0"), "{e}");
        let e = run(RecordArgs {
            duration: Some(MAX_DURATION_S + 1),
            ..args("/tmp")
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("at most") || e.contains("1 to"), "{e}");
        let e = run(RecordArgs {
            duration: None,
            count: Some(0),
            ..args("/tmp")
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--count 0"), "{e}");
    }
}
