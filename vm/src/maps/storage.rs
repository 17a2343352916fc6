//! `ValueBuf`: a zero-initialised, 8-byte aligned heap buffer at a fixed host address, the
//! backing store of every map value. Guest programs write it through raw pointers while Rust
//! code holds only a shared reference, so the bytes live in `UnsafeCell`s and every Rust-side
//! access is a raw copy, never a reference to the bytes.

use std::cell::UnsafeCell;
use std::ptr::NonNull;

/// A heap buffer whose address never changes while it lives (it is never reallocated, and it
/// is kept as a raw pointer so that moving the owner does not re-assert uniqueness over
/// the bytes that guest programs may be pointing into).
pub(crate) struct ValueBuf {
    ptr: NonNull<UnsafeCell<u64>>,
    words: usize,
}

// SAFETY: `ValueBuf` owns its allocation exclusively (like a `Box<[UnsafeCell<u64>]>`); the
// bytes are plain data with no thread affinity. Concurrent access through raw pointers is the
// map contract's business (see the `maps` module docs), as with kernel map values.
unsafe impl Send for ValueBuf {}
// SAFETY: shared access only hands out raw pointers and performs raw byte copies; there are
// no Rust references to the bytes that another thread could invalidate.
unsafe impl Sync for ValueBuf {}

impl ValueBuf {
    /// A zeroed buffer of at least `bytes` bytes (rounded up to whole 8-byte words).
    pub(crate) fn zeroed(bytes: usize) -> ValueBuf {
        let words = bytes.div_ceil(8);
        let boxed: Box<[u64]> = vec![0u64; words].into_boxed_slice();
        let raw = Box::into_raw(boxed) as *mut UnsafeCell<u64>;
        // `UnsafeCell<u64>` is `repr(transparent)` over `u64`, so the allocation is a valid
        // `[UnsafeCell<u64>]` of the same length; `Box::into_raw` never returns null.
        let ptr = NonNull::new(raw).unwrap_or(NonNull::dangling());
        ValueBuf { ptr, words }
    }

    /// Host address of the first byte.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr() as *mut u8
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.words * 8
    }

    /// Copies `out.len()` bytes starting at `offset` into `out`. Out-of-range requests copy
    /// nothing (callers compute offsets from validated definitions, so this never happens).
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) {
        if offset
            .checked_add(out.len())
            .is_some_and(|end| end <= self.len())
        {
            // SAFETY: the range was checked to lie inside the allocation; the bytes are
            // `UnsafeCell` contents, so copying out of them through a raw pointer is allowed.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.as_ptr().add(offset),
                    out.as_mut_ptr(),
                    out.len(),
                )
            }
        }
    }

    /// Copies `data` into the buffer at `offset`. Out-of-range requests copy nothing.
    pub(crate) fn write(&self, offset: usize, data: &[u8]) {
        if offset
            .checked_add(data.len())
            .is_some_and(|end| end <= self.len())
        {
            // SAFETY: the range was checked to lie inside the allocation; writing `UnsafeCell`
            // contents through a raw pointer derived from the allocation is allowed.
            unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_ptr().add(offset), data.len())
            }
        }
    }
}

impl Drop for ValueBuf {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.words);
        // SAFETY: `ptr`/`words` came from `Box::into_raw` of a `[u64]` of `words` elements
        // (layout-identical to `[UnsafeCell<u64>]`) and are released exactly once, here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl std::fmt::Debug for ValueBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ValueBuf({:p}, {} bytes)", self.as_ptr(), self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_buffer_is_aligned_and_round_trips() {
        let b = ValueBuf::zeroed(13);
        assert_eq!(b.len(), 16);
        assert_eq!(b.as_ptr() as usize % 8, 0);
        b.write(3, &[1, 2, 3]);
        let mut out = [0xffu8; 6];
        b.read(2, &mut out);
        assert_eq!(out, [0, 1, 2, 3, 0, 0]);
        // Out of range: ignored, no panic.
        b.write(15, &[1, 2]);
        b.write(0, &[0; 16]);
        b.read(0, &mut out);
        assert_eq!(out, [0; 6]);
    }

    #[test]
    fn empty_buffer_is_fine() {
        let b = ValueBuf::zeroed(0);
        assert_eq!(b.len(), 0);
        b.write(0, &[]);
    }
}
