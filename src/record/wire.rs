//! The record the recorder program (`bpf/recorder.c`, `struct record` in `bpf/recorder.h`)
//! writes to its ring buffer for every sock_ops call, decoded: the whole context the kernel
//! built, with the socket's cookie.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Size of `struct record` (checked against every record read).
pub const RECORD_SIZE: usize = 264;
/// Most header bytes a record carries.
pub const RECORD_HDR_MAX: usize = 60;

/// The metric fields of a record, by their `bpf_sock_ops` names, in record order
/// (`state` and `bpf_sock_ops_cb_flags` included): what a trace's `set = {...}` carries.
pub const RECORD_METRICS: [&str; 29] = [
    "snd_cwnd",
    "srtt_us",
    "bpf_sock_ops_cb_flags",
    "state",
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
    "skb_len",
    "skb_tcp_flags",
    "is_fullsock",
    "family",
];

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
        let (bytes_received, bytes_acked) = (u64_at(8), u64_at(16));
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
        // From is_fullsock (96) to skb_tcp_flags (196): the u32 fields in record order.
        let u32_field = |name: &str| -> u64 {
            const ORDER: [&str; 26] = [
                "is_fullsock",
                "snd_cwnd",
                "srtt_us",
                "bpf_sock_ops_cb_flags",
                "state",
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
                "skb_len",
                "skb_tcp_flags",
            ];
            ORDER
                .iter()
                .position(|n| *n == name)
                .map_or(0, |k| u64::from(u32_at(96 + 4 * k)))
        };
        let mut metrics = [0u64; 29];
        for (k, name) in RECORD_METRICS.iter().enumerate() {
            metrics[k] = match *name {
                "bytes_received" => bytes_received,
                "bytes_acked" => bytes_acked,
                "family" => u64::from(family),
                other => u32_field(other),
            };
        }
        let hdr_len = (u32_at(200) as usize).min(RECORD_HDR_MAX);
        Ok(Record {
            cookie,
            op,
            args,
            local: SocketAddr::new(local_ip, local_port),
            remote: SocketAddr::new(remote_ip, remote_port),
            metrics,
            header: bytes[204..204 + hdr_len].to_vec(),
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
