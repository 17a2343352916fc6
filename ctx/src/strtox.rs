//! The string helpers' arithmetic, as kernel/bpf/helpers.c and lib/ does it, on plain bytes:
//! `bpf_strtol` / `bpf_strtoul` (`__bpf_strtoull` with `_parse_integer_fixup_radix` and
//! `_parse_integer`) and `bpf_strncmp` (lib/string.c `strncmp`). The helpers in
//! `base_helpers` move the bytes between guest memory and these functions.

use crate::errno::{EINVAL, ERANGE};

/// `BPF_STRTOX_BASE_MASK`: the base lives in the low 5 bits of `flags`.
pub const BPF_STRTOX_BASE_MASK: u64 = 0x1f;

/// The kernel's `isspace` (lib/ctype.c: `\t \n \v \f \r`, space, and Latin-1 NBSP 0xa0).
fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0xa0)
}

/// `__bpf_strtoull`: parses `buf` (not necessarily NUL-terminated) with the base in `flags`
/// (0 = auto, 8, 10, 16; other bits -EINVAL). Ok: (magnitude, negative, chars consumed);
/// Err: the negative errno (-EINVAL nothing parsed, -ERANGE overflow).
fn strtoull(buf: &[u8], flags: u64) -> Result<(u64, bool, usize), i64> {
    let einval = -i64::from(EINVAL);
    if buf.is_empty() {
        return Err(einval);
    }
    let mut base = (flags & BPF_STRTOX_BASE_MASK) as u32;
    if !matches!(base, 0 | 8 | 10 | 16) || flags & !BPF_STRTOX_BASE_MASK != 0 {
        return Err(einval);
    }
    let mut pos = buf.iter().take_while(|c| is_space(**c)).count();
    let negative = buf.get(pos) == Some(&b'-');
    if negative {
        pos += 1;
    }
    if pos == buf.len() {
        return Err(einval);
    }
    // The kernel copies at most 63 bytes into a NUL-terminated buffer.
    let rest = &buf[pos..];
    let mut s: Vec<u8> = rest[..rest.len().min(63)].to_vec();
    s.push(0);
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    // _parse_integer_fixup_radix
    let mut start = 0;
    if base == 0 {
        base = if at(0) == b'0' {
            if at(1).eq_ignore_ascii_case(&b'x') && at(2).is_ascii_hexdigit() {
                16
            } else {
                8
            }
        } else {
            10
        };
    }
    if base == 16 && at(0) == b'0' && at(1).eq_ignore_ascii_case(&b'x') {
        start = 2;
    }
    // _parse_integer
    let (mut res, mut n, mut overflow) = (0u64, 0usize, false);
    let base64 = u64::from(base);
    loop {
        let c = at(start + n);
        let val = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            _ if (b'a'..=b'f').contains(&c.to_ascii_lowercase()) => {
                u64::from(c.to_ascii_lowercase() - b'a' + 10)
            }
            _ => break,
        };
        if val >= base64 {
            break;
        }
        if res & (!0u64 << 60) != 0 && res > (u64::MAX - val) / base64 {
            overflow = true;
        }
        res = res.wrapping_mul(base64).wrapping_add(val);
        n += 1;
    }
    if overflow {
        return Err(-i64::from(ERANGE));
    }
    if n == 0 {
        return Err(einval);
    }
    Ok((res, negative, pos + start + n))
}

/// `bpf_strtol`: (return value, the `long` stored in `*res`). The return value is the number
/// of characters consumed, or -EINVAL / -ERANGE with `*res` = 0.
pub fn strtol(buf: &[u8], flags: u64) -> (i64, i64) {
    match strtoull(buf, flags) {
        Err(e) => (e, 0),
        Ok((mag, negative, consumed)) => {
            let value = if negative {
                // (long long)-_res > 0 -> -ERANGE
                let v = mag.wrapping_neg() as i64;
                if v > 0 {
                    return (-i64::from(ERANGE), 0);
                }
                v
            } else {
                if (mag as i64) < 0 {
                    return (-i64::from(ERANGE), 0);
                }
                mag as i64
            };
            (consumed as i64, value)
        }
    }
}

/// `bpf_strtoul`: (return value, the `unsigned long` stored in `*res`). A leading `-` is
/// -EINVAL.
pub fn strtoul(buf: &[u8], flags: u64) -> (i64, u64) {
    match strtoull(buf, flags) {
        Err(e) => (e, 0),
        Ok((_, true, _)) => (-i64::from(EINVAL), 0),
        Ok((mag, false, consumed)) => (consumed as i64, mag),
    }
}

/// lib/string.c `strncmp` over at most `count` bytes: -1, 0 or 1 (unsigned byte order).
/// `s1` and `s2` yield byte `i` on demand (only as far as the comparison goes); an error of
/// either ends it.
pub fn strncmp<E>(
    count: usize,
    mut s1: impl FnMut(usize) -> Result<u8, E>,
    mut s2: impl FnMut(usize) -> Result<u8, E>,
) -> Result<i64, E> {
    for i in 0..count {
        let c1 = s1(i)?;
        let c2 = s2(i)?;
        if c1 != c2 {
            return Ok(if c1 < c2 { -1 } else { 1 });
        }
        if c1 == 0 {
            break;
        }
    }
    Ok(0)
}
