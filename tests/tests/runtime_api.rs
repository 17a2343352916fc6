//! The runtime API (`sockops::runtime`) on raw programs and the example objects, checked
//! against the kernel's semantics (SOCK_OPS.md §2-5, `tcp_call_bpf`,
//! `__cgroup_bpf_run_filter_sock_ops`): the result the kernel's caller gets, one shared
//! context per op, callback-flag gating, `sk_txhash` write-back only on locked sockets,
//! load-time helper refusals in the kernel's words, shared maps, the PRNG seed, attach rules.

use std::path::{Path, PathBuf};

use sockops::cgroup::AttachFlags;
use sockops::ctx::ops::cb_flags;
use sockops::ctx::{OpInput, Prng, SockOp, Socket};
use std::sync::Arc;

use sockops::runtime::{Engine, ProgId, Runtime, RuntimeError, Verdict};
use sockops::vm::{Map, MapDef, MapType, Program, assemble};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn raw(rt: &mut Runtime, name: &str, text: &str) -> Result<ProgId, RuntimeError> {
    let mut p = Program::from_insns(name, assemble(text).unwrap());
    p.license = "GPL".into();
    rt.load_raw_program(p, Engine::Interpreter)
}

fn socket() -> Socket {
    Socket::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.1.2.3:443".parse().unwrap(),
    )
}

/// reply (ctx offset 4) = 7.
const SET_7: &str = "stw [%r1+4], 7\nmov %r0, 1\nexit";
/// reply += 1, seen through the shared context.
const INC: &str = "ldxw %r2, [%r1+4]\nadd %r2, 1\nstxw [%r1+4], %r2\nmov %r0, 1\nexit";
/// returns 0 ("failed").
const FAIL: &str = "mov %r0, 0\nexit";

#[test]
fn programs_share_one_context_and_the_result_follows_the_return_values() {
    let mut rt = Runtime::new();
    let a = raw(&mut rt, "set7", SET_7).unwrap();
    let b = raw(&mut rt, "inc", INC).unwrap();
    rt.attach(a, "/", AttachFlags::Multi).unwrap();
    rt.attach(b, "/", AttachFlags::Multi).unwrap();
    let mut s = socket();
    let d = rt.call(SockOp::TimeoutInit, &mut s).unwrap();
    assert_eq!(d.returns(), vec![1, 1]);
    assert_eq!(d.reply, 8);
    assert_eq!(d.result, Some(8));

    let c = raw(&mut rt, "fail", FAIL).unwrap();
    rt.attach(c, "/", AttachFlags::Multi).unwrap();
    let d = rt.call(SockOp::TimeoutInit, &mut s).unwrap();
    // Every program still runs; one returned 0, so the kernel's caller gets -1.
    assert_eq!(d.returns(), vec![1, 1, 0]);
    assert_eq!(d.reply, 8);
    assert_eq!(d.result, Some(-1));
}

#[test]
fn a_negative_reply_is_the_signed_result() {
    let mut rt = Runtime::new();
    let p = raw(&mut rt, "neg", "stw [%r1+4], -1\nmov %r0, 1\nexit").unwrap();
    rt.attach(p, "/", AttachFlags::None).unwrap();
    let d = rt.call(SockOp::TimeoutInit, &mut socket()).unwrap();
    assert_eq!(d.reply, u32::MAX);
    assert_eq!(d.result, Some(-1));
}

#[test]
fn ops_gated_by_callback_flags_run_nothing() {
    let mut rt = Runtime::new();
    let p = raw(&mut rt, "set7", SET_7).unwrap();
    rt.attach(p, "/", AttachFlags::None).unwrap();
    let mut s = socket();
    for (op, flag) in [
        (SockOp::RtoCb, cb_flags::RTO),
        (SockOp::RetransCb, cb_flags::RETRANS),
        (SockOp::StateCb, cb_flags::STATE),
        (SockOp::RttCb, cb_flags::RTT),
    ] {
        s.cb_flags = cb_flags::ALL & !flag;
        let d = rt
            .call_input(OpInput::new(op).with_args(&[3, 4]), &mut s)
            .unwrap();
        assert!(!d.enabled && !d.called(), "{op}");
        assert_eq!(d.result, None);
        s.cb_flags = flag;
        let d = rt.call(op, &mut s).unwrap();
        assert!(d.enabled && d.called(), "{op}");
        assert_eq!(d.result, Some(7));
    }
    // Ops 1-7 and 11 are never gated.
    s.cb_flags = 0;
    for op in [
        SockOp::TimeoutInit,
        SockOp::TcpConnectCb,
        SockOp::TcpListenCb,
    ] {
        assert!(rt.call(op, &mut s).unwrap().called(), "{op}");
    }
}

#[test]
fn a_cgroup_without_programs_runs_nothing() {
    let mut rt = Runtime::new();
    let p = raw(&mut rt, "set7", SET_7).unwrap();
    rt.attach(p, "/web", AttachFlags::None).unwrap();
    let mut s = socket();
    s.cgroup = "/other".into();
    let d = rt.call(SockOp::TimeoutInit, &mut s).unwrap();
    assert!(d.enabled && !d.called());
    s.cgroup = "/web/api".into();
    assert_eq!(
        rt.call(SockOp::TimeoutInit, &mut s).unwrap().result,
        Some(7)
    );
}

#[test]
fn sk_txhash_writes_apply_only_on_locked_sockets() {
    let mut rt = Runtime::new();
    let p = raw(&mut rt, "txhash", "stw [%r1+164], 4660\nmov %r0, 1\nexit").unwrap();
    rt.attach(p, "/", AttachFlags::None).unwrap();
    let mut s = socket();
    rt.call(SockOp::TimeoutInit, &mut s).unwrap();
    assert_eq!(s.tcp.sk_txhash, 4660);
    // A request socket (is_fullsock = 0) is not locked: the store is dropped.
    let mut req = Socket::request(
        "10.0.0.1:443".parse().unwrap(),
        "10.1.2.3:40000".parse().unwrap(),
    );
    let before = req.tcp.sk_txhash;
    let d = rt.call(SockOp::TimeoutInit, &mut req).unwrap();
    assert!(d.called());
    assert_eq!(req.tcp.sk_txhash, before);
    // TSTAMP ops are full but not locked: dropped too.
    let mut t = socket();
    t.options.sk_bpf_cb_flags = 1;
    let before = t.tcp.sk_txhash;
    let d = rt.call(SockOp::TstampSendmsgCb, &mut t).unwrap();
    assert!(d.called());
    assert_eq!(t.tcp.sk_txhash, before);
}

#[test]
fn helpers_are_refused_at_load_time_by_name() {
    let mut rt = Runtime::new();
    let msg = |r: Result<ProgId, RuntimeError>| r.unwrap_err().to_string();
    // bpf_probe_read (4): the kernel does not let sock_ops call it.
    let m = msg(raw(&mut rt, "p", "call 4\nmov %r0, 1\nexit"));
    assert!(
        m.contains("insn 0: program of this type cannot use helper bpf_probe_read#4"),
        "{m}"
    );
    // Beyond __BPF_FUNC_MAX_ID.
    let m = msg(raw(&mut rt, "p", "mov %r0, 1\ncall 300\nexit"));
    assert!(m.contains("insn 1: invalid func unknown#300"), "{m}");
    // bpf_get_cgroup_classid (17): sock_ops may call it, this runtime does not provide it.
    let m = msg(raw(&mut rt, "p", "call 17\nmov %r0, 1\nexit"));
    assert!(m.contains("bpf_get_cgroup_classid#17"), "{m}");
    assert!(m.contains("not supported by this runtime"), "{m}");
    // bpf_trace_printk (6) is GPL-only.
    let mut p = Program::from_insns("p", assemble("call 6\nmov %r0, 1\nexit").unwrap());
    p.license = "Proprietary".into();
    let m = msg(rt.load_raw_program(p, Engine::Interpreter));
    assert!(m.contains("cannot call GPL-restricted function"), "{m}");
    assert!(raw(&mut rt, "p", "call 7\nmov %r0, 1\nexit").is_ok());
}

#[test]
fn the_verifier_refuses_unsafe_programs_at_load_time_in_the_kernels_words() {
    let mut rt = Runtime::new();
    // `family` (offset 20) is read-only.
    let e = raw(
        &mut rt,
        "w",
        "mov %r2, 1\nstxw [%r1+20], %r2\nmov %r0, 1\nexit",
    )
    .unwrap_err();
    assert!(matches!(e, RuntimeError::Rejected { pc: 1, .. }), "{e}");
    assert!(
        e.to_string()
            .contains("insn 1: invalid bpf_context access off=20 size=4"),
        "{e}"
    );
    // The return value must be in [0, 1].
    let e = raw(&mut rt, "r", "mov %r0, 2\nexit").unwrap_err();
    assert!(
        e.to_string()
            .contains("R0 has smin=2 smax=2 should have been in [0, 1]"),
        "{e}"
    );
    let e = raw(&mut rt, "far", "ldxdw %r0, [%r1+4096]\nexit").unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid bpf_context access off=4096 size=8"),
        "{e}"
    );
}

#[test]
fn the_jit_runs_verified_programs_and_refuses_unjudged_ones() {
    let mut rt = Runtime::new();
    let p = Program::from_insns("p", assemble(SET_7).unwrap());
    let id = rt.load_raw_program(p, Engine::Jit).unwrap();
    let info = rt.program_info(id).unwrap();
    assert_eq!(
        (info.verdict, info.engine),
        (Verdict::Verified, Engine::Jit)
    );
    rt.attach(id, "/", AttachFlags::None).unwrap();
    assert_eq!(
        rt.call(SockOp::TimeoutInit, &mut socket()).unwrap().result,
        Some(7)
    );

    // A ring buffer program is judged (reserve/submit as acquired references) and runs on
    // the JIT.
    let ring = Arc::new(
        Map::try_new(
            "ring",
            MapDef {
                map_type: MapType::Ringbuf,
                key_size: 0,
                value_size: 0,
                max_entries: 4096,
                map_flags: 0,
            },
        )
        .unwrap(),
    );
    let text = "lddw %r1, map_fd 0\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +3\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit";
    let ring_program = Program {
        maps: vec![ring.clone()],
        ..Program::from_insns("ring", assemble(text).unwrap())
    };
    let id = rt.load_raw_program(ring_program, Engine::Jit).unwrap();
    assert_eq!(rt.program_info(id).unwrap().verdict, Verdict::Verified);

    // bpf_sk_storage_get is judged (skops->sk null-checked, the result a map value after
    // its null check): the program runs on the JIT and decides as the interpreter does,
    // counting in the socket's storage.
    let storage_def = MapDef {
        map_type: MapType::SkStorage,
        key_size: 4,
        value_size: 8,
        max_entries: 0,
        map_flags: 1,
    };
    let text = "ldxdw %r6, [%r1+184]\njeq %r6, 0, +10\nlddw %r1, map_fd 0\nmov %r2, %r6\nmov %r3, 0\nmov %r4, 1\ncall 107\njeq %r0, 0, +3\nldxdw %r1, [%r0+0]\nadd %r1, 1\nstxdw [%r0+0], %r1\nmov %r0, 1\nexit";
    let mut outcomes = Vec::new();
    for engine in [Engine::Jit, Engine::Interpreter] {
        let mut rt = Runtime::new();
        let storage = Arc::new(Map::try_new("storage", storage_def).unwrap());
        let program = Program {
            maps: vec![storage],
            ..Program::from_insns("storage", assemble(text).unwrap())
        };
        let id = rt.load_raw_program(program, engine).unwrap();
        let info = rt.program_info(id).unwrap();
        assert_eq!((info.verdict, info.engine), (Verdict::Verified, engine));
        rt.attach(id, "/", AttachFlags::None).unwrap();
        let mut sock = socket();
        let mut returns = Vec::new();
        for _ in 0..2 {
            returns.push(rt.call(SockOp::TimeoutInit, &mut sock).unwrap().returns());
        }
        outcomes.push((returns, sock.sk_storage.get("storage")));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0].1, Some(2u64.to_le_bytes().to_vec()));

    // A read far along a trailing flexible array (`task->thread_pid->numbers[]`, 40,000
    // bytes past a pointer the kernel reads with a faulting load) lies past the image this
    // runtime has: not judged, so the program runs only in the checked interpreter.
    let thread_pid = sockops::vm::vmlinux::field("task_struct", "thread_pid")
        .expect("recorded")
        .offset;
    let text = format!(
        "call 158\nldxdw %r1, [%r0+{thread_pid}]\nadd %r1, 40000\nldxw %r0, [%r1+0]\nmov %r0, 1\nexit"
    );
    let unjudged_program = || Program {
        license: "GPL".into(),
        ..Program::from_insns("thread_pid", assemble(&text).unwrap())
    };
    let e = rt
        .load_raw_program(unjudged_program(), Engine::Jit)
        .unwrap_err();
    assert!(matches!(e, RuntimeError::EngineUnavailable { .. }), "{e}");
    assert!(e.to_string().contains("could not judge"), "{e}");
    let id = rt
        .load_raw_program(unjudged_program(), Engine::Interpreter)
        .unwrap();
    let info = rt.program_info(id).unwrap();
    assert_eq!(info.verdict, Verdict::NotVerified);
    assert!(
        info.not_verified_reason
            .as_deref()
            .is_some_and(|r| r.contains("insn 3") && r.contains("past the 32775 bytes")),
        "{info:?}"
    );
}

#[test]
fn a_failed_run_leaves_the_socket_unchanged() {
    let mut rt = Runtime::new();
    // Sets the callback flags through the helper, then runs out of instruction budget.
    let p = raw(
        &mut rt,
        "slow",
        "mov %r2, 7\ncall 59\nmov %r0, 1\nmov %r0, 1\nmov %r0, 1\nexit",
    )
    .unwrap();
    rt.set_instruction_budget(Some(4));
    rt.attach(p, "/", AttachFlags::None).unwrap();
    let mut s = socket();
    let e = rt.call(SockOp::TcpConnectCb, &mut s).unwrap_err();
    assert!(matches!(e, RuntimeError::Exec { .. }), "{e}");
    assert!(e.to_string().contains("slow"), "{e}");
    assert_eq!(s.cb_flags, 0);
}

#[test]
fn prandom_follows_the_seed_across_calls() {
    const PRANDOM: &str = "mov %r6, %r1\ncall 7\nstxw [%r6+4], %r0\nmov %r0, 1\nexit";
    let run = |seed: u64| {
        let mut rt = Runtime::new();
        rt.set_seed(seed);
        let p = raw(&mut rt, "rand", PRANDOM).unwrap();
        rt.attach(p, "/", AttachFlags::None).unwrap();
        let mut s = socket();
        let a = rt.call(SockOp::TimeoutInit, &mut s).unwrap().reply;
        let b = rt.call(SockOp::TimeoutInit, &mut s).unwrap().reply;
        (a, b)
    };
    let mut g = Prng::new(42);
    assert_eq!(run(42), (g.next_u32(), g.next_u32()));
    assert_ne!(run(42), run(43));
}

#[test]
fn programs_of_one_object_share_its_maps() {
    let mut rt = Runtime::new();
    let obj = rt
        .load_object_file(examples().join("tcp_tuning.o"))
        .unwrap();
    let e = rt
        .load_program(obj, None, Engine::Interpreter)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 programs match"), "{e}");
    let e = rt
        .load_program(obj, Some("sockops/none"), Engine::Interpreter)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("set_buffers (sockops), set_cong (sockops/cc)"),
        "{e}"
    );

    let buffers = rt
        .load_program(obj, Some("sockops"), Engine::Interpreter)
        .unwrap();
    let cong = rt
        .load_program(obj, Some("set_cong"), Engine::Interpreter)
        .unwrap();
    rt.attach(buffers, "/", AttachFlags::Multi).unwrap();
    rt.attach(cong, "/", AttachFlags::Multi).unwrap();
    let map = rt.map(obj, "last_result").unwrap();
    map.update(&1u32.to_le_bytes(), &77i64.to_le_bytes(), 0)
        .unwrap();
    let mut s = socket();
    let d = rt.call(SockOp::TcpConnectCb, &mut s).unwrap();
    assert_eq!(d.returns(), vec![1, 1]);
    let map = rt.map(obj, "last_result").unwrap();
    // Slot 0 from set_buffers (0 + 0), slot 1 from set_cong (reno is available: 0).
    assert_eq!(map.lookup(&0u32.to_le_bytes()).unwrap(), 0i64.to_le_bytes());
    assert_eq!(map.lookup(&1u32.to_le_bytes()).unwrap(), 0i64.to_le_bytes());
    // 1 MiB buffers, below wmem_max/rmem_max (4 MiB): read back doubled.
    let sndbuf = d
        .changes
        .options
        .iter()
        .find(|c| c.option == "SO_SNDBUF")
        .unwrap();
    assert_eq!(
        sndbuf.after,
        Some(sockops::ctx::sockopt::OptionValue::Int(2 << 20))
    );
    assert!(
        d.changes
            .options
            .iter()
            .any(|c| c.option == "TCP_CONGESTION")
    );
}

#[test]
fn helper_calls_are_logged_in_order_with_their_return_codes() {
    let mut rt = Runtime::new();
    let obj = rt.load_object_file(examples().join("op_count.o")).unwrap();
    let p = rt.load_program(obj, None, Engine::Interpreter).unwrap();
    rt.attach(p, "/", AttachFlags::None).unwrap();
    let mut s = socket();
    let d = rt.call(SockOp::PassiveEstablishedCb, &mut s).unwrap();
    let calls: Vec<(&str, i64)> = d.helper_calls.iter().map(|c| (c.name, c.ret)).collect();
    // op_count[5] exists (array); established_by_port[443] does not yet (NULL), so it is
    // inserted.
    assert_eq!(
        calls,
        vec![
            ("bpf_map_lookup_elem", 1),
            ("bpf_map_lookup_elem", 0),
            ("bpf_map_update_elem", 0)
        ]
    );
    // remote_port is the network-order port in the high half; bpf_ntohl gives 443, stored
    // as a host-order u16 key.
    let m = rt.map(obj, "established_by_port").unwrap();
    assert_eq!(m.lookup(&443u16.to_le_bytes()).unwrap(), 1u64.to_le_bytes());
}

#[test]
fn attach_rules_come_from_the_cgroup_tree() {
    let mut rt = Runtime::new();
    let a = raw(&mut rt, "a", SET_7).unwrap();
    let b = raw(&mut rt, "b", INC).unwrap();
    rt.attach(a, "/", AttachFlags::None).unwrap();
    let e = rt.attach(b, "/web", AttachFlags::Multi).unwrap_err();
    assert!(e.to_string().contains("EPERM"), "{e}");
    rt.detach(a, "/").unwrap();
    rt.attach(b, "/web", AttachFlags::Multi).unwrap();
    assert_eq!(rt.effective("/web/x").unwrap(), vec![b]);
    assert!(rt.effective("web").is_err());
}

#[test]
fn syn_rto_example_by_prefix() {
    let mut rt = Runtime::new();
    let obj = rt.load_object_file(examples().join("syn_rto.o")).unwrap();
    let p = rt
        .load_program(obj, Some("sockops"), Engine::Interpreter)
        .unwrap();
    rt.attach(p, "/", AttachFlags::None).unwrap();
    // 10.0.0.0/8 (dc_prefix in .data) gets dc_rto_ms (10) from .rodata; others 1000.
    let mut dc = socket();
    assert_eq!(
        rt.call(SockOp::TimeoutInit, &mut dc).unwrap().result,
        Some(10)
    );
    let mut wan = Socket::new(
        "10.0.0.1:40000".parse().unwrap(),
        "192.0.2.1:443".parse().unwrap(),
    );
    assert_eq!(
        rt.call(SockOp::TimeoutInit, &mut wan).unwrap().result,
        Some(1000)
    );
    // Other ops: reply -1.
    assert_eq!(
        rt.call(SockOp::TcpConnectCb, &mut wan).unwrap().result,
        Some(-1)
    );
}

#[test]
fn tail_calls_go_through_a_prog_array_filled_by_the_embedder() {
    tail_calls_on(Engine::Interpreter);
    tail_calls_on(Engine::Jit);
}

fn tail_calls_on(engine: Engine) {
    let mut rt = Runtime::new();
    let obj = rt.load_object_file(examples().join("tail_call.o")).unwrap();
    let dispatch = rt.load_program(obj, Some("sockops"), engine).unwrap();
    let handler = rt
        .load_program(obj, Some("sockops/timeout_init"), engine)
        .unwrap();
    rt.attach(dispatch, "/", AttachFlags::None).unwrap();
    rt.set_tail_call(obj, "handlers", SockOp::TimeoutInit.number(), Some(handler))
        .unwrap();
    let mut s = socket();
    // TIMEOUT_INIT (1) tail-calls the handler, which replies 50 jiffies.
    let d = rt.call(SockOp::TimeoutInit, &mut s).unwrap();
    assert_eq!(d.result, Some(50));
    assert_eq!(d.helper_calls[0].name, "bpf_tail_call");
    // TCP_CONNECT_CB (3) has no handler: the call falls through, reply -1.
    assert_eq!(
        rt.call(SockOp::TcpConnectCb, &mut s).unwrap().result,
        Some(-1)
    );
    // Slots beyond max_entries (8) and unknown maps are errors.
    assert!(rt.set_tail_call(obj, "handlers", 8, Some(handler)).is_err());
    let e = rt.set_tail_call(obj, "nope", 0, None).unwrap_err();
    assert!(e.to_string().contains("no map named \"nope\""), "{e}");
    rt.set_tail_call(obj, "handlers", 1, None).unwrap();
    assert_eq!(
        rt.call(SockOp::TimeoutInit, &mut s).unwrap().result,
        Some(-1)
    );
}

/// A prog-array slot holds its program, whose maps hold the prog array: dropping the runtime
/// breaks that cycle (found by the scenario fuzz target's leak check).
#[test]
fn dropping_the_runtime_frees_prog_array_cycles() {
    let jumps = sockops_tests::maps::prog_array(4);
    let with_jumps = |text: &str| Program {
        maps: vec![jumps.clone()],
        license: "GPL".into(),
        ..Program::from_insns("p", assemble(text).unwrap())
    };
    let target = Arc::new(with_jumps("mov %r0, 1\nexit"));
    let weak_target = Arc::downgrade(&target);
    jumps.prog_array_set(0, Some(target)).unwrap();
    let mut rt = Runtime::new();
    let id = rt
        .load_raw_program(
            with_jumps("lddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r0, 1\nexit"),
            Engine::Interpreter,
        )
        .unwrap();
    rt.attach(id, "/", AttachFlags::None).unwrap();
    assert_eq!(
        rt.call(SockOp::TimeoutInit, &mut socket())
            .unwrap()
            .runs
            .len(),
        1
    );
    drop(rt);
    assert!(weak_target.upgrade().is_none(), "the slot's program leaked");
    assert_eq!(Arc::strong_count(&jumps), 1);
}
