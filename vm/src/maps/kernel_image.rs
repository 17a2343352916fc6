//! A map as the kernel's own struct: the bytes a program reads through a map pointer
//! (`r1 = map_fd; r0 = *(u32 *)(r1 + off)`, C's `map->max_entries`), laid out as the map
//! type's vmlinux struct (`map->ops->map_btf_id`: `bpf_htab`, `bpf_array`, ...) recorded in
//! [`crate::vmlinux`]. The address of these bytes is the map pointer programs hold.
//!
//! What the bytes hold, each at its recorded offset:
//! - `struct bpf_map`: `map_type`, `key_size`, `value_size`, `max_entries`, `map_flags`,
//!   `map_extra` (0), `id` (this process's map id, from 1), `numa_node` (`NUMA_NO_NODE`),
//!   `name` (the map's name, at most 15 bytes, each byte outside `[A-Za-z0-9_.]` as `_`),
//!   `bypass_spec_v1` (1: only a privileged loader may read these bytes) and `frozen`
//!   (kept current by [`super::Map::freeze`]);
//! - the type's own geometry, computed as the kernel's `map_alloc` computes it:
//!   `bpf_array.elem_size` and `index_mask`, `bpf_htab.n_buckets` and `elem_size`,
//!   `bpf_shtab.buckets_num` and `elem_size`, `bpf_queue_stack.size`,
//!   `bpf_local_storage_map.bucket_log` and `elem_size`.
//!
//! Every pointer member a verified program may follow holds the address of a blank struct of
//! its type ([`crate::vmlinux::blank`]). Everything else reads 0: the SHA, counters, locks,
//! the hash seed, the other pointers and a queue's or stack's `elements`, the flexible array a read may run into up to the
//! farthest offset an instruction can name (the image is that long: the kernel would give
//! its own queue slots and whatever lies after them; this runtime keeps its queue
//! elsewhere).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{MapDef, MapType};
use crate::memory::{Region, RegionKind};
use crate::vmlinux::{field, kstruct, kstruct_index};

/// The kernel's `NUMA_NO_NODE`.
const NUMA_NO_NODE: i32 = -1;
/// The kernel's `BPF_OBJ_NAME_LEN`: names hold at most 15 bytes and a NUL.
const BPF_OBJ_NAME_LEN: usize = 16;

/// Ids handed to maps of this process, as the kernel's `map_idr` hands them out (from 1).
static NEXT_MAP_ID: AtomicU32 = AtomicU32::new(1);

/// The kernel struct a map of type `t` is, as named in vmlinux BTF.
pub fn kernel_struct_name(t: MapType) -> &'static str {
    match t {
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            "bpf_htab"
        }
        MapType::Array | MapType::PercpuArray | MapType::ProgArray | MapType::PerfEventArray => {
            "bpf_array"
        }
        MapType::Sockmap => "bpf_stab",
        MapType::Sockhash => "bpf_shtab",
        MapType::Queue | MapType::Stack => "bpf_queue_stack",
        MapType::SkStorage => "bpf_local_storage_map",
        MapType::Ringbuf => "bpf_ringbuf_map",
    }
}

/// How many bytes programs may read from the start of struct `name` (its size, or more when
/// it ends in a flexible array), 0 if it is not recorded.
fn readable_len(name: &str) -> u32 {
    kstruct_index(name).map_or(0, crate::vmlinux::readable_len)
}

/// `sizeof(struct name)` in the recorded kernel, 0 if it is not recorded.
fn struct_size(name: &str) -> u32 {
    kstruct_index(name).and_then(kstruct).map_or(0, |s| s.size)
}

/// `roundup_pow_of_two` on a `u32`, 0 where the kernel's result would not fit.
fn pow2_ceil(n: u32) -> u32 {
    n.max(1).checked_next_power_of_two().unwrap_or(0)
}

fn round8(n: u32) -> u32 {
    n.div_ceil(8).saturating_mul(8)
}

/// The bytes of one map's kernel struct (8-byte aligned words; atomics so that `frozen`
/// may change while programs read).
#[derive(Debug)]
pub(crate) struct KernelImage {
    words: Box<[AtomicU64]>,
    /// Bytes programs may read (`vmlinux::readable_len` of the struct).
    len: u32,
    id: u32,
}

impl KernelImage {
    /// The image of a new map called `name` with definition `def`, on `ncpus` CPUs.
    pub(crate) fn new(name: &str, def: &MapDef, ncpus: usize) -> KernelImage {
        let sname = kernel_struct_name(def.map_type);
        let len = readable_len(sname);
        let words = (0..len.div_ceil(8)).map(|_| AtomicU64::new(0)).collect();
        let id = NEXT_MAP_ID.fetch_add(1, Ordering::Relaxed);
        let image = KernelImage { words, len, id };
        // Pointer members lead to blank structs (`vmlinux::blank`), before the scalars.
        if let Some(index) = kstruct_index(sname) {
            for &(off, addr) in crate::vmlinux::blank::pointer_members(index) {
                if off % 8 == 0
                    && off + 8 <= len
                    && let Some(word) = image.words.get(off as usize / 8)
                {
                    word.store(addr, Ordering::Relaxed);
                }
            }
        }
        let map = |path: &str| format!("map.{path}");
        image.set_u32(sname, &map("map_type"), def.map_type.kernel_id());
        image.set_u32(sname, &map("key_size"), def.key_size);
        image.set_u32(sname, &map("value_size"), def.value_size);
        image.set_u32(sname, &map("max_entries"), def.max_entries);
        image.set_u32(sname, &map("map_flags"), def.map_flags);
        image.set_u32(sname, &map("id"), id);
        image.set_u32(sname, &map("numa_node"), NUMA_NO_NODE as u32);
        image.set_bytes(sname, &map("bypass_spec_v1"), &[1]);
        let mut kname = [0u8; BPF_OBJ_NAME_LEN];
        for (dst, &b) in kname
            .iter_mut()
            .zip(name.as_bytes().iter().take(BPF_OBJ_NAME_LEN - 1))
        {
            *dst = if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                b
            } else {
                b'_'
            };
        }
        image.set_bytes(sname, &map("name"), &kname);
        match def.map_type {
            MapType::Array
            | MapType::PercpuArray
            | MapType::ProgArray
            | MapType::PerfEventArray => {
                // array_map_alloc: elem_size = round_up(value_size, 8); index_mask covers
                // max_entries rounded up to a power of two.
                image.set_u32(sname, "elem_size", round8(def.value_size));
                let bits = 64 - u64::from(def.max_entries.saturating_sub(1)).leading_zeros();
                image.set_u32(sname, "index_mask", ((1u64 << bits) - 1) as u32);
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                // htab_map_alloc: a bucket per entry rounded up to a power of two; an element
                // is a htab_elem, the key and the value (a per-CPU pointer for per-CPU maps).
                let percpu = matches!(def.map_type, MapType::PercpuHash | MapType::LruPercpuHash);
                let value = if percpu { 8 } else { round8(def.value_size) };
                image.set_u32(sname, "n_buckets", pow2_ceil(def.max_entries));
                let elem = struct_size("htab_elem")
                    .saturating_add(round8(def.key_size))
                    .saturating_add(value);
                image.set_u32(sname, "elem_size", elem);
            }
            MapType::Sockhash => {
                image.set_u32(sname, "buckets_num", pow2_ceil(def.max_entries));
                let elem = struct_size("bpf_shtab_elem").saturating_add(round8(def.key_size));
                image.set_u32(sname, "elem_size", elem);
            }
            MapType::Queue | MapType::Stack => {
                // queue_stack_map_alloc: one slot more than max_entries.
                image.set_u32(sname, "size", def.max_entries.saturating_add(1));
            }
            MapType::SkStorage => {
                // bpf_local_storage_map_alloc: at least two buckets, a power of two per CPU.
                let buckets = pow2_ceil(u32::try_from(ncpus).unwrap_or(u32::MAX)).max(2);
                image.set_u32(sname, "bucket_log", buckets.trailing_zeros());
                let elem = struct_size("bpf_local_storage_elem").saturating_add(def.value_size);
                image.set_bytes(
                    sname,
                    "elem_size",
                    &u16::try_from(elem).unwrap_or(u16::MAX).to_ne_bytes(),
                );
            }
            MapType::Sockmap | MapType::Ringbuf => {}
        }
        image
    }

    /// The map's id (`bpf_map.id`).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Address of the first byte: the map pointer programs hold.
    pub(crate) fn addr(&self) -> u64 {
        self.words.as_ptr() as u64
    }

    /// The read-only region of the image, for the checked engines.
    pub(crate) fn region(&self) -> Region {
        Region {
            start: self.addr(),
            len: u64::from(self.len),
            writable: false,
            kind: RegionKind::MapStruct,
        }
    }

    /// Sets `bpf_map.frozen`. Every map struct begins with its `struct bpf_map map`, so the
    /// member is where `struct bpf_map` has it.
    pub(crate) fn set_frozen(&self, frozen: bool) {
        self.set_bytes("bpf_map", "frozen", &[u8::from(frozen)]);
    }

    fn set_u32(&self, sname: &str, path: &str, v: u32) {
        self.set_bytes(sname, path, &v.to_ne_bytes());
    }

    /// Writes `bytes` at the place of `path` in struct `sname`, if the recorded layout has a
    /// member of exactly that size there (a layout without it leaves the bytes 0).
    fn set_bytes(&self, sname: &str, path: &str, bytes: &[u8]) {
        let Some(place) = field(sname, path) else {
            return;
        };
        if place.bits.is_some() || place.size as usize != bytes.len() {
            return;
        }
        for (i, &b) in bytes.iter().enumerate() {
            let off = place.offset as usize + i;
            if off >= self.len as usize {
                return;
            }
            let Some(word) = self.words.get(off / 8) else {
                return;
            };
            let at = off % 8;
            // One writer changes a byte while programs may read the word: an atomic
            // read-modify-write keeps the other bytes intact.
            let _ = word.fetch_update(Ordering::Release, Ordering::Relaxed, |w| {
                let mut b8 = w.to_ne_bytes();
                b8[at] = b;
                Some(u64::from_ne_bytes(b8))
            });
        }
    }

    /// The bytes of the image (a copy), for tests and inspection.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self
            .words
            .iter()
            .flat_map(|w| w.load(Ordering::Acquire).to_ne_bytes())
            .collect();
        out.truncate(self.len as usize);
        out
    }
}
