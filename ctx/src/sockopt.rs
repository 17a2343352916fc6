//! `bpf_setsockopt` / `bpf_getsockopt` from sock_ops on a `Socket`: the dispatch order of
//! SOCK_OPS.md §6.1 and every (level, optname) pair of §6.2 with the kernel's clamping,
//! doubling, jiffies rounding and error codes (`net/core/filter.c` `sol_*_sockopt`,
//! `sk_setsockopt`, `do_tcp_setsockopt`). Return values are the helper's r0: 0, a length, or
//! a negated errno.

use crate::errno::*;
use crate::ops::{SockOp, TcpState, cb_flags, sk_bpf_cb};
use crate::socket::{Family, Socket};

pub use crate::optnames::{OPTIONS, OptionValue, level, option_by_name, option_name, optname};

use level::*;
use optname::*;

/// `TCP_SKB_MIN_TRUESIZE` on x86_64 (2048 + aligned sizeof(sk_buff)).
const TCP_SKB_MIN_TRUESIZE: i32 = 2048 + 256;
/// `SOCK_MIN_SNDBUF`.
pub const SOCK_MIN_SNDBUF: i32 = 2 * TCP_SKB_MIN_TRUESIZE;
/// `SOCK_MIN_RCVBUF`.
pub const SOCK_MIN_RCVBUF: i32 = TCP_SKB_MIN_TRUESIZE;
const TCP_MIN_MSS: i32 = 88;
const MAX_TCP_WINDOW: i32 = 32767;
const MAX_TCP_KEEPIDLE: i32 = 32767;
const MAX_TCP_KEEPINTVL: i32 = 32767;
const MAX_TCP_KEEPCNT: i32 = 127;
const MAX_TCP_SYNCNT: i32 = 127;
const TCP_CA_NAME_MAX: usize = 16;
const IFNAMSIZ: usize = 16;

fn int_of(optval: &[u8]) -> i32 {
    let mut b = [0u8; 4];
    let n = optval.len().min(4);
    b[..n].copy_from_slice(&optval[..n]);
    i32::from_ne_bytes(b)
}

fn neg(errno: i32) -> i64 {
    -i64::from(errno)
}

/// `bpf_setsockopt(ctx, level, optname, optval, optlen)` as sock_ops sees it (`optval` holds
/// the `optlen` bytes the program passed). Returns 0 or a negated errno; on success the
/// socket's state changes and `options_set` records the value.
pub fn bpf_setsockopt(
    sock: &mut Socket,
    op: SockOp,
    level: i32,
    optname: i32,
    optval: &[u8],
) -> i64 {
    if !op.is_locked_op() {
        return neg(EOPNOTSUPP);
    }
    if !sock.is_fullsock() {
        return neg(EINVAL);
    }
    let result = match level {
        SOL_SOCKET => sol_socket_set(sock, optname, optval),
        SOL_IP => sol_ip_set(sock, optname, optval),
        SOL_IPV6 => sol_ipv6_set(sock, optname, optval),
        SOL_TCP => sol_tcp_set(sock, optname, optval),
        _ => Err(EINVAL),
    };
    match result {
        Ok(()) => {
            let value = match optname {
                SO_BINDTODEVICE if level == SOL_SOCKET => {
                    OptionValue::Str(c_string(optval, IFNAMSIZ - 1))
                }
                TCP_CONGESTION if level == SOL_TCP => {
                    OptionValue::Str(sock.options.congestion.clone())
                }
                _ => OptionValue::Int(i64::from(int_of(optval))),
            };
            sock.options_set.insert((level, optname), value);
            0
        }
        Err(e) => neg(e),
    }
}

/// `bpf_getsockopt(ctx, level, optname, optval, optlen)` as sock_ops sees it: `buf` is the
/// program's `optlen`-byte buffer. Returns 0, a header length (TCP_BPF_SYN*), or a negated
/// errno. The buffer is left untouched for -EOPNOTSUPP (TSTAMP ops), zeroed entirely on any
/// other error, and zeroed past the returned length on success.
pub fn bpf_getsockopt(sock: &Socket, op: SockOp, level: i32, optname: i32, buf: &mut [u8]) -> i64 {
    if !op.is_locked_op() {
        return neg(EOPNOTSUPP);
    }
    if level == SOL_TCP && (TCP_BPF_SYN..=TCP_BPF_SYN_MAC).contains(&optname) {
        return get_syn(sock, optname, buf);
    }
    let saved = buf.len();
    let result = if !sock.is_fullsock() {
        Err(EINVAL)
    } else {
        match level {
            SOL_SOCKET => sol_socket_get(sock, optname, buf),
            SOL_TCP => sol_tcp_get(sock, optname, buf),
            SOL_IP => sol_ip_get(sock, optname, buf),
            SOL_IPV6 => sol_ipv6_get(sock, optname, buf),
            _ => Err(EINVAL),
        }
    };
    let (ret, len) = match result {
        Ok(len) => (0, len.min(saved)),
        Err(e) => (neg(e), 0),
    };
    buf[len..].fill(0);
    ret
}

/// The value bpf_getsockopt would give for (level, optname) on `sock`, or for set-only
/// options the value a program set (None if neither applies).
pub fn current_value(sock: &Socket, level: i32, optname: i32) -> Option<OptionValue> {
    let string_opt = level == SOL_TCP && optname == TCP_CONGESTION;
    let mut buf = vec![0u8; if string_opt { TCP_CA_NAME_MAX + 1 } else { 4 }];
    let ret = bpf_getsockopt(sock, SockOp::TcpConnectCb, level, optname, &mut buf);
    if ret == 0 && !(level == SOL_TCP && optname == TCP_SAVED_SYN) {
        return Some(if string_opt {
            OptionValue::Str(c_string(&buf, buf.len()))
        } else {
            OptionValue::Int(i64::from(int_of(&buf)))
        });
    }
    sock.options_set.get(&(level, optname)).cloned()
}

/// Every option a program set on `sock`, by kernel name, valued as bpf_getsockopt returns
/// it now (set-only options: the value set).
pub fn options_report(sock: &Socket) -> Vec<(&'static str, OptionValue)> {
    sock.options_set
        .keys()
        .filter_map(|&(l, o)| Some((option_name(l, o)?, current_value(sock, l, o)?)))
        .collect()
}

fn c_string(bytes: &[u8], max: usize) -> String {
    let b = &bytes[..bytes.len().min(max)];
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn put_int(buf: &mut [u8], v: i32) -> Result<usize, i32> {
    let bytes = v.to_ne_bytes();
    let n = buf.len().min(4);
    buf[..n].copy_from_slice(&bytes[..n]);
    Ok(n)
}

// ---- SOL_SOCKET ----

fn sol_socket_check(optname: i32, optlen: usize) -> Result<(), i32> {
    match optname {
        SO_REUSEADDR | SO_SNDBUF | SO_RCVBUF | SO_KEEPALIVE | SO_PRIORITY | SO_REUSEPORT
        | SO_RCVLOWAT | SO_MARK | SO_MAX_PACING_RATE | SO_BINDTOIFINDEX | SO_TXREHASH
        | SK_BPF_CB_FLAGS => {
            if optlen != 4 {
                return Err(EINVAL);
            }
            Ok(())
        }
        SO_BINDTODEVICE => Ok(()),
        _ => Err(EINVAL),
    }
}

fn sol_socket_set(sock: &mut Socket, optname: i32, optval: &[u8]) -> Result<(), i32> {
    sol_socket_check(optname, optval.len())?;
    let o = &mut sock.options;
    if optname == SK_BPF_CB_FLAGS {
        let v = int_of(optval) as u32;
        if v & !sk_bpf_cb::MASK != 0 {
            return Err(EINVAL);
        }
        o.sk_bpf_cb_flags = v;
        return Ok(());
    }
    if optname == SO_BINDTODEVICE {
        let name = c_string(optval, IFNAMSIZ - 1);
        let index = if name.is_empty() {
            0
        } else {
            sock.sysctl
                .interfaces
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, i)| *i as i32)
                .ok_or(ENODEV)?
        };
        o.bound_dev_if = index;
        return Ok(());
    }
    let val = int_of(optval);
    let valbool = val != 0;
    match optname {
        SO_REUSEADDR => o.reuseaddr = u8::from(valbool),
        SO_KEEPALIVE => o.keepalive = valbool,
        SO_SNDBUF => {
            let v = (val as u32).min(sock.sysctl.wmem_max) as i32;
            let v = v.min(i32::MAX / 2);
            o.sndbuf_locked = true;
            o.sndbuf = (v * 2).max(SOCK_MIN_SNDBUF);
        }
        SO_RCVBUF => {
            let v = (val as u32).min(sock.sysctl.rmem_max) as i32;
            let v = v.min(i32::MAX / 2);
            o.rcvbuf_locked = true;
            o.rcvbuf = (v * 2).max(SOCK_MIN_RCVBUF);
        }
        SO_PRIORITY => o.priority = val as u32,
        SO_REUSEPORT => o.reuseport = valbool,
        SO_RCVLOWAT => {
            let v = if val < 0 { i32::MAX } else { val };
            let cap = if o.rcvbuf_locked {
                o.rcvbuf >> 1
            } else {
                (sock.sysctl.tcp_rmem[2] >> 1) as i32
            };
            let v = v.min(cap);
            o.rcvlowat = if v == 0 { 1 } else { v };
        }
        SO_MARK => o.mark = val as u32,
        SO_MAX_PACING_RATE => {
            o.max_pacing_rate = if val as u32 == u32::MAX {
                u64::MAX
            } else {
                u64::from(val as u32)
            }
        }
        SO_BINDTOIFINDEX => {
            if val < 0 {
                return Err(EINVAL);
            }
            o.bound_dev_if = val;
        }
        SO_TXREHASH => {
            if !(-1..=1).contains(&val) {
                return Err(EINVAL);
            }
            o.txrehash = if val as u8 == u8::MAX {
                sock.sysctl.txrehash
            } else {
                val as u8
            };
        }
        _ => return Err(EINVAL),
    }
    Ok(())
}

fn sol_socket_get(sock: &Socket, optname: i32, buf: &mut [u8]) -> Result<usize, i32> {
    sol_socket_check(optname, buf.len())?;
    let o = &sock.options;
    let v: i32 = match optname {
        SK_BPF_CB_FLAGS => o.sk_bpf_cb_flags as i32,
        SO_BINDTODEVICE => return Err(EINVAL),
        SO_REUSEADDR => o.reuseaddr.into(),
        SO_KEEPALIVE => o.keepalive.into(),
        SO_SNDBUF => o.sndbuf,
        SO_RCVBUF => o.rcvbuf,
        SO_PRIORITY => o.priority as i32,
        SO_REUSEPORT => o.reuseport.into(),
        SO_RCVLOWAT => o.rcvlowat,
        SO_MARK => o.mark as i32,
        SO_MAX_PACING_RATE => o.max_pacing_rate.min(u64::from(u32::MAX)) as u32 as i32,
        SO_BINDTOIFINDEX => o.bound_dev_if,
        SO_TXREHASH => o.txrehash.into(),
        _ => return Err(EINVAL),
    };
    put_int(buf, v)
}

// ---- SOL_TCP ----

enum TcpClass {
    Int,
    Congestion,
    SavedSyn,
    Bpf,
}

fn tcp_class(optname: i32) -> TcpClass {
    match optname {
        TCP_NODELAY
        | TCP_MAXSEG
        | TCP_KEEPIDLE
        | TCP_KEEPINTVL
        | TCP_KEEPCNT
        | TCP_SYNCNT
        | TCP_WINDOW_CLAMP
        | TCP_THIN_LINEAR_TIMEOUTS
        | TCP_USER_TIMEOUT
        | TCP_NOTSENT_LOWAT
        | TCP_SAVE_SYN
        | TCP_RTO_MAX_MS => TcpClass::Int,
        TCP_CONGESTION => TcpClass::Congestion,
        TCP_SAVED_SYN => TcpClass::SavedSyn,
        _ => TcpClass::Bpf,
    }
}

fn sol_tcp_set(sock: &mut Socket, optname: i32, optval: &[u8]) -> Result<(), i32> {
    let hz = u64::from(sock.sysctl.hz.max(1));
    let j = sock.sysctl.jiffies();
    match tcp_class(optname) {
        TcpClass::Congestion => return set_congestion(sock, optval),
        TcpClass::SavedSyn => {
            if optval.is_empty() {
                return Err(EINVAL);
            }
            // do_tcp_setsockopt: optlen < sizeof(int) -> EINVAL; then unknown -> ENOPROTOOPT.
            return Err(if optval.len() < 4 {
                EINVAL
            } else {
                ENOPROTOOPT
            });
        }
        TcpClass::Bpf => return bpf_sol_tcp_set(sock, optname, optval),
        TcpClass::Int => {
            if optval.len() != 4 {
                return Err(EINVAL);
            }
        }
    }
    let val = int_of(optval);
    let state = sock.state;
    let o = &mut sock.options;
    match optname {
        TCP_NODELAY => o.nodelay = val != 0,
        TCP_MAXSEG => {
            if val != 0 && !(TCP_MIN_MSS..=MAX_TCP_WINDOW).contains(&val) {
                return Err(EINVAL);
            }
            o.user_mss = val as u32;
        }
        TCP_KEEPIDLE => {
            if !(1..=MAX_TCP_KEEPIDLE).contains(&val) {
                return Err(EINVAL);
            }
            o.keepalive_time = val as u64 * hz;
        }
        TCP_KEEPINTVL => {
            if !(1..=MAX_TCP_KEEPINTVL).contains(&val) {
                return Err(EINVAL);
            }
            o.keepalive_intvl = val as u64 * hz;
        }
        TCP_KEEPCNT => {
            if !(1..=MAX_TCP_KEEPCNT).contains(&val) {
                return Err(EINVAL);
            }
            o.keepalive_probes = val as u8;
        }
        TCP_SYNCNT => {
            if !(1..=MAX_TCP_SYNCNT).contains(&val) {
                return Err(EINVAL);
            }
            o.syn_retries = val as u8;
        }
        TCP_WINDOW_CLAMP => {
            if val == 0 {
                if state != TcpState::Close {
                    return Err(EINVAL);
                }
                o.window_clamp = 0;
            } else {
                o.window_clamp = val.max(SOCK_MIN_RCVBUF / 2) as u32;
            }
        }
        TCP_THIN_LINEAR_TIMEOUTS => {
            if !(0..=1).contains(&val) {
                return Err(EINVAL);
            }
            o.thin_lto = val == 1;
        }
        TCP_USER_TIMEOUT => {
            if val < 0 {
                return Err(EINVAL);
            }
            o.user_timeout = val as u32;
        }
        TCP_NOTSENT_LOWAT => o.notsent_lowat = val as u32,
        TCP_SAVE_SYN => {
            if !(0..=2).contains(&val) {
                return Err(EINVAL);
            }
            o.save_syn = val as u8;
        }
        TCP_RTO_MAX_MS => {
            if !(1000..=120_000).contains(&val) {
                return Err(EINVAL);
            }
            o.rto_max = j.from_msecs(val as u32);
        }
        _ => return Err(EINVAL),
    }
    Ok(())
}

fn set_congestion(sock: &mut Socket, optval: &[u8]) -> Result<(), i32> {
    if optval.len() < 2 {
        return Err(EINVAL);
    }
    // strncmp("cdg", optval, optlen) == 0 with optlen >= 3.
    let cdg = b"cdg\0";
    let n = optval.len();
    if n >= 3 {
        let mut equal = true;
        for (i, &c) in optval.iter().enumerate().take(n) {
            let expect = cdg.get(i).copied().unwrap_or(0);
            if c != expect {
                equal = false;
                break;
            }
            if c == 0 {
                break;
            }
        }
        if equal {
            return Err(ENOTSUPP);
        }
    }
    let name = c_string(optval, TCP_CA_NAME_MAX - 1);
    if name == sock.options.congestion {
        return Ok(());
    }
    if !sock.sysctl.available_congestion_control.contains(&name) {
        return Err(ENOENT);
    }
    sock.options.congestion = name;
    Ok(())
}

fn bpf_sol_tcp_set(sock: &mut Socket, optname: i32, optval: &[u8]) -> Result<(), i32> {
    if optval.len() != 4 {
        return Err(EINVAL);
    }
    let val = int_of(optval);
    let j = sock.sysctl.jiffies();
    match optname {
        TCP_BPF_IW => {
            if val <= 0 || sock.tcp.data_segs_out > u32::from(sock.syn_data) {
                return Err(EINVAL);
            }
            sock.tcp.snd_cwnd = val as u32;
        }
        TCP_BPF_SNDCWND_CLAMP => {
            if val <= 0 {
                return Err(EINVAL);
            }
            sock.options.snd_cwnd_clamp = val as u32;
            sock.tcp.snd_ssthresh = val as u32;
        }
        TCP_BPF_DELACK_MAX => {
            let t = j.from_usecs(val as u32);
            if t > j.tcp_delack_max() || t < j.tcp_timeout_min() {
                return Err(EINVAL);
            }
            sock.options.delack_max = t;
        }
        TCP_BPF_RTO_MIN => {
            let t = j.from_usecs(val as u32);
            if t > j.tcp_rto_min() || t < j.tcp_timeout_min() {
                return Err(EINVAL);
            }
            sock.options.rto_min = t;
        }
        TCP_BPF_SOCK_OPS_CB_FLAGS => {
            if val as u32 & !cb_flags::ALL != 0 {
                return Err(EINVAL);
            }
            sock.cb_flags = val as u32;
        }
        _ => return Err(EINVAL),
    }
    Ok(())
}

fn sol_tcp_get(sock: &Socket, optname: i32, buf: &mut [u8]) -> Result<usize, i32> {
    let o = &sock.options;
    let s = &sock.sysctl;
    let hz = u64::from(s.hz.max(1));
    let j = s.jiffies();
    match tcp_class(optname) {
        TcpClass::Congestion => {
            if buf.len() < 2 {
                return Err(EINVAL);
            }
            let len = (buf.len() - 1).min(TCP_CA_NAME_MAX);
            let mut name = [0u8; TCP_CA_NAME_MAX];
            let src = o.congestion.as_bytes();
            let n = src.len().min(TCP_CA_NAME_MAX - 1);
            name[..n].copy_from_slice(&src[..n]);
            buf[..len].copy_from_slice(&name[..len]);
            return Ok(len);
        }
        TcpClass::SavedSyn => {
            if buf.is_empty() {
                return Err(EINVAL);
            }
            let syn = sock.saved_syn.as_ref().ok_or(EINVAL)?;
            if buf.len() > syn.len() || buf.len() > syn.data.len() {
                return Err(EINVAL);
            }
            let n = buf.len();
            buf.copy_from_slice(&syn.data[..n]);
            return Ok(n);
        }
        TcpClass::Bpf => {
            if buf.len() != 4 {
                return Err(EINVAL);
            }
            let v = match optname {
                TCP_BPF_SOCK_OPS_CB_FLAGS => sock.cb_flags as i32,
                TCP_BPF_RTO_MIN => j.to_usecs(o.rto_min) as i32,
                TCP_BPF_DELACK_MAX => j.to_usecs(o.delack_max) as i32,
                _ => return Err(EINVAL),
            };
            return put_int(buf, v);
        }
        TcpClass::Int => {
            if buf.len() != 4 {
                return Err(EINVAL);
            }
        }
    }
    let or_default = |v: u64, d: u64| if v != 0 { v } else { d };
    let v: i64 = match optname {
        TCP_NODELAY => o.nodelay.into(),
        TCP_MAXSEG => {
            if o.user_mss != 0 && matches!(sock.state, TcpState::Close | TcpState::Listen) {
                o.user_mss.into()
            } else {
                sock.tcp.mss_cache.into()
            }
        }
        TCP_KEEPIDLE => {
            (or_default(o.keepalive_time, u64::from(s.tcp_keepalive_time) * hz) / hz) as i64
        }
        TCP_KEEPINTVL => {
            (or_default(o.keepalive_intvl, u64::from(s.tcp_keepalive_intvl) * hz) / hz) as i64
        }
        TCP_KEEPCNT => or_default(o.keepalive_probes.into(), s.tcp_keepalive_probes.into()) as i64,
        TCP_SYNCNT => or_default(o.syn_retries.into(), s.tcp_syn_retries.into()) as i64,
        TCP_WINDOW_CLAMP => o.window_clamp.into(),
        TCP_THIN_LINEAR_TIMEOUTS => o.thin_lto.into(),
        TCP_USER_TIMEOUT => o.user_timeout.into(),
        TCP_NOTSENT_LOWAT => o.notsent_lowat.into(),
        TCP_SAVE_SYN => o.save_syn.into(),
        TCP_RTO_MAX_MS => j.to_msecs(o.rto_max).into(),
        _ => return Err(EINVAL),
    };
    put_int(buf, v as i32)
}

/// getsockopt(SOL_TCP, TCP_BPF_SYN / _IP / _MAC): the SYN header path (§6.4).
fn get_syn(sock: &Socket, optname: i32, buf: &mut [u8]) -> i64 {
    let optlen = buf.len();
    let mut copied = 0;
    let ret = match syn_header(sock, optname) {
        Err(e) => neg(e),
        Ok(hdr) => {
            let mut ret = hdr.len() as i64;
            copied = hdr.len();
            if optlen < copied {
                copied = optlen;
                ret = neg(ENOSPC);
            }
            buf[..copied].copy_from_slice(&hdr[..copied]);
            ret
        }
    };
    buf[copied..].fill(0);
    ret
}

/// The bytes TCP_BPF_SYN* (and `bpf_load_hdr_opt` with BPF_LOAD_HDR_OPT_TCP_SYN) see.
pub fn syn_header(sock: &Socket, optname: i32) -> Result<&[u8], i32> {
    let syn = sock.saved_syn.as_ref().ok_or(ENOENT)?;
    let (start, len) = match optname {
        TCP_BPF_SYN => (syn.mac_hdrlen + syn.network_hdrlen, syn.tcp_hdrlen),
        TCP_BPF_SYN_IP => (syn.mac_hdrlen, syn.network_hdrlen + syn.tcp_hdrlen),
        _ => {
            if syn.mac_hdrlen == 0 {
                return Err(ENOENT);
            }
            (0, syn.len())
        }
    };
    syn.data.get(start..start + len).ok_or(EINVAL)
}

// ---- SOL_IP / SOL_IPV6 ----

fn ip_level_ok(sock: &Socket) -> bool {
    // Live 6.18.44: AF_INET, and AF_INET6 sockets that are not v6-only.
    match sock.family {
        Family::Inet => true,
        Family::Inet6 => !sock.v6only,
    }
}

fn sol_ip_set(sock: &mut Socket, optname: i32, optval: &[u8]) -> Result<(), i32> {
    if !ip_level_ok(sock) || optname != IP_TOS || optval.len() != 4 {
        return Err(EINVAL);
    }
    let val = int_of(optval);
    let old = sock.options.tos;
    // __ip_sock_set_tos: stream sockets keep their ECN bits; a change also sets sk_priority.
    let tos = ((val & !3) as u8) | (old & 3);
    if tos != old {
        sock.options.tos = tos;
        sock.options.priority = rt_tos2priority(tos);
    }
    Ok(())
}

/// `rt_tos2priority`: `ip_tos2prio[IPTOS_TOS(tos) >> 1]` (TC_PRIO_BESTEFFORT 0, BULK 2,
/// INTERACTIVE_BULK 4, INTERACTIVE 6).
fn rt_tos2priority(tos: u8) -> u32 {
    const IP_TOS2PRIO: [u32; 16] = [0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];
    IP_TOS2PRIO[usize::from((tos & 0x1e) >> 1)]
}

fn sol_ip_get(sock: &Socket, optname: i32, buf: &mut [u8]) -> Result<usize, i32> {
    if !ip_level_ok(sock) || optname != IP_TOS || buf.len() != 4 {
        return Err(EINVAL);
    }
    put_int(buf, sock.options.tos.into())
}

fn sol_ipv6_check(sock: &Socket, optname: i32, optlen: usize) -> Result<(), i32> {
    if sock.family != Family::Inet6
        || !matches!(optname, IPV6_TCLASS | IPV6_AUTOFLOWLABEL)
        || optlen != 4
    {
        return Err(EINVAL);
    }
    Ok(())
}

fn sol_ipv6_set(sock: &mut Socket, optname: i32, optval: &[u8]) -> Result<(), i32> {
    sol_ipv6_check(sock, optname, optval.len())?;
    let val = int_of(optval);
    if optname == IPV6_TCLASS {
        if !(-1..=255).contains(&val) {
            return Err(EINVAL);
        }
        let v = if val == -1 { 0 } else { val as u8 };
        let old = sock.options.tclass;
        sock.options.tclass = (v & !3) | (old & 3);
    } else {
        sock.options.autoflowlabel = Some(val != 0);
    }
    Ok(())
}

fn sol_ipv6_get(sock: &Socket, optname: i32, buf: &mut [u8]) -> Result<usize, i32> {
    sol_ipv6_check(sock, optname, buf.len())?;
    let v = if optname == IPV6_TCLASS {
        i32::from(sock.options.tclass)
    } else {
        let default = matches!(sock.sysctl.ipv6_auto_flowlabels, 1 | 3);
        i32::from(sock.options.autoflowlabel.unwrap_or(default))
    };
    put_int(buf, v)
}
