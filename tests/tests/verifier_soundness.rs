//! The verifier's safety promise, tested by running what it accepts: every program of the
//! kernel-labelled corpus that the kernel accepted, and seeded random mutations of them that
//! our verifier accepts, run through the runtime on the checked interpreter — which would
//! report any out-of-bounds access, bad jump or helper misuse as an error — and on the JIT.
//! A verified program must never fail in the checked interpreter, and the JIT must decide
//! exactly what the interpreter decides (return values, reply, result, helper calls and
//! their return codes, the socket afterwards, map contents).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use sockops::ctx::ops::cb_flags;
use sockops::ctx::{OpInput, SockOp, Socket};
use sockops::runtime::{Decision, Engine, Runtime, RuntimeError, Verdict};
use sockops::vm::{HelperTable, Insn, Map, MapDef, MapType, Program};
use sockops_tests::engines::POINTER_RETURNS;
use sockops_verifier::{VerifyOptions, verify};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A corpus entry: its id, slots and map definitions.
struct Entry {
    id: String,
    insns: Vec<Insn>,
    maps: Vec<MapDef>,
}

fn accepted_corpus() -> Vec<Entry> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("corpus file");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("corpus json");
            if v["verdict"] != "accept" {
                continue;
            }
            let hex = v["insns_hex"].as_str().expect("insns_hex");
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            let maps = v["maps"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .map(|m| MapDef {
                            map_type: MapType::from_name(m["type"].as_str().unwrap())
                                .expect("map type"),
                            key_size: m["key_size"].as_u64().unwrap() as u32,
                            value_size: m["value_size"].as_u64().unwrap() as u32,
                            max_entries: m["max_entries"].as_u64().unwrap() as u32,
                            map_flags: m["map_flags"].as_u64().unwrap_or(0) as u32,
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Entry {
                id: v["id"].as_str().unwrap().to_string(),
                insns: Insn::slice_from_bytes(&bytes).expect("slots"),
                maps,
            });
        }
    }
    out
}

fn program(e: &Entry, insns: Vec<Insn>) -> Option<Program> {
    let maps = e
        .maps
        .iter()
        .enumerate()
        .map(|(i, d)| Map::try_new(format!("m{i}"), *d).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let mut p = Program::from_insns(e.id.clone(), insns);
    p.maps = maps;
    p.license = "GPL".into();
    Some(p)
}

/// One op's decision without addresses: return values, reply, result, (helper id, return
/// code unless it is an address) per call, and the socket after it.
type OpSummary = (Vec<u64>, u32, Option<i32>, Vec<(u32, Option<i64>)>, String);

/// What must be equal between engines: each decision without addresses, the socket after
/// it, and the map contents at the end.
#[derive(Debug, PartialEq)]
struct Outcome {
    decisions: Vec<OpSummary>,
    maps: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
}

fn summary(d: &Decision, s: &Socket) -> OpSummary {
    let calls = d
        .helper_calls
        .iter()
        .map(|c| (c.id, (!POINTER_RETURNS.contains(&c.id)).then_some(c.ret)))
        .collect();
    (d.returns(), d.reply, d.result, calls, format!("{s:?}"))
}

thread_local! {
    /// Programs whose outcomes were compared between engines.
    static COMPARED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static SOCKET: Socket = {
        let mut s = Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.1.2.3:443".parse().unwrap(),
        );
        s.cb_flags = cb_flags::ALL;
        s
    };
}

const OPS: [(SockOp, [u32; 4]); 6] = [
    (SockOp::TimeoutInit, [0; 4]),
    (SockOp::TcpConnectCb, [0; 4]),
    (SockOp::ActiveEstablishedCb, [0; 4]),
    (SockOp::RtoCb, [1, 100, 0, 0]),
    (SockOp::StateCb, [1, 4, 0, 0]),
    (SockOp::RttCb, [331, 2648, 0, 0]),
];

/// Loads `p` on `engine` and delivers every op of `OPS`; `Ok(None)` if the verifier did not
/// accept it.
fn run(p: Program, engine: Engine) -> Result<Option<Outcome>, RuntimeError> {
    let mut rt = Runtime::new();
    rt.set_instruction_budget(None);
    let maps = p.maps.clone();
    // Refused at load time (decode, helper, verifier): not a program that may run.
    let Ok(id) = rt.load_raw_program(p, engine) else {
        return Ok(None);
    };
    if rt.program_info(id)?.verdict != Verdict::Verified {
        return Ok(None);
    }
    rt.attach(id, "/", sockops::cgroup::AttachFlags::None)?;
    // The same socket for both engines (a new one would get another cookie).
    let mut socket = SOCKET.with(|s| s.clone());
    let mut decisions = Vec::new();
    for (op, args) in OPS {
        let mut input = OpInput::new(op);
        input.args = args;
        let d = rt.call_input(input, &mut socket)?;
        decisions.push(summary(&d, &socket));
    }
    Ok(Some(Outcome {
        decisions,
        maps: maps.iter().map(|m| m.entries()).collect(),
    }))
}

/// Runs `e` with `insns` on both engines, each with maps of its own; false if the verifier
/// did not accept it.
fn check(name: &str, e: &Entry, insns: &[Insn]) -> bool {
    let Some(p) = program(e, insns.to_vec()) else {
        return false;
    };
    let interp = run(p, Engine::Interpreter).unwrap_or_else(|e| {
        panic!("{name}: a verified program failed in the checked interpreter: {e}")
    });
    let Some(interp) = interp else {
        return false;
    };
    let p = program(e, insns.to_vec()).expect("maps were made once");
    // Root may leak addresses into the context, maps and helper arguments; those differ
    // between engines by design. Strict mode (no CAP_PERFMON) refuses every leak: programs it
    // accepts must decide identically, the others must only run without fault.
    let strict = VerifyOptions {
        strict: true,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let comparable = verify(&p, &HelperTable::new(), &strict).is_ok();
    let jit = run(p, Engine::Jit)
        .unwrap_or_else(|e| panic!("{name}: the JIT failed where the interpreter did not: {e}"))
        .unwrap_or_else(|| panic!("{name}: verified for the interpreter, not for the JIT"));
    if comparable {
        assert_eq!(interp, jit, "{name}: the engines decided differently");
        COMPARED.with(|c| c.set(c.get() + 1));
    }
    true
}

#[test]
fn kernel_accepted_corpus_programs_run_safely_and_identically_on_both_engines() {
    let corpus = accepted_corpus();
    assert!(corpus.len() > 1000, "{} accepted programs", corpus.len());
    let mut ran = 0;
    for e in &corpus {
        if check(&e.id, e, &e.insns) {
            ran += 1;
        }
    }
    println!(
        "{ran} of {} kernel-accepted corpus programs verified and ran without fault on both engines; {} without address leaks decided identically",
        corpus.len(),
        COMPARED.with(|c| c.get())
    );
    assert!(ran * 10 >= corpus.len() * 9, "only {ran} ran");
}

#[test]
fn mutated_programs_the_verifier_accepts_never_fault() {
    let corpus = accepted_corpus();
    let mut rng = Rng(7);
    let (mut tried, mut accepted) = (0, 0);
    for _ in 0..3000 {
        let e = &corpus[rng.below(corpus.len() as u64) as usize];
        let mut insns = e.insns.clone();
        for _ in 0..1 + rng.below(2) {
            let k = rng.below(insns.len() as u64) as usize;
            let i = &mut insns[k];
            match rng.below(5) {
                0 => i.off = i.off.wrapping_add(rng.below(17) as i16 - 8),
                1 => i.imm = i.imm.wrapping_add(rng.below(17) as i32 - 8),
                2 => i.imm = rng.next() as i32,
                3 => i.src = rng.below(11) as u8,
                _ => i.dst = rng.below(11) as u8,
            }
        }
        tried += 1;
        if check(&format!("mutation of {}", e.id), e, &insns) {
            accepted += 1;
        }
    }
    println!(
        "{accepted} of {tried} mutated programs verified and ran without fault; {} without address leaks decided identically on both engines",
        COMPARED.with(|c| c.get())
    );
    assert!(accepted > 100, "only {accepted} mutations were accepted");
}
