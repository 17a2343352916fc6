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
const BPF_BTF_LOAD: libc::c_long = 18;

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
    // Socket-local storage needs BTF for its key and value (`bpf_local_storage_map_check_btf`):
    // a 4-byte int key and a value of `value_size` bytes. Kept open until the map holds it.
    let _btf = if def.map_type == sockops_vm::MapType::SkStorage {
        let fd = btf_load(&key_value_btf(def.value_size))?;
        // btf_fd, btf_key_type_id, btf_value_type_id (offsets 48, 52 and 56 of the attr).
        attr.tail[7] = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
        attr.tail[8] = 1;
        attr.tail[9] = 3;
        Some(fd)
    } else {
        None
    };
    sys_bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// A BTF blob with three types: 1 `int` (4 bytes, signed), 2 `unsigned char`, 3 an array of
/// `value_size` of type 2 (indexed by 1): the key and value types of a local-storage map.
fn key_value_btf(value_size: u32) -> Vec<u8> {
    const KIND_INT: u32 = 1;
    const KIND_ARRAY: u32 = 3;
    const INT_SIGNED: u32 = 1;
    let strings = b"\0int\0unsigned char\0";
    let mut types: Vec<u32> = Vec::new();
    // [1] int: name "int" (offset 1), INT, size 4, signed, 32 bits.
    types.extend([1, KIND_INT << 24, 4, (INT_SIGNED << 24) | 32]);
    // [2] unsigned char: name offset 5, INT, size 1, 8 bits.
    types.extend([5, KIND_INT << 24, 1, 8]);
    // [3] unsigned char[value_size], indexed by int.
    types.extend([0, KIND_ARRAY << 24, 0, 2, 1, value_size]);
    let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut out = Vec::new();
    out.extend(0xeb9fu16.to_ne_bytes()); // magic
    out.push(1); // version
    out.push(0); // flags
    out.extend(24u32.to_ne_bytes()); // hdr_len
    out.extend(0u32.to_ne_bytes()); // type_off
    out.extend((type_bytes.len() as u32).to_ne_bytes()); // type_len
    out.extend((type_bytes.len() as u32).to_ne_bytes()); // str_off
    out.extend((strings.len() as u32).to_ne_bytes()); // str_len
    out.extend(type_bytes);
    out.extend(strings);
    out
}

/// `union bpf_attr` for `BPF_BTF_LOAD`.
#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    _pad: u32,
    tail: [u64; 4],
}

/// `BPF_BTF_LOAD` of `blob`.
fn btf_load(blob: &[u8]) -> Result<OwnedFd, std::io::Error> {
    let mut attr = BtfLoadAttr {
        btf: blob.as_ptr() as u64,
        btf_size: blob.len() as u32,
        ..BtfLoadAttr::default()
    };
    sys_bpf(BPF_BTF_LOAD, &mut attr).map(owned)
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
