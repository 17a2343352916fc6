//! The `btf_tcp_sock` category: `bpf_skc_to_tcp_sock(skops->sk)` and accesses through the
//! kernel `struct tcp_sock` it returns, as `test_tcpbpf_kern`-style programs make them:
//! a load of every scalar member of the recorded layout (nested `sock_common`, `sock`,
//! `inet_sock`, `inet_connection_sock` members, bitfield bytes, array elements) at its own
//! size and at other sizes, random offsets across the whole struct and past its end,
//! sign-extending loads, stores and atomics, negative and variable offsets, pointer
//! arithmetic, missing null checks, and the pointer passed to helpers that take (or do not
//! take) a BTF socket. Full-width loads of pointer members are left out: the kernel follows
//! them with faulting loads, which this runtime does not have (it reports them unjudged).

use crate::asm::*;
use crate::{Out, Rng};
use sockops_ctx::vmlinux::{KElem, kstruct, kstruct_index};
use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

/// `offsetof(struct bpf_sock_ops, sk)`.
const SK_OFF: i16 = 184;
const SKC_TO_TCP_SOCK: i32 = 137;

/// A leaf of the flattened layout: absolute byte offset, byte size, and whether it is a
/// pointer.
#[derive(Clone, Copy)]
pub(crate) struct Leaf {
    pub(crate) off: u32,
    pub(crate) size: u32,
    pub(crate) ptr: bool,
}

/// Every member of struct `index` (and of the structs embedded in it, arrays of structs
/// expanded up to four elements) at absolute offsets from `base`.
pub(crate) fn leaves(index: u16, base: u32, out: &mut Vec<Leaf>) {
    let Some(s) = kstruct(index) else { return };
    for m in s.members {
        let off = base + m.bit_offset / 8;
        let n = m.nelems.unwrap_or(1);
        let elem = m.size.checked_div(n).unwrap_or(0);
        if m.bitfield_size != 0 {
            let end = (m.bit_offset + u32::from(m.bitfield_size)).div_ceil(8);
            out.push(Leaf {
                off,
                size: end - m.bit_offset / 8,
                ptr: false,
            });
            continue;
        }
        for k in 0..n.min(4) {
            let at = off + k * elem;
            match m.elem {
                KElem::Struct(i) => leaves(i, at, out),
                KElem::Ptr(_) => out.push(Leaf {
                    off: at,
                    size: 8,
                    ptr: true,
                }),
                KElem::Scalar => out.push(Leaf {
                    off: at,
                    size: elem,
                    ptr: false,
                }),
            }
        }
    }
}

/// Whether a load of `size` at `off` is a full-width read of a pointer member (left out).
pub(crate) fn pointer_load(all: &[Leaf], off: u32, size: u32) -> bool {
    size == 8 && all.iter().any(|l| l.ptr && l.off == off)
}

/// `r6 = ctx; r1 = ctx->sk; if r1 == 0 return 1; r0 = skc_to_tcp_sock(r1); if r0 == 0 return
/// 1; body; return 1` (either null check may be left out).
fn program(body: &[Insn], check_sk: bool, check_tp: bool) -> Vec<Insn> {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1)).i(ldx(8, R1, R6, SK_OFF));
    if check_sk {
        p.i(jmp_imm(BPF_JNE, R1, 0, 2)).ret(1);
    }
    p.i(call(SKC_TO_TCP_SOCK));
    if check_tp {
        p.i(jmp_imm(BPF_JNE, R0, 0, 2)).ret(1);
    }
    for i in body {
        p.i(*i);
    }
    p.ret(1);
    p.done()
}

fn sk_storage() -> MapDef {
    MapDef {
        map_type: MapType::SkStorage,
        key_size: 4,
        value_size: 8,
        max_entries: 0,
        map_flags: 1,
    }
}

/// Generates `btf_tcp_sock`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "btf_tcp_sock";
    let Some(tcp) = kstruct_index("tcp_sock") else {
        return;
    };
    let size = kstruct(tcp).map_or(0, |s| s.size);
    let mut all = Vec::new();
    leaves(tcp, 0, &mut all);
    let load = |off: u32, bytes: u32| ldx(bytes as u8, R2, R0, off as i16);

    // Every scalar leaf at its own size (when a load size), a sample at other sizes.
    for l in all.iter().filter(|l| !l.ptr) {
        if matches!(l.size, 1 | 2 | 4 | 8) {
            out.push(program(&[load(l.off, l.size)], true, true));
        }
        if rng.chance(1, 6) {
            let bytes = rng.pick(&[1u32, 2, 4, 8]);
            if !pointer_load(&all, l.off, bytes) {
                out.push(program(&[load(l.off, bytes)], true, true));
            }
        }
    }
    // Pointer members read in part (the kernel refuses: "cannot access ptr member").
    for l in all.iter().filter(|l| l.ptr).take(12) {
        let bytes = rng.pick(&[1u32, 2, 4]);
        out.push(program(
            &[load(l.off + rng.below(2) as u32 * 4, bytes)],
            true,
            true,
        ));
    }
    // Random offsets over the struct and a little past it, any size.
    for _ in 0..120 {
        let off = rng.below(u64::from(size) + 24) as u32;
        let bytes = rng.pick(&[1u32, 2, 4, 8]);
        if !pointer_load(&all, off, bytes) {
            out.push(program(&[load(off, bytes)], true, true));
        }
    }
    // Sign-extending loads.
    for _ in 0..12 {
        let l = all[rng.below(all.len() as u64) as usize];
        if !l.ptr && matches!(l.size, 1 | 2 | 4) {
            out.push(program(
                &[ldxs(l.size as u8, R2, R0, l.off as i16)],
                true,
                true,
            ));
        }
    }
    // Stores, atomics, negative and variable offsets, arithmetic, missing null checks.
    let cwnd = all
        .iter()
        .find(|l| l.size == 4 && l.off > 1400)
        .map_or(0, |l| l.off) as i16;
    out.push(program(&[st(4, R0, cwnd, 1)], true, true));
    out.push(program(&[stx(4, R0, R6, cwnd)], true, true));
    out.push(program(
        &[
            stx(8, R10, R0, -8),
            ldx(8, R3, R10, -8),
            ldx(4, R2, R3, cwnd),
        ],
        true,
        true,
    ));
    out.push(program(
        &[mov64_imm(R2, 1), atomic(4, R0, R2, cwnd, BPF_ADD as i32)],
        true,
        true,
    ));
    out.push(program(
        &[mov64_imm(R2, 1), atomic(8, R0, R2, 0, BPF_XCHG)],
        true,
        true,
    ));
    for off in [-1i16, -8, -2304] {
        out.push(program(&[ldx(4, R2, R0, off)], true, true));
    }
    for (mask, delta) in [(4, 0), (0, 8), (8, -8), (3, 16)] {
        let mut body = vec![];
        if mask != 0 {
            body.push(ldx(4, R2, R6, 4));
            body.push(alu64_imm(BPF_AND, R2, mask));
            body.push(alu64_reg(BPF_ADD, R0, R2));
        }
        body.push(alu64_imm(BPF_ADD, R0, delta));
        body.push(ldx(4, R2, R0, cwnd - delta as i16));
        out.push(program(&body, true, true));
    }
    out.push(program(&[alu64_imm(BPF_MUL, R0, 2)], true, true));
    out.push(program(&[alu32_imm(BPF_ADD, R0, 8)], true, true));
    out.push(program(&[load(0, 4)], true, false));
    out.push(program(&[alu64_imm(BPF_ADD, R0, 8)], true, false));
    out.push(program(&[], false, true));
    out.push(program(
        &[jmp_imm(BPF_JEQ, R0, 0, 1), load(cwnd as u32, 4)],
        true,
        true,
    ));
    // The pointer as a helper argument: skc_to_tcp_sock again (at offset 0, 8, 16),
    // bpf_tcp_sock, a memory argument, sk_storage_get.
    for delta in [0, 8, 16] {
        let body = [
            mov64_reg(R1, R0),
            alu64_imm(BPF_ADD, R1, delta),
            call(SKC_TO_TCP_SOCK),
        ];
        out.push(program(&body, true, true));
    }
    out.push(program(&[mov64_reg(R1, R0), call(96)], true, true));
    out.push(program(
        &[mov64_reg(R1, R0), mov64_imm(R2, 8), call(16)],
        true,
        true,
    ));
    out.push(program(
        &[mov64_reg(R2, R0), mov64_imm(R1, 0), call(5)],
        true,
        true,
    ));
    for flags in [0, 1] {
        let mut p = vec![mov64_reg(R2, R0)];
        p.extend(ld_map(R1, 0));
        p.extend([mov64_imm(R3, 0), mov64_imm(R4, flags), call(107)]);
        out.push_maps(program(&p, true, true), vec![sk_storage()]);
        let mut q = vec![mov64_reg(R2, R0), alu64_imm(BPF_ADD, R2, 8)];
        q.extend(ld_map(R1, 0));
        q.extend([mov64_imm(R3, 0), mov64_imm(R4, flags), call(107)]);
        out.push_maps(program(&q, true, true), vec![sk_storage()]);
    }
    // The loaded value used: bounds from the load size decide a branch.
    for bytes in [1u32, 2, 4] {
        let l = all
            .iter()
            .find(|l| !l.ptr && l.size == bytes && l.off > 1400)
            .copied()
            .unwrap_or(Leaf {
                off: 0,
                size: 4,
                ptr: false,
            });
        let limit = 1i32 << (8 * bytes.min(3));
        let body = [
            load(l.off, bytes),
            jmp_imm(BPF_JLT, R2, limit, 1),
            ldx(8, R2, R9, 0),
        ];
        out.push(program(&body, true, true));
    }
}
