//! Map definitions: the kernel map types (`MapType`, by kernel number and name) and a map's
//! definition (`MapDef`) with the kernel's per-type checks (`MapDef::validate`, after
//! `map_alloc_check` of each map type).

use std::fmt;

use super::{BPF_F_NO_PREALLOC, MAX_BPF_STACK, MAX_MAP_BYTES, MapError};

/// Kernel map types (`enum bpf_map_type`), by their kernel numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapType {
    /// BPF_MAP_TYPE_HASH (1)
    Hash,
    /// BPF_MAP_TYPE_ARRAY (2)
    Array,
    /// BPF_MAP_TYPE_PROG_ARRAY (3)
    ProgArray,
    /// BPF_MAP_TYPE_PERF_EVENT_ARRAY (4)
    PerfEventArray,
    /// BPF_MAP_TYPE_PERCPU_HASH (5)
    PercpuHash,
    /// BPF_MAP_TYPE_PERCPU_ARRAY (6)
    PercpuArray,
    /// BPF_MAP_TYPE_LRU_HASH (9)
    LruHash,
    /// BPF_MAP_TYPE_LRU_PERCPU_HASH (10)
    LruPercpuHash,
    /// BPF_MAP_TYPE_SOCKMAP (15)
    Sockmap,
    /// BPF_MAP_TYPE_SOCKHASH (18)
    Sockhash,
    /// BPF_MAP_TYPE_QUEUE (22)
    Queue,
    /// BPF_MAP_TYPE_STACK (23)
    Stack,
    /// BPF_MAP_TYPE_SK_STORAGE (24)
    SkStorage,
    /// BPF_MAP_TYPE_RINGBUF (27)
    Ringbuf,
}

impl MapType {
    /// Every supported type with its kernel number and its name as `sockops inspect` prints it
    /// (the kernel's `BPF_MAP_TYPE_` suffix in lower case).
    pub const ALL: &'static [(MapType, u32, &'static str)] = &[
        (MapType::Hash, 1, "hash"),
        (MapType::Array, 2, "array"),
        (MapType::ProgArray, 3, "prog_array"),
        (MapType::PerfEventArray, 4, "perf_event_array"),
        (MapType::PercpuHash, 5, "percpu_hash"),
        (MapType::PercpuArray, 6, "percpu_array"),
        (MapType::LruHash, 9, "lru_hash"),
        (MapType::LruPercpuHash, 10, "lru_percpu_hash"),
        (MapType::Sockmap, 15, "sockmap"),
        (MapType::Sockhash, 18, "sockhash"),
        (MapType::Queue, 22, "queue"),
        (MapType::Stack, 23, "stack"),
        (MapType::SkStorage, 24, "sk_storage"),
        (MapType::Ringbuf, 27, "ringbuf"),
    ];

    /// The type with kernel number `n`, if supported.
    pub fn from_kernel(n: u32) -> Option<MapType> {
        Self::ALL.iter().find(|e| e.1 == n).map(|e| e.0)
    }

    /// The type named `name` (as printed by `name`), if supported.
    pub fn from_name(name: &str) -> Option<MapType> {
        Self::ALL.iter().find(|e| e.2 == name).map(|e| e.0)
    }

    /// The kernel number.
    pub fn kernel_id(self) -> u32 {
        Self::ALL
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.1)
            .unwrap_or(0)
    }

    /// The lower-case kernel name without `BPF_MAP_TYPE_`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.2)
            .unwrap_or("unknown")
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A map's definition, as the ELF object or the embedder declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapDef {
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `map_flags` (BPF_F_*).
    pub map_flags: u32,
}

impl MapDef {
    /// Checks the definition as the kernel's `map_alloc_check` of its type does, and that its
    /// preallocated storage fits `MAX_MAP_BYTES` with `ncpus` CPUs. `name` is for the error.
    pub fn validate(&self, name: &str, ncpus: usize) -> Result<(), MapError> {
        let bad = |reason: &str| {
            Err(MapError::InvalidDefinition {
                map: name.to_string(),
                reason: reason.to_string(),
            })
        };
        let d = self;
        match d.map_type {
            MapType::Array | MapType::PercpuArray | MapType::PerfEventArray => {
                if d.max_entries == 0 || d.key_size != 4 || d.value_size == 0 {
                    return bad("array maps need key_size 4, value_size > 0, max_entries > 0");
                }
                if d.map_type == MapType::PerfEventArray && d.value_size != 4 {
                    return bad("perf event arrays need value_size 4");
                }
                if d.map_type == MapType::PercpuArray && d.value_size > 32 * 1024 {
                    return bad("per-CPU values are at most 32 KiB");
                }
            }
            MapType::ProgArray => {
                if d.max_entries == 0 || d.key_size != 4 || d.value_size != 4 {
                    return bad("prog arrays need key_size 4, value_size 4, max_entries > 0");
                }
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                if d.max_entries == 0 || d.key_size == 0 || d.value_size == 0 {
                    return bad("hash maps need key_size > 0, value_size > 0, max_entries > 0");
                }
                if d.key_size > MAX_BPF_STACK {
                    return bad("hash keys are at most 512 bytes (MAX_BPF_STACK)");
                }
                let lru = matches!(d.map_type, MapType::LruHash | MapType::LruPercpuHash);
                if lru && d.map_flags & BPF_F_NO_PREALLOC != 0 {
                    return bad("LRU maps cannot be BPF_F_NO_PREALLOC");
                }
            }
            MapType::Queue | MapType::Stack => {
                if d.max_entries == 0 || d.key_size != 0 || d.value_size == 0 {
                    return bad("queue and stack maps need key_size 0, value_size > 0");
                }
            }
            MapType::Sockmap | MapType::Sockhash => {
                let key_ok = if d.map_type == MapType::Sockmap {
                    d.key_size == 4
                } else {
                    d.key_size > 0
                };
                if d.max_entries == 0 || !key_ok || !(d.value_size == 4 || d.value_size == 8) {
                    return bad("socket maps need value_size 4 or 8, max_entries > 0");
                }
            }
            MapType::SkStorage => {
                if d.max_entries != 0 || d.key_size != 4 || d.value_size == 0 {
                    return bad("sk_storage needs key_size 4, value_size > 0, max_entries 0");
                }
                if d.map_flags & BPF_F_NO_PREALLOC == 0 {
                    return bad("sk_storage needs BPF_F_NO_PREALLOC");
                }
            }
            MapType::Ringbuf => {
                let m = d.max_entries;
                if d.key_size != 0
                    || d.value_size != 0
                    || !m.is_power_of_two()
                    || !m.is_multiple_of(4096)
                {
                    return bad("ring buffers need key 0, value 0, a page-multiple power of 2");
                }
            }
        }
        let bytes = self.prealloc_bytes(ncpus);
        if bytes > MAX_MAP_BYTES {
            return Err(MapError::TooLarge {
                map: name.to_string(),
                bytes,
                limit: MAX_MAP_BYTES,
            });
        }
        Ok(())
    }

    /// Bytes of storage allocated when the map is created (array-like maps).
    fn prealloc_bytes(&self, ncpus: usize) -> u64 {
        let stride = u64::from(self.value_size).div_ceil(8) * 8;
        let n = u64::from(self.max_entries);
        match self.map_type {
            MapType::Array => stride.saturating_mul(n),
            MapType::PercpuArray => stride.saturating_mul(n).saturating_mul(ncpus as u64),
            MapType::ProgArray => n.saturating_mul(8),
            _ => 0,
        }
    }
}
