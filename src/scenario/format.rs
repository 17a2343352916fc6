//! The scenario file format (`sockops run SCENARIO.toml`): serde types that mirror the TOML
//! contract exactly, plus parsing with errors that name the offending field. Meaning (ops,
//! fields, options) is resolved when the scenario is replayed, not here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Seed of `bpf_get_prandom_u32` (the `--seed` option overrides it).
    pub seed: Option<u64>,
    /// Kernel HZ for jiffies conversions (default 250).
    pub hz: Option<u32>,
    /// Kernel sysctls by name, e.g. `"net.core.wmem_max" = 200000`.
    #[serde(default)]
    pub sysctl: BTreeMap<String, SysctlValue>,
    /// Programs to load and attach, in attach order.
    #[serde(default)]
    pub program: Vec<ProgramSpec>,
    /// Sockets of the scenario.
    #[serde(default)]
    pub socket: Vec<SocketSpec>,
    /// Events, replayed in order.
    #[serde(default)]
    pub event: Vec<EventSpec>,
}

/// A sysctl value: a number or a string (e.g. a list of congestion controls).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SysctlValue {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
}

/// One `[[program]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// Object file, relative to the scenario file.
    pub object: PathBuf,
    /// Section or program name; optional when the object has one program.
    pub section: Option<String>,
    /// Cgroup path (default `/`).
    pub cgroup: Option<String>,
    /// `none` (default), `override` or `multi`.
    pub flags: Option<String>,
}

/// One `[[socket]]` entry. Metric fields (`snd_cwnd = 10`, ...) are collected in `fields`.
#[derive(Debug, Clone, Deserialize)]
pub struct SocketSpec {
    /// Name events refer to (default `sock0`, `sock1`, ...).
    pub name: Option<String>,
    /// Cgroup path (default `/`).
    pub cgroup: Option<String>,
    /// Local address and port: `10.0.0.1:40000` or `[2001:db8::1]:40000`.
    pub local: String,
    /// Remote address and port.
    pub remote: String,
    /// The peer's SYN as the socket saved it (`TCP_SAVE_SYN`), which
    /// `bpf_getsockopt(TCP_BPF_SYN / TCP_BPF_SYN_IP / TCP_BPF_SYN_MAC)` and
    /// `bpf_load_hdr_opt(BPF_LOAD_HDR_OPT_TCP_SYN)` read: `saved_syn = { tos = 0x28 }`.
    pub saved_syn: Option<PeerSynSpec>,
    /// Any bpf_sock_ops metric field by name, with its raw field value.
    #[serde(flatten)]
    pub fields: BTreeMap<String, toml::Value>,
}

/// One `[[event]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Socket name; optional when there is one socket.
    pub socket: Option<String>,
    /// Op name with or without `BPF_SOCK_OPS_`, or its number.
    pub op: OpSpec,
    /// `args[]` of the op.
    #[serde(default)]
    pub args: Vec<i64>,
    /// Metric changes applied before the op.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// The segment the op sees instead of the usual one (the peer's segment for
    /// `PARSE_HDR_OPT_CB` and the established ops, the one being built for the header-option
    /// writing ops): `segment = { flags = "ACK", options = "fe 04 eb 9f" }`.
    pub segment: Option<SegmentSpec>,
}

/// The peer's saved SYN.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PeerSynSpec {
    /// TCP option bytes, as hex (`"02 04 05 b4"`) or an array of bytes; default MSS,
    /// SACK-permitted, timestamps and window scale.
    pub options: Option<toml::Value>,
    /// IPv4 TOS, or IPv6 traffic class (default 0).
    #[serde(default)]
    pub tos: u8,
    /// Saved with a 14-byte Ethernet header (`TCP_SAVE_SYN = 2`; default false).
    #[serde(default)]
    pub mac: bool,
}

/// A segment an op sees.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    /// TCP flags, `|`-separated names (`"SYN|ACK"`; FIN, SYN, RST, PSH, ACK, URG, ECE, CWR);
    /// default those of the op's usual segment.
    pub flags: Option<String>,
    /// TCP option bytes, as hex or an array of bytes; default the op's usual options.
    pub options: Option<toml::Value>,
    /// Payload bytes after the header, counted in `skb_len` (default 0).
    pub payload: Option<u32>,
    /// The peer's whole TCP header (20-60 bytes, hex or an array of bytes, its data offset
    /// matching its length), as `sockops record` captures it, instead of one built from the
    /// socket: its own ports, sequence numbers, window, checksum and options. Only for the
    /// ops that see the peer's segment; not with `options`.
    pub header: Option<toml::Value>,
}

/// An op given by name or number.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OpSpec {
    /// By number.
    Number(i64),
    /// By name.
    Name(String),
}

/// A scenario that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Malformed TOML or a field of the wrong type.
    #[error("scenario {path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message (names line, column and field).
        message: String,
    },
}

impl ScenarioFile {
    /// Parses scenario text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<ScenarioFile, FormatError> {
        toml::from_str(text).map_err(|e| FormatError::Toml {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Reads and parses a scenario file.
    pub fn read(path: &Path) -> Result<ScenarioFile, FormatError> {
        let text = std::fs::read_to_string(path).map_err(|source| FormatError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
seed = 7
hz = 250
[sysctl]
"net.core.wmem_max" = 200000

[[program]]
object = "rto.o"
section = "sockops"
cgroup = "/"
flags = "multi"

[[socket]]
name = "a"
cgroup = "/web/api"
local = "[2001:db8:1:1::1]:40000"
remote = "[2001:db8:1:2::2]:443"
snd_cwnd = 10

[[event]]
socket = "a"
op = "TIMEOUT_INIT"
args = [1, 4]
set = { srtt_us = 1600 }

[[event]]
op = 3
"#;

    #[test]
    fn parses_the_documented_example() {
        let s = ScenarioFile::parse(EXAMPLE, Path::new("x.toml")).unwrap();
        assert_eq!(s.seed, Some(7));
        assert_eq!(s.hz, Some(250));
        assert_eq!(s.sysctl["net.core.wmem_max"], SysctlValue::Int(200000));
        assert_eq!(s.program[0].flags.as_deref(), Some("multi"));
        assert_eq!(s.socket[0].fields["snd_cwnd"].as_integer(), Some(10));
        assert_eq!(s.event[0].op, OpSpec::Name("TIMEOUT_INIT".into()));
        assert_eq!(s.event[0].args, vec![1, 4]);
        assert_eq!(s.event[0].set["srtt_us"].as_integer(), Some(1600));
        assert_eq!(s.event[1].op, OpSpec::Number(3));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = ScenarioFile::parse("[[event]]\nop = \"X\"\nbogus = 1\n", Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = ScenarioFile::parse("seed = [", Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("scenario s.toml:"), "{e}");
        let e = ScenarioFile::parse("[[socket]]\nlocal = \"1.2.3.4:1\"\n", Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("remote"), "{e}");
    }
}
