//! A recorded trace written as a scenario file (`sockops run` replays it): one `[[socket]]`
//! per socket cookie (a request socket is one of its own, `is_fullsock = 0`), one `[[event]]`
//! per call in the kernel's order, the metrics as they were (`set = {...}` with the fields
//! that changed since that socket's previous call) and, for the ops that carry one, the
//! segment (flags, options, payload).

use std::collections::HashMap;
use std::fmt::Write as _;

use sockops_ctx::SockOp;

use super::wire::{RECORD_METRICS, Record};

/// The record fields a scenario sets on the socket (the others describe the op or the
/// socket's identity).
const SOCKET_FIELDS: usize = 25;

/// One socket of a trace.
#[derive(Clone, Debug)]
pub struct TraceSocket {
    /// Its name in the scenario (`c1-a`...).
    pub name: String,
    /// Its cookie.
    pub cookie: u64,
    /// A full socket (the kernel gives an accepted connection's request socket and the
    /// full socket created from it the same cookie; they are two sockets here).
    pub fullsock: bool,
    /// The record of its first call.
    pub first: usize,
}

/// The sockets of `records` (one per cookie and `is_fullsock`), in order of first
/// appearance, named by connection: the two sides of one loopback connection (addresses
/// swapped) share a number, `a` being the one seen first; a request socket is `-req`.
pub fn sockets(records: &[Record]) -> Vec<TraceSocket> {
    let mut out: Vec<TraceSocket> = Vec::new();
    let mut conns: Vec<(std::net::SocketAddr, std::net::SocketAddr)> = Vec::new();
    for (k, r) in records.iter().enumerate() {
        if out
            .iter()
            .any(|s| (s.cookie, s.fullsock) == (r.cookie, r.is_fullsock()))
        {
            continue;
        }
        let conn = conns
            .iter()
            .position(|&(l, rm)| (l, rm) == (r.local, r.remote) || (l, rm) == (r.remote, r.local));
        let (n, side) = match conn {
            Some(n) => {
                let (l, _) = conns[n];
                (n, if l == r.local { "a" } else { "b" })
            }
            None => {
                conns.push((r.local, r.remote));
                (conns.len() - 1, "a")
            }
        };
        let kind = if r.is_fullsock() { "" } else { "-req" };
        let mut name = format!("c{}-{side}{kind}", n + 1);
        let base = name.clone();
        let mut dup = 2;
        while out.iter().any(|s| s.name == name) {
            name = format!("{base}{dup}");
            dup += 1;
        }
        out.push(TraceSocket {
            name,
            cookie: r.cookie,
            fullsock: r.is_fullsock(),
            first: k,
        });
    }
    out
}

fn flag_names(bits: u64) -> String {
    const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
    NAMES
        .iter()
        .enumerate()
        .filter(|(k, _)| bits & (1 << k) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The segment an op saw, as a scenario's `segment = {...}`, for the ops that carry one.
fn segment_of(op: SockOp, r: &Record) -> Option<String> {
    if !op.carries_skb() {
        return None;
    }
    let flags = flag_names(r.metric("skb_tcp_flags").unwrap_or(0));
    let skb_len = r.metric("skb_len").unwrap_or(0);
    let incoming = matches!(
        op,
        SockOp::ActiveEstablishedCb | SockOp::PassiveEstablishedCb | SockOp::ParseHdrOptCb
    );
    let doff = r.header.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
    if incoming && doff >= 20 && r.header.len() >= doff {
        let payload = skb_len.saturating_sub(doff as u64);
        let own_flags = r.metric("skb_tcp_flags") == Some(u64::from(r.header[13]));
        Some(format!(
            "{{ {}header = \"{}\", payload = {payload} }}",
            if own_flags {
                String::new()
            } else {
                format!("flags = \"{flags}\", ")
            },
            hex(&r.header[..doff])
        ))
    } else {
        Some(format!("{{ flags = \"{flags}\", payload = {skb_len} }}"))
    }
}

/// The trace as scenario text. `program` (an object path and section, relative to where the
/// file will be) becomes its `[[program]]`; without one the file says how to add one.
pub fn scenario_text(records: &[Record], program: Option<(&str, Option<&str>)>) -> String {
    scenario_text_with(records, program, true)
}

/// [`scenario_text`], where with `recorded_cb_flags` false the events do not set
/// `bpf_sock_ops_cb_flags` (each socket starts with the flags of its first call): the
/// replayed programs' own `bpf_sock_ops_cb_flags_set` calls then decide which ops run, as
/// `sockops compare` needs to check them.
pub fn scenario_text_with(
    records: &[Record],
    program: Option<(&str, Option<&str>)>,
    recorded_cb_flags: bool,
) -> String {
    let socks = sockets(records);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Recorded by `sockops record`: {} sock_ops calls on {} sockets, in the kernel's order,\n# with the context the kernel built for each.",
        records.len(),
        socks.len()
    );
    match program {
        Some((object, section)) => {
            let _ = writeln!(t, "\n[[program]]\nobject = {object:?}");
            if let Some(s) = section {
                let _ = writeln!(t, "section = {s:?}");
            }
        }
        None => {
            let _ = writeln!(
                t,
                "# Replay it through a program: sockops run THIS.toml --program PROG.o"
            );
        }
    }
    let by_cookie: HashMap<(u64, bool), usize> = socks
        .iter()
        .enumerate()
        .map(|(k, s)| ((s.cookie, s.fullsock), k))
        .collect();
    for s in &socks {
        let r = &records[s.first];
        let _ = writeln!(
            t,
            "\n[[socket]]\nname = {:?}\nlocal = \"{}\"\nremote = \"{}\"",
            s.name, r.local, r.remote
        );
        // A request socket reads its callback flags as 0, but the kernel gates its ops by
        // the listener's: give it the flags that let through every op it was called for.
        let request_flags = (!r.is_fullsock()).then(|| {
            records
                .iter()
                .filter(|o| (o.cookie, o.is_fullsock()) == (s.cookie, false))
                .filter_map(|o| SockOp::from_number(o.op)?.required_cb_flags())
                .fold(0u32, |acc, mask| acc | (mask & mask.wrapping_neg()))
        });
        if !r.is_fullsock() {
            let _ = writeln!(t, "is_fullsock = 0");
        }
        for (k, name) in RECORD_METRICS.iter().take(SOCKET_FIELDS).enumerate() {
            let value = match request_flags {
                Some(flags) if *name == "bpf_sock_ops_cb_flags" => u64::from(flags),
                _ => r.metrics[k],
            };
            let _ = writeln!(t, "{name} = {value}");
        }
    }
    let mut last: Vec<Option<&Record>> = vec![None; socks.len()];
    for r in records {
        let k = by_cookie[&(r.cookie, r.is_fullsock())];
        let op = SockOp::from_number(r.op);
        let _ = writeln!(t, "\n[[event]]\nsocket = {:?}", socks[k].name);
        match op {
            Some(op) => {
                let _ = writeln!(t, "op = {:?}", op.name());
            }
            None => {
                let _ = writeln!(t, "op = {}", r.op);
            }
        }
        let used = r.args.iter().rposition(|&a| a != 0).map_or(0, |p| p + 1);
        if used > 0 {
            let args: Vec<String> = r.args[..used].iter().map(u32::to_string).collect();
            let _ = writeln!(t, "args = [{}]", args.join(", "));
        }
        let changed: Vec<String> = RECORD_METRICS
            .iter()
            .take(SOCKET_FIELDS)
            .enumerate()
            .filter(|(j, _)| last[k].is_none_or(|p| p.metrics[*j] != r.metrics[*j]))
            .filter(|_| last[k].is_some())
            .filter(|(_, name)| recorded_cb_flags || **name != "bpf_sock_ops_cb_flags")
            .map(|(j, name)| format!("{name} = {}", r.metrics[j]))
            .collect();
        if !changed.is_empty() {
            let _ = writeln!(t, "set = {{ {} }}", changed.join(", "));
        }
        if let Some(seg) = op.and_then(|op| segment_of(op, r)) {
            let _ = writeln!(t, "segment = {seg}");
        }
        last[k] = Some(r);
    }
    t
}
