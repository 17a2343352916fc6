//! Every instruction class and its edge cases, run on the interpreter and the JIT through the
//! differential harness (`jit_support`), with r0 checked against the ISA's definition
//! (RFC 9669 / Linux) where the test states it; and the proof that the harness detects a
//! difference in each thing it compares.

mod jit_support;

use std::sync::Arc;

use jit_support::*;
use sockops::jit::JitOptions;
use sockops_vm::{ExecErrorKind, Map, MapDef, MapType, Program, assemble};

#[test]
fn harness_detects_each_kind_of_difference() {
    let helpers = test_helpers();
    let ctx = [0u8; 16];
    let obs = |text: &str, jit: bool| {
        let program = Program::from_insns("t", assemble(text).unwrap());
        if jit {
            observe_jit(&program, &helpers, &ctx, &JitOptions::default())
        } else {
            observe_interpreter(&program, &helpers, &ctx)
        }
    };
    let same_a = obs("mov %r0, 1\nexit", false);
    let same_b = obs("mov %r0, 1\nexit", true);
    assert!(compare(&same_a, &same_b).is_ok());
    // r0.
    let other_r0 = obs("mov %r0, 2\nexit", true);
    assert!(compare(&same_a, &other_r0).unwrap_err().contains("result"));
    // Context bytes.
    let wrote = obs("stb [%r1+3], 7\nmov %r0, 1\nexit", true);
    assert!(compare(&same_a, &wrote).unwrap_err().contains("context"));
    // Helper calls.
    let called = obs("mov %r1, 5\ncall 100\nmov %r0, 1\nexit", true);
    assert!(
        compare(&same_a, &called)
            .unwrap_err()
            .contains("helper calls")
    );
    // Errors.
    let failed = obs("call 101\nexit", true);
    assert!(compare(&same_a, &failed).unwrap_err().contains("result"));
    // Map contents.
    let map_prog = |update: bool| {
        let map = Arc::new(Map::try_new("m", array_def(8)).expect("valid map definition"));
        let text = if update {
            "stw [%r10-4], 0\nstdw [%r10-16], 9\nlddw %r1, map_fd 0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\nmov %r0, 1\nexit"
        } else {
            "mov %r0, 1\nexit"
        };
        Program {
            maps: vec![map],
            ..Program::from_insns("t", assemble(text).unwrap())
        }
    };
    let plain = observe_interpreter(&map_prog(false), &helpers, &ctx);
    let updated = observe_jit(&map_prog(true), &helpers, &ctx, &JitOptions::default());
    assert!(compare(&plain, &updated).unwrap_err().contains("maps"));
}

fn array_def(value_size: u32) -> MapDef {
    MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size,
        max_entries: 4,
        map_flags: 0,
    }
}

#[test]
fn alu64_and_alu32_basic_ops() {
    // 32-bit results are zero-extended; 64-bit immediates are sign-extended.
    expect_r0("mov %r0, -1\nadd32 %r0, 1\nexit", &[], 0);
    expect_r0("mov %r0, 0\nadd %r0, -1\nexit", &[], u64::MAX);
    expect_r0("mov %r0, 0\nsub32 %r0, 1\nexit", &[], 0xffff_ffff);
    expect_r0("mov %r0, 7\nmov %r3, 6\nmul %r0, %r3\nexit", &[], 42);
    expect_r0("lddw %r0, 0x100000001\nmul32 %r0, 3\nexit", &[], 3);
    expect_r0(
        "mov %r0, 0xf0\nor %r0, 0x0f\nand %r0, 0x3c\nxor %r0, 0xff\nexit",
        &[],
        0xc3,
    );
    expect_r0("mov %r0, -1\nmov32 %r0, %r0\nexit", &[], 0xffff_ffff);
    expect_r0("mov %r0, 5\nneg %r0\nexit", &[], (-5i64) as u64);
    expect_r0("mov %r0, 5\nneg32 %r0\nexit", &[], 0xffff_fffb);
    for (dst, src) in [(0, 3), (3, 0), (4, 4), (9, 1), (6, 5)] {
        let text = format!(
            "mov %r1, 0\nmov %r{dst}, 100\nmov %r{src}, 7\nadd %r{dst}, %r{src}\nmov %r0, %r{dst}\nexit"
        );
        let expect = if dst == src { 14 } else { 107 };
        expect_r0(&text, &[], expect);
    }
}

#[test]
fn division_and_modulo_edge_cases() {
    // Division by zero gives 0; modulo by zero leaves dst (zero-extended when 32-bit).
    expect_r0("mov %r0, 9\nmov %r1, 0\ndiv %r0, %r1\nexit", &[], 0);
    expect_r0("mov %r0, 9\ndiv %r0, 0\nexit", &[], 0);
    expect_r0("mov %r0, 9\nmov %r1, 0\nmod %r0, %r1\nexit", &[], 9);
    expect_r0(
        "mov %r0, -1\nmov %r1, 0\nmod32 %r0, %r1\nexit",
        &[],
        0xffff_ffff,
    );
    expect_r0("mov %r0, -1\nmod32 %r0, 0\nexit", &[], 0xffff_ffff);
    expect_r0("mov %r0, -7\nmov %r1, 0\nsdiv %r0, %r1\nexit", &[], 0);
    expect_r0(
        "mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1\nexit",
        &[],
        (-7i64) as u64,
    );
    // INT_MIN / -1 wraps; INT_MIN % -1 is 0; never a trap.
    expect_r0(
        "lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit",
        &[],
        1 << 63,
    );
    expect_r0("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit", &[], 0);
    expect_r0(
        "mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit",
        &[],
        0x8000_0000,
    );
    expect_r0(
        "mov32 %r0, 0x80000000\nmov %r2, -1\nsmod32 %r0, %r2\nexit",
        &[],
        0,
    );
    // Signed results truncate toward zero; the remainder takes the dividend's sign.
    expect_r0("mov %r0, -7\nsdiv %r0, 2\nexit", &[], (-3i64) as u64);
    expect_r0("mov %r0, -7\nsmod %r0, 2\nexit", &[], (-1i64) as u64);
    expect_r0("mov %r0, -7\nsmod32 %r0, 2\nexit", &[], 0xffff_ffff);
    // Unsigned 64-bit division by a sign-extended immediate.
    expect_r0("mov %r0, -1\ndiv %r0, -1\nexit", &[], 1);
    expect_r0("mov %r0, -1\ndiv32 %r0, 0x10\nexit", &[], 0x0fff_ffff);
    // r0 and r3 (rax/rdx on the host) as operands and bystanders survive.
    expect_r0(
        "mov %r0, 100\nmov %r3, 7\nmov %r4, 3\ndiv %r3, %r4\nadd %r0, %r3\nexit",
        &[],
        102,
    );
    expect_r0(
        "mov %r0, 100\nmov %r3, 7\nmod %r0, %r3\nmov %r5, 1000\nadd %r0, %r5\nadd %r0, %r3\nexit",
        &[],
        1009,
    );
    expect_r0(
        "mov %r3, 50\nmov %r0, 7\ndiv %r3, %r0\nmov %r0, %r3\nexit",
        &[],
        7,
    );
}

#[test]
fn shifts_are_masked() {
    expect_r0("mov %r0, 1\nlsh %r0, 63\nrsh %r0, 63\nexit", &[], 1);
    expect_r0("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit", &[], 2);
    expect_r0("mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit", &[], 2);
    expect_r0("mov %r0, -16\narsh %r0, 2\nexit", &[], (-4i64) as u64);
    expect_r0("mov32 %r0, -16\narsh32 %r0, 2\nexit", &[], 0xffff_fffc);
    expect_r0("mov %r0, -1\nrsh32 %r0, 28\nexit", &[], 0xf);
    // Count in r4 (rcx on the host), shifting r4 itself, shifting by r4.
    expect_r0(
        "mov %r4, 3\nmov %r0, 1\nlsh %r0, %r4\nadd %r0, %r4\nexit",
        &[],
        11,
    );
    expect_r0(
        "mov %r4, 3\nmov %r2, 2\nlsh %r4, %r2\nmov %r0, %r4\nexit",
        &[],
        12,
    );
    expect_r0("mov %r4, 4\nlsh %r4, %r4\nmov %r0, %r4\nexit", &[], 64);
}

#[test]
fn sign_extension_and_byte_order() {
    expect_r0(
        "mov %r1, 0x80\nmovsx864 %r0, %r1\nexit",
        &[],
        (-128i64) as u64,
    );
    expect_r0(
        "mov %r1, 0x8000\nmovsx1664 %r0, %r1\nexit",
        &[],
        (-32768i64) as u64,
    );
    expect_r0(
        "mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1\nexit",
        &[],
        0xffff_ffff_8000_0000,
    );
    expect_r0("mov %r1, 0xff\nmovsx832 %r0, %r1\nexit", &[], 0xffff_ffff);
    expect_r0(
        "mov %r6, 0x8001\nmovsx1632 %r0, %r6\nexit",
        &[],
        0xffff_8001,
    );
    expect_r0("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit", &[], 0x8877);
    expect_r0(
        "lddw %r0, 0x1122334455667788\nbe32 %r0\nexit",
        &[],
        0x8877_6655,
    );
    expect_r0(
        "lddw %r0, 0x1122334455667788\nbe64 %r0\nexit",
        &[],
        0x8877_6655_4433_2211,
    );
    expect_r0("lddw %r0, 0x1122334455667788\nle16 %r0\nexit", &[], 0x7788);
    expect_r0(
        "lddw %r0, 0x1122334455667788\nle32 %r0\nexit",
        &[],
        0x5566_7788,
    );
    expect_r0(
        "lddw %r0, 0x1122334455667788\nle64 %r0\nexit",
        &[],
        0x1122_3344_5566_7788,
    );
    expect_r0(
        "lddw %r7, 0x1122334455667788\nbswap16 %r7\nmov %r0, %r7\nexit",
        &[],
        0x8877,
    );
    expect_r0(
        "lddw %r0, 0x1122334455667788\nbswap32 %r0\nexit",
        &[],
        0x8877_6655,
    );
}

#[test]
fn loads_stores_and_sign_extending_loads() {
    let ctx: Vec<u8> = (0x80..0x90).collect();
    expect_r0("ldxb %r0, [%r1+1]\nexit", &ctx, 0x81);
    expect_r0("ldxh %r0, [%r1+2]\nexit", &ctx, 0x8382);
    expect_r0("ldxw %r0, [%r1+4]\nexit", &ctx, 0x8786_8584);
    expect_r0("ldxdw %r0, [%r1+8]\nexit", &ctx, 0x8f8e_8d8c_8b8a_8988);
    expect_r0("ldxsb %r0, [%r1+1]\nexit", &ctx, 0xffff_ffff_ffff_ff81);
    expect_r0("ldxsh %r0, [%r1+2]\nexit", &ctx, 0xffff_ffff_ffff_8382);
    expect_r0("ldxsw %r0, [%r1+4]\nexit", &ctx, 0xffff_ffff_8786_8584);
    // Stores of every size from registers (r1/r2 as byte registers need REX) and immediates.
    let obs = differential_asm(
        "mov %r2, 0x1234\nstxb [%r1+0], %r2\nstxh [%r1+2], %r2\nstw [%r1+4], -2\nstdw [%r1+8], -3\nmov %r0, 0\nexit",
        &[0u8; 16],
    );
    assert_eq!(
        obs.ctx,
        [
            0x34, 0, 0x34, 0x12, 0xfe, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff
        ]
    );
    // Stack: store and load back at the extremes of the frame.
    expect_r0(
        "stdw [%r10-512], 5\nstdw [%r10-8], 6\nldxdw %r0, [%r10-512]\nldxdw %r2, [%r10-8]\nadd %r0, %r2\nexit",
        &[],
        11,
    );
    // The stack starts zeroed in both engines.
    expect_r0("ldxdw %r0, [%r10-256]\nexit", &[], 0);
    expect_r0("mov %r2, %r10\nldxdw %r0, [%r2-100]\nexit", &[], 0);
}

/// How an atomic operation combines the old memory value and the operand.
type Combine = fn(u64, u64) -> u64;

#[test]
fn atomics_32_and_64() {
    let ops: [(&str, Combine); 4] = [
        ("add", |o, s| o.wrapping_add(s)),
        ("or", |o, s| o | s),
        ("and", |o, s| o & s),
        ("xor", |o, s| o ^ s),
    ];
    for (name, f) in ops {
        for fetch in [false, true] {
            for wide in [true, false] {
                let suffix = if wide { "" } else { "32" };
                let fetch_kw = if fetch { "fetch " } else { "" };
                let text = format!(
                    "lddw %r2, 0xf0f0f0f0f0f0f0f3\nstxdw [%r10-8], %r2\nlddw %r3, 0xffffffff0000ff0f\nlock {fetch_kw}{name}{suffix} [%r10-8], %r3\nldxdw %r0, [%r10-8]\nstxdw [%r1+0], %r3\nexit"
                );
                let obs = differential_asm(&text, &[0u8; 8]);
                let (old, src) = (0xf0f0_f0f0_f0f0_f0f3u64, 0xffff_ffff_0000_ff0fu64);
                let expect = if wide {
                    f(old, src)
                } else {
                    (old & 0xffff_ffff_0000_0000) | (f(old, src) & 0xffff_ffff)
                };
                assert_eq!(obs.result, Ok(expect), "{text}");
                let src_after = if !fetch {
                    src
                } else if wide {
                    old
                } else {
                    old & 0xffff_ffff
                };
                assert_eq!(obs.ctx, src_after.to_le_bytes(), "{text}");
            }
        }
    }
    // xchg and cmpxchg (r0 is the comparand and receives the old value, zero-extended).
    expect_r0(
        "stdw [%r10-8], 7\nmov %r2, 9\nlock xchg [%r10-8], %r2\nldxdw %r0, [%r10-8]\nmul %r0, 100\nadd %r0, %r2\nexit",
        &[],
        907,
    );
    expect_r0(
        "stdw [%r10-8], 7\nmov %r0, 7\nmov %r2, 9\nlock cmpxchg [%r10-8], %r2\nldxdw %r2, [%r10-8]\nmul %r2, 100\nadd %r0, %r2\nexit",
        &[],
        907,
    );
    expect_r0(
        "stdw [%r10-8], 7\nmov %r0, 8\nmov %r2, 9\nlock cmpxchg [%r10-8], %r2\nldxdw %r2, [%r10-8]\nmul %r2, 100\nadd %r0, %r2\nexit",
        &[],
        707,
    );
    expect_r0(
        "stw [%r10-8], 7\nlddw %r0, 0xffffffff00000007\nmov %r2, 9\nlock cmpxchg32 [%r10-8], %r2\nexit",
        &[],
        7,
    );
    // Fetch into r0 with r0 as the base register.
    expect_r0(
        "stdw [%r10-8], 5\nmov %r0, %r10\nadd %r0, -8\nmov %r2, 3\nlock fetch or [%r0+0], %r2\nldxdw %r0, [%r10-8]\nmul %r0, 10\nadd %r0, %r2\nexit",
        &[],
        75,
    );
}

#[test]
fn jumps_64_and_32_bit_signed_and_unsigned() {
    let conds = [
        ("jeq", 5, 5, true),
        ("jne", 5, 5, false),
        ("jgt", -1, 1, true),
        ("jsgt", -1, 1, false),
        ("jge", 1, 1, true),
        ("jlt", 1, -1, true),
        ("jslt", -1, 1, true),
        ("jle", 2, 1, false),
        ("jsle", -2, -2, true),
        ("jsge", -3, -2, false),
        ("jset", 6, 2, true),
        ("jset", 6, 1, false),
    ];
    for (cond, a, b, taken) in conds {
        for suffix in ["", "32"] {
            let expect = if taken { 1 } else { 2 };
            let reg = format!(
                "mov %r3, {a}\nmov %r4, {b}\n{cond}{suffix} %r3, %r4, +2\nmov %r0, 2\nexit\nmov %r0, 1\nexit"
            );
            expect_r0(&reg, &[], expect);
            let imm = format!(
                "mov %r3, {a}\n{cond}{suffix} %r3, {b}, +2\nmov %r0, 2\nexit\nmov %r0, 1\nexit"
            );
            expect_r0(&imm, &[], expect);
        }
    }
    // JMP32 compares only the low halves.
    expect_r0(
        "lddw %r1, 0x100000005\njeq32 %r1, 5, +2\nmov %r0, 2\nexit\nmov %r0, 1\nexit",
        &[],
        1,
    );
    // A backward loop and gotol (ja32).
    expect_r0(
        "mov %r0, 0\nmov %r1, 10\nloop:\nadd %r0, %r1\nsub %r1, 1\njne %r1, 0, loop\nja32 +1\nmov %r0, 0\nexit",
        &[],
        55,
    );
}

#[test]
fn ld_imm64_constants_and_map_references() {
    expect_r0(
        "lddw %r0, 0x123456789abcdef0\nexit",
        &[],
        0x1234_5678_9abc_def0,
    );
    expect_r0("lddw %r0, 0xffffffff\nexit", &[], 0xffff_ffff);
    expect_r0("lddw %r0, -2\nexit", &[], u64::MAX - 1);
    // A map reference is the map's kernel struct image in both engines (`program_ptr`):
    // update through it, then the map contents and r0 (the helper's result) must agree.
    let build = || {
        let text = "stw [%r10-4], 1\nstdw [%r10-16], 0x77\nlddw %r1, map_fd 0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\nstw [%r10-4], 1\nlddw %r1, map_fd 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +2\nldxdw %r0, [%r0+0]\nexit\nmov %r0, -1\nexit";
        Program {
            maps: vec![Arc::new(
                Map::try_new("m", array_def(8)).expect("valid map definition"),
            )],
            ..Program::from_insns("t", assemble(text).unwrap())
        }
    };
    let obs = differential(&build, &[]);
    assert_eq!(obs.result, Ok(0x77));
    assert_eq!(obs.maps[0][1].1, 0x77u64.to_le_bytes());
}

#[test]
fn helper_calls_arguments_errors_and_callx() {
    // Arguments r1..r5 reach the helper; pointers are compared relative to their region.
    let obs = differential_asm(
        "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 100\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 0\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 100\nmov %r0, 0\nexit",
        &[],
    );
    assert_eq!(obs.calls.len(), 2);
    assert_eq!(
        obs.calls[1].args[0],
        Arg::Pointer(sockops_vm::RegionKind::Stack, -8)
    );
    // r6-r9 survive helper calls.
    expect_r0(
        "mov %r6, 6\nmov %r7, 7\nmov %r8, 8\nmov %r9, 9\ncall 100\nmov %r0, %r6\nadd %r0, %r7\nadd %r0, %r8\nadd %r0, %r9\nexit",
        &[],
        30,
    );
    // A helper writes guest memory (the stack and the context) through the checked memory.
    let obs = differential_asm(
        "stdw [%r10-8], 3\nmov %r6, %r1\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 11\ncall 102\nldxdw %r7, [%r10-8]\nmov %r1, %r6\nmov %r2, 99\ncall 102\nmul %r7, 10\nadd %r0, %r7\nexit",
        &[1u8, 0, 0, 0, 0, 0, 0, 0],
    );
    assert_eq!(obs.result, Ok(111));
    assert_eq!(obs.ctx, 99u64.to_le_bytes());
    // A failing helper ends the run with the same typed error at the call's slot.
    let obs = differential_asm("mov %r0, 0\ncall 101\nexit", &[]);
    let err = obs.result.unwrap_err();
    assert_eq!(err.pc, 1);
    assert!(matches!(
        err.kind,
        ExecErrorKind::Helper { name: "fail", .. }
    ));
    // Unknown helper ids, by immediate and through callx.
    let obs = differential_asm("call 9999\nexit", &[]);
    assert_eq!(
        obs.result.unwrap_err().kind,
        ExecErrorKind::UnknownHelper(9999)
    );
    let obs = differential_asm("mov %r2, 9998\ncall %r2\nexit", &[]);
    assert_eq!(
        obs.result.unwrap_err().kind,
        ExecErrorKind::UnknownHelper(9998)
    );
    // record(4, 100, 0, 0, 0) = 4 * 3 + (100 rotl 7).
    expect_r0("mov %r1, 4\nmov %r2, 100\ncall %r2\nexit", &[], 12 + 12800);
}

#[test]
fn local_calls_frames_and_depth() {
    // The callee has its own frame; r6-r9 and r10 of the caller are restored on return.
    expect_r0(
        "mov %r6, 1\nstdw [%r10-8], 40\nmov %r1, 2\ncall local sub\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nadd %r0, %r6\nexit\nsub:\nmov %r6, 100\nstdw [%r10-8], 1000\nmov %r0, %r1\nexit",
        &[],
        43,
    );
    // Eight frames are allowed, a ninth is refused at the call's slot.
    let chain = |depth: usize| {
        let mut text = String::from("mov %r0, 0\ncall local f1\nexit\n");
        for i in 1..depth {
            text.push_str(&format!("f{i}:\nadd %r0, 1\ncall local f{}\nexit\n", i + 1));
        }
        text.push_str(&format!("f{depth}:\nadd %r0, 1\nexit\n"));
        text
    };
    expect_r0(&chain(7), &[], 7);
    let obs = differential_asm(&chain(8), &[]);
    assert!(matches!(
        obs.result.unwrap_err().kind,
        ExecErrorKind::CallDepthExceeded { max: 8 }
    ));
    // Recursion with a helper call at every depth (stack alignment at the trampoline):
    // f(n) = 0 if n == 0, else f(n - 1) then record(n, 0, 0, 0, 0) = 3n.
    expect_r0(
        "mov %r1, 5\ncall local f\nexit\nf:\nmov %r6, %r1\njeq %r1, 0, +9\nsub %r1, 1\ncall local f\nmov %r1, %r6\nmov %r2, 0\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 100\nexit\nmov %r0, 0\nexit",
        &[],
        15,
    );
}

#[test]
fn invalid_control_flow_reports_the_interpreters_errors() {
    let obs = differential_asm("mov %r0, 1", &[]);
    assert_eq!(obs.result.unwrap_err().kind, ExecErrorKind::FellOffEnd);
    let obs = differential_asm("ja +5\nexit", &[]);
    assert!(matches!(
        obs.result.unwrap_err().kind,
        ExecErrorKind::JumpOutOfRange { target: 6, len: 2 }
    ));
    let obs = differential_asm("ja +1\nlddw %r0, 5\nexit", &[]);
    assert_eq!(
        obs.result.unwrap_err().kind,
        ExecErrorKind::JumpIntoLdImm64 { target: 2 }
    );
}

#[test]
fn load_acquire_and_store_release_every_size_and_offset() {
    let pattern = 0x8877_6655_4433_2211u64;
    for (size, bytes) in [("b", 1u32), ("h", 2), ("w", 4), ("dw", 8)] {
        let mask = if bytes == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * bytes)) - 1
        };
        // Offsets: zero, a scaled one, an unscaled negative one, one past the imm9 range.
        for off in [0i32, 16, -8, -264, -304] {
            let (base, at) = if off >= 0 {
                // r2 = fp-320, accesses at r2+off.
                ("mov %r2, %r10\nadd %r2, -320\n", off)
            } else {
                ("mov %r2, %r10\n", off)
            };
            let a = if at >= 0 {
                format!("+{at}")
            } else {
                format!("{at}")
            };
            // Load-acquire zero-extends the low bytes of what is there.
            let text = format!(
                "{base}lddw %r3, {pattern:#x}\nstxdw [%r2{a}], %r3\nldacq{size} %r0, [%r2{a}]\nexit"
            );
            expect_r0(&text, &[], pattern & mask);
            // Store-release writes only the low bytes of the register.
            let text = format!(
                "{base}stdw [%r2{a}], -1\nlddw %r3, {pattern:#x}\nstrel{size} [%r2{a}], %r3\nldxdw %r0, [%r2{a}]\nexit"
            );
            expect_r0(&text, &[], !mask | (pattern & mask));
        }
    }
    // Through the context (the harness runs the program unverified), with the base register
    // also the destination.
    let obs = differential_asm(
        "lddw %r3, 0x1122334455667788\nstreldw [%r1+8], %r3\nldacqw %r1, [%r1+8]\nmov %r0, %r1\nexit",
        &[0u8; 16],
    );
    assert_eq!(obs.result, Ok(0x5566_7788));
    assert_eq!(&obs.ctx[8..], &0x1122_3344_5566_7788u64.to_le_bytes());
}

/// Reads through a map pointer (`map->max_entries`) give the map's own values on every
/// engine, each at its offset in the recorded vmlinux struct of the map's type; the bytes
/// past a `bpf_queue_stack` (a flexible array the kernel lets reads run into, up to the
/// farthest offset an instruction names) are readable; `frozen` follows `Map::freeze`.
#[test]
fn map_struct_fields_read_through_the_map_pointer() {
    use sockops_vm::vmlinux::field;
    let def = |map_type, key_size, value_size, max_entries| MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    };
    let read = |map: &Arc<Map>, off: u32, insn: &str| -> u64 {
        let text = format!("lddw %r1, map_fd 0\n{insn} %r0, [%r1+{off}]\nexit");
        let insns = assemble(&text).unwrap();
        let build = || Program {
            maps: vec![Arc::clone(map)],
            ..Program::from_insns("fields", insns.clone())
        };
        differential(&build, &[])
            .result
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let cases = [
        (def(MapType::Hash, 8, 12, 100), "bpf_htab", "conn_table"),
        (def(MapType::PercpuHash, 4, 8, 3), "bpf_htab", "per_cpu"),
        (
            def(MapType::Array, 4, 12, 5),
            "bpf_array",
            "a-very-long-map-name",
        ),
        (def(MapType::ProgArray, 4, 4, 8), "bpf_array", "jumps"),
        (def(MapType::Sockhash, 8, 4, 33), "bpf_shtab", "socks"),
        (def(MapType::Queue, 0, 8, 7), "bpf_queue_stack", "q"),
    ];
    for (d, sname, name) in cases {
        let map = Arc::new(Map::try_new(name, d).expect("valid map"));
        let at = |path: &str| {
            field(sname, path)
                .unwrap_or_else(|| panic!("{sname}.{path}"))
                .offset
        };
        let what = format!("{name} ({sname})");
        assert_eq!(
            read(&map, at("map.map_type"), "ldxw"),
            u64::from(d.map_type.kernel_id()),
            "{what}"
        );
        assert_eq!(
            read(&map, at("map.key_size"), "ldxw"),
            u64::from(d.key_size),
            "{what}"
        );
        assert_eq!(
            read(&map, at("map.value_size"), "ldxw"),
            u64::from(d.value_size),
            "{what}"
        );
        assert_eq!(
            read(&map, at("map.max_entries"), "ldxw"),
            u64::from(d.max_entries),
            "{what}"
        );
        assert_eq!(read(&map, at("map.map_flags"), "ldxw"), 0, "{what}");
        assert_eq!(
            read(&map, at("map.id"), "ldxw"),
            u64::from(map.id()),
            "{what}"
        );
        assert_eq!(
            read(&map, at("map.numa_node"), "ldxw"),
            0xffff_ffff,
            "{what}"
        );
        // The name: at most 15 bytes and a NUL, '-' shown as '_'.
        let mut kname = [0u8; 16];
        for (k, b) in kname.iter_mut().zip(name.bytes().take(15)) {
            *k = if b == b'-' { b'_' } else { b };
        }
        let lo = u64::from_le_bytes(kname[..8].try_into().unwrap());
        let hi = u64::from_le_bytes(kname[8..].try_into().unwrap());
        assert_eq!(read(&map, at("map.name"), "ldxdw"), lo, "{what}");
        assert_eq!(read(&map, at("map.name") + 8, "ldxdw"), hi, "{what}");
        let pow2 = u64::from(d.max_entries.next_power_of_two());
        match sname {
            "bpf_htab" => {
                assert_eq!(read(&map, at("n_buckets"), "ldxw"), pow2, "{what}");
                let value = if d.map_type == MapType::PercpuHash {
                    8
                } else {
                    16
                };
                let key = u64::from(d.key_size.div_ceil(8) * 8);
                assert_eq!(
                    read(&map, at("elem_size"), "ldxw"),
                    48 + key + value,
                    "{what}"
                );
            }
            "bpf_array" => {
                let elem = u64::from(d.value_size.div_ceil(8) * 8);
                assert_eq!(read(&map, at("elem_size"), "ldxw"), elem, "{what}");
                assert_eq!(read(&map, at("index_mask"), "ldxw"), pow2 - 1, "{what}");
            }
            "bpf_shtab" => {
                assert_eq!(read(&map, at("buckets_num"), "ldxw"), pow2, "{what}");
                assert_eq!(read(&map, at("elem_size"), "ldxw"), 48 + 8, "{what}");
            }
            "bpf_queue_stack" => {
                assert_eq!(read(&map, at("size"), "ldxw"), u64::from(d.max_entries) + 1);
                assert_eq!(read(&map, 32767, "ldxdw"), 0, "{what}: the farthest read");
            }
            _ => unreachable!(),
        }
        assert_eq!(read(&map, at("map.frozen"), "ldxb"), 0, "{what}");
        map.freeze();
        assert_eq!(read(&map, at("map.frozen"), "ldxb"), 1, "{what}");
    }
}

/// Without verification, a read past the image of a map's struct is a memory fault on the
/// interpreter and on the checked JIT alike (the image is a read-only region; writes fault).
#[test]
fn the_map_struct_image_is_a_bounded_read_only_region() {
    let map = Arc::new(Map::try_new("m", array_def(8)).expect("valid map"));
    let len = map.kernel_struct_region().len;
    for text in [
        format!("lddw %r1, map_fd 0\nldxw %r0, [%r1+{len}]\nexit"),
        "lddw %r1, map_fd 0\nstw [%r1+0], 1\nmov %r0, 0\nexit".to_string(),
    ] {
        let insns = assemble(&text).unwrap();
        let build = || Program {
            maps: vec![Arc::clone(&map)],
            ..Program::from_insns("bounds", insns.clone())
        };
        let helpers = test_helpers();
        let interp = observe_interpreter(&build(), &helpers, &[]);
        assert!(
            matches!(&interp.result, Err(e) if matches!(e.kind, ExecErrorKind::Memory(_))),
            "{text}: {:?}",
            interp.result
        );
        for options in jit_option_variants()
            .into_iter()
            .filter(|o| o.checked_memory)
        {
            let jit = observe_jit(&build(), &helpers, &[], &options);
            if let Err(diff) = compare(&interp, &jit) {
                panic!("{text}: engines differ ({options:?}):\n{diff}");
            }
        }
    }
}

/// Faulting loads (`Instruction::ProbeLoad`, the kernel's `BPF_PROBE_MEM`/`_MEMSX`, which
/// the verifier writes for loads through untrusted kernel memory): inside the blank region
/// they read it, every size, zero- and sign-extending; anywhere else (just before it, a
/// load crossing its end, NULL, the context, an address that wraps) they give 0 and read
/// nothing, on the interpreter and every JIT variant alike.
#[test]
fn faulting_loads_read_the_blank_structs_and_give_zero_elsewhere() {
    use sockops_vm::vmlinux::{blank, kstruct_index};
    let region = blank::region();
    let task = kstruct_index("task_struct").expect("recorded");
    let base = blank::blank_addr(task).expect("task_struct has a blank");
    let &(slot, target) = blank::pointer_members(task).first().expect("pointer slots");
    let at = base + u64::from(slot);
    expect_r0(
        &format!("lddw %r2, {at}\nprobe_ldxdw %r0, [%r2+0]\nexit"),
        &[],
        target,
    );
    expect_r0(
        &format!("lddw %r2, {}\nprobe_ldxdw %r0, [%r2-8]\nexit", at + 8),
        &[],
        target,
    );
    let sizes = [("b", 1u64), ("h", 2), ("w", 4), ("dw", 8)];
    for k in 0..8u64 {
        for (suffix, len) in sizes {
            let raw = blank::probe_read(at + k, len);
            assert_eq!(
                raw.to_le_bytes()[..len as usize],
                target.to_le_bytes()[k as usize..(k + len).min(8) as usize]
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(0))
                    .take(len as usize)
                    .collect::<Vec<u8>>()[..],
                "the reference read at +{k}"
            );
            expect_r0(
                &format!("lddw %r2, {}\nprobe_ldx{suffix} %r0, [%r2+{k}]\nexit", at),
                &[],
                raw,
            );
            if len < 8 {
                let bits = 8 * len;
                let signed = ((raw << (64 - bits)) as i64 >> (64 - bits)) as u64;
                expect_r0(
                    &format!("lddw %r2, {}\nprobe_ldxs{suffix} %r0, [%r2+{k}]\nexit", at),
                    &[],
                    signed,
                );
            }
        }
    }
    let end = region.start + region.len;
    // The last 8 bytes are inside; one byte further crosses the end.
    expect_r0(
        &format!("lddw %r2, {}\nprobe_ldxdw %r0, [%r2+0]\nexit", end - 8),
        &[],
        blank::probe_read(end - 8, 8),
    );
    for (suffix, len) in sizes {
        let text = format!(
            "lddw %r2, {}\nmov %r0, 7\nprobe_ldx{suffix} %r0, [%r2+0]\nexit",
            end - len + 1
        );
        assert_eq!(
            differential_asm(&text, &[]).result,
            Ok(0),
            "crossing the end: {text}"
        );
    }
    for (what, addr, off) in [
        ("just before the start", region.start - 1, 0),
        ("NULL", 0, 0),
        ("NULL plus an offset", 0, 100),
        ("an address that wraps", u64::MAX - 3, 8),
        ("far past the end", end, 4096),
    ] {
        for (suffix, _) in sizes {
            let text =
                format!("lddw %r2, {addr}\nmov %r0, 7\nprobe_ldx{suffix} %r0, [%r2+{off}]\nexit");
            let obs = differential_asm(&text, &[]);
            assert_eq!(obs.result, Ok(0), "{what}: {text}");
        }
    }
    // The context is run memory, but not kernel memory: a faulting load does not read it.
    expect_r0("probe_ldxw %r0, [%r1+0]\nexit", &[0xff; 8], 0);
    expect_r0("stdw [%r10-8], -1\nprobe_ldxdw %r0, [%r10-8]\nexit", &[], 0);
}
