//! `our_verify`: runs our verifier on corpus-format JSON lines from stdin (as
//! `sockops verify --stream` would) and prints id, verdict, message, the kernel's label when
//! the line has one, and statistics. `--strict` selects strict mode. A development tool.

use sockops_verifier::{StreamRequest, VerifyOptions, verify_request};
use sockops_vm::HelperTable;

fn main() {
    let strict = std::env::args().any(|a| a == "--strict");
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
    }
}
