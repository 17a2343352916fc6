//! The sock_ops runtime inside a real userspace TCP stack, [smoltcp] 0.14 (feature `net`, on
//! by default), and the two-host simulation behind `sockops simulate`.
//!
//! A [`NetHost`] is one smoltcp interface whose TCP sockets are each paired with a sockops
//! [`Socket`](crate::ctx::Socket) and driven through a [`Runtime`](crate::runtime::Runtime):
//!
//! * **active open** ([`NetHost::connect`]) runs `TCP_CONNECT_CB`, `RWND_INIT`, `TIMEOUT_INIT`
//!   and `NEEDS_ECN` as `tcp_connect` / `tcp_connect_init` call them, on a socket in SYN_SENT,
//!   before the smoltcp socket exists; it is then created with the buffer sizes they left
//!   and connects, and the SYN leaves;
//! * **passive open**: [`NetHost::listen`] runs `TCP_LISTEN_CB` on the listener; a SYN to the
//!   port runs `NEEDS_ECN`, `TIMEOUT_INIT`, `RWND_INIT` on a request socket (is_fullsock = 0,
//!   the listener's programs) before smoltcp sees the SYN, then a smoltcp socket is created
//!   for the accepted connection, which inherits the listener's options and callback flags
//!   (and its SYN, with `TCP_SAVE_SYN`); its `PASSIVE_ESTABLISHED_CB` runs in SYN_RECV on the
//!   third ACK, followed by `STATE_CB(SYN_RECV, ESTABLISHED)`;
//! * **states** are compared after every poll (one received segment per poll):
//!   `ACTIVE_ESTABLISHED_CB` follows `STATE_CB(SYN_SENT, ESTABLISHED)` as in
//!   `tcp_finish_connect`; `STATE_CB` runs with the old state still in `state`, as
//!   `tcp_set_state` does, gated by the socket's callback flags like every op here;
//! * **the wire**: a device wrapper sees every segment; [`tracker`] derives the metrics from
//!   it (its table says how each is inferred), `RETRANS_CB` runs once per retransmitted
//!   segment (args: its seq, 1, 0), `RTT_CB` once per RTT sample (args: the sample in µs,
//!   the new srtt << 3), and `PARSE_HDR_OPT_CB` on every received segment outside SYN_SENT,
//!   SYN_RECV and the request socket when the flags ask for it (with the real header);
//! * **timeouts**: smoltcp's retransmission timer is private, so a retransmission smoltcp
//!   sends from [`NetHost::poll`] (a timer poll: no segment arrived) is taken as a timeout,
//!   and `RTO_CB` runs before its `RETRANS_CB`, once per poll, as `tcp_write_timeout` does
//!   (args: timeouts since the last acknowledgment of new data, the timeout that fired in
//!   jiffies — the time since the segment was last sent —, 0).
//!
//! After every op the options programs set are applied to the smoltcp socket ([`options`]).
//! The model (`sockops-ctx`) decides every return code; the bridge never changes one.
//!
//! | option | how it is applied |
//! |---|---|
//! | `TCP_NODELAY` | smoltcp `set_nagle_enabled(!nodelay)` |
//! | `TCP_CONGESTION` | smoltcp `set_congestion_control`: `reno` → Reno, `cubic` → Cubic. The default available list is `reno cubic`, so any other name already fails with -ENOENT in the model; a name added to `net.ipv4.tcp_available_congestion_control` by a sysctl succeeds in the model and is reported model only |
//! | `TCP_BPF_DELACK_MAX` | smoltcp `set_ack_delay` (the jiffies value, in µs) |
//! | `SO_KEEPALIVE`, `TCP_KEEPIDLE` | smoltcp `set_keep_alive(idle time)` while SO_KEEPALIVE is on |
//! | `TCP_USER_TIMEOUT` | smoltcp `set_timeout` (0: none) |
//! | `SO_SNDBUF`, `SO_RCVBUF` | size of the smoltcp socket's buffers (the doubled value) when set before the socket is created (client: ops 3, 2, 1, 6; server: the listener's `TCP_LISTEN_CB`); model only after. Unlocked sizes use `tcp_wmem[2]` / `tcp_rmem[2]` (the autotuning ceiling); at most 64 MiB ([`host::MAX_BUFFER`]) |
//! | `RWND_INIT` reply | receive buffer shrunk to reply × MSS (smoltcp advertises its free receive buffer, so this caps the window for the whole connection, not only the first) |
//! | `IP_TOS` (IPv4), `IPV6_TCLASS` (IPv6) | written into every outgoing segment's IP header by the device wrapper (IPv4 header checksum recomputed) |
//! | `IP_TOS` on an IPv6 socket | model only (it affects IPv4-mapped traffic only) |
//! | `IP_TTL`, `IPV6_UNICAST_HOPS` | not settable from sock_ops: the kernel's `bpf_setsockopt` answers -EINVAL, so smoltcp's `set_hop_limit` is never reached |
//! | `TIMEOUT_INIT` reply (SYN RTO) | model only: smoltcp's SYN RTO is fixed (kept in [`Connection::syn_rto_jiffies`]) |
//! | `NEEDS_ECN` reply | model only: smoltcp does not negotiate ECN (kept in [`Connection::ecn_requested`]) |
//! | `TCP_BPF_IW`, `TCP_BPF_SNDCWND_CLAMP` | model only: smoltcp's congestion window is private |
//! | `TCP_BPF_RTO_MIN`, `TCP_RTO_MAX_MS`, `TCP_SYNCNT`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`, `TCP_THIN_LINEAR_TIMEOUTS` | model only: smoltcp's timers are fixed |
//! | `TCP_WINDOW_CLAMP`, `TCP_MAXSEG`, `TCP_NOTSENT_LOWAT` | model only |
//! | `TCP_SAVE_SYN` | the bridge saves the real SYN's headers for the accepted socket (`TCP_SAVED_SYN`, `TCP_BPF_SYN*` read them); nothing in smoltcp |
//! | `TCP_BPF_SOCK_OPS_CB_FLAGS` | gates the ops the bridge delivers; nothing in smoltcp |
//! | `SO_REUSEADDR`, `SO_REUSEPORT`, `SO_PRIORITY`, `SO_MARK`, `SO_RCVLOWAT`, `SO_MAX_PACING_RATE`, `SO_BINDTOIFINDEX`, `SO_BINDTODEVICE`, `SO_TXREHASH`, `SK_BPF_CB_FLAGS`, `IPV6_AUTOFLOWLABEL` | model only |
//! | header options (`bpf_reserve_hdr_opt`, `bpf_store_hdr_opt`) | not delivered: `HDR_OPT_LEN_CB` and `WRITE_HDR_OPT_CB` need a hook in smoltcp's segment builder, which it does not have (`PARSE_HDR_OPT_CB` only reads the received header and is delivered) |
//!
//! Every option a program set is listed by [`Connection::options`] with `applied` true or
//! false, so nothing is silently dropped.
//!
//! What smoltcp could not do: expose its congestion window or RTO (`snd_cwnd`/`snd_ssthresh`
//! keep the model's values; timeouts are inferred as above), take a SYN RTO, initial window,
//! RTO bounds or window clamp, negotiate ECN, add BPF header options to its segments, give up
//! after a retry count (`RTO_CB`'s third arg is always 0), or report intermediate states inside
//! one poll (a segment carrying both the ACK of our FIN and the peer's FIN moves FIN_WAIT1
//! straight to TIME_WAIT; the bridge reports what it observed). TIME_WAIT is reported as the
//! kernel's full socket sees it: `STATE_CB(old, CLOSE)` (`tcp_time_wait` hands TIME_WAIT to a
//! timewait socket). TX timestamping ops (16-20) and `BASE_RTT` (only `tcp_nv` calls it) are
//! not delivered.
//!
//! ```
//! use sockops::cgroup::AttachFlags;
//! use sockops::ctx::{SockOp, Sysctls};
//! use sockops::net::{HostConfig, NetHost};
//! use sockops::runtime::{Engine, Runtime};
//!
//! let mut rt = Runtime::new();
//! let obj = rt.load_object_file("examples/simulate/net_tuning.o").unwrap();
//! let prog = rt.load_program(obj, None, Engine::Interpreter).unwrap();
//! rt.attach(prog, "/", AttachFlags::None).unwrap();
//! let host = |address: &str, seed| HostConfig {
//!     address: address.parse().unwrap(),
//!     mtu: 1500,
//!     cgroup: "/".into(),
//!     sysctls: Sysctls::default(),
//!     random_seed: seed,
//! };
//! let mut client = NetHost::new(host("10.0.0.1", 1)).unwrap();
//! let mut server = NetHost::new(host("10.0.0.2", 2)).unwrap();
//! server.listen(&mut rt, 8443).unwrap();
//! let conn = client.connect(&mut rt, 49152, "10.0.0.2:8443".parse().unwrap()).unwrap();
//! // A lossless link without delay: hand frames over until both sides are quiet.
//! for _ in 0..10 {
//!     for frame in client.take_transmitted() {
//!         server.receive(&mut rt, frame).unwrap();
//!     }
//!     for frame in server.take_transmitted() {
//!         client.receive(&mut rt, frame).unwrap();
//!     }
//! }
//! let c = client.connection(conn).unwrap();
//! assert!(c.established_us.is_some());
//! assert_eq!(c.op_count(SockOp::ActiveEstablishedCb), 1);
//! // The program turned Nagle off for port 8443, and smoltcp applied it.
//! assert!(!client.tcp_socket(conn).unwrap().nagle_enabled());
//! assert!(c.options().iter().any(|o| o.name == "TCP_NODELAY" && o.applied));
//! ```

pub mod connection;
pub mod device;
pub mod host;
pub mod options;
pub mod sim;
pub mod tracker;
pub mod wire;

pub use connection::{ConnId, Connection, HostConfig, NetError, OpEvent, Role, SentSegment};
pub use host::{IPV4_MIN_MTU, IPV6_MIN_MTU, MAX_BUFFER, NetHost};
pub use options::{Application, OptionReport};
