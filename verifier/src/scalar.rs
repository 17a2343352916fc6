//! Scalar value tracking: a tnum plus signed and unsigned ranges in 64 and 32 bits, with the
//! kernel's bound synchronisation (`reg_bounds_sync`) and ALU transfer functions
//! (`adjust_scalar_min_max_vals` in kernel/bpf/verifier.c).

use crate::tnum::Tnum;

/// What is known about a scalar (or about the variable part of a pointer's offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Known bits.
    pub var_off: Tnum,
    /// Signed 64-bit minimum.
    pub smin: i64,
    /// Signed 64-bit maximum.
    pub smax: i64,
    /// Unsigned 64-bit minimum.
    pub umin: u64,
    /// Unsigned 64-bit maximum.
    pub umax: u64,
    /// Signed 32-bit minimum of the low half.
    pub s32_min: i32,
    /// Signed 32-bit maximum of the low half.
    pub s32_max: i32,
    /// Unsigned 32-bit minimum of the low half.
    pub u32_min: u32,
    /// Unsigned 32-bit maximum of the low half.
    pub u32_max: u32,
}

impl Scalar {
    /// Nothing known.
    pub const UNKNOWN: Scalar = Scalar {
        var_off: Tnum::UNKNOWN,
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        s32_min: i32::MIN,
        s32_max: i32::MAX,
        u32_min: 0,
        u32_max: u32::MAX,
    };

    /// A known 64-bit constant (`__mark_reg_known`).
    pub fn konst(v: u64) -> Scalar {
        Scalar {
            var_off: Tnum::konst(v),
            smin: v as i64,
            smax: v as i64,
            umin: v,
            umax: v,
            s32_min: v as u32 as i32,
            s32_max: v as u32 as i32,
            u32_min: v as u32,
            u32_max: v as u32,
        }
    }

    /// An unsigned value of `bytes` bytes, zero-extended (what a narrow load yields).
    pub fn unsigned_of_size(bytes: u8) -> Scalar {
        if bytes >= 8 {
            return Scalar::UNKNOWN;
        }
        let mut s = Scalar::UNKNOWN;
        s.var_off = Tnum::UNKNOWN.cast(bytes);
        s.sync();
        s
    }

    /// A sign-extended value of `bytes` bytes (`set_sext64_default_val`).
    pub fn signed_of_size(bytes: u8) -> Scalar {
        let (lo, hi): (i64, i64) = match bytes {
            1 => (i8::MIN as i64, i8::MAX as i64),
            2 => (i16::MIN as i64, i16::MAX as i64),
            _ => (i32::MIN as i64, i32::MAX as i64),
        };
        let mut s = Scalar::UNKNOWN;
        s.smin = lo;
        s.smax = hi;
        s.s32_min = lo as i32;
        s.s32_max = hi as i32;
        s.sync();
        s
    }

    /// True if the 64-bit value is known.
    pub fn is_const(&self) -> bool {
        self.var_off.is_const()
    }

    /// True if the low 32 bits are known.
    pub fn is_const32(&self) -> bool {
        self.var_off.subreg().is_const()
    }

    /// The constant value (meaningful only if `is_const`).
    pub fn value(&self) -> u64 {
        self.var_off.value
    }

    fn update_bounds32(&mut self) {
        let v = self.var_off.subreg();
        self.s32_min = self
            .s32_min
            .max((v.value | (v.mask & 0x8000_0000)) as u32 as i32);
        self.s32_max = self
            .s32_max
            .min((v.value | (v.mask & 0x7fff_ffff)) as u32 as i32);
        self.u32_min = self.u32_min.max(v.value as u32);
        self.u32_max = self.u32_max.min((v.value | v.mask) as u32);
    }

    fn update_bounds64(&mut self) {
        let v = self.var_off;
        self.smin = self.smin.max((v.value | (v.mask & (1 << 63))) as i64);
        self.smax = self.smax.min((v.value | (v.mask & !(1 << 63))) as i64);
        self.umin = self.umin.max(v.value);
        self.umax = self.umax.min(v.value | v.mask);
        // The u64 range and the tnum may have a single value in common (kernel 6.18).
        let next = v.step(self.umin);
        let umin_in_tnum = self.umin & !v.mask == v.value;
        let tmax = v.value | v.mask;
        if umin_in_tnum && next > self.umax {
            *self = Scalar::konst(self.umin);
        } else if !umin_in_tnum && next == tmax {
            *self = Scalar::konst(tmax);
        } else if !umin_in_tnum && next <= self.umax && v.step(next) > self.umax {
            *self = Scalar::konst(next);
        }
    }

    /// `__update_reg_bounds`.
    pub fn update_bounds(&mut self) {
        self.update_bounds32();
        self.update_bounds64();
    }

    fn deduce32(&mut self) {
        if (self.umin >> 32) == (self.umax >> 32) {
            self.u32_min = self.u32_min.max(self.umin as u32);
            self.u32_max = self.u32_max.min(self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.s32_min = self.s32_min.max(self.umin as i32);
                self.s32_max = self.s32_max.min(self.umax as i32);
            }
        }
        if (self.smin >> 32) == (self.smax >> 32) {
            self.u32_min = self.u32_min.max(self.smin as u32);
            self.u32_max = self.u32_max.min(self.smax as u32);
            if (self.smin as i32) <= (self.smax as i32) {
                self.s32_min = self.s32_min.max(self.smin as i32);
                self.s32_max = self.s32_max.min(self.smax as i32);
            }
        }
        // Upper halves two consecutive numbers while the low halves cross zero as s32: the
        // low halves still form a valid s32 range (e.g. s64 [-1, 1]).
        if ((self.umin >> 32) as u32).wrapping_add(1) == (self.umax >> 32) as u32
            && (self.umin as i32) < 0
            && (self.umax as i32) >= 0
        {
            self.s32_min = self.s32_min.max(self.umin as i32);
            self.s32_max = self.s32_max.min(self.umax as i32);
        }
        if ((self.smin >> 32) as u32).wrapping_add(1) == (self.smax >> 32) as u32
            && (self.smin as i32) < 0
            && (self.smax as i32) >= 0
        {
            self.s32_min = self.s32_min.max(self.smin as i32);
            self.s32_max = self.s32_max.min(self.smax as i32);
        }
        if (self.u32_min as i32) <= (self.u32_max as i32) {
            self.s32_min = self.s32_min.max(self.u32_min as i32);
            self.s32_max = self.s32_max.min(self.u32_max as i32);
        }
        if (self.s32_min as u32) <= (self.s32_max as u32) {
            self.u32_min = self.u32_min.max(self.s32_min as u32);
            self.u32_max = self.u32_max.min(self.s32_max as u32);
        } else if self.u32_max < self.s32_min as u32 {
            // The u32 range lies entirely in the non-negative s32 half.
            self.s32_min = self.u32_min as i32;
            self.u32_max = self.u32_max.min(self.s32_max as u32);
        } else if (self.s32_max as u32) < self.u32_min {
            // The u32 range lies entirely in the negative s32 half.
            self.s32_max = self.u32_max as i32;
            self.u32_min = self.u32_min.max(self.s32_min as u32);
        }
    }

    fn deduce64(&mut self) {
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if (self.smin as u64) <= (self.smax as u64) {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        } else if self.umax < self.smin as u64 {
            // The unsigned range lies entirely in the non-negative signed half.
            self.smin = self.umin as i64;
            self.umax = self.umax.min(self.smax as u64);
        } else if (self.smax as u64) < self.umin {
            // The unsigned range lies entirely in the negative signed half.
            self.smax = self.umax as i64;
            self.umin = self.umin.max(self.smin as u64);
        }
    }

    fn deduce_mixed(&mut self) {
        let new_umin = (self.umin & !0xffff_ffff) | self.u32_min as u64;
        let new_umax = (self.umax & !0xffff_ffff) | self.u32_max as u64;
        self.umin = self.umin.max(new_umin);
        self.umax = self.umax.min(new_umax);
        let new_smin = ((self.smin as u64 & !0xffff_ffff) | self.u32_min as u64) as i64;
        let new_smax = ((self.smax as u64 & !0xffff_ffff) | self.u32_max as u64) as i64;
        self.smin = self.smin.max(new_smin);
        self.smax = self.smax.min(new_smax);
        if self.s32_min >= 0 && self.smin >= i32::MIN as i64 && self.smax <= i32::MAX as i64 {
            self.smin = self.s32_min as i64;
            self.smax = self.s32_max as i64;
            self.umin = self.s32_min as u64;
            self.umax = self.s32_max as u64;
            self.var_off = self
                .var_off
                .intersect(Tnum::range(self.smin as u64, self.smax as u64));
        }
    }

    fn deduce(&mut self) {
        self.deduce32();
        self.deduce64();
        self.deduce_mixed();
    }

    fn bound_offset(&mut self) {
        let v64 = self.var_off.intersect(Tnum::range(self.umin, self.umax));
        let v32 = v64
            .subreg()
            .intersect(Tnum::range(self.u32_min as u64, self.u32_max as u64));
        self.var_off = v64.clear_subreg().or(v32);
    }

    /// `reg_bounds_sync`: make the tnum and the four ranges agree.
    pub fn sync(&mut self) {
        self.update_bounds();
        self.deduce();
        self.deduce();
        self.deduce();
        self.bound_offset();
        self.update_bounds();
    }

    /// True if the ranges are contradictory (an impossible branch).
    pub fn is_invalid(&self) -> bool {
        self.smin > self.smax
            || self.umin > self.umax
            || self.s32_min > self.s32_max
            || self.u32_min > self.u32_max
    }

    /// Marks the 32-bit ranges unbounded.
    pub fn unbound32(&mut self) {
        self.s32_min = i32::MIN;
        self.s32_max = i32::MAX;
        self.u32_min = 0;
        self.u32_max = u32::MAX;
    }

    /// Marks the 64-bit ranges unbounded.
    pub fn unbound64(&mut self) {
        self.smin = i64::MIN;
        self.smax = i64::MAX;
        self.umin = 0;
        self.umax = u64::MAX;
    }

    /// `zext_32_to_64`: the value becomes its zero-extended low half.
    pub fn zext32(&mut self) {
        self.var_off = self.var_off.subreg();
        self.umin = self.u32_min as u64;
        self.umax = self.u32_max as u64;
        if self.s32_min >= 0 && self.s32_max >= 0 {
            self.smin = self.s32_min as i64;
            self.smax = self.s32_max as i64;
        } else {
            self.smin = 0;
            self.smax = u32::MAX as i64;
        }
    }

    /// Truncates to `bytes` bytes (`coerce_reg_to_size`).
    pub fn coerce_to_size(&mut self, bytes: u8) {
        if bytes >= 8 {
            return;
        }
        self.var_off = self.var_off.cast(bytes);
        let mask = (1u64 << (bytes as u32 * 8)) - 1;
        if (self.umin & !mask) == (self.umax & !mask) {
            self.umin &= mask;
            self.umax &= mask;
        } else {
            self.umin = 0;
            self.umax = mask;
        }
        self.smin = self.umin as i64;
        self.smax = self.umax as i64;
        if bytes >= 4 {
            self.u32_min = self.umin as u32;
            self.u32_max = self.umax as u32;
            self.s32_min = self.u32_min as i32;
            self.s32_max = self.u32_max as i32;
            if self.s32_min > self.s32_max {
                self.s32_min = i32::MIN;
                self.s32_max = i32::MAX;
            }
        } else {
            self.u32_min = self.umin as u32;
            self.u32_max = self.umax as u32;
            self.s32_min = self.umin as i32;
            self.s32_max = self.umax as i32;
        }
        self.sync();
    }

    /// Sign-extends the low `bytes` bytes into 64 bits (`coerce_reg_to_size_sx`), conservatively.
    pub fn sext_from(&mut self, bytes: u8) {
        let bits = bytes as u32 * 8;
        if self.is_const() {
            let v = self.value();
            let sh = 64 - bits;
            *self = Scalar::konst((((v << sh) as i64) >> sh) as u64);
            return;
        }
        let (lo, hi): (i64, i64) = match bytes {
            1 => (i8::MIN as i64, i8::MAX as i64),
            2 => (i16::MIN as i64, i16::MAX as i64),
            _ => (i32::MIN as i64, i32::MAX as i64),
        };
        let mask = (1u64 << bits) - 1;
        // If the value surely fits the non-negative half, sign extension changes nothing.
        if self.umax <= (hi as u64) && (self.umin & !mask) == 0 {
            return;
        }
        let mut s = Scalar::UNKNOWN;
        s.smin = lo;
        s.smax = hi;
        s.sync();
        *self = s;
    }

    /// Sign-extends the low `bytes` bytes into 32 bits (for 32-bit `movsx`), then zero-extends.
    pub fn sext32_from(&mut self, bytes: u8) {
        let bits = bytes as u32 * 8;
        if self.is_const32() {
            let v = self.var_off.value as u32;
            let sh = 32 - bits;
            *self = Scalar::konst((((v << sh) as i32) >> sh) as u32 as u64);
            return;
        }
        let mut s = Scalar::UNKNOWN;
        let hi = (1i64 << (bits - 1)) - 1;
        if self.u32_max as i64 <= hi {
            s = *self;
            s.zext32();
            s.sync();
            *self = s;
            return;
        }
        s.s32_min = -(hi as i32) - 1;
        s.s32_max = hi as i32;
        s.zext32();
        s.sync();
        *self = s;
    }
}

/// The ALU operations the transfer functions cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarOp {
    /// +
    Add,
    /// -
    Sub,
    /// *
    Mul,
    /// &
    And,
    /// |
    Or,
    /// ^
    Xor,
    /// <<
    Lsh,
    /// >> (logical)
    Rsh,
    /// >> (arithmetic)
    Arsh,
}

fn add32(d: &mut Scalar, s: &Scalar) {
    match (
        d.s32_min.checked_add(s.s32_min),
        d.s32_max.checked_add(s.s32_max),
    ) {
        (Some(a), Some(b)) => {
            d.s32_min = a;
            d.s32_max = b;
        }
        _ => {
            d.s32_min = i32::MIN;
            d.s32_max = i32::MAX;
        }
    }
    // Kernel 6.18 (`scalar32_min_max_add`): when every sum overflows, or none does, the
    // wrapped bounds are exact; only when some do is nothing known.
    let (min, min_overflow) = d.u32_min.overflowing_add(s.u32_min);
    let (max, max_overflow) = d.u32_max.overflowing_add(s.u32_max);
    if !min_overflow && max_overflow {
        d.u32_min = 0;
        d.u32_max = u32::MAX;
    } else {
        d.u32_min = min;
        d.u32_max = max;
    }
}

fn add64(d: &mut Scalar, s: &Scalar) {
    match (d.smin.checked_add(s.smin), d.smax.checked_add(s.smax)) {
        (Some(a), Some(b)) => {
            d.smin = a;
            d.smax = b;
        }
        _ => {
            d.smin = i64::MIN;
            d.smax = i64::MAX;
        }
    }
    // As `add32` (`scalar_min_max_add`).
    let (min, min_overflow) = d.umin.overflowing_add(s.umin);
    let (max, max_overflow) = d.umax.overflowing_add(s.umax);
    if !min_overflow && max_overflow {
        d.umin = 0;
        d.umax = u64::MAX;
    } else {
        d.umin = min;
        d.umax = max;
    }
}

fn sub32(d: &mut Scalar, s: &Scalar) {
    match (
        d.s32_min.checked_sub(s.s32_max),
        d.s32_max.checked_sub(s.s32_min),
    ) {
        (Some(a), Some(b)) => {
            d.s32_min = a;
            d.s32_max = b;
        }
        _ => {
            d.s32_min = i32::MIN;
            d.s32_max = i32::MAX;
        }
    }
    // Kernel 6.18 (`scalar32_min_max_sub`): when every difference underflows, or none does,
    // the wrapped bounds are exact; only when some do is nothing known.
    let (min, min_underflow) = d.u32_min.overflowing_sub(s.u32_max);
    let (max, max_underflow) = d.u32_max.overflowing_sub(s.u32_min);
    if min_underflow && !max_underflow {
        d.u32_min = 0;
        d.u32_max = u32::MAX;
    } else {
        d.u32_min = min;
        d.u32_max = max;
    }
}

fn sub64(d: &mut Scalar, s: &Scalar) {
    match (d.smin.checked_sub(s.smax), d.smax.checked_sub(s.smin)) {
        (Some(a), Some(b)) => {
            d.smin = a;
            d.smax = b;
        }
        _ => {
            d.smin = i64::MIN;
            d.smax = i64::MAX;
        }
    }
    // As `sub32` (`scalar_min_max_sub`).
    let (min, min_underflow) = d.umin.overflowing_sub(s.umax);
    let (max, max_underflow) = d.umax.overflowing_sub(s.umin);
    if min_underflow && !max_underflow {
        d.umin = 0;
        d.umax = u64::MAX;
    } else {
        d.umin = min;
        d.umax = max;
    }
}

fn mul32(d: &mut Scalar, s: &Scalar) {
    match (
        d.u32_max.checked_mul(s.u32_max),
        d.u32_min.checked_mul(s.u32_min),
    ) {
        (Some(a), Some(b)) => {
            d.u32_max = a;
            d.u32_min = b;
        }
        _ => {
            d.u32_min = 0;
            d.u32_max = u32::MAX;
        }
    }
    let p = [
        d.s32_min.checked_mul(s.s32_min),
        d.s32_min.checked_mul(s.s32_max),
        d.s32_max.checked_mul(s.s32_min),
        d.s32_max.checked_mul(s.s32_max),
    ];
    if p.iter().all(Option::is_some) {
        let v: Vec<i32> = p.iter().flatten().copied().collect();
        d.s32_min = *v.iter().min().unwrap_or(&i32::MIN);
        d.s32_max = *v.iter().max().unwrap_or(&i32::MAX);
    } else {
        d.s32_min = i32::MIN;
        d.s32_max = i32::MAX;
    }
}

fn mul64(d: &mut Scalar, s: &Scalar) {
    match (d.umax.checked_mul(s.umax), d.umin.checked_mul(s.umin)) {
        (Some(a), Some(b)) => {
            d.umax = a;
            d.umin = b;
        }
        _ => {
            d.umin = 0;
            d.umax = u64::MAX;
        }
    }
    let p = [
        d.smin.checked_mul(s.smin),
        d.smin.checked_mul(s.smax),
        d.smax.checked_mul(s.smin),
        d.smax.checked_mul(s.smax),
    ];
    if p.iter().all(Option::is_some) {
        let v: Vec<i64> = p.iter().flatten().copied().collect();
        d.smin = *v.iter().min().unwrap_or(&i64::MIN);
        d.smax = *v.iter().max().unwrap_or(&i64::MAX);
    } else {
        d.smin = i64::MIN;
        d.smax = i64::MAX;
    }
}

fn signed_from_unsigned32(d: &mut Scalar) {
    if (d.u32_min as i32) <= (d.u32_max as i32) {
        d.s32_min = d.u32_min as i32;
        d.s32_max = d.u32_max as i32;
    } else {
        d.s32_min = i32::MIN;
        d.s32_max = i32::MAX;
    }
}

fn signed_from_unsigned64(d: &mut Scalar) {
    if (d.umin as i64) <= (d.umax as i64) {
        d.smin = d.umin as i64;
        d.smax = d.umax as i64;
    } else {
        d.smin = i64::MIN;
        d.smax = i64::MAX;
    }
}

/// Applies `op` to `dst` with operand `src` (`adjust_scalar_min_max_vals` for scalars).
/// `alu32` selects the 32-bit instruction (result zero-extended). Operations whose result
/// range the kernel cannot compute (variable or oversized shifts) give an unknown value.
pub fn alu(op: ScalarOp, dst: &Scalar, src: &Scalar, alu32: bool) -> Scalar {
    let bitness: u64 = if alu32 { 32 } else { 64 };
    let src_const = if alu32 {
        src.is_const32() && src.s32_min == src.s32_max && src.u32_min == src.u32_max
    } else {
        src.is_const() && src.smin == src.smax && src.umin == src.umax
    };
    let shift = matches!(op, ScalarOp::Lsh | ScalarOp::Rsh | ScalarOp::Arsh);
    if shift && !(src_const && src.umax < bitness) {
        // The kernel marks the whole register unknown and returns before zero-extending.
        return Scalar::UNKNOWN;
    }
    let mut d = *dst;
    let s = src;
    match op {
        ScalarOp::Add => {
            add32(&mut d, s);
            add64(&mut d, s);
            d.var_off = d.var_off.add(s.var_off);
        }
        ScalarOp::Sub => {
            sub32(&mut d, s);
            sub64(&mut d, s);
            d.var_off = d.var_off.sub(s.var_off);
        }
        ScalarOp::Mul => {
            d.var_off = d.var_off.mul(s.var_off);
            mul32(&mut d, s);
            mul64(&mut d, s);
        }
        ScalarOp::And => {
            d.var_off = d.var_off.and(s.var_off);
            // 32-bit part.
            let v32 = d.var_off.subreg();
            if d.is_const32() && s.is_const32() {
                d.u32_min = v32.value as u32;
                d.u32_max = v32.value as u32;
                d.s32_min = v32.value as u32 as i32;
                d.s32_max = v32.value as u32 as i32;
            } else {
                d.u32_min = v32.value as u32;
                d.u32_max = d.u32_max.min(s.u32_max);
                signed_from_unsigned32(&mut d);
            }
            if d.is_const() && s.is_const() {
                let v = d.var_off.value;
                d.umin = v;
                d.umax = v;
                d.smin = v as i64;
                d.smax = v as i64;
            } else {
                d.umin = d.var_off.value;
                d.umax = d.umax.min(s.umax);
                signed_from_unsigned64(&mut d);
                d.update_bounds();
            }
        }
        ScalarOp::Or => {
            d.var_off = d.var_off.or(s.var_off);
            let v32 = d.var_off.subreg();
            d.u32_min = d.u32_min.max(s.u32_min);
            d.u32_max = (v32.value | v32.mask) as u32;
            signed_from_unsigned32(&mut d);
            d.umin = d.umin.max(s.umin);
            d.umax = d.var_off.value | d.var_off.mask;
            signed_from_unsigned64(&mut d);
            d.update_bounds();
        }
        ScalarOp::Xor => {
            d.var_off = d.var_off.xor(s.var_off);
            let v32 = d.var_off.subreg();
            d.u32_min = v32.value as u32;
            d.u32_max = (v32.value | v32.mask) as u32;
            signed_from_unsigned32(&mut d);
            d.umin = d.var_off.value;
            d.umax = d.var_off.value | d.var_off.mask;
            signed_from_unsigned64(&mut d);
            d.update_bounds();
        }
        ScalarOp::Lsh => {
            let (umin_val, umax_val) = (s.umin, s.umax);
            if alu32 {
                let sub = d.var_off.subreg();
                d.s32_min = i32::MIN;
                d.s32_max = i32::MAX;
                if umax_val > 31 || d.u32_max as u64 > 1u64 << (31 - umax_val) {
                    d.u32_min = 0;
                    d.u32_max = u32::MAX;
                } else {
                    d.u32_min <<= umin_val;
                    d.u32_max <<= umax_val;
                }
                d.var_off = sub.lshift(umin_val as u8).subreg();
                d.unbound64();
                d.update_bounds32();
            } else {
                d.smax = if umin_val == 32 && umax_val == 32 && d.s32_max >= 0 {
                    (d.s32_max as i64) << 32
                } else {
                    i64::MAX
                };
                d.smin = if umin_val == 32 && umax_val == 32 && d.s32_min >= 0 {
                    (d.s32_min as i64) << 32
                } else {
                    i64::MIN
                };
                if d.umax > 1u64 << (63 - umax_val) {
                    d.umin = 0;
                    d.umax = u64::MAX;
                } else {
                    d.umin <<= umin_val;
                    d.umax <<= umax_val;
                }
                d.var_off = d.var_off.lshift(umin_val as u8);
                d.unbound32();
                d.update_bounds();
            }
        }
        ScalarOp::Rsh => {
            let (umin_val, umax_val) = (s.umin, s.umax);
            if alu32 {
                let sub = d.var_off.subreg();
                d.s32_min = i32::MIN;
                d.s32_max = i32::MAX;
                d.var_off = sub.rshift(umin_val as u8);
                d.u32_min >>= umax_val;
                d.u32_max >>= umin_val;
                d.unbound64();
                d.update_bounds32();
            } else {
                d.smin = i64::MIN;
                d.smax = i64::MAX;
                d.var_off = d.var_off.rshift(umin_val as u8);
                d.umin >>= umax_val;
                d.umax >>= umin_val;
                d.unbound32();
                d.update_bounds();
            }
        }
        ScalarOp::Arsh => {
            let umin_val = s.umin;
            if alu32 {
                d.s32_min >>= umin_val;
                d.s32_max >>= umin_val;
                d.var_off = d.var_off.subreg().arshift(umin_val as u8, 32);
                d.u32_min = 0;
                d.u32_max = u32::MAX;
                d.unbound64();
                d.update_bounds32();
            } else {
                d.smin >>= umin_val;
                d.smax >>= umin_val;
                d.var_off = d.var_off.arshift(umin_val as u8, 64);
                d.umin = 0;
                d.umax = u64::MAX;
                d.unbound32();
                d.update_bounds();
            }
        }
    }
    if alu32 {
        d.zext32();
    }
    d.sync();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_with_one_bounds_to_zero_one() {
        let r = alu(ScalarOp::And, &Scalar::UNKNOWN, &Scalar::konst(1), false);
        assert_eq!((r.smin, r.smax, r.umin, r.umax), (0, 1, 0, 1));
    }

    #[test]
    fn rsh_31_of_u32_is_zero_or_one() {
        let r = alu(
            ScalarOp::Rsh,
            &Scalar::unsigned_of_size(4),
            &Scalar::konst(31),
            false,
        );
        assert_eq!((r.umin, r.umax), (0, 1));
    }

    #[test]
    fn add_constants_is_constant() {
        let r = alu(ScalarOp::Add, &Scalar::konst(3), &Scalar::konst(4), false);
        assert!(r.is_const());
        assert_eq!(r.value(), 7);
    }

    #[test]
    fn alu32_zero_extends() {
        let r = alu(
            ScalarOp::Add,
            &Scalar::konst(u64::MAX),
            &Scalar::konst(1),
            true,
        );
        assert!(r.is_const());
        assert_eq!(r.value(), 0);
    }

    #[test]
    fn variable_shift_is_unknown_even_in_32_bits() {
        let r = alu(ScalarOp::Lsh, &Scalar::konst(1), &Scalar::UNKNOWN, true);
        assert_eq!(r, Scalar::UNKNOWN);
        let r = alu(ScalarOp::Lsh, &Scalar::konst(1), &Scalar::UNKNOWN, false);
        assert_eq!(r, Scalar::UNKNOWN);
    }
}
