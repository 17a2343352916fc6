//! JIT benchmarks (criterion): the programs — empty (per-call cost), a SYN-RTO
//! program reading op, family, addresses and ports, a 30-compare decision tree over ports, a
//! 1000-iteration ALU loop, 256 stack stores then 256 loads, 100 helper calls, a div/mod
//! loop — each on the interpreter, the JIT, the `rbpf` crate's interpreter and JIT, and as
//! native Rust; plus compile time of a 100-instruction program. Before the criterion groups
//! it prints a table of per-run times and ratios to native measured in the same process.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sockops::jit::{JitOptions, JitProgram};
use sockops::vm::{
    ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, Insn, Interpreter,
    Program, RetKind, RunOptions, assemble,
};

/// Context size (`struct bpf_sock_ops`).
const CTX_LEN: usize = 224;

/// One benchmark program with its native Rust twin.
struct Case {
    name: &'static str,
    text: String,
    native: fn(&[u8]) -> u64,
}

fn ctx() -> Vec<u8> {
    let mut c = vec![0u8; CTX_LEN];
    c[0..4].copy_from_slice(&1u32.to_le_bytes()); // op = BPF_SOCK_OPS_TIMEOUT_INIT
    c[20..24].copy_from_slice(&2u32.to_le_bytes()); // AF_INET
    c[24..28].copy_from_slice(&[10, 0, 0, 7]); // remote_ip4 10.0.0.7, network order
    c[28..32].copy_from_slice(&[10, 0, 0, 1]);
    c[64..68].copy_from_slice(&((0x5000u32).swap_bytes() << 16).to_le_bytes()); // port 80, be16 in the high half
    c[68..72].copy_from_slice(&1029u32.to_le_bytes()); // local_port (tree key)
    c
}

fn syn_rto_native(c: &[u8]) -> u64 {
    let w = |o: usize| u32::from_le_bytes(c[o..o + 4].try_into().unwrap_or([0; 4]));
    if w(0) != 1 || w(20) != 2 {
        return u64::MAX;
    }
    let (rip, lip, rport, lport) = (w(24), w(28), w(64), w(68));
    if rip & 0x00ff_ffff == 0x0000_000a && lip & 0x00ff_ffff == 0x0000_000a {
        return if (rport >> 16).swap_bytes() as u16 == 80 || lport == 22 {
            10
        } else {
            50
        };
    }
    u64::MAX
}

const SYN_RTO: &str = "
ldxw %r2, [%r1+0]
jne %r2, 1, fail
ldxw %r3, [%r1+20]
jne %r3, 2, fail
ldxw %r4, [%r1+24]
ldxw %r5, [%r1+28]
ldxw %r6, [%r1+64]
ldxw %r7, [%r1+68]
and %r4, 0xffffff
jne %r4, 10, fail
and %r5, 0xffffff
jne %r5, 10, fail
rsh %r6, 16
be16 %r6
jeq %r6, 80, fast
jeq %r7, 22, fast
mov %r0, 50
exit
fast:
mov %r0, 10
exit
fail:
mov %r0, -1
exit
";

fn tree_text() -> String {
    let mut t = String::from("ldxw %r2, [%r1+68]\n");
    for i in 0..30 {
        t.push_str(&format!("jeq %r2, {}, +1\n", 1000 + i));
        t.push_str("ja +2\n");
        t.push_str(&format!("mov %r0, {i}\nexit\n"));
    }
    t.push_str("mov %r0, 99\nexit\n");
    t
}

fn tree_native(c: &[u8]) -> u64 {
    let port = u32::from_le_bytes(c[68..72].try_into().unwrap_or([0; 4]));
    match port {
        1000..=1029 => (port - 1000) as u64,
        _ => 99,
    }
}

const ALU_LOOP: &str = "
mov %r0, 0
mov %r1, 1000
loop:
add %r0, %r1
xor %r0, 0x55
lsh %r0, 1
rsh %r0, 1
sub %r1, 1
jne %r1, 0, loop
exit
";

fn alu_native(_: &[u8]) -> u64 {
    let mut r0: u64 = 0;
    let mut r1: u64 = black_box(1000);
    while r1 != 0 {
        r0 = r0.wrapping_add(r1);
        r0 ^= 0x55;
        r0 = (r0 << 1) >> 1;
        r1 -= 1;
    }
    r0
}

fn stack_text() -> String {
    let mut t = String::from("mov %r2, 1\n");
    for i in 1..=256 {
        t.push_str(&format!("stxb [%r10-{i}], %r2\nadd %r2, 3\n"));
    }
    t.push_str("mov %r0, 0\n");
    for i in 1..=256 {
        t.push_str(&format!("ldxb %r3, [%r10-{i}]\nadd %r0, %r3\n"));
    }
    t.push_str("exit\n");
    t
}

fn stack_native(_: &[u8]) -> u64 {
    let mut stack = [0u8; 256];
    let mut r2: u64 = black_box(1);
    for b in stack.iter_mut() {
        *b = r2 as u8;
        r2 += 3;
    }
    let stack = black_box(stack);
    stack.iter().map(|&b| b as u64).sum()
}

fn helpers_text() -> String {
    let mut t = String::from("mov %r1, 0\n");
    for _ in 0..100 {
        t.push_str("call 1\nmov %r1, %r0\n");
    }
    t.push_str("exit\n");
    t
}

#[inline(never)]
fn plus_one(a: u64) -> u64 {
    a.wrapping_add(1)
}

fn helpers_native(_: &[u8]) -> u64 {
    let mut r1 = black_box(0);
    for _ in 0..100 {
        r1 = black_box(plus_one(r1));
    }
    r1
}

const DIV_LOOP: &str = "
mov %r0, 0
mov %r6, 1000
loop:
lddw %r2, 0xfedcba9876543210
div %r2, %r6
mov %r3, %r2
mod %r3, 7
add %r0, %r3
sub %r6, 1
jne %r6, 0, loop
exit
";

fn div_native(_: &[u8]) -> u64 {
    let mut r0: u64 = 0;
    let mut r6: u64 = black_box(1000);
    while r6 != 0 {
        let r2 = black_box(0xfedc_ba98_7654_3210u64) / r6;
        r0 = r0.wrapping_add(r2 % 7);
        r6 -= 1;
    }
    r0
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "empty",
            text: "mov %r0, 0\nexit".into(),
            native: |_| black_box(0),
        },
        Case {
            name: "syn_rto",
            text: SYN_RTO.into(),
            native: syn_rto_native,
        },
        Case {
            name: "tree30",
            text: tree_text(),
            native: tree_native,
        },
        Case {
            name: "alu_loop1000",
            text: ALU_LOOP.into(),
            native: alu_native,
        },
        Case {
            name: "stack256",
            text: stack_text(),
            native: stack_native,
        },
        Case {
            name: "helpers100",
            text: helpers_text(),
            native: helpers_native,
        },
        Case {
            name: "divmod_loop1000",
            text: DIV_LOOP.into(),
            native: div_native,
        },
    ]
}

fn helper_plus_one(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(plus_one(a[0]))
}

fn rbpf_plus_one(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    plus_one(a)
}

fn helpers() -> HelperTable {
    let mut t = HelperTable::new();
    t.register(Helper {
        id: 1,
        signature: HelperSignature {
            name: "plus_one",
            args: &[ArgKind::Anything],
            ret: RetKind::Integer,
            gpl_only: false,
        },
        func: helper_plus_one,
    });
    t
}

/// All engines of one case, ready to run.
struct Engines {
    interp: Interpreter,
    jit: JitProgram,
    bytes: Vec<u8>,
}

fn engines(case: &Case) -> Engines {
    let insns: Vec<Insn> = assemble(&case.text).expect("benchmark program assembles");
    let program = Program::from_insns(case.name, insns.clone());
    let interp = Interpreter::new(&program, &helpers()).expect("decodes");
    // SAFETY: the benchmark programs access only their context and stack, in bounds.
    let jit =
        unsafe { JitProgram::compile_unverified(&program, &helpers(), &JitOptions::default()) }
            .expect("compiles");
    Engines {
        interp,
        jit,
        bytes: Insn::slice_to_bytes(&insns),
    }
}

/// Mean time per call of `f` over roughly `budget`.
fn time_per_call(budget: Duration, mut f: impl FnMut() -> u64) -> f64 {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return elapsed.as_nanos() as f64 / iters as f64;
        }
        iters *= 2;
    }
}

fn ratio_table() {
    let budget = Duration::from_millis(100);
    println!(
        "\n{:<16} {:>10} {:>10} {:>10} {:>10} {:>10}   jit/native interp/jit rbpf-jit/jit",
        "ns per run", "native", "jit", "interp", "rbpf-jit", "rbpf-int"
    );
    for case in cases() {
        let mut e = engines(&case);
        let mut c = ctx();
        let expect = (case.native)(&c);
        let got = e.jit.run(&mut c, &mut ()).expect("jit runs");
        assert_eq!(got, expect, "{}: JIT disagrees with native", case.name);
        let native = time_per_call(budget, || (case.native)(black_box(&c)));
        let jit = time_per_call(budget, || e.jit.run(&mut c, &mut ()).unwrap_or(0));
        let opts = RunOptions::default();
        let interp = time_per_call(budget, || {
            e.interp
                .run(&mut c, &mut (), &opts)
                .map(|r| r.r0)
                .unwrap_or(0)
        });
        let mut vm = rbpf::EbpfVmRaw::new(Some(&e.bytes)).expect("rbpf loads");
        vm.register_helper(1, rbpf_plus_one).expect("rbpf helper");
        let rbpf_int = time_per_call(budget, || vm.execute_program(&mut c).unwrap_or(0));
        // rbpf's JIT has a fixed-size code buffer and panics on long programs.
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.jit_compile()));
        let rbpf_jit =
            match compiled.unwrap_or_else(|_| Err(std::io::Error::other("rbpf JIT panicked"))) {
                // SAFETY: same programs; they access only the context and the stack in bounds.
                Ok(()) => time_per_call(budget, || {
                    unsafe { vm.execute_program_jit(&mut c) }.unwrap_or(0)
                }),
                Err(_) => f64::NAN,
            };
        println!(
            "{:<16} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}   {:>9.2}x {:>8.1}x {:>11.2}x",
            case.name,
            native,
            jit,
            interp,
            rbpf_jit,
            rbpf_int,
            jit / native,
            interp / jit,
            rbpf_jit / jit
        );
    }
    // Compile time of a 100-instruction program.
    let text: String = (0..99)
        .map(|i| match i % 5 {
            0 => format!("add %r{}, {i}\n", i % 9 + 1),
            1 => format!("ldxw %r0, [%r1+{}]\n", (i % 50) * 4),
            2 => format!("jgt %r{}, {i}, +1\n", i % 9 + 1),
            3 => format!("mul %r{}, %r0\n", i % 9 + 1),
            _ => format!("stxdw [%r10-{}], %r2\n", (i % 60) * 8 + 8),
        })
        .chain(std::iter::once("exit\n".to_string()))
        .collect();
    let program = Program::from_insns("p100", assemble(&text).expect("assembles"));
    let table = helpers();
    let compile = time_per_call(budget, || {
        // SAFETY: compiled only, never run.
        let jit =
            unsafe { JitProgram::compile_unverified(&program, &table, &JitOptions::default()) };
        jit.map(|j| j.code().len() as u64).unwrap_or(0)
    });
    println!("compile 100 insns: {:.1} us\n", compile / 1000.0);
}

fn bench(c: &mut Criterion) {
    ratio_table();
    for case in cases() {
        let mut e = engines(&case);
        let mut ctx = ctx();
        let mut group = c.benchmark_group(case.name);
        group.bench_function("native", |b| b.iter(|| (case.native)(black_box(&ctx))));
        group.bench_function("jit", |b| b.iter(|| e.jit.run(&mut ctx, &mut ())));
        let opts = RunOptions::default();
        group.bench_function("interp", |b| {
            b.iter(|| e.interp.run(&mut ctx, &mut (), &opts))
        });
        let mut vm = rbpf::EbpfVmRaw::new(Some(&e.bytes)).expect("rbpf loads");
        vm.register_helper(1, rbpf_plus_one).expect("rbpf helper");
        group.bench_function("rbpf_interp", |b| b.iter(|| vm.execute_program(&mut ctx)));
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.jit_compile()));
        if matches!(compiled, Ok(Ok(()))) {
            // SAFETY: as in `ratio_table`.
            group.bench_function("rbpf_jit", |b| {
                b.iter(|| unsafe { vm.execute_program_jit(&mut ctx) })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
