//! Register state: the abstract type of a register (kernel `enum bpf_reg_type` as far as
//! sock_ops programs can reach) plus its offset, scalar bounds and identity.

use std::fmt;

use crate::scalar::Scalar;

/// The abstract type of a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegType {
    /// Never written (reading it is an error).
    NotInit,
    /// A number.
    Scalar,
    /// The context pointer (`struct bpf_sock_ops *`).
    Ctx,
    /// A pointer into a stack frame.
    Stack,
    /// A map (from LD_IMM64).
    MapPtr,
    /// A pointer into a map value.
    MapValue,
    /// A map value pointer not yet null-checked.
    MapValueOrNull,
    /// `struct bpf_sock *`.
    Sock,
    /// `struct bpf_sock *` or NULL.
    SockOrNull,
    /// `struct bpf_sock_common *` (helper results).
    SockCommon,
    /// `struct bpf_tcp_sock *`.
    TcpSock,
    /// `struct bpf_tcp_sock *` or NULL.
    TcpSockOrNull,
    /// Packet data.
    Pkt,
    /// End of packet data.
    PktEnd,
    /// Helper-allocated memory of a known size (ringbuf reserve).
    Mem,
    /// Helper-allocated memory or NULL.
    MemOrNull,
    /// A trusted BTF pointer (`PTR_TO_BTF_ID | PTR_TRUSTED`): the current
    /// `struct task_struct` of `bpf_get_current_task_btf`; `map` is its struct. Reads are
    /// walked through its layout as for [`RegType::BtfPtr`].
    BtfTask,
    /// A BTF pointer to a kernel struct (`PTR_TO_BTF_ID`, neither trusted nor untrusted:
    /// a `bpf_skc_to_tcp_sock` result after its null check, or a pointer member walked from
    /// one). The struct is `map`, a `btf_walk` type id (an index into
    /// `sockops_ctx::vmlinux`'s recorded types, or a struct known only by name); reads are
    /// walked through its layout.
    BtfPtr,
    /// A BTF pointer or NULL (`PTR_TO_BTF_ID | PTR_MAYBE_NULL`).
    BtfPtrOrNull,
    /// A BTF pointer valid in the RCU read section every sock_ops program runs in
    /// (`PTR_TO_BTF_ID | MEM_RCU`: `task->real_parent` of a trusted task). `map` is its
    /// struct (`btf_walk`'s type id); it may be NULL at run time.
    BtfRcu,
    /// An RCU BTF pointer that may be NULL (`PTR_TO_BTF_ID | MEM_RCU | PTR_MAYBE_NULL`).
    BtfRcuOrNull,
    /// An untrusted BTF pointer (`PTR_TO_BTF_ID | PTR_UNTRUSTED`): a pointer member the
    /// kernel does not allow-list, walked from any BTF or map pointer. The kernel reads
    /// through it with faulting loads; here it always points to a readable struct (the
    /// images' pointer members lead to blank structs), so reads are walked as for
    /// [`RegType::BtfPtr`].
    BtfUntrusted,
    /// An untrusted BTF pointer read out of a union of more than one member, or walked from
    /// one: the runtime's images may hold any other member's bytes there, so reads through
    /// it (faulting loads in the kernel) are not supported. Named `untrusted_ptr_` as
    /// [`RegType::BtfUntrusted`].
    BtfUntrustedUnion,
    /// Read-only untrusted memory of unknown size (`PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED`):
    /// a pointer member whose target is not a struct (`char *`, `void *`).
    UntrustedMem,
    /// The state kept in both stack slots of a dynptr (the kernel's `spilled_ptr` of a
    /// `STACK_DYNPTR` slot, typed `CONST_PTR_TO_DYNPTR`), never a register's: `map` is the
    /// dynptr type ([`DYNPTR_LOCAL`] or [`DYNPTR_RINGBUF`]), `range` is 1 in the dynptr's
    /// first (lower) slot and 0 in its second, `id` is the dynptr's identity (shared with
    /// its slices) and `ref_obj_id` its reference (ring buffer dynptrs).
    Dynptr,
    /// A slice of a dynptr's memory (`bpf_dynptr_data` after its null check: `PTR_TO_MEM`):
    /// `map` bytes, `dynptr_id` the dynptr it came from, `ref_obj_id` the dynptr's reference.
    DynptrMem,
    /// A dynptr slice or NULL (`PTR_TO_MEM | PTR_MAYBE_NULL`).
    DynptrMemOrNull,
}

/// `BPF_DYNPTR_TYPE_LOCAL`: a dynptr over a map value (`bpf_dynptr_from_mem`).
pub const DYNPTR_LOCAL: u32 = 1;
/// `BPF_DYNPTR_TYPE_RINGBUF`: a dynptr over a ring buffer record (`bpf_ringbuf_reserve_dynptr`).
pub const DYNPTR_RINGBUF: u32 = 2;

/// The kernel's name of a dynptr type (`dynptr_type_str`).
pub fn dynptr_type_name(t: u32) -> &'static str {
    match t {
        DYNPTR_LOCAL => "local",
        DYNPTR_RINGBUF => "ringbuf",
        _ => "<invalid>",
    }
}

impl RegType {
    /// The kernel's name of the type (`reg_type_str`).
    pub fn name(self) -> &'static str {
        match self {
            RegType::NotInit => "?",
            RegType::Scalar => "scalar",
            RegType::Ctx => "ctx",
            RegType::Stack => "fp",
            RegType::MapPtr => "map_ptr",
            RegType::MapValue => "map_value",
            RegType::MapValueOrNull => "map_value_or_null",
            RegType::Sock => "sock",
            RegType::SockOrNull => "sock_or_null",
            RegType::SockCommon => "sock_common",
            RegType::TcpSock => "tcp_sock",
            RegType::TcpSockOrNull => "tcp_sock_or_null",
            RegType::Pkt => "pkt",
            RegType::PktEnd => "pkt_end",
            RegType::Mem => "ringbuf_mem",
            RegType::MemOrNull => "ringbuf_mem_or_null",
            RegType::BtfTask => "trusted_ptr_",
            RegType::BtfPtr => "ptr_",
            RegType::BtfPtrOrNull => "ptr_or_null_",
            RegType::BtfRcu => "rcu_ptr_",
            RegType::BtfRcuOrNull => "rcu_ptr_or_null_",
            RegType::BtfUntrusted | RegType::BtfUntrustedUnion => "untrusted_ptr_",
            RegType::UntrustedMem => "rdonly_untrusted_mem",
            RegType::Dynptr => "dynptr_ptr",
            RegType::DynptrMem => "mem",
            RegType::DynptrMemOrNull => "mem_or_null",
        }
    }

    /// True for every pointer type.
    pub fn is_pointer(self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }

    /// True for the `*_or_null` types.
    pub fn maybe_null(self) -> bool {
        matches!(
            self,
            RegType::MapValueOrNull
                | RegType::SockOrNull
                | RegType::TcpSockOrNull
                | RegType::MemOrNull
                | RegType::BtfPtrOrNull
                | RegType::BtfRcuOrNull
                | RegType::DynptrMemOrNull
        )
    }

    /// True for the BTF pointer types (`PTR_TO_BTF_ID` with any flags): `map` is a
    /// `btf_walk` type id.
    pub fn is_btf(self) -> bool {
        matches!(
            self,
            RegType::BtfTask
                | RegType::BtfPtr
                | RegType::BtfPtrOrNull
                | RegType::BtfRcu
                | RegType::BtfRcuOrNull
                | RegType::BtfUntrusted
                | RegType::BtfUntrustedUnion
        )
    }

    /// The type after a successful null check.
    pub fn not_null(self) -> RegType {
        match self {
            RegType::MapValueOrNull => RegType::MapValue,
            RegType::SockOrNull => RegType::Sock,
            RegType::TcpSockOrNull => RegType::TcpSock,
            RegType::MemOrNull => RegType::Mem,
            RegType::BtfPtrOrNull => RegType::BtfPtr,
            RegType::BtfRcuOrNull => RegType::BtfRcu,
            RegType::DynptrMemOrNull => RegType::DynptrMem,
            t => t,
        }
    }
}

/// The state of one register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegState {
    /// Abstract type.
    pub typ: RegType,
    /// Fixed offset of a pointer.
    pub off: i32,
    /// Scalar value, or the variable part of a pointer's offset.
    pub var: Scalar,
    /// Identity shared by copies (null checks and packet ranges propagate through it).
    pub id: u32,
    /// Proven readable bytes after a packet pointer.
    pub range: i32,
    /// Map index (map pointers and map values), memory size (helper memory) or the
    /// recorded kernel struct a BTF pointer points to.
    pub map: u32,
    /// Frame number of a stack pointer.
    pub frameno: u8,
    /// The acquired reference this pointer holds (`ref_obj_id`; ring buffer reservations),
    /// 0 for none. Releasing the reference invalidates every register that holds it.
    pub ref_obj_id: u32,
    /// The dynptr a slice came from (`dynptr_id`; [`RegType::DynptrMem`]), 0 otherwise.
    /// Overwriting the dynptr invalidates every slice with its id.
    pub dynptr_id: u32,
}

impl RegState {
    /// A never-written register.
    pub const NOT_INIT: RegState = RegState {
        typ: RegType::NotInit,
        off: 0,
        var: Scalar::UNKNOWN,
        id: 0,
        range: 0,
        map: 0,
        frameno: 0,
        ref_obj_id: 0,
        dynptr_id: 0,
    };

    /// An unknown scalar.
    pub fn unknown() -> RegState {
        RegState {
            typ: RegType::Scalar,
            ..RegState::NOT_INIT
        }
    }

    /// A scalar with the given bounds.
    pub fn scalar(var: Scalar) -> RegState {
        RegState {
            typ: RegType::Scalar,
            var,
            ..RegState::NOT_INIT
        }
    }

    /// A known constant.
    pub fn konst(v: u64) -> RegState {
        RegState::scalar(Scalar::konst(v))
    }

    /// A pointer of type `typ` with zero offset.
    pub fn pointer(typ: RegType) -> RegState {
        RegState {
            typ,
            var: Scalar::konst(0),
            ..RegState::NOT_INIT
        }
    }

    /// True if this is a scalar known to be `v`.
    pub fn is_const(&self, v: u64) -> bool {
        self.typ == RegType::Scalar && self.var.is_const() && self.var.value() == v
    }

    /// True for pointers.
    pub fn is_pointer(&self) -> bool {
        self.typ.is_pointer()
    }
}

/// Formats a scalar as the kernel's log does (`R2=42`, `R2=scalar(smin=..)`) — a compact
/// subset used in the `-v` log.
impl fmt::Display for RegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.typ {
            RegType::Scalar if self.var.is_const() => write!(f, "{}", self.var.value() as i64),
            RegType::Scalar => {
                let v = &self.var;
                write!(f, "scalar(")?;
                let mut parts = Vec::new();
                if v.smin != i64::MIN {
                    parts.push(format!("smin={}", v.smin));
                }
                if v.smax != i64::MAX {
                    parts.push(format!("smax={}", v.smax));
                }
                if v.umin != 0 {
                    parts.push(format!("umin={}", v.umin));
                }
                if v.umax != u64::MAX {
                    parts.push(format!("umax={}", v.umax));
                }
                if !v.var_off.is_const() && v.var_off.mask != u64::MAX {
                    parts.push(format!("var_off={}", v.var_off));
                }
                write!(f, "{})", parts.join(","))
            }
            RegType::Stack => write!(f, "fp{}", self.off),
            t => {
                write!(f, "{}", t.name())?;
                if t.is_btf() {
                    write!(f, "{}", crate::btf_walk::type_name(self.map))?;
                }
                write!(f, "(")?;
                let mut parts = Vec::new();
                if self.id != 0 {
                    parts.push(format!("id={}", self.id));
                }
                if self.ref_obj_id != 0 {
                    parts.push(format!("ref_obj_id={}", self.ref_obj_id));
                }
                if self.off != 0 {
                    parts.push(format!("off={}", self.off));
                }
                if t == RegType::Pkt {
                    parts.push(format!("r={}", self.range));
                }
                write!(f, "{})", parts.join(","))
            }
        }
    }
}
