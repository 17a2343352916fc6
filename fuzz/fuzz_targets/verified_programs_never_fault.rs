//! Attacks the verifier's safety promise: the input is a program (8-byte slots) with two
//! maps (an array and a hash). Whatever the runtime's verifier accepts must be accepted for
//! both engines, run without a fault in the checked interpreter — which bounds every access,
//! jump and call and would report an escape as an error — and in the JIT with checked memory
//! (which confines machine code's accesses alike), for every op, and decide the same on the
//! JIT and the checked JIT when it leaks no address (strict mode accepts it). A verifier bug that lets an
//! unsafe program through shows up as a crash here. The check is
//! `sockops_tests::engines::check_program`, which the regression tests replay.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockops::vm::Insn;
use sockops_tests::engines::check_program;

fuzz_target!(|data: &[u8]| {
    let Ok(insns) = Insn::slice_from_bytes(&data[..data.len() / 8 * 8]) else {
        return;
    };
    if insns.is_empty() || insns.len() > 256 {
        return;
    }
    if let Err(e) = check_program(&insns) {
        panic!("{e}");
    }
});
