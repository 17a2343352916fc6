//! The kernel's own `struct tcp_sock` as `bpf_skc_to_tcp_sock` hands it to a program (and
//! `struct tcp6_sock`, which begins with it, as `bpf_skc_to_tcp6_sock` does): an image of
//! [`image_len`] bytes laid out as the recorded vmlinux BTF says, with the socket's values
//! at their kernel offsets (`sock_common` addresses and ports, `struct sock` options,
//! `inet_sock`, `inet_connection_sock` and the tcp_sock metrics; for an IPv6 socket,
//! `tcp6_sock.inet6.saddr` and `tclass`). Pointer members a verified program may follow
//! point to blank structs of their type (`vmlinux::blank`); the other members this runtime
//! does not model (locks, queues, timers, other pointers) are zero.

use crate::socket::Socket;
use crate::vmlinux::{self, FieldPlace, recorded::TCP_SOCK_SIZE};

/// How one field's value is read from the socket.
type Getter = fn(&Socket) -> u64;

/// A port in network byte order, as the kernel keeps `skc_dport` and `inet_sport`.
fn be16(p: u16) -> u64 {
    u64::from(u16::from_ne_bytes(p.to_be_bytes()))
}

/// A `tcp_sock` metric by its `Socket::field` name (0 if it has none).
fn metric(s: &Socket, name: &str) -> u64 {
    s.field(name).unwrap_or(0)
}

/// Every field the image carries: its path in `struct tcp_sock` and how its value is read
/// (the low bytes of the value are stored, in host order, as the kernel keeps them;
/// network-order fields are given already swapped).
const FIELDS: &[(&str, Getter)] = &[
    // struct sock_common
    ("inet_conn.icsk_inet.sk.__sk_common.skc_daddr", |s| {
        Socket::ip4_field(&s.remote).into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_rcv_saddr", |s| {
        Socket::ip4_field(&s.local).into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_dport", |s| {
        be16(s.remote.port())
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_num", |s| {
        s.local.port().into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_family", |s| {
        s.family.number().into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_state", |s| {
        s.state.number().into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_reuse", |s| {
        s.options.reuseaddr.into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_reuseport", |s| {
        s.options.reuseport.into()
    }),
    ("inet_conn.icsk_inet.sk.__sk_common.skc_bound_dev_if", |s| {
        (s.options.bound_dev_if as u32).into()
    }),
    (
        "inet_conn.icsk_inet.sk.__sk_common.skc_cookie.counter",
        |s| s.cookie,
    ),
    // struct sock
    ("inet_conn.icsk_inet.sk.sk_protocol", |_| 6),
    ("inet_conn.icsk_inet.sk.sk_type", |_| 1),
    ("inet_conn.icsk_inet.sk.sk_userlocks", |s| {
        u64::from(s.options.sndbuf_locked) | u64::from(s.options.rcvbuf_locked) << 1
    }),
    ("inet_conn.icsk_inet.sk.sk_rcvbuf", |s| {
        (s.options.rcvbuf as u32).into()
    }),
    ("inet_conn.icsk_inet.sk.sk_sndbuf", |s| {
        (s.options.sndbuf as u32).into()
    }),
    ("inet_conn.icsk_inet.sk.sk_rcvlowat", |s| {
        (s.options.rcvlowat as u32).into()
    }),
    ("inet_conn.icsk_inet.sk.sk_max_pacing_rate", |s| {
        s.options.max_pacing_rate
    }),
    ("inet_conn.icsk_inet.sk.sk_priority", |s| {
        s.options.priority.into()
    }),
    ("inet_conn.icsk_inet.sk.sk_mark", |s| s.options.mark.into()),
    ("inet_conn.icsk_inet.sk.sk_txhash", |s| {
        s.tcp.sk_txhash.into()
    }),
    // struct inet_sock
    ("inet_conn.icsk_inet.inet_saddr", |s| {
        Socket::ip4_field(&s.local).into()
    }),
    ("inet_conn.icsk_inet.inet_sport", |s| be16(s.local.port())),
    ("inet_conn.icsk_inet.tos", |s| s.options.tos.into()),
    // struct inet_connection_sock
    ("inet_conn.icsk_retransmits", |s| {
        s.tcp.icsk_retransmits.into()
    }),
    ("inet_conn.icsk_syn_retries", |s| {
        s.options.syn_retries.into()
    }),
    ("inet_conn.icsk_user_timeout", |s| {
        s.options.user_timeout.into()
    }),
    // struct tcp_sock
    ("rx_opt.user_mss", |s| s.options.user_mss.into()),
    ("nonagle", |s| u64::from(s.options.nodelay)),
    ("thin_lto", |s| u64::from(s.options.thin_lto)),
    ("save_syn", |s| s.options.save_syn.into()),
    ("syn_data", |s| u64::from(s.syn_data)),
    ("is_mptcp", |_| 0),
    ("window_clamp", |s| s.options.window_clamp.into()),
    ("snd_cwnd_clamp", |s| s.options.snd_cwnd_clamp.into()),
    ("notsent_lowat", |s| s.options.notsent_lowat.into()),
    ("keepalive_time", |s| s.options.keepalive_time),
    ("keepalive_intvl", |s| s.options.keepalive_intvl),
    ("keepalive_probes", |s| s.options.keepalive_probes.into()),
    ("snd_cwnd", |s| metric(s, "snd_cwnd")),
    ("srtt_us", |s| metric(s, "srtt_us")),
    ("snd_ssthresh", |s| metric(s, "snd_ssthresh")),
    ("rcv_nxt", |s| metric(s, "rcv_nxt")),
    ("snd_nxt", |s| metric(s, "snd_nxt")),
    ("snd_una", |s| metric(s, "snd_una")),
    ("mss_cache", |s| metric(s, "mss_cache")),
    ("ecn_flags", |s| metric(s, "ecn_flags")),
    ("rate_delivered", |s| metric(s, "rate_delivered")),
    ("rate_interval_us", |s| metric(s, "rate_interval_us")),
    ("packets_out", |s| metric(s, "packets_out")),
    ("retrans_out", |s| metric(s, "retrans_out")),
    ("total_retrans", |s| metric(s, "total_retrans")),
    ("segs_in", |s| metric(s, "segs_in")),
    ("data_segs_in", |s| metric(s, "data_segs_in")),
    ("segs_out", |s| metric(s, "segs_out")),
    ("data_segs_out", |s| metric(s, "data_segs_out")),
    ("lost_out", |s| metric(s, "lost_out")),
    ("sacked_out", |s| metric(s, "sacked_out")),
    ("bytes_received", |s| metric(s, "bytes_received")),
    ("bytes_acked", |s| metric(s, "bytes_acked")),
    ("dsack_dups", |s| metric(s, "dsack_dups")),
    ("delivered", |s| metric(s, "delivered")),
    ("delivered_ce", |s| metric(s, "delivered_ce")),
];

/// Every field the image carries: its path in `struct tcp_sock` and its value in `s`.
pub fn fields(s: &Socket) -> Vec<(String, u64)> {
    FIELDS
        .iter()
        .map(|(path, get)| ((*path).to_string(), get(s)))
        .collect()
}

/// Where each field of `FIELDS` lies, the IPv6 addresses and the current minimum RTT:
/// looked up in the recorded layout once, not at every image (a program that called
/// `bpf_skc_to_tcp_sock` has its image rewritten after each helper call).
struct Layout {
    fields: Vec<(FieldPlace, Getter)>,
    v6_daddr: Option<FieldPlace>,
    v6_saddr: Option<FieldPlace>,
    rtt_min: Option<FieldPlace>,
}

fn layout() -> &'static Layout {
    static LAYOUT: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();
    LAYOUT.get_or_init(|| {
        let (v6_daddr, v6_saddr) = v6_places();
        // rtt_min is a `struct minmax` of three samples {t, v}: the current minimum is s[0].v.
        let rtt_min = vmlinux::field("tcp_sock", "rtt_min").map(|p| {
            let v_off = vmlinux::kstruct_index("minmax_sample")
                .and_then(vmlinux::kstruct)
                .and_then(|m| m.members.iter().find(|f| f.name == "v"))
                .map_or(4, |f| f.bit_offset / 8);
            FieldPlace {
                offset: p.offset + v_off,
                size: 4,
                bits: None,
            }
        });
        Layout {
            fields: FIELDS
                .iter()
                .filter_map(|(path, get)| Some((vmlinux::field("tcp_sock", path)?, *get)))
                .collect(),
            v6_daddr,
            v6_saddr,
            rtt_min,
        }
    })
}

/// Where the IPv6 addresses and the windowed minimum RTT (`rtt_min.s[0].v`) lie, which
/// `fields` cannot name (arrays and 16-byte values).
fn v6_places() -> (Option<FieldPlace>, Option<FieldPlace>) {
    (
        vmlinux::field(
            "tcp_sock",
            "inet_conn.icsk_inet.sk.__sk_common.skc_v6_daddr",
        ),
        vmlinux::field(
            "tcp_sock",
            "inet_conn.icsk_inet.sk.__sk_common.skc_v6_rcv_saddr",
        ),
    )
}

/// How many bytes the image has: those of `struct tcp6_sock` (the tcp_sock and its
/// `ipv6_pinfo`), as far as the verifier's walk lets a program read through either pointer.
pub fn image_len() -> usize {
    vmlinux::kstruct_index("tcp6_sock")
        .map_or(TCP_SOCK_SIZE, vmlinux::readable_len)
        .max(TCP_SOCK_SIZE) as usize
}

/// The `struct tcp6_sock` image of `s` (a `struct tcp_sock` followed by the `ipv6_pinfo`,
/// which is filled only for an IPv6 socket).
pub fn image(s: &Socket) -> Vec<u8> {
    let layout = layout();
    let mut out = vec![0u8; image_len()];
    // Pointer members lead to blank structs, before the values are placed.
    if let Some(root) = vmlinux::kstruct_index("tcp6_sock") {
        vmlinux::blank::fill_pointers(&mut out, root);
    }
    for (place, get) in &layout.fields {
        put(&mut out, *place, get(s));
    }
    for (place, addr) in [(layout.v6_daddr, &s.remote), (layout.v6_saddr, &s.local)] {
        if let Some(p) = place {
            let words = Socket::ip6_words(addr);
            let at = p.offset as usize;
            for (i, w) in words.iter().enumerate() {
                if let Some(dst) = out.get_mut(at + 4 * i..at + 4 * i + 4) {
                    dst.copy_from_slice(&w.to_ne_bytes());
                }
            }
        }
    }
    if let Some(place) = layout.rtt_min {
        put(&mut out, place, s.tcp.rtt_min.into());
    }
    if s.family == crate::socket::Family::Inet6 {
        if let Some(p) = vmlinux::field("tcp6_sock", "inet6.saddr") {
            let at = p.offset as usize;
            let words = Socket::ip6_words(&s.local);
            for (i, w) in words.iter().enumerate() {
                if let Some(dst) = out.get_mut(at + 4 * i..at + 4 * i + 4) {
                    dst.copy_from_slice(&w.to_ne_bytes());
                }
            }
        }
        if let Some(p) = vmlinux::field("tcp6_sock", "inet6.tclass") {
            put(&mut out, p, s.options.tclass.into());
        }
    }
    out
}

/// Stores the low bytes of `value` (or, for a bitfield, its low bits) at `place`.
fn put(out: &mut [u8], place: FieldPlace, value: u64) {
    let at = place.offset as usize;
    let Some(dst) = out.get_mut(at..at + place.size as usize) else {
        return;
    };
    match place.bits {
        None => {
            let bytes = value.to_ne_bytes();
            let n = dst.len().min(8);
            if cfg!(target_endian = "little") {
                dst[..n].copy_from_slice(&bytes[..n]);
            } else {
                dst[..n].copy_from_slice(&bytes[8 - n..]);
            }
        }
        Some((bit, width)) => {
            // Bitfields are allocated from the low bits of little-endian storage.
            let mut word = 0u64;
            for (i, b) in dst.iter().enumerate().take(8) {
                word |= u64::from(*b) << (8 * i);
            }
            let mask = (1u64 << width) - 1;
            word = (word & !(mask << bit)) | ((value & mask) << bit);
            for (i, b) in dst.iter_mut().enumerate().take(8) {
                *b = (word >> (8 * i)) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock() -> Socket {
        Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        )
    }

    #[test]
    fn every_field_path_exists_in_the_recorded_layout() {
        let s = sock();
        for (path, _) in fields(&s) {
            assert!(vmlinux::field("tcp_sock", &path).is_some(), "{path}");
        }
        let (d, a) = v6_places();
        assert!(d.is_some() && a.is_some());
    }

    #[test]
    fn an_ipv6_socket_fills_the_tcp6_sock_ipv6_pinfo() {
        let mut s = Socket::new(
            "[2001:db8::1]:40000".parse().unwrap(),
            "[2001:db8::2]:443".parse().unwrap(),
        );
        s.options.tclass = 0x28;
        let img = image(&s);
        let saddr = vmlinux::field("tcp6_sock", "inet6.saddr").unwrap();
        assert!(saddr.offset >= TCP_SOCK_SIZE);
        let at = saddr.offset as usize;
        assert_eq!(img[at..at + 4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(img[at + 15], 1);
        let tclass = vmlinux::field("tcp6_sock", "inet6.tclass").unwrap().offset as usize;
        assert_eq!(img[tclass], 0x28);
        // An IPv4 socket leaves the ipv6_pinfo zero, but for its pointers to blanks.
        let mut img = image(&sock());
        let root = vmlinux::kstruct_index("tcp6_sock").unwrap();
        for &(off, addr) in vmlinux::blank::pointer_members(root) {
            let at = off as usize;
            assert_eq!(img[at..at + 8], addr.to_ne_bytes());
            img[at..at + 8].fill(0);
        }
        assert!(img[TCP_SOCK_SIZE as usize..].iter().all(|&b| b == 0));
    }

    #[test]
    fn values_land_at_their_kernel_offsets() {
        let mut s = sock();
        s.tcp.snd_cwnd = 0x1234_5678;
        s.options.save_syn = 2;
        s.tcp.rtt_min = 777;
        let img = image(&s);
        assert_eq!(img.len(), image_len());
        assert!(image_len() > TCP_SOCK_SIZE as usize);
        let at = |p: &str| vmlinux::field("tcp_sock", p).unwrap();
        let cwnd = at("snd_cwnd").offset as usize;
        assert_eq!(img[cwnd..cwnd + 4], 0x1234_5678u32.to_ne_bytes());
        let proto = at("inet_conn.icsk_inet.sk.sk_protocol").offset as usize;
        assert_eq!(img[proto..proto + 2], 6u16.to_ne_bytes());
        let save = at("save_syn");
        let (bit, width) = save.bits.unwrap();
        assert_eq!((img[save.offset as usize] >> bit) & ((1 << width) - 1), 2);
        let rtt = at("rtt_min").offset as usize + 4;
        assert_eq!(img[rtt..rtt + 4], 777u32.to_ne_bytes());
    }
}
