//! The verifier's safety promise, with structure-aware inputs: the fuzzer's bytes drive the
//! program generators of `sockops_tests::generator` (every kind, or one generated program
//! with one instruction perturbed), then an arbitrary world — a socket (IPv4/IPv6, full or
//! request, metrics, callback flags), the ops delivered to it with arbitrary args, and
//! pre-filled maps. A program the verifier accepts must run every op without any fault in
//! the checked interpreter, which bounds every access, jump and call, and in the JIT with
//! checked memory, which bounds every access of machine code the same way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockops::vm::disassemble;
use sockops_tests::engines::{World, check_no_fault};

fuzz_target!(|data: &[u8]| {
    let world = World::from_bytes(data);
    if let Err(e) = check_no_fault(&world) {
        panic!("{e}\nprogram:\n{}", disassemble(&world.insns).unwrap_or_default());
    }
});
