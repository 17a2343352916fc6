//! `jit_dump FILE`: compiles the raw program in FILE (8-byte slots) with the JIT, writes its
//! machine code to FILE.jit (`objdump -D -b binary -mi386:x86-64 FILE.jit`) and prints the
//! code offset of each slot. A development tool for investigating fuzz findings.
use sockops_vm::{Insn, Program};
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: jit_dump FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).expect("read");
    let insns = Insn::slice_from_bytes(&bytes[..bytes.len() / 8 * 8]).expect("slots");
    let program = Program::from_insns("dump", insns);
    let helpers = sockops::ctx::helpers::sock_ops_helper_table();
    // SAFETY: compiled only, never run.
    let jit = unsafe {
        sockops::jit::JitProgram::compile_unverified(&program, &helpers, &Default::default())
    }
    .expect("compiles");
    std::fs::write(format!("{path}.jit"), jit.code()).expect("write");
    println!("{:?}", jit.insn_offsets());
}
