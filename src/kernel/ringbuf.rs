//! Reading a kernel `BPF_MAP_TYPE_RINGBUF` from user space through its memory mapping, as
//! libbpf's `ring_buffer__consume` does: the consumer position page is mapped read-write,
//! the producer position page and the data pages (mapped twice in a row by the kernel, so a
//! record that wraps is contiguous) read-only. Records are 8-byte headers (length with the
//! BUSY and DISCARD bits, page offset) followed by the data, each rounded up to 8 bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{KernelError, KernelMap};

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HDR: u64 = 8;

/// A mapping, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(fd: i32, len: usize, prot: i32, offset: usize) -> Result<Mapping, std::io::Error> {
        // SAFETY: a fresh shared mapping of a ring buffer map fd at a page-aligned offset;
        // the kernel validates length, protection and offset for this map type.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    fn position(&self) -> &AtomicU64 {
        // SAFETY: the mapping is at least a page, page-aligned (so 8-aligned), and lives as
        // long as `self`; the kernel updates the position word atomically.
        unsafe { &*(self.ptr.cast::<AtomicU64>()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; nothing borrows it any more.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// A consumer of one kernel ring buffer.
pub struct RingbufReader {
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    size: usize,
}

impl RingbufReader {
    /// Maps the ring buffer `map` (a `BPF_MAP_TYPE_RINGBUF` of `max_entries` data bytes).
    pub fn new(map: &KernelMap) -> Result<RingbufReader, KernelError> {
        let os = |what: &str, e| KernelError::os(format!("mmap of the ring buffer ({what})"), e);
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let size = map.def.max_entries as usize;
        let consumer = Mapping::new(map.fd(), page, libc::PROT_READ | libc::PROT_WRITE, 0)
            .map_err(|e| os("consumer page", e))?;
        let producer = Mapping::new(map.fd(), page + 2 * size, libc::PROT_READ, page)
            .map_err(|e| os("producer and data pages", e))?;
        Ok(RingbufReader {
            consumer,
            producer,
            page,
            size,
        })
    }

    /// Hands every committed record to `f`, in order, and releases its space; discarded
    /// records are skipped. Returns how many records `f` saw.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut seen = 0;
        let cons = self.consumer.position();
        let prod = self.producer.position();
        let mut pos = cons.load(Ordering::Acquire);
        let mask = self.size as u64 - 1;
        loop {
            let end = prod.load(Ordering::Acquire);
            if pos >= end {
                break;
            }
            let at = self.page + (pos & mask) as usize;
            // SAFETY: `at + 8` lies within the producer mapping (page + 2 * size bytes), the
            // header is 8-aligned, and the kernel writes its length word atomically.
            let word = unsafe {
                &*(self
                    .producer
                    .ptr
                    .add(at)
                    .cast::<std::sync::atomic::AtomicU32>())
            };
            let len = word.load(Ordering::Acquire);
            if len & BUSY != 0 {
                break;
            }
            let data_len = (len & !(BUSY | DISCARD)) as usize;
            if len & DISCARD == 0 && data_len <= self.size {
                // SAFETY: the record's data follows its header and, the data pages being
                // mapped twice in a row, is contiguous within the mapping even when it wraps
                // (data_len <= size, at < page + size).
                let data = unsafe {
                    std::slice::from_raw_parts(self.producer.ptr.add(at + HDR as usize), data_len)
                };
                f(data);
                seen += 1;
            }
            pos += (HDR + data_len as u64).div_ceil(8) * 8;
            cons.store(pos, Ordering::Release);
        }
        seen
    }
}
