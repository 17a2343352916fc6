//! Checking a parsed scenario file and resolving its names into what the replay needs:
//! sysctls, socket addresses and fields, ops, args, metric changes and cgroup paths. Every
//! problem is found here, before anything runs or prints, and named by its place in the
//! file (`socket "a"`, `event 3`, `program 1`). Objects and programs are resolved by the
//! replay, which loads them before the first event.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sockops_ctx::context::tcp_flags;
use sockops_ctx::{SavedSyn, SockOp, Socket, SocketKind, Sysctls, TcpMetrics, TcpState};

use crate::cgroup::{AttachFlags, normalize_path};
use crate::scenario::format::{
    EventSpec, FormatError, OpSpec, ProgramSpec, ScenarioFile, SocketSpec, SysctlValue,
};
use crate::scenario::replay::op_input;

/// Why a scenario cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file does not parse.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A value in the file is invalid; `place` says where (`socket "a"`, `event 3`, ...).
    #[error("{place}: {message}")]
    Invalid {
        /// Where in the file.
        place: String,
        /// What is wrong.
        message: String,
    },
    /// Loading, attaching or running a program failed.
    #[error("{place}: {source}")]
    Runtime {
        /// Where in the file.
        place: String,
        /// The runtime's error.
        source: Box<crate::runtime::RuntimeError>,
    },
}

fn invalid(place: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        place: place.into(),
        message: message.into(),
    }
}

/// A program to load and attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramPlan {
    /// The object file (resolved against the scenario's directory).
    pub object: PathBuf,
    /// Section or function name.
    pub selector: Option<String>,
    /// Normalised cgroup path.
    pub cgroup: String,
    /// Attach flags.
    pub flags: AttachFlags,
}

/// One event, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPlan {
    /// Index of the socket in `Scenario::sockets`.
    pub socket: usize,
    /// The op.
    pub op: SockOp,
    /// `args[0..4]`.
    pub args: [u32; 4],
    /// Socket fields to set before the op, by name, with their raw values.
    pub set: Vec<(String, u64)>,
    /// The segment the op sees instead of its usual one, if the file gives one.
    pub segment: Option<SegmentOverride>,
}

/// What an event changes in the segment its op sees (see `SegmentSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentOverride {
    /// TCP flags.
    pub flags: Option<u8>,
    /// TCP option bytes (at most 40).
    pub options: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Option<u32>,
    /// The peer's whole TCP header, replacing the one built from the socket.
    pub header: Option<Vec<u8>>,
}

/// A scenario ready to replay.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Seed of `bpf_get_prandom_u32` from the file (default 0).
    pub seed: u64,
    /// Kernel settings (HZ included).
    pub sysctls: Sysctls,
    /// Programs, in attach order.
    pub programs: Vec<ProgramPlan>,
    /// Sockets with their names, in file order.
    pub sockets: Vec<(String, Socket)>,
    /// Events, in order.
    pub events: Vec<EventPlan>,
}

impl Scenario {
    /// Reads, parses and checks the scenario at `path` (objects resolve against its folder).
    pub fn read(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = ScenarioFile::read(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Scenario::prepare(&file, dir)
    }

    /// Checks `file` and resolves its names; object paths resolve against `base_dir`.
    pub fn prepare(file: &ScenarioFile, base_dir: &Path) -> Result<Scenario, ScenarioError> {
        let sysctls = sysctls_from(file.hz, &file.sysctl)?;
        let programs = program_plans(&file.program, base_dir)?;
        let mut sockets: Vec<(String, Socket)> = Vec::new();
        for (i, spec) in file.socket.iter().enumerate() {
            let (name, socket) = socket_of(i, spec, &sysctls)?;
            if sockets.iter().any(|(n, _)| *n == name) {
                return Err(invalid(
                    format!("socket {i}"),
                    format!("duplicate socket name {name:?}"),
                ));
            }
            sockets.push((name, socket));
        }
        let mut scratch: Vec<Socket> = sockets.iter().map(|(_, s)| s.clone()).collect();
        let events = file
            .event
            .iter()
            .enumerate()
            .map(|(i, e)| event_plan(i, e, &sockets, &mut scratch))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario {
            seed: file.seed.unwrap_or(0),
            sysctls,
            programs,
            sockets,
            events,
        })
    }
}

/// The kernel settings of a `hz` value and a `[sysctl]` table, as a scenario file gives them
/// (errors name the sysctl). `sockops simulate` reads its `[sysctl]` table with this too.
pub fn sysctls_from(
    hz: Option<u32>,
    sysctl: &std::collections::BTreeMap<String, SysctlValue>,
) -> Result<Sysctls, ScenarioError> {
    let mut sysctls = Sysctls::default();
    if let Some(hz) = hz {
        sysctls
            .set("kernel.hz", &hz.to_string())
            .map_err(|e| invalid("hz", e.to_string()))?;
    }
    // The list of available congestion controls first, so the default may name one of them.
    let mut entries: Vec<(&String, &SysctlValue)> = sysctl.iter().collect();
    entries.sort_by_key(|(name, _)| !name.contains("available_congestion_control"));
    for (name, value) in entries {
        let text = match value {
            SysctlValue::Int(v) => v.to_string(),
            SysctlValue::Str(s) => s.clone(),
        };
        sysctls
            .set(name, &text)
            .map_err(|e| invalid(format!("sysctl {name:?}"), e.to_string()))?;
    }
    Ok(sysctls)
}

/// The `[[program]]` entries of a file, checked and resolved (objects against `base_dir`);
/// errors name the program (`program 1 (x.o)`).
pub fn program_plans(
    specs: &[ProgramSpec],
    base_dir: &Path,
) -> Result<Vec<ProgramPlan>, ScenarioError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, p)| program_plan(i, p, base_dir))
        .collect()
}

fn program_plan(i: usize, p: &ProgramSpec, base_dir: &Path) -> Result<ProgramPlan, ScenarioError> {
    let place = format!("program {i} ({})", p.object.display());
    let cgroup = normalize_path(p.cgroup.as_deref().unwrap_or("/"))
        .map_err(|e| invalid(&place, e.to_string()))?;
    let flags_text = p.flags.as_deref().unwrap_or("none");
    let flags = AttachFlags::parse(flags_text).ok_or_else(|| {
        invalid(
            &place,
            format!(
                "unknown attach flags {flags_text:?} (expected \"none\", \"override\" or \"multi\")"
            ),
        )
    })?;
    Ok(ProgramPlan {
        object: base_dir.join(&p.object),
        selector: p.section.clone(),
        cgroup,
        flags,
    })
}

/// A deterministic non-zero `sk_txhash` for the `n`-th socket of a scenario (the kernel
/// draws a random one; a scenario must replay the same way every time).
fn scenario_txhash(n: u64) -> u32 {
    let mut x = n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    (x as u32) | 1
}

fn parse_addr(place: &str, what: &str, text: &str) -> Result<SocketAddr, ScenarioError> {
    text.parse::<SocketAddr>().map_err(|_| {
        invalid(
            place,
            format!("{what} {text:?} is not an address and port (e.g. \"10.0.0.1:40000\" or \"[2001:db8::1]:443\")"),
        )
    })
}

fn field_value(place: &str, name: &str, v: &toml::Value) -> Result<u64, ScenarioError> {
    match v {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map_err(|_| invalid(place, format!("field `{name}`: {n} is negative"))),
        toml::Value::String(s) if name == "state" => TcpState::parse(s)
            .map(|st| u64::from(st.number()))
            .ok_or_else(|| invalid(place, format!("field `state`: unknown TCP state {s:?}"))),
        other => Err(invalid(
            place,
            format!(
                "field `{name}`: expected an integer, found {}",
                other.type_str()
            ),
        )),
    }
}

fn socket_of(
    i: usize,
    spec: &SocketSpec,
    sysctls: &Sysctls,
) -> Result<(String, Socket), ScenarioError> {
    let name = spec.name.clone().unwrap_or_else(|| format!("sock{i}"));
    let place = format!("socket {name:?}");
    let local = parse_addr(&place, "local", &spec.local)?;
    let remote = parse_addr(&place, "remote", &spec.remote)?;
    if local.is_ipv4() != remote.is_ipv4() {
        return Err(invalid(
            &place,
            format!(
                "local {local} and remote {remote} are of different families (use ::ffff:a.b.c.d for an IPv4 peer of an IPv6 socket)"
            ),
        ));
    }
    let mut socket = Socket::with_sysctl(local, remote, sysctls.clone());
    socket.cgroup = normalize_path(spec.cgroup.as_deref().unwrap_or("/"))
        .map_err(|e| invalid(&place, e.to_string()))?;
    socket.cookie = i as u64 + 1;
    socket.tcp.sk_txhash = scenario_txhash(i as u64);
    if let Some(v) = spec.fields.get("is_fullsock") {
        match field_value(&place, "is_fullsock", v)? {
            0 => {
                socket.kind = SocketKind::Request;
                socket.state = TcpState::NewSynRecv;
                socket.tcp = TcpMetrics {
                    rtt_min: 0,
                    ..TcpMetrics::default()
                };
            }
            1 => {}
            n => {
                return Err(invalid(
                    &place,
                    format!("field `is_fullsock`: {n} is not 0 or 1"),
                ));
            }
        }
    }
    for (field, v) in spec.fields.iter().filter(|(k, _)| *k != "is_fullsock") {
        let value = field_value(&place, field, v)?;
        socket
            .set_field(field, value)
            .map_err(|e| invalid(&place, e.to_string()))?;
    }
    if let Some(syn) = &spec.saved_syn {
        let options = match &syn.options {
            Some(v) => option_bytes(&place, "saved_syn.options", v)?,
            None => SavedSyn::DEFAULT_OPTIONS.to_vec(),
        };
        socket.saved_syn = Some(SavedSyn::of_peer(&socket, syn.mac, syn.tos, &options));
    }
    Ok((name, socket))
}

/// TCP option bytes from hex text (`"02 04 05 b4"`, `"020405b4"`, separators ` `, `:`, `,`)
/// or an array of bytes; at most 40.
fn option_bytes(place: &str, what: &str, v: &toml::Value) -> Result<Vec<u8>, ScenarioError> {
    let bytes = byte_list(place, what, v, usize::MAX)?;
    if bytes.len() > 40 {
        return Err(invalid(
            place,
            format!("{what}: {} bytes; TCP options are at most 40", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// Bytes from hex text (separators ` `, `:`, `,`, `_` allowed) or an array of bytes; more
/// than `max` is an error.
fn byte_list(
    place: &str,
    what: &str,
    v: &toml::Value,
    max: usize,
) -> Result<Vec<u8>, ScenarioError> {
    let bytes = match v {
        toml::Value::String(text) => {
            let digits: String = text
                .chars()
                .filter(|c| !matches!(c, ' ' | ':' | ',' | '_'))
                .collect();
            if !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    place,
                    format!("{what}: {text:?} is not hex bytes (e.g. \"02 04 05 b4\")"),
                ));
            }
            (0..digits.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&digits[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| invalid(place, format!("{what}: {e}")))?
        }
        toml::Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_integer()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| invalid(place, format!("{what}: {item} is not a byte (0-255)")))
            })
            .collect::<Result<Vec<u8>, _>>()?,
        other => {
            return Err(invalid(
                place,
                format!(
                    "{what}: expected hex text or an array of bytes, found {}",
                    other.type_str()
                ),
            ));
        }
    };
    if bytes.len() > max {
        return Err(invalid(
            place,
            format!("{what}: {} bytes; at most {max}", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// A whole TCP header from hex text or an array of bytes: 20 to 60 bytes, a multiple of 4,
/// its data offset (byte 12) matching its length.
fn header_bytes(place: &str, v: &toml::Value) -> Result<Vec<u8>, ScenarioError> {
    let bytes = byte_list(place, "segment.header", v, 60)?;
    let doff = bytes.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
    if bytes.len() < 20 || doff != bytes.len() {
        return Err(invalid(
            place,
            format!(
                "segment.header: {} bytes with data offset {doff}: a TCP header is 20 to 60 bytes and its data offset (the high nibble of byte 12, in 32-bit words) gives its length",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// TCP flags from `|`-separated names.
fn tcp_flag_bits(place: &str, text: &str) -> Result<u8, ScenarioError> {
    let mut bits = 0u8;
    for name in text.split('|').map(str::trim).filter(|n| !n.is_empty()) {
        bits |= match name.to_ascii_uppercase().as_str() {
            "FIN" => tcp_flags::FIN,
            "SYN" => tcp_flags::SYN,
            "RST" => tcp_flags::RST,
            "PSH" => tcp_flags::PSH,
            "ACK" => tcp_flags::ACK,
            "URG" => tcp_flags::URG,
            "ECE" => tcp_flags::ECE,
            "CWR" => tcp_flags::CWR,
            _ => {
                return Err(invalid(
                    place,
                    format!(
                        "segment.flags: unknown TCP flag {name:?} (expected FIN, SYN, RST, PSH, ACK, URG, ECE or CWR, joined by |)"
                    ),
                ));
            }
        };
    }
    Ok(bits)
}

fn event_plan(
    i: usize,
    e: &EventSpec,
    sockets: &[(String, Socket)],
    scratch: &mut [Socket],
) -> Result<EventPlan, ScenarioError> {
    let place = format!("event {i}");
    let socket = match &e.socket {
        Some(name) => sockets.iter().position(|(n, _)| n == name).ok_or_else(|| {
            let known: Vec<&str> = sockets.iter().map(|(n, _)| n.as_str()).collect();
            invalid(
                &place,
                format!("unknown socket {name:?} (sockets: {})", known.join(", ")),
            )
        })?,
        None if sockets.len() == 1 => 0,
        None if sockets.is_empty() => {
            return Err(invalid(&place, "the scenario has no [[socket]]"));
        }
        None => {
            return Err(invalid(
                &place,
                "`socket` is required when the scenario has several sockets",
            ));
        }
    };
    let op = match &e.op {
        OpSpec::Name(n) => SockOp::parse(n).ok(),
        OpSpec::Number(n) => u32::try_from(*n).ok().and_then(SockOp::from_number),
    }
    .ok_or_else(|| {
        let text = match &e.op {
            OpSpec::Name(n) => format!("{n:?}"),
            OpSpec::Number(n) => n.to_string(),
        };
        invalid(
            &place,
            format!("unknown op {text} (expected a BPF_SOCK_OPS_* name such as TIMEOUT_INIT, or its number 0-20)"),
        )
    })?;
    if e.args.len() > 4 {
        return Err(invalid(
            &place,
            format!("{} args given; an op has at most 4", e.args.len()),
        ));
    }
    let mut args = [0u32; 4];
    for (slot, &a) in args.iter_mut().zip(&e.args) {
        *slot = if let Ok(v) = u32::try_from(a) {
            v
        } else if let Ok(v) = i32::try_from(a) {
            v as u32
        } else {
            return Err(invalid(&place, format!("arg {a} does not fit in 32 bits")));
        };
    }
    let mut set = Vec::with_capacity(e.set.len());
    for (field, v) in &e.set {
        let value = field_value(&place, field, v)?;
        scratch[socket]
            .set_field(field, value)
            .map_err(|err| invalid(&place, format!("set: {err}")))?;
        set.push((field.clone(), value));
    }
    let segment = match &e.segment {
        None => None,
        Some(spec) => {
            if op_input(op, args, &scratch[socket], 0).segment.is_none() {
                return Err(invalid(
                    &place,
                    format!("segment: {} carries no segment", op.name()),
                ));
            }
            Some(SegmentOverride {
                flags: spec
                    .flags
                    .as_deref()
                    .map(|f| tcp_flag_bits(&place, f))
                    .transpose()?,
                options: spec
                    .options
                    .as_ref()
                    .map(|v| option_bytes(&place, "segment.options", v))
                    .transpose()?,
                payload: spec.payload,
                header: spec
                    .header
                    .as_ref()
                    .map(|v| {
                        if spec.options.is_some() {
                            return Err(invalid(
                                &place,
                                "segment: give either `header` or `options`, not both",
                            ));
                        }
                        if !matches!(
                            op,
                            SockOp::ActiveEstablishedCb
                                | SockOp::PassiveEstablishedCb
                                | SockOp::ParseHdrOptCb
                        ) {
                            return Err(invalid(
                                &place,
                                format!(
                                    "segment.header: {} does not see the peer's segment (only ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB and PARSE_HDR_OPT_CB do)",
                                    op.name()
                                ),
                            ));
                        }
                        header_bytes(&place, v)
                    })
                    .transpose()?,
            })
        }
    };
    Ok(EventPlan {
        socket,
        op,
        args,
        set,
        segment,
    })
}
