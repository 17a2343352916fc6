//! The field table of `struct bpf_sock_ops` and `struct bpf_sock`: the one description the
//! verifier (what an access may do, what a load yields) and the runtime (guards, write-back)
//! both read. `check_access` is SOCK_OPS.md §2's algorithm, exactly.

use crate::layout::{BPF_SOCK_OPS_SIZE, BPF_SOCK_SIZE};

/// What a (valid) load of a field puts in the destination register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadYields {
    /// An unknown scalar (zero-extended to 64 bits).
    Scalar,
    /// `sk`: PTR_TO_SOCKET_OR_NULL.
    SocketOrNull,
    /// `skb_data`: PTR_TO_PACKET (range 0).
    Packet,
    /// `skb_data_end`: PTR_TO_PACKET_END.
    PacketEnd,
}

/// What the kernel checks before reading the real socket; if the check fails the load
/// yields 0 (or NULL) and a guarded store is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Guard {
    /// No guard: `sock_common` or kernel ctx memory.
    None,
    /// L: `is_locked_tcp_sock` (full socket and op <= 15).
    Locked,
    /// F: `is_fullsock`.
    FullSock,
    /// S: the op carries an skb.
    Skb,
}

/// The kind of a context access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// LDX.
    Load,
    /// STX (store from a register).
    StoreReg,
    /// ST (store an immediate).
    StoreImm,
}

impl AccessKind {
    /// Whether this is a store (STX or ST).
    pub fn is_store(self) -> bool {
        !matches!(self, AccessKind::Load)
    }
}

/// One field (or one 4-byte word of an array field) of a context structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtxField {
    /// Field name as SOCK_OPS.md and the probe TSV spell it (array words as `name[i]`).
    pub name: &'static str,
    /// Byte offset.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Whether a program may load it.
    pub readable: bool,
    /// Whether a program may store to it.
    pub writable: bool,
    /// Allowed load sizes, at `offset` only.
    pub load_sizes: &'static [u32],
    /// Allowed store sizes (STX and ST alike), at `offset` only.
    pub store_sizes: &'static [u32],
    /// What a load yields.
    pub yields: LoadYields,
    /// The kernel's guard for this field.
    pub guard: Guard,
}

impl CtxField {
    /// Whether byte `off` lies inside this field.
    pub fn contains(&self, off: u32) -> bool {
        off >= self.offset && off < self.offset + self.size
    }
}

const W: &[u32] = &[4];
const DW: &[u32] = &[8];
const NONE: &[u32] = &[];

const fn scalar(name: &'static str, offset: u32, guard: Guard) -> CtxField {
    CtxField {
        name,
        offset,
        size: 4,
        readable: true,
        writable: false,
        load_sizes: W,
        store_sizes: NONE,
        yields: LoadYields::Scalar,
        guard,
    }
}

const fn wide(name: &'static str, offset: u32, yields: LoadYields, guard: Guard) -> CtxField {
    CtxField {
        name,
        offset,
        size: 8,
        readable: true,
        writable: false,
        load_sizes: DW,
        store_sizes: NONE,
        yields,
        guard,
    }
}

/// Every field of `struct bpf_sock_ops`, by offset (array fields one entry per word).
pub const SOCK_OPS_FIELDS: &[CtxField] = &[
    scalar("op", 0, Guard::None),
    CtxField {
        name: "args[0]/reply/replylong[0]",
        offset: 4,
        size: 4,
        readable: true,
        writable: true,
        load_sizes: W,
        store_sizes: W,
        yields: LoadYields::Scalar,
        guard: Guard::None,
    },
    scalar("args[1]/replylong[1]", 8, Guard::None),
    scalar("args[2]/replylong[2]", 12, Guard::None),
    scalar("args[3]/replylong[3]", 16, Guard::None),
    scalar("family", 20, Guard::None),
    scalar("remote_ip4", 24, Guard::None),
    scalar("local_ip4", 28, Guard::None),
    scalar("remote_ip6[0]", 32, Guard::None),
    scalar("remote_ip6[1]", 36, Guard::None),
    scalar("remote_ip6[2]", 40, Guard::None),
    scalar("remote_ip6[3]", 44, Guard::None),
    scalar("local_ip6[0]", 48, Guard::None),
    scalar("local_ip6[1]", 52, Guard::None),
    scalar("local_ip6[2]", 56, Guard::None),
    scalar("local_ip6[3]", 60, Guard::None),
    scalar("remote_port", 64, Guard::None),
    scalar("local_port", 68, Guard::None),
    scalar("is_fullsock", 72, Guard::None),
    scalar("snd_cwnd", 76, Guard::Locked),
    scalar("srtt_us", 80, Guard::Locked),
    scalar("bpf_sock_ops_cb_flags", 84, Guard::Locked),
    scalar("state", 88, Guard::None),
    scalar("rtt_min", 92, Guard::None),
    scalar("snd_ssthresh", 96, Guard::Locked),
    scalar("rcv_nxt", 100, Guard::Locked),
    scalar("snd_nxt", 104, Guard::Locked),
    scalar("snd_una", 108, Guard::Locked),
    scalar("mss_cache", 112, Guard::Locked),
    scalar("ecn_flags", 116, Guard::Locked),
    scalar("rate_delivered", 120, Guard::Locked),
    scalar("rate_interval_us", 124, Guard::Locked),
    scalar("packets_out", 128, Guard::Locked),
    scalar("retrans_out", 132, Guard::Locked),
    scalar("total_retrans", 136, Guard::Locked),
    scalar("segs_in", 140, Guard::Locked),
    scalar("data_segs_in", 144, Guard::Locked),
    scalar("segs_out", 148, Guard::Locked),
    scalar("data_segs_out", 152, Guard::Locked),
    scalar("lost_out", 156, Guard::Locked),
    scalar("sacked_out", 160, Guard::Locked),
    CtxField {
        name: "sk_txhash",
        offset: 164,
        size: 4,
        readable: true,
        writable: true,
        load_sizes: W,
        store_sizes: W,
        yields: LoadYields::Scalar,
        guard: Guard::Locked,
    },
    wide("bytes_received", 168, LoadYields::Scalar, Guard::Locked),
    wide("bytes_acked", 176, LoadYields::Scalar, Guard::Locked),
    wide("sk", 184, LoadYields::SocketOrNull, Guard::FullSock),
    wide("skb_data", 192, LoadYields::Packet, Guard::Skb),
    wide("skb_data_end", 200, LoadYields::PacketEnd, Guard::None),
    scalar("skb_len", 208, Guard::Skb),
    CtxField {
        name: "skb_tcp_flags",
        offset: 212,
        size: 4,
        readable: true,
        writable: false,
        load_sizes: &[1, 2, 4],
        store_sizes: NONE,
        yields: LoadYields::Scalar,
        guard: Guard::Skb,
    },
    wide("skb_hwtstamp", 216, LoadYields::Scalar, Guard::Skb),
];

/// The sock_ops field containing byte `off`, if any.
pub fn sock_ops_field_at(off: u32) -> Option<&'static CtxField> {
    SOCK_OPS_FIELDS.iter().find(|f| f.contains(off))
}

/// The sock_ops field named `name` (`reply`, `args[2]`, `remote_ip6[1]` and the table's own
/// names are accepted).
pub fn sock_ops_field_by_name(name: &str) -> Option<&'static CtxField> {
    let alias = match name {
        "reply" | "args[0]" | "replylong[0]" => "args[0]/reply/replylong[0]",
        "args[1]" | "replylong[1]" => "args[1]/replylong[1]",
        "args[2]" | "replylong[2]" => "args[2]/replylong[2]",
        "args[3]" | "replylong[3]" => "args[3]/replylong[3]",
        other => other,
    };
    SOCK_OPS_FIELDS.iter().find(|f| f.name == alias)
}

/// A context access the kernel rejects. Displays as the kernel's verifier message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid bpf_context access off={off} size={size}")]
pub struct CtxAccessError {
    /// Offset from the context pointer.
    pub off: i64,
    /// Access size in bytes.
    pub size: u32,
}

/// A context access the kernel accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtxAccess {
    /// The field accessed.
    pub field: &'static CtxField,
    /// What a load yields (for stores: the field's load type, irrelevant to the store).
    pub yields: LoadYields,
}

/// Decides an access of `size` bytes at `off` into `struct bpf_sock_ops`, as
/// `sock_ops_is_valid_access` does (SOCK_OPS.md §2).
pub fn check_access(off: i64, size: u32, kind: AccessKind) -> Result<CtxAccess, CtxAccessError> {
    let err = CtxAccessError { off, size };
    // 1. range; the verifier only produces sizes 1, 2, 4, 8.
    if off < 0 || off >= BPF_SOCK_OPS_SIZE as i64 || !matches!(size, 1 | 2 | 4 | 8) {
        return Err(err);
    }
    // 2. alignment to the access size.
    if off % i64::from(size) != 0 {
        return Err(err);
    }
    let off = off as u32;
    let field = sock_ops_field_at(off).ok_or(err)?;
    // 3./4. the access must start at the field and use one of its sizes.
    let sizes = if kind.is_store() {
        field.store_sizes
    } else {
        field.load_sizes
    };
    if off != field.offset || !sizes.contains(&size) {
        return Err(err);
    }
    Ok(CtxAccess {
        field,
        yields: field.yields,
    })
}

/// Every field of `struct bpf_sock` (read-only; array words one entry each).
pub const BPF_SOCK_FIELDS: &[CtxField] = &[
    scalar("bound_dev_if", 0, Guard::None),
    scalar("family", 4, Guard::None),
    scalar("type", 8, Guard::None),
    scalar("protocol", 12, Guard::None),
    scalar("mark", 16, Guard::None),
    scalar("priority", 20, Guard::None),
    scalar("src_ip4", 24, Guard::None),
    scalar("src_ip6[0]", 28, Guard::None),
    scalar("src_ip6[1]", 32, Guard::None),
    scalar("src_ip6[2]", 36, Guard::None),
    scalar("src_ip6[3]", 40, Guard::None),
    scalar("src_port", 44, Guard::None),
    scalar("dst_port", 48, Guard::None),
    scalar("dst_ip4", 52, Guard::None),
    scalar("dst_ip6[0]", 56, Guard::None),
    scalar("dst_ip6[1]", 60, Guard::None),
    scalar("dst_ip6[2]", 64, Guard::None),
    scalar("dst_ip6[3]", 68, Guard::None),
    scalar("state", 72, Guard::None),
    scalar("rx_queue_mapping", 76, Guard::None),
];

/// A `struct bpf_sock` access the kernel rejects (the verifier prefixes the register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid sock access off={off} size={size}")]
pub struct SockAccessError {
    /// Offset from the socket pointer.
    pub off: i64,
    /// Access size in bytes.
    pub size: u32,
}

/// Decides a load of `size` bytes at `off` from a `struct bpf_sock` pointer, as
/// `bpf_sock_is_valid_access` does. Stores are never allowed ("cannot write into sock").
pub fn check_sock_access(off: i64, size: u32) -> Result<&'static CtxField, SockAccessError> {
    let err = SockAccessError { off, size };
    if off < 0 || off >= BPF_SOCK_SIZE as i64 || !matches!(size, 1 | 2 | 4 | 8) {
        return Err(err);
    }
    if off % i64::from(size) != 0 {
        return Err(err);
    }
    let off = off as u32;
    let field = BPF_SOCK_FIELDS
        .iter()
        .find(|f| f.contains(off))
        .ok_or(err)?;
    let narrow_ok = |field_size: u32| size <= field_size;
    let ok = match field.name {
        // Exact-offset fields: narrow loads only at the field start.
        "state" | "family" | "type" | "protocol" | "src_port" | "rx_queue_mapping" => {
            off == field.offset && narrow_ok(4)
        }
        // Ranges: narrow loads anywhere inside.
        "src_ip4" | "dst_ip4" => narrow_ok(4),
        n if n.starts_with("src_ip6") || n.starts_with("dst_ip6") => narrow_ok(4),
        // dst_port: a __be16 then 2 padding bytes; 4-byte load at 48, or narrow within 48..49.
        "dst_port" => {
            if size == 4 {
                off == 48
            } else {
                off < 50 && narrow_ok(2)
            }
        }
        _ => off == field.offset && size == 4,
    };
    if ok { Ok(field) } else { Err(err) }
}
