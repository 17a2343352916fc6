//! The kernel-style log (`VerifyOptions::log_level`): off by default, on request it lists
//! every processed instruction in the kernel's syntax, the state where a popped path starts,
//! and ends with the kernel's `processed N insns ...` line — for accepted programs as for
//! rejected ones.

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn};

/// r6 = r1; r2 = ctx->op; r3 = 0; if r2 == 0 goto +2; r4 = r10; r4 += 16; r0 = 1; exit
fn branchy() -> Vec<Insn> {
    vec![
        Insn::new(0xbf, 6, 1, 0, 0),
        Insn::new(0x61, 2, 1, 0, 0),
        Insn::new(0xb7, 3, 0, 0, 0),
        Insn::new(0x15, 2, 0, 2, 0),
        Insn::new(0xbf, 4, 10, 0, 0),
        Insn::new(0x07, 4, 0, 0, 16),
        Insn::new(0xb7, 0, 0, 0, 1),
        Insn::new(0x95, 0, 0, 0, 0),
    ]
}

fn opts(level: u32) -> VerifyOptions {
    VerifyOptions {
        require_runtime_helpers: false,
        log_level: level,
        ..VerifyOptions::default()
    }
}

#[test]
fn no_log_unless_asked() {
    let s = verify_insns(&branchy(), &[], &HelperTable::new(), &opts(0)).unwrap();
    assert_eq!(s.log, "");
}

#[test]
fn accepted_program_log_lists_instructions_paths_and_totals() {
    let s = verify_insns(&branchy(), &[], &HelperTable::new(), &opts(1)).unwrap();
    let lines: Vec<&str> = s.log.lines().collect();
    // The kernel (6.18, log level 2) prints the same instruction lines and totals for this
    // program: 10 instructions, one stored state.
    assert_eq!(lines[0], "0: R1=ctx() R10=fp0");
    assert_eq!(lines[1], "0: (bf) r6 = r1");
    assert_eq!(lines[2], "1: (61) r2 = *(u32 *)(r1 +0)");
    assert!(
        lines[4].starts_with("3: (15) if r2 == 0x0 goto pc+2        ; R2=scalar("),
        "{}",
        s.log
    );
    assert!(
        s.log
            .contains("from 3 to 6: R1=ctx() R2=0 R3=0 R6=ctx() R10=fp0\n"),
        "{}",
        s.log
    );
    assert_eq!(
        lines.last().copied(),
        Some(
            "processed 10 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0"
        )
    );
    assert_eq!(s.insns_processed, 10);
}

#[test]
fn level_two_shows_every_instructions_registers() {
    let s = verify_insns(&branchy(), &[], &HelperTable::new(), &opts(2)).unwrap();
    assert!(
        s.log
            .contains("4: (bf) r4 = r10                      ; R4=fp0 R10=fp0\n"),
        "{}",
        s.log
    );
    assert!(
        s.log
            .contains("5: (07) r4 += 16                      ; R4=fp16\n"),
        "{}",
        s.log
    );
}

#[test]
fn rejected_program_log_ends_with_message_and_totals() {
    let p = vec![Insn::new(0xb7, 0, 0, 0, 2), Insn::new(0x95, 0, 0, 0, 0)];
    let e = verify_insns(&p, &[], &HelperTable::new(), &opts(1)).unwrap_err();
    let lines: Vec<&str> = e.log.lines().collect();
    assert_eq!(
        lines,
        [
            "0: R1=ctx() R10=fp0",
            "0: (b7) r0 = 2",
            "1: (95) exit",
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]",
            "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0",
        ]
    );
}
