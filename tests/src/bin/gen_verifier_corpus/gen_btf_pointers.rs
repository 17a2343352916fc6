//! The `btf_pointers` category: pointer members followed through BTF pointers. From the
//! current task (`bpf_get_current_task_btf`, trusted), the kernel `tcp_sock`
//! (`bpf_skc_to_tcp_sock`, after its null check) and a map pointer: every pointer member
//! the runtime follows (`vmlinux::blank::pointer_members`: recorded target, no union on the
//! way), loaded and read through at a sample of its target's scalar members, chained two
//! and three deep (`task->real_parent->group_leader->pid`), with and without null checks,
//! moved by constants, spilled and filled, compared; and their misuse: stores, atomics,
//! partial and misaligned loads of the member, negative, past-the-end and variable
//! offsets, 32-bit arithmetic, pointer + pointer, and the walked pointers passed to helpers
//! as sockets. Reads the kernel makes with faulting loads this runtime does not have
//! (through a pointer read out of a union, through a pointer to anything but a struct), and
//! reads into structs that were not recorded when the category was generated, are left
//! out: `verifier_btf_pointers` checks what those give.

use crate::asm::*;
use crate::{Out, Rng};
use sockops_ctx::vmlinux::blank::pointer_members;
use sockops_ctx::vmlinux::{KElem, kstruct, kstruct_index};
use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

const SK_OFF: i16 = 184;

/// The sources: how a program gets r7 (name for the struct, prologue).
#[derive(Clone, Copy)]
pub(crate) enum Source {
    Task,
    TcpSock,
    Map,
}

impl Source {
    /// The struct r7 points to.
    pub(crate) fn root(self) -> &'static str {
        match self {
            Source::Task => "task_struct",
            Source::TcpSock => "tcp_sock",
            Source::Map => "bpf_array",
        }
    }
}

/// `r6 = ctx; r7 = source; body; return 1`, with an 8-byte array map for `Source::Map`.
fn program(src: Source, body: &[Insn]) -> (Vec<Insn>, Vec<MapDef>) {
    program_with(
        src,
        body,
        MapDef {
            map_type: MapType::Array,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            map_flags: 0,
        },
    )
}

/// `r6 = ctx; r7 = source; body; return 1`; `map` is the map of `Source::Map`.
pub(crate) fn program_with(src: Source, body: &[Insn], map: MapDef) -> (Vec<Insn>, Vec<MapDef>) {
    let mut p = P::new();
    p.i(mov64_reg(R6, R1));
    let mut maps = Vec::new();
    match src {
        Source::Task => {
            p.i(call(158)).i(mov64_reg(R7, R0));
        }
        Source::TcpSock => {
            p.i(ldx(8, R1, R6, SK_OFF));
            p.i(jmp_imm(BPF_JNE, R1, 0, 2)).ret(1);
            p.i(call(137));
            p.i(jmp_imm(BPF_JNE, R0, 0, 2)).ret(1);
            p.i(mov64_reg(R7, R0));
        }
        Source::Map => {
            p.w(ld_map(R7, 0));
            maps.push(map);
        }
    }
    for i in body {
        p.i(*i);
    }
    p.ret(1);
    (p.done(), maps)
}

/// The scalar members of struct `index` a load may read whole: (offset, size), any depth,
/// unions left out.
fn scalars(index: u16) -> Vec<(u32, u8)> {
    fn walk(index: u16, base: u32, depth: u32, out: &mut Vec<(u32, u8)>) {
        let Some(s) = kstruct(index) else { return };
        if depth > 8 || (s.is_union && s.members.len() != 1) {
            return;
        }
        for m in s.members {
            if m.bitfield_size != 0 || m.nelems.is_some() {
                continue;
            }
            let at = base + m.bit_offset / 8;
            match m.elem {
                KElem::Struct(i) => walk(i, at, depth + 1, out),
                KElem::Scalar if [1, 2, 4, 8].contains(&m.size) => out.push((at, m.size as u8)),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(index, 0, 0, &mut out);
    out
}

/// The followed pointer members of `root` and the struct each leads to.
fn followed(root: u16) -> Vec<(u32, u16)> {
    pointer_members(root)
        .iter()
        .filter_map(|&(off, addr)| {
            // The blank's address names its struct.
            (0..u16::MAX)
                .take_while(|&i| kstruct(i).is_some())
                .find(|&i| sockops_ctx::vmlinux::blank::blank_addr(i) == Some(addr))
                .map(|i| (off, i))
        })
        .collect()
}

/// `n` picks from `v` (with repeats), or all of `v` if it is no longer.
pub(crate) fn sample<T: Copy>(rng: &mut Rng, v: &[T], n: usize) -> Vec<T> {
    if v.len() <= n {
        return v.to_vec();
    }
    (0..n)
        .map(|_| v[rng.below(v.len() as u64) as usize])
        .collect()
}

/// Adds the category's programs.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "btf_pointers";
    let mut push = |(insns, maps): (Vec<Insn>, Vec<MapDef>)| out.push_maps(insns, maps);
    for src in [Source::Task, Source::TcpSock, Source::Map] {
        let Some(root) = kstruct_index(src.root()) else {
            continue;
        };
        let members = followed(root);
        for &(off, target) in &members {
            let off = off as i16;
            let reads = scalars(target);
            // The member alone, then reads through it.
            push(program(src, &[ldx(8, R2, R7, off)]));
            for (roff, size) in sample(rng, &reads, 3) {
                push(program(
                    src,
                    &[ldx(8, R2, R7, off), ldx(size, R3, R2, roff as i16)],
                ));
            }
            // Null-checked, moved, spilled and filled, compared with another pointer.
            if let Some(&(roff, size)) = reads.first() {
                let roff = roff as i16;
                push(program(
                    src,
                    &[
                        ldx(8, R2, R7, off),
                        jmp_imm(BPF_JEQ, R2, 0, 1),
                        ldx(size, R3, R2, roff),
                    ],
                ));
                push(program(
                    src,
                    &[
                        ldx(8, R2, R7, off),
                        alu64_imm(BPF_ADD, R2, 8),
                        ldx(size, R3, R2, roff - 8),
                    ],
                ));
                push(program(
                    src,
                    &[
                        ldx(8, R2, R7, off),
                        stx(8, R10, R2, -8),
                        ldx(8, R4, R10, -8),
                        ldx(size, R3, R4, roff),
                    ],
                ));
                push(program(
                    src,
                    &[
                        ldx(8, R2, R7, off),
                        jmp_reg(BPF_JEQ, R2, R7, 1),
                        ldx(size, R3, R2, roff),
                    ],
                ));
            }
            // Misuse.
            for body in [
                vec![ldx(8, R2, R7, off), st(4, R2, 0, 1)],
                vec![ldx(8, R2, R7, off), mov64_imm(R3, 1), stx(8, R2, R3, 0)],
                vec![
                    ldx(8, R2, R7, off),
                    mov64_imm(R3, 1),
                    atomic(8, R2, R3, 0, BPF_ADD as i32),
                ],
                vec![ldx(4, R2, R7, off)],
                vec![ldx(8, R2, R7, off + 4)],
                vec![ldx(8, R2, R7, off), ldx(4, R3, R2, -4)],
                vec![ldx(8, R2, R7, off), alu32_imm(BPF_ADD, R2, 4)],
                vec![ldx(8, R2, R7, off), alu64_reg(BPF_ADD, R2, R7)],
                vec![ldx(8, R2, R7, off), mov64_reg(R1, R2), call(137)],
                vec![
                    ldx(8, R2, R7, off),
                    ldx(4, R3, R6, 0),
                    alu64_imm(BPF_AND, R3, 8),
                    alu64_reg(BPF_ADD, R2, R3),
                    ldx(1, R4, R2, 0),
                ],
            ] {
                push(program(src, &body));
            }
            let size = kstruct(target).map_or(0, |s| s.size);
            if size < i16::MAX as u32 - 8 {
                push(program(
                    src,
                    &[ldx(8, R2, R7, off), ldx(4, R3, R2, size as i16 - 2)],
                ));
            }
            // Two and three deep, through the target's own followed members.
            let next = followed(target);
            for &(off2, target2) in &sample(rng, &next, 2) {
                let reads2 = scalars(target2);
                if let Some(&(roff, size)) = sample(rng, &reads2, 1).first() {
                    push(program(
                        src,
                        &[
                            ldx(8, R2, R7, off),
                            ldx(8, R3, R2, off2 as i16),
                            ldx(size, R4, R3, roff as i16),
                        ],
                    ));
                }
                if let Some(&(off3, target3)) = sample(rng, &followed(target2), 1).first()
                    && let Some(&(roff, size)) = sample(rng, &scalars(target3), 1).first()
                {
                    push(program(
                        src,
                        &[
                            ldx(8, R2, R7, off),
                            ldx(8, R3, R2, off2 as i16),
                            ldx(8, R4, R3, off3 as i16),
                            ldx(size, R5, R4, roff as i16),
                        ],
                    ));
                }
            }
        }
    }
}
