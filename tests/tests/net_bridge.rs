//! The smoltcp bridge's public API without the simulator: two [`NetHost`]s handing frames to
//! each other directly. What a program sets reaches the wire (IP_TOS rewritten into every
//! segment, checksums still valid since smoltcp verifies them) and smoltcp (buffer sizes at
//! creation, congestion control); the accepted socket reads the real SYN it was opened with;
//! the metrics agree with the frames seen; misuse is a typed error.

use std::path::{Path, PathBuf};

use sockops::cgroup::AttachFlags;
use sockops::ctx::{SockOp, Sysctls, TcpState};
use sockops::net::wire::parse;
use sockops::net::{HostConfig, NetError, NetHost};
use sockops::runtime::{Engine, Runtime};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn host(address: &str, seed: u64) -> NetHost {
    NetHost::new(HostConfig {
        address: address.parse().unwrap(),
        mtu: 1500,
        cgroup: "/".into(),
        sysctls: Sysctls::default(),
        random_seed: seed,
    })
    .unwrap()
}

/// Hands frames back and forth without delay; when both hosts are quiet the clock moves on
/// 10 ms (delayed ACKs fire) until nothing more happens. Returns every frame each sent.
fn exchange(rt: &mut Runtime, a: &mut NetHost, b: &mut NetHost) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    let mut quiet = 0;
    for _ in 0..1000 {
        let (fa, fb) = (a.take_transmitted(), b.take_transmitted());
        if fa.is_empty() && fb.is_empty() {
            quiet += 1;
            if quiet > 3 {
                break;
            }
            let now = a.now_us() + 10_000;
            a.set_now(now);
            b.set_now(now);
            a.poll(rt).unwrap();
            b.poll(rt).unwrap();
            continue;
        }
        quiet = 0;
        for f in fa {
            from_a.push(f.clone());
            b.receive(rt, f).unwrap();
        }
        for f in fb {
            from_b.push(f.clone());
            a.receive(rt, f).unwrap();
        }
    }
    (from_a, from_b)
}

fn map_i64(rt: &Runtime, map: &str, index: usize) -> i64 {
    let (_, m) = rt.maps().find(|(_, m)| m.name() == map).unwrap();
    let v = &m.entries()[index].1;
    i64::from_le_bytes(v[..8].try_into().unwrap())
}

#[test]
fn tos_reaches_the_wire_and_the_accepted_socket_reads_the_real_syn() {
    for engine in [Engine::Interpreter, Engine::Jit] {
        let mut rt = Runtime::new();
        let obj = rt
            .load_object_file(examples().join("simulate/net_tuning.o"))
            .unwrap();
        let prog = rt.load_program(obj, None, engine).unwrap();
        rt.attach(prog, "/", AttachFlags::None).unwrap();
        let (mut client, mut server) = (host("10.0.0.1", 1), host("10.0.0.2", 2));
        server.listen(&mut rt, 9000).unwrap();
        let id = client
            .connect(&mut rt, 40000, "10.0.0.2:9000".parse().unwrap())
            .unwrap();
        let (sent, answered) = exchange(&mut rt, &mut client, &mut server);
        let syn = parse(&sent[0]).unwrap();
        assert_eq!(syn.flags & 0x12, 0x02, "the first frame is the SYN");
        // The program set IP_TOS 0x20 in TCP_CONNECT_CB, before the SYN left.
        assert!(sent.iter().all(|f| parse(f).unwrap().traffic_class == 0x20));
        assert!(
            answered
                .iter()
                .all(|f| parse(f).unwrap().traffic_class == 0)
        );
        let c = client.connection(id).unwrap();
        assert_eq!(c.model.state, TcpState::Established);
        assert_eq!(c.op_count(SockOp::ActiveEstablishedCb), 1);
        assert!(c.options().iter().any(|o| o.name == "IP_TOS" && o.applied));
        // Metrics from the wire agree with the frames.
        assert_eq!(c.model.tcp.segs_out as usize, sent.len());
        assert_eq!(c.model.tcp.segs_in as usize, answered.len());
        let synack = parse(&answered[0]).unwrap();
        assert_eq!(c.model.tcp.snd_una, syn.seq.wrapping_add(1));
        assert_eq!(c.model.tcp.rcv_nxt, synack.seq.wrapping_add(1));
        assert_eq!(c.model.tcp.mss_cache, 1460);
        // TCP_BPF_SYN in PASSIVE_ESTABLISHED_CB: the length of the SYN's real TCP header.
        assert_eq!(map_i64(&rt, "results", 2), syn.tcp_header_len as i64);
        let s = &server.connections()[0];
        assert_eq!(
            s.model.saved_syn.as_ref().unwrap().tcp_hdrlen,
            syn.tcp_header_len
        );
        assert_eq!(server.listener_ops().len(), 1);
        // Data flows and is counted.
        let n = client.send(&mut rt, id, &[7; 3000]).unwrap();
        assert_eq!(n, 3000);
        exchange(&mut rt, &mut client, &mut server);
        let sid = server
            .find(9000, "10.0.0.1:40000".parse().unwrap())
            .unwrap();
        assert_eq!(server.recv(&mut rt, sid).unwrap(), 3000);
        assert_eq!(
            server.connection(sid).unwrap().model.tcp.bytes_received,
            3000
        );
        assert_eq!(client.connection(id).unwrap().model.tcp.bytes_acked, 3000);
    }
}

#[test]
fn buffer_sizes_and_congestion_set_before_creation_are_applied() {
    let mut rt = Runtime::new();
    let obj = rt
        .load_object_file(examples().join("tcp_tuning.o"))
        .unwrap();
    for section in ["sockops", "sockops/cc"] {
        let prog = rt
            .load_program(obj, Some(section), Engine::Interpreter)
            .unwrap();
        rt.attach(prog, "/", AttachFlags::Multi).unwrap();
    }
    let (mut client, mut server) = (host("10.0.0.1", 3), host("10.0.0.2", 4));
    server.listen(&mut rt, 443).unwrap();
    let id = client
        .connect(&mut rt, 40001, "10.0.0.2:443".parse().unwrap())
        .unwrap();
    exchange(&mut rt, &mut client, &mut server);
    let c = client.connection(id).unwrap();
    let tcp = client.tcp_socket(id).unwrap();
    // SO_SNDBUF / SO_RCVBUF (doubled and clamped by the model) size smoltcp's buffers.
    assert!(c.model.options.sndbuf_locked);
    assert_eq!(tcp.send_capacity(), c.model.options.sndbuf as usize);
    assert_eq!(tcp.recv_capacity(), c.model.options.rcvbuf as usize);
    for name in ["SO_SNDBUF", "SO_RCVBUF", "TCP_CONGESTION"] {
        assert!(
            c.options().iter().any(|o| o.name == name && o.applied),
            "{name}"
        );
    }
    assert_eq!(
        sockops::net::options::congestion_name(tcp.congestion_control()),
        "reno"
    );
    // The server's socket inherited the listener's buffers (set in TCP_LISTEN_CB).
    let s = &server.connections()[0];
    assert_eq!(s.model.state, TcpState::Established);
    let stcp = server.tcp_socket(sockops::net::ConnId(0)).unwrap();
    assert_eq!(stcp.send_capacity(), s.model.options.sndbuf as usize);
}

#[test]
fn misuse_is_a_typed_error() {
    let small = NetHost::new(HostConfig {
        address: "10.0.0.1".parse().unwrap(),
        mtu: 67,
        cgroup: "/".into(),
        sysctls: Sysctls::default(),
        random_seed: 0,
    });
    assert!(matches!(small, Err(NetError::MtuTooSmall { min: 68, .. })));
    let mut rt = Runtime::new();
    let mut h = host("10.0.0.1", 0);
    let e = h
        .connect(&mut rt, 1, "[2001:db8::2]:80".parse().unwrap())
        .unwrap_err();
    assert!(matches!(e, NetError::Family { .. }), "{e}");
    assert!(matches!(h.listen(&mut rt, 0), Err(NetError::PortZero)));
    let e = h
        .connect(&mut rt, 0, "10.0.0.2:80".parse().unwrap())
        .unwrap_err();
    assert!(matches!(e, NetError::PortZero), "{e}");
    h.listen(&mut rt, 80).unwrap();
    assert!(matches!(
        h.listen(&mut rt, 80),
        Err(NetError::AlreadyListening(80))
    ));
    assert!(matches!(
        h.send(&mut rt, sockops::net::ConnId(5), b"x"),
        Err(NetError::UnknownConnection(5))
    ));
}

#[test]
fn a_lost_syn_ack_is_retransmitted_without_ops_on_the_request_socket() {
    let mut rt = Runtime::new();
    let obj = rt
        .load_object_file(examples().join("simulate/net_tuning.o"))
        .unwrap();
    let prog = rt.load_program(obj, None, Engine::Jit).unwrap();
    rt.attach(prog, "/", AttachFlags::None).unwrap();
    let (mut client, mut server) = (host("10.0.0.1", 5), host("10.0.0.2", 6));
    server.listen(&mut rt, 9000).unwrap();
    let id = client
        .connect(&mut rt, 40002, "10.0.0.2:9000".parse().unwrap())
        .unwrap();
    for f in client.take_transmitted() {
        server.receive(&mut rt, f).unwrap();
    }
    let lost = server.take_transmitted();
    assert_eq!(lost.len(), 1, "the SYN-ACK, dropped");
    // Both timers fire: the client resends its SYN, the server its SYN-ACK.
    for h in [&mut client, &mut server] {
        h.set_now(3_000_000);
        h.poll(&mut rt).unwrap();
    }
    let s = &server.connections()[0];
    assert_eq!(s.retransmits, 1);
    assert_eq!(s.model.state, TcpState::NewSynRecv);
    assert!(
        s.ops
            .iter()
            .all(|e| !matches!(e.op, SockOp::RetransCb | SockOp::RtoCb))
    );
    // The client's socket is full: its SYN timeout runs RTO_CB (0 timeouts before, the
    // 1 s initial RTO = 250 jiffies at least), then RETRANS_CB for the SYN.
    let c = client.connection(id).unwrap();
    let ops: Vec<(SockOp, u32)> = c
        .ops
        .iter()
        .filter(|e| e.enabled)
        .map(|e| (e.op, e.args[0]))
        .collect();
    let n = ops.len();
    assert_eq!(ops[n - 2].0, SockOp::RtoCb);
    assert_eq!(ops[n - 2].1, 0);
    assert!(c.ops[n - 2].args[1] >= 250, "{:?}", c.ops[n - 2].args);
    assert_eq!(ops[n - 1].0, SockOp::RetransCb);
    assert_eq!(c.model.tcp.icsk_retransmits, 1);
    // The handshake then completes and acknowledged data resets the timeout count.
    let (_, _) = exchange(&mut rt, &mut client, &mut server);
    let c = client.connection(id).unwrap();
    assert_eq!(c.model.state, TcpState::Established);
    assert_eq!(c.model.tcp.icsk_retransmits, 0);
}
