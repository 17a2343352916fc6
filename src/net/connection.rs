//! The bridge's data types: what a host is configured with ([`HostConfig`]), how its
//! connections are named ([`ConnId`], [`Role`]), what it records about each ([`Connection`]:
//! the sockops model, every op delivered, every segment sent), and its errors ([`NetError`]).
//! [`NetHost`](crate::net::NetHost) does the work.

use std::net::{IpAddr, SocketAddr};

use smoltcp::iface::SocketHandle;
use sockops_ctx::{Segment, SockOp, Socket, Sysctls};

use crate::net::options::{self, OptionReport};
use crate::net::tracker::WireTracker;
use crate::runtime::RuntimeError;

/// Why the bridge could not do something.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The MTU is below the minimum of the address family.
    #[error("mtu {mtu} is below the {family} minimum of {min} bytes")]
    MtuTooSmall {
        /// The MTU asked for.
        mtu: usize,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The minimum.
        min: usize,
    },
    /// A program failed while an op ran (only possible for programs the verifier could not judge).
    #[error("{op} on {socket}: {source}")]
    Runtime {
        /// The op.
        op: &'static str,
        /// The socket, for the message.
        socket: String,
        /// The runtime's error.
        source: Box<RuntimeError>,
    },
    /// smoltcp refused to open the connection.
    #[error("cannot connect {local} -> {remote}: {reason}")]
    Connect {
        /// Local endpoint.
        local: SocketAddr,
        /// Remote endpoint.
        remote: SocketAddr,
        /// smoltcp's reason.
        reason: String,
    },
    /// The remote address is not of the host's family.
    #[error("host {host} cannot reach {remote}: different address families")]
    Family {
        /// The host's address.
        host: IpAddr,
        /// The remote.
        remote: SocketAddr,
    },
    /// The port already has a listener.
    #[error("port {0} already listens")]
    AlreadyListening(u16),
    /// Port 0 cannot listen or connect.
    #[error("port 0 cannot be used")]
    PortZero,
    /// No such connection on this host.
    #[error("no connection {0} on this host")]
    UnknownConnection(usize),
}

/// How one host is set up.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The host's address (IPv4 or IPv6).
    pub address: IpAddr,
    /// Largest IP packet, bytes.
    pub mtu: usize,
    /// The cgroup its sockets belong to (normalised path).
    pub cgroup: String,
    /// Kernel settings its sockets see.
    pub sysctls: Sysctls,
    /// Seed of smoltcp's randomness (initial sequence numbers).
    pub random_seed: u64,
}

/// A connection on a host, by the order it was opened or accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub usize);

/// Which end opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Active open (`connect`).
    Client,
    /// Passive open (accepted by a listener).
    Server,
}

/// One op the bridge delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpEvent {
    /// Simulated time, µs.
    pub at_us: u64,
    /// The op.
    pub op: SockOp,
    /// Its args.
    pub args: [u32; 4],
    /// Whether the socket's callback flags enabled it (a gated op runs no program).
    pub enabled: bool,
    /// What the kernel's caller got (`None`: no program ran).
    pub result: Option<i32>,
}

/// One segment a side sent, for time-sequence graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentSegment {
    /// Simulated time, µs.
    pub at_us: u64,
    /// Sequence number relative to the side's ISN.
    pub rel_seq: u32,
    /// Sequence space it occupies (payload, SYN, FIN).
    pub len: u32,
    /// Whether it was a retransmission.
    pub retransmit: bool,
}

/// A smoltcp TCP socket paired with its sockops [`Socket`].
#[derive(Debug)]
pub struct Connection {
    /// Client or server.
    pub role: Role,
    /// The sockops model: state, metrics, options, callback flags.
    pub model: Socket,
    /// Every op delivered on this side, in order (for a server: its request socket's ops first).
    pub ops: Vec<OpEvent>,
    /// Every segment with sequence space this side sent.
    pub sent: Vec<SentSegment>,
    /// When the side reached ESTABLISHED, µs.
    pub established_us: Option<u64>,
    /// Retransmitted segments seen by the device wrapper.
    pub retransmits: u32,
    /// The ops' results that smoltcp cannot honour: SYN RTO from TIMEOUT_INIT (jiffies),
    /// ECN asked by NEEDS_ECN.
    pub syn_rto_jiffies: Option<i32>,
    /// NEEDS_ECN's answer (ECN is model only: smoltcp does not negotiate it).
    pub ecn_requested: bool,
    pub(crate) handle: SocketHandle,
    pub(crate) tracker: WireTracker,
    /// (level, optname) pairs already set when the smoltcp socket was created.
    pub(crate) created_with: Vec<(i32, i32)>,
    /// The last segment received (the skb of the ESTABLISHED and PARSE_HDR_OPT ops).
    pub(crate) last_rx: Option<Segment>,
}

impl Connection {
    /// Options programs set on this side, with whether smoltcp applies them.
    pub fn options(&self) -> Vec<OptionReport> {
        options::report(&self.model, &self.created_with)
    }

    /// Number of times `op` was delivered (enabled) on this side.
    pub fn op_count(&self, op: SockOp) -> usize {
        self.ops.iter().filter(|e| e.op == op && e.enabled).count()
    }

    /// The handle of its smoltcp socket in the host's socket set.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }
}
