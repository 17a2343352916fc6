//! Tail calls and helper panics on the JIT against the interpreter: a tail call replaces the
//! running program in the current frame (from the entry frame and from a subprogram), an
//! empty slot continues after the call, the 33-call limit, and a target that does not decode;
//! a panicking helper unwinds out of `run` on the JIT exactly as on the interpreter.

mod jit_support;

use std::sync::Arc;

use jit_support::{differential, test_helpers};
use sockops::jit::{JitOptions, JitProgram};
use sockops_vm::{
    ExecErrorKind, Helper, HelperEnv, HelperError, HelperTable, Insn, Map, Program, assemble,
};

fn prog_array() -> Arc<Map> {
    sockops_tests::maps::prog_array(4)
}

fn program(text: &str, maps: Vec<Arc<Map>>) -> Program {
    Program {
        maps,
        ..Program::from_insns("p", assemble(text).unwrap())
    }
}

/// A tail-call target: increments the context's first byte and returns 7.
const TARGET: &str = "ldxb %r2, [%r1+0]\nadd %r2, 1\nstxb [%r1+0], %r2\nmov %r0, 7\nexit";

#[test]
fn tail_call_from_the_entry_frame_replaces_the_program() {
    let build = || {
        let jumps = prog_array();
        jumps
            .prog_array_set(1, Some(Arc::new(program(TARGET, vec![]))))
            .unwrap();
        program(
            "mov %r6, 5\nlddw %r2, map_fd 0\nmov %r3, 1\ncall 12\nmov %r0, 99\nexit",
            vec![jumps],
        )
    };
    let obs = differential(&build, &[10]);
    assert_eq!(obs.result, Ok(7));
    assert_eq!(obs.ctx, [11]);
}

#[test]
fn empty_slot_continues_after_the_call() {
    let build = || {
        program(
            "lddw %r2, map_fd 0\nmov %r3, 2\ncall 12\nmov %r0, 99\nexit",
            vec![prog_array()],
        )
    };
    assert_eq!(differential(&build, &[0]).result, Ok(99));
}

#[test]
fn tail_call_from_a_subprogram_returns_to_its_caller() {
    let build = || {
        let jumps = prog_array();
        jumps
            .prog_array_set(0, Some(Arc::new(program(TARGET, vec![]))))
            .unwrap();
        program(
            "mov %r6, 1000\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r6, 3\nlddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r0, 99\nexit",
            vec![jumps],
        )
    };
    let obs = differential(&build, &[0]);
    assert_eq!(obs.result, Ok(1007));
    assert_eq!(obs.ctx, [1]);
}

#[test]
fn at_most_33_tail_calls_per_run() {
    // The program tail-calls itself; each run counts in the context. The 34th call fails and
    // execution continues after it.
    let build = || {
        let jumps = prog_array();
        let looping = Arc::new(program(
            "ldxw %r2, [%r1+0]\nadd %r2, 1\nstxw [%r1+0], %r2\nlddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r0, 5\nexit",
            vec![jumps.clone()],
        ));
        jumps.prog_array_set(0, Some(looping.clone())).unwrap();
        // The root is a copy of the looping program (the map keeps its own copy alive).
        (*looping).clone()
    };
    let obs = differential(&build, &[0, 0, 0, 0]);
    assert_eq!(obs.result, Ok(5));
    assert_eq!(u32::from_le_bytes(obs.ctx.try_into().unwrap()), 34);
}

#[test]
fn undecodable_target_is_the_interpreters_error() {
    let build = || {
        let jumps = prog_array();
        let bad = Program::from_insns("bad", vec![Insn::new(0xff, 0, 0, 0, 0)]);
        jumps.prog_array_set(0, Some(Arc::new(bad))).unwrap();
        program("lddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nexit", vec![jumps])
    };
    let obs = differential(&build, &[]);
    let err = obs.result.unwrap_err();
    // lddw takes slots 0-1, the call is slot 3.
    assert_eq!(err.pc, 3);
    assert!(matches!(
        err.kind,
        ExecErrorKind::BadTailCallTarget { index: 0, .. }
    ));
}

fn panics(_: &mut HelperEnv<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    panic!("helper panic payload");
}

#[test]
fn helper_panic_unwinds_out_of_run() {
    let mut table: HelperTable = test_helpers();
    table.register(Helper {
        id: 200,
        signature: sockops_vm::HelperSignature {
            name: "panics",
            args: &[],
            ret: sockops_vm::RetKind::Integer,
            gpl_only: false,
        },
        func: panics,
    });
    let p = program("call 200\nexit", vec![]);
    // SAFETY: the program touches no memory.
    let jit =
        unsafe { JitProgram::compile_unverified(&p, &table, &JitOptions::default()) }.unwrap();
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jit.run(&mut [], &mut ())));
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"helper panic payload")
    );
    // The program is still usable afterwards.
    let ok = program("mov %r0, 3\nexit", vec![]);
    // SAFETY: as above.
    let jit =
        unsafe { JitProgram::compile_unverified(&ok, &table, &JitOptions::default()) }.unwrap();
    assert_eq!(jit.run(&mut [], &mut ()), Ok(3));
}

/// The safe API: a verified program's tail calls enter only slots stored verified.
#[test]
fn verified_code_tail_calls_only_into_verified_slots() {
    use sockops_verifier::{VerifyOptions, verify};
    let opts = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let helpers = test_helpers();
    let jumps = prog_array();
    let root = verify(
        &program(
            "lddw %r2, map_fd 0\nmov %r3, 1\ncall 12\nmov %r0, 0\nexit",
            vec![jumps.clone()],
        ),
        &helpers,
        &opts,
    )
    .expect("the kernel accepts a tail call with a constant index");
    let target = verify(&program("mov %r0, 1\nexit", vec![]), &helpers, &opts).unwrap();
    let jit = JitProgram::compile(root.verified_program(), &helpers, &JitOptions::default())
        .expect("compiles");
    let mut ctx = [0u8; 224];

    // An unverified program in the slot: refused, naming the index.
    jumps
        .prog_array_set(1, Some(Arc::new(target.program().clone())))
        .unwrap();
    let err = jit.run(&mut ctx, &mut ()).unwrap_err();
    assert_eq!(
        err.kind,
        ExecErrorKind::UnverifiedTailCallTarget { index: 1 }
    );
    assert!(err.to_string().contains("not verified"), "{err}");

    // The same program stored verified: entered.
    jumps
        .prog_array_set_verified(1, target.verified_program())
        .unwrap();
    assert_eq!(jit.run(&mut ctx, &mut ()), Ok(1));

    // An empty slot falls through, verified code or not.
    jumps.prog_array_set(1, None).unwrap();
    assert_eq!(jit.run(&mut ctx, &mut ()), Ok(0));
}
