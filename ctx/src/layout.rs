//! The uapi context `struct bpf_sock_ops` (224 bytes) and `struct bpf_sock` (80 bytes, what
//! `ctx->sk` points to), byte-for-byte as SOCK_OPS.md §1 gives them, with compile-time offset
//! checks. Which fields may be read or written, and what a load yields, is in `field_table`.

use std::mem::{offset_of, size_of};

/// `struct bpf_sock_ops` as a BPF program sees it. All integers are host-endian except where
/// the field doc says network order (the value is then the raw big-endian bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BpfSockOps {
    /// `BPF_SOCK_OPS_*`.
    pub op: u32,
    /// `args[4]`; `reply` and `replylong[0]` are `args[0]`.
    pub args: [u32; 4],
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u32,
    /// Remote IPv4 address, network order.
    pub remote_ip4: u32,
    /// Local IPv4 address, network order.
    pub local_ip4: u32,
    /// Remote IPv6 address, 4 network-order words.
    pub remote_ip6: [u32; 4],
    /// Local IPv6 address, 4 network-order words.
    pub local_ip6: [u32; 4],
    /// Remote port: the network-order u16 in the high half (little-endian hosts).
    pub remote_port: u32,
    /// Local port, host order.
    pub local_port: u32,
    /// 1 for a full socket, 0 for a request socket.
    pub is_fullsock: u32,
    /// `tcp_sock.snd_cwnd`.
    pub snd_cwnd: u32,
    /// Smoothed RTT in µs << 3.
    pub srtt_us: u32,
    /// `tcp_sock.bpf_sock_ops_cb_flags`.
    pub bpf_sock_ops_cb_flags: u32,
    /// TCP state (`BPF_TCP_*`).
    pub state: u32,
    /// Windowed minimum RTT in µs.
    pub rtt_min: u32,
    /// Slow-start threshold.
    pub snd_ssthresh: u32,
    /// Next sequence expected.
    pub rcv_nxt: u32,
    /// Next sequence to send.
    pub snd_nxt: u32,
    /// First unacknowledged sequence.
    pub snd_una: u32,
    /// Cached effective MSS.
    pub mss_cache: u32,
    /// ECN flags.
    pub ecn_flags: u32,
    /// Delivery rate sample: packets delivered.
    pub rate_delivered: u32,
    /// Delivery rate sample interval, µs.
    pub rate_interval_us: u32,
    /// Packets in flight.
    pub packets_out: u32,
    /// Retransmitted packets out.
    pub retrans_out: u32,
    /// Total retransmits.
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
    /// `sk->sk_txhash` (writable).
    pub sk_txhash: u32,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes acknowledged.
    pub bytes_acked: u64,
    /// `struct bpf_sock *` (NULL unless full socket).
    pub sk: u64,
    /// Start of the TCP header of the op's skb (NULL if none).
    pub skb_data: u64,
    /// End of the readable part of the skb.
    pub skb_data_end: u64,
    /// `skb->len`.
    pub skb_len: u32,
    /// TCP flags of the skb (a u8 value).
    pub skb_tcp_flags: u32,
    /// Hardware timestamp, ns.
    pub skb_hwtstamp: u64,
}

/// Size of `struct bpf_sock_ops`.
pub const BPF_SOCK_OPS_SIZE: usize = 224;

const _: () = {
    assert!(size_of::<BpfSockOps>() == BPF_SOCK_OPS_SIZE);
    assert!(offset_of!(BpfSockOps, op) == 0);
    assert!(offset_of!(BpfSockOps, args) == 4);
    assert!(offset_of!(BpfSockOps, family) == 20);
    assert!(offset_of!(BpfSockOps, remote_ip4) == 24);
    assert!(offset_of!(BpfSockOps, local_ip4) == 28);
    assert!(offset_of!(BpfSockOps, remote_ip6) == 32);
    assert!(offset_of!(BpfSockOps, local_ip6) == 48);
    assert!(offset_of!(BpfSockOps, remote_port) == 64);
    assert!(offset_of!(BpfSockOps, local_port) == 68);
    assert!(offset_of!(BpfSockOps, is_fullsock) == 72);
    assert!(offset_of!(BpfSockOps, snd_cwnd) == 76);
    assert!(offset_of!(BpfSockOps, srtt_us) == 80);
    assert!(offset_of!(BpfSockOps, bpf_sock_ops_cb_flags) == 84);
    assert!(offset_of!(BpfSockOps, state) == 88);
    assert!(offset_of!(BpfSockOps, rtt_min) == 92);
    assert!(offset_of!(BpfSockOps, snd_ssthresh) == 96);
    assert!(offset_of!(BpfSockOps, rcv_nxt) == 100);
    assert!(offset_of!(BpfSockOps, snd_nxt) == 104);
    assert!(offset_of!(BpfSockOps, snd_una) == 108);
    assert!(offset_of!(BpfSockOps, mss_cache) == 112);
    assert!(offset_of!(BpfSockOps, ecn_flags) == 116);
    assert!(offset_of!(BpfSockOps, rate_delivered) == 120);
    assert!(offset_of!(BpfSockOps, rate_interval_us) == 124);
    assert!(offset_of!(BpfSockOps, packets_out) == 128);
    assert!(offset_of!(BpfSockOps, retrans_out) == 132);
    assert!(offset_of!(BpfSockOps, total_retrans) == 136);
    assert!(offset_of!(BpfSockOps, segs_in) == 140);
    assert!(offset_of!(BpfSockOps, data_segs_in) == 144);
    assert!(offset_of!(BpfSockOps, segs_out) == 148);
    assert!(offset_of!(BpfSockOps, data_segs_out) == 152);
    assert!(offset_of!(BpfSockOps, lost_out) == 156);
    assert!(offset_of!(BpfSockOps, sacked_out) == 160);
    assert!(offset_of!(BpfSockOps, sk_txhash) == 164);
    assert!(offset_of!(BpfSockOps, bytes_received) == 168);
    assert!(offset_of!(BpfSockOps, bytes_acked) == 176);
    assert!(offset_of!(BpfSockOps, sk) == 184);
    assert!(offset_of!(BpfSockOps, skb_data) == 192);
    assert!(offset_of!(BpfSockOps, skb_data_end) == 200);
    assert!(offset_of!(BpfSockOps, skb_len) == 208);
    assert!(offset_of!(BpfSockOps, skb_tcp_flags) == 212);
    assert!(offset_of!(BpfSockOps, skb_hwtstamp) == 216);
};

/// Offset of `reply` (= `args[0]`).
pub const OFF_REPLY: usize = 4;
/// Offset of `sk_txhash`.
pub const OFF_SK_TXHASH: usize = 164;
/// Offset of `snd_cwnd`.
pub const OFF_SND_CWND: usize = 76;
/// Offset of `bpf_sock_ops_cb_flags`.
pub const OFF_CB_FLAGS: usize = 84;
/// Offset of `snd_ssthresh`.
pub const OFF_SND_SSTHRESH: usize = 96;
/// Offset of `skb_data_end`.
pub const OFF_SKB_DATA_END: usize = 200;

impl BpfSockOps {
    /// The 224 bytes in host byte order, as the program reads them.
    pub fn to_bytes(&self) -> [u8; BPF_SOCK_OPS_SIZE] {
        let mut out = [0u8; BPF_SOCK_OPS_SIZE];
        let mut put32 = |off: usize, v: u32| out[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        put32(0, self.op);
        for (i, a) in self.args.iter().enumerate() {
            put32(4 + 4 * i, *a);
        }
        put32(20, self.family);
        put32(24, self.remote_ip4);
        put32(28, self.local_ip4);
        for i in 0..4 {
            put32(32 + 4 * i, self.remote_ip6[i]);
            put32(48 + 4 * i, self.local_ip6[i]);
        }
        let words = [
            self.remote_port,
            self.local_port,
            self.is_fullsock,
            self.snd_cwnd,
            self.srtt_us,
            self.bpf_sock_ops_cb_flags,
            self.state,
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
            self.sk_txhash,
        ];
        for (i, w) in words.iter().enumerate() {
            put32(64 + 4 * i, *w);
        }
        put32(208, self.skb_len);
        put32(212, self.skb_tcp_flags);
        let mut put64 = |off: usize, v: u64| out[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        put64(168, self.bytes_received);
        put64(176, self.bytes_acked);
        put64(184, self.sk);
        put64(192, self.skb_data);
        put64(200, self.skb_data_end);
        put64(216, self.skb_hwtstamp);
        out
    }
}

/// `struct bpf_sock`, the read-only socket view `ctx->sk` points to (80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BpfSock {
    /// Bound device ifindex.
    pub bound_dev_if: u32,
    /// Address family.
    pub family: u32,
    /// Socket type (SOCK_STREAM = 1).
    pub sock_type: u32,
    /// Protocol (IPPROTO_TCP = 6).
    pub protocol: u32,
    /// `sk_mark`.
    pub mark: u32,
    /// `sk_priority`.
    pub priority: u32,
    /// Local IPv4 address, network order.
    pub src_ip4: u32,
    /// Local IPv6 address, network order words.
    pub src_ip6: [u32; 4],
    /// Local port, host order.
    pub src_port: u32,
    /// Remote port: `__be16` followed by 2 zero bytes.
    pub dst_port: u32,
    /// Remote IPv4 address, network order.
    pub dst_ip4: u32,
    /// Remote IPv6 address, network order words.
    pub dst_ip6: [u32; 4],
    /// TCP state.
    pub state: u32,
    /// Receive queue mapping (-1 when unset).
    pub rx_queue_mapping: i32,
}

/// Size of `struct bpf_sock`.
pub const BPF_SOCK_SIZE: usize = 80;

const _: () = {
    assert!(size_of::<BpfSock>() == BPF_SOCK_SIZE);
    assert!(offset_of!(BpfSock, bound_dev_if) == 0);
    assert!(offset_of!(BpfSock, family) == 4);
    assert!(offset_of!(BpfSock, sock_type) == 8);
    assert!(offset_of!(BpfSock, protocol) == 12);
    assert!(offset_of!(BpfSock, mark) == 16);
    assert!(offset_of!(BpfSock, priority) == 20);
    assert!(offset_of!(BpfSock, src_ip4) == 24);
    assert!(offset_of!(BpfSock, src_ip6) == 28);
    assert!(offset_of!(BpfSock, src_port) == 44);
    assert!(offset_of!(BpfSock, dst_port) == 48);
    assert!(offset_of!(BpfSock, dst_ip4) == 52);
    assert!(offset_of!(BpfSock, dst_ip6) == 56);
    assert!(offset_of!(BpfSock, state) == 72);
    assert!(offset_of!(BpfSock, rx_queue_mapping) == 76);
};

impl BpfSock {
    /// The 80 bytes in host byte order.
    pub fn to_bytes(&self) -> [u8; BPF_SOCK_SIZE] {
        let mut out = [0u8; BPF_SOCK_SIZE];
        let mut put32 = |off: usize, v: u32| out[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        put32(0, self.bound_dev_if);
        put32(4, self.family);
        put32(8, self.sock_type);
        put32(12, self.protocol);
        put32(16, self.mark);
        put32(20, self.priority);
        put32(24, self.src_ip4);
        for i in 0..4 {
            put32(28 + 4 * i, self.src_ip6[i]);
            put32(56 + 4 * i, self.dst_ip6[i]);
        }
        put32(44, self.src_port);
        put32(48, self.dst_port);
        put32(52, self.dst_ip4);
        put32(72, self.state);
        put32(76, self.rx_queue_mapping as u32);
        out
    }
}
