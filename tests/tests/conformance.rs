//! Runs the bpf_conformance suite (`shared/conformance/tests/*.data`, beside the repository)
//! on every engine, and checks that our assembler reads every test file exactly as the
//! suite's own runner (`run.py --dump`) does. Without the suite directory the tests print why
//! they skip and pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use sockops_tests::conformance::{
    Engine, InterpreterEngine, ParsedTest, default_suite_dir, parse_test, parse_test_file,
    run_suite, test_files,
};
use sockops_vm::Insn;

/// The suite's files, or `None` (after printing why) if the suite is not there.
fn suite() -> Option<(PathBuf, Vec<PathBuf>)> {
    let dir = default_suite_dir();
    match test_files(&dir) {
        Ok(files) if !files.is_empty() => Some((dir, files)),
        Ok(_) => {
            eprintln!("skipping: no .data files in {}", dir.display());
            None
        }
        Err(e) => {
            eprintln!(
                "skipping: conformance suite not found at {}: {e}",
                dir.display()
            );
            None
        }
    }
}

fn run_engine(engine: &dyn Engine) {
    let Some((_, files)) = suite() else {
        return;
    };
    let report = run_suite(&files, engine);
    println!("{}", report.summary());
    let failures: Vec<_> = report.failures().collect();
    for (name, msg) in &failures {
        println!("FAIL {name}: {msg}");
    }
    assert!(report.ran() > 0, "no conformance test ran");
    assert!(
        failures.is_empty(),
        "{} conformance test(s) failed",
        failures.len()
    );
}

#[test]
fn conformance_interpreter() {
    run_engine(&InterpreterEngine);
}

/// Proves the runner can fail: an engine that always answers 0 must fail most tests.
#[test]
fn conformance_runner_detects_wrong_results() {
    struct AlwaysZero;
    impl Engine for AlwaysZero {
        fn name(&self) -> &str {
            "always-zero"
        }
        fn run(&self, _: &[Insn], _: &mut [u8]) -> Result<u64, String> {
            Ok(0)
        }
    }
    let Some((_, files)) = suite() else {
        return;
    };
    let report = run_suite(&files, &AlwaysZero);
    assert!(report.ran() > 0);
    assert!(report.passed() < report.ran() / 2, "{}", report.summary());
}

/// Program bytes, memory and expected result of every file, from run.py's `--dump`.
fn run_py_dump(dir: &Path) -> Option<HashMap<String, (String, String, String)>> {
    let script = dir.join("../run.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--dump")
        .arg("--tests")
        .arg(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let name = fields.next()?.to_string();
        let mut get = |key: &str| {
            fields
                .next()
                .and_then(|f| f.strip_prefix(key))
                .map(str::to_string)
        };
        let prog = get("prog=")?;
        let mem = get("mem=")?;
        let result = get("result=")?;
        out.insert(name, (prog, mem, result));
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Differential test of the assembler and the `.data` parser against the suite's runner.
#[test]
fn assembler_agrees_with_run_py() {
    let Some((dir, files)) = suite() else {
        return;
    };
    let Some(dump) = run_py_dump(&dir) else {
        eprintln!("skipping: python3 run.py --dump is not available");
        return;
    };
    let mut compared = 0;
    for path in &files {
        let Ok(ParsedTest::Run(test)) = parse_test_file(path) else {
            panic!("{} does not parse", path.display());
        };
        let (prog, mem, result) = dump
            .get(&test.name)
            .unwrap_or_else(|| panic!("run.py did not list {}", test.name));
        assert_eq!(
            &hex(&Insn::slice_to_bytes(&test.program)),
            prog,
            "{}",
            test.name
        );
        assert_eq!(&hex(&test.memory), mem, "{}", test.name);
        assert_eq!(
            &format!("{:#x}", test.expected_result),
            result,
            "{}",
            test.name
        );
        compared += 1;
    }
    println!("assembler agrees with run.py on {compared} test files");
    assert_eq!(compared, files.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any text, valid section headers mixed in, parses or errors without panicking.
    #[test]
    fn parsing_random_test_files_never_panics(
        text in "((-- (asm|result|mem|raw|error|c|no register offset|what)|[ -~\u{e9}\r]{0,24}|mov %r0, 1|exit|0x[0-9a-f]{1,18}|-?[0-9]{1,21})\n){0,12}"
    ) {
        let _ = parse_test("random.data", &text);
    }
}
