//! The kernel-labelled verifier corpus (`tests/corpus/*.jsonl`): reading its lines and
//! decoding a line's program, shared by the corpus tests and `gen_verifier_corpus`.

use std::path::{Path, PathBuf};

use sockops_vm::Insn;

/// One corpus line, parsed.
pub struct CorpusLine {
    /// The file it came from.
    pub path: PathBuf,
    /// Its line number (1-based), for messages.
    pub line: usize,
    /// The JSON object.
    pub value: serde_json::Value,
}

/// The corpus shipped with the tests.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The `.jsonl` files of `dir`, sorted by name.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every line of one corpus file, parsed.
pub fn lines_of(path: &Path) -> Result<Vec<CorpusLine>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(n, l)| {
            serde_json::from_str(l)
                .map(|value| CorpusLine {
                    path: path.to_path_buf(),
                    line: n + 1,
                    value,
                })
                .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))
        })
        .collect()
}

/// Every line of the shipped corpus, file by file; panics naming the file and line on a
/// line that does not parse (the corpus is part of the tests).
pub fn lines() -> Vec<CorpusLine> {
    let files = files(&dir()).unwrap_or_else(|e| panic!("{e}"));
    files
        .iter()
        .flat_map(|f| lines_of(f).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// A program's slots from its `insns_hex` (16 hex digits per slot, little-endian).
pub fn insns(hex: &str) -> Result<Vec<Insn>, String> {
    if !hex.len().is_multiple_of(16) {
        return Err(format!(
            "insns_hex has {} digits, not slots of 16",
            hex.len()
        ));
    }
    let bytes = (0..hex.len() / 2)
        .map(|i| {
            hex.get(2 * i..2 * i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("insns_hex: bad hex digit at offset {}", 2 * i))
        })
        .collect::<Result<Vec<u8>, String>>()?;
    Insn::slice_from_bytes(&bytes).map_err(|e| e.to_string())
}
