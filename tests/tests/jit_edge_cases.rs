//! The edge cases where JIT backends break (issue 9's list), each run on the interpreter and
//! the JIT of the host (x86-64 or aarch64) and compared by the differential harness (r0,
//! errors, context bytes, maps, helper calls; plain, blinded, and on aarch64 with both atomics
//! forms): division and modulo corners, byte swaps, every access size at the offsets where
//! encodings change, branches at and past the ±1 MiB reach of aarch64 conditional branches,
//! `gotol` beyond ±32767 slots, atomics whose operand register is the base or r0, 32-bit
//! `cmpxchg` zero-extension, shifts by the width or more, constants and masks that have (or
//! lack) short encodings, tail-call corner cases, `callx` encodings, local calls keeping
//! r6-r9 and r10, and the host stack alignment at helper calls.

mod jit_support;

use std::hint::black_box;
use std::sync::Arc;

use jit_support::{differential, differential_asm, differential_with_helpers, expect_r0};
use sockops::jit::{AtomicsLowering, JitOptions, JitProgram};
use sockops_vm::{
    ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, Insn, Interpreter, Map,
    Program, RetKind, assemble,
};

/// The offsets at which load/store encodings change (scaled imm12, unscaled imm9, register).
const OFFSETS: [i32; 9] = [-32768, -257, -256, 255, 256, 4095, 4096, 32760, 32767];

/// A context big enough for every offset around its middle.
fn big_context() -> Vec<u8> {
    (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn division_and_modulo_corners() {
    let dividends: [u64; 6] = [
        0,
        7,
        u64::MAX,
        0x8000_0000_0000_0000,
        0xffff_ffff_8000_0000,
        0x1234_5678_9abc_def0,
    ];
    let divisors: [u64; 8] = [
        0,
        1,
        u64::MAX,
        2,
        3,
        16,
        0x1_0000_0000,
        0xffff_ffff_8000_0000,
    ];
    for op in ["div", "mod", "sdiv", "smod"] {
        for width in ["", "32"] {
            for &x in &dividends {
                for &y in &divisors {
                    let reg =
                        format!("lddw %r0, {x:#x}\nlddw %r1, {y:#x}\n{op}{width} %r0, %r1\nexit");
                    differential_asm(&reg, &[]);
                    if let Ok(imm) = i32::try_from(y as i64) {
                        let imm = format!("lddw %r0, {x:#x}\n{op}{width} %r0, {imm}\nexit");
                        differential_asm(&imm, &[]);
                    }
                }
            }
        }
    }
    // The results the interpreter defines, spelled out.
    expect_r0("lddw %r0, 0xffffffff00000005\nmod32 %r0, 0\nexit", &[], 5);
    expect_r0(
        "lddw %r0, 0xffffffff00000005\nmov %r1, 0\nmod32 %r0, %r1\nexit",
        &[],
        5,
    );
    expect_r0("lddw %r0, 0x1234\nmov %r1, 0\ndiv %r0, %r1\nexit", &[], 0);
    expect_r0(
        "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit",
        &[],
        0x8000_0000_0000_0000,
    );
    expect_r0(
        "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit",
        &[],
        0,
    );
    expect_r0(
        "mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit",
        &[],
        0x8000_0000,
    );
    // Unsigned division by the immediate -1: by 2^64 - 1 (2^32 - 1 in 32-bit form).
    expect_r0("mov %r0, -1\ndiv %r0, -1\nexit", &[], 1);
    expect_r0("mov %r0, -2\ndiv %r0, -1\nexit", &[], 0);
    expect_r0("mov32 %r0, -1\ndiv32 %r0, -1\nexit", &[], 1);
    // 0x1_0000_0000 as a 32-bit divisor is 0.
    expect_r0(
        "mov %r0, 9\nlddw %r1, 0x100000000\ndiv32 %r0, %r1\nexit",
        &[],
        0,
    );
    expect_r0(
        "lddw %r0, 0x700000009\nlddw %r1, 0x100000000\nmod32 %r0, %r1\nexit",
        &[],
        9,
    );
}

#[test]
fn byte_swaps_truncate_and_zero_extend() {
    let value = "lddw %r0, 0x0123456789abcdef\n";
    expect_r0(&format!("{value}bswap32 %r0\nexit"), &[], 0xefcd_ab89);
    expect_r0(&format!("{value}bswap16 %r0\nexit"), &[], 0xefcd);
    expect_r0(
        &format!("{value}bswap64 %r0\nexit"),
        &[],
        0xefcd_ab89_6745_2301,
    );
    expect_r0(&format!("{value}le16 %r0\nexit"), &[], 0xcdef);
    expect_r0(&format!("{value}le32 %r0\nexit"), &[], 0x89ab_cdef);
    expect_r0(
        &format!("{value}le64 %r0\nexit"),
        &[],
        0x0123_4567_89ab_cdef,
    );
    expect_r0(&format!("{value}be16 %r0\nexit"), &[], 0xefcd);
    expect_r0(&format!("{value}be32 %r0\nexit"), &[], 0xefcd_ab89);
    expect_r0(
        &format!("{value}be64 %r0\nexit"),
        &[],
        0xefcd_ab89_6745_2301,
    );
}

#[test]
fn loads_stores_and_atomics_at_encoding_boundaries() {
    let ctx = big_context();
    for off in OFFSETS {
        // r1 + 35000 is the base, so every offset stays inside the context.
        let base = "add %r1, 35000\n";
        for size in ["b", "h", "w", "dw"] {
            let load = format!("{base}ldx{size} %r0, [%r1{off:+}]\nexit");
            differential_asm(&load, &ctx);
            let store = format!(
                "{base}lddw %r2, 0x8899aabbccddeeff\nstx{size} [%r1{off:+}], %r2\nmov %r0, 0\nexit"
            );
            differential_asm(&store, &ctx);
            let store_imm = format!("{base}st{size} [%r1{off:+}], -3\nmov %r0, 0\nexit");
            differential_asm(&store_imm, &ctx);
            if size != "dw" {
                let ldsx = format!("{base}ldxs{size} %r0, [%r1{off:+}]\nexit");
                differential_asm(&ldsx, &ctx);
            }
        }
        // Atomics need naturally aligned addresses on aarch64: the base is adjusted so that
        // base + off is a multiple of 8 (the context buffer is 16-byte aligned).
        let aligned_base = format!("add %r1, {}\n", 35000 + (-off).rem_euclid(8));
        for (op, width) in [
            ("add", ""),
            ("fetch add", "32"),
            ("fetch or", ""),
            ("and", "32"),
            ("fetch xor", ""),
            ("xchg", "32"),
            ("cmpxchg", ""),
        ] {
            let text = format!(
                "{aligned_base}ldxdw %r0, [%r1{off:+}]\nmov %r2, 0x5a5a\nlock {op}{width} [%r1{off:+}], %r2\nadd %r0, %r2\nexit"
            );
            differential_asm(&text, &ctx);
        }
    }
}

/// Filler slots of `n` one-instruction adds to r0.
fn fillers(n: usize) -> String {
    "add %r0, 1\n".repeat(n)
}

/// Filler slots of `atomics` 32-bit `cmpxchg`s of the zero word at r10 - 8 with r6 = 0
/// (leaving r0 = 0; 36 bytes of aarch64 code each as an exclusive-load/store loop, with no
/// branch out of the slot) then `adds` adds to r0 (4 bytes each): enough code to reach past
/// ±1 MiB within the 16-bit offsets of conditional jumps.
fn big_fillers(atomics: usize, adds: usize) -> String {
    format!(
        "{}{}",
        "lock cmpxchg32 [%r10-8], %r6\n".repeat(atomics),
        fillers(adds)
    )
}

/// `text` compiled for the host with exclusive-load/store atomics (never run).
fn compiled(text: &str) -> JitProgram {
    let program = Program::from_insns("t", assemble(text).unwrap());
    let options = JitOptions {
        atomics: AtomicsLowering::ExclusiveLoop,
        ..JitOptions::default()
    };
    // SAFETY: compiled only, never run.
    unsafe { JitProgram::compile_unverified(&program, &HelperTable::new(), &options) }.unwrap()
}

#[test]
fn conditional_branches_at_and_past_one_mebibyte() {
    // On aarch64 (exclusive-loop atomics) each atomic filler is 9 instructions and an add 1:
    // with 29126 atomics, `b.cond` reaches [-2^20, 2^20 - 4] bytes, which 8 adds forward and
    // 9 backward hit exactly; one more is past the reach. The range around the boundary runs
    // on both engines (and every JIT configuration of the harness).
    const ATOMICS: usize = 29_126;
    for adds in 8..=10 {
        let n = ATOMICS + adds;
        let forward = format!(
            "mov %r6, 0\nmov %r0, 2\njeq %r2, 8, +{n}\n{}exit",
            big_fillers(ATOMICS, adds)
        );
        for ctx_len in [8usize, 9] {
            differential_asm(&forward, &vec![0u8; ctx_len]);
        }
        let backward = format!(
            "mov %r6, 0\nmov %r0, 0\nja +{n}\n{}jeq %r0, 0, -{}\nexit",
            big_fillers(ATOMICS, adds),
            n + 1
        );
        let obs = differential_asm(&backward, &[]);
        assert_eq!(obs.result, Ok(adds as u64));
        if !cfg!(target_arch = "aarch64") {
            continue;
        }
        // Where the branch is: forward, the last instruction of slot 2 (`cmp`, `b.eq`);
        // backward, the second of slot n + 3. Direct, a jump slot is 8 bytes; relaxed, 12.
        let jit = compiled(&forward);
        let o = jit.insn_offsets();
        let direct = o[3] - o[2] == 8;
        if direct {
            let distance = o[n + 3] as i64 - (o[3] as i64 - 4);
            assert!(distance <= (1 << 20) - 4, "{adds}: {distance}");
            if adds == 8 {
                assert_eq!(distance, (1 << 20) - 4, "the last distance in reach");
            }
        }
        assert_eq!(direct, adds <= 8, "forward, {adds} adds: direct {direct}");
        let jit = compiled(&backward);
        let o = jit.insn_offsets();
        let direct = o[n + 4] - o[n + 3] == 8;
        if direct {
            let distance = o[3] as i64 - (o[n + 3] as i64 + 4);
            assert!(distance >= -(1 << 20), "{adds}: {distance}");
            if adds == 9 {
                assert_eq!(distance, -(1 << 20), "the farthest distance in reach");
            }
        }
        assert_eq!(direct, adds <= 9, "backward, {adds} adds: direct {direct}");
    }
}

#[test]
fn gotol_beyond_16_bit_offsets() {
    let n = 40_000;
    let forward = format!("mov %r0, 1\nja32 +{n}\n{}exit", fillers(n));
    expect_r0(&forward, &[], 1);
    let backward = format!(
        "mov %r0, 0\nja32 +{}\n{}exit\njeq %r0, 0, +1\nja +1\nja32 -{}\nexit",
        n + 1,
        fillers(n),
        n + 4
    );
    let obs = differential_asm(&backward, &[]);
    assert_eq!(obs.result, Ok(n as u64));
}

#[test]
fn atomics_whose_operand_is_the_base_or_r0() {
    // src == dst: the operand is the address itself (r2 = r10 - 8). What each case returns
    // is made address-independent: the fetched old value (5), or memory minus the address.
    let minus_address = "ldxdw %r0, [%r10-8]\nmov %r3, %r10\nadd %r3, -8\nsub %r0, %r3\n";
    for (op, finish) in [
        ("add", minus_address.to_string()),
        (
            "fetch add",
            format!("{minus_address}lsh %r2, 8\nadd %r0, %r2\n"),
        ),
        ("xchg", format!("{minus_address}lsh %r2, 8\nadd %r0, %r2\n")),
        ("fetch or", "mov %r0, %r2\n".to_string()),
        (
            "fetch xor",
            "ldxdw %r0, [%r10-8]\nxor %r0, %r2\nmov %r3, %r10\nadd %r3, -8\nxor %r0, %r3\n"
                .to_string(),
        ),
        ("fetch and", "mov %r0, %r2\n".to_string()),
    ] {
        let text = format!(
            "mov %r2, %r10\nadd %r2, -8\nstdw [%r10-8], 5\nlock {op} [%r2+0], %r2\n{finish}exit"
        );
        let obs = differential_asm(&text, &[]);
        assert!(obs.result.is_ok(), "{op}");
    }
    // src == r0.
    for op in [
        "fetch add",
        "fetch or",
        "fetch and32",
        "xchg",
        "xchg32",
        "cmpxchg",
        "cmpxchg32",
    ] {
        let text = format!(
            "stdw [%r10-8], 0x7f\nmov %r0, 0x7f\nlock {op} [%r10-8], %r0\nldxdw %r1, [%r10-8]\nlsh %r1, 16\nadd %r0, %r1\nexit"
        );
        differential_asm(&text, &[]);
    }
}

#[test]
fn cmpxchg32_zero_extends_r0_on_success_and_failure() {
    // Success: memory equals the low half of r0.
    expect_r0(
        "stdw [%r10-8], 1\nlddw %r0, 0xffffffff00000001\nmov %r1, 9\nlock cmpxchg32 [%r10-8], %r1\nexit",
        &[],
        1,
    );
    // Failure: r0 gets the old value, zero-extended.
    expect_r0(
        "stdw [%r10-8], 3\nlddw %r0, 0xffffffff00000001\nmov %r1, 9\nlock cmpxchg32 [%r10-8], %r1\nldxdw %r1, [%r10-8]\nlsh %r1, 8\nadd %r0, %r1\nexit",
        &[],
        3 + (3 << 8),
    );
    expect_r0(
        "stdw [%r10-8], 1\nlddw %r0, 0xffffffff00000001\nmov %r1, 9\nlock cmpxchg32 [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit",
        &[],
        9,
    );
}

#[test]
fn shifts_by_the_width_or_more() {
    for op in ["lsh", "rsh", "arsh"] {
        for width in ["", "32"] {
            for count in [0u32, 1, 31, 32, 33, 63, 64, 65, 200] {
                let reg = format!(
                    "lddw %r0, 0x8123456789abcdef\nmov %r1, {count}\n{op}{width} %r0, %r1\nexit"
                );
                differential_asm(&reg, &[]);
                let imm = format!("lddw %r0, 0x8123456789abcdef\n{op}{width} %r0, {count}\nexit");
                differential_asm(&imm, &[]);
            }
        }
    }
    expect_r0("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit", &[], 2);
    expect_r0("mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit", &[], 2);
}

#[test]
fn constants_and_masks_with_and_without_short_encodings() {
    for value in [
        "0",
        "-1",
        "0x8000000000000000",
        "0xffff000000000000",
        "0xffffffff",
        "0x100000000",
        "0x0000ffff00000000",
        "0xffffffff0000ffff",
        "0x5555555555555555",
        "0x123456789abcdef0",
    ] {
        differential_asm(&format!("lddw %r0, {value}\nexit"), &[]);
    }
    for value in [
        "0",
        "-1",
        "1",
        "-4096",
        "0x7fffffff",
        "-2147483648",
        "65535",
        "65536",
    ] {
        differential_asm(&format!("mov %r0, {value}\nexit"), &[]);
        differential_asm(&format!("mov32 %r0, {value}\nexit"), &[]);
    }
    // Logical-immediate encodable masks, and masks that are not.
    let masks = [
        "0xff",
        "0xff00",
        "-256",
        "0x0f0f0f0f",
        "0x55555555",
        "0x7fffffff",
        "0x12345678",
        "0",
        "-1",
        "0x1234",
        "-2147483648",
    ];
    for mask in masks {
        for op in ["and", "or", "xor", "add", "sub"] {
            for width in ["", "32"] {
                let text = format!("lddw %r0, 0xf0e1d2c3b4a59687\n{op}{width} %r0, {mask}\nexit");
                differential_asm(&text, &[]);
            }
        }
        for width in ["", "32"] {
            for cond in ["jset", "jeq", "jsgt", "jlt"] {
                let text = format!(
                    "lddw %r1, 0xf0e1d2c3b4a59687\nmov %r0, 1\n{cond}{width} %r1, {mask}, +1\nmov %r0, 2\nexit"
                );
                differential_asm(&text, &[]);
            }
        }
    }
}

fn prog_array() -> Arc<Map> {
    sockops_tests::maps::prog_array(4)
}

fn program(text: &str, maps: Vec<Arc<Map>>) -> Program {
    Program {
        maps,
        ..Program::from_insns("p", assemble(text).unwrap())
    }
}

#[test]
fn tail_call_index_corners() {
    // The index is truncated to 32 bits: 0x1_0000_0001 is slot 1.
    let target = "mov %r0, 77\nexit";
    for (index, text) in [
        ("0x100000001", "lddw %r3, 0x100000001"),
        ("4 (max_entries)", "mov %r3, 4"),
        ("-1", "mov %r3, -1"),
    ] {
        let build = || {
            let jumps = prog_array();
            jumps
                .prog_array_set(1, Some(Arc::new(program(target, vec![]))))
                .unwrap();
            program(
                &format!("mov %r6, 5\nlddw %r2, map_fd 0\n{text}\ncall 12\nmov %r0, %r6\nexit"),
                vec![jumps],
            )
        };
        let obs = differential(&build, &[0; 8]);
        assert!(obs.result.is_ok(), "index {index}");
    }
    // Empty slots do not count toward the limit: 40 misses, then a chain of hits that the
    // limit stops at 33.
    let build = || {
        let jumps = prog_array();
        let counter = "ldxw %r2, [%r1+0]\nadd %r2, 1\nstxw [%r1+0], %r2\nlddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r0, 5\nexit";
        jumps
            .prog_array_set(0, Some(Arc::new(program(counter, vec![jumps.clone()]))))
            .unwrap();
        let misses = "lddw %r2, map_fd 0\nmov %r3, 3\ncall 12\n".repeat(40);
        program(
            &format!(
                "mov %r6, %r1\n{misses}mov %r1, %r6\nlddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nexit"
            ),
            vec![jumps],
        )
    };
    let obs = differential(&build, &[0; 8]);
    assert_eq!(u32::from_le_bytes(obs.ctx[..4].try_into().unwrap()), 33);
}

#[test]
fn callx_register_in_dst_runs_and_in_imm_is_refused_by_both_engines() {
    use jit_support::RECORD;
    let text = format!("mov %r1, 3\nmov %r5, {RECORD}\ncall %r5\nexit");
    differential_asm(&text, &[]);
    // callx with the register number in imm (an older encoding): both engines refuse it.
    let insns = vec![
        Insn::new(0xb7, 5, 0, 0, RECORD as i32),
        Insn::new(0x8d, 0, 0, 0, 5),
        Insn::new(0x95, 0, 0, 0, 0),
    ];
    let program = Program::from_insns("callx-imm", insns);
    let helpers = jit_support::test_helpers();
    let interp = Interpreter::new(&program, &helpers);
    // SAFETY: refused at compile time, never run.
    let jit = unsafe { JitProgram::compile_unverified(&program, &helpers, &JitOptions::default()) };
    assert!(interp.is_err(), "interpreter accepted callx with imm");
    assert!(jit.is_err(), "JIT accepted callx with imm");
}

#[test]
fn local_calls_keep_r6_to_r9_and_each_frames_r10() {
    let text = "
mov %r6, 6
mov %r7, 7
mov %r8, 8
mov %r9, 9
stdw [%r10-8], 100
call local f
ldxdw %r1, [%r10-8]
add %r0, %r1
add %r0, %r6
add %r0, %r7
add %r0, %r8
add %r0, %r9
mov %r2, %r10
exit
f:
mov %r6, 60
mov %r7, 70
mov %r8, 80
mov %r9, 90
stdw [%r10-8], 1000
call local g
ldxdw %r0, [%r10-8]
add %r0, %r6
exit
g:
mov %r6, 600
stdw [%r10-8], 10000
ldxdw %r0, [%r10-8]
exit
";
    expect_r0(text, &[], 1000 + 60 + 100 + 6 + 7 + 8 + 9);
}

/// Helper id of `env_alignment`: r1 plus the misalignment of the host stack at the call.
const ENV_ALIGNMENT: u32 = 300;

/// A 16-byte-aligned local: its address is misaligned iff the stack pointer was at the call.
#[repr(C, align(16))]
struct Aligned([u8; 16]);

fn env_alignment(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let local = Aligned([0; 16]);
    let address = black_box(&local as *const Aligned as usize);
    black_box(local.0[0]);
    Ok(a[0] + (address % 16) as u64)
}

#[test]
fn the_stack_is_16_byte_aligned_at_helper_calls_at_every_depth() {
    let mut helpers = jit_support::test_helpers();
    helpers.register(Helper {
        id: ENV_ALIGNMENT,
        signature: HelperSignature {
            name: "env_alignment",
            args: &[ArgKind::Anything],
            ret: RetKind::Integer,
            gpl_only: false,
        },
        func: env_alignment,
    });
    let text = format!(
        "mov %r1, 1\ncall {ENV_ALIGNMENT}\nmov %r6, %r0\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r1, 10\ncall {ENV_ALIGNMENT}\nmov %r7, %r0\ncall local g\nadd %r0, %r7\nexit\ng:\nmov %r1, 100\ncall {ENV_ALIGNMENT}\nexit"
    );
    let insns = assemble(&text).unwrap();
    let obs = differential_with_helpers(
        &|| Program::from_insns("align", insns.clone()),
        &helpers,
        &[],
    );
    assert_eq!(obs.result, Ok(111));
}
