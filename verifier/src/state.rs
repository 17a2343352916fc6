//! Verifier states: the registers and stack of every active frame, and the comparison used
//! for pruning (`states_equal` / `regsafe` / `stacksafe` in kernel/bpf/verifier.c). Registers
//! of the current frame that are not live are skipped as the kernel's `func_states_equal`
//! skips them (static liveness, `precision::live_registers`); scalars compare by range only
//! where the stored state's precision marks (`check::mark_chain`, the kernel's
//! `mark_chain_precision`) and the static `precision::needed` pass both say they matter.

use crate::reg::{RegState, RegType};
use crate::stack::{ByteType, Slot, Stack};

/// One function frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// r0..r10.
    pub regs: [RegState; 11],
    /// The frame's stack.
    pub stack: Stack,
    /// Instruction index of the call that created the frame (0 for the main frame).
    pub callsite: usize,
    /// Index of the subprogram running in this frame.
    pub subprog: usize,
}

/// A whole verifier state: frames from the main program to the current function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Active frames; the last is current.
    pub frames: Vec<Frame>,
    /// A path the CPU may only take speculatively (strict mode explores the side of a
    /// decided branch that is never taken, as the kernel does for Spectre v1).
    pub speculative: bool,
    /// Acquired references not yet released (`refs` of `bpf_verifier_state`): the
    /// reference id and the instruction that acquired it, in acquisition order.
    pub refs: Vec<(u32, usize)>,
}

impl State {
    /// The current frame.
    pub fn cur(&self) -> &Frame {
        &self.frames[self.frames.len() - 1]
    }

    /// The current frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        let n = self.frames.len() - 1;
        &mut self.frames[n]
    }

    /// Index of the current frame.
    pub fn curframe(&self) -> usize {
        self.frames.len() - 1
    }

    /// Drops the acquired reference `id` (`release_reference_nomark`); false if it is not held.
    pub fn release_ref(&mut self, id: u32) -> bool {
        match self.refs.iter().position(|r| r.0 == id) {
            Some(k) => {
                self.refs.remove(k);
                true
            }
            None => false,
        }
    }
}

fn range_within(old: &RegState, cur: &RegState) -> bool {
    let (o, c) = (&old.var, &cur.var);
    o.umin <= c.umin
        && o.umax >= c.umax
        && o.smin <= c.smin
        && o.smax >= c.smax
        && o.u32_min <= c.u32_min
        && o.u32_max >= c.u32_max
        && o.s32_min <= c.s32_min
        && o.s32_max >= c.s32_max
        && o.var_off.contains(c.var_off)
}

/// Maps ids of the old state to ids of the current one; a mismatch makes states different.
/// A state holds few ids, so the pairs are kept in a list.
#[derive(Default)]
pub struct IdMap(Vec<(u32, u32)>, u32);

impl IdMap {
    /// `check_scalar_ids`: a scalar without an id stands for one of its own, so a current
    /// id already paired with another old one (or an old one with another current one) does
    /// not match it.
    fn check_scalar(&mut self, old: u32, cur: u32) -> bool {
        let fresh = |id: u32, n: &mut u32| {
            if id != 0 {
                return id;
            }
            *n += 1;
            0x8000_0000 | *n
        };
        let mut n = self.1;
        let (old, cur) = (fresh(old, &mut n), fresh(cur, &mut n));
        self.1 = n;
        self.check(old, cur)
    }

    fn check(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 && cur == 0 {
            return true;
        }
        if old == 0 || cur == 0 {
            return false;
        }
        for &(o, c) in &self.0 {
            if o == old || c == cur {
                return o == old && c == cur;
            }
        }
        self.0.push((old, cur));
        true
    }
}

/// `regsafe`: is every run from `cur` covered by what was proven from `old`?
/// `exact` asks for identical states (infinite-loop detection); `exact_scalars` asks for
/// identical scalars only (`env->explore_alu_limits`).
pub fn regsafe(
    old: &RegState,
    cur: &RegState,
    ids: &mut IdMap,
    exact: bool,
    exact_scalars: bool,
) -> bool {
    if exact {
        return old.typ == cur.typ
            && old.off == cur.off
            && old.var == cur.var
            && old.range == cur.range
            && old.map == cur.map
            && old.frameno == cur.frameno
            && old.dynptr_id == cur.dynptr_id
            && ids.check(old.id, cur.id)
            && ids.check(old.ref_obj_id, cur.ref_obj_id);
    }
    if old.typ == RegType::NotInit {
        return true;
    }
    if old.typ != cur.typ {
        return false;
    }
    match old.typ {
        RegType::NotInit => true,
        RegType::Scalar if exact_scalars => old.var == cur.var && ids.check(old.id, cur.id),
        RegType::Scalar => range_within(old, cur) && ids.check_scalar(old.id, cur.id),
        RegType::Ctx | RegType::PktEnd => old.off == cur.off && range_within(old, cur),
        RegType::Stack => old.off == cur.off && old.frameno == cur.frameno && old.var == cur.var,
        RegType::MapPtr => old.map == cur.map,
        RegType::Pkt => {
            old.off == cur.off
                && cur.range >= old.range
                && range_within(old, cur)
                && ids.check(old.id, cur.id)
        }
        _ => {
            old.off == cur.off
                && old.map == cur.map
                && old.dynptr_id == cur.dynptr_id
                && range_within(old, cur)
                && ids.check(old.id, cur.id)
                && ids.check(old.ref_obj_id, cur.ref_obj_id)
        }
    }
}

fn stacksafe(
    old: &Stack,
    cur: &Stack,
    ids: &mut IdMap,
    exact: bool,
    allow_uninit: bool,
    (imprecise_slots, dead_slots): (u64, u64),
    exact_scalars: bool,
) -> bool {
    if exact && old != cur {
        // Byte types must match exactly; spilled registers are compared below.
        if old.slots.len() != cur.slots.len() {
            return false;
        }
    }
    for (i, os) in old.slots.iter().enumerate() {
        if i < 64 && dead_slots & (1 << i) != 0 {
            continue;
        }
        let cs = cur.slots.get(i);
        // The kernel's "64-bit scalar spill vs all slots MISC and vice versa": once the walk
        // reaches the slot's first byte (one the explored state wrote, and not unknown data
        // root may read anyway), a slot read as a scalar on both sides (a spilled scalar
        // over the whole slot, or unknown data everywhere, which loads as an unbound
        // scalar) is compared as two scalar registers.
        if !exact
            && os.bytes[0] != ByteType::Invalid
            && !(allow_uninit && os.bytes[0] == ByteType::Misc)
            && let Some(cs) = cs
            && let (Some(o), Some(c)) = (
                scalar_in_slot(os, allow_uninit),
                scalar_in_slot(cs, allow_uninit),
            )
        {
            // Unknown data stands for an imprecise unbound scalar, which covers any scalar.
            let old_imprecise = !os.has_spill() || (i < 64 && imprecise_slots & (1 << i) != 0);
            if (exact_scalars || !old_imprecise) && !regsafe(&o, &c, ids, false, exact_scalars) {
                return false;
            }
            continue;
        }
        for b in 0..8 {
            let ob = os.bytes[b];
            let cb = cs.map(|s| s.bytes[b]).unwrap_or(ByteType::Invalid);
            if !exact {
                // As the kernel's stacksafe: a byte the explored state never wrote covers
                // anything; so does one it held as unknown data when uninitialised stack may
                // be read (root), even a byte of a spilled pointer here: the explored state
                // was safe reading it as an unknown scalar, and a pointer's bytes read as a
                // scalar are one (a leak root is allowed, never a wild access).
                if ob == ByteType::Invalid {
                    continue;
                }
                if allow_uninit && ob == ByteType::Misc {
                    continue;
                }
                if ob == ByteType::Misc && cb == ByteType::Zero {
                    continue;
                }
            }
            if ob != cb {
                return false;
            }
        }
        // A dynptr: the same type, the same half, the same reference (not its id).
        if os.is_dynptr() {
            let Some(cs) = cs else { return false };
            let (o, c) = (&os.spilled, &cs.spilled);
            if o.map != c.map || o.range != c.range || !ids.check(o.ref_obj_id, c.ref_obj_id) {
                return false;
            }
            continue;
        }
        if os.has_spill() {
            let Some(cs) = cs else { return false };
            let both_scalar =
                os.spilled.typ == RegType::Scalar && cs.spilled.typ == RegType::Scalar;
            let skip = !exact
                && !exact_scalars
                && both_scalar
                && i < 64
                && imprecise_slots & (1 << i) != 0;
            if !skip && !regsafe(&os.spilled, &cs.spilled, ids, exact, exact_scalars) {
                return false;
            }
        }
    }
    if exact {
        for s in cur.slots.iter().skip(old.slots.len()) {
            if s.bytes.iter().any(|b| *b != ByteType::Invalid) {
                return false;
            }
        }
    }
    true
}

/// The scalar a load of the whole slot gives, when the kernel's `stacksafe` compares the slot
/// as a register (`scalar_reg_for_stack`): the spilled scalar when the spill covers the slot's
/// first byte, an unbound scalar when every byte is unknown data (or never written, where
/// root may read such bytes).
fn scalar_in_slot(slot: &Slot, allow_uninit: bool) -> Option<RegState> {
    if slot.bytes[0] == ByteType::Spill && slot.spilled.typ == RegType::Scalar {
        return Some(slot.spilled);
    }
    slot.bytes
        .iter()
        .all(|b| *b == ByteType::Misc || (allow_uninit && *b == ByteType::Invalid))
        .then(RegState::unknown)
}

/// Registers and stack slots of the current frame whose scalar values do not matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Imprecise {
    /// Registers (bit r).
    pub regs: u16,
    /// Stack slots (bit k for fp-8k-8..fp-8k-1).
    pub slots: u64,
    /// Registers of the current frame that are not live (no path from here reads them
    /// before writing them): not compared at all, whatever their types (the kernel's
    /// `func_states_equal` compares only `live_regs_before`).
    pub dead_regs: u16,
    /// Stack slots of the current frame that are not live (no path from here reads them
    /// before overwriting them): not compared at all (the kernel's `clean_func_state` marks
    /// them invalid in an explored state).
    pub dead_slots: u64,
}

impl Imprecise {
    /// Everything matters.
    pub const NONE: Imprecise = Imprecise {
        regs: 0,
        slots: 0,
        dead_regs: 0,
        dead_slots: 0,
    };
}

/// `states_equal`: true if `cur` is covered by the explored `old` state. Scalars marked in
/// `imprecise` (one entry per frame, from the main program's; a missing entry marks
/// nothing) are compared by type only (the kernel's imprecise scalars), and registers and
/// slots marked dead there are not compared at all. `exact_scalars` (the kernel's `explore_alu_limits`, set once
/// strict-mode pointer arithmetic used an unknown offset) compares every scalar exactly.
pub fn states_equal(
    old: &State,
    cur: &State,
    exact: bool,
    allow_uninit: bool,
    imprecise: &[Imprecise],
    exact_scalars: bool,
) -> bool {
    if old.frames.len() != cur.frames.len() {
        return false;
    }
    if old.speculative && !cur.speculative {
        return false;
    }
    let mut ids = IdMap::default();
    // refsafe: the same references, held in the same order.
    if old.refs.len() != cur.refs.len()
        || old
            .refs
            .iter()
            .zip(cur.refs.iter())
            .any(|(o, c)| !ids.check(o.0, c.0))
    {
        return false;
    }
    for (k, (of, cf)) in old.frames.iter().zip(cur.frames.iter()).enumerate() {
        if of.callsite != cf.callsite {
            return false;
        }
        let imprecise = imprecise.get(k).copied().unwrap_or(Imprecise::NONE);
        for r in 0..11 {
            let (o, c) = (&of.regs[r], &cf.regs[r]);
            if !exact && imprecise.dead_regs & (1 << r) != 0 {
                continue;
            }
            if !exact
                && !exact_scalars
                && imprecise.regs & (1 << r) != 0
                && o.typ == RegType::Scalar
                && c.typ == RegType::Scalar
            {
                continue;
            }
            if !regsafe(o, c, &mut ids, exact, exact_scalars) {
                return false;
            }
        }
        let slots = imprecise.slots;
        let dead = if exact { 0 } else { imprecise.dead_slots };
        if !stacksafe(
            &of.stack,
            &cf.stack,
            &mut ids,
            exact,
            allow_uninit,
            (slots, dead),
            exact_scalars,
        ) {
            return false;
        }
    }
    true
}
