//! The other `bpf_skc_to_*` casts besides `bpf_skc_to_tcp_sock` (which
//! `verifier_skc_to_tcp_sock.rs` covers): `bpf_skc_to_tcp6_sock` (136),
//! `_tcp_timewait_sock` (138), `_tcp_request_sock` (139), `_udp6_sock` (140),
//! `_unix_sock` (178) and `_mptcp_sock` (196). Each takes a socket (196 only a socket
//! pointer, the others a BTF pointer too, if it is a `sock_common` at its offset) and returns
//! a `ptr_or_null_` to its struct, whose reads are walked through the recorded vmlinux layout
//! as the kernel walks them. Verdicts recorded from the live kernel and checked against it
//! again where `bpf()` works; offsets come from the recorded layout. What the casts give at
//! run time (the tcp6_sock image for an IPv6 socket, NULL for the others) is the last test.

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
    load_mnemonic as load, owned_case as case, recorded_layout_differs_from_live_kernel,
};
use sockops_vm::assemble;
use sockops_vm::vmlinux::{KElem, field, kstruct, kstruct_index};

/// Each cast: helper id, kernel name, the struct it returns.
const CASTS: &[(u32, &str, &str)] = &[
    (136, "bpf_skc_to_tcp6_sock", "tcp6_sock"),
    (138, "bpf_skc_to_tcp_timewait_sock", "tcp_timewait_sock"),
    (139, "bpf_skc_to_tcp_request_sock", "tcp_request_sock"),
    (140, "bpf_skc_to_udp6_sock", "udp6_sock"),
    (178, "bpf_skc_to_unix_sock", "unix_sock"),
    (196, "bpf_skc_to_mptcp_sock", "mptcp_sock"),
];

fn off(name: &str, path: &str) -> u32 {
    field(name, path)
        .unwrap_or_else(|| panic!("{name}.{path} is not recorded"))
        .offset
}

fn size_of(name: &str) -> u32 {
    kstruct(kstruct_index(name).expect("recorded"))
        .expect("recorded")
        .size
}

/// r6 = ctx; r1 = ctx->sk, null-checked; r0 = helper(r1), null-checked; then `access`
/// (from instruction 9).
fn program(helper: u32, access: &str) -> String {
    format!(
        "mov %r6, %r1\nldxdw %r1, [%r6+184]\njne %r1, 0, +2\nmov %r0, 1\nexit\n\
         call {helper}\njne %r0, 0, +2\nmov %r0, 1\nexit\n{access}mov %r0, 1\nexit"
    )
}

/// Reads the kernel accepts: every scalar member of each struct, and of the struct its first
/// member embeds, that one load covers.
fn accepted_reads() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for &(helper, _, name) in CASTS {
        let s = kstruct(kstruct_index(name).expect("recorded")).expect("recorded");
        let mut members: Vec<(String, u32, u32)> = Vec::new();
        for m in s.members {
            match m.elem {
                KElem::Scalar
                    if m.nelems.is_none()
                        && m.bitfield_size == 0
                        && [1, 2, 4, 8].contains(&m.size) =>
                {
                    members.push((m.name.to_string(), m.bit_offset / 8, m.size));
                }
                KElem::Struct(inner) if m.nelems.is_none() && !m.name.is_empty() => {
                    let inner = kstruct(inner).expect("recorded");
                    for im in inner.members.iter().filter(|im| {
                        im.elem == KElem::Scalar
                            && im.nelems.is_none()
                            && im.bitfield_size == 0
                            && [1, 2, 4, 8].contains(&im.size)
                    }) {
                        members.push((
                            format!("{}.{}", m.name, im.name),
                            (m.bit_offset + im.bit_offset) / 8,
                            im.size,
                        ));
                    }
                }
                _ => {}
            }
        }
        assert!(!members.is_empty(), "{name} has scalar members");
        for (what, o, size) in members {
            cases.push(case(
                format!("{name}: read {what}"),
                program(helper, &format!("{} %r2, [%r0+{o}]\n", load(size))),
                None,
            ));
        }
    }
    // tcp6_sock begins with the tcp_sock, and the cast result is itself a socket.
    let cwnd = off("tcp6_sock", "tcp.snd_cwnd");
    cases.push(case(
        "tcp6_sock: read tcp.snd_cwnd".into(),
        program(136, &format!("ldxw %r2, [%r0+{cwnd}]\n")),
        None,
    ));
    cases.push(case(
        "tcp6_sock: the result cast again with bpf_skc_to_tcp_sock".into(),
        program(136, "mov %r1, %r0\ncall 137\n"),
        None,
    ));
    cases.push(case(
        "tcp_sock: the result cast with bpf_skc_to_tcp_timewait_sock".into(),
        program(137, "mov %r1, %r0\ncall 138\n"),
        None,
    ));
    cases
}

/// Programs the kernel rejects (as root): its instruction and message.
fn rejected() -> Vec<RecordedCase> {
    let mut cases = Vec::new();
    for &(helper, _, name) in CASTS {
        let end = size_of(name);
        cases.push(case(
            format!("{name}: past the struct"),
            program(helper, &format!("ldxw %r2, [%r0+{end}]\n")),
            Some((
                9,
                format!("access beyond struct {name} at off {end} size 4"),
            )),
        ));
        cases.push(case(
            format!("{name}: negative offset"),
            program(helper, "ldxw %r2, [%r0-4]\n"),
            Some((
                9,
                format!("R0 is ptr_{name} invalid negative access: off=-4"),
            )),
        ));
        cases.push(case(
            format!("{name}: store"),
            program(helper, "stw [%r0+0], 1\n"),
            Some((9, "only read is supported".into())),
        ));
        cases.push(case(
            format!("{name}: read before the null check"),
            format!(
                "mov %r6, %r1\nldxdw %r1, [%r6+184]\njne %r1, 0, +2\nmov %r0, 1\nexit\n\
                 call {helper}\nldxw %r2, [%r0+0]\nmov %r0, 1\nexit"
            ),
            Some((6, "R0 invalid mem access 'ptr_or_null_'".into())),
        ));
        cases.push(case(
            format!("{name}: the context as the socket"),
            format!("call {helper}\nmov %r0, 1\nexit"),
            Some((
                0,
                if helper == 196 {
                    "R1 type=ctx expected=sock_common, sock, tcp_sock, xdp_sock".into()
                } else {
                    "R1 type=ctx expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"
                        .into()
                },
            )),
        ));
        cases.push(case(
            format!("{name}: the current task as the socket"),
            format!("call 158\nmov %r1, %r0\ncall {helper}\nmov %r0, 1\nexit"),
            Some((
                2,
                if helper == 196 {
                    "R1 type=trusted_ptr_ expected=sock_common, sock, tcp_sock, xdp_sock".into()
                } else {
                    "R1 is of type task_struct but sock_common is expected".into()
                },
            )),
        ));
    }
    // bpf_skc_to_mptcp_sock takes no BTF pointer.
    cases.push(case(
        "mptcp_sock: a BTF socket as the socket".into(),
        program(137, "mov %r1, %r0\ncall 196\n"),
        Some((
            10,
            "R1 type=ptr_ expected=sock_common, sock, tcp_sock, xdp_sock".into(),
        )),
    ));
    // Pointer members: half of one.
    let addr = off("unix_sock", "addr");
    cases.push(case(
        "unix_sock: half of a pointer member".into(),
        program(178, &format!("ldxw %r2, [%r0+{addr}]\n")),
        Some((
            9,
            format!(
                "cannot access ptr member addr with moff {addr} in struct unix_sock with off {addr} size 4"
            ),
        )),
    ));
    cases
}

#[test]
fn cast_results_are_read_as_the_kernel_reads_them() {
    let cases = accepted_reads();
    assert!(cases.len() > 50, "{} cases", cases.len());
    assert_ours_match_recorded(&cases, false);
}

#[test]
fn cast_misuse_is_rejected_as_the_kernel_rejects_it() {
    assert_ours_match_recorded(&rejected(), false);
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    let names: Vec<&str> = CASTS.iter().map(|&(_, _, n)| n).collect();
    if let Some(reason) = recorded_layout_differs_from_live_kernel(&names) {
        println!("skipped: {reason}");
        return;
    }
    assert_recorded_match_live_kernel(&accepted_reads(), false);
    assert_recorded_match_live_kernel(&rejected(), false);
}

/// The casts need CAP_PERFMON: an unprivileged loader does not get them.
#[test]
fn unprivileged_loaders_cannot_call_them() {
    let cases: Vec<RecordedCase> = CASTS
        .iter()
        .map(|&(helper, hname, name)| {
            case(
                format!("{name}: unprivileged"),
                program(helper, "ldxw %r2, [%r0+0]\n"),
                Some((
                    5,
                    format!("program of this type cannot use helper {hname}#{helper}"),
                )),
            )
        })
        .collect();
    assert_ours_match_recorded(&cases, true);
    assert_recorded_match_live_kernel(&cases, true);
}

/// At run time, on every engine: `bpf_skc_to_tcp6_sock` gives an IPv6 socket's image (the
/// same address `bpf_skc_to_tcp_sock` gives, with `inet6.saddr` filled) and NULL for an IPv4
/// socket; the other casts give NULL. reply = 1 per cast that returned a pointer, + 16 if the
/// two tcp casts agree, + 32 if the first word of `inet6.saddr` is 0x20010db8 (network
/// order).
#[test]
fn casts_give_the_socket_image_or_null_on_every_engine() {
    use sockops::cgroup::AttachFlags;
    use sockops::ctx::{SockOp, Socket};
    use sockops::runtime::{Engine, Runtime};
    use sockops::vm::Program;

    let saddr = off("tcp6_sock", "inet6.saddr");
    let mut text = String::from(
        "mov %r6, %r1\nmov %r9, 0\nldxdw %r7, [%r6+184]\njne %r7, 0, +2\nmov %r0, 1\nexit\n",
    );
    for &(helper, _, _) in CASTS {
        text.push_str(&format!(
            "mov %r1, %r7\ncall {helper}\njeq %r0, 0, +1\nadd %r9, 1\n"
        ));
    }
    text.push_str(&format!(
        "mov %r1, %r7\ncall 136\njeq %r0, 0, +9\nmov %r8, %r0\n\
         mov %r1, %r7\ncall 137\njne %r0, %r8, +1\nadd %r9, 16\n\
         ldxw %r2, [%r8+{saddr}]\nbe32 %r2\njne %r2, 0x20010db8, +1\nadd %r9, 32\n\
         stxw [%r6+4], %r9\nmov %r0, 1\nexit"
    ));
    let insns = assemble(&text).unwrap();
    for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
        for (local, remote, want) in [
            ("[2001:db8::1]:40000", "[2001:db8::2]:443", 1 + 16 + 32),
            ("10.0.0.1:40000", "10.1.2.3:443", 0),
        ] {
            let mut rt = Runtime::new();
            let mut p = Program::from_insns("casts", insns.clone());
            p.license = "GPL".into();
            let id = rt.load_raw_program(p, engine).unwrap();
            rt.attach(id, "/", AttachFlags::None).unwrap();
            let mut s = Socket::new(local.parse().unwrap(), remote.parse().unwrap());
            let d = rt.call(SockOp::ActiveEstablishedCb, &mut s).unwrap();
            assert_eq!(d.returns(), vec![1], "{engine:?} {local}");
            assert_eq!(d.reply, want, "{engine:?} {local}");
        }
    }
}
