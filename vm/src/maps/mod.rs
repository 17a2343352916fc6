//! eBPF maps: definitions (`MapDef`, `MapType`) and the map objects programs, helpers and
//! embedders share (`Map`, always behind an `Arc`).
//!
//! # Memory contract
//! Map values live at stable host addresses for as long as they can be reached:
//! - array-like maps (array, per-CPU array, global data) preallocate every value when the map
//!   is created and never move or free it before the map itself is dropped;
//! - hash-family maps allocate each entry's value separately; deleting, evicting (LRU) or
//!   replacing an entry never frees its value immediately but moves it to a graveyard that
//!   only [`Map::release_deferred`] empties. The runtime calls it between runs, when no
//!   program can hold a pointer from `bpf_map_lookup_elem` any more (the kernel uses RCU
//!   for the same purpose).
//!
//! So a pointer a program got from a lookup stays valid for the rest of its run as long as
//! the run keeps the map alive (the helper environment holds the program's `Arc<Map>`s) and
//! nobody calls `release_deferred` during the run. Both the interpreter (checked, through
//! `Memory` regions) and the JIT (unchecked) rely on this.
//!
//! Value bytes are shared with running programs, which write them through raw pointers;
//! Rust-side reads and writes copy bytes and never form references to them. As in the
//! kernel, concurrent runs on several threads that write the same value race with each other
//! (use atomics in the program, as in the kernel).
//!
//! Operations come in two flavours: the user-space ones (`lookup`, `update`, `delete`,
//! `next_key`, ... with the `bpf()` syscall's semantics: per-CPU values of every CPU,
//! frozen maps refuse writes) and the program ones used by helpers (`lookup_ptr`,
//! `program_update`, ...: the current CPU's value only, `BPF_F_RDONLY_PROG` refuses writes).

mod array;
mod def;
mod error;
mod hash;
pub mod helpers;
mod kernel_image;
mod prog_array;
mod queue;
mod ringbuf;
mod sock;
mod storage;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::memory::{Region, RegionKind};
use crate::program::Program;
use array::ArrayStorage;
pub use def::{MapDef, MapType};
pub use error::{MapError, errno};
use hash::HashStorage;
use kernel_image::KernelImage;
pub use kernel_image::kernel_struct_name;
use prog_array::ProgArrayStorage;
use queue::QueueStorage;
use ringbuf::RingbufStorage;
pub use ringbuf::{
    BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_PROD_POS, BPF_RB_RING_SIZE, BPF_RINGBUF_HDR_SZ,
    RINGBUF_MAX_RECORD_SZ,
};
use sock::SockStorage;

/// Update flag: create or replace.
pub const BPF_ANY: u64 = 0;
/// Update flag: create only (EEXIST if the key exists).
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: replace only (ENOENT if the key does not exist).
pub const BPF_EXIST: u64 = 2;
/// Update flag: use the value's spin lock (not supported: EINVAL, as for a value without one).
pub const BPF_F_LOCK: u64 = 4;
/// Map flag: hash entries are allocated on update instead of preallocated.
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
/// Map flag: programs may only read the map (`.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// Map flag: programs may only write the map.
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
/// Map flag: the map may be mmap()ed (global data maps).
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// Largest preallocated storage one map may take in this runtime (256 MiB).
pub const MAX_MAP_BYTES: u64 = 256 << 20;
/// The kernel's MAX_BPF_STACK: hash keys live on the program stack, so they are at most this.
pub(crate) const MAX_BPF_STACK: u32 = 512;

/// Who performs an operation: user space (syscall semantics) or a running program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Rust code: per-CPU values cover every CPU; frozen maps refuse writes.
    User,
    /// A helper on behalf of a program: the current CPU only; BPF_F_RDONLY_PROG refuses writes.
    Program,
}

/// What every storage needs to know about its map.
#[derive(Debug)]
pub(crate) struct MapMeta {
    pub(crate) name: String,
    pub(crate) def: MapDef,
    pub(crate) ncpus: usize,
    current_cpu: AtomicUsize,
}

impl MapMeta {
    /// Bytes per value slot: `round_up(value_size, 8)` (the kernel's elem_size / per-CPU size).
    pub(crate) fn stride(&self) -> usize {
        (self.def.value_size as usize).div_ceil(8) * 8
    }

    pub(crate) fn current_cpu(&self) -> usize {
        self.current_cpu.load(Ordering::Relaxed)
    }

    pub(crate) fn check_value_len(&self, value: &[u8], expected: usize) -> Result<(), MapError> {
        if value.len() == expected {
            Ok(())
        } else {
            Err(MapError::ValueSize {
                map: self.name.clone(),
                expected,
                actual: value.len(),
            })
        }
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() == self.def.key_size as usize {
            Ok(())
        } else {
            Err(MapError::KeySize {
                map: self.name.clone(),
                expected: self.def.key_size,
                actual: key.len(),
            })
        }
    }

    pub(crate) fn not_supported(&self, op: &'static str, errno: i32) -> MapError {
        MapError::NotSupported {
            map: self.name.clone(),
            op,
            map_type: self.def.map_type,
            errno,
        }
    }
}

/// Per-type storage.
#[derive(Debug)]
enum Storage {
    Array(ArrayStorage),
    Hash(HashStorage),
    Queue(QueueStorage),
    ProgArray(ProgArrayStorage),
    /// Sockmap and sockhash: socket cookies by key.
    Sock(SockStorage),
    /// Ring buffer: positions and committed records.
    Ringbuf(RingbufStorage),
    /// Types whose values live elsewhere (sk_storage: with each socket) or that hold no
    /// values (perf event array: records go to the helper's caller).
    DefinitionOnly,
}

/// A filled slot of a prog array.
#[derive(Debug, Clone)]
pub struct ProgArrayEntry {
    /// The program a tail call jumps to.
    pub program: Arc<Program>,
    /// Whether it was stored as a `VerifiedProgram`.
    pub verified: bool,
}

/// A map instance shared (through `Arc`) by every program of an object and by the embedder.
/// `Map` is `Send + Sync`; all operations take `&self`. See the module docs for the memory
/// contract of values.
#[derive(Debug)]
pub struct Map {
    meta: MapMeta,
    frozen: AtomicBool,
    storage: Storage,
    /// The bytes a program reads through its pointer to this map.
    image: KernelImage,
}

fn key_index(key: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    let n = key.len().min(4);
    b[..n].copy_from_slice(&key[..n]);
    u32::from_le_bytes(b)
}

impl Map {
    /// Creates an empty map on one CPU, or says why the kernel would refuse the definition.
    pub fn try_new(name: impl Into<String>, def: MapDef) -> Result<Map, MapError> {
        Map::try_with_cpus(name, def, 1)
    }

    /// Creates an empty map whose per-CPU types hold `ncpus` values per key (at least 1).
    pub fn try_with_cpus(
        name: impl Into<String>,
        def: MapDef,
        ncpus: usize,
    ) -> Result<Map, MapError> {
        let name = name.into();
        let ncpus = ncpus.max(1);
        def.validate(&name, ncpus)?;
        let meta = MapMeta {
            name,
            def,
            ncpus,
            current_cpu: AtomicUsize::new(0),
        };
        let storage = match def.map_type {
            MapType::Array => Storage::Array(ArrayStorage::new(&meta, false)),
            MapType::PercpuArray => Storage::Array(ArrayStorage::new(&meta, true)),
            MapType::Hash => Storage::Hash(HashStorage::new(false, false)),
            MapType::PercpuHash => Storage::Hash(HashStorage::new(false, true)),
            MapType::LruHash => Storage::Hash(HashStorage::new(true, false)),
            MapType::LruPercpuHash => Storage::Hash(HashStorage::new(true, true)),
            MapType::Queue => Storage::Queue(QueueStorage::new(false)),
            MapType::Stack => Storage::Queue(QueueStorage::new(true)),
            MapType::ProgArray => Storage::ProgArray(ProgArrayStorage::new(&meta)),
            MapType::Sockmap => Storage::Sock(SockStorage::new(false)),
            MapType::Sockhash => Storage::Sock(SockStorage::new(true)),
            MapType::Ringbuf => Storage::Ringbuf(RingbufStorage::new(def.max_entries)),
            MapType::PerfEventArray | MapType::SkStorage => Storage::DefinitionOnly,
        };
        let image = KernelImage::new(&meta.name, &def, ncpus);
        Ok(Map {
            meta,
            frozen: AtomicBool::new(false),
            storage,
            image,
        })
    }

    /// The map's name (its symbol in the object, or `.data`-style names for global data).
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// The map's definition.
    pub fn def(&self) -> &MapDef {
        &self.meta.def
    }

    /// The map's type.
    pub fn map_type(&self) -> MapType {
        self.meta.def.map_type
    }

    /// Number of CPUs per-CPU values are kept for.
    pub fn ncpus(&self) -> usize {
        self.meta.ncpus
    }

    /// The CPU whose per-CPU values programs see (0 unless set).
    pub fn current_cpu(&self) -> usize {
        self.meta.current_cpu()
    }

    /// Selects the CPU whose per-CPU values programs see; values >= `ncpus` are refused.
    pub fn set_current_cpu(&self, cpu: usize) -> Result<(), MapError> {
        if cpu >= self.meta.ncpus {
            return Err(MapError::InvalidDefinition {
                map: self.meta.name.clone(),
                reason: format!("cpu {cpu} is not below ncpus {}", self.meta.ncpus),
            });
        }
        self.meta.current_cpu.store(cpu, Ordering::Relaxed);
        Ok(())
    }

    /// Freezes the map: user-space writes fail with EPERM from now on (`BPF_MAP_FREEZE`).
    /// Programs may still write unless the map is `BPF_F_RDONLY_PROG`.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
        self.image.set_frozen(true);
    }

    /// The map pointer programs hold (what an LD_IMM64 map reference loads): the address of
    /// the map's kernel struct image, laid out as the map type's vmlinux struct
    /// ([`kernel_struct_name`]), which programs may read (`map->max_entries`). Helpers find
    /// the map from it ([`crate::HelperEnv::map_by_ptr`]).
    pub fn program_ptr(&self) -> u64 {
        self.image.addr()
    }

    /// The read-only region of the kernel struct image at [`Map::program_ptr`], which an
    /// engine adds to a run's memory when the program loads the map's pointer.
    pub fn kernel_struct_region(&self) -> Region {
        self.image.region()
    }

    /// A copy of the kernel struct image's bytes (what reads through the map pointer see).
    pub fn kernel_struct_bytes(&self) -> Vec<u8> {
        self.image.bytes()
    }

    /// The map's id (`bpf_map.id`): unique in this process, from 1, in creation order.
    pub fn id(&self) -> u32 {
        self.image.id()
    }

    /// Whether the map is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// Whether programs may only read the map (`BPF_F_RDONLY_PROG`, e.g. `.rodata`).
    pub fn is_read_only_for_programs(&self) -> bool {
        self.meta.def.map_flags & BPF_F_RDONLY_PROG != 0
    }

    fn definition_only(&self, op: &'static str) -> MapError {
        self.meta.not_supported(op, errno::EOPNOTSUPP)
    }

    fn check_writable(&self, origin: Origin) -> Result<(), MapError> {
        match origin {
            Origin::User if self.is_frozen() => Err(MapError::Frozen {
                map: self.meta.name.clone(),
            }),
            Origin::Program if self.is_read_only_for_programs() => {
                Err(MapError::ReadOnlyForPrograms {
                    map: self.meta.name.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    // ---- user-space operations (bpf() syscall semantics) ----

    /// The value stored under `key` (`BPF_MAP_LOOKUP_ELEM`). Per-CPU maps return every CPU's
    /// value, each padded to a multiple of 8 bytes. Queues and stacks: use `peek`.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        self.meta.check_key(key)?;
        match &self.storage {
            Storage::Array(a) => a.lookup(&self.meta, key_index(key)),
            Storage::Hash(h) => h.lookup(&self.meta, key),
            Storage::Queue(_) => Err(self.meta.not_supported("lookup", errno::EINVAL)),
            Storage::ProgArray(_) => Err(self.meta.not_supported("lookup", errno::EINVAL)),
            Storage::Sock(s) => {
                if self.meta.def.value_size != 8 {
                    return Err(MapError::CookieDoesNotFit {
                        map: self.meta.name.clone(),
                        value_size: self.meta.def.value_size,
                    });
                }
                let cookie = s.cookie(key).ok_or_else(|| MapError::NotFound {
                    map: self.meta.name.clone(),
                })?;
                Ok(cookie.to_ne_bytes().to_vec())
            }
            Storage::Ringbuf(_) | Storage::DefinitionOnly => Err(self.definition_only("lookup")),
        }
    }

    /// Stores `value` under `key` (`BPF_MAP_UPDATE_ELEM`) with BPF_ANY / BPF_NOEXIST /
    /// BPF_EXIST. Per-CPU maps take every CPU's value, each padded to a multiple of 8 bytes.
    /// Prog arrays: use `prog_array_set`.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_writable(Origin::User)?;
        self.update_as(key, value, flags, Origin::User)
    }

    fn update_as(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        origin: Origin,
    ) -> Result<(), MapError> {
        self.meta.check_key(key)?;
        match &self.storage {
            Storage::Array(a) => a.update(&self.meta, key_index(key), value, flags, origin),
            Storage::Hash(h) => h.update(&self.meta, key, value, flags, origin),
            Storage::Queue(_) => Err(self.meta.not_supported("update", errno::EINVAL)),
            Storage::ProgArray(_) => Err(self.meta.not_supported("update", errno::EINVAL)),
            // Sockets go in with `sock_update` (the kernel takes a socket fd or pointer).
            Storage::Sock(_) | Storage::Ringbuf(_) | Storage::DefinitionOnly => {
                Err(self.definition_only("update"))
            }
        }
    }

    /// Removes `key` (`BPF_MAP_DELETE_ELEM`): ENOENT if absent, EINVAL for arrays.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_writable(Origin::User)?;
        self.delete_as(key)
    }

    fn delete_as(&self, key: &[u8]) -> Result<(), MapError> {
        self.meta.check_key(key)?;
        match &self.storage {
            Storage::Array(a) => a.delete(&self.meta),
            Storage::Hash(h) => h.delete(&self.meta, key),
            Storage::Queue(_) => Err(self.meta.not_supported("delete", errno::EINVAL)),
            Storage::ProgArray(p) => p.delete(&self.meta, key_index(key)),
            Storage::Sock(s) => s.delete(&self.meta, key),
            Storage::Ringbuf(_) | Storage::DefinitionOnly => Err(self.definition_only("delete")),
        }
    }

    /// The key after `key` (`BPF_MAP_GET_NEXT_KEY`); `None` or an absent key gives the first
    /// key; ENOENT after the last one.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, MapError> {
        if let Some(k) = key {
            self.meta.check_key(k)?;
        }
        match &self.storage {
            Storage::Array(a) => Ok(a
                .next_key(&self.meta, key.map(key_index))?
                .to_le_bytes()
                .to_vec()),
            Storage::ProgArray(_) => {
                let idx = match key.map(key_index) {
                    Some(i) if i < self.meta.def.max_entries => {
                        if i + 1 == self.meta.def.max_entries {
                            return Err(MapError::NotFound {
                                map: self.meta.name.clone(),
                            });
                        }
                        i + 1
                    }
                    _ => 0,
                };
                Ok(idx.to_le_bytes().to_vec())
            }
            Storage::Hash(h) => h.next_key(&self.meta, key),
            Storage::Sock(s) => s.next_key(&self.meta, key),
            Storage::Queue(_) => Err(self.meta.not_supported("next_key", errno::EINVAL)),
            Storage::Ringbuf(_) | Storage::DefinitionOnly => Err(self.definition_only("next_key")),
        }
    }

    /// Every key, in `next_key` order (arrays: 0..max_entries).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        while let Ok(k) = self.next_key(cur.as_deref()) {
            out.push(k.clone());
            cur = Some(k);
            if out.len() > self.meta.def.max_entries as usize {
                break; // defensive: a concurrent writer cannot make this loop forever
            }
        }
        out
    }

    /// Every (key, value) pair, in `next_key` order, values as `lookup` returns them.
    /// Queues and stacks yield their elements oldest first, with empty keys. Socket maps
    /// yield their filled entries with the socket cookie (8 bytes, host order) as the value,
    /// whatever their value_size (`lookup` follows the kernel and needs value_size 8).
    /// Ring buffers yield their submitted, unconsumed records, with empty keys.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.storage {
            Storage::Queue(q) => {
                return q.snapshot().into_iter().map(|v| (Vec::new(), v)).collect();
            }
            Storage::Sock(s) => {
                return s
                    .entries()
                    .into_iter()
                    .map(|(k, c)| (k, c.to_ne_bytes().to_vec()))
                    .collect();
            }
            Storage::Ringbuf(r) => {
                return r.pending().into_iter().map(|v| (Vec::new(), v)).collect();
            }
            _ => {}
        }
        self.keys()
            .into_iter()
            .filter_map(|k| self.lookup(&k).ok().map(|v| (k, v)))
            .collect()
    }

    /// Number of entries (arrays: max_entries; prog arrays: filled slots).
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Array(_) => self.meta.def.max_entries as usize,
            Storage::Hash(h) => h.len(),
            Storage::Queue(q) => q.len(),
            Storage::ProgArray(p) => p.filled(),
            Storage::Sock(s) => s.len(),
            Storage::Ringbuf(r) => r.pending().len(),
            Storage::DefinitionOnly => 0,
        }
    }

    /// Whether `len() == 0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes onto a queue or stack (`bpf_map_push_elem`): BPF_EXIST drops the oldest element
    /// when full, otherwise a full map is E2BIG.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_writable(Origin::User)?;
        self.push_as(value, flags)
    }

    fn push_as(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        match &self.storage {
            Storage::Queue(q) => q.push(&self.meta, value, flags),
            _ => Err(self.meta.not_supported("push", errno::EINVAL)),
        }
    }

    /// Pops the oldest (queue) or newest (stack) element; ENOENT when empty.
    pub fn pop(&self) -> Result<Vec<u8>, MapError> {
        self.check_writable(Origin::User)?;
        self.take(true)
    }

    /// The element `pop` would return, left in place; ENOENT when empty.
    pub fn peek(&self) -> Result<Vec<u8>, MapError> {
        self.take(false)
    }

    fn take(&self, delete: bool) -> Result<Vec<u8>, MapError> {
        match &self.storage {
            Storage::Queue(q) => q.take(&self.meta, delete),
            _ => Err(self
                .meta
                .not_supported(if delete { "pop" } else { "peek" }, errno::EINVAL)),
        }
    }

    // ---- program-side operations (used by the map helpers and the engines) ----

    /// The guest region of the value at `index` of an array-like map (array, per-CPU array
    /// — the current CPU's value —, global data), writable unless `BPF_F_RDONLY_PROG`.
    /// `None` for other map types or an index out of range. The region stays valid for the
    /// map's lifetime.
    pub fn value_region(&self, index: u32) -> Option<Region> {
        let Storage::Array(a) = &self.storage else {
            return None;
        };
        let ptr = a.value_ptr(&self.meta, index, self.meta.current_cpu())?;
        Some(self.region_at(ptr))
    }

    /// The guest region of a value whose host address `lookup_ptr` returned.
    pub fn region_at(&self, ptr: *mut u8) -> Region {
        Region {
            start: ptr as u64,
            len: u64::from(self.meta.def.value_size),
            writable: !self.is_read_only_for_programs(),
            kind: RegionKind::MapValue,
        }
    }

    /// `bpf_map_lookup_elem` for a program: the host address of `key`'s value (the current
    /// CPU's for per-CPU maps), or `None`. Counts as a use in LRU maps. The address is valid
    /// until the map is dropped, or — for hash maps whose entry gets deleted — until the
    /// next [`Map::release_deferred`]. Keys of the wrong size give `None`.
    pub fn lookup_ptr(&self, key: &[u8]) -> Option<*mut u8> {
        self.lookup_percpu_ptr(key, self.meta.current_cpu())
    }

    /// `bpf_map_lookup_percpu_elem`: as `lookup_ptr` for CPU `cpu` (any CPU for non-per-CPU
    /// maps is refused: `None`, as the kernel's helper only accepts per-CPU maps).
    pub fn lookup_percpu_ptr(&self, key: &[u8], cpu: usize) -> Option<*mut u8> {
        if key.len() != self.meta.def.key_size as usize || cpu >= self.meta.ncpus {
            return None;
        }
        match &self.storage {
            Storage::Array(a) => a.value_ptr(&self.meta, key_index(key), cpu),
            Storage::Hash(h) => h.lookup_ptr(&self.meta, key, cpu),
            _ => None,
        }
    }

    /// `bpf_map_update_elem` for a program: the current CPU's value only for per-CPU maps;
    /// EPERM for `BPF_F_RDONLY_PROG` maps; frozen maps stay writable for programs.
    pub fn program_update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_writable(Origin::Program)?;
        self.update_as(key, value, flags, Origin::Program)
    }

    /// `bpf_map_delete_elem` for a program.
    pub fn program_delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_writable(Origin::Program)?;
        if matches!(self.storage, Storage::ProgArray(_)) {
            // Programs cannot change prog arrays (the verifier forbids it).
            return Err(self.meta.not_supported("delete", errno::EINVAL));
        }
        self.delete_as(key)
    }

    /// `bpf_map_push_elem` for a program.
    pub fn program_push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_writable(Origin::Program)?;
        self.push_as(value, flags)
    }

    /// `bpf_map_pop_elem` (`delete == true`) or `bpf_map_peek_elem` for a program.
    pub fn program_take(&self, delete: bool) -> Result<Vec<u8>, MapError> {
        if delete {
            self.check_writable(Origin::Program)?;
        }
        self.take(delete)
    }

    /// The program in slot `index` of a prog array (`None` if empty, out of range, or not a
    /// prog array).
    pub fn prog_array_get(&self, index: u32) -> Option<Arc<Program>> {
        match &self.storage {
            Storage::ProgArray(p) => p.get(index).map(|(program, _)| program),
            _ => None,
        }
    }

    /// Slot `index` of a prog array with whether its program was stored verified
    /// (`prog_array_set_verified`). Engines that run programs unchecked (the JIT) tail-call
    /// only into verified entries.
    pub fn prog_array_entry(&self, index: u32) -> Option<ProgArrayEntry> {
        match &self.storage {
            Storage::ProgArray(p) => p
                .get(index)
                .map(|(program, verified)| ProgArrayEntry { program, verified }),
            _ => None,
        }
    }

    /// Fills slot `index` of a prog array with a verified program (E2BIG out of range, EINVAL
    /// for other map types).
    pub fn prog_array_set_verified(
        &self,
        index: u32,
        program: &crate::verified::VerifiedProgram,
    ) -> Result<(), MapError> {
        match &self.storage {
            Storage::ProgArray(p) => p.set_verified(&self.meta, index, program),
            _ => Err(self
                .meta
                .not_supported("prog_array_set_verified", errno::EINVAL)),
        }
    }

    /// Fills (`Some`) or clears (`None`) slot `index` of a prog array (E2BIG out of range,
    /// EINVAL for other map types).
    pub fn prog_array_set(
        &self,
        index: u32,
        program: Option<Arc<Program>>,
    ) -> Result<(), MapError> {
        match &self.storage {
            Storage::ProgArray(p) => p.set(&self.meta, index, program),
            _ => Err(self.meta.not_supported("prog_array_set", errno::EINVAL)),
        }
    }

    /// Empties every slot of a prog array in one pass and returns how many were filled (0
    /// for other map types): what breaks the program / prog-array reference cycle when a
    /// runtime goes away, whatever `max_entries` is.
    pub fn prog_array_clear(&self) -> usize {
        match &self.storage {
            Storage::ProgArray(p) => p.clear(),
            _ => 0,
        }
    }

    // ---- socket maps (sockmap, sockhash) ----

    /// Puts socket `cookie` under `key` of a sockmap or sockhash, as `bpf_sock_map_update` /
    /// `bpf_sock_hash_update` do after their own checks: BPF_ANY / BPF_NOEXIST / BPF_EXIST
    /// (others EINVAL), EEXIST / ENOENT, E2BIG for a sockmap index >= max_entries or a new
    /// sockhash key when the map is full. EINVAL for other map types and wrong key sizes.
    pub fn sock_update(&self, key: &[u8], cookie: u64, flags: u64) -> Result<(), MapError> {
        let Storage::Sock(s) = &self.storage else {
            return Err(self.meta.not_supported("sock_update", errno::EINVAL));
        };
        self.meta.check_key(key)?;
        s.update(&self.meta, key, cookie, flags)
    }

    /// The cookie of the socket under `key` of a socket map (`None`: empty, or not a socket
    /// map, or a key of the wrong size).
    pub fn sock_cookie(&self, key: &[u8]) -> Option<u64> {
        match &self.storage {
            Storage::Sock(s) if key.len() == self.meta.def.key_size as usize => s.cookie(key),
            _ => None,
        }
    }

    /// Every (key, socket cookie) of a socket map, in `next_key` order (empty for other maps).
    pub fn sock_entries(&self) -> Vec<(Vec<u8>, u64)> {
        match &self.storage {
            Storage::Sock(s) => s.entries(),
            _ => Vec::new(),
        }
    }

    /// Removes socket `cookie` from every entry of a socket map that holds it, as the kernel
    /// does when the socket closes; returns how many entries went (0 for other maps).
    pub fn sock_remove(&self, cookie: u64) -> usize {
        match &self.storage {
            Storage::Sock(s) => s.remove_socket(cookie),
            _ => 0,
        }
    }

    // ---- ring buffers ----

    /// Reserves a record of `size` bytes in a ring buffer (`__bpf_ringbuf_reserve`): its
    /// position, to pass to `ringbuf_commit`, or `None` if it does not fit (or this is not a
    /// ring buffer). The caller keeps the record's bytes until it commits them.
    pub fn ringbuf_reserve(&self, size: u64) -> Option<u64> {
        match &self.storage {
            Storage::Ringbuf(r) => r.reserve(size),
            _ => None,
        }
    }

    /// Submits (`Some(bytes)`) or discards (`None`) the record reserved at `pos`; false if no
    /// record is being written there.
    pub fn ringbuf_commit(&self, pos: u64, data: Option<&[u8]>) -> bool {
        match &self.storage {
            Storage::Ringbuf(r) => r.commit(pos, data),
            _ => false,
        }
    }

    /// Reads the submitted records as a user-space consumer does (up to the first record still
    /// being written), freeing their space; oldest first. Until someone consumes, records
    /// keep their space and reservations eventually fail, as in the kernel.
    pub fn ringbuf_consume(&self) -> Vec<Vec<u8>> {
        match &self.storage {
            Storage::Ringbuf(r) => r.consume(),
            _ => Vec::new(),
        }
    }

    /// `bpf_ringbuf_query(map, flags)`: BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE,
    /// BPF_RB_CONS_POS, BPF_RB_PROD_POS; 0 for other flags or maps.
    pub fn ringbuf_query(&self, flags: u64) -> u64 {
        match &self.storage {
            Storage::Ringbuf(r) => r.query(flags),
            _ => 0,
        }
    }

    /// Frees the values of hash entries deleted or evicted since the last call.
    ///
    /// # Safety
    /// No program run that may still use a pointer obtained from this map (through
    /// `lookup_ptr` or a `bpf_map_lookup_elem` region) may be in progress, on any thread.
    /// The runtime calls this between runs.
    pub unsafe fn release_deferred(&self) {
        if let Storage::Hash(h) = &self.storage {
            h.release_deferred();
        }
    }

    /// Number of removed values waiting for `release_deferred`.
    pub fn deferred_frees(&self) -> usize {
        match &self.storage {
            Storage::Hash(h) => h.deferred(),
            _ => 0,
        }
    }
}
