//! Bad scenarios: every kind of bad input the `sockops run` contract lists (unknown op,
//! socket, field, option, cgroup or program; malformed TOML; a missing or corrupt object; an
//! attach the cgroup rules refuse; a program the verifier rejects) is an error whose
//! message names the problem, produced before any output exists; and random edits of a valid
//! scenario never panic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use sockops::runtime::Engine;
use sockops::scenario::{Scenario, ScenarioFile, replay, run_scenario_file};
use sockops_tests::elf::section_offset;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Writes `text` as a scenario file in a fresh temporary folder next to a copy of
/// `dc_tuning.o`, and returns its path.
fn scenario_file(text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sockops-scenario-bad-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(examples().join("dc_tuning.o"), dir.join("dc_tuning.o")).unwrap();
    let path = dir.join("s.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the scenario text as `sockops run` would and returns its error message.
fn error_of(text: &str, engine: Engine) -> String {
    let path = scenario_file(text);
    let r = run_scenario_file(&path, engine, None, true);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    match r {
        Ok(out) => panic!("accepted a bad scenario; output:\n{out}"),
        Err(e) => e.to_string(),
    }
}

fn expect_error(text: &str, needles: &[&str]) {
    let msg = error_of(text, Engine::Interpreter);
    for n in needles {
        assert!(msg.contains(n), "{n:?} not in {msg:?}");
    }
}

/// One IPv4 socket.
const SOCKET: &str =
    "\n[[socket]]\nname = \"a\"\nlocal = \"10.0.0.1:1\"\nremote = \"10.0.0.2:2\"\n";

const GOOD_HEAD: &str = r#"
[[program]]
object = "dc_tuning.o"

[[socket]]
name = "a"
local = "10.0.0.1:1"
remote = "10.0.0.2:2"
"#;

#[test]
fn a_good_scenario_passes() {
    let path = scenario_file(&format!("{GOOD_HEAD}\n[[event]]\nop = \"TIMEOUT_INIT\"\n"));
    let out = run_scenario_file(&path, Engine::Interpreter, None, true).unwrap();
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn unknown_op_names_and_numbers() {
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = \"TIMEOUT_INITT\"\n"),
        &["event 0", "unknown op", "TIMEOUT_INITT"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 21\n"),
        &["event 0", "unknown op 21"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = -1\n"),
        &["unknown op -1"],
    );
}

#[test]
fn unknown_socket() {
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nsocket = \"b\"\nop = 1\n"),
        &["event 0", "unknown socket \"b\"", "sockets: a"],
    );
    expect_error("[[event]]\nop = 1\n", &["event 0", "no [[socket]]"]);
    expect_error(
        &format!(
            "{GOOD_HEAD}\n[[socket]]\nlocal = \"10.0.0.1:3\"\nremote = \"10.0.0.2:4\"\n[[event]]\nop = 1\n"
        ),
        &["event 0", "`socket` is required"],
    );
}

#[test]
fn unknown_or_bad_fields() {
    expect_error(
        "[[socket]]\nlocal = \"10.0.0.1:1\"\nremote = \"10.0.0.2:2\"\nsnd_cwndd = 3\n",
        &["socket \"sock0\"", "unknown socket field `snd_cwndd`"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 1\nset = {{ srtt = 5 }}\n"),
        &["event 0", "unknown socket field `srtt`"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 1\nset = {{ snd_cwnd = 5000000000 }}\n"),
        &["event 0", "out of range", "snd_cwnd"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 1\nset = {{ state = \"OPENISH\" }}\n"),
        &["unknown TCP state"],
    );
    expect_error(
        "[[socket]]\nlocal = \"10.0.0.1\"\nremote = \"10.0.0.2:2\"\n",
        &["socket \"sock0\"", "not an address and port"],
    );
    expect_error(
        "[[socket]]\nlocal = \"10.0.0.1:1\"\nremote = \"[::1]:2\"\n",
        &["different families"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 1\nargs = [1, 2, 3, 4, 5]\n"),
        &["event 0", "at most 4"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 1\nargs = [4294967296]\n"),
        &["does not fit in 32 bits"],
    );
    expect_error(
        &format!("{GOOD_HEAD}\n[[event]]\nop = 1\nfoo = 1\n"),
        &["foo"],
    );
}

#[test]
fn unknown_option_sysctl_and_flags() {
    expect_error(
        "[sysctl]\n\"net.core.wmem_maxx\" = 1\n",
        &["sysctl \"net.core.wmem_maxx\"", "unknown sysctl"],
    );
    expect_error(
        "[sysctl]\n\"net.ipv4.tcp_congestion_control\" = \"bbr\"\n",
        &["tcp_congestion_control"],
    );
    expect_error(
        "[[program]]\nobject = \"dc_tuning.o\"\nflags = \"sometimes\"\n",
        &["program 0", "unknown attach flags \"sometimes\""],
    );
}

#[test]
fn unknown_cgroup_paths() {
    expect_error(
        "[[program]]\nobject = \"dc_tuning.o\"\ncgroup = \"web\"\n",
        &["program 0", "invalid cgroup path \"web\""],
    );
    expect_error(
        "[[socket]]\ncgroup = \"/a/../b\"\nlocal = \"10.0.0.1:1\"\nremote = \"10.0.0.2:2\"\n",
        &["socket \"sock0\"", "invalid cgroup path"],
    );
}

#[test]
fn unknown_program_and_bad_objects() {
    expect_error(
        "[[program]]\nobject = \"dc_tuning.o\"\nsection = \"sockops/nope\"\n",
        &[
            "program 0",
            "no program with section or name \"sockops/nope\"",
            "dc_tuning (sockops)",
        ],
    );
    expect_error(
        "[[program]]\nobject = \"missing.o\"\n",
        &["program 0", "cannot read object", "missing.o"],
    );
    let path = scenario_file("[[program]]\nobject = \"corrupt.o\"\n");
    let dir = path.parent().unwrap();
    let mut bytes = std::fs::read(dir.join("dc_tuning.o")).unwrap();
    bytes.truncate(200);
    std::fs::write(dir.join("corrupt.o"), &bytes).unwrap();
    let msg = run_scenario_file(&path, Engine::Interpreter, None, false)
        .unwrap_err()
        .to_string();
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        msg.contains("program 0") && msg.contains("object corrupt"),
        "{msg}"
    );
}

#[test]
fn malformed_toml() {
    expect_error("seed = [\n", &["s.toml"]);
    expect_error("[[program]]\nsection = \"x\"\n", &["object"]);
    expect_error("seed = \"seven\"\n", &["seed"]);
}

#[test]
fn refused_attach() {
    // A program attached without flags forbids programs below it (-EPERM).
    expect_error(
        "[[program]]\nobject = \"dc_tuning.o\"\n\n[[program]]\nobject = \"dc_tuning.o\"\ncgroup = \"/web\"\n",
        &["program 1", "EPERM", "ancestor /"],
    );
    // Different flags on one cgroup.
    expect_error(
        "[[program]]\nobject = \"dc_tuning.o\"\nflags = \"multi\"\n\n[[program]]\nobject = \"dc_tuning.o\"\nflags = \"override\"\n",
        &["program 1", "EPERM"],
    );
    // The same program twice with multi (-EINVAL).
    expect_error(
        "[[program]]\nobject = \"dc_tuning.o\"\nflags = \"multi\"\n\n[[program]]\nobject = \"dc_tuning.o\"\nflags = \"multi\"\n",
        &["program 1", "already attached", "EINVAL"],
    );
}

#[test]
fn a_program_the_verifier_rejects_is_refused_with_the_kernels_message() {
    let path = scenario_file(&format!(
        "[[program]]\nobject = \"bad.o\"\n{SOCKET}\n[[event]]\nop = \"TIMEOUT_INIT\"\n"
    ));
    let dir = path.parent().unwrap();
    let mut bytes = std::fs::read(dir.join("dc_tuning.o")).unwrap();
    // The program's first instruction becomes `*(u32 *)(r1 + 20) = r1`: a store to the
    // read-only `family` field.
    let at = section_offset(&bytes, "sockops");
    bytes[at..at + 8].copy_from_slice(&[0x63, 0x11, 20, 0, 0, 0, 0, 0]);
    std::fs::write(dir.join("bad.o"), &bytes).unwrap();
    for engine in [Engine::Interpreter, Engine::Jit] {
        let msg = run_scenario_file(&path, engine, None, true)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("program 0")
                && msg.contains("rejected by the verifier at insn 0")
                && msg.contains("invalid bpf_context access off=20 size=4"),
            "{msg}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random single-character edits of a valid scenario parse, fail or replay, never panic.
    #[test]
    fn edited_scenarios_never_panic(pos in 0usize..2000, c in proptest::char::any()) {
        let text = std::fs::read_to_string(examples().join("scenarios/cwnd.toml")).unwrap();
        let mut chars: Vec<char> = text.chars().collect();
        let i = pos % chars.len();
        chars[i] = c;
        let edited: String = chars.into_iter().collect();
        if let Ok(file) = ScenarioFile::parse(&edited, Path::new("edited.toml")) {
            let dir = examples().join("scenarios");
            if let Ok(s) = Scenario::prepare(&file, &dir) {
                let _ = replay(&s, Engine::Interpreter, None);
            }
        }
    }
}

#[test]
fn bad_peer_segments_and_saved_syns() {
    // An op that carries no segment cannot be given one.
    expect_error(
        &format!(
            "{GOOD_HEAD}\n[[event]]\nop = \"TCP_CONNECT_CB\"\nsegment = {{ flags = \"ACK\" }}\n"
        ),
        &["event 0", "segment", "carries no segment"],
    );
    let parse = |segment: &str| {
        format!("{GOOD_HEAD}\n[[event]]\nop = \"PARSE_HDR_OPT_CB\"\nsegment = {segment}\n")
    };
    expect_error(
        &parse("{ flags = \"ACK|SYNN\" }"),
        &["event 0", "unknown TCP flag \"SYNN\""],
    );
    expect_error(
        &parse("{ options = \"02 04 5\" }"),
        &["event 0", "segment.options", "not hex bytes"],
    );
    expect_error(&parse("{ options = \"0\" }"), &["event 0", "not hex bytes"]);
    expect_error(
        &parse("{ options = [1, 256] }"),
        &["event 0", "256 is not a byte"],
    );
    expect_error(
        &parse(&format!("{{ options = \"{}\" }}", "01".repeat(41))),
        &["event 0", "41 bytes; TCP options are at most 40"],
    );
    expect_error(&parse("{ window = 3 }"), &["window"]);
    // The saved SYN.
    expect_error(
        &format!("{GOOD_HEAD}saved_syn = {{ options = 7 }}\n"),
        &[
            "socket \"a\"",
            "saved_syn.options",
            "expected hex text or an array of bytes",
        ],
    );
    expect_error(
        &format!("{GOOD_HEAD}saved_syn = {{ tos = 300 }}\n"),
        &["tos"],
    );
}
