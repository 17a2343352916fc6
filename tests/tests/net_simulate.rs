//! The smoltcp bridge and `sockops simulate` with real smoltcp connections, on both engines:
//! ops in the kernel's order on both sides; options that change smoltcp's behaviour (Nagle,
//! reno / cubic) measurably, against a run without the program; retransmissions counted and
//! RETRANS_CB delivered once per retransmitted segment when flagged (and never when not);
//! determinism per seed; IPv6; the shipped example identical on both engines; bad input that
//! is an error or a `null`, never a panic or a hang. Programs come from
//! `examples/simulate/net_tuning.c` (its behaviour depends on the server port).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sockops::ctx::SockOp;
use sockops::net::OpEvent;
use sockops::net::sim::{NetPlan, SimReport, render_json, simulate};
use sockops::runtime::Engine;
use sockops_tests::elf::section_offset;

const ENGINES: [Engine; 2] = [Engine::Interpreter, Engine::Jit];

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/simulate")
}

fn plan(text: &str) -> NetPlan {
    let file = NetPlan::parse(text, Path::new("test.toml")).unwrap();
    NetPlan::prepare(&file, &example_dir()).unwrap()
}

fn plan_err(text: &str) -> String {
    NetPlan::parse(text, Path::new("test.toml"))
        .and_then(|f| NetPlan::prepare(&f, &example_dir()))
        .and_then(|p| simulate(&p, Engine::Interpreter, None))
        .map(|r| panic!("accepted bad input: {}", render_json(&r)))
        .unwrap_err()
        .to_string()
}

/// A NET.toml with the program, `link` settings and the given connections.
fn net(addresses: (&str, &str), link: &str, connections: &str) -> String {
    format!(
        "seed = 1\nduration_ms = 20000\n[link]\n{link}\n[client]\naddress = \"{}\"\n[server]\naddress = \"{}\"\n[[program]]\nobject = \"net_tuning.o\"\n{connections}",
        addresses.0, addresses.1
    )
}

const V4: (&str, &str) = ("10.0.0.1", "10.0.0.2");
const V6: (&str, &str) = ("2001:db8::1", "2001:db8::2");

fn connection(name: &str, port: u16, request: (u64, u64), response: u64) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\nport = {port}\nrequest = {{ bytes = {}, writes = {} }}\nresponse = {{ bytes = {response}, writes = 1 }}\n",
        request.0, request.1
    )
}

fn enabled(log: &[OpEvent]) -> Vec<(SockOp, [u32; 2])> {
    log.iter()
        .filter(|e| e.enabled)
        .map(|e| (e.op, [e.args[0], e.args[1]]))
        .collect()
}

fn map_u64(report: &SimReport, map: &str, index: usize) -> u64 {
    let m = report.maps.iter().find(|m| m.name == map).unwrap();
    let v = &m.entries[index].1;
    u64::from_le_bytes(v[..8].try_into().unwrap())
}

#[test]
fn ops_arrive_in_the_kernels_order_on_both_sides() {
    let p = plan(&net(
        V4,
        "latency_ms = 5",
        &connection("c", 9001, (1000, 4), 5000),
    ));
    for engine in ENGINES {
        let r = simulate(&p, engine, None).unwrap();
        let c = &r.connections[0];
        assert!(c.completed_us.is_some(), "{engine}");
        let client = enabled(&c.client.as_ref().unwrap().op_log);
        let server = enabled(&c.server.as_ref().unwrap().op_log);
        use SockOp::*;
        let names = |v: &[(SockOp, [u32; 2])]| v.iter().map(|e| e.0).collect::<Vec<_>>();
        // tcp_connect: CONNECT_CB, then tcp_connect_init's RWND_INIT and TIMEOUT_INIT, then
        // NEEDS_ECN from tcp_ecn_send_syn; all before the SYN-ACK (first RTT sample).
        assert_eq!(
            names(&client[..4]),
            [TcpConnectCb, RwndInit, TimeoutInit, NeedsEcn],
            "{engine}"
        );
        // tcp_finish_connect: STATE_CB(SYN_SENT -> ESTABLISHED), then ACTIVE_ESTABLISHED_CB.
        let est = client
            .iter()
            .position(|e| e.0 == ActiveEstablishedCb)
            .unwrap();
        assert_eq!(client[est - 1], (StateCb, [2, 1]), "{engine}");
        // The client closes first: FIN_WAIT1, FIN_WAIT2, then CLOSE (TIME_WAIT is a timewait sock).
        let states: Vec<[u32; 2]> = client
            .iter()
            .filter(|e| e.0 == StateCb)
            .map(|e| e.1)
            .collect();
        assert_eq!(states, [[2, 1], [1, 4], [4, 5], [5, 7]], "{engine}");
        // The request socket's ops as tcp_conn_request runs them, then the child's.
        assert_eq!(
            names(&server[..3]),
            [NeedsEcn, TimeoutInit, RwndInit],
            "{engine}"
        );
        let pas = server
            .iter()
            .position(|e| e.0 == PassiveEstablishedCb)
            .unwrap();
        assert_eq!(server[pas + 1], (StateCb, [3, 1]), "{engine}");
        let states: Vec<[u32; 2]> = server
            .iter()
            .filter(|e| e.0 == StateCb)
            .map(|e| e.1)
            .collect();
        assert_eq!(states, [[3, 1], [1, 8], [8, 9], [9, 7]], "{engine}");
        // RTT_CB carries (sample, srtt << 3), and the samples match the 10 ms round trip.
        let rtts: Vec<[u32; 2]> = client
            .iter()
            .filter(|e| e.0 == RttCb)
            .map(|e| e.1)
            .collect();
        assert!(!rtts.is_empty());
        assert!(
            rtts.iter().all(|a| (10_000..=30_000).contains(&a[0])),
            "{rtts:?}"
        );
        // What the program counted is what the bridge says it delivered (+1 TCP_LISTEN_CB).
        for op in [TcpConnectCb, StateCb, RttCb, PassiveEstablishedCb, NeedsEcn] {
            let delivered = client.iter().chain(&server).filter(|e| e.0 == op).count() as u64;
            assert_eq!(
                map_u64(&r, "op_count", op.number() as usize),
                delivered,
                "{op:?}"
            );
        }
        assert_eq!(map_u64(&r, "op_count", TcpListenCb.number() as usize), 1);
        // The accepted socket inherited TCP_SAVE_SYN and read the real SYN's TCP header.
        let syn_len = map_u64(&r, "results", 2) as i64;
        assert!(
            (24..=60).contains(&syn_len),
            "TCP_BPF_SYN returned {syn_len}"
        );
    }
}

/// Completion time of connection `name`, ms.
fn completed(r: &SimReport, name: &str) -> u64 {
    r.connections
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .completed_us
        .unwrap()
}

#[test]
fn nagle_off_completes_a_twenty_write_request_sooner() {
    let plan_file = example_dir().join("nagle.toml");
    let p = NetPlan::read(&plan_file).unwrap();
    let text = std::fs::read_to_string(&plan_file).unwrap();
    // The same file without the program: both connections behave alike.
    let without = plan(&text.replace("[[program]]\nobject = \"net_tuning.o\"\n", ""));
    assert!(without.programs.is_empty());
    let base = simulate(&without, Engine::Interpreter, None).unwrap();
    assert_eq!(
        completed(&base, "rpc-nagle"),
        completed(&base, "rpc-nodelay")
    );
    for engine in ENGINES {
        let r = simulate(&p, engine, None).unwrap();
        let (on, off) = (completed(&r, "rpc-nagle"), completed(&r, "rpc-nodelay"));
        assert!(off < on, "{engine}: Nagle off {off} us, on {on} us");
        assert_eq!(on, completed(&base, "rpc-nagle"), "Nagle on is the default");
        let side = |name: &str| {
            r.connections
                .iter()
                .find(|c| c.name == name)
                .unwrap()
                .client
                .clone()
                .unwrap()
        };
        assert!(side("rpc-nagle").nagle);
        assert!(!side("rpc-nodelay").nagle);
        let nodelay = side("rpc-nodelay");
        let o = nodelay
            .options
            .iter()
            .find(|o| o.name == "TCP_NODELAY")
            .unwrap();
        assert!(o.applied);
        // Without Nagle each of the 20 writes is its own segment; with it they coalesce.
        assert_eq!(nodelay.metrics.data_segs_out, 20);
        assert!(side("rpc-nagle").metrics.data_segs_out < 20);
    }
}

#[test]
fn reno_and_cubic_are_reported_and_applied() {
    let conns = [
        connection("reno", 9000, (1000, 1), 300_000),
        connection("cubic", 9001, (1000, 1), 300_000),
        connection("bbr", 9002, (1000, 1), 300_000),
    ]
    .concat();
    let p = plan(&net(V4, "latency_ms = 5\nloss = 0.02", &conns));
    for engine in ENGINES {
        let r = simulate(&p, engine, Some(3)).unwrap();
        let client = |i: usize| r.connections[i].client.clone().unwrap();
        assert_eq!(client(0).congestion, "reno");
        assert_eq!(client(1).congestion, "cubic");
        // "bbr" is not available: -ENOENT, and smoltcp keeps the default (cubic).
        assert_eq!(client(2).congestion, "cubic");
        assert_eq!(
            map_u64(&r, "results", 1) as i64,
            -2,
            "last TCP_CONGESTION result"
        );
        assert!(!client(2).options.iter().any(|o| o.name == "TCP_CONGESTION"));
        let reno = client(0)
            .options
            .into_iter()
            .find(|o| o.name == "TCP_CONGESTION")
            .unwrap();
        assert!(reno.applied);
        assert_eq!(
            reno.value,
            sockops::ctx::sockopt::OptionValue::Str("reno".into())
        );
        // The accepted sockets pick theirs in PASSIVE_ESTABLISHED_CB, after smoltcp created
        // them: applied all the same.
        let servers: Vec<&str> = r
            .connections
            .iter()
            .map(|c| c.server.as_ref().unwrap().congestion)
            .collect();
        assert_eq!(servers, ["reno", "cubic", "cubic"]);
        let server_reno = r.connections[0].server.as_ref().unwrap();
        assert!(
            server_reno
                .options
                .iter()
                .any(|o| o.name == "TCP_CONGESTION" && o.applied)
        );
        assert!(r.connections.iter().all(|c| c.completed_us.is_some()));
    }
    // With the same seed and link, reno and cubic senders behave differently.
    let same = |port: u16| {
        let p = plan(&net(
            V4,
            "latency_ms = 5\nloss = 0.03",
            &connection("x", port, (200_000, 1), 10),
        ));
        let r = simulate(&p, Engine::Interpreter, Some(5)).unwrap();
        let c = r.connections[0].client.clone().unwrap();
        (
            c.congestion,
            c.sent
                .iter()
                .map(|s| (s.at_us, s.rel_seq))
                .collect::<Vec<_>>(),
        )
    };
    let (reno, cubic) = (same(9000), same(9001));
    assert_eq!((reno.0, cubic.0), ("reno", "cubic"));
    assert_ne!(reno.1, cubic.1, "reno and cubic sent identically");
}

#[test]
fn a_congestion_control_only_the_model_knows_is_reported_model_only() {
    let text = net(V4, "latency_ms = 1", &connection("bbr", 9002, (100, 1), 100)).replace(
        "[[program]]",
        "[sysctl]\n\"net.ipv4.tcp_available_congestion_control\" = \"reno cubic bbr\"\n\"net.ipv4.tcp_allowed_congestion_control\" = \"reno cubic bbr\"\n[[program]]",
    );
    let r = simulate(&plan(&text), Engine::Interpreter, None).unwrap();
    assert_eq!(map_u64(&r, "results", 1), 0, "the model accepts bbr");
    let c = r.connections[0].client.clone().unwrap();
    let o = c
        .options
        .iter()
        .find(|o| o.name == "TCP_CONGESTION")
        .unwrap();
    assert!(!o.applied, "smoltcp has no bbr");
    assert_eq!(c.congestion, "cubic");
}

#[test]
fn retransmissions_are_counted_and_retrans_cb_runs_once_per_segment() {
    let conns = [
        connection("flagged", 9000, (20_000, 4), 200_000),
        connection("unflagged", 8080, (20_000, 4), 200_000),
    ]
    .concat();
    let p = plan(&net(V4, "latency_ms = 5\nloss = 0.05", &conns));
    for engine in ENGINES {
        let r = simulate(&p, engine, Some(11)).unwrap();
        assert!(r.dropped.iter().sum::<u64>() > 0);
        let mut flagged_cbs = 0;
        let mut flagged_rtos = 0;
        for c in &r.connections {
            assert!(c.completed_us.is_some(), "{} did not complete", c.name);
            for (server, side) in [
                (false, c.client.as_ref().unwrap()),
                (true, c.server.as_ref().unwrap()),
            ] {
                // A request socket's SYN-ACK retransmissions run no op (inet_rtx_syn_ack).
                let synack_rtx = if server {
                    side.sent
                        .iter()
                        .filter(|s| s.retransmit && s.rel_seq == 0)
                        .count() as u32
                } else {
                    0
                };
                let cbs: Vec<&OpEvent> = side
                    .op_log
                    .iter()
                    .filter(|e| e.op == SockOp::RetransCb && e.enabled)
                    .collect();
                let marked = side.sent.iter().filter(|s| s.retransmit).count() as u32;
                assert_eq!(side.retransmits, marked);
                assert_eq!(side.metrics.total_retrans, side.retransmits);
                let rtos: Vec<usize> = side
                    .op_log
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.op == SockOp::RtoCb && e.enabled)
                    .map(|(i, _)| i)
                    .collect();
                if c.name == "flagged" {
                    assert_eq!(
                        cbs.len() as u32,
                        side.retransmits - synack_rtx,
                        "{engine} {}",
                        c.name
                    );
                    // A timeout: RTO_CB (timeouts so far, the RTO in jiffies, 0), then the
                    // retransmission's RETRANS_CB.
                    for &i in &rtos {
                        let e = &side.op_log[i];
                        assert!(e.args[1] >= 1 && e.args[2] == 0, "{:?}", e.args);
                        assert_eq!(side.op_log[i + 1].op, SockOp::RetransCb);
                    }
                    flagged_rtos += rtos.len();
                    // args: seq of the first byte, 1 segment, no error; seqs match the wire.
                    assert!(cbs.iter().all(|e| e.args[1] == 1 && e.args[2] == 0));
                    flagged_cbs += cbs.len() as u64;
                } else {
                    assert!(cbs.is_empty(), "RETRANS_CB without the flag");
                    assert!(rtos.is_empty(), "RTO_CB without the flag");
                }
            }
        }
        let total: u32 = r
            .connections
            .iter()
            .flat_map(|c| [&c.client, &c.server])
            .map(|s| s.as_ref().unwrap().retransmits)
            .sum();
        assert!(
            flagged_cbs > 0,
            "no retransmission on the flagged connection"
        );
        assert!(flagged_rtos > 0, "no timeout on the flagged connection");
        assert!(
            total as u64 > flagged_cbs,
            "no retransmission on the unflagged connection"
        );
        // The program saw every RETRANS_CB, each reporting one segment.
        assert_eq!(map_u64(&r, "retrans", 0), flagged_cbs);
        assert_eq!(map_u64(&r, "retrans", 1), flagged_cbs);
    }
}

#[test]
fn the_same_seed_gives_the_same_output_and_another_seed_under_loss_another() {
    let p = plan(&net(
        V4,
        "latency_ms = 5\nloss = 0.05",
        &connection("c", 9000, (5000, 5), 100_000),
    ));
    let a = render_json(&simulate(&p, Engine::Interpreter, Some(7)).unwrap());
    let b = render_json(&simulate(&p, Engine::Interpreter, Some(7)).unwrap());
    let c = render_json(&simulate(&p, Engine::Interpreter, Some(8)).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Without loss the seed only changes sequence numbers: the report stays the same.
    let lossless = plan(&net(
        V4,
        "latency_ms = 5",
        &connection("c", 9000, (5000, 5), 100_000),
    ));
    let x = render_json(&simulate(&lossless, Engine::Interpreter, Some(7)).unwrap());
    let y = render_json(&simulate(&lossless, Engine::Interpreter, Some(8)).unwrap());
    assert_eq!(x, y);
}

#[test]
fn ipv6_connections_work() {
    let conns = [
        connection("v6", 9001, (3000, 3), 50_000),
        connection("v6-nodelay", 8443, (1000, 20), 100),
    ]
    .concat();
    let p = plan(&net(V6, "latency_ms = 2\nmtu = 1280", &conns));
    for engine in ENGINES {
        let r = simulate(&p, engine, None).unwrap();
        for c in &r.connections {
            assert!(c.completed_us.is_some(), "{engine} {}", c.name);
            let client = c.client.as_ref().unwrap();
            assert_eq!(
                client
                    .op_log
                    .iter()
                    .filter(|e| e.op == SockOp::ActiveEstablishedCb)
                    .count(),
                1
            );
            // MSS from the IPv6 MTU: 1280 - 40 - 20.
            assert_eq!(client.metrics.mss_cache, 1220);
        }
        let tuned = r.connections[0].client.clone().unwrap();
        // IP_TOS on an IPv6 socket succeeds in the model but only affects IPv4-mapped traffic.
        let tos = tuned.options.iter().find(|o| o.name == "IP_TOS").unwrap();
        assert!(!tos.applied);
        assert!(!r.connections[1].client.as_ref().unwrap().nagle);
    }
}

#[test]
fn the_shipped_example_prints_the_same_json_on_both_engines() {
    let p = NetPlan::read(&example_dir().join("nagle.toml")).unwrap();
    let interp = render_json(&simulate(&p, Engine::Interpreter, None).unwrap());
    let jit = render_json(&simulate(&p, Engine::Jit, None).unwrap());
    assert_eq!(interp, jit);
    let checked = render_json(&simulate(&p, Engine::CheckedJit, None).unwrap());
    assert_eq!(interp, checked);
    let first: serde_json::Value = serde_json::from_str(interp.lines().next().unwrap()).unwrap();
    assert_eq!(first["connection"], "rpc-nagle");
    assert_eq!(first["client"]["nagle"], true);
    assert!(first["completed_ms"].as_f64().unwrap() > 0.0);
    let last: serde_json::Value = serde_json::from_str(interp.lines().last().unwrap()).unwrap();
    assert!(last["maps"]["op_count"].is_array());
}

#[test]
fn bad_input_is_a_clear_error() {
    let good = net(V4, "latency_ms = 5", &connection("c", 9000, (100, 1), 100));
    for (bad, needle) in [
        (
            good.replace("latency_ms = 5", "latency_ms = -1"),
            "link.latency_ms: -1 is negative",
        ),
        (
            good.replace("latency_ms = 5", "loss = -0.1"),
            "link.loss: -0.1 is outside 0..1",
        ),
        (
            good.replace("latency_ms = 5", "loss = 2"),
            "link.loss: 2 is outside 0..1",
        ),
        (
            good.replace("latency_ms = 5", "mtu = 67"),
            "link.mtu: 67 is below the IPv4 minimum of 68",
        ),
        (
            good.replace("latency_ms = 5", "bandwidth_mbps = -3"),
            "link.bandwidth_mbps",
        ),
        (
            good.replace("latency_ms = 5", "latency = 5"),
            "unknown field `latency`",
        ),
        (
            good.replace("port = 9000", "port = 9000\nop = \"TIMEOUT_INIT\""),
            "unknown field `op`",
        ),
        (good.replace("net_tuning.o", "missing.o"), "program 0"),
        (
            good.replace("bytes = 100, writes = 1", "bytes = 100, writes = 101"),
            "request.writes: 101",
        ),
        (
            good.replace("bytes = 100, writes = 1", "bytes = 99999999, writes = 1"),
            "request.bytes: 99999999 is above",
        ),
        (
            good.replace("port = 9000", "port = 0"),
            "port: 0 is not 1-65535",
        ),
        (
            good.replace(
                "[[program]]",
                "[sysctl]\n\"net.ipv4.nope\" = 1\n[[program]]",
            ),
            "net.ipv4.nope",
        ),
    ] {
        let msg = plan_err(&bad);
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    }
    let v6 = net(V6, "mtu = 1279", &connection("c", 9000, (100, 1), 100));
    assert!(plan_err(&v6).contains("IPv6 minimum of 1280"));
}

#[test]
fn a_program_the_verifier_rejects_is_refused() {
    let dir = std::env::temp_dir().join(format!("sockops-net-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = std::fs::read(example_dir().join("net_tuning.o")).unwrap();
    // First instruction: `*(u32 *)(r1 + 20) = r1`, a store to the read-only `family` field.
    let at = section_offset(&bytes, "sockops");
    bytes[at..at + 8].copy_from_slice(&[0x63, 0x11, 20, 0, 0, 0, 0, 0]);
    std::fs::write(dir.join("bad.o"), &bytes).unwrap();
    let text = net(V4, "", &connection("c", 9000, (100, 1), 100)).replace("net_tuning.o", "bad.o");
    std::fs::write(dir.join("net.toml"), text).unwrap();
    for engine in ENGINES {
        let msg = NetPlan::read(&dir.join("net.toml"))
            .and_then(|p| simulate(&p, engine, None))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("program 0") && msg.contains("rejected by the verifier"),
            "{msg}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_connection_that_never_completes_is_null_and_the_run_ends() {
    let text = net(
        V4,
        "latency_ms = 5\nloss = 1.0",
        &connection("lost", 9000, (100, 1), 100),
    )
    .replace("duration_ms = 20000", "duration_ms = 30000");
    let started = Instant::now();
    for engine in ENGINES {
        let r = simulate(&plan(&text), engine, None).unwrap();
        let c = &r.connections[0];
        assert_eq!((c.established_us, c.completed_us), (None, None));
        assert!(c.server.is_none(), "no SYN reached the server");
        // The SYN was retransmitted by smoltcp's timer: each timeout is an RTO_CB counting
        // the timeouts so far, with a backed-off RTO, then a RETRANS_CB for the SYN.
        let client = c.client.as_ref().unwrap();
        assert!(client.retransmits > 1);
        let rtos: Vec<[u32; 4]> = client
            .op_log
            .iter()
            .filter(|e| e.op == SockOp::RtoCb)
            .map(|e| e.args)
            .collect();
        assert_eq!(rtos.len() as u32, client.retransmits);
        for (n, w) in rtos.windows(2).enumerate() {
            assert_eq!((w[0][0], w[1][0]), (n as u32, n as u32 + 1));
            assert!(w[1][1] >= w[0][1], "the RTO backs off: {rtos:?}");
        }
        let retrans: Vec<[u32; 4]> = client
            .op_log
            .iter()
            .filter(|e| e.op == SockOp::RetransCb)
            .map(|e| e.args)
            .collect();
        assert_eq!(retrans.len(), rtos.len());
        assert!(
            retrans.iter().all(|a| a[0] == retrans[0][0] && a[1] == 1),
            "always the SYN"
        );
        assert!(r.end_us <= 30_000_000);
        let line = render_json(&r);
        assert!(line.starts_with(
            "{\"connection\":\"lost\",\"port\":9000,\"established_ms\":null,\"completed_ms\":null,"
        ), "{line}");
        assert!(
            line.lines().next().unwrap().ends_with("\"server\":null}"),
            "{line}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run must end promptly"
    );
}

#[test]
fn parse_hdr_opt_cb_runs_for_every_segment_when_flagged() {
    let p = plan(&net(
        V4,
        "latency_ms = 3",
        &connection("parse", 9003, (4000, 2), 8000),
    ));
    for engine in ENGINES {
        let r = simulate(&p, engine, None).unwrap();
        let c = &r.connections[0];
        assert!(c.completed_us.is_some());
        let count = |s: &sockops::net::sim::SideReport| {
            s.op_log
                .iter()
                .filter(|e| e.op == SockOp::ParseHdrOptCb && e.enabled)
                .count() as u32
        };
        let (client, server) = (c.client.as_ref().unwrap(), c.server.as_ref().unwrap());
        // Not in SYN_SENT (the SYN-ACK) nor for the request socket (SYN, third ACK).
        assert_eq!(count(client), client.metrics.segs_in - 1, "{engine}");
        assert_eq!(count(server), server.metrics.segs_in - 2, "{engine}");
        assert_eq!(
            map_u64(&r, "op_count", SockOp::ParseHdrOptCb.number() as usize),
            u64::from(count(client) + count(server))
        );
    }
    // Other ports do not ask for it.
    let p = plan(&net(
        V4,
        "latency_ms = 3",
        &connection("quiet", 9001, (4000, 2), 8000),
    ));
    let r = simulate(&p, Engine::Interpreter, None).unwrap();
    assert_eq!(
        map_u64(&r, "op_count", SockOp::ParseHdrOptCb.number() as usize),
        0
    );
}
