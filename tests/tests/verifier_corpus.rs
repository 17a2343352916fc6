//! Replays the kernel-labelled corpus (`tests/corpus/*.jsonl`, made by `gen_verifier_corpus`
//! on a live kernel) through our verifier in root and strict mode and prints agreement per
//! category: verdict agreement, false accepts (the kernel rejects, we accept — the safety
//! promise, which must be zero), false rejects, and agreement of the first error message.

use std::collections::BTreeMap;

use sockops_verifier::{StreamRequest, VerifyOptions, verify_request};
use sockops_vm::HelperTable;

#[derive(Default, Clone, Copy)]
struct Tally {
    total: usize,
    agree: usize,
    false_accept: usize,
    false_reject: usize,
    msg_agree: usize,
}

struct Case {
    category: String,
    id: String,
    req: StreamRequest,
    verdict: String,
    msg: String,
    strict_verdict: String,
    strict_msg: String,
}

fn load_corpus() -> Vec<Case> {
    sockops_tests::corpus::lines()
        .into_iter()
        .map(|l| {
            let v = l.value;
            let req: StreamRequest = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("{}:{}: {e}", l.path.display(), l.line));
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            Case {
                category: s("category"),
                id: s("id"),
                req,
                verdict: s("verdict"),
                msg: s("msg"),
                strict_verdict: s("strict_verdict"),
                strict_msg: s("strict_msg"),
            }
        })
        .collect()
}

fn replay(cases: &[Case], strict: bool) -> (BTreeMap<String, Tally>, Vec<String>) {
    let helpers = HelperTable::new();
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let mut table: BTreeMap<String, Tally> = BTreeMap::new();
    let mut false_accepts = Vec::new();
    for c in cases {
        let t0 = std::time::Instant::now();
        let r = verify_request(&c.req, &helpers, &opts);
        let dt = t0.elapsed();
        if dt.as_millis() > 500 {
            println!("slow: {} took {:?}", c.id, dt);
        }
        let (kv, km) = if strict {
            (&c.strict_verdict, &c.strict_msg)
        } else {
            (&c.verdict, &c.msg)
        };
        let t = table.entry(c.category.clone()).or_default();
        t.total += 1;
        if &r.verdict == kv {
            t.agree += 1;
            if &r.msg == km {
                t.msg_agree += 1;
            } else if std::env::var_os("CORPUS_SHOW_MSG").is_some() {
                println!("MSG {}: kernel {km:?} ours {:?}", c.id, r.msg);
            }
        } else if r.verdict == "accept" {
            t.false_accept += 1;
            false_accepts.push(format!("{}: kernel says {km:?}", c.id));
        } else {
            t.false_reject += 1;
            println!("FALSE REJECT {}: ours {:?}", c.id, r.msg);
        }
    }
    (table, false_accepts)
}

fn print_table(title: &str, table: &BTreeMap<String, Tally>) -> Tally {
    println!("\n{title}");
    println!(
        "{:<14} {:>6} {:>8} {:>7} {:>7} {:>8} {:>7}",
        "category", "total", "agree", "%", "f.acc", "f.rej", "msg%"
    );
    let mut sum = Tally::default();
    for (cat, t) in table {
        println!(
            "{:<14} {:>6} {:>8} {:>6.1}% {:>7} {:>8} {:>6.1}%",
            cat,
            t.total,
            t.agree,
            100.0 * t.agree as f64 / t.total as f64,
            t.false_accept,
            t.false_reject,
            100.0 * t.msg_agree as f64 / t.total as f64
        );
        sum.total += t.total;
        sum.agree += t.agree;
        sum.false_accept += t.false_accept;
        sum.false_reject += t.false_reject;
        sum.msg_agree += t.msg_agree;
    }
    println!(
        "{:<14} {:>6} {:>8} {:>6.1}% {:>7} {:>8} {:>6.1}%",
        "TOTAL",
        sum.total,
        sum.agree,
        100.0 * sum.agree as f64 / sum.total as f64,
        sum.false_accept,
        sum.false_reject,
        100.0 * sum.msg_agree as f64 / sum.total as f64
    );
    sum
}

#[test]
fn corpus_agreement_root_and_strict() {
    let cases = load_corpus();
    assert!(cases.len() > 1000, "corpus too small: {}", cases.len());
    let (root, root_fa) = replay(&cases, false);
    let root_sum = print_table("root mode (CAP_BPF + CAP_PERFMON)", &root);
    for f in root_fa.iter().take(40) {
        println!("FALSE ACCEPT (root) {f}");
    }
    let (strict, strict_fa) = replay(&cases, true);
    let strict_sum = print_table("strict mode (CAP_BPF + CAP_NET_ADMIN only)", &strict);
    for f in strict_fa.iter().take(40) {
        println!("FALSE ACCEPT (strict) {f}");
    }
    // The safety promise: never accept what the kernel rejects, in either mode.
    assert_eq!(
        root_sum.false_accept, 0,
        "false accepts in root mode: {root_fa:#?}"
    );
    assert_eq!(
        strict_sum.false_accept, 0,
        "false accepts in strict mode: {strict_fa:#?}"
    );
    let root_pct = 100.0 * root_sum.agree as f64 / root_sum.total as f64;
    assert!(root_pct >= 99.0, "root agreement {root_pct:.2}% < 99%");
    let strict_pct = 100.0 * strict_sum.agree as f64 / strict_sum.total as f64;
    assert!(
        strict_pct >= 99.0,
        "strict agreement {strict_pct:.2}% < 99%"
    );
}
