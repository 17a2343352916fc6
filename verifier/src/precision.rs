//! A static stand-in for the kernel's precision tracking (`mark_chain_precision`): a backward
//! data-flow pass that finds, at every instruction, the registers whose scalar value can
//! still matter — reach a branch, an address, a helper argument, a store, or the return value
//! — before being overwritten. The kernel compares only "precise" scalars when pruning; we
//! may ignore the value of a scalar register that nothing downstream depends on.
//!
//! The pass over-approximates what matters (every register an instruction reads counts,
//! except that a `mov`/ALU result that is itself unused does not make its operands used), so
//! it never lets pruning treat as equal two states the kernel would keep apart on a path it
//! explores. Stack slots written and read only through `r10` with constant offsets are
//! tracked the same way; any other load, atomic or call that takes memory makes every slot
//! matter, and a store through any other pointer makes its value matter only if some slot
//! does. The verifier compares a scalar by range only where this set and the stored state's
//! dynamic precision marks (`backtrack`) both hold it. [`live_stack_slots`] is the plain
//! liveness of the slots (every read counts), for forgetting dead slots as the kernel does.

use sockops_vm::Insn;
use sockops_vm::opcode::*;

/// Bit set of registers r0..r10.
type Regs = u16;

const ARGS: Regs = 0b11_1110; // r1..r5
const CALLER_SAVED: Regs = 0b11_1111; // r0..r5

fn bit(r: u8) -> Regs {
    if r < 11 { 1 << r } else { 0 }
}

/// Registers read (`uses`) and written (`defs`) by `insn`, and for ALU/MOV the special rule:
/// the destination's "needed" flows to the operands only if the destination is needed.
struct Effect {
    uses: Regs,
    defs: Regs,
    /// For `dst = dst op src` / `dst = src`: (dst, operands that matter only if dst does).
    flow: Option<(u8, Regs)>,
}

fn effect(insn: &Insn) -> Effect {
    let cls = class(insn.opcode);
    let (d, s) = (insn.dst, insn.src);
    let none = Effect {
        uses: 0,
        defs: 0,
        flow: None,
    };
    match cls {
        BPF_ALU | BPF_ALU64 => {
            let o = op(insn.opcode);
            let x = source(insn.opcode) == BPF_X;
            if o == BPF_MOV {
                Effect {
                    uses: 0,
                    defs: bit(d),
                    flow: Some((d, if x { bit(s) } else { 0 })),
                }
            } else if o == BPF_NEG || o == BPF_END {
                Effect {
                    uses: 0,
                    defs: bit(d),
                    flow: Some((d, bit(d))),
                }
            } else {
                // The operand of pointer arithmetic always matters; we cannot tell pointers
                // from scalars statically, so the source always counts as used. (The
                // destination of `scalar op= pointer` is added by `needed_with` once a path
                // has shown the source to be a pointer.)
                Effect {
                    uses: if x { bit(s) } else { 0 },
                    defs: bit(d),
                    flow: Some((d, bit(d) | if x { bit(s) } else { 0 })),
                }
            }
        }
        BPF_LDX => Effect {
            uses: bit(s),
            defs: bit(d),
            flow: None,
        },
        BPF_ST => Effect {
            uses: bit(d),
            ..none
        },
        BPF_STX => {
            if mode(insn.opcode) == BPF_ATOMIC {
                Effect {
                    uses: bit(d) | bit(s) | bit(0),
                    defs: 0,
                    flow: None,
                }
            } else {
                Effect {
                    uses: bit(d) | bit(s),
                    ..none
                }
            }
        }
        BPF_JMP | BPF_JMP32 => match op(insn.opcode) {
            BPF_CALL => Effect {
                uses: call_args(insn),
                defs: CALLER_SAVED,
                flow: None,
            },
            BPF_EXIT => Effect {
                uses: bit(0),
                ..none
            },
            BPF_JA => none,
            _ => Effect {
                uses: bit(d)
                    | if source(insn.opcode) == BPF_X {
                        bit(s)
                    } else {
                        0
                    },
                ..none
            },
        },
        _ => {
            if insn.opcode == LD_IMM64 {
                Effect {
                    uses: 0,
                    defs: bit(d),
                    flow: None,
                }
            } else {
                // Legacy packet loads (rejected anyway): read everything.
                Effect {
                    uses: 0x7ff,
                    defs: CALLER_SAVED,
                    flow: None,
                }
            }
        }
    }
}

/// The argument registers a call reads: for a helper this verifier knows, r1 up to its
/// argument count (the kernel's `get_call_summary`, `num_params`); r1-r5 for any other call
/// (a bpf-to-bpf call, a kfunc, an unknown helper), as the kernel counts them.
fn call_args(insn: &Insn) -> Regs {
    if insn.src == 0
        && let Some(proto) = crate::helpers::proto(insn.imm as u32)
    {
        let n = proto.args.len().min(5);
        return ARGS & ((1 << (n + 1)) - 1);
    }
    ARGS
}

/// False for a call to a helper this verifier knows none of whose arguments is memory the
/// helper reads or writes (no stack slot can matter to it); true for any other call.
fn call_may_access_memory(insn: &Insn) -> bool {
    use crate::helpers::Arg;
    if insn.src != 0 {
        return true;
    }
    let Some(proto) = crate::helpers::proto(insn.imm as u32) else {
        return true;
    };
    !proto.args.iter().all(|a| {
        matches!(
            a,
            Arg::Anything
                | Arg::ConstSize
                | Arg::ConstSizeOrZero
                | Arg::AllocSizeOrZero
                | Arg::ConstMapPtr
                | Arg::Ctx
                | Arg::CtxOrNull
                | Arg::SockCommon
                | Arg::BtfSockCommon
        )
    })
}

fn successors(insns: &[Insn], pc: usize) -> Vec<usize> {
    let insn = insns[pc];
    let cls = class(insn.opcode);
    let n = insns.len();
    let mut v = Vec::with_capacity(2);
    let mut push = |t: i64| {
        if t >= 0 && (t as usize) < n {
            v.push(t as usize);
        }
    };
    if cls == BPF_JMP || cls == BPF_JMP32 {
        match op(insn.opcode) {
            BPF_EXIT => {}
            BPF_CALL => push(pc as i64 + 1),
            BPF_JA => {
                let off = if cls == BPF_JMP32 {
                    insn.imm as i64
                } else {
                    insn.off as i64
                };
                push(pc as i64 + off + 1);
            }
            _ => {
                push(pc as i64 + 1);
                push(pc as i64 + insn.off as i64 + 1);
            }
        }
    } else if insn.opcode == LD_IMM64 {
        push(pc as i64 + 2);
    } else {
        push(pc as i64 + 1);
    }
    v
}

/// What may still matter at an instruction: registers (bit r) and 8-byte stack slots of the
/// current frame (bit k = fp-8k-8..fp-8k-1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needed {
    /// Registers r0..r10.
    pub regs: u16,
    /// Stack slots 0..63.
    pub slots: u64,
}

/// The stack slot and whether an access of `size` bytes at `r10 + off` covers it entirely.
fn fp_slot(off: i16, size: u8) -> Option<(u32, bool)> {
    let off = off as i32;
    if !(-512..0).contains(&off) {
        return None;
    }
    let slot = ((-off - 1) / 8) as u32;
    // The access must stay inside that slot (aligned accesses always do).
    let end = off + size as i32;
    if end > -((slot as i32) * 8) {
        return None;
    }
    Some((slot, size == 8 && off % 8 == 0))
}

fn size_of(opcode: u8) -> u8 {
    match size(opcode) {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// Backward transfer of one instruction.
fn transfer(insn: &Insn, out: Needed) -> Needed {
    let cls = class(insn.opcode);
    let atomic = cls == BPF_STX && mode(insn.opcode) == BPF_ATOMIC;
    // Load-acquire and store-release move data as plain loads and stores do.
    let is_load = cls == BPF_LDX || (atomic && insn.imm == BPF_LOAD_ACQ);
    let is_store = cls == BPF_ST
        || (cls == BPF_STX && mode(insn.opcode) == BPF_MEM)
        || (atomic && insn.imm == BPF_STORE_REL);
    // Stack accesses through r10 with a constant offset are tracked per slot.
    if insn.dst == 10 && is_store {
        let sz = size_of(insn.opcode);
        if let Some((slot, full)) = fp_slot(insn.off, sz) {
            let slot_needed = out.slots & (1 << slot) != 0;
            let mut inn = out;
            if full {
                inn.slots &= !(1 << slot);
            }
            if cls == BPF_STX && slot_needed {
                inn.regs |= bit(insn.src);
            }
            return inn;
        }
    }
    if insn.src == 10 && is_load {
        let sz = size_of(insn.opcode);
        if let Some((slot, _)) = fp_slot(insn.off, sz) {
            let mut inn = out;
            let dst_needed = out.regs & bit(insn.dst) != 0;
            inn.regs &= !bit(insn.dst);
            if dst_needed {
                inn.slots |= 1 << slot;
            }
            return inn;
        }
    }
    // A plain store through any other pointer reads no slot and kills none we could name.
    // Its value can matter only if it lands in a stack slot whose value matters afterwards
    // (the stack is the only memory whose contents are tracked: a scalar stored into the
    // context, a map value or the packet loads back unknown): so only if some slot does.
    if is_store && !atomic {
        let value = if cls == BPF_STX && out.slots != 0 {
            bit(insn.src)
        } else {
            0
        };
        return Needed {
            regs: out.regs | bit(insn.dst) | value,
            slots: out.slots,
        };
    }
    let e = effect(insn);
    let mut regs = (out.regs & !e.defs) | e.uses;
    if let Some((d, operands)) = e.flow
        && out.regs & bit(d) != 0
    {
        regs |= operands;
    }
    // A read-modify-write atomic on `r10 + k` touches that one slot, no other: the slot's
    // old value flows only into its new value and into the register the atomic writes (`src`
    // when fetching, r0 for `cmpxchg`), so it matters only if one of those does. The
    // operands (`src`, and r0 for `cmpxchg`) flow only into the slot's new value, so they
    // matter only if the slot does; the register the atomic writes is defined here.
    if insn.dst == 10
        && atomic
        && !matches!(insn.imm, BPF_LOAD_ACQ | BPF_STORE_REL)
        && let Some((slot, _)) = fp_slot(insn.off, size_of(insn.opcode))
    {
        let fetched = if insn.imm == BPF_CMPXCHG {
            bit(0)
        } else if insn.imm & BPF_FETCH != 0 {
            bit(insn.src)
        } else {
            0
        };
        let slot_needed = out.slots & (1 << slot) != 0;
        let matters = slot_needed || out.regs & fetched != 0;
        let slots = if matters {
            out.slots | (1 << slot)
        } else {
            out.slots
        };
        let mut regs = (out.regs & !fetched) | bit(insn.dst);
        if slot_needed {
            regs |= bit(insn.src);
            if insn.imm == BPF_CMPXCHG {
                regs |= bit(0);
            }
        }
        return Needed { regs, slots };
    }
    // A load through any other pointer may read any slot, but its value goes only to the
    // destination: the slots matter only if the destination does.
    if is_load && out.regs & bit(insn.dst) == 0 {
        return Needed {
            regs,
            slots: out.slots,
        };
    }
    // Any other memory access, call or atomic may touch the stack through a pointer.
    let touches_memory = matches!(cls, BPF_LDX | BPF_ST | BPF_STX)
        || ((cls == BPF_JMP) && op(insn.opcode) == BPF_CALL && call_may_access_memory(insn));
    let slots = if touches_memory { u64::MAX } else { out.slots };
    Needed { regs, slots }
}

/// The least fixpoint of a backward data-flow problem over the instruction graph: for every
/// slot, the value before it, `transfer(pc, join of the values of its successors)`, starting
/// from `T::default()` everywhere (the empty set) and joined with `join`.
fn backward_fixpoint<T: Copy + Default + PartialEq>(
    insns: &[Insn],
    join: impl Fn(T, T) -> T,
    transfer: impl Fn(usize, T) -> T,
) -> Vec<T> {
    let n = insns.len();
    let mut value_in: Vec<T> = vec![T::default(); n];
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for pc in 0..n {
        for s in successors(insns, pc) {
            preds[s].push(pc);
        }
    }
    let mut work: Vec<usize> = (0..n).collect();
    let mut queued = vec![true; n];
    while let Some(pc) = work.pop() {
        queued[pc] = false;
        let out = successors(insns, pc)
            .iter()
            .fold(T::default(), |acc, &s| join(acc, value_in[s]));
        let inn = transfer(pc, out);
        if inn != value_in[pc] {
            value_in[pc] = inn;
            for &p in &preds[pc] {
                if !queued[p] {
                    queued[p] = true;
                    work.push(p);
                }
            }
        }
    }
    value_in
}

/// For every slot, the registers live before it: those some path from it reads before
/// writing (the kernel's `compute_live_registers`, `live_regs_before`). Every read counts,
/// whatever the value is then used for (an ALU result nobody reads still makes the
/// instruction read its operands: the kernel checks operand types there); a helper call reads
/// r1 up to its argument count, any other call r1-r5 (`callx` also its register), and every
/// call writes r0-r5; a
/// local call's callee is analysed as its own function from its first slot; r10 is always
/// live. Pruning may ignore a register that is not live: nothing from here can observe it.
pub fn live_registers(insns: &[Insn]) -> Vec<u16> {
    backward_fixpoint(
        insns,
        |a: Regs, b| a | b,
        |pc, out| {
            let insn = &insns[pc];
            let e = effect(insn);
            let mut uses = e.uses | e.flow.map_or(0, |(_, operands)| operands);
            let cls = class(insn.opcode);
            if (cls == BPF_JMP || cls == BPF_JMP32)
                && op(insn.opcode) == BPF_CALL
                && source(insn.opcode) == BPF_X
            {
                uses |= bit(insn.dst);
            }
            (out & !e.defs) | uses | bit(10)
        },
    )
}

/// For every slot, the 8-byte stack slots of the current frame that are live before it:
/// some path from it may read a byte of the slot before an 8-byte store through `r10`
/// overwrites the whole slot (the kernel 6.18's static stack liveness, `liveness.c`, which
/// `clean_func_state` uses to forget dead slots of an explored state). Every read counts,
/// whatever its value is then used for. Loads and atomics through `r10` with a constant
/// offset inside one slot read that slot; any other load or atomic, a helper call that takes
/// memory, and a local call may read the stack through a pointer, and make every slot live.
/// Stores read nothing; only a whole aligned 8-byte store through `r10` kills its slot.
/// Pruning may ignore a slot that is not live: nothing from here can observe it.
pub fn live_stack_slots(insns: &[Insn]) -> Vec<u64> {
    backward_fixpoint(
        insns,
        |a: u64, b| a | b,
        |pc, out| slot_liveness_transfer(&insns[pc], out),
    )
}

/// Backward transfer of stack-slot liveness over one instruction.
fn slot_liveness_transfer(insn: &Insn, out: u64) -> u64 {
    let cls = class(insn.opcode);
    let atomic = cls == BPF_STX && mode(insn.opcode) == BPF_ATOMIC;
    let plain_store = cls == BPF_ST || (cls == BPF_STX && mode(insn.opcode) == BPF_MEM);
    let size = size_of(insn.opcode);
    match cls {
        // A store through r10 writes its slot: a whole aligned 8-byte store kills it, a
        // narrower one leaves the rest of the slot as it was (and reads nothing).
        _ if plain_store && insn.dst == 10 => match fp_slot(insn.off, size) {
            Some((slot, true)) => out & !(1 << slot),
            _ => out,
        },
        // A store through any other pointer (maybe into the stack) reads nothing and kills
        // no slot we could name.
        _ if plain_store => out,
        // A load (or an atomic: it reads before it writes) through r10 reads its slot.
        BPF_LDX if insn.src == 10 => match fp_slot(insn.off, size) {
            Some((slot, _)) => out | (1 << slot),
            None => u64::MAX,
        },
        _ if atomic && insn.dst == 10 => match fp_slot(insn.off, size) {
            Some((slot, _)) => out | (1 << slot),
            None => u64::MAX,
        },
        // A load or atomic through any other pointer may read any slot.
        BPF_LDX | BPF_ST | BPF_STX => u64::MAX,
        BPF_JMP if op(insn.opcode) == BPF_CALL && call_may_access_memory(insn) => u64::MAX,
        _ => out,
    }
}

/// For every slot, what may still matter when execution reaches it. Registers and stack
/// slots outside the sets can be compared by type alone when pruning.
pub fn needed(insns: &[Insn]) -> Vec<Needed> {
    needed_with(insns, &[])
}

/// `needed`, where the destination of every instruction flagged in `dst_used` also counts
/// as read: the verifier flags an ALU instruction once a path ran it as `scalar op= pointer`,
/// whose checks look at the scalar's bounds even when the result is never used (the kernel
/// marks that scalar precise, `mark_chain_precision`).
pub fn needed_with(insns: &[Insn], dst_used: &[bool]) -> Vec<Needed> {
    let join = |a: Needed, b: Needed| Needed {
        regs: a.regs | b.regs,
        slots: a.slots | b.slots,
    };
    backward_fixpoint(insns, join, |pc, out| {
        let mut inn = transfer(&insns[pc], out);
        if dst_used.get(pc).copied().unwrap_or(false) {
            inn.regs |= bit(insns[pc].dst);
        }
        inn
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_vm::assemble;

    fn live(text: &str) -> Vec<u64> {
        live_stack_slots(&assemble(text).expect("assembles"))
    }

    #[test]
    fn a_slot_is_live_from_a_store_to_its_read_and_dead_after() {
        let l = live(
            "stxdw [%r10-8], %r1
stxw [%r10-16], %r1
ldxw %r2, [%r10-8]
mov %r0, 1
exit",
        );
        // Slot 0 (fp-8) is read at 2: live at 1 and 2, killed by the whole store at 0;
        // slot 1 (fp-16) is written only by a 4-byte store, which neither kills nor reads it,
        // and never read: dead everywhere.
        assert_eq!(l, vec![0, 1, 1, 0, 0]);
    }

    #[test]
    fn reads_through_other_pointers_and_memory_helpers_make_every_slot_live() {
        // A store through another pointer reads nothing; a load through one may read any slot.
        let l = live(
            "mov %r2, %r10
stxw [%r1+4], %r0
ldxw %r3, [%r2-8]
exit",
        );
        assert_eq!(l, vec![u64::MAX, u64::MAX, u64::MAX, 0]);
        // bpf_map_lookup_elem reads its key from memory; bpf_get_prandom_u32 takes none.
        let l = live(
            "call 7
mov %r0, 1
exit",
        );
        assert_eq!(l, vec![0, 0, 0]);
        let l = live(
            "lddw %r1, map_fd 0
mov %r2, %r10
add %r2, -8
call 1
exit",
        );
        assert_eq!(l[3], u64::MAX);
        assert_eq!(l[5], 0);
    }
}
