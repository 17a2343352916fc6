//! `sockops record` against the live kernel: the recorder (bpf/recorder.o) attached to a
//! cgroup this test creates, a helper process (the only one in that cgroup) making loopback
//! connections. Skipped, with the reason, without root, `bpf()` or cgroup2.

use std::process::Command;

use std::collections::HashMap;

use sockops::ctx::SockOp;
use sockops::kernel::{Cgroup, OwnedCgroup, attached_sock_ops};
use sockops::record::loopback::TRANSFER_BYTES;
use sockops::record::trace::sockets;
use sockops::record::{RECORD_METRICS, RECORDER_OBJECT, Record, Recorder, scenario_text};
use sockops::runtime::Engine;
use sockops::scenario::{Scenario, ScenarioFile, replay};

/// Records `count` loopback connections of the helper; `None` (reason printed) when the
/// live kernel cannot be used here.
fn record(count: usize, ipv6: bool) -> Option<Vec<Record>> {
    let mut recorder = match Recorder::load(true) {
        Ok(r) => r,
        Err(e) => {
            println!("skipped: cannot load the recorder into the kernel: {e}");
            return None;
        }
    };
    let owned = match OwnedCgroup::create("sockops-test-record") {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: cannot create a cgroup: {e}");
            return None;
        }
    };
    let cgroup = Cgroup::open(&owned.path).expect("the cgroup just created is cgroup2");
    let attachment = cgroup
        .attach_multi(recorder.kernel_program())
        .expect("attach the recorder to our own cgroup");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loopback_helper"));
    cmd.arg(&owned.path).arg(count.to_string());
    if ipv6 {
        cmd.arg("--ipv6");
    }
    let out = cmd.output().expect("run the loopback helper");
    assert!(
        out.status.success(),
        "helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The closing states come after the helper's last close: give them a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut records = Vec::new();
    recorder.poll(&mut records);
    attachment.detach().expect("detach");
    owned.remove().expect("remove the cgroup");
    Some(records)
}

/// Replays `records` as the scenario `sockops record` writes, through the recorder itself
/// in our runtime, and returns what it recorded there.
fn replay_through_recorder(records: &[Record], engine: Engine) -> Vec<Record> {
    let dir = std::env::temp_dir().join(format!(
        "sockops-record-test-{}-{}",
        std::process::id(),
        engine
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("recorder.o"), RECORDER_OBJECT).expect("write recorder.o");
    let text = scenario_text(records, Some(("recorder.o", Some("record_all_callbacks"))));
    let path = dir.join("trace.toml");
    std::fs::write(&path, &text).expect("write trace.toml");
    let scenario = Scenario::read(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let result = replay(&scenario, engine, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
    if std::env::var_os("SOCKOPS_KEEP_TRACE").is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
    let map = result
        .maps
        .iter()
        .find(|m| m.name == "records")
        .expect("the recorder's ring buffer");
    map.entries
        .iter()
        .map(|(_, v)| Record::decode(v).expect("a recorder record"))
        .collect()
}

/// Every field of every replayed record that differs from the kernel's.
fn differences(kernel: &[Record], ours: &[Record]) -> Vec<String> {
    let mut out = Vec::new();
    if kernel.len() != ours.len() {
        out.push(format!(
            "{} records from the kernel, {} replayed",
            kernel.len(),
            ours.len()
        ));
    }
    let mut cookies: HashMap<(u64, bool), u64> = HashMap::new();
    for (k, (a, b)) in kernel.iter().zip(ours).enumerate() {
        let at = format!("record {k} (op {})", a.op);
        let mapped = *cookies
            .entry((a.cookie, a.is_fullsock()))
            .or_insert(b.cookie);
        if mapped != b.cookie {
            out.push(format!("{at}: socket differs"));
        }
        if a.op != b.op {
            out.push(format!("{at}: op {} vs {}", a.op, b.op));
        }
        if a.args != b.args {
            out.push(format!("{at}: args {:?} vs {:?}", a.args, b.args));
        }
        if (a.local, a.remote) != (b.local, b.remote) {
            out.push(format!(
                "{at}: {} -> {} vs {} -> {}",
                a.local, a.remote, b.local, b.remote
            ));
        }
        for (j, name) in RECORD_METRICS.iter().enumerate() {
            if a.metrics[j] != b.metrics[j] {
                out.push(format!("{at}: {name} {} vs {}", a.metrics[j], b.metrics[j]));
            }
        }
        if a.header != b.header {
            out.push(format!(
                "{at}: header {:02x?} vs {:02x?}",
                a.header, b.header
            ));
        }
    }
    out
}

/// The op names of each socket of the trace, in order.
fn op_sequences(records: &[Record]) -> Vec<(String, Vec<&'static str>)> {
    sockets(records)
        .into_iter()
        .map(|s| {
            let ops = records
                .iter()
                .filter(|r| (r.cookie, r.is_fullsock()) == (s.cookie, s.fullsock))
                .map(|r| SockOp::from_number(r.op).map_or("?", SockOp::name))
                .collect();
            (s.name, ops)
        })
        .collect()
}

/// The listener, the client, the server's request socket and the server's full socket each
/// see the ops the kernel calls for them, in order, and the closing states.
#[test]
fn the_recorder_sees_both_sides_of_a_loopback_connection() {
    for ipv6 in [false, true] {
        let Some(records) = record(1, ipv6) else {
            return;
        };
        let seqs = op_sequences(&records);
        let names: Vec<&str> = seqs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["c1-a", "c2-a", "c2-b-req", "c2-b"], "{seqs:?}");
        let ops = |k: usize| &seqs[k].1;
        assert_eq!(ops(0)[0], "TCP_LISTEN_CB", "{seqs:?}");
        let client = ops(1);
        assert_eq!(client[0], "TCP_CONNECT_CB", "{seqs:?}");
        let pos = |ops: &[&str], op: &str| ops.iter().position(|o| *o == op);
        assert!(pos(client, "ACTIVE_ESTABLISHED_CB").is_some(), "{seqs:?}");
        assert!(pos(client, "TIMEOUT_INIT") < pos(client, "ACTIVE_ESTABLISHED_CB"));
        let request = ops(2);
        assert!(request.contains(&"TIMEOUT_INIT") && request.contains(&"RWND_INIT"));
        assert!(!request.contains(&"PASSIVE_ESTABLISHED_CB"));
        let server = ops(3);
        assert!(server.contains(&"PASSIVE_ESTABLISHED_CB"), "{seqs:?}");
        // Every callback flag is on (record_all_callbacks): header options are parsed and
        // RTTs reported on both sides.
        for side in [client, server] {
            assert!(side.contains(&"PARSE_HDR_OPT_CB") && side.contains(&"RTT_CB"));
        }
        let want = if ipv6 { 10 } else { 2 };
        assert!(records.iter().all(|r| r.metric("family") == Some(want)));
        // Both sides reach CLOSE (7) in a STATE_CB, having received the transfer.
        let socks = sockets(&records);
        for (name, k) in [("client", 1), ("server", 3)] {
            let s = &socks[k];
            let closed = records.iter().any(|r| {
                (r.cookie, r.is_fullsock()) == (s.cookie, true)
                    && r.op == SockOp::StateCb.number()
                    && r.args[1] == 7
            });
            assert!(closed, "{name} never reached CLOSE: {seqs:?}");
            let received = records
                .iter()
                .filter(|r| r.cookie == s.cookie)
                .filter_map(|r| r.metric("bytes_received"))
                .max();
            assert!(
                received >= Some(TRANSFER_BYTES as u64),
                "{name}: {received:?}"
            );
        }
    }
}

/// The scenario `sockops record` writes replays, on every engine, with the context the
/// kernel built for every call: the recorder itself run on the trace in our runtime records
/// the same fields, segment header bytes included.
#[test]
fn a_recorded_trace_replays_with_the_kernels_context() {
    for ipv6 in [false, true] {
        let Some(records) = record(2, ipv6) else {
            return;
        };
        for engine in [Engine::Interpreter, Engine::Jit] {
            let ours = replay_through_recorder(&records, engine);
            let diff = differences(&records, &ours);
            assert!(
                diff.is_empty(),
                "ipv6 {ipv6}, {engine}:\n{}",
                diff.join("\n")
            );
        }
    }
}

/// Starts `loopback_helper record CGROUP OUT` and waits until its recorder is attached to
/// `cgroup`.
#[allow(clippy::zombie_processes)]
fn start_recording(cgroup: &OwnedCgroup, out: &std::path::Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_loopback_helper"))
        .arg("record")
        .arg(&cgroup.path)
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the recording");
    let cg = Cgroup::open(&cgroup.path).expect("our cgroup is cgroup2");
    let start = std::time::Instant::now();
    while attached_sock_ops(&cg).map(|v| v.len()).unwrap_or(0) != 1 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the recorder never appeared in {}",
            cgroup.path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Waits (at most 10 s) until nothing is attached to `cgroup`; false if something stays.
fn nothing_attached(cgroup: &OwnedCgroup) -> bool {
    let cg = Cgroup::open(&cgroup.path).expect("our cgroup is cgroup2");
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        if attached_sock_ops(&cg)
            .map(|v| v.is_empty())
            .unwrap_or(false)
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// A recording stopped by SIGTERM detaches and still writes what it captured; one killed by
/// SIGKILL leaves nothing attached (the recorder is a BPF link, which dies with the process).
#[test]
fn a_recording_killed_mid_run_leaves_nothing_attached() {
    if let Err(e) = Recorder::load(false) {
        println!("skipped: cannot load the recorder into the kernel: {e}");
        return;
    }
    let owned = match OwnedCgroup::create("sockops-test-record-kill") {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: cannot create a cgroup: {e}");
            return;
        }
    };
    let out = std::env::temp_dir().join(format!("sockops-record-kill-{}.toml", std::process::id()));

    // SIGTERM after one connection: it detaches and writes the scenario.
    let child = start_recording(&owned, &out);
    let conn = Command::new(env!("CARGO_BIN_EXE_loopback_helper"))
        .arg(&owned.path)
        .arg("1")
        .output()
        .expect("run the loopback helper");
    assert!(
        conn.status.success(),
        "{}",
        String::from_utf8_lossy(&conn.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: sends SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let done = child.wait_with_output().expect("wait for the recording");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        nothing_attached(&owned),
        "the recorder stayed attached after SIGTERM"
    );
    let text = std::fs::read_to_string(&out).expect("the scenario was written");
    let _ = std::fs::remove_file(&out);
    let calls: usize = String::from_utf8_lossy(&done.stdout)
        .trim()
        .parse()
        .expect("a count");
    let scenario = ScenarioFile::parse(&text, &out).expect("the written scenario parses");
    assert!(calls >= 10, "only {calls} calls recorded for a connection");
    // The listener, the client, the server's request socket and its full socket.
    assert_eq!(scenario.socket.len(), 4, "{text}");
    assert_eq!(scenario.event.len(), calls, "one event per call:\n{text}");

    // SIGKILL: nothing runs in the recorder, yet nothing stays attached.
    let mut child = start_recording(&owned, &out);
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(
        nothing_attached(&owned),
        "the recorder stayed attached after SIGKILL"
    );
    let _ = std::fs::remove_file(&out);
    owned.remove().expect("remove our cgroup");
}
