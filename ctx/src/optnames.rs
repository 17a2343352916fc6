//! Socket option levels and names (kernel values) that sock_ops' bpf_setsockopt /
//! bpf_getsockopt accept, their kernel constant names, and `OptionValue` for reports.

use std::fmt;

/// Socket option levels.
pub mod level {
    /// SOL_IP.
    pub const SOL_IP: i32 = 0;
    /// SOL_SOCKET.
    pub const SOL_SOCKET: i32 = 1;
    /// SOL_TCP.
    pub const SOL_TCP: i32 = 6;
    /// SOL_IPV6.
    pub const SOL_IPV6: i32 = 41;
}

/// Option names (kernel values).
pub mod optname {
    /// SO_REUSEADDR
    pub const SO_REUSEADDR: i32 = 2;
    /// SO_SNDBUF
    pub const SO_SNDBUF: i32 = 7;
    /// SO_RCVBUF
    pub const SO_RCVBUF: i32 = 8;
    /// SO_KEEPALIVE
    pub const SO_KEEPALIVE: i32 = 9;
    /// SO_PRIORITY
    pub const SO_PRIORITY: i32 = 12;
    /// SO_REUSEPORT
    pub const SO_REUSEPORT: i32 = 15;
    /// SO_RCVLOWAT
    pub const SO_RCVLOWAT: i32 = 18;
    /// SO_BINDTODEVICE
    pub const SO_BINDTODEVICE: i32 = 25;
    /// SO_MARK
    pub const SO_MARK: i32 = 36;
    /// SO_MAX_PACING_RATE
    pub const SO_MAX_PACING_RATE: i32 = 47;
    /// SO_BINDTOIFINDEX
    pub const SO_BINDTOIFINDEX: i32 = 62;
    /// SO_TXREHASH
    pub const SO_TXREHASH: i32 = 74;
    /// SK_BPF_CB_FLAGS
    pub const SK_BPF_CB_FLAGS: i32 = 1009;
    /// TCP_NODELAY
    pub const TCP_NODELAY: i32 = 1;
    /// TCP_MAXSEG
    pub const TCP_MAXSEG: i32 = 2;
    /// TCP_KEEPIDLE
    pub const TCP_KEEPIDLE: i32 = 4;
    /// TCP_KEEPINTVL
    pub const TCP_KEEPINTVL: i32 = 5;
    /// TCP_KEEPCNT
    pub const TCP_KEEPCNT: i32 = 6;
    /// TCP_SYNCNT
    pub const TCP_SYNCNT: i32 = 7;
    /// TCP_WINDOW_CLAMP
    pub const TCP_WINDOW_CLAMP: i32 = 10;
    /// TCP_CONGESTION
    pub const TCP_CONGESTION: i32 = 13;
    /// TCP_THIN_LINEAR_TIMEOUTS
    pub const TCP_THIN_LINEAR_TIMEOUTS: i32 = 16;
    /// TCP_USER_TIMEOUT
    pub const TCP_USER_TIMEOUT: i32 = 18;
    /// TCP_NOTSENT_LOWAT
    pub const TCP_NOTSENT_LOWAT: i32 = 25;
    /// TCP_SAVE_SYN
    pub const TCP_SAVE_SYN: i32 = 27;
    /// TCP_SAVED_SYN
    pub const TCP_SAVED_SYN: i32 = 28;
    /// TCP_RTO_MAX_MS
    pub const TCP_RTO_MAX_MS: i32 = 44;
    /// TCP_BPF_IW
    pub const TCP_BPF_IW: i32 = 1001;
    /// TCP_BPF_SNDCWND_CLAMP
    pub const TCP_BPF_SNDCWND_CLAMP: i32 = 1002;
    /// TCP_BPF_DELACK_MAX
    pub const TCP_BPF_DELACK_MAX: i32 = 1003;
    /// TCP_BPF_RTO_MIN
    pub const TCP_BPF_RTO_MIN: i32 = 1004;
    /// TCP_BPF_SYN
    pub const TCP_BPF_SYN: i32 = 1005;
    /// TCP_BPF_SYN_IP
    pub const TCP_BPF_SYN_IP: i32 = 1006;
    /// TCP_BPF_SYN_MAC
    pub const TCP_BPF_SYN_MAC: i32 = 1007;
    /// TCP_BPF_SOCK_OPS_CB_FLAGS
    pub const TCP_BPF_SOCK_OPS_CB_FLAGS: i32 = 1008;
    /// IP_TOS (SOL_IP)
    pub const IP_TOS: i32 = 1;
    /// IPV6_TCLASS (SOL_IPV6)
    pub const IPV6_TCLASS: i32 = 67;
    /// IPV6_AUTOFLOWLABEL (SOL_IPV6)
    pub const IPV6_AUTOFLOWLABEL: i32 = 70;
}

use level::*;
use optname::*;

/// Every (level, optname) bpf_setsockopt or bpf_getsockopt accepts from sock_ops, with its
/// kernel constant name.
pub const OPTIONS: &[(i32, i32, &str)] = &[
    (SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"),
    (SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"),
    (SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"),
    (SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"),
    (SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY"),
    (SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"),
    (SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT"),
    (SOL_SOCKET, SO_MARK, "SO_MARK"),
    (SOL_SOCKET, SO_MAX_PACING_RATE, "SO_MAX_PACING_RATE"),
    (SOL_SOCKET, SO_BINDTOIFINDEX, "SO_BINDTOIFINDEX"),
    (SOL_SOCKET, SO_TXREHASH, "SO_TXREHASH"),
    (SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE"),
    (SOL_SOCKET, SK_BPF_CB_FLAGS, "SK_BPF_CB_FLAGS"),
    (SOL_TCP, TCP_NODELAY, "TCP_NODELAY"),
    (SOL_TCP, TCP_MAXSEG, "TCP_MAXSEG"),
    (SOL_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE"),
    (SOL_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL"),
    (SOL_TCP, TCP_KEEPCNT, "TCP_KEEPCNT"),
    (SOL_TCP, TCP_SYNCNT, "TCP_SYNCNT"),
    (SOL_TCP, TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP"),
    (
        SOL_TCP,
        TCP_THIN_LINEAR_TIMEOUTS,
        "TCP_THIN_LINEAR_TIMEOUTS",
    ),
    (SOL_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT"),
    (SOL_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT"),
    (SOL_TCP, TCP_SAVE_SYN, "TCP_SAVE_SYN"),
    (SOL_TCP, TCP_RTO_MAX_MS, "TCP_RTO_MAX_MS"),
    (SOL_TCP, TCP_CONGESTION, "TCP_CONGESTION"),
    (SOL_TCP, TCP_SAVED_SYN, "TCP_SAVED_SYN"),
    (SOL_TCP, TCP_BPF_IW, "TCP_BPF_IW"),
    (SOL_TCP, TCP_BPF_SNDCWND_CLAMP, "TCP_BPF_SNDCWND_CLAMP"),
    (SOL_TCP, TCP_BPF_DELACK_MAX, "TCP_BPF_DELACK_MAX"),
    (SOL_TCP, TCP_BPF_RTO_MIN, "TCP_BPF_RTO_MIN"),
    (SOL_TCP, TCP_BPF_SYN, "TCP_BPF_SYN"),
    (SOL_TCP, TCP_BPF_SYN_IP, "TCP_BPF_SYN_IP"),
    (SOL_TCP, TCP_BPF_SYN_MAC, "TCP_BPF_SYN_MAC"),
    (
        SOL_TCP,
        TCP_BPF_SOCK_OPS_CB_FLAGS,
        "TCP_BPF_SOCK_OPS_CB_FLAGS",
    ),
    (SOL_IP, IP_TOS, "IP_TOS"),
    (SOL_IPV6, IPV6_TCLASS, "IPV6_TCLASS"),
    (SOL_IPV6, IPV6_AUTOFLOWLABEL, "IPV6_AUTOFLOWLABEL"),
];

/// The kernel constant name of (level, optname), if sock_ops supports it.
pub fn option_name(level: i32, optname: i32) -> Option<&'static str> {
    OPTIONS
        .iter()
        .find(|o| o.0 == level && o.1 == optname)
        .map(|o| o.2)
}

/// (level, optname) of the kernel constant `name` (e.g. `SO_SNDBUF`).
pub fn option_by_name(name: &str) -> Option<(i32, i32)> {
    OPTIONS.iter().find(|o| o.2 == name).map(|o| (o.0, o.1))
}

/// An option's value as reported: an integer or a name (congestion control, device).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OptionValue {
    /// Integer options.
    Int(i64),
    /// String options (TCP_CONGESTION, SO_BINDTODEVICE).
    Str(String),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Int(v) => write!(f, "{v}"),
            OptionValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}
