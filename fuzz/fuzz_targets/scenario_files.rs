//! Scenario text from anywhere: parsing, preparing (objects resolved against `examples/`)
//! and replaying on the interpreter give a result or a typed error, never a panic. Half the
//! inputs are raw text; the other half are structure-aware: one of the shipped example
//! scenarios, parsed as TOML, with a few values replaced (by other types, extreme numbers,
//! odd strings), keys removed or added, and array elements duplicated or dropped, then
//! written back.

#![no_main]

use std::path::Path;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use sockops::runtime::Engine;
use sockops::scenario::{Scenario, ScenarioFile, replay};
use toml::Value;

/// The shipped example scenarios.
const SCENARIOS: [&str; 8] = [
    include_str!("../../examples/scenarios/callbacks.toml"),
    include_str!("../../examples/scenarios/cgroups.toml"),
    include_str!("../../examples/scenarios/cwnd.toml"),
    include_str!("../../examples/scenarios/datacenter.toml"),
    include_str!("../../examples/scenarios/hdr_opt.toml"),
    include_str!("../../examples/scenarios/jitter.toml"),
    include_str!("../../examples/scenarios/sock_stats.toml"),
    include_str!("../../examples/scenarios/tail_calls.toml"),
];

/// A replacement value: another type, an extreme number, an odd string.
fn odd_value(u: &mut Unstructured<'_>) -> Value {
    match u.int_in_range(0..=7).unwrap_or(0) {
        0 => Value::Integer(u.arbitrary().unwrap_or(0)),
        1 => Value::Integer([0, -1, i64::MAX, i64::MIN, 1 << 32, 65536][u.choose_index(6).unwrap_or(0)]),
        2 => Value::Float([f64::NAN, f64::INFINITY, -0.0, 1e308][u.choose_index(4).unwrap_or(0)]),
        3 => Value::Boolean(u.arbitrary().unwrap_or(false)),
        4 => Value::String(u.arbitrary().unwrap_or_default()),
        5 => Value::String(
            ["", "/", "../../etc/passwd", "::1", "999.1.1.1:0", "TCP_CONNECT_CB", "nope.o"]
                [u.choose_index(7).unwrap_or(0)]
                .to_string(),
        ),
        6 => Value::Array(Vec::new()),
        _ => Value::Table(Default::default()),
    }
}

/// Applies one mutation somewhere inside `value`.
fn mutate(value: &mut Value, u: &mut Unstructured<'_>, depth: usize) {
    match value {
        Value::Table(table) if !table.is_empty() && depth < 6 => {
            let keys: Vec<String> = table.keys().cloned().collect();
            let key = keys[u.choose_index(keys.len()).unwrap_or(0)].clone();
            match u.int_in_range(0..=5).unwrap_or(0) {
                0 => {
                    table.remove(&key);
                }
                1 => {
                    let name: String = u.arbitrary().unwrap_or_else(|_| "extra".into());
                    table.insert(name, odd_value(u));
                }
                2 => {
                    table.insert(key, odd_value(u));
                }
                _ => {
                    if let Some(inner) = table.get_mut(&key) {
                        mutate(inner, u, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && depth < 6 => {
            let i = u.choose_index(items.len()).unwrap_or(0);
            match u.int_in_range(0..=3).unwrap_or(0) {
                0 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                1 => {
                    items.remove(i);
                }
                _ => mutate(&mut items[i], u, depth + 1),
            }
        }
        other => *other = odd_value(u),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let text = if u.ratio(1, 2).unwrap_or(false) {
        let base = SCENARIOS[u.choose_index(SCENARIOS.len()).unwrap_or(0)];
        let Ok(mut value) = base.parse::<Value>() else {
            return;
        };
        for _ in 0..1 + u.int_in_range(0..=3).unwrap_or(0) {
            mutate(&mut value, &mut u, 0);
        }
        toml::to_string(&value).unwrap_or_default()
    } else {
        match std::str::from_utf8(u.take_rest()) {
            Ok(text) => text.to_string(),
            Err(_) => return,
        }
    };
    let Ok(file) = ScenarioFile::parse(&text, Path::new("fuzz.toml")) else {
        return;
    };
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    if let Ok(scenario) = Scenario::prepare(&file, &examples) {
        let _ = replay(&scenario, Engine::Interpreter, None);
    }
});
