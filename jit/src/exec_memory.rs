//! Executable memory for compiled code: mapped read-write, filled, then sealed read-execute
//! (never writable and executable at once).
//!
//! Mapping fresh memory for every program costs an `mmap`, a page fault on the first write,
//! the sealing `mprotect` and an `munmap` on drop: several microseconds each in a virtual
//! machine, most of a compilation. So code that fits one page reuses pages: a dropped
//! program's page is made read-write again (so it is not executable any more), filled with
//! `int3`, and kept in a small process-wide pool; the next compilation takes it, writes and
//! seals it with a single `mprotect`. Larger code gets its own mapping, unmapped on drop.

use std::sync::Mutex;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// Size of a pooled mapping: code up to this many bytes reuses pages.
const POOL_PAGE: usize = 4096;
/// Most pages the pool keeps; pages dropped beyond that are unmapped.
const POOL_MAX: usize = 64;
/// `int3`: what unused and recycled code bytes hold.
const TRAP: u8 = 0xcc;

/// Read-write (never executable) pages ready for code.
static POOL: Mutex<Vec<MmapMut>> = Mutex::new(Vec::new());

/// A read-write page of `int3`s for code of at most `POOL_PAGE` bytes: from the pool, or a
/// fresh one (populated up front, so writing it does not fault).
fn pooled_page() -> std::io::Result<MmapMut> {
    let recycled = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    match recycled {
        Some(page) => Ok(page),
        None => {
            let mut page = MmapOptions::new().len(POOL_PAGE).populate().map_anon()?;
            page.fill(TRAP);
            Ok(page)
        }
    }
}

/// Machine code in read-execute memory.
#[derive(Debug)]
pub struct ExecutableMemory {
    /// The sealed mapping; `None` only while dropping.
    map: Option<Mmap>,
    /// Bytes of code at its start.
    len: usize,
}

impl ExecutableMemory {
    /// Copies `code` into writable memory (a pooled page if it fits, else a fresh mapping)
    /// and seals it read-execute.
    pub fn new(code: &[u8]) -> std::io::Result<ExecutableMemory> {
        let mut writable = if code.len() <= POOL_PAGE {
            pooled_page()?
        } else {
            MmapMut::map_anon(code.len())?
        };
        writable[..code.len()].copy_from_slice(code);
        // `make_exec` changes the protection to read+execute: the write permission goes away
        // in the same mprotect call that adds execute.
        let map = writable.make_exec()?;
        Ok(ExecutableMemory {
            map: Some(map),
            len: code.len(),
        })
    }

    /// Address of the first byte of code.
    pub fn as_ptr(&self) -> *const u8 {
        self.map.as_ref().map_or(std::ptr::null(), |m| m.as_ptr())
    }

    /// The machine code bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], |m| &m[..self.len])
    }
}

impl Drop for ExecutableMemory {
    /// Returns a pool-sized page to the pool (read-write and filled with `int3` first, so the
    /// pool holds no executable code), or unmaps the memory.
    fn drop(&mut self) {
        let Some(map) = self.map.take() else {
            return;
        };
        if map.len() != POOL_PAGE {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() >= POOL_MAX {
            return;
        }
        // A page that cannot be made writable again is simply unmapped.
        if let Ok(mut page) = map.make_mut() {
            page.fill(TRAP);
            pool.push(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_copied_and_recycled_pages_hold_only_traps() {
        let first = ExecutableMemory::new(&[0x90, 0xc3]).expect("maps");
        assert_eq!(first.bytes(), &[0x90, 0xc3]);
        drop(first);
        let second = ExecutableMemory::new(&[0xc3]).expect("maps");
        assert_eq!(second.bytes(), &[0xc3]);
        // SAFETY: the mapping is POOL_PAGE bytes long and readable.
        let page = unsafe { std::slice::from_raw_parts(second.as_ptr(), POOL_PAGE) };
        assert!(
            page[1..].iter().all(|&b| b == TRAP),
            "stale code after the new code"
        );
    }

    #[test]
    fn large_code_gets_its_own_mapping() {
        let code = vec![0x90u8; POOL_PAGE + 1];
        let memory = ExecutableMemory::new(&code).expect("maps");
        assert_eq!(memory.bytes(), &code[..]);
    }
}
