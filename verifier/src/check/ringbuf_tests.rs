//! Ring buffer reservations as acquired references: verdicts and messages as kernel 6.18
//! gives them (each expectation was checked against the live kernel, see the `ringbuf`
//! corpus category).

use sockops_vm::{HelperTable, MapDef, MapType, assemble};

use crate::{VerifyOptions, verify_insns};

fn ringbuf() -> MapDef {
    MapDef {
        map_type: MapType::Ringbuf,
        key_size: 0,
        value_size: 0,
        max_entries: 4096,
        map_flags: 0,
    }
}

/// Verifies `text` with one ring buffer map in root (false) or strict (true) mode, at log
/// level 1: `Ok(())` or `Err((pc, message, log))`.
fn run(text: &str, strict: bool) -> Result<(), (usize, String, String)> {
    let insns = assemble(text).expect("assembles");
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        log_level: 1,
        ..VerifyOptions::default()
    };
    verify_insns(&insns, &[ringbuf()], &HelperTable::new(), &opts)
        .map(|_| ())
        .map_err(|e| (e.pc, e.message, e.log))
}

fn msg(text: &str, strict: bool) -> String {
    run(text, strict).err().map(|e| e.1).unwrap_or_default()
}

const RESERVE: &str = "lddw %r1, map_fd 0\nmov %r2, 8\nmov %r3, 0\ncall 131\n";

#[test]
fn reserve_write_submit_is_accepted_in_both_modes() {
    let p = format!(
        "{RESERVE}jeq %r0, 0, +5\nstdw [%r0+0], 7\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit"
    );
    assert_eq!(run(&p, false), Ok(()));
    assert_eq!(run(&p, true), Ok(()));
}

#[test]
fn accesses_stay_within_the_reserved_size() {
    let p = format!(
        "{RESERVE}mov %r6, %r0\njeq %r6, 0, +4\nstw [%r6+6], 7\nmov %r1, %r6\nmov %r2, 0\ncall 133\nmov %r0, 1\nexit"
    );
    // The kernel words a past-the-end access of ring buffer memory this way.
    assert_eq!(
        msg(&p, false),
        "R6 min value is outside of the allowed memory range"
    );
    let p = p.replace("stw [%r6+6]", "stw [%r6+4]");
    assert_eq!(run(&p, true), Ok(()));
}

#[test]
fn the_pointer_must_be_null_checked() {
    let p = format!("{RESERVE}stdw [%r0+0], 7\nmov %r0, 1\nexit");
    assert_eq!(
        msg(&p, false),
        "R0 invalid mem access 'ringbuf_mem_or_null'"
    );
    let p = format!("{RESERVE}mov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit");
    assert_eq!(
        msg(&p, true),
        "R1 type=ringbuf_mem_or_null expected=ringbuf_mem"
    );
}

#[test]
fn an_unreleased_reservation_leaks_at_exit_and_the_null_branch_holds_none() {
    let p = format!("{RESERVE}jeq %r0, 0, +0\nmov %r0, 1\nexit");
    let (pc, m, log) = run(&p, false).unwrap_err();
    assert_eq!(pc, 7);
    assert_eq!(
        m,
        "BPF_EXIT instruction in main prog would lead to reference leak"
    );
    // The kernel's ids: the maybe-null id is 1, the reference 2.
    assert!(
        log.contains("Unreleased reference id=2 alloc_insn=4\n"),
        "{log}"
    );
    // The null branch exits fine: only the non-null one leaks.
    let p = format!(
        "{RESERVE}jne %r0, 0, +2\nmov %r0, 1\nexit\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit"
    );
    assert_eq!(run(&p, false), Ok(()));
}

#[test]
fn a_reservation_held_at_a_tail_call_leaks() {
    let p = format!(
        "mov %r9, %r1\n{RESERVE}mov %r6, %r0\njeq %r6, 0, +8\nmov %r1, %r9\nlddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit"
    );
    let (_, m, log) = run(&p, false).unwrap_err();
    assert_eq!(m, "tail_call would lead to reference leak");
    assert!(
        log.contains("Unreleased reference id=2 alloc_insn=5\n"),
        "{log}"
    );
}

#[test]
fn release_invalidates_every_copy() {
    // Double submit through the same register.
    let p = format!(
        "{RESERVE}mov %r6, %r0\njeq %r6, 0, +6\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r1, %r6\nmov %r2, 0\ncall 133\nmov %r0, 1\nexit"
    );
    assert_eq!(msg(&p, false), "R1 type=scalar expected=ringbuf_mem");
    assert_eq!(msg(&p, true), "R6 !read_ok");
    // A copy used after the release.
    let p = format!(
        "{RESERVE}mov %r6, %r0\njeq %r6, 0, +5\nmov %r7, %r6\nmov %r1, %r6\nmov %r2, 0\ncall 132\nstdw [%r7+0], 1\nmov %r0, 1\nexit"
    );
    assert_eq!(msg(&p, false), "R7 invalid mem access 'scalar'");
    assert_eq!(msg(&p, true), "R7 !read_ok");
    // A spilled copy too.
    let p = format!(
        "{RESERVE}jeq %r0, 0, +8\nstxdw [%r10-8], %r0\nmov %r0, 0\nldxdw %r6, [%r10-8]\nmov %r1, %r6\nmov %r2, 0\ncall 132\nldxdw %r6, [%r10-8]\nstdw [%r6+0], 1\nmov %r0, 1\nexit"
    );
    assert_eq!(msg(&p, false), "R6 invalid mem access 'scalar'");
}

#[test]
fn only_the_unmodified_pointer_may_be_released() {
    let p = format!(
        "{RESERVE}mov %r6, %r0\njeq %r6, 0, +4\nadd %r6, 8\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit"
    );
    assert_eq!(
        msg(&p, false),
        "R1 must have zero offset when passed to release func or trusted arg to kfunc"
    );
    let p = format!(
        "{RESERVE}mov %r6, %r0\njeq %r6, 0, +5\nadd %r6, 8\nadd %r6, -8\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit"
    );
    assert_eq!(run(&p, true), Ok(()));
    let p = "mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit";
    assert_eq!(msg(p, false), "R1 type=fp expected=ringbuf_mem");
}

#[test]
fn the_size_must_be_a_known_constant() {
    let p = "ldxw %r7, [%r1+0]\nand %r7, 255\nlddw %r1, map_fd 0\nmov %r2, %r7\nmov %r3, 0\ncall 131\njeq %r0, 0, +3\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit";
    assert_eq!(msg(p, false), "R2 is not a known constant'");
}

#[test]
fn pruning_keeps_paths_with_different_references_apart() {
    // r7 = ctx->op; only one side of `if r7 == 0` submits: that path is fine, the other
    // leaks — it must not be pruned against the first at the join.
    let p = format!(
        "ldxw %r7, [%r1+0]\n{RESERVE}mov %r6, %r0\njeq %r6, 0, +4\njeq %r7, 0, +3\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit"
    );
    assert_eq!(
        msg(&p, false),
        "BPF_EXIT instruction in main prog would lead to reference leak"
    );
}

#[test]
fn a_helper_call_takes_at_most_one_referenced_argument() {
    // bpf_snprintf_btf with the reservation as both buffers: the kernel's message has no
    // newline, so its last line carries the statistics.
    let p = "lddw %r1, map_fd 0\nmov %r2, 32\nmov %r3, 0\ncall 131\nmov %r6, %r0\njeq %r6, 0, +9\nmov %r1, %r6\nmov %r2, 16\nmov %r3, %r6\nmov %r4, 16\nmov %r5, 0\ncall 149\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r0, 1\nexit";
    let m = msg(p, false);
    assert!(
        m.starts_with("more than one arg with ref_obj_id R3 2 2processed "),
        "{m}"
    );
}
