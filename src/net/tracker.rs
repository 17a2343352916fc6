//! Keeping a `Socket`'s metrics true from the wire: every segment one side sends or receives
//! passes through [`WireTracker`], which derives the kernel's counters from headers alone
//! (smoltcp keeps its own state private). How each metric is inferred:
//!
//! | metric | from |
//! |---|---|
//! | `segs_out` / `data_segs_out` | every segment sent / those with payload |
//! | `segs_in` / `data_segs_in` | every segment received / those with payload |
//! | `snd_nxt` | highest sequence number sent (seq + payload + SYN + FIN) |
//! | `snd_una` | highest acknowledgment number received |
//! | `rcv_nxt` | acknowledgment number of the last segment sent |
//! | `bytes_acked` | `snd_una` - ISN, less the SYN and an acknowledged FIN |
//! | `bytes_received` | `rcv_nxt` - peer ISN, less the SYN and a received FIN |
//! | `packets_out` / `retrans_out` | segments sent and not fully acknowledged / those retransmitted |
//! | `total_retrans` | segments that start below the highest sequence number sent (a retransmission) |
//! | `srtt_us`, `rtt_min` | per acknowledgment of new data: now - send time of the oldest newly acknowledged segment never retransmitted (Karn), smoothed as `tcp_rtt_estimator` does (`srtt_us` holds srtt << 3) |
//! | `delivered` | segments fully acknowledged |
//! | `icsk_retransmits` | timeouts since the last acknowledgment of new data (a retransmission sent from a timer poll, see [`crate::net::host`]) |
//! | `mss_cache` | min(peer's MSS option, own MTU - headers), at establishment |

use std::collections::VecDeque;

use sockops_ctx::TcpMetrics;
use sockops_ctx::context::tcp_flags;

use crate::net::wire::{SegmentInfo, seq_le, seq_lt};

/// One segment in flight.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    seq: u32,
    end: u32,
    sent_us: u64,
    retransmitted: bool,
}

/// Something the wire showed that an op reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireEvent {
    /// A retransmitted segment (RETRANS_CB args: seq, 1 segment, 0 error).
    Retransmit {
        /// Sequence number of its first byte.
        seq: u32,
        /// Time since that sequence number was last sent, µs (the timeout that fired, when
        /// the retransmission comes from a timer).
        since_us: u64,
    },
    /// An RTT sample (RTT_CB args: the sample in µs, the new srtt << 3).
    RttSample {
        /// Measured RTT, µs.
        rtt_us: u32,
        /// Smoothed RTT after the sample, µs << 3.
        srtt_us8: u32,
    },
}

/// Sequence-space bookkeeping for one side of a connection.
#[derive(Clone, Debug, Default)]
pub struct WireTracker {
    isn: Option<u32>,
    peer_isn: Option<u32>,
    snd_nxt: u32,
    snd_una: u32,
    fin_seq: Option<u32>,
    peer_fin_seq: Option<u32>,
    in_flight: VecDeque<InFlight>,
    /// The MSS option of the peer's SYN or SYN-ACK.
    pub peer_mss: Option<u16>,
}

impl WireTracker {
    /// A segment this side sent at `now_us`; updates `tcp` and says whether it was a
    /// retransmission.
    pub fn on_send(
        &mut self,
        info: &SegmentInfo,
        now_us: u64,
        tcp: &mut TcpMetrics,
    ) -> Option<WireEvent> {
        tcp.segs_out = tcp.segs_out.wrapping_add(1);
        if info.payload_len > 0 {
            tcp.data_segs_out = tcp.data_segs_out.wrapping_add(1);
        }
        if info.has(tcp_flags::SYN) && self.isn.is_none() {
            self.isn = Some(info.seq);
            self.snd_nxt = info.seq;
            self.snd_una = info.seq;
        }
        if info.has(tcp_flags::ACK) {
            tcp.rcv_nxt = info.ack;
            if let Some(peer_isn) = self.peer_isn {
                let mut n = info.ack.wrapping_sub(peer_isn).saturating_sub(1);
                if self.peer_fin_seq.is_some_and(|f| seq_lt(f, info.ack)) {
                    n = n.saturating_sub(1);
                }
                tcp.bytes_received = u64::from(n);
            }
        }
        if info.has(tcp_flags::FIN) {
            self.fin_seq = Some(info.seq.wrapping_add(info.payload_len));
        }
        let mut event = None;
        let len = info.seq_len();
        if len > 0 && self.isn.is_some() {
            let end = info.seq.wrapping_add(len);
            if seq_lt(info.seq, self.snd_nxt) {
                tcp.total_retrans = tcp.total_retrans.wrapping_add(1);
                let mut last_sent = None;
                for f in self.in_flight.iter_mut() {
                    if seq_lt(f.seq, end) && seq_lt(info.seq, f.end) {
                        f.retransmitted = true;
                        last_sent.get_or_insert(f.sent_us);
                        f.sent_us = now_us;
                    }
                }
                event = Some(WireEvent::Retransmit {
                    seq: info.seq,
                    since_us: now_us.saturating_sub(last_sent.unwrap_or(now_us)),
                });
                if seq_lt(self.snd_nxt, end) {
                    self.in_flight.push_back(InFlight {
                        seq: self.snd_nxt,
                        end,
                        sent_us: now_us,
                        retransmitted: true,
                    });
                    self.snd_nxt = end;
                }
            } else {
                self.in_flight.push_back(InFlight {
                    seq: info.seq,
                    end,
                    sent_us: now_us,
                    retransmitted: false,
                });
                self.snd_nxt = end;
            }
        }
        self.sync(tcp);
        event
    }

    /// A segment this side received at `now_us`; updates `tcp` and returns an RTT sample
    /// if the segment acknowledged new data.
    pub fn on_receive(
        &mut self,
        info: &SegmentInfo,
        now_us: u64,
        tcp: &mut TcpMetrics,
    ) -> Option<WireEvent> {
        tcp.segs_in = tcp.segs_in.wrapping_add(1);
        if info.payload_len > 0 {
            tcp.data_segs_in = tcp.data_segs_in.wrapping_add(1);
        }
        if info.has(tcp_flags::SYN) {
            self.peer_isn = Some(info.seq);
            if info.mss.is_some() {
                self.peer_mss = info.mss;
            }
        }
        if info.has(tcp_flags::FIN) {
            let syn = u32::from(info.has(tcp_flags::SYN));
            self.peer_fin_seq = Some(info.seq.wrapping_add(syn).wrapping_add(info.payload_len));
        }
        let mut event = None;
        if info.has(tcp_flags::ACK)
            && self.isn.is_some()
            && seq_lt(self.snd_una, info.ack)
            && seq_le(info.ack, self.snd_nxt)
        {
            self.snd_una = info.ack;
            // Forward progress ends a run of timeouts (`icsk_retransmits = 0` in tcp_ack).
            tcp.icsk_retransmits = 0;
            let mut sample = None;
            while let Some(f) = self.in_flight.front() {
                if !seq_le(f.end, info.ack) {
                    break;
                }
                if sample.is_none() && !f.retransmitted {
                    sample = Some(now_us.saturating_sub(f.sent_us));
                }
                tcp.delivered = tcp.delivered.wrapping_add(1);
                self.in_flight.pop_front();
            }
            if let Some(rtt) = sample {
                let rtt_us = u32::try_from(rtt).unwrap_or(u32::MAX).max(1);
                tcp.srtt_us = if tcp.srtt_us == 0 {
                    rtt_us.saturating_mul(8)
                } else {
                    let srtt = i64::from(tcp.srtt_us);
                    (srtt + i64::from(rtt_us) - (srtt >> 3)).clamp(1, i64::from(u32::MAX)) as u32
                };
                tcp.rtt_min = if tcp.rtt_min == 0 || tcp.rtt_min == u32::MAX {
                    rtt_us
                } else {
                    tcp.rtt_min.min(rtt_us)
                };
                event = Some(WireEvent::RttSample {
                    rtt_us,
                    srtt_us8: tcp.srtt_us,
                });
            }
        }
        self.sync(tcp);
        event
    }

    fn sync(&self, tcp: &mut TcpMetrics) {
        let Some(isn) = self.isn else { return };
        tcp.snd_nxt = self.snd_nxt;
        tcp.snd_una = self.snd_una;
        let mut acked = self.snd_una.wrapping_sub(isn).saturating_sub(1);
        if self.fin_seq.is_some_and(|f| seq_lt(f, self.snd_una)) {
            acked = acked.saturating_sub(1);
        }
        tcp.bytes_acked = u64::from(acked);
        tcp.packets_out = self.in_flight.len() as u32;
        tcp.retrans_out = self.in_flight.iter().filter(|f| f.retransmitted).count() as u32;
    }

    /// This side's initial sequence number, once its SYN or SYN-ACK was sent.
    pub fn isn(&self) -> Option<u32> {
        self.isn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32, ack: u32, flags: u8, payload_len: u32) -> SegmentInfo {
        SegmentInfo {
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "10.0.0.2:2".parse().unwrap(),
            seq,
            ack,
            flags,
            window: 0,
            payload_len,
            ip_header_len: 20,
            tcp_header_len: 20,
            mss: None,
            traffic_class: 0,
        }
    }

    #[test]
    fn counts_acks_retransmissions_and_rtt() {
        let mut t = WireTracker::default();
        let mut m = TcpMetrics::default();
        use tcp_flags::*;
        assert_eq!(t.on_send(&seg(100, 0, SYN, 0), 0, &mut m), None);
        assert_eq!(m.packets_out, 1);
        let ev = t.on_receive(&seg(5000, 101, SYN | ACK, 0), 10_000, &mut m);
        assert_eq!(
            ev,
            Some(WireEvent::RttSample {
                rtt_us: 10_000,
                srtt_us8: 80_000
            })
        );
        t.on_send(&seg(101, 5001, ACK, 100), 10_000, &mut m);
        t.on_send(&seg(201, 5001, ACK, 100), 10_000, &mut m);
        assert_eq!((m.snd_nxt, m.packets_out, m.data_segs_out), (301, 2, 2));
        let ev = t.on_send(&seg(101, 5001, ACK, 100), 30_000, &mut m);
        assert_eq!(
            ev,
            Some(WireEvent::Retransmit {
                seq: 101,
                since_us: 20_000
            })
        );
        assert_eq!((m.total_retrans, m.retrans_out), (1, 1));
        // The retransmitted segment gives no sample (Karn); the second one does.
        let ev = t.on_receive(&seg(5001, 301, ACK, 0), 40_000, &mut m);
        assert_eq!(
            ev,
            Some(WireEvent::RttSample {
                rtt_us: 30_000,
                srtt_us8: 80_000 - 10_000 + 30_000
            })
        );
        assert_eq!((m.bytes_acked, m.packets_out, m.rtt_min), (200, 0, 10_000));
        t.on_receive(&seg(5001, 301, ACK | FIN, 0), 41_000, &mut m);
        t.on_send(&seg(301, 5002, ACK, 0), 41_000, &mut m);
        assert_eq!((m.rcv_nxt, m.bytes_received), (5002, 0));
    }
}
