//! The bpf_conformance suite (`shared/conformance/tests/*.data`) as data for our engines: a
//! parser for `.data` files with the quirks of `run.py`'s `parse_test_file` (upstream's
//! `bpf_test_parser.cc`), using the project's own assembler, and a runner that executes every
//! test on an `Engine` and reports which failed.
//!
//! Adding an engine (the JIT) is one more `impl Engine` and one more `run_suite` call.

use std::path::{Path, PathBuf};

use sockops_vm::{
    ArgKind, AsmError, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, Insn,
    Interpreter, Program, RetKind, RunOptions, assemble,
};

/// One runnable conformance test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConformanceTest {
    /// File name (`ldxw.data`).
    pub name: String,
    /// The program slots (from `-- raw` if present, else the assembled `-- asm`).
    pub program: Vec<Insn>,
    /// Input memory (`-- mem`); r1 points to a writable copy, r2 = its length.
    pub memory: Vec<u8>,
    /// Expected r0 (`-- result`; 0 if the test only has `-- error`).
    pub expected_result: u64,
    /// Expected error message (`-- error`), for tests the VM must refuse.
    pub expected_error: Option<String>,
}

/// What parsing a test file gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedTest {
    /// A test to run.
    Run(ConformanceTest),
    /// A file the suite skips, with run.py's reason.
    Skip {
        /// File name.
        name: String,
        /// Why it is skipped.
        reason: String,
    },
}

/// A test file that cannot be parsed or assembled.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceParseError {
    /// The file could not be read.
    #[error("{name}: cannot read: {source}")]
    Io {
        /// File name.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The `-- asm` section does not assemble; `line` is the line in the `.data` file.
    #[error("{name}:{line}: {source}")]
    Asm {
        /// File name.
        name: String,
        /// 1-based line in the test file.
        line: usize,
        /// The assembler's error (its line is relative to the asm section).
        source: AsmError,
    },
    /// A number in `-- result` or `-- raw` is not a number.
    #[error("{name}: invalid number {text:?} in the -- {section} section")]
    Number {
        /// File name.
        name: String,
        /// The section.
        section: &'static str,
        /// The offending text.
        text: String,
    },
}

/// C `strtoull`-style parsing as upstream uses it (`std::stoull`): leading whitespace, an
/// optional sign (a `-` negates modulo 2^64), an optional `0x` for base 16, then at least one
/// digit; parsing stops at the first non-digit. `None` if there is no digit or it overflows.
pub fn c_stoull(s: &str, base: u32) -> Option<u64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = if base == 16 {
        match s.get(..2) {
            Some("0x" | "0X") if s[2..].starts_with(|c: char| c.is_ascii_hexdigit()) => &s[2..],
            _ => s,
        }
    } else {
        s
    };
    let end = s.find(|c: char| !c.is_digit(base)).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let value = u64::from_str_radix(&s[..end], base).ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// run.py's `_parse_mem`: hex byte tokens (optionally `0x`), each kept modulo 256; stops at
/// the first token that is not hex, exceeds 32 bits, or has trailing junk.
fn parse_mem(mem: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for tok in mem.split_whitespace() {
        let digits = tok
            .strip_prefix("0x")
            .or_else(|| tok.strip_prefix("0X"))
            .filter(|d| d.starts_with(|c: char| c.is_ascii_hexdigit()))
            .unwrap_or(tok);
        let end = digits
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(digits.len());
        if end == 0 {
            break;
        }
        match u64::from_str_radix(&digits[..end], 16) {
            Ok(v) if v <= 0xffff_ffff => out.push(v as u8),
            _ => break,
        }
        if end != digits.len() {
            break;
        }
    }
    out
}

/// Sections of a test file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Asm,
    Result,
    Mem,
    Raw,
    Error,
    Ignored,
}

/// Parses the text of one `.data` file named `name`.
pub fn parse_test(name: &str, text: &str) -> Result<ParsedTest, ConformanceParseError> {
    let skip = |reason: String| {
        Ok(ParsedTest::Skip {
            name: name.to_string(),
            reason,
        })
    };
    let mut state: Option<Section> = None;
    let mut asm_lines: Vec<(usize, &str)> = Vec::new();
    let mut result_string = "";
    let mut mem = String::new();
    let mut raw = String::new();
    let mut expected_error: Option<String> = None;

    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for (index, line) in lines.into_iter().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = match line.find('#') {
            Some(at) => &line[..at],
            None => line,
        };
        if line.contains("--") {
            state = Some(if line.contains("asm") {
                Section::Asm
            } else if line.contains("result") {
                Section::Result
            } else if line.contains("mem") {
                Section::Mem
            } else if line.contains("raw") {
                Section::Raw
            } else if line.contains("no register offset") || line.contains(" c") {
                Section::Ignored
            } else if line.contains("error") {
                Section::Error
            } else {
                return skip(format!("Unknown directive {line:?}"));
            });
            continue;
        }
        if line.is_empty() {
            continue;
        }
        match state {
            Some(Section::Asm) => asm_lines.push((index + 1, line)),
            Some(Section::Result) => result_string = line,
            Some(Section::Mem) => {
                mem.push(' ');
                mem.push_str(line);
            }
            Some(Section::Raw) => {
                raw.push(' ');
                raw.push_str(line);
            }
            Some(Section::Error) => expected_error = Some(line.to_string()),
            Some(Section::Ignored) | None => {}
        }
    }

    if expected_error.as_deref().is_none_or(str::is_empty) && result_string.is_empty() {
        return skip("No result or error in test file".to_string());
    }
    let number_error = |section, text: &str| ConformanceParseError::Number {
        name: name.to_string(),
        section,
        text: text.to_string(),
    };
    let expected_result = if result_string.is_empty() {
        0
    } else {
        let base = if result_string.contains("0x") { 16 } else { 10 };
        c_stoull(result_string, base).ok_or_else(|| number_error("result", result_string))?
    };
    let program = if !raw.is_empty() {
        let mut slots = Vec::new();
        for tok in raw.split_whitespace() {
            let base = if tok.starts_with("0x") { 16 } else { 10 };
            let v = c_stoull(tok, base).ok_or_else(|| number_error("raw", tok))?;
            slots.push(Insn::from_bytes(v.to_le_bytes()));
        }
        slots
    } else {
        let text: Vec<&str> = asm_lines.iter().map(|(_, l)| *l).collect();
        assemble(&text.join("\n")).map_err(|source| ConformanceParseError::Asm {
            name: name.to_string(),
            line: asm_lines
                .get(source.line.wrapping_sub(1))
                .map_or(0, |(l, _)| *l),
            source,
        })?
    };
    if program.is_empty() {
        return skip("Test file has no BPF instructions".to_string());
    }
    Ok(ParsedTest::Run(ConformanceTest {
        name: name.to_string(),
        program,
        memory: parse_mem(&mem),
        expected_result,
        expected_error: expected_error.filter(|e| !e.is_empty()),
    }))
}

/// Reads and parses one `.data` file (invalid UTF-8 is replaced, as run.py does).
pub fn parse_test_file(path: &Path) -> Result<ParsedTest, ConformanceParseError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let bytes = std::fs::read(path).map_err(|source| ConformanceParseError::Io {
        name: name.clone(),
        source,
    })?;
    parse_test(&name, &String::from_utf8_lossy(&bytes))
}

/// The `*.data` files of a directory, sorted by name.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    Ok(files)
}

/// Where the suite is: `shared/conformance/tests` beside the repository checkout.
pub fn default_suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tests")
}

/// Something that runs a conformance program: r1 = the memory (0 if empty), r2 = its length,
/// helper 5 returns its first argument. Returns r0, or the error message.
pub trait Engine {
    /// Name in reports (`interpreter`, `jit`).
    fn name(&self) -> &str;
    /// Runs `program` on `memory` (a writable copy).
    fn run(&self, program: &[Insn], memory: &mut [u8]) -> Result<u64, String>;
}

/// Instructions one test may execute (stops runaway loops with an error instead of a hang).
pub const INSTRUCTION_BUDGET: u64 = 10_000_000;

/// The helpers the suite needs: helper 5 returns its first argument (uBPF's "unwind" helper
/// in its continue case; see the suite's README §1).
pub fn conformance_helpers() -> HelperTable {
    fn return_first_argument(_env: &mut HelperEnv<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
        Ok(args[0])
    }
    let mut table = HelperTable::new();
    table.register(Helper {
        id: 5,
        signature: HelperSignature {
            name: "conformance_return_r1",
            args: &[ArgKind::Anything],
            ret: RetKind::Integer,
            gpl_only: false,
        },
        func: return_first_argument,
    });
    table
}

/// The checked interpreter as a conformance engine.
pub struct InterpreterEngine;

impl Engine for InterpreterEngine {
    fn name(&self) -> &str {
        "interpreter"
    }

    fn run(&self, program: &[Insn], memory: &mut [u8]) -> Result<u64, String> {
        let program = Program::from_insns("conformance", program.to_vec());
        let mut vm =
            Interpreter::new(&program, &conformance_helpers()).map_err(|e| e.to_string())?;
        let options = RunOptions {
            instruction_budget: Some(INSTRUCTION_BUDGET),
        };
        vm.run(memory, &mut (), &options)
            .map(|r| r.r0)
            .map_err(|e| e.to_string())
    }
}

/// Outcome of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ran and matched.
    Pass,
    /// Ran and did not match (message says how), or could not be parsed.
    Fail(String),
    /// Skipped by the file's own rules.
    Skip(String),
}

/// Runs one parsed test on `engine`.
pub fn check(test: &ConformanceTest, engine: &dyn Engine) -> Outcome {
    let mut memory = test.memory.clone();
    match (engine.run(&test.program, &mut memory), &test.expected_error) {
        (Ok(r0), None) if r0 == test.expected_result => Outcome::Pass,
        (Ok(r0), None) => Outcome::Fail(format!(
            "returned {r0:#x}, expected {:#x}",
            test.expected_result
        )),
        (Ok(r0), Some(e)) => Outcome::Fail(format!("returned {r0:#x}, expected error {e:?}")),
        (Err(msg), Some(e)) if msg.trim_end() == e => Outcome::Pass,
        (Err(msg), Some(e)) => Outcome::Fail(format!("failed with {msg:?}, expected error {e:?}")),
        (Err(msg), None) => Outcome::Fail(format!("failed: {msg}")),
    }
}

/// Results of a whole suite on one engine.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    /// Engine name.
    pub engine: String,
    /// (file name, outcome), sorted by name.
    pub outcomes: Vec<(String, Outcome)>,
}

impl SuiteReport {
    /// Tests that ran (passed or failed).
    pub fn ran(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, Outcome::Skip(_)))
            .count()
    }

    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Pass)
            .count()
    }

    /// The failed tests with their messages.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|(n, o)| match o {
            Outcome::Fail(msg) => Some((n.as_str(), msg.as_str())),
            _ => None,
        })
    }

    /// The summary line: `conformance (ENGINE): N ran, N passed`.
    pub fn summary(&self) -> String {
        format!(
            "conformance ({}): {} ran, {} passed",
            self.engine,
            self.ran(),
            self.passed()
        )
    }
}

/// Parses and runs every `.data` file in `files` on `engine`. Files that do not parse count
/// as failures.
pub fn run_suite(files: &[PathBuf], engine: &dyn Engine) -> SuiteReport {
    let outcomes = files
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let outcome = match parse_test_file(path) {
                Ok(ParsedTest::Run(test)) => check(&test, engine),
                Ok(ParsedTest::Skip { reason, .. }) => Outcome::Skip(reason),
                Err(e) => Outcome::Fail(format!("cannot parse: {e}")),
            };
            (name, outcome)
        })
        .collect();
    SuiteReport {
        engine: engine.name().to_string(),
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_test(text: &str) -> ConformanceTest {
        match parse_test("t.data", text) {
            Ok(ParsedTest::Run(t)) => t,
            other => panic!("expected a runnable test, got {other:?}"),
        }
    }

    #[test]
    fn readme_example_ldxw() {
        let t = run_test(
            "-- asm\nldxw %r0, [%r1+2]\nexit\n-- mem\naa bb 11 22 33 44 cc dd\n-- result\n0x44332211\n",
        );
        // ldxw = 0x61, dst 0, src 1, off 2; exit = 0x95.
        assert_eq!(
            t.program,
            vec![Insn::new(0x61, 0, 1, 2, 0), Insn::new(0x95, 0, 0, 0, 0)]
        );
        assert_eq!(
            t.memory,
            vec![0xaa, 0xbb, 0x11, 0x22, 0x33, 0x44, 0xcc, 0xdd]
        );
        assert_eq!(t.expected_result, 0x4433_2211);
        assert_eq!(t.expected_error, None);
    }

    #[test]
    fn comments_crlf_and_last_result_line() {
        let t = run_test(
            "# header\r\n-- asm\r\nmov %r0, 1 # set\r\n\r\nexit\r\n-- result\r\n5\r\n7 # last wins\r\n",
        );
        assert_eq!(t.program.len(), 2);
        assert_eq!(t.expected_result, 7);
    }

    #[test]
    fn raw_replaces_asm() {
        // lddw.data's raw section: lddw r0, 0x1122334455667788; exit.
        let t = run_test(
            "-- asm\nexit\n-- raw\n0x5566778800000018\n0x1122334400000000\n0x0000000000000095\n-- result\n0x1122334455667788\n",
        );
        assert_eq!(
            t.program,
            vec![
                Insn::new(0x18, 0, 0, 0, 0x5566_7788),
                Insn::new(0, 0, 0, 0, 0x1122_3344),
                Insn::new(0x95, 0, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn ignored_sections_and_error_only() {
        let t = run_test("-- asm\nexit\n-- c\nint main() { return 0; }\n-- error\nbad thing\n");
        assert_eq!(t.expected_result, 0);
        assert_eq!(t.expected_error.as_deref(), Some("bad thing"));
        let t = run_test("-- asm\nexit\n-- no register offset\ncall instruction\n-- result\n0x2\n");
        assert_eq!(t.expected_result, 2);
    }

    #[test]
    fn skip_rules() {
        let skip = |text: &str| match parse_test("t.data", text) {
            Ok(ParsedTest::Skip { reason, .. }) => reason,
            other => panic!("expected a skip, got {other:?}"),
        };
        assert!(skip("-- asm\nexit\n-- weird\n-- result\n1\n").starts_with("Unknown directive"));
        assert_eq!(skip("-- asm\nexit\n"), "No result or error in test file");
        assert_eq!(
            skip("-- asm\n-- result\n1\n"),
            "Test file has no BPF instructions"
        );
    }

    #[test]
    fn asm_errors_name_the_file_line() {
        let err = parse_test("t.data", "-- asm\nmov %r0, 1\nfrob %r1\n-- result\n1\n").unwrap_err();
        match err {
            ConformanceParseError::Asm { line, source, .. } => {
                assert_eq!(line, 3);
                assert_eq!(source.line, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_test("t.data", "-- asm\nexit\n-- result\nzz\n"),
            Err(ConformanceParseError::Number { .. })
        ));
    }

    #[test]
    fn stoull_quirks() {
        assert_eq!(c_stoull("0x44332211", 16), Some(0x4433_2211));
        assert_eq!(c_stoull("  12abc", 10), Some(12));
        assert_eq!(c_stoull("-1", 10), Some(u64::MAX));
        assert_eq!(c_stoull("0x", 16), Some(0)); // "0" then stops at 'x'
        assert_eq!(c_stoull("x", 10), None);
        assert_eq!(c_stoull("18446744073709551616", 10), None);
    }

    #[test]
    fn mem_quirks() {
        assert_eq!(parse_mem(" 00 01 0xff"), vec![0, 1, 0xff]);
        // A value above one byte keeps its low byte; a bad token ends the memory.
        assert_eq!(parse_mem("1ff 02 zz 03"), vec![0xff, 2]);
        // Trailing junk keeps the parsed byte and stops.
        assert_eq!(parse_mem("05q 06"), vec![5]);
    }
}
