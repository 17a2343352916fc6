//! Arbitrary worlds to run generated programs in: sockets (IPv4 or IPv6 addresses and
//! ports, full or request socket, TCP state, every metric, callback flags), op inputs (any
//! op with arbitrary args) and map contents, all drawn from fuzzer bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Arbitrary, Unstructured};
use sockops_ctx::ops::cb_flags;
use sockops_ctx::{OpInput, SockOp, Socket};
use sockops_vm::Map;

/// An address of the family `v6` chooses.
fn address(u: &mut Unstructured<'_>, v6: bool) -> SocketAddr {
    let port = u16::arbitrary(u).unwrap_or(443);
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(u128::arbitrary(u).unwrap_or(1)))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::arbitrary(u).unwrap_or(0x0a00_0001)))
    };
    SocketAddr::new(ip, port)
}

/// A socket drawn from `u`: family, addresses, full or request, metrics, callback flags.
pub fn socket(u: &mut Unstructured<'_>) -> Socket {
    let v6 = bool::arbitrary(u).unwrap_or(false);
    let (local, remote) = (address(u, v6), address(u, v6));
    let mut socket = if u.ratio(1, 8).unwrap_or(false) {
        Socket::request(local, remote)
    } else {
        Socket::new(local, remote)
    };
    socket.cb_flags = if u.ratio(3, 4).unwrap_or(true) {
        cb_flags::ALL
    } else {
        u32::arbitrary(u).unwrap_or(0) & cb_flags::ALL
    };
    let m = &mut socket.tcp;
    for field in [
        &mut m.snd_cwnd,
        &mut m.srtt_us,
        &mut m.rtt_min,
        &mut m.snd_ssthresh,
        &mut m.rcv_nxt,
        &mut m.snd_nxt,
        &mut m.snd_una,
        &mut m.mss_cache,
        &mut m.packets_out,
        &mut m.retrans_out,
        &mut m.total_retrans,
        &mut m.segs_in,
        &mut m.segs_out,
        &mut m.sk_txhash,
    ] {
        if u.ratio(1, 4).unwrap_or(false) {
            *field = u32::arbitrary(u).unwrap_or(0);
        }
    }
    if u.ratio(1, 4).unwrap_or(false) {
        m.bytes_received = u64::arbitrary(u).unwrap_or(0);
        m.bytes_acked = u64::arbitrary(u).unwrap_or(0);
    }
    socket
}

/// Every op the kernel calls, in a fixed order.
pub const OPS: [SockOp; 16] = [
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
    SockOp::TstampSendmsgCb,
];

/// The op inputs of one run: every op of [`OPS`] (one run in eight), or one to six of
/// them in an order `u` chooses; each with arbitrary args.
pub fn op_inputs(u: &mut Unstructured<'_>) -> Vec<OpInput> {
    let every = u.ratio(1, 8).unwrap_or(true);
    let ops: Vec<SockOp> = if every {
        OPS.to_vec()
    } else {
        (0..1 + u.int_in_range(0..=5).unwrap_or(0))
            .map(|_| OPS[u.choose_index(OPS.len()).unwrap_or(0)])
            .collect()
    };
    ops.into_iter()
        .map(|op| {
            let mut args = [0u32; 4];
            for a in args.iter_mut() {
                if u.ratio(1, 3).unwrap_or(false) {
                    *a = u32::arbitrary(u).unwrap_or(0);
                }
            }
            OpInput::new(op).with_args(&args)
        })
        .collect()
}

/// Fills some entries of each map with arbitrary keys and values (errors such as a full map
/// are ignored: the map stays as it is).
pub fn fill_maps(u: &mut Unstructured<'_>, maps: &[std::sync::Arc<Map>]) {
    for map in maps {
        let def = map.def();
        for _ in 0..u.int_in_range(0..=3).unwrap_or(0) {
            let key: Vec<u8> = (0..def.key_size)
                .map(|_| u8::arbitrary(u).unwrap_or(0) % 4)
                .collect();
            let value: Vec<u8> = (0..def.value_size)
                .map(|_| u8::arbitrary(u).unwrap_or(0))
                .collect();
            let _ = map.update(&key, &value, 0);
        }
    }
}
