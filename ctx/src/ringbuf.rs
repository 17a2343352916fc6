//! Ring buffer records on the sock_ops side: what a run submitted (`RingbufRecord`, kept in
//! `SockOpsEnv::ringbuf` for the runtime to show) and the records a program reserved with
//! `bpf_ringbuf_reserve` and has not yet submitted or discarded (`Reservations`). The ring's
//! space accounting and the records waiting for a consumer live in the vm map
//! (`Map::ringbuf_reserve` / `ringbuf_commit` / `ringbuf_consume`).

use std::sync::Arc;

use sockops_vm::{Map, Region, RegionKind};

use crate::guest_buf::GuestBuf;

/// One record a program submitted (`bpf_ringbuf_output` or `bpf_ringbuf_submit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingbufRecord {
    /// The ring buffer map's name.
    pub map: String,
    /// The record's bytes.
    pub data: Vec<u8>,
}

/// A record being written: its map, its position in the ring and the memory the program
/// writes.
#[derive(Debug)]
struct Reservation {
    map: Arc<Map>,
    pos: u64,
    buf: GuestBuf,
    open: bool,
}

/// The records reserved during a run. Their memory stays allocated until the environment is
/// dropped (a program may still hold the pointer after submitting; the verifier forbids
/// using it, checked mode does not). Records still open at drop are discarded, so an
/// unverified program that forgets one does not block the ring's consumer forever.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    list: Vec<Reservation>,
}

impl Reservations {
    /// Records a new reservation of `size` bytes at ring position `pos`; returns the guest
    /// region the program may write.
    pub(crate) fn add(&mut self, map: Arc<Map>, pos: u64, size: usize) -> Region {
        let buf = GuestBuf::new(size);
        let region = buf.region(true, RegionKind::Other);
        self.list.push(Reservation {
            map,
            pos,
            buf,
            open: true,
        });
        region
    }

    /// Closes the open reservation whose memory starts at `addr`: returns its map and the
    /// bytes written, after committing them (`submit`) or discarding them.
    pub(crate) fn close(&mut self, addr: u64, submit: bool) -> Option<(Arc<Map>, Vec<u8>)> {
        let r = self
            .list
            .iter_mut()
            .find(|r| r.open && r.buf.addr() == addr)?;
        r.open = false;
        let data = r.buf.read(0, r.buf.len);
        r.map
            .ringbuf_commit(r.pos, if submit { Some(&data) } else { None });
        Some((Arc::clone(&r.map), data))
    }
}

impl Drop for Reservations {
    fn drop(&mut self) {
        for r in self.list.iter().filter(|r| r.open) {
            r.map.ringbuf_commit(r.pos, None);
        }
    }
}
