//! The new helpers called from real programs in the checked interpreter: a sock_ops program
//! that adds its socket to a sockmap and reads `snd_cwnd` through `bpf_tcp_sock` (the
//! pattern of the kernel's samples), and one that writes a ring buffer record in place.

use std::sync::Arc;

use sockops_ctx::{OpInput, SockOp, SockOpsEnv, Socket, sock_ops_helper_table};
use sockops_vm::{
    Interpreter, Map, MapDef, MapType, Memory, Program, RegionKind, RunOptions, assemble,
};

fn socket() -> Socket {
    Socket::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
    )
}

fn program(text: &str, maps: Vec<Arc<Map>>) -> Program {
    Program {
        maps,
        license: "GPL".into(),
        ..Program::from_insns("prog", assemble(text).unwrap())
    }
}

/// Runs `program` for `op` on `socket` in the checked interpreter: (r0, the environment).
fn run(program: &Program, socket: Socket, op: SockOp) -> (i64, SockOpsEnv) {
    let mut interp = Interpreter::new(program, &sock_ops_helper_table()).unwrap();
    let mut env = SockOpsEnv::new(socket, OpInput::new(op));
    let mut memory = Memory::new();
    // SAFETY: `memory` only lists the regions; it is dropped before `env`.
    unsafe { env.add_regions(&mut memory) };
    let ctx = memory
        .regions()
        .iter()
        .copied()
        .find(|r| r.kind == RegionKind::Context);
    let others: Vec<_> = memory
        .regions()
        .iter()
        .copied()
        .filter(|r| r.kind != RegionKind::Context)
        .collect();
    let options = RunOptions {
        instruction_budget: Some(10_000),
    };
    // SAFETY: the regions are the environment's buffers, alive for the whole run and only
    // accessed through raw pointers.
    let r = unsafe { interp.run_raw(ctx, &others, &mut env, &options) }.unwrap();
    drop(memory);
    (r.r0 as i64, env)
}

const SOCKMAP_AND_TCP_SOCK: &str = "
    mov %r6, %r1
    stw [%r10-4], 1
    mov %r3, %r10
    add %r3, -4
    lddw %r2, map_fd 0
    mov %r1, %r6
    mov %r4, 0
    call 53
    jne %r0, 0, done
    ldxdw %r1, [%r6+184]
    jeq %r1, 0, nosk
    call 96
    jeq %r0, 0, nosk
    ldxw %r0, [%r0+0]
    ja done
nosk:
    mov %r0, -1
done:
    exit
";

fn sockmap() -> Arc<Map> {
    let def = MapDef {
        map_type: MapType::Sockmap,
        key_size: 4,
        value_size: 8,
        max_entries: 2,
        map_flags: 0,
    };
    Arc::new(Map::try_new("socks", def).unwrap())
}

#[test]
fn established_socket_goes_into_the_sockmap_and_reads_its_cwnd() {
    let map = sockmap();
    let p = program(SOCKMAP_AND_TCP_SOCK, vec![Arc::clone(&map)]);
    let mut s = socket();
    s.tcp.snd_cwnd = 33;
    let cookie = s.cookie;
    let (r0, env) = run(&p, s, SockOp::ActiveEstablishedCb);
    assert_eq!(r0, 33);
    assert_eq!(map.sock_cookie(&1u32.to_ne_bytes()), Some(cookie));
    let names: Vec<(&str, i64)> = env.calls.iter().map(|c| (c.name, c.ret)).collect();
    assert_eq!(names, vec![("bpf_sock_map_update", 0), ("bpf_tcp_sock", 1)]);
}

#[test]
fn other_ops_get_eopnotsupp_and_leave_the_map_alone() {
    let map = sockmap();
    let p = program(SOCKMAP_AND_TCP_SOCK, vec![Arc::clone(&map)]);
    for op in [SockOp::TcpConnectCb, SockOp::RttCb, SockOp::StateCb] {
        let (r0, _) = run(&p, socket(), op);
        assert_eq!(r0, -95, "{op:?}");
    }
    assert!(map.is_empty());
}

#[test]
fn ring_buffer_record_written_in_place() {
    let def = MapDef {
        map_type: MapType::Ringbuf,
        key_size: 0,
        value_size: 0,
        max_entries: 4096,
        map_flags: 0,
    };
    let ring = Arc::new(Map::try_new("events", def).unwrap());
    let text = "
        lddw %r1, map_fd 0
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, none
        stdw [%r0+0], 0x1234
        mov %r1, %r0
        mov %r2, 0
        call 132
        mov %r0, 1
        ja out
    none:
        mov %r0, 0
    out:
        exit
    ";
    let p = program(text, vec![Arc::clone(&ring)]);
    let (r0, env) = run(&p, socket(), SockOp::TcpConnectCb);
    assert_eq!(r0, 1);
    let want = 0x1234u64.to_ne_bytes().to_vec();
    assert_eq!(env.ringbuf.len(), 1);
    assert_eq!(env.ringbuf[0].data, want);
    assert_eq!(ring.ringbuf_consume(), vec![want]);
}
