//! `struct bpf_tcp_sock` and bpf_tcp_sock (96). Expected values from include/uapi/linux/bpf.h
//! (field order and types: 20 u32, 2 u64 at 80 and 88, 5 u32 from 96, sizeof 120) and
//! net/core/filter.c (`bpf_tcp_sock`: the socket if it is a full TCP socket, else NULL;
//! `bpf_tcp_sock_is_valid_access`: inside `offsetofend(is_mptcp)` = 116, aligned, 8 bytes at
//! bytes_received/bytes_acked, 4 bytes elsewhere).

mod support;

use sockops_ctx::helpers::id;
use sockops_ctx::optnames::optname::TCP_BPF_SNDCWND_CLAMP;
use sockops_ctx::tcp_sock::{BPF_TCP_SOCK_FIELDS, BPF_TCP_SOCK_SIZE, BpfTcpSock};
use sockops_ctx::{SockOp, check_tcp_sock_access};
use sockops_vm::Access;
use support::{Run, request_socket, socket};

/// The uapi field list: (name, offset, size).
const UAPI: &[(&str, u32, u32)] = &[
    ("snd_cwnd", 0, 4),
    ("srtt_us", 4, 4),
    ("rtt_min", 8, 4),
    ("snd_ssthresh", 12, 4),
    ("rcv_nxt", 16, 4),
    ("snd_nxt", 20, 4),
    ("snd_una", 24, 4),
    ("mss_cache", 28, 4),
    ("ecn_flags", 32, 4),
    ("rate_delivered", 36, 4),
    ("rate_interval_us", 40, 4),
    ("packets_out", 44, 4),
    ("retrans_out", 48, 4),
    ("total_retrans", 52, 4),
    ("segs_in", 56, 4),
    ("data_segs_in", 60, 4),
    ("segs_out", 64, 4),
    ("data_segs_out", 68, 4),
    ("lost_out", 72, 4),
    ("sacked_out", 76, 4),
    ("bytes_received", 80, 8),
    ("bytes_acked", 88, 8),
    ("dsack_dups", 96, 4),
    ("delivered", 100, 4),
    ("delivered_ce", 104, 4),
    ("icsk_retransmits", 108, 4),
    ("is_mptcp", 112, 4),
];

#[test]
fn field_table_is_the_uapi_layout() {
    assert_eq!(BPF_TCP_SOCK_SIZE, 120);
    let table: Vec<(&str, u32, u32)> = BPF_TCP_SOCK_FIELDS
        .iter()
        .map(|f| (f.name, f.offset, f.size))
        .collect();
    assert_eq!(table, UAPI);
    assert!(
        BPF_TCP_SOCK_FIELDS
            .iter()
            .all(|f| f.readable && !f.writable)
    );
}

#[test]
fn access_rule() {
    for &(name, off, size) in UAPI {
        let f = check_tcp_sock_access(i64::from(off), size).unwrap();
        assert_eq!(f.name, name);
        // Narrow loads are never allowed; neither are wide loads of u32 fields.
        for s in [1, 2] {
            assert!(
                check_tcp_sock_access(i64::from(off), s).is_err(),
                "{name} size {s}"
            );
        }
        if size == 4 && off % 8 == 0 {
            assert!(
                check_tcp_sock_access(i64::from(off), 8).is_err(),
                "{name} size 8"
            );
        }
    }
    // Halves of the u64 fields, misalignment, out of range.
    for (off, size) in [
        (84, 4),
        (92, 4),
        (80, 4),
        (88, 4),
        (2, 4),
        (116, 4),
        (120, 4),
        (-4, 4),
    ] {
        let e = check_tcp_sock_access(off, size).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("invalid tcp_sock access off={off} size={size}")
        );
    }
}

fn metrics_socket() -> sockops_ctx::Socket {
    let mut s = socket();
    for (i, &(name, _, _)) in UAPI.iter().enumerate() {
        if name == "is_mptcp" {
            continue;
        }
        s.set_field(name, 100 + i as u64).unwrap();
    }
    s
}

fn read_u32(r: &Run, addr: u64, off: u32) -> u32 {
    r.memory.load(addr + u64::from(off), 4).unwrap() as u32
}

#[test]
fn helper_returns_the_socket_view() {
    let s = metrics_socket();
    let mut r = Run::new(s, SockOp::RttCb, vec![]);
    let sk = r.env.sk_addr();
    assert_ne!(sk, 0);
    let tp = r.call(id::TCP_SOCK, [sk, 0, 0, 0, 0]) as u64;
    assert_ne!(tp, 0);
    for (i, &(name, off, size)) in UAPI.iter().enumerate() {
        let want = if name == "is_mptcp" {
            0
        } else {
            100 + i as u64
        };
        let got = r.memory.load(tp + u64::from(off), u64::from(size)).unwrap();
        assert_eq!(got, want, "{name}");
    }
    // Read-only for the program.
    assert!(r.memory.check(tp, 4, Access::Write).is_err());
    assert!(r.memory.check(tp, 116, Access::Read).is_ok());
    // A tcp_sock pointer is a sock_common too: the same view comes back.
    assert_eq!(r.call(id::TCP_SOCK, [tp, 0, 0, 0, 0]) as u64, tp);
    assert_eq!(r.env.tcp_sock_addr(), tp);
    // The log shows 1 for a non-NULL pointer, never the address.
    let last = r.env.calls.last().unwrap();
    assert_eq!((last.name, last.ret), ("bpf_tcp_sock", 1));
}

#[test]
fn view_follows_helper_changes_to_the_socket() {
    let mut r = Run::new(socket(), SockOp::ActiveEstablishedCb, vec![]);
    let sk = r.env.sk_addr();
    let tp = r.call(id::TCP_SOCK, [sk, 0, 0, 0, 0]) as u64;
    assert_eq!(read_u32(&r, tp, 0), 10, "default snd_cwnd");
    // TCP_BPF_SNDCWND_CLAMP sets snd_cwnd_clamp and snd_ssthresh (SOCK_OPS.md §6.2).
    r.put(0, &77i32.to_ne_bytes());
    let (ctx, val) = (r.env.ctx_addr(), r.stack_addr(0));
    let ret = r.call(
        id::SETSOCKOPT,
        [ctx, 6, u64::from(TCP_BPF_SNDCWND_CLAMP as u32), val, 4],
    );
    assert_eq!(ret, 0);
    assert_eq!(
        read_u32(&r, tp, 12),
        77,
        "snd_ssthresh seen through tcp_sock"
    );
}

#[test]
fn null_cases() {
    // NULL pointer, a pointer that is not this run's socket (the context, a stack slot).
    let mut r = Run::new(socket(), SockOp::RttCb, vec![]);
    let (ctx, stack) = (r.env.ctx_addr(), r.stack_addr(0));
    for p in [0, ctx, stack, 0x1000] {
        assert_eq!(r.call(id::TCP_SOCK, [p, 0, 0, 0, 0]), 0, "{p:#x}");
    }
    assert_eq!(r.env.calls.last().unwrap().ret, 0);
    // A request socket has no ctx->sk; nothing the program can pass gets a tcp_sock.
    let mut r = Run::new(request_socket(), SockOp::TimeoutInit, vec![]);
    assert_eq!(r.env.sk_addr(), 0);
    assert_eq!(r.call(id::TCP_SOCK, [0, 0, 0, 0, 0]), 0);
    assert_eq!(r.env.tcp_sock_addr(), 0);
}

#[test]
fn struct_to_bytes_matches_offsets() {
    let v = BpfTcpSock {
        snd_cwnd: 1,
        bytes_received: 0x1122_3344_5566_7788,
        bytes_acked: 9,
        icsk_retransmits: 3,
        is_mptcp: 0,
        ..BpfTcpSock::default()
    };
    let b = v.to_bytes();
    assert_eq!(b[0..4], 1u32.to_ne_bytes());
    assert_eq!(b[80..88], 0x1122_3344_5566_7788u64.to_ne_bytes());
    assert_eq!(b[88..96], 9u64.to_ne_bytes());
    assert_eq!(b[108..112], 3u32.to_ne_bytes());
    assert_eq!(b[116..120], [0; 4], "padding");
}
