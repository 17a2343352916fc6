//! The helper table: helper id -> (signature the verifier reads, implementation the engines
//! call). Implementations get the run's environment (`HelperEnv`): checked guest memory, the
//! program's maps, and a user payload (the sock_ops world puts its socket there).
//!
//! A helper that needs none of that can be registered as *pure* (`PureHelper`,
//! `HelperTable::register_pure`): a plain `fn(r1, r2, r3, r4, r5) -> r0` that cannot touch
//! guest memory, maps or the payload, cannot fail and cannot request a tail call. Engines call
//! it directly (the JIT with a plain machine `call`, no run state), which is what makes
//! helper-heavy code as cheap as a native call. Its table entry still has an ordinary
//! `Helper` view whose `func` calls the same function, so code that only knows `HelperFn`
//! keeps working.

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
    /// ARG_PTR_TO_DYNPTR | MEM_UNINIT: 16 stack bytes where the helper builds a dynptr.
    DynptrUninit,
    /// ARG_PTR_TO_DYNPTR | MEM_RDONLY: an initialised dynptr on the stack, left unchanged.
    Dynptr,
    /// ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE: a ring buffer dynptr, released.
    DynptrRelease,
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
    /// RET_PTR_TO_MEM_OR_NULL of a size given by a constant argument (ringbuf reserve,
    /// `bpf_dynptr_data`).
    MemOrNull,
    /// RET_PTR_TO_BTF_ID_OR_NULL: a kernel struct described by vmlinux BTF, or NULL
    /// (`bpf_skc_to_tcp_sock`).
    BtfIdOrNull,
    /// RET_PTR_TO_BTF_ID_TRUSTED: a trusted pointer to a kernel struct described by vmlinux
    /// BTF, never NULL (`bpf_get_current_task_btf`).
    BtfIdTrusted,
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
            .find(|(_, m)| m.program_ptr() == ptr)
    }
}

/// A helper implementation: gets r1..r5, returns r0.
pub type HelperFn = fn(&mut HelperEnv<'_>, [u64; 5]) -> Result<u64, HelperError>;

/// A pure helper as engines call it: r1..r5 in, r0 out, with the platform's C calling
/// convention (System V on x86-64 Linux, AAPCS64 on aarch64), which JIT backends call with a
/// plain machine call.
pub type PureHelperFn = extern "C" fn(u64, u64, u64, u64, u64) -> u64;

/// A helper that needs no environment: a function of r1..r5 alone (no guest memory, maps,
/// payload, errors or tail calls), e.g. an arithmetic or time-source helper. Register it with
/// `HelperTable::register_pure::<H>()`; the interpreter and the JIT then call `H::call`
/// directly (through one generated `PureHelperFn`).
///
/// `call` must not panic: a pure helper runs without an unwind boundary (machine code cannot
/// be unwound through), so a panic in it aborts the process.
pub trait PureHelper {
    /// Kernel helper id (`BPF_FUNC_*`) or the embedder's own id.
    const ID: u32;
    /// Signature for the verifier.
    const SIGNATURE: HelperSignature;
    /// The helper: r1..r5 in, r0 out.
    fn call(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64;
}

/// The engine-facing entry point of pure helper `H` (what the JIT calls).
extern "C" fn pure_entry<H: PureHelper>(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64 {
    H::call(r1, r2, r3, r4, r5)
}

/// The `HelperFn` view of pure helper `H`: ignores the environment, never fails.
fn pure_with_env<H: PureHelper>(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(pure_entry::<H>(a[0], a[1], a[2], a[3], a[4]))
}

/// How an engine calls a registered helper.
#[derive(Clone, Copy, Debug)]
pub enum HelperCall {
    /// Through its environment (`Helper::func`).
    Env(HelperFn),
    /// Directly, without an environment (`PureHelper`).
    Pure(PureHelperFn),
}

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

impl Helper {
    /// The `Helper` view of pure helper `H`: its id and signature, and a `func` that calls
    /// `H::call` with r1..r5 and ignores the environment. Registering this view with
    /// `HelperTable::register` makes an ordinary environment helper; use
    /// `HelperTable::register_pure` to let engines call it directly.
    pub fn of_pure<H: PureHelper>() -> Helper {
        Helper {
            id: H::ID,
            signature: H::SIGNATURE,
            func: pure_with_env::<H>,
        }
    }
}

/// One table entry: the helper and, for a pure one, its direct entry point (which does what
/// `helper.func` does).
#[derive(Clone, Copy, Debug)]
struct Entry {
    helper: Helper,
    pure: Option<PureHelperFn>,
}

/// Helper id -> helper. Programs may call only helpers in their table.
#[derive(Clone, Debug, Default)]
pub struct HelperTable {
    helpers: BTreeMap<u32, Entry>,
}

impl HelperTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a helper.
    pub fn register(&mut self, helper: Helper) {
        self.helpers.insert(helper.id, Entry { helper, pure: None });
    }

    /// Registers (or replaces) pure helper `H` under `H::ID`: engines call it directly,
    /// without an environment.
    pub fn register_pure<H: PureHelper>(&mut self) {
        let helper = Helper::of_pure::<H>();
        let pure: PureHelperFn = pure_entry::<H>;
        self.helpers.insert(
            helper.id,
            Entry {
                helper,
                pure: Some(pure),
            },
        );
    }

    /// The helper with id `id`.
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.helpers.get(&id).map(|e| &e.helper)
    }

    /// The helper with id `id` and how engines call it, in one lookup.
    pub fn lookup(&self, id: u32) -> Option<(&Helper, HelperCall)> {
        self.helpers.get(&id).map(|e| {
            let call = match e.pure {
                Some(pure) => HelperCall::Pure(pure),
                None => HelperCall::Env(e.helper.func),
            };
            (&e.helper, call)
        })
    }

    /// The direct entry point of helper `id`, if it is registered as pure.
    pub fn pure(&self, id: u32) -> Option<PureHelperFn> {
        self.helpers.get(&id).and_then(|e| e.pure)
    }

    /// All helpers by id.
    pub fn iter(&self) -> impl Iterator<Item = &Helper> {
        self.helpers.values().map(|e| &e.helper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sum;

    impl PureHelper for Sum {
        const ID: u32 = 7;
        const SIGNATURE: HelperSignature = HelperSignature {
            name: "sum",
            args: &[ArgKind::Anything],
            ret: RetKind::Integer,
            gpl_only: false,
        };
        fn call(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64) -> u64 {
            r1 + 2 * r2 + 3 * r3 + 4 * r4 + 5 * r5
        }
    }

    fn env_helper(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
        Ok(a[0])
    }

    #[test]
    fn pure_helpers_have_a_direct_entry_and_an_environment_view() {
        let mut table = HelperTable::new();
        table.register_pure::<Sum>();
        let (helper, call) = table.lookup(7).expect("registered");
        assert_eq!(helper.signature.name, "sum");
        let HelperCall::Pure(pure) = call else {
            panic!("registered as pure: {call:?}");
        };
        assert_eq!(pure(1, 1, 1, 1, 1), 15);
        let mut memory = Memory::new();
        let mut env = HelperEnv {
            memory: &mut memory,
            maps: &[],
            payload: &mut (),
            tail_call: None,
        };
        let view = table.get(7).expect("registered");
        assert_eq!((view.func)(&mut env, [5, 4, 3, 2, 1]), Ok(35));
        assert_eq!(table.iter().count(), 1);
        // Registering an environment helper under the same id replaces the pure one.
        table.register(Helper {
            id: 7,
            func: env_helper,
            ..Helper::of_pure::<Sum>()
        });
        assert!(table.pure(7).is_none());
        assert!(matches!(table.lookup(7), Some((_, HelperCall::Env(_)))));
        assert!(table.lookup(8).is_none());
    }
}
