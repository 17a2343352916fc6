//! `bpf_skc_to_tcp_sock` (helper 137) and reads through the kernel `struct tcp_sock` it
//! returns: the argument (any socket pointer, or a BTF pointer that is a `sock_common` at
//! its offset; never NULL), the result (`ptr_or_null_` until null-checked), and each load
//! walked through the recorded vmlinux layout as `btf_struct_walk` walks it. Verdicts are
//! recorded from the live kernel and checked against it again where `bpf()` works; offsets
//! come from the recorded layout (`sockops_ctx::vmlinux`), so the cases follow it.

use sockops_ctx::vmlinux::{field, recorded::TCP_SOCK_SIZE};
use sockops_tests::kernel::Oracle;
use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel, leak,
    recorded_layout_differs_from_live_kernel,
};
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, MapDef, MapType, assemble};

const SKC: &str = "inet_conn.icsk_inet.sk.__sk_common.";

fn off(path: &str) -> u32 {
    field("tcp_sock", path)
        .unwrap_or_else(|| panic!("{path}"))
        .offset
}

/// r0 = bpf_skc_to_tcp_sock(ctx->sk), both null-checked, then `access` (r6 = ctx).
fn program(access: &str) -> String {
    sockops_tests::recorded::tcp_sock_program(access)
}

fn case(name: &'static str, text: String, kernel: Option<(usize, String)>) -> RecordedCase {
    RecordedCase {
        name,
        maps: Vec::new(),
        text,
        kernel: kernel.map(|(pc, m)| (pc, leak(m))),
    }
}

fn sk_storage() -> Vec<MapDef> {
    vec![MapDef {
        map_type: MapType::SkStorage,
        key_size: 4,
        value_size: 8,
        max_entries: 0,
        map_flags: 1,
    }]
}

/// Programs the kernel accepts (as root).
fn accepted() -> Vec<RecordedCase> {
    let cwnd = off("snd_cwnd");
    let family = off(&format!("{SKC}skc_family"));
    let save_syn = off("save_syn");
    let bytes_acked = off("bytes_acked");
    let proto = off("inet_conn.icsk_inet.sk.sk_protocol");
    vec![
        case(
            "snd_cwnd",
            program(&format!("ldxw %r2, [%r0+{cwnd}]\n")),
            None,
        ),
        case(
            "two bytes inside snd_cwnd",
            program(&format!("ldxh %r2, [%r0+{}]\n", cwnd + 2)),
            None,
        ),
        case(
            "skc_family through four levels of nesting",
            program(&format!("ldxh %r2, [%r0+{family}]\n")),
            None,
        ),
        case(
            "sk_protocol, sign-extended",
            program(&format!("ldxsh %r2, [%r0+{proto}]\n")),
            None,
        ),
        case(
            "the byte holding the save_syn bitfield",
            program(&format!("ldxb %r2, [%r0+{save_syn}]\n")),
            None,
        ),
        case(
            "a u64 after pointer arithmetic",
            program(&format!(
                "add %r0, 8\nldxdw %r2, [%r0+{}]\n",
                bytes_acked - 8
            )),
            None,
        ),
        case(
            "the result is a scalar bounded by the load size",
            program(&format!(
                "ldxb %r2, [%r0+{save_syn}]\njlt %r2, 256, +1\nldxdw %r0, [%r9+0]\n"
            )),
            None,
        ),
        case(
            "a tcp_sock is a sock_common again for skc_to_tcp_sock",
            program("mov %r1, %r0\ncall 137\n"),
            None,
        ),
        case("the runtime test's program", reading_program(), None),
        case(
            "a null check on an already checked pointer explores both branches",
            program("jeq %r0, 0, +1\nldxw %r2, [%r0+0]\n"),
            None,
        ),
    ]
}

/// Reads the socket through the image after `bpf_setsockopt(SOL_TCP,
/// TCP_BPF_SNDCWND_CLAMP = 1002, 33)`: if the image shows the new clamp, reply = snd_cwnd +
/// (skc_family << 8) + sk_protocol + (skc_dport << 16), else reply stays 0.
fn reading_program() -> String {
    let cwnd = off("snd_cwnd");
    let dport = off(&format!("{SKC}skc_dport"));
    let family = off(&format!("{SKC}skc_family"));
    let proto = off("inet_conn.icsk_inet.sk.sk_protocol");
    let clamp = off("snd_cwnd_clamp");
    program(&format!(
        "mov %r7, %r0\n\
         stw [%r10-4], 33\nmov %r1, %r6\nmov %r2, 6\nmov %r3, 1002\nmov %r4, %r10\nadd %r4, -4\nmov %r5, 4\ncall 49\n\
         ldxw %r2, [%r7+{clamp}]\njne %r2, 33, +10\n\
         ldxw %r2, [%r7+{cwnd}]\nldxh %r3, [%r7+{family}]\nlsh %r3, 8\nadd %r2, %r3\n\
         ldxh %r3, [%r7+{proto}]\nadd %r2, %r3\n\
         ldxh %r3, [%r7+{dport}]\nlsh %r3, 16\nadd %r2, %r3\nstxw [%r6+4], %r2\n"
    ))
}

/// Programs the kernel rejects (as root): its instruction and message.
fn rejected() -> Vec<RecordedCase> {
    let cwnd = off("snd_cwnd");
    let prot = off(&format!("{SKC}skc_prot"));
    let size = TCP_SOCK_SIZE;
    vec![
        case(
            "a load before the null check",
            "mov %r6, %r1\nldxdw %r1, [%r6+184]\njne %r1, 0, +2\nmov %r0, 1\nexit\ncall 137\nldxw %r2, [%r0+0]\nmov %r0, 1\nexit".into(),
            Some((6, "R0 invalid mem access 'ptr_or_null_'".into())),
        ),
        case(
            "pointer arithmetic before the null check",
            "mov %r6, %r1\nldxdw %r1, [%r6+184]\njne %r1, 0, +2\nmov %r0, 1\nexit\ncall 137\nadd %r0, 8\nmov %r0, 1\nexit".into(),
            Some((
                6,
                "R0 pointer arithmetic on ptr_or_null_ prohibited, null-check it first".into(),
            )),
        ),
        case(
            "ctx->sk unchecked",
            "ldxdw %r1, [%r1+184]\ncall 137\nmov %r0, 1\nexit".into(),
            Some((
                1,
                "R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_".into(),
            )),
        ),
        case(
            "a read past the end of snd_cwnd",
            program(&format!("ldxw %r2, [%r0+{}]\n", cwnd + 2)),
            Some((
                9,
                format!(
                    "access beyond the end of member snd_cwnd (mend:{}) in struct tcp_sock with off {} size 4",
                    cwnd + 4,
                    cwnd + 2
                ),
            )),
        ),
        case(
            "a store",
            program(&format!("stw [%r0+{cwnd}], 1\n")),
            Some((9, "only read is supported".into())),
        ),
        case(
            "a register store",
            program(&format!("stxw [%r0+{cwnd}], %r6\n")),
            Some((9, "only read is supported".into())),
        ),
        case(
            "an atomic add",
            program(&format!("mov %r2, 1\nlock add32 [%r0+{cwnd}], %r2\n")),
            Some((10, "only read is supported".into())),
        ),
        case(
            "a negative offset",
            program("ldxw %r2, [%r0-8]\n"),
            Some((9, "R0 is ptr_tcp_sock invalid negative access: off=-8".into())),
        ),
        case(
            "past the end of the struct",
            program(&format!("ldxw %r2, [%r0+{}]\n", size - 2)),
            Some((
                9,
                format!("access beyond struct tcp_sock at off {} size 4", size - 2),
            )),
        ),
        case(
            "a pointer member read in part",
            program(&format!("ldxw %r2, [%r0+{prot}]\n")),
            Some((
                9,
                format!(
                    "cannot access ptr member skc_prot with moff {prot} in struct sock_common with off {prot} size 4"
                ),
            )),
        ),
        case(
            "a variable offset",
            program("ldxw %r2, [%r6+0]\nand %r2, 4\nadd %r0, %r2\nldxw %r2, [%r0+0]\n"),
            Some((
                12,
                "R0 is ptr_tcp_sock invalid variable offset: off=0, var_off=(0x0; 0x4)".into(),
            )),
        ),
        case(
            "a BTF tcp_sock is no sock for bpf_tcp_sock",
            program("mov %r1, %r0\ncall 96\n"),
            Some((10, "R1 type=ptr_ expected=sock_common, sock, tcp_sock, xdp_sock".into())),
        ),
        case(
            "a BTF tcp_sock at an offset is no sock_common",
            program("mov %r1, %r0\nadd %r1, 8\ncall 137\n"),
            Some((11, "R1 is of type tcp_sock but sock_common is expected".into())),
        ),
        case(
            "a BTF pointer is no memory argument",
            program("mov %r1, %r0\nmov %r2, 8\ncall 16\n"),
            Some((
                11,
                "R1 type=ptr_ expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_".into(),
            )),
        ),
    ]
}

#[test]
fn skc_to_tcp_sock_programs_are_judged_as_the_kernel_judges_them() {
    assert_ours_match_recorded(&accepted(), false);
    assert_ours_match_recorded(&rejected(), false);
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    if let Some(reason) = recorded_layout_differs_from_live_kernel(&["tcp_sock"]) {
        println!("skipped: {reason}");
        return;
    }
    assert_recorded_match_live_kernel(&accepted(), false);
    assert_recorded_match_live_kernel(&rejected(), false);
}

/// The helper needs CAP_PERFMON: an unprivileged loader does not get it.
#[test]
fn unprivileged_loaders_cannot_call_it() {
    let cases = vec![case(
        "unprivileged",
        program("ldxw %r2, [%r0+0]\n"),
        Some((
            5,
            "program of this type cannot use helper bpf_skc_to_tcp_sock#137".into(),
        )),
    )];
    assert_ours_match_recorded(&cases, true);
    assert_recorded_match_live_kernel(&cases, true);
}

/// A pointer member read (`skc_prot`) is typed as the kernel types it
/// (`untrusted_ptr_proto`) and accepted, and so is a read through it (every struct a
/// program can reach is recorded). The live kernel accepts both.
#[test]
fn pointer_member_reads_and_reads_through_them_are_accepted() {
    let prot = off(&format!("{SKC}skc_prot"));
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let read = assemble(&program(&format!("ldxdw %r2, [%r0+{prot}]\n"))).unwrap();
    let through = assemble(&program(&format!(
        "ldxdw %r2, [%r0+{prot}]\nldxdw %r3, [%r2+0]\n"
    )))
    .unwrap();
    for insns in [&read, &through] {
        let verdict = verify_insns(insns, &[], &HelperTable::new(), &options);
        assert!(verdict.is_ok(), "{verdict:?}");
    }
    if let Some(reason) = recorded_layout_differs_from_live_kernel(&["tcp_sock"]) {
        println!("skipped (live kernel): {reason}");
        return;
    }
    match Oracle::new() {
        Ok(mut oracle) => {
            for insns in [&read, &through] {
                let verdict = oracle.load(insns, &[], 1);
                assert!(verdict.accepted, "{}", verdict.message);
            }
        }
        Err(e) => println!("skipped (live kernel): the kernel cannot be asked: {e}"),
    }
}

/// bpf_sk_storage_get takes the BTF tcp_sock as its socket.
#[test]
fn sk_storage_takes_the_btf_socket() {
    let text = program("mov %r2, %r0\nlddw %r1, map_fd 0\nmov %r3, 0\nmov %r4, 1\ncall 107\n");
    let cases = vec![RecordedCase {
        name: "sk_storage_get(map, tp)",
        maps: sk_storage(),
        text,
        kernel: None,
    }];
    assert_ours_match_recorded(&cases, false);
    if recorded_layout_differs_from_live_kernel(&["tcp_sock"]).is_none() {
        assert_recorded_match_live_kernel(&cases, false);
    }
}

/// The image the helper returns carries the socket's values at the kernel's offsets, on
/// every engine, and follows the socket as helpers change it (`bpf_setsockopt`).
#[test]
fn programs_read_the_socket_through_the_kernel_tcp_sock_on_every_engine() {
    use sockops::cgroup::AttachFlags;
    use sockops::ctx::{SockOp, Socket};
    use sockops::runtime::{Engine, Runtime};
    use sockops::vm::Program;

    let text = reading_program();
    for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
        let mut rt = Runtime::new();
        let mut p = Program::from_insns("tp", assemble(&text).unwrap());
        p.license = "GPL".into();
        let id = rt.load_raw_program(p, engine).unwrap();
        rt.attach(id, "/", AttachFlags::None).unwrap();
        let mut s = Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.1.2.3:443".parse().unwrap(),
        );
        s.tcp.snd_cwnd = 17;
        let d = rt.call(SockOp::ActiveEstablishedCb, &mut s).unwrap();
        assert_eq!(d.returns(), vec![1], "{engine:?}");
        let dport = u32::from(u16::from_ne_bytes(443u16.to_be_bytes()));
        assert_eq!(d.reply, 17 + (2 << 8) + 6 + (dport << 16), "{engine:?}");
    }
}
