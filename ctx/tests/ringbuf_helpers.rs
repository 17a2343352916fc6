//! bpf_ringbuf_output / _reserve / _submit / _discard / _query (130-134) against a ring
//! buffer map. Expected values from kernel/bpf/ringbuf.c: a record of `size` bytes takes
//! `round_up(size + 8, 8)` bytes; the producer may run at most `ring size - 1` bytes ahead
//! of the consumer; `bpf_ringbuf_output` returns -EINVAL for flags other than
//! BPF_RB_NO_WAKEUP (1) / BPF_RB_FORCE_WAKEUP (2) and -EAGAIN when the record does not fit;
//! `bpf_ringbuf_reserve` returns NULL for flags != 0 or no room; `bpf_ringbuf_query` flags
//! 0 AVAIL_DATA, 1 RING_SIZE, 2 CONS_POS, 3 PROD_POS, anything else 0.

mod support;

use std::sync::Arc;

use sockops_ctx::helpers::id;
use sockops_ctx::{RingbufRecord, SockOp};
use sockops_vm::{Map, MapType};
use support::{Run, def, socket};

const EINVAL: i64 = -22;
const EAGAIN: i64 = -11;

fn ring() -> Vec<Arc<Map>> {
    vec![
        Arc::new(Map::try_new("events", def(MapType::Ringbuf, 0, 0, 4096)).unwrap()),
        Arc::new(Map::try_new("plain", def(MapType::Array, 4, 8, 1)).unwrap()),
    ]
}

fn query(r: &mut Run, flags: u64) -> i64 {
    let m = r.map_ptr(0);
    r.call(id::RINGBUF_QUERY, [m, flags, 0, 0, 0])
}

#[test]
fn output_captures_records_and_accounts_space() {
    let mut r = Run::new(socket(), SockOp::ActiveEstablishedCb, ring());
    r.put(0, b"hello");
    let (m, data) = (r.map_ptr(0), r.stack_addr(0));
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 5, 0, 0]), 0);
    // 5 bytes + 8-byte header, rounded to 8: 16.
    assert_eq!(query(&mut r, 0), 16);
    assert_eq!(query(&mut r, 1), 4096);
    assert_eq!(query(&mut r, 2), 0);
    assert_eq!(query(&mut r, 3), 16);
    assert_eq!(query(&mut r, 4), 0);
    // Wakeup flags are accepted, others are not.
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 5, 1, 0]), 0);
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 0, 2, 0]), 0);
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 5, 4, 0]), EINVAL);
    assert_eq!(query(&mut r, 3), 16 + 16 + 8);
    let rec = RingbufRecord {
        map: "events".into(),
        data: b"hello".to_vec(),
    };
    assert_eq!(
        r.env.ringbuf,
        vec![
            rec.clone(),
            rec,
            RingbufRecord {
                map: "events".into(),
                data: vec![]
            }
        ]
    );
    // A user-space consumer reads them and frees the space.
    assert_eq!(r.maps[0].ringbuf_consume().len(), 3);
    assert_eq!(query(&mut r, 0), 0);
    assert_eq!(query(&mut r, 2), 40);
}

#[test]
fn output_fails_with_eagain_when_full() {
    let mut r = Run::new(socket(), SockOp::ActiveEstablishedCb, ring());
    let (m, data) = (r.map_ptr(0), r.stack_addr(0));
    // 200 bytes -> 208 per record; 19 records = 3952 bytes, a 20th would reach 4160 > 4095.
    for i in 0..19 {
        assert_eq!(
            r.call(id::RINGBUF_OUTPUT, [m, data, 200, 0, 0]),
            0,
            "record {i}"
        );
    }
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 200, 0, 0]), EAGAIN);
    // A 136-byte record takes 144 bytes (3952 + 144 = 4096 > 4095: no room); a 128-byte one
    // takes 136 (3952 + 136 = 4088: fits).
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 136, 0, 0]), EAGAIN);
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 128, 0, 0]), 0);
    assert_eq!(r.env.ringbuf.len(), 20);
}

#[test]
fn reserve_submit_discard() {
    let mut r = Run::new(socket(), SockOp::ActiveEstablishedCb, ring());
    let m = r.map_ptr(0);
    let rec = r.call(id::RINGBUF_RESERVE, [m, 12, 0, 0, 0]) as u64;
    assert_ne!(rec, 0);
    assert_eq!(
        r.env.calls.last().unwrap().ret,
        1,
        "pointers are logged as 1"
    );
    r.memory.write_bytes(rec, b"twelve bytes").unwrap();
    assert!(r.memory.check(rec, 13, sockops_vm::Access::Write).is_err());
    // flags != 0, or more than the ring can hold: NULL.
    assert_eq!(r.call(id::RINGBUF_RESERVE, [m, 8, 1, 0, 0]), 0);
    assert_eq!(r.call(id::RINGBUF_RESERVE, [m, 4096, 0, 0, 0]), 0);
    let other = r.call(id::RINGBUF_RESERVE, [m, 4, 0, 0, 0]) as u64;
    assert_ne!(other, 0);
    // Reserved but unsubmitted records count as produced data.
    assert_eq!(query(&mut r, 3), 24 + 16);
    assert_eq!(r.call(id::RINGBUF_SUBMIT, [rec, 0, 0, 0, 0]), 0);
    assert_eq!(r.call(id::RINGBUF_DISCARD, [other, 0, 0, 0, 0]), 0);
    assert_eq!(
        r.env.ringbuf,
        vec![RingbufRecord {
            map: "events".into(),
            data: b"twelve bytes".to_vec()
        }]
    );
    assert_eq!(r.maps[0].ringbuf_consume(), vec![b"twelve bytes".to_vec()]);
    assert_eq!(query(&mut r, 0), 0);
    // Releasing twice, or something never reserved, ends the program.
    assert!(r.try_call(id::RINGBUF_SUBMIT, [rec, 0, 0, 0, 0]).is_err());
    let stack = r.stack_addr(0);
    assert!(
        r.try_call(id::RINGBUF_DISCARD, [stack, 0, 0, 0, 0])
            .is_err()
    );
}

#[test]
fn a_busy_record_holds_back_the_consumer_until_the_run_ends() {
    let maps = ring();
    let mut r = Run::new(socket(), SockOp::ActiveEstablishedCb, maps.clone());
    let m = r.map_ptr(0);
    let open = r.call(id::RINGBUF_RESERVE, [m, 8, 0, 0, 0]);
    assert_ne!(open, 0);
    r.put(0, b"x");
    let data = r.stack_addr(0);
    assert_eq!(r.call(id::RINGBUF_OUTPUT, [m, data, 1, 0, 0]), 0);
    assert!(
        maps[0].ringbuf_consume().is_empty(),
        "blocked by the open record"
    );
    // An unverified program that never submits: its record is discarded with the run.
    drop(r);
    assert_eq!(maps[0].ringbuf_consume(), vec![b"x".to_vec()]);
    assert_eq!(maps[0].ringbuf_query(0), 0);
}

#[test]
fn non_ringbuf_maps_are_refused() {
    let mut r = Run::new(socket(), SockOp::ActiveEstablishedCb, ring());
    let (arr, data) = (r.map_ptr(1), r.stack_addr(0));
    assert!(
        r.try_call(id::RINGBUF_OUTPUT, [arr, data, 1, 0, 0])
            .is_err()
    );
    assert!(r.try_call(id::RINGBUF_RESERVE, [arr, 8, 0, 0, 0]).is_err());
    assert!(r.try_call(id::RINGBUF_QUERY, [arr, 0, 0, 0, 0]).is_err());
    assert!(r.try_call(id::RINGBUF_QUERY, [0, 0, 0, 0, 0]).is_err());
}
