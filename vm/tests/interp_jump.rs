//! Interpreter tests of control flow: every jump condition in JMP (64-bit) and JMP32 forms
//! with signed/unsigned boundary values and sign-extended immediates, `ja` and `gotol`,
//! out-of-range targets, jumps into an LD_IMM64 tail, falling off the end, and the
//! instruction budget.

mod interp_support;

use interp_support::*;
use sockops_vm::opcode::*;
use sockops_vm::{ExecErrorKind, HelperTable, Insn, RunOptions};

const MIN64: u64 = 0x8000_0000_0000_0000;
const MAX64: u64 = 0x7fff_ffff_ffff_ffff;
const NEG1: u64 = u64::MAX;

/// Whether `jmp` (comparing r1 with r2 or an immediate, jumping +1) is taken, with r1 = a and
/// r2 = b.
fn taken(a: u64, b: u64, jmp: Insn) -> bool {
    let p = prog(&[
        &lddw(R1, a),
        &lddw(R2, b),
        &[mov64(R0, 0), jmp, exit(), mov64(R0, 1), exit()],
    ]);
    match r0(&p) {
        0 => false,
        1 => true,
        other => panic!("unexpected r0 {other}"),
    }
}

fn reg(op: u8, wide: bool, a: u64, b: u64) -> bool {
    taken(a, b, jmp_reg(op, wide, R1, R2, 1))
}

fn imm(op: u8, wide: bool, a: u64, imm: i32) -> bool {
    taken(a, 0, jmp_imm(op, wide, R1, imm, 1))
}

#[test]
fn jmp64_conditions_with_boundary_values() {
    let cases: &[(u8, u64, u64, bool)] = &[
        (BPF_JEQ, 5, 5, true),
        (BPF_JEQ, 5, 6, false),
        (BPF_JEQ, 0x1_0000_0005, 5, false),
        (BPF_JNE, 5, 5, false),
        (BPF_JNE, 0x1_0000_0005, 5, true),
        (BPF_JGT, NEG1, 1, true),
        (BPF_JGT, 1, NEG1, false),
        (BPF_JGT, 5, 5, false),
        (BPF_JGE, 5, 5, true),
        (BPF_JGE, 4, 5, false),
        (BPF_JGE, NEG1, 0, true),
        (BPF_JLT, 1, NEG1, true),
        (BPF_JLT, 5, 5, false),
        (BPF_JLT, MIN64, MAX64, false),
        (BPF_JLE, 5, 5, true),
        (BPF_JLE, 6, 5, false),
        (BPF_JLE, MAX64, MIN64, true),
        (BPF_JSET, 0b1010, 0b0100, false),
        (BPF_JSET, 0b1010, 0b0010, true),
        (BPF_JSET, MIN64, MIN64, true),
        (BPF_JSGT, 1, NEG1, true),
        (BPF_JSGT, NEG1, 1, false),
        (BPF_JSGT, MIN64, MAX64, false),
        (BPF_JSGT, MAX64, MIN64, true),
        (BPF_JSGE, NEG1, NEG1, true),
        (BPF_JSGE, MIN64, 0, false),
        (BPF_JSGE, 0, MIN64, true),
        (BPF_JSLT, MIN64, MAX64, true),
        (BPF_JSLT, 0, NEG1, false),
        (BPF_JSLT, NEG1, 0, true),
        (BPF_JSLE, NEG1, NEG1, true),
        (BPF_JSLE, 0, NEG1, false),
        (BPF_JSLE, (-2i64) as u64, NEG1, true),
    ];
    for &(op, a, b, expect) in cases {
        assert_eq!(reg(op, true, a, b), expect, "op {op:#x} a {a:#x} b {b:#x}");
    }
}

#[test]
fn jmp32_conditions_compare_the_low_halves() {
    let cases: &[(u8, u64, u64, bool)] = &[
        (BPF_JEQ, 0x1_0000_0005, 5, true),
        (BPF_JEQ, 0xffff_ffff_0000_0000, 0, true),
        (BPF_JNE, 0x1_0000_0005, 5, false),
        (BPF_JGT, 0x1_0000_0000, 1, false),
        (BPF_JGT, 0xffff_ffff, 0xffff_fffe, true),
        (BPF_JGE, 0x5_0000_0003, 3, true),
        (BPF_JGE, 0x2, 0x1_0000_0003, false),
        (BPF_JLT, 0xffff_fffe, 0xffff_ffff, true),
        (BPF_JLT, 0x1_0000_0000, 0, false),
        (BPF_JLE, 0x1_0000_0000, 0, true),
        (BPF_JLE, 0x8000_0000, 0x7fff_ffff, false),
        (BPF_JSET, 0x1_0000_0000, 0x1_0000_0000, false),
        (BPF_JSET, 0x1_8000_0000, 0x8000_0000, true),
        (BPF_JSGT, 0x8000_0000, 1, false),
        (BPF_JSGT, 1, 0xffff_ffff, true),
        (BPF_JSGE, 0x7fff_ffff, 0xffff_ffff_8000_0000, true),
        (BPF_JSGE, 0xffff_ffff, 0, false),
        (BPF_JSLT, 0x8000_0000, 0, true),
        (BPF_JSLT, 0x1_0000_0000, 0xffff_ffff, false),
        (BPF_JSLE, 0xffff_ffff, 0xffff_ffff, true),
        (BPF_JSLE, 0x7fff_ffff, 0x8000_0000, false),
    ];
    for &(op, a, b, expect) in cases {
        assert_eq!(
            reg(op, false, a, b),
            expect,
            "op32 {op:#x} a {a:#x} b {b:#x}"
        );
    }
    // The same operands differ in 64 bits where the upper halves or bit 31 matter.
    assert!(reg(BPF_JGT, true, 0x1_0000_0000, 1));
    assert!(reg(BPF_JSGT, true, 0x8000_0000, 1));
    assert!(!reg(BPF_JSLT, true, 0x8000_0000, 0));
    assert!(reg(BPF_JSET, true, 0x1_0000_0000, 0x1_0000_0000));
}

#[test]
fn jump_immediates_are_sign_extended() {
    // jeq r1, 0x80000000 compares with 0xffffffff80000000 in 64 bits.
    assert!(imm(BPF_JEQ, true, 0xffff_ffff_8000_0000, i32::MIN));
    assert!(!imm(BPF_JEQ, true, 0x8000_0000, i32::MIN));
    assert!(imm(BPF_JEQ, false, 0x8000_0000, i32::MIN));
    // jgt r1, -1 (imm): nothing is above u64::MAX.
    assert!(!imm(BPF_JGT, true, u64::MAX - 1, -1));
    assert!(imm(BPF_JLT, true, u64::MAX - 1, -1));
    assert!(imm(BPF_JLT, false, 0xffff_ffff_ffff_fffe, -1));
    assert!(imm(BPF_JSGT, true, 0, -1));
    assert!(imm(BPF_JSLT, false, 0xffff_fffe, -1));
    assert!(imm(BPF_JSET, true, MIN64, i32::MIN));
    assert!(!imm(BPF_JNE, true, NEG1, -1));
    assert!(imm(BPF_JGE, false, 7, 7));
    assert!(imm(BPF_JLE, true, 7, 7));
    assert!(imm(BPF_JSGE, true, NEG1, -1));
    assert!(imm(BPF_JSLE, false, 0xffff_ffff, -1));
}

#[test]
fn ja_forward_backward_and_gotol() {
    assert_eq!(r0(&[mov64(R0, 1), ja(1), mov64(R0, 2), exit()]), 1);
    assert_eq!(r0(&[mov64(R0, 1), ja(0), exit()]), 1);
    assert_eq!(r0(&[mov64(R0, 1), gotol(1), mov64(R0, 2), exit()]), 1);
    // Loop: r0 = 0; r1 = 5; do { r0 += 2; r1 -= 1 } while r1 != 0.
    let p = [
        mov64(R0, 0),
        mov64(R1, 5),
        alu64_imm(BPF_ADD, R0, 2),
        alu64_imm(BPF_SUB, R1, 1),
        jmp_imm(BPF_JNE, true, R1, 0, -3),
        exit(),
    ];
    assert_eq!(r0(&p), 10);
    // gotol backwards: skip to the end, then come back.
    let p = [
        mov64(R0, 0),
        gotol(2),
        alu64_imm(BPF_ADD, R0, 5),
        exit(),
        alu64_imm(BPF_ADD, R0, 1),
        gotol(-4),
    ];
    assert_eq!(r0(&p), 6);
}

#[test]
fn jumps_out_of_range_are_errors_with_pc() {
    let e = err(&[ja(5), exit()]);
    assert_eq!(e.pc, 0);
    assert_eq!(e.kind, ExecErrorKind::JumpOutOfRange { target: 6, len: 2 });
    let e = err(&[mov64(R0, 0), ja(-3), exit()]);
    assert_eq!(
        (e.pc, e.kind),
        (1, ExecErrorKind::JumpOutOfRange { target: -1, len: 3 })
    );
    let e = err(&[gotol(i32::MAX), exit()]);
    assert!(matches!(e.kind, ExecErrorKind::JumpOutOfRange { .. }));
    let e = err(&[gotol(i32::MIN), exit()]);
    assert!(matches!(e.kind, ExecErrorKind::JumpOutOfRange { .. }));
    // A conditional jump only fails when it is taken.
    assert_eq!(
        r0(&[mov64(R0, 0), jmp_imm(BPF_JEQ, true, R0, 1, 100), exit()]),
        0
    );
    let e = err(&[mov64(R0, 1), jmp_imm(BPF_JEQ, true, R0, 1, 100), exit()]);
    assert_eq!(e.pc, 1);
    // msg names the pc
    assert!(e.to_string().starts_with("insn 1:"), "{e}");
}

#[test]
fn jump_into_ld_imm64_tail_is_an_error() {
    let p = prog(&[&[ja(1)], &lddw(R0, 5), &[exit()]]);
    let e = err(&p);
    assert_eq!(
        (e.pc, e.kind),
        (0, ExecErrorKind::JumpIntoLdImm64 { target: 2 })
    );
    let p = prog(&[&[call_local(1)], &lddw(R0, 5), &[exit()]]);
    assert_eq!(err(&p).kind, ExecErrorKind::JumpIntoLdImm64 { target: 2 });
}

#[test]
fn falling_off_the_end_is_an_error() {
    let e = err(&[mov64(R0, 1)]);
    assert_eq!((e.pc, e.kind), (0, ExecErrorKind::FellOffEnd));
    let e = err(&prog(&[&[mov64(R0, 1)], &lddw(R0, 2)]));
    assert_eq!(e.kind, ExecErrorKind::FellOffEnd);
    // A taken jump to one past the end is out of range, not a fall-through.
    let e = err(&[mov64(R0, 0), jmp_imm(BPF_JEQ, true, R0, 0, 0)]);
    assert_eq!(e.kind, ExecErrorKind::JumpOutOfRange { target: 2, len: 2 });
    let e = err(&[mov64(R0, 0), jmp_imm(BPF_JEQ, true, R0, 1, 0)]);
    assert_eq!((e.pc, e.kind), (1, ExecErrorKind::FellOffEnd));
}

#[test]
fn instruction_budget_stops_runaway_programs() {
    let helpers = HelperTable::new();
    let mut vm = interp(&[ja(-1)], &helpers);
    let options = RunOptions {
        instruction_budget: Some(1000),
    };
    let e = vm.run(&mut [], &mut (), &options).unwrap_err();
    assert_eq!(
        (e.pc, e.kind),
        (0, ExecErrorKind::BudgetExhausted { budget: 1000 })
    );

    // Exactly enough budget succeeds; one less fails at the last instruction. An LD_IMM64
    // counts as one instruction.
    let p = prog(&[&[mov64(R0, 1)], &lddw(R1, 7), &[exit()]]);
    let mut vm = interp(&p, &helpers);
    let r = vm
        .run(
            &mut [],
            &mut (),
            &RunOptions {
                instruction_budget: Some(3),
            },
        )
        .unwrap();
    assert_eq!(r.stats.instructions, 3);
    let e = vm
        .run(
            &mut [],
            &mut (),
            &RunOptions {
                instruction_budget: Some(2),
            },
        )
        .unwrap_err();
    assert_eq!(
        (e.pc, e.kind),
        (3, ExecErrorKind::BudgetExhausted { budget: 2 })
    );
}
