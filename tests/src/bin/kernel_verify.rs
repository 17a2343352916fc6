//! `kernel_verify`: asks the running kernel about one program given in the corpus JSON-line
//! format (read from stdin, one request per line) and prints the verdict, the extracted
//! message and the full log. `--strict` loads with only CAP_BPF + CAP_NET_ADMIN; `-2` asks for
//! log level 2. A development tool for comparing our verifier with the kernel.

use sockops_tests::kernel::Oracle;
use sockops_vm::{Insn, MapDef, MapType};

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let strict = args.iter().any(|a| a == "--strict");
    let level = if args.iter().any(|a| a == "-2") { 2 } else { 1 };
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            eprintln!("not JSON: {line}");
            continue;
        };
        let hex = v["insns_hex"].as_str().unwrap_or("");
        let Some(bytes) = parse_hex(hex) else {
            eprintln!("bad hex");
            continue;
        };
        let Ok(insns) = Insn::slice_from_bytes(&bytes) else {
            eprintln!("bad length");
            continue;
        };
        let defs: Vec<MapDef> = v["maps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        Some(MapDef {
                            map_type: MapType::from_name(m["type"].as_str()?)?,
                            key_size: m["key_size"].as_u64()? as u32,
                            value_size: m["value_size"].as_u64()? as u32,
                            max_entries: m["max_entries"].as_u64()? as u32,
                            map_flags: m["map_flags"].as_u64().unwrap_or(0) as u32,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let maps = match oracle.create_maps(&defs) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        let verdict = if strict {
            match oracle.load_strict(&insns, &maps, level) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            }
        } else {
            oracle.load(&insns, &maps, level)
        };
        println!(
            "id={} accepted={} errno={} msg={:?}\n{}",
            v["id"], verdict.accepted, verdict.errno, verdict.message, verdict.log
        );
    }
}
