//! Scenario text from anywhere: parsing, preparing (objects resolved against `examples/`)
//! and replaying on the interpreter give a result or a typed error, never a panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sockops::runtime::Engine;
use sockops::scenario::{Scenario, ScenarioFile, replay};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ScenarioFile::parse(text, Path::new("fuzz.toml")) else {
        return;
    };
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    if let Ok(scenario) = Scenario::prepare(&file, &examples) {
        let _ = replay(&scenario, Engine::Interpreter, None);
    }
});
