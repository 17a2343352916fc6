//! `world_probe FILE...`: describes the world a fuzz input makes (the generated program's
//! kind, listing and maps, the ops) and times the verifier and each engine on it. A
//! development tool for investigating slow or crashing fuzz inputs.

use std::time::Instant;

use sockops::runtime::Engine;
use sockops_tests::engines::{World, run_on};
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, disassemble};

fn main() {
    for path in std::env::args().skip(1) {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let world = World::from_bytes(&data);
        println!(
            "== {path}: {} slots, maps {:?}",
            world.insns.len(),
            world.maps
        );
        println!("{}", disassemble(&world.insns).unwrap_or_default());
        println!(
            "ops: {:?}",
            world.ops.iter().map(|o| o.op).collect::<Vec<_>>()
        );
        let options = VerifyOptions {
            require_runtime_helpers: false,
            ..VerifyOptions::default()
        };
        let t = Instant::now();
        let verdict = verify_insns(&world.insns, &world.maps, &HelperTable::new(), &options);
        println!(
            "verify: {:?} in {:?}",
            verdict
                .as_ref()
                .map(|s| s.insns_processed)
                .map_err(|e| &e.message),
            t.elapsed()
        );
        for engine in [Engine::Interpreter, Engine::Jit] {
            let t = Instant::now();
            let outcome = run_on(&world, engine);
            println!(
                "{engine}: {} in {:?}",
                match outcome {
                    Ok(Ok(_)) => "ran".to_string(),
                    Ok(Err(e)) => format!("{e:?}"),
                    Err(e) => e.to_string(),
                },
                t.elapsed()
            );
        }
    }
}
