//! Dynptrs on the stack (kernel `process_dynptr_func`, `mark_stack_slots_dynptr`,
//! `destroy_if_dynptr_stack_slot`, `unmark_stack_slots_dynptr`): a dynptr is 16 stack bytes
//! (`STACK_DYNPTR`, two slots) that a helper builds (`bpf_dynptr_from_mem`,
//! `bpf_ringbuf_reserve_dynptr`), reads through (`bpf_dynptr_read`/`_write`/`_data`) and, for
//! a ring buffer record, releases (`bpf_ringbuf_submit_dynptr`/`_discard_dynptr`). The program
//! itself may not read the bytes; writing them destroys a local dynptr (and invalidates its
//! slices) and is refused for a referenced one.

use super::Env;
use super::mem::Val;
use crate::error::Reject;
use crate::reg::{DYNPTR_RINGBUF, RegState, RegType, dynptr_type_name};
use crate::stack::{ByteType, Slot};

/// `BPF_DYNPTR_SIZE`: a dynptr's bytes on the stack.
pub(super) const DYNPTR_SIZE: i64 = 16;

impl Env<'_> {
    /// `dynptr_get_spi` (`stack_slot_obj_get_spi`): the first (lower) slot of the dynptr the
    /// stack pointer `reg` points to. `Err(true)` when the kernel logs why (`dynptr has to be
    /// at a constant offset`, `cannot pass in dynptr at an offset=N`), `Err(false)` when the
    /// slots are past the frame's allocated stack (the kernel's silent `-ERANGE`).
    pub(super) fn dynptr_get_spi(&mut self, reg: &RegState) -> Result<usize, bool> {
        if !reg.var.is_const() {
            self.log_line("dynptr has to be at a constant offset");
            return Err(true);
        }
        let off = i64::from(reg.off).wrapping_add(reg.var.value() as i64);
        // __get_spi divides as C does (towards zero).
        let spi = (-off - 1) / 8;
        if off % 8 != 0 || spi + 1 < 2 {
            self.log_line(format!("cannot pass in dynptr at an offset={off}"));
            return Err(true);
        }
        let allocated = self
            .cur
            .frames
            .get(reg.frameno as usize)
            .map_or(0, |f| f.stack.slots.len() as i64);
        if spi >= allocated {
            return Err(false);
        }
        Ok(spi as usize)
    }

    /// The dynptr state kept in slot `spi` of `reg`'s frame.
    fn dynptr_slot(&self, reg: &RegState, spi: usize) -> Slot {
        self.cur
            .frames
            .get(reg.frameno as usize)
            .and_then(|f| f.stack.slots.get(spi))
            .copied()
            .unwrap_or(Slot::INVALID)
    }

    /// `is_dynptr_reg_valid_init`: an initialised dynptr starts at `reg`.
    fn dynptr_valid_init(&mut self, reg: &RegState) -> Option<usize> {
        let spi = self.dynptr_get_spi(reg).ok()?;
        let first = self.dynptr_slot(reg, spi);
        let second = self.dynptr_slot(reg, spi - 1);
        let all = |s: &Slot| s.bytes.iter().all(|b| *b == ByteType::Dynptr);
        (first.spilled.typ == RegType::Dynptr
            && first.spilled.range == 1
            && all(&first)
            && all(&second))
        .then_some(spi)
    }

    /// The release pre-check of `check_func_arg` for a dynptr: the slot must hold a
    /// reference (`arg N is an unacquired reference`).
    pub(super) fn check_dynptr_release_arg(
        &mut self,
        pc: usize,
        regno: u8,
        reg: &RegState,
    ) -> Result<(), Reject> {
        let held = match self.dynptr_get_spi(reg) {
            Ok(spi) => self.dynptr_slot(reg, spi).spilled.ref_obj_id != 0,
            Err(_) => false,
        };
        if !held {
            return Err(Reject::new(
                pc,
                format!("arg {regno} is an unacquired reference"),
            ));
        }
        Ok(())
    }

    /// `process_dynptr_func` for a stack pointer argument: builds a dynptr of type `init`
    /// (MEM_UNINIT), or checks that an initialised one (of type `expected`, if any) is there.
    pub(super) fn process_dynptr_arg(
        &mut self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        init: Option<u32>,
        expected: Option<u32>,
    ) -> Result<(), Reject> {
        if let Some(kind) = init {
            // is_dynptr_reg_valid_uninit: the offset must name two whole slots; slots not
            // yet allocated are fine (the writes below allocate them).
            if let Err(true) = self.dynptr_get_spi(reg) {
                return Err(Reject::new(pc, "Dynptr has to be an uninitialized dynptr"));
            }
            // The helper writes the 16 bytes 8 at a time (destroying a local dynptr there,
            // refusing to overwrite a referenced one).
            for i in (0..DYNPTR_SIZE).step_by(8) {
                self.check_mem_access(pc, regno, i, 8, true, Val::None, false, false)?;
            }
            return self.mark_stack_slots_dynptr(pc, reg, kind);
        }
        if self.dynptr_valid_init(reg).is_none() {
            return Err(Reject::new(
                pc,
                format!("Expected an initialized dynptr as arg #{}", regno - 1),
            ));
        }
        if let Some(kind) = expected {
            let spi = self.dynptr_get_spi(reg).unwrap_or(0);
            if self.dynptr_slot(reg, spi).spilled.map != kind {
                return Err(Reject::new(
                    pc,
                    format!(
                        "Expected a dynptr of type {} as arg #{}",
                        dynptr_type_name(kind),
                        regno - 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `mark_stack_slots_dynptr`: the 16 bytes at `reg` become a dynptr of type `kind` with a
    /// new id; a ring buffer dynptr holds a new reference acquired at `pc`.
    fn mark_stack_slots_dynptr(
        &mut self,
        pc: usize,
        reg: &RegState,
        kind: u32,
    ) -> Result<(), Reject> {
        let spi = self
            .dynptr_get_spi(reg)
            .map_err(|_| Reject::new(pc, "Dynptr has to be an uninitialized dynptr"))?;
        let frame = reg.frameno as usize;
        self.destroy_if_dynptr_stack_slot(pc, frame, spi)?;
        self.destroy_if_dynptr_stack_slot(pc, frame, spi - 1)?;
        let id = self.new_id();
        let ref_obj_id = if kind == DYNPTR_RINGBUF {
            let r = self.new_id();
            self.cur.refs.push((r, pc));
            r
        } else {
            0
        };
        let stack = &mut self.cur.frames[frame].stack;
        for (s, first) in [(spi, 1), (spi - 1, 0)] {
            stack.slots[s] = Slot {
                bytes: [ByteType::Dynptr; 8],
                spilled: RegState {
                    typ: RegType::Dynptr,
                    map: kind,
                    range: first,
                    id,
                    ref_obj_id,
                    var: crate::scalar::Scalar::konst(0),
                    ..RegState::NOT_INIT
                },
            };
        }
        Ok(())
    }

    /// `destroy_if_dynptr_stack_slot`: before slot `spi` of `frame` is written, a dynptr in it
    /// is destroyed (both its slots become never-written, its slices invalid); a referenced
    /// one may not be overwritten.
    pub(super) fn destroy_if_dynptr_stack_slot(
        &mut self,
        pc: usize,
        frame: usize,
        spi: usize,
    ) -> Result<(), Reject> {
        let Some(stack) = self.cur.frames.get(frame).map(|f| &f.stack) else {
            return Ok(());
        };
        let Some(slot) = stack.slots.get(spi) else {
            return Ok(());
        };
        if !slot.is_dynptr() {
            return Ok(());
        }
        let first = if slot.spilled.range == 1 {
            spi
        } else {
            spi + 1
        };
        let Some(first_slot) = stack.slots.get(first).copied() else {
            return Ok(());
        };
        if first_slot.spilled.ref_obj_id != 0 || first_slot.spilled.map == DYNPTR_RINGBUF {
            return Err(Reject::new(pc, "cannot overwrite referenced dynptr"));
        }
        let dynptr_id = first_slot.spilled.id;
        self.invalidate_slices(|r| r.dynptr_id == dynptr_id);
        let stack = &mut self.cur.frames[frame].stack;
        stack.slots[first] = Slot::INVALID;
        stack.slots[first - 1] = Slot::INVALID;
        Ok(())
    }

    /// Marks invalid (`mark_reg_invalid`: unreadable for unprivileged loaders, an unknown
    /// scalar otherwise) every dynptr slice, in a register or spilled, that `which` picks.
    fn invalidate_slices(&mut self, which: impl Fn(&RegState) -> bool) {
        let invalid = if self.strict() {
            RegState::NOT_INIT
        } else {
            RegState::unknown()
        };
        let slice = |r: &RegState| {
            matches!(r.typ, RegType::DynptrMem | RegType::DynptrMemOrNull) && which(r)
        };
        for fr in self.cur.frames.iter_mut() {
            for r in fr.regs.iter_mut() {
                if slice(r) {
                    *r = invalid;
                }
            }
            for sl in fr.stack.slots.iter_mut() {
                if sl.bytes[7] == ByteType::Spill && slice(&sl.spilled) {
                    sl.spilled = invalid;
                }
            }
        }
    }

    /// `unmark_stack_slots_dynptr` on release: the reference goes, with every slice and
    /// copy of the dynptr (and the dynptr itself).
    pub(super) fn release_dynptr(
        &mut self,
        pc: usize,
        helper: u32,
        reg: &RegState,
    ) -> Result<(), Reject> {
        let not_acquired = || {
            Reject::new(
                pc,
                format!(
                    "func {}#{helper} reference has not been acquired before",
                    super::call::func_name(helper as i32)
                ),
            )
        };
        let spi = self.dynptr_get_spi(reg).map_err(|_| not_acquired())?;
        let frame = reg.frameno as usize;
        let slot = self.dynptr_slot(reg, spi);
        let ref_obj_id = slot.spilled.ref_obj_id;
        self.release_reference(pc, helper, ref_obj_id)?;
        let stack = &mut self.cur.frames[frame].stack;
        for i in 1..stack.slots.len() {
            let s = stack.slots[i];
            if s.is_dynptr() && s.spilled.ref_obj_id == ref_obj_id && s.spilled.range == 1 {
                stack.slots[i] = Slot::INVALID;
                stack.slots[i - 1] = Slot::INVALID;
            }
        }
        Ok(())
    }

    /// The identity and reference of the initialised dynptr `reg` points to (for the slice
    /// `bpf_dynptr_data` returns).
    pub(super) fn dynptr_ids(&mut self, reg: &RegState) -> (u32, u32) {
        match self.dynptr_get_spi(reg) {
            Ok(spi) => {
                let s = self.dynptr_slot(reg, spi).spilled;
                (s.id, s.ref_obj_id)
            }
            Err(_) => (0, 0),
        }
    }
}
