//! Executable memory for compiled code: mapped read-write, filled, the instruction cache
//! synchronised with the new bytes (a no-op on x86-64, `dc cvau`/`ic ivau` on aarch64: one
//! function, `ExecutableMemory::new`, both copies and synchronises, for fresh and pooled
//! pages alike), then sealed read-execute (never writable and executable at once).
//!
//! Mapping fresh memory for every program costs an `mmap`, a page fault on the first write,
//! the sealing `mprotect` and an `munmap` on drop: several microseconds each in a virtual
//! machine, most of a compilation. So code that fits one page (the system's page size) reuses
//! pages: a dropped program's page is made read-write again (so it is not executable any
//! more), filled with the target's trap instruction (`int3` on x86-64, `brk #0` on aarch64),
//! and kept in a small process-wide pool; the next compilation takes it, writes and seals it
//! with a single `mprotect`. Larger code gets its own mapping, unmapped on drop.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::host::{TRAP_FILL, synchronize_instruction_cache};

/// Most pages the pool keeps; pages dropped beyond that are unmapped.
const POOL_MAX: usize = 64;

/// Read-write (never executable) pages ready for code.
static POOL: Mutex<Vec<MmapMut>> = Mutex::new(Vec::new());

/// Instruction-cache synchronisations done so far (tests check that every new code buffer,
/// pooled or not, went through one).
static SYNCHRONISATIONS: AtomicUsize = AtomicUsize::new(0);

/// Size of a pooled mapping, the system's page size: code up to this many bytes reuses
/// pages.
pub fn pool_page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let known = PAGE.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    // SAFETY: `sysconf` only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let size = usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096);
    PAGE.store(size, Ordering::Relaxed);
    size
}

/// Fills `bytes` with the target's trap instruction (whole instructions from the start).
fn fill_with_traps(bytes: &mut [u8]) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = TRAP_FILL[i % TRAP_FILL.len()];
    }
}

/// A read-write page of traps for code of at most `pool_page_size()` bytes: from the pool,
/// or a fresh one (populated up front, so writing it does not fault).
fn pooled_page() -> std::io::Result<MmapMut> {
    let recycled = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    match recycled {
        Some(page) => Ok(page),
        None => {
            let mut page = MmapOptions::new()
                .len(pool_page_size())
                .populate()
                .map_anon()?;
            fill_with_traps(&mut page);
            Ok(page)
        }
    }
}

/// Copies `code` to the start of `writable` and synchronises the instruction cache with it:
/// the only way code gets into executable memory.
fn copy_and_synchronize(writable: &mut MmapMut, code: &[u8]) {
    writable[..code.len()].copy_from_slice(code);
    synchronize_instruction_cache(&writable[..code.len()]);
    SYNCHRONISATIONS.fetch_add(1, Ordering::Relaxed);
}

/// Number of instruction-cache synchronisations done so far in this process.
pub fn instruction_cache_synchronisations() -> usize {
    SYNCHRONISATIONS.load(Ordering::Relaxed)
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
    /// Copies `code` into writable memory (a pooled page if it fits, else a fresh mapping),
    /// synchronises the instruction cache with it and seals it read-execute.
    pub fn new(code: &[u8]) -> std::io::Result<ExecutableMemory> {
        let mut writable = if code.len() <= pool_page_size() {
            pooled_page()?
        } else {
            let mut fresh = MmapMut::map_anon(code.len())?;
            fill_with_traps(&mut fresh);
            fresh
        };
        copy_and_synchronize(&mut writable, code);
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
    /// Returns a pool-sized page to the pool (read-write and filled with traps first, so the
    /// pool holds no executable code), or unmaps the memory.
    fn drop(&mut self) {
        let Some(map) = self.map.take() else {
            return;
        };
        if map.len() != pool_page_size() {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() >= POOL_MAX {
            return;
        }
        // A page that cannot be made writable again is simply unmapped.
        if let Ok(mut page) = map.make_mut() {
            fill_with_traps(&mut page);
            pool.push(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `bytes` hold only whole trap instructions of the target.
    fn only_traps(bytes: &[u8]) -> bool {
        bytes
            .chunks(TRAP_FILL.len())
            .all(|c| c == &TRAP_FILL[..c.len()])
    }

    #[test]
    fn the_trap_is_the_targets() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(TRAP_FILL, [0xcc; 4], "int3");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(u32::from_le_bytes(TRAP_FILL), 0xd420_0000, "brk #0");
    }

    #[test]
    fn code_is_copied_and_recycled_pages_hold_only_traps() {
        let page = pool_page_size();
        assert!(page >= 4096 && page.is_power_of_two());
        let first = ExecutableMemory::new(&[1, 2, 3, 4, 5, 6, 7, 8]).expect("maps");
        assert_eq!(first.bytes(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        drop(first);
        let before = instruction_cache_synchronisations();
        let second = ExecutableMemory::new(&[9, 9, 9, 9]).expect("maps");
        assert!(
            instruction_cache_synchronisations() > before,
            "pooled page not synchronised"
        );
        assert_eq!(second.bytes(), &[9, 9, 9, 9]);
        // SAFETY: the mapping is `page` bytes long and readable.
        let mapped = unsafe { std::slice::from_raw_parts(second.as_ptr(), page) };
        assert!(only_traps(&mapped[4..]), "stale code after the new code");
    }

    #[test]
    fn large_code_gets_its_own_synchronised_mapping() {
        let code = vec![0x5au8; pool_page_size() + 1];
        let before = instruction_cache_synchronisations();
        let memory = ExecutableMemory::new(&code).expect("maps");
        assert!(
            instruction_cache_synchronisations() > before,
            "fresh mapping not synchronised"
        );
        assert_eq!(memory.bytes(), &code[..]);
    }
}
