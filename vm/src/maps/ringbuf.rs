//! BPF_MAP_TYPE_RINGBUF space accounting as kernel/bpf/ringbuf.c does it: a record of `size`
//! bytes takes `round_up(size + 8, 8)` bytes (8-byte header) of a ring of max_entries bytes;
//! the producer position may run at most `max_entries - 1` bytes ahead of the consumer
//! position and of the oldest record still being written (`__bpf_ringbuf_reserve`), otherwise
//! the reservation fails. Committed records wait for a consumer ([`RingbufStorage::consume`],
//! what a user-space reader does); discarded ones are skipped by it.
//!
//! The record bytes a program writes live with the caller (the helper keeps the reserved
//! buffer and hands the bytes over at commit); this module only keeps positions and the
//! committed data.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// `BPF_RINGBUF_HDR_SZ`.
pub const BPF_RINGBUF_HDR_SZ: u64 = 8;
/// `RINGBUF_MAX_RECORD_SZ` (`UINT_MAX / 4`).
pub const RINGBUF_MAX_RECORD_SZ: u64 = (u32::MAX / 4) as u64;
/// `bpf_ringbuf_query` flag: bytes not yet consumed.
pub const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_query` flag: the ring's data size.
pub const BPF_RB_RING_SIZE: u64 = 1;
/// `bpf_ringbuf_query` flag: the consumer position.
pub const BPF_RB_CONS_POS: u64 = 2;
/// `bpf_ringbuf_query` flag: the producer position.
pub const BPF_RB_PROD_POS: u64 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
enum RecordState {
    /// Reserved, not yet submitted or discarded (the kernel's BUSY bit).
    Busy,
    /// Submitted with these bytes.
    Committed(Vec<u8>),
    /// Discarded.
    Discarded,
}

#[derive(Debug)]
struct Record {
    pos: u64,
    len: u64,
    state: RecordState,
}

#[derive(Debug, Default)]
struct State {
    consumer_pos: u64,
    producer_pos: u64,
    /// Records between the consumer and the producer position, oldest first.
    records: VecDeque<Record>,
}

/// The positions and unconsumed records of one ring buffer.
#[derive(Debug)]
pub(crate) struct RingbufStorage {
    size: u64,
    state: Mutex<State>,
}

impl RingbufStorage {
    /// An empty ring of `size` bytes (a power of 2, checked by the definition).
    pub(crate) fn new(size: u32) -> RingbufStorage {
        RingbufStorage {
            size: u64::from(size),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Positions are plain data; a panic elsewhere while holding the lock cannot break them.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves a record of `size` bytes; its producer position, or `None` when it does not fit.
    pub(crate) fn reserve(&self, size: u64) -> Option<u64> {
        if size > RINGBUF_MAX_RECORD_SZ {
            return None;
        }
        let len = (size + BPF_RINGBUF_HDR_SZ).div_ceil(8) * 8;
        let mask = self.size - 1;
        let mut st = self.lock();
        let prod = st.producer_pos;
        let new_prod = prod + len;
        let pending = st
            .records
            .iter()
            .find(|r| r.state == RecordState::Busy)
            .map_or(prod, |r| r.pos);
        if new_prod - st.consumer_pos > mask || new_prod - pending > mask {
            return None;
        }
        st.records.push_back(Record {
            pos: prod,
            len,
            state: RecordState::Busy,
        });
        st.producer_pos = new_prod;
        Some(prod)
    }

    /// Submits (`Some(bytes)`) or discards (`None`) the busy record at `pos`; false if there
    /// is no busy record there.
    pub(crate) fn commit(&self, pos: u64, data: Option<&[u8]>) -> bool {
        let mut st = self.lock();
        match st
            .records
            .iter_mut()
            .find(|r| r.pos == pos && r.state == RecordState::Busy)
        {
            Some(r) => {
                r.state = match data {
                    Some(d) => RecordState::Committed(d.to_vec()),
                    None => RecordState::Discarded,
                };
                true
            }
            None => false,
        }
    }

    /// Reads every record up to the first one still busy, as a user-space consumer does,
    /// advancing the consumer position; returns the submitted records' bytes, oldest first.
    pub(crate) fn consume(&self) -> Vec<Vec<u8>> {
        let mut st = self.lock();
        let mut out = Vec::new();
        while st
            .records
            .front()
            .is_some_and(|r| r.state != RecordState::Busy)
        {
            let Some(r) = st.records.pop_front() else {
                break;
            };
            st.consumer_pos += r.len;
            if let RecordState::Committed(d) = r.state {
                out.push(d);
            }
        }
        out
    }

    /// Submitted records not consumed yet, oldest first (left in place).
    pub(crate) fn pending(&self) -> Vec<Vec<u8>> {
        self.lock()
            .records
            .iter()
            .filter_map(|r| match &r.state {
                RecordState::Committed(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// `bpf_ringbuf_query(map, flags)`: 0 for unknown flags.
    pub(crate) fn query(&self, flags: u64) -> u64 {
        let st = self.lock();
        match flags {
            BPF_RB_AVAIL_DATA => st.producer_pos - st.consumer_pos,
            BPF_RB_RING_SIZE => self.size,
            BPF_RB_CONS_POS => st.consumer_pos,
            BPF_RB_PROD_POS => st.producer_pos,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_take_header_and_padding_and_fill_the_ring() {
        let rb = RingbufStorage::new(4096);
        // 1 byte -> round_up(1 + 8, 8) = 16 bytes.
        assert_eq!(rb.reserve(1), Some(0));
        assert_eq!(rb.query(BPF_RB_PROD_POS), 16);
        assert!(rb.commit(0, Some(&[7])));
        // The ring may hold at most 4095 bytes ahead of the consumer: 16 + 4080 = 4096 fails,
        // 16 + 4072 = 4088 fits.
        assert_eq!(rb.reserve(4072), None);
        assert_eq!(rb.reserve(4064), Some(16));
        assert!(rb.commit(16, None));
        assert_eq!(rb.query(BPF_RB_AVAIL_DATA), 4088);
        assert_eq!(rb.consume(), vec![vec![7]]);
        assert_eq!(rb.query(BPF_RB_CONS_POS), 4088);
        assert_eq!(rb.query(BPF_RB_AVAIL_DATA), 0);
        assert_eq!(rb.query(BPF_RB_RING_SIZE), 4096);
        assert_eq!(rb.query(99), 0);
    }

    #[test]
    fn a_busy_record_blocks_the_consumer() {
        let rb = RingbufStorage::new(4096);
        let a = rb.reserve(8).unwrap();
        let b = rb.reserve(8).unwrap();
        assert!(rb.commit(b, Some(b"bbbbbbbb")));
        assert!(rb.consume().is_empty());
        assert!(rb.commit(a, Some(b"aaaaaaaa")));
        assert!(!rb.commit(a, None), "already committed");
        assert_eq!(
            rb.consume(),
            vec![b"aaaaaaaa".to_vec(), b"bbbbbbbb".to_vec()]
        );
    }
}
