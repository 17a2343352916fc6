//! Helper prototypes as the kernel declares them for sock_ops programs (`sock_ops_func_proto`
//! and `bpf_base_func_proto`): argument types with the kernel's compatible register types,
//! return types, and which helpers need CAP_PERFMON.

/// A helper argument type (kernel `enum bpf_arg_type`, with the flags that matter here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// ARG_ANYTHING.
    Anything,
    /// ARG_PTR_TO_CTX.
    Ctx,
    /// ARG_PTR_TO_CTX_OR_NULL.
    CtxOrNull,
    /// ARG_CONST_MAP_PTR.
    ConstMapPtr,
    /// ARG_PTR_TO_MAP_KEY.
    MapKey,
    /// ARG_PTR_TO_MAP_VALUE (read).
    MapValue,
    /// ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE.
    UninitMapValue,
    /// ARG_PTR_TO_MEM | MEM_RDONLY.
    MemRead,
    /// ARG_PTR_TO_MEM | MEM_WRITE: initialised memory the helper reads and may overwrite
    /// (every byte of it is unknown after the call).
    MemWrite,
    /// ARG_PTR_TO_UNINIT_MEM (written).
    UninitMem,
    /// ARG_CONST_SIZE.
    ConstSize,
    /// ARG_CONST_SIZE_OR_ZERO.
    ConstSizeOrZero,
    /// ARG_PTR_TO_SOCK_COMMON.
    SockCommon,
    /// ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT | MEM_WRITE of 8 bytes (`long *res`).
    LongOut,
    /// ARG_CONST_ALLOC_SIZE_OR_ZERO: a known constant, the size of the memory returned.
    AllocSizeOrZero,
    /// ARG_PTR_TO_BTF_ID_SOCK_COMMON: a socket pointer (`sock_common`, `sock`, `tcp_sock`, or
    /// a BTF pointer to a struct that embeds `struct sock_common` at its offset).
    BtfSockCommon,
    /// ARG_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL (read): NULL, or `value_size` readable bytes.
    MapValueOrNull,
    /// ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE: an unmodified ring buffer reservation, whose
    /// reference the call releases.
    RingbufMemRelease,
    /// ARG_PTR_TO_CONST_STR: a NUL-terminated string at a constant offset in the value of a
    /// frozen read-only single-entry array (`.rodata`), known at verification time.
    ConstStr,
    /// ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_* | MEM_UNINIT: 16 stack bytes where the helper builds
    /// a dynptr of this type ([`crate::reg::DYNPTR_LOCAL`], [`crate::reg::DYNPTR_RINGBUF`]).
    DynptrUninit(u32),
    /// ARG_PTR_TO_DYNPTR | MEM_RDONLY: an initialised dynptr of any type, left unchanged.
    Dynptr,
    /// ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE: a ring buffer dynptr, whose
    /// reference the call releases (and the dynptr, its copies and slices with it).
    DynptrRelease,
    /// An argument type this verifier does not model, with the kernel's list of accepted
    /// register types: a register of another type is rejected with the kernel's message, one
    /// of an accepted type makes the call "not supported by this runtime".
    Unmodelled(&'static str),
}

/// A helper return type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// RET_INTEGER.
    Integer,
    /// RET_VOID.
    Void,
    /// RET_PTR_TO_MAP_VALUE_OR_NULL.
    MapValueOrNull,
    /// RET_PTR_TO_TCP_SOCK_OR_NULL.
    TcpSockOrNull,
    /// An integer in `[0, nr_cpu_ids - 1]` (get_smp_processor_id).
    CpuId,
    /// RET_PTR_TO_BTF_ID_TRUSTED to `struct task_struct` (get_current_task_btf).
    BtfTask,
    /// RET_PTR_TO_BTF_ID_OR_NULL to the named kernel struct, one of those recorded in
    /// `sockops_vm::vmlinux` (the `bpf_skc_to_*` casts: `tcp_sock`, `tcp6_sock`...).
    BtfSockOrNull(&'static str),
    /// RET_PTR_TO_RINGBUF_MEM_OR_NULL: memory of the size given by the
    /// [`Arg::AllocSizeOrZero`] argument, an acquired reference (ringbuf_reserve).
    RingbufMemOrNull,
    /// RET_PTR_TO_DYNPTR_MEM_OR_NULL: a slice of the dynptr argument's memory of the size
    /// given by the [`Arg::AllocSizeOrZero`] argument, or NULL (`bpf_dynptr_data`).
    DynptrMemOrNull,
}

/// A kernel helper prototype.
#[derive(Clone, Copy, Debug)]
pub struct Proto {
    /// Arguments r1.. (fewer than five means the rest are ARG_DONTCARE).
    pub args: &'static [Arg],
    /// Return type.
    pub ret: Ret,
}

const fn p(args: &'static [Arg], ret: Ret) -> Proto {
    Proto { args, ret }
}

use crate::reg::{DYNPTR_LOCAL, DYNPTR_RINGBUF};
use Arg::*;

/// The prototype of helper `id` for sock_ops, if this verifier models it.
pub fn proto(id: u32) -> Option<Proto> {
    let i = Ret::Integer;
    Some(match id {
        1 => p(&[ConstMapPtr, MapKey], Ret::MapValueOrNull),
        2 => p(&[ConstMapPtr, MapKey, MapValue, Anything], i),
        3 => p(&[ConstMapPtr, MapKey], i),
        5 | 7 | 14 | 15 | 17 | 35 | 42 | 80 | 118 | 125 | 160 | 208 => p(&[], i),
        8 => p(&[], Ret::CpuId),
        158 => p(&[], Ret::BtfTask),
        6 => p(&[MemRead, ConstSize], i),
        12 => p(&[Ctx, ConstMapPtr, Anything], Ret::Void),
        16 => p(&[UninitMem, ConstSize], i),
        22 => p(&[ConstMapPtr, Anything], i),
        25 => p(&[Ctx, ConstMapPtr, Anything, MemRead, ConstSizeOrZero], i),
        37 => p(&[ConstMapPtr, Anything], i),
        46 => p(&[Ctx], i),
        49 => p(&[Ctx, Anything, Anything, MemRead, ConstSize], i),
        53 | 70 => p(&[Ctx, ConstMapPtr, MapKey, Anything], i),
        57 => p(&[Ctx, Anything, Anything, UninitMem, ConstSize], i),
        59 => p(&[Ctx, Anything], i),
        87 => p(&[ConstMapPtr, MapValue, Anything], i),
        88 | 89 => p(&[ConstMapPtr, UninitMapValue], i),
        96 => p(&[SockCommon], Ret::TcpSockOrNull),
        105 | 106 => p(&[MemRead, ConstSize, Anything, LongOut], i),
        109 | 117 => p(&[Anything], i),
        120 => p(&[Anything, Anything, UninitMem, ConstSize], i),
        122 => p(&[CtxOrNull], i),
        123 => p(&[Anything], i),
        130 => p(&[ConstMapPtr, MemRead, ConstSizeOrZero, Anything], i),
        134 => p(&[ConstMapPtr, Anything], i),
        142 => p(&[Ctx, MemWrite, ConstSize, Anything], i),
        143 => p(&[Ctx, MemRead, ConstSize, Anything], i),
        144 => p(&[Ctx, Anything, Anything], i),
        195 => p(&[ConstMapPtr, MapKey, Anything], Ret::MapValueOrNull),
        182 => p(&[MemRead, ConstSize, ConstStr], i),
        55 => p(&[ConstMapPtr, Anything, UninitMem, ConstSize], i),
        112..=115 => p(&[UninitMem, ConstSizeOrZero, Anything], i),
        176 => p(&[UninitMem, ConstSizeOrZero, Anything], i),
        149 => p(&[MemWrite, ConstSize, MemRead, ConstSize, Anything], i),
        165 => p(&[MemWrite, ConstSize, Unmodelled("map_value")], i),
        177 => p(&[MemRead, ConstSize, Unmodelled("map_value")], i),
        131 => p(
            &[ConstMapPtr, AllocSizeOrZero, Anything],
            Ret::RingbufMemOrNull,
        ),
        132 | 133 => p(&[RingbufMemRelease, Anything], Ret::Void),
        107 => p(
            &[ConstMapPtr, BtfSockCommon, MapValueOrNull, Anything],
            Ret::MapValueOrNull,
        ),
        108 => p(&[ConstMapPtr, BtfSockCommon], i),
        81 | 156 | 157 | 164 | 209 | 210 | 211 => p(&[Unmodelled("map_ptr")], i),
        93 | 94 | 194 => p(&[Unmodelled("map_value, ptr_")], i),
        169..=172 => p(&[Unmodelled("map_value")], i),
        136 => p(&[BtfSockCommon], Ret::BtfSockOrNull("tcp6_sock")),
        137 => p(&[BtfSockCommon], Ret::BtfSockOrNull("tcp_sock")),
        138 => p(&[BtfSockCommon], Ret::BtfSockOrNull("tcp_timewait_sock")),
        139 => p(&[BtfSockCommon], Ret::BtfSockOrNull("tcp_request_sock")),
        140 => p(&[BtfSockCommon], Ret::BtfSockOrNull("udp6_sock")),
        178 => p(&[BtfSockCommon], Ret::BtfSockOrNull("unix_sock")),
        196 => p(&[SockCommon], Ret::BtfSockOrNull("mptcp_sock")),
        141 | 175 | 180 => p(&[Unmodelled("ptr_, trusted_ptr_, rcu_ptr_")], i),
        153 | 154 => p(
            &[Unmodelled(
                "percpu_ptr_, percpu_rcu_ptr_, percpu_trusted_ptr_",
            )],
            i,
        ),
        181 => p(&[Anything, Unmodelled("func")], i),
        197 => p(
            &[
                UninitMem,
                ConstSizeOrZero,
                Anything,
                DynptrUninit(DYNPTR_LOCAL),
            ],
            i,
        ),
        198 => p(
            &[
                ConstMapPtr,
                Anything,
                Anything,
                DynptrUninit(DYNPTR_RINGBUF),
            ],
            i,
        ),
        199 | 200 => p(&[DynptrRelease, Anything], Ret::Void),
        201 => p(&[UninitMem, ConstSizeOrZero, Dynptr, Anything, Anything], i),
        202 => p(&[Dynptr, Anything, MemRead, ConstSizeOrZero, Anything], i),
        203 => p(&[Dynptr, Anything, AllocSizeOrZero], Ret::DynptrMemOrNull),
        _ => return None,
    })
}

/// Helpers the kernel offers sock_ops only to `perfmon_capable()` loaders.
pub fn needs_perfmon(id: u32) -> bool {
    matches!(
        id,
        6 | 16
            | 22
            | 35
            | 55
            | 109
            | 112..=115
            | 117
            | 136..=141
            | 148
            | 149
            | 158
            | 165
            | 175..=178
            | 180
            | 191
            | 196
    )
}

/// Helpers that might sleep (refused in sock_ops, which is not sleepable).
pub fn might_sleep(id: u32) -> bool {
    matches!(id, 148 | 191)
}

/// The kernel's list of register types accepted for a dynptr argument.
pub const DYNPTR_TYPES: &str = "fp, dynptr_ptr";
/// The kernel's list of register types accepted for a memory argument.
pub const MEM_TYPES: &str =
    "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_";
/// The kernel's list of register types accepted for ARG_PTR_TO_BTF_ID_SOCK_COMMON.
pub const BTF_SOCK_TYPES: &str = "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_";
/// The kernel's list of register types accepted for ARG_PTR_TO_SOCK_COMMON.
pub const SOCK_TYPES: &str = "sock_common, sock, tcp_sock, xdp_sock";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every BTF struct a helper returns is recorded, so its reads can be walked.
    #[test]
    fn every_returned_btf_struct_is_recorded() {
        for id in 0..256 {
            if let Some(Proto {
                ret: Ret::BtfSockOrNull(name),
                ..
            }) = proto(id)
            {
                assert!(
                    sockops_vm::vmlinux::kstruct_index(name).is_some(),
                    "helper {id} returns struct {name}, which is not recorded"
                );
            }
        }
    }
}
