//! The raw system calls behind [`super`]: `bpf()` commands with their `union bpf_attr`
//! layouts (kernel uapi), and `fstatfs`. Each `unsafe` block is one system call on
//! attribute structs that live for the call.

use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};

use sockops_vm::{Insn, MapDef};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_MAP_FREEZE: libc::c_long = 22;
const BPF_LINK_CREATE: libc::c_long = 28;

/// `union bpf_attr` for `BPF_PROG_LOAD`, padded to a size the kernel accepts (it requires
/// the unused tail to be zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    tail: [u64; 12],
}

/// `union bpf_attr` for `BPF_MAP_CREATE`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    tail: [u32; 27],
}

/// `union bpf_attr` for the map element commands (and `BPF_MAP_FREEZE`, which reads only
/// `map_fd`).
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    tail: [u32; 11],
}

/// `union bpf_attr` for `BPF_LINK_CREATE` (the common part).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    tail: [u64; 6],
}

/// `union bpf_attr` for `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    tail: [u64; 6],
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<i32, std::io::Error> {
    let size = std::mem::size_of::<T>();
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` `union bpf_attr` layout of `size`
    // bytes borrowed for the call; the kernel reads and writes only within that size, and the
    // pointers inside it point to live buffers of the lengths given beside them.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, (attr as *mut T).cast::<u8>(), size) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub(super) fn map_create(def: &MapDef) -> Result<OwnedFd, std::io::Error> {
    let mut attr = MapCreateAttr {
        map_type: def.map_type.kernel_id(),
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        map_flags: def.map_flags,
        ..MapCreateAttr::default()
    };
    sys_bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

pub(super) fn map_update(fd: i32, key: &[u8], value: &[u8]) -> Result<(), std::io::Error> {
    let mut attr = MapElemAttr {
        map_fd: fd as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        ..MapElemAttr::default()
    };
    sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

pub(super) fn map_freeze(fd: i32) -> Result<(), std::io::Error> {
    let mut attr = MapElemAttr {
        map_fd: fd as u32,
        ..MapElemAttr::default()
    };
    sys_bpf(BPF_MAP_FREEZE, &mut attr).map(|_| ())
}

/// `BPF_PROG_LOAD`; returns the result and the log text. A load interrupted by a signal
/// (EAGAIN) is repeated.
pub(super) fn prog_load(
    prog_type: u32,
    insns: &[Insn],
    license: &CStr,
    log_level: u32,
    log: &mut [u8],
) -> (Result<OwnedFd, std::io::Error>, String) {
    let bytes: Vec<u8> = Insn::slice_to_bytes(insns);
    let mut r = Err(std::io::Error::from_raw_os_error(libc::EAGAIN));
    for _ in 0..8 {
        log.fill(0);
        let mut attr = ProgLoadAttr {
            prog_type,
            insn_cnt: insns.len() as u32,
            insns: bytes.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: if log.is_empty() { 0 } else { log_level },
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            ..ProgLoadAttr::default()
        };
        r = sys_bpf(BPF_PROG_LOAD, &mut attr).map(owned);
        if !matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EAGAIN)) {
            break;
        }
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    (r, String::from_utf8_lossy(&log[..end]).into_owned())
}

pub(super) fn prog_attach(
    target: i32,
    prog: i32,
    attach_type: u32,
    flags: u32,
) -> Result<(), std::io::Error> {
    let mut attr = AttachAttr {
        target_fd: target as u32,
        attach_bpf_fd: prog as u32,
        attach_type,
        attach_flags: flags,
        ..AttachAttr::default()
    };
    sys_bpf(BPF_PROG_ATTACH, &mut attr).map(|_| ())
}

/// `BPF_LINK_CREATE`: attaches `prog` to `target` through a link, which the kernel detaches
/// when the returned fd (its last reference) closes, even when the process dies.
pub(super) fn link_create(
    target: i32,
    prog: i32,
    attach_type: u32,
) -> Result<std::os::fd::OwnedFd, std::io::Error> {
    use std::os::fd::FromRawFd;
    let mut attr = LinkCreateAttr {
        prog_fd: prog as u32,
        target_fd: target as u32,
        attach_type,
        ..LinkCreateAttr::default()
    };
    let fd = sys_bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: on success BPF_LINK_CREATE returns a new fd that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

pub(super) fn prog_detach(target: i32, prog: i32, attach_type: u32) -> Result<(), std::io::Error> {
    let mut attr = AttachAttr {
        target_fd: target as u32,
        attach_bpf_fd: prog as u32,
        attach_type,
        ..AttachAttr::default()
    };
    sys_bpf(BPF_PROG_DETACH, &mut attr).map(|_| ())
}

pub(super) fn prog_query(target: i32, attach_type: u32) -> Result<Vec<u32>, std::io::Error> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: target as u32,
        attach_type,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..QueryAttr::default()
    };
    sys_bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok(ids)
}

/// The `f_type` of the file system holding `fd`.
pub(super) fn fs_magic(fd: i32) -> Result<i64, std::io::Error> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: fstatfs writes one `struct statfs` into the buffer, which is large enough and
    // lives for the call; `fd` is an open descriptor the caller owns.
    let r = unsafe { libc::fstatfs(fd, st.as_mut_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstatfs succeeded, so it filled the struct (and it was zeroed before).
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}
