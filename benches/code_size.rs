//! Machine code per benchmark program (`support/programs.rs`) for the JIT backend of the host:
//! eBPF slots, bytes of the whole compiled code and of the program body (without the entry
//! and the out-of-line stubs), and on aarch64 (fixed 4-byte instructions) the instruction
//! count. Run it for both backends: `cargo bench --bench code_size` on x86-64, and with
//! `--target aarch64-unknown-linux-gnu` under qemu (the README's set-up). Timings under
//! emulation mean nothing; code size is what compares the backends there.

#[path = "support/programs.rs"]
#[allow(
    dead_code,
    reason = "shared with the timing benchmark, which uses all of it"
)]
mod programs;

use sockops::jit::{JitOptions, JitProgram};
use sockops::vm::{Program, assemble};

fn main() {
    let arch = std::env::consts::ARCH;
    println!("JIT code size per benchmark program ({arch})");
    println!(
        "{:<28} {:>6} {:>8} {:>8} {:>8}",
        "program", "slots", "bytes", "body", "insns"
    );
    for case in programs::cases() {
        let insns = assemble(&case.text).expect("benchmark program assembles");
        let slots = insns.len();
        let program = Program::from_insns(case.name, insns);
        // SAFETY: compiled only, never run.
        let jit = unsafe {
            JitProgram::compile_unverified(&program, &programs::helpers(), &JitOptions::default())
        }
        .expect("benchmark program compiles");
        let offsets = jit.insn_offsets();
        let body = offsets.last().copied().unwrap_or(0) - offsets.first().copied().unwrap_or(0);
        let bytes = jit.code().len();
        let instructions = if arch == "aarch64" {
            (bytes / 4).to_string()
        } else {
            "-".to_string()
        };
        println!(
            "{:<28} {:>6} {:>8} {:>8} {:>8}",
            case.name, slots, bytes, body, instructions
        );
    }
}
