//! Pure helpers (`sockops_vm::helper::PureHelper`: r1..r5 in, r0 out, no environment) on the
//! JIT against the interpreter: results and the arguments each call saw (logged by the test
//! helpers in call order), lean code (only pure calls) with every parity of saved registers
//! (the helper checks that the host stack is 16-byte aligned), registers and stack that must
//! survive the call, pure and environment helpers mixed in one program, `callx` to a pure
//! helper, pure calls in local functions and in a tail-call target, and unknown ids next to
//! pure calls. Every comparison also runs with constant blinding (`jit_support`).

mod jit_support;

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;

use jit_support::{Observation, compare, observe_interpreter, observe_jit, test_helpers};
use sockops::jit::JitOptions;
use sockops_vm::helper::PureHelper;
use sockops_vm::{
    ArgKind, ExecErrorKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable,
    Interpreter, Program, RetKind, RunOptions, assemble,
};

/// Helper id of `PureRecord`: logs its arguments, returns `mix` of them.
const PURE_RECORD: u32 = 200;
/// Helper id of `PureAlignment`: r1 plus the misalignment of the host stack (0 when aligned).
const PURE_ALIGNMENT: u32 = 201;
/// Helper id of `env_log`: an environment helper that logs like `PureRecord`.
const ENV_LOG: u32 = 202;

/// One logged helper call: (helper id, r1..r5).
type Logged = (u32, [u64; 5]);

thread_local! {
    /// Calls logged by the helpers of this file, in order (each test runs on its own thread).
    static LOG: RefCell<Vec<Logged>> = const { RefCell::new(Vec::new()) };
}

fn log(id: u32, args: [u64; 5]) {
    LOG.with(|l| l.borrow_mut().push((id, args)));
}

fn take_log() -> Vec<Logged> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// What `PureRecord` returns for r1..r5 (and `env_log`, xored with 1).
fn mix(a: [u64; 5]) -> u64 {
    a[0].wrapping_mul(5) ^ a[1].rotate_left(11) ^ a[2].wrapping_add(a[3]) ^ (a[4] << 1)
}

const fn signature(name: &'static str) -> HelperSignature {
    HelperSignature {
        name,
        args: &[ArgKind::Anything],
        ret: RetKind::Integer,
        gpl_only: false,
    }
}

struct PureRecord;

impl PureHelper for PureRecord {
    const ID: u32 = PURE_RECORD;
    const SIGNATURE: HelperSignature = signature("pure_record");
    fn call(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64 {
        let args = [r1, r2, r3, r4, r5];
        log(PURE_RECORD, args);
        mix(args)
    }
}

/// 16 bytes that the compiler places assuming the SysV stack alignment at calls.
#[repr(align(16))]
struct Aligned([u8; 16]);

struct PureAlignment;

impl PureHelper for PureAlignment {
    const ID: u32 = PURE_ALIGNMENT;
    const SIGNATURE: HelperSignature = signature("pure_alignment");
    fn call(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64 {
        // r2..r5 are not logged: programs need not set them.
        let _ = (r2, r3, r4, r5);
        log(PURE_ALIGNMENT, [r1, 0, 0, 0, 0]);
        let local = Aligned([0; 16]);
        // The address as the machine sees it: misaligned iff rsp was at the call.
        let address = black_box(&local as *const Aligned as usize);
        black_box(local.0[0]);
        r1 + (address % 16) as u64
    }
}

fn env_log(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    log(ENV_LOG, a);
    Ok(mix(a) ^ 1)
}

/// `jit_support`'s helpers (maps, `record`, `fail`, `store_u64`) plus the ones above.
fn helpers() -> HelperTable {
    let mut table = test_helpers();
    table.register_pure::<PureRecord>();
    table.register_pure::<PureAlignment>();
    table.register(Helper {
        id: ENV_LOG,
        signature: signature("env_log"),
        func: env_log,
    });
    table
}

/// Runs the program `build` makes on the interpreter and on the JIT (plain and blinded),
/// panics on any difference, including the calls logged here; returns the interpreter's
/// observation and log.
fn differential(build: &dyn Fn() -> Program, ctx: &[u8]) -> (Observation, Vec<Logged>) {
    let table = helpers();
    take_log();
    let interp = observe_interpreter(&build(), &table, ctx);
    let interp_log = take_log();
    for blinding in [false, true] {
        let options = JitOptions {
            constant_blinding: blinding,
            ..JitOptions::default()
        };
        let jit = observe_jit(&build(), &table, ctx, &options);
        let jit_log = take_log();
        if let Err(diff) = compare(&interp, &jit) {
            panic!("engines differ (blinding {blinding}):\n{diff}");
        }
        assert_eq!(
            interp_log, jit_log,
            "logged helper calls differ (blinding {blinding})"
        );
    }
    (interp, interp_log)
}

fn differential_asm(text: &str, ctx: &[u8]) -> (Observation, Vec<Logged>) {
    let insns = assemble(text).unwrap_or_else(|e| panic!("bad test program: {e}\n{text}"));
    differential(&|| Program::from_insns("pure", insns.clone()), ctx)
}

#[test]
fn pure_helper_results_and_arguments() {
    let (obs, log) = differential_asm(
        "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 200\n\
         mov %r6, %r0\nlddw %r1, 0x123456789abcdef0\nmov %r2, -1\nmov %r3, 7\nmov %r4, 0\n\
         mov %r5, %r6\ncall 200\nexit",
        &[],
    );
    let first = [1, 2, 3, 4, 5];
    let second = [0x1234_5678_9abc_def0, u64::MAX, 7, 0, mix(first)];
    assert_eq!(log, [(PURE_RECORD, first), (PURE_RECORD, second)]);
    assert_eq!(obs.result, Ok(mix(second)));
}

#[test]
fn arguments_the_program_never_set_are_zero_and_r2_is_the_context_length() {
    // Only pure calls: lean code, which zeroes the argument registers it reads unwritten.
    let (obs, log) = differential_asm("mov %r1, 7\ncall 200\nexit", &[0; 24]);
    assert_eq!(log, [(PURE_RECORD, [7, 24, 0, 0, 0])]);
    assert_eq!(obs.result, Ok(mix([7, 24, 0, 0, 0])));
}

#[test]
fn lean_code_keeps_the_host_stack_aligned_for_pure_helpers() {
    // Every subset of the callee-saved registers lean code saves (r6-r9 and r10), so that
    // both parities of pushes are covered; each program also checks that they survive.
    for mask in 0u32..32 {
        let used: Vec<u32> = (0..5).filter(|b| mask & (1 << b) != 0).collect();
        let mut text = String::new();
        let mut expect = 1u64;
        for &b in &used {
            if b == 4 {
                text.push_str("stdw [%r10-8], 1000\n");
                expect += 1000;
            } else {
                let value = 10u64.pow(b);
                text.push_str(&format!("mov %r{}, {value}\n", b + 6));
                expect += value;
            }
        }
        text.push_str("mov %r1, 1\ncall 201\n");
        for &b in &used {
            if b == 4 {
                text.push_str("ldxdw %r1, [%r10-8]\nadd %r0, %r1\n");
            } else {
                text.push_str(&format!("add %r0, %r{}\n", b + 6));
            }
        }
        text.push_str("exit\n");
        let (obs, log) = differential_asm(&text, &[]);
        assert_eq!(obs.result, Ok(expect), "registers {used:?}:\n{text}");
        assert_eq!(log.len(), 1);
    }
}

#[test]
fn registers_and_stack_survive_pure_calls_in_loops() {
    // 10 iterations of a pure call, with r6-r9 and a stack slot carried across.
    let (obs, log) = differential_asm(
        "mov %r6, 0\nmov %r7, 1\nmov %r8, 2\nmov %r9, 10\nstdw [%r10-16], 0\n\
         loop:\nmov %r1, %r6\nmov %r2, %r9\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 200\nldxdw %r1, [%r10-16]\nadd %r1, %r0\n\
         stxdw [%r10-16], %r1\nadd %r6, 1\nadd %r7, %r8\nsub %r9, 1\njne %r9, 0, loop\n\
         ldxdw %r0, [%r10-16]\nadd %r0, %r7\nexit",
        &[],
    );
    assert_eq!(log.len(), 10);
    let mut sum = 0u64;
    for (i, (id, args)) in log.iter().enumerate() {
        assert_eq!(
            (*id, args[0], args[1]),
            (PURE_RECORD, i as u64, 10 - i as u64)
        );
        sum = sum.wrapping_add(mix(*args));
    }
    assert_eq!(obs.result, Ok(sum.wrapping_add(21)));
}

#[test]
fn pure_and_environment_helpers_mixed_in_one_program() {
    // pure 200, environment 202 (logs), environment 100 (records into the payload),
    // store_u64 102 into the context, pure 201: one log in call order, the same payload
    // record and context on both engines.
    let (obs, log) = differential_asm(
        "mov %r6, %r1\nmov %r1, 3\nmov %r2, 4\ncall 200\nmov %r7, %r0\nmov %r1, %r7\n\
         mov %r2, 9\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 202\nmov %r8, %r0\n\
         mov %r1, 5\nmov %r2, %r8\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 100\n\
         mov %r1, %r6\nmov %r2, %r7\ncall 102\nmov %r1, 0\ncall 201\nadd %r0, %r8\nexit",
        &[0; 8],
    );
    let a = [3, 4, 0, 0, 0];
    let b = [mix(a), 9, 0, 0, 0];
    assert_eq!(log[0], (PURE_RECORD, a));
    assert_eq!(log[1], (ENV_LOG, b));
    assert_eq!(log[2].0, PURE_ALIGNMENT);
    assert_eq!(log.len(), 3);
    assert_eq!(obs.calls.len(), 1, "the payload helper ran once");
    assert_eq!(obs.ctx, mix(a).to_le_bytes());
    assert_eq!(obs.result, Ok(mix(b) ^ 1));
}

#[test]
fn callx_to_a_pure_helper() {
    let (obs, log) = differential_asm(
        "mov %r1, 6\nmov %r3, 200\nmov %r4, 1\ncall %r3\nmov %r6, %r0\nmov %r1, 2\n\
         mov %r5, 201\ncall %r5\nadd %r0, %r6\nexit",
        &[],
    );
    let a = [6, 0, 200, 1, 0];
    assert_eq!(log[0], (PURE_RECORD, a));
    assert_eq!(log[1].0, PURE_ALIGNMENT);
    assert_eq!(obs.result, Ok(mix(a) + 2));
}

#[test]
fn pure_calls_in_local_functions() {
    // Pure calls from the entry frame and from two nested functions (different host stack
    // depths, each checked for alignment), with r6 preserved across the local calls.
    let (obs, log) = differential_asm(
        "mov %r6, 100\nmov %r1, 1\ncall 201\nmov %r7, %r0\ncall local f\nadd %r0, %r7\n\
         add %r0, %r6\nexit\n\
         f:\nmov %r6, 7\nmov %r1, 10\ncall 201\nmov %r7, %r0\ncall local g\nadd %r0, %r7\nexit\n\
         g:\nmov %r1, 1000\nmov %r2, %r6\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 200\nmov %r1, 100\ncall 201\nexit",
        &[],
    );
    assert_eq!(log.len(), 4);
    assert_eq!(log[2], (PURE_RECORD, [1000, 7, 0, 0, 0]));
    assert_eq!(obs.result, Ok(1 + 10 + 100 + 100));
}

#[test]
fn pure_call_in_a_tail_call_target() {
    let build = || {
        let jumps = sockops_tests::maps::prog_array(2);
        let target =
            assemble("mov %r1, 42\nmov %r2, 1\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 200\nexit")
                .unwrap();
        jumps
            .prog_array_set(0, Some(Arc::new(Program::from_insns("target", target))))
            .unwrap();
        Program {
            maps: vec![jumps],
            ..Program::from_insns(
                "root",
                assemble("mov %r1, 5\ncall 201\nlddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nexit")
                    .unwrap(),
            )
        }
    };
    let (obs, log) = differential(&build, &[]);
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].0, PURE_RECORD);
    assert_eq!(log[1].1, [42, 1, 0, 0, 0]);
    assert_eq!(obs.result, Ok(mix(log[1].1)));
}

#[test]
fn unknown_helper_next_to_pure_calls() {
    let (obs, log) = differential_asm("mov %r1, 1\ncall 200\ncall 9999\nexit", &[]);
    assert_eq!(log.len(), 1);
    let err = obs.result.unwrap_err();
    assert_eq!((err.pc, err.kind), (2, ExecErrorKind::UnknownHelper(9999)));
}

#[test]
fn interpreter_counts_pure_calls_and_the_table_keeps_an_environment_view() {
    let program = Program::from_insns(
        "p",
        assemble("mov %r1, 1\ncall 200\ncall 202\ncall 200\nexit").unwrap(),
    );
    let table = helpers();
    let mut vm = Interpreter::new(&program, &table).unwrap();
    let run = vm.run(&mut [], &mut (), &RunOptions::default()).unwrap();
    assert_eq!(run.stats.helper_calls, 3);
    take_log();
    // `get` still returns a `Helper` whose `func` does what the pure entry point does.
    let view = table.get(PURE_RECORD).expect("registered");
    assert_eq!(view.signature.name, "pure_record");
    let pure = table.pure(PURE_RECORD).expect("registered as pure");
    let args = [9, 8, 7, 6, 5];
    let mut memory = sockops_vm::Memory::new();
    let mut env = HelperEnv {
        memory: &mut memory,
        maps: &[],
        payload: &mut (),
        tail_call: None,
    };
    assert_eq!((view.func)(&mut env, args), Ok(mix(args)));
    assert_eq!(pure(9, 8, 7, 6, 5), mix(args));
    assert_eq!(take_log(), [(PURE_RECORD, args), (PURE_RECORD, args)]);
    assert!(table.pure(ENV_LOG).is_none());
}
