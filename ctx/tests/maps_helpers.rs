//! bpf_sk_storage_get / bpf_sk_storage_delete and bpf_perf_event_output with real vm maps
//! (SOCK_OPS.md §5.2).

use std::net::SocketAddr;
use std::sync::Arc;

use sockops_ctx::helpers::id;
use sockops_ctx::{OpInput, SockOp, SockOpsEnv, Socket, sock_ops_helper_table};
use sockops_vm::maps::BPF_F_NO_PREALLOC;
use sockops_vm::{HelperEnv, Map, MapDef, MapType, Memory, Region, RegionKind};

fn socket() -> Socket {
    Socket::new(
        "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
    )
}

fn maps() -> Vec<Arc<Map>> {
    let storage = MapDef {
        map_type: MapType::SkStorage,
        key_size: 4,
        value_size: 8,
        max_entries: 0,
        map_flags: BPF_F_NO_PREALLOC,
    };
    let perf = MapDef {
        map_type: MapType::PerfEventArray,
        key_size: 4,
        value_size: 4,
        max_entries: 2,
        map_flags: 0,
    };
    vec![
        Arc::new(Map::try_new("store", storage).unwrap()),
        Arc::new(Map::try_new("events", perf).unwrap()),
    ]
}

struct Run {
    env: SockOpsEnv,
    stack: Box<[u8; 64]>,
    maps: Vec<Arc<Map>>,
    memory: Memory,
}

impl Run {
    fn new(socket: Socket, op: SockOp) -> Run {
        let env = SockOpsEnv::new(socket, OpInput::new(op));
        let mut run = Run {
            env,
            stack: Box::new([0; 64]),
            maps: maps(),
            memory: Memory::new(),
        };
        // SAFETY: env and stack live as long as `run.memory` (same struct, dropped together).
        unsafe {
            run.env.add_regions(&mut run.memory);
            run.memory.add(Region {
                start: run.stack.as_mut_ptr() as u64,
                len: 64,
                writable: true,
                kind: RegionKind::Stack,
            });
        }
        run
    }

    fn map_ptr(&self, i: usize) -> u64 {
        self.maps[i].program_ptr()
    }

    fn call(&mut self, id: u32, args: [u64; 5]) -> i64 {
        let table = sock_ops_helper_table();
        let func = table.get(id).unwrap().func;
        let mut env = HelperEnv {
            memory: &mut self.memory,
            maps: &self.maps,
            payload: &mut self.env,
            tail_call: None,
        };
        func(&mut env, args).unwrap() as i64
    }
}

#[test]
fn sk_storage_get_create_and_delete() {
    let mut run = Run::new(socket(), SockOp::TcpConnectCb);
    let (map, sk) = (run.map_ptr(0), run.env.sk_addr());
    assert_ne!(sk, 0);
    assert_eq!(
        run.call(id::SK_STORAGE_GET, [map, sk, 0, 0, 0]),
        0,
        "absent, no create"
    );
    assert_eq!(
        run.call(id::SK_STORAGE_GET, [map, sk, 0, 2, 0]),
        0,
        "flags > 1: NULL"
    );
    assert_eq!(
        run.call(id::SK_STORAGE_GET, [map, 0, 0, 1, 0]),
        0,
        "NULL sk"
    );
    run.stack[..8].copy_from_slice(&7u64.to_ne_bytes());
    let init = run.stack.as_ptr() as u64;
    let p = run.call(id::SK_STORAGE_GET, [map, sk, init, 1, 0]) as u64;
    assert_ne!(p, 0);
    assert_eq!(run.memory.load(p, 8).unwrap(), 7, "initialised from value");
    run.memory.store(p, 8, 42).unwrap();
    let again = run.call(id::SK_STORAGE_GET, [map, sk, 0, 0, 0]) as u64;
    assert_eq!(again, p);
    assert_eq!(
        run.env.socket.sk_storage.get("store"),
        Some(42u64.to_ne_bytes().to_vec())
    );
    assert_eq!(run.call(id::SK_STORAGE_DELETE, [map, sk, 0, 0, 0]), 0);
    assert_eq!(run.call(id::SK_STORAGE_DELETE, [map, sk, 0, 0, 0]), -2);
    assert_eq!(
        run.memory.load(p, 8).unwrap(),
        42,
        "deleted value stays readable this run"
    );
    assert!(run.env.socket.sk_storage.is_empty());
}

#[test]
fn sk_storage_is_per_socket_and_survives_ops() {
    let mut run = Run::new(socket(), SockOp::TcpConnectCb);
    let (map, sk) = (run.map_ptr(0), run.env.sk_addr());
    let p = run.call(id::SK_STORAGE_GET, [map, sk, 0, 1, 0]) as u64;
    run.memory.store(p, 8, 99).unwrap();
    let sock = run.env.socket.clone();
    let run2 = Run::new(sock, SockOp::ActiveEstablishedCb);
    assert_eq!(
        run2.env.socket.sk_storage.get("store"),
        Some(99u64.to_ne_bytes().to_vec())
    );
    let req = Socket::request(
        "10.0.0.1:443".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
    );
    let mut run3 = Run::new(req, SockOp::TimeoutInit);
    assert_eq!(run3.env.sk_addr(), 0, "request sock: ctx->sk is NULL");
    let map = run3.map_ptr(0);
    assert_eq!(run3.call(id::SK_STORAGE_GET, [map, 0, 0, 1, 0]), 0);
}

#[test]
fn perf_event_output_is_captured() {
    let mut run = Run::new(socket(), SockOp::TcpConnectCb);
    let (ctx, map) = (run.env.ctx_addr(), run.map_ptr(1));
    run.stack[..4].copy_from_slice(&[1, 2, 3, 4]);
    let data = run.stack.as_ptr() as u64;
    assert_eq!(
        run.call(id::PERF_EVENT_OUTPUT, [ctx, map, 0xffff_ffff, data, 4]),
        0
    );
    assert_eq!(run.call(id::PERF_EVENT_OUTPUT, [ctx, map, 1, data, 2]), 0);
    assert_eq!(
        run.call(id::PERF_EVENT_OUTPUT, [ctx, map, 2, data, 2]),
        -7,
        "index past max_entries"
    );
    assert_eq!(
        run.call(id::PERF_EVENT_OUTPUT, [ctx, map, 1 << 32, data, 2]),
        -22,
        "bad flags"
    );
    let recs: Vec<_> = run
        .env
        .perf
        .iter()
        .map(|r| (r.map.as_str(), r.cpu, r.data.clone()))
        .collect();
    assert_eq!(
        recs,
        vec![("events", 0, vec![1, 2, 3, 4]), ("events", 1, vec![1, 2])]
    );
}

/// The `bpf_tcp_sock` view is the same `struct sock` in the kernel, so socket storage is
/// reachable through it too; any other pointer is not this run's socket.
#[test]
fn sk_storage_through_the_tcp_sock_view() {
    let mut run = Run::new(socket(), SockOp::TcpConnectCb);
    let (map, sk) = (run.map_ptr(0), run.env.sk_addr());
    let tp = run.call(id::TCP_SOCK, [sk, 0, 0, 0, 0]) as u64;
    assert_ne!(tp, 0);
    let p = run.call(id::SK_STORAGE_GET, [map, tp, 0, 1, 0]);
    assert_ne!(p, 0, "created through the tcp_sock view");
    assert_eq!(run.call(id::SK_STORAGE_GET, [map, sk, 0, 0, 0]), p);
    assert_eq!(run.call(id::SK_STORAGE_GET, [map, tp + 8, 0, 0, 0]), 0);
    assert_eq!(run.call(id::SK_STORAGE_DELETE, [map, tp + 8, 0, 0, 0]), -22);
    assert_eq!(run.call(id::SK_STORAGE_DELETE, [map, tp, 0, 0, 0]), 0);
}
