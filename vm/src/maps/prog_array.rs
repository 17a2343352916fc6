//! Program array storage (BPF_MAP_TYPE_PROG_ARRAY): `max_entries` slots, each empty or holding
//! a program that `bpf_tail_call` may jump to. Slots are filled from Rust (the kernel takes
//! program fds from user space); programs cannot update them.
//!
//! A program stored in a prog array of its own object holds an `Arc` to that map, so the
//! two keep each other alive until the slot is cleared (`Map::prog_array_set(i, None)`), as
//! the kernel keeps a prog array's programs until user space removes them.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{MapError, MapMeta};
use crate::program::Program;
use crate::verified::VerifiedProgram;

/// One filled slot: the program, and whether it was stored as a `VerifiedProgram`.
#[derive(Debug, Clone)]
struct Slot {
    program: Arc<Program>,
    verified: bool,
}

/// The slots of a prog array.
#[derive(Debug)]
pub(crate) struct ProgArrayStorage {
    slots: Mutex<Vec<Option<Slot>>>,
}

impl ProgArrayStorage {
    /// `max_entries` empty slots.
    pub(crate) fn new(meta: &MapMeta) -> ProgArrayStorage {
        ProgArrayStorage {
            slots: Mutex::new(vec![None; meta.def.max_entries as usize]),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Option<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The program in slot `index`, and whether it was stored verified.
    pub(crate) fn get(&self, index: u32) -> Option<(Arc<Program>, bool)> {
        let slots = self.lock();
        let slot = slots.get(index as usize)?.as_ref()?;
        Some((slot.program.clone(), slot.verified))
    }

    /// Clears every slot in one pass (dropping the programs they held), returning how many
    /// were filled.
    pub(crate) fn clear(&self) -> usize {
        let mut slots = self.lock();
        let mut cleared = 0;
        for slot in slots.iter_mut().filter(|s| s.is_some()) {
            *slot = None;
            cleared += 1;
        }
        cleared
    }

    /// Fills (with an unverified program) or clears slot `index`.
    pub(crate) fn set(
        &self,
        meta: &MapMeta,
        index: u32,
        program: Option<Arc<Program>>,
    ) -> Result<(), MapError> {
        self.put(
            meta,
            index,
            program.map(|program| Slot {
                program,
                verified: false,
            }),
        )
    }

    /// Fills slot `index` with a verified program.
    pub(crate) fn set_verified(
        &self,
        meta: &MapMeta,
        index: u32,
        program: &VerifiedProgram,
    ) -> Result<(), MapError> {
        let slot = Slot {
            program: program.program_arc().clone(),
            verified: true,
        };
        self.put(meta, index, Some(slot))
    }

    /// Fills or clears slot `index` (E2BIG when out of range, as the kernel's fd array).
    fn put(&self, meta: &MapMeta, index: u32, program: Option<Slot>) -> Result<(), MapError> {
        let mut slots = self.lock();
        let slot = slots
            .get_mut(index as usize)
            .ok_or_else(|| MapError::Full {
                map: meta.name.clone(),
                max_entries: meta.def.max_entries,
            })?;
        *slot = program;
        Ok(())
    }

    /// `fd_array_map_delete_elem`: clears a filled slot, ENOENT if empty or out of range.
    pub(crate) fn delete(&self, meta: &MapMeta, index: u32) -> Result<(), MapError> {
        let mut slots = self.lock();
        match slots.get_mut(index as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => Err(MapError::NotFound {
                map: meta.name.clone(),
            }),
        }
    }

    /// Number of filled slots.
    pub(crate) fn filled(&self) -> usize {
        self.lock().iter().filter(|s| s.is_some()).count()
    }
}
