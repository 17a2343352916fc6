//! ELF bytes from anywhere: parsing never panics, and every program of an object that
//! parses goes through the verifier without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockops::vm::HelperTable;
use sockops::vm::elf::Object;
use sockops_verifier::{VerifyOptions, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(object) = Object::parse("fuzz", data) else {
        return;
    };
    let helpers = HelperTable::new();
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    for program in object.programs() {
        let _ = verify(program, &helpers, &options);
    }
});
