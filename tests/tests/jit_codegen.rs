//! Properties of the generated machine code: bytes per eBPF instruction are bounded (per
//! instruction kind and overall), constant blinding keeps the program's immediates out of
//! executable memory, compile errors name the instruction, and the conformance suite runs
//! on the JIT and agrees with the interpreter file by file.

mod jit_support;

use sockops::jit::{JitError, JitOptions, JitProgram};
use sockops_tests::conformance::{
    Engine, ParsedTest, conformance_helpers, default_suite_dir, run_suite, test_files,
};
use sockops_vm::{Insn, Program, assemble, decode_program};

fn compile(text: &str, options: &JitOptions) -> JitProgram {
    let program = Program::from_insns("t", assemble(text).unwrap());
    // SAFETY: compiled only, never run.
    unsafe { JitProgram::compile_unverified(&program, &jit_support::test_helpers(), options) }
        .unwrap()
}

/// Machine-code bytes of each slot of `text` (the LD_IMM64 tail slot counts 0).
fn bytes_per_slot(text: &str, options: &JitOptions) -> Vec<(String, usize)> {
    let jit = compile(text, options);
    let insns = assemble(text).unwrap();
    let decoded = decode_program(&insns).unwrap();
    let offsets = jit.insn_offsets();
    decoded
        .iter()
        .enumerate()
        .map(|(pc, insn)| (format!("{insn:?}"), offsets[pc + 1] - offsets[pc]))
        .collect()
}

/// One of every instruction shape, with the awkward registers (r0/r3/r4 are rax/rdx/rcx).
const EVERY_SHAPE: &str = "
mov %r0, 1
mov %r3, -1
lddw %r4, 0x123456789abcdef0
add %r1, %r2
add32 %r1, 100000
sub %r9, -1
mul %r3, %r4
mul32 %r3, 7
div %r3, %r0
div32 %r0, %r3
sdiv %r4, -1
smod32 %r3, %r4
mod %r0, 0
lsh %r4, %r4
rsh32 %r3, %r4
arsh %r0, 63
movsx864 %r1, %r2
movsx3264 %r3, %r4
neg32 %r5
be16 %r6
bswap64 %r7
ldxb %r0, [%r1+1]
ldxsw %r3, [%r10-512]
stxdw [%r10-8], %r9
stw [%r1+4000], -2
lock add [%r10-8], %r1
lock fetch and32 [%r10-16], %r0
lock fetch xor [%r10-16], %r4
lock xchg [%r10-8], %r0
lock cmpxchg32 [%r10-8], %r3
jsgt %r3, %r4, +1
jset32 %r0, 0x7fffffff, +0
call 100
call %r2
call local f
ja32 +0
exit
f:
mov %r0, 0
exit
";

/// Byte limits of `machine_code_per_instruction_is_bounded` on x86-64: the largest sequences
/// are a fetch-xor cmpxchg loop (~40 bytes), a signed division by a register with its zero
/// and -1 guards and rax/rdx saves (~66), a local call with its depth check and frame switch
/// (~70); blinding adds the two instructions that decode a blinded immediate, and turns a
/// known divisor back into a guarded one. Then the limits of simple instructions, and of the
/// average slot.
#[cfg(target_arch = "x86_64")]
mod limits {
    pub const PLAIN_MAX: usize = 72;
    pub const BLINDED_MAX: usize = 96;
    pub const SIMPLE: [(&str, usize); 5] = [
        ("add %r1, %r2\nexit", 3),
        ("add32 %r1, 5\nexit", 4),
        ("ldxdw %r0, [%r1+8]\nexit", 5),
        ("stxw [%r10-8], %r6\nexit", 5),
        ("jeq %r1, 5, +0\nexit", 10),
    ];
    pub const AVERAGE: usize = 24;
}

/// Byte limits on aarch64 (4-byte instructions): the largest sequences are a local call with
/// its depth check and the 48-byte save record (16 instructions), an environment helper call
/// (address, state and return-address saves: 13), a blinded 64-bit constant (up to 9), an
/// exclusive-loop `cmpxchg` on a CPU without LSE (9).
#[cfg(target_arch = "aarch64")]
mod limits {
    pub const PLAIN_MAX: usize = 64;
    pub const BLINDED_MAX: usize = 64;
    pub const SIMPLE: [(&str, usize); 5] = [
        ("add %r1, %r2\nexit", 4),
        ("add32 %r1, 5\nexit", 4),
        ("ldxdw %r0, [%r1+8]\nexit", 4),
        ("stxw [%r10-8], %r6\nexit", 4),
        ("jeq %r1, 5, +0\nexit", 8),
    ];
    pub const AVERAGE: usize = 20;
}

#[test]
fn machine_code_per_instruction_is_bounded() {
    use limits::{AVERAGE, BLINDED_MAX, PLAIN_MAX, SIMPLE};
    for (options, max) in [
        (JitOptions::default(), PLAIN_MAX),
        (
            JitOptions {
                constant_blinding: true,
                ..JitOptions::default()
            },
            BLINDED_MAX,
        ),
    ] {
        let sizes = bytes_per_slot(EVERY_SHAPE, &options);
        if std::env::var_os("JIT_PRINT_SIZES").is_some() {
            for (insn, bytes) in &sizes {
                println!("{bytes:3} {insn}");
            }
        }
        for (insn, bytes) in &sizes {
            assert!(*bytes <= max, "{insn}: {bytes} bytes (limit {max})");
        }
        let total: usize = sizes.iter().map(|(_, b)| b).sum();
        assert!(
            total <= sizes.len() * AVERAGE,
            "{total} bytes for {} slots",
            sizes.len()
        );
    }
    // Simple ALU and memory instructions stay short.
    for (text, max) in SIMPLE {
        let (insn, bytes) = &bytes_per_slot(text, &JitOptions::default())[0];
        if std::env::var_os("JIT_PRINT_SIZES").is_some() {
            let jit = compile(text, &JitOptions::default());
            let o = jit.insn_offsets();
            println!("{insn}: {:02x?}", &jit.code()[o[0]..o[1]]);
        }
        assert!(bytes <= &max, "{insn}: {bytes} bytes (limit {max})");
    }
}

/// Whether `code` holds the constant `needle`: on x86-64 as immediate bytes; on aarch64 as
/// the value some register holds after a `movz`/`movn` + `movk` sequence (constants are
/// built 16 bits at a time there), compared on the needle's width.
fn contains_constant(code: &[u8], needle: u64, bytes: usize) -> bool {
    if cfg!(target_arch = "x86_64") {
        let needle = &needle.to_le_bytes()[..bytes];
        return code.windows(bytes).any(|w| w == needle);
    }
    let mask = if bytes == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * bytes)) - 1
    };
    let mut registers = [0u64; 32];
    for word in code.chunks_exact(4) {
        let w = u32::from_le_bytes(word.try_into().unwrap());
        // Move wide (immediate): sf opc 100101 hw imm16 Rd.
        if w & 0x1f80_0000 != 0x1280_0000 {
            continue;
        }
        let (opc, shift) = ((w >> 29) & 3, 16 * ((w >> 21) & 3));
        let (imm, rd) = (u64::from((w >> 5) & 0xffff), (w & 31) as usize);
        let value = match opc {
            0 => !(imm << shift),
            2 => imm << shift,
            3 => (registers[rd] & !(0xffff << shift)) | (imm << shift),
            _ => continue,
        };
        // A 32-bit form (sf clear) zero-extends.
        registers[rd] = if w >> 31 == 0 {
            value & 0xffff_ffff
        } else {
            value
        };
        if registers[rd] & mask == needle & mask {
            return true;
        }
    }
    false
}

#[test]
fn constant_blinding_hides_immediates() {
    let text = "mov %r0, 0x5a5a1234\nadd %r0, 0x12345a5a\nlddw %r1, 0x1122334455667788\nexit";
    let needles: [(u64, usize); 3] = [
        (0x5a5a_1234, 4),
        (0x1234_5a5a, 4),
        (0x1122_3344_5566_7788, 8),
    ];
    let contains =
        |code: &[u8], &(needle, bytes): &(u64, usize)| contains_constant(code, needle, bytes);
    let plain = compile(text, &JitOptions::default());
    assert!(needles.iter().all(|n| contains(plain.code(), n)));
    let blinded = compile(
        text,
        &JitOptions {
            constant_blinding: true,
            ..JitOptions::default()
        },
    );
    assert!(needles.iter().all(|n| !contains(blinded.code(), n)));
    // And the blinded program still computes the same (differential runs both modes).
    jit_support::expect_r0(text, &[], 0x5a5a_1234u64 + 0x1234_5a5a);
}

/// Instructions that decode but that this runtime does not execute (legacy packet loads,
/// kfunc calls, map references the program's maps cannot serve) compile: dead, they cost
/// nothing (the verifier may accept them there, as the kernel's does); reached, the run
/// fails with the interpreter's error at their slot.
#[test]
fn instructions_the_runtime_does_not_execute_compile_and_fail_as_in_the_interpreter() {
    let cases = [
        ("mov %r0, 0\nldabsw 4\nexit", 1),
        ("mov %r0, 0\nldindb %r4, 0\nexit", 1),
        ("mov %r0, 0\ncall runtime 7\nexit", 1),
        ("lddw %r0, map_fd 0\nexit", 0),
    ];
    for (text, pc) in cases {
        let obs = jit_support::differential_asm(text, &[]);
        let err = obs.result.expect_err(text);
        assert_eq!(err.pc, pc, "{text}");
        // Dead (jumped over), the same instruction lets the program run to its exit.
        let dead = format!(
            "ja +{}\n{text}\nmov %r0, 7\nexit",
            assemble(text).unwrap().len()
        );
        jit_support::expect_r0(&dead, &[], 7);
    }
    let program = Program::from_insns("t", vec![Insn::new(0xff, 0, 0, 0, 0)]);
    // SAFETY: compile only.
    let err = unsafe {
        JitProgram::compile_unverified(
            &program,
            &jit_support::test_helpers(),
            &JitOptions::default(),
        )
    }
    .unwrap_err();
    assert!(matches!(err, JitError::Decode(_)));
}

/// The JIT as a conformance engine.
struct JitEngine;

impl Engine for JitEngine {
    fn name(&self) -> &str {
        "jit"
    }
    fn run(&self, program: &[Insn], memory: &mut [u8]) -> Result<u64, String> {
        let program = Program::from_insns("conformance", program.to_vec());
        // SAFETY: the suite's programs touch only their memory and stack.
        let jit = unsafe {
            JitProgram::compile_unverified(&program, &conformance_helpers(), &JitOptions::default())
        }
        .map_err(|e| e.to_string())?;
        jit.run(memory, &mut ()).map_err(|e| e.to_string())
    }
}

#[test]
fn conformance_suite_on_the_jit_and_against_the_interpreter() {
    let dir = default_suite_dir();
    let files = match test_files(&dir) {
        Ok(files) if !files.is_empty() => files,
        _ => {
            eprintln!("skipping: conformance suite not found at {}", dir.display());
            return;
        }
    };
    let report = run_suite(&files, &JitEngine);
    println!("{}", report.summary());
    let failures: Vec<_> = report.failures().collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(report.ran() > 0);
    // File by file, the differential harness (memory after the run, errors, blinding).
    for file in &files {
        let parsed = sockops_tests::conformance::parse_test_file(file).unwrap();
        let ParsedTest::Run(test) = parsed else {
            continue;
        };
        let insns = test.program.clone();
        let build = || Program::from_insns("conformance", insns.clone());
        jit_support::differential_with_helpers(&build, &conformance_helpers(), &test.memory);
    }
}
