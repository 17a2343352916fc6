//! The sock_ops operations (`BPF_SOCK_OPS_*`, live BTF values, SOCK_OPS.md §4.1), the
//! callback flags that gate some of them (§4.2) and the `BPF_TCP_*` states (§4.3).

use std::fmt;

/// One `BPF_SOCK_OPS_*` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum SockOp {
    /// 0: never called by the kernel.
    Void = 0,
    /// 1: initial SYN / SYN-ACK RTO in jiffies via `reply`.
    TimeoutInit = 1,
    /// 2: initial receive window in segments via `reply`.
    RwndInit = 2,
    /// 3: start of `tcp_connect()`.
    TcpConnectCb = 3,
    /// 4: client reached ESTABLISHED.
    ActiveEstablishedCb = 4,
    /// 5: server child reached ESTABLISHED.
    PassiveEstablishedCb = 5,
    /// 6: ask for ECN with `reply == 1`.
    NeedsEcn = 6,
    /// 7: base RTT for tcp_nv via `reply`.
    BaseRtt = 7,
    /// 8: retransmit timer fired (RTO_CB_FLAG).
    RtoCb = 8,
    /// 9: retransmission (RETRANS_CB_FLAG).
    RetransCb = 9,
    /// 10: state change (STATE_CB_FLAG).
    StateCb = 10,
    /// 11: `listen()` succeeded.
    TcpListenCb = 11,
    /// 12: RTT sample (RTT_CB_FLAG).
    RttCb = 12,
    /// 13: parse header options of a received segment.
    ParseHdrOptCb = 13,
    /// 14: reserve header option space.
    HdrOptLenCb = 14,
    /// 15: write header options.
    WriteHdrOptCb = 15,
    /// 16: TX timestamp, skb entered qdisc.
    TstampSchedCb = 16,
    /// 17: TX timestamp, software send.
    TstampSndSwCb = 17,
    /// 18: TX timestamp, hardware.
    TstampSndHwCb = 18,
    /// 19: TX timestamp, acked.
    TstampAckCb = 19,
    /// 20: `tcp_sendmsg` queued data (SK_BPF_CB_TX_TIMESTAMPING).
    TstampSendmsgCb = 20,
}

/// Unknown op name or number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown sock_ops op `{0}` (expected a BPF_SOCK_OPS_* name, with or without the prefix, or 0..=20)"
)]
pub struct UnknownOp(pub String);

impl SockOp {
    /// Every op in number order.
    pub const ALL: [SockOp; 21] = [
        SockOp::Void,
        SockOp::TimeoutInit,
        SockOp::RwndInit,
        SockOp::TcpConnectCb,
        SockOp::ActiveEstablishedCb,
        SockOp::PassiveEstablishedCb,
        SockOp::NeedsEcn,
        SockOp::BaseRtt,
        SockOp::RtoCb,
        SockOp::RetransCb,
        SockOp::StateCb,
        SockOp::TcpListenCb,
        SockOp::RttCb,
        SockOp::ParseHdrOptCb,
        SockOp::HdrOptLenCb,
        SockOp::WriteHdrOptCb,
        SockOp::TstampSchedCb,
        SockOp::TstampSndSwCb,
        SockOp::TstampSndHwCb,
        SockOp::TstampAckCb,
        SockOp::TstampSendmsgCb,
    ];

    /// The kernel number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The op with kernel number `n`.
    pub fn from_number(n: u32) -> Option<SockOp> {
        Self::ALL.get(n as usize).copied()
    }

    /// The kernel name without the `BPF_SOCK_OPS_` prefix, e.g. `TIMEOUT_INIT`.
    pub fn name(self) -> &'static str {
        match self {
            SockOp::Void => "VOID",
            SockOp::TimeoutInit => "TIMEOUT_INIT",
            SockOp::RwndInit => "RWND_INIT",
            SockOp::TcpConnectCb => "TCP_CONNECT_CB",
            SockOp::ActiveEstablishedCb => "ACTIVE_ESTABLISHED_CB",
            SockOp::PassiveEstablishedCb => "PASSIVE_ESTABLISHED_CB",
            SockOp::NeedsEcn => "NEEDS_ECN",
            SockOp::BaseRtt => "BASE_RTT",
            SockOp::RtoCb => "RTO_CB",
            SockOp::RetransCb => "RETRANS_CB",
            SockOp::StateCb => "STATE_CB",
            SockOp::TcpListenCb => "TCP_LISTEN_CB",
            SockOp::RttCb => "RTT_CB",
            SockOp::ParseHdrOptCb => "PARSE_HDR_OPT_CB",
            SockOp::HdrOptLenCb => "HDR_OPT_LEN_CB",
            SockOp::WriteHdrOptCb => "WRITE_HDR_OPT_CB",
            SockOp::TstampSchedCb => "TSTAMP_SCHED_CB",
            SockOp::TstampSndSwCb => "TSTAMP_SND_SW_CB",
            SockOp::TstampSndHwCb => "TSTAMP_SND_HW_CB",
            SockOp::TstampAckCb => "TSTAMP_ACK_CB",
            SockOp::TstampSendmsgCb => "TSTAMP_SENDMSG_CB",
        }
    }

    /// The full kernel name, e.g. `BPF_SOCK_OPS_TIMEOUT_INIT`.
    pub fn kernel_name(self) -> String {
        format!("BPF_SOCK_OPS_{}", self.name())
    }

    /// Parses `TIMEOUT_INIT`, `BPF_SOCK_OPS_TIMEOUT_INIT` (any case) or a number `1`.
    pub fn parse(text: &str) -> Result<SockOp, UnknownOp> {
        let t = text.trim();
        if let Ok(n) = t.parse::<u32>() {
            return SockOp::from_number(n).ok_or_else(|| UnknownOp(text.to_string()));
        }
        let upper = t.to_ascii_uppercase();
        let bare = upper.strip_prefix("BPF_SOCK_OPS_").unwrap_or(&upper);
        SockOp::ALL
            .iter()
            .copied()
            .find(|op| op.name() == bare)
            .ok_or_else(|| UnknownOp(text.to_string()))
    }

    /// TSTAMP ops (16-20): full socket but not locked; L-guarded fields read 0 and the
    /// lock-needing helpers return -EOPNOTSUPP.
    pub fn is_tstamp(self) -> bool {
        self.number() >= 16
    }

    /// `is_locked_tcp_sock_ops`: op <= WRITE_HDR_OPT_CB.
    pub fn is_locked_op(self) -> bool {
        self.number() <= SockOp::WriteHdrOptCb.number()
    }

    /// Ops the kernel may call on a request socket (is_fullsock = 0): TIMEOUT_INIT,
    /// RWND_INIT, NEEDS_ECN (passive side) and the header-option ops for a SYN-ACK.
    pub fn may_run_on_request_sock(self) -> bool {
        matches!(
            self,
            SockOp::TimeoutInit
                | SockOp::RwndInit
                | SockOp::NeedsEcn
                | SockOp::HdrOptLenCb
                | SockOp::WriteHdrOptCb
        )
    }

    /// Ops whose ctx carries an skb (skb_len / skb_tcp_flags valid, packet pointers set).
    pub fn carries_skb(self) -> bool {
        matches!(
            self,
            SockOp::ActiveEstablishedCb
                | SockOp::PassiveEstablishedCb
                | SockOp::ParseHdrOptCb
                | SockOp::HdrOptLenCb
                | SockOp::WriteHdrOptCb
        ) || self.is_tstamp()
    }

    /// How `skb_data_end` relates to the TCP header for this op (SOCK_OPS.md §3).
    pub fn packet_view(self) -> PacketView {
        match self {
            SockOp::ActiveEstablishedCb | SockOp::PassiveEstablishedCb | SockOp::ParseHdrOptCb => {
                PacketView::WholeHeader
            }
            SockOp::WriteHdrOptCb => PacketView::UpToBpfOptions,
            _ => PacketView::Nothing,
        }
    }

    /// The callback flag(s) of which at least one must be set for the kernel to call this op,
    /// or `None` when the op is not gated by `bpf_sock_ops_cb_flags`. TSTAMP ops are gated
    /// by `SK_BPF_CB_FLAGS` instead (see `needs_tx_timestamping`).
    pub fn required_cb_flags(self) -> Option<u32> {
        match self {
            SockOp::RtoCb => Some(cb_flags::RTO),
            SockOp::RetransCb => Some(cb_flags::RETRANS),
            SockOp::StateCb => Some(cb_flags::STATE),
            SockOp::RttCb => Some(cb_flags::RTT),
            SockOp::ParseHdrOptCb => {
                Some(cb_flags::PARSE_ALL_HDR_OPT | cb_flags::PARSE_UNKNOWN_HDR_OPT)
            }
            SockOp::HdrOptLenCb | SockOp::WriteHdrOptCb => Some(cb_flags::WRITE_HDR_OPT),
            _ => None,
        }
    }

    /// TSTAMP_SENDMSG_CB (and the other TSTAMP ops after it) need `SK_BPF_CB_TX_TIMESTAMPING`.
    pub fn needs_tx_timestamping(self) -> bool {
        self.is_tstamp()
    }

    /// Whether the kernel would call this op given the socket's flags.
    pub fn is_enabled(self, cb_flags: u32, sk_bpf_cb_flags: u32) -> bool {
        if self.needs_tx_timestamping() {
            return sk_bpf_cb_flags & sk_bpf_cb::TX_TIMESTAMPING != 0;
        }
        match self.required_cb_flags() {
            Some(mask) => cb_flags & mask != 0,
            None => true,
        }
    }
}

impl fmt::Display for SockOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SockOp {
    type Err = UnknownOp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SockOp::parse(s)
    }
}

/// What part of the TCP header `[skb_data, skb_data_end)` exposes for an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketView {
    /// The whole TCP header including options (ops 4, 5, 13).
    WholeHeader,
    /// The header written so far, up to the BPF option space (op 15).
    UpToBpfOptions,
    /// Nothing (ops 14, TSTAMP, and ops without skb): `skb_data_end == skb_data`.
    Nothing,
}

/// `BPF_SOCK_OPS_*_CB_FLAG` bits (`bpf_sock_ops_cb_flags`).
pub mod cb_flags {
    /// Enables RTO_CB.
    pub const RTO: u32 = 0x01;
    /// Enables RETRANS_CB.
    pub const RETRANS: u32 = 0x02;
    /// Enables STATE_CB.
    pub const STATE: u32 = 0x04;
    /// Enables RTT_CB.
    pub const RTT: u32 = 0x08;
    /// PARSE_HDR_OPT_CB for every segment.
    pub const PARSE_ALL_HDR_OPT: u32 = 0x10;
    /// PARSE_HDR_OPT_CB for segments with an unknown option.
    pub const PARSE_UNKNOWN_HDR_OPT: u32 = 0x20;
    /// HDR_OPT_LEN_CB / WRITE_HDR_OPT_CB.
    pub const WRITE_HDR_OPT: u32 = 0x40;
    /// `BPF_SOCK_OPS_ALL_CB_FLAGS`.
    pub const ALL: u32 = 0x7f;

    /// Flag names, for display.
    pub const NAMES: [(u32, &str); 7] = [
        (RTO, "BPF_SOCK_OPS_RTO_CB_FLAG"),
        (RETRANS, "BPF_SOCK_OPS_RETRANS_CB_FLAG"),
        (STATE, "BPF_SOCK_OPS_STATE_CB_FLAG"),
        (RTT, "BPF_SOCK_OPS_RTT_CB_FLAG"),
        (PARSE_ALL_HDR_OPT, "BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG"),
        (
            PARSE_UNKNOWN_HDR_OPT,
            "BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG",
        ),
        (WRITE_HDR_OPT, "BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG"),
    ];
}

/// Per-socket BPF flags (`SK_BPF_CB_FLAGS` socket option).
pub mod sk_bpf_cb {
    /// `SK_BPF_CB_TX_TIMESTAMPING`: enables the TSTAMP ops.
    pub const TX_TIMESTAMPING: u32 = 1;
    /// `SK_BPF_CB_MASK`.
    pub const MASK: u32 = 1;
}

/// Values passed in `args[0]` of HDR_OPT_LEN_CB / WRITE_HDR_OPT_CB.
pub mod write_hdr {
    /// `BPF_WRITE_HDR_TCP_CURRENT_MSS`: called from `tcp_current_mss` (no skb).
    pub const TCP_CURRENT_MSS: u32 = 1;
    /// `BPF_WRITE_HDR_TCP_SYNACK_COOKIE`: syncookie SYN-ACK.
    pub const TCP_SYNACK_COOKIE: u32 = 2;
}

/// TCP states as `state` reports them (`BPF_TCP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum TcpState {
    /// 1
    Established = 1,
    /// 2
    SynSent = 2,
    /// 3
    SynRecv = 3,
    /// 4
    FinWait1 = 4,
    /// 5
    FinWait2 = 5,
    /// 6
    TimeWait = 6,
    /// 7
    Close = 7,
    /// 8
    CloseWait = 8,
    /// 9
    LastAck = 9,
    /// 10
    Listen = 10,
    /// 11
    Closing = 11,
    /// 12: request socket.
    NewSynRecv = 12,
    /// 13
    BoundInactive = 13,
}

impl TcpState {
    /// Every state in number order.
    pub const ALL: [TcpState; 13] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
        TcpState::BoundInactive,
    ];

    /// The kernel number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The state with number `n`.
    pub fn from_number(n: u32) -> Option<TcpState> {
        Self::ALL.iter().copied().find(|s| s.number() == n)
    }

    /// The name without `BPF_TCP_`, e.g. `ESTABLISHED`.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
        }
    }

    /// Parses a name (with or without `BPF_TCP_` / `TCP_`, any case) or a number.
    pub fn parse(text: &str) -> Option<TcpState> {
        let t = text.trim();
        if let Ok(n) = t.parse::<u32>() {
            return TcpState::from_number(n);
        }
        let upper = t.to_ascii_uppercase();
        let bare = upper
            .strip_prefix("BPF_TCP_")
            .or_else(|| upper.strip_prefix("TCP_"))
            .unwrap_or(&upper);
        Self::ALL.iter().copied().find(|s| s.name() == bare)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
