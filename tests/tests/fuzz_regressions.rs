//! Every input a fuzz campaign found a bug with, replayed through the fuzz target's own
//! check (`sockops_tests::engines::check_program`): each file of `tests/regressions/` holds
//! one raw program (8-byte slots, as the `verified_programs_never_fault` target reads them)
//! that the verifier accepts and that must run on both engines with the same decisions.

use std::path::PathBuf;

use sockops::vm::Insn;
use sockops_tests::engines::check_program;

fn regressions() -> Vec<(String, Vec<Insn>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/regressions")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("regression input");
            let insns = Insn::slice_from_bytes(&bytes[..bytes.len() / 8 * 8])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), insns)
        })
        .collect()
}

#[test]
fn fuzz_regressions_pass_the_engines_check() {
    let inputs = regressions();
    assert!(!inputs.is_empty(), "no regression inputs found");
    let mut verified = 0;
    for (name, insns) in &inputs {
        match check_program(insns) {
            Ok(true) => verified += 1,
            Ok(false) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
    println!("{} regression inputs, {verified} verified", inputs.len());
}

/// Issue 10's first finding: `call bpf_get_smp_processor_id; if w0 == w0; if w0 s>= w0;
/// if w0 < 0x66000000 goto +1; ldindb r4, 0; exit`. The helper's result is bounded by the
/// number of CPUs, so the legacy packet load is dead; the verifier accepts the program (as
/// the kernel does), and the JIT used to refuse to compile it.
#[test]
fn dead_legacy_packet_load_compiles_on_the_jit() {
    let bytes = decode_hex(
        "85000000080000001e000000000000007e00000000000000a60001000000006650400000000000009500fff900000000",
    );
    let insns = Insn::slice_from_bytes(&bytes).expect("slots");
    assert!(check_program(&insns).expect("passes the check"));
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
