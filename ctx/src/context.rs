//! Building the context one op runs with: the 224-byte `struct bpf_sock_ops` (guards applied
//! the kernel's way: L-guarded fields read 0 unless the socket is full and locked, `sk` is NULL
//! for request sockets, `skb_*` are 0 without an skb), the `struct bpf_sock` that `ctx->sk`
//! points to, and the packet (TCP header) `skb_data` points to. `OpContext` owns that guest
//! memory at stable addresses; `finish` applies what the programs wrote back.

use sockops_vm::{Memory, RegionKind};

use crate::guest_buf::GuestBuf;
use crate::layout::*;
use crate::ops::{PacketView, SockOp, TcpState};
use crate::socket::{Family, Socket};

/// The skb an op carries: a synthetic TCP segment.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    /// The TCP header bytes (20-60: base header and options). For WRITE_HDR_OPT_CB: the
    /// header written so far, before the BPF option space.
    pub header: Vec<u8>,
    /// `skb->len`.
    pub skb_len: u32,
    /// TCP flags (TCPHDR_FIN=1, SYN=2, RST=4, PSH=8, ACK=0x10, URG=0x20, ECE=0x40, CWR=0x80).
    pub tcp_flags: u8,
    /// Hardware timestamp in ns (TSTAMP_SND_HW_CB).
    pub hwtstamp: u64,
}

/// TCP header flag bits.
pub mod tcp_flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
    /// URG
    pub const URG: u8 = 0x20;
    /// ECE
    pub const ECE: u8 = 0x40;
    /// CWR
    pub const CWR: u8 = 0x80;
}

impl Segment {
    /// A segment with a synthetic TCP header for `socket`: `incoming` segments go remote ->
    /// local (seq = rcv_nxt), outgoing local -> remote (seq = snd_nxt). `options` are the raw
    /// option bytes (padded with NOPs to a multiple of 4; at most 40 are kept);
    /// `skb_len` = header length + `payload_len`.
    pub fn synthetic(
        socket: &Socket,
        incoming: bool,
        flags: u8,
        options: &[u8],
        payload_len: u32,
    ) -> Segment {
        let (src, dst, seq, ack) = if incoming {
            (
                socket.remote.port(),
                socket.local.port(),
                socket.tcp.rcv_nxt,
                socket.tcp.snd_una,
            )
        } else {
            (
                socket.local.port(),
                socket.remote.port(),
                socket.tcp.snd_nxt,
                socket.tcp.rcv_nxt,
            )
        };
        let mut opts: Vec<u8> = options.iter().copied().take(40).collect();
        while !opts.len().is_multiple_of(4) {
            opts.push(1);
        }
        let doff = ((20 + opts.len()) / 4) as u8;
        let mut h = Vec::with_capacity(20 + opts.len());
        h.extend_from_slice(&src.to_be_bytes());
        h.extend_from_slice(&dst.to_be_bytes());
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&ack.to_be_bytes());
        h.extend_from_slice(&[doff << 4, flags]);
        h.extend_from_slice(&65535u16.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        h.extend_from_slice(&opts);
        let skb_len = h.len() as u32 + payload_len;
        Segment {
            header: h,
            skb_len,
            tcp_flags: flags,
            hwtstamp: 0,
        }
    }

    /// A segment without header bytes (ops that only expose `skb_len` / `skb_tcp_flags`).
    pub fn flags_only(tcp_flags: u8, skb_len: u32) -> Segment {
        Segment {
            header: Vec::new(),
            skb_len,
            tcp_flags,
            hwtstamp: 0,
        }
    }
}

/// What the kernel hands one op: the op, its args, the skb (if any) and, for the header
/// option ops, the option space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpInput {
    /// The op.
    pub op: SockOp,
    /// `args[0..4]` (only the op's `nargs` are meaningful; the rest 0).
    pub args: [u32; 4],
    /// The skb, for ops that carry one.
    pub segment: Option<Segment>,
    /// HDR_OPT_LEN_CB: the option space still free (default `40 - options in the header`,
    /// rounded down to 4). WRITE_HDR_OPT_CB: the bytes reserved in HDR_OPT_LEN_CB (default 0).
    pub hdr_opt_space: Option<u32>,
}

impl OpInput {
    /// An op with no args and no skb.
    pub fn new(op: SockOp) -> OpInput {
        OpInput {
            op,
            args: [0; 4],
            segment: None,
            hdr_opt_space: None,
        }
    }

    /// With `args` (up to 4; extra values are ignored).
    pub fn with_args(mut self, args: &[u32]) -> OpInput {
        for (slot, a) in self.args.iter_mut().zip(args) {
            *slot = *a;
        }
        self
    }

    /// With an skb.
    pub fn with_segment(mut self, segment: Segment) -> OpInput {
        self.segment = Some(segment);
        self
    }
}

/// Maximum TCP header length.
const MAX_TCP_HEADER: usize = 60;

/// What the programs left behind after an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBack {
    /// `reply` (= `args[0]`) after the last program.
    pub reply: u32,
    /// `replylong[0..4]` after the last program.
    pub replylong: [u32; 4],
    /// New `sk_txhash` if a program changed it on a locked socket.
    pub sk_txhash: Option<u32>,
    /// HDR_OPT_LEN_CB: total option bytes reserved, rounded up to 4.
    pub hdr_opt_reserved: Option<u32>,
    /// WRITE_HDR_OPT_CB: the BPF option bytes written, NOP-padded to the reserved size.
    pub hdr_opt_written: Option<Vec<u8>>,
}

/// The guest memory of one op invocation: context, `struct bpf_sock`, packet.
#[derive(Debug)]
pub struct OpContext {
    input: OpInput,
    ctx: GuestBuf,
    sock: GuestBuf,
    packet: GuestBuf,
    full: bool,
    locked: bool,
    has_skb: bool,
    /// Offset of `skb_data_end` inside the packet.
    data_end: usize,
    /// HDR_OPT ops: option space left (kernel `remaining_opt_len`).
    remaining_opt_len: u32,
    /// HDR_OPT ops: option space at the start.
    initial_opt_len: u32,
    /// WRITE_HDR_OPT_CB: where the BPF options start.
    bpf_opt_start: usize,
    initial_txhash: u32,
}

impl OpContext {
    /// Builds the context `input.op` sees on `socket`.
    pub fn build(socket: &Socket, input: OpInput) -> OpContext {
        let op = input.op;
        let full = socket.is_fullsock();
        let locked = full && op.is_locked_op();
        let segment = input.segment.clone();
        let has_skb = segment.is_some();
        let header: Vec<u8> = segment
            .as_ref()
            .map(|s| s.header.iter().copied().take(MAX_TCP_HEADER).collect())
            .unwrap_or_default();
        let opts_in_header = header.len().saturating_sub(20) as u32;
        let (initial_opt_len, packet_extra) = match op {
            SockOp::HdrOptLenCb => {
                let free = input
                    .hdr_opt_space
                    .unwrap_or_else(|| 40u32.saturating_sub(opts_in_header) / 4 * 4);
                (free.min(40), 0)
            }
            SockOp::WriteHdrOptCb => {
                let reserved = input
                    .hdr_opt_space
                    .unwrap_or(0)
                    .min(40 - opts_in_header.min(40));
                (reserved, reserved as usize)
            }
            _ => (0, 0),
        };
        let data_end = match op.packet_view() {
            PacketView::WholeHeader | PacketView::UpToBpfOptions => header.len(),
            PacketView::Nothing => 0,
        };
        let packet = GuestBuf::new(header.len() + packet_extra);
        packet.write(0, &header);
        let ctx_buf = GuestBuf::new(BPF_SOCK_OPS_SIZE);
        let sock_buf = GuestBuf::new(BPF_SOCK_SIZE);
        let mut this = OpContext {
            input,
            ctx: ctx_buf,
            sock: sock_buf,
            packet,
            full,
            locked,
            has_skb,
            data_end,
            remaining_opt_len: initial_opt_len,
            initial_opt_len,
            bpf_opt_start: header.len(),
            initial_txhash: 0,
        };
        let image = this.image(socket);
        this.initial_txhash = image.sk_txhash;
        this.ctx.write(0, &image.to_bytes());
        this.sock.write(0, &Self::sock_image(socket).to_bytes());
        this
    }

    /// The `struct bpf_sock_ops` the kernel would present.
    fn image(&self, s: &Socket) -> BpfSockOps {
        let op = self.input.op;
        let mut c = BpfSockOps {
            op: op.number(),
            args: self.input.args,
            family: s.family.number(),
            remote_ip4: Socket::ip4_field(&s.remote),
            local_ip4: Socket::ip4_field(&s.local),
            remote_ip6: Socket::ip6_words(&s.remote),
            // An AF_INET socket that only bound (a listener) has no v4-mapped
            // skc_v6_rcv_saddr: the kernel sets it on connect / accept.
            local_ip6: if s.family == Family::Inet && s.state == TcpState::Listen {
                [0; 4]
            } else {
                Socket::ip6_words(&s.local)
            },
            remote_port: s.remote_port_field(),
            local_port: u32::from(s.local.port()),
            is_fullsock: u32::from(self.full),
            state: s.state.number(),
            // rtt_min has no guard: real value for full sockets (also in TSTAMP ops); 0 for
            // request sockets, where the kernel reads undefined memory.
            rtt_min: if self.full { s.tcp.rtt_min } else { 0 },
            ..BpfSockOps::default()
        };
        if self.locked {
            let t = &s.tcp;
            c.snd_cwnd = t.snd_cwnd;
            c.srtt_us = t.srtt_us;
            c.bpf_sock_ops_cb_flags = s.cb_flags;
            c.snd_ssthresh = t.snd_ssthresh;
            c.rcv_nxt = t.rcv_nxt;
            c.snd_nxt = t.snd_nxt;
            c.snd_una = t.snd_una;
            c.mss_cache = t.mss_cache;
            c.ecn_flags = t.ecn_flags;
            c.rate_delivered = t.rate_delivered;
            c.rate_interval_us = t.rate_interval_us;
            c.packets_out = t.packets_out;
            c.retrans_out = t.retrans_out;
            c.total_retrans = t.total_retrans;
            c.segs_in = t.segs_in;
            c.data_segs_in = t.data_segs_in;
            c.segs_out = t.segs_out;
            c.data_segs_out = t.data_segs_out;
            c.lost_out = t.lost_out;
            c.sacked_out = t.sacked_out;
            c.sk_txhash = t.sk_txhash;
            c.bytes_received = t.bytes_received;
            c.bytes_acked = t.bytes_acked;
        }
        if self.full {
            c.sk = self.sock.addr();
        }
        if let Some(seg) = &self.input.segment {
            c.skb_data = self.packet.addr();
            c.skb_data_end = self.packet.addr() + self.data_end as u64;
            c.skb_len = seg.skb_len;
            c.skb_tcp_flags = u32::from(seg.tcp_flags);
            c.skb_hwtstamp = seg.hwtstamp;
        }
        c
    }

    /// The `struct bpf_sock` view of `s`.
    fn sock_image(s: &Socket) -> BpfSock {
        let port = s.remote.port().to_be_bytes();
        BpfSock {
            bound_dev_if: s.options.bound_dev_if as u32,
            family: s.family.number(),
            sock_type: 1,
            protocol: 6,
            mark: s.options.mark,
            priority: s.options.priority,
            src_ip4: Socket::ip4_field(&s.local),
            src_ip6: Socket::ip6_words(&s.local),
            src_port: u32::from(s.local.port()),
            dst_port: u32::from_ne_bytes([port[0], port[1], 0, 0]),
            dst_ip4: Socket::ip4_field(&s.remote),
            dst_ip6: Socket::ip6_words(&s.remote),
            state: s.state.number(),
            rx_queue_mapping: -1,
        }
    }

    /// Adds the context (writable), `struct bpf_sock` and packet (read-only) regions.
    ///
    /// # Safety
    /// `memory` must not be used to access these regions after this `OpContext` is dropped.
    pub unsafe fn add_regions(&self, memory: &mut Memory) {
        // SAFETY: the buffers live as long as `self`; the caller promises `memory` does not
        // outlive it, and we never hold Rust references into them.
        unsafe {
            memory.add(self.ctx.region(true, RegionKind::Context));
            if self.full {
                memory.add(self.sock.region(false, RegionKind::Other));
            }
            if self.has_skb && self.packet.len > 0 {
                memory.add(self.packet.region(false, RegionKind::Packet));
            }
        }
    }

    /// The context pointer the program gets in r1.
    pub fn ctx_addr(&self) -> u64 {
        self.ctx.addr()
    }

    /// The op.
    pub fn op(&self) -> SockOp {
        self.input.op
    }

    /// The op's input.
    pub fn input(&self) -> &OpInput {
        &self.input
    }

    /// Whether the op carries an skb.
    pub fn has_skb(&self) -> bool {
        self.has_skb
    }

    /// Whether the socket is full and locked (L guard).
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The current 224 context bytes.
    pub fn ctx_bytes(&self) -> Vec<u8> {
        self.ctx.read(0, BPF_SOCK_OPS_SIZE)
    }

    /// Reads a u32 context field at `off`.
    pub fn ctx_u32(&self, off: usize) -> u32 {
        self.ctx.read_u32(off)
    }

    /// Sets `reply` (e.g. to model an earlier program's reply; programs share one ctx).
    pub fn set_reply(&self, reply: u32) {
        self.ctx.write(OFF_REPLY, &reply.to_ne_bytes());
    }

    /// Re-reads the socket fields helpers can change (snd_cwnd, snd_ssthresh, cb flags, and
    /// the `struct bpf_sock` view) so later loads see them, as the kernel's would.
    pub fn refresh_from(&self, socket: &Socket) {
        if self.locked {
            self.ctx
                .write(OFF_SND_CWND, &socket.tcp.snd_cwnd.to_ne_bytes());
            self.ctx
                .write(OFF_SND_SSTHRESH, &socket.tcp.snd_ssthresh.to_ne_bytes());
            self.ctx.write(OFF_CB_FLAGS, &socket.cb_flags.to_ne_bytes());
        }
        self.sock.write(0, &Self::sock_image(socket).to_bytes());
    }

    /// The packet bytes from `skb_data` to `skb_data_end` (what the program can read).
    pub fn packet_view(&self) -> Vec<u8> {
        self.packet.read(0, self.data_end)
    }

    /// HDR_OPT ops: option space left.
    pub fn remaining_opt_len(&self) -> u32 {
        self.remaining_opt_len
    }

    /// `bpf_reserve_hdr_opt` bookkeeping: takes `len` bytes of option space.
    pub(crate) fn take_opt_space(&mut self, len: u32) {
        self.remaining_opt_len -= len;
    }

    /// `bpf_store_hdr_opt` bookkeeping: appends `bytes` at `skb_data_end`, moving it (and
    /// the ctx field) forward.
    pub(crate) fn append_option(&mut self, bytes: &[u8]) {
        self.packet.write(self.data_end, bytes);
        self.data_end += bytes.len();
        self.remaining_opt_len -= bytes.len() as u32;
        let end = self.packet.addr() + self.data_end as u64;
        self.ctx.write(OFF_SKB_DATA_END, &end.to_ne_bytes());
    }

    /// Applies what the programs wrote: `sk_txhash` on a locked socket; reports `reply`,
    /// `replylong` and the header-option results.
    pub fn finish(&self, socket: &mut Socket) -> WriteBack {
        let replylong = std::array::from_fn(|i| self.ctx.read_u32(OFF_REPLY + 4 * i));
        let mut sk_txhash = None;
        if self.locked {
            let h = self.ctx.read_u32(OFF_SK_TXHASH);
            if h != self.initial_txhash {
                socket.tcp.sk_txhash = h;
                sk_txhash = Some(h);
            }
        }
        let (mut reserved, mut written) = (None, None);
        match self.input.op {
            SockOp::HdrOptLenCb => {
                let used = self.initial_opt_len - self.remaining_opt_len;
                reserved = Some(used.div_ceil(4) * 4);
            }
            SockOp::WriteHdrOptCb => {
                let total = self.initial_opt_len as usize;
                let mut bytes = self
                    .packet
                    .read(self.bpf_opt_start, self.data_end - self.bpf_opt_start);
                bytes.resize(total.max(bytes.len()), 1);
                written = Some(bytes);
            }
            _ => {}
        }
        WriteBack {
            reply: replylong[0],
            replylong,
            sk_txhash,
            hdr_opt_reserved: reserved,
            hdr_opt_written: written,
        }
    }
}
