//! The example scenarios (`examples/scenarios/*.toml`) replayed through the runtime, checked
//! against the kernel's sock_ops semantics (SOCK_OPS.md) and the policies the example programs
//! document, not against this runtime's own output: SYN RTO by address prefix, buffer sizes
//! clamped by wmem_max / rmem_max and read back doubled, congestion control by name (unknown
//! -> -ENOENT), callback-flag gating, cgroup multi order and override, the cwnd knobs.

use std::path::{Path, PathBuf};

use sockops::ctx::sockopt::OptionValue;
use sockops::runtime::Engine;
use sockops::scenario::{EventOutcome, Replay, Scenario, ScenarioFile, replay};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn replay_example(name: &str) -> Replay {
    let path = examples().join("scenarios").join(name);
    let scenario = Scenario::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    replay(&scenario, Engine::Interpreter, None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Replays scenario text whose object paths are relative to `examples/`.
fn replay_text(text: &str) -> Replay {
    let file = ScenarioFile::parse(text, Path::new("inline.toml")).unwrap();
    let scenario = Scenario::prepare(&file, &examples()).unwrap();
    replay(&scenario, Engine::Interpreter, None).unwrap()
}

fn option<'a>(e: &'a EventOutcome, name: &str) -> Option<&'a OptionValue> {
    e.options.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

fn tcp(e: &EventOutcome, field: &str) -> u64 {
    e.tcp
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no tcp field {field}"))
}

/// Value of array-map index `index` as a little-endian integer.
fn map_value(r: &Replay, map: &str, index: u32) -> i64 {
    let m = r.maps.iter().find(|m| m.name == map).expect("map");
    let (_, v) = m
        .entries
        .iter()
        .find(|(k, _)| k.as_slice() == index.to_le_bytes())
        .expect("index");
    let mut b = [0u8; 8];
    b[..v.len().min(8)].copy_from_slice(&v[..v.len().min(8)]);
    i64::from_le_bytes(b)
}

fn sockopt_rets(e: &EventOutcome, optname: i32) -> Vec<i64> {
    e.decision
        .helper_calls
        .iter()
        .filter(|c| c.sockopt.map(|s| s.1) == Some(optname))
        .map(|c| c.ret)
        .collect()
}

const SO_SNDBUF: i32 = 7;
const TCP_CONGESTION: i32 = 13;
const TCP_BPF_IW: i32 = 1001;

#[test]
fn datacenter_syn_rto_follows_the_address_prefix() {
    let r = replay_example("datacenter.toml");
    let timeout: Vec<&EventOutcome> = r
        .events
        .iter()
        .filter(|e| e.decision.op.name() == "TIMEOUT_INIT")
        .collect();
    let by_socket = |s: &str| timeout.iter().find(|e| e.socket == s).unwrap();
    // 10.0.2.7 and 2001:db8:1:2::2 are inside the datacenter: reply 10 jiffies, and the
    // program returned 1, so tcp_call_bpf hands the reply to tcp_timeout_init.
    assert_eq!(by_socket("api").decision.result, Some(10));
    assert_eq!(by_socket("db").decision.result, Some(10));
    // 203.0.113.9 is not: reply -1 (<= 0), so the kernel keeps TCP_TIMEOUT_INIT.
    assert_eq!(by_socket("cdn").decision.result, Some(-1));
    assert_eq!(by_socket("cdn").decision.reply, u32::MAX);
    for e in &timeout {
        assert_eq!(e.decision.returns(), vec![1]);
    }
    // decisions[0] counts datacenter peers, [1] the others (one TCP_CONNECT_CB each).
    assert_eq!(map_value(&r, "decisions", 0), 2);
    assert_eq!(map_value(&r, "decisions", 1), 1);
}

#[test]
fn datacenter_buffers_are_clamped_by_the_sysctls_and_read_back_doubled() {
    let r = replay_example("datacenter.toml");
    let connect = |s: &str| {
        r.events
            .iter()
            .find(|e| e.socket == s && e.decision.op.name() == "TCP_CONNECT_CB")
            .unwrap()
    };
    // Datacenter peers ask for 8 MiB: SO_SNDBUF is clamped to net.core.wmem_max (2 MiB in
    // the scenario) and doubled; SO_RCVBUF to rmem_max (default 4 MiB) and doubled.
    for s in ["api", "db"] {
        let e = connect(s);
        assert_eq!(
            option(e, "SO_SNDBUF"),
            Some(&OptionValue::Int(2 * 2_097_152))
        );
        assert_eq!(
            option(e, "SO_RCVBUF"),
            Some(&OptionValue::Int(2 * 4_194_304))
        );
        assert_eq!(sockopt_rets(e, SO_SNDBUF), vec![0]);
    }
    // The WAN peer asks for 256 KiB, below both maxima: doubled only.
    let e = connect("cdn");
    assert_eq!(option(e, "SO_SNDBUF"), Some(&OptionValue::Int(2 * 262_144)));
    assert_eq!(option(e, "SO_RCVBUF"), Some(&OptionValue::Int(2 * 262_144)));
}

#[test]
fn datacenter_congestion_control_is_set_by_name_and_unknown_names_fail_with_enoent() {
    let r = replay_example("datacenter.toml");
    let connect = |s: &str| {
        r.events
            .iter()
            .find(|e| e.socket == s && e.decision.op.name() == "TCP_CONNECT_CB")
            .unwrap()
    };
    // dctcp is in tcp_available_congestion_control in this scenario.
    assert_eq!(sockopt_rets(connect("api"), TCP_CONGESTION), vec![0]);
    assert_eq!(
        option(connect("db"), "TCP_CONGESTION"),
        Some(&OptionValue::Str("dctcp".into()))
    );
    // bbr is not loaded: -ENOENT, and the socket keeps its default (not reported as set).
    let cdn = connect("cdn");
    assert_eq!(sockopt_rets(cdn, TCP_CONGESTION), vec![-2]);
    assert_eq!(option(cdn, "TCP_CONGESTION"), None);
    // The program ORs the return codes into reply: -2 | 0 | 0.
    assert_eq!(cdn.decision.result, Some(-2));
}

#[test]
fn callback_flags_gate_rto_retrans_state_and_rtt() {
    let r = replay_example("callbacks.toml");
    let e = &r.events;
    // STATE_CB before any flag is set: no program runs, nothing for the kernel's caller.
    assert!(!e[0].decision.enabled);
    assert!(!e[0].decision.called());
    assert_eq!(e[0].decision.result, None);
    // ACTIVE_ESTABLISHED_CB is not gated; the program sets RTO|RETRANS|STATE = 0x7.
    assert!(e[1].decision.called());
    assert_eq!(e[1].cb_flags, 0x7);
    // RTT_CB needs BPF_SOCK_OPS_RTT_CB_FLAG (0x8), which is not set.
    assert!(!e[2].decision.called());
    // RTO_CB, RETRANS_CB, STATE_CB are enabled now.
    for ev in &e[3..6] {
        assert!(ev.decision.called(), "{}", ev.decision.op);
        assert_eq!(ev.decision.returns(), vec![1]);
    }
    // reply aliases args[0] (SOCK_OPS.md §7.2): the program never writes it.
    assert_eq!(e[4].decision.reply, 1000);
    // The RTO_CB printk formats args[0] and args[1].
    assert_eq!(e[3].decision.trace.len(), 1);
    assert!(
        e[3].decision.trace[0].contains("retransmits=1 rto=100 jiffies"),
        "{:?}",
        e[3].decision.trace
    );
    // callbacks[op] counts what reached the program: 4, 8, 9, 10 once; never 12 (RTT) and
    // never the gated first STATE_CB.
    for (op, n) in [(4, 1), (8, 1), (9, 1), (10, 1), (12, 0), (3, 0)] {
        assert_eq!(map_value(&r, "callbacks", op), n, "op {op}");
    }
    // last_state = old << 8 | new of the one STATE_CB that ran (ESTABLISHED=1 -> FIN_WAIT1=4).
    assert_eq!(map_value(&r, "last_state", 0), (1 << 8) | 4);
}

#[test]
fn cgroup_multi_runs_own_programs_first_and_override_is_replaced() {
    let r = replay_example("cgroups.toml");
    let result = |s: &str| {
        let e = r.events.iter().find(|e| e.socket == s).unwrap();
        (e.decision.returns(), e.decision.reply, e.decision.result)
    };
    // /web/api: its own digit1, then /web's digit2 (multi), then /'s digit3 (multi), all on
    // one context: reply = ((1) * 10 + 2) * 10 + 3.
    assert_eq!(result("api"), (vec![1, 1, 1], 123, Some(123)));
    // /web/api/v2 replaces /web/api's overridable program with its own; the multi ancestors
    // still run after it.
    assert_eq!(result("v2"), (vec![1, 1, 1], 323, Some(323)));
    assert_eq!(result("web"), (vec![1, 1], 23, Some(23)));
    // A cgroup with nothing attached inherits the root's program.
    assert_eq!(result("other"), (vec![1], 3, Some(3)));
    // deny returns 0: the reply is still written, but the kernel's caller gets -1.
    assert_eq!(result("batch"), (vec![0, 1], 993, Some(-1)));
}

#[test]
fn cwnd_knobs_follow_the_kernel() {
    let r = replay_example("cwnd.toml");
    let e = &r.events;
    // TCP_BPF_IW sets snd_cwnd.
    assert_eq!(sockopt_rets(&e[0], TCP_BPF_IW), vec![0]);
    assert_eq!(tcp(&e[0], "snd_cwnd"), 40);
    // Still no data sent when established: accepted again.
    assert_eq!(sockopt_rets(&e[1], TCP_BPF_IW), vec![0]);
    assert_eq!(tcp(&e[1], "snd_cwnd"), 20);
    // TCP_BPF_SNDCWND_CLAMP = 100 also sets snd_ssthresh to 100.
    assert_eq!(tcp(&e[1], "snd_ssthresh"), 100);
    // TCP_BPF_RTO_MIN 50000 us = 12.5 jiffies at HZ=250, rounded up to 13 = 52000 us.
    assert_eq!(map_value(&r, "results", 3), 52_000);
    assert_eq!(
        option(&e[1], "TCP_BPF_RTO_MIN"),
        Some(&OptionValue::Int(52_000))
    );
    // Data already sent: TCP_BPF_IW fails with -EINVAL and snd_cwnd stays.
    assert_eq!(sockopt_rets(&e[2], TCP_BPF_IW), vec![-22]);
    assert_eq!(tcp(&e[2], "snd_cwnd"), 10);
    assert_eq!(map_value(&r, "results", 0), -22);
}

#[test]
fn rto_min_rounding_depends_on_hz() {
    // At HZ=1000 a jiffy is 1 ms: 50000 us is exactly 50 jiffies and reads back unchanged.
    let r = replay_text(
        r#"
hz = 1000
[[program]]
object = "cwnd_tuning.o"
[[socket]]
local = "10.0.0.1:1"
remote = "10.0.0.2:2"
[[event]]
op = "ACTIVE_ESTABLISHED_CB"
"#,
    );
    assert_eq!(map_value(&r, "results", 3), 50_000);
    // At HZ=100 a jiffy is 10 ms: 5 jiffies = 50000 us, also exact; 2 jiffies = 20 ms is the
    // floor (TCP_TIMEOUT_MIN), so it is accepted.
    let r = replay_text(
        r#"
hz = 100
[[program]]
object = "cwnd_tuning.o"
[[socket]]
local = "10.0.0.1:1"
remote = "10.0.0.2:2"
[[event]]
op = "ACTIVE_ESTABLISHED_CB"
"#,
    );
    assert_eq!(map_value(&r, "results", 2), 0);
    assert_eq!(map_value(&r, "results", 3), 50_000);
}

#[test]
fn buffer_clamp_follows_rmem_max_of_the_scenario() {
    let r = replay_text(
        r#"
[sysctl]
"net.core.rmem_max" = 100000
"net.core.wmem_max" = 300000
[[program]]
object = "dc_tuning.o"
[[socket]]
local = "10.0.0.1:1"
remote = "10.1.1.1:2"
[[event]]
op = "PASSIVE_ESTABLISHED_CB"
"#,
    );
    let e = &r.events[0];
    assert_eq!(option(e, "SO_RCVBUF"), Some(&OptionValue::Int(200_000)));
    assert_eq!(option(e, "SO_SNDBUF"), Some(&OptionValue::Int(600_000)));
    // dctcp is not in the default tcp_available_congestion_control (reno cubic): -ENOENT.
    assert_eq!(sockopt_rets(e, TCP_CONGESTION), vec![-2]);
}

#[test]
fn replays_are_deterministic() {
    let a = sockops::scenario::render_json(&replay_example("datacenter.toml"));
    let b = sockops::scenario::render_json(&replay_example("datacenter.toml"));
    assert_eq!(a, b);
}

#[test]
fn the_readme_shows_the_main_command_output() {
    let readme = std::fs::read_to_string(examples().join("../README.md")).unwrap();
    let cmd = "$ cargo run --release -- run examples/scenarios/datacenter.toml\n";
    let start = readme.find(cmd).expect("the README shows the main command") + cmd.len();
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let actual = sockops::scenario::render_table(&replay_example("datacenter.toml"));
    assert_eq!(shown, actual, "README.md's output section is stale");
}

#[test]
fn request_sockets_see_addresses_but_cannot_set_options() {
    // A request socket (the SYN-ACK side, is_fullsock = 0) runs the listener's programs;
    // family, addresses and ports are valid there (SOCK_OPS.md §7.7), so the SYN-ACK RTO
    // still follows the prefix, but bpf_setsockopt on it returns -EINVAL (§6.3).
    let r = replay_text(
        r#"
[[program]]
object = "dc_tuning.o"
[[socket]]
local = "10.0.0.1:443"
remote = "10.9.9.9:40000"
is_fullsock = 0
[[event]]
op = "TIMEOUT_INIT"
[[event]]
op = "TCP_CONNECT_CB"
"#,
    );
    assert_eq!(r.events[0].decision.result, Some(10));
    assert_eq!(tcp(&r.events[0], "state"), 12);
    assert_eq!(sockopt_rets(&r.events[1], SO_SNDBUF), vec![-22]);
    assert_eq!(sockopt_rets(&r.events[1], TCP_CONGESTION), vec![-22]);
    assert!(r.events[1].options.is_empty());
}

#[test]
fn the_seed_drives_prandom_and_seed_overrides_the_file() {
    let path = examples().join("scenarios/jitter.toml");
    let scenario = Scenario::read(&path).unwrap();
    let results = |seed: Option<u64>| -> Vec<i32> {
        replay(&scenario, Engine::Interpreter, seed)
            .unwrap()
            .events
            .iter()
            .map(|e| e.decision.result.unwrap())
            .collect()
    };
    // The file's seed (7): one PRNG per replay, drawn in event order.
    let mut prng = sockops::ctx::Prng::new(7);
    let expected: Vec<i32> = (0..3).map(|_| 25 + (prng.next_u32() % 25) as i32).collect();
    assert_eq!(results(None), expected);
    assert_eq!(results(Some(7)), expected);
    let other = results(Some(8));
    assert_ne!(other, expected);
    assert!(other.iter().all(|r| (25..50).contains(r)), "{other:?}");
}

#[test]
fn header_options_are_reserved_rounded_written_and_padded() {
    let r = replay_example("hdr_opt.toml");
    let e = &r.events;
    // WRITE_HDR_OPT (0x40) | PARSE_ALL_HDR_OPT (0x10).
    assert_eq!(e[0].cb_flags, 0x50);
    // 5 bytes reserved; the kernel rounds the BPF option space up to a multiple of 4.
    let reserve = e[1].decision.write_back.as_ref().unwrap();
    assert_eq!(e[1].decision.helper_calls[0].ret, 0);
    assert_eq!(reserve.hdr_opt_reserved, Some(8));
    // The option as written, then NOP (1) padding up to the reserved 8 bytes.
    let write = e[2].decision.write_back.as_ref().unwrap();
    assert_eq!(e[2].decision.helper_calls[0].ret, 0);
    assert_eq!(
        write.hdr_opt_written.as_deref(),
        Some(&[254, 5, 0xeb, 0x9f, 0x2a, 1, 1, 1][..])
    );
    // The peer's segment carries only timestamps: -ENOMSG.
    assert_eq!(e[3].decision.helper_calls[0].name, "bpf_load_hdr_opt");
    assert_eq!(e[3].decision.helper_calls[0].ret, -42);
    // The event gives the next segment (`segment = {..}`): the peer's option is found (its
    // 5 bytes copied) and its data byte recorded.
    assert_eq!(e[4].decision.helper_calls[0].name, "bpf_load_hdr_opt");
    assert_eq!(e[4].decision.helper_calls[0].ret, 5);
    assert_eq!(map_value(&r, "results", 2), 5);
    assert_eq!(map_value(&r, "results", 3), 0x2a);
}

/// A socket's saved SYN (`saved_syn = {..}`): tos_reflect.o reads the peer's IPv4 TOS or IPv6
/// traffic class from the SYN's network header and sets it on the accepted connection.
#[test]
fn the_saved_syn_carries_the_peers_tos_and_options() {
    let r = replay_example("tos_reflect.toml");
    let e = &r.events;
    let calls = |i: usize| -> Vec<(&str, i64)> {
        e[i].decision
            .helper_calls
            .iter()
            .filter(|c| c.name != "bpf_map_update_elem")
            .map(|c| (c.name, c.ret))
            .collect()
    };
    // IPv4: 20-byte IP header + 40-byte TCP header (the default options); TOS 0x28.
    assert_eq!(calls(0), [("bpf_getsockopt", 60), ("bpf_setsockopt", 0)]);
    let v4 = format!("{:?}", e[0].decision.changes);
    assert!(v4.contains("IP_TOS") && v4.contains("40"), "{v4}");
    // IPv6 with a MAC header (not part of TCP_BPF_SYN_IP): 40 + 20 + 10 option bytes padded
    // to 12; traffic class 0xb8.
    assert_eq!(calls(1), [("bpf_getsockopt", 72), ("bpf_setsockopt", 0)]);
    let v6 = format!("{:?}", e[1].decision.changes);
    assert!(v6.contains("IPV6_TCLASS") && v6.contains("184"), "{v6}");
    // No saved SYN: -ENOENT, nothing set.
    assert_eq!(calls(2), [("bpf_getsockopt", -2)]);
    assert!(e[2].decision.changes.is_empty());
    assert_eq!(map_value(&r, "results", 1), 0xb8);
}

/// tail_values.o fills its prog array itself (`.values`), as libbpf does at load time: the
/// dispatcher tail-calls the handler at the op's index; an op without one falls through.
#[test]
fn prog_array_initialisers_dispatch_by_op() {
    for engine in [Engine::Interpreter, Engine::Jit] {
        let path = examples().join("scenarios/tail_calls.toml");
        let r = replay(&Scenario::read(&path).unwrap(), engine, None).unwrap();
        let results: Vec<_> = r.events.iter().map(|e| e.decision.result).collect();
        // SYN RTO 20 jiffies inside 10/8, the default (-1) elsewhere; RWND_INIT 40
        // segments; TCP_CONNECT_CB has no handler: the dispatcher's -1.
        assert_eq!(
            results,
            [Some(20), Some(-1), Some(40), Some(-1)],
            "{engine}"
        );
        let tail_call_rets: Vec<_> = r
            .events
            .iter()
            .map(|e| e.decision.helper_calls[0].ret)
            .collect();
        assert_eq!(tail_call_rets, [0, 0, 0, -2], "{engine}");
    }
}

/// sk_storage values live on the sockets: the map dump lists each socket's value, keyed by
/// the socket's index in the scenario (they printed as an empty map before).
#[test]
fn sk_storage_maps_dump_each_sockets_value() {
    let r = replay_example("sock_stats.toml");
    let m = r.maps.iter().find(|m| m.name == "sock_stats").expect("map");
    let entry = |socket: u32| -> (u32, u32) {
        let (_, v) = m
            .entries
            .iter()
            .find(|(k, _)| k.as_slice() == socket.to_le_bytes())
            .unwrap_or_else(|| panic!("socket {socket} has no value: {:?}", m.entries));
        (
            u32::from_le_bytes(v[0..4].try_into().expect("4 bytes")),
            u32::from_le_bytes(v[4..8].try_into().expect("4 bytes")),
        )
    };
    // web: connect, established, one retransmission (RETRANS_CB turned on when established).
    assert_eq!(entry(0), (3, 1));
    // db: connect only.
    assert_eq!(entry(1), (1, 0));
    assert_eq!(m.entries.len(), 2);
    // The header names the object's file.
    let table = sockops::scenario::render_table(&r);
    assert!(table.contains("(sock_stats.o, section sockops)"), "{table}");
}
