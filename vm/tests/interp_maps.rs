//! Interpreter tests that involve maps: LD_IMM64 map values (global data, read-only
//! `.rodata`-style maps, bad offsets), map helpers on values the program reaches, and tail
//! calls through prog arrays (success, empty slot, r1 kept, the 33-call limit, tail calls
//! from a sub-program, the target's own maps, undecodable targets, the decoded-target cache).

mod interp_support;

use std::sync::Arc;

use interp_support::*;
use sockops_vm::maps::BPF_F_RDONLY_PROG;
use sockops_vm::maps::helpers::register_map_helpers;
use sockops_vm::opcode::*;
use sockops_vm::{
    ExecErrorKind, HelperTable, Insn, Interpreter, Map, MapDef, MapType, Program, RunOptions,
    RunResult,
};

fn map(map_type: MapType, value_size: u32, max_entries: u32, map_flags: u32) -> Arc<Map> {
    Arc::new(
        Map::try_new(
            "m",
            MapDef {
                map_type,
                key_size: 4,
                value_size,
                max_entries,
                map_flags,
            },
        )
        .expect("valid map definition"),
    )
}

fn program(insns: Vec<Insn>, maps: &[&Arc<Map>]) -> Program {
    Program {
        maps: maps.iter().map(|m| Arc::clone(m)).collect(),
        ..Program::from_insns("p", insns)
    }
}

fn helpers() -> HelperTable {
    let mut t = HelperTable::new();
    register_map_helpers(&mut t);
    t
}

fn run(p: &Program, ctx: &mut [u8]) -> Result<RunResult, sockops_vm::ExecError> {
    let options = RunOptions {
        instruction_budget: Some(100_000),
    };
    Interpreter::new(p, &helpers())
        .unwrap()
        .run(ctx, &mut (), &options)
}

/// `lddw dst, map_value(map, offset)`.
fn map_value(dst: u8, map: u32, offset: u32) -> [Insn; 2] {
    lddw_pseudo(
        dst,
        BPF_PSEUDO_MAP_VALUE,
        (u64::from(offset) << 32) | u64::from(map),
    )
}

#[test]
fn map_value_reference_reads_and_writes_global_data() {
    let data = map(MapType::Array, 16, 1, 0);
    let insns = prog(&[
        &map_value(R1, 0, 4),
        &[
            st(4, R1, 0, 0x1234),
            st(1, R1, 11, 0x7f),
            ldx(4, R0, R1, 0),
            exit(),
        ],
    ]);
    let r = run(&program(insns, &[&data]), &mut []).unwrap();
    assert_eq!(r.r0, 0x1234);
    let value = data.lookup(&0u32.to_le_bytes()).unwrap();
    assert_eq!(&value[4..8], &[0x34, 0x12, 0, 0]);
    assert_eq!(value[15], 0x7f);
}

#[test]
fn map_value_accesses_are_bounded_by_the_value() {
    let data = map(MapType::Array, 16, 1, 0);
    // Offset 12 + 4 bytes ends exactly at the value's end; one more byte is outside.
    let ok = prog(&[&map_value(R1, 0, 12), &[ldx(4, R0, R1, 0), exit()]]);
    assert_eq!(run(&program(ok, &[&data]), &mut []).unwrap().r0, 0);
    let bad = prog(&[&map_value(R1, 0, 12), &[ldx(4, R0, R1, 1), exit()]]);
    let e = run(&program(bad, &[&data]), &mut []).unwrap_err();
    assert_eq!(e.pc, 2);
    assert!(matches!(e.kind, ExecErrorKind::Memory(_)));
    // An offset at or past value_size is refused when the LD_IMM64 executes.
    let past = prog(&[&map_value(R1, 0, 16), &[exit()]]);
    assert_eq!(
        run(&program(past, &[&data]), &mut []).unwrap_err().kind,
        ExecErrorKind::BadMapValue { map: 0, offset: 16 }
    );
    // Not an array map.
    let hash = map(MapType::Hash, 8, 4, 0);
    let p = prog(&[&map_value(R1, 0, 0), &[exit()]]);
    assert_eq!(
        run(&program(p, &[&hash]), &mut []).unwrap_err().kind,
        ExecErrorKind::BadMapValue { map: 0, offset: 0 }
    );
    // No such map.
    let p = prog(&[&map_value(R1, 2, 0), &[exit()]]);
    assert_eq!(
        run(&program(p, &[&data]), &mut []).unwrap_err().kind,
        ExecErrorKind::BadMapIndex { index: 2, count: 1 }
    );
}

#[test]
fn read_only_map_values_reject_program_writes() {
    let rodata = map(MapType::Array, 8, 1, BPF_F_RDONLY_PROG);
    rodata
        .update(&0u32.to_le_bytes(), &[9, 0, 0, 0, 0, 0, 0, 0], 0)
        .unwrap();
    let read = prog(&[&map_value(R1, 0, 0), &[ldx(8, R0, R1, 0), exit()]]);
    assert_eq!(run(&program(read, &[&rodata]), &mut []).unwrap().r0, 9);
    let write = prog(&[&map_value(R1, 0, 0), &[st(8, R1, 0, 1), exit()]]);
    let e = run(&program(write, &[&rodata]), &mut []).unwrap_err();
    assert_eq!(e.pc, 2);
    assert!(matches!(e.kind, ExecErrorKind::Memory(_)));
}

#[test]
fn lookup_helper_values_are_accessible_to_the_program() {
    // key = 0 on the stack; r0 = bpf_map_lookup_elem(map, &key); *(u64 *)r0 += 5; return it.
    let arr = map(MapType::Array, 8, 1, 0);
    let insns = prog(&[
        &[st(4, R10, -4, 0)],
        &lddw_pseudo(R1, BPF_PSEUDO_MAP_FD, 0),
        &[
            mov64_reg(R2, R10),
            alu64_imm(BPF_ADD, R2, -4),
            call(1),
            jmp_imm(BPF_JEQ, true, R0, 0, 4),
            ldx(8, R1, R0, 0),
            alu64_imm(BPF_ADD, R1, 5),
            stx(8, R0, 0, R1),
            mov64_reg(R0, R1),
            exit(),
        ],
    ]);
    let p = program(insns, &[&arr]);
    assert_eq!(run(&p, &mut []).unwrap().r0, 5);
    assert_eq!(run(&p, &mut []).unwrap().r0, 10);
}

/// `bpf_tail_call(r1, prog_array = map 0, index)` followed by `r0 = fallback; exit`.
fn tail_caller(index: i32, fallback: i32) -> Vec<Insn> {
    prog(&[
        &lddw_pseudo(R2, BPF_PSEUDO_MAP_FD, 0),
        &[mov64(R3, index), call(12), mov64(R0, fallback), exit()],
    ])
}

fn prog_array(entries: u32) -> Arc<Map> {
    map(MapType::ProgArray, 4, entries, 0)
}

#[test]
fn tail_call_replaces_the_program_or_falls_through() {
    let pa = prog_array(4);
    let target = Arc::new(Program::from_insns("t", vec![mov64(R0, 42), exit()]));
    pa.prog_array_set(2, Some(target)).unwrap();
    let caller = program(tail_caller(2, 7), &[&pa]);
    let r = run(&caller, &mut []).unwrap();
    assert_eq!(r.r0, 42);
    assert_eq!(r.stats.tail_calls, 1);
    // Empty slot and out-of-range index: execution continues after the call.
    let r = run(&program(tail_caller(1, 7), &[&pa]), &mut []).unwrap();
    assert_eq!((r.r0, r.stats.tail_calls), (7, 0));
    let r = run(&program(tail_caller(9, 7), &[&pa]), &mut []).unwrap();
    assert_eq!(r.r0, 7);
}

#[test]
fn tail_call_keeps_the_registers_and_the_context() {
    let pa = prog_array(1);
    // The target returns ctx[0] + r3 (the index the caller passed) + r6.
    let target = Program::from_insns(
        "t",
        vec![
            ldx(1, R0, R1, 0),
            alu64_reg(BPF_ADD, R0, R3),
            alu64_reg(BPF_ADD, R0, R6),
            exit(),
        ],
    );
    pa.prog_array_set(0, Some(Arc::new(target))).unwrap();
    let mut insns = vec![mov64(R6, 100)];
    insns.extend(tail_caller(0, 7));
    let mut ctx = [30u8, 0, 0, 0];
    assert_eq!(run(&program(insns, &[&pa]), &mut ctx).unwrap().r0, 130);
}

#[test]
fn at_most_33_tail_calls_per_run() {
    let pa = prog_array(1);
    // Each execution increments the u32 at ctx[0], then tail-calls itself; once the limit is
    // reached the call falls through and the program returns the counter.
    let insns = prog(&[
        &[
            mov64_reg(R6, R1),
            ldx(4, R2, R6, 0),
            alu64_imm(BPF_ADD, R2, 1),
            stx(4, R6, 0, R2),
        ],
        &lddw_pseudo(R2, BPF_PSEUDO_MAP_FD, 0),
        &[
            mov64(R3, 0),
            mov64_reg(R1, R6),
            call(12),
            ldx(4, R0, R6, 0),
            exit(),
        ],
    ]);
    let looping = Arc::new(program(insns, &[&pa]));
    pa.prog_array_set(0, Some(Arc::clone(&looping))).unwrap();
    let mut ctx = [0u8; 4];
    let r = Interpreter::from_arc(Arc::clone(&looping), &helpers())
        .unwrap()
        .run(&mut ctx, &mut (), &RunOptions::default())
        .unwrap();
    // The first run plus 33 tail calls.
    assert_eq!(r.r0, 34);
    assert_eq!(r.stats.tail_calls, 33);
    // Break the program <-> prog array reference cycle.
    pa.prog_array_set(0, None).unwrap();
}

#[test]
fn tail_call_from_a_sub_program_returns_to_its_caller() {
    let pa = prog_array(1);
    pa.prog_array_set(
        0,
        Some(Arc::new(Program::from_insns(
            "t",
            vec![mov64(R0, 42), exit()],
        ))),
    )
    .unwrap();
    // main: call f; r0 += 1; exit.   f: tail call slot 0, else r0 = 7.
    let mut insns = vec![call_local(2), alu64_imm(BPF_ADD, R0, 1), exit()];
    insns.extend(tail_caller(0, 7));
    let r = run(&program(insns, &[&pa]), &mut []).unwrap();
    assert_eq!(r.r0, 43);
    assert_eq!(r.stats.max_call_depth, 2);
}

#[test]
fn tail_call_target_uses_its_own_maps() {
    let pa = prog_array(1);
    let other = map(MapType::Array, 8, 1, 0);
    let target = program(
        prog(&[&lddw_pseudo(R0, BPF_PSEUDO_MAP_FD, 0), &[exit()]]),
        &[&other],
    );
    pa.prog_array_set(0, Some(Arc::new(target))).unwrap();
    let r = run(&program(tail_caller(0, 7), &[&pa]), &mut []).unwrap();
    assert_eq!(r.r0, other.program_ptr());
}

#[test]
fn undecodable_tail_call_target_is_an_error() {
    let pa = prog_array(1);
    let bad = Program::from_insns("bad", vec![mov64(R0, 0), Insn::new(0xff, 0, 0, 0, 0)]);
    pa.prog_array_set(0, Some(Arc::new(bad))).unwrap();
    let e = run(&program(tail_caller(0, 7), &[&pa]), &mut []).unwrap_err();
    assert_eq!(e.pc, 3);
    match e.kind {
        ExecErrorKind::BadTailCallTarget { index: 0, error } => assert_eq!(error.pc, 1),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn cached_targets_follow_prog_array_updates_between_runs() {
    let pa = prog_array(1);
    let caller = program(tail_caller(0, 7), &[&pa]);
    let mut vm = Interpreter::new(&caller, &helpers()).unwrap();
    let mut go = || vm.run(&mut [], &mut (), &RunOptions::default()).unwrap().r0;
    assert_eq!(go(), 7);
    pa.prog_array_set(
        0,
        Some(Arc::new(Program::from_insns(
            "a",
            vec![mov64(R0, 1), exit()],
        ))),
    )
    .unwrap();
    assert_eq!(go(), 1);
    assert_eq!(go(), 1);
    pa.prog_array_set(
        0,
        Some(Arc::new(Program::from_insns(
            "b",
            vec![mov64(R0, 2), exit()],
        ))),
    )
    .unwrap();
    assert_eq!(go(), 2);
    pa.prog_array_set(0, None).unwrap();
    assert_eq!(go(), 7);
}
