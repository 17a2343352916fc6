//! The kernel-style verifier log (`VerifyOptions::log_level` > 0): instructions in the
//! kernel's disassembly syntax (`print_bpf_insn` in kernel/bpf/disasm.c, e.g.
//! `3: (15) if r2 == 0x0 goto pc+2`), register and stack states in the kernel's notation
//! (`print_verifier_state`, e.g. `R1=ctx() R2=scalar(smin=0,smax=umax=0xffffffff,...)
//! fp-8=mmmmmmmm`), and the final `processed N insns ...` line. Built only when asked for, so
//! the default path pays nothing.

use std::fmt::Write as _;

use sockops_vm::Insn;
use sockops_vm::opcode::*;

use crate::reg::{RegState, RegType};
use crate::stack::{ByteType, Slot};
use crate::state::Frame;

/// `bpf_alu_string`, indexed by `op >> 4`.
const ALU_OPS: [&str; 14] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian",
];

/// `bpf_jmp_string`, indexed by `op >> 4`.
const JMP_OPS: [&str; 14] = [
    "jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=",
];

fn size_str(opcode: u8) -> &'static str {
    match size(opcode) {
        BPF_B => "u8",
        BPF_H => "u16",
        BPF_W => "u32",
        _ => "u64",
    }
}

fn size_bits(opcode: u8) -> u32 {
    match size(opcode) {
        BPF_B => 8,
        BPF_H => 16,
        BPF_W => 32,
        _ => 64,
    }
}

/// `r10 -8` / `r1 +0`: the kernel's `(r%d %+d)` operand.
fn mem(reg: u8, off: i16) -> String {
    format!("r{reg} {off:+}")
}

/// The kernel's disassembly of the instruction at `pc` (`(op) text`, no index, no newline).
/// `helper_name` names helper calls (`bpf_map_lookup_elem`).
pub(crate) fn disasm(insns: &[Insn], pc: usize, helper_name: impl Fn(i32) -> String) -> String {
    let Some(&i) = insns.get(pc) else {
        return String::from("(invalid)");
    };
    let code = i.opcode;
    let text = match class(code) {
        BPF_ALU | BPF_ALU64 => {
            let r = if class(code) == BPF_ALU64 { 'r' } else { 'w' };
            let o = op(code);
            let x = source(code) == BPF_X;
            if o == BPF_END {
                if class(code) == BPF_ALU64 {
                    format!("r{} = bswap{} r{}", i.dst, i.imm, i.dst)
                } else {
                    let e = if x { "be" } else { "le" };
                    format!("r{} = {e}{} r{}", i.dst, i.imm, i.dst)
                }
            } else if o == BPF_NEG {
                format!("{r}{} = -{r}{}", i.dst, i.dst)
            } else if o == BPF_MOV && x && i.off != 0 {
                format!("{r}{} = (s{}){r}{}", i.dst, i.off, i.src)
            } else {
                let mut s = ALU_OPS[(o >> 4) as usize % ALU_OPS.len()].to_string();
                if i.off == 1 && (o == BPF_DIV || o == BPF_MOD) {
                    s.insert(0, 's');
                }
                if x {
                    format!("{r}{} {s} {r}{}", i.dst, i.src)
                } else {
                    format!("{r}{} {s} {}", i.dst, i.imm)
                }
            }
        }
        BPF_STX if mode(code) == BPF_ATOMIC && i.imm == BPF_LOAD_ACQ => format!(
            "r{} = load_acquire(({} *)({}))",
            i.dst,
            size_str(code),
            mem(i.src, i.off)
        ),
        BPF_STX if mode(code) == BPF_ATOMIC && i.imm == BPF_STORE_REL => format!(
            "store_release(({} *)({}), r{})",
            size_str(code),
            mem(i.dst, i.off),
            i.src
        ),
        BPF_STX if mode(code) == BPF_ATOMIC => {
            let sz = size_str(code);
            let w = if size(code) == BPF_DW { "64" } else { "" };
            let fetch = i.imm & BPF_FETCH != 0;
            let opn = match i.imm & !BPF_FETCH {
                x if x == BPF_ADD as i32 => "add",
                x if x == BPF_AND as i32 => "and",
                x if x == BPF_OR as i32 => "or",
                x if x == BPF_XOR as i32 => "xor",
                _ => "",
            };
            if i.imm == BPF_CMPXCHG {
                format!(
                    "r0 = atomic{w}_cmpxchg(({sz} *)({}), r0, r{})",
                    mem(i.dst, i.off),
                    i.src
                )
            } else if i.imm == BPF_XCHG {
                format!(
                    "r{} = atomic{w}_xchg(({sz} *)({}), r{})",
                    i.src,
                    mem(i.dst, i.off),
                    i.src
                )
            } else if fetch {
                format!(
                    "r{} = atomic{w}_fetch_{opn}(({sz} *)({}), r{})",
                    i.src,
                    mem(i.dst, i.off),
                    i.src
                )
            } else {
                let sym = ALU_OPS[((i.imm as u8) >> 4) as usize % ALU_OPS.len()];
                format!("lock *({sz} *)({}) {sym} r{}", mem(i.dst, i.off), i.src)
            }
        }
        BPF_STX => format!(
            "*({} *)({}) = r{}",
            size_str(code),
            mem(i.dst, i.off),
            i.src
        ),
        BPF_ST => format!("*({} *)({}) = {}", size_str(code), mem(i.dst, i.off), i.imm),
        BPF_LDX if mode(code) == BPF_MEMSX => format!(
            "r{} = *(s{} *)({})",
            i.dst,
            size_bits(code),
            mem(i.src, i.off)
        ),
        BPF_LDX => format!(
            "r{} = *({} *)({})",
            i.dst,
            size_str(code),
            mem(i.src, i.off)
        ),
        BPF_LD if mode(code) == BPF_IMM => {
            let hi = insns.get(pc + 1).map_or(0, |n| n.imm as u32 as u64);
            let imm = (hi << 32) | u64::from(i.imm as u32);
            match i.src {
                1 => format!("r{} = map[{}]", i.dst, i.imm),
                2 => format!("r{} = map[{}] value + {}", i.dst, i.imm, hi),
                _ => format!("r{} = 0x{imm:x}", i.dst),
            }
        }
        BPF_LD => format!("r0 = *({} *)skb[{}]", size_str(code), i.imm),
        _ => {
            // BPF_JMP / BPF_JMP32.
            let r = if class(code) == BPF_JMP { 'r' } else { 'w' };
            match op(code) {
                BPF_CALL if i.src == 1 => format!("call pc{:+}", i.imm),
                BPF_CALL => format!("call {}#{}", helper_name(i.imm), i.imm),
                BPF_EXIT => "exit".to_string(),
                BPF_JA if class(code) == BPF_JMP32 => format!("gotol pc{:+}", i.imm),
                BPF_JA => format!("goto pc{:+}", i.off),
                o => {
                    let s = JMP_OPS[(o >> 4) as usize % JMP_OPS.len()];
                    if source(code) == BPF_X {
                        format!("if {r}{} {s} {r}{} goto pc{:+}", i.dst, i.src, i.off)
                    } else {
                        format!(
                            "if {r}{} {s} 0x{:x} goto pc{:+}",
                            i.dst, i.imm as u32, i.off
                        )
                    }
                }
            }
        }
    };
    format!("({code:02x}) {text}")
}

/// `verbose_snum`: numbers in the s16 range in decimal, others in hex.
fn snum(v: i64) -> String {
    if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
        v.to_string()
    } else {
        format!("{:#x}", v as u64)
    }
}

/// `verbose_unum`: numbers up to `U16_MAX` in decimal, others in hex.
fn unum(v: u64) -> String {
    if v <= u64::from(u16::MAX) {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// `print_scalar_ranges`: the bounds that say something, equal values merged
/// (`smax=umax=0xffffffff`).
fn scalar_ranges(r: &RegState, out: &mut Vec<String>) {
    let v = &r.var;
    let s32 = |x: i32| {
        if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&i64::from(x)) {
            i64::from(x) as u64
        } else {
            u64::from(x as u32)
        }
    };
    let mut m: [(&str, u64, bool); 8] = [
        ("smin", v.smin as u64, v.smin == i64::MIN),
        ("smax", v.smax as u64, v.smax == i64::MAX),
        ("umin", v.umin, v.umin == 0),
        ("umax", v.umax, v.umax == u64::MAX),
        ("smin32", s32(v.s32_min), v.s32_min == i32::MIN),
        ("smax32", s32(v.s32_max), v.s32_max == i32::MAX),
        ("umin32", u64::from(v.u32_min), v.u32_min == 0),
        ("umax32", u64::from(v.u32_max), v.u32_max == u32::MAX),
    ];
    for a in 0..m.len() {
        if m[a].2 {
            continue;
        }
        let (name, val, _) = m[a];
        let neg = |n: &str, x: u64| n.starts_with('s') && (x as i64) < 0;
        let mut s = format!("{name}=");
        let mut b = a + 2;
        while b < m.len() {
            if !m[b].2 && m[b].1 == val && neg(m[b].0, m[b].1) == neg(name, val) {
                m[b].2 = true;
                let _ = write!(s, "{}=", m[b].0);
            }
            b += 2;
        }
        if name.starts_with('s') {
            s.push_str(&snum(val as i64));
        } else {
            s.push_str(&unum(val));
        }
        out.push(s);
    }
}

/// `print_reg_state`: one register (or spilled register) in the kernel's notation.
pub(crate) fn reg(r: &RegState, frameno: u8) -> String {
    if r.typ == RegType::Scalar && r.var.is_const() {
        return snum(r.var.value() as i64);
    }
    let mut s = r.typ.name().to_string();
    if r.typ.is_btf() {
        // `ptr_tcp_sock`, `untrusted_ptr_hlist_node`: the struct's name follows the type.
        s.push_str(crate::btf_walk::type_name(r.map));
    }
    if r.typ == RegType::Stack {
        if r.frameno != frameno {
            let _ = write!(s, "[{}]", r.frameno);
        }
        if r.var.is_const() {
            s.push_str(&snum((r.var.value() as i64).wrapping_add(i64::from(r.off))));
            return s;
        }
    }
    let mut parts = Vec::new();
    if r.id != 0 {
        parts.push(format!("id={}", r.id));
    }
    if r.ref_obj_id != 0 {
        parts.push(format!("ref_obj_id={}", r.ref_obj_id));
    }
    if r.typ != RegType::Scalar && r.off != 0 {
        parts.push(format!("off={}", r.off));
    }
    if matches!(r.typ, RegType::Pkt) {
        // The kernel prints the range with `verbose_unum`: AT_PKT_END / BEYOND_PKT_END
        // show as 0xffffffffffffffff / 0xfffffffffffffffe.
        parts.push(format!("r={}", unum(r.range as i64 as u64)));
    }
    if matches!(
        r.typ,
        RegType::Mem | RegType::MemOrNull | RegType::DynptrMem | RegType::DynptrMemOrNull
    ) {
        parts.push(format!("sz={}", r.map));
    }
    if r.var.is_const() {
        if r.var.value() != 0 {
            parts.push(format!("imm={:x}", r.var.value()));
        }
    } else {
        scalar_ranges(r, &mut parts);
        let t = r.var.var_off;
        if t.mask != u64::MAX {
            parts.push(format!("var_off={t}"));
        }
    }
    let _ = write!(s, "({})", parts.join(","));
    s
}

fn slot_char(b: ByteType) -> char {
    match b {
        ByteType::Invalid => '?',
        ByteType::Spill => 'r',
        ByteType::Misc => 'm',
        ByteType::Zero => '0',
        ByteType::Dynptr => 'd',
    }
}

/// One stack slot (`fp-8=mmmmmmmm` or `fp-8=<spilled register>`), or `None` when unwritten.
fn slot(k: usize, s: &Slot, frameno: u8) -> Option<String> {
    if s.bytes.iter().all(|b| *b == ByteType::Invalid) {
        return None;
    }
    let off = -8 * (k as i64 + 1);
    if s.bytes[7] == ByteType::Spill {
        return Some(format!("fp{off}={}", reg(&s.spilled, frameno)));
    }
    Some(format!(
        "fp{off}={}",
        s.bytes.iter().map(|b| slot_char(*b)).collect::<String>()
    ))
}

/// `print_verifier_state` for one frame: ` R1=ctx() R10=fp0 fp-8=mmmmmmmm`. With `only`,
/// just the listed registers (bit r) and stack slots (bit k).
pub(crate) fn frame(f: &Frame, frameno: u8, only: Option<(u16, u64)>) -> String {
    let mut out = String::new();
    for (i, r) in f.regs.iter().enumerate() {
        if r.typ == RegType::NotInit || only.is_some_and(|(regs, _)| regs & (1 << i) == 0) {
            continue;
        }
        let _ = write!(out, " R{i}={}", reg(r, frameno));
    }
    for (k, s) in f.stack.slots.iter().enumerate() {
        if only.is_some_and(|(_, slots)| k >= 64 || slots & (1 << k) == 0) {
            continue;
        }
        if let Some(text) = slot(k, s, frameno) {
            out.push(' ');
            out.push_str(&text);
        }
    }
    out
}

/// Registers (bit r) and stack slots (bit k) that differ between two frames.
pub(crate) fn changed(before: &Frame, after: &Frame) -> (u16, u64) {
    let mut regs = 0u16;
    for i in 0..11 {
        if before.regs[i] != after.regs[i] {
            regs |= 1 << i;
        }
    }
    let mut slots = 0u64;
    for k in 0..after.stack.slots.len().min(64) {
        if before.stack.slots.get(k) != after.stack.slots.get(k) {
            slots |= 1 << k;
        }
    }
    (regs, slots)
}

/// Registers an instruction reads or writes (the kernel's "scratched" registers).
pub(crate) fn touched(i: &Insn) -> u16 {
    let bit = |r: u8| if r < 11 { 1u16 << r } else { 0 };
    match class(i.opcode) {
        BPF_ALU | BPF_ALU64 => {
            bit(i.dst)
                | if source(i.opcode) == BPF_X {
                    bit(i.src)
                } else {
                    0
                }
        }
        BPF_LDX => bit(i.dst) | bit(i.src),
        BPF_STX => bit(i.dst) | bit(i.src),
        BPF_ST => bit(i.dst),
        BPF_LD => bit(i.dst),
        _ => match op(i.opcode) {
            BPF_CALL => 0b11_1111,
            BPF_EXIT | BPF_JA => 0,
            _ => {
                bit(i.dst)
                    | if source(i.opcode) == BPF_X {
                        bit(i.src)
                    } else {
                        0
                    }
            }
        },
    }
}

/// Pads an instruction line to the kernel's column for the state that follows it (`; R..`).
pub(crate) fn pad(line: &mut String) {
    let width = if line.len() < 38 {
        38
    } else {
        (line.len() + 2).div_ceil(40) * 40 - 2
    };
    while line.len() < width {
        line.push(' ');
    }
    line.push(';');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Scalar;

    fn d(bytes: &str) -> String {
        let b: Vec<u8> = (0..bytes.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&bytes[i..i + 2], 16).unwrap())
            .collect();
        let insns = Insn::slice_from_bytes(&b).unwrap();
        disasm(&insns, 0, |id| format!("bpf_helper{id}"))
    }

    #[test]
    fn disassembly_matches_the_kernel_syntax() {
        // Lines as kernel 6.18 prints them.
        assert_eq!(d("bf16000000000000"), "(bf) r6 = r1");
        assert_eq!(d("6112000000000000"), "(61) r2 = *(u32 *)(r1 +0)");
        assert_eq!(d("1502020000000000"), "(15) if r2 == 0x0 goto pc+2");
        assert_eq!(d("0704000010000000"), "(07) r4 += 16");
        assert_eq!(d("7a0af8ff00000000"), "(7a) *(u64 *)(r10 -8) = 0");
        assert_eq!(d("a502fbff01000000"), "(a5) if r2 < 0x1 goto pc-5");
        assert_eq!(d("9500000000000000"), "(95) exit");
        assert_eq!(d("8500000001000000"), "(85) call bpf_helper1#1");
    }

    #[test]
    fn registers_print_as_the_kernel_prints_them() {
        assert_eq!(reg(&RegState::pointer(RegType::Ctx), 0), "ctx()");
        assert_eq!(reg(&RegState::pointer(RegType::Stack), 0), "fp0");
        assert_eq!(reg(&RegState::konst(0), 0), "0");
        assert_eq!(reg(&RegState::konst(1 << 20), 0), "0x100000");
        assert_eq!(reg(&RegState::konst(1536), 0), "1536");
        let mut v = Scalar::UNKNOWN;
        v.umax = u32::MAX as u64;
        v.sync();
        // The kernel's line for a 32-bit ctx load.
        assert_eq!(
            reg(&RegState::scalar(v), 0),
            "scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))"
        );
    }
}
