//! Interpreter tests of calls and LD_IMM64 pseudo values: helper calls through the helper
//! table (arguments, result, the environment's memory and payload, errors), `callx`, local
//! calls (r6-r9 preserved, separate 512-byte frames, the 8-frame limit), unsupported kfunc
//! calls and legacy packet loads, map references, run statistics and construction errors.

mod interp_support;

use std::sync::Arc;

use interp_support::*;
use sockops_vm::opcode::*;
use sockops_vm::{
    ArgKind, DecodeErrorKind, ExecErrorKind, Helper, HelperEnv, HelperError, HelperSignature,
    HelperTable, Insn, Interpreter, Map, MapDef, MapType, Program, RetKind, RunOptions,
};

fn sig(name: &'static str) -> HelperSignature {
    HelperSignature {
        name,
        args: &[ArgKind::Anything],
        ret: RetKind::Integer,
        gpl_only: false,
    }
}

fn sum(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(a.iter().fold(0u64, |s, v| s.wrapping_add(*v)))
}

/// Stores r2 at r1 (8 bytes) and returns the 8 bytes at r1 + 8.
fn store_and_load(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    env.memory.store(a[0], 8, a[1])?;
    Ok(env.memory.load(a[0].wrapping_add(8), 8)?)
}

/// Increments the u64 payload and returns it.
fn count(env: &mut HelperEnv<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    let n = env
        .payload
        .downcast_mut::<u64>()
        .ok_or(HelperError::Abort("count"))?;
    *n += 1;
    Ok(*n)
}

fn abort(_: &mut HelperEnv<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Err(HelperError::Abort("abort"))
}

fn first_arg(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(a[0])
}

/// The index of the map whose pointer is r1, or u64::MAX.
fn map_index(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(env.map_by_ptr(a[0]).map_or(u64::MAX, |(i, _)| i as u64))
}

fn helpers() -> HelperTable {
    let mut t = HelperTable::new();
    let entries: [(u32, &'static str, sockops_vm::HelperFn); 6] = [
        (1, "sum", sum),
        (2, "store_and_load", store_and_load),
        (3, "count", count),
        (4, "abort", abort),
        (5, "first_arg", first_arg),
        (6, "map_index", map_index),
    ];
    for (id, name, func) in entries {
        t.register(Helper {
            id,
            signature: sig(name),
            func,
        });
    }
    t
}

fn run_h(insns: &[Insn]) -> Result<sockops_vm::RunResult, sockops_vm::ExecError> {
    let options = RunOptions {
        instruction_budget: Some(100_000),
    };
    interp(insns, &helpers()).run(&mut [], &mut 0u64, &options)
}

#[test]
fn helper_gets_r1_to_r5_and_sets_r0() {
    let p = [
        mov64(R1, 1),
        mov64(R2, 20),
        mov64(R3, 300),
        mov64(R4, 4000),
        mov64(R5, 50000),
        call(1),
        exit(),
    ];
    assert_eq!(run_h(&p).unwrap().r0, 54321);
}

#[test]
fn r1_to_r5_keep_their_values_after_a_helper_call() {
    // Documented interpreter behaviour (as the kernel's interpreter); the verifier forbids
    // reading them.
    let p = [
        mov64(R1, 7),
        mov64(R5, 9),
        call(1),
        alu64_reg(BPF_ADD, R1, R5),
        mov64_reg(R0, R1),
        exit(),
    ];
    assert_eq!(run_h(&p).unwrap().r0, 16);
}

#[test]
fn helper_reads_and_writes_guest_memory_through_the_env() {
    // [r10-8] = 0x55 (written by the program); the helper stores 0x1234 at [r10-16] and
    // returns [r10-8].
    let p = [
        st(8, R10, -8, 0x55),
        mov64_reg(R1, R10),
        alu64_imm(BPF_ADD, R1, -16),
        mov64(R2, 0x1234),
        call(2),
        ldx(8, R6, R10, -16),
        alu64_reg(BPF_ADD, R0, R6),
        exit(),
    ];
    assert_eq!(run_h(&p).unwrap().r0, 0x55 + 0x1234);
    // Out of bounds for the helper: a typed helper error, at the call's pc.
    let p = [mov64(R1, 64), call(2), exit()];
    let e = run_h(&p).unwrap_err();
    assert_eq!(e.pc, 1);
    assert!(matches!(
        e.kind,
        ExecErrorKind::Helper {
            name: "store_and_load",
            source: HelperError::Memory(_)
        }
    ));
}

#[test]
fn helper_payload_and_call_counts() {
    let p = [call(3), call(3), call(3), exit()];
    let mut vm = interp(&p, &helpers());
    let mut payload = 10u64;
    let r = vm
        .run(&mut [], &mut payload, &RunOptions::default())
        .unwrap();
    assert_eq!(r.r0, 13);
    assert_eq!(payload, 13);
    assert_eq!(r.stats.helper_calls, 3);
    assert_eq!(r.stats.instructions, 4);
    assert_eq!(r.stats.max_call_depth, 1);
    // Reusing the interpreter.
    let r = vm
        .run(&mut [], &mut payload, &RunOptions::default())
        .unwrap();
    assert_eq!(r.r0, 16);
}

#[test]
fn unknown_helper_and_helper_failure_are_typed_errors() {
    let e = run_h(&[mov64(R0, 0), call(99), exit()]).unwrap_err();
    assert_eq!((e.pc, e.kind), (1, ExecErrorKind::UnknownHelper(99)));
    let e = run_h(&[call(-1), exit()]).unwrap_err();
    assert_eq!(e.kind, ExecErrorKind::UnknownHelper(0xffff_ffff));
    let e = run_h(&[call(4), exit()]).unwrap_err();
    assert_eq!(
        e.kind,
        ExecErrorKind::Helper {
            name: "abort",
            source: HelperError::Abort("abort")
        }
    );
}

#[test]
fn callx_takes_the_helper_id_from_a_register() {
    let p = [mov64(R1, -1), mov64(R2, 5), callx(R2), exit()];
    assert_eq!(run_h(&p).unwrap().r0, u64::MAX);
    let e = run_h(&[mov64(R2, 77), callx(R2), exit()]).unwrap_err();
    assert_eq!((e.pc, e.kind), (1, ExecErrorKind::UnknownHelper(77)));
    let p = prog(&[&lddw(R3, 0x1_0000_0005), &[callx(R3), exit()]]);
    assert_eq!(
        run_h(&p).unwrap_err().kind,
        ExecErrorKind::UnknownHelper(0x1_0000_0005)
    );
}

#[test]
fn kfunc_calls_and_legacy_packet_loads_are_unsupported() {
    assert!(matches!(
        run_h(&[call_kfunc(1234), exit()]).unwrap_err().kind,
        ExecErrorKind::Unsupported(_)
    ));
    let ld_abs = Insn::new(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 0);
    let e = run_h(&[mov64(R0, 0), ld_abs, exit()]).unwrap_err();
    assert_eq!(e.pc, 1);
    assert!(matches!(e.kind, ExecErrorKind::Unsupported(_)));
}

#[test]
fn local_call_preserves_r6_to_r9() {
    let p = [
        mov64(R6, 1),
        mov64(R7, 2),
        mov64(R8, 3),
        mov64(R9, 4),
        call_local(6), // -> slot 11
        alu64_reg(BPF_ADD, R0, R6),
        alu64_reg(BPF_ADD, R0, R7),
        alu64_reg(BPF_ADD, R0, R8),
        alu64_reg(BPF_ADD, R0, R9),
        exit(),
        // padding slot never executed
        exit(),
        // callee
        mov64(R6, 100),
        mov64(R7, 200),
        mov64(R8, 300),
        mov64(R9, 400),
        mov64(R0, 5),
        exit(),
    ];
    let r = run_h(&p).unwrap();
    assert_eq!(r.r0, 5 + 1 + 2 + 3 + 4);
    assert_eq!(r.stats.local_calls, 1);
    assert_eq!(r.stats.max_call_depth, 2);
}

#[test]
fn local_calls_get_their_own_512_byte_frame() {
    // Caller's [r10-8] survives the callee writing its own [r10-8].
    let p = [
        st(8, R10, -8, 1),
        call_local(2),
        ldx(8, R0, R10, -8),
        exit(),
        st(8, R10, -8, 2),
        exit(),
    ];
    assert_eq!(run_h(&p).unwrap().r0, 1);
    // The callee's r10 is 512 bytes below the caller's; the caller's r10 is restored.
    let p = [
        mov64_reg(R6, R10),
        call_local(3),
        alu64_reg(BPF_SUB, R6, R0),
        mov64_reg(R0, R6),
        exit(),
        mov64_reg(R0, R10),
        exit(),
    ];
    assert_eq!(run_h(&p).unwrap().r0, 512);
    // The callee may use a pointer into the caller's frame.
    let p = [
        st(8, R10, -8, 7),
        mov64_reg(R1, R10),
        alu64_imm(BPF_ADD, R1, -8),
        call_local(1),
        exit(),
        ldx(8, R0, R1, 0),
        exit(),
    ];
    assert_eq!(run_h(&p).unwrap().r0, 7);
}

#[test]
fn exit_from_a_callee_returns_to_the_slot_after_the_call() {
    let p = [call_local(0), mov64(R0, 3), exit()];
    // call -> slot 1 (r0 = 3), exit returns to slot 1 again (r0 = 3), exit ends the run.
    let r = run_h(&p).unwrap();
    assert_eq!(r.r0, 3);
    assert_eq!(r.stats.instructions, 5);
}

/// main calls f(n); f counts itself in r0 and recurses until n = 0: n + 2 frames in all.
fn recursion(n: i32) -> Vec<Insn> {
    vec![
        mov64(R0, 0),
        mov64(R1, n),
        call_local(1), // -> 4
        exit(),
        alu64_imm(BPF_ADD, R0, 1),
        jmp_imm(BPF_JEQ, true, R1, 0, 2), // -> 8
        alu64_imm(BPF_SUB, R1, 1),
        call_local(-4), // -> 4
        exit(),
    ]
}

#[test]
fn call_depth_is_limited_to_8_frames() {
    let r = run_h(&recursion(6)).unwrap();
    assert_eq!(r.r0, 7);
    assert_eq!(r.stats.max_call_depth, 8);
    assert_eq!(r.stats.local_calls, 7);
    let e = run_h(&recursion(7)).unwrap_err();
    assert_eq!(
        (e.pc, e.kind),
        (7, ExecErrorKind::CallDepthExceeded { max: 8 })
    );
    // The deepest frame's stack is usable: its [r10-512] is inside the buffer.
    let mut deep = recursion(6);
    deep.insert(8, st(8, R10, -512, 1));
    // (The jeq at slot 5 and the return from the call at 7 both land on the store.)
    assert_eq!(run_h(&deep).unwrap().r0, 7);
}

#[test]
fn local_call_out_of_range_is_an_error() {
    let e = run_h(&[call_local(10), exit()]).unwrap_err();
    assert_eq!(e.kind, ExecErrorKind::JumpOutOfRange { target: 11, len: 2 });
}

fn array_map() -> Arc<Map> {
    Arc::new(
        Map::try_new(
            "m",
            MapDef {
                map_type: MapType::Array,
                key_size: 4,
                value_size: 8,
                max_entries: 1,
                map_flags: 0,
            },
        )
        .expect("valid map definition"),
    )
}

#[test]
fn ld_imm64_map_fd_loads_the_map_pointer() {
    let map = array_map();
    let other = array_map();
    let insns = prog(&[&lddw_pseudo(R1, BPF_PSEUDO_MAP_FD, 1), &[call(6), exit()]]);
    let program = Program {
        maps: vec![other.clone(), map.clone()],
        ..Program::from_insns("maps", insns)
    };
    let mut vm = Interpreter::new(&program, &helpers()).unwrap();
    assert_eq!(
        vm.run(&mut [], &mut 0u64, &RunOptions::default())
            .unwrap()
            .r0,
        1
    );

    let insns = prog(&[&lddw_pseudo(R0, BPF_PSEUDO_MAP_FD, 0), &[exit()]]);
    let program = Program {
        maps: vec![map.clone()],
        ..Program::from_insns("maps", insns)
    };
    let mut vm = Interpreter::new(&program, &helpers()).unwrap();
    assert_eq!(vm.run_plain(&mut []).unwrap().r0, map.program_ptr());

    let insns = prog(&[&lddw_pseudo(R0, BPF_PSEUDO_MAP_FD, 3), &[exit()]]);
    let program = Program {
        maps: vec![map],
        ..Program::from_insns("maps", insns)
    };
    let e = Interpreter::new(&program, &helpers())
        .unwrap()
        .run_plain(&mut [])
        .unwrap_err();
    assert_eq!(
        (e.pc, e.kind),
        (0, ExecErrorKind::BadMapIndex { index: 3, count: 1 })
    );
}

#[test]
fn ld_imm64_btf_id_and_func_are_unsupported() {
    for src in [BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC] {
        let p = prog(&[&lddw_pseudo(R0, src, 0), &[exit()]]);
        assert!(matches!(
            run_h(&p).unwrap_err().kind,
            ExecErrorKind::Unsupported(_)
        ));
    }
}

#[test]
fn construction_fails_on_undecodable_programs_with_the_slot() {
    let p = [mov64(R0, 0), Insn::new(0xff, 0, 0, 0, 0), exit()];
    let e = Interpreter::new(&Program::from_insns("bad", p.to_vec()), &helpers()).unwrap_err();
    assert_eq!(
        (e.pc, e.kind),
        (
            1,
            ExecErrorKind::Decode(DecodeErrorKind::UnknownOpcode(0xff))
        )
    );
}
