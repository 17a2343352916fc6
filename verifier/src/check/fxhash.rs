//! A fast non-cryptographic hasher (the multiply-rotate scheme of rustc's `FxHasher`) for the
//! verifier's internal tables: keys are instruction indices and register states the verifier
//! made itself, so hash flooding is not a concern, and SipHash dominated the run time.

use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The hasher.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap` builder with `FxHasher`.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn h(v: impl Hash) -> u64 {
        FxBuild::default().hash_one(v)
    }

    #[test]
    fn equal_values_hash_equal_and_small_changes_differ() {
        assert_eq!(h((3usize, 7u64)), h((3usize, 7u64)));
        assert_ne!(h((3usize, 7u64)), h((3usize, 8u64)));
        assert_ne!(h((3usize, 7u64)), h((7usize, 3u64)));
        assert_ne!(h([1u8, 2, 3].as_slice()), h([1u8, 2, 4].as_slice()));
    }
}
