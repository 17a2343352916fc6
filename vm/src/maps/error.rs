//! `MapError`: why a map operation or a map definition failed, with the kernel's errno for
//! each case (`MapError::errno`), so helpers can return exactly what the kernel returns.

use super::MapType;

/// Linux errno values used by map operations (positive; helpers return them negated).
pub mod errno {
    /// Operation not permitted (frozen map written from user space).
    pub const EPERM: i32 = 1;
    /// No such entry.
    pub const ENOENT: i32 = 2;
    /// Too big (array index out of range, hash map full, queue full).
    pub const E2BIG: i32 = 7;
    /// Out of memory (a map larger than this runtime allows).
    pub const ENOMEM: i32 = 12;
    /// Entry exists (BPF_NOEXIST).
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Operation not supported on this map type (by this runtime, for now).
    pub const EOPNOTSUPP: i32 = 95;
    /// Try again (ring buffer full: `bpf_ringbuf_output`).
    pub const EAGAIN: i32 = 11;
    /// No space (socket map value too small to hold a cookie).
    pub const ENOSPC: i32 = 28;
}

/// A map operation or definition the kernel would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The key has the wrong size.
    #[error("map {map}: key is {actual} bytes, the map's key_size is {expected}")]
    KeySize {
        /// Map name.
        map: String,
        /// The map's key size.
        expected: u32,
        /// The size given.
        actual: usize,
    },
    /// The value has the wrong size.
    #[error("map {map}: value is {actual} bytes, expected {expected}")]
    ValueSize {
        /// Map name.
        map: String,
        /// The size the operation needs (per-CPU maps from Rust: all CPUs' values).
        expected: usize,
        /// The size given.
        actual: usize,
    },
    /// No entry with this key (ENOENT).
    #[error("map {map}: no such entry")]
    NotFound {
        /// Map name.
        map: String,
    },
    /// BPF_NOEXIST and the key exists (EEXIST).
    #[error("map {map}: entry exists (BPF_NOEXIST)")]
    Exists {
        /// Map name.
        map: String,
    },
    /// The map holds max_entries elements, or an array index is out of range (E2BIG).
    #[error("map {map}: full or index out of range (max_entries {max_entries})")]
    Full {
        /// Map name.
        map: String,
        /// The map's max_entries.
        max_entries: u32,
    },
    /// Unknown or contradictory update flags (EINVAL).
    #[error("map {map}: invalid flags {flags:#x}")]
    InvalidFlags {
        /// Map name.
        map: String,
        /// The flags given.
        flags: u64,
    },
    /// The operation does not exist for this map type (the kernel's EINVAL, e.g. deleting
    /// from an array), or its behaviour is not modelled yet (EOPNOTSUPP, socket maps).
    #[error("map {map}: {op} is not supported on {map_type} maps")]
    NotSupported {
        /// Map name.
        map: String,
        /// The operation (`lookup`, `update`, `delete`, `next_key`, `push`, `pop`, `peek`).
        op: &'static str,
        /// The map's type.
        map_type: MapType,
        /// The errno the kernel returns (EINVAL or EOPNOTSUPP).
        errno: i32,
    },
    /// The map is frozen (read-only for user space, like `.rodata`) (EPERM).
    #[error("map {map} is frozen (read-only from user space)")]
    Frozen {
        /// Map name.
        map: String,
    },
    /// The map is read-only for programs (BPF_F_RDONLY_PROG) (EPERM).
    #[error("map {map} is read-only for programs (BPF_F_RDONLY_PROG)")]
    ReadOnlyForPrograms {
        /// Map name.
        map: String,
    },
    /// The definition is one the kernel's map_alloc_check rejects (EINVAL).
    #[error("map {map}: invalid definition: {reason}")]
    InvalidDefinition {
        /// Map name.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// A sockmap slot out of range or holding no socket, on delete (EINVAL, as
    /// `sock_map_delete_elem`).
    #[error("map {map}: slot {index} holds no socket")]
    EmptySocketSlot {
        /// Map name.
        map: String,
        /// The slot index.
        index: u32,
    },
    /// A user-space lookup in a socket map whose value_size is not 8: the cookie does not
    /// fit (ENOSPC, as `sock_map_lookup_sys`).
    #[error("map {map}: value_size {value_size} cannot hold a socket cookie (needs 8)")]
    CookieDoesNotFit {
        /// Map name.
        map: String,
        /// The map's value size.
        value_size: u32,
    },
    /// The map would need more memory than this runtime allows for one map (ENOMEM).
    #[error("map {map}: needs {bytes} bytes, more than the {limit} bytes allowed per map")]
    TooLarge {
        /// Map name.
        map: String,
        /// Bytes needed.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
}

impl MapError {
    /// The kernel errno for this error, positive (helpers return `-errno`).
    pub fn errno(&self) -> i32 {
        match self {
            MapError::KeySize { .. }
            | MapError::ValueSize { .. }
            | MapError::InvalidFlags { .. }
            | MapError::InvalidDefinition { .. }
            | MapError::EmptySocketSlot { .. } => errno::EINVAL,
            MapError::CookieDoesNotFit { .. } => errno::ENOSPC,
            MapError::NotFound { .. } => errno::ENOENT,
            MapError::Exists { .. } => errno::EEXIST,
            MapError::Full { .. } => errno::E2BIG,
            MapError::NotSupported { errno, .. } => *errno,
            MapError::Frozen { .. } | MapError::ReadOnlyForPrograms { .. } => errno::EPERM,
            MapError::TooLarge { .. } => errno::ENOMEM,
        }
    }

    /// The value a helper returns in r0 for this error: `-errno` as a 64-bit register value.
    pub fn helper_return(&self) -> u64 {
        (-(self.errno() as i64)) as u64
    }
}
