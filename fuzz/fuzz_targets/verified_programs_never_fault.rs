//! Attacks the verifier's safety promise: the input is a program (8-byte slots) with two
//! maps (an array and a hash). Whatever the runtime's verifier accepts must run without a
//! fault in the checked interpreter — which bounds every access, jump and call and would
//! report an escape as an error — for every op, and must decide the same on the JIT when it
//! leaks no address (strict mode accepts it). A verifier bug that lets an unsafe program
//! through shows up as a crash here.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sockops::cgroup::AttachFlags;
use sockops::ctx::ops::cb_flags;
use sockops::ctx::{OpInput, SockOp, Socket};
use sockops::runtime::{Engine, Runtime, Verdict};
use sockops::vm::{HelperTable, Insn, Map, MapDef, MapType, Program};
use sockops_verifier::{VerifyOptions, verify};

fn maps() -> Vec<Arc<Map>> {
    let def = |map_type, key_size, value_size, max_entries| MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    };
    vec![
        Arc::new(Map::try_new("array", def(MapType::Array, 4, 16, 4)).unwrap()),
        Arc::new(Map::try_new("hash", def(MapType::Hash, 8, 8, 16)).unwrap()),
    ]
}

/// Per op: return values, reply, result and helper ids; then the map contents.
type Outcome = (Vec<(Vec<u64>, u32, Option<i32>, Vec<u32>)>, Vec<Vec<(Vec<u8>, Vec<u8>)>>);

fn run(insns: &[Insn], engine: Engine, socket: &Socket) -> Option<Outcome> {
    let program = Program {
        maps: maps(),
        license: "GPL".into(),
        ..Program::from_insns("fuzz", insns.to_vec())
    };
    let maps = program.maps.clone();
    let mut rt = Runtime::new();
    rt.set_instruction_budget(None);
    let id = rt.load_raw_program(program, engine).ok()?;
    if rt.program_info(id).ok()?.verdict != Verdict::Verified {
        return None;
    }
    rt.attach(id, "/", AttachFlags::None).unwrap();
    let mut socket = socket.clone();
    let mut decisions = Vec::new();
    for (op, args) in [
        (SockOp::TimeoutInit, [0; 4]),
        (SockOp::TcpConnectCb, [0; 4]),
        (SockOp::RtoCb, [1, 100, 0, 0]),
        (SockOp::StateCb, [1, 4, 0, 0]),
    ] {
        let mut input = OpInput::new(op);
        input.args = args;
        let d = rt
            .call_input(input, &mut socket)
            .unwrap_or_else(|e| panic!("a verified program failed on {engine}: {e}"));
        decisions.push((
            d.returns(),
            d.reply,
            d.result,
            d.helper_calls.iter().map(|c| c.id).collect(),
        ));
    }
    Some((decisions, maps.iter().map(|m| m.entries()).collect()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(insns) = Insn::slice_from_bytes(&data[..data.len() / 8 * 8]) else {
        return;
    };
    if insns.is_empty() || insns.len() > 256 {
        return;
    }
    let mut socket = Socket::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.1.2.3:443".parse().unwrap(),
    );
    socket.cb_flags = cb_flags::ALL;
    let Some(interp) = run(&insns, Engine::Interpreter, &socket) else {
        return;
    };
    let jit = run(&insns, Engine::Jit, &socket).expect("verified for one engine, not the other");
    let strict = VerifyOptions {
        strict: true,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let program = Program {
        maps: maps(),
        ..Program::from_insns("fuzz", insns.to_vec())
    };
    if verify(&program, &HelperTable::new(), &strict).is_ok() {
        assert_eq!(interp, jit, "the engines decided differently");
    }
});
