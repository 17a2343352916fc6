//! Rendering a [`SimReport`]: the readable table (one block per connection) and the JSON-lines
//! contract of `sockops simulate --json`: one object per connection, in file order, with the
//! keys `connection, port, established_ms, completed_ms, client, server` (each side:
//! `segments_sent, retransmits, ops, options, congestion, nagle`; `null` for a side that
//! never existed), then the `{"maps": ...}` object exactly as `sockops run` prints it.
//! `ops` counts the ops delivered to that side (those its callback flags enabled), keyed by
//! name in the order each was first delivered; the server side counts its request socket's
//! ops and its accepted socket's. `TCP_LISTEN_CB` runs once per port on the listener and
//! belongs to no connection (a program's own counters, in the maps, include it).

use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use sockops_ctx::sockopt::OptionValue;

use crate::net::options::Application;
use crate::net::sim::run::{ConnectionReport, SideReport, SimReport};
use crate::scenario::render_maps_json;

/// A JSON object whose keys keep the given order.
struct Ordered<'a, V: Serialize>(&'a [(String, V)]);

impl<V: Serialize> Serialize for Ordered<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// An option value: a number or a string.
struct JsonValue<'a>(&'a OptionValue);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            OptionValue::Int(v) => serializer.serialize_i64(*v),
            OptionValue::Str(s) => serializer.serialize_str(s),
        }
    }
}

#[derive(Serialize)]
struct JsonOption<'a> {
    value: JsonValue<'a>,
    applied: bool,
}

#[derive(Serialize)]
struct JsonSide<'a> {
    segments_sent: u32,
    retransmits: u32,
    ops: Ordered<'a, usize>,
    options: Ordered<'a, JsonOption<'a>>,
    congestion: &'static str,
    nagle: bool,
}

#[derive(Serialize)]
struct JsonConnection<'a> {
    connection: &'a str,
    port: u16,
    established_ms: Option<f64>,
    completed_ms: Option<f64>,
    client: Option<JsonSide<'a>>,
    server: Option<JsonSide<'a>>,
}

fn ms(us: Option<u64>) -> Option<f64> {
    us.map(|us| us as f64 / 1000.0)
}

fn push_json_line(out: &mut String, value: &impl Serialize) {
    // Serialising these types cannot fail: keys are strings, values numbers, strings, bools,
    // nulls or collections of those (finite floats only: times are integers of µs / 1000).
    match serde_json::to_string(value) {
        Ok(line) => out.push_str(&line),
        Err(e) => out.push_str(&format!("{{\"error\": {:?}}}", e.to_string())),
    }
    out.push('\n');
}

fn side_json<'a>(
    side: &'a SideReport,
    ops: &'a [(String, usize)],
    options: &'a [(String, JsonOption<'a>)],
) -> JsonSide<'a> {
    JsonSide {
        segments_sent: side.segments_sent,
        retransmits: side.retransmits,
        ops: Ordered(ops),
        options: Ordered(options),
        congestion: side.congestion,
        nagle: side.nagle,
    }
}

fn ops_of(side: Option<&SideReport>) -> Vec<(String, usize)> {
    side.map(|s| {
        s.ops
            .iter()
            .map(|(op, n)| (op.name().to_string(), *n))
            .collect()
    })
    .unwrap_or_default()
}

fn options_of(side: Option<&SideReport>) -> Vec<(String, JsonOption<'_>)> {
    side.map(|s| {
        s.options
            .iter()
            .map(|o| {
                (
                    o.name.to_string(),
                    JsonOption {
                        value: JsonValue(&o.value),
                        applied: o.applied,
                    },
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

fn connection_line(out: &mut String, c: &ConnectionReport) {
    let (client_ops, server_ops) = (ops_of(c.client.as_ref()), ops_of(c.server.as_ref()));
    let (client_opts, server_opts) = (options_of(c.client.as_ref()), options_of(c.server.as_ref()));
    let line = JsonConnection {
        connection: &c.name,
        port: c.port,
        established_ms: ms(c.established_us),
        completed_ms: ms(c.completed_us),
        client: c
            .client
            .as_ref()
            .map(|s| side_json(s, &client_ops, &client_opts)),
        server: c
            .server
            .as_ref()
            .map(|s| side_json(s, &server_ops, &server_opts)),
    };
    push_json_line(out, &line);
}

/// The `--json` output: one line per connection, then the maps line.
pub fn render_json(report: &SimReport) -> String {
    let mut out = String::new();
    for c in &report.connections {
        connection_line(&mut out, c);
    }
    out.push_str(&render_maps_json(&report.maps));
    out
}

fn fmt_ms(us: Option<u64>) -> String {
    us.map_or("never".to_string(), |us| {
        format!("{:.3} ms", us as f64 / 1000.0)
    })
}

fn how(a: Application) -> String {
    match a {
        Application::Smoltcp(knob) => format!("smoltcp {knob}"),
        Application::AtCreation => "buffer size at creation".into(),
        Application::Device => "IP header rewrite".into(),
        Application::ModelOnly(why) => format!("model only: {why}"),
    }
}

fn side_table(out: &mut String, label: &str, side: Option<&SideReport>) {
    let Some(s) = side else {
        let _ = writeln!(out, "  {label}: never opened");
        return;
    };
    let _ = writeln!(
        out,
        "  {label}: {} segments sent, {} retransmitted, {}, Nagle {}, srtt {} us",
        s.segments_sent,
        s.retransmits,
        s.congestion,
        if s.nagle { "on" } else { "off" },
        s.metrics.srtt_us >> 3,
    );
    let ops: Vec<String> = s
        .ops
        .iter()
        .map(|(op, n)| format!("{} x{n}", op.name()))
        .collect();
    let _ = writeln!(
        out,
        "    ops: {}",
        if ops.is_empty() {
            "none".to_string()
        } else {
            ops.join(", ")
        }
    );
    for o in &s.options {
        let _ = writeln!(
            out,
            "    option {} = {}: {} ({})",
            o.name,
            o.value,
            if o.applied { "applied" } else { "not applied" },
            how(o.how)
        );
    }
}

/// The readable output: the run's parameters, then one block per connection.
pub fn render_table(report: &SimReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "engine {}, seed {}, stopped at {:.3} ms, link dropped {} to server / {} to client",
        report.engine,
        report.seed,
        report.end_us as f64 / 1000.0,
        report.dropped[0],
        report.dropped[1]
    );
    for c in &report.connections {
        let _ = writeln!(
            out,
            "\nconnection {} (port {}): established {}, completed {}",
            c.name,
            c.port,
            fmt_ms(c.established_us),
            fmt_ms(c.completed_us)
        );
        side_table(&mut out, "client", c.client.as_ref());
        side_table(&mut out, "server", c.server.as_ref());
    }
    for m in &report.maps {
        if m.read_only || m.entries.iter().all(|(_, v)| v.iter().all(|b| *b == 0)) {
            continue;
        }
        let _ = writeln!(out, "\nmap {}:", m.name);
        for (k, v) in m.entries.iter().filter(|(_, v)| v.iter().any(|b| *b != 0)) {
            let _ = writeln!(
                out,
                "  {} = {}",
                crate::scenario::hex(k),
                crate::scenario::hex(v)
            );
        }
    }
    out
}
