//! The synthetic socket: family, addresses, ports, cgroup, TCP state, every metric
//! `struct bpf_sock_ops` exposes (settable by field name), the option state the helpers change
//! (`SocketOptions`), the kernel settings that bound them (`Sysctls`), cookies and callback
//! flags. Building the context from it lives in `context`; option semantics in `sockopt`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ops::TcpState;
use crate::sysctl::Sysctls;

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// AF_INET (2).
    Inet,
    /// AF_INET6 (10).
    Inet6,
}

impl Family {
    /// AF_INET = 2, AF_INET6 = 10.
    pub fn number(self) -> u32 {
        match self {
            Family::Inet => 2,
            Family::Inet6 => 10,
        }
    }
}

/// Full socket or request socket (the SYN-ACK side before the child exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A full `tcp_sock` (is_fullsock = 1).
    Full,
    /// A `request_sock` (is_fullsock = 0, state NEW_SYN_RECV).
    Request,
}

/// The tcp_sock metrics `struct bpf_sock_ops` exposes, as raw field values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpMetrics {
    /// Congestion window (segments).
    pub snd_cwnd: u32,
    /// Smoothed RTT, µs << 3.
    pub srtt_us: u32,
    /// Windowed min RTT µs (~0 before the first sample).
    pub rtt_min: u32,
    /// Slow-start threshold.
    pub snd_ssthresh: u32,
    /// Next sequence expected.
    pub rcv_nxt: u32,
    /// Next sequence to send.
    pub snd_nxt: u32,
    /// First unacknowledged sequence.
    pub snd_una: u32,
    /// Cached MSS.
    pub mss_cache: u32,
    /// ECN flags.
    pub ecn_flags: u32,
    /// Rate sample: delivered.
    pub rate_delivered: u32,
    /// Rate sample: interval µs.
    pub rate_interval_us: u32,
    /// Packets in flight.
    pub packets_out: u32,
    /// Retransmitted packets in flight.
    pub retrans_out: u32,
    /// Total retransmits.
    pub total_retrans: u32,
    /// Segments in.
    pub segs_in: u32,
    /// Data segments in.
    pub data_segs_in: u32,
    /// Segments out.
    pub segs_out: u32,
    /// Data segments out.
    pub data_segs_out: u32,
    /// Lost packets.
    pub lost_out: u32,
    /// SACKed packets.
    pub sacked_out: u32,
    /// `sk_txhash`.
    pub sk_txhash: u32,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes acked.
    pub bytes_acked: u64,
    /// DSACK blocks received (`struct bpf_tcp_sock` only, not in `bpf_sock_ops`).
    pub dsack_dups: u32,
    /// Data packets delivered incl. retransmits (`struct bpf_tcp_sock` only).
    pub delivered: u32,
    /// ECE-marked packets delivered (`struct bpf_tcp_sock` only).
    pub delivered_ce: u32,
    /// Unrecovered RTO timeouts, `icsk_retransmits` (`struct bpf_tcp_sock` only).
    pub icsk_retransmits: u8,
}

impl Default for TcpMetrics {
    fn default() -> Self {
        TcpMetrics {
            snd_cwnd: 10,
            srtt_us: 0,
            rtt_min: u32::MAX,
            snd_ssthresh: 0x7fff_ffff,
            rcv_nxt: 0,
            snd_nxt: 0,
            snd_una: 0,
            mss_cache: 536,
            ecn_flags: 0,
            rate_delivered: 0,
            rate_interval_us: 0,
            packets_out: 0,
            retrans_out: 0,
            total_retrans: 0,
            segs_in: 0,
            data_segs_in: 0,
            segs_out: 0,
            data_segs_out: 0,
            lost_out: 0,
            sacked_out: 0,
            sk_txhash: 0,
            bytes_received: 0,
            bytes_acked: 0,
            dsack_dups: 0,
            delivered: 0,
            delivered_ce: 0,
            icsk_retransmits: 0,
        }
    }
}

/// The names of the bpf_sock_ops metric fields, in struct order (`Socket::field` reads them).
pub const METRIC_FIELDS: &[&str] = &[
    "snd_cwnd",
    "srtt_us",
    "rtt_min",
    "snd_ssthresh",
    "rcv_nxt",
    "snd_nxt",
    "snd_una",
    "mss_cache",
    "ecn_flags",
    "rate_delivered",
    "rate_interval_us",
    "packets_out",
    "retrans_out",
    "total_retrans",
    "segs_in",
    "data_segs_in",
    "segs_out",
    "data_segs_out",
    "lost_out",
    "sacked_out",
    "sk_txhash",
    "bytes_received",
    "bytes_acked",
];

/// Socket-level option state changed by setsockopt (kernel units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// `sk_reuse` (SO_REUSEADDR).
    pub reuseaddr: u8,
    /// SOCK_KEEPOPEN (SO_KEEPALIVE).
    pub keepalive: bool,
    /// `sk_sndbuf` (already doubled).
    pub sndbuf: i32,
    /// `sk_rcvbuf` (already doubled).
    pub rcvbuf: i32,
    /// SOCK_SNDBUF_LOCK.
    pub sndbuf_locked: bool,
    /// SOCK_RCVBUF_LOCK.
    pub rcvbuf_locked: bool,
    /// `sk_priority`.
    pub priority: u32,
    /// `sk_reuseport`.
    pub reuseport: bool,
    /// `sk_rcvlowat`.
    pub rcvlowat: i32,
    /// `sk_mark`.
    pub mark: u32,
    /// `sk_max_pacing_rate` in bytes/s.
    pub max_pacing_rate: u64,
    /// `sk_bound_dev_if`.
    pub bound_dev_if: i32,
    /// `sk_txrehash`.
    pub txrehash: u8,
    /// `sk_bpf_cb_flags` (SK_BPF_CB_FLAGS).
    pub sk_bpf_cb_flags: u32,
    /// TCP_NODELAY.
    pub nodelay: bool,
    /// `rx_opt.user_mss` (TCP_MAXSEG).
    pub user_mss: u32,
    /// `keepalive_time` in jiffies, 0 = sysctl default.
    pub keepalive_time: u64,
    /// `keepalive_intvl` in jiffies, 0 = sysctl default.
    pub keepalive_intvl: u64,
    /// `keepalive_probes`, 0 = sysctl default.
    pub keepalive_probes: u8,
    /// `icsk_syn_retries`, 0 = sysctl default.
    pub syn_retries: u8,
    /// `window_clamp`.
    pub window_clamp: u32,
    /// `thin_lto`.
    pub thin_lto: bool,
    /// `icsk_user_timeout` ms.
    pub user_timeout: u32,
    /// `notsent_lowat`, 0 = sysctl default.
    pub notsent_lowat: u32,
    /// `save_syn` (0, 1, 2).
    pub save_syn: u8,
    /// `icsk_rto_max` in jiffies.
    pub rto_max: u64,
    /// Congestion control name.
    pub congestion: String,
    /// `snd_cwnd_clamp`.
    pub snd_cwnd_clamp: u32,
    /// `icsk_delack_max` in jiffies.
    pub delack_max: u64,
    /// `icsk_rto_min` in jiffies.
    pub rto_min: u64,
    /// IPv4 `tos`.
    pub tos: u8,
    /// IPv6 `tclass`.
    pub tclass: u8,
    /// IPV6_AUTOFLOWLABEL set explicitly (None: follow `net.ipv6.auto_flowlabels`).
    pub autoflowlabel: Option<bool>,
}

impl SocketOptions {
    /// A new socket's options under `sysctl`.
    pub fn defaults(sysctl: &Sysctls) -> SocketOptions {
        let j = sysctl.jiffies();
        SocketOptions {
            reuseaddr: 0,
            keepalive: false,
            sndbuf: sysctl.tcp_wmem[1] as i32,
            rcvbuf: sysctl.tcp_rmem[1] as i32,
            sndbuf_locked: false,
            rcvbuf_locked: false,
            priority: 0,
            reuseport: false,
            rcvlowat: 1,
            mark: 0,
            max_pacing_rate: u64::MAX,
            bound_dev_if: 0,
            txrehash: sysctl.txrehash,
            sk_bpf_cb_flags: 0,
            nodelay: false,
            user_mss: 0,
            keepalive_time: 0,
            keepalive_intvl: 0,
            keepalive_probes: 0,
            syn_retries: 0,
            window_clamp: 0,
            thin_lto: false,
            user_timeout: 0,
            notsent_lowat: 0,
            save_syn: 0,
            rto_max: j.from_msecs(sysctl.tcp_rto_max_ms),
            congestion: sysctl.congestion_control.clone(),
            snd_cwnd_clamp: u32::MAX,
            delack_max: j.tcp_delack_max(),
            rto_min: j.from_usecs(sysctl.tcp_rto_min_us),
            tos: 0,
            tclass: 0,
            autoflowlabel: None,
        }
    }
}

/// A saved SYN (`TCP_SAVE_SYN`) or the SYN a request socket answers (`syn_skb`): MAC (may be
/// empty), network and TCP headers, back to back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSyn {
    /// The header bytes, MAC first.
    pub data: Vec<u8>,
    /// MAC header length (0 when TCP_SAVE_SYN=1 saved no MAC header).
    pub mac_hdrlen: usize,
    /// IP header length.
    pub network_hdrlen: usize,
    /// TCP header length.
    pub tcp_hdrlen: usize,
}

impl SavedSyn {
    /// The options of `synthesize`'s SYN: MSS 65495, SACK-permitted, timestamps, NOP and
    /// window scale 7 (what a Linux peer on loopback sends).
    pub const DEFAULT_OPTIONS: [u8; 20] = [
        2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    /// A plausible SYN the remote end sent to `socket` (src = remote, dst = local): IPv4
    /// (20 bytes) or IPv6 (40 bytes) header, a 40-byte TCP header with MSS, SACK-permitted,
    /// timestamps and window scale, and a 14-byte Ethernet header if `with_mac`.
    pub fn synthesize(socket: &Socket, with_mac: bool) -> SavedSyn {
        SavedSyn::of_peer(socket, with_mac, 0, &SavedSyn::DEFAULT_OPTIONS)
    }

    /// The SYN the remote end sent to `socket` as the kernel saves it (`TCP_SAVE_SYN`): a
    /// 14-byte Ethernet header if `with_mac`, the IPv4 header with `tos` (or the IPv6 header
    /// with traffic class `tos`), and the TCP header with `options` (at most 40 bytes kept,
    /// padded with NOPs to a multiple of 4).
    pub fn of_peer(socket: &Socket, with_mac: bool, tos: u8, options: &[u8]) -> SavedSyn {
        let mut data = Vec::new();
        let mac_hdrlen = if with_mac {
            data.extend_from_slice(&[0; 12]);
            let ethertype: u16 = if socket.remote.is_ipv4() || is_v4_mapped(socket.remote.ip()) {
                0x0800
            } else {
                0x86dd
            };
            data.extend_from_slice(&ethertype.to_be_bytes());
            14
        } else {
            0
        };
        let mut options: Vec<u8> = options.iter().copied().take(40).collect();
        while !options.len().is_multiple_of(4) {
            options.push(1);
        }
        let tcp_len = 20 + options.len() as u16;
        let (src, dst) = (socket.remote, socket.local);
        let network_hdrlen = match (v4_of(src.ip()), v4_of(dst.ip())) {
            (Some(s), Some(d)) => {
                let total = 20 + tcp_len;
                let mut ip = vec![0x45, tos];
                ip.extend_from_slice(&total.to_be_bytes());
                ip.extend_from_slice(&[0, 0, 0x40, 0x00, 64, 6, 0, 0]);
                ip.extend_from_slice(&s.octets());
                ip.extend_from_slice(&d.octets());
                let sum = ipv4_checksum(&ip);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                data.extend_from_slice(&ip);
                20
            }
            _ => {
                data.extend_from_slice(&[0x60 | (tos >> 4), (tos & 0x0f) << 4, 0, 0]);
                data.extend_from_slice(&tcp_len.to_be_bytes());
                data.extend_from_slice(&[6, 64]);
                data.extend_from_slice(&v6_of(src.ip()).octets());
                data.extend_from_slice(&v6_of(dst.ip()).octets());
                40
            }
        };
        let mut tcp = Vec::with_capacity(usize::from(tcp_len));
        tcp.extend_from_slice(&src.port().to_be_bytes());
        tcp.extend_from_slice(&dst.port().to_be_bytes());
        tcp.extend_from_slice(&0x1000_0000u32.to_be_bytes()); // seq
        tcp.extend_from_slice(&0u32.to_be_bytes()); // ack
        tcp.extend_from_slice(&[((tcp_len / 4) as u8) << 4, 0x02]); // doff, SYN
        tcp.extend_from_slice(&65495u16.to_be_bytes()); // window
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
        tcp.extend_from_slice(&options);
        data.extend_from_slice(&tcp);
        SavedSyn {
            data,
            mac_hdrlen,
            network_hdrlen,
            tcp_hdrlen: tcp.len(),
        }
    }

    /// `tcp_saved_syn_len`: all saved bytes.
    pub fn len(&self) -> usize {
        self.mac_hdrlen + self.network_hdrlen + self.tcp_hdrlen
    }

    /// Whether nothing is saved.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The TCP header bytes.
    pub fn tcp_header(&self) -> &[u8] {
        let start = self.mac_hdrlen + self.network_hdrlen;
        self.data.get(start..start + self.tcp_hdrlen).unwrap_or(&[])
    }
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `ip` is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
pub fn is_v4_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// The IPv4 address of `ip` (itself, or the mapped one).
pub fn v4_of(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// The IPv6 form of `ip` (v4-mapped for IPv4).
pub fn v6_of(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// A field name `Socket::set_field` does not know, or a value out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketFieldError {
    /// Unknown field.
    #[error(
        "unknown socket field `{0}` (expected a bpf_sock_ops metric such as snd_cwnd, srtt_us, ..., bytes_acked, or state / bpf_sock_ops_cb_flags)"
    )]
    Unknown(String),
    /// Value out of range for the field.
    #[error("value {value} out of range for socket field `{name}`")]
    OutOfRange {
        /// Field name.
        name: String,
        /// Value given.
        value: u64,
    },
}

static NEXT_COOKIE: AtomicU64 = AtomicU64::new(1);

/// The synthetic socket one op runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    /// Address family.
    pub family: Family,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port (unspecified:0 for a listener).
    pub remote: SocketAddr,
    /// `sk_ipv6only`: false by default (connected clients and children of a listener on
    /// `::`); `bind()` to a specific non-mapped IPv6 address (e.g. `::1`) makes it true.
    pub v6only: bool,
    /// The cgroup path the socket belongs to (a request socket: the listener's).
    pub cgroup: String,
    /// TCP state.
    pub state: TcpState,
    /// Full socket or request socket.
    pub kind: SocketKind,
    /// tcp_sock metrics.
    pub tcp: TcpMetrics,
    /// `bpf_sock_ops_cb_flags`.
    pub cb_flags: u32,
    /// Option state.
    pub options: SocketOptions,
    /// Kernel settings bounding the options (and HZ).
    pub sysctl: Sysctls,
    /// Socket cookie (`bpf_get_socket_cookie`), non-zero.
    pub cookie: u64,
    /// Network namespace cookie (`bpf_get_netns_cookie`); init_net is 1.
    pub netns_cookie: u64,
    /// `tp->syn_data`: the SYN carried Fast Open data (TCP_BPF_IW compares data_segs_out to it).
    pub syn_data: bool,
    /// The saved SYN (TCP_SAVED_SYN, TCP_BPF_SYN*), or for a request socket the SYN it answers.
    pub saved_syn: Option<SavedSyn>,
    /// Values of sk_storage maps attached to this socket.
    pub sk_storage: crate::sk_storage::SkStorage,
    /// Options a program set, by (level, optname), with the value set (for reports).
    pub options_set: BTreeMap<(i32, i32), crate::sockopt::OptionValue>,
}

impl Socket {
    /// A full, established TCP socket from `local` to `remote` with default metrics and
    /// options under default sysctls. The family follows `local` (IPv4 or IPv6; a v4-mapped
    /// IPv6 address gives an AF_INET6 socket); `v6only` starts false.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Socket {
        Socket::with_sysctl(local, remote, Sysctls::default())
    }

    /// As `new`, under the given kernel settings.
    pub fn with_sysctl(local: SocketAddr, remote: SocketAddr, sysctl: Sysctls) -> Socket {
        let family = if local.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
        let cookie = NEXT_COOKIE.fetch_add(1, Ordering::Relaxed);
        let tcp = TcpMetrics {
            sk_txhash: txhash_of(cookie),
            ..TcpMetrics::default()
        };
        Socket {
            family,
            local,
            remote,
            v6only: false,
            cgroup: "/".to_string(),
            state: TcpState::Established,
            kind: SocketKind::Full,
            tcp,
            cb_flags: 0,
            options: SocketOptions::defaults(&sysctl),
            sysctl,
            cookie,
            netns_cookie: 1,
            syn_data: false,
            saved_syn: None,
            sk_storage: Default::default(),
            options_set: BTreeMap::new(),
        }
    }

    /// A request socket (SYN-ACK side; state NEW_SYN_RECV, is_fullsock = 0).
    pub fn request(local: SocketAddr, remote: SocketAddr) -> Socket {
        let mut s = Socket::new(local, remote);
        s.kind = SocketKind::Request;
        s.state = TcpState::NewSynRecv;
        s.tcp = TcpMetrics {
            rtt_min: 0,
            ..TcpMetrics::default()
        };
        s
    }

    /// Replaces the kernel settings and resets the options that derive from them.
    pub fn set_sysctls(&mut self, sysctl: Sysctls) {
        self.options = SocketOptions::defaults(&sysctl);
        self.sysctl = sysctl;
    }

    /// `sk_fullsock`.
    pub fn is_fullsock(&self) -> bool {
        self.kind == SocketKind::Full
    }

    /// The v4-mapped-aware IPv4 field value (network order bytes in a u32) of `addr`, or 0
    /// for a genuine IPv6 address.
    pub fn ip4_field(addr: &SocketAddr) -> u32 {
        v4_of(addr.ip()).map_or(0, |v4| u32::from_ne_bytes(v4.octets()))
    }

    /// The four network-order words of the IPv6 form of `addr` (v4-mapped for IPv4).
    pub fn ip6_words(addr: &SocketAddr) -> [u32; 4] {
        let o = v6_of(addr.ip()).octets();
        std::array::from_fn(|i| {
            u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
        })
    }

    /// `remote_port` as the ctx holds it: the network-order u16 in the upper half of the u32
    /// on little-endian hosts (port 42789 = 0xa725 reads 0x25a70000).
    pub fn remote_port_field(&self) -> u32 {
        let raw = u16::from_ne_bytes(self.remote.port().to_be_bytes());
        if cfg!(target_endian = "little") {
            u32::from(raw) << 16
        } else {
            u32::from(raw)
        }
    }

    /// Reads a bpf_sock_ops metric (or `state`, `bpf_sock_ops_cb_flags`, or one of the
    /// `bpf_tcp_sock`-only metrics dsack_dups, delivered, delivered_ce, icsk_retransmits)
    /// by field name.
    pub fn field(&self, name: &str) -> Option<u64> {
        let t = &self.tcp;
        Some(match name {
            "snd_cwnd" => t.snd_cwnd.into(),
            "srtt_us" => t.srtt_us.into(),
            "rtt_min" => t.rtt_min.into(),
            "snd_ssthresh" => t.snd_ssthresh.into(),
            "rcv_nxt" => t.rcv_nxt.into(),
            "snd_nxt" => t.snd_nxt.into(),
            "snd_una" => t.snd_una.into(),
            "mss_cache" => t.mss_cache.into(),
            "ecn_flags" => t.ecn_flags.into(),
            "rate_delivered" => t.rate_delivered.into(),
            "rate_interval_us" => t.rate_interval_us.into(),
            "packets_out" => t.packets_out.into(),
            "retrans_out" => t.retrans_out.into(),
            "total_retrans" => t.total_retrans.into(),
            "segs_in" => t.segs_in.into(),
            "data_segs_in" => t.data_segs_in.into(),
            "segs_out" => t.segs_out.into(),
            "data_segs_out" => t.data_segs_out.into(),
            "lost_out" => t.lost_out.into(),
            "sacked_out" => t.sacked_out.into(),
            "sk_txhash" => t.sk_txhash.into(),
            "bytes_received" => t.bytes_received,
            "bytes_acked" => t.bytes_acked,
            "dsack_dups" => t.dsack_dups.into(),
            "delivered" => t.delivered.into(),
            "delivered_ce" => t.delivered_ce.into(),
            "icsk_retransmits" => t.icsk_retransmits.into(),
            "state" => self.state.number().into(),
            "bpf_sock_ops_cb_flags" | "cb_flags" => self.cb_flags.into(),
            _ => return None,
        })
    }

    /// Sets a bpf_sock_ops metric (or `state`, `bpf_sock_ops_cb_flags`, or a
    /// `bpf_tcp_sock`-only metric) by field name, as the raw field value.
    pub fn set_field(&mut self, name: &str, value: u64) -> Result<(), SocketFieldError> {
        let out_of_range = || SocketFieldError::OutOfRange {
            name: name.to_string(),
            value,
        };
        let v32 = u32::try_from(value).map_err(|_| out_of_range());
        let t = &mut self.tcp;
        match name {
            "bytes_received" => t.bytes_received = value,
            "bytes_acked" => t.bytes_acked = value,
            "icsk_retransmits" => {
                t.icsk_retransmits = u8::try_from(value).map_err(|_| out_of_range())?
            }
            "state" => {
                self.state = v32
                    .ok()
                    .and_then(TcpState::from_number)
                    .ok_or_else(out_of_range)?
            }
            _ => {
                let slot: &mut u32 = match name {
                    "snd_cwnd" => &mut t.snd_cwnd,
                    "srtt_us" => &mut t.srtt_us,
                    "rtt_min" => &mut t.rtt_min,
                    "snd_ssthresh" => &mut t.snd_ssthresh,
                    "rcv_nxt" => &mut t.rcv_nxt,
                    "snd_nxt" => &mut t.snd_nxt,
                    "snd_una" => &mut t.snd_una,
                    "mss_cache" => &mut t.mss_cache,
                    "ecn_flags" => &mut t.ecn_flags,
                    "rate_delivered" => &mut t.rate_delivered,
                    "rate_interval_us" => &mut t.rate_interval_us,
                    "packets_out" => &mut t.packets_out,
                    "retrans_out" => &mut t.retrans_out,
                    "total_retrans" => &mut t.total_retrans,
                    "segs_in" => &mut t.segs_in,
                    "data_segs_in" => &mut t.data_segs_in,
                    "segs_out" => &mut t.segs_out,
                    "data_segs_out" => &mut t.data_segs_out,
                    "lost_out" => &mut t.lost_out,
                    "sacked_out" => &mut t.sacked_out,
                    "sk_txhash" => &mut t.sk_txhash,
                    "dsack_dups" => &mut t.dsack_dups,
                    "delivered" => &mut t.delivered,
                    "delivered_ce" => &mut t.delivered_ce,
                    "bpf_sock_ops_cb_flags" | "cb_flags" => &mut self.cb_flags,
                    _ => return Err(SocketFieldError::Unknown(name.to_string())),
                };
                *slot = v32?;
            }
        }
        Ok(())
    }

    /// Every metric field with its value, in struct order (for reports).
    pub fn metrics(&self) -> Vec<(&'static str, u64)> {
        METRIC_FIELDS
            .iter()
            .filter_map(|n| self.field(n).map(|v| (*n, v)))
            .collect()
    }
}

/// A deterministic non-zero `sk_txhash` for a socket cookie (the kernel draws a random one).
fn txhash_of(cookie: u64) -> u32 {
    let mut x = cookie.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    (x as u32) | 1
}
