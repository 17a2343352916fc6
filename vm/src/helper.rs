//! The helper table: helper id -> (signature the verifier reads, implementation the engines
//! call). Implementations get the run's environment (`HelperEnv`): checked guest memory, the
//! program's maps, and a user payload (the sock_ops world puts its socket there).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::maps::Map;
use crate::memory::{Memory, MemoryFault};

/// What the verifier requires of one helper argument (kernel `enum bpf_arg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// ARG_ANYTHING: any initialised scalar or pointer (pointers count as leaks in strict mode).
    Anything,
    /// ARG_PTR_TO_CTX: the unmodified context pointer.
    Ctx,
    /// ARG_PTR_TO_CTX_OR_NULL.
    CtxOrNull,
    /// ARG_CONST_MAP_PTR: a map pointer from LD_IMM64.
    ConstMapPtr,
    /// ARG_PTR_TO_MAP_KEY: readable memory of the map's key size.
    MapKey,
    /// ARG_PTR_TO_MAP_VALUE: readable memory of the map's value size.
    MapValue,
    /// ARG_PTR_TO_MAP_VALUE | MEM_UNINIT: writable memory of the map's value size.
    UninitMapValue,
    /// ARG_PTR_TO_MAP_VALUE_OR_NULL.
    MapValueOrNull,
    /// ARG_PTR_TO_MEM | MEM_RDONLY: readable memory whose size is the next argument.
    ReadableMem,
    /// ARG_PTR_TO_MEM (read and write): memory whose size is the next argument.
    Mem,
    /// ARG_PTR_TO_UNINIT_MEM: writable memory whose size is the next argument.
    UninitMem,
    /// ARG_CONST_SIZE: a bounded scalar > 0, the size of the previous memory argument.
    ConstSize,
    /// ARG_CONST_SIZE_OR_ZERO: as `ConstSize` but 0 is allowed.
    ConstSizeOrZero,
    /// ARG_PTR_TO_BTF_ID_SOCK_COMMON / ARG_PTR_TO_SOCK_COMMON: a socket pointer (not NULL).
    SockCommon,
    /// A socket pointer or NULL (e.g. `bpf_sk_storage_get`'s sk when the kernel allows NULL).
    SockCommonOrNull,
    /// ARG_PTR_TO_FUNC: a callback function (LD_IMM64 pseudo func).
    Func,
    /// ARG_PTR_TO_STACK_OR_NULL (callback context).
    StackOrNull,
    /// ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT | MEM_WRITE | MEM_ALIGNED of this many bytes
    /// (e.g. `bpf_strtol`'s `long *res`).
    FixedSizeUninitMem(u32),
    /// ARG_PTR_TO_CONST_STR: a NUL-terminated string in a read-only (frozen) map value.
    ConstStr,
    /// ARG_CONST_ALLOC_SIZE_OR_ZERO: a constant size for memory the helper allocates.
    ConstAllocSizeOrZero,
    /// ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE: a record from `bpf_ringbuf_reserve`, released.
    RingbufMemRelease,
}

/// What a helper returns, for the verifier (kernel `enum bpf_return_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetKind {
    /// RET_INTEGER: an unknown scalar.
    Integer,
    /// RET_VOID: r0 becomes unreadable.
    Void,
    /// RET_PTR_TO_MAP_VALUE_OR_NULL: a value of the map passed as first argument, or NULL.
    MapValueOrNull,
    /// RET_PTR_TO_SOCKET_OR_NULL.
    SocketOrNull,
    /// RET_PTR_TO_TCP_SOCK_OR_NULL.
    TcpSockOrNull,
    /// RET_PTR_TO_MEM_OR_NULL of a size given by a constant argument (ringbuf reserve).
    MemOrNull,
}

/// A helper's signature: its kernel name, arguments (up to five) and return kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperSignature {
    /// Kernel name, e.g. `bpf_setsockopt`.
    pub name: &'static str,
    /// Argument kinds, r1 first; unused arguments are not listed.
    pub args: &'static [ArgKind],
    /// Return kind.
    pub ret: RetKind,
    /// Callable only from GPL-licensed programs.
    pub gpl_only: bool,
}

/// Why a helper call ended the program (as opposed to returning an error code in r0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// The helper touched guest memory outside the run's regions.
    #[error(transparent)]
    Memory(#[from] MemoryFault),
    /// An argument an unverified program passed is not what the helper needs.
    #[error("bad argument {arg} to {helper}: {reason}")]
    BadArgument {
        /// Helper name.
        helper: &'static str,
        /// Argument number, 1..=5.
        arg: u8,
        /// What is wrong.
        reason: String,
    },
    /// The helper asks the engine to stop the program (e.g. a test helper that unwinds).
    #[error("helper {0} aborted the program")]
    Abort(&'static str),
}

/// What a helper implementation sees of the run.
pub struct HelperEnv<'a> {
    /// The run's checked memory; helpers read and write guest buffers only through it and may
    /// add regions (e.g. a map value they return a pointer to).
    pub memory: &'a mut Memory,
    /// The program's maps, in the order its LD_IMM64 map references index them.
    pub maps: &'a [Arc<Map>],
    /// The embedder's state for this run (the sock_ops world stores its socket here).
    pub payload: &'a mut dyn Any,
    /// Tail call requested by `bpf_tail_call`: (prog_array map index, program index).
    /// The engine performs it when the helper returns.
    pub tail_call: Option<(usize, u32)>,
}

impl HelperEnv<'_> {
    /// The map whose run-time pointer value is `ptr` (as LD_IMM64 map references load it).
    pub fn map_by_ptr(&self, ptr: u64) -> Option<(usize, &Arc<Map>)> {
        self.maps
            .iter()
            .enumerate()
            .find(|(_, m)| Arc::as_ptr(m) as u64 == ptr)
    }
}

/// A helper implementation: gets r1..r5, returns r0.
pub type HelperFn = fn(&mut HelperEnv<'_>, [u64; 5]) -> Result<u64, HelperError>;

/// One registered helper.
#[derive(Clone, Copy, Debug)]
pub struct Helper {
    /// Kernel helper id (`BPF_FUNC_*`).
    pub id: u32,
    /// Signature for the verifier.
    pub signature: HelperSignature,
    /// Implementation for the engines.
    pub func: HelperFn,
}

/// Helper id -> helper. Programs may call only helpers in their table.
#[derive(Clone, Debug, Default)]
pub struct HelperTable {
    helpers: BTreeMap<u32, Helper>,
}

impl HelperTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a helper.
    pub fn register(&mut self, helper: Helper) {
        self.helpers.insert(helper.id, helper);
    }

    /// The helper with id `id`.
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.helpers.get(&id)
    }

    /// All helpers by id.
    pub fn iter(&self) -> impl Iterator<Item = &Helper> {
        self.helpers.values()
    }
}
