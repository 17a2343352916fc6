//! Executable memory for compiled code: mapped read-write, filled, then sealed read-execute
//! (never writable and executable at once), unmapped on drop.

use memmap2::{Mmap, MmapMut};

/// Machine code in read-execute memory. The mapping is released when this is dropped.
#[derive(Debug)]
pub struct ExecutableMemory {
    map: Mmap,
    len: usize,
}

impl ExecutableMemory {
    /// Copies `code` into a fresh anonymous mapping and seals it read-execute.
    pub fn new(code: &[u8]) -> std::io::Result<ExecutableMemory> {
        let mut writable = MmapMut::map_anon(code.len().max(1))?;
        writable[..code.len()].copy_from_slice(code);
        // `make_exec` changes the protection to read+execute: the write permission goes away
        // in the same mprotect call that adds execute.
        let map = writable.make_exec()?;
        Ok(ExecutableMemory {
            map,
            len: code.len(),
        })
    }

    /// Address of the first byte of code.
    pub fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// The machine code bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map[..self.len]
    }
}
