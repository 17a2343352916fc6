//! `verify_time LIMIT FILE...`: verifies each raw program (8-byte slots, with the raw fuzz
//! target's maps) at the given processed-instruction limit and prints the verdict, the
//! states and the time. A development tool for the verifier's speed on state-heavy inputs.
use std::time::Instant;

use sockops_tests::engines::classic_maps;
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(limit) = args.next().and_then(|l| l.parse().ok()) else {
        eprintln!("usage: verify_time LIMIT FILE...");
        std::process::exit(2);
    };
    for path in args {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("{path}: unreadable");
            continue;
        };
        let Ok(insns) = Insn::slice_from_bytes(&bytes[..bytes.len() / 8 * 8]) else {
            eprintln!("{path}: not slots");
            continue;
        };
        let options = VerifyOptions {
            require_runtime_helpers: false,
            insn_limit: limit,
            ..VerifyOptions::default()
        };
        let t = Instant::now();
        let r = verify_insns(&insns, &classic_maps(), &HelperTable::new(), &options);
        println!(
            "{path}: {:?} in {:?}",
            r.map(|s| (s.insns_processed, s.total_states, s.peak_states))
                .map_err(|e| e.message),
            t.elapsed()
        );
    }
}
