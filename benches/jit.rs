//! JIT benchmarks. Every program of `support/programs.rs` (per instruction class and per
//! sock_ops callback) runs on the sockops interpreter and JIT, the `rbpf` crate's interpreter
//! and JIT, and as native Rust, in the same process; plus the compile time of a
//! 100-instruction program. `cargo bench` runs the criterion groups (one per program, one for
//! compilation), then prints one table of times and ratios (JIT/native, JIT/rbpf-JIT,
//! interpreter/native, interpreter/rbpf-interpreter) measured together in interleaved rounds,
//! with the realistic `setsockopt3` row (`support/world.rs`) and the goals of the
//! interpreter and the helper path, each marked met or not. A filter argument
//! (`cargo bench -- syn_rto`) selects programs for both; `JIT_RATIOS_ONLY=1` skips the
//! criterion groups and prints only the table.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/engines.rs"]
mod engines;
#[path = "support/programs.rs"]
mod programs;
#[path = "support/world.rs"]
mod world;

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use sockops::jit::{JitOptions, JitProgram};
use sockops::vm::{Insn, Program, RunOptions, assemble};

use engines::{Batch, Engines, Loop, ns_per_call, rbpf_vm};
use programs::{Case, cases, compile_text, helpers};

/// The criterion group of one case: each engine as a function.
fn bench_case(c: &mut Criterion, case: &Case) {
    let mut e = Engines::new(case);
    e.check(case);
    let mut group = c.benchmark_group(case.name);
    let mut ctx = (case.ctx)();
    group.bench_function("native", |b| {
        b.iter(|| (black_box(case.native))(black_box(&mut ctx)))
    });
    group.bench_function("jit", |b| b.iter(|| e.jit.run(&mut ctx, &mut ())));
    let opts = RunOptions::default();
    group.bench_function("interp", |b| {
        b.iter(|| e.interp.run(&mut ctx, &mut (), &opts))
    });
    let (vm, jitted) = rbpf_vm(&e.bytes);
    group.bench_function("rbpf_interp", |b| b.iter(|| vm.execute_program(&mut ctx)));
    if jitted {
        // SAFETY: the benchmark programs access only their context and stack, in bounds.
        group.bench_function("rbpf_jit", |b| {
            b.iter(|| unsafe { vm.execute_program_jit(&mut ctx) })
        });
    }
    group.finish();
}

/// The 100-instruction program, for rbpf and for us.
fn compile_program() -> (Program, Vec<u8>) {
    let insns = assemble(&compile_text()).expect("assembles");
    let bytes = Insn::slice_to_bytes(&insns);
    (Program::from_insns("p100", insns), bytes)
}

/// Compiles `program` with the sockops JIT; returns its code size.
fn compile_ours(program: &Program, table: &sockops::vm::HelperTable) -> u64 {
    // SAFETY: compiled only, never run.
    let jit = unsafe { JitProgram::compile_unverified(program, table, &JitOptions::default()) };
    jit.map(|j| j.code().len() as u64).unwrap_or(0)
}

fn bench_compile(c: &mut Criterion) {
    let (program, bytes) = compile_program();
    let table = helpers();
    let mut group = c.benchmark_group("compile100");
    group.bench_function("jit", |b| b.iter(|| compile_ours(&program, &table)));
    group.bench_function("rbpf_jit", |b| {
        b.iter(|| {
            let mut vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf loads");
            vm.jit_compile().is_ok()
        })
    });
    group.finish();
}

/// Interleaved rounds and the length of one timed batch in the ratio table.
const ROUNDS: usize = 15;
const BATCH: Duration = Duration::from_millis(2);

/// One row of the ratio table: ns per run on each engine.
/// Returns (interp/native, jit/native, checked jit/jit).
fn ratio_row(case: &Case) -> (f64, f64, f64) {
    let mut e = Engines::new(case);
    e.check(case);
    let (vm, jitted) = rbpf_vm(&e.bytes);
    let (vm_jit, _) = rbpf_vm(&e.bytes);
    let mut ctxs: Vec<Vec<u8>> = (0..6).map(|_| (case.ctx)()).collect();
    let [c1, c2, c3, c4, c5, c6] = &mut ctxs[..] else {
        unreachable!("six contexts")
    };
    let native = black_box(case.native);
    let mut native = Loop(|| native(c1));
    let jit = &e.jit;
    let mut jit = Loop(|| jit.run(c2, &mut ()).unwrap_or(0));
    let checked = &e.checked;
    let mut checked = Loop(|| checked.run(c6, &mut ()).unwrap_or(0));
    let opts = RunOptions::default();
    let interp = &mut e.interp;
    let mut interp = Loop(|| interp.run(c3, &mut (), &opts).map_or(0, |r| r.r0));
    let mut rbpf_int = Loop(|| vm.execute_program(c4).unwrap_or(0));
    // SAFETY: the benchmark programs access only their context and stack, in bounds.
    let mut rbpf_jit = Loop(|| unsafe { vm_jit.execute_program_jit(c5) }.unwrap_or(0));
    let mut batches: Vec<&mut dyn Batch> = vec![
        &mut native,
        &mut jit,
        &mut interp,
        &mut rbpf_int,
        &mut checked,
    ];
    if jitted {
        batches.push(&mut rbpf_jit);
    }
    let t = ns_per_call(&mut batches, ROUNDS, BATCH);
    let rbpf_jit = t.get(5).copied().unwrap_or(f64::NAN);
    let (native, jit, interp, rbpf_int, checked) = (t[0], t[1], t[2], t[3], t[4]);
    print_row(
        case.name,
        case.class,
        [native, jit, rbpf_jit, interp, rbpf_int, checked],
    );
    (interp / native, jit / native, checked / jit)
}

/// One row of the table from ns per run: native, jit, rbpf-jit, interp, rbpf-int, checked jit.
fn print_row(name: &str, class: &str, t: [f64; 6]) {
    let [native, jit, rbpf_jit, interp, rbpf_int, checked] = t;
    println!(
        "{:<16} {:<17} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} | {:>7.2}x {:>8.2}x {:>7.1}x {:>8.2}x {:>7.2}x",
        name,
        class,
        native,
        jit,
        rbpf_jit,
        interp,
        rbpf_int,
        checked,
        jit / native,
        jit / rbpf_jit,
        interp / native,
        interp / rbpf_int,
        checked / jit
    );
}

/// The realistic sock_ops row: three `bpf_setsockopt` calls on TCP_CONNECT_CB (rbpf cannot
/// run the runtime's helpers: its columns stay empty).
/// Returns (jit/native, checked jit/jit).
fn world_row() -> (f64, f64) {
    let mut case = world::WorldCase::new();
    let expected = case.run(0);
    assert_eq!(
        case.run(1),
        expected,
        "setsockopt3: jit r0 differs from native"
    );
    assert_eq!(
        case.run(2),
        expected,
        "setsockopt3: interp r0 differs from native"
    );
    assert_eq!(
        case.run(3),
        expected,
        "setsockopt3: checked jit r0 differs from native"
    );
    let case = std::cell::RefCell::new(case);
    let mut native = Loop(|| case.borrow_mut().run(0));
    let mut jit = Loop(|| case.borrow_mut().run(1));
    let mut interp = Loop(|| case.borrow_mut().run(2));
    let mut checked = Loop(|| case.borrow_mut().run(3));
    let t = ns_per_call(
        &mut [&mut native, &mut jit, &mut interp, &mut checked],
        ROUNDS,
        BATCH,
    );
    print_row(
        "setsockopt3",
        "sock_ops helpers",
        [t[0], t[1], f64::NAN, t[2], f64::NAN, t[3]],
    );
    (t[1] / t[0], t[3] / t[1])
}

/// The interpreter goals of issue 13 (interp/native at most), by case name.
const INTERPRETER_GOALS: [(&str, f64); 7] = [
    ("empty", 12.0),
    ("syn_rto", 24.0),
    ("alu_loop1000", 8.0),
    ("stack256", 35.0),
    ("tree30", 20.0),
    ("helpers100", 9.0),
    ("divmod_loop1000", 5.5),
];

/// The compile-time row: µs per compilation of the 100-instruction program.
fn compile_row() {
    let (program, bytes) = compile_program();
    let table = helpers();
    let mut ours = Loop(|| compile_ours(&program, &table));
    let mut theirs = Loop(|| {
        let mut vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf loads");
        u64::from(vm.jit_compile().is_ok())
    });
    let t = ns_per_call(&mut [&mut ours, &mut theirs], ROUNDS, BATCH);
    println!(
        "compile 100 insns: jit {:.1} us, rbpf-jit {:.1} us (goal < 20 us)",
        t[0] / 1000.0,
        t[1] / 1000.0
    );
}

fn ratio_table(filter: Option<&str>) {
    println!(
        "\nns per run (min of {ROUNDS} interleaved rounds)\n{:<16} {:<17} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} | {:>8} {:>9} {:>8} {:>9} {:>8}",
        "program",
        "class",
        "native",
        "jit",
        "rbpf-jit",
        "interp",
        "rbpf-int",
        "chk-jit",
        "jit/nat",
        "jit/rbpfj",
        "int/nat",
        "int/rbpfi",
        "chk/jit"
    );
    let mut interp_ratios = Vec::new();
    for case in cases() {
        if filter.is_none_or(|f| case.name.contains(f)) {
            interp_ratios.push((case.name, ratio_row(&case)));
        }
    }
    let world = filter
        .is_none_or(|f| "setsockopt3".contains(f))
        .then(world_row);
    if filter.is_none_or(|f| "compile100".contains(f)) {
        compile_row();
    }
    // The goals, met or not.
    let verdict = |r: f64, goal: f64| if r <= goal { "met" } else { "NOT met" };
    for (name, goal) in INTERPRETER_GOALS {
        if let Some((_, (r, _, _))) = interp_ratios.iter().find(|(n, _)| *n == name) {
            println!(
                "goal interp/native {name} <= {goal}x: {r:.1}x {}",
                verdict(*r, goal)
            );
        }
    }
    for name in ["helpers100", "helpers100_env"] {
        if let Some((_, (_, r, _))) = interp_ratios.iter().find(|(n, _)| *n == name) {
            println!(
                "goal jit/native {name} <= 1.3x: {r:.2}x {}",
                verdict(*r, 1.3)
            );
        }
    }
    if let Some((r, _)) = world {
        println!(
            "goal jit/native setsockopt3 <= 1.3x: {r:.2}x {}",
            verdict(r, 1.3)
        );
    }
    // Issue 12 item 13: checked memory within 1.3x of the unchecked JIT on every program.
    let checked = interp_ratios
        .iter()
        .map(|(name, (_, _, c))| (*name, *c))
        .chain(world.map(|(_, c)| ("setsockopt3", c)));
    for (name, r) in checked {
        println!(
            "goal checked-jit/jit {name} <= 1.3x: {r:.2}x {}",
            verdict(r, 1.3)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let filter = cli::filter_argument(&args);
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    // JIT_RATIOS_ONLY=1 skips the criterion groups (a quick look at the table).
    if std::env::var_os("JIT_RATIOS_ONLY").is_none() {
        for case in cases() {
            if filter.is_none_or(|f| case.name.contains(f)) {
                bench_case(&mut c, &case);
            }
        }
        bench_compile(&mut c);
        c.final_summary();
    }
    // Only for `cargo bench` (which passes --bench), not for test runs of the target.
    if args.iter().any(|a| a == "--bench") {
        ratio_table(filter);
    }
}
