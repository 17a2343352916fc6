//! The dynptr helpers sock_ops may call (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c):
//! `bpf_dynptr_from_mem` (197), `bpf_ringbuf_reserve_dynptr` (198),
//! `bpf_ringbuf_submit_dynptr` (199), `bpf_ringbuf_discard_dynptr` (200), `bpf_dynptr_read`
//! (201), `bpf_dynptr_write` (202) and `bpf_dynptr_data` (203), with the kernel's return codes.
//!
//! A dynptr lives on the program's stack as the kernel's 16-byte `struct bpf_dynptr_kern`
//! ([`DynptrKern`]): the data address, the size with the type in bits 28-30 and the read-only
//! bit 31, and an offset. The verifier forbids the program to read or write those bytes;
//! the helpers still treat them as untrusted: every access through a dynptr is checked
//! against the run's memory regions, so a forged one faults instead of reaching anywhere.

use sockops_vm::{
    Access, ArgKind, Helper, HelperEnv, HelperError, HelperSignature, Memory, RetKind,
};

use crate::base_helpers::{MAX_RESERVATION, map_arg, ringbuf_map};
use crate::errno::{E2BIG, EINVAL};
use crate::helpers::{id, with_world};
use crate::ringbuf::RingbufRecord;

use ArgKind::*;

/// `BPF_DYNPTR_TYPE_LOCAL`.
pub const DYNPTR_TYPE_LOCAL: u32 = 1;
/// `BPF_DYNPTR_TYPE_RINGBUF`.
pub const DYNPTR_TYPE_RINGBUF: u32 = 2;
/// `DYNPTR_MAX_SIZE`: the largest size a dynptr describes.
pub const DYNPTR_MAX_SIZE: u32 = (1 << 24) - 1;
/// `DYNPTR_TYPE_SHIFT`.
const DYNPTR_TYPE_SHIFT: u32 = 28;
/// `DYNPTR_SIZE_MASK`.
const DYNPTR_SIZE_MASK: u32 = 0x00FF_FFFF;
/// `DYNPTR_RDONLY_BIT`.
const DYNPTR_RDONLY_BIT: u32 = 1 << 31;
/// `sizeof(struct bpf_dynptr_kern)`.
pub const DYNPTR_BYTES: u64 = 16;

/// The kernel's `struct bpf_dynptr_kern`, as it lies on the program's stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DynptrKern {
    /// The data's address (0 for a null dynptr).
    pub data: u64,
    /// Size in bits 0-23, type in bits 28-30, read-only in bit 31.
    pub size: u32,
    /// Offset of the dynptr's view into the data.
    pub offset: u32,
}

impl DynptrKern {
    /// `bpf_dynptr_init`: a dynptr of `kind` over `size` bytes at `data`.
    pub fn new(data: u64, kind: u32, size: u32) -> DynptrKern {
        DynptrKern {
            data,
            size: size | (kind << DYNPTR_TYPE_SHIFT),
            offset: 0,
        }
    }

    /// `__bpf_dynptr_size`.
    pub fn len(&self) -> u32 {
        self.size & DYNPTR_SIZE_MASK
    }

    /// True for a dynptr over no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `bpf_dynptr_get_type`.
    pub fn kind(&self) -> u32 {
        (self.size & !DYNPTR_RDONLY_BIT) >> DYNPTR_TYPE_SHIFT
    }

    /// `__bpf_dynptr_is_rdonly`.
    pub fn is_rdonly(&self) -> bool {
        self.size & DYNPTR_RDONLY_BIT != 0
    }

    /// The 16 bytes in host byte order.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.data.to_ne_bytes());
        b[8..12].copy_from_slice(&self.size.to_ne_bytes());
        b[12..].copy_from_slice(&self.offset.to_ne_bytes());
        b
    }

    /// Parses the 16 bytes.
    pub fn from_bytes(b: &[u8; 16]) -> DynptrKern {
        let w = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[r]);
            u32::from_ne_bytes(a)
        };
        let mut d = [0u8; 8];
        d.copy_from_slice(&b[..8]);
        DynptrKern {
            data: u64::from_ne_bytes(d),
            size: w(8..12),
            offset: w(12..16),
        }
    }

    /// `bpf_dynptr_check_off_len`: `len` bytes at `offset` lie inside the dynptr.
    fn check_off_len(&self, offset: u32, len: u32) -> bool {
        let size = self.len();
        len <= size && offset <= size - len
    }

    /// The address of byte `offset` of the dynptr's view.
    fn addr(&self, offset: u32) -> u64 {
        self.data
            .wrapping_add(u64::from(self.offset))
            .wrapping_add(u64::from(offset))
    }
}

/// Reads the dynptr argument `arg` of `helper` from guest memory at `addr`; a dynptr of a
/// type this runtime never builds is an error (a verified program cannot forge one).
fn load(mem: &Memory, helper: &'static str, arg: u8, addr: u64) -> Result<DynptrKern, HelperError> {
    let bytes = mem.read_bytes(addr, DYNPTR_BYTES)?;
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes);
    let d = DynptrKern::from_bytes(&b);
    if d.data != 0 && !matches!(d.kind(), DYNPTR_TYPE_LOCAL | DYNPTR_TYPE_RINGBUF) {
        return Err(HelperError::BadArgument {
            helper,
            arg,
            reason: format!("{addr:#x} does not hold a dynptr (type {})", d.kind()),
        });
    }
    Ok(d)
}

/// Writes `d` at `addr` (the whole 16 bytes must be writable).
fn store(mem: &Memory, addr: u64, d: DynptrKern) -> Result<(), HelperError> {
    mem.write_bytes(addr, &d.to_bytes())?;
    Ok(())
}

const fn sig(name: &'static str, args: &'static [ArgKind], ret: RetKind) -> HelperSignature {
    HelperSignature {
        name,
        args,
        ret,
        gpl_only: false,
    }
}

/// `bpf_dynptr_from_mem_proto`.
pub const DYNPTR_FROM_MEM: HelperSignature = sig(
    "bpf_dynptr_from_mem",
    &[UninitMem, ConstSizeOrZero, Anything, DynptrUninit],
    RetKind::Integer,
);
/// `bpf_ringbuf_reserve_dynptr_proto`.
pub const RINGBUF_RESERVE_DYNPTR: HelperSignature = sig(
    "bpf_ringbuf_reserve_dynptr",
    &[ConstMapPtr, Anything, Anything, DynptrUninit],
    RetKind::Integer,
);
/// `bpf_ringbuf_submit_dynptr_proto`.
pub const RINGBUF_SUBMIT_DYNPTR: HelperSignature = sig(
    "bpf_ringbuf_submit_dynptr",
    &[DynptrRelease, Anything],
    RetKind::Void,
);
/// `bpf_ringbuf_discard_dynptr_proto`.
pub const RINGBUF_DISCARD_DYNPTR: HelperSignature = sig(
    "bpf_ringbuf_discard_dynptr",
    &[DynptrRelease, Anything],
    RetKind::Void,
);
/// `bpf_dynptr_read_proto`.
pub const DYNPTR_READ: HelperSignature = sig(
    "bpf_dynptr_read",
    &[UninitMem, ConstSizeOrZero, Dynptr, Anything, Anything],
    RetKind::Integer,
);
/// `bpf_dynptr_write_proto`.
pub const DYNPTR_WRITE: HelperSignature = sig(
    "bpf_dynptr_write",
    &[Dynptr, Anything, ReadableMem, ConstSizeOrZero, Anything],
    RetKind::Integer,
);
/// `bpf_dynptr_data_proto`.
pub const DYNPTR_DATA: HelperSignature = sig(
    "bpf_dynptr_data",
    &[Dynptr, Anything, ConstAllocSizeOrZero],
    RetKind::MemOrNull,
);

/// The helpers of this module: id, signature, implementation.
pub const DYNPTR_HELPERS: &[Helper] = &[
    Helper {
        id: id::DYNPTR_FROM_MEM,
        signature: DYNPTR_FROM_MEM,
        func: bpf_dynptr_from_mem,
    },
    Helper {
        id: id::RINGBUF_RESERVE_DYNPTR,
        signature: RINGBUF_RESERVE_DYNPTR,
        func: bpf_ringbuf_reserve_dynptr,
    },
    Helper {
        id: id::RINGBUF_SUBMIT_DYNPTR,
        signature: RINGBUF_SUBMIT_DYNPTR,
        func: bpf_ringbuf_submit_dynptr,
    },
    Helper {
        id: id::RINGBUF_DISCARD_DYNPTR,
        signature: RINGBUF_DISCARD_DYNPTR,
        func: bpf_ringbuf_discard_dynptr,
    },
    Helper {
        id: id::DYNPTR_READ,
        signature: DYNPTR_READ,
        func: bpf_dynptr_read,
    },
    Helper {
        id: id::DYNPTR_WRITE,
        signature: DYNPTR_WRITE,
        func: bpf_dynptr_write,
    },
    Helper {
        id: id::DYNPTR_DATA,
        signature: DYNPTR_DATA,
        func: bpf_dynptr_data,
    },
];

/// `bpf_dynptr_from_mem(data, size, flags, ptr)`: a local dynptr over `size` bytes of a map
/// value; -E2BIG for a size over `DYNPTR_MAX_SIZE`, -EINVAL for flags, and then the dynptr
/// is null.
fn bpf_dynptr_from_mem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::DYNPTR_FROM_MEM, a, |_, mem, a| {
        mem.check(a[3], DYNPTR_BYTES, Access::Write)?;
        let size = a[1] as u32;
        let (d, ret) = if size > DYNPTR_MAX_SIZE {
            (DynptrKern::default(), -i64::from(E2BIG))
        } else if a[2] != 0 {
            (DynptrKern::default(), -i64::from(EINVAL))
        } else {
            // The memory must be the program's to write for the dynptr's whole life.
            if size > 0 {
                mem.check(a[0], u64::from(size), Access::Write)?;
            }
            (DynptrKern::new(a[0], DYNPTR_TYPE_LOCAL, size), 0)
        };
        store(mem, a[3], d)?;
        Ok(ret)
    })
}

/// `bpf_ringbuf_reserve_dynptr(map, size, flags, ptr)`: a ring buffer dynptr over a new
/// record; -EINVAL for flags or no room, -E2BIG for a size over `DYNPTR_MAX_SIZE`, and then
/// the dynptr is null (the program must still submit or discard it).
fn bpf_ringbuf_reserve_dynptr(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = map_arg(env, a[0]);
    with_world(env, id::RINGBUF_RESERVE_DYNPTR, a, |w, mem, a| {
        let map = ringbuf_map(map, RINGBUF_RESERVE_DYNPTR.name, a[0])?;
        mem.check(a[3], DYNPTR_BYTES, Access::Write)?;
        let size = a[1] as u32;
        let null = |mem: &mut Memory, err: i32| {
            store(mem, a[3], DynptrKern::default())?;
            Ok(-i64::from(err))
        };
        if a[2] != 0 {
            return null(mem, EINVAL);
        }
        if size > DYNPTR_MAX_SIZE {
            return null(mem, E2BIG);
        }
        if u64::from(size) > MAX_RESERVATION {
            return null(mem, EINVAL);
        }
        let Some(pos) = map.ringbuf_reserve(u64::from(size)) else {
            return null(mem, EINVAL);
        };
        let region = w.reservations.add(map, pos, size as usize);
        // SAFETY: the record buffer is owned by the run's `SockOpsEnv` (its reservations,
        // freed only when the environment drops), which outlives the run's memory by
        // `SockOpsEnv::add_regions`' contract; no Rust reference into it exists.
        unsafe { mem.add(region) };
        store(
            mem,
            a[3],
            DynptrKern::new(region.start, DYNPTR_TYPE_RINGBUF, size),
        )?;
        Ok(0)
    })
}

/// Submits or discards the record of a ring buffer dynptr, then makes the dynptr null; a
/// null dynptr (a failed reservation) does nothing.
fn ringbuf_close_dynptr(
    env: &mut HelperEnv<'_>,
    helper_id: u32,
    name: &'static str,
    a: [u64; 5],
    submit: bool,
) -> Result<u64, HelperError> {
    with_world(env, helper_id, a, |w, mem, a| {
        let d = load(mem, name, 1, a[0])?;
        if d.data == 0 {
            return Ok(0);
        }
        let not_reserved = || HelperError::BadArgument {
            helper: name,
            arg: 1,
            reason: format!(
                "{:#x} does not hold a ring buffer dynptr reserved in this run",
                a[0]
            ),
        };
        if d.kind() != DYNPTR_TYPE_RINGBUF {
            return Err(not_reserved());
        }
        mem.check(a[0], DYNPTR_BYTES, Access::Write)?;
        let (map, data) = w
            .reservations
            .close(d.data, submit)
            .ok_or_else(not_reserved)?;
        if submit {
            w.ringbuf.push(RingbufRecord {
                map: map.name().to_string(),
                data,
            });
        }
        store(mem, a[0], DynptrKern::default())?;
        Ok(0)
    })
}

/// `bpf_ringbuf_submit_dynptr(ptr, flags)`.
fn bpf_ringbuf_submit_dynptr(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    ringbuf_close_dynptr(
        env,
        id::RINGBUF_SUBMIT_DYNPTR,
        RINGBUF_SUBMIT_DYNPTR.name,
        a,
        true,
    )
}

/// `bpf_ringbuf_discard_dynptr(ptr, flags)`.
fn bpf_ringbuf_discard_dynptr(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    ringbuf_close_dynptr(
        env,
        id::RINGBUF_DISCARD_DYNPTR,
        RINGBUF_DISCARD_DYNPTR.name,
        a,
        false,
    )
}

/// `bpf_dynptr_read(dst, len, src, offset, flags)`: copies `len` bytes at `offset` of the
/// dynptr; -EINVAL for a null dynptr or flags, -E2BIG outside it.
fn bpf_dynptr_read(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::DYNPTR_READ, a, |_, mem, a| {
        let d = load(mem, DYNPTR_READ.name, 3, a[2])?;
        let (len, offset) = (a[1] as u32, a[3] as u32);
        if d.data == 0 || a[4] != 0 {
            return Ok(-i64::from(EINVAL));
        }
        if !d.check_off_len(offset, len) {
            return Ok(-i64::from(E2BIG));
        }
        // Nothing is copied for an empty range (a dynptr over an empty record has no memory).
        if len > 0 {
            let bytes = mem.read_bytes(d.addr(offset), u64::from(len))?;
            mem.write_bytes(a[0], &bytes)?;
        }
        Ok(0)
    })
}

/// `bpf_dynptr_write(dst, offset, src, len, flags)`: copies `len` bytes into the dynptr at
/// `offset`; -EINVAL for a null or read-only dynptr or flags, -E2BIG outside it.
fn bpf_dynptr_write(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::DYNPTR_WRITE, a, |_, mem, a| {
        let d = load(mem, DYNPTR_WRITE.name, 1, a[0])?;
        let (offset, len) = (a[1] as u32, a[3] as u32);
        if d.data == 0 || d.is_rdonly() {
            return Ok(-i64::from(EINVAL));
        }
        if !d.check_off_len(offset, len) {
            return Ok(-i64::from(E2BIG));
        }
        if a[4] != 0 {
            return Ok(-i64::from(EINVAL));
        }
        if len > 0 {
            let bytes = mem.read_bytes(a[2], u64::from(len))?;
            mem.write_bytes(d.addr(offset), &bytes)?;
        }
        Ok(0)
    })
}

/// `bpf_dynptr_data(ptr, offset, len)`: the address of `len` bytes at `offset` of the
/// dynptr, or NULL for a null or read-only dynptr or a range outside it.
fn bpf_dynptr_data(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    with_world(env, id::DYNPTR_DATA, a, |_, mem, a| {
        let d = load(mem, DYNPTR_DATA.name, 1, a[0])?;
        let (offset, len) = (a[1] as u32, a[2] as u32);
        if d.data == 0 || d.is_rdonly() || !d.check_off_len(offset, len) {
            return Ok(0);
        }
        // The program will read and write the slice directly (the JIT does not check): it
        // must be memory of this run (an empty slice cannot be accessed at all).
        let addr = d.addr(offset);
        if len > 0 {
            mem.check(addr, u64::from(len), Access::Write)?;
        }
        Ok(addr as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_layout_round_trips() {
        let d = DynptrKern::new(0x1234_5678_9abc, DYNPTR_TYPE_RINGBUF, 300);
        assert_eq!(d.len(), 300);
        assert_eq!(d.kind(), DYNPTR_TYPE_RINGBUF);
        assert!(!d.is_rdonly());
        assert_eq!(d.size, 300 | (2 << 28));
        assert_eq!(DynptrKern::from_bytes(&d.to_bytes()), d);
        let ro = DynptrKern {
            size: d.size | DYNPTR_RDONLY_BIT,
            ..d
        };
        assert!(ro.is_rdonly());
        assert_eq!(ro.kind(), DYNPTR_TYPE_RINGBUF);
        assert_eq!(ro.len(), 300);
    }

    #[test]
    fn offsets_and_lengths_are_bounded_as_the_kernel_bounds_them() {
        let d = DynptrKern::new(0x1000, DYNPTR_TYPE_LOCAL, 16);
        assert!(d.check_off_len(0, 16));
        assert!(d.check_off_len(16, 0));
        assert!(d.check_off_len(8, 8));
        assert!(!d.check_off_len(9, 8));
        assert!(!d.check_off_len(0, 17));
        assert!(!d.check_off_len(17, 0));
        assert!(!d.check_off_len(u32::MAX, 1));
        assert!(!d.check_off_len(1, u32::MAX));
    }
}
