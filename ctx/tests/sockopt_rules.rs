//! bpf_setsockopt / bpf_getsockopt rules of SOCK_OPS.md §6, expected values from the spec.

use std::net::SocketAddr;

use sockops_ctx::sockopt::level::*;
use sockops_ctx::sockopt::optname::*;
use sockops_ctx::sockopt::{OptionValue, bpf_getsockopt, bpf_setsockopt, options_report};
use sockops_ctx::{SavedSyn, SockOp, Socket};

const EINVAL: i64 = -22;

fn v4() -> Socket {
    Socket::new(
        "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
    )
}

fn v6() -> Socket {
    let mut s = Socket::new(
        "[2001:db8::1]:40000".parse().unwrap(),
        "[2001:db8::2]:443".parse().unwrap(),
    );
    s.v6only = true; // as after bind() to a specific IPv6 address
    s
}

fn set_int(s: &mut Socket, level: i32, opt: i32, v: i32) -> i64 {
    bpf_setsockopt(s, SockOp::TcpConnectCb, level, opt, &v.to_ne_bytes())
}

fn get_int(s: &Socket, level: i32, opt: i32) -> (i64, i32) {
    let mut buf = [0xaau8; 4];
    let r = bpf_getsockopt(s, SockOp::TcpConnectCb, level, opt, &mut buf);
    (r, i32::from_ne_bytes(buf))
}

#[test]
fn sndbuf_and_rcvbuf_read_back_doubled_and_clamped() {
    let mut s = v4();
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_SNDBUF, 65536), 0);
    assert_eq!(get_int(&s, SOL_SOCKET, SO_SNDBUF), (0, 131072));
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_RCVBUF, 65536), 0);
    assert_eq!(get_int(&s, SOL_SOCKET, SO_RCVBUF), (0, 131072));
    s.sysctl.wmem_max = 200_000;
    s.sysctl.rmem_max = 100_000;
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_SNDBUF, 1 << 30), 0);
    assert_eq!(get_int(&s, SOL_SOCKET, SO_SNDBUF), (0, 400_000));
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_RCVBUF, -1), 0); // u32 max, clamped
    assert_eq!(get_int(&s, SOL_SOCKET, SO_RCVBUF), (0, 200_000));
    // Lower bounds: SOCK_MIN_SNDBUF = 4608, SOCK_MIN_RCVBUF = 2304.
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_SNDBUF, 1), 0);
    assert_eq!(get_int(&s, SOL_SOCKET, SO_SNDBUF), (0, 4608));
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_RCVBUF, 0), 0);
    assert_eq!(get_int(&s, SOL_SOCKET, SO_RCVBUF), (0, 2304));
}

#[test]
fn wrong_optlen_and_unknown_options_are_einval() {
    let mut s = v4();
    assert_eq!(
        bpf_setsockopt(&mut s, SockOp::TcpConnectCb, SOL_SOCKET, SO_SNDBUF, &[0; 8]),
        EINVAL
    );
    assert_eq!(set_int(&mut s, SOL_SOCKET, 13 /* SO_LINGER */, 1), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, 11 /* TCP_INFO */, 1), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, 12 /* TCP_QUICKACK */, 1), EINVAL);
    assert_eq!(set_int(&mut s, SOL_IP, 2 /* IP_TTL */, 1), EINVAL);
    assert_eq!(set_int(&mut s, 99, 1, 1), EINVAL);
    let mut buf = [0xaau8; 8];
    assert_eq!(
        bpf_getsockopt(&s, SockOp::TcpConnectCb, SOL_SOCKET, SO_SNDBUF, &mut buf),
        EINVAL
    );
    assert_eq!(buf, [0; 8], "a failed get zeroes the whole buffer");
}

#[test]
fn tstamp_ops_are_eopnotsupp_and_leave_the_buffer() {
    let mut s = v4();
    for op in [SockOp::TstampSchedCb, SockOp::TstampSendmsgCb] {
        assert_eq!(
            bpf_setsockopt(&mut s, op, SOL_TCP, TCP_NODELAY, &1i32.to_ne_bytes()),
            -95
        );
        let mut buf = [0xaau8; 4];
        assert_eq!(bpf_getsockopt(&s, op, SOL_SOCKET, SO_MARK, &mut buf), -95);
        assert_eq!(buf, [0xaa; 4]);
    }
}

#[test]
fn request_sockets_are_einval_except_the_syn_path() {
    let mut r = Socket::request(
        "10.0.0.1:443".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
    );
    assert_eq!(
        bpf_setsockopt(
            &mut r,
            SockOp::TimeoutInit,
            SOL_SOCKET,
            SO_MARK,
            &1i32.to_ne_bytes()
        ),
        EINVAL
    );
    let mut buf = [0u8; 64];
    // No SYN: the SYN path runs (ENOENT), not the request-sock EINVAL.
    assert_eq!(
        bpf_getsockopt(&r, SockOp::HdrOptLenCb, SOL_TCP, TCP_BPF_SYN, &mut buf),
        -2
    );
    r.saved_syn = Some(SavedSyn::synthesize(&r, false));
    assert_eq!(
        bpf_getsockopt(&r, SockOp::HdrOptLenCb, SOL_TCP, TCP_BPF_SYN, &mut buf),
        40
    );
}

#[test]
fn congestion_control_names() {
    let mut s = v4();
    let set = |s: &mut Socket, name: &[u8]| {
        bpf_setsockopt(s, SockOp::TcpConnectCb, SOL_TCP, TCP_CONGESTION, name)
    };
    assert_eq!(set(&mut s, b"reno\0"), 0);
    assert_eq!(set(&mut s, b"cdg\0"), -524);
    assert_eq!(set(&mut s, b"cdg"), -524);
    assert_eq!(set(&mut s, b"nosuch\0"), -2);
    assert_eq!(set(&mut s, b"r"), EINVAL);
    let mut buf = [0xaau8; 16];
    assert_eq!(
        bpf_getsockopt(&s, SockOp::TcpConnectCb, SOL_TCP, TCP_CONGESTION, &mut buf),
        0
    );
    assert_eq!(&buf[..5], b"reno\0");
    assert!(buf[5..].iter().all(|&b| b == 0));
    assert_eq!(set(&mut s, b"cubic\0"), 0);
    let mut small = [0xaau8; 4];
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::TcpConnectCb,
            SOL_TCP,
            TCP_CONGESTION,
            &mut small
        ),
        0
    );
    assert_eq!(&small, b"cub\0", "truncated to optlen-1 and NUL-terminated");
    let mut one = [0xaau8; 1];
    assert_eq!(
        bpf_getsockopt(&s, SockOp::TcpConnectCb, SOL_TCP, TCP_CONGESTION, &mut one),
        EINVAL
    );
    assert_eq!(one, [0]);
}

#[test]
fn jiffies_rounding_of_rto_min_and_delack_max() {
    let mut s = v4();
    // 50000 us = 12.5 jiffies at HZ 250 -> 13 jiffies -> 52000 us.
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_RTO_MIN, 50_000), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_RTO_MIN), (0, 52_000));
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_DELACK_MAX, 40_000), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_DELACK_MAX), (0, 40_000));
    // Upper bound 200 ms, lower bound 2 jiffies.
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_RTO_MIN, 1_000_000), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_RTO_MIN, 200_000), 0);
    assert_eq!(
        set_int(&mut s, SOL_TCP, TCP_BPF_DELACK_MAX, 1_000_000),
        EINVAL
    );
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_DELACK_MAX, 4000), EINVAL); // 1 jiffy
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_DELACK_MAX, 4001), 0); // rounds up to 2
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_DELACK_MAX), (0, 8000));
    // At HZ 1000 the same 50000 us is exact.
    s.sysctl.hz = 1000;
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_RTO_MIN, 50_000), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_RTO_MIN), (0, 50_000));
}

#[test]
fn initial_window_only_before_data_and_cwnd_clamp_sets_ssthresh() {
    let mut s = v4();
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_IW, 40), 0);
    assert_eq!(s.tcp.snd_cwnd, 40);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_IW, 0), EINVAL);
    s.tcp.data_segs_out = 1;
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_IW, 20), EINVAL);
    s.syn_data = true; // Fast Open: one data segment in the SYN is allowed
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_IW, 20), 0);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_SNDCWND_CLAMP, 100), 0);
    assert_eq!(s.tcp.snd_ssthresh, 100);
    assert_eq!(s.options.snd_cwnd_clamp, 100);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_SNDCWND_CLAMP, 0), EINVAL);
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_IW).0, EINVAL);
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_SNDCWND_CLAMP).0, EINVAL);
}

#[test]
fn cb_flags_option_rejects_out_of_range_bits() {
    let mut s = v4();
    assert_eq!(
        set_int(&mut s, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, 0x80),
        EINVAL
    );
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, 0x7f), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS), (0, 0x7f));
    assert_eq!(set_int(&mut s, SOL_SOCKET, SK_BPF_CB_FLAGS, 2), EINVAL);
    assert_eq!(set_int(&mut s, SOL_SOCKET, SK_BPF_CB_FLAGS, 1), 0);
}

#[test]
fn tcp_int_option_ranges() {
    let mut s = v4();
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_MAXSEG, 10), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_MAXSEG, 1400), 0);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_KEEPIDLE, 0), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_KEEPIDLE, 60), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_KEEPIDLE), (0, 60));
    assert_eq!(get_int(&s, SOL_TCP, TCP_KEEPINTVL), (0, 75)); // sysctl default
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_KEEPCNT, 128), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_SYNCNT, 3), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_SYNCNT), (0, 3));
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_RTO_MAX_MS, 500), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_RTO_MAX_MS, 120_000), 0);
    assert_eq!(get_int(&s, SOL_TCP, TCP_RTO_MAX_MS), (0, 120_000));
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_SAVE_SYN, 3), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_SAVED_SYN, 1), -92);
    assert_eq!(set_int(&mut s, SOL_SOCKET, SO_TXREHASH, 2), EINVAL);
    assert_eq!(set_int(&mut s, SOL_TCP, TCP_BPF_SYN, 1), EINVAL);
}

#[test]
fn ip_and_ipv6_levels_follow_the_family() {
    let mut s4 = v4();
    assert_eq!(set_int(&mut s4, SOL_IP, IP_TOS, 0x10), 0);
    assert_eq!(get_int(&s4, SOL_IP, IP_TOS), (0, 0x10));
    // A TOS change also sets sk_priority: rt_tos2priority(0x10) = TC_PRIO_INTERACTIVE (6).
    assert_eq!(get_int(&s4, SOL_SOCKET, SO_PRIORITY), (0, 6));
    assert_eq!(set_int(&mut s4, SOL_SOCKET, SO_PRIORITY, 3), 0);
    assert_eq!(set_int(&mut s4, SOL_IP, IP_TOS, 0x10), 0); // unchanged TOS: priority stays
    assert_eq!(get_int(&s4, SOL_SOCKET, SO_PRIORITY), (0, 3));
    let mut s6_any = Socket::new(
        "[2001:db8::1]:40000".parse().unwrap(),
        "[2001:db8::2]:443".parse().unwrap(),
    );
    assert!(!s6_any.v6only);
    assert_eq!(set_int(&mut s6_any, SOL_IP, IP_TOS, 0x10), 0);
    assert_eq!(set_int(&mut s4, SOL_IPV6, IPV6_TCLASS, 0x10), EINVAL);
    let mut s6 = v6();
    assert_eq!(set_int(&mut s6, SOL_IP, IP_TOS, 0x10), EINVAL);
    assert_eq!(set_int(&mut s6, SOL_IPV6, IPV6_TCLASS, 0x10), 0);
    assert_eq!(get_int(&s6, SOL_IPV6, IPV6_TCLASS), (0, 0x10));
    assert_eq!(get_int(&s6, SOL_IPV6, IPV6_AUTOFLOWLABEL), (0, 1));
    let mut mapped = Socket::new(
        "[::ffff:127.0.0.1]:1000".parse().unwrap(),
        "[::ffff:127.0.0.1]:2000".parse().unwrap(),
    );
    assert!(!mapped.v6only);
    assert_eq!(set_int(&mut mapped, SOL_IP, IP_TOS, 0x10), 0);
    assert_eq!(set_int(&mut mapped, SOL_IPV6, IPV6_TCLASS, 0x10), 0);
}

#[test]
fn bind_to_device_is_set_only() {
    let mut s = v4();
    assert_eq!(
        bpf_setsockopt(
            &mut s,
            SockOp::TcpConnectCb,
            SOL_SOCKET,
            SO_BINDTODEVICE,
            b"lo\0"
        ),
        0
    );
    assert_eq!(get_int(&s, SOL_SOCKET, SO_BINDTOIFINDEX), (0, 1));
    assert_eq!(get_int(&s, SOL_SOCKET, SO_BINDTODEVICE).0, EINVAL);
    assert_eq!(
        bpf_setsockopt(
            &mut s,
            SockOp::TcpConnectCb,
            SOL_SOCKET,
            SO_BINDTODEVICE,
            b"nope0\0"
        ),
        -19
    );
    let report = options_report(&s);
    assert!(report.contains(&("SO_BINDTODEVICE", OptionValue::Str("lo".into()))));
}

#[test]
fn saved_syn_lengths() {
    let mut s = v4();
    let mut buf = [0u8; 64];
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_BPF_SYN,
            &mut buf
        ),
        -2
    );
    s.saved_syn = Some(SavedSyn::synthesize(&s, false));
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_BPF_SYN,
            &mut buf
        ),
        40
    );
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_BPF_SYN_IP,
            &mut buf
        ),
        60
    );
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_BPF_SYN_MAC,
            &mut buf
        ),
        -2
    );
    let mut small = [0u8; 8];
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_BPF_SYN,
            &mut small
        ),
        -28
    );
    // TCP header starts with the SYN's source port = the remote port 443.
    assert_eq!(&small[..2], &443u16.to_be_bytes());
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_SAVED_SYN,
            &mut small
        ),
        0
    );
    assert_eq!(small[0], 0x45, "starts at the IPv4 header");
    assert_eq!(
        bpf_getsockopt(
            &s,
            SockOp::PassiveEstablishedCb,
            SOL_TCP,
            TCP_SAVED_SYN,
            &mut buf
        ),
        EINVAL
    );
}

/// `SavedSyn::of_peer`: the peer's TOS lands in the IPv4 header's second byte, its traffic
/// class across the IPv6 header's first two; the options are padded with NOPs to a multiple
/// of 4 and the data offset counts them; the MAC header only precedes them.
#[test]
fn a_peer_syn_carries_its_tos_and_options() {
    let s = v4();
    let syn = SavedSyn::of_peer(&s, false, 0x28, &[2, 4, 5, 0xb4, 4, 2]);
    assert_eq!(
        (syn.mac_hdrlen, syn.network_hdrlen, syn.tcp_hdrlen),
        (0, 20, 28)
    );
    assert_eq!(syn.data[1], 0x28);
    let tcp = &syn.data[20..];
    assert_eq!(tcp[12] >> 4, 7, "data offset in words");
    assert_eq!(tcp[13], 0x02, "SYN");
    assert_eq!(&tcp[20..], &[2, 4, 5, 0xb4, 4, 2, 1, 1]);
    // The IPv4 total length counts the TCP header.
    assert_eq!(u16::from_be_bytes([syn.data[2], syn.data[3]]), 48);

    let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    let peer: SocketAddr = "[2001:db8::2]:40000".parse().unwrap();
    let s6 = Socket::new(v6, peer);
    let syn = SavedSyn::of_peer(&s6, true, 0xb8, &[]);
    assert_eq!(
        (syn.mac_hdrlen, syn.network_hdrlen, syn.tcp_hdrlen),
        (14, 40, 20)
    );
    let ip = &syn.data[14..];
    assert_eq!(ip[0], 0x6b);
    assert_eq!(ip[1] & 0xf0, 0x80);
    assert_eq!((ip[0] & 0x0f) << 4 | ip[1] >> 4, 0xb8);
    // Payload length = the TCP header.
    assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 20);
    // Defaults are what `synthesize` saves.
    assert_eq!(
        SavedSyn::of_peer(&s, false, 0, &SavedSyn::DEFAULT_OPTIONS),
        SavedSyn::synthesize(&s, false)
    );
}
