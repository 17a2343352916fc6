//! `bpf_trace_printk` formatting with the kernel's rules (`bpf_bprintf_prepare`): the format
//! must be NUL-terminated within its size, printable ASCII, at most 3 conversions among
//! `%d %i %u %x %X` (with `l`/`ll`), `%c`, `%s`, `%p`/`%px`/`%pK`, `%pI4 %pi4 %pI6 %pi6`, and
//! `%%`, with optional `[0 +-]` flags and a width.

/// The format is not one the kernel accepts (the helper returns -EINVAL).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad bpf_trace_printk format: {0}")]
pub struct PrintkError(pub String);

struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
}

fn pad(spec: &Spec, body: String, numeric: bool) -> String {
    if body.len() >= spec.width {
        return body;
    }
    let fill = spec.width - body.len();
    if spec.left {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, digits) = match body.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
            _ => (String::new(), body),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

/// Formats `fmt` (the program's `fmt_size` bytes) with `args` (r3..r5). `read(addr, len)`
/// reads guest memory for `%s` and `%pI4`-style conversions (None on a fault; `%s` then
/// prints nothing, as the kernel's nofault copy does).
pub fn format(
    fmt: &[u8],
    args: &[u64],
    read: &dyn Fn(u64, usize) -> Option<Vec<u8>>,
) -> Result<String, PrintkError> {
    let end = fmt
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| PrintkError("format is not NUL-terminated within fmt_size".into()))?;
    let fmt = &fmt[..end];
    let mut out = String::new();
    let mut next_arg = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        if !(c.is_ascii_graphic() || c.is_ascii_whitespace() || c == b' ') {
            return Err(PrintkError(format!("non-printable byte {c:#x} in format")));
        }
        if c != b'%' {
            out.push(c as char);
            i += 1;
            continue;
        }
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            out.push('%');
            i += 1;
            continue;
        }
        if next_arg >= args.len() {
            return Err(PrintkError(
                "more conversions than arguments (max 3)".into(),
            ));
        }
        let arg = args[next_arg];
        next_arg += 1;
        let mut spec = Spec {
            left: false,
            zero: false,
            plus: false,
            space: false,
            width: 0,
        };
        while let Some(&f) = fmt.get(i) {
            match f {
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b'-' => spec.left = true,
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        if matches!(fmt.get(i), Some(b'1'..=b'9')) {
            while let Some(&d @ b'0'..=b'9') = fmt.get(i) {
                spec.width = spec
                    .width
                    .saturating_mul(10)
                    .saturating_add(usize::from(d - b'0'));
                i += 1;
            }
        }
        match fmt.get(i) {
            Some(b'p') => {
                i += 1;
                let body = match (fmt.get(i), fmt.get(i + 1)) {
                    (Some(b'I' | b'i'), Some(b'4')) => {
                        let upper = fmt[i] == b'I';
                        i += 2;
                        let b = read(arg, 4).unwrap_or_else(|| vec![0; 4]);
                        if upper {
                            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
                        } else {
                            format!("{:03}.{:03}.{:03}.{:03}", b[0], b[1], b[2], b[3])
                        }
                    }
                    (Some(b'I' | b'i'), Some(b'6')) => {
                        let upper = fmt[i] == b'I';
                        i += 2;
                        let b = read(arg, 16).unwrap_or_else(|| vec![0; 16]);
                        let words: Vec<String> = b
                            .chunks(2)
                            .map(|w| format!("{:02x}{:02x}", w[0], w[1]))
                            .collect();
                        if upper {
                            words.join(":")
                        } else {
                            words.concat()
                        }
                    }
                    (Some(b'x' | b'K'), _) => {
                        i += 1;
                        format!("{arg:016x}")
                    }
                    _ => format!("{arg:016x}"),
                };
                out.push_str(&pad(&spec, body, false));
            }
            Some(b's') => {
                i += 1;
                let mut s = Vec::new();
                let mut addr = arg;
                while s.len() < 512 {
                    match read(addr, 1) {
                        Some(b) if b[0] != 0 => s.push(b[0]),
                        _ => break,
                    }
                    addr = addr.wrapping_add(1);
                }
                out.push_str(&pad(&spec, String::from_utf8_lossy(&s).into_owned(), false));
            }
            Some(b'c') => {
                i += 1;
                out.push_str(&pad(&spec, ((arg as u8) as char).to_string(), false));
            }
            _ => {
                let mut longs = 0;
                while fmt.get(i) == Some(&b'l') && longs < 2 {
                    longs += 1;
                    i += 1;
                }
                let conv = *fmt
                    .get(i)
                    .ok_or_else(|| PrintkError("format ends inside a conversion".into()))?;
                i += 1;
                let wide = longs > 0;
                let body = match conv {
                    b'd' | b'i' => {
                        let v = if wide {
                            arg as i64
                        } else {
                            i64::from(arg as i32)
                        };
                        let sign = if v < 0 {
                            "-"
                        } else if spec.plus {
                            "+"
                        } else if spec.space {
                            " "
                        } else {
                            ""
                        };
                        format!("{sign}{}", v.unsigned_abs())
                    }
                    b'u' => {
                        if wide {
                            arg.to_string()
                        } else {
                            (arg as u32).to_string()
                        }
                    }
                    b'x' => {
                        if wide {
                            format!("{arg:x}")
                        } else {
                            format!("{:x}", arg as u32)
                        }
                    }
                    b'X' => {
                        if wide {
                            format!("{arg:X}")
                        } else {
                            format!("{:X}", arg as u32)
                        }
                    }
                    other => {
                        return Err(PrintkError(format!(
                            "unsupported conversion %{}",
                            other as char
                        )));
                    }
                };
                out.push_str(&pad(&spec, body, true));
            }
        }
    }
    Ok(out)
}
