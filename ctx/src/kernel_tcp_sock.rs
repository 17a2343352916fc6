//! The kernel's own `struct tcp_sock` as `bpf_skc_to_tcp_sock` hands it to a program: an
//! image of `vmlinux::recorded::TCP_SOCK_SIZE` bytes laid out as the recorded vmlinux BTF
//! says, with the socket's values at their kernel offsets (`sock_common` addresses and
//! ports, `struct sock` options, `inet_sock`, `inet_connection_sock` and the tcp_sock
//! metrics). Members this runtime does not model (locks, queues, timers, pointers) are zero.

use crate::socket::Socket;
use crate::vmlinux::{self, FieldPlace, recorded::TCP_SOCK_SIZE};

const SK: &str = "inet_conn.icsk_inet.sk.";
const SKC: &str = "inet_conn.icsk_inet.sk.__sk_common.";
const INET: &str = "inet_conn.icsk_inet.";
const ICSK: &str = "inet_conn.";

/// Every field the image carries: its path in `struct tcp_sock` and its value (the low
/// bytes of the value are stored, in host order, as the kernel keeps them; network-order
/// fields are given already swapped).
pub fn fields(s: &Socket) -> Vec<(String, u64)> {
    let t = &s.tcp;
    let o = &s.options;
    let be16 = |p: u16| u64::from(u16::from_ne_bytes(p.to_be_bytes()));
    let mut v: Vec<(String, u64)> = vec![
        // struct sock_common
        (
            format!("{SKC}skc_daddr"),
            Socket::ip4_field(&s.remote).into(),
        ),
        (
            format!("{SKC}skc_rcv_saddr"),
            Socket::ip4_field(&s.local).into(),
        ),
        (format!("{SKC}skc_dport"), be16(s.remote.port())),
        (format!("{SKC}skc_num"), s.local.port().into()),
        (format!("{SKC}skc_family"), s.family.number().into()),
        (format!("{SKC}skc_state"), s.state.number().into()),
        (format!("{SKC}skc_reuse"), o.reuseaddr.into()),
        (format!("{SKC}skc_reuseport"), o.reuseport.into()),
        (
            format!("{SKC}skc_bound_dev_if"),
            (o.bound_dev_if as u32).into(),
        ),
        (format!("{SKC}skc_cookie.counter"), s.cookie),
        // struct sock
        (format!("{SK}sk_protocol"), 6),
        (format!("{SK}sk_type"), 1),
        (
            format!("{SK}sk_userlocks"),
            u64::from(o.sndbuf_locked) | u64::from(o.rcvbuf_locked) << 1,
        ),
        (format!("{SK}sk_rcvbuf"), (o.rcvbuf as u32).into()),
        (format!("{SK}sk_sndbuf"), (o.sndbuf as u32).into()),
        (format!("{SK}sk_rcvlowat"), (o.rcvlowat as u32).into()),
        (format!("{SK}sk_max_pacing_rate"), o.max_pacing_rate),
        (format!("{SK}sk_priority"), o.priority.into()),
        (format!("{SK}sk_mark"), o.mark.into()),
        (format!("{SK}sk_txhash"), t.sk_txhash.into()),
        // struct inet_sock
        (
            format!("{INET}inet_saddr"),
            Socket::ip4_field(&s.local).into(),
        ),
        (format!("{INET}inet_sport"), be16(s.local.port())),
        (format!("{INET}tos"), o.tos.into()),
        // struct inet_connection_sock
        (format!("{ICSK}icsk_retransmits"), t.icsk_retransmits.into()),
        (format!("{ICSK}icsk_syn_retries"), o.syn_retries.into()),
        (format!("{ICSK}icsk_user_timeout"), o.user_timeout.into()),
        // struct tcp_sock
        ("rx_opt.user_mss".into(), o.user_mss.into()),
        ("nonagle".into(), u64::from(o.nodelay)),
        ("thin_lto".into(), u64::from(o.thin_lto)),
        ("save_syn".into(), o.save_syn.into()),
        ("syn_data".into(), u64::from(s.syn_data)),
        ("is_mptcp".into(), 0),
        ("window_clamp".into(), o.window_clamp.into()),
        ("snd_cwnd_clamp".into(), o.snd_cwnd_clamp.into()),
        ("notsent_lowat".into(), o.notsent_lowat.into()),
        ("keepalive_time".into(), o.keepalive_time),
        ("keepalive_intvl".into(), o.keepalive_intvl),
        ("keepalive_probes".into(), o.keepalive_probes.into()),
    ];
    for name in [
        "snd_cwnd",
        "srtt_us",
        "snd_ssthresh",
        "rcv_nxt",
        "snd_nxt",
        "snd_una",
        "mss_cache",
        "ecn_flags",
        "rate_delivered",
        "rate_interval_us",
        "packets_out",
        "retrans_out",
        "total_retrans",
        "segs_in",
        "data_segs_in",
        "segs_out",
        "data_segs_out",
        "lost_out",
        "sacked_out",
        "bytes_received",
        "bytes_acked",
        "dsack_dups",
        "delivered",
        "delivered_ce",
    ] {
        v.push((name.into(), s.field(name).unwrap_or(0)));
    }
    v
}

/// Where the IPv6 addresses and the windowed minimum RTT (`rtt_min.s[0].v`) lie, which
/// `fields` cannot name (arrays and 16-byte values).
fn v6_places() -> (Option<FieldPlace>, Option<FieldPlace>) {
    (
        vmlinux::field("tcp_sock", &format!("{SKC}skc_v6_daddr")),
        vmlinux::field("tcp_sock", &format!("{SKC}skc_v6_rcv_saddr")),
    )
}

/// The `struct tcp_sock` image of `s`.
pub fn image(s: &Socket) -> Vec<u8> {
    let mut out = vec![0u8; TCP_SOCK_SIZE as usize];
    for (path, value) in fields(s) {
        if let Some(place) = vmlinux::field("tcp_sock", &path) {
            put(&mut out, place, value);
        }
    }
    let (daddr, saddr) = v6_places();
    for (place, addr) in [(daddr, &s.remote), (saddr, &s.local)] {
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
    // rtt_min is a `struct minmax` of three samples {t, v}: the current minimum is s[0].v.
    if let Some(p) = vmlinux::field("tcp_sock", "rtt_min") {
        let v_off = vmlinux::kstruct_index("minmax_sample")
            .and_then(vmlinux::kstruct)
            .and_then(|m| m.members.iter().find(|f| f.name == "v"))
            .map_or(4, |f| f.bit_offset / 8);
        let place = FieldPlace {
            offset: p.offset + v_off,
            size: 4,
            bits: None,
        };
        put(&mut out, place, s.tcp.rtt_min.into());
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
    fn values_land_at_their_kernel_offsets() {
        let mut s = sock();
        s.tcp.snd_cwnd = 0x1234_5678;
        s.options.save_syn = 2;
        s.tcp.rtt_min = 777;
        let img = image(&s);
        assert_eq!(img.len(), TCP_SOCK_SIZE as usize);
        let at = |p: &str| vmlinux::field("tcp_sock", p).unwrap();
        let cwnd = at("snd_cwnd").offset as usize;
        assert_eq!(img[cwnd..cwnd + 4], 0x1234_5678u32.to_ne_bytes());
        let proto = at(&format!("{SK}sk_protocol")).offset as usize;
        assert_eq!(img[proto..proto + 2], 6u16.to_ne_bytes());
        let save = at("save_syn");
        let (bit, width) = save.bits.unwrap();
        assert_eq!((img[save.offset as usize] >> bit) & ((1 << width) - 1), 2);
        let rtt = at("rtt_min").offset as usize + 4;
        assert_eq!(img[rtt..rtt + 4], 777u32.to_ne_bytes());
    }
}
