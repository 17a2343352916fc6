//! `GuestBuf`: a zeroed, 8-byte-aligned heap buffer at a stable address that guest programs
//! reach through `Memory` regions (context, `struct bpf_sock`, packet, sk_storage values).
//! Rust code touches it only through raw-pointer copies, never references.

use std::ptr::NonNull;

use sockops_vm::{Region, RegionKind};

/// A zeroed, 8-byte-aligned heap buffer accessed only through its raw pointer, so guest
/// accesses (through `Memory`) and ours never conflict with Rust references.
pub(crate) struct GuestBuf {
    ptr: NonNull<u64>,
    words: usize,
    pub(crate) len: usize,
}

/// Shows the contents (lower-case hex), not the address: two sockets with the same state
/// print the same, whichever engine ran their programs.
impl std::fmt::Debug for GuestBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self
            .read(0, self.len)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_tuple("GuestBuf").field(&hex).finish()
    }
}

impl GuestBuf {
    pub(crate) fn new(len: usize) -> GuestBuf {
        let words = len.div_ceil(8).max(1);
        let boxed: Box<[u64]> = vec![0u64; words].into_boxed_slice();
        let raw = Box::into_raw(boxed) as *mut u64;
        GuestBuf {
            // SAFETY: Box::into_raw never returns null.
            ptr: unsafe { NonNull::new_unchecked(raw) },
            words,
            len,
        }
    }

    pub(crate) fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub(crate) fn write(&self, off: usize, data: &[u8]) {
        let Some(end) = off.checked_add(data.len()) else {
            return;
        };
        if end > self.len {
            return;
        }
        // SAFETY: [off, end) is inside the allocation of `words * 8 >= len` bytes, which
        // lives until drop; no Rust reference to it exists (all access is through raw pointers).
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                (self.ptr.as_ptr() as *mut u8).add(off),
                data.len(),
            )
        };
    }

    pub(crate) fn read(&self, off: usize, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        if off.checked_add(len).is_some_and(|end| end <= self.len) {
            // SAFETY: bounds checked above against the live allocation.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (self.ptr.as_ptr() as *const u8).add(off),
                    out.as_mut_ptr(),
                    len,
                )
            };
        }
        out
    }

    pub(crate) fn read_u32(&self, off: usize) -> u32 {
        let b = self.read(off, 4);
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }

    pub(crate) fn region(&self, writable: bool, kind: RegionKind) -> Region {
        Region {
            start: self.addr(),
            len: self.len as u64,
            writable,
            kind,
        }
    }
}

impl Drop for GuestBuf {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.words);
        // SAFETY: `ptr`/`words` came from Box::into_raw of a Box<[u64]> of that length, and
        // this is the only place that frees it.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl Clone for GuestBuf {
    /// A new buffer (at a new address) with the same bytes.
    fn clone(&self) -> GuestBuf {
        let copy = GuestBuf::new(self.len);
        copy.write(0, &self.read(0, self.len));
        copy
    }
}

impl PartialEq for GuestBuf {
    /// Equal when the bytes are.
    fn eq(&self, other: &GuestBuf) -> bool {
        self.len == other.len && self.read(0, self.len) == other.read(0, other.len)
    }
}

impl Eq for GuestBuf {}
