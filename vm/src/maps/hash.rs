//! Hash storage: BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH.
//!
//! Each entry's value lives in its own `ValueBuf`, so its address is stable while the entry
//! exists. Deleting (or evicting, or freeing at map drop) an entry whose value a running
//! program may still point to would free memory under it, so removed values go to a
//! graveyard that `release_deferred` empties between runs (the kernel defers with RCU).
//! Iteration order (`next_key`) is insertion order; the kernel's is bucket order, which
//! programs cannot rely on either. LRU maps evict the least recently used entry exactly
//! (the kernel approximates this with per-CPU lists); program lookups and updates count as
//! uses, user-space lookups do not (as `htab_lru_map_lookup_elem_sys`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::storage::ValueBuf;
use super::{BPF_EXIST, BPF_NOEXIST, MapError, MapMeta, Origin};

/// One entry: its value buffer and its places in the iteration and LRU orders.
#[derive(Debug)]
struct Entry {
    value: ValueBuf,
    seq: u64,
    tick: u64,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Vec<u8>, Entry>,
    /// seq -> key: insertion order, for `next_key`.
    order: BTreeMap<u64, Vec<u8>>,
    /// tick -> key: recency, for LRU eviction.
    recency: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
    next_tick: u64,
    /// Values of removed entries, freed by `release_deferred`.
    graveyard: Vec<ValueBuf>,
}

impl State {
    fn touch(&mut self, key: &[u8]) {
        let tick = self.next_tick;
        if let Some(e) = self.entries.get_mut(key) {
            self.recency.remove(&e.tick);
            e.tick = tick;
            self.recency.insert(tick, key.to_vec());
            self.next_tick += 1;
        }
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.order.remove(&e.seq);
                self.recency.remove(&e.tick);
                self.graveyard.push(e.value);
                true
            }
            None => false,
        }
    }

    fn evict_least_recent(&mut self) -> bool {
        let Some((_, key)) = self.recency.pop_first() else {
            return false;
        };
        match self.entries.remove(&key) {
            Some(e) => {
                self.order.remove(&e.seq);
                self.graveyard.push(e.value);
                true
            }
            None => false,
        }
    }
}

/// The entries of a hash-family map.
#[derive(Debug)]
pub(crate) struct HashStorage {
    state: Mutex<State>,
    lru: bool,
    percpu: bool,
}

impl HashStorage {
    /// An empty hash map.
    pub(crate) fn new(lru: bool, percpu: bool) -> HashStorage {
        HashStorage {
            state: Mutex::new(State::default()),
            lru,
            percpu,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than losing the map; keep serving instead of propagating poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry_bytes(&self, meta: &MapMeta) -> usize {
        if self.percpu {
            meta.stride() * meta.ncpus
        } else {
            meta.stride()
        }
    }

    fn cpu_offset(&self, meta: &MapMeta, cpu: usize) -> usize {
        if self.percpu { cpu * meta.stride() } else { 0 }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Host address of `key`'s value for `cpu` (a program lookup: counts as a use in LRU maps).
    pub(crate) fn lookup_ptr(&self, meta: &MapMeta, key: &[u8], cpu: usize) -> Option<*mut u8> {
        if cpu >= meta.ncpus {
            return None;
        }
        let mut st = self.lock();
        if self.lru {
            st.touch(key);
        }
        let e = st.entries.get(key)?;
        // SAFETY: cpu < ncpus, and the entry buffer holds ncpus strides for per-CPU maps
        // (offset 0 otherwise), so the pointer stays inside the value buffer.
        Some(unsafe { e.value.as_ptr().add(self.cpu_offset(meta, cpu)) })
    }

    /// The value (per-CPU: every CPU's value, each padded to 8 bytes), as the syscall returns it.
    pub(crate) fn lookup(&self, meta: &MapMeta, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let st = self.lock();
        let e = st.entries.get(key).ok_or_else(|| MapError::NotFound {
            map: meta.name.clone(),
        })?;
        let vs = meta.def.value_size as usize;
        if !self.percpu {
            let mut out = vec![0u8; vs];
            e.value.read(0, &mut out);
            return Ok(out);
        }
        let stride = meta.stride();
        let mut out = vec![0u8; stride * meta.ncpus];
        for cpu in 0..meta.ncpus {
            e.value
                .read(cpu * stride, &mut out[cpu * stride..cpu * stride + vs]);
        }
        Ok(out)
    }

    /// `htab_map_update_elem` and its per-CPU and LRU variants.
    pub(crate) fn update(
        &self,
        meta: &MapMeta,
        key: &[u8],
        value: &[u8],
        flags: u64,
        origin: Origin,
    ) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return Err(MapError::InvalidFlags {
                map: meta.name.clone(),
                flags,
            });
        }
        let vs = meta.def.value_size as usize;
        let stride = meta.stride();
        let all_cpus = self.percpu && origin == Origin::User;
        meta.check_value_len(value, if all_cpus { stride * meta.ncpus } else { vs })?;
        let write = |buf: &ValueBuf| {
            if all_cpus {
                for cpu in 0..meta.ncpus {
                    buf.write(cpu * stride, &value[cpu * stride..cpu * stride + vs]);
                }
            } else {
                let cpu = if self.percpu { meta.current_cpu() } else { 0 };
                buf.write(self.cpu_offset(meta, cpu), value);
            }
        };
        let mut st = self.lock();
        let exists = st.entries.contains_key(key);
        if exists && flags == BPF_NOEXIST {
            return Err(MapError::Exists {
                map: meta.name.clone(),
            });
        }
        if !exists && flags == BPF_EXIST {
            return Err(MapError::NotFound {
                map: meta.name.clone(),
            });
        }
        if let Some(e) = st.entries.get(key) {
            // Updated in place: the value keeps its address (the kernel swaps in a new
            // element for non-per-CPU maps; programs cannot tell except through a pointer
            // they kept across their own update, which then sees the new value here).
            write(&e.value);
            if self.lru {
                st.touch(key);
            }
            return Ok(());
        }
        if st.entries.len() >= meta.def.max_entries as usize
            && !(self.lru && st.evict_least_recent())
        {
            return Err(MapError::Full {
                map: meta.name.clone(),
                max_entries: meta.def.max_entries,
            });
        }
        let buf = ValueBuf::zeroed(self.entry_bytes(meta));
        write(&buf);
        let (seq, tick) = (st.next_seq, st.next_tick);
        st.next_seq += 1;
        st.next_tick += 1;
        st.order.insert(seq, key.to_vec());
        st.recency.insert(tick, key.to_vec());
        st.entries.insert(
            key.to_vec(),
            Entry {
                value: buf,
                seq,
                tick,
            },
        );
        Ok(())
    }

    /// Removes `key`; its value is freed by the next `release_deferred`.
    pub(crate) fn delete(&self, meta: &MapMeta, key: &[u8]) -> Result<(), MapError> {
        if self.lock().remove(key) {
            Ok(())
        } else {
            Err(MapError::NotFound {
                map: meta.name.clone(),
            })
        }
    }

    /// `htab_map_get_next_key`: the key after `key`, or the first key if `key` is absent or
    /// not in the map; ENOENT after the last.
    pub(crate) fn next_key(&self, meta: &MapMeta, key: Option<&[u8]>) -> Result<Vec<u8>, MapError> {
        let st = self.lock();
        let after = key.and_then(|k| st.entries.get(k)).map(|e| e.seq);
        let next = match after {
            Some(seq) => st.order.range(seq + 1..).next(),
            None => st.order.iter().next(),
        };
        next.map(|(_, k)| k.clone())
            .ok_or_else(|| MapError::NotFound {
                map: meta.name.clone(),
            })
    }

    /// Frees the values of removed entries.
    pub(crate) fn release_deferred(&self) {
        self.lock().graveyard.clear();
    }

    /// Number of removed values waiting for `release_deferred`.
    pub(crate) fn deferred(&self) -> usize {
        self.lock().graveyard.len()
    }
}
