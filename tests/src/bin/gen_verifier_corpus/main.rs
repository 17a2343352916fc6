//! `gen_verifier_corpus`: generates sock_ops programs per verifier category, asks the running
//! kernel for its verdict (root and strict mode), and writes the labelled programs as JSON lines
//! to `tests/corpus/<category>.jsonl`:
//! `{"id","category","insns_hex","maps":[{type,key_size,value_size,max_entries,map_flags}],
//!   "verdict","msg","strict_verdict","strict_msg"}`.
//! In `insns_hex`, an LD_IMM64 with src 1 or 2 holds an index into `maps`.
//!
//! Usage: `gen_verifier_corpus [OUT_DIR] [SEED] [CATEGORY,...]` (defaults: `tests/corpus`, 1,
//! all categories). The same seed gives the same programs; the labels are whatever the running
//! kernel says. With a category list only those files are (re)written. Each line also carries
//! `kernel_load_ns`, the kernel's load time with the log off (the fastest of five loads).
//!
//! `gen_verifier_corpus --kernel-times [DIR]` renews `kernel_load_ns` on every line of the
//! corpus in `DIR` and leaves the labels as they are.

mod asm;
mod gen_btf_pointers;
mod gen_btf_sock;
mod gen_btf_task_casts;
mod gen_ctx;
mod gen_dynptr;
mod gen_faulting_loads;
mod gen_flow;
mod gen_helpers;
mod gen_mem;
mod gen_ptr;
mod gen_random;
mod gen_real;
mod gen_ringbuf;
mod gen_sk_storage;
mod gen_state_heavy;
mod rng;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use sockops_tests::kernel::{Oracle, OracleError};
use sockops_vm::{Insn, MapDef, MapType};

pub use rng::Rng;

/// One generated program before labelling.
pub struct Case {
    /// Category name (file name of the corpus).
    pub category: &'static str,
    /// Program slots; map references are indices into `maps`.
    pub insns: Vec<Insn>,
    /// Maps the program references.
    pub maps: Vec<MapDef>,
}

/// Collects generated cases.
pub struct Out {
    /// The cases so far.
    pub cases: Vec<Case>,
    /// Category of the next pushes.
    pub category: &'static str,
}

impl Out {
    /// Adds a program without maps.
    pub fn push(&mut self, insns: Vec<Insn>) {
        self.push_maps(insns, Vec::new());
    }
    /// Adds a program with maps.
    pub fn push_maps(&mut self, insns: Vec<Insn>, maps: Vec<MapDef>) {
        self.cases.push(Case {
            category: self.category,
            insns,
            maps,
        });
    }
}

/// A map definition shorthand.
pub fn map(t: MapType, key: u32, value: u32, max: u32) -> MapDef {
    MapDef {
        map_type: t,
        key_size: key,
        value_size: value,
        max_entries: max,
        map_flags: 0,
    }
}

fn hex(insns: &[Insn]) -> String {
    Insn::slice_to_bytes(insns)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn map_json(d: &MapDef) -> serde_json::Value {
    serde_json::json!({
        "type": d.map_type.name(),
        "key_size": d.key_size,
        "value_size": d.value_size,
        "max_entries": d.max_entries,
        "map_flags": d.map_flags,
    })
}

/// A case made ready for the kernel: map fds patched in where the maps need BTF (the
/// oracle patches the others itself), and the maps and fds kept open while it loads.
struct Prepared {
    insns: Vec<Insn>,
    maps: Vec<sockops_tests::kernel::KernelMap>,
}

/// Creates the case's maps in the kernel (None, with the reason printed, when one cannot be
/// created: the case is skipped).
fn prepare(oracle: &mut Oracle, case: &Case) -> Option<Prepared> {
    // sk_storage maps need BTF, which the oracle does not create: they are made here and
    // handed to the oracle with the others, which it then patches in by index.
    let mut maps = Vec::new();
    for (index, d) in case.maps.iter().enumerate() {
        let made = if d.map_type == MapType::SkStorage {
            gen_sk_storage::create_sk_storage_map(d)
                .map(|fd| sockops_tests::kernel::KernelMap::adopt(fd, *d))
                .map_err(|e| e.to_string())
        } else {
            match oracle.create_maps(std::slice::from_ref(d)) {
                Ok(mut v) => Ok(v.remove(0)),
                Err(OracleError::MapCreate { err, .. }) => Err(err.to_string()),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            }
        };
        match made {
            Ok(m) => maps.push(m),
            Err(err) => {
                eprintln!("{}: map {index}: {err}; skipped", case.category);
                return None;
            }
        }
    }
    Some(Prepared {
        insns: case.insns.clone(),
        maps,
    })
}

/// The kernel's `processed N insns` from a log.
fn processed(log: &str) -> Option<u64> {
    let at = log.rfind("processed ")?;
    log[at + 10..].split(' ').next()?.parse().ok()
}

/// The kernel's load time with the log off, in nanoseconds: the fastest of five loads.
fn kernel_load_ns(insns: &[Insn], maps: &[sockops_tests::kernel::KernelMap]) -> u64 {
    let patched = sockops_tests::kernel::patch_map_fds(insns, maps);
    sockops_tests::kernel::load_time(&patched, 5).as_nanos() as u64
}

/// `--kernel-times DIR`: adds (or renews) `kernel_load_ns` on every line of the corpus files
/// in `DIR`, leaving the labels as they are.
fn kernel_times(dir: &std::path::Path, oracle: &mut Oracle) {
    use sockops_tests::corpus;
    let fail = |e: String| -> ! {
        eprintln!("{e}");
        std::process::exit(2);
    };
    for path in corpus::files(dir).unwrap_or_else(|e| fail(e)) {
        let mut lines = Vec::new();
        let mut slowest = (0u64, String::new());
        for mut l in corpus::lines_of(&path).unwrap_or_else(|e| fail(e)) {
            let at = format!("{}:{}", path.display(), l.line);
            let hex = l.value["insns_hex"].as_str().unwrap_or("");
            let insns = corpus::insns(hex).unwrap_or_else(|e| fail(format!("{at}: {e}")));
            let req: sockops_verifier::StreamRequest = serde_json::from_value(l.value.clone())
                .unwrap_or_else(|e| fail(format!("{at}: {e}")));
            let maps = sockops_verifier::map_defs(&req.maps)
                .unwrap_or_else(|e| fail(format!("{at}: {e}")));
            let case = Case {
                category: "",
                insns,
                maps,
            };
            if let Some(p) = prepare(oracle, &case) {
                let ns = kernel_load_ns(&p.insns, &p.maps);
                if ns > slowest.0 {
                    slowest = (ns, l.value["id"].as_str().unwrap_or("").to_string());
                }
                l.value["kernel_load_ns"] = ns.into();
            }
            lines.push(l.value.to_string());
        }
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        if let Err(e) = std::fs::write(&path, body) {
            fail(format!("{}: {e}", path.display()));
        }
        println!(
            "{:<40} {:>5} programs, slowest {} ({:.3} ms)",
            path.display(),
            lines.len(),
            slowest.1,
            slowest.0 as f64 / 1e6
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--kernel-times") {
        let dir = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("tests/corpus"));
        match Oracle::new() {
            Ok(mut o) => kernel_times(&dir, &mut o),
            Err(e) => {
                eprintln!("cannot ask the kernel: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let out_dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("tests/corpus"));
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let only: Option<Vec<String>> = args
        .get(3)
        .map(|s| s.split(',').map(str::to_string).collect());
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cannot ask the kernel: {e}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng::new(seed);
    let mut out = Out {
        cases: Vec::new(),
        category: "",
    };
    gen_ctx::generate(&mut rng, &mut out);
    gen_mem::generate(&mut rng, &mut out);
    gen_flow::generate(&mut rng, &mut out);
    gen_helpers::generate(&mut rng, &mut out);
    gen_ptr::generate(&mut rng, &mut out);
    gen_real::generate(&mut rng, &mut out);
    gen_random::generate(&mut rng, &mut out);
    gen_ringbuf::generate(&mut rng, &mut out);
    gen_sk_storage::generate(&mut rng, &mut out);
    gen_state_heavy::generate(&mut rng, &mut out);
    gen_btf_sock::generate(&mut rng, &mut out);
    gen_btf_task_casts::generate(&mut rng, &mut out);
    gen_dynptr::generate(&mut rng, &mut out);
    gen_btf_pointers::generate(&mut rng, &mut out);
    gen_faulting_loads::generate(&mut rng, &mut out);

    let mut files: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for case in &out.cases {
        if let Some(only) = &only
            && !only.iter().any(|c| c == case.category)
        {
            continue;
        }
        let key = (hex(&case.insns), format!("{:?}", case.maps));
        if !seen.insert(key) {
            continue;
        }
        let heavy = case.category == "state_heavy";
        if heavy && counts.get(case.category).map_or(0, |c| c.0) >= gen_state_heavy::KEEP {
            continue;
        }
        let Some(prepared) = prepare(&mut oracle, case) else {
            continue;
        };
        let (insns, maps) = (&prepared.insns, &prepared.maps);
        let root = oracle.load(insns, maps, 1);
        if heavy && processed(&root.log).is_none_or(|n| n < gen_state_heavy::MIN_KERNEL_PROCESSED) {
            continue;
        }
        let strict = match oracle.load_strict(insns, maps, 1) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let entry = counts.entry(case.category).or_default();
        let n = entry.0;
        entry.0 += 1;
        if root.accepted {
            entry.1 += 1;
        }
        if strict.accepted {
            entry.2 += 1;
        }
        let verdict = |a: bool| if a { "accept" } else { "reject" };
        let line = serde_json::json!({
            "id": format!("{}-{n:04}", case.category),
            "category": case.category,
            "insns_hex": hex(&case.insns),
            "maps": case.maps.iter().map(map_json).collect::<Vec<_>>(),
            "verdict": verdict(root.accepted),
            "msg": root.message,
            "strict_verdict": verdict(strict.accepted),
            "strict_msg": strict.message,
            "kernel_load_ns": kernel_load_ns(insns, maps),
        });
        files
            .entry(case.category)
            .or_default()
            .push(line.to_string());
    }
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("{}: {e}", out_dir.display());
        std::process::exit(2);
    }
    let mut total = (0, 0, 0);
    for (cat, lines) in &files {
        let path = out_dir.join(format!("{cat}.jsonl"));
        let write = std::fs::File::create(&path).and_then(|mut f| {
            for l in lines {
                writeln!(f, "{l}")?;
            }
            Ok(())
        });
        if let Err(e) = write {
            eprintln!("{}: {e}", path.display());
            std::process::exit(2);
        }
        let (n, a, s) = counts[cat];
        total = (total.0 + n, total.1 + a, total.2 + s);
        println!("{cat:<16} {n:>5} programs  {a:>5} accepted  {s:>5} strict-accepted");
    }
    println!(
        "{:<16} {:>5} programs  {:>5} accepted  {:>5} strict-accepted",
        "total", total.0, total.1, total.2
    );
}
