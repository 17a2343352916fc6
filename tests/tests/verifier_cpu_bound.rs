//! `bpf_get_smp_processor_id` is bounded by `nr_cpu_ids`, in the kernel's verifier and in
//! ours (`VerifyOptions::nr_cpu_ids`): a path that needs a CPU id the machine cannot have is
//! dead. Comparing verdicts with the live kernel therefore needs the kernel's own
//! `nr_cpu_ids` (`sockops::kernel::possible_cpus`). The kernel-oracle fuzz target judged with
//! our default of one CPU on a two-CPU machine and reported this program as a false accept
//! (fuzz/regressions/kernel_oracle/nr-cpu-ids-smp-processor-id-51c272ea).

use sockops::kernel::possible_cpus;
use sockops_tests::kernel::Oracle;
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, assemble};

/// CPU 0 returns; any other CPU dereferences a scalar.
const DEREF_ON_CPU_1: &str = "mov %r6, %r1
call 8
jeq %r0, 0, +4
ldxw %r2, [%r6]
and %r2, 255
add %r0, %r2
ldxdw %r1, [%r0]
mov %r0, 1
exit";

fn ours(nr_cpu_ids: u32) -> Result<(), String> {
    let insns = assemble(DEREF_ON_CPU_1).expect("assembles");
    let options = VerifyOptions {
        nr_cpu_ids,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(&insns, &[], &HelperTable::new(), &options)
        .map(|_| ())
        .map_err(|e| e.message)
}

#[test]
fn a_path_for_a_cpu_the_machine_lacks_is_dead() {
    assert_eq!(ours(1), Ok(()));
    let e = ours(2).unwrap_err();
    assert_eq!(e, "R0 invalid mem access 'scalar'");
}

#[test]
fn with_the_kernels_cpu_count_the_verdict_is_the_kernels() {
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: the live kernel is not available: {e}");
            return;
        }
    };
    let insns = assemble(DEREF_ON_CPU_1).expect("assembles");
    let kernel = oracle.load(&insns, &[], 1);
    let ours = ours(possible_cpus());
    assert_eq!(
        ours.is_ok(),
        kernel.accepted,
        "ours {ours:?}, kernel {:?} with {} possible CPUs",
        kernel.message,
        possible_cpus()
    );
    if let Err(e) = ours {
        assert_eq!(e, kernel.message);
    }
}
