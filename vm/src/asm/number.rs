//! Operand parsing for the assembler: registers `%r0`..`%r15`, 16/32/64-bit numbers with the
//! bpf_conformance rules, memory operands `[%rN+off]`, and jump targets (`+N`, `-N`, label).
//!
//! Numbers must be written completely (no trailing junk, unlike C's `stoll`). Decimal values
//! are signed and must fit the field's signed range; hex values (`0x`, read as unsigned) may
//! use the whole unsigned range of the field and are stored as those bits (`0xffffffff` = -1).
//! A `-` before a hex value negates it (`-0x10`), within the signed range.

use super::AsmErrorKind;

/// Why a number did not parse.
enum NumberError {
    /// Not a number at all.
    Invalid,
    /// A number, too large for the field.
    OutOfRange,
}

/// Sign, radix and digits of a number token.
struct Digits<'a> {
    negative: bool,
    hex: bool,
    digits: &'a str,
}

fn split_number(tok: &str) -> Result<Digits<'_>, NumberError> {
    let (negative, rest) = match tok.as_bytes().first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    let (hex, digits) = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        Some(d) => (true, d),
        None => (false, rest),
    };
    let valid = if hex {
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if !valid {
        return Err(NumberError::Invalid);
    }
    Ok(Digits {
        negative,
        hex,
        digits,
    })
}

fn magnitude(d: &Digits<'_>) -> Result<u64, NumberError> {
    u64::from_str_radix(d.digits, if d.hex { 16 } else { 10 }).map_err(|_| NumberError::OutOfRange)
}

/// A number for a signed field of `bits` bits (16 or 32), returned sign-extended.
fn parse_field(tok: &str, bits: u32) -> Result<i64, NumberError> {
    let d = split_number(tok)?;
    let mag = magnitude(&d)?;
    let min_magnitude = 1u64 << (bits - 1); // |signed minimum|
    if d.negative {
        if mag > min_magnitude {
            return Err(NumberError::OutOfRange);
        }
        return Ok(-(mag as i64));
    }
    if d.hex {
        if mag >= 1u64 << bits {
            return Err(NumberError::OutOfRange);
        }
        // Reinterpret the bits as a signed value of the field's width.
        let shift = 64 - bits;
        return Ok(((mag << shift) as i64) >> shift);
    }
    if mag >= min_magnitude {
        return Err(NumberError::OutOfRange);
    }
    Ok(mag as i64)
}

/// A 32-bit immediate.
pub(super) fn parse_imm32(tok: &str) -> Result<i32, AsmErrorKind> {
    match parse_field(tok, 32) {
        Ok(v) => Ok(v as i32),
        Err(NumberError::Invalid) => Err(AsmErrorKind::InvalidNumber(tok.to_string())),
        Err(NumberError::OutOfRange) => Err(AsmErrorKind::ImmOutOfRange(tok.to_string())),
    }
}

/// A 16-bit offset.
pub(super) fn parse_off16(tok: &str) -> Result<i16, AsmErrorKind> {
    match parse_field(tok, 16) {
        Ok(v) => Ok(v as i16),
        Err(NumberError::Invalid) => Err(AsmErrorKind::InvalidNumber(tok.to_string())),
        Err(NumberError::OutOfRange) => Err(AsmErrorKind::OffsetOutOfRange(tok.to_string())),
    }
}

/// The 64-bit immediate of `lddw`: hex is unsigned 64-bit, decimal is signed if it has a
/// `-` and unsigned 64-bit otherwise.
pub(super) fn parse_imm64(tok: &str) -> Result<u64, AsmErrorKind> {
    let d = split_number(tok).map_err(|_| AsmErrorKind::InvalidNumber(tok.to_string()))?;
    let out_of_range = || AsmErrorKind::Imm64OutOfRange(tok.to_string());
    let mag = magnitude(&d).map_err(|_| out_of_range())?;
    if d.negative {
        if mag > 1u64 << 63 {
            return Err(out_of_range());
        }
        return Ok(mag.wrapping_neg());
    }
    Ok(mag)
}

/// A register `%r0` .. `%r15` (`%r11`..`%r15` only make invalid encodings, for negative tests).
pub(super) fn parse_reg(tok: &str) -> Result<u8, AsmErrorKind> {
    let invalid = || AsmErrorKind::InvalidRegister(tok.to_string());
    let digits = tok.strip_prefix("%r").ok_or_else(invalid)?;
    let canonical = !digits.is_empty()
        && digits.len() <= 2
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() == 2 && digits.starts_with('0'));
    if !canonical {
        return Err(invalid());
    }
    match digits.parse::<u8>() {
        Ok(n) if n <= 15 => Ok(n),
        _ => Err(invalid()),
    }
}

/// Whether an operand is written as a register (starts with `%`).
pub(super) fn is_reg(tok: &str) -> bool {
    tok.starts_with('%')
}

/// A memory operand `[%rN+off]`, `[%rN-off]` or `[%rN]`, no spaces inside.
pub(super) fn parse_mem(tok: &str) -> Result<(u8, i16), AsmErrorKind> {
    let inner = tok
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| AsmErrorKind::InvalidMemoryOperand(tok.to_string()))?;
    match inner.find(['+', '-']) {
        None => Ok((parse_reg(inner)?, 0)),
        Some(at) => {
            let reg = parse_reg(&inner[..at])?;
            let off = parse_off16(&inner[at..])?;
            Ok((reg, off))
        }
    }
}

/// A jump target: a relative slot offset (`+N` / `-N`, `bits` wide) or a label name.
pub(super) enum Target {
    /// Relative offset, already range-checked.
    Rel(i32),
    /// Label to resolve after the whole text is read.
    Label(String),
}

/// Parses a jump target for a field of `bits` bits (16 or 32).
pub(super) fn parse_target(tok: &str, bits: u32) -> Result<Target, AsmErrorKind> {
    if !(tok.starts_with('+') || tok.starts_with('-')) {
        return Ok(Target::Label(tok.to_string()));
    }
    match parse_field(tok, bits) {
        Ok(v) => Ok(Target::Rel(v as i32)),
        Err(NumberError::Invalid) => Err(AsmErrorKind::InvalidNumber(tok.to_string())),
        Err(NumberError::OutOfRange) if bits == 16 => {
            Err(AsmErrorKind::OffsetOutOfRange(tok.to_string()))
        }
        Err(NumberError::OutOfRange) => Err(AsmErrorKind::ImmOutOfRange(tok.to_string())),
    }
}
