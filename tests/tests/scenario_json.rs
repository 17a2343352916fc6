//! The `sockops run --json` contract: one object per event with exactly the keys `event,
//! socket, op, called, ret, reply, result, helpers, options, cb_flags, tcp`, in event order,
//! then one final `{"maps": ...}` object whose keys and values are lower-case hex of the bytes
//! in memory order, array maps listing every index.

use std::path::Path;

use serde_json::Value;
use sockops::runtime::Engine;
use sockops::scenario::run_scenario_file;

fn json_lines(scenario: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scenarios")
        .join(scenario);
    let out = run_scenario_file(&path, Engine::Interpreter, None, true).unwrap();
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const EVENT_KEYS: [&str; 11] = [
    "event", "socket", "op", "called", "ret", "reply", "result", "helpers", "options", "cb_flags",
    "tcp",
];

fn is_lower_hex(s: &str) -> bool {
    s.len().is_multiple_of(2)
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[test]
fn events_have_exactly_the_contract_keys() {
    for scenario in [
        "datacenter.toml",
        "callbacks.toml",
        "cgroups.toml",
        "cwnd.toml",
    ] {
        let lines = json_lines(scenario);
        let (events, last) = lines.split_at(lines.len() - 1);
        for (i, e) in events.iter().enumerate() {
            let obj = e.as_object().unwrap();
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut want = EVENT_KEYS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "{scenario} event {i}");
            assert_eq!(e["event"], i);
            assert!(!e["op"].as_str().unwrap().starts_with("BPF_SOCK_OPS_"));
            let called = e["called"].as_bool().unwrap();
            assert_eq!(called, !e["ret"].as_array().unwrap().is_empty());
            assert_eq!(called, !e["result"].is_null());
            assert!(e["reply"].as_u64().unwrap() <= u64::from(u32::MAX));
            for h in e["helpers"].as_array().unwrap() {
                let name = h["helper"].as_str().unwrap();
                assert!(name.starts_with("bpf_"), "{name}");
                assert!(h["ret"].is_i64());
                let sockopt = name == "bpf_setsockopt" || name == "bpf_getsockopt";
                assert_eq!(sockopt, h.get("level").is_some(), "{h}");
                assert_eq!(sockopt, h.get("optname").is_some(), "{h}");
            }
            assert!(e["cb_flags"].is_u64());
            for field in ["snd_cwnd", "srtt_us", "snd_ssthresh", "bytes_acked"] {
                assert!(e["tcp"][field].is_u64(), "{field}");
            }
        }
        let maps = last[0].as_object().unwrap();
        assert_eq!(maps.keys().collect::<Vec<_>>(), vec!["maps"]);
        for (name, entries) in last[0]["maps"].as_object().unwrap() {
            for entry in entries.as_array().unwrap() {
                assert!(is_lower_hex(entry["key"].as_str().unwrap()), "{name}");
                assert!(is_lower_hex(entry["value"].as_str().unwrap()), "{name}");
            }
        }
    }
}

#[test]
fn datacenter_json_values() {
    let lines = json_lines("datacenter.toml");
    assert_eq!(lines.len(), 7);
    let connect = &lines[0];
    assert_eq!(connect["socket"], "api");
    assert_eq!(connect["op"], "TCP_CONNECT_CB");
    assert_eq!(connect["ret"], serde_json::json!([1]));
    // SOL_SOCKET = 1, SO_SNDBUF = 7; SOL_TCP = 6, TCP_CONGESTION = 13.
    let h = &connect["helpers"];
    assert_eq!(
        h[0],
        serde_json::json!({"helper": "bpf_setsockopt", "level": 1, "optname": 7, "ret": 0})
    );
    assert_eq!(h[2]["optname"], 13);
    assert_eq!(connect["options"]["TCP_CONGESTION"], "dctcp");
    assert_eq!(connect["options"]["SO_SNDBUF"], 4_194_304);
    let wan_timeout = &lines[5];
    assert_eq!(wan_timeout["reply"], u64::from(u32::MAX));
    assert_eq!(wan_timeout["result"], -1);
    // decisions: array of 2 u64 counters, keys are u32 indices in little-endian.
    assert_eq!(
        lines[6]["maps"]["decisions"],
        serde_json::json!([
            {"key": "00000000", "value": "0200000000000000"},
            {"key": "01000000", "value": "0100000000000000"}
        ])
    );
}

#[test]
fn gated_events_and_array_maps() {
    let lines = json_lines("callbacks.toml");
    let gated = &lines[0];
    assert_eq!(gated["called"], false);
    assert_eq!(gated["ret"], serde_json::json!([]));
    assert!(gated["result"].is_null());
    assert_eq!(gated["helpers"], serde_json::json!([]));
    // callbacks has max_entries 21: every index is listed, in order.
    let callbacks = lines.last().unwrap()["maps"]["callbacks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(callbacks.len(), 21);
    for (i, e) in callbacks.iter().enumerate() {
        assert_eq!(e["key"], hex_u32(i as u32));
    }
    assert_eq!(callbacks[8]["value"], "0100000000000000");
}

fn hex_u32(v: u32) -> String {
    v.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// `sockops run --engine jit` (and `jit-checked`) prints exactly what the interpreter prints, as JSON and as the
/// table (but for the engine's name in its header), for every example scenario (and with another seed, which changes what the
/// PRNG-driven examples do).
#[test]
fn the_jit_prints_what_the_interpreter_prints_for_every_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    let mut scenarios: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 6, "{scenarios:?}");
    for path in &scenarios {
        for (seed, json) in [(None, true), (None, false), (Some(99), true)] {
            let interp = run_scenario_file(path, Engine::Interpreter, seed, json).unwrap();
            assert!(!interp.is_empty());
            for engine in [Engine::Jit, Engine::CheckedJit] {
                let jit = run_scenario_file(path, engine, seed, json)
                    .unwrap_or_else(|e| panic!("{} on {engine}: {e}", path.display()));
                // The table's header names the engine; everything else must match.
                let interp =
                    interp.replacen("engine interpreter,", &format!("engine {engine},"), 1);
                assert_eq!(
                    interp,
                    jit,
                    "{} on {engine} seed {seed:?} json {json}",
                    path.display()
                );
            }
        }
    }
    println!(
        "{} example scenarios: JIT and checked-JIT output identical",
        scenarios.len()
    );
}
