//! `bpf_get_current_task_btf` (helper 158) and reads through the `struct task_struct` it
//! returns (`trusted_ptr_task_struct`, never NULL): each load is walked through the recorded
//! vmlinux layout as the kernel's `btf_struct_access` walks it — a scalar member is accepted,
//! a part of a pointer, a byte past the struct, a negative or variable offset and any write
//! are refused with the kernel's message, and a whole pointer member is a typed pointer
//! (`verifier_btf_pointers` follows it). Verdicts recorded from
//! the live kernel and checked against it again where `bpf()` works; offsets come from the
//! recorded layout (`sockops_vm::vmlinux`), so the cases follow it. What the reads give at
//! run time (the runtime's current task, on every engine) is the last test.

use sockops_tests::kernel::Oracle;
use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
    load_mnemonic as load, owned_case as case, recorded_layout_differs_from_live_kernel,
};
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::vmlinux::{KElem, field, kstruct, kstruct_index};
use sockops_vm::{HelperTable, assemble};

fn off(path: &str) -> u32 {
    field("task_struct", path)
        .unwrap_or_else(|| panic!("task_struct.{path} is not recorded"))
        .offset
}

fn task_size() -> u32 {
    kstruct(kstruct_index("task_struct").expect("recorded"))
        .expect("recorded")
        .size
}

/// r0 = bpf_get_current_task_btf(), then `access` (from instruction 1).
fn program(access: &str) -> String {
    format!("call 158\n{access}mov %r0, 1\nexit")
}

/// Reads the kernel accepts: every scalar member of `struct task_struct` that a single load
/// covers, read whole; `comm` a byte and a word at a time; members of embedded structs; a
/// read through a pointer moved by a constant.
fn accepted_reads() -> Vec<RecordedCase> {
    let task = kstruct(kstruct_index("task_struct").expect("recorded")).expect("recorded");
    let mut cases = Vec::new();
    for m in task.members {
        if m.elem != KElem::Scalar
            || m.nelems.is_some()
            || m.bitfield_size != 0
            || ![1, 2, 4, 8].contains(&m.size)
        {
            continue;
        }
        let o = m.bit_offset / 8;
        cases.push(case(
            format!("read {}", m.name),
            program(&format!("{} %r1, [%r0+{o}]\n", load(m.size))),
            None,
        ));
    }
    let comm = off("comm");
    for (what, o, insn) in [
        ("comm[0]", comm, "ldxb"),
        ("comm[15]", comm + 15, "ldxb"),
        ("comm[0..8]", comm, "ldxdw"),
        ("comm[8..16]", comm + 8, "ldxdw"),
        ("thread_info.cpu", off("thread_info.cpu"), "ldxw"),
        ("thread_info.flags", off("thread_info.flags"), "ldxdw"),
        ("se.vruntime", off("se.vruntime"), "ldxdw"),
    ] {
        cases.push(case(
            format!("read {what}"),
            program(&format!("{insn} %r1, [%r0+{o}]\n")),
            None,
        ));
    }
    let pid = off("pid");
    cases.push(case(
        "read pid through a pointer moved by 8".into(),
        program(&format!("add %r0, 8\nldxw %r1, [%r0+{}]\n", pid - 8)),
        None,
    ));
    cases
}

/// Programs the kernel rejects (as root): its instruction and message.
fn rejected() -> Vec<RecordedCase> {
    let pid = off("pid");
    let thread_pid = off("thread_pid");
    let end = task_size();
    vec![
        case(
            "negative offset".into(),
            program("ldxw %r1, [%r0-4]\n"),
            Some((
                1,
                "R0 is ptr_task_struct invalid negative access: off=-4".into(),
            )),
        ),
        case(
            "store of an immediate".into(),
            program(&format!("stw [%r0+{pid}], 1\n")),
            Some((1, "only read is supported".into())),
        ),
        case(
            "store of a register".into(),
            program(&format!("mov %r1, 7\nstxw [%r0+{pid}], %r1\n")),
            Some((2, "only read is supported".into())),
        ),
        case(
            "atomic add".into(),
            program(&format!("mov %r1, 7\nlock add32 [%r0+{pid}], %r1\n")),
            Some((2, "only read is supported".into())),
        ),
        case(
            "past the struct".into(),
            program(&format!("ldxw %r1, [%r0+{}]\n", end - 2)),
            Some((
                1,
                format!("access beyond struct task_struct at off {} size 4", end - 2),
            )),
        ),
        case(
            "the last byte, padding".into(),
            program(&format!("ldxb %r1, [%r0+{}]\n", end - 1)),
            Some((
                1,
                format!(
                    "struct task_struct doesn't have field at offset {}",
                    end - 1
                ),
            )),
        ),
        case(
            "half of a pointer member".into(),
            program(&format!("ldxw %r1, [%r0+{thread_pid}]\n")),
            Some((
                1,
                format!(
                    "cannot access ptr member thread_pid with moff {thread_pid} in struct task_struct with off {thread_pid} size 4"
                ),
            )),
        ),
        case(
            "a pointer member read across".into(),
            program(&format!("ldxdw %r1, [%r0+{}]\n", thread_pid + 4)),
            Some((
                1,
                format!(
                    "cannot access ptr member thread_pid with moff {thread_pid} in struct task_struct with off {} size 8",
                    thread_pid + 4
                ),
            )),
        ),
        case(
            "variable offset".into(),
            program(&format!(
                "ldxw %r1, [%r0+{pid}]\nand %r1, 8\nadd %r0, %r1\nldxw %r2, [%r0+{pid}]\n"
            )),
            Some((
                4,
                format!(
                    "R0 is ptr_task_struct invalid variable offset: off={pid}, var_off=(0x0; 0x8)"
                ),
            )),
        ),
        case(
            "pointer += pointer".into(),
            program("mov %r1, %r0\nadd %r1, %r0\n"),
            Some((2, "R1 pointer += pointer prohibited".into())),
        ),
    ]
}

#[test]
fn task_field_reads_are_accepted_as_the_kernel_accepts_them() {
    let cases = accepted_reads();
    assert!(cases.len() > 100, "{} cases", cases.len());
    assert_ours_match_recorded(&cases, false);
}

#[test]
fn task_pointer_misuse_is_rejected_as_the_kernel_rejects_it() {
    assert_ours_match_recorded(&rejected(), false);
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    if let Some(reason) = recorded_layout_differs_from_live_kernel(&["task_struct"]) {
        println!("skipped: {reason}");
        return;
    }
    assert_recorded_match_live_kernel(&accepted_reads(), false);
    assert_recorded_match_live_kernel(&rejected(), false);
}

/// The helper needs CAP_PERFMON: an unprivileged loader does not get it.
#[test]
fn unprivileged_loaders_cannot_call_it() {
    let cases = vec![case(
        "unprivileged".into(),
        program(&format!("ldxw %r1, [%r0+{}]\n", off("pid"))),
        Some((
            0,
            "program of this type cannot use helper bpf_get_current_task_btf#158".into(),
        )),
    )];
    assert_ours_match_recorded(&cases, true);
    assert_recorded_match_live_kernel(&cases, true);
}

/// The helper is GPL-only, as in the kernel.
#[test]
fn non_gpl_programs_cannot_call_it() {
    let insns = assemble(&program("")).unwrap();
    let options = VerifyOptions {
        require_runtime_helpers: false,
        gpl_compatible: false,
        ..VerifyOptions::default()
    };
    let err = verify_insns(&insns, &[], &HelperTable::new(), &options)
        .expect_err("a non-GPL program must not call it");
    assert_eq!(
        (err.pc, err.message.as_str()),
        (
            0,
            "cannot call GPL-restricted function from non-GPL compatible program"
        )
    );
}

/// A whole pointer member (`task->real_parent`, an `rcu_ptr_task_struct`) is read as the
/// kernel reads it: accepted (`verifier_btf_pointers` follows it further); the live kernel
/// accepts it.
#[test]
fn pointer_member_reads_are_accepted() {
    let insns = assemble(&program(&format!(
        "ldxdw %r1, [%r0+{}]\n",
        off("real_parent")
    )))
    .unwrap();
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let verdict = verify_insns(&insns, &[], &HelperTable::new(), &options);
    assert!(verdict.is_ok(), "{verdict:?}");
    if let Some(reason) = recorded_layout_differs_from_live_kernel(&["task_struct"]) {
        println!("skipped (live kernel): {reason}");
        return;
    }
    match Oracle::new() {
        Ok(mut oracle) => {
            let verdict = oracle.load(&insns, &[], 1);
            assert!(verdict.accepted, "{}", verdict.message);
        }
        Err(e) => println!("skipped (live kernel): the kernel cannot be asked: {e}"),
    }
}

/// The image the helper returns carries the runtime's current task at the kernel's offsets
/// on every engine: the program checks that the first 8 bytes of `comm` are those
/// `bpf_get_current_comm` writes, then replies pid + tgid * 1000 + prio * 1_000_000 + cpu.
#[test]
fn programs_read_the_current_task_on_every_engine() {
    use sockops::cgroup::AttachFlags;
    use sockops::ctx::{CurrentTask, SockOp, Socket};
    use sockops::runtime::{Engine, Runtime};
    use sockops::vm::Program;

    let text = format!(
        "mov %r6, %r1\ncall 158\nmov %r7, %r0\n\
         mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 16\n\
         ldxdw %r2, [%r7+{comm}]\nldxdw %r3, [%r10-16]\njne %r2, %r3, +12\n\
         ldxw %r2, [%r7+{pid}]\nldxw %r3, [%r7+{tgid}]\nmul %r3, 1000\nadd %r2, %r3\n\
         ldxw %r3, [%r7+{prio}]\nmul %r3, 1000000\nadd %r2, %r3\n\
         ldxw %r3, [%r7+{cpu}]\nadd %r2, %r3\nstxw [%r6+4], %r2\nmov %r0, 1\nexit\n\
         mov %r0, 1\nexit",
        comm = off("comm"),
        pid = off("pid"),
        tgid = off("tgid"),
        prio = off("prio"),
        cpu = off("thread_info.cpu"),
    );
    let insns = assemble(&text).unwrap();
    for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
        let mut rt = Runtime::new();
        let mut p = Program::from_insns("task", insns.clone());
        p.license = "GPL".into();
        let id = rt.load_raw_program(p, engine).unwrap();
        rt.attach(id, "/", AttachFlags::None).unwrap();
        let mut s = Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.1.2.3:443".parse().unwrap(),
        );
        // The idle task: pid 0, comm "swapper/0".
        let d = rt.call(SockOp::TcpConnectCb, &mut s).unwrap();
        assert_eq!(d.returns(), vec![1], "{engine:?}");
        assert_eq!(d.reply, 120_000_000, "{engine:?}");
        rt.set_current_task(CurrentTask {
            pid: 321,
            tgid: 300,
            comm: CurrentTask::comm_of("curl"),
            ..CurrentTask::default()
        });
        let d = rt.call(SockOp::TcpConnectCb, &mut s).unwrap();
        assert_eq!(d.reply, 321 + 300_000 + 120_000_000, "{engine:?}");
    }
}

/// Without a GPL license the runtime refuses the program at load, as the kernel would.
#[test]
fn the_runtime_refuses_it_to_non_gpl_programs() {
    use sockops::runtime::{Engine, Runtime};
    use sockops::vm::Program;
    let mut rt = Runtime::new();
    let p = Program::from_insns("task", assemble(&program("")).unwrap());
    let err = rt
        .load_raw_program(p, Engine::Interpreter)
        .expect_err("a non-GPL program must be refused");
    assert!(err.to_string().contains("GPL"), "{err}");
}
