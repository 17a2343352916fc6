//! Golden machine-code tests of the aarch64 code generator, on every host: small programs are
//! assembled for aarch64 with dynasm's `VecAssembler` (as the backend always does) and
//! disassembled with the pure-Rust `yaxpeax-arm` decoder, and each slot's instructions are
//! compared with the expected text, for the encodings most easily got wrong: large and odd
//! offsets, logical immediates, 64-bit constants, branch relaxation and atomics (LSE and
//! exclusive loops). `GOLDEN_PRINT=1` prints what the generator emits.

use sockops_vm::{HelperTable, assemble, decode_program};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{ARMv8, InstDecoder};

use super::{Aarch64, Compiler, TargetFacts, compile_for};
use crate::backend::{Backend, CompileInput};
use crate::{AtomicsLowering, JitOptions};

/// The disassembly of `bytes`, one line per instruction.
fn disassemble(bytes: &[u8]) -> Vec<String> {
    let decoder = <InstDecoder as Default>::default();
    bytes
        .chunks_exact(4)
        .map(|word| {
            let mut reader = U8Reader::new(word);
            match Decoder::<ARMv8>::decode(&decoder, &mut reader) {
                Ok(insn) => insn.to_string(),
                Err(e) => format!("<undecodable {word:02x?}: {e}>"),
            }
        })
        .collect()
}

/// The instructions of each slot of `text`, compiled with `lse` atomics and, if `far`, far
/// branches.
fn slots(text: &str, lse: bool, far: bool) -> Vec<Vec<String>> {
    let insns = decode_program(&assemble(text).unwrap()).unwrap();
    let table = HelperTable::new();
    let options = JitOptions::default();
    let input = CompileInput {
        insns: &insns,
        maps: &[],
        table: &table,
        options: &options,
        tail_target: false,
    };
    let target = TargetFacts {
        lse,
        helper_trampoline: 0,
        callx_trampoline: 0,
        check_trampoline: 0,
        check_lean_trampoline: 0,
    };
    let code = if far {
        Compiler::new(&input, target, true).compile()
    } else {
        compile_for(&input, target)
    }
    .unwrap();
    let slots: Vec<Vec<String>> = code
        .insn_offsets
        .windows(2)
        .map(|w| disassemble(&code.bytes[w[0]..w[1]]))
        .collect();
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        for (insn, lines) in text.lines().zip(&slots) {
            println!("{insn}: {lines:?}");
        }
    }
    slots
}

/// The code of the first slot of `text` (plain, LSE atomics, direct branches).
fn first(text: &str) -> Vec<String> {
    slots(text, true, false).swap_remove(0)
}

/// Asserts that the first slot of each program compiles to the expected instructions.
fn expect_first(cases: &[(&str, &[&str])]) {
    for (text, expected) in cases {
        assert_eq!(first(text), *expected, "{text}");
    }
}

#[test]
fn loads_and_stores_pick_the_addressing_form_by_offset() {
    expect_first(&[
        // Scaled unsigned imm12: multiples of the size below 4096 times it.
        ("ldxdw %r0, [%r1+32760]\nexit", &["ldr x7, [x0, #0x7ff8]"]),
        ("ldxw %r0, [%r1+4]\nexit", &["ldr w7, [x0, #0x4]"]),
        ("ldxb %r0, [%r1+4095]\nexit", &["ldrb w7, [x0, #0xfff]"]),
        ("ldxh %r0, [%r1+4096]\nexit", &["ldrh w7, [x0, #0x1000]"]),
        // Unscaled imm9: -256..255 when not scaled.
        ("ldxw %r0, [%r1-256]\nexit", &["ldur w7, [x0, #-0x100]"]),
        ("ldxdw %r0, [%r1+255]\nexit", &["ldur x7, [x0, #0xff]"]),
        ("stxh [%r10-2], %r6\nexit", &["sturh w19, [x25, #-0x2]"]),
        // Otherwise a register offset, built in tmp_b (x10).
        (
            "ldxw %r0, [%r1-257]\nexit",
            &["mov x10, #0xfffffffffffffeff", "ldr w7, [x0, x10]"],
        ),
        (
            "ldxdw %r0, [%r1+32767]\nexit",
            &["mov w10, #0x7fff", "ldr x7, [x0, x10]"],
        ),
        (
            "ldxb %r0, [%r1-32768]\nexit",
            &["mov x10, #0xffffffffffff8000", "ldrb w7, [x0, x10]"],
        ),
        // Sign-extending loads.
        ("ldxsw %r0, [%r1+8]\nexit", &["ldrsw x7, [x0, #0x8]"]),
        ("ldxsh %r0, [%r1-3]\nexit", &["ldursh x7, [x0, #-0x3]"]),
        (
            "ldxsb %r0, [%r1+4096]\nexit",
            &["mov w10, #0x1000", "ldrsb x7, [x0, x10]"],
        ),
        // Stores of immediates: zero from the zero register, others through tmp_a (x9).
        ("stdw [%r1+8], 0\nexit", &["str xzr, [x0, #0x8]"]),
        (
            "stw [%r1+4000], -2\nexit",
            &["mov x9, #0xfffffffffffffffe", "str w9, [x0, #0xfa0]"],
        ),
    ]);
}

#[test]
fn logical_immediates_are_encoded_when_the_mask_has_one() {
    expect_first(&[
        ("and %r0, 0xff\nexit", &["and x7, x7, #0xff"]),
        ("or %r0, -256\nexit", &["orr x7, x7, #0xffffffffffffff00"]),
        ("xor32 %r0, 0x55555555\nexit", &["eor w7, w7, #0x55555555"]),
        ("and32 %r0, -256\nexit", &["and w7, w7, #0xffffff00"]),
        (
            "jset %r1, 0xff00, +0\nexit",
            &["tst x0, #0xff00", "b.ne $+0x4"],
        ),
        // No encoding: a constant in tmp_a (x9).
        (
            "and %r0, 0x12345678\nexit",
            &[
                "mov w9, #0x5678",
                "movk w9, #0x1234, lsl #16",
                "and x7, x7, x9",
            ],
        ),
        (
            "or32 %r0, 0x1234\nexit",
            &["mov w9, #0x1234", "orr w7, w7, w9"],
        ),
        ("and %r0, 0\nexit", &["mov x9, xzr", "and x7, x7, x9"]),
    ]);
}

#[test]
fn add_sub_and_compare_immediates() {
    expect_first(&[
        ("add %r0, 4095\nexit", &["add x7, x7, #0xfff"]),
        ("add %r0, -5\nexit", &["sub x7, x7, #0x5"]),
        ("sub32 %r0, -5\nexit", &["add w7, w7, #0x5"]),
        ("add %r0, 0x5000\nexit", &["add x7, x7, #0x5, lsl #12"]),
        (
            "add %r0, 4097\nexit",
            &["mov w9, #0x1001", "add x7, x7, x9"],
        ),
        ("jsgt %r1, -7, +0\nexit", &["cmn x0, #0x7", "b.gt $+0x4"]),
        ("jlt32 %r1, 9, +0\nexit", &["cmp w0, #0x9", "b.lo $+0x4"]),
    ]);
}

#[test]
fn sixty_four_bit_constants_use_the_fewest_moves() {
    expect_first(&[
        ("lddw %r0, 0\nexit", &["mov x7, xzr"]),
        ("lddw %r0, -1\nexit", &["mov x7, #0xffffffffffffffff"]),
        (
            "lddw %r0, 0x8000000000000000\nexit",
            &["mov x7, #0x8000000000000000"],
        ),
        (
            "lddw %r0, 0xffff000000000000\nexit",
            &["mov x7, #0xffff000000000000"],
        ),
        // A logical immediate (orr from xzr) where it is the one instruction.
        ("lddw %r0, 0xffffffff\nexit", &["mov x7, #0xffffffff"]),
        (
            "lddw %r0, 0xffffffff0000ffff\nexit",
            &["mov x7, #0xffffffff0000ffff"],
        ),
        (
            "lddw %r0, 0x5555555555555555\nexit",
            &["mov x7, #0x5555555555555555"],
        ),
        (
            "lddw %r0, 0x123456789abcdef0\nexit",
            &[
                "mov x7, #0xdef0",
                "movk x7, #0x9abc, lsl #16",
                "movk x7, #0x5678, lsl #32",
                "movk x7, #0x1234, lsl #48",
            ],
        ),
        (
            "lddw %r0, 0xffff1234ffff5678\nexit",
            &["mov x7, #0xffffffffffff5678", "movk x7, #0x1234, lsl #32"],
        ),
        ("mov32 %r0, -1\nexit", &["mov x7, #0xffffffff"]),
        ("mov %r0, -2\nexit", &["mov x7, #0xfffffffffffffffe"]),
    ]);
}

#[test]
fn branches_are_relaxed_to_an_inverted_branch_over_b() {
    let text = "jeq %r1, 5, +1\nmov %r0, 1\nexit";
    assert_eq!(
        slots(text, true, false)[0],
        ["cmp x0, #0x5", "b.eq $+0x8"],
        "direct"
    );
    assert_eq!(
        slots(text, true, true)[0],
        ["cmp x0, #0x5", "b.ne $+0x8", "b $+0x8"],
        "far"
    );
    let text = "mov %r0, 0\njsle32 %r0, %r1, -2\nexit";
    assert_eq!(
        slots(text, true, true)[1],
        ["cmp w7, w0", "b.gt $+0x8", "b $-0xc"],
        "far backward"
    );
    // gotol is a plain `b` (±128 MiB) either way.
    assert_eq!(slots("ja32 +0\nexit", true, true)[0], ["b $+0x4"]);
}

#[test]
fn load_acquire_and_store_release_use_ldar_and_stlr_on_a_bare_base() {
    expect_first(&[
        (
            "ldacqb %r0, [%r1+0]\nexit",
            &["mov x10, x0", "ldarb w7, [x10]"],
        ),
        (
            "ldacqh %r0, [%r10-2]\nexit",
            &["sub x10, x25, #0x2", "ldarh w7, [x10]"],
        ),
        (
            "ldacqw %r2, [%r1+8]\nexit",
            &["add x10, x0, #0x8", "ldar w1, [x10]"],
        ),
        (
            "ldacqdw %r0, [%r1+4096]\nexit",
            &["add x10, x0, #0x1, lsl #12", "ldar x7, [x10]"],
        ),
        (
            "strelb [%r1+0], %r2\nexit",
            &["mov x10, x0", "stlrb w1, [x10]"],
        ),
        (
            "strelh [%r1+6], %r2\nexit",
            &["add x10, x0, #0x6", "stlrh w1, [x10]"],
        ),
        (
            "strelw [%r10-4], %r6\nexit",
            &["sub x10, x25, #0x4", "stlr w19, [x10]"],
        ),
        (
            "streldw [%r1-32768], %r2\nexit",
            &["sub x10, x0, #0x8, lsl #12", "stlr x1, [x10]"],
        ),
    ]);
}

#[test]
fn atomics_use_lse_or_exclusive_loops() {
    let text = "lock fetch add [%r1+8], %r2\nlock and32 [%r10-8], %r3\nlock xchg [%r1+0], %r1\nlock cmpxchg32 [%r1+8], %r2\nexit";
    let lse = slots(text, true, false);
    assert_eq!(lse[0], ["add x10, x0, #0x8", "ldaddal x1, x1, [x10]"]);
    assert_eq!(
        lse[1],
        [
            "sub x10, x25, #0x8",
            "mvn w11, w2",
            "ldclral w11, wzr, [x10]"
        ]
    );
    assert_eq!(lse[2], ["mov x10, x0", "swpal x0, x0, [x10]"]);
    assert_eq!(lse[3], ["add x10, x0, #0x8", "casal w7, w1, [x10]"]);
    let loops = slots(text, false, false);
    assert_eq!(
        loops[0],
        [
            "add x10, x0, #0x8",
            "ldaxr x11, [x10]",
            "add x12, x11, x1",
            "stlxr w13, x12, [x10]",
            "cbnz w13, $-0xc",
            "mov x1, x11",
        ]
    );
    assert_eq!(
        loops[1],
        [
            "sub x10, x25, #0x8",
            "ldaxr w11, [x10]",
            "and w12, w11, w2",
            "stlxr w13, w12, [x10]",
            "cbnz w13, $-0xc",
        ]
    );
    assert_eq!(
        loops[3],
        [
            "add x10, x0, #0x8",
            "ldaxr w11, [x10]",
            "cmp w11, w7",
            "b.ne $+0x10",
            "stlxr w13, w1, [x10]",
            "cbnz w13, $-0x10",
            "b $+0x8",
            "clrex #0xf",
            "mov x7, x11",
        ]
    );
}

#[test]
fn the_backend_compiles_atomics_as_the_options_ask() {
    let insns = decode_program(&assemble("lock add [%r1+0], %r2\nexit").unwrap()).unwrap();
    let table = HelperTable::new();
    for (atomics, mnemonic) in [
        (AtomicsLowering::LargeSystemExtensions, "ldaddal"),
        (AtomicsLowering::ExclusiveLoop, "ldaxr"),
    ] {
        let options = JitOptions {
            atomics,
            ..JitOptions::default()
        };
        let input = CompileInput {
            insns: &insns,
            maps: &[],
            table: &table,
            options: &options,
            tail_target: false,
        };
        let code = Aarch64::compile(&input).unwrap();
        let text = disassemble(&code.bytes[code.insn_offsets[0]..code.insn_offsets[1]]);
        assert!(
            text.iter().any(|line| line.starts_with(mnemonic)),
            "{atomics:?}: {text:?}"
        );
    }
}
