//! The kernel configuration a socket lives under: the sysctls that bound socket options
//! (`net.core.wmem_max`, congestion controls, keepalive defaults, ...) with the live 6.18
//! kernel's defaults, settable by their sysctl names, plus CONFIG_HZ and the jiffies
//! conversions the kernel does with it.

use std::fmt;

/// A sysctl name this runtime does not model, or a value it cannot parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    /// Unknown name.
    #[error("unknown sysctl `{0}` (supported: {list})", list = Sysctls::NAMES.join(", "))]
    Unknown(String),
    /// Bad value.
    #[error("bad value `{value}` for sysctl `{name}`: {reason}")]
    BadValue {
        /// Sysctl name.
        name: String,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Kernel-wide settings that bound socket options, with the live kernel's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctls {
    /// CONFIG_HZ: jiffies per second (250 on the reference kernel).
    pub hz: u32,
    /// `net.core.wmem_max`: SO_SNDBUF upper bound (before doubling).
    pub wmem_max: u32,
    /// `net.core.rmem_max`: SO_RCVBUF upper bound (before doubling).
    pub rmem_max: u32,
    /// `net.core.wmem_default`.
    pub wmem_default: u32,
    /// `net.core.rmem_default`.
    pub rmem_default: u32,
    /// `net.core.txrehash` (SO_TXREHASH default).
    pub txrehash: u8,
    /// `net.ipv4.tcp_wmem`: min, default (initial sk_sndbuf), max.
    pub tcp_wmem: [u32; 3],
    /// `net.ipv4.tcp_rmem`: min, default (initial sk_rcvbuf), max.
    pub tcp_rmem: [u32; 3],
    /// `net.ipv4.tcp_available_congestion_control`: the registered algorithms.
    pub available_congestion_control: Vec<String>,
    /// `net.ipv4.tcp_allowed_congestion_control` (unprivileged setsockopt only; BPF ignores it).
    pub allowed_congestion_control: Vec<String>,
    /// `net.ipv4.tcp_congestion_control`: the default for new sockets.
    pub congestion_control: String,
    /// `net.ipv4.tcp_syn_retries`.
    pub tcp_syn_retries: u32,
    /// `net.ipv4.tcp_keepalive_time` in seconds.
    pub tcp_keepalive_time: u32,
    /// `net.ipv4.tcp_keepalive_intvl` in seconds.
    pub tcp_keepalive_intvl: u32,
    /// `net.ipv4.tcp_keepalive_probes`.
    pub tcp_keepalive_probes: u32,
    /// `net.ipv4.tcp_notsent_lowat`.
    pub tcp_notsent_lowat: u32,
    /// `net.ipv4.tcp_rto_max_ms`.
    pub tcp_rto_max_ms: u32,
    /// `net.ipv4.tcp_rto_min_us`.
    pub tcp_rto_min_us: u32,
    /// `net.ipv6.auto_flowlabels` (1 = opt-out: on unless disabled per socket).
    pub ipv6_auto_flowlabels: u32,
    /// Network devices by name and ifindex (for SO_BINDTODEVICE).
    pub interfaces: Vec<(String, u32)>,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            hz: 250,
            wmem_max: 4_194_304,
            rmem_max: 4_194_304,
            wmem_default: 212_992,
            rmem_default: 212_992,
            txrehash: 1,
            tcp_wmem: [4096, 16384, 4_194_304],
            tcp_rmem: [4096, 131_072, 33_554_432],
            available_congestion_control: vec!["reno".into(), "cubic".into()],
            allowed_congestion_control: vec!["reno".into(), "cubic".into()],
            congestion_control: "cubic".into(),
            tcp_syn_retries: 6,
            tcp_keepalive_time: 7200,
            tcp_keepalive_intvl: 75,
            tcp_keepalive_probes: 9,
            tcp_notsent_lowat: u32::MAX,
            tcp_rto_max_ms: 120_000,
            tcp_rto_min_us: 200_000,
            ipv6_auto_flowlabels: 1,
            interfaces: vec![("lo".into(), 1)],
        }
    }
}

fn parse_u32(name: &str, value: &str) -> Result<u32, SysctlError> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|e| SysctlError::BadValue {
            name: name.into(),
            value: value.into(),
            reason: e.to_string(),
        })
}

fn parse_triple(name: &str, value: &str) -> Result<[u32; 3], SysctlError> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 3 {
        return Err(SysctlError::BadValue {
            name: name.into(),
            value: value.into(),
            reason: "expected three numbers: min default max".into(),
        });
    }
    Ok([
        parse_u32(name, parts[0])?,
        parse_u32(name, parts[1])?,
        parse_u32(name, parts[2])?,
    ])
}

impl Sysctls {
    /// The sysctl names `set` and `get` accept (`/` separators work too).
    pub const NAMES: &'static [&'static str] = &[
        "kernel.hz",
        "net.core.wmem_max",
        "net.core.rmem_max",
        "net.core.wmem_default",
        "net.core.rmem_default",
        "net.core.txrehash",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_available_congestion_control",
        "net.ipv4.tcp_allowed_congestion_control",
        "net.ipv4.tcp_congestion_control",
        "net.ipv4.tcp_syn_retries",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_notsent_lowat",
        "net.ipv4.tcp_rto_max_ms",
        "net.ipv4.tcp_rto_min_us",
        "net.ipv6.auto_flowlabels",
    ];

    fn canonical(name: &str) -> String {
        name.trim()
            .trim_start_matches("/proc/sys/")
            .replace('/', ".")
    }

    /// Sets sysctl `name` from its text form (as `sysctl -w` takes it; lists space-separated).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        let n = Self::canonical(name);
        let list = |v: &str| v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        match n.as_str() {
            "kernel.hz" => {
                let hz = parse_u32(&n, value)?;
                if hz == 0 || hz > 1_000_000 {
                    return Err(SysctlError::BadValue {
                        name: n,
                        value: value.into(),
                        reason: "HZ must be within 1..=1000000".into(),
                    });
                }
                self.hz = hz;
            }
            "net.core.wmem_max" => self.wmem_max = parse_u32(&n, value)?,
            "net.core.rmem_max" => self.rmem_max = parse_u32(&n, value)?,
            "net.core.wmem_default" => self.wmem_default = parse_u32(&n, value)?,
            "net.core.rmem_default" => self.rmem_default = parse_u32(&n, value)?,
            "net.core.txrehash" => {
                let v = parse_u32(&n, value)?;
                if v > 1 {
                    return Err(SysctlError::BadValue {
                        name: n,
                        value: value.into(),
                        reason: "must be 0 or 1".into(),
                    });
                }
                self.txrehash = v as u8;
            }
            "net.ipv4.tcp_wmem" => self.tcp_wmem = parse_triple(&n, value)?,
            "net.ipv4.tcp_rmem" => self.tcp_rmem = parse_triple(&n, value)?,
            "net.ipv4.tcp_available_congestion_control" => {
                self.available_congestion_control = list(value)
            }
            "net.ipv4.tcp_allowed_congestion_control" => {
                self.allowed_congestion_control = list(value)
            }
            "net.ipv4.tcp_congestion_control" => {
                let v = value.trim();
                if !self.available_congestion_control.iter().any(|c| c == v) {
                    return Err(SysctlError::BadValue {
                        name: n,
                        value: value.into(),
                        reason: "not in net.ipv4.tcp_available_congestion_control".into(),
                    });
                }
                self.congestion_control = v.to_string();
            }
            "net.ipv4.tcp_syn_retries" => self.tcp_syn_retries = parse_u32(&n, value)?,
            "net.ipv4.tcp_keepalive_time" => self.tcp_keepalive_time = parse_u32(&n, value)?,
            "net.ipv4.tcp_keepalive_intvl" => self.tcp_keepalive_intvl = parse_u32(&n, value)?,
            "net.ipv4.tcp_keepalive_probes" => self.tcp_keepalive_probes = parse_u32(&n, value)?,
            "net.ipv4.tcp_notsent_lowat" => self.tcp_notsent_lowat = parse_u32(&n, value)?,
            "net.ipv4.tcp_rto_max_ms" => self.tcp_rto_max_ms = parse_u32(&n, value)?,
            "net.ipv4.tcp_rto_min_us" => self.tcp_rto_min_us = parse_u32(&n, value)?,
            "net.ipv6.auto_flowlabels" => self.ipv6_auto_flowlabels = parse_u32(&n, value)?,
            _ => return Err(SysctlError::Unknown(name.to_string())),
        }
        Ok(())
    }

    /// The text form of sysctl `name`.
    pub fn get(&self, name: &str) -> Result<String, SysctlError> {
        let n = Self::canonical(name);
        let triple = |t: &[u32; 3]| format!("{}\t{}\t{}", t[0], t[1], t[2]);
        Ok(match n.as_str() {
            "kernel.hz" => self.hz.to_string(),
            "net.core.wmem_max" => self.wmem_max.to_string(),
            "net.core.rmem_max" => self.rmem_max.to_string(),
            "net.core.wmem_default" => self.wmem_default.to_string(),
            "net.core.rmem_default" => self.rmem_default.to_string(),
            "net.core.txrehash" => self.txrehash.to_string(),
            "net.ipv4.tcp_wmem" => triple(&self.tcp_wmem),
            "net.ipv4.tcp_rmem" => triple(&self.tcp_rmem),
            "net.ipv4.tcp_available_congestion_control" => {
                self.available_congestion_control.join(" ")
            }
            "net.ipv4.tcp_allowed_congestion_control" => self.allowed_congestion_control.join(" "),
            "net.ipv4.tcp_congestion_control" => self.congestion_control.clone(),
            "net.ipv4.tcp_syn_retries" => self.tcp_syn_retries.to_string(),
            "net.ipv4.tcp_keepalive_time" => self.tcp_keepalive_time.to_string(),
            "net.ipv4.tcp_keepalive_intvl" => self.tcp_keepalive_intvl.to_string(),
            "net.ipv4.tcp_keepalive_probes" => self.tcp_keepalive_probes.to_string(),
            "net.ipv4.tcp_notsent_lowat" => self.tcp_notsent_lowat.to_string(),
            "net.ipv4.tcp_rto_max_ms" => self.tcp_rto_max_ms.to_string(),
            "net.ipv4.tcp_rto_min_us" => self.tcp_rto_min_us.to_string(),
            "net.ipv6.auto_flowlabels" => self.ipv6_auto_flowlabels.to_string(),
            _ => return Err(SysctlError::Unknown(name.to_string())),
        })
    }

    /// The jiffies conversions for this kernel's HZ.
    pub fn jiffies(&self) -> Jiffies {
        Jiffies { hz: self.hz.max(1) }
    }
}

/// Jiffies conversions (`usecs_to_jiffies` rounds up, `jiffies_to_usecs` is exact for HZ
/// dividing 10^6, as on 100/250/1000 HZ kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jiffies {
    /// Ticks per second.
    pub hz: u32,
}

impl Jiffies {
    /// `usecs_to_jiffies(us)`: rounded up.
    pub fn from_usecs(self, us: u32) -> u64 {
        (u64::from(us) * u64::from(self.hz)).div_ceil(1_000_000)
    }

    /// `msecs_to_jiffies(ms)`: rounded up.
    pub fn from_msecs(self, ms: u32) -> u64 {
        (u64::from(ms) * u64::from(self.hz)).div_ceil(1000)
    }

    /// `jiffies_to_usecs(j)` (truncated to u32 like the kernel's `unsigned int`).
    pub fn to_usecs(self, j: u64) -> u32 {
        (j.saturating_mul(1_000_000) / u64::from(self.hz)) as u32
    }

    /// `jiffies_to_msecs(j)`.
    pub fn to_msecs(self, j: u64) -> u32 {
        (j.saturating_mul(1000) / u64::from(self.hz)) as u32
    }

    /// `TCP_TIMEOUT_MIN`: 2 jiffies.
    pub fn tcp_timeout_min(self) -> u64 {
        2
    }

    /// `TCP_DELACK_MAX` = `TCP_RTO_MIN` = HZ/5 (200 ms).
    pub fn tcp_delack_max(self) -> u64 {
        u64::from(self.hz / 5)
    }

    /// `TCP_RTO_MIN` = HZ/5.
    pub fn tcp_rto_min(self) -> u64 {
        u64::from(self.hz / 5)
    }

    /// `TCP_TIMEOUT_INIT` = 1 s.
    pub fn tcp_timeout_init(self) -> u64 {
        u64::from(self.hz)
    }

    /// `TCP_RTO_MAX` = 120 s.
    pub fn tcp_rto_max(self) -> u64 {
        120 * u64::from(self.hz)
    }
}

impl fmt::Display for Sysctls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for name in Self::NAMES {
            if let Ok(v) = self.get(name) {
                writeln!(f, "{name} = {v}")?;
            }
        }
        Ok(())
    }
}
