//! Tristate numbers (`tnum`): a value/mask pair saying which bits of a 64-bit value are known
//! (mask bit 0, value in `value`) and which are unknown (mask bit 1). Operations follow
//! `kernel/bpf/tnum.c` exactly, so bounds derived from them match the kernel's.

use std::fmt;

/// A tristate number: bits set in `mask` are unknown; the others equal the bits of `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// Known bit values (bits under `mask` are zero).
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

// The arithmetic names mirror kernel/bpf/tnum.c (tnum_add, tnum_sub, ...) on purpose.
#[allow(clippy::should_implement_trait)]
impl Tnum {
    /// Fully unknown.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// A known constant.
    pub const fn konst(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The tnum covering every value in `[min, max]` (`tnum_range`).
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// `tnum_step`: the smallest member of `self` greater than `z`; the largest member when
    /// there is none, the smallest when `z` is below it.
    pub fn step(self, z: u64) -> u64 {
        let tmax = self.value | self.mask;
        if z >= tmax {
            return tmax;
        }
        if z < self.value {
            return self.value;
        }
        // Smallest member >= y = z + 1 (no overflow: z < tmax).
        let y = z + 1;
        let diff = (y ^ self.value) & !self.mask;
        if diff == 0 {
            return y;
        }
        let k = 63 - diff.leading_zeros();
        let low = (1u64 << k) - 1;
        if self.value & (1 << k) != 0 {
            // y has 0 where the member needs 1: keep y above k, set bit k, minimum below.
            (y & !low & !(1 << k)) | (1 << k) | (self.value & low)
        } else {
            // y has 1 where members have 0: advance the unknown bits above k by one step.
            let above = if k == 63 { 0 } else { !((1u64 << (k + 1)) - 1) };
            let m_hi = self.mask & above;
            let s = y & m_hi;
            let next = (s | !m_hi).wrapping_add(1u64.wrapping_shl(k + 1)) & m_hi;
            if next <= s {
                return tmax;
            }
            self.value | next
        }
    }

    /// True if every bit is known.
    pub fn is_const(self) -> bool {
        self.mask == 0
    }

    /// True if the constant equals `v`.
    pub fn equals_const(self, v: u64) -> bool {
        self.is_const() && self.value == v
    }

    /// Shift left by a constant.
    pub fn lshift(self, s: u8) -> Tnum {
        Tnum {
            value: self.value.wrapping_shl(s as u32),
            mask: self.mask.wrapping_shl(s as u32),
        }
    }

    /// Logical shift right by a constant.
    pub fn rshift(self, s: u8) -> Tnum {
        Tnum {
            value: self.value.wrapping_shr(s as u32),
            mask: self.mask.wrapping_shr(s as u32),
        }
    }

    /// Arithmetic shift right by a constant, in 32 or 64 bits.
    pub fn arshift(self, s: u8, insn_bitness: u8) -> Tnum {
        if insn_bitness == 32 {
            Tnum {
                value: ((self.value as i32) >> s) as u32 as u64,
                mask: ((self.mask as i32) >> s) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> s) as u64,
                mask: ((self.mask as i64) >> s) as u64,
            }
        }
    }

    /// Addition.
    pub fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    /// Subtraction.
    pub fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// Negation.
    pub fn neg(self) -> Tnum {
        Tnum::konst(0).sub(self)
    }

    /// Bitwise and.
    pub fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// Bitwise xor.
    pub fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Multiplication (`tnum_mul`, the shift-and-add form).
    pub fn mul(self, b: Tnum) -> Tnum {
        let mut a = self;
        let mut b = b;
        let acc_v = a.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::konst(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::konst(acc_v).add(acc_m)
    }

    /// Intersection of two tnums known to describe the same value.
    pub fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// True if every value of `b` is a value of `self` (`tnum_in`).
    pub fn contains(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        (b.value & !self.mask) == self.value
    }

    /// Truncates to the low `size` bytes.
    pub fn cast(self, size: u8) -> Tnum {
        if size >= 8 {
            return self;
        }
        let m = (1u64 << (size as u32 * 8)) - 1;
        Tnum {
            value: self.value & m,
            mask: self.mask & m,
        }
    }

    /// The low 32 bits (`tnum_subreg`).
    pub fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// Clears the low 32 bits (`tnum_clear_subreg`).
    pub fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// Replaces the low 32 bits by `sub`.
    pub fn with_subreg(self, sub: Tnum) -> Tnum {
        self.clear_subreg().or(sub.cast(4))
    }

    /// Replaces the low 32 bits by a constant.
    pub fn const_subreg(self, v: u32) -> Tnum {
        self.with_subreg(Tnum::konst(v as u64))
    }

    /// True if the value is a multiple of `size` for every possible value (`tnum_is_aligned`).
    pub fn is_aligned(self, size: u64) -> bool {
        if size == 0 {
            return true;
        }
        ((self.value | self.mask) & (size - 1)) == 0
    }
}

impl fmt::Display for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(0x{:x}; 0x{:x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_covers_bounds() {
        let t = Tnum::range(0, 7);
        assert_eq!(t, Tnum { value: 0, mask: 7 });
        assert_eq!(Tnum::range(4, 4), Tnum::konst(4));
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
    }

    #[test]
    fn and_of_unknown_with_mask_is_masked() {
        let t = Tnum::UNKNOWN.and(Tnum::konst(0xff));
        assert_eq!(
            t,
            Tnum {
                value: 0,
                mask: 0xff
            }
        );
    }

    #[test]
    fn add_of_constants_is_constant() {
        assert_eq!(Tnum::konst(3).add(Tnum::konst(4)), Tnum::konst(7));
        assert_eq!(Tnum::konst(3).sub(Tnum::konst(4)), Tnum::konst(u64::MAX));
        assert_eq!(Tnum::konst(3).mul(Tnum::konst(5)), Tnum::konst(15));
    }

    #[test]
    fn step_finds_the_next_member() {
        // Every member set of small tnums, against enumeration.
        for value in 0u64..64 {
            for mask in 0u64..64 {
                if value & mask != 0 {
                    continue;
                }
                let t = Tnum { value, mask };
                let members: Vec<u64> = (0..128).filter(|&x| x & !mask == value).collect();
                let tmax = value | mask;
                for z in 0..80u64 {
                    let want = if z >= tmax {
                        tmax
                    } else {
                        *members.iter().find(|&&m| m > z).expect("a member above z")
                    };
                    assert_eq!(t.step(z), want, "t=({value:#x};{mask:#x}) z={z}");
                }
            }
        }
        // High bits and the top of the range.
        let t = Tnum {
            value: 1 << 63,
            mask: 0xf0,
        };
        assert_eq!(t.step(0), 1 << 63);
        assert_eq!(t.step((1 << 63) | 0x10), (1 << 63) | 0x20);
        assert_eq!(t.step(u64::MAX), (1 << 63) | 0xf0);
    }

    #[test]
    fn contains_is_subset() {
        let a = Tnum {
            value: 0,
            mask: 0xf,
        };
        assert!(a.contains(Tnum::konst(5)));
        assert!(!a.contains(Tnum::konst(0x10)));
        assert!(!Tnum::konst(5).contains(a));
    }
}
