//! Reading the IP and TCP headers of the frames the bridge's device carries (addresses, ports,
//! sequence numbers, flags, payload length, the MSS option), and rewriting the traffic class
//! (`IP_TOS` / `IPV6_TCLASS`) of outgoing frames with the IPv4 header checksum fixed. Frames
//! are raw IP packets (smoltcp's `Medium::Ip`); anything that is not TCP is ignored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sockops_ctx::context::tcp_flags;

/// `IPPROTO_TCP`.
const PROTO_TCP: u8 = 6;

/// What the bridge reads from one TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags` has ACK).
    pub ack: u32,
    /// TCP flags (FIN=1, SYN=2, RST=4, PSH=8, ACK=0x10, ...).
    pub flags: u8,
    /// Advertised window (unscaled).
    pub window: u16,
    /// Payload bytes.
    pub payload_len: u32,
    /// Length of the IP header (20 for IPv4 without options, 40 for IPv6).
    pub ip_header_len: usize,
    /// Length of the TCP header with its options.
    pub tcp_header_len: usize,
    /// The MSS option, if the segment carries one (SYN and SYN-ACK).
    pub mss: Option<u16>,
    /// The IPv4 TOS byte or the IPv6 traffic class.
    pub traffic_class: u8,
}

impl SegmentInfo {
    /// Whether a flag (`tcp_flags::*`) is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Sequence space the segment occupies: payload, plus one for SYN and one for FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len + u32::from(self.has(tcp_flags::SYN)) + u32::from(self.has(tcp_flags::FIN))
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a raw IPv4 or IPv6 packet carrying TCP; `None` for anything else or a truncated
/// header.
pub fn parse(frame: &[u8]) -> Option<SegmentInfo> {
    let version = frame.first()? >> 4;
    let (src_ip, dst_ip, ip_header_len, ip_total, traffic_class): (
        IpAddr,
        IpAddr,
        usize,
        usize,
        u8,
    ) = match version {
        4 => {
            let ihl = usize::from(frame[0] & 0x0f) * 4;
            if ihl < 20 || frame.len() < ihl || *frame.get(9)? != PROTO_TCP {
                return None;
            }
            let src: [u8; 4] = frame.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = frame.get(16..20)?.try_into().ok()?;
            let total = usize::from(be16(frame, 2)?);
            (
                Ipv4Addr::from(src).into(),
                Ipv4Addr::from(dst).into(),
                ihl,
                total,
                frame[1],
            )
        }
        6 => {
            if frame.len() < 40 || frame[6] != PROTO_TCP {
                return None;
            }
            let src: [u8; 16] = frame.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = frame.get(24..40)?.try_into().ok()?;
            let total = 40 + usize::from(be16(frame, 4)?);
            let tc = ((frame[0] & 0x0f) << 4) | (frame[1] >> 4);
            (
                Ipv6Addr::from(src).into(),
                Ipv6Addr::from(dst).into(),
                40,
                total,
                tc,
            )
        }
        _ => return None,
    };
    let tcp = frame.get(ip_header_len..ip_total.min(frame.len()))?;
    let tcp_header_len = usize::from(tcp.get(12)? >> 4) * 4;
    if tcp_header_len < 20 || tcp.len() < tcp_header_len {
        return None;
    }
    Some(SegmentInfo {
        src: SocketAddr::new(src_ip, be16(tcp, 0)?),
        dst: SocketAddr::new(dst_ip, be16(tcp, 2)?),
        seq: be32(tcp, 4)?,
        ack: be32(tcp, 8)?,
        flags: tcp[13],
        window: be16(tcp, 14)?,
        payload_len: (tcp.len() - tcp_header_len) as u32,
        ip_header_len,
        tcp_header_len,
        mss: mss_option(&tcp[20..tcp_header_len]),
        traffic_class,
    })
}

/// The MSS option (kind 2, length 4) among raw TCP options.
fn mss_option(mut options: &[u8]) -> Option<u16> {
    while let Some(&kind) = options.first() {
        match kind {
            0 => return None,
            1 => options = &options[1..],
            _ => {
                let len = usize::from(*options.get(1)?);
                if len < 2 || len > options.len() {
                    return None;
                }
                if kind == 2 && len == 4 {
                    return be16(options, 2);
                }
                options = &options[len..];
            }
        }
    }
    None
}

/// Whether the TCP header `header` carries an option the kernel does not know (anything but
/// EOL, NOP, MSS, window scale, SACK-permitted, SACK, timestamps, MD5, TCP-AO, MPTCP, Fast
/// Open), as `bpf_skops_parse_hdr` checks for PARSE_UNKNOWN_HDR_OPT.
pub fn has_unknown_option(header: &[u8]) -> bool {
    let mut options = header.get(20..).unwrap_or(&[]);
    while let Some(&kind) = options.first() {
        match kind {
            0 => return false,
            1 => options = &options[1..],
            2 | 3 | 4 | 5 | 8 | 19 | 29 | 30 | 34 => {
                let len = usize::from(options.get(1).copied().unwrap_or(0));
                if len < 2 || len > options.len() {
                    return false;
                }
                options = &options[len..];
            }
            _ => return true,
        }
    }
    false
}

/// The IP and TCP headers of `frame` (what a saved SYN holds), given its parsed `info`.
pub fn headers<'a>(frame: &'a [u8], info: &SegmentInfo) -> &'a [u8] {
    let end = (info.ip_header_len + info.tcp_header_len).min(frame.len());
    &frame[..end]
}

/// The TCP header of `frame` (with options), given its parsed `info`.
pub fn tcp_header<'a>(frame: &'a [u8], info: &SegmentInfo) -> &'a [u8] {
    let end = (info.ip_header_len + info.tcp_header_len).min(frame.len());
    &frame[info.ip_header_len.min(end)..end]
}

/// Sets the IPv4 TOS byte (and recomputes the header checksum) or the IPv6 traffic class of
/// `frame` to `value`. The TCP checksum covers neither, so it stays valid.
pub fn set_traffic_class(frame: &mut [u8], value: u8) {
    match frame.first().map(|b| b >> 4) {
        Some(4) if frame.len() >= 20 => {
            let ihl = (usize::from(frame[0] & 0x0f) * 4).clamp(20, frame.len());
            frame[1] = value;
            frame[10] = 0;
            frame[11] = 0;
            let sum = ipv4_checksum(&frame[..ihl]);
            frame[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        Some(6) if frame.len() >= 40 => {
            frame[0] = 0x60 | (value >> 4);
            frame[1] = (value << 4) | (frame[1] & 0x0f);
        }
        _ => {}
    }
}

/// The IPv4 header checksum (one's complement sum of 16-bit words, checksum field zeroed).
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `a < b` in sequence space (RFC 793 modular comparison).
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a <= b` in sequence space.
pub fn seq_le(a: u32, b: u32) -> bool {
    !seq_lt(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_syn() -> Vec<u8> {
        let mut f = vec![
            0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let sum = ipv4_checksum(&f);
        f[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&[0xc0, 0x00, 0x20, 0xfb]); // ports 49152 -> 8443
        f.extend_from_slice(&7u32.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[0x60, tcp_flags::SYN, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(&[2, 4, 0x05, 0xb4]);
        f
    }

    #[test]
    fn parses_an_ipv4_syn() {
        let info = parse(&v4_syn()).unwrap();
        assert_eq!(info.src, "10.0.0.1:49152".parse().unwrap());
        assert_eq!(info.dst, "10.0.0.2:8443".parse().unwrap());
        assert_eq!((info.seq, info.payload_len, info.seq_len()), (7, 0, 1));
        assert_eq!(info.mss, Some(1460));
        assert_eq!((info.ip_header_len, info.tcp_header_len), (20, 24));
        assert!(parse(&v4_syn()[..30]).is_none());
        assert!(parse(&[0x45]).is_none());
        assert!(parse(&[]).is_none());
    }

    #[test]
    fn traffic_class_rewrite_keeps_the_checksum_valid() {
        let mut f = v4_syn();
        set_traffic_class(&mut f, 0x20);
        assert_eq!(parse(&f).unwrap().traffic_class, 0x20);
        assert_eq!(ipv4_checksum(&f[..20]), 0, "a valid header sums to 0xffff");
        let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        v6.extend_from_slice(&[0; 32]);
        v6.extend_from_slice(&v4_syn()[20..40]);
        v6[40 + 12] = 0x50;
        set_traffic_class(&mut v6, 0xb8);
        assert_eq!(parse(&v6).unwrap().traffic_class, 0xb8);
        assert_eq!(v6[0] >> 4, 6);
    }

    #[test]
    fn unknown_options_are_found() {
        let mut h = vec![0u8; 20];
        h.extend_from_slice(&[2, 4, 5, 0xb4, 1, 1, 1, 0]);
        assert!(!has_unknown_option(&h));
        h.truncate(20);
        h.extend_from_slice(&[1, 1, 253, 2]);
        assert!(has_unknown_option(&h));
        assert!(!has_unknown_option(&[0; 10]));
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_lt(u32::MAX, 1));
        assert!(!seq_lt(1, u32::MAX));
        assert!(seq_le(5, 5));
    }
}
