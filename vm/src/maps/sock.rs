//! Socket maps as net/core/sock_map.c defines them: BPF_MAP_TYPE_SOCKMAP (slots indexed by a
//! u32 key below max_entries) and BPF_MAP_TYPE_SOCKHASH (any key of key_size bytes, at most
//! max_entries of them). An entry holds a socket, identified here by its cookie (the kernel
//! holds a `struct sock *`; its syscall lookup returns `sk_cookie`).
//!
//! Semantics (kernel function in parentheses):
//! - update (`sock_map_update_common` / `sock_hash_update_common`): flags above BPF_EXIST
//!   -EINVAL; sockmap index >= max_entries -E2BIG; BPF_NOEXIST on a filled entry -EEXIST;
//!   BPF_EXIST on an empty one -ENOENT; a new sockhash key when max_entries are held -E2BIG.
//! - delete (`sock_map_delete_elem` / `sock_hash_delete_elem`): sockmap -EINVAL for an index
//!   out of range or an empty slot; sockhash -ENOENT for an absent key.
//! - next_key (`sock_map_get_next_key`): sockmap walks every index like an array;
//!   sockhash walks its keys in insertion order (the kernel's is bucket order).
//! - lookup from user space (`sock_map_lookup_sys`): the cookie, only if value_size is 8
//!   (-ENOSPC otherwise), -ENOENT if empty.
//!
//! No value memory is exposed to programs: a program's `bpf_map_lookup_elem` on a socket map
//! returns a referenced socket the kernel makes sock_ops release with `bpf_sk_release`, which
//! sock_ops cannot call, so here it returns NULL.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::{BPF_EXIST, BPF_NOEXIST, MapError, MapMeta};

#[derive(Debug, Default)]
struct State {
    /// Sockmap: index -> cookie (only filled slots).
    slots: BTreeMap<u32, u64>,
    /// Sockhash: key -> (insertion sequence, cookie).
    keyed: HashMap<Vec<u8>, (u64, u64)>,
    /// Sockhash: insertion sequence -> key, for `next_key`.
    order: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
}

/// The sockets of a sockmap or sockhash.
#[derive(Debug)]
pub(crate) struct SockStorage {
    hash: bool,
    state: Mutex<State>,
}

fn index_of(key: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    let n = key.len().min(4);
    b[..n].copy_from_slice(&key[..n]);
    u32::from_ne_bytes(b)
}

impl SockStorage {
    /// An empty sockmap (`hash == false`) or sockhash.
    pub(crate) fn new(hash: bool) -> SockStorage {
        SockStorage {
            hash,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Entries are plain data; a panic elsewhere while holding the lock cannot break them.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of sockets held.
    pub(crate) fn len(&self) -> usize {
        let st = self.lock();
        if self.hash {
            st.keyed.len()
        } else {
            st.slots.len()
        }
    }

    /// The cookie of the socket under `key` (key size already checked).
    pub(crate) fn cookie(&self, key: &[u8]) -> Option<u64> {
        let st = self.lock();
        if self.hash {
            st.keyed.get(key).map(|e| e.1)
        } else {
            st.slots.get(&index_of(key)).copied()
        }
    }

    /// Puts the socket `cookie` under `key` with BPF_ANY / BPF_NOEXIST / BPF_EXIST.
    pub(crate) fn update(
        &self,
        meta: &MapMeta,
        key: &[u8],
        cookie: u64,
        flags: u64,
    ) -> Result<(), MapError> {
        let map = || meta.name.clone();
        if flags > BPF_EXIST {
            return Err(MapError::InvalidFlags { map: map(), flags });
        }
        let max_entries = meta.def.max_entries;
        let full = || MapError::Full {
            map: map(),
            max_entries,
        };
        let mut st = self.lock();
        if !self.hash {
            let idx = index_of(key);
            if idx >= max_entries {
                return Err(full());
            }
            let exists = st.slots.contains_key(&idx);
            check_flags(exists, flags, map)?;
            st.slots.insert(idx, cookie);
            return Ok(());
        }
        let exists = st.keyed.contains_key(key);
        check_flags(exists, flags, map)?;
        if let Some(e) = st.keyed.get_mut(key) {
            e.1 = cookie;
            return Ok(());
        }
        if st.keyed.len() >= max_entries as usize {
            return Err(full());
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.keyed.insert(key.to_vec(), (seq, cookie));
        st.order.insert(seq, key.to_vec());
        Ok(())
    }

    /// Removes the socket under `key`.
    pub(crate) fn delete(&self, meta: &MapMeta, key: &[u8]) -> Result<(), MapError> {
        let mut st = self.lock();
        if self.hash {
            match st.keyed.remove(key) {
                Some((seq, _)) => {
                    st.order.remove(&seq);
                    Ok(())
                }
                None => Err(MapError::NotFound {
                    map: meta.name.clone(),
                }),
            }
        } else {
            let index = index_of(key);
            match st.slots.remove(&index) {
                Some(_) => Ok(()),
                None => Err(MapError::EmptySocketSlot {
                    map: meta.name.clone(),
                    index,
                }),
            }
        }
    }

    /// Removes every entry holding socket `cookie` (the socket closed); returns how many.
    pub(crate) fn remove_socket(&self, cookie: u64) -> usize {
        let mut st = self.lock();
        let before = st.slots.len() + st.keyed.len();
        st.slots.retain(|_, c| *c != cookie);
        let gone: Vec<(u64, Vec<u8>)> = st
            .keyed
            .iter()
            .filter(|(_, e)| e.1 == cookie)
            .map(|(k, e)| (e.0, k.clone()))
            .collect();
        for (seq, key) in gone {
            st.keyed.remove(&key);
            st.order.remove(&seq);
        }
        before - (st.slots.len() + st.keyed.len())
    }

    /// The key after `key` (`None` or an unknown key: the first one).
    pub(crate) fn next_key(&self, meta: &MapMeta, key: Option<&[u8]>) -> Result<Vec<u8>, MapError> {
        let not_found = || MapError::NotFound {
            map: meta.name.clone(),
        };
        if !self.hash {
            let max = meta.def.max_entries;
            let i = key.map_or(u32::MAX, index_of);
            if i == max - 1 {
                return Err(not_found());
            }
            let next = if i >= max { 0 } else { i + 1 };
            return Ok(next.to_ne_bytes().to_vec());
        }
        let st = self.lock();
        let after = key.and_then(|k| st.keyed.get(k)).map(|e| e.0);
        let next = match after {
            Some(seq) => st.order.range(seq + 1..).next(),
            None => st.order.iter().next(),
        };
        next.map(|(_, k)| k.clone()).ok_or_else(not_found)
    }

    /// Every (key, cookie), in `next_key` order.
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, u64)> {
        let st = self.lock();
        if self.hash {
            st.order
                .values()
                .filter_map(|k| st.keyed.get(k).map(|e| (k.clone(), e.1)))
                .collect()
        } else {
            st.slots
                .iter()
                .map(|(i, c)| (i.to_ne_bytes().to_vec(), *c))
                .collect()
        }
    }
}

fn check_flags(exists: bool, flags: u64, map: impl Fn() -> String) -> Result<(), MapError> {
    if exists && flags == BPF_NOEXIST {
        return Err(MapError::Exists { map: map() });
    }
    if !exists && flags == BPF_EXIST {
        return Err(MapError::NotFound { map: map() });
    }
    Ok(())
}
