//! Queue and stack storage (BPF_MAP_TYPE_QUEUE / BPF_MAP_TYPE_STACK), as
//! kernel/bpf/queue_stack_maps.c: `push` appends (BPF_EXIST makes room by dropping the oldest
//! element when full, otherwise a full map is E2BIG), `pop`/`peek` take the oldest element
//! (queue) or the newest (stack), ENOENT when empty. Values are copied in and out, so no
//! pointer into this storage is ever handed to a program.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::{BPF_EXIST, BPF_NOEXIST, MapError, MapMeta};

/// The elements of a queue or stack map, oldest first.
#[derive(Debug)]
pub(crate) struct QueueStorage {
    elems: Mutex<VecDeque<Vec<u8>>>,
    stack: bool,
}

impl QueueStorage {
    /// An empty queue (`stack == false`) or stack.
    pub(crate) fn new(stack: bool) -> QueueStorage {
        QueueStorage {
            elems: Mutex::new(VecDeque::new()),
            stack,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.elems.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// `queue_stack_map_push_elem`.
    pub(crate) fn push(&self, meta: &MapMeta, value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags & BPF_NOEXIST != 0 || flags > BPF_EXIST {
            return Err(MapError::InvalidFlags {
                map: meta.name.clone(),
                flags,
            });
        }
        meta.check_value_len(value, meta.def.value_size as usize)?;
        let mut q = self.lock();
        if q.len() >= meta.def.max_entries as usize {
            if flags & BPF_EXIST == 0 {
                return Err(MapError::Full {
                    map: meta.name.clone(),
                    max_entries: meta.def.max_entries,
                });
            }
            q.pop_front();
        }
        q.push_back(value.to_vec());
        Ok(())
    }

    /// `queue_map_pop_elem` / `stack_map_pop_elem` (`delete == true`) and the peek variants.
    pub(crate) fn take(&self, meta: &MapMeta, delete: bool) -> Result<Vec<u8>, MapError> {
        let mut q = self.lock();
        let got = match (self.stack, delete) {
            (false, true) => q.pop_front(),
            (true, true) => q.pop_back(),
            (false, false) => q.front().cloned(),
            (true, false) => q.back().cloned(),
        };
        got.ok_or_else(|| MapError::NotFound {
            map: meta.name.clone(),
        })
    }

    /// Every element, oldest first (for inspection from Rust).
    pub(crate) fn snapshot(&self) -> Vec<Vec<u8>> {
        self.lock().iter().cloned().collect()
    }
}
