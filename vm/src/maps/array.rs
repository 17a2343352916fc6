//! Array storage: BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY (also the one-entry arrays
//! behind global data sections). All `max_entries` values are preallocated, zeroed, in one
//! buffer; each value takes `round_up(value_size, 8)` bytes (the kernel's `elem_size`), per-CPU
//! arrays hold `ncpus` such slots per index. Nothing is ever freed before the map is dropped.

use super::storage::ValueBuf;
use super::{BPF_EXIST, BPF_NOEXIST, MapError, MapMeta, Origin, errno};

/// The preallocated values of an array map.
#[derive(Debug)]
pub(crate) struct ArrayStorage {
    buf: ValueBuf,
    percpu: bool,
}

impl ArrayStorage {
    /// Zeroed storage for `meta`'s definition (already validated, size within limits).
    pub(crate) fn new(meta: &MapMeta, percpu: bool) -> ArrayStorage {
        let slots = meta.def.max_entries as usize * if percpu { meta.ncpus } else { 1 };
        ArrayStorage {
            buf: ValueBuf::zeroed(slots * meta.stride()),
            percpu,
        }
    }

    fn slot_offset(&self, meta: &MapMeta, index: u32, cpu: usize) -> Option<usize> {
        if index >= meta.def.max_entries || cpu >= meta.ncpus {
            return None;
        }
        let slot = if self.percpu {
            index as usize * meta.ncpus + cpu
        } else {
            index as usize
        };
        Some(slot * meta.stride())
    }

    /// Host address of the value at `index` for `cpu` (ignored unless per-CPU).
    pub(crate) fn value_ptr(&self, meta: &MapMeta, index: u32, cpu: usize) -> Option<*mut u8> {
        let off = self.slot_offset(meta, index, cpu)?;
        // SAFETY: `slot_offset` is inside the buffer (index < max_entries, cpu < ncpus, the
        // buffer holds max_entries * ncpus strides), so the offset pointer stays in bounds.
        Some(unsafe { self.buf.as_ptr().add(off) })
    }

    /// The value(s) at `index`: one value, or every CPU's value padded to 8 bytes each.
    pub(crate) fn lookup(&self, meta: &MapMeta, index: u32) -> Result<Vec<u8>, MapError> {
        if index >= meta.def.max_entries {
            return Err(MapError::NotFound {
                map: meta.name.clone(),
            });
        }
        let vs = meta.def.value_size as usize;
        if !self.percpu {
            let mut out = vec![0u8; vs];
            self.buf.read(index as usize * meta.stride(), &mut out);
            return Ok(out);
        }
        let stride = meta.stride();
        let mut out = vec![0u8; stride * meta.ncpus];
        for cpu in 0..meta.ncpus {
            if let Some(off) = self.slot_offset(meta, index, cpu) {
                self.buf
                    .read(off, &mut out[cpu * stride..cpu * stride + vs]);
            }
        }
        Ok(out)
    }

    /// `array_map_update_elem` / `bpf_percpu_array_update`.
    pub(crate) fn update(
        &self,
        meta: &MapMeta,
        index: u32,
        value: &[u8],
        flags: u64,
        origin: Origin,
    ) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return Err(MapError::InvalidFlags {
                map: meta.name.clone(),
                flags,
            });
        }
        if index >= meta.def.max_entries {
            return Err(MapError::Full {
                map: meta.name.clone(),
                max_entries: meta.def.max_entries,
            });
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists {
                map: meta.name.clone(),
            });
        }
        let vs = meta.def.value_size as usize;
        match (self.percpu, origin) {
            (true, Origin::User) => {
                let stride = meta.stride();
                meta.check_value_len(value, stride * meta.ncpus)?;
                for cpu in 0..meta.ncpus {
                    if let Some(off) = self.slot_offset(meta, index, cpu) {
                        self.buf.write(off, &value[cpu * stride..cpu * stride + vs]);
                    }
                }
            }
            (percpu, _) => {
                meta.check_value_len(value, vs)?;
                let cpu = if percpu { meta.current_cpu() } else { 0 };
                if let Some(off) = self.slot_offset(meta, index, cpu) {
                    self.buf.write(off, value);
                }
            }
        }
        Ok(())
    }

    /// `array_map_get_next_key`: index + 1, 0 for a missing or out-of-range key, ENOENT
    /// after the last index.
    pub(crate) fn next_key(&self, meta: &MapMeta, index: Option<u32>) -> Result<u32, MapError> {
        match index {
            Some(i) if i < meta.def.max_entries => {
                if i + 1 == meta.def.max_entries {
                    Err(MapError::NotFound {
                        map: meta.name.clone(),
                    })
                } else {
                    Ok(i + 1)
                }
            }
            _ => Ok(0),
        }
    }

    /// Deleting from an array is EINVAL in the kernel.
    pub(crate) fn delete(&self, meta: &MapMeta) -> Result<(), MapError> {
        Err(meta.not_supported("delete", errno::EINVAL))
    }
}
