//! The socket helpers sock_ops gets besides set/getsockopt: `bpf_sock_map_update` (53) and
//! `bpf_sock_hash_update` (70) from net/core/sock_map.c, `bpf_tcp_sock` (96) and the
//! `bpf_skc_to_*` casts (136-140, 178, 196) from net/core/filter.c and net/mptcp/bpf.c, with
//! the kernel's signatures and return codes (SOCK_OPS.md §5.2). Socket maps hold the socket's
//! cookie (`Map::sock_update`); `bpf_tcp_sock` hands out the run's `struct bpf_tcp_sock`
//! view (`tcp_sock`) and `bpf_skc_to_tcp_sock` / `bpf_skc_to_tcp6_sock` the kernel
//! `struct tcp6_sock` image (`kernel_tcp_sock`), all read-only. The other casts find no
//! socket of their kind here and return NULL, as the kernel does for a full TCP socket.

use std::sync::Arc;

use sockops_vm::{
    ArgKind, Helper, HelperEnv, HelperError, HelperSignature, Map, MapType, RegionKind, RetKind,
};

use crate::errno::{EINVAL, EOPNOTSUPP};
use crate::guest_buf::GuestBuf;
use crate::helpers::{check_ctx, id, with_world};
use crate::ops::SockOp;
use crate::tcp_sock::BPF_TCP_SOCK_SIZE;

/// `bpf_sock_map_update_proto`.
pub const SOCK_MAP_UPDATE: HelperSignature = HelperSignature {
    name: "bpf_sock_map_update",
    args: &[
        ArgKind::Ctx,
        ArgKind::ConstMapPtr,
        ArgKind::MapKey,
        ArgKind::Anything,
    ],
    ret: RetKind::Integer,
    gpl_only: false,
};

/// `bpf_sock_hash_update_proto`.
pub const SOCK_HASH_UPDATE: HelperSignature = HelperSignature {
    name: "bpf_sock_hash_update",
    ..SOCK_MAP_UPDATE
};

/// `bpf_tcp_sock_proto`.
pub const TCP_SOCK: HelperSignature = HelperSignature {
    name: "bpf_tcp_sock",
    args: &[ArgKind::SockCommon],
    ret: RetKind::TcpSockOrNull,
    gpl_only: false,
};

/// The helpers of this module: id, signature, implementation.
pub const SOCKET_HELPERS: &[Helper] = &[
    Helper {
        id: id::SOCK_MAP_UPDATE,
        signature: SOCK_MAP_UPDATE,
        func: bpf_sock_map_update,
    },
    Helper {
        id: id::SOCK_HASH_UPDATE,
        signature: SOCK_HASH_UPDATE,
        func: bpf_sock_hash_update,
    },
    Helper {
        id: id::TCP_SOCK,
        signature: TCP_SOCK,
        func: bpf_tcp_sock,
    },
    Helper {
        id: id::SKC_TO_TCP_SOCK,
        signature: SKC_TO_TCP_SOCK,
        func: bpf_skc_to_tcp_sock,
    },
    Helper {
        id: id::SKC_TO_TCP6_SOCK,
        signature: SKC_TO_TCP6_SOCK,
        func: bpf_skc_to_tcp6_sock,
    },
    Helper {
        id: id::SKC_TO_TCP_TIMEWAIT_SOCK,
        signature: SKC_TO_TCP_TIMEWAIT_SOCK,
        func: bpf_skc_to_tcp_timewait_sock,
    },
    Helper {
        id: id::SKC_TO_TCP_REQUEST_SOCK,
        signature: SKC_TO_TCP_REQUEST_SOCK,
        func: bpf_skc_to_tcp_request_sock,
    },
    Helper {
        id: id::SKC_TO_UDP6_SOCK,
        signature: SKC_TO_UDP6_SOCK,
        func: bpf_skc_to_udp6_sock,
    },
    Helper {
        id: id::SKC_TO_UNIX_SOCK,
        signature: SKC_TO_UNIX_SOCK,
        func: bpf_skc_to_unix_sock,
    },
    Helper {
        id: id::SKC_TO_MPTCP_SOCK,
        signature: SKC_TO_MPTCP_SOCK,
        func: bpf_skc_to_mptcp_sock,
    },
];

/// `bpf_skc_to_tcp_sock_proto`.
pub const SKC_TO_TCP_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_tcp_sock",
    args: &[ArgKind::SockCommon],
    ret: RetKind::BtfIdOrNull,
    gpl_only: false,
};

/// `bpf_skc_to_tcp6_sock_proto`.
pub const SKC_TO_TCP6_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_tcp6_sock",
    ..SKC_TO_TCP_SOCK
};
/// `bpf_skc_to_tcp_timewait_sock_proto`.
pub const SKC_TO_TCP_TIMEWAIT_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_tcp_timewait_sock",
    ..SKC_TO_TCP_SOCK
};
/// `bpf_skc_to_tcp_request_sock_proto`.
pub const SKC_TO_TCP_REQUEST_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_tcp_request_sock",
    ..SKC_TO_TCP_SOCK
};
/// `bpf_skc_to_udp6_sock_proto`.
pub const SKC_TO_UDP6_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_udp6_sock",
    ..SKC_TO_TCP_SOCK
};
/// `bpf_skc_to_unix_sock_proto`.
pub const SKC_TO_UNIX_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_unix_sock",
    ..SKC_TO_TCP_SOCK
};
/// `bpf_skc_to_mptcp_sock_proto`: its argument is a socket pointer, not a BTF one.
pub const SKC_TO_MPTCP_SOCK: HelperSignature = HelperSignature {
    name: "bpf_skc_to_mptcp_sock",
    args: &[ArgKind::SockCommon],
    ..SKC_TO_TCP_SOCK
};

/// `bpf_skc_to_tcp_sock(sk)`: the kernel `struct tcp_sock` of this run's socket when it is a
/// full TCP socket (`sk_fullsock(sk) && sk->sk_protocol == IPPROTO_TCP`), reached through
/// any of its pointers; NULL otherwise. The image is read-only: the verifier refuses stores
/// through BTF pointers.
fn bpf_skc_to_tcp_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    kernel_socket(env, id::SKC_TO_TCP_SOCK, a, false)
}

/// `bpf_skc_to_tcp6_sock(sk)`: as `bpf_skc_to_tcp_sock`, for an IPv6 socket only
/// (`sk->sk_family == AF_INET6`); the same image and address, since a `struct tcp6_sock`
/// begins with its `struct tcp_sock`.
fn bpf_skc_to_tcp6_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    kernel_socket(env, id::SKC_TO_TCP6_SOCK, a, true)
}

/// `bpf_skc_to_tcp_timewait_sock(sk)`: NULL. The kernel returns `sk` only for a timewait
/// socket (`sk_state == TCP_TIME_WAIT`), a separate object sock_ops programs are never run
/// on; a full socket's own state is never TIME_WAIT.
fn bpf_skc_to_tcp_timewait_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SKC_TO_TCP_TIMEWAIT_SOCK, a, |_, _, _| Ok(0))
}

/// `bpf_skc_to_tcp_request_sock(sk)`: NULL. The kernel returns `sk` only for a request
/// socket (`TCP_NEW_SYN_RECV`), and a sock_ops program cannot name one: `ctx->sk` reads NULL
/// for request sockets.
fn bpf_skc_to_tcp_request_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SKC_TO_TCP_REQUEST_SOCK, a, |_, _, _| Ok(0))
}

/// `bpf_skc_to_udp6_sock(sk)`: NULL, the socket is TCP.
fn bpf_skc_to_udp6_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SKC_TO_UDP6_SOCK, a, |_, _, _| Ok(0))
}

/// `bpf_skc_to_unix_sock(sk)`: NULL, the socket is not AF_UNIX.
fn bpf_skc_to_unix_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SKC_TO_UNIX_SOCK, a, |_, _, _| Ok(0))
}

/// `bpf_skc_to_mptcp_sock(sk)`: NULL. The kernel returns the MPTCP connection of a subflow
/// (`sk_is_mptcp(sk)`); this runtime's sockets are plain TCP.
fn bpf_skc_to_mptcp_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SKC_TO_MPTCP_SOCK, a, |_, _, _| Ok(0))
}

/// The kernel `struct tcp6_sock` image of this run's socket when `sk` is one of its pointers
/// and it is a full socket (and, with `v6_only`, an IPv6 one); NULL otherwise.
fn kernel_socket(
    env: &mut HelperEnv<'_>,
    helper_id: u32,
    a: [u64; 5],
    v6_only: bool,
) -> Result<u64, HelperError> {
    with_world(env, helper_id, a, |w, mem, a| {
        if !w.is_this_socket(a[0]) || !w.socket.is_fullsock() {
            return Ok(0);
        }
        if v6_only && w.socket.family != crate::socket::Family::Inet6 {
            return Ok(0);
        }
        let buf = w
            .kernel_tcp_sock
            .get_or_insert_with(|| GuestBuf::new(crate::kernel_tcp_sock::image_len()));
        let region = buf.region(false, RegionKind::Other);
        w.refresh_tcp_sock();
        // SAFETY: as in `bpf_tcp_sock`: the buffer belongs to the run's `SockOpsEnv`, which
        // outlives the run's memory, and is never freed or moved while it lives.
        unsafe { mem.add(region) };
        Ok(region.start as i64)
    })
}

/// `sock_map_op_okay`: the ops in which a socket may be added to a socket map.
pub fn sock_map_op_okay(op: SockOp) -> bool {
    matches!(
        op,
        SockOp::PassiveEstablishedCb | SockOp::ActiveEstablishedCb | SockOp::TcpListenCb
    )
}

fn bpf_sock_map_update(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    sock_update(env, id::SOCK_MAP_UPDATE, MapType::Sockmap, a)
}

fn bpf_sock_hash_update(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    sock_update(env, id::SOCK_HASH_UPDATE, MapType::Sockhash, a)
}

/// `bpf_sock_map_update` / `bpf_sock_hash_update`: -EOPNOTSUPP unless the op is 4, 5 or 11
/// on a full socket; then `sock_map_update_common` / `sock_hash_update_common` codes.
fn sock_update(
    env: &mut HelperEnv<'_>,
    helper_id: u32,
    want: MapType,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let name = if want == MapType::Sockmap {
        SOCK_MAP_UPDATE.name
    } else {
        SOCK_HASH_UPDATE.name
    };
    let map: Option<Arc<Map>> = env.map_by_ptr(a[1]).map(|(_, m)| Arc::clone(m));
    with_world(env, helper_id, a, |w, mem, a| {
        check_ctx(w, name, a[0])?;
        let map = map.ok_or_else(|| HelperError::BadArgument {
            helper: name,
            arg: 2,
            reason: format!("{:#x} is not a map of this program", a[1]),
        })?;
        // The verifier only lets a sockmap reach bpf_sock_map_update and a sockhash reach
        // bpf_sock_hash_update; an unverified program that mixes them gets -EINVAL.
        if map.map_type() != want {
            return Ok(-i64::from(EINVAL));
        }
        if !w.socket.is_fullsock() || !sock_map_op_okay(w.context.op()) {
            return Ok(-i64::from(EOPNOTSUPP));
        }
        let key = mem.read_bytes(a[2], u64::from(map.def().key_size))?;
        Ok(match map.sock_update(&key, w.socket.cookie, a[3]) {
            Ok(()) => 0,
            Err(e) => -i64::from(e.errno()),
        })
    })
}

/// `bpf_tcp_sock(sk)`: the run's `struct bpf_tcp_sock` for this run's (full, TCP) socket,
/// reached as `ctx->sk` or as a tcp_sock pointer from an earlier call; NULL for any other
/// pointer.
fn bpf_tcp_sock(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::TCP_SOCK, a, |w, mem, a| {
        if !w.is_this_socket(a[0]) || !w.socket.is_fullsock() {
            return Ok(0);
        }
        let buf = w
            .tcp_sock
            .get_or_insert_with(|| GuestBuf::new(BPF_TCP_SOCK_SIZE));
        let region = buf.region(false, RegionKind::Other);
        w.refresh_tcp_sock();
        // SAFETY: the buffer is owned by the run's `SockOpsEnv` (the helper payload), which
        // by `SockOpsEnv::add_regions`' contract outlives the run's memory; it is never
        // freed or moved while the environment lives, and we hold no Rust reference into it.
        unsafe { mem.add(region) };
        Ok(region.start as i64)
    })
}
