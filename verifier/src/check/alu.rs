//! ALU instructions (`check_alu_op`, `adjust_reg_min_max_vals`, `adjust_ptr_min_max_vals`):
//! reserved fields, division by an immediate zero, shift ranges, pointer arithmetic rules and
//! the scalar transfer functions.

use sockops_vm::Insn;
use sockops_vm::opcode::*;

use super::Env;
use crate::error::Reject;
use crate::reg::{RegState, RegType};
use crate::scalar::{Scalar, ScalarOp, alu};
use crate::tnum::Tnum;

/// `bpf_alu_string`, indexed by `op >> 4`.
const ALU_STR: [&str; 14] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian",
];

/// `BPF_MAX_VAR_OFF`.
const MAX_VAR_OFF: i64 = 1 << 29;

fn op_str(opcode: u8) -> &'static str {
    ALU_STR[(op(opcode) >> 4) as usize % ALU_STR.len()]
}

fn bswap_tnum(t: Tnum, bits: i32, swap: bool) -> Tnum {
    let f = |v: u64| -> u64 {
        match (bits, swap) {
            (16, true) => (v as u16).swap_bytes() as u64,
            (32, true) => (v as u32).swap_bytes() as u64,
            (64, true) => v.swap_bytes(),
            (16, false) => v as u16 as u64,
            (32, false) => v as u32 as u64,
            _ => v,
        }
    };
    Tnum {
        value: f(t.value),
        mask: f(t.mask),
    }
}

/// `coerce_reg_to_size`: the low `bytes` bytes of `v`, keeping the bounds when the high
/// bytes of the whole range agree.
fn coerce_to_size(v: &Scalar, bytes: u32) -> Scalar {
    let mask = (1u64 << (bytes * 8)) - 1;
    let mut s = *v;
    s.var_off = Tnum {
        value: v.var_off.value & mask,
        mask: v.var_off.mask & mask,
    };
    if v.umin & !mask == v.umax & !mask {
        s.umin = v.umin & mask;
        s.umax = v.umax & mask;
    } else {
        s.umin = 0;
        s.umax = mask;
    }
    s.smin = s.umin as i64;
    s.smax = s.umax as i64;
    if bytes < 4 {
        s.unbound32();
    }
    s.sync();
    s
}

impl Env<'_> {
    /// True if `r` holds a pointer that counts as such for leak rules (`is_pointer_value`).
    pub fn is_pointer_value(&self, r: u8) -> bool {
        self.strict() && self.regs()[r as usize].is_pointer()
    }

    pub(super) fn check_alu(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        let opc = op(insn.opcode);
        let is_x = source(insn.opcode) == BPF_X;
        let alu64 = class(insn.opcode) == BPF_ALU64;
        let dst = insn.dst;
        if opc == BPF_END || opc == BPF_NEG {
            if opc == BPF_NEG {
                if is_x || insn.src != 0 || insn.off != 0 || insn.imm != 0 {
                    return Err(Reject::new(pc, "BPF_NEG uses reserved fields"));
                }
            } else if insn.src != 0
                || insn.off != 0
                || !matches!(insn.imm, 16 | 32 | 64)
                || (alu64 && is_x)
            {
                return Err(Reject::new(pc, "BPF_END uses reserved fields"));
            }
            self.check_src(pc, dst)?;
            if self.is_pointer_value(dst) {
                return Err(Reject::new(
                    pc,
                    format!("R{dst} pointer arithmetic prohibited"),
                ));
            }
            self.check_dst(pc, dst)?;
            let r = self.regs()[dst as usize];
            let new = if r.typ != RegType::Scalar {
                Scalar::UNKNOWN
            } else if opc == BPF_NEG {
                alu(ScalarOp::Sub, &Scalar::konst(0), &r.var, !alu64)
            } else if !(alu64 || is_x) {
                // to_le on a little-endian machine: a truncation (coerce_reg_to_size), which
                // keeps the bounds of a value that fits.
                if insn.imm == 64 {
                    r.var
                } else {
                    coerce_to_size(&r.var, insn.imm as u32 / 8)
                }
            } else {
                let t = bswap_tnum(r.var.var_off, insn.imm, true);
                let mut s = Scalar::UNKNOWN;
                s.var_off = t;
                s.sync();
                s
            };
            self.regs_mut()[dst as usize] = RegState::scalar(new);
            return Ok(());
        }
        if opc == BPF_MOV {
            if is_x {
                let ok = if alu64 {
                    matches!(insn.off, 0 | 8 | 16 | 32)
                } else {
                    matches!(insn.off, 0 | 8 | 16)
                };
                if alu64 && insn.off == 1 {
                    if insn.imm != 1 && insn.imm != 1 << 16 {
                        return Err(Reject::new(
                            pc,
                            "addr_space_cast insn can only convert between address space 1 and 0",
                        ));
                    }
                    return Err(Reject::new(
                        pc,
                        "addr_space_cast insn can only be used in a program that has an associated arena",
                    ));
                }
                if !ok || insn.imm != 0 {
                    return Err(Reject::new(pc, "BPF_MOV uses reserved fields"));
                }
                self.check_src(pc, insn.src)?;
            } else if insn.src != 0 || insn.off != 0 {
                return Err(Reject::new(pc, "BPF_MOV uses reserved fields"));
            }
            self.check_dst(pc, dst)?;
            if is_x {
                let mut src = self.regs()[insn.src as usize];
                let new = if alu64 {
                    if insn.off == 0 {
                        // assign_scalar_id_before_mov: link the copies so a later branch
                        // on one refines the other (sync_linked_regs).
                        if src.typ == RegType::Scalar && src.id == 0 && !src.var.is_const() {
                            src.id = self.new_id();
                            self.regs_mut()[insn.src as usize].id = src.id;
                        }
                        src
                    } else if self.is_pointer_value(insn.src) {
                        return Err(Reject::new(
                            pc,
                            format!("R{} sign-extension part of pointer", insn.src),
                        ));
                    } else if src.typ == RegType::Scalar {
                        let mut v = src.var;
                        v.sext_from((insn.off / 8) as u8);
                        RegState::scalar(v)
                    } else {
                        RegState::unknown()
                    }
                } else if self.is_pointer_value(insn.src) {
                    return Err(Reject::new(
                        pc,
                        format!("R{} partial copy of pointer", insn.src),
                    ));
                } else if src.typ == RegType::Scalar && insn.off == 0 {
                    // A 32-bit copy of a scalar that fits in 32 bits is the same value: link
                    // the copies as the 64-bit move does (kernel: `get_reg_width(src) <= 32`,
                    // then assign_scalar_id_before_mov); a wider source leaves the copy
                    // unlinked.
                    let fits_u32 = src.var.umax <= u64::from(u32::MAX);
                    if fits_u32 && src.id == 0 && !src.var.is_const() {
                        src.id = self.new_id();
                        self.regs_mut()[insn.src as usize].id = src.id;
                    }
                    let mut copy = src;
                    if !fits_u32 {
                        copy.id = 0;
                    }
                    copy.var.zext32();
                    copy.var.sync();
                    copy
                } else if src.typ == RegType::Scalar {
                    let mut v = src.var;
                    v.sext32_from((insn.off / 8) as u8);
                    RegState::scalar(v)
                } else {
                    let mut v = Scalar::UNKNOWN;
                    v.zext32();
                    v.sync();
                    RegState::scalar(v)
                };
                self.regs_mut()[dst as usize] = new;
            } else {
                let v = if alu64 {
                    insn.imm as i64 as u64
                } else {
                    insn.imm as u32 as u64
                };
                self.regs_mut()[dst as usize] = RegState::konst(v);
            }
            return Ok(());
        }
        if opc > BPF_END {
            return Err(Reject::new(pc, format!("invalid BPF_ALU opcode {:x}", opc)));
        }
        let signed_ok = opc == BPF_MOD || opc == BPF_DIV;
        let bad_off = (insn.off != 0 && insn.off != 1) || (insn.off == 1 && !signed_ok);
        if is_x {
            if insn.imm != 0 || bad_off {
                return Err(Reject::new(pc, "BPF_ALU uses reserved fields"));
            }
            self.check_src(pc, insn.src)?;
        } else if insn.src != 0 || bad_off {
            return Err(Reject::new(pc, "BPF_ALU uses reserved fields"));
        }
        self.check_src(pc, dst)?;
        if signed_ok && !is_x && insn.imm == 0 {
            return Err(Reject::new(pc, "div by zero"));
        }
        if matches!(opc, BPF_LSH | BPF_RSH | BPF_ARSH) && !is_x {
            let size = if alu64 { 64 } else { 32 };
            if insn.imm < 0 || insn.imm >= size {
                return Err(Reject::new(pc, format!("invalid shift {}", insn.imm)));
            }
        }
        self.check_dst(pc, dst)?;
        self.adjust_reg_min_max_vals(pc, insn)
    }

    fn adjust_reg_min_max_vals(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        let opc = op(insn.opcode);
        let alu64 = class(insn.opcode) == BPF_ALU64;
        let dst_reg = self.regs()[insn.dst as usize];
        let (src_reg, src_is_reg) = if source(insn.opcode) == BPF_X {
            (self.regs()[insn.src as usize], true)
        } else {
            (RegState::konst(insn.imm as i64 as u64), false)
        };
        if src_reg.is_pointer() && dst_reg.typ == RegType::Scalar {
            // `scalar op= pointer` checks the scalar's bounds: from now on its value matters
            // when pruning before this instruction.
            if let Some(f) = self.ptr_dst_used.get_mut(pc).filter(|f| !**f) {
                *f = true;
                self.needed = crate::precision::needed_with(self.insns, &self.ptr_dst_used);
            }
        }
        // `scalar += pointer` and `pointer += scalar` rest on the scalar's range.
        if src_reg.is_pointer() && dst_reg.typ == RegType::Scalar {
            self.mark_precise(1 << insn.dst);
        } else if dst_reg.is_pointer() && src_is_reg && src_reg.typ == RegType::Scalar {
            self.mark_precise(1 << insn.src);
        }
        if src_reg.is_pointer() {
            if dst_reg.is_pointer() {
                if opc == BPF_SUB && !self.strict() {
                    self.regs_mut()[insn.dst as usize] = RegState::unknown();
                    return Ok(());
                }
                return Err(Reject::new(
                    pc,
                    format!(
                        "R{} pointer {} pointer prohibited",
                        insn.dst,
                        op_str(insn.opcode)
                    ),
                ));
            }
            return self.adjust_ptr(pc, insn, src_reg, dst_reg, true, src_is_reg);
        }
        if dst_reg.is_pointer() {
            return self.adjust_ptr(pc, insn, dst_reg, src_reg, false, src_is_reg);
        }
        let sop = match opc {
            BPF_ADD => Some(ScalarOp::Add),
            BPF_SUB => Some(ScalarOp::Sub),
            BPF_MUL => Some(ScalarOp::Mul),
            BPF_AND => Some(ScalarOp::And),
            BPF_OR => Some(ScalarOp::Or),
            BPF_XOR => Some(ScalarOp::Xor),
            BPF_LSH => Some(ScalarOp::Lsh),
            BPF_RSH => Some(ScalarOp::Rsh),
            BPF_ARSH => Some(ScalarOp::Arsh),
            _ => None,
        };
        if matches!(opc, BPF_ADD | BPF_SUB) && !self.can_skip_alu_sanitation(pc, src_is_reg) {
            // sanitize_val_alu: the instruction is a scalar add/sub on this path.
            self.update_alu_sanitation(pc, insn, ALU_NON_POINTER, 0)?;
        }
        let mut dst_reg = dst_reg;
        if matches!(opc, BPF_AND | BPF_OR) && src_reg.var.var_off.is_const() {
            self.maybe_fork_scalars(pc, insn, &mut dst_reg)?;
        }
        let new = match sop {
            Some(o) => alu(o, &dst_reg.var, &src_reg.var, !alu64),
            // Division, modulo: the kernel marks the register unknown and returns before
            // zero-extending, even for 32-bit instructions.
            None => Scalar::UNKNOWN,
        };
        // Any arithmetic breaks the link with copies (the new value has id 0).
        self.regs_mut()[insn.dst as usize] = RegState::scalar(new);
        Ok(())
    }

    /// `maybe_fork_scalars`: a destination that is -1 or 0 (what `x s>> 63`, or `w s>> 31` in
    /// 32 bits, leaves) meeting AND or OR with a constant is split in two paths, as the
    /// kernel splits it: a pushed one that runs this instruction again with the destination
    /// 0, and the current one, which goes on with it -1. Each value gives an exact result
    /// where the range would give a loose one.
    fn maybe_fork_scalars(
        &mut self,
        pc: usize,
        insn: Insn,
        dst_reg: &mut RegState,
    ) -> Result<(), Reject> {
        let v = dst_reg.var;
        let alu32 = if v.smin == -1 && v.smax == 0 {
            false
        } else if v.s32_min == -1 && v.s32_max == 0 {
            true
        } else {
            return Ok(());
        };
        // __mark_reg_known clears the id; __mark_reg32_known sets the low half only.
        let known = |r: &mut RegState, value: u64| {
            if alu32 {
                r.var.var_off = r.var.var_off.const_subreg(value as u32);
                r.var.s32_min = value as i32;
                r.var.s32_max = value as i32;
                r.var.u32_min = value as u32;
                r.var.u32_max = value as u32;
            } else {
                *r = RegState::konst(value);
            }
        };
        let mut branch = self.cur.clone();
        known(&mut branch.cur_mut().regs[insn.dst as usize], 0);
        self.push_branch(branch, pc, pc)?;
        known(dst_reg, u64::MAX);
        self.regs_mut()[insn.dst as usize] = *dst_reg;
        Ok(())
    }

    fn check_sane_offset(&self, pc: usize, r: &RegState, typ: RegType) -> Result<(), Reject> {
        let name = typ.name();
        if r.var.is_const() {
            let val = r.var.value() as i64;
            if !(-MAX_VAR_OFF + 1..MAX_VAR_OFF).contains(&val) {
                return Err(Reject::new(
                    pc,
                    format!("math between {name} pointer and {val} is not allowed"),
                ));
            }
        }
        if !(-MAX_VAR_OFF + 1..MAX_VAR_OFF).contains(&(r.off as i64)) {
            return Err(Reject::new(
                pc,
                format!("{name} pointer offset {} is not allowed", r.off),
            ));
        }
        if r.var.smin == i64::MIN {
            return Err(Reject::new(
                pc,
                format!(
                    "math between {name} pointer and register with unbounded min value is not allowed"
                ),
            ));
        }
        if !(-MAX_VAR_OFF + 1..MAX_VAR_OFF).contains(&r.var.smin) {
            return Err(Reject::new(
                pc,
                format!("value {} makes {name} pointer be out of bounds", r.var.smin),
            ));
        }
        Ok(())
    }

    /// `adjust_ptr_min_max_vals`; `swapped` is true for `scalar += pointer`.
    fn adjust_ptr(
        &mut self,
        pc: usize,
        insn: Insn,
        ptr: RegState,
        off_reg: RegState,
        swapped: bool,
        src_is_reg: bool,
    ) -> Result<(), Reject> {
        let opc = op(insn.opcode);
        let dst = insn.dst;
        let o = &off_reg.var;
        let known = o.is_const();
        if (known && (o.smin != o.smax || o.umin != o.umax)) || o.smin > o.smax || o.umin > o.umax {
            self.regs_mut()[dst as usize] = RegState::unknown();
            return Ok(());
        }
        if class(insn.opcode) != BPF_ALU64 {
            if opc == BPF_SUB && !self.strict() {
                self.regs_mut()[dst as usize] = RegState::unknown();
                return Ok(());
            }
            return Err(Reject::new(
                pc,
                format!("R{dst} 32-bit pointer arithmetic prohibited"),
            ));
        }
        if ptr.typ.maybe_null() {
            return Err(Reject::new(
                pc,
                format!(
                    "R{dst} pointer arithmetic on {} prohibited, null-check it first",
                    ptr.typ.name()
                ),
            ));
        }
        if ptr.typ == RegType::UntrustedMem {
            // Reads through it are faulting loads, so the kernel tracks no offset: the
            // result is the same untrusted memory (`scalar += pointer` included).
            if swapped {
                self.regs_mut()[dst as usize] = RegState::pointer(RegType::UntrustedMem);
            }
            return Ok(());
        }
        let allowed = match ptr.typ {
            RegType::Ctx
            | RegType::MapValue
            | RegType::Stack
            | RegType::Pkt
            | RegType::Mem
            | RegType::DynptrMem
            | RegType::BtfTask
            | RegType::BtfPtr
            | RegType::BtfRcu
            | RegType::BtfUntrusted
            | RegType::BtfUntrustedUnion => true,
            RegType::MapPtr => known && o.smin == 0 && opc == BPF_ADD,
            _ => false,
        };
        if !allowed {
            return Err(Reject::new(
                pc,
                format!("R{dst} pointer arithmetic on {} prohibited", ptr.typ.name()),
            ));
        }
        self.check_sane_offset(pc, &off_reg, ptr.typ)?;
        self.check_sane_offset(pc, &ptr, ptr.typ)?;
        let sanitize =
            (opc == BPF_ADD || opc == BPF_SUB) && !self.can_skip_alu_sanitation(pc, src_is_reg);
        let mut info = None;
        if sanitize && !self.cur.speculative {
            info = Some(self.sanitize_ptr_alu_begin(pc, insn, &ptr, o, swapped)?);
        }
        if sanitize && !known {
            // do_sim: the CPU may run the instruction with the offset masked to zero; explore
            // that path (the pointer unmoved) speculatively.
            let mut spec = self.cur.clone();
            spec.speculative = true;
            let mut p = ptr;
            p.var.unbound32();
            spec.cur_mut().regs[dst as usize] = p;
            self.push_branch(spec, pc + 1, pc)?;
        }
        let mut d = ptr;
        d.var.unbound32();
        let p = &ptr.var;
        match opc {
            BPF_ADD => {
                let sum = ptr.off as i64 + o.smin;
                if known && sum == sum as i32 as i64 {
                    d.var = ptr.var;
                    d.off = sum as i32;
                } else {
                    d.var.smin = p.smin.checked_add(o.smin).unwrap_or(i64::MIN);
                    d.var.smax = p.smax.checked_add(o.smax).unwrap_or(i64::MAX);
                    if p.smin.checked_add(o.smin).is_none() || p.smax.checked_add(o.smax).is_none()
                    {
                        d.var.smin = i64::MIN;
                        d.var.smax = i64::MAX;
                    }
                    match (p.umin.checked_add(o.umin), p.umax.checked_add(o.umax)) {
                        (Some(a), Some(b)) => {
                            d.var.umin = a;
                            d.var.umax = b;
                        }
                        _ => {
                            d.var.umin = 0;
                            d.var.umax = u64::MAX;
                        }
                    }
                    d.var.var_off = p.var_off.add(o.var_off);
                    d.var.unbound32();
                    if ptr.typ == RegType::Pkt {
                        d.id = self.new_id();
                        d.range = 0;
                    }
                }
            }
            BPF_SUB => {
                if swapped {
                    return Err(Reject::new(
                        pc,
                        format!("R{dst} tried to subtract pointer from scalar"),
                    ));
                }
                if ptr.typ == RegType::Stack {
                    return Err(Reject::new(
                        pc,
                        format!("R{dst} subtraction from stack pointer prohibited"),
                    ));
                }
                let diff = ptr.off as i64 - o.smin;
                if known && diff == diff as i32 as i64 {
                    d.var = ptr.var;
                    d.off = diff as i32;
                } else {
                    match (p.smin.checked_sub(o.smax), p.smax.checked_sub(o.smin)) {
                        (Some(a), Some(b)) => {
                            d.var.smin = a;
                            d.var.smax = b;
                        }
                        _ => {
                            d.var.smin = i64::MIN;
                            d.var.smax = i64::MAX;
                        }
                    }
                    if p.umin < o.umax {
                        d.var.umin = 0;
                        d.var.umax = u64::MAX;
                    } else {
                        d.var.umin = p.umin - o.umax;
                        d.var.umax = p.umax - o.umin;
                    }
                    d.var.var_off = p.var_off.sub(o.var_off);
                    d.var.unbound32();
                    if ptr.typ == RegType::Pkt {
                        d.id = self.new_id();
                        if o.smin < 0 {
                            d.range = 0;
                        }
                    }
                }
            }
            BPF_AND | BPF_OR | BPF_XOR => {
                return Err(Reject::new(
                    pc,
                    format!(
                        "R{dst} bitwise operator {} on pointer prohibited",
                        op_str(insn.opcode)
                    ),
                ));
            }
            _ => {
                return Err(Reject::new(
                    pc,
                    format!(
                        "R{dst} pointer arithmetic with {} operator prohibited",
                        op_str(insn.opcode)
                    ),
                ));
            }
        }
        // AT_PKT_END / BEYOND_PKT_END describe the pointer's old position against the end:
        // any arithmetic invalidates them (`adjust_ptr_min_max_vals`), or a later comparison
        // of the moved pointer with `pkt_end` would be decided from the old position.
        if ptr.typ == RegType::Pkt && d.range < 0 {
            d.range = 0;
        }
        self.check_sane_offset(pc, &d, ptr.typ)?;
        d.var.sync();
        if self.strict() {
            match d.typ {
                RegType::Stack => {
                    let off = d.off as i64 + d.var.var_off.value as i64;
                    if !d.var.is_const() {
                        return Err(Reject::new(
                            pc,
                            format!(
                                "R{dst} variable stack access prohibited for !root, var_off={} off={}",
                                d.var.var_off, off
                            ),
                        ));
                    }
                    if !(-512..0).contains(&off) {
                        return Err(Reject::new(
                            pc,
                            format!(
                                "R{dst} stack pointer arithmetic goes out of range, prohibited for !root; off={off}"
                            ),
                        ));
                    }
                }
                RegType::MapValue
                    if self
                        .check_map_access(pc, dst, &d, d.off as i64, 1, false)
                        .is_err() =>
                {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "R{dst} pointer arithmetic of map value goes out of range, prohibited for !root"
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some((state, limit, mask_to_left)) = info {
            // Commit window: the masking limit is how far the pointer actually moved.
            let after = self
                .retrieve_ptr_limit(&d, mask_to_left)
                .map_err(|reason| self.sanitize_err(pc, insn, reason))?;
            self.update_alu_sanitation(pc, insn, state, limit.abs_diff(after))?;
        }
        self.regs_mut()[dst as usize] = d;
        Ok(())
    }

    /// `retrieve_ptr_limit`: how far the pointer may move in the masked direction.
    fn retrieve_ptr_limit(&self, ptr: &RegState, mask_to_left: bool) -> Result<u32, Sanitize> {
        let (max, limit) = match ptr.typ {
            RegType::Stack => (
                512 + mask_to_left as u32,
                (ptr.var.var_off.value.wrapping_add(ptr.off as i64 as u64)).wrapping_neg() as u32,
            ),
            RegType::MapValue => {
                let max = self
                    .maps
                    .get(ptr.map as usize)
                    .map(|m| m.value_size)
                    .unwrap_or(0);
                let base = if mask_to_left {
                    ptr.var.smin as u64
                } else {
                    ptr.var.umax
                };
                (max, base.wrapping_add(ptr.off as i64 as u64) as u32)
            }
            _ => return Err(Sanitize::Type),
        };
        if limit >= max {
            return Err(Sanitize::Limit);
        }
        Ok(limit)
    }

    /// First half of `sanitize_ptr_alu` (non-speculative path): the offset's sign must be
    /// known, the pointer must allow masking; returns (alu_state, alu_limit, mask_to_left).
    fn sanitize_ptr_alu_begin(
        &mut self,
        pc: usize,
        insn: Insn,
        ptr: &RegState,
        off: &Scalar,
        swapped: bool,
    ) -> Result<(u8, u32, bool), Reject> {
        let opc = op(insn.opcode);
        let off_is_imm = off.is_const();
        let off_is_neg = off.smin < 0;
        if !off_is_imm && (off.smin < 0) != (off.smax < 0) {
            return Err(self.sanitize_err(pc, insn, Sanitize::Bounds));
        }
        let mask_to_left = (opc == BPF_ADD && off_is_neg) || (opc == BPF_SUB && !off_is_neg);
        let limit = self
            .retrieve_ptr_limit(ptr, mask_to_left)
            .map_err(|reason| self.sanitize_err(pc, insn, reason))?;
        let mut state = if off_is_neg { ALU_NEG_VALUE } else { 0 };
        if off_is_imm {
            state |= ALU_IMMEDIATE;
        }
        state |= if swapped {
            ALU_SANITIZE_DST
        } else {
            ALU_SANITIZE_SRC
        };
        if !off_is_imm {
            self.explore_alu_limits = true;
        }
        Ok((state, limit, mask_to_left))
    }

    /// `update_alu_sanitation_state`: every path through an add/sub with a register operand
    /// must need the same masking (strict mode only).
    /// `can_skip_alu_sanitation`: root mode, an immediate operand, or an instruction a
    /// speculative path already put behind a barrier (`nospec`) needs no masking.
    fn can_skip_alu_sanitation(&self, pc: usize, src_is_reg: bool) -> bool {
        !self.strict() || !src_is_reg || self.nospec.get(pc).copied().unwrap_or(false)
    }

    fn update_alu_sanitation(
        &mut self,
        pc: usize,
        insn: Insn,
        state: u8,
        limit: u32,
    ) -> Result<(), Reject> {
        if !self.strict() {
            return Ok(());
        }
        let Some(slot) = self.alu_aux.get_mut(pc) else {
            return Ok(());
        };
        if slot.0 != 0 && (slot.0 != state || slot.1 != limit) {
            return Err(self.sanitize_err(pc, insn, Sanitize::Paths));
        }
        *slot = (state, limit);
        Ok(())
    }

    /// `sanitize_err`: the kernel's message for a sanitation failure. Kernel 6.18 names the
    /// instruction's source register for an offset of mixed sign and its destination for an
    /// unsupported pointer, whichever operand holds the pointer (live-checked: `r4 += r10`
    /// with r4 of mixed sign names R10; `r4 += r6` with r6 a packet pointer names R4).
    fn sanitize_err(&self, pc: usize, insn: Insn, reason: Sanitize) -> Reject {
        const ERR: &str = "pointer arithmetic with it prohibited for !root";
        let opname = if op(insn.opcode) == BPF_ADD {
            "add"
        } else {
            "sub"
        };
        let (dst, src) = (insn.dst, insn.src);
        let msg = match reason {
            Sanitize::Bounds => {
                format!("R{src} has unknown scalar with mixed signed bounds, {ERR}")
            }
            Sanitize::Type => {
                format!("R{dst} has pointer with unsupported alu operation, {ERR}")
            }
            Sanitize::Paths => {
                format!("R{dst} tried to {opname} from different maps, paths or scalars, {ERR}")
            }
            Sanitize::Limit => format!("R{dst} tried to {opname} beyond pointer bounds, {ERR}"),
        };
        Reject::new(pc, msg)
    }
}

/// Why pointer arithmetic cannot be sanitised (the kernel's `REASON_*`).
#[derive(Clone, Copy, Debug)]
enum Sanitize {
    /// The offset's sign is unknown.
    Bounds,
    /// The pointer type cannot be masked.
    Type,
    /// Another path needed different masking.
    Paths,
    /// The pointer is already out of its object.
    Limit,
}

/// `BPF_ALU_SANITIZE_SRC`: the pointer is the destination register.
const ALU_SANITIZE_SRC: u8 = 1 << 0;
/// `BPF_ALU_SANITIZE_DST`: the pointer is the source register.
const ALU_SANITIZE_DST: u8 = 1 << 1;
/// `BPF_ALU_NEG_VALUE`: the offset is negative.
const ALU_NEG_VALUE: u8 = 1 << 2;
/// `BPF_ALU_NON_POINTER`: scalar arithmetic.
const ALU_NON_POINTER: u8 = 1 << 3;
/// `BPF_ALU_IMMEDIATE`: the offset is a known constant.
const ALU_IMMEDIATE: u8 = 1 << 4;
