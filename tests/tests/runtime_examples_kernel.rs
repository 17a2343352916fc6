//! The example programs the scenarios use, loaded into the live kernel as
//! `BPF_PROG_TYPE_SOCK_OPS` (their maps created with `BPF_MAP_CREATE`): the kernel's verifier
//! must accept every one, so the scenarios exercise programs Linux would run. Skipped, with
//! the reason printed, where `bpf()` is not permitted.

use std::path::Path;

use sockops::vm::MapDef;
use sockops::vm::elf::Object;
use sockops_tests::kernel::Oracle;

const EXAMPLES: [&str; 9] = [
    "dc_tuning.o",
    "conn_monitor.o",
    "cwnd_tuning.o",
    "chain.o",
    "ctx_probe.o",
    "syn_jitter.o",
    "hdr_opt.o",
    "tail_values.o",
    "tos_reflect.o",
];

#[test]
fn the_kernel_verifier_accepts_the_scenario_examples() {
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: the live kernel is not available: {e}");
            return;
        }
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut loaded = 0;
    for name in EXAMPLES {
        let object = Object::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let defs: Vec<MapDef> = object.maps().iter().map(|m| *m.def()).collect();
        let maps = oracle
            .create_maps(&defs)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for p in object.programs() {
            let v = oracle.load(&p.insns, &maps, 1);
            assert!(
                v.accepted,
                "{name} {}: the kernel rejects it: {} (errno {})",
                p.name, v.message, v.errno
            );
            loaded += 1;
        }
    }
    // chain has four programs, tail_values three, every other example one.
    assert_eq!(loaded, 14);
}
