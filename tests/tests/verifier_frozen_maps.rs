//! Frozen read-only maps, as kernel 6.18 judges them: a constant-offset read of a frozen
//! `BPF_F_RDONLY_PROG` array (what libbpf makes of `.rodata`, `const volatile` settings) is a
//! constant (`bpf_map_is_rdonly`, `bpf_map_direct_read`), so the branch it decides is dead and
//! never judged; unfrozen, or not read-only for programs, the read is an unknown scalar; a
//! frozen read-only array of more than one entry cannot be read at a constant offset at all.
//! Each case is judged by our verifier (with the program's real maps) and, where `bpf()` works,
//! by the live kernel with maps created, filled and frozen the same way.

use std::sync::Arc;

use sockops_tests::kernel::{Oracle, create_filled_map};
use sockops_verifier::{VerifyOptions, verify_shared};
use sockops_vm::maps::BPF_F_RDONLY_PROG;
use sockops_vm::{HelperTable, Map, MapDef, MapType, Program, assemble};

/// Reads the map's first word; if it is 0 returns 1, else reads the stack out of bounds
/// (which no verifier accepts on a path it explores).
const PROGRAM: &str = "lddw %r1, map_value 0 0
ldxw %r2, [%r1]
jeq %r2, 0, +2
ldxw %r0, [%r10-600]
exit
mov %r0, 1
exit";

/// The same through `bpf_map_lookup_elem` of key 0 (an array of any size can be looked up).
const LOOKUP: &str = "stw [%r10-4], 0
lddw %r1, map_fd 0
mov %r2, %r10
add %r2, -4
call 1
jne %r0, 0, +2
mov %r0, 1
exit
ldxw %r2, [%r0]
jeq %r2, 0, +2
ldxw %r0, [%r10-600]
exit
mov %r0, 1
exit";

/// One case: the map's flags, entries, first word and whether it is frozen, and whether the
/// kernel accepts the program (recorded from the live 6.18 kernel).
struct Case {
    name: &'static str,
    program: &'static str,
    flags: u32,
    max_entries: u32,
    word: u32,
    frozen: bool,
    kernel_accepts: bool,
}

const CASES: [Case; 7] = [
    Case {
        name: "frozen read-only, 0: the out-of-bounds branch is dead",
        program: PROGRAM,
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        word: 0,
        frozen: true,
        kernel_accepts: true,
    },
    Case {
        name: "frozen read-only, 1: the out-of-bounds branch runs",
        program: PROGRAM,
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        word: 1,
        frozen: true,
        kernel_accepts: false,
    },
    Case {
        name: "read-only but not frozen: unknown",
        program: PROGRAM,
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        word: 0,
        frozen: false,
        kernel_accepts: false,
    },
    Case {
        name: "frozen but writable by programs: unknown",
        program: PROGRAM,
        flags: 0,
        max_entries: 1,
        word: 0,
        frozen: true,
        kernel_accepts: false,
    },
    Case {
        name: "a direct value reference needs a single-entry array",
        program: PROGRAM,
        flags: BPF_F_RDONLY_PROG,
        max_entries: 2,
        word: 0,
        frozen: true,
        kernel_accepts: false,
    },
    Case {
        name: "frozen read-only, 0, looked up: the branch is dead too",
        program: LOOKUP,
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        word: 0,
        frozen: true,
        kernel_accepts: true,
    },
    Case {
        name: "frozen read-only with two entries, looked up: no direct read",
        program: LOOKUP,
        flags: BPF_F_RDONLY_PROG,
        max_entries: 2,
        word: 0,
        frozen: true,
        kernel_accepts: false,
    },
];

fn def(case: &Case) -> MapDef {
    MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: case.max_entries,
        map_flags: case.flags,
    }
}

fn value(case: &Case) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&case.word.to_le_bytes());
    v
}

fn ours(case: &Case) -> Result<(), String> {
    let map = Map::try_new("settings", def(case)).expect("map");
    map.update(&0u32.to_le_bytes(), &value(case), 0)
        .expect("update");
    if case.frozen {
        map.freeze();
    }
    let insns = assemble(case.program).expect("assembles");
    let mut program = Program::from_insns("frozen", insns);
    program.maps = vec![Arc::new(map)];
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_shared(&Arc::new(program), &HelperTable::new(), &options)
        .map(|_| ())
        .map_err(|e| e.message)
}

#[test]
fn frozen_read_only_arrays_are_constants_to_the_verifier() {
    for case in &CASES {
        let verdict = ours(case);
        assert_eq!(
            verdict.is_ok(),
            case.kernel_accepts,
            "{}: ours {verdict:?}",
            case.name
        );
    }
    // The rejections say why.
    assert!(
        ours(&CASES[1])
            .unwrap_err()
            .contains("invalid read from stack")
    );
    let two = ours(&CASES[6]).unwrap_err();
    assert!(two.contains("more than one entry"), "{two}");
}

#[test]
fn recorded_verdicts_match_the_live_kernel() {
    let mut oracle = match Oracle::new() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: the live kernel is not available: {e}");
            return;
        }
    };
    for case in &CASES {
        let insns = assemble(case.program).expect("assembles");
        let map = create_filled_map(&def(case), &value(case), case.frozen).expect("kernel map");
        let verdict = oracle.load(&insns, &[map], 1);
        assert_eq!(
            verdict.accepted, case.kernel_accepts,
            "{}: the live kernel says {:?}\n{}",
            case.name, verdict.message, verdict.log
        );
    }
}
