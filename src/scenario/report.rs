//! Rendering a `Replay`: the readable table (one block per event: op, programs run, result,
//! helper calls, what changed) and the JSON-lines contract of `sockops run --json` (one object
//! per event with the keys `event, socket, op, called, ret, reply, result, helpers, options,
//! cb_flags, tcp`, then one `{"maps": ...}` object; map keys and values are lower-case hex of
//! their bytes in memory order).

use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use sockops_ctx::errno::errno_name;
use sockops_ctx::ops::{cb_flags, sk_bpf_cb};
use sockops_ctx::sockopt::{OptionValue, option_name};
use sockops_ctx::{HelperCall, SockOp};

use crate::scenario::replay::{EventOutcome, MapDump, Replay};

/// Lower-case hex of `bytes`, in order.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

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

/// An option value as JSON: a number or a string.
struct JsonOption<'a>(&'a OptionValue);

impl Serialize for JsonOption<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            OptionValue::Int(v) => serializer.serialize_i64(*v),
            OptionValue::Str(s) => serializer.serialize_str(s),
        }
    }
}

#[derive(Serialize)]
struct JsonHelper {
    helper: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optname: Option<i32>,
    ret: i64,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    event: usize,
    socket: &'a str,
    op: &'static str,
    called: bool,
    ret: Vec<u64>,
    reply: u32,
    result: Option<i32>,
    helpers: Vec<JsonHelper>,
    options: Ordered<'a, JsonOption<'a>>,
    cb_flags: u32,
    tcp: Ordered<'a, u64>,
}

#[derive(Serialize)]
struct JsonEntry {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct JsonMaps<'a> {
    maps: Ordered<'a, Vec<JsonEntry>>,
}

/// The `--json` output: one line per event, then the maps line.
pub fn render_json(replay: &Replay) -> String {
    let mut out = String::new();
    for e in &replay.events {
        let options: Vec<(String, JsonOption<'_>)> = e
            .options
            .iter()
            .map(|(name, v)| (name.to_string(), JsonOption(v)))
            .collect();
        let tcp: Vec<(String, u64)> = e.tcp.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        let ev = JsonEvent {
            event: e.index,
            socket: &e.socket,
            op: e.decision.op.name(),
            called: e.decision.called(),
            ret: e.decision.returns(),
            reply: e.decision.reply,
            result: e.decision.result,
            helpers: e
                .decision
                .helper_calls
                .iter()
                .map(|c| JsonHelper {
                    helper: c.name,
                    level: c.sockopt.map(|s| s.0),
                    optname: c.sockopt.map(|s| s.1),
                    ret: c.ret,
                })
                .collect(),
            options: Ordered(&options),
            cb_flags: e.cb_flags,
            tcp: Ordered(&tcp),
        };
        push_json_line(&mut out, &ev);
    }
    out.push_str(&render_maps_json(&replay.maps));
    out
}

/// The final `{"maps": ...}` line of `--json` output (with its newline): each map by name,
/// its entries as `{"key": hex, "value": hex}`. `sockops simulate --json` ends with it too.
pub fn render_maps_json(maps: &[MapDump]) -> String {
    let maps: Vec<(String, Vec<JsonEntry>)> = maps
        .iter()
        .map(|m| {
            let entries = m
                .entries
                .iter()
                .map(|(k, v)| JsonEntry {
                    key: hex(k),
                    value: hex(v),
                })
                .collect();
            (m.name.clone(), entries)
        })
        .collect();
    let mut out = String::new();
    push_json_line(
        &mut out,
        &JsonMaps {
            maps: Ordered(&maps),
        },
    );
    out
}

fn push_json_line(out: &mut String, value: &impl Serialize) {
    // Serialising these types cannot fail: every key is a string and every value a number,
    // string, bool, null or a collection of those.
    match serde_json::to_string(value) {
        Ok(line) => out.push_str(&line),
        Err(e) => out.push_str(&format!("{{\"error\": {:?}}}", e.to_string())),
    }
    out.push('\n');
}

/// The kernel name of a socket option level.
fn level_name(level: i32) -> String {
    match level {
        0 => "SOL_IP".into(),
        1 => "SOL_SOCKET".into(),
        6 => "SOL_TCP".into(),
        41 => "SOL_IPV6".into(),
        n => n.to_string(),
    }
}

fn describe_ret(ret: i64) -> String {
    if (-4095..0).contains(&ret) {
        format!("{ret} ({})", errno_name((-ret) as i32))
    } else {
        ret.to_string()
    }
}

fn describe_call(c: &HelperCall) -> String {
    match c.sockopt {
        Some((level, optname)) => {
            let opt = option_name(level, optname)
                .map(str::to_string)
                .unwrap_or_else(|| optname.to_string());
            format!(
                "{}({}, {opt}) = {}",
                c.name,
                level_name(level),
                describe_ret(c.ret)
            )
        }
        None if c.name.contains("lookup") || c.name.contains("storage_get") => format!(
            "{} = {}",
            c.name,
            if c.ret != 0 { "a value" } else { "NULL" }
        ),
        None => format!("{} = {}", c.name, describe_ret(c.ret)),
    }
}

fn describe_option(v: &Option<OptionValue>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "unset".into(),
    }
}

/// Why a gated op did not reach the programs.
fn gate_reason(op: SockOp) -> String {
    if op.needs_tx_timestamping() {
        return format!(
            "gated: needs SK_BPF_CB_FLAGS & SK_BPF_CB_TX_TIMESTAMPING ({:#x})",
            sk_bpf_cb::TX_TIMESTAMPING
        );
    }
    let mask = op.required_cb_flags().unwrap_or(0);
    let names: Vec<&str> = cb_flags::NAMES
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("gated: needs {}", names.join(" or "))
}

/// What the kernel does with the result `r` of the ops whose reply it uses (SOCK_OPS.md §4.1).
fn meaning(op: SockOp, r: i32, hz: u32) -> Option<String> {
    let hz = hz.max(1);
    Some(match op {
        SockOp::TimeoutInit if r <= 0 => {
            "SYN RTO: the kernel's default TCP_TIMEOUT_INIT (1 s)".to_string()
        }
        SockOp::TimeoutInit => {
            let max = 120 * hz;
            let j = (r as u32).min(max);
            let capped = if r as u32 > max {
                ", capped at TCP_RTO_MAX"
            } else {
                ""
            };
            format!(
                "SYN RTO {j} jiffies = {} ms at HZ={hz}{capped}",
                u64::from(j) * 1000 / u64::from(hz)
            )
        }
        SockOp::RwndInit if r <= 0 => "initial receive window: the kernel's default".to_string(),
        SockOp::RwndInit => {
            format!("initial receive window: at most {r} segments (it can only shrink)")
        }
        SockOp::NeedsEcn if r == 1 => "ECN requested for this connection".to_string(),
        SockOp::NeedsEcn => "no ECN request".to_string(),
        SockOp::BaseRtt if r > 0 => format!("base RTT {r} us for TCP-NV"),
        SockOp::BaseRtt => "base RTT: TCP-NV's default".to_string(),
        _ => return None,
    })
}

/// Appends one labelled block of lines (`label` on the first line only).
fn rows(out: &mut String, label: &str, lines: &[String]) {
    for (i, line) in lines.iter().enumerate() {
        let l = if i == 0 { label } else { "" };
        let _ = writeln!(out, "  {l:<9} {line}");
    }
}

fn render_event(out: &mut String, e: &EventOutcome) {
    let d = &e.decision;
    let args = if e.args == [0; 4] {
        String::new()
    } else {
        let n = e.args.iter().rposition(|a| *a != 0).map_or(0, |p| p + 1);
        let list: Vec<String> = e.args[..n].iter().map(u32::to_string).collect();
        format!(" args [{}]", list.join(", "))
    };
    let _ = writeln!(
        out,
        "event {}: {}{} on {} ({})",
        e.index,
        d.op.name(),
        args,
        e.socket,
        e.socket_desc
    );
    if !e.set.is_empty() {
        let set: Vec<String> = e.set.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        rows(out, "set", &[set.join(", ")]);
    }
    if !d.called() {
        let why = if d.enabled {
            "none (no program attached for this cgroup)".to_string()
        } else {
            format!("none ({}; cb_flags {:#x})", gate_reason(d.op), e.cb_flags)
        };
        rows(out, "programs", &[why]);
        rows(
            out,
            "result",
            &["none: the kernel's caller sees no program".into()],
        );
        return;
    }
    let progs: Vec<String> = d
        .runs
        .iter()
        .map(|r| format!("{} -> {}", r.name, r.ret))
        .collect();
    rows(out, "programs", &[progs.join(", ")]);
    let uses_reply = matches!(
        d.op,
        SockOp::TimeoutInit | SockOp::RwndInit | SockOp::NeedsEcn | SockOp::BaseRtt
    );
    let result = match d.result {
        Some(r) if !uses_reply => format!(
            "the kernel's caller gets {r} (reply {}), and ignores it for this op",
            d.reply as i32
        ),
        Some(r) if d.runs.iter().all(|p| p.ret as u32 != 0) => {
            format!("reply {}, the kernel's caller gets {r}", d.reply as i32)
        }
        Some(r) => format!(
            "reply {}, but a program returned 0: the kernel's caller gets {r}",
            d.reply as i32
        ),
        None => "none".into(),
    };
    rows(out, "result", &[result]);
    if let Some(m) = d.result.and_then(|r| meaning(d.op, r, e.hz)) {
        rows(out, "meaning", &[m]);
    }
    if !d.helper_calls.is_empty() {
        let calls: Vec<String> = d.helper_calls.iter().map(describe_call).collect();
        rows(out, "helpers", &calls);
    }
    let mut changed: Vec<String> = d
        .changes
        .options
        .iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.option,
                describe_option(&c.before),
                describe_option(&c.after)
            )
        })
        .collect();
    changed.extend(d.changes.fields.iter().map(|c| {
        if c.field.contains("cb_flags") || c.field == "sk_txhash" {
            format!("{}: {:#x} -> {:#x}", c.field, c.before, c.after)
        } else {
            format!("{}: {} -> {}", c.field, c.before, c.after)
        }
    }));
    if changed.is_empty() {
        changed.push("nothing".into());
    }
    rows(out, "changed", &changed);
    if let Some(w) = &d.write_back {
        let mut header = Vec::new();
        if let Some(n) = w.hdr_opt_reserved {
            header.push(format!("{n} bytes of option space reserved"));
        }
        if let Some(bytes) = w.hdr_opt_written.as_deref().filter(|b| !b.is_empty()) {
            header.push(format!("options written: {}", hex(bytes)));
        }
        if !header.is_empty() {
            rows(out, "header", &header);
        }
    }
    if !d.trace.is_empty() {
        let lines: Vec<String> = d
            .trace
            .iter()
            .map(|t| format!("{:?}", t.trim_end()))
            .collect();
        rows(out, "trace", &lines);
    }
}

fn render_maps(out: &mut String, maps: &[MapDump]) {
    let _ = writeln!(out, "maps after the last event:");
    let shown: Vec<&MapDump> = maps.iter().filter(|m| !m.read_only).collect();
    if shown.is_empty() {
        let _ = writeln!(out, "  (no writable maps)");
    }
    for m in shown {
        if m.entries.is_empty() {
            let _ = writeln!(out, "  {}: empty", m.name);
            continue;
        }
        let _ = writeln!(out, "  {}:", m.name);
        for (k, v) in &m.entries {
            let _ = writeln!(out, "    {} => {}", hex(k), hex(v));
        }
    }
    let hidden = maps.iter().filter(|m| m.read_only).count();
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  ({hidden} read-only data map(s) not shown; --json lists every map)"
        );
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The readable report: the attached programs, one block per event, then the maps.
pub fn render_table(replay: &Replay) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}, {}, {}; engine {}, seed {}",
        plural(replay.programs.len(), "program"),
        plural(replay.sockets, "socket"),
        plural(replay.events.len(), "event"),
        replay.engine,
        replay.seed
    );
    for p in &replay.programs {
        let _ = writeln!(
            out,
            "  {} ({}, section {}) attached to {} with flags {}",
            p.name, p.file, p.section, p.cgroup, p.flags
        );
    }
    for e in &replay.events {
        out.push('\n');
        render_event(&mut out, e);
    }
    out.push('\n');
    render_maps(&mut out, &replay.maps);
    out
}
