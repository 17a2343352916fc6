//! Robustness of the verifier on untrusted input: seeded random programs and random
//! mutations of valid ones never panic, and every verdict comes back (no hang: exploration is
//! bounded by the kernel's 1,000,000-instruction limit). Reproducible by seed.
//!
//! With the live kernel available (`bpf()` works), a differential test also generates
//! structured programs aimed at the path-sensitive rules — pointer arithmetic with register
//! offsets on several paths, bounded loops walking the stack, map-value pointers moved by
//! bounded scalars, copies of pointers in scalar registers, 32-bit arithmetic and jumps, sign
//! extension, spills and fills at every size, atomics, helper calls, bpf-to-bpf calls with
//! pointers to the caller's stack, packet pointers checked against the packet end, random
//! 32/64-bit arithmetic and comparisons whose result becomes a stack offset — and asks
//! both verifiers in root
//! and in strict mode: we must never accept what the kernel rejects (`VERIFIER_FUZZ_SEED`,
//! `VERIFIER_FUZZ_PROGRAMS` select a longer or different run).

use sockops_tests::generator::structured::random_insn;
use sockops_tests::generator::{Kind, Source, SplitMix as Rng, generate};
use sockops_tests::kernel::Oracle;
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn, MapDef, MapType};

fn maps() -> Vec<MapDef> {
    vec![
        MapDef {
            map_type: MapType::Array,
            key_size: 4,
            value_size: 16,
            max_entries: 1,
            map_flags: 0,
        },
        MapDef {
            map_type: MapType::Hash,
            key_size: 8,
            value_size: 8,
            max_entries: 8,
            map_flags: 0,
        },
    ]
}

#[test]
fn random_programs_never_panic() {
    let helpers = HelperTable::new();
    let maps = maps();
    for seed in 0..3000u64 {
        let mut rng = Rng(seed);
        let n = 1 + rng.below(24) as usize;
        let mut insns: Vec<Insn> = (0..n).map(|_| random_insn(&mut rng)).collect();
        if rng.below(2) == 0 {
            insns.push(Insn::new(0xb7, 0, 0, 0, 1));
            insns.push(Insn::new(0x95, 0, 0, 0, 0));
        }
        for strict in [false, true] {
            let opts = VerifyOptions {
                strict,
                require_runtime_helpers: false,
                ..VerifyOptions::default()
            };
            let r = verify_insns(&insns, &maps, &helpers, &opts);
            if let Err(e) = r {
                assert!(e.pc <= insns.len(), "seed {seed}: pc {} out of range", e.pc);
            }
        }
    }
}

#[test]
fn mutated_corpus_programs_never_panic() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let text = std::fs::read_to_string(dir.join("realistic.jsonl")).expect("realistic corpus");
    let helpers = HelperTable::new();
    let opts = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let mut bases = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let hex = v["insns_hex"].as_str().expect("insns_hex");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        bases.push(Insn::slice_from_bytes(&bytes).expect("slots"));
    }
    assert!(!bases.is_empty());
    let maps = vec![MapDef {
        map_type: MapType::Hash,
        key_size: 4,
        value_size: 16,
        max_entries: 32,
        map_flags: 0,
    }];
    let mut rng = Rng(42);
    for _ in 0..4000 {
        let mut p = bases[rng.below(bases.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(3) {
            let k = rng.below(p.len() as u64) as usize;
            match rng.below(6) {
                0 => p[k].off = rng.next() as i16,
                1 => p[k].imm = rng.next() as i32,
                2 => p[k].dst = rng.below(16) as u8,
                3 => p[k].src = rng.below(16) as u8,
                4 => p[k].opcode = rng.below(256) as u8,
                _ => p[k] = random_insn(&mut rng),
            }
        }
        let _ = verify_insns(&p, &maps, &helpers, &opts);
    }
}

#[test]
fn structured_programs_agree_with_the_kernel() {
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            println!("SKIP: the live kernel is not available: {e}");
            return;
        }
    };
    let helpers = HelperTable::new();
    // VERIFIER_FUZZ_SEED / VERIFIER_FUZZ_PROGRAMS run other or longer sequences.
    let env_num = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let mut rng = Rng(env_num("VERIFIER_FUZZ_SEED", 0x5eed_0001));
    let programs = env_num("VERIFIER_FUZZ_PROGRAMS", 2000);
    let (mut total, mut agree, mut kernel_accepts) = (0, 0, 0);
    let mut false_accepts = Vec::new();
    let mut strict_skipped = None;
    // Per generator kind: programs judged, kernel accepts.
    let mut per_kind = [(0usize, 0usize); Kind::ALL.len()];
    for n in 0..programs {
        let kind_index = (n % Kind::ALL.len() as u64) as usize;
        let generated = generate(&mut rng, Kind::ALL[kind_index]);
        let (insns, defs) = (generated.insns, generated.maps);
        let maps = oracle.create_maps(&defs).expect("kernel maps");
        for strict in [false, true] {
            let kernel = if strict {
                match oracle.load_strict(&insns, &maps, 1) {
                    Ok(v) => v,
                    Err(e) => {
                        strict_skipped = Some(e.to_string());
                        continue;
                    }
                }
            } else {
                oracle.load(&insns, &maps, 1)
            };
            let opts = VerifyOptions {
                strict,
                require_runtime_helpers: false,
                ..VerifyOptions::default()
            };
            let t0 = std::time::Instant::now();
            let ours = verify_insns(&insns, &defs, &helpers, &opts);
            if t0.elapsed().as_millis() > 100 {
                println!("slow: program {n} strict={strict} took {:?}", t0.elapsed());
            }
            total += 1;
            kernel_accepts += usize::from(kernel.accepted);
            per_kind[kind_index].0 += 1;
            per_kind[kind_index].1 += usize::from(kernel.accepted);
            let hex = || -> String {
                Insn::slice_to_bytes(&insns)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            };
            if ours.is_ok() == kernel.accepted {
                agree += 1;
            } else if ours.is_ok() {
                false_accepts.push(format!(
                    "program {n} strict={strict}: kernel says {:?}; insns {}",
                    kernel.message,
                    hex()
                ));
            } else if let Err(e) = &ours {
                println!(
                    "false reject, program {n} strict={strict}: ours {:?}; insns {}",
                    e.message,
                    hex()
                );
            }
        }
    }
    if let Some(e) = strict_skipped {
        println!("strict mode skipped: {e}");
    }
    println!("{agree}/{total} verdicts agree with the kernel ({kernel_accepts} kernel accepts)");
    for (kind, (judged, accepted)) in Kind::ALL.iter().zip(per_kind) {
        println!("  {kind:<8?} {judged:>6} judged, {accepted:>6} accepted by the kernel");
    }
    assert!(false_accepts.is_empty(), "{false_accepts:#?}");
    // The generator must produce both verdicts, or the comparison says little.
    assert!(kernel_accepts > total / 10 && kernel_accepts < total * 9 / 10);
    assert!(agree * 100 >= total * 99, "{agree}/{total}");
}
