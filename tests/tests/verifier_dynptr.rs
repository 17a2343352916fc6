//! Dynptrs (helpers 197-203): a local dynptr over a map value (`bpf_dynptr_from_mem`) and a
//! ring buffer dynptr (`bpf_ringbuf_reserve_dynptr`, released by `_submit_dynptr` or
//! `_discard_dynptr`), read, written and sliced (`bpf_dynptr_read`/`_write`/`_data`). The
//! verifier keeps the 16 stack bytes as `STACK_DYNPTR`: the program may not read them, a
//! write destroys a local dynptr and its slices and is refused over a referenced one, a
//! ring buffer dynptr is a reference that must be released, and releasing it invalidates
//! its slices. Verdicts recorded from the live 6.18 kernel and checked against it again where
//! `bpf()` works (root, and unprivileged for the cases whose message differs). What the
//! helpers do at run time, on every engine, is the last test.

use std::sync::Arc;

use sockops_tests::recorded::{
    RecordedCase, assert_ours_match_recorded, assert_recorded_match_live_kernel,
};
use sockops_vm::{Map, MapDef, MapType, assemble};

fn array_map() -> MapDef {
    MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 128,
        max_entries: 1,
        map_flags: 0,
    }
}

fn ringbuf_map() -> MapDef {
    MapDef {
        map_type: MapType::Ringbuf,
        key_size: 0,
        value_size: 0,
        max_entries: 4096,
        map_flags: 0,
    }
}

/// Looks up the array's value (r6), builds a local dynptr over its first 16 bytes at fp-24
/// (instructions 0-15), then `body`.
fn local(body: &str) -> String {
    format!(
        "stdw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_fd 0\ncall 1\n\
         jne %r0, 0, +2\nmov %r0, 1\nexit\nmov %r6, %r0\n\
         mov %r1, %r6\nmov %r2, 16\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -24\ncall 197\n\
         {body}\nmov %r0, 1\nexit"
    )
}

/// Reserves a ring buffer dynptr of 8 bytes at fp-16 (instructions 0-6), then `body`.
fn ringbuf(body: &str) -> String {
    format!(
        "lddw %r1, map_fd 0\nmov %r2, 8\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -16\ncall 198\n\
         {body}\nmov %r0, 1\nexit"
    )
}

/// `bpf_dynptr_data(fp+off, 0, len)`.
fn data(off: i32, len: u32) -> String {
    format!("mov %r1, %r10\nadd %r1, {off}\nmov %r2, 0\nmov %r3, {len}\ncall 203")
}

/// `bpf_ringbuf_submit_dynptr(fp+off, 0)` (or discard, helper 200).
fn release(helper: u32, off: i32) -> String {
    format!("mov %r1, %r10\nadd %r1, {off}\nmov %r2, 0\ncall {helper}")
}

fn case(
    name: &'static str,
    maps: Vec<MapDef>,
    text: String,
    kernel: Option<(usize, &'static str)>,
) -> RecordedCase {
    RecordedCase {
        name,
        maps,
        text,
        kernel,
    }
}

/// Local dynptrs over a map value.
fn local_cases() -> Vec<RecordedCase> {
    let m = || vec![array_map()];
    vec![
        case("from_mem", m(), local(""), None),
        case(
            "a load from the dynptr's bytes",
            m(),
            local("ldxdw %r0, [%r10-24]"),
            Some((16, "invalid read from stack off -24+0 size 8")),
        ),
        case(
            "a byte load from its second slot",
            m(),
            local("ldxb %r0, [%r10-17]"),
            Some((16, "invalid read from stack off -17+0 size 1")),
        ),
        case(
            "a store destroys a local dynptr",
            m(),
            local("stdw [%r10-24], 0"),
            None,
        ),
        case(
            "a slice read inside its size",
            m(),
            local(&format!(
                "{}\njeq %r0, 0, +1\nldxdw %r0, [%r0+0]",
                data(-24, 8)
            )),
            None,
        ),
        case(
            "a slice read past its size",
            m(),
            local(&format!(
                "{}\njeq %r0, 0, +1\nldxdw %r0, [%r0+4]",
                data(-24, 8)
            )),
            Some((22, "R0 min value is outside of the allowed memory range")),
        ),
        case(
            "a slice before its null check",
            m(),
            local(&format!("{}\nldxdw %r0, [%r0+0]", data(-24, 8))),
            Some((21, "R0 invalid mem access 'mem_or_null'")),
        ),
        case(
            "a store over the dynptr invalidates its slice",
            m(),
            local(&format!(
                "{}\njeq %r0, 0, +2\nstdw [%r10-16], 0\nldxdw %r0, [%r0+0]",
                data(-24, 8)
            )),
            Some((23, "R0 invalid mem access 'scalar'")),
        ),
        case(
            "data at the dynptr's second slot",
            m(),
            local(&data(-16, 8)),
            Some((20, "Expected an initialized dynptr as arg #0")),
        ),
        case(
            "data at an offset inside a slot",
            m(),
            local(&data(-20, 8)),
            Some((20, "Expected an initialized dynptr as arg #0")),
        ),
        case(
            "submitting a local dynptr",
            m(),
            local(&release(199, -24)),
            Some((19, "arg 1 is an unacquired reference")),
        ),
        case(
            "dynptr_read into the stack",
            m(),
            local(
                "mov %r1, %r10\nadd %r1, -40\nmov %r2, 8\nmov %r3, %r10\nadd %r3, -24\n\
                 mov %r4, 0\nmov %r5, 0\ncall 201\nldxdw %r0, [%r10-40]",
            ),
            None,
        ),
        case(
            "dynptr_read into the dynptr itself",
            m(),
            local(
                "mov %r1, %r10\nadd %r1, -24\nmov %r2, 8\nmov %r3, %r10\nadd %r3, -24\n\
                 mov %r4, 0\nmov %r5, 0\ncall 201",
            ),
            Some((23, "potential write to dynptr at off=-24 disallowed")),
        ),
        case(
            "dynptr_write from a map value",
            m(),
            local(
                "mov %r1, %r10\nadd %r1, -24\nmov %r2, 0\nmov %r3, %r6\nmov %r4, 8\n\
                 mov %r5, 0\ncall 202",
            ),
            None,
        ),
        case(
            "from_mem over the stack",
            m(),
            "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 0\n\
             mov %r4, %r10\nadd %r4, -24\ncall 197\nmov %r0, 1\nexit"
                .into(),
            Some((7, "Unsupported reg type fp for bpf_dynptr_from_mem data")),
        ),
        case(
            "from_mem at fp-8",
            m(),
            local("mov %r1, %r6\nmov %r2, 16\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -8\ncall 197"),
            Some((21, "Dynptr has to be an uninitialized dynptr")),
        ),
        case(
            "from_mem with a scalar dynptr",
            m(),
            local("mov %r1, %r6\nmov %r2, 16\nmov %r3, 0\nmov %r4, 0\ncall 197"),
            Some((20, "R4 type=scalar expected=fp, dynptr_ptr")),
        ),
    ]
}

/// Ring buffer dynptrs.
fn ringbuf_cases() -> Vec<RecordedCase> {
    let m = || vec![ringbuf_map()];
    vec![
        case("submit", m(), ringbuf(&release(199, -16)), None),
        case("discard", m(), ringbuf(&release(200, -16)), None),
        case(
            "never released",
            m(),
            ringbuf("mov %r0, 0"),
            Some((
                9,
                "BPF_EXIT instruction in main prog would lead to reference leak",
            )),
        ),
        case(
            "a store over it",
            m(),
            ringbuf(&format!("stdw [%r10-8], 0\n{}", release(199, -16))),
            Some((7, "cannot overwrite referenced dynptr")),
        ),
        case(
            "a second reservation over it",
            m(),
            ringbuf(
                "lddw %r1, map_fd 0\nmov %r2, 8\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -16\n\
                 call 198",
            ),
            Some((13, "cannot overwrite referenced dynptr")),
        ),
        case(
            "submitted twice",
            m(),
            ringbuf(&format!("{}\n{}", release(199, -16), release(199, -16))),
            Some((14, "arg 1 is an unacquired reference")),
        ),
        case(
            "released at fp-8",
            m(),
            ringbuf(&release(199, -8)),
            Some((10, "arg 1 is an unacquired reference")),
        ),
        case(
            "a slice written before the submit",
            m(),
            ringbuf(&format!(
                "{}\njeq %r0, 0, +1\nstdw [%r0+0], 1\n{}",
                data(-16, 8),
                release(199, -16)
            )),
            None,
        ),
        case(
            "a slice used after the submit",
            m(),
            ringbuf(&format!(
                "{}\nmov %r6, %r0\n{}\njeq %r6, 0, +1\nstdw [%r6+0], 1",
                data(-16, 8),
                release(199, -16)
            )),
            Some((18, "R6 invalid mem access 'scalar'")),
        ),
        case(
            "a spilled slice reloaded after the submit is a scalar",
            m(),
            ringbuf(&format!(
                "{}\nstxdw [%r10-24], %r0\n{}\nldxdw %r0, [%r10-24]",
                data(-16, 8),
                release(199, -16)
            )),
            None,
        ),
        case(
            "data after the submit",
            m(),
            ringbuf(&format!("{}\n{}", release(199, -16), data(-16, 8))),
            Some((15, "Expected an initialized dynptr as arg #0")),
        ),
        case(
            "reserve on an array",
            vec![array_map()],
            ringbuf(&release(199, -16)),
            Some((
                6,
                "cannot pass map_type 2 into func bpf_ringbuf_reserve_dynptr#198",
            )),
        ),
    ]
}

fn all_cases() -> Vec<RecordedCase> {
    let mut v = local_cases();
    v.extend(ringbuf_cases());
    v
}

/// Cases whose unprivileged verdict differs (an invalidated slice is unreadable there).
fn strict_cases() -> Vec<RecordedCase> {
    vec![
        case(
            "a slice used after the submit (unprivileged)",
            vec![ringbuf_map()],
            ringbuf(&format!(
                "{}\nmov %r6, %r0\n{}\njeq %r6, 0, +1\nstdw [%r6+0], 1",
                data(-16, 8),
                release(199, -16)
            )),
            Some((17, "R6 !read_ok")),
        ),
        case(
            "a store over a local dynptr invalidates its slice (unprivileged)",
            vec![array_map()],
            local(&format!(
                "{}\njeq %r0, 0, +2\nstdw [%r10-16], 0\nldxdw %r0, [%r0+0]",
                data(-24, 8)
            )),
            Some((23, "R0 !read_ok")),
        ),
        case(
            "submit (unprivileged)",
            vec![ringbuf_map()],
            ringbuf(&release(199, -16)),
            None,
        ),
    ]
}

#[test]
fn dynptr_programs_are_judged_as_the_kernel_judges_them() {
    assert_ours_match_recorded(&all_cases(), false);
}

#[test]
fn unprivileged_loaders_get_the_kernel_verdicts() {
    assert_ours_match_recorded(&strict_cases(), true);
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    assert_recorded_match_live_kernel(&all_cases(), false);
    assert_recorded_match_live_kernel(&strict_cases(), true);
}

/// Runs `text` once on `engine` (as a sock_ops program attached at the root, on a connect
/// callback) with a fresh array (map 0) and ring buffer (map 1); checks it returned 1 and
/// gives the two maps back.
fn run_once(text: &str, engine: sockops::runtime::Engine) -> (Arc<Map>, Arc<Map>) {
    use sockops::cgroup::AttachFlags;
    use sockops::ctx::{SockOp, Socket};
    use sockops::runtime::Runtime;
    use sockops::vm::Program;

    let array = Arc::new(Map::try_new("values", array_map()).unwrap());
    let rb = Arc::new(Map::try_new("events", ringbuf_map()).unwrap());
    let mut rt = Runtime::new();
    let p = Program {
        maps: vec![Arc::clone(&array), Arc::clone(&rb)],
        ..Program::from_insns("dynptr", assemble(text).unwrap())
    };
    let id = rt.load_raw_program(p, engine).unwrap();
    rt.attach(id, "/", AttachFlags::None).unwrap();
    let mut s = Socket::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.1.2.3:443".parse().unwrap(),
    );
    let d = rt.call(SockOp::TcpConnectCb, &mut s).unwrap();
    assert_eq!(d.returns(), vec![1], "{engine:?}");
    (array, rb)
}

/// The program of the run-time test: results of each call stored in the array's value at
/// 16.., so the test reads them after the run.
const RUN: &str = "\
stdw [%r10-8], 0
mov %r2, %r10
add %r2, -8
lddw %r1, map_fd 0
call 1
jne %r0, 0, +2
mov %r0, 1
exit
mov %r9, %r0
lddw %r1, 0x1122334455667788
stxdw [%r10-8], %r1
mov %r1, %r9
mov %r2, 16
mov %r3, 0
mov %r4, %r10
add %r4, -24
call 197
stxdw [%r9+16], %r0
mov %r1, %r10
add %r1, -24
mov %r2, 4
mov %r3, %r10
add %r3, -8
mov %r4, 8
mov %r5, 0
call 202
stxdw [%r9+24], %r0
mov %r1, %r10
add %r1, -40
mov %r2, 8
mov %r3, %r10
add %r3, -24
mov %r4, 4
mov %r5, 0
call 201
stxdw [%r9+32], %r0
ldxdw %r1, [%r10-40]
stxdw [%r9+40], %r1
mov %r1, %r10
add %r1, -40
mov %r2, 8
mov %r3, %r10
add %r3, -24
mov %r4, 12
mov %r5, 0
call 201
stxdw [%r9+48], %r0
mov %r1, %r10
add %r1, -24
mov %r2, 0
mov %r3, %r10
add %r3, -8
mov %r4, 8
mov %r5, 1
call 202
stxdw [%r9+56], %r0
mov %r1, %r10
add %r1, -24
mov %r2, 8
mov %r3, 8
call 203
jeq %r0, 0, +3
ldxdw %r1, [%r0+0]
stxdw [%r9+64], %r1
stdw [%r0+0], 7
mov %r1, %r10
add %r1, -24
mov %r2, 12
mov %r3, 8
call 203
stxdw [%r9+72], %r0
lddw %r1, map_fd 1
mov %r2, 8
mov %r3, 0
mov %r4, %r10
add %r4, -56
call 198
stxdw [%r9+80], %r0
mov %r1, %r10
add %r1, -56
mov %r2, 0
mov %r3, %r10
add %r3, -8
mov %r4, 8
mov %r5, 0
call 202
stxdw [%r9+88], %r0
mov %r1, %r10
add %r1, -56
mov %r2, 0
call 199
lddw %r1, map_fd 1
mov %r2, 8
mov %r3, 1
mov %r4, %r10
add %r4, -56
call 198
stxdw [%r9+96], %r0
mov %r1, %r10
add %r1, -56
mov %r2, 0
call 200
mov %r0, 1
exit";

/// On the interpreter, the JIT and the checked JIT, the helpers do what the kernel's do: a
/// write and a read through a local dynptr (at an offset), the kernel's -E2BIG and -EINVAL,
/// a slice read and written in place, NULL for a slice outside the dynptr, a ring buffer
/// record written through a dynptr and submitted, and a failed reservation discarded.
#[test]
fn dynptr_helpers_run_alike_on_every_engine() {
    use sockops::runtime::Engine;
    for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
        let (array, rb) = run_once(RUN, engine);
        let v = array.lookup(&0u32.to_ne_bytes()).unwrap();
        let word = |off: usize| u64::from_ne_bytes(v[off..off + 8].try_into().unwrap());
        let written = 0x1122_3344_5566_7788u64.to_ne_bytes();
        // Bytes 4..12 hold the written word, except 8..16 which the slice overwrote with 7.
        assert_eq!(v[4..8], written[..4], "{engine:?}");
        assert_eq!(word(8), 7, "{engine:?}");
        assert_eq!(word(16), 0, "from_mem {engine:?}");
        assert_eq!(word(24), 0, "write {engine:?}");
        assert_eq!(word(32), 0, "read {engine:?}");
        assert_eq!(word(40), 0x1122_3344_5566_7788, "read back {engine:?}");
        assert_eq!(word(48) as i64, -7, "read past the end: -E2BIG {engine:?}");
        assert_eq!(word(56) as i64, -22, "write with flags: -EINVAL {engine:?}");
        let mut slice = [0u8; 8];
        slice[..4].copy_from_slice(&written[4..]);
        assert_eq!(word(64), u64::from_ne_bytes(slice), "slice {engine:?}");
        assert_eq!(word(72), 0, "slice past the end is NULL {engine:?}");
        assert_eq!(word(80), 0, "reserve {engine:?}");
        assert_eq!(word(88), 0, "write into the record {engine:?}");
        assert_eq!(
            word(96) as i64,
            -22,
            "reserve with flags: -EINVAL {engine:?}"
        );
        assert_eq!(rb.ringbuf_consume(), vec![written.to_vec()], "{engine:?}");
    }
}

/// Empty dynptrs (a zero-sized record, a zero-sized map value view): zero-length reads and
/// writes succeed and copy nothing, `bpf_dynptr_data` of zero bytes is not NULL, on every
/// engine. (Found by the soundness test: an empty record has no memory region, and the
/// helpers once checked a zero-length copy against it.)
#[test]
fn empty_dynptrs_copy_nothing_on_every_engine() {
    use sockops::runtime::Engine;

    let text = "\
stdw [%r10-8], 0
mov %r2, %r10
add %r2, -8
lddw %r1, map_fd 0
call 1
jne %r0, 0, +2
mov %r0, 1
exit
mov %r9, %r0
lddw %r1, map_fd 1
mov %r2, 0
mov %r3, 0
mov %r4, %r10
add %r4, -32
call 198
stxdw [%r9+0], %r0
mov %r1, %r10
add %r1, -32
mov %r2, 0
mov %r3, %r9
mov %r4, 0
mov %r5, 0
call 202
stxdw [%r9+8], %r0
mov %r1, %r10
add %r1, -48
mov %r2, 0
mov %r3, %r10
add %r3, -32
mov %r4, 0
mov %r5, 0
call 201
stxdw [%r9+16], %r0
mov %r1, %r10
add %r1, -32
mov %r2, 0
mov %r3, 0
call 203
mov %r1, 0
jeq %r0, 0, +1
mov %r1, 1
stxdw [%r9+24], %r1
mov %r1, %r10
add %r1, -32
mov %r2, 0
call 199
mov %r0, 1
exit";
    for engine in [Engine::Interpreter, Engine::Jit, Engine::CheckedJit] {
        let (array, rb) = run_once(text, engine);
        let v = array.lookup(&0u32.to_ne_bytes()).unwrap();
        let word = |off: usize| u64::from_ne_bytes(v[off..off + 8].try_into().unwrap());
        assert_eq!(
            [word(0), word(8), word(16), word(24)],
            [0, 0, 0, 1],
            "{engine:?}"
        );
        assert_eq!(rb.ringbuf_consume(), vec![Vec::<u8>::new()], "{engine:?}");
    }
}
