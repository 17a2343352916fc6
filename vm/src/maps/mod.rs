//! eBPF maps: definitions (`MapDef`, `MapType`) and the map objects programs and helpers
//! share (`Map`). Map values live at stable host addresses for the map's lifetime, so a
//! pointer returned by `bpf_map_lookup_elem` stays valid while the program runs.

use std::fmt;

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

/// A map instance shared (through `Arc`) by every program of an object and by the embedder.
/// Storage and operations are implemented per type in this module's submodules.
#[derive(Debug)]
pub struct Map {
    name: String,
    def: MapDef,
}

impl Map {
    /// Creates an empty map.
    pub fn new(name: impl Into<String>, def: MapDef) -> Map {
        Map {
            name: name.into(),
            def,
        }
    }

    /// The map's name (its symbol in the object, or `.data`-style names for global data).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The map's definition.
    pub fn def(&self) -> &MapDef {
        &self.def
    }
}
