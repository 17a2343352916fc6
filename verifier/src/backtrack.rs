//! Precision backtracking (`mark_chain_precision` and `backtrack_insn` in
//! kernel/bpf/verifier.c): when a check depends on a scalar's exact range (a decided branch,
//! `pointer += scalar`, a helper's constant size, R0 at exit, ...), the verifier walks the
//! current path backwards through its instruction history and marks, in every stored state it
//! passes, the registers and spilled stack slots that value came from. Pruning then compares
//! only marked scalars by range: an unmarked scalar never decided anything on the paths
//! explored from that state.
//!
//! This module holds the history entries a path records and the backward transfer of one
//! instruction; `check` walks the history and marks the stored states.

use sockops_vm::Insn;
use sockops_vm::opcode::*;

use crate::check::MAX_CALL_FRAMES;

/// No stack slot: the entry is not a spill or fill.
pub(crate) const NO_SLOT: u16 = u16::MAX;

/// One processed instruction of a path (the kernel's `bpf_jmp_history_entry`, kept for every
/// instruction rather than only for jumps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HistEntry {
    /// The instruction.
    pub pc: u32,
    /// The stack slot this instruction spilled a register to or filled one from
    /// (`INSN_F_STACK_ACCESS`): `frame << 8 | slot`, or [`NO_SLOT`].
    pub slot: u16,
    /// For a conditional jump that refined scalars sharing an id: 1 + the index of the
    /// linked registers and slots in the environment's table (0: none).
    pub linked: u32,
    /// The kernel would keep an entry for this instruction (a jump point, a spill or fill,
    /// or linked scalars): it counts towards the forced checkpoint.
    pub counted: bool,
}

impl HistEntry {
    /// The entry of an instruction before anything is known about it.
    pub fn new(pc: usize) -> HistEntry {
        HistEntry {
            pc: pc as u32,
            slot: NO_SLOT,
            linked: 0,
            counted: false,
        }
    }
}

/// A linked scalar: a register (`frame << 8 | reg`) or a spilled slot
/// (`frame << 8 | 0x80 | slot`).
pub(crate) type Linked = u16;

/// Packs a linked register.
pub(crate) fn linked_reg(frame: usize, reg: usize) -> Linked {
    ((frame as u16) << 8) | reg as u16
}

/// Packs a linked stack slot.
pub(crate) fn linked_slot(frame: usize, slot: usize) -> Linked {
    ((frame as u16) << 8) | 0x80 | slot as u16
}

/// The registers and stack slots whose precision is being traced, per frame
/// (`backtrack_state`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bt {
    /// The frame the walk is in.
    pub frame: usize,
    /// Registers per frame (bit r).
    pub regs: [u16; MAX_CALL_FRAMES],
    /// Stack slots per frame (bit k: fp-8k-8..fp-8k-1).
    pub slots: [u64; MAX_CALL_FRAMES],
}

/// The backtracking found a history it cannot explain (the kernel's `-ENOTSUPP` and its
/// verifier-bug cases): the caller falls back to marking every scalar precise.
#[derive(Debug)]
pub(crate) struct Unsupported;

const ARGS: u16 = 0b11_1110; // r1..r5

impl Bt {
    /// A walk starting in `frame`.
    pub fn new(frame: usize) -> Bt {
        Bt {
            frame,
            ..Bt::default()
        }
    }

    /// True when nothing is traced any more.
    pub fn is_empty(&self) -> bool {
        self.regs.iter().all(|r| *r == 0) && self.slots.iter().all(|s| *s == 0)
    }

    fn has(&self, r: u8) -> bool {
        r < 16 && self.regs[self.frame] & (1 << r) != 0
    }

    /// Traces register `r` of the current frame.
    pub fn set(&mut self, r: u8) {
        if r < 16 {
            self.regs[self.frame] |= 1 << r;
        }
    }

    fn clear(&mut self, r: u8) {
        if r < 16 {
            self.regs[self.frame] &= !(1 << r);
        }
    }

    fn slot_of(packed: u16) -> (usize, u32) {
        ((packed >> 8) as usize, u32::from(packed & 0x3f))
    }

    /// Makes every linked scalar traced once one of them is (`bt_sync_linked_regs`).
    fn sync_linked(&mut self, linked: &[Linked]) {
        let traced = |bt: &Bt, l: Linked| {
            let fr = (l >> 8) as usize;
            if fr >= MAX_CALL_FRAMES {
                return false;
            }
            if l & 0x80 != 0 {
                bt.slots[fr] & (1 << (l & 0x3f)) != 0
            } else {
                bt.regs[fr] & (1 << (l & 0x0f)) != 0
            }
        };
        if !linked.iter().any(|&l| traced(self, l)) {
            return;
        }
        for &l in linked {
            let fr = (l >> 8) as usize;
            if fr >= MAX_CALL_FRAMES {
                continue;
            }
            if l & 0x80 != 0 {
                self.slots[fr] |= 1 << (l & 0x3f);
            } else {
                self.regs[fr] |= 1 << (l & 0x0f);
            }
        }
    }
}

/// `backtrack_insn`: moves the traced set from after instruction `e.pc` to before it.
/// `subseq` is the instruction the path ran next (the kernel's `subseq_idx`), `linked` the
/// scalars the entry's jump linked.
pub(crate) fn backtrack_insn(
    insns: &[Insn],
    e: &HistEntry,
    subseq: Option<usize>,
    linked: &[Linked],
    bt: &mut Bt,
) -> Result<(), Unsupported> {
    let idx = e.pc as usize;
    let insn = *insns.get(idx).ok_or(Unsupported)?;
    bt.sync_linked(linked);
    let cls = class(insn.opcode);
    let (dreg, sreg) = (insn.dst, insn.src);
    let is_x = source(insn.opcode) == BPF_X;
    let atomic = cls == BPF_STX && mode(insn.opcode) == BPF_ATOMIC;
    match cls {
        BPF_ALU | BPF_ALU64 => {
            if bt.has(dreg) {
                match op(insn.opcode) {
                    // The operand of NEG and END is the destination itself.
                    BPF_NEG | BPF_END => {}
                    BPF_MOV => {
                        bt.clear(dreg);
                        if is_x && sreg != 10 {
                            bt.set(sreg);
                        }
                    }
                    _ => {
                        if is_x {
                            bt.set(sreg);
                        }
                    }
                }
            }
        }
        _ if cls == BPF_LDX || (atomic && insn.imm == BPF_LOAD_ACQ) => {
            if bt.has(dreg) {
                bt.clear(dreg);
                // Only a fill restores a scalar with its range; a load from any other
                // memory gives a value whose precision nothing tracks.
                if e.slot != NO_SLOT {
                    let (fr, spi) = Bt::slot_of(e.slot);
                    if fr >= MAX_CALL_FRAMES {
                        return Err(Unsupported);
                    }
                    bt.slots[fr] |= 1 << spi;
                }
            }
        }
        BPF_STX | BPF_ST => {
            // A scalar used as the address: pointer subtraction the walk cannot follow.
            if bt.has(dreg) {
                return Err(Unsupported);
            }
            if e.slot != NO_SLOT {
                let (fr, spi) = Bt::slot_of(e.slot);
                if fr >= MAX_CALL_FRAMES {
                    return Err(Unsupported);
                }
                if bt.slots[fr] & (1 << spi) != 0 {
                    bt.slots[fr] &= !(1 << spi);
                    // The stored register belongs to the frame running the store.
                    if cls == BPF_STX {
                        bt.set(sreg);
                    }
                }
            }
        }
        BPF_JMP | BPF_JMP32 => match op(insn.opcode) {
            BPF_EXIT => {
                // Walking back into the callee that returned here.
                if bt.regs[bt.frame] & ARGS != 0 {
                    return Err(Unsupported);
                }
                let from_call = subseq.is_some_and(|s| {
                    s >= 1
                        && insns.get(s - 1).is_some_and(|c| {
                            c.opcode == (BPF_JMP | BPF_CALL) && c.src == BPF_PSEUDO_CALL
                        })
                });
                let r0 = from_call && bt.has(0);
                bt.clear(0);
                if bt.frame + 1 >= MAX_CALL_FRAMES {
                    return Err(Unsupported);
                }
                bt.frame += 1;
                if r0 {
                    bt.set(0);
                }
            }
            BPF_CALL => {
                if insn.src == BPF_PSEUDO_CALL {
                    // Back from the callee's first instruction to its call: only arguments
                    // can still be traced; they are the caller's r1-r5.
                    if bt.regs[bt.frame] & !ARGS != 0 || bt.slots[bt.frame] != 0 || bt.frame == 0 {
                        return Err(Unsupported);
                    }
                    let args = bt.regs[bt.frame] & ARGS;
                    bt.regs[bt.frame] = 0;
                    bt.frame -= 1;
                    bt.regs[bt.frame] |= args;
                } else if insn.src == 0 {
                    // A helper sets R0 and clobbers r1-r5.
                    bt.clear(0);
                    if bt.regs[bt.frame] & ARGS != 0 {
                        return Err(Unsupported);
                    }
                } else {
                    return Err(Unsupported);
                }
            }
            BPF_JA => {}
            _ => {
                // `dst <cond> src`: either side's range came from the other's.
                if is_x && (bt.has(dreg) || bt.has(sreg)) {
                    bt.set(dreg);
                    bt.set(sreg);
                }
            }
        },
        _ => {
            if insn.opcode == LD_IMM64 {
                bt.clear(dreg);
            } else if bt.has(dreg) {
                return Err(Unsupported);
            }
        }
    }
    bt.sync_linked(linked);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_vm::assemble;

    fn walk(text: &str, from: usize, regs: u16) -> Bt {
        let insns = assemble(text).expect("assembles");
        let mut bt = Bt::new(0);
        bt.regs[0] = regs;
        let mut subseq = Some(from);
        for pc in (0..from).rev() {
            let e = HistEntry::new(pc);
            backtrack_insn(&insns, &e, subseq, &[], &mut bt).expect("explained");
            subseq = Some(pc);
        }
        bt
    }

    #[test]
    fn a_move_hands_precision_to_its_source_and_a_constant_ends_it() {
        // r3 = r1; r3 += r2: before the add both r3 and r2 matter, before the move r1 and r2.
        let bt = walk(
            "mov %r3, %r1
add %r3, %r2
exit",
            2,
            1 << 3,
        );
        assert_eq!(bt.regs[0], (1 << 1) | (1 << 2));
        let bt = walk(
            "mov %r3, 7
add %r3, 1
exit",
            2,
            1 << 3,
        );
        assert!(bt.is_empty());
    }

    #[test]
    fn a_fill_traces_its_slot_and_the_spill_its_source() {
        let insns = assemble(
            "stxdw [%r10-16], %r4
ldxdw %r0, [%r10-16]
exit",
        )
        .expect("assembles");
        let mut bt = Bt::new(0);
        bt.set(0);
        let fill = HistEntry {
            slot: 1,
            ..HistEntry::new(1)
        };
        backtrack_insn(&insns, &fill, Some(2), &[], &mut bt).expect("explained");
        assert_eq!((bt.regs[0], bt.slots[0]), (0, 1 << 1));
        let spill = HistEntry {
            slot: 1,
            ..HistEntry::new(0)
        };
        backtrack_insn(&insns, &spill, Some(1), &[], &mut bt).expect("explained");
        assert_eq!((bt.regs[0], bt.slots[0]), (1 << 4, 0));
        // A load that is not a fill ends the trace.
        let mut bt = Bt::new(0);
        bt.set(0);
        backtrack_insn(&insns, &HistEntry::new(1), Some(2), &[], &mut bt).expect("explained");
        assert!(bt.is_empty());
    }

    #[test]
    fn linked_scalars_are_traced_together_and_helper_arguments_cannot_be() {
        let insns = assemble(
            "jgt %r1, 5, +0
call 7
exit",
        )
        .expect("assembles");
        let mut bt = Bt::new(0);
        bt.set(2);
        let linked = [linked_reg(0, 1), linked_reg(0, 2), linked_slot(0, 3)];
        backtrack_insn(&insns, &HistEntry::new(0), Some(1), &linked, &mut bt).expect("explained");
        assert_eq!((bt.regs[0], bt.slots[0]), ((1 << 1) | (1 << 2), 1 << 3));
        let mut bt = Bt::new(0);
        bt.set(1);
        assert!(backtrack_insn(&insns, &HistEntry::new(1), Some(2), &[], &mut bt).is_err());
    }
}
