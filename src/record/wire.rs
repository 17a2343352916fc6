//! The record the recorder program (`bpf/recorder.c`, `struct record` in `bpf/recorder.h`)
//! writes to its ring buffer for every sock_ops call, decoded: the whole context the kernel
//! built, with the socket's cookie.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Size of `struct record` (checked against every record read).
pub const RECORD_SIZE: usize = 336;

/// The integer options every record reads with `bpf_getsockopt` (full sockets, ops 0-15), as
/// (name, level, optname), in `struct record`'s `opts` order; the last is `IP_TOS` on AF_INET
/// sockets and [`IPV6_TCLASS`] on AF_INET6 ones.
pub const RECORD_OPTIONS: [(&str, i32, i32); 12] = [
    ("SO_SNDBUF", 1, 7),
    ("SO_RCVBUF", 1, 8),
    ("SO_MARK", 1, 36),
    ("SO_PRIORITY", 1, 12),
    ("TCP_NODELAY", 6, 1),
    ("TCP_WINDOW_CLAMP", 6, 10),
    ("TCP_KEEPIDLE", 6, 4),
    ("TCP_USER_TIMEOUT", 6, 18),
    ("TCP_NOTSENT_LOWAT", 6, 25),
    ("TCP_BPF_RTO_MIN", 6, 1004),
    ("TCP_BPF_DELACK_MAX", 6, 1003),
    ("IP_TOS", 0, 1),
];

/// What the last of [`RECORD_OPTIONS`] reads on an AF_INET6 socket.
pub const IPV6_TCLASS: (&str, i32, i32) = ("IPV6_TCLASS", 41, 67);
/// Most header bytes a record carries.
pub const RECORD_HDR_MAX: usize = 60;

/// The metric fields of a record: their `bpf_sock_ops` names (`state` and
/// `bpf_sock_ops_cb_flags` included), in the order a trace's `set = {...}` carries them, each
/// with its offset in `struct record` and whether it is 8 bytes wide.
const METRIC_LAYOUT: [(&str, usize, bool); 29] = [
    ("snd_cwnd", 100, false),
    ("srtt_us", 104, false),
    ("bpf_sock_ops_cb_flags", 108, false),
    ("state", 112, false),
    ("rtt_min", 116, false),
    ("snd_ssthresh", 120, false),
    ("rcv_nxt", 124, false),
    ("snd_nxt", 128, false),
    ("snd_una", 132, false),
    ("mss_cache", 136, false),
    ("ecn_flags", 140, false),
    ("rate_delivered", 144, false),
    ("rate_interval_us", 148, false),
    ("packets_out", 152, false),
    ("retrans_out", 156, false),
    ("total_retrans", 160, false),
    ("segs_in", 164, false),
    ("data_segs_in", 168, false),
    ("segs_out", 172, false),
    ("data_segs_out", 176, false),
    ("lost_out", 180, false),
    ("sacked_out", 184, false),
    ("sk_txhash", 188, false),
    ("bytes_received", 8, true),
    ("bytes_acked", 16, true),
    ("skb_len", 192, false),
    ("skb_tcp_flags", 196, false),
    ("is_fullsock", 96, false),
    ("family", 44, false),
];

/// The metric fields of a record, by their `bpf_sock_ops` names, in record order
/// (`state` and `bpf_sock_ops_cb_flags` included): what a trace's `set = {...}` carries.
pub const RECORD_METRICS: [&str; 29] = {
    let mut names = [""; 29];
    let mut k = 0;
    while k < 29 {
        names[k] = METRIC_LAYOUT[k].0;
        k += 1;
    }
    names
};

/// One sock_ops call as the kernel made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `bpf_get_socket_cookie`: one side of one connection (a request socket has its own).
    pub cookie: u64,
    /// The op number.
    pub op: u32,
    /// `args[0..4]` (`args[0]` is also `reply`).
    pub args: [u32; 4],
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Every field of [`RECORD_METRICS`], in that order.
    pub metrics: [u64; 29],
    /// The segment's header bytes the context let the program read (`skb_data` ..
    /// `skb_data_end`, at most 60).
    pub header: Vec<u8>,
    /// 0: written before the other programs of the cgroup ran (`record`), 1: after them
    /// (`record_after`, which sees the `reply` they left in `args[0]`).
    pub phase: u32,
    /// The options `bpf_getsockopt` could read, as (name, level, optname, value) (see
    /// [`RECORD_OPTIONS`]; none on a request socket or in ops 16 and up).
    pub options: Vec<(&'static str, i32, i32, i64)>,
    /// `TCP_CONGESTION`, when it could be read.
    pub congestion: Option<String>,
}

/// A ring buffer record that is not a `struct record`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a ring buffer record of {len} bytes is not a recorder record ({RECORD_SIZE} bytes)")]
pub struct RecordSizeError {
    /// Its length.
    pub len: usize,
}

impl Record {
    /// Decodes one record (native byte order, as the kernel wrote it).
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordSizeError> {
        if bytes.len() != RECORD_SIZE {
            return Err(RecordSizeError { len: bytes.len() });
        }
        let u64_at = |k: usize| u64::from_ne_bytes(bytes[k..k + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |k: usize| u32::from_ne_bytes(bytes[k..k + 4].try_into().unwrap_or([0; 4]));
        let words = |k: usize| -> [u8; 16] {
            let mut b = [0u8; 16];
            b.copy_from_slice(&bytes[k..k + 16]);
            b
        };
        let cookie = u64_at(0);
        let op = u32_at(24);
        let args = [u32_at(28), u32_at(32), u32_at(36), u32_at(40)];
        let family = u32_at(44);
        let (remote_ip4, local_ip4) = (u32_at(48), u32_at(52));
        let (remote_ip6, local_ip6) = (words(56), words(72));
        let remote_port = u16::try_from(u32::from_be(u32_at(88))).unwrap_or(0);
        let local_port = u16::try_from(u32_at(92)).unwrap_or(0);
        let (local_ip, remote_ip): (IpAddr, IpAddr) = if family == libc::AF_INET6 as u32 {
            (
                Ipv6Addr::from(local_ip6).into(),
                Ipv6Addr::from(remote_ip6).into(),
            )
        } else {
            (
                Ipv4Addr::from(local_ip4.to_ne_bytes()).into(),
                Ipv4Addr::from(remote_ip4.to_ne_bytes()).into(),
            )
        };
        let mut metrics = [0u64; 29];
        for (k, &(_, offset, wide)) in METRIC_LAYOUT.iter().enumerate() {
            metrics[k] = if wide {
                u64_at(offset)
            } else {
                u64::from(u32_at(offset))
            };
        }
        let hdr_len = (u32_at(200) as usize).min(RECORD_HDR_MAX);
        let opt_ok = u32_at(268);
        let options = RECORD_OPTIONS
            .iter()
            .enumerate()
            .filter(|&(k, _)| opt_ok & (1 << k) != 0)
            .map(|(k, &(name, level, optname))| {
                let (name, level, optname) =
                    if k == RECORD_OPTIONS.len() - 1 && family == libc::AF_INET6 as u32 {
                        IPV6_TCLASS
                    } else {
                        (name, level, optname)
                    };
                let value = i32::from_ne_bytes(u32_at(272 + 4 * k).to_ne_bytes());
                (name, level, optname, i64::from(value))
            })
            .collect();
        let congestion = (opt_ok & (1 << RECORD_OPTIONS.len()) != 0).then(|| {
            let raw = &bytes[320..336];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).into_owned()
        });
        Ok(Record {
            cookie,
            op,
            args,
            local: SocketAddr::new(local_ip, local_port),
            remote: SocketAddr::new(remote_ip, remote_port),
            metrics,
            header: bytes[204..204 + hdr_len].to_vec(),
            phase: u32_at(264),
            options,
            congestion,
        })
    }

    /// The value of metric `name` (one of [`RECORD_METRICS`]).
    pub fn metric(&self, name: &str) -> Option<u64> {
        RECORD_METRICS
            .iter()
            .position(|n| *n == name)
            .map(|k| self.metrics[k])
    }

    /// True for a full socket (`is_fullsock`).
    pub fn is_fullsock(&self) -> bool {
        self.metric("is_fullsock") == Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> Vec<u8> {
        let mut b = vec![0u8; RECORD_SIZE];
        let mut put32 = |k: usize, v: u32| b[k..k + 4].copy_from_slice(&v.to_ne_bytes());
        put32(24, 3); // op TIMEOUT_INIT
        put32(28, 7);
        put32(44, 2); // AF_INET
        put32(48, u32::from_ne_bytes([127, 0, 0, 1]));
        put32(52, u32::from_ne_bytes([127, 0, 0, 2]));
        put32(88, u32::to_be(8080));
        put32(92, 40000);
        put32(96, 1); // is_fullsock
        put32(100, 10); // snd_cwnd
        put32(112, 2); // state SYN_SENT
        put32(192, 52); // skb_len
        put32(200, 3);
        b[0..8].copy_from_slice(&77u64.to_ne_bytes());
        b[16..24].copy_from_slice(&5u64.to_ne_bytes());
        b[204..207].copy_from_slice(&[1, 2, 3]);
        b[264..268].copy_from_slice(&1u32.to_ne_bytes()); // phase: after
        // SO_SNDBUF and TCP_CONGESTION read; SO_RCVBUF not read (its value is ignored).
        b[268..272].copy_from_slice(&0b1_0000_0000_0001u32.to_ne_bytes());
        b[272..276].copy_from_slice(&131072u32.to_ne_bytes());
        b[276..280].copy_from_slice(&99u32.to_ne_bytes());
        b[320..325].copy_from_slice(b"cubic");
        b
    }

    #[test]
    fn decodes_every_part_of_a_record() {
        let r = Record::decode(&raw()).unwrap();
        assert_eq!(r.cookie, 77);
        assert_eq!(r.op, 3);
        assert_eq!(r.args, [7, 0, 0, 0]);
        assert_eq!(r.local, "127.0.0.2:40000".parse().unwrap());
        assert_eq!(r.remote, "127.0.0.1:8080".parse().unwrap());
        assert!(r.is_fullsock());
        assert_eq!(r.metric("snd_cwnd"), Some(10));
        assert_eq!(r.metric("state"), Some(2));
        assert_eq!(r.metric("bytes_acked"), Some(5));
        assert_eq!(r.metric("skb_len"), Some(52));
        assert_eq!(r.metric("family"), Some(2));
        assert_eq!(r.header, vec![1, 2, 3]);
        assert_eq!(r.phase, 1);
        assert_eq!(r.options, vec![("SO_SNDBUF", 1, 7, 131072)]);
        assert_eq!(r.congestion.as_deref(), Some("cubic"));
    }

    #[test]
    fn a_record_of_another_size_is_an_error() {
        assert_eq!(Record::decode(&[0u8; 10]), Err(RecordSizeError { len: 10 }));
    }

    #[test]
    fn ipv6_addresses_are_read_from_the_ip6_words() {
        let mut b = raw();
        b[44..48].copy_from_slice(&10u32.to_ne_bytes());
        let one: [u8; 16] = std::net::Ipv6Addr::LOCALHOST.octets();
        b[56..72].copy_from_slice(&one);
        b[72..88].copy_from_slice(&one);
        let r = Record::decode(&b).unwrap();
        assert_eq!(r.remote, "[::1]:8080".parse().unwrap());
    }
}
