//! `our_verify`: runs our verifier on corpus-format JSON lines from stdin (as
//! `sockops verify --stream` would) and prints id, verdict, message, the kernel's label when
//! the line has one, and statistics. `--strict` selects strict mode; `-v` / `-vv` also print
//! our kernel-style log (log level 1 / 2) of each program. A development tool.

use sockops_verifier::request::map_defs;
use sockops_verifier::{StreamRequest, VerifyOptions, verify_insns, verify_request};
use sockops_vm::{HelperTable, Insn};

/// Our log for `req` at `level` (empty if the request does not decode).
fn log_of(req: &StreamRequest, helpers: &HelperTable, opts: &VerifyOptions, level: u32) -> String {
    let hex = req.insns_hex.as_bytes();
    let bytes: Option<Vec<u8>> = hex
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect();
    let (Some(bytes), Ok(maps)) = (bytes, map_defs(&req.maps)) else {
        return String::new();
    };
    let Ok(insns) = Insn::slice_from_bytes(&bytes) else {
        return String::new();
    };
    let opts = VerifyOptions {
        log_level: level,
        ..opts.clone()
    };
    match verify_insns(&insns, &maps, helpers, &opts) {
        Ok(s) => s.log,
        Err(e) => e.log,
    }
}

fn main() {
    let strict = std::env::args().any(|a| a == "--strict");
    let level = if std::env::args().any(|a| a == "-vv") {
        2
    } else {
        u32::from(std::env::args().any(|a| a == "-v"))
    };
    let helpers = HelperTable::new();
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("not JSON: {e}");
                continue;
            }
        };
        let req: StreamRequest = match serde_json::from_value(v.clone()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("bad request: {e}");
                continue;
            }
        };
        let t0 = std::time::Instant::now();
        let r = verify_request(&req, &helpers, &opts);
        let (kv, km) = if strict {
            (&v["strict_verdict"], &v["strict_msg"])
        } else {
            (&v["verdict"], &v["msg"])
        };
        println!(
            "{} ours={} {:?} kernel={} {} ({:?})",
            v["id"],
            r.verdict,
            r.msg,
            kv,
            km,
            t0.elapsed()
        );
        if level > 0 {
            print!("{}", log_of(&req, &helpers, &opts, level));
        }
    }
}
