//! The engines a benchmark program runs on, side by side in one process: the sockops
//! interpreter and JIT, the `rbpf` crate's interpreter and JIT, and the native Rust twin; a
//! check that they all agree before anything is timed; and the careful timing loop of the
//! ratio table (interleaved rounds, minimum per engine, so that a loaded machine slows every
//! engine alike and the ratios stay put).

use std::hint::black_box;
use std::time::{Duration, Instant};

use sockops::jit::{JitOptions, JitProgram};
use sockops::vm::{Insn, Interpreter, Program, RunOptions, assemble};

use crate::programs::{Case, ENV_PLUS_ONE, PURE_PLUS_ONE, helpers, rbpf_plus_one};

/// One case compiled for every engine.
pub struct Engines {
    /// The sockops interpreter.
    pub interp: Interpreter,
    /// The sockops JIT.
    pub jit: JitProgram,
    /// The sockops JIT with checked memory.
    pub checked: JitProgram,
    /// The program as bytes, for rbpf.
    pub bytes: Vec<u8>,
}

impl Engines {
    /// Assembles and compiles `case` for the sockops engines.
    pub fn new(case: &Case) -> Engines {
        let insns: Vec<Insn> = assemble(&case.text).expect("benchmark program assembles");
        let program = Program::from_insns(case.name, insns.clone());
        let interp = Interpreter::new(&program, &helpers()).expect("decodes");
        // SAFETY: the benchmark programs access only their context and stack, in bounds.
        let jit =
            unsafe { JitProgram::compile_unverified(&program, &helpers(), &JitOptions::default()) }
                .expect("compiles");
        let checked = JitProgram::compile_checked(&program, &helpers(), &JitOptions::default())
            .expect("compiles checked");
        Engines {
            interp,
            jit,
            checked,
            bytes: Insn::slice_to_bytes(&insns),
        }
    }

    /// Runs `case` once on every engine, each on a fresh context, and panics unless they all
    /// return the same r0 and leave the same context.
    pub fn check(&mut self, case: &Case) {
        let native_ctx = &mut (case.ctx)();
        let expected = (case.native)(native_ctx);
        let agree = |engine: &str, r0: u64, ctx: &[u8]| {
            assert_eq!(
                r0, expected,
                "{}: {engine} r0 differs from native",
                case.name
            );
            assert_eq!(
                ctx,
                &native_ctx[..],
                "{}: {engine} context differs",
                case.name
            );
        };
        let c = &mut (case.ctx)();
        agree("jit", self.jit.run(c, &mut ()).expect("jit runs"), c);
        let c = &mut (case.ctx)();
        let r0 = self.checked.run(c, &mut ()).expect("checked jit runs");
        agree("checked jit", r0, c);
        let c = &mut (case.ctx)();
        let r0 = self.interp.run(c, &mut (), &RunOptions::default());
        agree("interp", r0.expect("interpreter runs").r0, c);
        let (vm, jitted) = rbpf_vm(&self.bytes);
        let c = &mut (case.ctx)();
        agree("rbpf-int", vm.execute_program(c).expect("rbpf runs"), c);
        if jitted {
            let c = &mut (case.ctx)();
            // SAFETY: the program accesses only its context and stack, in bounds.
            let r0 = unsafe { vm.execute_program_jit(c) }.expect("rbpf JIT runs");
            agree("rbpf-jit", r0, c);
        }
    }
}

/// rbpf's VM for `bytes`, with `plus_one` registered (under both of our ids: rbpf has one
/// kind of helper), JIT-compiled if rbpf's JIT can take the program (its fixed-size code
/// buffer panics on long programs: `false` then). rbpf's JIT emits x86-64 code only: on any
/// other host the VM is not JIT-compiled (`false`).
pub fn rbpf_vm(bytes: &[u8]) -> (rbpf::EbpfVmRaw<'_>, bool) {
    let mut vm = rbpf::EbpfVmRaw::new(Some(bytes)).expect("rbpf loads");
    for id in [PURE_PLUS_ONE, ENV_PLUS_ONE] {
        vm.register_helper(id, rbpf_plus_one).expect("rbpf helper");
    }
    if !cfg!(target_arch = "x86_64") {
        return (vm, false);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.jit_compile()));
    std::panic::set_hook(previous);
    let jitted = matches!(compiled, Ok(Ok(())));
    (vm, jitted)
}

/// Something timed in batches: runs the measured call `iters` times.
pub trait Batch {
    /// Runs `iters` calls; returns a value that depends on all of them.
    fn run(&mut self, iters: u64) -> u64;
}

/// A closure as a `Batch`; the loop is monomorphised per closure, so the only indirect call
/// per iteration is the one being measured.
pub struct Loop<F>(pub F);

impl<F: FnMut() -> u64> Batch for Loop<F> {
    #[inline(never)]
    fn run(&mut self, iters: u64) -> u64 {
        let mut acc = 0u64;
        for _ in 0..iters {
            acc = acc.wrapping_add(black_box((self.0)()));
        }
        acc
    }
}

/// Nanoseconds per call of each batch: calibrated so one batch takes about `batch`, then
/// `rounds` rounds that run every batch in turn; the minimum over rounds per batch.
pub fn ns_per_call(batches: &mut [&mut dyn Batch], rounds: usize, batch: Duration) -> Vec<f64> {
    let iters: Vec<u64> = batches
        .iter_mut()
        .map(|b| {
            let mut n = 1u64;
            loop {
                let start = Instant::now();
                black_box(b.run(n));
                if start.elapsed() >= batch || n >= 1 << 40 {
                    return n;
                }
                n *= 2;
            }
        })
        .collect();
    let mut best = vec![f64::INFINITY; batches.len()];
    for _ in 0..rounds {
        for ((b, &n), best) in batches.iter_mut().zip(&iters).zip(&mut best) {
            let start = Instant::now();
            black_box(b.run(n));
            *best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    best
}
