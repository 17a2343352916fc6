//! TCP header options for the header-option ops (SOCK_OPS.md §4.4, §5.2): the kernel's
//! option search (`bpf_search_tcp_opt`) and the rules of `bpf_load_hdr_opt`,
//! `bpf_store_hdr_opt` and `bpf_reserve_hdr_opt`, on an `OpContext`'s synthetic header.

use crate::context::OpContext;
use crate::errno::*;
use crate::ops::SockOp;
use crate::socket::Socket;
use crate::sockopt::{optname::TCP_BPF_SYN, syn_header};

/// TCPOPT_EOL.
pub const TCPOPT_EOL: u8 = 0;
/// TCPOPT_NOP.
pub const TCPOPT_NOP: u8 = 1;
/// TCPOPT_EXP (RFC 6994 experimental, 254); 253 is the other experimental kind.
pub const TCPOPT_EXP: u8 = 254;
/// `BPF_LOAD_HDR_OPT_TCP_SYN`: search the saved SYN instead of the current skb.
pub const BPF_LOAD_HDR_OPT_TCP_SYN: u64 = 1;
/// Size of the base TCP header.
const TCPHDR_LEN: usize = 20;

/// Why a search found nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchMiss {
    /// Positive errno: ENOMSG (not found) or EFAULT (malformed options).
    pub errno: i32,
    /// The options ended with EOL before the end.
    pub eol: bool,
}

/// `bpf_search_tcp_opt`: finds option `kind` (with `magic` after kind and length for the
/// experimental kinds) in `opts`, returning its offset.
pub fn search_tcp_opt(opts: &[u8], kind: u8, magic: &[u8]) -> Result<usize, SearchMiss> {
    let miss = |errno, eol| SearchMiss { errno, eol };
    let mut i = 0;
    while i < opts.len() {
        let k = opts[i];
        if k == TCPOPT_EOL {
            return Err(miss(ENOMSG, true));
        }
        if k == TCPOPT_NOP {
            i += 1;
            continue;
        }
        let left = opts.len() - i;
        if left < 2 || left < opts[i + 1] as usize || opts[i + 1] < 2 {
            return Err(miss(EFAULT, false));
        }
        let klen = opts[i + 1] as usize;
        if k == kind {
            if magic.is_empty() {
                return Ok(i);
            }
            if magic.len() > klen - 2 {
                return Err(miss(ENOMSG, false));
            }
            if opts[i + 2..i + 2 + magic.len()] == *magic {
                return Ok(i);
            }
        }
        i += klen;
    }
    Err(miss(ENOMSG, false))
}

fn options_of(header: &[u8]) -> &[u8] {
    header.get(TCPHDR_LEN..).unwrap_or(&[])
}

/// `bpf_load_hdr_opt(ctx, buf, len, flags)`: `buf` is the program's `len`-byte buffer
/// (kind and search length in `buf[0..2]`, magic after). Copies the found option into `buf`
/// and returns its length, or a negated errno.
pub fn load_hdr_opt(ctx: &OpContext, socket: &Socket, buf: &mut [u8], flags: u64) -> i64 {
    let op = ctx.op();
    if !op.is_locked_op() {
        return -i64::from(EOPNOTSUPP);
    }
    let len = buf.len();
    if len < 2 || flags & !BPF_LOAD_HDR_OPT_TCP_SYN != 0 {
        return -i64::from(EINVAL);
    }
    let (kind, search_len) = (buf[0], buf[1] as usize);
    if search_len > len || kind == TCPOPT_NOP || kind == TCPOPT_EOL {
        return -i64::from(EINVAL);
    }
    let magic: Vec<u8> = if kind == TCPOPT_EXP || kind == 253 {
        if search_len != 4 && search_len != 6 {
            return -i64::from(EINVAL);
        }
        buf[2..search_len].to_vec()
    } else {
        if search_len != 0 {
            return -i64::from(EINVAL);
        }
        Vec::new()
    };
    let header: Vec<u8> = if flags & BPF_LOAD_HDR_OPT_TCP_SYN != 0 {
        match syn_header(socket, TCP_BPF_SYN) {
            Ok(h) => h.to_vec(),
            Err(e) => return -i64::from(e),
        }
    } else {
        if !ctx.has_skb() || op == SockOp::HdrOptLenCb {
            return -i64::from(EPERM);
        }
        ctx.packet_view()
    };
    let opts = options_of(&header);
    let at = match search_tcp_opt(opts, kind, &magic) {
        Ok(at) => at,
        Err(m) => return -i64::from(m.errno),
    };
    let opt_len = opts[at + 1] as usize;
    let (ret, copy) = if opt_len > len {
        (-i64::from(ENOSPC), len)
    } else {
        (opt_len as i64, opt_len)
    };
    buf[..copy].copy_from_slice(&opts[at..at + copy]);
    ret
}

/// `bpf_store_hdr_opt(ctx, from, len, flags)`: appends the option in `from` to the
/// reserved space of a WRITE_HDR_OPT_CB. Returns 0 or a negated errno.
pub fn store_hdr_opt(ctx: &mut OpContext, from: &[u8], flags: u64) -> i64 {
    if ctx.op() != SockOp::WriteHdrOptCb {
        return -i64::from(EPERM);
    }
    let len = from.len();
    if len < 2 || flags != 0 {
        return -i64::from(EINVAL);
    }
    let (kind, kind_len) = (from[0], from[1] as usize);
    if kind_len > len || kind == TCPOPT_NOP || kind == TCPOPT_EOL {
        return -i64::from(EINVAL);
    }
    if kind_len > ctx.remaining_opt_len() as usize {
        return -i64::from(ENOSPC);
    }
    let magic: &[u8] = if kind == TCPOPT_EXP || kind == 253 {
        if kind_len < 4 {
            return -i64::from(EINVAL);
        }
        &from[2..4]
    } else {
        &[]
    };
    let header = ctx.packet_view();
    match search_tcp_opt(options_of(&header), kind, magic) {
        Ok(_) => return -i64::from(EEXIST),
        Err(m) if m.errno != ENOMSG => return -i64::from(m.errno),
        Err(m) if m.eol => return -i64::from(ENOSPC),
        Err(_) => {}
    }
    ctx.append_option(&from[..kind_len]);
    0
}

/// `bpf_reserve_hdr_opt(ctx, len, flags)`: takes `len` bytes of option space in
/// HDR_OPT_LEN_CB. Returns 0 or a negated errno.
pub fn reserve_hdr_opt(ctx: &mut OpContext, len: u32, flags: u64) -> i64 {
    if ctx.op() != SockOp::HdrOptLenCb {
        return -i64::from(EPERM);
    }
    if flags != 0 || len < 2 {
        return -i64::from(EINVAL);
    }
    if len > ctx.remaining_opt_len() {
        return -i64::from(ENOSPC);
    }
    ctx.take_opt_space(len);
    0
}
