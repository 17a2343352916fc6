//! Pointer members read through BTF pointers (`task->real_parent`, `map->inner_map_meta`,
//! `tp->inet_conn.icsk_inet.pinet6`): typed as the kernel's `check_ptr_to_btf_access` types
//! them on Linux 6.18 (`rcu_ptr_` for the allow-listed members of a trusted task,
//! `untrusted_ptr_` for the rest, `rdonly_untrusted_mem` for a pointer to anything but a
//! struct) and followed (every struct a program can reach is recorded): the runtime's
//! images point them at blank structs, so the kernel's faulting loads are plain loads here,
//! except through a pointer read out of a union or untrusted memory. Verdicts recorded
//! from the live kernel (root) and checked against it again where `bpf()` works; the reads
//! the kernel makes with faulting loads this runtime does not have are `NotVerified`, never
//! accepted. What the reads give at run time (blank structs, on every engine) is the last
//! test.

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
    owned_case as case, recorded_layout_differs_from_live_kernel,
};
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::vmlinux::field;
use sockops_vm::{HelperTable, MapDef, MapType, Program, assemble};

fn off(root: &str, path: &str) -> u32 {
    field(root, path)
        .unwrap_or_else(|| panic!("{root}.{path} is not recorded"))
        .offset
}

fn task(path: &str) -> u32 {
    off("task_struct", path)
}

fn tcp(path: &str) -> u32 {
    off("tcp_sock", path)
}

/// r0 = bpf_get_current_task_btf(), then `access` (from instruction 1).
fn task_program(access: &str) -> String {
    format!("call 158\n{access}mov %r0, 1\nexit")
}

/// r0 = bpf_skc_to_tcp_sock(ctx->sk), both null-checked, then `access` (r6 = ctx).
fn tcp_program(access: &str) -> String {
    sockops_tests::recorded::tcp_sock_program(access)
}

fn array_map() -> Vec<MapDef> {
    vec![MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        map_flags: 0,
    }]
}

/// Programs the kernel accepts and this verifier judges: pointer members followed into
/// recorded structs.
fn accepted() -> Vec<RecordedCase> {
    let parent = task("real_parent");
    let leader = task("group_leader");
    let mut cases = vec![
        case(
            "task->real_parent->tgid".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{parent}]\nldxw %r2, [%r1+{}]\n",
                task("tgid")
            )),
            None,
        ),
        case(
            "task->group_leader->real_parent->comm".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{leader}]\nldxdw %r1, [%r1+{parent}]\nldxdw %r2, [%r1+{}]\n",
                task("comm")
            )),
            None,
        ),
        case(
            "task->parent (not allow-listed: untrusted_ptr_) ->pid".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxw %r2, [%r1+{}]\n",
                task("parent"),
                task("pid")
            )),
            None,
        ),
        case(
            "task->parent->real_parent (from an untrusted pointer: untrusted_ptr_) ->pid".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxdw %r1, [%r1+{parent}]\nldxw %r2, [%r1+{}]\n",
                task("parent"),
                task("pid")
            )),
            None,
        ),
        case(
            "task->cpus_ptr->bits[0]".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxdw %r2, [%r1+0]\n",
                task("cpus_ptr")
            )),
            None,
        ),
        case(
            "task->mm->map_count (every struct a program can reach is recorded)".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxw %r2, [%r1+{}]\n",
                task("mm"),
                off("mm_struct", "map_count")
            )),
            None,
        ),
        case(
            "task->mm->owner->pid (back to a task through an unrecorded-before struct)".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxdw %r1, [%r1+{}]\nldxw %r2, [%r1+{}]\n",
                task("mm"),
                off("mm_struct", "owner"),
                task("pid")
            )),
            None,
        ),
        case(
            "task->cgroups->dfl_cgrp->level".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxdw %r1, [%r1+{}]\nldxw %r2, [%r1+{}]\n",
                task("cgroups"),
                off("css_set", "dfl_cgrp"),
                off("cgroup", "level")
            )),
            None,
        ),
        case(
            "task->thread_pid->numbers[3].nr (past the struct, in its flexible array)".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxw %r2, [%r1+{}]\n",
                task("thread_pid"),
                off("pid", "numbers") + 3 * 16
            )),
            None,
        ),
        case(
            "rcu pointer null-checked, spilled and filled".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{parent}]\njeq %r1, 0, +3\nstxdw [%r10-8], %r1\n\
                 ldxdw %r3, [%r10-8]\nldxw %r2, [%r3+{}]\n",
                task("pid")
            )),
            None,
        ),
        case(
            "rcu pointer moved by a constant".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{parent}]\nadd %r1, 4\nldxw %r2, [%r1+{}]\n",
                task("pid") - 4
            )),
            None,
        ),
        case(
            "tcp_sock->pinet6->saddr".into(),
            tcp_program(&format!(
                "ldxdw %r1, [%r0+{}]\nldxw %r2, [%r1+0]\n",
                tcp("inet_conn.icsk_inet.pinet6")
            )),
            None,
        ),
    ];
    let mut map_case = case(
        "map->inner_map_meta->max_entries".into(),
        format!(
            "lddw %r1, map_fd 0\nldxdw %r1, [%r1+{}]\nldxw %r0, [%r1+{}]\nmov %r0, 1\nexit",
            off("bpf_map", "inner_map_meta"),
            off("bpf_map", "max_entries")
        ),
        None,
    );
    map_case.maps = array_map();
    cases.push(map_case);
    cases
}

/// Programs the kernel rejects (as root): its instruction and message.
fn rejected() -> Vec<RecordedCase> {
    let parent = task("real_parent");
    let pid = task("pid");
    vec![
        case(
            "store through an rcu pointer".into(),
            task_program(&format!("ldxdw %r1, [%r0+{parent}]\nstw [%r1+{pid}], 1\n")),
            Some((2, "only read is supported".into())),
        ),
        case(
            "an rcu pointer passed as a socket".into(),
            task_program(&format!("ldxdw %r1, [%r0+{parent}]\ncall 137\n")),
            Some((
                2,
                "R1 type=rcu_ptr_ expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"
                    .into(),
            )),
        ),
        case(
            "half of a walked pointer member".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{parent}]\nldxw %r2, [%r1+{parent}]\n"
            )),
            Some((
                2,
                format!(
                    "cannot access ptr member real_parent with moff {parent} in struct task_struct with off {parent} size 4"
                ),
            )),
        ),
        case(
            "negative offset through an rcu pointer".into(),
            task_program(&format!("ldxdw %r1, [%r0+{parent}]\nldxw %r2, [%r1-8]\n")),
            Some((
                2,
                "R1 is ptr_task_struct invalid negative access: off=-8".into(),
            )),
        ),
        case(
            "a walked task pointer passed as a socket".into(),
            task_program(&format!("ldxdw %r1, [%r0+{}]\ncall 137\n", task("parent"))),
            Some((
                2,
                "R1 type=untrusted_ptr_ expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"
                    .into(),
            )),
        ),
        case(
            "store through untrusted memory".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nstb [%r1+0], 1\n",
                task("stack")
            )),
            Some((2, "R1 cannot write into rdonly_untrusted_mem".into())),
        ),
        case(
            "scalar += untrusted memory makes a pointer".into(),
            task_program(&format!(
                "ldxdw %r1, [%r0+{}]\nmov %r7, 5\nadd %r7, %r1\nmov %r3, %r1\nadd %r3, %r7\n",
                task("stack")
            )),
            Some((5, "R3 pointer += pointer prohibited".into())),
        ),
        case(
            "a walked (untrusted) sock pointer passed to skc_to_tcp_sock".into(),
            tcp_program(&format!(
                "ldxdw %r1, [%r0+{}]\njeq %r1, 0, +3\nldxdw %r1, [%r1+{}]\ncall 137\n",
                tcp("inet_conn.icsk_accept_queue.rskq_accept_head"),
                off("request_sock", "sk"),
            )),
            Some((
                12,
                "R1 type=untrusted_ptr_ expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"
                    .into(),
            )),
        ),
        case(
            "one load through untrusted memory on one path and the stack on another".into(),
            format!(
                "mov %r6, %r1\ncall 158\nldxdw %r1, [%r0+{}]\nstdw [%r10-8], 0\nldxw %r2, [%r6+0]\n\
                 jeq %r2, 1, +2\nmov %r1, %r10\nadd %r1, -8\nldxb %r3, [%r1+0]\nmov %r0, 1\nexit",
                task("stack")
            ),
            Some((8, "same insn cannot be used with different pointers".into())),
        ),
        case(
            "32-bit arithmetic on an rcu pointer".into(),
            task_program(&format!("ldxdw %r1, [%r0+{parent}]\nadd32 %r1, 4\n")),
            Some((2, "R1 32-bit pointer arithmetic prohibited".into())),
        ),
    ]
}

/// Reads the kernel makes with faulting loads that this runtime's images cannot serve
/// (untrusted memory, a pointer out of a union, a read far along a trailing flexible array,
/// past the end of the image): the kernel accepts each, this verifier says `NotVerified` at
/// the instruction named.
fn not_judged() -> Vec<(RecordedCase, usize, &'static str)> {
    vec![
        (
            case(
                "task->thread_pid moved 40000 bytes along its flexible numbers[]".into(),
                task_program(&format!(
                    "ldxdw %r1, [%r0+{}]\nadd %r1, 40000\nldxw %r2, [%r1+0]\n",
                    task("thread_pid")
                )),
                None,
            ),
            3,
            "past the 32775 bytes",
        ),
        (
            case(
                "one load through untrusted memory on one path and the task on another".into(),
                format!(
                    "mov %r6, %r1\ncall 158\nldxdw %r1, [%r0+{}]\nldxw %r2, [%r6+0]\n\
                     jeq %r2, 1, +1\nmov %r1, %r0\nldxb %r3, [%r1+0]\nmov %r0, 1\nexit",
                    task("stack")
                ),
                None,
            ),
            6,
            "on one path and through other memory on another",
        ),
    ]
}

/// Reads the kernel makes with faulting loads through untrusted kernel memory: a pointer
/// to anything but a struct (`rdonly_untrusted_mem`) and a pointer read out of a union.
/// The kernel accepts each; so does this verifier, which makes the load at the instruction
/// named a faulting load (`Stats::faulting_loads`).
fn faulting() -> Vec<(RecordedCase, usize, &'static str)> {
    vec![
        (
            case(
                "task->stack[0] (untrusted memory)".into(),
                task_program(&format!(
                    "ldxdw %r1, [%r0+{}]\nldxb %r2, [%r1+100]\n",
                    task("stack")
                )),
                None,
            ),
            2,
            "rdonly_untrusted_mem",
        ),
        (
            case(
                "a pointer out of a union (untrusted)".into(),
                tcp_program(&format!(
                    "ldxdw %r1, [%r0+{}]\nldxdw %r2, [%r1+0]\n",
                    tcp("inet_conn.icsk_inet.sk.__sk_common.skc_bind_node.next")
                )),
                None,
            ),
            10,
            "untrusted_ptr_hlist_node",
        ),
    ]
}

fn options() -> VerifyOptions {
    VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    }
}

#[test]
fn followed_pointer_members_are_accepted_as_the_kernel_accepts_them() {
    assert_ours_match_recorded(&accepted(), false);
}

#[test]
fn misuse_of_walked_pointers_is_rejected_as_the_kernel_rejects_it() {
    assert_ours_match_recorded(&rejected(), false);
}

#[test]
fn faulting_loads_are_not_verified_never_accepted() {
    for (case, pc, word) in not_judged() {
        let insns = assemble(&case.text).unwrap();
        let err =
            verify_insns(&insns, &case.maps, &HelperTable::new(), &options()).expect_err(case.name);
        assert!(err.unsupported, "{}: {err:?}", case.name);
        assert_eq!(err.pc, pc, "{}: {}", case.name, err.message);
        assert!(err.message.contains(word), "{}: {}", case.name, err.message);
    }
}

#[test]
fn loads_through_untrusted_kernel_memory_become_faulting_loads() {
    for (case, pc, word) in faulting() {
        let insns = assemble(&case.text).unwrap();
        let stats = verify_insns(&insns, &case.maps, &HelperTable::new(), &options())
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        assert_eq!(stats.faulting_loads, vec![pc], "{}", case.name);
        // The reason is in the kernel's log: the register's type at that load.
        let logged = VerifyOptions {
            log_level: 2,
            ..options()
        };
        let log = verify_insns(&insns, &case.maps, &HelperTable::new(), &logged)
            .unwrap()
            .log;
        assert!(log.contains(word), "{}: {log}", case.name);
        // The verified program holds the kernel's BPF_PROBE_MEM form of that load only.
        let mut program = Program::from_insns("faulting", insns.clone());
        program.license = "GPL".into();
        let verified = sockops_verifier::verify(&program, &HelperTable::new(), &options()).unwrap();
        for (i, (before, after)) in insns.iter().zip(&verified.program().insns).enumerate() {
            if i == pc {
                assert_eq!(
                    after.opcode,
                    (before.opcode & !0xe0) | 0x20,
                    "{}",
                    case.name
                );
                assert!(matches!(
                    sockops_vm::decode_at(&verified.program().insns, i),
                    Ok(sockops_vm::Instruction::ProbeLoad { .. })
                ));
            } else {
                assert_eq!(before, after, "{}: insn {i}", case.name);
            }
        }
    }
}

/// What faulting loads give at run time, on every engine: the untrusted pointers of these
/// images are NULL (`task->stack`) or hold no blank (`skc_bind_node.next`, in a union), so
/// the loads read 0 instead of faulting.
#[test]
fn faulting_loads_read_zero_on_every_engine() {
    use sockops::cgroup::AttachFlags;
    use sockops::ctx::{SockOp, Socket};
    use sockops::runtime::{Engine, Runtime};
    for (case, _, _) in faulting() {
        // reply = 1000 + the value loaded (r2), or 1 where the program does not get there.
        let (body, tail) = case.text.rsplit_once("mov %r0, 1\nexit").unwrap();
        let text = format!("{body}add %r2, 1000\nstxw [%r6+4], %r2\nmov %r0, 1\nexit{tail}");
        let text = if text.starts_with("mov %r6, %r1") {
            text
        } else {
            format!("mov %r6, %r1\n{text}")
        };
        let insns = assemble(&text).unwrap();
        for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
            let mut rt = Runtime::new();
            let mut p = Program::from_insns("faulting", insns.clone());
            p.license = "GPL".into();
            let id = rt
                .load_raw_program(p, engine)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            rt.attach(id, "/", AttachFlags::None).unwrap();
            let mut s = Socket::new(
                "10.0.0.1:40000".parse().unwrap(),
                "10.1.2.3:443".parse().unwrap(),
            );
            let d = rt.call(SockOp::TcpConnectCb, &mut s).unwrap();
            assert_eq!(d.reply, 1000, "{} on {engine:?}", case.name);
        }
    }
}

/// A faulting load on a path the kernel rejects later is judged as the kernel judges it.
#[test]
fn a_rejected_program_is_rejected_even_after_a_faulting_load() {
    let text = task_program(&format!(
        "ldxdw %r1, [%r0+{}]\nldxb %r2, [%r1+0]\nldxdw %r3, [%r2+0]\n",
        task("stack")
    ));
    let err = verify_insns(
        &assemble(&text).unwrap(),
        &[],
        &HelperTable::new(),
        &options(),
    )
    .expect_err("dereferences a scalar");
    assert!(!err.unsupported, "{err:?}");
    assert_eq!(
        (err.pc, err.message.as_str()),
        (3, "R2 invalid mem access 'scalar'")
    );
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    if let Some(reason) = recorded_layout_differs_from_live_kernel(&[
        "task_struct",
        "tcp_sock",
        "bpf_map",
        "mm_struct",
        "css_set",
        "cgroup",
        "pid",
    ]) {
        println!("skipped: {reason}");
        return;
    }
    assert_recorded_match_live_kernel(&accepted(), false);
    assert_recorded_match_live_kernel(&rejected(), false);
    let kernel_accepted: Vec<RecordedCase> = not_judged()
        .into_iter()
        .chain(faulting())
        .map(|c| c.0)
        .collect();
    assert_recorded_match_live_kernel(&kernel_accepted, false);
}

/// What the followed pointers give on every engine: the current task's parent and group
/// leader are blank tasks (every scalar 0, their own pointers leading to blanks again), so
/// `real_parent->tgid`, `group_leader->real_parent->pid` and a map's
/// `inner_map_meta->max_entries` read 0, while the task itself still reads its own pid.
#[test]
fn followed_pointers_read_blank_structs_on_every_engine() {
    use sockops::cgroup::AttachFlags;
    use sockops::ctx::{CurrentTask, SockOp, Socket};
    use sockops::runtime::{Engine, Runtime};
    use sockops::vm::Program;

    // reply = task->pid + 1000 * (parent->tgid + leader->real_parent->pid + cpus[0] + 1)
    let text = format!(
        "mov %r6, %r1\ncall 158\nmov %r7, %r0\n\
         ldxdw %r1, [%r7+{parent}]\nldxw %r2, [%r1+{tgid}]\n\
         ldxdw %r1, [%r7+{leader}]\nldxdw %r1, [%r1+{parent}]\nldxw %r3, [%r1+{pid}]\nadd %r2, %r3\n\
         ldxdw %r1, [%r7+{cpus}]\nldxdw %r3, [%r1+0]\nadd %r2, %r3\n\
         add %r2, 1\nmul %r2, 1000\nldxw %r3, [%r7+{pid}]\nadd %r2, %r3\n\
         stxw [%r6+4], %r2\nmov %r0, 1\nexit",
        parent = task("real_parent"),
        leader = task("group_leader"),
        tgid = task("tgid"),
        pid = task("pid"),
        cpus = task("cpus_ptr"),
    );
    let insns = assemble(&text).unwrap();
    for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
        let mut rt = Runtime::new();
        let mut p = Program::from_insns("parents", insns.clone());
        p.license = "GPL".into();
        let id = rt.load_raw_program(p, engine).unwrap();
        rt.attach(id, "/", AttachFlags::None).unwrap();
        rt.set_current_task(CurrentTask {
            pid: 321,
            tgid: 300,
            ..CurrentTask::default()
        });
        let mut s = Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.1.2.3:443".parse().unwrap(),
        );
        let d = rt.call(SockOp::TcpConnectCb, &mut s).unwrap();
        assert_eq!(d.returns(), vec![1], "{engine:?}");
        assert_eq!(d.reply, 1000 + 321, "{engine:?}");
    }
}
