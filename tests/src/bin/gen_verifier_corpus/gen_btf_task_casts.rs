//! The `btf_task_casts` category: the other kernel structs a sock_ops program reaches
//! through BTF pointers. `bpf_get_current_task_btf()` (a trusted `struct task_struct`
//! pointer, never NULL) and the socket casts besides `bpf_skc_to_tcp_sock`
//! (`bpf_skc_to_tcp6_sock`, `_tcp_timewait_sock`, `_tcp_request_sock`, `_udp6_sock`,
//! `_unix_sock`, `_mptcp_sock`, each returning its struct or NULL): loads of a sample of
//! every scalar member of each recorded layout at its own size and at others, random
//! offsets across each struct and past its end, stores, atomics, negative and variable
//! offsets, missing null checks, and the pointers passed to helpers as sockets. Full-width
//! loads of pointer members are left out, as in `btf_tcp_sock`: the kernel follows them
//! with faulting loads, which this runtime does not have.

use crate::asm::*;
use crate::gen_btf_sock::{leaves, pointer_load};
use crate::{Out, Rng};
use sockops_ctx::vmlinux::{kstruct, kstruct_index};
use sockops_vm::Insn;
use sockops_vm::opcode::*;

/// `offsetof(struct bpf_sock_ops, sk)`.
const SK_OFF: i16 = 184;
const GET_CURRENT_TASK_BTF: i32 = 158;

/// The casts: helper id and the struct it returns.
const CASTS: &[(i32, &str)] = &[
    (136, "tcp6_sock"),
    (138, "tcp_timewait_sock"),
    (139, "tcp_request_sock"),
    (140, "udp6_sock"),
    (178, "unix_sock"),
    (196, "mptcp_sock"),
];

/// `r6 = ctx; r0 = bpf_get_current_task_btf(); body; return 1`.
fn task_program(body: &[Insn]) -> Vec<Insn> {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1)).i(call(GET_CURRENT_TASK_BTF));
    for i in body {
        p.i(*i);
    }
    p.ret(1);
    p.done()
}

/// `r6 = ctx; r1 = ctx->sk; if r1 == 0 return 1; r0 = cast(r1); if r0 == 0 return 1; body;
/// return 1` (the result's null check may be left out).
fn cast_program(helper: i32, body: &[Insn], check: bool) -> Vec<Insn> {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1)).i(ldx(8, R1, R6, SK_OFF));
    p.i(jmp_imm(BPF_JNE, R1, 0, 2)).ret(1);
    p.i(call(helper));
    if check {
        p.i(jmp_imm(BPF_JNE, R0, 0, 2)).ret(1);
    }
    for i in body {
        p.i(*i);
    }
    p.ret(1);
    p.done()
}

/// Loads through r0 into struct `name`: a sample of the scalar leaves at their own size and
/// at another, pointer members in part, random offsets over the struct and a little past.
fn loads(rng: &mut Rng, name: &str, every: u64, randoms: usize) -> Vec<Insn> {
    let Some(index) = kstruct_index(name) else {
        return Vec::new();
    };
    let size = kstruct(index).map_or(0, |s| s.size);
    let mut all = Vec::new();
    leaves(index, 0, &mut all);
    let load = |off: u32, bytes: u32| ldx(bytes as u8, R2, R0, off as i16);
    let mut out = Vec::new();
    for l in all.iter().filter(|l| !l.ptr) {
        if matches!(l.size, 1 | 2 | 4 | 8) && rng.chance(1, every) {
            out.push(load(l.off, l.size));
        }
        if rng.chance(1, every * 4) {
            let bytes = rng.pick(&[1u32, 2, 4, 8]);
            if !pointer_load(&all, l.off, bytes) {
                out.push(load(l.off, bytes));
            }
        }
    }
    for l in all.iter().filter(|l| l.ptr).take(6) {
        let bytes = rng.pick(&[1u32, 2, 4]);
        out.push(load(l.off + rng.below(2) as u32 * 4, bytes));
    }
    for _ in 0..randoms {
        let off = rng.below(u64::from(size) + 24) as u32;
        let bytes = rng.pick(&[1u32, 2, 4, 8]);
        if !pointer_load(&all, off, bytes) {
            out.push(load(off, bytes));
        }
    }
    out
}

/// Misuse of the pointer in r0: stores, atomics, negative and variable offsets, arithmetic.
fn misuse() -> Vec<Vec<Insn>> {
    let mut out = vec![
        vec![st(4, R0, 8, 1)],
        vec![stx(4, R0, R6, 8)],
        vec![mov64_imm(R2, 1), atomic(4, R0, R2, 8, BPF_ADD as i32)],
        vec![mov64_imm(R2, 1), atomic(8, R0, R2, 0, BPF_XCHG)],
        vec![ldx(4, R2, R0, -4)],
        vec![alu64_imm(BPF_MUL, R0, 2)],
        vec![alu32_imm(BPF_ADD, R0, 8)],
        vec![stx(8, R10, R0, -8), ldx(8, R3, R10, -8), ldx(4, R2, R3, 8)],
    ];
    for (mask, delta) in [(4, 0), (0, 8), (8, -8)] {
        let mut body = vec![];
        if mask != 0 {
            body.push(ldx(4, R2, R6, 4));
            body.push(alu64_imm(BPF_AND, R2, mask));
            body.push(alu64_reg(BPF_ADD, R0, R2));
        }
        body.push(alu64_imm(BPF_ADD, R0, delta));
        body.push(ldx(4, R2, R0, 16 - delta as i16));
        out.push(body);
    }
    out
}

/// The pointer in r0 passed as a socket: to `bpf_skc_to_tcp_sock` (a BTF socket argument,
/// also at an offset), `bpf_tcp_sock` and `bpf_skc_to_mptcp_sock` (socket pointers only),
/// `bpf_get_socket_cookie` (the context).
fn as_socket() -> Vec<Vec<Insn>> {
    let mut out = Vec::new();
    for delta in [0, 8] {
        out.push(vec![
            mov64_reg(R1, R0),
            alu64_imm(BPF_ADD, R1, delta),
            call(137),
        ]);
    }
    for helper in [96, 196, 46] {
        out.push(vec![mov64_reg(R1, R0), call(helper)]);
    }
    out
}

/// Generates `btf_task_casts`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "btf_task_casts";
    for insn in loads(rng, "task_struct", 3, 120) {
        out.push(task_program(&[insn]));
    }
    for body in misuse().iter().chain(as_socket().iter()) {
        out.push(task_program(body));
    }
    // The loaded pid decides a branch (an unknown scalar of its width).
    if let Some(pid) = sockops_ctx::vmlinux::field("task_struct", "pid") {
        out.push(task_program(&[
            ldx(4, R2, R0, pid.offset as i16),
            jmp_imm(BPF_JLT, R2, 1 << 16, 1),
            ldx(8, R2, R9, 0),
        ]));
    }
    for &(helper, name) in CASTS {
        for insn in loads(rng, name, 2, 30) {
            out.push(cast_program(helper, &[insn], true));
        }
        for body in misuse().iter().chain(as_socket().iter()) {
            out.push(cast_program(helper, body, true));
        }
        // No null check on the result.
        out.push(cast_program(helper, &[ldx(4, R2, R0, 0)], false));
        // The context or a task as the socket.
        let mut p = P::new();
        p.i(call(helper));
        p.ret(1);
        out.push(p.done());
        out.push(task_program(&[mov64_reg(R1, R0), call(helper)]));
    }
}
