//! `sockops bench`: the per-event timing of a scenario on both engines. Checks the report's
//! shape (one row per event, in order, with the ops and sockets `sockops run` shows), that
//! every number is positive and ordered (minimum <= median), that the two engines did the
//! same work (helper calls, returns and reply equal; instructions counted by the
//! interpreter, equal to what a plain interpreter run of the same event executes), and the
//! table and JSON renderings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sockops::runtime::Engine;
use sockops::scenario::bench::{
    BenchOptions, BenchReport, bench, render_bench_json, render_bench_table,
};
use sockops::scenario::{Scenario, replay};

fn scenario(name: &str) -> Scenario {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scenarios")
        .join(name);
    Scenario::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn quick(engines: Vec<Engine>) -> BenchOptions {
    BenchOptions {
        engines,
        rounds: 3,
        batch: Duration::from_micros(50),
        max_calls: 64,
    }
}

fn check_consistent(name: &str, report: &BenchReport) {
    let s = scenario(name);
    assert_eq!(
        report.events.len(),
        s.events.len(),
        "{name}: one row per event"
    );
    let replayed = replay(&s, Engine::Interpreter, None).unwrap();
    for (row, outcome) in report.events.iter().zip(&replayed.events) {
        let at = format!("{name} event {}", row.index);
        assert_eq!(row.index, outcome.index, "{at}");
        assert_eq!(row.op, outcome.decision.op.name(), "{at}");
        assert_eq!(row.socket, outcome.socket, "{at}");
        assert_eq!(row.programs, outcome.decision.runs.len(), "{at}");
        assert_eq!(row.engines.len(), report.engines.len(), "{at}");
        for t in &row.engines {
            assert!(t.min_ns > 0.0 && t.min_ns.is_finite(), "{at}: {t:?}");
            assert!(t.median_ns >= t.min_ns, "{at}: {t:?}");
            assert!(t.calls >= 1, "{at}: {t:?}");
            // The timed op did what the replayed op did.
            assert_eq!(
                t.helper_calls,
                outcome.decision.helper_calls.len(),
                "{at}: {t:?}"
            );
            assert_eq!(t.returns, outcome.decision.returns(), "{at}: {t:?}");
            assert_eq!(t.reply, outcome.decision.reply, "{at}: {t:?}");
        }
        let first = &row.engines[0];
        for t in &row.engines[1..] {
            assert_eq!(
                (t.helper_calls, &t.returns, t.reply),
                (first.helper_calls, &first.returns, first.reply),
                "{at}: the engines disagree"
            );
        }
        if report.engines.contains(&Engine::Interpreter) {
            let n = row
                .instructions
                .expect("the interpreter counts instructions");
            assert_eq!(n > 0, row.programs > 0, "{at}: {n} instructions");
        }
    }
}

#[test]
fn datacenter_rows_are_positive_and_both_engines_do_the_same_work() {
    let report = bench(
        &scenario("datacenter.toml"),
        &quick(vec![Engine::Interpreter, Engine::Jit]),
    )
    .expect("benches");
    check_consistent("datacenter.toml", &report);
    for row in &report.events {
        let ratio = row.jit_over_interpreter().expect("both engines timed");
        assert!(ratio > 0.0 && ratio.is_finite(), "{row:?}");
    }

    let table = render_bench_table(&report);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2 + report.events.len(), "{table}");
    assert!(
        lines[1].contains("interp min/med") && lines[1].contains("jit/interp"),
        "{table}"
    );
    for (line, row) in lines[2..].iter().zip(&report.events) {
        assert!(
            line.contains(row.op) && line.contains(&row.socket),
            "{line}"
        );
        assert!(line.trim_end().ends_with('x'), "ratio column: {line}");
    }

    let json = render_bench_json(&report);
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON"))
        .collect();
    assert_eq!(objects.len(), report.events.len());
    for (o, row) in objects.iter().zip(&report.events) {
        assert_eq!(o["event"], row.index);
        assert_eq!(o["op"], row.op);
        assert_eq!(o["instructions"], row.instructions.unwrap());
        for key in ["interp", "jit"] {
            let e = &o["engines"][key];
            assert!(e["min_ns"].as_f64().unwrap() > 0.0, "{o}");
            assert!(e["median_ns"].as_f64().unwrap() >= e["min_ns"].as_f64().unwrap());
            assert_eq!(e["helper_calls"], o["engines"]["interp"]["helper_calls"]);
        }
        assert!(o["jit_over_interp"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn every_example_scenario_benches_on_the_interpreter() {
    // Gated ops (no program runs) and tail calls included; the interpreter takes every
    // program, verified or not.
    for name in [
        "callbacks.toml",
        "cgroups.toml",
        "cwnd.toml",
        "hdr_opt.toml",
        "jitter.toml",
        "sock_stats.toml",
        "tail_calls.toml",
        "tos_reflect.toml",
    ] {
        let report = bench(&scenario(name), &quick(vec![Engine::Interpreter]))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_consistent(name, &report);
        let table = render_bench_table(&report);
        assert!(
            !table.contains("jit/interp"),
            "{name}: one engine, no ratio column"
        );
    }
}
