//! The `sk_storage` category: `bpf_sk_storage_get` / `bpf_sk_storage_delete` on
//! `BPF_MAP_TYPE_SK_STORAGE` maps, as real sock_ops programs use them: the socket from
//! `skops->sk` (null-checked or not) or `bpf_tcp_sock`, with and without
//! `BPF_SK_STORAGE_GET_F_CREATE`, a NULL or stack init value (too short, uninitialised, ok),
//! wrong map types and wrong argument types, the result used with and without a null check,
//! value accesses within and past `value_size`, pointers stored into the value.
//!
//! sk_storage maps need BTF for their key and value; [`create_sk_storage_map`] loads a minimal
//! BTF blob (`int` key, `char[value_size]` value) so the kernel oracle can create them.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::asm::*;
use crate::{Out, Rng, map};
use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

const GET: i32 = 107;
const DELETE: i32 = 108;
const TCP_SOCK: i32 = 96;
/// `BPF_SK_STORAGE_GET_F_CREATE`.
const F_CREATE: i32 = 1;
/// `offsetof(struct bpf_sock_ops, sk)`.
const SK_OFF: i16 = 184;
/// `BPF_F_NO_PREALLOC`, required for sk_storage maps.
const NO_PREALLOC: u32 = 1;

/// An sk_storage map with a value of `value` bytes.
pub fn storage(value: u32) -> MapDef {
    MapDef {
        map_type: MapType::SkStorage,
        key_size: 4,
        value_size: value,
        max_entries: 0,
        map_flags: NO_PREALLOC,
    }
}

/// `r6 = skops->sk; if r6 == 0 goto out` (the jump offset is patched by the caller through
/// `skip`: the number of instructions to jump over).
fn load_sk(p: &mut P, checked: Option<i16>) {
    p.i(ldx(8, R6, R1, SK_OFF));
    if let Some(skip) = checked {
        p.i(jmp_imm(BPF_JEQ, R6, 0, skip));
    }
}

/// `r0 = bpf_sk_storage_get(map[idx], r6, value, flags)`; value 0 is NULL, otherwise a stack
/// pointer `fp + value`.
fn get(p: &mut P, idx: i32, value: i16, flags: i32) {
    p.w(ld_map(R1, idx)).i(mov64_reg(R2, R6));
    if value == 0 {
        p.i(mov64_imm(R3, 0));
    } else {
        p.i(mov64_reg(R3, R10))
            .i(alu64_imm(BPF_ADD, R3, value as i32));
    }
    p.i(mov64_imm(R4, flags)).i(call(GET));
}

/// r6 = sk; if null out; r0 = get(...); if r0 == 0 out; body; out: return 1.
fn guarded(value: u32, init: i16, flags: i32, body: &[Insn]) -> (Vec<Insn>, Vec<MapDef>) {
    let get_len = if init == 0 { 6 } else { 7 };
    let mut p = P::new();
    load_sk(&mut p, Some(get_len + 1 + body.len() as i16));
    get(&mut p, 0, init, flags);
    p.i(jmp_imm(BPF_JEQ, R0, 0, body.len() as i16));
    for i in body {
        p.i(*i);
    }
    p.ret(1);
    (p.done(), vec![storage(value)])
}

/// Generates `sk_storage`.
pub fn generate(rng: &mut Rng, out: &mut Out) {
    out.category = "sk_storage";
    // Value accesses within and past value_size, with and without F_CREATE.
    for value in [1u32, 4, 8, 16, 24] {
        for flags in [0, F_CREATE] {
            for (w, off) in [
                (1u8, 0i16),
                (8, 0),
                (4, value as i16 - 4),
                (1, value as i16),
            ] {
                let (insns, maps) = guarded(value, 0, flags, &[st(w, R0, off, 7)]);
                out.push_maps(insns, maps);
            }
        }
        let (insns, maps) = guarded(value, 0, 0, &[ldx(4, R2, R0, value as i16 - 4)]);
        out.push_maps(insns, maps);
    }
    let (insns, maps) = guarded(8, 0, 0, &[st(8, R0, -8, 1)]);
    out.push_maps(insns, maps);
    // Pointers stored into the value (a leak in strict mode), scalars, atomics.
    for body in [
        vec![stx(8, R0, R10, 0)],
        vec![stx(8, R0, R6, 0)],
        vec![stx(8, R0, R0, 8)],
        vec![mov64_imm(R2, 3), stx(8, R0, R2, 8)],
        vec![mov64_imm(R2, 1), atomic(8, R0, R2, 0, BPF_ADD as i32)],
        vec![
            ldx(8, R2, R0, 0),
            alu64_imm(BPF_ADD, R2, 1),
            stx(8, R0, R2, 0),
        ],
    ] {
        let (insns, maps) = guarded(16, 0, F_CREATE, &body);
        out.push_maps(insns, maps);
    }
    // An init value on the stack: initialised, too short, uninitialised, partly initialised.
    for value in [8u32, 16] {
        for (init_bytes, at) in [
            (value as i16, -(value as i16)),
            (8, -(value as i16)),
            (0, -16),
        ] {
            let mut p = P::new();
            for k in (0..init_bytes).step_by(8) {
                p.i(st(8, R10, at + k, 0));
            }
            let pre = p.done();
            let (body, maps) = guarded(value, at, F_CREATE, &[st(4, R0, 0, 1)]);
            let mut insns = pre;
            insns.extend(body);
            out.push_maps(insns, maps);
        }
    }
    // Init value near the top of the stack: fewer than value_size bytes remain.
    let (mut insns, maps) = guarded(16, -8, F_CREATE, &[]);
    insns.insert(0, st(8, R10, -8, 0));
    out.push_maps(insns, maps);
    // Init value from a map value (another sk_storage value), and a scalar init value.
    {
        let mut p = P::new();
        load_sk(&mut p, Some(15));
        get(&mut p, 0, 0, 0);
        p.i(jmp_imm(BPF_JEQ, R0, 0, 8))
            .w(ld_map(R1, 1))
            .i(mov64_reg(R2, R6))
            .i(mov64_reg(R3, R0))
            .i(mov64_imm(R4, F_CREATE))
            .i(call(GET))
            .i(mov64_imm(R0, 1))
            .i(mov64_imm(R0, 1));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(16), storage(8)]);
        // The init value is the first get's result, not null-checked.
        let mut p = P::new();
        load_sk(&mut p, Some(14));
        get(&mut p, 0, 0, 0);
        p.w(ld_map(R1, 1))
            .i(mov64_reg(R2, R6))
            .i(mov64_reg(R3, R0))
            .i(mov64_imm(R4, F_CREATE))
            .i(call(GET))
            .i(mov64_imm(R0, 1))
            .i(mov64_imm(R0, 1));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(16), storage(8)]);
        let mut p = P::new();
        load_sk(&mut p, Some(6));
        p.w(ld_map(R1, 0))
            .i(mov64_reg(R2, R6))
            .i(mov64_imm(R3, 8))
            .i(mov64_imm(R4, F_CREATE))
            .i(call(GET));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // The socket: skops->sk unchecked, ctx itself, a scalar, NULL, a modified pointer,
    // bpf_tcp_sock's result (checked and not).
    for variant in 0..7 {
        let mut p = P::new();
        match variant {
            0 => {
                load_sk(&mut p, None);
            }
            1 => {
                p.i(mov64_reg(R6, R1));
            }
            2 => {
                p.i(mov64_imm(R6, 0));
            }
            3 => {
                p.i(ldx(4, R6, R1, 0));
            }
            4 => {
                load_sk(&mut p, Some(7));
                p.i(alu64_imm(BPF_ADD, R6, 8));
            }
            5 => {
                load_sk(&mut p, Some(10));
                p.i(mov64_reg(R1, R6))
                    .i(call(TCP_SOCK))
                    .i(mov64_reg(R6, R0))
                    .i(jmp_imm(BPF_JEQ, R6, 0, 6));
            }
            _ => {
                load_sk(&mut p, Some(9));
                p.i(mov64_reg(R1, R6))
                    .i(call(TCP_SOCK))
                    .i(mov64_reg(R6, R0));
            }
        }
        get(&mut p, 0, 0, F_CREATE);
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // Missing null check on the result; the result compared, then used on the wrong branch.
    {
        let mut p = P::new();
        load_sk(&mut p, Some(7));
        get(&mut p, 0, 0, 0);
        p.i(st(8, R0, 0, 1));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
        let mut p = P::new();
        load_sk(&mut p, Some(8));
        get(&mut p, 0, 0, 0);
        p.i(jmp_imm(BPF_JNE, R0, 0, 1)).i(st(8, R0, 0, 1));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
        // Returning the maybe-null pointer.
        let mut p = P::new();
        load_sk(&mut p, Some(7));
        get(&mut p, 0, 0, 0);
        p.i(exit());
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // Wrong map types for get and delete.
    for (t, k, v, m) in [
        (MapType::Hash, 4, 8, 4),
        (MapType::Array, 4, 8, 4),
        (MapType::Ringbuf, 0, 0, 4096),
        (MapType::Sockhash, 4, 8, 4),
    ] {
        let (insns, _) = guarded(8, 0, F_CREATE, &[st(8, R0, 0, 1)]);
        out.push_maps(insns, vec![map(t, k, v, m)]);
        let mut p = P::new();
        load_sk(&mut p, Some(4));
        p.w(ld_map(R1, 0)).i(mov64_reg(R2, R6)).i(call(DELETE));
        p.ret(1);
        out.push_maps(p.done(), vec![map(t, k, v, m)]);
    }
    // An sk_storage map given to other helpers.
    {
        let mut p = P::new();
        p.i(st(4, R10, -4, 0))
            .w(ld_map(R1, 0))
            .i(mov64_reg(R2, R10))
            .i(alu64_imm(BPF_ADD, R2, -4))
            .i(call(1));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // Delete: ok, unchecked sk, scalar sk, ctx as sk, a scalar as the map, after a get.
    for variant in 0..6 {
        let mut p = P::new();
        match variant {
            0 => {
                load_sk(&mut p, Some(4));
                p.w(ld_map(R1, 0)).i(mov64_reg(R2, R6)).i(call(DELETE));
            }
            1 => {
                load_sk(&mut p, None);
                p.w(ld_map(R1, 0)).i(mov64_reg(R2, R6)).i(call(DELETE));
            }
            2 => {
                p.w(ld_map(R1, 0)).i(mov64_imm(R2, 0)).i(call(DELETE));
            }
            3 => {
                p.i(mov64_reg(R2, R1)).w(ld_map(R1, 0)).i(call(DELETE));
            }
            4 => {
                load_sk(&mut p, Some(3));
                p.i(mov64_imm(R1, 0)).i(mov64_reg(R2, R6)).i(call(DELETE));
            }
            _ => {
                load_sk(&mut p, Some(11));
                get(&mut p, 0, 0, F_CREATE);
                p.i(jmp_imm(BPF_JEQ, R0, 0, 4))
                    .w(ld_map(R1, 0))
                    .i(mov64_reg(R2, R6))
                    .i(call(DELETE));
            }
        }
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // Delete's result returned: a scalar that is not within [0, 1].
    {
        let mut p = P::new();
        load_sk(&mut p, Some(5));
        p.w(ld_map(R1, 0))
            .i(mov64_reg(R2, R6))
            .i(call(DELETE))
            .i(exit());
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // The value written after the storage is deleted (the kernel keeps it valid until the
    // program ends), the result spilled and filled before its null check, flags from the
    // context and a pointer as flags, two storages in one program.
    {
        let mut p = P::new();
        load_sk(&mut p, Some(13));
        get(&mut p, 0, 0, F_CREATE);
        p.i(mov64_reg(R7, R0))
            .i(jmp_imm(BPF_JEQ, R7, 0, 5))
            .w(ld_map(R1, 0))
            .i(mov64_reg(R2, R6))
            .i(call(DELETE))
            .i(st(8, R7, 0, 9));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
        let mut p = P::new();
        load_sk(&mut p, Some(10));
        get(&mut p, 0, 0, F_CREATE);
        p.i(stx(8, R10, R0, -8))
            .i(ldx(8, R2, R10, -8))
            .i(jmp_imm(BPF_JEQ, R2, 0, 1))
            .i(st(4, R2, 4, 1));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8)]);
        for flags_src in [0u8, 1] {
            let mut p = P::new();
            p.i(ldx(4, R7, R1, 0));
            load_sk(&mut p, Some(7));
            p.w(ld_map(R1, 0))
                .i(mov64_reg(R2, R6))
                .i(mov64_imm(R3, 0))
                .i(if flags_src == 0 {
                    mov64_reg(R4, R7)
                } else {
                    mov64_reg(R4, R10)
                })
                .i(call(GET))
                .i(mov64_imm(R0, 1));
            p.ret(1);
            out.push_maps(p.done(), vec![storage(8)]);
        }
        let mut p = P::new();
        load_sk(&mut p, Some(17));
        get(&mut p, 0, 0, F_CREATE);
        p.i(mov64_reg(R7, R0));
        get(&mut p, 1, 0, F_CREATE);
        p.i(jmp_imm(BPF_JEQ, R0, 0, 3))
            .i(jmp_imm(BPF_JEQ, R7, 0, 2))
            .i(ldx(8, R2, R7, 0))
            .i(stx(8, R0, R2, 8));
        p.ret(1);
        out.push_maps(p.done(), vec![storage(8), storage(16)]);
    }
    // In a subprogram: the caller passes skops->sk, the callee calls get and returns 0/1.
    for checked in [true, false] {
        let mut p = P::new();
        p.i(ldx(8, R1, R1, SK_OFF));
        if checked {
            p.i(jmp_imm(BPF_JEQ, R1, 0, 1));
        }
        p.i(call_local(2)).i(mov64_imm(R0, 1)).i(exit());
        // Callee: r6 = r1; get; r0 = (r0 != 0).
        p.i(mov64_reg(R6, R1));
        get(&mut p, 0, 0, F_CREATE);
        p.i(jmp_imm(BPF_JEQ, R0, 0, 2))
            .i(mov64_imm(R0, 1))
            .i(exit())
            .i(mov64_imm(R0, 0))
            .i(exit());
        out.push_maps(p.done(), vec![storage(8)]);
    }
    // Random value sizes and offsets, a variable offset bounded by a mask.
    for _ in 0..8 {
        let value = 1 + rng.below(64) as u32;
        let mask = [3i32, 7, 15, 31][rng.below(4) as usize];
        let body = [
            ldx(4, R2, R1, 0),
            alu64_imm(BPF_AND, R2, mask),
            alu64_reg(BPF_ADD, R0, R2),
            st(1, R0, 0, 1),
        ];
        // r1 is dead after the call; reload the ctx from r7.
        let mut insns = vec![mov64_reg(R7, R1)];
        let (mut g, maps) = guarded(value, 0, F_CREATE, &body);
        // ldx from ctx uses r1: point it at r7 instead.
        for i in g.iter_mut() {
            if i.opcode == ldx(4, R2, R1, 0).opcode && i.dst == R2 && i.src == R1 {
                i.src = R7;
            }
        }
        insns.append(&mut g);
        out.push_maps(insns, maps);
    }
}

/// `BPF_BTF_LOAD`.
const BPF_BTF_LOAD: libc::c_long = 18;
/// `BPF_MAP_CREATE`.
const BPF_MAP_CREATE: libc::c_long = 0;

fn sys_bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> std::io::Result<OwnedFd> {
    // SAFETY: `attr` is a live, zero-padded 128-byte `union bpf_attr`; pointers inside it
    // point to buffers the caller keeps alive across the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 128usize) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// A BTF blob: type 1 `int` (4 bytes), type 2 `char` (1 byte), type 3 `char[n]`.
fn btf_blob(n: u32) -> Vec<u8> {
    let strings = b"\0int\0char\0";
    let types: [u32; 14] = [
        1,
        1 << 24,
        4,
        (1 << 24) | 32,
        5,
        1 << 24,
        1,
        8,
        0,
        3 << 24,
        0,
        2,
        1,
        n,
    ];
    let type_len = (types.len() * 4) as u32;
    let mut b = Vec::new();
    for w in [0xeb9f_u16.to_le_bytes(), [1, 0]] {
        b.extend_from_slice(&w);
    }
    for w in [24u32, 0, type_len, type_len, strings.len() as u32] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    for t in types {
        b.extend_from_slice(&t.to_le_bytes());
    }
    b.extend_from_slice(strings);
    b
}

/// Creates an sk_storage map in the kernel, with the BTF it requires.
pub fn create_sk_storage_map(d: &MapDef) -> std::io::Result<OwnedFd> {
    let blob = btf_blob(d.value_size);
    let mut attr = [0u64; 16];
    attr[0] = blob.as_ptr() as u64;
    // btf_size (u32 at byte 16).
    attr[2] = blob.len() as u64;
    let btf = sys_bpf(BPF_BTF_LOAD, &mut attr)?;
    let mut attr = [0u64; 16];
    attr[0] = u64::from(d.map_type.kernel_id()) | (u64::from(d.key_size) << 32);
    attr[1] = u64::from(d.value_size) | (u64::from(d.max_entries) << 32);
    attr[2] = u64::from(d.map_flags);
    // btf_fd at byte 48, btf_key_type_id at 52, btf_value_type_id at 56.
    use std::os::fd::AsRawFd;
    attr[6] = btf.as_raw_fd() as u32 as u64 | (1u64 << 32);
    attr[7] = 3;
    sys_bpf(BPF_MAP_CREATE, &mut attr)
}
