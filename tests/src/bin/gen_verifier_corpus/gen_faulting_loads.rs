//! The `faulting_loads` category: loads the kernel runs as faulting loads (`BPF_PROBE_MEM`)
//! and this runtime as `Instruction::ProbeLoad`. From the current task, the kernel
//! `tcp_sock` and a map pointer: every pointer member to anything but a struct (read as
//! `rdonly_untrusted_mem`: `task->stack`, `char *` and function pointers) and every pointer
//! member inside a union of more than one member (an `untrusted_ptr_` read out of a union),
//! read through at several sizes and offsets, zero- and sign-extending, moved by constants
//! and by unknown scalars, spilled and filled, null-checked, chained; and their misuse:
//! stores and atomics through them, 32-bit arithmetic, one load reading them on one path
//! and the stack or a map value on another. Programs this verifier leaves unjudged although
//! the kernel accepts them (a faulting load mixed with a trusted pointer, a trusted member
//! read out of a union) are left out: `verifier_btf_pointers` covers those.

use crate::asm::*;
use crate::gen_btf_pointers::{Source, program_with, sample};
use crate::{Out, Rng};
use sockops_ctx::vmlinux::{KElem, kstruct, kstruct_index};
use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::opcode::*;
use sockops_vm::{HelperTable, Insn, MapDef, MapType};

fn array_map() -> MapDef {
    MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 16,
        max_entries: 4,
        map_flags: 0,
    }
}

/// `r6 = ctx; r7 = source; body; return 1`.
fn program(src: Source, body: &[Insn]) -> (Vec<Insn>, Vec<MapDef>) {
    program_with(src, body, array_map())
}

/// A pointer member of a root struct: its offset, the struct it points to (`""` for
/// anything else) and whether a union of more than one member is on the way.
#[derive(Clone, Copy)]
struct Member {
    off: u32,
    target: &'static str,
    in_union: bool,
}

/// Every pointer member of struct `index` (first element of arrays), any depth.
fn pointer_members(index: u16) -> Vec<Member> {
    fn walk(index: u16, base: u32, in_union: bool, depth: u32, out: &mut Vec<Member>) {
        let Some(s) = kstruct(index) else { return };
        if depth > 8 {
            return;
        }
        let in_union = in_union || (s.is_union && s.members.len() != 1);
        for m in s.members {
            if m.bitfield_size != 0 || m.nelems == Some(0) {
                continue;
            }
            let at = base + m.bit_offset / 8;
            match m.elem {
                KElem::Struct(i) => walk(i, at, in_union, depth + 1, out),
                KElem::Ptr(target) if at.is_multiple_of(8) => out.push(Member {
                    off: at,
                    target,
                    in_union,
                }),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(index, 0, false, 0, &mut out);
    out
}

/// The scalar members of struct `target` a load may read whole, outside unions.
fn scalars(target: &str) -> Vec<(u32, u8)> {
    let Some(index) = kstruct_index(target) else {
        return Vec::new();
    };
    let Some(s) = kstruct(index) else {
        return Vec::new();
    };
    s.members
        .iter()
        .filter(|m| m.bitfield_size == 0 && m.nelems.is_none() && m.elem == KElem::Scalar)
        .filter(|m| [1, 2, 4, 8].contains(&m.size))
        .map(|m| (m.bit_offset / 8, m.size as u8))
        .collect()
}

/// Whether this verifier leaves the program unjudged (`NotVerified`).
fn unjudged(insns: &[Insn], maps: &[MapDef]) -> bool {
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(insns, maps, &HelperTable::new(), &options).is_err_and(|e| e.unsupported)
}

/// Loads through an untrusted pointer in r2 (read from the member), each in its own
/// program: sizes, offsets, sign extension, moves, spills, null checks.
fn reads_through(rng: &mut Rng, offsets: &[i16]) -> Vec<Vec<Insn>> {
    let mut bodies = Vec::new();
    for &o in offsets {
        for size in [1u8, 2, 4, 8] {
            bodies.push(vec![ldx(size, R3, R2, o)]);
        }
        for size in [1u8, 2, 4] {
            bodies.push(vec![ldxs(size, R3, R2, o)]);
        }
    }
    let o = rng.pick(offsets);
    bodies.extend([
        vec![alu64_imm(BPF_ADD, R2, 24), ldx(8, R3, R2, o)],
        vec![alu64_imm(BPF_SUB, R2, 4), ldx(4, R3, R2, o)],
        vec![
            ldx(4, R3, R6, 0),
            alu64_reg(BPF_ADD, R2, R3),
            ldx(1, R4, R2, o),
        ],
        vec![
            ldx(4, R3, R6, 0),
            alu64_reg(BPF_ADD, R3, R2),
            ldx(2, R4, R3, o),
        ],
        vec![stx(8, R10, R2, -8), ldx(8, R4, R10, -8), ldx(4, R3, R4, o)],
        vec![jmp_imm(BPF_JEQ, R2, 0, 1), ldx(8, R3, R2, o)],
        vec![ldx(8, R3, R2, o), ldx(8, R4, R3, 0)],
        vec![
            ldx(8, R3, R2, o),
            alu64_imm(BPF_ADD, R3, 1),
            mov64_reg(R0, R3),
        ],
        // Misuse.
        vec![st(4, R2, o, 1)],
        vec![mov64_imm(R3, 1), stx(8, R2, R3, o)],
        vec![mov64_imm(R3, 1), atomic(8, R2, R3, 0, BPF_ADD as i32)],
        vec![alu32_imm(BPF_ADD, R2, 4), ldx(1, R3, R2, 0)],
        vec![alu64_reg(BPF_ADD, R2, R7), ldx(1, R3, R2, 0)],
        vec![mov64_reg(R1, R2), call(137)],
        // One load: untrusted memory on one path, the stack on the other.
        vec![
            st(8, R10, -8, 0),
            ldx(4, R3, R6, 0),
            jmp_imm(BPF_JEQ, R3, 1, 2),
            mov64_reg(R2, R10),
            alu64_imm(BPF_ADD, R2, -8),
            ldx(1, R4, R2, 0),
        ],
    ]);
    bodies
}

/// Adds the category's programs.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "faulting_loads";
    for src in [Source::Task, Source::TcpSock, Source::Map] {
        let Some(root) = kstruct_index(src.root()) else {
            continue;
        };
        let members = pointer_members(root);
        let untrusted_mem: Vec<Member> = members
            .iter()
            .copied()
            .filter(|m| m.target.is_empty())
            .collect();
        let in_union: Vec<Member> = members
            .iter()
            .copied()
            .filter(|m| !m.target.is_empty() && m.in_union)
            .collect();
        let mut chosen = sample(rng, &untrusted_mem, 6);
        chosen.extend(sample(rng, &in_union, 6));
        for m in chosen {
            let load = ldx(8, R2, R7, m.off as i16);
            let mut offsets = vec![0i16, 7, -8];
            offsets.extend(
                sample(rng, &scalars(m.target), 3)
                    .into_iter()
                    .map(|(o, _)| o as i16),
            );
            for body in reads_through(rng, &offsets) {
                let mut b = vec![load];
                b.extend(body);
                let (insns, maps) = program(src, &b);
                if !unjudged(&insns, &maps) {
                    out.push_maps(insns, maps);
                }
            }
            // One load: untrusted memory on one path, a map value on the other.
            // (The map is the program's only one: the source's own, or one added.)
            let mut b = vec![load, st(4, R10, -4, 0), mov64_reg(R8, R2)];
            b.extend(ld_map(R1, 0));
            b.extend([
                mov64_reg(R2, R10),
                alu64_imm(BPF_ADD, R2, -4),
                call(1),
                jmp_imm(BPF_JEQ, R0, 0, 4),
                ldx(4, R3, R6, 0),
                jmp_imm(BPF_JEQ, R3, 1, 1),
                mov64_reg(R8, R0),
                ldx(1, R4, R8, 0),
            ]);
            let (insns, mut maps) = program(src, &b);
            if maps.is_empty() {
                maps.push(array_map());
            }
            if !unjudged(&insns, &maps) {
                out.push_maps(insns, maps);
            }
        }
    }
}
