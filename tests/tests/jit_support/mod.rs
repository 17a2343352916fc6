//! The differential harness of the JIT tests (`jit_*.rs`): one function runs a program on the
//! interpreter (the executable spec) and on the JIT and compares r0, the error, the context
//! bytes after the run, every map's contents, and the helper calls made (recorded by the test
//! helpers below, with guest pointers shown relative to the region they point into, so the
//! two engines' different stack addresses compare equal).

#![allow(dead_code)]

use std::sync::Arc;

use sockops::jit::{JitOptions, JitProgram};
use sockops_vm::maps::helpers::register_map_helpers;
use sockops_vm::{
    ArgKind, ExecError, ExecErrorKind, Helper, HelperEnv, HelperError, HelperSignature,
    HelperTable, Interpreter, Map, Program, RegionKind, RetKind, RunOptions, assemble,
};

/// Helper id of `record`: records its arguments, returns a mix of them.
pub const RECORD: u32 = 100;
/// Helper id of `fail`: ends the program with a helper error.
pub const FAIL: u32 = 101;
/// Helper id of `store_u64`: stores r2 at the guest address r1 (checked), returns r1's old value.
pub const STORE_U64: u32 = 102;

/// A helper argument as the harness compares it: a plain value, or a guest pointer as
/// (region kind, offset from the region's start; from its end for the stack, whose top is the
/// entry frame pointer in both engines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Not a pointer into guest memory.
    Value(u64),
    /// A pointer into a region.
    Pointer(RegionKind, i64),
}

/// One recorded helper call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Helper id.
    pub id: u32,
    /// r1..r5.
    pub args: Vec<Arg>,
}

/// The payload the test helpers record into.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Calls in order.
    pub calls: Vec<Call>,
}

fn view(env: &HelperEnv<'_>, value: u64) -> Arg {
    for r in env.memory.regions() {
        if value >= r.start && value - r.start <= r.len {
            let off = if r.kind == RegionKind::Stack {
                value as i64 - (r.start + r.len) as i64
            } else {
                (value - r.start) as i64
            };
            return Arg::Pointer(r.kind, off);
        }
    }
    Arg::Value(value)
}

fn record(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let args = a.iter().map(|&v| view(env, v)).collect();
    if let Some(rec) = env.payload.downcast_mut::<Recorder>() {
        rec.calls.push(Call { id: RECORD, args });
    }
    Ok(a[0].wrapping_mul(3).wrapping_add(a[1].rotate_left(7)) ^ a[2].wrapping_sub(a[3]) ^ a[4])
}

fn fail(_: &mut HelperEnv<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Err(HelperError::Abort("fail"))
}

fn store_u64(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let old = env.memory.load(a[0], 8)?;
    env.memory.store(a[0], 8, a[1])?;
    Ok(old)
}

fn signature(name: &'static str) -> HelperSignature {
    HelperSignature {
        name,
        args: &[ArgKind::Anything],
        ret: RetKind::Integer,
        gpl_only: false,
    }
}

/// The map helpers of the vm plus `record`, `fail` and `store_u64`.
pub fn test_helpers() -> HelperTable {
    let mut table = HelperTable::new();
    register_map_helpers(&mut table);
    for (id, name, func) in [
        (RECORD, "record", record as sockops_vm::HelperFn),
        (FAIL, "fail", fail),
        (STORE_U64, "store_u64", store_u64),
    ] {
        table.register(Helper {
            id,
            signature: signature(name),
            func,
        });
    }
    table
}

/// What one engine did.
#[derive(Debug)]
pub struct Observation {
    /// r0 or the error.
    pub result: Result<u64, ExecError>,
    /// The context after the run.
    pub ctx: Vec<u8>,
    /// Each map's entries after the run.
    pub maps: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    /// Helper calls made.
    pub calls: Vec<Call>,
}

/// Instructions the interpreter may run before the harness calls the program non-terminating.
const BUDGET: u64 = 1_000_000;

fn map_contents(maps: &[Arc<Map>]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    maps.iter().map(|m| m.entries()).collect()
}

/// Runs `program` (its maps are used as they are) on the interpreter.
pub fn observe_interpreter(program: &Program, helpers: &HelperTable, ctx: &[u8]) -> Observation {
    let mut ctx = ctx.to_vec();
    let mut recorder = Recorder::default();
    let result = Interpreter::new(program, helpers).and_then(|mut vm| {
        let options = RunOptions {
            instruction_budget: Some(BUDGET),
        };
        vm.run(&mut ctx, &mut recorder, &options).map(|r| r.r0)
    });
    Observation {
        result,
        ctx,
        maps: map_contents(&program.maps),
        calls: recorder.calls,
    }
}

/// Runs `program` on the JIT. Panics if it does not compile.
pub fn observe_jit(
    program: &Program,
    helpers: &HelperTable,
    ctx: &[u8],
    options: &JitOptions,
) -> Observation {
    let mut ctx = ctx.to_vec();
    let mut recorder = Recorder::default();
    // SAFETY: test programs access only their context and stack in bounds (the random ones by
    // construction, the hand-written ones by reading), so unchecked machine code is sound.
    let jit = unsafe { JitProgram::compile_unverified(program, helpers, options) }
        .unwrap_or_else(|e| panic!("JIT compile failed: {e}"));
    let result = jit.run(&mut ctx, &mut recorder);
    Observation {
        result,
        ctx,
        maps: map_contents(&program.maps),
        calls: recorder.calls,
    }
}

/// `Ok` if the two observations agree on everything the harness compares, else what differs.
pub fn compare(interp: &Observation, jit: &Observation) -> Result<(), String> {
    let mut diffs = Vec::new();
    if interp.result != jit.result {
        diffs.push(format!(
            "result: interpreter {:?}, JIT {:?}",
            interp.result, jit.result
        ));
    }
    if interp.ctx != jit.ctx {
        diffs.push(format!(
            "context: interpreter {:02x?}, JIT {:02x?}",
            interp.ctx, jit.ctx
        ));
    }
    if interp.maps != jit.maps {
        diffs.push(format!(
            "maps: interpreter {:?}, JIT {:?}",
            interp.maps, jit.maps
        ));
    }
    if interp.calls != jit.calls {
        diffs.push(format!(
            "helper calls: interpreter {:?}, JIT {:?}",
            interp.calls, jit.calls
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

/// Builds a fresh program (with fresh maps) for each engine, so their map effects are
/// observed separately.
pub type Build<'a> = &'a dyn Fn() -> Program;

/// Runs the program `build` makes on both engines (plain and with constant blinding) and
/// panics with the differences if any; returns the interpreter's observation.
pub fn differential(build: Build<'_>, ctx: &[u8]) -> Observation {
    differential_with_helpers(build, &test_helpers(), ctx)
}

/// `differential` with a given helper table.
pub fn differential_with_helpers(
    build: Build<'_>,
    helpers: &HelperTable,
    ctx: &[u8],
) -> Observation {
    let interp = observe_interpreter(&build(), helpers, ctx);
    if let Err(ExecError {
        kind: ExecErrorKind::BudgetExhausted { .. },
        ..
    }) = interp.result
    {
        panic!("test program does not terminate on the interpreter");
    }
    for options in jit_option_variants() {
        let jit = observe_jit(&build(), helpers, ctx, &options);
        if let Err(diff) = compare(&interp, &jit) {
            panic!("engines differ ({options:?}):\n{diff}");
        }
    }
    interp
}

/// The JIT configurations every differential test runs: plain and with constant blinding,
/// each with and without checked memory; on aarch64 with LSE also the exclusive-load/store
/// atomics.
pub fn jit_option_variants() -> Vec<JitOptions> {
    #[cfg_attr(not(target_arch = "aarch64"), allow(unused_mut))]
    let mut variants: Vec<JitOptions> =
        [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .map(|(constant_blinding, checked_memory)| JitOptions {
                constant_blinding,
                checked_memory,
                ..JitOptions::default()
            })
            .collect();
    // With LSE the default compiles atomics to LSE instructions: run the exclusive-load/store
    // loops too. (Without LSE the default is the loops, and LSE code would trap.)
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("lse") {
        variants.push(JitOptions {
            atomics: sockops::jit::AtomicsLowering::ExclusiveLoop,
            ..JitOptions::default()
        });
    }
    variants
}

/// `differential` for a program in assembler text without maps.
pub fn differential_asm(text: &str, ctx: &[u8]) -> Observation {
    let insns = assemble(text).unwrap_or_else(|e| panic!("bad test program: {e}\n{text}"));
    differential(&|| Program::from_insns("test", insns.clone()), ctx)
}

/// `differential_asm` that also checks r0.
pub fn expect_r0(text: &str, ctx: &[u8], r0: u64) {
    let obs = differential_asm(text, ctx);
    assert_eq!(obs.result, Ok(r0), "program:\n{text}");
}
