use sockops_vm::{HelperTable, Interpreter, Program, RunOptions, assemble};
fn main() {
    let text = std::env::args().nth(1).unwrap_or("mov %r0, 0\nexit".into());
    let insns = assemble(&text).unwrap();
    let p = Program::from_insns("x", insns);
    let mut i = Interpreter::new(&p, &HelperTable::new()).unwrap();
    let mut ctx = vec![0u8; 224];
    let opts = RunOptions::default();
    let mut acc = 0u64;
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let t = std::time::Instant::now();
    for _ in 0..n {
        acc = acc.wrapping_add(
            i.run(std::hint::black_box(&mut ctx), &mut (), &opts)
                .unwrap()
                .r0,
        );
    }
    println!(
        "{} ns/run acc {acc}",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
