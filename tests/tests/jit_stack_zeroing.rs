//! The JIT zeroes only the stack words and registers a program can read before writing them
//! (the interpreter starts every run with a zeroed stack and zeroed registers besides r1, r2
//! and r10). These tests make that skipping observable: a "dirt" program first fills its
//! stack frames with a non-zero pattern from the same call site, so a word or register the
//! JIT wrongly leaves alone reads as dirt instead of zero. Every case also runs on the
//! interpreter (the executable spec) and must agree with it.

mod jit_support;

use jit_support::test_helpers;
use sockops::jit::{JitOptions, JitProgram};
use sockops_vm::{HelperTable, Interpreter, Program, RunOptions, assemble};

/// The dirt pattern.
const DIRT: i32 = 0x5a5a_5a5a;

/// A program that fills every word of its frame and, through nested local calls, of the
/// next frames (`depth` frames in all) with `DIRT`.
fn dirt_text(depth: usize) -> String {
    let mut text = String::new();
    for frame in 0..depth {
        text.push_str(&format!("f{frame}:\n"));
        for w in 1..=64 {
            text.push_str(&format!("stdw [%r10-{}], {DIRT}\n", 8 * w));
        }
        if frame + 1 < depth {
            text.push_str(&format!("call local f{}\n", frame + 1));
        }
        text.push_str("mov %r0, 0\nexit\n");
    }
    text
}

fn compile(text: &str, table: &HelperTable) -> JitProgram {
    let program = Program::from_insns("t", assemble(text).expect("assembles"));
    // SAFETY: the test programs access only their stack frames, in bounds.
    unsafe { JitProgram::compile_unverified(&program, table, &JitOptions::default()) }
        .expect("compiles")
}

/// r0 of `text` on the interpreter, and on the JIT right after the dirt programs ran from
/// the same call site (one frame of dirt for call-free code, eight for code with calls).
fn run_after_dirt(text: &str) -> (u64, u64) {
    let table = test_helpers();
    let program = Program::from_insns("t", assemble(text).expect("assembles"));
    let mut interp = Interpreter::new(&program, &table).expect("decodes");
    let expected = interp
        .run(&mut [], &mut (), &RunOptions::default())
        .expect("interpreter runs")
        .r0;
    let lean_dirt = compile(&dirt_text(1), &table);
    let full_dirt = compile(&dirt_text(8), &table);
    let jit = compile(text, &table);
    let mut got = Vec::new();
    for dirt in [&lean_dirt, &full_dirt] {
        assert_eq!(dirt.run(&mut [], &mut ()), Ok(0));
        got.push(jit.run(&mut [], &mut ()).expect("JIT runs"));
    }
    assert_eq!(got[0], got[1], "{text}: depends on the dirt");
    (expected, got[0])
}

fn expect(text: &str, r0: u64) {
    let (interp, jit) = run_after_dirt(text);
    assert_eq!(interp, r0, "interpreter:\n{text}");
    assert_eq!(jit, r0, "JIT:\n{text}");
}

#[test]
fn words_read_before_any_write_start_zeroed() {
    expect("ldxdw %r0, [%r10-8]\nexit", 0);
    expect("ldxdw %r0, [%r10-512]\nexit", 0);
    // Read in the straight-line start before the write that follows it.
    expect("ldxdw %r0, [%r10-16]\nstdw [%r10-16], 7\nexit", 0);
    // Atomics read too.
    expect(
        "mov %r1, 3\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit",
        3,
    );
}

#[test]
fn words_written_in_the_straight_line_start_need_no_zeroing() {
    expect("stdw [%r10-8], 7\nldxdw %r0, [%r10-8]\nexit", 7);
    // Written there, read after a jump; the neighbouring word was never written.
    expect(
        "stdw [%r10-16], 7\nja +0\nldxdw %r0, [%r10-16]\nldxdw %r3, [%r10-24]\nadd %r0, %r3\nexit",
        7,
    );
}

#[test]
fn partly_written_words_and_writes_after_a_jump_still_zero() {
    // Only the low half of the word is written: its high half must read as zero.
    expect("stw [%r10-8], 7\nldxdw %r0, [%r10-8]\nexit", 7);
    expect("stb [%r10-1], 1\nldxdw %r0, [%r10-8]\nexit", 1 << 56);
    // The store after the jump is skipped at run time.
    expect(
        "mov %r2, 1\njeq %r2, 1, +1\nstdw [%r10-8], 7\nldxdw %r0, [%r10-8]\nexit",
        0,
    );
}

#[test]
fn wide_spans_and_every_frame_of_code_with_calls() {
    // 40 words read after a jump: zeroed with wide stores.
    let mut text = String::from("mov %r0, 0\nja +0\n");
    for w in 1..=40 {
        text.push_str(&format!("ldxdw %r3, [%r10-{}]\nadd %r0, %r3\n", 8 * w));
    }
    text.push_str("exit\n");
    expect(&text, 0);
    // A whole frame read through a copy of r10.
    expect(
        "mov %r2, %r10\nadd %r2, -256\nldxdw %r0, [%r2+0]\nldxdw %r3, [%r2+248]\nadd %r0, %r3\nexit",
        0,
    );
    // A callee frame and the entry frame of code with a helper call.
    expect(
        "call local f\nldxdw %r3, [%r10-8]\nadd %r0, %r3\nexit\nf:\nldxdw %r0, [%r10-8]\nexit",
        0,
    );
    expect("call 100\nldxdw %r0, [%r10-8]\nexit", 0);
}

#[test]
fn registers_read_before_written_start_zeroed() {
    expect("mov %r0, %r6\nexit", 0);
    expect(
        "mov %r0, %r9\nadd %r0, %r7\nadd %r0, %r8\nadd %r0, %r3\nexit",
        0,
    );
    expect("mov %r6, 5\nmov %r0, %r6\nexit", 5);
    // Written in the straight-line start only on one path... and read after a jump.
    expect(
        "mov %r2, 1\njeq %r2, 1, +1\nmov %r7, 9\nmov %r0, %r7\nexit",
        0,
    );
    // exit reads r0.
    expect("exit", 0);
    expect("ja +0\nexit", 0);
}
