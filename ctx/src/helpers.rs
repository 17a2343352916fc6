//! The sock_ops helpers, with the kernel's ids, signatures and return codes (SOCK_OPS.md
//! §5-6), registered into a `sockops_vm::HelperTable`. Each finds its world (`SockOpsEnv`)
//! in `HelperEnv::payload`, touches guest memory only through `HelperEnv::memory`, and logs
//! itself in `SockOpsEnv::calls`.

use sockops_vm::maps::helpers::register_map_helpers;
use sockops_vm::{
    Access, ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, MapType, Memory,
    RetKind,
};

use crate::env::{HelperCall, PerfRecord, SockOpsEnv};
use crate::errno::*;
use crate::{hdr_opt, printk, sockopt};

/// Helper ids (`BPF_FUNC_*`) this module implements.
pub mod id {
    /// bpf_ktime_get_ns
    pub const KTIME_GET_NS: u32 = 5;
    /// bpf_trace_printk
    pub const TRACE_PRINTK: u32 = 6;
    /// bpf_get_prandom_u32
    pub const GET_PRANDOM_U32: u32 = 7;
    /// bpf_get_smp_processor_id
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// bpf_perf_event_output
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    /// bpf_get_numa_node_id
    pub const GET_NUMA_NODE_ID: u32 = 42;
    /// bpf_get_socket_cookie
    pub const GET_SOCKET_COOKIE: u32 = 46;
    /// bpf_setsockopt
    pub const SETSOCKOPT: u32 = 49;
    /// bpf_getsockopt
    pub const GETSOCKOPT: u32 = 57;
    /// bpf_sock_ops_cb_flags_set
    pub const SOCK_OPS_CB_FLAGS_SET: u32 = 59;
    /// bpf_get_netns_cookie
    pub const GET_NETNS_COOKIE: u32 = 122;
    /// bpf_ktime_get_boot_ns
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    /// bpf_load_hdr_opt
    pub const LOAD_HDR_OPT: u32 = 142;
    /// bpf_store_hdr_opt
    pub const STORE_HDR_OPT: u32 = 143;
    /// bpf_reserve_hdr_opt
    pub const RESERVE_HDR_OPT: u32 = 144;
    /// bpf_sk_storage_get
    pub const SK_STORAGE_GET: u32 = 107;
    /// bpf_sk_storage_delete
    pub const SK_STORAGE_DELETE: u32 = 108;
    /// bpf_ktime_get_coarse_ns
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    /// bpf_ktime_get_tai_ns
    pub const KTIME_GET_TAI_NS: u32 = 208;
    /// bpf_get_current_pid_tgid
    pub const GET_CURRENT_PID_TGID: u32 = 14;
    /// bpf_get_current_uid_gid
    pub const GET_CURRENT_UID_GID: u32 = 15;
    /// bpf_get_current_comm
    pub const GET_CURRENT_COMM: u32 = 16;
    /// bpf_get_current_task_btf
    pub const GET_CURRENT_TASK_BTF: u32 = 158;
    /// bpf_sock_map_update
    pub const SOCK_MAP_UPDATE: u32 = 53;
    /// bpf_sock_hash_update
    pub const SOCK_HASH_UPDATE: u32 = 70;
    /// bpf_get_current_cgroup_id
    pub const GET_CURRENT_CGROUP_ID: u32 = 80;
    /// bpf_tcp_sock
    pub const TCP_SOCK: u32 = 96;
    /// bpf_strtol
    pub const STRTOL: u32 = 105;
    /// bpf_strtoul
    pub const STRTOUL: u32 = 106;
    /// bpf_jiffies64
    pub const JIFFIES64: u32 = 118;
    /// bpf_ringbuf_output
    pub const RINGBUF_OUTPUT: u32 = 130;
    /// bpf_skc_to_tcp_sock
    pub const SKC_TO_TCP_SOCK: u32 = 137;
    /// bpf_skc_to_tcp6_sock
    pub const SKC_TO_TCP6_SOCK: u32 = 136;
    /// bpf_skc_to_tcp_timewait_sock
    pub const SKC_TO_TCP_TIMEWAIT_SOCK: u32 = 138;
    /// bpf_skc_to_tcp_request_sock
    pub const SKC_TO_TCP_REQUEST_SOCK: u32 = 139;
    /// bpf_skc_to_udp6_sock
    pub const SKC_TO_UDP6_SOCK: u32 = 140;
    /// bpf_skc_to_unix_sock
    pub const SKC_TO_UNIX_SOCK: u32 = 178;
    /// bpf_skc_to_mptcp_sock
    pub const SKC_TO_MPTCP_SOCK: u32 = 196;
    /// bpf_ringbuf_reserve
    pub const RINGBUF_RESERVE: u32 = 131;
    /// bpf_ringbuf_submit
    pub const RINGBUF_SUBMIT: u32 = 132;
    /// bpf_ringbuf_discard
    pub const RINGBUF_DISCARD: u32 = 133;
    /// bpf_ringbuf_query
    pub const RINGBUF_QUERY: u32 = 134;
    /// bpf_strncmp
    pub const STRNCMP: u32 = 182;
    /// bpf_dynptr_from_mem
    pub const DYNPTR_FROM_MEM: u32 = 197;
    /// bpf_ringbuf_reserve_dynptr
    pub const RINGBUF_RESERVE_DYNPTR: u32 = 198;
    /// bpf_ringbuf_submit_dynptr
    pub const RINGBUF_SUBMIT_DYNPTR: u32 = 199;
    /// bpf_ringbuf_discard_dynptr
    pub const RINGBUF_DISCARD_DYNPTR: u32 = 200;
    /// bpf_dynptr_read
    pub const DYNPTR_READ: u32 = 201;
    /// bpf_dynptr_write
    pub const DYNPTR_WRITE: u32 = 202;
    /// bpf_dynptr_data
    pub const DYNPTR_DATA: u32 = 203;
}

const fn sig(name: &'static str, args: &'static [ArgKind], gpl_only: bool) -> HelperSignature {
    HelperSignature {
        name,
        args,
        ret: RetKind::Integer,
        gpl_only,
    }
}

use ArgKind::*;

/// Every sock_ops helper of this module: id, signature, implementation.
pub const SOCK_OPS_HELPERS: &[Helper] = &[
    Helper {
        id: id::SETSOCKOPT,
        signature: sig(
            "bpf_setsockopt",
            &[Ctx, Anything, Anything, ReadableMem, ConstSize],
            false,
        ),
        func: bpf_setsockopt,
    },
    Helper {
        id: id::GETSOCKOPT,
        signature: sig(
            "bpf_getsockopt",
            &[Ctx, Anything, Anything, UninitMem, ConstSize],
            false,
        ),
        func: bpf_getsockopt,
    },
    Helper {
        id: id::SOCK_OPS_CB_FLAGS_SET,
        signature: sig("bpf_sock_ops_cb_flags_set", &[Ctx, Anything], false),
        func: bpf_sock_ops_cb_flags_set,
    },
    Helper {
        id: id::GET_SOCKET_COOKIE,
        signature: sig("bpf_get_socket_cookie", &[Ctx], false),
        func: bpf_get_socket_cookie,
    },
    Helper {
        id: id::GET_NETNS_COOKIE,
        signature: sig("bpf_get_netns_cookie", &[CtxOrNull], false),
        func: bpf_get_netns_cookie,
    },
    Helper {
        id: id::GET_PRANDOM_U32,
        signature: sig("bpf_get_prandom_u32", &[], false),
        func: bpf_get_prandom_u32,
    },
    Helper {
        id: id::KTIME_GET_NS,
        signature: sig("bpf_ktime_get_ns", &[], false),
        func: bpf_ktime_get_ns,
    },
    Helper {
        id: id::KTIME_GET_BOOT_NS,
        signature: sig("bpf_ktime_get_boot_ns", &[], false),
        func: bpf_ktime_get_boot_ns,
    },
    Helper {
        id: id::KTIME_GET_COARSE_NS,
        signature: sig("bpf_ktime_get_coarse_ns", &[], false),
        func: bpf_ktime_get_coarse_ns,
    },
    Helper {
        id: id::KTIME_GET_TAI_NS,
        signature: sig("bpf_ktime_get_tai_ns", &[], false),
        func: bpf_ktime_get_tai_ns,
    },
    Helper {
        id: id::TRACE_PRINTK,
        signature: sig("bpf_trace_printk", &[ReadableMem, ConstSize], true),
        func: bpf_trace_printk,
    },
    Helper {
        id: id::PERF_EVENT_OUTPUT,
        signature: sig(
            "bpf_perf_event_output",
            &[Ctx, ConstMapPtr, Anything, ReadableMem, ConstSizeOrZero],
            true,
        ),
        func: bpf_perf_event_output,
    },
    Helper {
        id: id::GET_SMP_PROCESSOR_ID,
        signature: sig("bpf_get_smp_processor_id", &[], false),
        func: bpf_get_smp_processor_id,
    },
    Helper {
        id: id::GET_NUMA_NODE_ID,
        signature: sig("bpf_get_numa_node_id", &[], false),
        func: bpf_get_numa_node_id,
    },
    Helper {
        id: id::LOAD_HDR_OPT,
        signature: sig("bpf_load_hdr_opt", &[Ctx, Mem, ConstSize, Anything], false),
        func: bpf_load_hdr_opt,
    },
    Helper {
        id: id::STORE_HDR_OPT,
        signature: sig(
            "bpf_store_hdr_opt",
            &[Ctx, ReadableMem, ConstSize, Anything],
            false,
        ),
        func: bpf_store_hdr_opt,
    },
    Helper {
        id: id::RESERVE_HDR_OPT,
        signature: sig("bpf_reserve_hdr_opt", &[Ctx, Anything, Anything], false),
        func: bpf_reserve_hdr_opt,
    },
    Helper {
        id: id::SK_STORAGE_GET,
        signature: HelperSignature {
            name: "bpf_sk_storage_get",
            args: &[ConstMapPtr, SockCommonOrNull, MapValueOrNull, Anything],
            ret: RetKind::MapValueOrNull,
            gpl_only: false,
        },
        func: bpf_sk_storage_get,
    },
    Helper {
        id: id::SK_STORAGE_DELETE,
        signature: sig("bpf_sk_storage_delete", &[ConstMapPtr, SockCommon], false),
        func: bpf_sk_storage_delete,
    },
];

/// Every helper of this crate: `SOCK_OPS_HELPERS`, the socket-map and tcp_sock helpers
/// (`socket_helpers`) and the base helpers (`base_helpers`).
pub fn all_sock_ops_helpers() -> impl Iterator<Item = &'static Helper> {
    SOCK_OPS_HELPERS
        .iter()
        .chain(crate::socket_helpers::SOCKET_HELPERS)
        .chain(crate::base_helpers::BASE_HELPERS)
        .chain(crate::dynptr::DYNPTR_HELPERS)
}

/// Registers the sock_ops helpers (`all_sock_ops_helpers`) and the vm's map helpers
/// (lookup/update/delete, push/pop/peek, percpu lookup, tail call) into `table`.
pub fn register_sock_ops_helpers(table: &mut HelperTable) {
    register_map_helpers(table);
    for h in all_sock_ops_helpers() {
        table.register(*h);
    }
}

/// A table with every helper this runtime provides to sock_ops programs.
pub fn sock_ops_helper_table() -> HelperTable {
    let mut t = HelperTable::new();
    register_sock_ops_helpers(&mut t);
    t
}

fn signature_of(id: u32) -> &'static HelperSignature {
    &all_sock_ops_helpers()
        .find(|h| h.id == id)
        .expect("helper ids of this crate are registered in its helper lists")
        .signature
}

/// Runs helper `id`'s body with the sock_ops world, then refreshes the `struct bpf_tcp_sock`
/// view (helpers change the socket) and logs the call; helpers returning a pointer are logged
/// with `ret` 1 (non-NULL) or 0, so logs never show host addresses.
pub(crate) fn with_world(
    env: &mut HelperEnv<'_>,
    id: u32,
    a: [u64; 5],
    body: impl FnOnce(&mut SockOpsEnv, &mut Memory, [u64; 5]) -> Result<i64, HelperError>,
) -> Result<u64, HelperError> {
    let name = signature_of(id).name;
    let memory: &mut Memory = env.memory;
    let world =
        env.payload
            .downcast_mut::<SockOpsEnv>()
            .ok_or_else(|| HelperError::BadArgument {
                helper: name,
                arg: 1,
                reason: "the run has no sock_ops environment (payload is not a SockOpsEnv)".into(),
            })?;
    let ret = body(world, memory, a)?;
    world.refresh_tcp_sock();
    let logged = match signature_of(id).ret {
        RetKind::Integer | RetKind::Void => ret,
        _ => i64::from(ret != 0),
    };
    let sockopt = matches!(id, id::SETSOCKOPT | id::GETSOCKOPT).then(|| (a[1] as i32, a[2] as i32));
    world.calls.push(HelperCall {
        id,
        name,
        args: a,
        ret: logged,
        sockopt,
    });
    Ok(ret as u64)
}

pub(crate) fn check_ctx(
    world: &SockOpsEnv,
    helper: &'static str,
    ptr: u64,
) -> Result<(), HelperError> {
    if ptr != world.ctx_addr() {
        return Err(HelperError::BadArgument {
            helper,
            arg: 1,
            reason: format!("{ptr:#x} is not the context pointer"),
        });
    }
    Ok(())
}

pub(crate) fn size_arg(
    helper: &'static str,
    arg: u8,
    v: u64,
    zero_ok: bool,
) -> Result<u64, HelperError> {
    let n = v as u32 as i32;
    if n < 0 || (n == 0 && !zero_ok) {
        return Err(HelperError::BadArgument {
            helper,
            arg,
            reason: format!("size {n} is not a positive constant"),
        });
    }
    Ok(n as u64)
}

fn bpf_setsockopt(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SETSOCKOPT, a, |w, mem, a| {
        check_ctx(w, "bpf_setsockopt", a[0])?;
        let len = size_arg("bpf_setsockopt", 5, a[4], false)?;
        let optval = mem.read_bytes(a[3], len)?;
        let op = w.context.op();
        let ret = sockopt::bpf_setsockopt(&mut w.socket, op, a[1] as i32, a[2] as i32, &optval);
        w.context.refresh_from(&w.socket);
        Ok(ret)
    })
}

fn bpf_getsockopt(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GETSOCKOPT, a, |w, mem, a| {
        check_ctx(w, "bpf_getsockopt", a[0])?;
        let len = size_arg("bpf_getsockopt", 5, a[4], false)?;
        mem.check(a[3], len, Access::Write)?;
        let mut buf = mem.read_bytes(a[3], len)?;
        let op = w.context.op();
        let ret = sockopt::bpf_getsockopt(&w.socket, op, a[1] as i32, a[2] as i32, &mut buf);
        mem.write_bytes(a[3], &buf)?;
        Ok(ret)
    })
}

fn bpf_sock_ops_cb_flags_set(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::SOCK_OPS_CB_FLAGS_SET, a, |w, _, a| {
        check_ctx(w, "bpf_sock_ops_cb_flags_set", a[0])?;
        let argval = a[1] as i32;
        if !w.context.op().is_locked_op() {
            return Ok(-i64::from(EOPNOTSUPP));
        }
        if !w.socket.is_fullsock() {
            return Ok(-i64::from(EINVAL));
        }
        w.socket.cb_flags = (argval as u32) & crate::ops::cb_flags::ALL;
        w.context.refresh_from(&w.socket);
        Ok(i64::from(argval & !(crate::ops::cb_flags::ALL as i32)))
    })
}

fn bpf_get_socket_cookie(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_SOCKET_COOKIE, a, |w, _, a| {
        check_ctx(w, "bpf_get_socket_cookie", a[0])?;
        Ok(w.socket.cookie as i64)
    })
}

/// init_net's cookie.
const INIT_NET_COOKIE: u64 = 1;

fn bpf_get_netns_cookie(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_NETNS_COOKIE, a, |w, _, a| {
        if a[0] == 0 {
            return Ok(INIT_NET_COOKIE as i64);
        }
        check_ctx(w, "bpf_get_netns_cookie", a[0])?;
        Ok(w.socket.netns_cookie as i64)
    })
}

fn bpf_get_prandom_u32(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_PRANDOM_U32, a, |w, _, _| {
        Ok(i64::from(w.prng.next_u32()))
    })
}

fn bpf_ktime_get_ns(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::KTIME_GET_NS, a, |w, _, _| {
        Ok(w.clock.read_monotonic() as i64)
    })
}

fn bpf_ktime_get_boot_ns(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::KTIME_GET_BOOT_NS, a, |w, _, _| {
        let off = w.clock.boot_offset_ns;
        Ok(w.clock.read_monotonic().wrapping_add(off) as i64)
    })
}

fn bpf_ktime_get_tai_ns(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::KTIME_GET_TAI_NS, a, |w, _, _| {
        let off = w.clock.tai_offset_ns;
        Ok(w.clock.read_monotonic().wrapping_add(off) as i64)
    })
}

fn bpf_ktime_get_coarse_ns(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::KTIME_GET_COARSE_NS, a, |w, _, _| {
        // Coarse time advances once per jiffy.
        let tick = 1_000_000_000 / u64::from(w.socket.sysctl.hz.max(1));
        let t = w.clock.read_monotonic();
        Ok((t - t % tick.max(1)) as i64)
    })
}

fn bpf_get_smp_processor_id(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_SMP_PROCESSOR_ID, a, |w, _, _| {
        Ok(i64::from(w.cpu))
    })
}

fn bpf_get_numa_node_id(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_NUMA_NODE_ID, a, |w, _, _| {
        Ok(i64::from(w.numa_node))
    })
}

fn bpf_trace_printk(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::TRACE_PRINTK, a, |w, mem, a| {
        let len = size_arg("bpf_trace_printk", 2, a[1], false)?;
        let fmt = mem.read_bytes(a[0], len)?;
        let reader = |addr: u64, n: usize| mem.read_bytes(addr, n as u64).ok();
        match printk::format(&fmt, &a[2..5], &reader) {
            Ok(line) => {
                let n = line.len() as i64;
                w.trace.push(line);
                Ok(n)
            }
            Err(_) => Ok(-i64::from(EINVAL)),
        }
    })
}

/// `BPF_F_INDEX_MASK`.
const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`.
const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;

fn bpf_perf_event_output(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = env
        .map_by_ptr(a[1])
        .map(|(_, m)| (m.name().to_string(), m.map_type(), m.def().max_entries));
    with_world(env, id::PERF_EVENT_OUTPUT, a, |w, mem, a| {
        check_ctx(w, "bpf_perf_event_output", a[0])?;
        let (name, map_type, max_entries) = map.ok_or_else(|| HelperError::BadArgument {
            helper: "bpf_perf_event_output",
            arg: 2,
            reason: format!("{:#x} is not a map of this program", a[1]),
        })?;
        if map_type != MapType::PerfEventArray {
            return Err(HelperError::BadArgument {
                helper: "bpf_perf_event_output",
                arg: 2,
                reason: format!("map {name} is a {map_type} map, not perf_event_array"),
            });
        }
        let size = size_arg("bpf_perf_event_output", 5, a[4], true)?;
        let data = mem.read_bytes(a[3], size)?;
        let flags = a[2];
        if flags & !BPF_F_INDEX_MASK != 0 {
            return Ok(-i64::from(EINVAL));
        }
        let index = flags & BPF_F_INDEX_MASK;
        let cpu = if index == BPF_F_CURRENT_CPU {
            u64::from(w.cpu)
        } else {
            index
        };
        if cpu >= u64::from(max_entries) {
            return Ok(-i64::from(E2BIG));
        }
        w.perf.push(PerfRecord {
            map: name,
            cpu: cpu as u32,
            data,
        });
        Ok(0)
    })
}

fn bpf_load_hdr_opt(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::LOAD_HDR_OPT, a, |w, mem, a| {
        check_ctx(w, "bpf_load_hdr_opt", a[0])?;
        let len = size_arg("bpf_load_hdr_opt", 3, a[2], false)?;
        mem.check(a[1], len, Access::Write)?;
        let mut buf = mem.read_bytes(a[1], len)?;
        let ret = hdr_opt::load_hdr_opt(&w.context, &w.socket, &mut buf, a[3]);
        mem.write_bytes(a[1], &buf)?;
        Ok(ret)
    })
}

fn bpf_store_hdr_opt(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::STORE_HDR_OPT, a, |w, mem, a| {
        check_ctx(w, "bpf_store_hdr_opt", a[0])?;
        let len = size_arg("bpf_store_hdr_opt", 3, a[2], false)?;
        let from = mem.read_bytes(a[1], len)?;
        Ok(hdr_opt::store_hdr_opt(&mut w.context, &from, a[3]))
    })
}

fn bpf_reserve_hdr_opt(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::RESERVE_HDR_OPT, a, |w, _, a| {
        check_ctx(w, "bpf_reserve_hdr_opt", a[0])?;
        Ok(hdr_opt::reserve_hdr_opt(&mut w.context, a[1] as u32, a[2]))
    })
}

/// `BPF_SK_STORAGE_GET_F_CREATE`.
const BPF_SK_STORAGE_GET_F_CREATE: u64 = 1;

/// The sk_storage map argument: (name, value size), or BadArgument.
fn sk_storage_map(
    env: &HelperEnv<'_>,
    helper: &'static str,
    ptr: u64,
) -> Result<(String, u32), HelperError> {
    let (_, map) = env
        .map_by_ptr(ptr)
        .ok_or_else(|| HelperError::BadArgument {
            helper,
            arg: 1,
            reason: format!("{ptr:#x} is not a map of this program"),
        })?;
    if map.map_type() != MapType::SkStorage {
        return Err(HelperError::BadArgument {
            helper,
            arg: 1,
            reason: format!(
                "map {} is a {} map, not sk_storage",
                map.name(),
                map.map_type()
            ),
        });
    }
    Ok((map.name().to_string(), map.def().value_size))
}

fn bpf_sk_storage_get(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (name, size) = sk_storage_map(env, "bpf_sk_storage_get", a[0])?;
    with_world(env, id::SK_STORAGE_GET, a, |w, mem, a| {
        // Only this run's socket is reachable: ctx->sk (non-NULL for full sockets) or its
        // bpf_tcp_sock / kernel tcp_sock views, the same `struct sock` in the kernel.
        if !w.is_this_socket(a[1]) || !w.socket.is_fullsock() || a[3] > BPF_SK_STORAGE_GET_F_CREATE
        {
            return Ok(0);
        }
        let region = match w.socket.sk_storage.region(&name) {
            Some(r) => r,
            None if a[3] == BPF_SK_STORAGE_GET_F_CREATE => {
                let init = if a[2] == 0 {
                    Vec::new()
                } else {
                    mem.read_bytes(a[2], u64::from(size))?
                };
                w.socket.sk_storage.create(&name, size as usize, &init)
            }
            None => return Ok(0),
        };
        // SAFETY: the value buffer is owned by the socket inside the run's payload; if a
        // program deletes it, `bpf_sk_storage_delete` moves it to `retired`, which lives as
        // long as the environment, i.e. longer than this run's memory.
        unsafe { mem.add(region) };
        Ok(region.start as i64)
    })
}

fn bpf_sk_storage_delete(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (name, _) = sk_storage_map(env, "bpf_sk_storage_delete", a[0])?;
    with_world(env, id::SK_STORAGE_DELETE, a, |w, _, a| {
        if !w.is_this_socket(a[1]) || !w.socket.is_fullsock() {
            return Ok(-i64::from(EINVAL));
        }
        match w.socket.sk_storage.remove(&name) {
            Some(buf) => {
                w.retired.push(buf);
                Ok(0)
            }
            None => Ok(-i64::from(ENOENT)),
        }
    })
}
