//! `gen_verifier_corpus`: generates sock_ops programs per verifier category, asks the running
//! kernel for its verdict (root and strict mode), and writes the labelled programs as JSON lines
//! to `tests/corpus/<category>.jsonl`:
//! `{"id","category","insns_hex","maps":[{type,key_size,value_size,max_entries,map_flags}],
//!   "verdict","msg","strict_verdict","strict_msg"}`.
//! In `insns_hex`, an LD_IMM64 with src 1 or 2 holds an index into `maps`.
//!
//! Usage: `gen_verifier_corpus [OUT_DIR] [SEED] [CATEGORY,...]` (defaults: `tests/corpus`, 1,
//! all categories). The same seed gives the same programs; the labels are whatever the running
//! kernel says. With a category list only those files are (re)written.

mod asm;
mod gen_ctx;
mod gen_flow;
mod gen_helpers;
mod gen_mem;
mod gen_ptr;
mod gen_random;
mod gen_real;
mod gen_ringbuf;
mod gen_sk_storage;
mod rng;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsRawFd;
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
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

    let mut files: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for case in &out.cases {
        let mut own_maps = Vec::new();
        let mut own_btf_maps: Vec<std::os::fd::OwnedFd> = Vec::new();
        if let Some(only) = &only
            && !only.iter().any(|c| c == case.category)
        {
            continue;
        }
        let key = (hex(&case.insns), format!("{:?}", case.maps));
        if !seen.insert(key) {
            continue;
        }
        // sk_storage maps need BTF, which the oracle does not create: such programs get
        // their map fds patched in here and are loaded without oracle maps.
        let mut own_fds: Vec<i32> = Vec::new();
        let mut insns = case.insns.clone();
        if case.maps.iter().any(|m| m.map_type == MapType::SkStorage) {
            for (index, d) in case.maps.iter().enumerate() {
                let made = if d.map_type == MapType::SkStorage {
                    gen_sk_storage::create_sk_storage_map(d).map(|fd| {
                        let raw = fd.as_raw_fd();
                        own_btf_maps.push(fd);
                        raw
                    })
                } else {
                    oracle
                        .create_maps(std::slice::from_ref(d))
                        .map_err(|e| std::io::Error::other(e.to_string()))
                        .map(|v| {
                            let raw = v.first().map_or(-1, |m| m.fd());
                            own_maps.extend(v);
                            raw
                        })
                };
                match made {
                    Ok(fd) => own_fds.push(fd),
                    Err(err) => {
                        eprintln!("{}: map {index}: {err}; skipped", case.category);
                        break;
                    }
                }
            }
            if own_fds.len() != case.maps.len() {
                continue;
            }
            let kernel_maps = &own_fds;
            let mut pc = 0;
            while pc < insns.len() {
                if insns[pc].opcode == sockops_vm::opcode::LD_IMM64 {
                    if insns[pc].src == 1
                        && let Some(fd) = usize::try_from(insns[pc].imm)
                            .ok()
                            .and_then(|k| kernel_maps.get(k))
                    {
                        insns[pc].imm = *fd;
                    }
                    pc += 2;
                } else {
                    pc += 1;
                }
            }
        }
        let maps = match if own_fds.is_empty() {
            oracle.create_maps(&case.maps)
        } else {
            Ok(Vec::new())
        } {
            Ok(m) => m,
            Err(OracleError::MapCreate { index, err, .. }) => {
                eprintln!("{}: map {index}: {err}; skipped", case.category);
                continue;
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let root = oracle.load(&insns, &maps, 1);
        let strict = match oracle.load_strict(&insns, &maps, 1) {
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
