//! The `sockops simulate` file format (NET.toml): serde types that mirror the contract, and
//! checking them into a [`NetPlan`]. Every problem is found here, before anything runs, and
//! named by its field (`link.loss`, `connection 1 ("api").request.writes`). `[sysctl]` and
//! `[[program]]` are read exactly as `sockops run` reads them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sockops_ctx::Sysctls;

use crate::cgroup::normalize_path;
use crate::net::host::{IPV4_MIN_MTU, IPV6_MIN_MTU};
use crate::scenario::{ProgramPlan, ProgramSpec, ScenarioError, SysctlValue};
use crate::scenario::{program_plans, sysctls_from};

/// Largest `bytes` of a request or response (16 MiB: a simulation, not a bulk transfer).
pub const MAX_TRANSFER_BYTES: u64 = 16 << 20;
/// Largest `writes` of a request or response.
pub const MAX_WRITES: i64 = 100_000;
/// Largest `duration_ms` (one simulated day).
pub const MAX_DURATION_MS: f64 = 86_400_000.0;
/// Largest one-way `latency_ms` (one simulated minute).
pub const MAX_LATENCY_MS: f64 = 60_000.0;
/// Largest `mtu` (an IPv4 packet's length field).
pub const MAX_MTU: i64 = 65_535;
/// Default `duration_ms`.
pub const DEFAULT_DURATION_MS: f64 = 60_000.0;

/// A number written as an integer or a float.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl Number {
    /// The value as a float.
    pub fn value(self) -> f64 {
        match self {
            Number::Int(v) => v as f64,
            Number::Float(v) => v,
        }
    }
}

/// A whole NET.toml file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetFile {
    /// Seed of the link's losses, smoltcp's sequence numbers and `bpf_get_prandom_u32`.
    pub seed: Option<u64>,
    /// Cap on simulated time, ms (default 60000).
    pub duration_ms: Option<Number>,
    /// The link between the hosts.
    #[serde(default)]
    pub link: LinkSpec,
    /// The connecting host.
    pub client: HostSpec,
    /// The accepting host.
    pub server: HostSpec,
    /// Kernel sysctls by name, as in `sockops run`.
    #[serde(default)]
    pub sysctl: BTreeMap<String, SysctlValue>,
    /// Programs to load and attach, as in `sockops run`.
    #[serde(default)]
    pub program: Vec<ProgramSpec>,
    /// Connections, in order.
    #[serde(default)]
    pub connection: Vec<ConnectionSpec>,
}

/// `[link]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way delay, ms (default 0).
    pub latency_ms: Option<Number>,
    /// Probability a packet is dropped, each direction (default 0).
    pub loss: Option<Number>,
    /// Bandwidth, Mbit/s; 0 = unlimited (default).
    pub bandwidth_mbps: Option<Number>,
    /// Largest IP packet, bytes (default 1500).
    pub mtu: Option<i64>,
}

/// `[client]` / `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// IPv4 or IPv6 address.
    pub address: String,
    /// Cgroup path of its sockets (default `/`).
    pub cgroup: Option<String>,
}

/// One `[[connection]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// Name in reports (default `conn0`, `conn1`, ...).
    pub name: Option<String>,
    /// Server port.
    pub port: i64,
    /// When the client connects, ms (default 0).
    pub start_ms: Option<Number>,
    /// What the client writes.
    pub request: TransferSpec,
    /// What the server answers.
    pub response: TransferSpec,
}

/// `{ bytes = N, writes = W }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSpec {
    /// Total bytes.
    pub bytes: i64,
    /// Number of `send()` calls they are written in (default 1).
    pub writes: Option<i64>,
}

/// A simulation file that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Malformed TOML, an unknown key, or a value of the wrong type.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the line and the key).
        message: String,
    },
    /// A value is out of range; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`link.loss`, `connection 0 ("api").port`, ...).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `[sysctl]` or `[[program]]` is wrong, or a program fails to load, verify or attach.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The bridge failed (a program failed while an op ran).
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SimError {
    SimError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The link, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkPlan {
    /// One-way delay, µs.
    pub latency_us: u64,
    /// Drop probability per packet, 0..=1.
    pub loss: f64,
    /// Bits per second; 0 = unlimited.
    pub bandwidth_bps: u64,
    /// Largest IP packet, bytes.
    pub mtu: usize,
}

/// A host, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// Its address.
    pub address: IpAddr,
    /// Normalised cgroup path.
    pub cgroup: String,
}

/// A transfer, checked: `bytes` split into `writes` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferPlan {
    /// Total bytes.
    pub bytes: u64,
    /// Number of writes (>= 1).
    pub writes: u64,
}

impl TransferPlan {
    /// Size of write `i` (0-based): the bytes spread evenly, the first writes one byte larger.
    pub fn write_size(&self, i: u64) -> u64 {
        let base = self.bytes / self.writes;
        base + u64::from(i < self.bytes % self.writes)
    }
}

/// A connection, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPlan {
    /// Name in reports.
    pub name: String,
    /// Server port.
    pub port: u16,
    /// When the client connects, µs.
    pub start_us: u64,
    /// The request.
    pub request: TransferPlan,
    /// The response.
    pub response: TransferPlan,
}

/// A simulation ready to run.
#[derive(Debug, Clone)]
pub struct NetPlan {
    /// Seed from the file (default 0).
    pub seed: u64,
    /// Cap on simulated time, µs.
    pub duration_us: u64,
    /// The link.
    pub link: LinkPlan,
    /// The client host.
    pub client: HostPlan,
    /// The server host.
    pub server: HostPlan,
    /// Kernel settings both hosts' sockets see.
    pub sysctls: Sysctls,
    /// Programs, in attach order.
    pub programs: Vec<ProgramPlan>,
    /// Connections, in order.
    pub connections: Vec<ConnectionPlan>,
}

fn ms_to_us(field: &str, v: f64, max_ms: f64) -> Result<u64, SimError> {
    if !v.is_finite() {
        return Err(invalid(field, format!("{v} is not a finite number")));
    }
    if v < 0.0 {
        return Err(invalid(field, format!("{v} is negative")));
    }
    if v > max_ms {
        return Err(invalid(
            field,
            format!("{v} is above the maximum of {max_ms} ms"),
        ));
    }
    Ok((v * 1000.0).round() as u64)
}

impl NetPlan {
    /// Reads, parses and checks the file at `path` (objects resolve against its folder).
    pub fn read(path: &Path) -> Result<NetPlan, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = NetPlan::parse(&text, path)?;
        NetPlan::prepare(&file, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses NET.toml text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<NetFile, SimError> {
        toml::from_str(text).map_err(|e| SimError::Toml {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Checks `file`; object paths resolve against `base_dir`.
    pub fn prepare(file: &NetFile, base_dir: &Path) -> Result<NetPlan, SimError> {
        let duration_us = ms_to_us(
            "duration_ms",
            file.duration_ms.map_or(DEFAULT_DURATION_MS, Number::value),
            MAX_DURATION_MS,
        )?;
        if duration_us == 0 {
            return Err(invalid("duration_ms", "must be above 0"));
        }
        let host = |which: &str, spec: &HostSpec| -> Result<HostPlan, SimError> {
            let address = spec.address.parse::<IpAddr>().map_err(|_| {
                invalid(
                    format!("{which}.address"),
                    format!("{:?} is not an IPv4 or IPv6 address", spec.address),
                )
            })?;
            if address.is_unspecified() || address.is_multicast() {
                return Err(invalid(
                    format!("{which}.address"),
                    format!("{address} is not a unicast address"),
                ));
            }
            let cgroup = normalize_path(spec.cgroup.as_deref().unwrap_or("/"))
                .map_err(|e| invalid(format!("{which}.cgroup"), e.to_string()))?;
            Ok(HostPlan { address, cgroup })
        };
        let client = host("client", &file.client)?;
        let server = host("server", &file.server)?;
        if client.address.is_ipv4() != server.address.is_ipv4() {
            return Err(invalid(
                "server.address",
                format!(
                    "{} and the client's {} are of different families",
                    server.address, client.address
                ),
            ));
        }
        if client.address == server.address {
            return Err(invalid(
                "server.address",
                "the client and the server have the same address",
            ));
        }
        let link = link_plan(&file.link, client.address.is_ipv6())?;
        let sysctls = sysctls_from(None, &file.sysctl)?;
        let programs = program_plans(&file.program, base_dir)?;
        let mut connections: Vec<ConnectionPlan> = Vec::new();
        for (i, c) in file.connection.iter().enumerate() {
            let plan = connection_plan(i, c)?;
            if connections.iter().any(|p| p.name == plan.name) {
                return Err(invalid(
                    format!("connection {i}"),
                    format!("duplicate name {:?}", plan.name),
                ));
            }
            connections.push(plan);
        }
        if connections.len() > usize::from(u16::MAX - CLIENT_PORT_BASE) {
            return Err(invalid("connection", "too many connections"));
        }
        Ok(NetPlan {
            seed: file.seed.unwrap_or(0),
            duration_us,
            link,
            client,
            server,
            sysctls,
            programs,
            connections,
        })
    }
}

/// The client port of connection `i` is `CLIENT_PORT_BASE + i`.
pub const CLIENT_PORT_BASE: u16 = 49152;

fn link_plan(spec: &LinkSpec, ipv6: bool) -> Result<LinkPlan, SimError> {
    let latency_us = ms_to_us(
        "link.latency_ms",
        spec.latency_ms.map_or(0.0, Number::value),
        MAX_LATENCY_MS,
    )?;
    let loss = spec.loss.map_or(0.0, Number::value);
    if !(0.0..=1.0).contains(&loss) {
        return Err(invalid(
            "link.loss",
            format!("{loss} is outside 0..1 (a probability)"),
        ));
    }
    let mbps = spec.bandwidth_mbps.map_or(0.0, Number::value);
    if !mbps.is_finite() || mbps < 0.0 {
        return Err(invalid(
            "link.bandwidth_mbps",
            format!("{mbps} is not a non-negative number (0 = unlimited)"),
        ));
    }
    let bandwidth_bps = (mbps * 1e6).round() as u64;
    if mbps > 0.0 && bandwidth_bps == 0 {
        return Err(invalid(
            "link.bandwidth_mbps",
            format!("{mbps} is below 1 bit/s"),
        ));
    }
    let mtu = spec.mtu.unwrap_or(1500);
    let (family, min) = if ipv6 {
        ("IPv6", IPV6_MIN_MTU)
    } else {
        ("IPv4", IPV4_MIN_MTU)
    };
    if mtu < min as i64 {
        return Err(invalid(
            "link.mtu",
            format!("{mtu} is below the {family} minimum of {min} bytes"),
        ));
    }
    if mtu > MAX_MTU {
        return Err(invalid(
            "link.mtu",
            format!("{mtu} is above the maximum of {MAX_MTU} bytes"),
        ));
    }
    Ok(LinkPlan {
        latency_us,
        loss,
        bandwidth_bps,
        mtu: mtu as usize,
    })
}

fn transfer_plan(field: &str, t: &TransferSpec) -> Result<TransferPlan, SimError> {
    let bytes = u64::try_from(t.bytes)
        .map_err(|_| invalid(format!("{field}.bytes"), format!("{} is negative", t.bytes)))?;
    if bytes > MAX_TRANSFER_BYTES {
        return Err(invalid(
            format!("{field}.bytes"),
            format!("{bytes} is above the maximum of {MAX_TRANSFER_BYTES}"),
        ));
    }
    let writes = t.writes.unwrap_or(1);
    if writes < 1 || writes as u64 > bytes.max(1) {
        return Err(invalid(
            format!("{field}.writes"),
            format!(
                "{writes} is not between 1 and the number of bytes ({})",
                bytes.max(1)
            ),
        ));
    }
    Ok(TransferPlan {
        bytes,
        writes: writes as u64,
    })
}

fn connection_plan(i: usize, c: &ConnectionSpec) -> Result<ConnectionPlan, SimError> {
    let name = c.name.clone().unwrap_or_else(|| format!("conn{i}"));
    let place = format!("connection {i} ({name:?})");
    let port = u16::try_from(c.port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| {
            invalid(
                format!("{place}.port"),
                format!("{} is not 1-65535", c.port),
            )
        })?;
    let start_us = ms_to_us(
        &format!("{place}.start_ms"),
        c.start_ms.map_or(0.0, Number::value),
        MAX_DURATION_MS,
    )?;
    Ok(ConnectionPlan {
        request: transfer_plan(&format!("{place}.request"), &c.request)?,
        response: transfer_plan(&format!("{place}.response"), &c.response)?,
        name,
        port,
        start_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
seed = 3
[link]
latency_ms = 5
loss = 0.0
mtu = 1500
[client]
address = "10.0.0.1"
[server]
address = "10.0.0.2"
[[connection]]
name = "api"
port = 8443
request = { bytes = 1000, writes = 20 }
response = { bytes = 100000, writes = 1 }
"#;

    fn check(text: &str) -> Result<NetPlan, SimError> {
        let file = NetPlan::parse(text, Path::new("net.toml"))?;
        NetPlan::prepare(&file, Path::new("."))
    }

    fn err(text: &str) -> String {
        check(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_documented_format() {
        let p = check(BASE).unwrap();
        assert_eq!(p.seed, 3);
        assert_eq!(p.duration_us, 60_000_000);
        assert_eq!(p.link.latency_us, 5000);
        assert_eq!(p.connections[0].request.write_size(0), 50);
        assert_eq!(p.connections[0].port, 8443);
        let t = TransferPlan {
            bytes: 10,
            writes: 3,
        };
        assert_eq!((0..3).map(|i| t.write_size(i)).sum::<u64>(), 10);
    }

    #[test]
    fn bad_input_names_the_field() {
        assert!(
            err(&BASE.replace("latency_ms = 5", "latency_ms = -5"))
                .contains("link.latency_ms: -5 is negative")
        );
        assert!(
            err(&BASE.replace("loss = 0.0", "loss = 1.5"))
                .contains("link.loss: 1.5 is outside 0..1")
        );
        assert!(
            err(&BASE.replace("mtu = 1500", "mtu = 60"))
                .contains("link.mtu: 60 is below the IPv4 minimum of 68")
        );
        let v6 = BASE
            .replace("10.0.0.1", "2001:db8::1")
            .replace("10.0.0.2", "2001:db8::2");
        assert!(err(&v6.replace("mtu = 1500", "mtu = 1000")).contains("IPv6 minimum of 1280"));
        assert!(err(&BASE.replace("mtu = 1500", "mtu = 1500\nspeed = 3")).contains("speed"));
        assert!(
            err(&BASE.replace("port = 8443", "port = 70000"))
                .contains("connection 0 (\"api\").port")
        );
        assert!(err(&BASE.replace("writes = 20", "writes = 0")).contains("request.writes"));
        assert!(
            err(&BASE.replace("bytes = 1000", "bytes = -1"))
                .contains("request.bytes: -1 is negative")
        );
        assert!(
            err(&BASE.replace("\"10.0.0.2\"", "\"2001:db8::2\"")).contains("different families")
        );
        assert!(err(&BASE.replace("\"10.0.0.2\"", "\"10.0.0.300\"")).contains("server.address"));
        assert!(
            err(&BASE.replace("seed = 3", "seed = 3\nduration_ms = 0")).contains("duration_ms")
        );
        assert!(err(&format!("{BASE}[sysctl]\n\"net.nope\" = 1\n")).contains("net.nope"));
    }
}
