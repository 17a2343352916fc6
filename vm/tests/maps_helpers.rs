//! The map helpers (`register_map_helpers`) called by programs on the interpreter: kernel
//! return values (0, -EEXIST, -ENOENT, -E2BIG), lookups returning pointers into the map's
//! storage that the program may read and write (read-only maps excepted), queue/stack
//! helpers, per-CPU lookups, and helper argument faults.

use std::sync::Arc;

use sockops_vm::maps::helpers::register_map_helpers;
use sockops_vm::maps::{BPF_ANY, BPF_F_RDONLY_PROG, Map, MapDef, MapType};
use sockops_vm::{ExecError, HelperTable, Interpreter, Program, RunOptions, assemble};

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    }
}

fn helpers() -> HelperTable {
    let mut t = HelperTable::new();
    register_map_helpers(&mut t);
    t
}

/// Runs `text` with `maps` as map_fd 0, 1, ...; returns r0.
fn run(text: &str, maps: &[Arc<Map>]) -> Result<u64, ExecError> {
    let mut p = Program::from_insns("t", assemble(text).unwrap());
    p.maps = maps.to_vec();
    let mut interp = Interpreter::new(&p, &helpers()).unwrap();
    interp
        .run(&mut [], &mut (), &RunOptions::default())
        .map(|r| r.r0)
}

const NEG_EEXIST: u64 = -17i64 as u64;
const NEG_ENOENT: u64 = -2i64 as u64;
const NEG_E2BIG: u64 = -7i64 as u64;

/// Key 7 (u32) at r10-8 and value 42 (u64) at r10-16, then `bpf_map_update_elem(map 0,
/// key, value, FLAGS)`.
fn update_program(flags: i32) -> String {
    format!(
        "mov %r1, 7
         stxw [%r10-8], %r1
         mov %r1, 42
         stxdw [%r10-16], %r1
         lddw %r1, map_fd 0
         mov %r2, %r10
         add %r2, -8
         mov %r3, %r10
         add %r3, -16
         mov %r4, {flags}
         call 2
         exit"
    )
}

const LOOKUP_KEY7_ADD_ONE: &str = "
    mov %r1, 7
    stxw [%r10-8], %r1
    lddw %r1, map_fd 0
    mov %r2, %r10
    add %r2, -8
    call 1
    jeq %r0, 0, +4
    ldxdw %r1, [%r0]
    add %r1, 1
    stxdw [%r0], %r1
    mov %r0, %r1
    exit";

const DELETE_KEY7: &str = "
    mov %r1, 7
    stxw [%r10-8], %r1
    lddw %r1, map_fd 0
    mov %r2, %r10
    add %r2, -8
    call 3
    exit";

#[test]
fn hash_update_lookup_delete_from_a_program() {
    let m = Arc::new(Map::try_new("h", def(MapType::Hash, 4, 8, 1)).unwrap());
    let maps = [Arc::clone(&m)];
    assert_eq!(run(&update_program(1), &maps).unwrap(), 0); // BPF_NOEXIST
    assert_eq!(m.lookup(&7u32.to_le_bytes()).unwrap(), 42u64.to_le_bytes());
    assert_eq!(run(&update_program(1), &maps).unwrap(), NEG_EEXIST);
    // The lookup pointer is the value itself: the program's write is visible from Rust.
    assert_eq!(run(LOOKUP_KEY7_ADD_ONE, &maps).unwrap(), 43);
    assert_eq!(m.lookup(&7u32.to_le_bytes()).unwrap(), 43u64.to_le_bytes());
    assert_eq!(run(DELETE_KEY7, &maps).unwrap(), 0);
    assert_eq!(run(DELETE_KEY7, &maps).unwrap(), NEG_ENOENT);
    // Missing key: NULL.
    assert_eq!(run(LOOKUP_KEY7_ADD_ONE, &maps).unwrap(), 0);
    assert_eq!(run(&update_program(2), &maps).unwrap(), NEG_ENOENT); // BPF_EXIST
    m.update(&1u32.to_le_bytes(), &[0; 8], BPF_ANY).unwrap();
    assert_eq!(run(&update_program(0), &maps).unwrap(), NEG_E2BIG); // full
    assert_eq!(m.deferred_frees(), 1);
    // SAFETY: no run is in progress.
    unsafe { m.release_deferred() };
}

#[test]
fn array_lookup_and_read_only_values() {
    let m = Arc::new(Map::try_new("a", def(MapType::Array, 4, 8, 8)).unwrap());
    assert_eq!(run(LOOKUP_KEY7_ADD_ONE, &[Arc::clone(&m)]).unwrap(), 1);
    assert_eq!(m.lookup(&7u32.to_le_bytes()).unwrap(), 1u64.to_le_bytes());
    // Array delete is -EINVAL.
    assert_eq!(run(DELETE_KEY7, &[Arc::clone(&m)]).unwrap(), -22i64 as u64);

    let mut d = def(MapType::Array, 4, 8, 8);
    d.map_flags = BPF_F_RDONLY_PROG;
    let ro = Arc::new(Map::try_new("ro", d).unwrap());
    ro.update(&7u32.to_le_bytes(), &5u64.to_le_bytes(), BPF_ANY)
        .unwrap();
    // Reading is fine, the store through the pointer faults; update is -EPERM.
    let e = run(LOOKUP_KEY7_ADD_ONE, &[Arc::clone(&ro)]).unwrap_err();
    assert!(e.to_string().contains("Write"), "{e}");
    assert_eq!(run(&update_program(0), &[ro]).unwrap(), -1i64 as u64);
}

#[test]
fn queue_push_pop_peek_from_a_program() {
    let q = Arc::new(Map::try_new("q", def(MapType::Queue, 0, 8, 2)).unwrap());
    let push = |v: i32, flags: i32| {
        format!(
            "mov %r1, {v}
             stxdw [%r10-8], %r1
             lddw %r1, map_fd 0
             mov %r2, %r10
             add %r2, -8
             mov %r3, {flags}
             call 87
             exit"
        )
    };
    let take = |helper: u32| {
        format!(
            "lddw %r1, map_fd 0
             mov %r2, %r10
             add %r2, -8
             call {helper}
             jne %r0, 0, +2
             ldxdw %r0, [%r10-8]
             exit
             exit"
        )
    };
    let maps = [Arc::clone(&q)];
    assert_eq!(run(&push(1, 0), &maps).unwrap(), 0);
    assert_eq!(run(&push(2, 0), &maps).unwrap(), 0);
    assert_eq!(run(&push(3, 0), &maps).unwrap(), NEG_E2BIG);
    assert_eq!(run(&push(3, 2), &maps).unwrap(), 0); // BPF_EXIST drops the oldest
    assert_eq!(run(&take(89), &maps).unwrap(), 2); // peek
    assert_eq!(run(&take(88), &maps).unwrap(), 2); // pop
    assert_eq!(run(&take(88), &maps).unwrap(), 3);
    assert_eq!(run(&take(88), &maps).unwrap(), NEG_ENOENT);
}

#[test]
fn lookup_percpu_elem_picks_the_cpu() {
    let m = Arc::new(Map::try_with_cpus("pc", def(MapType::PercpuArray, 4, 8, 1), 2).unwrap());
    let mut all = 10u64.to_le_bytes().to_vec();
    all.extend(20u64.to_le_bytes());
    m.update(&0u32.to_le_bytes(), &all, BPF_ANY).unwrap();
    let prog = |cpu: i32| {
        format!(
            "mov %r1, 0
             stxw [%r10-4], %r1
             lddw %r1, map_fd 0
             mov %r2, %r10
             add %r2, -4
             mov %r3, {cpu}
             call 195
             jeq %r0, 0, +1
             ldxdw %r0, [%r0]
             exit"
        )
    };
    let maps = [Arc::clone(&m)];
    assert_eq!(run(&prog(0), &maps).unwrap(), 10);
    assert_eq!(run(&prog(1), &maps).unwrap(), 20);
    assert_eq!(run(&prog(2), &maps).unwrap(), 0); // no such CPU: NULL
    // bpf_map_lookup_elem sees the current CPU.
    m.set_current_cpu(1).unwrap();
    let lookup = "mov %r1, 0
                  stxw [%r10-4], %r1
                  lddw %r1, map_fd 0
                  mov %r2, %r10
                  add %r2, -4
                  call 1
                  ldxdw %r0, [%r0]
                  exit";
    assert_eq!(run(lookup, &maps).unwrap(), 20);
}

#[test]
fn bad_helper_arguments_stop_the_program() {
    let m = Arc::new(Map::try_new("h", def(MapType::Hash, 4, 8, 4)).unwrap());
    // Not a map pointer.
    let e = run("mov %r1, 1234\n call 1\n exit", &[Arc::clone(&m)]).unwrap_err();
    assert!(e.to_string().contains("not a map"), "{e}");
    // The key pointer is outside every region.
    let e = run(
        "lddw %r1, map_fd 0\n mov %r2, 16\n call 1\n exit",
        &[Arc::clone(&m)],
    )
    .unwrap_err();
    assert!(e.to_string().contains("invalid memory"), "{e}");
    // Tail call through a map that is not a prog array.
    let e = run("lddw %r2, map_fd 0\n mov %r3, 0\n call 12\n exit", &[m]).unwrap_err();
    assert!(e.to_string().contains("prog_array"), "{e}");
    // A prog array with an empty slot: -ENOENT and the program continues.
    let pa = Arc::new(Map::try_new("pa", def(MapType::ProgArray, 4, 4, 2)).unwrap());
    assert_eq!(
        run("lddw %r2, map_fd 0\n mov %r3, 1\n call 12\n exit", &[pa]).unwrap(),
        NEG_ENOENT
    );
}
