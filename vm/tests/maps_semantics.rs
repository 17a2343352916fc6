//! Map semantics against the kernel's (kernel/bpf/arraymap.c, hashtab.c, queue_stack_maps.c,
//! fd arrays): flags, error codes, max_entries, per-CPU layout, LRU eviction, iteration, the
//! stable-address contract and the program-side operations.

use std::sync::Arc;

use sockops_vm::Program;
use sockops_vm::maps::{
    BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_NOEXIST, Map, MapDef,
    MapError, MapType, errno,
};

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    }
}

fn k(i: u32) -> [u8; 4] {
    i.to_le_bytes()
}

#[test]
fn array_lookup_update_and_errors() {
    let m = Map::try_new("a", def(MapType::Array, 4, 8, 4)).unwrap();
    // Preallocated and zeroed.
    assert_eq!(m.lookup(&k(3)).unwrap(), vec![0; 8]);
    m.update(&k(1), &7u64.to_le_bytes(), BPF_ANY).unwrap();
    m.update(&k(1), &9u64.to_le_bytes(), BPF_EXIST).unwrap();
    assert_eq!(m.lookup(&k(1)).unwrap(), 9u64.to_le_bytes());
    // Every element exists: NOEXIST is EEXIST; index >= max_entries is E2BIG on update,
    // ENOENT on lookup; delete is EINVAL; unknown flags EINVAL.
    assert_eq!(
        m.update(&k(1), &[0; 8], BPF_NOEXIST).unwrap_err().errno(),
        errno::EEXIST
    );
    assert_eq!(
        m.update(&k(4), &[0; 8], BPF_ANY).unwrap_err().errno(),
        errno::E2BIG
    );
    assert_eq!(m.lookup(&k(4)).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(m.delete(&k(1)).unwrap_err().errno(), errno::EINVAL);
    assert_eq!(
        m.update(&k(1), &[0; 8], 3).unwrap_err().errno(),
        errno::EINVAL
    );
    assert_eq!(
        m.update(&k(1), &[0; 8], BPF_F_LOCK).unwrap_err().errno(),
        errno::EINVAL
    );
    assert!(matches!(
        m.lookup(&[0; 3]),
        Err(MapError::KeySize {
            expected: 4,
            actual: 3,
            ..
        })
    ));
    assert!(matches!(
        m.update(&k(0), &[0; 7], 0),
        Err(MapError::ValueSize { .. })
    ));
}

#[test]
fn array_next_key_follows_array_map_get_next_key() {
    let m = Map::try_new("a", def(MapType::Array, 4, 4, 3)).unwrap();
    assert_eq!(m.next_key(None).unwrap(), k(0));
    assert_eq!(m.next_key(Some(&k(0))).unwrap(), k(1));
    assert_eq!(m.next_key(Some(&k(1))).unwrap(), k(2));
    assert_eq!(m.next_key(Some(&k(2))).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(m.next_key(Some(&k(99))).unwrap(), k(0));
    assert_eq!(m.keys(), vec![k(0).to_vec(), k(1).to_vec(), k(2).to_vec()]);
    assert_eq!(m.len(), 3);
}

#[test]
fn value_region_is_stable_and_shared_with_lookup() {
    let m = Map::try_new("a", def(MapType::Array, 4, 12, 2)).unwrap();
    let r0 = m.value_region(0).unwrap();
    let r1 = m.value_region(1).unwrap();
    assert_eq!(r0.len, 12);
    assert!(r0.writable);
    assert_eq!(r0.start % 8, 0);
    // elem_size = round_up(12, 8) = 16.
    assert_eq!(r1.start - r0.start, 16);
    assert!(m.value_region(2).is_none());
    assert_eq!(m.lookup_ptr(&k(1)).unwrap() as u64, r1.start);
    m.update(&k(1), &[1; 12], BPF_ANY).unwrap();
    assert_eq!(m.value_region(1).unwrap(), r1);
    // SAFETY: r1 is a live value of `m` of 12 bytes.
    let first = unsafe { *(r1.start as *const u8) };
    assert_eq!(first, 1);
}

#[test]
fn read_only_for_programs_and_frozen() {
    let mut d = def(MapType::Array, 4, 4, 1);
    d.map_flags = BPF_F_RDONLY_PROG;
    let m = Map::try_new("ro", d).unwrap();
    assert!(!m.value_region(0).unwrap().writable);
    m.update(&k(0), &[1, 2, 3, 4], BPF_ANY).unwrap();
    assert_eq!(
        m.program_update(&k(0), &[0; 4], BPF_ANY)
            .unwrap_err()
            .errno(),
        errno::EPERM
    );
    m.freeze();
    assert!(matches!(
        m.update(&k(0), &[0; 4], BPF_ANY),
        Err(MapError::Frozen { .. })
    ));
    assert_eq!(m.lookup(&k(0)).unwrap(), vec![1, 2, 3, 4]);
    // A frozen map without RDONLY_PROG is still writable by programs.
    let w = Map::try_new("w", def(MapType::Array, 4, 4, 1)).unwrap();
    w.freeze();
    w.program_update(&k(0), &[5; 4], BPF_ANY).unwrap();
    assert_eq!(w.lookup(&k(0)).unwrap(), vec![5; 4]);
}

#[test]
fn percpu_array_layout_and_cpu_selection() {
    let m = Map::try_with_cpus("pc", def(MapType::PercpuArray, 4, 4, 2), 3).unwrap();
    // From user space: every CPU's value, each round_up(4, 8) = 8 bytes.
    let mut all = vec![0u8; 24];
    all[0] = 1;
    all[8] = 2;
    all[16] = 3;
    m.update(&k(1), &all, BPF_ANY).unwrap();
    assert_eq!(m.lookup(&k(1)).unwrap(), all);
    assert!(matches!(
        m.update(&k(1), &[0; 4], BPF_ANY),
        Err(MapError::ValueSize { expected: 24, .. })
    ));
    // Programs see the current CPU.
    let p0 = m.lookup_ptr(&k(1)).unwrap();
    // SAFETY: live value of 4 bytes.
    assert_eq!(unsafe { *p0 }, 1);
    m.set_current_cpu(2).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { *m.lookup_ptr(&k(1)).unwrap() }, 3);
    m.program_update(&k(1), &[9, 0, 0, 0], BPF_ANY).unwrap();
    assert_eq!(m.lookup(&k(1)).unwrap()[16], 9);
    assert_eq!(m.lookup(&k(1)).unwrap()[0], 1);
    // SAFETY: as above.
    assert_eq!(unsafe { *m.lookup_percpu_ptr(&k(1), 1).unwrap() }, 2);
    assert!(m.lookup_percpu_ptr(&k(1), 3).is_none());
    assert!(m.set_current_cpu(3).is_err());
}

#[test]
fn hash_flags_errors_and_max_entries() {
    let m = Map::try_new("h", def(MapType::Hash, 4, 8, 2)).unwrap();
    assert_eq!(m.lookup(&k(1)).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(
        m.update(&k(1), &[1; 8], BPF_EXIST).unwrap_err().errno(),
        errno::ENOENT
    );
    m.update(&k(1), &[1; 8], BPF_NOEXIST).unwrap();
    assert_eq!(
        m.update(&k(1), &[2; 8], BPF_NOEXIST).unwrap_err().errno(),
        errno::EEXIST
    );
    m.update(&k(1), &[2; 8], BPF_EXIST).unwrap();
    m.update(&k(2), &[3; 8], BPF_ANY).unwrap();
    // Full: a new key is E2BIG, an existing key can still be replaced.
    assert_eq!(
        m.update(&k(3), &[4; 8], BPF_ANY).unwrap_err().errno(),
        errno::E2BIG
    );
    m.update(&k(2), &[5; 8], BPF_ANY).unwrap();
    assert_eq!(m.lookup(&k(1)).unwrap(), vec![2; 8]);
    assert_eq!(m.len(), 2);
    m.delete(&k(1)).unwrap();
    assert_eq!(m.delete(&k(1)).unwrap_err().errno(), errno::ENOENT);
    m.update(&k(3), &[4; 8], BPF_ANY).unwrap();
    assert_eq!(
        m.update(&k(3), &[4; 8], 4).unwrap_err().errno(),
        errno::EINVAL
    );
}

#[test]
fn hash_next_key_iterates_every_key_once() {
    let m = Map::try_new("h", def(MapType::Hash, 4, 4, 10)).unwrap();
    assert_eq!(m.next_key(None).unwrap_err().errno(), errno::ENOENT);
    for i in [5, 1, 9] {
        m.update(&k(i), &k(i * 10), BPF_ANY).unwrap();
    }
    let mut keys: Vec<u32> = m
        .keys()
        .iter()
        .map(|k| u32::from_le_bytes(k[..].try_into().unwrap()))
        .collect();
    keys.sort();
    assert_eq!(keys, vec![1, 5, 9]);
    // A key not in the map restarts from the first key (htab_map_get_next_key).
    assert_eq!(m.next_key(Some(&k(77))).unwrap(), m.next_key(None).unwrap());
    let entries = m.entries();
    assert_eq!(entries.len(), 3);
    for (key, value) in entries {
        let i = u32::from_le_bytes(key[..].try_into().unwrap());
        assert_eq!(value, k(i * 10));
    }
}

#[test]
fn deleted_hash_values_stay_valid_until_release_deferred() {
    let m = Map::try_new("h", def(MapType::Hash, 4, 8, 4)).unwrap();
    m.update(&k(1), &0xabu64.to_le_bytes(), BPF_ANY).unwrap();
    let p = m.lookup_ptr(&k(1)).unwrap();
    m.delete(&k(1)).unwrap();
    assert_eq!(m.deferred_frees(), 1);
    // SAFETY: the contract: a deleted value stays allocated until release_deferred.
    assert_eq!(unsafe { *p }, 0xab);
    // SAFETY: no run holds pointers into `m` any more.
    unsafe { m.release_deferred() };
    assert_eq!(m.deferred_frees(), 0);
}

#[test]
fn lru_hash_evicts_least_recently_used() {
    let m = Map::try_new("lru", def(MapType::LruHash, 4, 4, 3)).unwrap();
    for i in 1..=3 {
        m.update(&k(i), &k(i), BPF_ANY).unwrap();
    }
    // A program lookup makes key 1 the most recently used; key 2 is now the oldest.
    assert!(m.lookup_ptr(&k(1)).is_some());
    m.update(&k(4), &k(4), BPF_ANY).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m.lookup(&k(2)).unwrap_err().errno(), errno::ENOENT);
    assert!(m.lookup(&k(1)).is_ok());
    // User-space lookups do not count as uses: key 3 is evicted next even after a lookup.
    m.lookup(&k(3)).unwrap();
    m.update(&k(5), &k(5), BPF_ANY).unwrap();
    assert_eq!(m.lookup(&k(3)).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(
        m.update(&k(1), &k(0), BPF_NOEXIST).unwrap_err().errno(),
        errno::EEXIST
    );
    assert_eq!(m.deferred_frees(), 2);
}

#[test]
fn percpu_hash_program_update_zeroes_other_cpus() {
    let m = Map::try_with_cpus("ph", def(MapType::PercpuHash, 4, 4, 4), 2).unwrap();
    m.set_current_cpu(1).unwrap();
    m.program_update(&k(1), &[7, 0, 0, 0], BPF_ANY).unwrap();
    assert_eq!(
        m.lookup(&k(1)).unwrap(),
        vec![0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn queue_and_stack_order_and_overflow() {
    let q = Map::try_new("q", def(MapType::Queue, 0, 4, 2)).unwrap();
    assert_eq!(q.pop().unwrap_err().errno(), errno::ENOENT);
    assert_eq!(q.peek().unwrap_err().errno(), errno::ENOENT);
    q.push(&k(1), BPF_ANY).unwrap();
    q.push(&k(2), BPF_ANY).unwrap();
    assert_eq!(q.push(&k(3), BPF_ANY).unwrap_err().errno(), errno::E2BIG);
    assert_eq!(
        q.push(&k(3), BPF_NOEXIST).unwrap_err().errno(),
        errno::EINVAL
    );
    // BPF_EXIST makes room by dropping the oldest.
    q.push(&k(3), BPF_EXIST).unwrap();
    assert_eq!(q.peek().unwrap(), k(2));
    assert_eq!(q.pop().unwrap(), k(2));
    assert_eq!(q.pop().unwrap(), k(3));
    assert_eq!(q.lookup(&[]).unwrap_err().errno(), errno::EINVAL);

    let s = Map::try_new("s", def(MapType::Stack, 0, 4, 2)).unwrap();
    s.push(&k(1), BPF_ANY).unwrap();
    s.push(&k(2), BPF_ANY).unwrap();
    assert_eq!(s.peek().unwrap(), k(2));
    assert_eq!(s.pop().unwrap(), k(2));
    assert_eq!(s.pop().unwrap(), k(1));
}

#[test]
fn prog_array_slots() {
    let m = Map::try_new("jmp", def(MapType::ProgArray, 4, 4, 2)).unwrap();
    assert!(m.prog_array_get(0).is_none());
    let p = Arc::new(Program::from_insns("t", Vec::new()));
    m.prog_array_set(1, Some(Arc::clone(&p))).unwrap();
    assert_eq!(m.prog_array_get(1).unwrap().name, "t");
    assert!(m.prog_array_get(2).is_none());
    assert_eq!(m.prog_array_set(2, None).unwrap_err().errno(), errno::E2BIG);
    assert_eq!(m.len(), 1);
    m.delete(&k(1)).unwrap();
    assert_eq!(m.delete(&k(1)).unwrap_err().errno(), errno::ENOENT);
    assert!(m.prog_array_get(1).is_none());
}

#[test]
fn prog_array_clear_empties_every_slot_and_drops_the_programs() {
    let m = Map::try_new("jmp", def(MapType::ProgArray, 4, 4, 1 << 20)).unwrap();
    let p = Arc::new(Program::from_insns("t", Vec::new()));
    for i in [0, 7, (1 << 20) - 1] {
        m.prog_array_set(i, Some(Arc::clone(&p))).unwrap();
    }
    assert_eq!(Arc::strong_count(&p), 4);
    assert_eq!(m.prog_array_clear(), 3);
    assert_eq!(Arc::strong_count(&p), 1);
    assert!(m.is_empty());
    assert_eq!(m.prog_array_clear(), 0);
    // Other map types have no slots to clear.
    let a = Map::try_new("a", def(MapType::Array, 4, 4, 1)).unwrap();
    assert_eq!(a.prog_array_clear(), 0);
}

#[test]
fn definitions_the_kernel_rejects() {
    let bad = [
        def(MapType::Array, 8, 4, 1),
        def(MapType::Array, 4, 0, 1),
        def(MapType::Array, 4, 4, 0),
        def(MapType::Hash, 0, 4, 1),
        def(MapType::Hash, 513, 4, 1),
        def(MapType::ProgArray, 4, 8, 1),
        def(MapType::Queue, 4, 4, 1),
        def(MapType::SkStorage, 4, 4, 0), // needs BPF_F_NO_PREALLOC
        def(MapType::Sockmap, 4, 2, 1),
    ];
    for d in bad {
        let e = Map::try_new("x", d).unwrap_err();
        assert_eq!(e.errno(), errno::EINVAL, "{d:?}");
    }
    let huge = Map::try_new("big", def(MapType::Array, 4, 1 << 20, 1 << 20)).unwrap_err();
    assert_eq!(huge.errno(), errno::ENOMEM);
    let mut sk = def(MapType::SkStorage, 4, 16, 0);
    sk.map_flags = BPF_F_NO_PREALLOC;
    let m = Map::try_new("sk", sk).unwrap();
    assert_eq!(m.lookup(&k(0)).unwrap_err().errno(), errno::EOPNOTSUPP);
}

#[test]
fn map_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Map>();
    assert_send_sync::<Arc<Map>>();
}
