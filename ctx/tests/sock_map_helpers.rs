//! bpf_sock_map_update (53) and bpf_sock_hash_update (70) from sock_ops, and what a socket
//! map holds afterwards. Expected values from net/core/sock_map.c: `sock_map_op_okay` (ops 4,
//! 5, 11 only, else -EOPNOTSUPP), `sock_map_update_common` / `sock_hash_update_common`
//! (flags > BPF_EXIST -EINVAL before anything else, index >= max_entries -E2BIG, -EEXIST /
//! -ENOENT, a new key in a full sockhash -E2BIG), `sock_map_delete_elem` (-EINVAL for an
//! empty slot), `sock_hash_delete_elem` (-ENOENT), `sock_map_lookup_sys` (the cookie; -ENOSPC
//! unless value_size is 8).

mod support;

use std::sync::Arc;

use sockops_ctx::helpers::id;
use sockops_ctx::{SockOp, Socket};
use sockops_vm::maps::errno as map_errno;
use sockops_vm::maps::helpers::BPF_FUNC_MAP_DELETE_ELEM;
use sockops_vm::{Map, MapType};
use support::{Run, def, request_socket, socket};

const EOPNOTSUPP: i64 = -95;
const EINVAL: i64 = -22;
const EEXIST: i64 = -17;
const ENOENT: i64 = -2;
const E2BIG: i64 = -7;

const BPF_ANY: u64 = 0;
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

/// Map 0: sockmap (key u32, value u64, 4 slots); map 1: sockhash (key u32, value u32,
/// 2 entries); map 2: a plain hash map.
fn maps() -> Vec<Arc<Map>> {
    vec![
        Arc::new(Map::try_new("sock_map", def(MapType::Sockmap, 4, 8, 4)).unwrap()),
        Arc::new(Map::try_new("sock_hash", def(MapType::Sockhash, 4, 4, 2)).unwrap()),
        Arc::new(Map::try_new("plain", def(MapType::Hash, 4, 8, 4)).unwrap()),
    ]
}

fn run(socket: Socket, op: SockOp) -> Run {
    Run::new(socket, op, maps())
}

/// Calls `helper` with key `key` (placed on the stack) and `flags`.
fn update(r: &mut Run, helper: u32, map: usize, key: u32, flags: u64) -> i64 {
    r.put(0, &key.to_ne_bytes());
    let (ctx, m, k) = (r.env.ctx_addr(), r.map_ptr(map), r.stack_addr(0));
    r.call(helper, [ctx, m, k, flags, 0])
}

fn delete(r: &mut Run, map: usize, key: u32) -> i64 {
    r.put(8, &key.to_ne_bytes());
    let (m, k) = (r.map_ptr(map), r.stack_addr(8));
    r.call(BPF_FUNC_MAP_DELETE_ELEM, [m, k, 0, 0, 0])
}

#[test]
fn only_established_and_listen_ops_may_add_sockets() {
    for n in 0..=20u32 {
        let op = SockOp::from_number(n).unwrap();
        let allowed = matches!(n, 4 | 5 | 11);
        let mut r = run(socket(), op);
        let expect = if allowed { 0 } else { EOPNOTSUPP };
        assert_eq!(
            update(&mut r, id::SOCK_MAP_UPDATE, 0, 1, BPF_ANY),
            expect,
            "sockmap op {n}"
        );
        assert_eq!(
            update(&mut r, id::SOCK_HASH_UPDATE, 1, 7, BPF_ANY),
            expect,
            "sockhash op {n}"
        );
        let held = usize::from(allowed);
        assert_eq!(r.maps[0].len(), held, "op {n}");
        assert_eq!(r.maps[1].len(), held, "op {n}");
    }
}

#[test]
fn request_sockets_are_not_suitable() {
    let mut r = run(request_socket(), SockOp::PassiveEstablishedCb);
    assert_eq!(
        update(&mut r, id::SOCK_MAP_UPDATE, 0, 0, BPF_ANY),
        EOPNOTSUPP
    );
    assert_eq!(
        update(&mut r, id::SOCK_HASH_UPDATE, 1, 0, BPF_ANY),
        EOPNOTSUPP
    );
}

#[test]
fn sockmap_flags_and_index_rules() {
    let s = socket();
    let cookie = s.cookie;
    let mut r = run(s, SockOp::ActiveEstablishedCb);
    // BPF_EXIST on an empty slot, then BPF_NOEXIST creates, BPF_NOEXIST again collides.
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 2, BPF_EXIST), ENOENT);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 2, BPF_NOEXIST), 0);
    assert_eq!(
        update(&mut r, id::SOCK_MAP_UPDATE, 0, 2, BPF_NOEXIST),
        EEXIST
    );
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 2, BPF_EXIST), 0);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 2, BPF_ANY), 0);
    // max_entries 4: index 3 is the last slot, 4 is past it.
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 3, BPF_ANY), 0);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 4, BPF_ANY), E2BIG);
    // Flags are checked before the index.
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 4, 3), EINVAL);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 0, 4), EINVAL);
    let m = &r.maps[0];
    assert_eq!(
        m.sock_entries(),
        vec![
            (2u32.to_ne_bytes().to_vec(), cookie),
            (3u32.to_ne_bytes().to_vec(), cookie)
        ]
    );
    // User-space lookup returns the cookie (value_size 8); empty slots are ENOENT.
    assert_eq!(m.lookup(&2u32.to_ne_bytes()).unwrap(), cookie.to_ne_bytes());
    assert_eq!(
        m.lookup(&0u32.to_ne_bytes()).unwrap_err().errno(),
        map_errno::ENOENT
    );
    // next_key walks every index like an array, ENOENT after max_entries - 1.
    assert_eq!(m.next_key(None).unwrap(), 0u32.to_ne_bytes());
    assert_eq!(
        m.next_key(Some(&1u32.to_ne_bytes())).unwrap(),
        2u32.to_ne_bytes()
    );
    assert_eq!(
        m.next_key(Some(&9u32.to_ne_bytes())).unwrap(),
        0u32.to_ne_bytes()
    );
    assert_eq!(
        m.next_key(Some(&3u32.to_ne_bytes())).unwrap_err().errno(),
        map_errno::ENOENT
    );
    // The map dump shows cookies.
    assert_eq!(m.entries().len(), 2);
    assert_eq!(m.entries()[0].1, cookie.to_ne_bytes());
}

#[test]
fn sockhash_flags_and_capacity() {
    let s = socket();
    let cookie = s.cookie;
    let mut r = run(s, SockOp::PassiveEstablishedCb);
    assert_eq!(
        update(&mut r, id::SOCK_HASH_UPDATE, 1, 10, BPF_EXIST),
        ENOENT
    );
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 10, BPF_NOEXIST), 0);
    assert_eq!(
        update(&mut r, id::SOCK_HASH_UPDATE, 1, 10, BPF_NOEXIST),
        EEXIST
    );
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 20, BPF_ANY), 0);
    // max_entries 2: a third key does not fit, replacing an existing one does.
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 30, BPF_ANY), E2BIG);
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 20, BPF_ANY), 0);
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 20, BPF_EXIST), 0);
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 30, 3), EINVAL);
    let m = &r.maps[1];
    assert_eq!(m.len(), 2);
    assert_eq!(m.sock_cookie(&10u32.to_ne_bytes()), Some(cookie));
    // value_size 4 cannot carry a cookie: the kernel's lookup says ENOSPC, the dump still
    // shows the cookie.
    assert_eq!(
        m.lookup(&10u32.to_ne_bytes()).unwrap_err().errno(),
        map_errno::ENOSPC
    );
    assert_eq!(
        m.entries(),
        vec![
            (10u32.to_ne_bytes().to_vec(), cookie.to_ne_bytes().to_vec()),
            (20u32.to_ne_bytes().to_vec(), cookie.to_ne_bytes().to_vec()),
        ]
    );
}

#[test]
fn wrong_map_types_are_refused() {
    let mut r = run(socket(), SockOp::ActiveEstablishedCb);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 1, 0, BPF_ANY), EINVAL);
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 0, 0, BPF_ANY), EINVAL);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 2, 0, BPF_ANY), EINVAL);
    // Something that is not a map of the program ends it.
    r.put(0, &[0; 4]);
    let (ctx, k) = (r.env.ctx_addr(), r.stack_addr(0));
    assert!(
        r.try_call(id::SOCK_MAP_UPDATE, [ctx, 0x1234, k, 0, 0])
            .is_err()
    );
    // A context pointer that is not the context ends it too.
    let m = r.map_ptr(0);
    assert!(r.try_call(id::SOCK_MAP_UPDATE, [k, m, k, 0, 0]).is_err());
}

#[test]
fn programs_may_delete_from_socket_maps() {
    let mut r = run(socket(), SockOp::TcpListenCb);
    assert_eq!(update(&mut r, id::SOCK_MAP_UPDATE, 0, 1, BPF_ANY), 0);
    assert_eq!(update(&mut r, id::SOCK_HASH_UPDATE, 1, 5, BPF_ANY), 0);
    // sockmap: an empty slot or one past the end is -EINVAL.
    assert_eq!(delete(&mut r, 0, 0), EINVAL);
    assert_eq!(delete(&mut r, 0, 4), EINVAL);
    assert_eq!(delete(&mut r, 0, 1), 0);
    assert_eq!(delete(&mut r, 0, 1), EINVAL);
    // sockhash: an absent key is -ENOENT.
    assert_eq!(delete(&mut r, 1, 6), ENOENT);
    assert_eq!(delete(&mut r, 1, 5), 0);
    assert_eq!(delete(&mut r, 1, 5), ENOENT);
    assert!(r.maps[0].is_empty() && r.maps[1].is_empty());
}

#[test]
fn calls_are_logged_and_sockets_leave_maps_when_closed() {
    let a = socket();
    let b = socket();
    let (ca, cb) = (a.cookie, b.cookie);
    assert_ne!(ca, cb);
    let maps = maps();
    let mut ra = Run::new(a, SockOp::ActiveEstablishedCb, maps.clone());
    let mut rb = Run::new(b, SockOp::PassiveEstablishedCb, maps.clone());
    assert_eq!(update(&mut ra, id::SOCK_MAP_UPDATE, 0, 0, BPF_ANY), 0);
    assert_eq!(update(&mut rb, id::SOCK_MAP_UPDATE, 0, 1, BPF_ANY), 0);
    assert_eq!(update(&mut ra, id::SOCK_MAP_UPDATE, 0, 2, BPF_ANY), 0);
    assert_eq!(update(&mut rb, id::SOCK_HASH_UPDATE, 1, 9, BPF_ANY), 0);
    let call = ra.env.calls.last().unwrap();
    assert_eq!((call.name, call.ret), ("bpf_sock_map_update", 0));
    assert_eq!(rb.env.calls.last().unwrap().name, "bpf_sock_hash_update");
    let cookies: Vec<u64> = maps[0].sock_entries().iter().map(|e| e.1).collect();
    assert_eq!(cookies, vec![ca, cb, ca]);
    assert_eq!(maps[0].sock_remove(ca), 2);
    assert_eq!(maps[1].sock_remove(cb), 1);
    assert_eq!(
        maps[0].sock_entries(),
        vec![(1u32.to_ne_bytes().to_vec(), cb)]
    );
    assert!(maps[1].is_empty());
    // User space cannot put sockets in with a plain update (it has no socket fd here).
    assert_eq!(
        maps[0]
            .update(&0u32.to_ne_bytes(), &[0; 8], 0)
            .unwrap_err()
            .errno(),
        map_errno::EOPNOTSUPP
    );
}
