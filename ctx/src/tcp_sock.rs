//! The uapi `struct bpf_tcp_sock` (120 bytes) that `bpf_tcp_sock` returns, byte-for-byte as
//! include/uapi/linux/bpf.h has it, with compile-time offset checks; how it is filled from a
//! `Socket`; and its field table with the verifier's access rule
//! (`bpf_tcp_sock_is_valid_access` in net/core/filter.c).

use std::mem::{offset_of, size_of};

use crate::field_table::{CtxField, Guard, LoadYields};
use crate::socket::Socket;

/// `struct bpf_tcp_sock` as a BPF program sees it (read-only; host-endian integers).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BpfTcpSock {
    /// Sending congestion window.
    pub snd_cwnd: u32,
    /// Smoothed round trip time << 3, µs.
    pub srtt_us: u32,
    /// Windowed minimum RTT, µs.
    pub rtt_min: u32,
    /// Slow start threshold.
    pub snd_ssthresh: u32,
    /// What we want to receive next.
    pub rcv_nxt: u32,
    /// Next sequence we send.
    pub snd_nxt: u32,
    /// First byte we want an ack for.
    pub snd_una: u32,
    /// Cached effective MSS, not including SACKs.
    pub mss_cache: u32,
    /// ECN status bits.
    pub ecn_flags: u32,
    /// Saved rate sample: packets delivered.
    pub rate_delivered: u32,
    /// Saved rate sample: time elapsed, µs.
    pub rate_interval_us: u32,
    /// Packets "in flight".
    pub packets_out: u32,
    /// Retransmitted packets out.
    pub retrans_out: u32,
    /// Total retransmits for the connection.
    pub total_retrans: u32,
    /// Segments received.
    pub segs_in: u32,
    /// Data segments received.
    pub data_segs_in: u32,
    /// Segments sent.
    pub segs_out: u32,
    /// Data segments sent.
    pub data_segs_out: u32,
    /// Lost packets.
    pub lost_out: u32,
    /// SACKed packets.
    pub sacked_out: u32,
    /// Bytes received (sum of rcv_nxt deltas).
    pub bytes_received: u64,
    /// Bytes acked (sum of snd_una deltas).
    pub bytes_acked: u64,
    /// DSACK blocks received.
    pub dsack_dups: u32,
    /// Data packets delivered, retransmits included.
    pub delivered: u32,
    /// Like `delivered`, ECE-marked packets only.
    pub delivered_ce: u32,
    /// Unrecovered RTO timeouts (`icsk_retransmits`, a u8 in the kernel).
    pub icsk_retransmits: u32,
    /// Whether the socket is an MPTCP subflow (always 0 here).
    pub is_mptcp: u32,
}

/// `sizeof(struct bpf_tcp_sock)`: 116 bytes of fields padded to the u64 alignment.
pub const BPF_TCP_SOCK_SIZE: usize = 120;
/// `offsetofend(struct bpf_tcp_sock, is_mptcp)`: accesses must end before this.
pub const BPF_TCP_SOCK_END: usize = 116;

const _: () = {
    assert!(size_of::<BpfTcpSock>() == BPF_TCP_SOCK_SIZE);
    assert!(offset_of!(BpfTcpSock, snd_cwnd) == 0);
    assert!(offset_of!(BpfTcpSock, srtt_us) == 4);
    assert!(offset_of!(BpfTcpSock, rtt_min) == 8);
    assert!(offset_of!(BpfTcpSock, snd_ssthresh) == 12);
    assert!(offset_of!(BpfTcpSock, rcv_nxt) == 16);
    assert!(offset_of!(BpfTcpSock, snd_nxt) == 20);
    assert!(offset_of!(BpfTcpSock, snd_una) == 24);
    assert!(offset_of!(BpfTcpSock, mss_cache) == 28);
    assert!(offset_of!(BpfTcpSock, ecn_flags) == 32);
    assert!(offset_of!(BpfTcpSock, rate_delivered) == 36);
    assert!(offset_of!(BpfTcpSock, rate_interval_us) == 40);
    assert!(offset_of!(BpfTcpSock, packets_out) == 44);
    assert!(offset_of!(BpfTcpSock, retrans_out) == 48);
    assert!(offset_of!(BpfTcpSock, total_retrans) == 52);
    assert!(offset_of!(BpfTcpSock, segs_in) == 56);
    assert!(offset_of!(BpfTcpSock, data_segs_in) == 60);
    assert!(offset_of!(BpfTcpSock, segs_out) == 64);
    assert!(offset_of!(BpfTcpSock, data_segs_out) == 68);
    assert!(offset_of!(BpfTcpSock, lost_out) == 72);
    assert!(offset_of!(BpfTcpSock, sacked_out) == 76);
    assert!(offset_of!(BpfTcpSock, bytes_received) == 80);
    assert!(offset_of!(BpfTcpSock, bytes_acked) == 88);
    assert!(offset_of!(BpfTcpSock, dsack_dups) == 96);
    assert!(offset_of!(BpfTcpSock, delivered) == 100);
    assert!(offset_of!(BpfTcpSock, delivered_ce) == 104);
    assert!(offset_of!(BpfTcpSock, icsk_retransmits) == 108);
    assert!(offset_of!(BpfTcpSock, is_mptcp) == 112);
};

impl BpfTcpSock {
    /// The view of `s` the kernel's loads would read now (`bpf_tcp_sock_convert_ctx_access`
    /// reads the live `tcp_sock`, with no lock guard).
    pub fn of(s: &Socket) -> BpfTcpSock {
        let t = &s.tcp;
        BpfTcpSock {
            snd_cwnd: t.snd_cwnd,
            srtt_us: t.srtt_us,
            rtt_min: t.rtt_min,
            snd_ssthresh: t.snd_ssthresh,
            rcv_nxt: t.rcv_nxt,
            snd_nxt: t.snd_nxt,
            snd_una: t.snd_una,
            mss_cache: t.mss_cache,
            ecn_flags: t.ecn_flags,
            rate_delivered: t.rate_delivered,
            rate_interval_us: t.rate_interval_us,
            packets_out: t.packets_out,
            retrans_out: t.retrans_out,
            total_retrans: t.total_retrans,
            segs_in: t.segs_in,
            data_segs_in: t.data_segs_in,
            segs_out: t.segs_out,
            data_segs_out: t.data_segs_out,
            lost_out: t.lost_out,
            sacked_out: t.sacked_out,
            bytes_received: t.bytes_received,
            bytes_acked: t.bytes_acked,
            dsack_dups: t.dsack_dups,
            delivered: t.delivered,
            delivered_ce: t.delivered_ce,
            icsk_retransmits: u32::from(t.icsk_retransmits),
            is_mptcp: 0,
        }
    }

    /// The 120 bytes in host byte order (padding zero).
    pub fn to_bytes(&self) -> [u8; BPF_TCP_SOCK_SIZE] {
        let mut out = [0u8; BPF_TCP_SOCK_SIZE];
        let words = [
            self.snd_cwnd,
            self.srtt_us,
            self.rtt_min,
            self.snd_ssthresh,
            self.rcv_nxt,
            self.snd_nxt,
            self.snd_una,
            self.mss_cache,
            self.ecn_flags,
            self.rate_delivered,
            self.rate_interval_us,
            self.packets_out,
            self.retrans_out,
            self.total_retrans,
            self.segs_in,
            self.data_segs_in,
            self.segs_out,
            self.data_segs_out,
            self.lost_out,
            self.sacked_out,
        ];
        for (i, w) in words.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
        }
        out[80..88].copy_from_slice(&self.bytes_received.to_ne_bytes());
        out[88..96].copy_from_slice(&self.bytes_acked.to_ne_bytes());
        let tail = [
            self.dsack_dups,
            self.delivered,
            self.delivered_ce,
            self.icsk_retransmits,
            self.is_mptcp,
        ];
        for (i, w) in tail.iter().enumerate() {
            out[96 + 4 * i..100 + 4 * i].copy_from_slice(&w.to_ne_bytes());
        }
        out
    }
}

const W: &[u32] = &[4];
const DW: &[u32] = &[8];
const NONE: &[u32] = &[];

const fn field(name: &'static str, offset: u32, size: u32) -> CtxField {
    CtxField {
        name,
        offset,
        size,
        readable: true,
        writable: false,
        load_sizes: if size == 8 { DW } else { W },
        store_sizes: NONE,
        yields: LoadYields::Scalar,
        guard: Guard::None,
    }
}

/// Every field of `struct bpf_tcp_sock` (read-only scalars; only full-size loads at the
/// field's offset).
pub const BPF_TCP_SOCK_FIELDS: &[CtxField] = &[
    field("snd_cwnd", 0, 4),
    field("srtt_us", 4, 4),
    field("rtt_min", 8, 4),
    field("snd_ssthresh", 12, 4),
    field("rcv_nxt", 16, 4),
    field("snd_nxt", 20, 4),
    field("snd_una", 24, 4),
    field("mss_cache", 28, 4),
    field("ecn_flags", 32, 4),
    field("rate_delivered", 36, 4),
    field("rate_interval_us", 40, 4),
    field("packets_out", 44, 4),
    field("retrans_out", 48, 4),
    field("total_retrans", 52, 4),
    field("segs_in", 56, 4),
    field("data_segs_in", 60, 4),
    field("segs_out", 64, 4),
    field("data_segs_out", 68, 4),
    field("lost_out", 72, 4),
    field("sacked_out", 76, 4),
    field("bytes_received", 80, 8),
    field("bytes_acked", 88, 8),
    field("dsack_dups", 96, 4),
    field("delivered", 100, 4),
    field("delivered_ce", 104, 4),
    field("icsk_retransmits", 108, 4),
    field("is_mptcp", 112, 4),
];

/// A `struct bpf_tcp_sock` access the kernel rejects (the verifier prefixes the register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid tcp_sock access off={off} size={size}")]
pub struct TcpSockAccessError {
    /// Offset from the tcp_sock pointer.
    pub off: i64,
    /// Access size in bytes.
    pub size: u32,
}

/// Decides a load of `size` bytes at `off` from a `struct bpf_tcp_sock` pointer, as
/// `bpf_tcp_sock_is_valid_access` does: inside the struct, aligned to the size, 8 bytes at
/// `bytes_received` / `bytes_acked` and 4 bytes elsewhere. A 4-byte load of the upper half of
/// a u64 field passes that check in the kernel but has no conversion, so the kernel then
/// fails the program ("bpf verifier is misconfigured"); it is refused here too. Stores are
/// never allowed ("cannot write into tcp_sock").
pub fn check_tcp_sock_access(off: i64, size: u32) -> Result<&'static CtxField, TcpSockAccessError> {
    let err = TcpSockAccessError { off, size };
    if off < 0 || off >= BPF_TCP_SOCK_END as i64 || !matches!(size, 1 | 2 | 4 | 8) {
        return Err(err);
    }
    if off % i64::from(size) != 0 {
        return Err(err);
    }
    BPF_TCP_SOCK_FIELDS
        .iter()
        .find(|f| i64::from(f.offset) == off && f.size == size)
        .ok_or(err)
}
