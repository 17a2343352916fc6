//! `sockops compare` against the live kernel: every example program, IPv4 and IPv6, agrees
//! op by op with its replay here; a wrong model on our side is reported as disagreements;
//! a comparison killed mid-run leaves nothing attached (SIGKILL: BPF links die with the
//! process) or nothing at all (SIGTERM: it cleans up). Skipped, with the reason, without
//! root, `bpf()` or cgroup2.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sockops::kernel::{Cgroup, attached_sock_ops, cgroup2_mount};
use sockops::record::compare::{CompareConfig, compare, kernel_run, run_compare};
use sockops::runtime::Engine;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn config(object: &str, section: Option<&str>, ipv6: bool) -> CompareConfig {
    CompareConfig {
        object: examples().join(object),
        section: section.map(str::to_string),
        connections: 2,
        ipv6,
        engine: Engine::Interpreter,
        helper: vec![env!("CARGO_BIN_EXE_loopback_helper").into()],
    }
}

/// `None` (reason printed) when the live kernel cannot be used for comparisons here.
fn usable() -> Option<()> {
    match kernel_run(&config("op_count.o", None, false)) {
        Ok(_) => Some(()),
        Err(e) => {
            println!("skipped: {e}");
            None
        }
    }
}

/// Every shipped example program (each program of a multi-program object), in IPv4 and
/// IPv6.
const PROGRAMS: &[(&str, Option<&str>)] = &[
    ("chain.o", Some("digit1")),
    ("chain.o", Some("digit2")),
    ("chain.o", Some("digit3")),
    ("chain.o", Some("deny")),
    ("conn_monitor.o", None),
    ("ctx_probe.o", None),
    ("cwnd_tuning.o", None),
    ("dc_tuning.o", None),
    ("hdr_opt.o", None),
    ("legacy_maps.o", None),
    ("op_count.o", None),
    ("sock_stats.o", None),
    ("syn_jitter.o", None),
    ("syn_rto.o", None),
    ("tail_call.o", Some("dispatch")),
    ("tail_values.o", Some("dispatch")),
    ("tcp_tuning.o", Some("set_buffers")),
    ("tcp_tuning.o", Some("set_cong")),
    ("tos_reflect.o", None),
];

#[test]
fn every_example_agrees_with_the_live_kernel_in_ipv4_and_ipv6() {
    if usable().is_none() {
        return;
    }
    let mut failures = Vec::new();
    for &(object, section) in PROGRAMS {
        for ipv6 in [false, true] {
            let c = run_compare(&config(object, section, ipv6)).expect("compare runs");
            let summary = c.render().lines().last().unwrap_or_default().to_string();
            println!("{object} {section:?} ipv6={ipv6}: {summary}");
            if !c.all_agree() {
                failures.push(format!("{object} {section:?} ipv6={ipv6}:\n{}", c.render()));
            }
            // Only the random draws of syn_jitter cannot be compared.
            assert_eq!(
                c.ops_not_comparable() > 0,
                object == "syn_jitter.o",
                "{object}: {summary}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_model_is_reported_as_disagreements() {
    if usable().is_none() {
        return;
    }
    // The kernel ran set_buffers; our side replays op_count instead: the buffer sizes the
    // kernel's program set are missing from our model.
    let kernel_side = config("tcp_tuning.o", Some("set_buffers"), false);
    let (name, run) = kernel_run(&kernel_side).expect("kernel side");
    let wrong = config("op_count.o", None, false);
    let c = compare(&wrong, &name, &run).expect("replay");
    assert!(!c.all_agree(), "{}", c.render());
    assert!(
        c.ops
            .iter()
            .filter(|o| o.differs())
            .flat_map(|o| &o.values)
            .any(|v| v.name == "SO_SNDBUF" && !v.agrees()),
        "{}",
        c.render()
    );
    // The right model agrees on the same records; one altered kernel reply is one
    // disagreement, on that op.
    let right = compare(&kernel_side, &name, &run).expect("replay");
    assert!(right.all_agree(), "{}", right.render());
    let mut altered = run.clone();
    let k = altered.after.len() / 2;
    altered.after[k].args[0] ^= 1;
    let c = compare(&kernel_side, &name, &altered).expect("replay");
    assert_eq!(
        c.ops.iter().filter(|o| o.differs()).count(),
        1,
        "{}",
        c.render()
    );
}

/// Starts `loopback_helper compare op_count.o` (its helper holds 30 s) and waits until its
/// cgroup holds the three linked programs; returns the child (the caller waits for it) and
/// the cgroup's path.
#[allow(clippy::zombie_processes)]
fn start_compare() -> (std::process::Child, PathBuf) {
    let child = Command::new(env!("CARGO_BIN_EXE_loopback_helper"))
        .arg("compare")
        .arg(examples().join("op_count.o"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start compare");
    let mount = cgroup2_mount().expect("cgroup2");
    let prefix = format!("sockops-compare-{}-", child.id());
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no compare cgroup"
        );
        let dir = std::fs::read_dir(&mount)
            .expect("cgroup2 mount")
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path());
        if let Some(dir) = dir
            && let Ok(cg) = Cgroup::open(&dir)
            && attached_sock_ops(&cg).map(|ids| ids.len()).unwrap_or(0) == 3
        {
            return (child, dir);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(path: &Path) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if !path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_compare_killed_mid_run_leaves_nothing_attached() {
    if usable().is_none() {
        return;
    }
    // SIGTERM: it stops its helper, unlinks everything and removes its cgroup.
    let (mut child, dir) = start_compare();
    // SAFETY: sends SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(!status.success());
    assert!(
        wait_gone(&dir),
        "{} left behind after SIGTERM",
        dir.display()
    );

    // SIGKILL: nothing runs, but the links die with the process: nothing stays attached.
    let (mut child, dir) = start_compare();
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let cg = Cgroup::open(&dir).expect("the cgroup is still there");
    let start = Instant::now();
    while attached_sock_ops(&cg).map(|v| v.len()).unwrap_or(0) != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "programs still attached to {} after SIGKILL",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Clean up what SIGKILL left: the helper still holding in the cgroup, then the cgroup.
    drop(cg);
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: the only processes in this cgroup are the helper our child started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let start = Instant::now();
    while std::fs::remove_dir(&dir).is_err() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "cannot remove {}", dir.display());
}
