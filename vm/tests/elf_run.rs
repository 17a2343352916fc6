//! Acceptance: the example objects load, run on the checked interpreter with the map
//! helpers, and their maps hold what the programs wrote, read back from Rust. Contexts are
//! `struct bpf_sock_ops` buffers laid out as in shared/spec/SOCK_OPS.md §1 (224 bytes).

use std::path::PathBuf;
use std::sync::Arc;

use sockops_vm::elf::Object;
use sockops_vm::helper::{
    ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, RetKind,
};
use sockops_vm::maps::BPF_ANY;
use sockops_vm::maps::helpers::register_map_helpers;
use sockops_vm::{Interpreter, RunOptions};

/// sizeof(struct bpf_sock_ops).
const CTX_SIZE: usize = 224;
const OFF_OP: usize = 0;
const OFF_REPLY: usize = 4;
const OFF_FAMILY: usize = 20;
const OFF_REMOTE_IP4: usize = 24;
const OFF_REMOTE_PORT: usize = 64;
const OFF_LOCAL_PORT: usize = 68;
const OFF_SRTT_US: usize = 80;

const TIMEOUT_INIT: u32 = 1;
const RWND_INIT: u32 = 2;
const TCP_CONNECT_CB: u32 = 3;
const ACTIVE_ESTABLISHED_CB: u32 = 4;
const NEEDS_ECN: u32 = 6;
const RTT_CB: u32 = 12;

fn open(name: &str) -> Object {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    Object::open(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Ctx([u8; CTX_SIZE]);

impl Ctx {
    fn new(op: u32) -> Ctx {
        let mut c = Ctx([0; CTX_SIZE]);
        c.set(OFF_OP, op);
        c
    }
    fn set(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn get(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.0[off..off + 4].try_into().unwrap())
    }
}

fn u64_at(map_value: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(map_value[off..off + 8].try_into().unwrap())
}

fn map_helpers() -> HelperTable {
    let mut t = HelperTable::new();
    register_map_helpers(&mut t);
    t
}

fn run(interp: &mut Interpreter, ctx: &mut Ctx, payload: &mut dyn std::any::Any) -> u64 {
    interp
        .run(&mut ctx.0, payload, &RunOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .r0
}

#[test]
fn op_count_counts_ops_and_established_ports() {
    let o = open("op_count.o");
    let mut interp = Interpreter::new(o.program("count_ops").unwrap(), &map_helpers()).unwrap();
    // Two client connections to port 8080: remote_port holds the big-endian port in the
    // high half of the u32 (SOCK_OPS.md §1).
    let remote_port = u32::from(8080u16.swap_bytes()) << 16;
    for _ in 0..2 {
        for op in [
            TCP_CONNECT_CB,
            RWND_INIT,
            TIMEOUT_INIT,
            NEEDS_ECN,
            ACTIVE_ESTABLISHED_CB,
        ] {
            let mut ctx = Ctx::new(op);
            ctx.set(OFF_REMOTE_PORT, remote_port);
            ctx.set(OFF_REPLY, 77);
            assert_eq!(run(&mut interp, &mut ctx, &mut ()), 1);
            assert_eq!(ctx.get(OFF_REPLY), 0);
        }
    }
    let counts = o.map("op_count").unwrap();
    for op in 0..16u32 {
        let v = u64_at(&counts.lookup(&op.to_le_bytes()).unwrap(), 0);
        let want = if [1, 2, 3, 4, 6].contains(&op) { 2 } else { 0 };
        assert_eq!(v, want, "op {op}");
    }
    let ports = o.map("established_by_port").unwrap();
    let entries = ports.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, 8080u16.to_le_bytes());
    assert_eq!(u64_at(&entries[0].1, 0), 2);
}

#[test]
fn syn_rto_uses_global_data_and_rust_updates_reach_the_program() {
    let o = open("syn_rto.o");
    let mut interp = Interpreter::new(o.program("syn_rto").unwrap(), &map_helpers()).unwrap();
    let mut timeout_init = |addr: [u8; 4]| {
        let mut ctx = Ctx::new(TIMEOUT_INIT);
        ctx.set(OFF_FAMILY, 2);
        // remote_ip4 is in network order: the address bytes as they are.
        ctx.0[OFF_REMOTE_IP4..OFF_REMOTE_IP4 + 4].copy_from_slice(&addr);
        assert_eq!(run(&mut interp, &mut ctx, &mut ()), 1);
        ctx.get(OFF_REPLY)
    };
    // dc_prefix 10.0.0.0/8 gets dc_rto_ms = 10, others default_rto_ms = 1000.
    assert_eq!(timeout_init([10, 1, 2, 3]), 10);
    assert_eq!(timeout_init([192, 168, 1, 1]), 1000);
    assert_eq!(timeout_init([10, 9, 9, 9]), 10);
    let bss = o.map("syn_rto.bss").unwrap();
    let v = bss.lookup(&0u32.to_le_bytes()).unwrap();
    // dc_hits at offset 0, the static other_hits at offset 8.
    assert_eq!((u64_at(&v, 0), u64_at(&v, 8)), (2, 1));

    // Reconfigure .data from Rust: 192.168.0.0/16 is now the fast prefix.
    let data = o.map("syn_rto.data").unwrap();
    let mut cfg = 0xc0a8_0000u32.to_le_bytes().to_vec();
    cfg.extend(16u32.to_le_bytes());
    data.update(&0u32.to_le_bytes(), &cfg, BPF_ANY).unwrap();
    assert_eq!(timeout_init([192, 168, 1, 1]), 10);
    assert_eq!(timeout_init([10, 1, 2, 3]), 1000);
    // .rodata is frozen: user space cannot change it.
    let rodata = o.map("syn_rto.rodata").unwrap();
    assert!(
        rodata
            .update(&0u32.to_le_bytes(), &[0; 8], BPF_ANY)
            .is_err()
    );

    // Other ops: reply -1.
    let mut ctx = Ctx::new(TCP_CONNECT_CB);
    assert_eq!(run(&mut interp, &mut ctx, &mut ()), 1);
    assert_eq!(ctx.get(OFF_REPLY), u32::MAX);
}

/// setsockopt calls a fake `bpf_setsockopt` recorded: (level, optname, optval).
type SetsockoptLog = Vec<(u64, u64, Vec<u8>)>;

/// A stand-in for the sock_ops world's `bpf_setsockopt` (helper 49): records the call and
/// returns 0, or -ENOENT for TCP_CONGESTION (as for an unknown algorithm).
fn fake_setsockopt(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let optval = env.memory.read_bytes(a[3], a[4])?;
    if let Some(log) = env.payload.downcast_mut::<SetsockoptLog>() {
        log.push((a[1], a[2], optval));
    }
    Ok(if a[2] == 13 { (-2i64) as u64 } else { 0 })
}

#[test]
fn two_programs_of_tcp_tuning_share_their_map() {
    let o = open("tcp_tuning.o");
    let mut helpers = map_helpers();
    helpers.register(Helper {
        id: 49,
        signature: HelperSignature {
            name: "bpf_setsockopt",
            args: &[
                ArgKind::Ctx,
                ArgKind::Anything,
                ArgKind::Anything,
                ArgKind::ReadableMem,
                ArgKind::ConstSize,
            ],
            ret: RetKind::Integer,
            gpl_only: false,
        },
        func: fake_setsockopt,
    });
    let mut log: SetsockoptLog = Vec::new();
    let mut bufs = Interpreter::new(o.program("set_buffers").unwrap(), &helpers).unwrap();
    let mut ctx = Ctx::new(TCP_CONNECT_CB);
    assert_eq!(run(&mut bufs, &mut ctx, &mut log), 1);
    let size = (1u32 << 20).to_le_bytes().to_vec();
    // SOL_SOCKET = 1, SO_SNDBUF = 7, SO_RCVBUF = 8.
    assert_eq!(log, vec![(1, 7, size.clone()), (1, 8, size)]);
    assert_eq!(ctx.get(OFF_REPLY), 0);

    log.clear();
    let mut cong = Interpreter::new(o.program("set_cong").unwrap(), &helpers).unwrap();
    let mut ctx = Ctx::new(TCP_CONNECT_CB);
    assert_eq!(run(&mut cong, &mut ctx, &mut log), 1);
    // SOL_TCP = 6, TCP_CONGESTION = 13, "reno" with its NUL (sizeof(cc) = 5).
    assert_eq!(log, vec![(6, 13, b"reno\0".to_vec())]);
    assert_eq!(ctx.get(OFF_REPLY) as i32, -2);

    let results = o.map("last_result").unwrap();
    let slot = |i: u32| u64_at(&results.lookup(&i.to_le_bytes()).unwrap(), 0) as i64;
    assert_eq!((slot(0), slot(1)), (0, -2));
}

#[test]
fn legacy_maps_record_ops_and_srtt() {
    let o = open("legacy_maps.o");
    let mut interp = Interpreter::new(o.program("legacy_count").unwrap(), &map_helpers()).unwrap();
    for srtt_scaled in [800u32, 1600] {
        let mut ctx = Ctx::new(RTT_CB);
        ctx.set(OFF_LOCAL_PORT, 8080); // host order
        ctx.set(OFF_SRTT_US, srtt_scaled); // µs << 3
        assert_eq!(run(&mut interp, &mut ctx, &mut ()), 1);
    }
    let ops = o.map("ops_seen").unwrap();
    assert_eq!(u64_at(&ops.lookup(&RTT_CB.to_le_bytes()).unwrap(), 0), 2);
    let srtt = o.map("srtt_by_port").unwrap();
    assert_eq!(
        srtt.lookup(&8080u32.to_le_bytes()).unwrap(),
        200u32.to_le_bytes()
    );
}

#[test]
fn tail_calls_dispatch_through_the_prog_array() {
    let o = open("tail_call.o");
    let handlers = o.map("handlers").unwrap();
    for (slot, name) in [
        (TIMEOUT_INIT, "on_timeout_init"),
        (RWND_INIT, "on_rwnd_init"),
    ] {
        let p = Arc::new(o.program(name).unwrap().clone());
        handlers.prog_array_set(slot, Some(p)).unwrap();
    }
    let mut interp = Interpreter::new(o.program("dispatch").unwrap(), &map_helpers()).unwrap();
    let mut reply = |op: u32| {
        let mut ctx = Ctx::new(op);
        assert_eq!(run(&mut interp, &mut ctx, &mut ()), 1);
        ctx.get(OFF_REPLY) as i32
    };
    assert_eq!(reply(TIMEOUT_INIT), 50);
    assert_eq!(reply(RWND_INIT), 40);
    assert_eq!(reply(TCP_CONNECT_CB), -1); // empty slot: falls through
    assert_eq!(reply(100), -1); // out of range: falls through
    let handled = o.map("handled").unwrap();
    let n = |op: u32| u64_at(&handled.lookup(&op.to_le_bytes()).unwrap(), 0);
    assert_eq!(
        (n(TIMEOUT_INIT), n(RWND_INIT), n(TCP_CONNECT_CB)),
        (1, 1, 0)
    );
    let bss = o.map("tail_cal.bss").unwrap();
    assert_eq!(u64_at(&bss.lookup(&0u32.to_le_bytes()).unwrap(), 0), 2);
    // Break the cycle program -> maps -> prog array -> program.
    handlers.prog_array_set(TIMEOUT_INIT, None).unwrap();
    handlers.prog_array_set(RWND_INIT, None).unwrap();
}
