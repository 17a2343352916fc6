//! Building the context (byte order, guards, reply aliasing, write-back) and calling the
//! helpers through a `HelperEnv`, with expected values from SOCK_OPS.md.

use std::net::SocketAddr;

use sockops_ctx::context::tcp_flags;
use sockops_ctx::helpers::id;
use sockops_ctx::sockopt::level::*;
use sockops_ctx::sockopt::optname::*;
use sockops_ctx::{
    OpContext, OpInput, SavedSyn, Segment, SockOp, SockOpsEnv, Socket, sock_ops_helper_table,
};
use sockops_vm::{HelperEnv, HelperTable, Memory, Region, RegionKind};

fn v4() -> Socket {
    Socket::new(
        "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:42789".parse().unwrap(),
    )
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

#[test]
fn ports_and_addresses_in_the_kernels_byte_order() {
    let s = v4();
    let c = OpContext::build(&s, OpInput::new(SockOp::TimeoutInit));
    let b = c.ctx_bytes();
    assert_eq!(u32_at(&b, 0), 1);
    assert_eq!(u32_at(&b, 20), 2); // AF_INET, host order
    assert_eq!(u32_at(&b, 24), u32::from_ne_bytes([10, 0, 0, 2])); // remote_ip4, network order
    assert_eq!(u32_at(&b, 28), u32::from_ne_bytes([10, 0, 0, 1]));
    // IPv4 sockets show the v4-mapped address in the ip6 fields.
    assert_eq!(u32_at(&b, 32), 0);
    assert_eq!(u32_at(&b, 40), u32::from_ne_bytes([0, 0, 0xff, 0xff]));
    assert_eq!(u32_at(&b, 44), u32::from_ne_bytes([10, 0, 0, 2]));
    // Port 42789 = 0xa725 reads 0x25a70000 on little-endian; local port is host order.
    if cfg!(target_endian = "little") {
        assert_eq!(u32_at(&b, 64), 0x25a7_0000);
    }
    assert_eq!(
        u32_at(&b, 64).swap_bytes() as u16,
        42789u16.to_be().swap_bytes()
    );
    assert_eq!(u32_at(&b, 68), 40000);
    assert_eq!(u32_at(&b, 72), 1);
    assert_eq!(u32_at(&b, 76), 10); // snd_cwnd
    assert_eq!(u32_at(&b, 92), u32::MAX); // rtt_min before a sample
    assert_ne!(u64_at(&b, 184), 0); // sk
    assert_eq!(u64_at(&b, 192), 0); // no skb
    assert_eq!(u32_at(&b, 208), 0);
}

#[test]
fn request_socket_guards_give_zero() {
    let mut r = Socket::request(
        "10.0.0.1:443".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
    );
    r.tcp.snd_cwnd = 10;
    let c = OpContext::build(&r, OpInput::new(SockOp::TimeoutInit));
    let b = c.ctx_bytes();
    assert_eq!(u32_at(&b, 72), 0); // is_fullsock
    assert_eq!(u32_at(&b, 76), 0); // snd_cwnd (L)
    assert_eq!(u32_at(&b, 88), 12); // state NEW_SYN_RECV
    assert_eq!(u32_at(&b, 92), 0); // rtt_min
    assert_eq!(u64_at(&b, 184), 0); // sk NULL
    assert_eq!(u32_at(&b, 20), 2); // family still valid
    assert_eq!(u32_at(&b, 68), 443);
}

#[test]
fn tstamp_ops_are_full_but_not_locked() {
    let mut s = v4();
    s.tcp.rtt_min = 47;
    s.cb_flags = 0x7f;
    let input = OpInput::new(SockOp::TstampSendmsgCb)
        .with_segment(Segment::flags_only(tcp_flags::ACK, 5000));
    let c = OpContext::build(&s, input);
    let b = c.ctx_bytes();
    assert_eq!(u32_at(&b, 72), 1);
    assert_ne!(u64_at(&b, 184), 0);
    assert_eq!(u32_at(&b, 76), 0); // snd_cwnd reads 0
    assert_eq!(u32_at(&b, 84), 0); // cb flags read 0
    assert_eq!(u32_at(&b, 92), 47); // rtt_min still real
    assert_eq!(u32_at(&b, 208), 5000);
    assert_eq!(u32_at(&b, 212), 0x10);
    assert_eq!(u64_at(&b, 192), u64_at(&b, 200), "nothing readable");
}

#[test]
fn skb_ops_expose_the_tcp_header_and_reply_aliases_args0() {
    let s = v4();
    let seg = Segment::synthetic(
        &s,
        true,
        tcp_flags::ACK,
        &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        0,
    );
    assert_eq!(seg.header.len(), 32);
    let c = OpContext::build(
        &s,
        OpInput::new(SockOp::PassiveEstablishedCb).with_segment(seg),
    );
    let b = c.ctx_bytes();
    assert_eq!(u64_at(&b, 200) - u64_at(&b, 192), 32);
    assert_eq!(u32_at(&b, 208), 32);
    assert_eq!(c.packet_view()[..2], 42789u16.to_be_bytes()); // incoming: src = remote
    let st = OpContext::build(&s, OpInput::new(SockOp::StateCb).with_args(&[2, 1]));
    assert_eq!(st.ctx_u32(4), 2, "reply reads args[0] (old state)");
}

#[test]
fn txhash_write_back_only_when_locked() {
    let mut s = v4();
    let c = OpContext::build(&s, OpInput::new(SockOp::TcpConnectCb));
    // Simulate the program's stores: reply and sk_txhash.
    let mut mem = Memory::new();
    // SAFETY: `c` outlives `mem`.
    unsafe { c.add_regions(&mut mem) };
    mem.store(c.ctx_addr() + 4, 4, 7).unwrap();
    mem.store(c.ctx_addr() + 164, 4, 0x1234_5678).unwrap();
    let wb = c.finish(&mut s);
    assert_eq!(wb.reply, 7);
    assert_eq!(s.tcp.sk_txhash, 0x1234_5678);
    let mut r = Socket::request(
        "10.0.0.1:443".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
    );
    let before = r.tcp.sk_txhash;
    let c = OpContext::build(&r, OpInput::new(SockOp::TimeoutInit));
    let mut mem = Memory::new();
    // SAFETY: `c` outlives `mem`.
    unsafe { c.add_regions(&mut mem) };
    mem.store(c.ctx_addr() + 164, 4, 0x1234_5678).unwrap();
    c.finish(&mut r);
    assert_eq!(r.tcp.sk_txhash, before, "dropped on a request socket");
}

/// A helper-call harness: the env, a 512-byte "stack" and the run's memory.
struct Harness {
    env: SockOpsEnv,
    stack: Box<[u8; 512]>,
    table: HelperTable,
}

impl Harness {
    fn new(socket: Socket, input: OpInput) -> Harness {
        Harness {
            env: SockOpsEnv::new(socket, input),
            stack: Box::new([0; 512]),
            table: sock_ops_helper_table(),
        }
    }

    fn stack_addr(&self) -> u64 {
        self.stack.as_ptr() as u64
    }

    fn memory(&mut self) -> Memory {
        let mut m = Memory::new();
        // SAFETY: the env and the stack live as long as the harness, which outlives each
        // Memory built here (used within one `call`).
        unsafe {
            self.env.add_regions(&mut m);
            m.add(Region {
                start: self.stack.as_mut_ptr() as u64,
                len: 512,
                writable: true,
                kind: RegionKind::Stack,
            });
        }
        m
    }

    fn write_stack(&mut self, off: usize, bytes: &[u8]) {
        self.stack[off..off + bytes.len()].copy_from_slice(bytes);
    }

    fn call(&mut self, id: u32, args: [u64; 5]) -> i64 {
        let mut memory = self.memory();
        let func = self.table.get(id).expect("registered").func;
        let mut env = HelperEnv {
            memory: &mut memory,
            maps: &[],
            payload: &mut self.env,
            tail_call: None,
        };
        func(&mut env, args).expect("helper ran") as i64
    }
}

#[test]
fn setsockopt_and_getsockopt_through_guest_memory() {
    let mut h = Harness::new(v4(), OpInput::new(SockOp::TcpConnectCb));
    let ctx = h.env.ctx_addr();
    let buf = h.stack_addr();
    h.write_stack(0, &65536i32.to_ne_bytes());
    assert_eq!(
        h.call(
            id::SETSOCKOPT,
            [ctx, SOL_SOCKET as u64, SO_SNDBUF as u64, buf, 4]
        ),
        0
    );
    h.write_stack(0, &[0xaa; 8]);
    assert_eq!(
        h.call(
            id::GETSOCKOPT,
            [ctx, SOL_SOCKET as u64, SO_SNDBUF as u64, buf, 8]
        ),
        -22
    );
    assert_eq!(&h.stack[..8], &[0; 8]);
    assert_eq!(
        h.call(
            id::GETSOCKOPT,
            [ctx, SOL_SOCKET as u64, SO_SNDBUF as u64, buf, 4]
        ),
        0
    );
    assert_eq!(i32::from_ne_bytes(h.stack[..4].try_into().unwrap()), 131072);
    // TCP_BPF_IW changes snd_cwnd, and later ctx loads see it.
    h.write_stack(0, &40i32.to_ne_bytes());
    assert_eq!(
        h.call(
            id::SETSOCKOPT,
            [ctx, SOL_TCP as u64, TCP_BPF_IW as u64, buf, 4]
        ),
        0
    );
    assert_eq!(h.env.context.ctx_u32(76), 40);
    let log: Vec<_> = h
        .env
        .calls
        .iter()
        .map(|c| (c.name, c.ret, c.sockopt))
        .collect();
    assert_eq!(log[0], ("bpf_setsockopt", 0, Some((SOL_SOCKET, SO_SNDBUF))));
    assert_eq!(
        log[1],
        ("bpf_getsockopt", -22, Some((SOL_SOCKET, SO_SNDBUF)))
    );
    assert_eq!(log.len(), 4);
}

#[test]
fn cb_flags_set_masks_and_returns_rejected_bits() {
    let mut h = Harness::new(v4(), OpInput::new(SockOp::TcpConnectCb));
    let ctx = h.env.ctx_addr();
    assert_eq!(
        h.call(id::SOCK_OPS_CB_FLAGS_SET, [ctx, 0xff, 0, 0, 0]),
        0x80
    );
    assert_eq!(h.env.socket.cb_flags, 0x7f);
    assert_eq!(h.env.context.ctx_u32(84), 0x7f);
    assert_eq!(h.call(id::SOCK_OPS_CB_FLAGS_SET, [ctx, 0x08, 0, 0, 0]), 0);
    assert_eq!(h.env.socket.cb_flags, 0x08);
    let r = Socket::request(
        "10.0.0.1:443".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
    );
    let mut h = Harness::new(r, OpInput::new(SockOp::TimeoutInit));
    let ctx = h.env.ctx_addr();
    assert_eq!(h.call(id::SOCK_OPS_CB_FLAGS_SET, [ctx, 0xff, 0, 0, 0]), -22);
    let mut h = Harness::new(v4(), OpInput::new(SockOp::TstampSendmsgCb));
    let ctx = h.env.ctx_addr();
    assert_eq!(h.call(id::SOCK_OPS_CB_FLAGS_SET, [ctx, 0xff, 0, 0, 0]), -95);
}

#[test]
fn cookies_prandom_and_clock() {
    let mut h = Harness::new(v4(), OpInput::new(SockOp::TcpConnectCb));
    let ctx = h.env.ctx_addr();
    let cookie = h.env.socket.cookie;
    assert_ne!(cookie, 0);
    assert_eq!(
        h.call(id::GET_SOCKET_COOKIE, [ctx, 0, 0, 0, 0]) as u64,
        cookie
    );
    assert_eq!(h.call(id::GET_NETNS_COOKIE, [0; 5]), 1);
    h.env.prng = sockops_ctx::Prng::new(7);
    let a = h.call(id::GET_PRANDOM_U32, [0; 5]);
    let b = h.call(id::GET_PRANDOM_U32, [0; 5]);
    let mut p = sockops_ctx::Prng::new(7);
    assert_eq!((a as u32, b as u32), (p.next_u32(), p.next_u32()));
    h.env.clock = sockops_ctx::Clock {
        monotonic_ns: 12_006_000,
        boot_offset_ns: 5,
        tai_offset_ns: 100,
        step_ns: 0,
    };
    assert_eq!(h.call(id::KTIME_GET_NS, [0; 5]), 12_006_000);
    assert_eq!(h.call(id::KTIME_GET_BOOT_NS, [0; 5]), 12_006_005);
    assert_eq!(h.call(id::KTIME_GET_TAI_NS, [0; 5]), 12_006_100);
    assert_eq!(h.call(id::KTIME_GET_COARSE_NS, [0; 5]), 12_000_000); // 4 ms jiffies at HZ 250
}

#[test]
fn trace_printk_formats_and_captures() {
    let mut h = Harness::new(v4(), OpInput::new(SockOp::TcpConnectCb));
    let base = h.stack_addr();
    h.write_stack(0, b"op %d port %u hash %x %s!\0");
    h.write_stack(100, b"hi\0");
    let n = h.call(id::TRACE_PRINTK, [base, 27, (-3i64) as u64, 443, 0xbeef]);
    // Only three args: %s has no fourth; the kernel refuses the format.
    assert_eq!(n, -22);
    h.write_stack(0, b"op %d port %5u %s\0");
    let n = h.call(
        id::TRACE_PRINTK,
        [base, 19, (-3i64) as u64, 443, base + 100],
    );
    assert_eq!(h.env.trace.last().unwrap(), "op -3 port   443 hi");
    assert_eq!(n, 19);
    h.write_stack(0, b"no nul");
    assert_eq!(h.call(id::TRACE_PRINTK, [base, 6, 0, 0, 0]), -22);
}

#[test]
fn header_options_reserve_store_load() {
    let s = v4();
    // Op 14: reserve 6 bytes of the 40 - 12 (timestamps) = 28 free.
    let seg = Segment::synthetic(
        &s,
        false,
        tcp_flags::ACK,
        &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        0,
    );
    let mut h = Harness::new(
        s.clone(),
        OpInput::new(SockOp::HdrOptLenCb).with_segment(seg.clone()),
    );
    let ctx = h.env.ctx_addr();
    assert_eq!(h.call(id::RESERVE_HDR_OPT, [ctx, 6, 0, 0, 0]), 0);
    assert_eq!(h.call(id::RESERVE_HDR_OPT, [ctx, 1, 0, 0, 0]), -22);
    assert_eq!(h.call(id::RESERVE_HDR_OPT, [ctx, 4, 1, 0, 0]), -22);
    assert_eq!(h.call(id::RESERVE_HDR_OPT, [ctx, 100, 0, 0, 0]), -28);
    assert_eq!(
        h.call(id::STORE_HDR_OPT, [ctx, h.stack_addr(), 4, 0, 0]),
        -1
    );
    let wb = h.env.finish();
    assert_eq!(wb.hdr_opt_reserved, Some(8), "rounded up to 4");

    // Op 15 with 8 reserved bytes: a second 6-byte option no longer fits (ENOSPC is
    // checked before duplicates).
    let mut input = OpInput::new(SockOp::WriteHdrOptCb).with_segment(seg.clone());
    input.hdr_opt_space = Some(8);
    let mut h = Harness::new(s.clone(), input);
    let ctx = h.env.ctx_addr();
    let buf = h.stack_addr();
    h.write_stack(0, &[254, 6, 0xeb, 0x9f, 0xab, 0xcd]);
    assert_eq!(h.call(id::STORE_HDR_OPT, [ctx, buf, 6, 0, 0]), 0);
    assert_eq!(h.call(id::STORE_HDR_OPT, [ctx, buf, 6, 0, 0]), -28);
    let wb = h.env.finish();
    assert_eq!(
        wb.hdr_opt_written,
        Some(vec![254, 6, 0xeb, 0x9f, 0xab, 0xcd, 1, 1])
    );

    // With 16 reserved bytes the duplicate is found: EEXIST.
    let mut input = OpInput::new(SockOp::WriteHdrOptCb).with_segment(seg);
    input.hdr_opt_space = Some(16);
    let mut h = Harness::new(s, input);
    let ctx = h.env.ctx_addr();
    let buf = h.stack_addr();
    h.write_stack(0, &[254, 6, 0xeb, 0x9f, 0xab, 0xcd]);
    assert_eq!(h.call(id::STORE_HDR_OPT, [ctx, buf, 6, 0, 0]), 0);
    assert_eq!(h.call(id::STORE_HDR_OPT, [ctx, buf, 6, 0, 0]), -17);
    assert_eq!(h.call(id::RESERVE_HDR_OPT, [ctx, 4, 0, 0, 0]), -1);
    // Load it back by kind 254 + 2-byte magic.
    h.write_stack(64, &[254, 4, 0xeb, 0x9f, 0, 0, 0, 0]);
    assert_eq!(h.call(id::LOAD_HDR_OPT, [ctx, buf + 64, 8, 0, 0]), 6);
    assert_eq!(&h.stack[64..70], &[254, 6, 0xeb, 0x9f, 0xab, 0xcd]);
    // Search kind 8 (timestamps) needs search length 0.
    h.write_stack(64, &[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(h.call(id::LOAD_HDR_OPT, [ctx, buf + 64, 12, 0, 0]), 10);
    h.write_stack(64, &[8, 0, 0, 0]);
    assert_eq!(h.call(id::LOAD_HDR_OPT, [ctx, buf + 64, 4, 0, 0]), -28);
    h.write_stack(64, &[1, 0]);
    assert_eq!(h.call(id::LOAD_HDR_OPT, [ctx, buf + 64, 2, 0, 0]), -22);
    h.write_stack(64, &[30, 0]);
    assert_eq!(h.call(id::LOAD_HDR_OPT, [ctx, buf + 64, 2, 0, 0]), -42);
    let wb = h.env.finish();
    let mut expect = vec![254, 6, 0xeb, 0x9f, 0xab, 0xcd];
    expect.resize(16, 1);
    assert_eq!(wb.hdr_opt_written, Some(expect));
}

#[test]
fn load_hdr_opt_refusals_by_op() {
    let mut s = v4();
    let mut h = Harness::new(s.clone(), OpInput::new(SockOp::TcpConnectCb));
    let ctx = h.env.ctx_addr();
    let buf = h.stack_addr();
    h.write_stack(0, &[2, 0, 0, 0]);
    assert_eq!(
        h.call(id::LOAD_HDR_OPT, [ctx, buf, 4, 0, 0]),
        -1,
        "no skb: EPERM"
    );
    assert_eq!(
        h.call(id::LOAD_HDR_OPT, [ctx, buf, 4, 1, 0]),
        -2,
        "SYN flag, nothing saved"
    );
    s.saved_syn = Some(SavedSyn::synthesize(&s, false));
    let mut h = Harness::new(s, OpInput::new(SockOp::TcpConnectCb));
    let ctx = h.env.ctx_addr();
    let buf = h.stack_addr();
    h.write_stack(0, &[2, 0, 0, 0]);
    assert_eq!(
        h.call(id::LOAD_HDR_OPT, [ctx, buf, 4, 1, 0]),
        4,
        "MSS option of the saved SYN"
    );
    assert_eq!(&h.stack[..4], &[2, 4, 0xff, 0xd7]);
    let mut h = Harness::new(v4(), OpInput::new(SockOp::TstampAckCb));
    let ctx = h.env.ctx_addr();
    assert_eq!(
        h.call(id::LOAD_HDR_OPT, [ctx, h.stack_addr(), 4, 0, 0]),
        -95
    );
}
