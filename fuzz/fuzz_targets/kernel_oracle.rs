//! The live kernel as a second oracle (needs root and `bpf()`; without them the target says
//! why on its first input and exits cleanly). Each input becomes a generated program (the
//! structure-aware generators of `verifier_soundness`), which the running kernel's verifier
//! judges (BPF_PROG_LOAD as BPF_PROG_TYPE_SOCK_OPS, loading only, never attaching) beside
//! ours, with the same maps:
//! - our accept where the kernel rejects is a false accept: reported as a crash;
//! - our reject where the kernel accepts is a false reject: counted, and written to
//!   `fuzz/findings/kernel_oracle/false_rejects/` with both messages;
//! - a program both accept runs in our checked interpreter on every op of an arbitrary
//!   world: a fault there means the *kernel* accepted an unsafe program too (or our model of
//!   the run differs from it), written to `fuzz/findings/kernel_oracle/kernel_unsafe/`.
//!
//! Our verifier runs with `WORLD_INSN_LIMIT` processed instructions: a program it cannot
//! judge within that is skipped, not compared. Every 10,000 programs a line on stderr gives
//! the running totals.

#![no_main]

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use sockops::vm::{HelperTable, Insn, MapDef, disassemble};
use sockops_tests::engines::{WORLD_INSN_LIMIT, World, check_no_fault};
use sockops_tests::kernel::{KernelMap, Oracle};
use sockops_verifier::{VerifyOptions, verify_insns};

/// The oracle, its kernel maps per map set, and the running totals.
struct State {
    oracle: Oracle,
    maps: HashMap<Vec<(u32, u32, u32, u32, u32)>, Vec<KernelMap>>,
    judged: u64,
    kernel_accepts: u64,
    false_rejects: u64,
    kernel_findings: u64,
    /// The kernel's `nr_cpu_ids`, which bounds `bpf_get_smp_processor_id`.
    nr_cpu_ids: u32,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn key(defs: &[MapDef]) -> Vec<(u32, u32, u32, u32, u32)> {
    defs.iter()
        .map(|d| {
            (
                d.map_type.kernel_id(),
                d.key_size,
                d.value_size,
                d.max_entries,
                d.map_flags,
            )
        })
        .collect()
}

/// Writes a finding (the program's slots and a text report) under `kind`.
fn record(kind: &str, insns: &[Insn], report: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("findings/kernel_oracle")
        .join(kind);
    let _ = std::fs::create_dir_all(&dir);
    let bytes = Insn::slice_to_bytes(insns);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    let name = format!("{:016x}", hasher.finish());
    let _ = std::fs::write(dir.join(format!("{name}.bin")), &bytes);
    let listing = disassemble(insns).unwrap_or_default();
    let _ = std::fs::write(dir.join(format!("{name}.txt")), format!("{report}\n\n{listing}"));
}

fuzz_target!(|data: &[u8]| {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        match Oracle::new() {
            Ok(oracle) => {
                *guard = Some(State {
                    oracle,
                    maps: HashMap::new(),
                    judged: 0,
                    kernel_accepts: 0,
                    false_rejects: 0,
                    kernel_findings: 0,
                    nr_cpu_ids: sockops::kernel::possible_cpus(),
                })
            }
            Err(e) => {
                eprintln!("kernel_oracle: the live kernel cannot be asked ({e}); this target needs root and bpf(). Exiting.");
                std::process::exit(0);
            }
        }
    }
    let Some(state) = guard.as_mut() else {
        return;
    };
    let world = World::from_bytes(data);
    let defs = world.maps.clone();
    let kernel_maps = match state.maps.entry(key(&defs)) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => match state.oracle.create_maps(&defs) {
            Ok(maps) => v.insert(maps),
            Err(e) => panic!("kernel maps for {defs:?}: {e}"),
        },
    };
    // The kernel bounds bpf_get_smp_processor_id by its own nr_cpu_ids: judge with the same.
    let options = VerifyOptions {
        require_runtime_helpers: false,
        insn_limit: WORLD_INSN_LIMIT,
        nr_cpu_ids: state.nr_cpu_ids,
        ..VerifyOptions::default()
    };
    let ours = verify_insns(&world.insns, &defs, &HelperTable::new(), &options);
    // Past our lower limit there is no verdict to compare.
    if ours
        .as_ref()
        .is_err_and(|e| e.message.starts_with("BPF program is too large"))
    {
        return;
    }
    let kernel = state.oracle.load(&world.insns, kernel_maps, 1);
    if !kernel.accepted && kernel.message.is_empty() {
        // No verdict (the load failed for another reason than the verifier's, e.g. still
        // interrupted after retries): nothing to compare.
        return;
    }
    state.judged += 1;
    state.kernel_accepts += u64::from(kernel.accepted);
    match (&ours, kernel.accepted) {
        (Ok(_), false) => panic!(
            "false accept: the kernel rejects with {:?}\n{}\nprogram:\n{}",
            kernel.message,
            kernel.log,
            disassemble(&world.insns).unwrap_or_default()
        ),
        (Err(e), true) if !e.unsupported => {
            state.false_rejects += 1;
            record(
                "false_rejects",
                &world.insns,
                &format!("ours: insn {}: {}\nkernel: accepted", e.pc, e.message),
            );
        }
        (Ok(_), true) => {
            if let Err(e) = check_no_fault(&world) {
                state.kernel_findings += 1;
                record(
                    "kernel_unsafe",
                    &world.insns,
                    &format!("accepted by the kernel and by us, then: {e}"),
                );
            }
        }
        _ => {}
    }
    if state.judged % 10_000 == 0 {
        eprintln!(
            "kernel_oracle: {} programs judged, {} accepted by the kernel, 0 false accepts, {} false rejects, {} kernel findings",
            state.judged, state.kernel_accepts, state.false_rejects, state.kernel_findings
        );
    }
});
