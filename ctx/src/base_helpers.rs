//! The base helpers sock_ops may call (SOCK_OPS.md §5.1) that are not about the socket, with
//! the kernel's signatures (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c) and return codes,
//! deterministic here:
//! - `bpf_get_current_pid_tgid` (14), `bpf_get_current_uid_gid` (15),
//!   `bpf_get_current_comm` (16), `bpf_get_current_cgroup_id` (80) and
//!   `bpf_get_current_task_btf` (158, a read-only `struct task_struct` image): from
//!   `SockOpsEnv::task`;
//! - `bpf_jiffies64` (118): `INITIAL_JIFFIES + CLOCK_MONOTONIC * HZ / 1e9` from the injectable
//!   clock and the socket's HZ (reading it does not advance the clock);
//! - `bpf_strtol` (105), `bpf_strtoul` (106), `bpf_strncmp` (182): `strtox`;
//! - `bpf_ringbuf_output` (130), `_reserve` (131), `_submit` (132), `_discard` (133),
//!   `_query` (134): space accounting in the vm map, submitted records also captured in
//!   `SockOpsEnv::ringbuf`.

use std::sync::Arc;

use sockops_vm::{
    Access, ArgKind, Helper, HelperEnv, HelperError, HelperSignature, Map, MapType, RegionKind,
    RetKind,
};

use crate::errno::{EAGAIN, EINVAL};
use crate::guest_buf::GuestBuf;
use crate::helpers::{id, size_arg, with_world};
use crate::ringbuf::RingbufRecord;
use crate::strtox;

use ArgKind::*;

const fn sig(name: &'static str, args: &'static [ArgKind], ret: RetKind) -> HelperSignature {
    HelperSignature {
        name,
        args,
        ret,
        gpl_only: false,
    }
}

/// `bpf_get_current_pid_tgid_proto`.
pub const GET_CURRENT_PID_TGID: HelperSignature =
    sig("bpf_get_current_pid_tgid", &[], RetKind::Integer);
/// `bpf_get_current_uid_gid_proto`.
pub const GET_CURRENT_UID_GID: HelperSignature =
    sig("bpf_get_current_uid_gid", &[], RetKind::Integer);
/// `bpf_get_current_cgroup_id_proto`.
pub const GET_CURRENT_CGROUP_ID: HelperSignature =
    sig("bpf_get_current_cgroup_id", &[], RetKind::Integer);
/// `bpf_jiffies64_proto`.
pub const JIFFIES64: HelperSignature = sig("bpf_jiffies64", &[], RetKind::Integer);
/// `bpf_strtol_proto`.
pub const STRTOL: HelperSignature = sig(
    "bpf_strtol",
    &[ReadableMem, ConstSize, Anything, FixedSizeUninitMem(8)],
    RetKind::Integer,
);
/// `bpf_strtoul_proto`.
pub const STRTOUL: HelperSignature = sig(
    "bpf_strtoul",
    &[ReadableMem, ConstSize, Anything, FixedSizeUninitMem(8)],
    RetKind::Integer,
);
/// `bpf_strncmp_proto`.
pub const STRNCMP: HelperSignature = sig(
    "bpf_strncmp",
    &[ReadableMem, ConstSize, ConstStr],
    RetKind::Integer,
);
/// `bpf_ringbuf_output_proto`.
pub const RINGBUF_OUTPUT: HelperSignature = sig(
    "bpf_ringbuf_output",
    &[ConstMapPtr, ReadableMem, ConstSizeOrZero, Anything],
    RetKind::Integer,
);
/// `bpf_ringbuf_reserve_proto`.
pub const RINGBUF_RESERVE: HelperSignature = sig(
    "bpf_ringbuf_reserve",
    &[ConstMapPtr, ConstAllocSizeOrZero, Anything],
    RetKind::MemOrNull,
);
/// `bpf_ringbuf_submit_proto`.
pub const RINGBUF_SUBMIT: HelperSignature = sig(
    "bpf_ringbuf_submit",
    &[RingbufMemRelease, Anything],
    RetKind::Void,
);
/// `bpf_ringbuf_discard_proto`.
pub const RINGBUF_DISCARD: HelperSignature = sig(
    "bpf_ringbuf_discard",
    &[RingbufMemRelease, Anything],
    RetKind::Void,
);
/// `bpf_ringbuf_query_proto`.
pub const RINGBUF_QUERY: HelperSignature = sig(
    "bpf_ringbuf_query",
    &[ConstMapPtr, Anything],
    RetKind::Integer,
);

/// `bpf_get_current_comm_proto`.
pub const GET_CURRENT_COMM: HelperSignature = sig(
    "bpf_get_current_comm",
    &[UninitMem, ConstSize],
    RetKind::Integer,
);
/// `bpf_get_current_task_btf_proto` (GPL only).
pub const GET_CURRENT_TASK_BTF: HelperSignature = HelperSignature {
    gpl_only: true,
    ..sig("bpf_get_current_task_btf", &[], RetKind::BtfIdTrusted)
};

/// The helpers of this module: id, signature, implementation.
pub const BASE_HELPERS: &[Helper] = &[
    Helper {
        id: id::GET_CURRENT_COMM,
        signature: GET_CURRENT_COMM,
        func: bpf_get_current_comm,
    },
    Helper {
        id: id::GET_CURRENT_TASK_BTF,
        signature: GET_CURRENT_TASK_BTF,
        func: bpf_get_current_task_btf,
    },
    Helper {
        id: id::GET_CURRENT_PID_TGID,
        signature: GET_CURRENT_PID_TGID,
        func: bpf_get_current_pid_tgid,
    },
    Helper {
        id: id::GET_CURRENT_UID_GID,
        signature: GET_CURRENT_UID_GID,
        func: bpf_get_current_uid_gid,
    },
    Helper {
        id: id::GET_CURRENT_CGROUP_ID,
        signature: GET_CURRENT_CGROUP_ID,
        func: bpf_get_current_cgroup_id,
    },
    Helper {
        id: id::JIFFIES64,
        signature: JIFFIES64,
        func: bpf_jiffies64,
    },
    Helper {
        id: id::STRTOL,
        signature: STRTOL,
        func: bpf_strtol,
    },
    Helper {
        id: id::STRTOUL,
        signature: STRTOUL,
        func: bpf_strtoul,
    },
    Helper {
        id: id::STRNCMP,
        signature: STRNCMP,
        func: bpf_strncmp,
    },
    Helper {
        id: id::RINGBUF_OUTPUT,
        signature: RINGBUF_OUTPUT,
        func: bpf_ringbuf_output,
    },
    Helper {
        id: id::RINGBUF_RESERVE,
        signature: RINGBUF_RESERVE,
        func: bpf_ringbuf_reserve,
    },
    Helper {
        id: id::RINGBUF_SUBMIT,
        signature: RINGBUF_SUBMIT,
        func: bpf_ringbuf_submit,
    },
    Helper {
        id: id::RINGBUF_DISCARD,
        signature: RINGBUF_DISCARD,
        func: bpf_ringbuf_discard,
    },
    Helper {
        id: id::RINGBUF_QUERY,
        signature: RINGBUF_QUERY,
        func: bpf_ringbuf_query,
    },
];

/// `INITIAL_JIFFIES` on 64-bit kernels: `(u32)(-300 * HZ)`, so 32-bit jiffies wrap five
/// minutes after boot.
pub fn initial_jiffies(hz: u32) -> u64 {
    u64::from(0u32.wrapping_sub(300u32.wrapping_mul(hz)))
}

/// `get_jiffies_64()` at CLOCK_MONOTONIC `monotonic_ns` (boot = 0) with `hz` ticks a second.
pub fn jiffies64_at(monotonic_ns: u64, hz: u32) -> u64 {
    let ticks = u128::from(monotonic_ns) * u128::from(hz) / 1_000_000_000;
    initial_jiffies(hz).wrapping_add(ticks as u64)
}

fn bpf_get_current_pid_tgid(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_CURRENT_PID_TGID, a, |w, _, _| {
        Ok(w.task.pid_tgid() as i64)
    })
}

/// `bpf_get_current_comm(buf, size)`: `strscpy_pad(buf, task->comm, size)`: the name,
/// cut to `size - 1` bytes, then NULs to the end of `buf`; returns 0.
fn bpf_get_current_comm(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_CURRENT_COMM, a, |w, mem, a| {
        let size = size_arg(GET_CURRENT_COMM.name, 2, a[1], false)? as usize;
        // The whole buffer must be writable before anything is allocated for it (an
        // unverified program may name any size).
        mem.check(a[0], size as u64, Access::Write)?;
        let mut buf = vec![0u8; size];
        let name_len = w.task.comm.iter().position(|&b| b == 0).unwrap_or(16);
        let n = name_len.min(size - 1);
        buf[..n].copy_from_slice(&w.task.comm[..n]);
        mem.write_bytes(a[0], &buf)?;
        Ok(0)
    })
}

/// `bpf_get_current_task_btf()`: the current task's `struct task_struct`, as the run's
/// read-only image of `SockOpsEnv::task` (`CurrentTask::image`), rewritten at each call.
fn bpf_get_current_task_btf(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_CURRENT_TASK_BTF, a, |w, mem, _| {
        let image = w.task.image(w.cpu);
        let buf = w
            .task_struct
            .get_or_insert_with(|| GuestBuf::new(image.len()));
        buf.write(0, &image);
        let region = buf.region(false, RegionKind::Other);
        // SAFETY: the buffer is owned by the run's `SockOpsEnv` (the helper payload), which
        // by `SockOpsEnv::add_regions`' contract outlives the run's memory; it is never
        // freed or moved while the environment lives, and we hold no Rust reference into it.
        unsafe { mem.add(region) };
        Ok(region.start as i64)
    })
}

fn bpf_get_current_uid_gid(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_CURRENT_UID_GID, a, |w, _, _| {
        Ok(w.task.uid_gid() as i64)
    })
}

fn bpf_get_current_cgroup_id(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::GET_CURRENT_CGROUP_ID, a, |w, _, _| {
        Ok(w.task.cgroup_id as i64)
    })
}

fn bpf_jiffies64(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::JIFFIES64, a, |w, _, _| {
        Ok(jiffies64_at(w.clock.monotonic_ns, w.socket.sysctl.hz) as i64)
    })
}

/// `bpf_strtol` / `bpf_strtoul`: `*res` (8 bytes) is written in every case (0 on error).
fn strtox_call(
    env: &mut HelperEnv<'_>,
    helper_id: u32,
    name: &'static str,
    a: [u64; 5],
    parse: fn(&[u8], u64) -> (i64, u64),
) -> Result<u64, HelperError> {
    with_world(env, helper_id, a, |_, mem, a| {
        let len = size_arg(name, 2, a[1], false)?;
        let buf = mem.read_bytes(a[0], len)?;
        mem.check(a[3], 8, Access::Write)?;
        let (ret, res) = parse(&buf, a[2]);
        mem.write_bytes(a[3], &res.to_ne_bytes())?;
        Ok(ret)
    })
}

fn bpf_strtol(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    strtox_call(env, id::STRTOL, STRTOL.name, a, |b, f| {
        let (ret, v) = strtox::strtol(b, f);
        (ret, v as u64)
    })
}

fn bpf_strtoul(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    strtox_call(env, id::STRTOUL, STRTOUL.name, a, strtox::strtoul)
}

/// `bpf_strncmp(s1, s1_sz, s2)`: `strncmp(s1, s2, s1_sz)`. `s2` is read through memory byte by
/// byte, only as far as the comparison goes (the verifier guarantees a NUL-terminated
/// string in a read-only map value).
fn bpf_strncmp(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::STRNCMP, a, |_, mem, a| {
        let n = size_arg(STRNCMP.name, 2, a[1], false)?;
        let s1 = mem.read_bytes(a[0], n)?;
        let mem: &sockops_vm::Memory = mem;
        let r = strtox::strncmp(
            s1.len(),
            |i| Ok(s1[i]),
            |i| {
                let addr = a[2].saturating_add(i as u64);
                mem.read_bytes(addr, 1).map(|b| b[0])
            },
        )?;
        Ok(r)
    })
}

/// `BPF_RB_NO_WAKEUP`.
pub const BPF_RB_NO_WAKEUP: u64 = 1;
/// `BPF_RB_FORCE_WAKEUP`.
pub const BPF_RB_FORCE_WAKEUP: u64 = 2;
/// The largest record this runtime reserves (64 MiB; the kernel's bound is the ring size).
pub const MAX_RESERVATION: u64 = 64 << 20;

/// The ring buffer map argument, or BadArgument.
pub(crate) fn ringbuf_map(
    map: Option<Arc<Map>>,
    helper: &'static str,
    ptr: u64,
) -> Result<Arc<Map>, HelperError> {
    let map = map.ok_or_else(|| HelperError::BadArgument {
        helper,
        arg: 1,
        reason: format!("{ptr:#x} is not a map of this program"),
    })?;
    if map.map_type() != MapType::Ringbuf {
        return Err(HelperError::BadArgument {
            helper,
            arg: 1,
            reason: format!(
                "map {} is a {} map, not ringbuf",
                map.name(),
                map.map_type()
            ),
        });
    }
    Ok(map)
}

pub(crate) fn map_arg(env: &HelperEnv<'_>, ptr: u64) -> Option<Arc<Map>> {
    env.map_by_ptr(ptr).map(|(_, m)| Arc::clone(m))
}

/// `bpf_ringbuf_output(map, data, size, flags)`: 0; -EINVAL for flags other than the wakeup
/// bits; -EAGAIN when the record does not fit.
fn bpf_ringbuf_output(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(env, a[0]);
    with_world(env, id::RINGBUF_OUTPUT, a, |w, mem, a| {
        let map = ringbuf_map(map, RINGBUF_OUTPUT.name, a[0])?;
        let size = size_arg(RINGBUF_OUTPUT.name, 3, a[2], true)?;
        let data = mem.read_bytes(a[1], size)?;
        if a[3] & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Ok(-i64::from(EINVAL));
        }
        let Some(pos) = map.ringbuf_reserve(size) else {
            return Ok(-i64::from(EAGAIN));
        };
        map.ringbuf_commit(pos, Some(&data));
        w.ringbuf.push(RingbufRecord {
            map: map.name().to_string(),
            data,
        });
        Ok(0)
    })
}

/// `bpf_ringbuf_reserve(map, size, flags)`: a writable record of `size` bytes, or NULL for
/// flags != 0 or no room.
fn bpf_ringbuf_reserve(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(env, a[0]);
    with_world(env, id::RINGBUF_RESERVE, a, |w, mem, a| {
        let map = ringbuf_map(map, RINGBUF_RESERVE.name, a[0])?;
        let size = a[1];
        if a[2] != 0 || size > MAX_RESERVATION {
            return Ok(0);
        }
        let Some(pos) = map.ringbuf_reserve(size) else {
            return Ok(0);
        };
        let region = w.reservations.add(map, pos, size as usize);
        // SAFETY: the record buffer is owned by the run's `SockOpsEnv` (its reservations,
        // freed only when the environment drops), which outlives the run's memory by
        // `SockOpsEnv::add_regions`' contract; no Rust reference into it exists.
        unsafe { mem.add(region) };
        Ok(region.start as i64)
    })
}

fn ringbuf_close(
    env: &mut HelperEnv<'_>,
    helper_id: u32,
    name: &'static str,
    a: [u64; 5],
    submit: bool,
) -> Result<u64, HelperError> {
    with_world(env, helper_id, a, |w, _, a| {
        let (map, data) =
            w.reservations
                .close(a[0], submit)
                .ok_or_else(|| HelperError::BadArgument {
                    helper: name,
                    arg: 1,
                    reason: format!(
                        "{:#x} is not a ring buffer record reserved in this run",
                        a[0]
                    ),
                })?;
        if submit {
            w.ringbuf.push(RingbufRecord {
                map: map.name().to_string(),
                data,
            });
        }
        Ok(0)
    })
}

/// `bpf_ringbuf_submit(data, flags)`: commits the record (flags only choose wakeups).
fn bpf_ringbuf_submit(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    ringbuf_close(env, id::RINGBUF_SUBMIT, RINGBUF_SUBMIT.name, a, true)
}

/// `bpf_ringbuf_discard(data, flags)`: drops the record.
fn bpf_ringbuf_discard(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    ringbuf_close(env, id::RINGBUF_DISCARD, RINGBUF_DISCARD.name, a, false)
}

/// `bpf_ringbuf_query(map, flags)`.
fn bpf_ringbuf_query(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(env, a[0]);
    with_world(env, id::RINGBUF_QUERY, a, |_, _, a| {
        let map = ringbuf_map(map, RINGBUF_QUERY.name, a[0])?;
        Ok(map.ringbuf_query(a[1]) as i64)
    })
}
