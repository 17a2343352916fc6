//! Interpreter and JIT decide alike, with structure-aware inputs (the generators and worlds
//! of `verifier_soundness`): a program the verifier accepts is accepted for both engines,
//! runs without a fault in the checked interpreter, and — when strict mode accepts it too,
//! so no address can leak into a result — decides exactly alike on both: return values,
//! reply, result, helper calls and their return codes, socket changes, the socket and the
//! maps afterwards.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockops::vm::disassemble;
use sockops_tests::engines::{World, check_world};

fuzz_target!(|data: &[u8]| {
    let world = World::from_bytes(data);
    if let Err(e) = check_world(&world) {
        panic!("{e}\nprogram:\n{}", disassemble(&world.insns).unwrap_or_default());
    }
});
