//! Replays `shared/spec/sock_ops_live_results.json` (per-op snapshots recorded on the live
//! 6.18 kernel over loopback connections): the bpf_setsockopt / bpf_getsockopt return codes
//! and buffer bytes, `bpf_sock_ops_cb_flags_set(0xff)`, and the ctx guards / byte order,
//! through `SockOpsEnv` and the registered helpers. Skipped when ../shared is absent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sockops_ctx::context::tcp_flags;
use sockops_ctx::helpers::id;
use sockops_ctx::{OpInput, SavedSyn, Segment, SockOp, SockOpsEnv, Socket, sock_ops_helper_table};
use sockops_vm::{HelperEnv, HelperTable, Memory, Region, RegionKind};

fn int(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// (level, optname, optval) of each setsockopt probe, by the probe's key.
fn set_probe(key: &str) -> (i32, i32, Vec<u8>) {
    match key {
        "SO_REUSEADDR=1" => (1, 2, int(1)),
        "SO_KEEPALIVE=1" => (1, 9, int(1)),
        "SO_SNDBUF=65536" => (1, 7, int(65536)),
        "SO_RCVBUF=65536" => (1, 8, int(65536)),
        "SO_PRIORITY=3" => (1, 12, int(3)),
        "SO_REUSEPORT=1" => (1, 15, int(1)),
        "SO_RCVLOWAT=1" => (1, 18, int(1)),
        "SO_MARK=0x1234" => (1, 36, int(0x1234)),
        "SO_MAX_PACING_RATE=1e9" => (1, 47, int(1_000_000_000)),
        "SO_BINDTOIFINDEX=1(lo)" => (1, 62, int(1)),
        "SO_TXREHASH=1" => (1, 74, int(1)),
        "SO_TXREHASH=2(bad)" => (1, 74, int(2)),
        "SO_BINDTODEVICE='lo'" => (1, 25, b"lo\0".to_vec()),
        "SK_BPF_CB_FLAGS=1" => (1, 1009, int(1)),
        "SK_BPF_CB_FLAGS=2(bad)" => (1, 1009, int(2)),
        "SO_SNDBUF optlen=8(bad)" => (1, 7, vec![0, 0, 1, 0, 0, 0, 0, 0]),
        "SO_LINGER(unsupported)" => (1, 13, vec![0; 8]),
        "SO_RCVTIMEO_OLD(unsupported)" => (1, 20, vec![0; 16]),
        "SO_BROADCAST(unsupported)" => (1, 6, int(1)),
        "TCP_NODELAY=1" => (6, 1, int(1)),
        "TCP_MAXSEG=1400" => (6, 2, int(1400)),
        "TCP_MAXSEG=10(bad)" => (6, 2, int(10)),
        "TCP_KEEPIDLE=60" => (6, 4, int(60)),
        "TCP_KEEPIDLE=0(bad)" => (6, 4, int(0)),
        "TCP_KEEPINTVL=10" => (6, 5, int(10)),
        "TCP_KEEPCNT=5" => (6, 6, int(5)),
        "TCP_SYNCNT=3" => (6, 7, int(3)),
        "TCP_WINDOW_CLAMP=65535" => (6, 10, int(65535)),
        "TCP_THIN_LINEAR_TIMEOUTS=0" => (6, 16, int(0)),
        "TCP_USER_TIMEOUT=10000" => (6, 18, int(10000)),
        "TCP_NOTSENT_LOWAT=16384" => (6, 25, int(16384)),
        "TCP_SAVE_SYN=1" => (6, 27, int(1)),
        "TCP_RTO_MAX_MS=120000" => (6, 44, int(120_000)),
        "TCP_RTO_MAX_MS=500(bad)" => (6, 44, int(500)),
        "TCP_CONGESTION='reno'" => (6, 13, b"reno\0".to_vec()),
        "TCP_CONGESTION='cdg'" => (6, 13, b"cdg\0".to_vec()),
        "TCP_CONGESTION='nosuch'" => (6, 13, b"nosuch\0".to_vec()),
        "TCP_CONGESTION optlen=1(bad)" => (6, 13, b"r".to_vec()),
        "TCP_CONGESTION='cubic'" => (6, 13, b"cubic\0".to_vec()),
        "TCP_BPF_IW=10" => (6, 1001, int(10)),
        "TCP_BPF_IW=0(bad)" => (6, 1001, int(0)),
        "TCP_BPF_SNDCWND_CLAMP=100" => (6, 1002, int(100)),
        "TCP_BPF_SNDCWND_CLAMP=0(bad)" => (6, 1002, int(0)),
        "TCP_BPF_DELACK_MAX=40000us" => (6, 1003, int(40_000)),
        "TCP_BPF_DELACK_MAX=1000000us(bad)" => (6, 1003, int(1_000_000)),
        "TCP_BPF_RTO_MIN=50000us" => (6, 1004, int(50_000)),
        "TCP_BPF_RTO_MIN=1000000us(bad)" => (6, 1004, int(1_000_000)),
        "TCP_BPF_SYN(set)" => (6, 1005, int(1)),
        "TCP_SAVED_SYN(set)" => (6, 28, int(1)),
        "TCP_BPF_SOCK_OPS_CB_FLAGS=0x7f" => (6, 1008, int(0x7f)),
        "TCP_BPF_SOCK_OPS_CB_FLAGS=0x80(bad)" => (6, 1008, int(0x80)),
        "TCP_BPF_SOCK_OPS_CB_FLAGS=0" => (6, 1008, int(0)),
        "TCP_INFO(unsupported)" => (6, 11, int(0)),
        "TCP_QUICKACK(unsupported)" => (6, 12, int(1)),
        "TCP_CORK(unsupported)" => (6, 3, int(1)),
        "TCP_NODELAY optlen=8(bad)" => (6, 1, vec![1, 0, 0, 0, 0, 0, 0, 0]),
        "IP_TOS=0x10" => (0, 1, int(0x10)),
        "IP_TTL(unsupported)" => (0, 2, int(64)),
        "IPV6_TCLASS=0x10" => (41, 67, int(0x10)),
        "IPV6_AUTOFLOWLABEL=1" => (41, 70, int(1)),
        "IPV6_UNICAST_HOPS(unsupported)" => (41, 16, int(64)),
        "level=99(bad)" => (99, 1, int(1)),
        other => panic!("unknown setsockopt probe {other}"),
    }
}

/// (level, optname, optlen) of each getsockopt probe.
fn get_probe(key: &str) -> (i32, i32, usize) {
    match key {
        "SO_SNDBUF" => (1, 7, 4),
        "SO_RCVBUF" => (1, 8, 4),
        "SO_MARK" => (1, 36, 4),
        "SO_PRIORITY" => (1, 12, 4),
        "SO_KEEPALIVE" => (1, 9, 4),
        "SO_REUSEADDR" => (1, 2, 4),
        "SO_REUSEPORT" => (1, 15, 4),
        "SO_RCVLOWAT" => (1, 18, 4),
        "SO_MAX_PACING_RATE" => (1, 47, 4),
        "SO_BINDTOIFINDEX" => (1, 62, 4),
        "SO_TXREHASH" => (1, 74, 4),
        "SO_BINDTODEVICE" => (1, 25, 8),
        "SK_BPF_CB_FLAGS" => (1, 1009, 4),
        "SO_TYPE(unsupported)" => (1, 3, 4),
        "SO_SNDBUF optlen=8(bad)" => (1, 7, 8),
        "TCP_NODELAY" => (6, 1, 4),
        "TCP_MAXSEG" => (6, 2, 4),
        "TCP_KEEPIDLE" => (6, 4, 4),
        "TCP_KEEPINTVL" => (6, 5, 4),
        "TCP_KEEPCNT" => (6, 6, 4),
        "TCP_SYNCNT" => (6, 7, 4),
        "TCP_WINDOW_CLAMP" => (6, 10, 4),
        "TCP_USER_TIMEOUT" => (6, 18, 4),
        "TCP_NOTSENT_LOWAT" => (6, 25, 4),
        "TCP_SAVE_SYN" => (6, 27, 4),
        "TCP_RTO_MAX_MS" => (6, 44, 4),
        "TCP_THIN_LINEAR_TIMEOUTS" => (6, 16, 4),
        "TCP_CONGESTION(16)" => (6, 13, 16),
        "TCP_CONGESTION(1)(bad)" => (6, 13, 1),
        "TCP_BPF_SOCK_OPS_CB_FLAGS" => (6, 1008, 4),
        "TCP_BPF_RTO_MIN" => (6, 1004, 4),
        "TCP_BPF_DELACK_MAX" => (6, 1003, 4),
        "TCP_BPF_IW(get)" => (6, 1001, 4),
        "TCP_BPF_SNDCWND_CLAMP(get)" => (6, 1002, 4),
        "TCP_BPF_SYN(64)" => (6, 1005, 64),
        "TCP_BPF_SYN(8)" => (6, 1005, 8),
        "TCP_BPF_SYN_IP(64)" => (6, 1006, 64),
        "TCP_BPF_SYN_MAC(64)" => (6, 1007, 64),
        "TCP_SAVED_SYN(8)" => (6, 28, 8),
        "TCP_SAVED_SYN(64)(> saved len)" => (6, 28, 64),
        "TCP_INFO(unsupported)" => (6, 11, 4),
        "IP_TOS" => (0, 1, 4),
        "IPV6_TCLASS" => (41, 67, 4),
        "IPV6_AUTOFLOWLABEL" => (41, 70, 4),
        other => panic!("unknown getsockopt probe {other}"),
    }
}

/// A JSON document that keeps object key order (the probes ran in file order).
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Other,
}

impl Ordered {
    fn keys_at(&self, path: &[&str]) -> Vec<String> {
        let mut cur = self;
        for p in path {
            let Ordered::Object(entries) = cur else {
                return Vec::new();
            };
            match entries.iter().find(|(k, _)| k == p) {
                Some((_, v)) => cur = v,
                None => return Vec::new(),
            }
        }
        match cur {
            Ordered::Object(entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
            Ordered::Other => Vec::new(),
        }
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = m.next_entry::<String, Ordered>()? {
            entries.push((k, v));
        }
        Ok(Ordered::Object(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Ordered, A::Error> {
        while s.next_element::<Ordered>()?.is_some() {}
        Ok(Ordered::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

fn port_of(remote_port_field: u64) -> u16 {
    u16::from_be_bytes(((remote_port_field >> 16) as u16).to_ne_bytes())
}

/// The socket the snapshot was taken on, rebuilt from its family, addresses, state and the
/// facts the kernel's connection setup implies (see the comments).
fn socket_for(family: &str, op: SockOp, full: bool, snap: &Value) -> Socket {
    let n = |k: &str| snap[k].as_u64().unwrap();
    let ip = |word3_key: &str| -> IpAddr {
        match family {
            "ipv4" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "ipv6_v4mapped" => IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            _ if n(word3_key) == 0 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    };
    let listener_on_any = family == "ipv6_v4mapped" && op == SockOp::TcpListenCb;
    let local_ip = if listener_on_any {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        ip("local_ip6_3")
    };
    let local = SocketAddr::new(local_ip, n("local_port") as u16);
    let remote = if op == SockOp::TcpListenCb {
        SocketAddr::new(
            if family == "ipv4" {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            },
            0,
        )
    } else {
        SocketAddr::new(ip("remote_ip6_3"), port_of(n("remote_port")))
    };
    let mut s = if full {
        Socket::new(local, remote)
    } else {
        Socket::request(local, remote)
    };
    // Client sockets: ops 1-4, 6, 10, 12-14, 20 on a full socket. Server side: the
    // listener (11), its request socks and the passive child (5). The probe's server bound
    // ::1 (v6-only); its "ipv6_client_v6only" client set IPV6_V6ONLY too.
    let server_side = !full || matches!(op, SockOp::TcpListenCb | SockOp::PassiveEstablishedCb);
    s.v6only = match family {
        "ipv6" => server_side,
        "ipv6_client_v6only" => true,
        _ => false,
    };
    // The probe already ran on earlier ops of the same socket (the client's first op is 3,
    // the child inherits the listener's options): IP_TOS is 0x10 there, so setting it again
    // does not change sk_priority.
    if full && !matches!(op, SockOp::TcpConnectCb | SockOp::TcpListenCb) {
        s.options.tos = 0x10;
    }
    s.set_field("state", n("state")).unwrap();
    if full {
        for f in [
            "mss_cache",
            "data_segs_out",
            "snd_cwnd",
            "rtt_min",
            "srtt_us",
        ] {
            s.set_field(f, n(f)).unwrap();
        }
        s.set_field("snd_cwnd", 10).unwrap();
    }
    // The probe's listener set TCP_SAVE_SYN=1, so the request sock records the SYN (without
    // MAC) after RWND_INIT ran (tcp_conn_request calls tcp_openreq_init_rwin before
    // tcp_reqsk_record_syn), the passive child keeps it, and HDR_OPT_LEN_CB for the SYN-ACK
    // sees the whole received skb (with its MAC header) as syn_skb.
    let syn = match (full, op) {
        (false, SockOp::TimeoutInit | SockOp::NeedsEcn) => Some(false),
        (false, SockOp::HdrOptLenCb) => Some(true),
        (true, SockOp::PassiveEstablishedCb) => Some(false),
        _ => None,
    };
    if let Some(with_mac) = syn {
        s.saved_syn = Some(SavedSyn::synthesize(&s, with_mac));
    }
    s
}

struct Run {
    env: SockOpsEnv,
    stack: Box<[u8; 256]>,
    table: HelperTable,
}

impl Run {
    fn call(&mut self, id: u32, args: [u64; 5]) -> i64 {
        let mut memory = Memory::new();
        // SAFETY: env and stack outlive `memory`, which lives for this call only.
        unsafe {
            self.env.add_regions(&mut memory);
            memory.add(Region {
                start: self.stack.as_mut_ptr() as u64,
                len: 256,
                writable: true,
                kind: RegionKind::Stack,
            });
        }
        let func = self.table.get(id).unwrap().func;
        let mut env = HelperEnv {
            memory: &mut memory,
            maps: &[],
            payload: &mut self.env,
            tail_call: None,
        };
        func(&mut env, args).unwrap() as i64
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn live_setsockopt_getsockopt_and_ctx_snapshots_replay() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec/sock_ops_live_results.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipping: {} not present", path.display());
        return;
    };
    let data: Value = serde_json::from_str(&text).unwrap();
    let order: Ordered = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (family, fam) in data.as_object().unwrap() {
        for (key, snap) in fam["ops"].as_object().unwrap() {
            let op = SockOp::from_number(snap["op"].as_u64().unwrap() as u32).unwrap();
            let full = key.ends_with("full1");
            let socket = socket_for(family, op, full, snap);
            let mut input = OpInput::new(op).with_args(&[
                snap["args0_reply"].as_u64().unwrap() as u32,
                snap["args1"].as_u64().unwrap() as u32,
            ]);
            if snap["skb_tcp_flags"].as_u64().unwrap() != 0
                || snap["skb_len"].as_u64().unwrap() != 0
            {
                let flags = snap["skb_tcp_flags"].as_u64().unwrap() as u8;
                input.segment = Some(if snap["pkt_ge20"].as_u64() == Some(1) {
                    let len = snap["skb_len"].as_u64().unwrap() as u32;
                    let mut seg =
                        Segment::synthetic(&socket, true, flags | tcp_flags::ACK & flags, &[], 0);
                    seg.skb_len = len;
                    seg
                } else {
                    Segment::flags_only(flags, snap["skb_len"].as_u64().unwrap() as u32)
                });
            }
            let mut run = Run {
                env: SockOpsEnv::new(socket, input),
                stack: Box::new([0; 256]),
                table: sock_ops_helper_table(),
            };
            let ctx = run.env.ctx_addr();
            let buf = run.stack.as_ptr() as u64;
            let where_ = format!("{family}/{key}");

            // ctx snapshot: guards, byte order, args.
            let c = &run.env.context;
            let mut expect_field = |name: &str, off: usize| {
                let want = snap[name].as_u64().unwrap() as u32;
                let got = c.ctx_u32(off);
                let guarded_zero =
                    matches!(name, "snd_cwnd" | "bpf_sock_ops_cb_flags" | "mss_cache") && want == 0;
                if (guarded_zero && got != 0)
                    || (!guarded_zero
                        && !matches!(name, "snd_cwnd" | "bpf_sock_ops_cb_flags" | "mss_cache")
                        && got != want)
                {
                    failures.push(format!("{where_}: ctx {name} = {got:#x}, live {want:#x}"));
                }
            };
            for (name, off) in [
                ("op", 0),
                ("args0_reply", 4),
                ("args1", 8),
                ("family", 20),
                ("remote_ip6_0", 32),
                ("remote_ip6_3", 44),
                ("local_ip6_0", 48),
                ("local_ip6_3", 60),
                ("remote_port", 64),
                ("local_port", 68),
                ("is_fullsock", 72),
                ("snd_cwnd", 76),
                ("bpf_sock_ops_cb_flags", 84),
                ("state", 88),
                ("mss_cache", 112),
                ("skb_len", 208),
                ("skb_tcp_flags", 212),
            ] {
                expect_field(name, off);
            }
            if family == "ipv4" || family == "ipv6_v4mapped" {
                expect_field("remote_ip4", 24);
                expect_field("local_ip4", 28);
            }
            let sk_nonnull = u64::from(c.ctx_bytes()[184..192].iter().any(|&b| b != 0));
            if sk_nonnull != snap["sk_nonnull"].as_u64().unwrap() {
                failures.push(format!("{where_}: sk non-null {sk_nonnull}"));
            }

            // setsockopt probes, in the probe's order.
            for probe in order.keys_at(&[family, "ops", key, "setsockopt"]) {
                let probe = probe.as_str();
                let want = &snap["setsockopt"][probe];
                let (level, optname, val) = set_probe(probe);
                run.stack[..val.len()].copy_from_slice(&val);
                let got = run.call(
                    id::SETSOCKOPT,
                    [ctx, level as u64, optname as u64, buf, val.len() as u64],
                );
                if got != want.as_i64().unwrap() {
                    failures.push(format!("{where_}: set {probe} = {got}, live {want}"));
                }
                checked += 1;
            }
            // getsockopt probes: buffer pre-filled with 0xaa, first 8 bytes compared.
            for probe in order.keys_at(&[family, "ops", key, "getsockopt"]) {
                let probe = probe.as_str();
                let want = &snap["getsockopt"][probe];
                let (level, optname, optlen) = get_probe(probe);
                run.stack[..64].fill(0xaa);
                let got = run.call(
                    id::GETSOCKOPT,
                    [ctx, level as u64, optname as u64, buf, optlen as u64],
                );
                let want_ret = want["ret"].as_i64().unwrap();
                if got != want_ret {
                    failures.push(format!("{where_}: get {probe} = {got}, live {want_ret}"));
                }
                // SYN contents are synthetic; compare bytes for everything else and for the
                // zeroing of failed SYN reads.
                let syn_bytes = (probe.contains("SYN(") || probe.contains("SYN_"))
                    && (want_ret > 0
                        || want_ret == -28
                        || (probe.starts_with("TCP_SAVED_SYN") && want_ret == 0));
                let first8 = hex(&run.stack[..8]);
                if !syn_bytes && first8 != want["first8"].as_str().unwrap() {
                    failures.push(format!(
                        "{where_}: get {probe} bytes {first8}, live {}",
                        want["first8"]
                    ));
                }
                checked += 1;
            }
            let want = snap["cb_flags_set(0xff)"].as_i64().unwrap();
            let got = run.call(id::SOCK_OPS_CB_FLAGS_SET, [ctx, 0xff, 0, 0, 0]);
            if got != want {
                failures.push(format!("{where_}: cb_flags_set(0xff) = {got}, live {want}"));
            }
            // sk_txhash write: kept on a locked socket, dropped otherwise.
            run.env.context.ctx_bytes();
            let mut memory = Memory::new();
            // SAFETY: env outlives `memory`.
            unsafe { run.env.add_regions(&mut memory) };
            memory.store(ctx + 164, 4, 0x1234_5678).unwrap();
            drop(memory);
            let before = run.env.socket.tcp.sk_txhash;
            run.env.finish();
            let after = run.env.socket.tcp.sk_txhash;
            let live_after = snap["sk_txhash_after_write"].as_u64().unwrap();
            let kept = after == 0x1234_5678;
            if kept != (live_after == 0x1234_5678) {
                failures.push(format!("{where_}: sk_txhash write kept={kept} (before {before:#x}), live reads {live_after:#x}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 5000, "replayed {checked} probes");
}
