//! [`NetHost`]: one smoltcp interface whose TCP sockets are each paired with a sockops
//! [`Socket`] and driven through a [`Runtime`]. The host delivers the ops at the kernel's
//! points (active open before the SYN leaves, request-socket ops when a SYN reaches a
//! listener, ESTABLISHED and STATE_CB from the state smoltcp reaches around every poll,
//! RETRANS_CB, RTT_CB and PARSE_HDR_OPT_CB from the wire, RTO_CB from retransmissions sent by
//! a timer poll), applies the options programs set to the smoltcp socket after every op, and
//! keeps the metrics true through [`WireTracker`]. The data types it records are in
//! [`crate::net::connection`].
//!
//! Received frames go in one at a time ([`NetHost::receive`]), each followed by a poll, so
//! every state change is seen at the segment that caused it. What smoltcp transmits is
//! collected ([`NetHost::take_transmitted`]) for the caller's link.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{Socket as TcpSocket, SocketBuffer, State};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use sockops_ctx::context::tcp_flags;
use sockops_ctx::ops::cb_flags;
use sockops_ctx::{
    Clock, OpInput, SavedSyn, Segment, SockOp, Socket, SocketKind, TcpMetrics, TcpState,
};

use crate::net::connection::{
    ConnId, Connection, HostConfig, NetError, OpEvent, Role, SentSegment,
};
use crate::net::device::BridgeDevice;
use crate::net::options;
use crate::net::tracker::{WireEvent, WireTracker};
use crate::net::wire::{self, SegmentInfo};
use crate::runtime::{Decision, Runtime};

/// The smallest MTU an IPv4 host may have (RFC 791).
pub const IPV4_MIN_MTU: usize = 68;
/// The smallest MTU an IPv6 host may have (RFC 8200).
pub const IPV6_MIN_MTU: usize = 1280;
/// Largest smoltcp buffer the bridge allocates (smoltcp itself refuses receive buffers above
/// 1 GiB; a sysctl could ask for that much per socket).
pub const MAX_BUFFER: usize = 64 << 20;
/// Polls per step before the host stops (a stack that keeps transmitting at one instant).
const MAX_POLL_ROUNDS: usize = 10_000;
/// CLOCK_MONOTONIC at simulated time 0, ns (the runtime's default clock start).
const CLOCK_BASE_NS: u64 = 1_000_000_000;

/// A listening port and the listener's model socket (its options and callback flags are
/// what accepted sockets inherit).
#[derive(Debug)]
struct Listener {
    model: Socket,
    ops: Vec<OpEvent>,
}

/// One smoltcp interface with sockops attached to its TCP sockets.
pub struct NetHost {
    config: HostConfig,
    iface: Interface,
    device: BridgeDevice,
    sockets: SocketSet<'static>,
    listeners: Vec<Listener>,
    conns: Vec<Connection>,
    transmitted: Vec<Vec<u8>>,
    now_us: u64,
    next_cookie: u64,
    /// Inside [`NetHost::poll`]: what smoltcp sends now, it sends because a timer fired.
    timer_poll: bool,
    /// Connections whose RTO_CB this timer poll already delivered.
    rto_reported: Vec<usize>,
}

impl std::fmt::Debug for NetHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHost")
            .field("address", &self.config.address)
            .field("connections", &self.conns.len())
            .field("now_us", &self.now_us)
            .finish()
    }
}

fn instant(us: u64) -> Instant {
    Instant::from_micros(i64::try_from(us).unwrap_or(i64::MAX))
}

/// A deterministic non-zero `sk_txhash` for a cookie (the kernel draws a random one).
fn txhash(cookie: u64) -> u32 {
    let mut x = cookie.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    (x as u32) | 1
}

/// The kernel state number smoltcp's `state` corresponds to, for a side in `role`. A server
/// socket before its handshake completes is still a request socket (NEW_SYN_RECV); TIME_WAIT
/// belongs to a timewait socket, the full socket is CLOSE (`tcp_time_wait` -> `tcp_done`).
fn kernel_state(state: State, role: Role) -> TcpState {
    match state {
        State::Closed => TcpState::Close,
        State::Listen | State::SynReceived if role == Role::Server => TcpState::NewSynRecv,
        State::Listen => TcpState::Listen,
        State::SynSent => TcpState::SynSent,
        State::SynReceived => TcpState::SynRecv,
        State::Established => TcpState::Established,
        State::FinWait1 => TcpState::FinWait1,
        State::FinWait2 => TcpState::FinWait2,
        State::CloseWait => TcpState::CloseWait,
        State::Closing => TcpState::Closing,
        State::LastAck => TcpState::LastAck,
        State::TimeWait => TcpState::Close,
    }
}

impl NetHost {
    /// A host with one interface at `config.address`, reaching every other address directly.
    pub fn new(config: HostConfig) -> Result<NetHost, NetError> {
        let (family, min) = if config.address.is_ipv4() {
            ("IPv4", IPV4_MIN_MTU)
        } else {
            ("IPv6", IPV6_MIN_MTU)
        };
        if config.mtu < min {
            return Err(NetError::MtuTooSmall {
                mtu: config.mtu,
                family,
                min,
            });
        }
        let mut device = BridgeDevice::new(config.mtu);
        let mut iface_config = Config::new(HardwareAddress::Ip);
        iface_config.random_seed = config.random_seed;
        let mut iface = Interface::new(iface_config, &mut device, instant(0));
        let address = IpAddress::from(config.address);
        iface.update_ip_addrs(|addrs| {
            // Prefix 0: every address is on the link, no routes needed.
            let _ = addrs.push(IpCidr::new(address, 0));
        });
        Ok(NetHost {
            config,
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            listeners: Vec::new(),
            conns: Vec::new(),
            transmitted: Vec::new(),
            now_us: 0,
            next_cookie: 1,
            timer_poll: false,
            rto_reported: Vec::new(),
        })
    }

    /// The host's address.
    pub fn address(&self) -> IpAddr {
        self.config.address
    }

    /// Simulated time now, µs.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// Moves the clock to `now_us` (never backwards).
    pub fn set_now(&mut self, now_us: u64) {
        self.now_us = self.now_us.max(now_us);
    }

    /// Every connection, by [`ConnId`] order.
    pub fn connections(&self) -> &[Connection] {
        &self.conns
    }

    /// Connection `id`.
    pub fn connection(&self, id: ConnId) -> Result<&Connection, NetError> {
        self.conns
            .get(id.0)
            .ok_or(NetError::UnknownConnection(id.0))
    }

    /// The smoltcp socket of connection `id` (read its state, Nagle, congestion control...).
    pub fn tcp_socket(&self, id: ConnId) -> Result<&TcpSocket<'static>, NetError> {
        let c = self.connection(id)?;
        Ok(self.sockets.get::<TcpSocket>(c.handle))
    }

    /// The newest connection whose local port is `local_port` and remote is `remote`, if any.
    pub fn find(&self, local_port: u16, remote: SocketAddr) -> Option<ConnId> {
        self.conns
            .iter()
            .rposition(|c| c.model.local.port() == local_port && c.model.remote == remote)
            .map(ConnId)
    }

    /// The ops delivered to listeners (TCP_LISTEN_CB), in order.
    pub fn listener_ops(&self) -> Vec<OpEvent> {
        self.listeners.iter().flat_map(|l| l.ops.clone()).collect()
    }

    fn new_model(&mut self, local: SocketAddr, remote: SocketAddr) -> Socket {
        let mut model = Socket::with_sysctl(local, remote, self.config.sysctls.clone());
        model.cgroup = self.config.cgroup.clone();
        model.cookie = self.next_cookie;
        model.tcp = TcpMetrics {
            sk_txhash: txhash(self.next_cookie),
            ..TcpMetrics::default()
        };
        self.next_cookie += 1;
        model
    }

    /// Delivers one op to `model` at the host's time.
    fn run_op(
        &self,
        rt: &mut Runtime,
        model: &mut Socket,
        input: OpInput,
    ) -> Result<(Decision, OpEvent), NetError> {
        let mut clock: Clock = rt.clock();
        clock.monotonic_ns = CLOCK_BASE_NS + self.now_us.saturating_mul(1000);
        rt.set_clock(clock);
        let (op, args) = (input.op, input.args);
        let decision = rt
            .call_input(input, model)
            .map_err(|source| NetError::Runtime {
                op: op.name(),
                socket: format!("{} -> {}", model.local, model.remote),
                source: Box::new(source),
            })?;
        let event = OpEvent {
            at_us: self.now_us,
            op,
            args,
            enabled: decision.enabled,
            result: decision.result,
        };
        Ok((decision, event))
    }

    /// Delivers `input` to connection `idx` and applies the options its programs set.
    fn deliver(
        &mut self,
        rt: &mut Runtime,
        idx: usize,
        input: OpInput,
    ) -> Result<Decision, NetError> {
        let mut model = std::mem::replace(
            &mut self.conns[idx].model,
            Socket::new(
                SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
                SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            ),
        );
        let result = self.run_op(rt, &mut model, input);
        let conn = &mut self.conns[idx];
        conn.model = model;
        let (decision, event) = result?;
        conn.ops.push(event);
        let tcp = self.sockets.get_mut::<TcpSocket>(conn.handle);
        options::apply(&conn.model, tcp);
        Ok(decision)
    }

    /// Buffer sizes for a new smoltcp socket of `model`: the (doubled) SO_SNDBUF/SO_RCVBUF
    /// when locked by a program, else the autotuning ceilings `tcp_wmem[2]`/`tcp_rmem[2]`;
    /// the receive buffer shrunk to `rwnd_segments` × MSS when RWND_INIT asked for it.
    fn buffer_sizes(&self, model: &Socket, rwnd_segments: Option<u32>) -> (usize, usize) {
        let clamp = |v: i64| usize::try_from(v.max(1)).unwrap_or(1).min(MAX_BUFFER);
        let tx = if model.options.sndbuf_locked {
            clamp(i64::from(model.options.sndbuf))
        } else {
            clamp(i64::from(model.sysctl.tcp_wmem[2]))
        };
        let mut rx = if model.options.rcvbuf_locked {
            clamp(i64::from(model.options.rcvbuf))
        } else {
            clamp(i64::from(model.sysctl.tcp_rmem[2]))
        };
        if let Some(n) = rwnd_segments.filter(|&n| n > 0) {
            let mss = self.advertised_mss() as usize;
            rx = rx.min((n as usize).saturating_mul(mss).max(1));
        }
        (rx, tx)
    }

    /// MSS this host advertises: MTU less the IP and TCP headers.
    fn advertised_mss(&self) -> u32 {
        let ip = if self.config.address.is_ipv4() {
            20
        } else {
            40
        };
        self.config.mtu.saturating_sub(ip + 20) as u32
    }

    fn add_socket(&mut self, rx: usize, tx: usize) -> SocketHandle {
        let socket = TcpSocket::new(
            SocketBuffer::new(vec![0; rx]),
            SocketBuffer::new(vec![0; tx]),
        );
        self.sockets.add(socket)
    }

    /// Starts listening on `port`: delivers TCP_LISTEN_CB to the listener's model socket,
    /// whose options and callback flags every accepted socket inherits.
    pub fn listen(&mut self, rt: &mut Runtime, port: u16) -> Result<(), NetError> {
        if port == 0 {
            return Err(NetError::PortZero);
        }
        if self.listeners.iter().any(|l| l.model.local.port() == port) {
            return Err(NetError::AlreadyListening(port));
        }
        let unspecified: IpAddr = if self.config.address.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let mut model = self.new_model(
            SocketAddr::new(self.config.address, port),
            SocketAddr::new(unspecified, 0),
        );
        model.state = TcpState::Listen;
        let (_, event) = self.run_op(rt, &mut model, OpInput::new(SockOp::TcpListenCb))?;
        self.listeners.push(Listener {
            model,
            ops: vec![event],
        });
        Ok(())
    }

    /// Opens a connection from `local_port` to `remote` as `tcp_connect` does: TCP_CONNECT_CB,
    /// RWND_INIT, TIMEOUT_INIT, NEEDS_ECN on the new socket (state SYN_SENT), then the smoltcp
    /// socket is created with the buffer sizes they left and connects; the SYN leaves at once.
    pub fn connect(
        &mut self,
        rt: &mut Runtime,
        local_port: u16,
        remote: SocketAddr,
    ) -> Result<ConnId, NetError> {
        if local_port == 0 || remote.port() == 0 {
            return Err(NetError::PortZero);
        }
        if remote.is_ipv4() != self.config.address.is_ipv4() {
            return Err(NetError::Family {
                host: self.config.address,
                remote,
            });
        }
        let local = SocketAddr::new(self.config.address, local_port);
        let mut model = self.new_model(local, remote);
        model.state = TcpState::SynSent;
        let mut ops = Vec::new();
        let mut results = Vec::new();
        for op in [
            SockOp::TcpConnectCb,
            SockOp::RwndInit,
            SockOp::TimeoutInit,
            SockOp::NeedsEcn,
        ] {
            let (decision, event) = self.run_op(rt, &mut model, OpInput::new(op))?;
            results.push(decision.result);
            ops.push(event);
        }
        let rwnd = results[1].and_then(|r| u32::try_from(r).ok());
        let (rx, tx) = self.buffer_sizes(&model, rwnd);
        let handle = self.add_socket(rx, tx);
        let created_with = model.options_set.keys().copied().collect();
        let tcp = self.sockets.get_mut::<TcpSocket>(handle);
        options::apply(&model, tcp);
        let remote_ep = IpEndpoint::new(IpAddress::from(remote.ip()), remote.port());
        tcp.connect(self.iface.context(), remote_ep, local_port)
            .map_err(|e| NetError::Connect {
                local,
                remote,
                reason: e.to_string(),
            })?;
        self.conns.push(Connection {
            role: Role::Client,
            model,
            ops,
            sent: Vec::new(),
            established_us: None,
            retransmits: 0,
            syn_rto_jiffies: results[2].filter(|&r| r > 0),
            ecn_requested: results[3] == Some(1),
            handle,
            tracker: WireTracker::default(),
            created_with,
            last_rx: None,
        });
        self.pump(rt)?;
        Ok(ConnId(self.conns.len() - 1))
    }

    /// A SYN for a listening port: the request socket's ops (NEEDS_ECN, TIMEOUT_INIT,
    /// RWND_INIT as `tcp_conn_request` runs them, with the listener's programs), then the
    /// accepted socket — a copy of the listener with its options and callback flags, the SYN
    /// saved if the listener asked for TCP_SAVE_SYN — and a smoltcp socket listening for it.
    fn passive_open(
        &mut self,
        rt: &mut Runtime,
        listener: usize,
        frame: &[u8],
        info: &SegmentInfo,
    ) -> Result<(), NetError> {
        let (local, remote) = (info.dst, info.src);
        let mut request = self.new_model(local, remote);
        request.cgroup = self.listeners[listener].model.cgroup.clone();
        request.kind = SocketKind::Request;
        request.state = TcpState::NewSynRecv;
        request.tcp = TcpMetrics {
            rtt_min: 0,
            sk_txhash: request.tcp.sk_txhash,
            ..TcpMetrics::default()
        };
        let mut ops = Vec::new();
        let mut results = Vec::new();
        for op in [SockOp::NeedsEcn, SockOp::TimeoutInit, SockOp::RwndInit] {
            let (decision, event) = self.run_op(rt, &mut request, OpInput::new(op))?;
            results.push(decision.result);
            ops.push(event);
        }
        let parent = &self.listeners[listener].model;
        let mut model = parent.clone();
        model.local = local;
        model.remote = remote;
        model.state = TcpState::NewSynRecv;
        model.cookie = request.cookie;
        model.tcp = TcpMetrics {
            sk_txhash: request.tcp.sk_txhash,
            ..TcpMetrics::default()
        };
        model.sk_storage = Default::default();
        if model.options.save_syn > 0 {
            let headers = wire::headers(frame, info);
            let with_mac = model.options.save_syn == 2;
            let mut data = Vec::new();
            if with_mac {
                data.extend_from_slice(&[0; 12]);
                let ethertype: u16 = if local.is_ipv4() { 0x0800 } else { 0x86dd };
                data.extend_from_slice(&ethertype.to_be_bytes());
            }
            data.extend_from_slice(headers);
            model.saved_syn = Some(SavedSyn {
                data,
                mac_hdrlen: if with_mac { 14 } else { 0 },
                network_hdrlen: info.ip_header_len,
                tcp_hdrlen: info.tcp_header_len,
            });
        }
        let rwnd = results[2].and_then(|r| u32::try_from(r).ok());
        let (rx, tx) = self.buffer_sizes(&model, rwnd);
        let handle = self.add_socket(rx, tx);
        let created_with = model.options_set.keys().copied().collect();
        let tcp = self.sockets.get_mut::<TcpSocket>(handle);
        options::apply(&model, tcp);
        // A fresh socket always accepts listen on a non-zero port.
        let _ = tcp.listen(local.port());
        self.conns.push(Connection {
            role: Role::Server,
            model,
            ops,
            sent: Vec::new(),
            established_us: None,
            retransmits: 0,
            syn_rto_jiffies: results[1].filter(|&r| r > 0),
            ecn_requested: results[0] == Some(1),
            handle,
            tracker: WireTracker::default(),
            created_with,
            last_rx: None,
        });
        Ok(())
    }

    /// Receives one frame at the host's time: the segment is observed (metrics, RTT_CB), a
    /// SYN to a listening port opens a connection, then smoltcp processes it in a poll.
    pub fn receive(&mut self, rt: &mut Runtime, frame: Vec<u8>) -> Result<(), NetError> {
        if let Some(info) = wire::parse(&frame) {
            let mut idx = self.find(info.dst.port(), info.src).map(|c| c.0);
            let is_syn = info.has(tcp_flags::SYN) && !info.has(tcp_flags::ACK);
            let reusable = idx.is_some_and(|i| {
                let state = self.sockets.get::<TcpSocket>(self.conns[i].handle).state();
                matches!(state, State::Closed | State::TimeWait)
            });
            if is_syn
                && (idx.is_none() || reusable)
                && let Some(l) = self
                    .listeners
                    .iter()
                    .position(|l| l.model.local.port() == info.dst.port())
            {
                self.passive_open(rt, l, &frame, &info)?;
                idx = Some(self.conns.len() - 1);
            }
            if let Some(i) = idx {
                let conn = &mut self.conns[i];
                let event = conn
                    .tracker
                    .on_receive(&info, self.now_us, &mut conn.model.tcp);
                let header = wire::tcp_header(&frame, &info).to_vec();
                conn.last_rx = Some(Segment {
                    skb_len: header.len() as u32 + info.payload_len,
                    header,
                    tcp_flags: info.flags,
                    hwtstamp: 0,
                });
                if let Some(WireEvent::RttSample { rtt_us, srtt_us8 }) = event {
                    // The third ACK's sample is taken on the child the kernel has just
                    // created (SYN_RECV), not on the request socket.
                    let request = self.conns[i].model.state == TcpState::NewSynRecv;
                    if request {
                        self.conns[i].model.state = TcpState::SynRecv;
                    }
                    let input = OpInput::new(SockOp::RttCb).with_args(&[rtt_us, srtt_us8]);
                    let delivered = self.deliver(rt, i, input);
                    if request {
                        self.conns[i].model.state = TcpState::NewSynRecv;
                    }
                    delivered?;
                }
                self.parse_hdr_opt(rt, i)?;
            }
        }
        self.device.push_rx(frame);
        self.pump(rt)
    }

    /// PARSE_HDR_OPT_CB for the segment just received, as `bpf_skops_parse_hdr` decides: not
    /// in SYN_SENT, SYN_RECV or LISTEN (nor on a request socket); with PARSE_ALL_HDR_OPT
    /// always, with PARSE_UNKNOWN_HDR_OPT only when the header has an option the kernel does
    /// not know.
    fn parse_hdr_opt(&mut self, rt: &mut Runtime, i: usize) -> Result<(), NetError> {
        let conn = &self.conns[i];
        let flags = conn.model.cb_flags;
        let Some(segment) = conn.last_rx.clone() else {
            return Ok(());
        };
        if matches!(
            conn.model.state,
            TcpState::SynSent | TcpState::SynRecv | TcpState::Listen | TcpState::NewSynRecv
        ) {
            return Ok(());
        }
        let wanted = flags & cb_flags::PARSE_ALL_HDR_OPT != 0
            || (flags & cb_flags::PARSE_UNKNOWN_HDR_OPT != 0
                && wire::has_unknown_option(&segment.header));
        if wanted {
            self.deliver(
                rt,
                i,
                OpInput::new(SockOp::ParseHdrOptCb).with_segment(segment),
            )?;
        }
        Ok(())
    }

    /// Polls smoltcp at the host's time (timers: retransmissions, delayed ACKs, keep-alive).
    /// A retransmission sent here, with no segment received, comes from the retransmission
    /// timer: RTO_CB runs first (once per connection and poll; args: timeouts so far, the
    /// timeout that fired in jiffies — the time since the segment was last sent — and 0).
    pub fn poll(&mut self, rt: &mut Runtime) -> Result<(), NetError> {
        self.timer_poll = true;
        self.rto_reported.clear();
        let r = self.pump(rt);
        self.timer_poll = false;
        r
    }

    /// When smoltcp next needs a poll, µs (None: nothing scheduled).
    pub fn poll_at(&mut self) -> Option<u64> {
        self.iface
            .poll_at(instant(self.now_us), &self.sockets)
            .map(|t| u64::try_from(t.total_micros()).unwrap_or(0))
    }

    /// Writes `data` on connection `id` as one `send()` and polls; returns the bytes the send
    /// buffer took (0 when it is full or the connection cannot send).
    pub fn send(&mut self, rt: &mut Runtime, id: ConnId, data: &[u8]) -> Result<usize, NetError> {
        let handle = self.connection(id)?.handle;
        let tcp = self.sockets.get_mut::<TcpSocket>(handle);
        let n = if tcp.can_send() {
            tcp.send_slice(data).unwrap_or(0)
        } else {
            0
        };
        self.pump(rt)?;
        Ok(n)
    }

    /// Reads everything received on connection `id` and polls (the window reopens); returns
    /// the number of bytes read.
    pub fn recv(&mut self, rt: &mut Runtime, id: ConnId) -> Result<usize, NetError> {
        let handle = self.connection(id)?.handle;
        let tcp = self.sockets.get_mut::<TcpSocket>(handle);
        let mut total = 0;
        while tcp.can_recv() {
            match tcp.recv(|buf| (buf.len(), buf.len())) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        if total > 0 {
            self.pump(rt)?;
        }
        Ok(total)
    }

    /// Closes connection `id` (sends FIN once the send buffer drains) and polls.
    pub fn close(&mut self, rt: &mut Runtime, id: ConnId) -> Result<(), NetError> {
        let handle = self.connection(id)?.handle;
        self.sockets.get_mut::<TcpSocket>(handle).close();
        self.pump(rt)
    }

    /// The frames smoltcp transmitted since the last call, with the traffic class programs
    /// set written in, in order.
    pub fn take_transmitted(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.transmitted)
    }

    /// Polls until smoltcp has nothing more to send at this instant, observing every frame
    /// it transmits and every state change.
    fn pump(&mut self, rt: &mut Runtime) -> Result<(), NetError> {
        for _ in 0..MAX_POLL_ROUNDS {
            self.iface
                .poll(instant(self.now_us), &mut self.device, &mut self.sockets);
            let frames = self.device.take_tx();
            let sent = !frames.is_empty();
            for frame in frames {
                self.on_transmit(rt, frame)?;
            }
            let changed = self.observe_states(rt)?;
            if !sent && !changed {
                break;
            }
        }
        Ok(())
    }

    fn on_transmit(&mut self, rt: &mut Runtime, mut frame: Vec<u8>) -> Result<(), NetError> {
        let Some(info) = wire::parse(&frame) else {
            self.transmitted.push(frame);
            return Ok(());
        };
        let Some(i) = self
            .conns
            .iter()
            .rposition(|c| c.model.local == info.src && c.model.remote == info.dst)
        else {
            self.transmitted.push(frame);
            return Ok(());
        };
        if let Some(tc) = options::traffic_class(&self.conns[i].model) {
            wire::set_traffic_class(&mut frame, tc);
        }
        let now = self.now_us;
        let conn = &mut self.conns[i];
        let event = conn.tracker.on_send(&info, now, &mut conn.model.tcp);
        let retransmit = matches!(event, Some(WireEvent::Retransmit { .. }));
        if let Some(isn) = conn.tracker.isn().filter(|_| info.seq_len() > 0) {
            conn.sent.push(SentSegment {
                at_us: now,
                rel_seq: info.seq.wrapping_sub(isn),
                len: info.seq_len(),
                retransmit,
            });
        }
        self.transmitted.push(frame);
        if let Some(WireEvent::Retransmit { seq, since_us }) = event {
            self.conns[i].retransmits += 1;
            if self.conns[i].model.state == TcpState::NewSynRecv {
                // A SYN-ACK retransmitted for a request socket (`inet_rtx_syn_ack`): counted,
                // but the kernel runs no op for it.
                return Ok(());
            }
            if self.timer_poll && !self.rto_reported.contains(&i) {
                // tcp_retransmit_timer -> tcp_write_timeout: RTO_CB before the retransmission.
                self.rto_reported.push(i);
                let jiffies = &self.conns[i].model.sysctl.jiffies();
                let rto =
                    u32::try_from(jiffies.from_usecs(u32::try_from(since_us).unwrap_or(u32::MAX)))
                        .unwrap_or(u32::MAX);
                let count = self.conns[i].model.tcp.icsk_retransmits;
                let input = OpInput::new(SockOp::RtoCb).with_args(&[u32::from(count), rto, 0]);
                self.deliver(rt, i, input)?;
                let tcp = &mut self.conns[i].model.tcp;
                tcp.icsk_retransmits = tcp.icsk_retransmits.saturating_add(1);
            }
            let input = OpInput::new(SockOp::RetransCb).with_args(&[seq, 1, 0]);
            self.deliver(rt, i, input)?;
        }
        Ok(())
    }

    /// Compares every socket's smoltcp state with the model's and delivers what changed.
    fn observe_states(&mut self, rt: &mut Runtime) -> Result<bool, NetError> {
        let mut changed = false;
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            let state = self.sockets.get::<TcpSocket>(conn.handle).state();
            let new = kernel_state(state, conn.role);
            let old = conn.model.state;
            if new == old {
                continue;
            }
            changed = true;
            let segment = conn.last_rx.clone();
            match (conn.role, new) {
                (Role::Client, TcpState::Established) if old == TcpState::SynSent => {
                    self.established(i);
                    // tcp_finish_connect: tcp_set_state(ESTABLISHED), then tcp_init_transfer.
                    self.state_cb(rt, i, old, new)?;
                    let mut input = OpInput::new(SockOp::ActiveEstablishedCb);
                    input.segment = segment;
                    self.deliver(rt, i, input)?;
                }
                (Role::Server, TcpState::Established) if old == TcpState::NewSynRecv => {
                    self.established(i);
                    // The child runs PASSIVE_ESTABLISHED_CB in SYN_RECV, then tcp_set_state.
                    let conn = &mut self.conns[i];
                    conn.model.kind = SocketKind::Full;
                    conn.model.state = TcpState::SynRecv;
                    let mut input = OpInput::new(SockOp::PassiveEstablishedCb);
                    input.segment = segment;
                    self.deliver(rt, i, input)?;
                    self.state_cb(rt, i, TcpState::SynRecv, new)?;
                }
                // A request socket that dies is not a full socket: no STATE_CB.
                _ if old == TcpState::NewSynRecv => self.conns[i].model.state = new,
                _ => self.state_cb(rt, i, old, new)?,
            }
        }
        Ok(changed)
    }

    fn established(&mut self, i: usize) {
        let own = self.advertised_mss();
        let conn = &mut self.conns[i];
        conn.established_us = Some(self.now_us);
        let peer = conn.tracker.peer_mss.map_or(536, u32::from);
        conn.model.tcp.mss_cache = own.min(peer);
    }

    fn state_cb(
        &mut self,
        rt: &mut Runtime,
        i: usize,
        old: TcpState,
        new: TcpState,
    ) -> Result<(), NetError> {
        // `tcp_set_state` runs STATE_CB before it stores the new state.
        self.conns[i].model.state = old;
        let input = OpInput::new(SockOp::StateCb).with_args(&[old.number(), new.number()]);
        self.deliver(rt, i, input)?;
        self.conns[i].model.state = new;
        Ok(())
    }
}
