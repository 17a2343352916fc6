//! Verifier benchmarks: how long `verify` takes on the example objects' programs, on bounded
//! loops (10 to 5000 iterations; the kernel needs about 2.6 ms for 1000), and on programs
//! whose cost grows with the number of branches (independent `if`s and a chain of
//! if/else diamonds, 8 to 512 of each). `cargo bench --bench verifier` runs the criterion
//! groups, then prints one table of medians with the verifier's own statistics (instructions
//! processed, states stored) so the numbers can be quoted. The `corpus` group holds the
//! corpus program whose verification time is closest to the kernel's load time
//! (`tests/corpus/state_heavy.jsonl`, [`WORST_CORPUS_CASE`]; the kernel's time is on its
//! line as `kernel_load_ns`, and `tests/tests/verifier_speed.rs` prints the ratio). A filter argument
//! (`cargo bench --bench verifier -- loop`) selects cases for both; `VERIFIER_TABLE_ONLY=1`
//! skips the criterion groups and prints only the table.

#[path = "support/cli.rs"]
mod cli;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sockops::verifier::{Stats, VerifyOptions, verify};
use sockops::vm::elf::Object;
use sockops::vm::{HelperTable, Insn, Program};

/// The corpus program with the worst ratio of our verification time to the kernel's load
/// time (0.82x when measured; 715,170 instructions processed here, 380,036 in the kernel).
const WORST_CORPUS_CASE: &str = "state_heavy-0007";

/// Loop bounds of the loop group.
const LOOP_BOUNDS: [i32; 4] = [10, 100, 1000, 5000];
/// Branch counts of the branch groups.
const BRANCH_COUNTS: [usize; 3] = [8, 64, 512];

/// One program to verify.
struct Case {
    /// Criterion group (`examples`, `loop`, `branches`, `diamonds`).
    group: &'static str,
    /// Name within the group.
    name: String,
    program: Program,
}

impl Case {
    fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }
}

const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const ADD64_IMM: u8 = 0x07;
const ADD64_REG: u8 = 0x0f;
const AND64_IMM: u8 = 0x57;
const LDX_W: u8 = 0x61;
const JA: u8 = 0x05;
const JGT_IMM: u8 = 0x25;
const JLT_IMM: u8 = 0xa5;
const EXIT: u8 = 0x95;

fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(op, dst, src, off, imm)
}

/// `for (i = 0; i < bound; i++) acc = (acc + i) & 0xff; return 1;` — every iteration is a new
/// state (the counter is compared with the bound), as in the kernel.
fn bounded_loop(bound: i32) -> Program {
    let insns = vec![
        insn(MOV64_IMM, 2, 0, 0, 0),
        insn(MOV64_IMM, 3, 0, 0, 0),
        insn(ADD64_REG, 3, 2, 0, 0),
        insn(AND64_IMM, 3, 0, 0, 0xff),
        insn(ADD64_IMM, 2, 0, 0, 1),
        insn(JLT_IMM, 2, 0, -4, bound),
        insn(MOV64_IMM, 0, 0, 0, 1),
        insn(EXIT, 0, 0, 0, 0),
    ];
    Program::from_insns(format!("loop{bound}"), insns)
}

/// A loop on an unknown counter that only its signed bounds tell apart from one iteration to
/// the next (`r2 = ctx->op; do r2 -= 2; while (r2 > 0)`): it runs into the kernel's
/// 1,000,000-instruction limit (the kernel rejects it the same way, in about 0.3 s). Found
/// by fuzzing: when the loop check's filter ignored the signed bounds, every iteration
/// compared its state with all earlier ones and this took minutes.
fn signed_counter_loop() -> Program {
    let insns = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(ADD64_IMM, 2, 0, 0, -255),
        insn(ADD64_IMM, 2, 0, 0, -2),
        insn(JGT_IMM, 2, 0, -2, 0),
        insn(MOV64_IMM, 0, 0, 0, 1),
        insn(EXIT, 0, 0, 0, 0),
    ];
    Program::from_insns("signed_counter_loop", insns)
}

/// `n` independent `if (ctx->op > k) count++;` — both sides rejoin at once; the count is never
/// read, so the joined states prune and the cost stays linear.
fn independent_branches(n: usize) -> Program {
    let mut insns = vec![insn(MOV64_REG, 6, 1, 0, 0), insn(MOV64_IMM, 7, 0, 0, 0)];
    for k in 0..n {
        insns.push(insn(LDX_W, 2, 6, 0, 0));
        insns.push(insn(JGT_IMM, 2, 0, 1, k as i32));
        insns.push(insn(ADD64_IMM, 7, 0, 0, 1));
    }
    insns.push(insn(MOV64_IMM, 0, 0, 0, 1));
    insns.push(insn(EXIT, 0, 0, 0, 0));
    Program::from_insns(format!("if{n}"), insns)
}

/// A chain of `n` if/else diamonds: `if (ctx->op > k) x = 1; else x = 2; y += x;` — both
/// arms give `y` different values, which nothing downstream compares.
fn diamond_chain(n: usize) -> Program {
    let mut insns = vec![insn(MOV64_REG, 6, 1, 0, 0), insn(MOV64_IMM, 8, 0, 0, 0)];
    for k in 0..n {
        insns.push(insn(LDX_W, 2, 6, 0, 0));
        insns.push(insn(JGT_IMM, 2, 0, 2, k as i32));
        insns.push(insn(MOV64_IMM, 3, 0, 0, 2));
        insns.push(insn(JA, 0, 0, 1, 0));
        insns.push(insn(MOV64_IMM, 3, 0, 0, 1));
        insns.push(insn(ADD64_REG, 8, 3, 0, 0));
    }
    insns.push(insn(MOV64_IMM, 0, 0, 0, 1));
    insns.push(insn(EXIT, 0, 0, 0, 0));
    Program::from_insns(format!("diamond{n}"), insns)
}

/// Every program of every `examples/*.o`.
fn example_cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "o"))
                .collect()
        })
        .unwrap_or_default();
    objects.sort();
    let mut cases = Vec::new();
    for path in objects {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let object = match Object::open(&path) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("skipping {}: {e}", path.display());
                continue;
            }
        };
        for p in object.programs() {
            cases.push(Case {
                group: "examples",
                name: format!("{stem}/{}", p.name),
                program: p.clone(),
            });
        }
    }
    cases
}

fn cases() -> Vec<Case> {
    let mut cases = example_cases();
    for b in LOOP_BOUNDS {
        cases.push(Case {
            group: "loop",
            name: b.to_string(),
            program: bounded_loop(b),
        });
    }
    for n in BRANCH_COUNTS {
        cases.push(Case {
            group: "branches",
            name: n.to_string(),
            program: independent_branches(n),
        });
    }
    cases.push(Case {
        group: "limit",
        name: "signed_counter_loop".to_string(),
        program: signed_counter_loop(),
    });
    if let Some(program) = corpus_program(WORST_CORPUS_CASE) {
        cases.push(Case {
            group: "corpus",
            name: WORST_CORPUS_CASE.to_string(),
            program,
        });
    }
    for n in BRANCH_COUNTS {
        cases.push(Case {
            group: "diamonds",
            name: n.to_string(),
            program: diamond_chain(n),
        });
    }
    cases
}

/// A program (without maps) of the kernel-labelled corpus, by id; `None`, with the reason
/// printed, if it cannot be read.
fn corpus_program(id: &str) -> Option<Program> {
    let category = id.rsplit_once('-')?.0;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(format!("{category}.jsonl"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}; the corpus case is left out", path.display());
            return None;
        }
    };
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["id"] == id)?;
    let hex = line["insns_hex"].as_str()?;
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let insns = Insn::slice_from_bytes(&bytes).ok()?;
    Some(Program::from_insns(id, insns))
}

fn helpers() -> HelperTable {
    let mut table = HelperTable::new();
    sockops::ctx::helpers::register_sock_ops_helpers(&mut table);
    table
}

fn options() -> VerifyOptions {
    VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    }
}

/// Verifies once; the statistics, or `None` if the program is rejected.
fn verify_once(case: &Case, table: &HelperTable, opts: &VerifyOptions) -> Option<Stats> {
    verify(black_box(&case.program), table, opts)
        .ok()
        .map(|v| v.stats().clone())
}

/// The criterion groups: one benchmark per case, grouped as in `Case::group`.
fn bench_cases(c: &mut Criterion, cases: &[&Case]) {
    let table = helpers();
    let opts = options();
    let mut groups: Vec<&str> = cases.iter().map(|c| c.group).collect();
    groups.dedup();
    for g in groups {
        let mut group = c.benchmark_group(format!("verify_{g}"));
        for case in cases.iter().filter(|c| c.group == g) {
            group.bench_function(case.name.as_str(), |b| {
                b.iter(|| verify_once(case, &table, &opts))
            });
        }
        group.finish();
    }
}

/// Median time of one verification: the median over `ROUNDS` batches of at least `BATCH`.
const ROUNDS: usize = 21;
const BATCH: Duration = Duration::from_millis(5);

fn median_ns(case: &Case, table: &HelperTable, opts: &VerifyOptions) -> f64 {
    let mut per_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut n = 0u32;
        while n == 0 || start.elapsed() < BATCH {
            black_box(verify_once(case, table, opts));
            n += 1;
        }
        per_call.push(start.elapsed().as_nanos() as f64 / f64::from(n));
    }
    per_call.sort_by(f64::total_cmp);
    per_call[ROUNDS / 2]
}

/// The table of medians with the verifier's statistics.
fn median_table(cases: &[&Case]) {
    let table = helpers();
    let opts = options();
    println!(
        "\nverify time (median of {ROUNDS} batches of >= {} ms)\n{:<44} {:>10} {:>9} {:>7} {:>12} {:>10}",
        BATCH.as_millis(),
        "case",
        "verdict",
        "insns",
        "states",
        "median us",
        "ns/insn"
    );
    for case in cases {
        let stats = verify_once(case, &table, &opts);
        let ns = median_ns(case, &table, &opts);
        let (verdict, insns, states) = match &stats {
            Some(s) => ("accept", s.insns_processed, s.total_states),
            None => ("reject", 0, 0),
        };
        let per_insn = if insns > 0 {
            format!("{:.1}", ns / insns as f64)
        } else {
            "-".into()
        };
        println!(
            "{:<44} {:>10} {:>9} {:>7} {:>12.1} {:>10}",
            case.id(),
            verdict,
            insns,
            states,
            ns / 1000.0,
            per_insn
        );
    }
    println!("(goal: loop/1000 under 1000 us; the kernel takes about 2600 us)");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let filter = cli::filter_argument(&args);
    let all = cases();
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| filter.is_none_or(|f| c.id().contains(f)))
        .collect();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    if std::env::var_os("VERIFIER_TABLE_ONLY").is_none() {
        bench_cases(&mut c, &selected);
        c.final_summary();
    }
    // Only for `cargo bench` (which passes --bench), not for test runs of the target.
    if args.iter().any(|a| a == "--bench") {
        median_table(&selected);
    }
}
