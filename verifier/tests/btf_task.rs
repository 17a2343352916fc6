//! `bpf_get_current_task_btf` (root only): its trusted BTF pointer may be null-checked,
//! compared, moved by a constant, spilled and read through (walked in the recorded
//! `struct task_struct`, `tests/tests/verifier_task_btf.rs` checks the reads against the
//! kernel) as the kernel allows; passed as a socket it is refused with the kernel's
//! message, and passing it as helper memory (sized by BTF in the kernel) is refused as
//! unsupported (not as unsafe). The expected verdicts and messages are kernel
//! 6.18's for the same programs.

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn};

const CALL_TASK: Insn = Insn::new(0x85, 0, 0, 0, 158);
const R0_1: Insn = Insn::new(0xb7, 0, 0, 0, 1);
const EXIT: Insn = Insn::new(0x95, 0, 0, 0, 0);

fn run(body: &[Insn], strict: bool) -> Result<(), (String, bool)> {
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(body, &[], &HelperTable::new(), &opts)
        .map(|_| ())
        .map_err(|e| (e.message, e.unsupported))
}

#[test]
fn uses_the_kernel_accepts() {
    let cases: [&[Insn]; 5] = [
        &[CALL_TASK, R0_1, EXIT],
        // if r0 == 0 goto +1; r2 = 0
        &[
            CALL_TASK,
            Insn::new(0x15, 0, 0, 1, 0),
            Insn::new(0xb7, 2, 0, 0, 0),
            R0_1,
            EXIT,
        ],
        // r0 += 8
        &[CALL_TASK, Insn::new(0x07, 0, 0, 0, 8), R0_1, EXIT],
        // spill and fill
        &[
            CALL_TASK,
            Insn::new(0x7b, 10, 0, -8, 0),
            Insn::new(0x79, 2, 10, -8, 0),
            R0_1,
            EXIT,
        ],
        // r2 = r0; if r0 >= r2 goto +0
        &[
            CALL_TASK,
            Insn::new(0xbf, 2, 0, 0, 0),
            Insn::new(0x3d, 0, 2, 0, 0),
            R0_1,
            EXIT,
        ],
    ];
    for (k, c) in cases.iter().enumerate() {
        assert_eq!(run(c, false), Ok(()), "case {k}");
    }
}

#[test]
fn misuse_is_refused_with_the_kernel_message() {
    assert_eq!(
        run(&[CALL_TASK, EXIT], false),
        Err((
            "At program exit the register R0 is not a known value (trusted_ptr_)".into(),
            false
        ))
    );
    assert_eq!(
        run(&[CALL_TASK, Insn::new(0x04, 0, 0, 0, 8), R0_1, EXIT], false),
        Err(("R0 32-bit pointer arithmetic prohibited".into(), false))
    );
}

#[test]
fn scalar_reads_are_judged_and_helper_arguments_are_unsupported() {
    // r2 = *(u32 *)(r0 + 0): the low half of thread_info.flags.
    let r = run(&[CALL_TASK, Insn::new(0x61, 2, 0, 0, 0), R0_1, EXIT], false);
    assert_eq!(r, Ok(()));
    // bpf_tcp_sock(task): not a socket, with the kernel's message.
    let r = run(
        &[
            CALL_TASK,
            Insn::new(0xbf, 1, 0, 0, 0),
            Insn::new(0x85, 0, 0, 0, 96),
            R0_1,
            EXIT,
        ],
        false,
    );
    assert_eq!(
        r,
        Err((
            "R1 type=trusted_ptr_ expected=sock_common, sock, tcp_sock, xdp_sock".into(),
            false
        ))
    );
    // bpf_get_current_comm(task, 8): a BTF pointer as helper memory, sized by BTF in the
    // kernel.
    let r = run(
        &[
            CALL_TASK,
            Insn::new(0xbf, 1, 0, 0, 0),
            Insn::new(0xb7, 2, 0, 0, 8),
            Insn::new(0x85, 0, 0, 0, 16),
            R0_1,
            EXIT,
        ],
        false,
    );
    assert!(matches!(r, Err((_, true))), "{r:?}");
}

#[test]
fn strict_mode_has_no_such_helper() {
    assert_eq!(
        run(&[CALL_TASK, R0_1, EXIT], true),
        Err((
            "program of this type cannot use helper bpf_get_current_task_btf#158".into(),
            false
        ))
    );
}
