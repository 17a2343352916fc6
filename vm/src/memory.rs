//! The checked memory model: a run sees guest memory only through `Region`s (context, stack
//! frames, map values, packet data). Every guest access is checked against them with
//! overflow-safe arithmetic before any host memory is touched. Guest addresses are host
//! addresses, so interpreter and JIT agree on pointer values.

use std::cell::Cell;

/// What a region holds (for error messages and the verifier's vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// The program context (e.g. `struct bpf_sock_ops`, or conformance test memory).
    Context,
    /// The stack of all call frames.
    Stack,
    /// A map value (or global data section).
    MapValue,
    /// Packet data.
    Packet,
    /// Anything else a helper exposes.
    Other,
    /// A map's kernel struct (`struct bpf_map` and the type's struct around it), read
    /// through a map pointer; read-only.
    MapStruct,
}

/// One guest-visible memory range `[start, start + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Host address of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether the guest may write it.
    pub writable: bool,
    /// What it holds.
    pub kind: RegionKind,
}

/// Read or write, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store or atomic.
    Write,
}

/// A guest access outside every region, or a write to a read-only region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid memory {access:?} of {len} bytes at {addr:#x}")]
pub struct MemoryFault {
    /// Guest address.
    pub addr: u64,
    /// Access length.
    pub len: u64,
    /// Read or write.
    pub access: Access,
}

/// The set of regions one run may touch. It does not own the memory: whoever adds a region
/// promises the memory stays valid (and is not otherwise aliased mutably) while the run lasts.
#[derive(Debug, Clone)]
pub struct Memory {
    regions: Vec<Region>,
    /// The lowest address a write was checked for in a `Stack` region (`u64::MAX`: none):
    /// lets the interpreter clear only the stack bytes a run may have written.
    lowest_stack_write: Cell<u64>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl Memory {
    /// An empty memory map.
    pub fn new() -> Self {
        Memory {
            regions: Vec::new(),
            lowest_stack_write: Cell::new(u64::MAX),
        }
    }

    /// An empty memory map that stores its regions in `spare`'s allocation (its contents are
    /// dropped): lets an engine recycle one buffer across runs instead of allocating per run.
    #[inline]
    pub fn with_buffer(mut spare: Vec<Region>) -> Self {
        spare.clear();
        Memory {
            regions: spare,
            lowest_stack_write: Cell::new(u64::MAX),
        }
    }

    /// Gives the region buffer back for `with_buffer`, emptied (the allocation is kept).
    #[inline]
    pub fn into_buffer(self) -> Vec<Region> {
        let mut regions = self.regions;
        regions.clear();
        regions
    }

    /// Adds a region (duplicates are ignored).
    ///
    /// # Safety
    /// `[region.start, region.start + region.len)` must be memory that stays valid for reads
    /// (and writes, if `writable`) for as long as this `Memory` is used to access it, and that
    /// no Rust reference aliases mutably while the guest runs.
    #[inline]
    pub unsafe fn add(&mut self, region: Region) {
        if region.len > 0 && !self.regions.contains(&region) {
            self.regions.push(region);
        }
    }

    /// The regions, in the order added.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Checks that `[addr, addr + len)` lies inside one region that allows `access`.
    pub fn check(&self, addr: u64, len: u64, access: Access) -> Result<Region, MemoryFault> {
        let fault = MemoryFault { addr, len, access };
        let end = addr.checked_add(len).ok_or(fault.clone())?;
        // Most recently added regions are the likeliest targets (map values from helpers).
        let region = self
            .regions
            .iter()
            .rev()
            .find(|r| {
                addr >= r.start
                    && r.start.checked_add(r.len).is_some_and(|r_end| end <= r_end)
                    && (access == Access::Read || r.writable)
            })
            .copied()
            .ok_or(fault)?;
        if access == Access::Write && region.kind == RegionKind::Stack {
            self.lowest_stack_write
                .set(self.lowest_stack_write.get().min(addr));
        }
        Ok(region)
    }

    /// The lowest address any write checked so far (by `check` with `Access::Write`, which
    /// every writing method uses) went to in a `Stack` region, if any did.
    pub fn lowest_stack_write(&self) -> Option<u64> {
        let low = self.lowest_stack_write.get();
        (low != u64::MAX).then_some(low)
    }

    /// Reads `len` (1, 2, 4 or 8) bytes little-endian after checking the access.
    pub fn load(&self, addr: u64, len: u64) -> Result<u64, MemoryFault> {
        self.check(addr, len, Access::Read)?;
        let mut buf = [0u8; 8];
        // SAFETY: `check` proved [addr, addr+len) lies inside a region whose owner keeps it
        // valid for the run; len <= 8 fits `buf`. Unaligned reads are done bytewise.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), len as usize) };
        Ok(u64::from_le_bytes(buf))
    }

    /// Writes the low `len` (1, 2, 4 or 8) bytes of `value` little-endian after checking.
    pub fn store(&self, addr: u64, len: u64, value: u64) -> Result<(), MemoryFault> {
        self.check(addr, len, Access::Write)?;
        let buf = value.to_le_bytes();
        // SAFETY: `check` proved [addr, addr+len) lies inside a writable region kept valid for
        // the run; len <= 8 bytes are copied from `buf`.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), addr as *mut u8, len as usize) };
        Ok(())
    }

    /// Copies `len` guest bytes out (for helpers reading buffers such as setsockopt's optval).
    pub fn read_bytes(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemoryFault> {
        self.check(addr, len, Access::Read)?;
        let mut out = vec![0u8; len as usize];
        // SAFETY: checked as above; `out` has exactly `len` bytes.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(out)
    }

    /// Copies `data` into guest memory at `addr` (for helpers filling buffers).
    pub fn write_bytes(&self, addr: u64, data: &[u8]) -> Result<(), MemoryFault> {
        self.check(addr, data.len() as u64, Access::Write)?;
        // SAFETY: checked as above: the whole destination range is inside one writable region.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_starts_empty_and_keeps_its_allocation() {
        let bytes = [0u8; 8];
        let region = Region {
            start: bytes.as_ptr() as u64,
            len: 8,
            writable: false,
            kind: RegionKind::Other,
        };
        let mut memory = Memory::new();
        // SAFETY: `bytes` outlives `memory`'s use and is only read.
        unsafe { memory.add(region) };
        assert!(memory.check(region.start, 8, Access::Read).is_ok());
        let buffer = memory.into_buffer();
        assert!(buffer.is_empty() && buffer.capacity() > 0);
        let capacity = buffer.capacity();
        let mut stale = buffer;
        stale.push(region);
        let memory = Memory::with_buffer(stale);
        assert!(memory.regions().is_empty());
        assert!(memory.check(region.start, 1, Access::Read).is_err());
        assert_eq!(memory.into_buffer().capacity(), capacity);
    }
}
