//! Per-socket storage of `BPF_MAP_TYPE_SK_STORAGE` maps (`bpf_sk_storage_get` /
//! `bpf_sk_storage_delete`): each socket owns one value per sk_storage map, keyed by the map's
//! name, at a stable address the program can hold while it runs.

use std::collections::BTreeMap;

use sockops_vm::{Region, RegionKind};

use crate::guest_buf::GuestBuf;

/// The sk_storage values of one socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkStorage {
    values: BTreeMap<String, GuestBuf>,
}

impl SkStorage {
    /// The value bytes stored for map `map`.
    pub fn get(&self, map: &str) -> Option<Vec<u8>> {
        self.values.get(map).map(|b| b.read(0, b.len))
    }

    /// Stores `bytes` as the value for map `map` (as user space's map update would).
    pub fn set(&mut self, map: &str, bytes: &[u8]) {
        let buf = GuestBuf::new(bytes.len());
        buf.write(0, bytes);
        self.values.insert(map.to_string(), buf);
    }

    /// Every (map name, value bytes) pair.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        self.values
            .iter()
            .map(|(k, b)| (k.clone(), b.read(0, b.len)))
            .collect()
    }

    /// Whether no map has a value here.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The guest region of map `map`'s value.
    pub(crate) fn region(&self, map: &str) -> Option<Region> {
        self.values
            .get(map)
            .map(|b| b.region(true, RegionKind::MapValue))
    }

    /// Creates map `map`'s value from `init` (zero-padded or cut to `size`).
    pub(crate) fn create(&mut self, map: &str, size: usize, init: &[u8]) -> Region {
        let buf = GuestBuf::new(size);
        buf.write(0, &init[..init.len().min(size)]);
        let region = buf.region(true, RegionKind::MapValue);
        self.values.insert(map.to_string(), buf);
        region
    }

    /// Removes map `map`'s value, handing its buffer back so it can outlive the run.
    pub(crate) fn remove(&mut self, map: &str) -> Option<GuestBuf> {
        self.values.remove(map)
    }
}
