//! `bpf_strncmp(s1, s1_sz, s2)`'s constant string (`ARG_PTR_TO_CONST_STR`, the kernel's
//! `check_reg_const_str`): `s2` must point into the value of a frozen `BPF_F_RDONLY_PROG`
//! array of one entry (what libbpf makes of `.rodata`), at a constant offset, and the value
//! must hold a NUL from there on. Each case is judged by our verifier with the program's real
//! maps and, where `bpf()` works, by the live kernel with maps created, filled and frozen the
//! same way; an accepted program then runs on the interpreter and on the JIT, which compare
//! alike.

use std::sync::Arc;

use sockops::cgroup::AttachFlags;
use sockops::ctx::{SockOp, Socket};
use sockops::runtime::{Engine, Runtime, Verdict};
use sockops_tests::kernel::{Oracle, create_filled_map};
use sockops_verifier::{VerifyOptions, verify_shared};
use sockops_vm::maps::BPF_F_RDONLY_PROG;
use sockops_vm::{HelperTable, Map, MapDef, MapType, Program, assemble};

/// One case: the map (flags, entries, value, frozen), how `r3` is made, and the kernel's
/// verdict (`None`: accepted, else its message).
struct Case {
    name: &'static str,
    flags: u32,
    max_entries: u32,
    value: [u8; 8],
    frozen: bool,
    s2: &'static str,
    kernel: Option<&'static str>,
}

const ABC: [u8; 8] = *b"abc\0wxyz";
const MAP_VALUE: &str = "lddw %r3, map_value 0 0";

const CASES: [Case; 9] = [
    Case {
        name: "frozen read-only .rodata string",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: ABC,
        frozen: true,
        s2: MAP_VALUE,
        kernel: None,
    },
    Case {
        name: "at a constant offset, NUL-terminated further on",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: *b"xyabc\0\0\0",
        frozen: true,
        s2: "lddw %r3, map_value 0 2",
        kernel: None,
    },
    Case {
        name: "no NUL from the offset on",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: ABC,
        frozen: true,
        s2: "lddw %r3, map_value 0 4",
        kernel: Some("string is not zero-terminated"),
    },
    Case {
        name: "read-only but not frozen",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: ABC,
        frozen: false,
        s2: MAP_VALUE,
        kernel: Some("R3 does not point to a readonly map'"),
    },
    Case {
        name: "frozen but writable by programs",
        flags: 0,
        max_entries: 1,
        value: ABC,
        frozen: true,
        s2: MAP_VALUE,
        kernel: Some("R3 does not point to a readonly map'"),
    },
    Case {
        name: "two entries (looked up): no direct value address",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 2,
        value: ABC,
        frozen: true,
        s2: "stw [%r10-16], 0\nlddw %r1, map_fd 0\nmov %r2, %r10\nadd %r2, -16\ncall 1\njne %r0, 0, +2\nmov %r0, 1\nexit\nmov %r3, %r0",
        kernel: Some("direct value access on string failed"),
    },
    Case {
        name: "the stack is not a constant string",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: ABC,
        frozen: true,
        s2: "mov %r3, %r10\nadd %r3, -8",
        kernel: Some("R3 type=fp expected=map_value"),
    },
    Case {
        name: "a variable offset",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: ABC,
        frozen: true,
        s2: "lddw %r3, map_value 0 0\nldxw %r4, [%r6+0]\nand %r4, 1\nadd %r3, %r4",
        kernel: Some("R3 is not a constant address'"),
    },
    Case {
        name: "past the value",
        flags: BPF_F_RDONLY_PROG,
        max_entries: 1,
        value: ABC,
        frozen: true,
        s2: "lddw %r3, map_value 0 0\nadd %r3, 8",
        kernel: Some("R3 min value is outside of the allowed memory range"),
    },
];

/// reply = bpf_strncmp(s1 (4 bytes on the stack), 4, s2), `s2` made first (it may call).
fn text(s1: &[u8; 4], s2: &str) -> String {
    format!(
        "mov %r6, %r1\nstdw [%r10-8], 0\nstw [%r10-8], {}\n{s2}\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 4\ncall 182\nstxw [%r6+4], %r0\nmov %r0, 1\nexit",
        u32::from_le_bytes(*s1)
    )
}

fn def(case: &Case) -> MapDef {
    MapDef {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: case.max_entries,
        map_flags: case.flags,
    }
}

fn program(case: &Case, s1: &[u8; 4]) -> Program {
    let map = Map::try_new("strings", def(case)).expect("map");
    map.update(&0u32.to_le_bytes(), &case.value, 0)
        .expect("update");
    if case.frozen {
        map.freeze();
    }
    Program {
        maps: vec![Arc::new(map)],
        license: "GPL".into(),
        ..Program::from_insns("strncmp", assemble(&text(s1, case.s2)).expect("assembles"))
    }
}

fn ours(case: &Case) -> Result<(), String> {
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_shared(
        &Arc::new(program(case, b"abc\0")),
        &HelperTable::new(),
        &options,
    )
    .map(|_| ())
    .map_err(|e| e.message)
}

#[test]
fn constant_strings_are_judged_as_the_kernel_judges_them() {
    for case in &CASES {
        assert_eq!(
            ours(case).err().as_deref(),
            case.kernel,
            "{}: ours differs from the kernel's verdict",
            case.name
        );
    }
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
        let insns = assemble(&text(b"abc\0", case.s2)).expect("assembles");
        let map = create_filled_map(&def(case), &case.value, case.frozen).expect("kernel map");
        let verdict = oracle.load(&insns, &[map], 1);
        let kernel = (!verdict.accepted).then_some(verdict.message.as_str());
        assert_eq!(
            kernel, case.kernel,
            "{}: the live kernel says\n{}",
            case.name, verdict.log
        );
    }
}

/// An accepted comparison runs verified on both engines, with `strncmp`'s results.
#[test]
fn accepted_comparisons_run_alike_on_both_engines() {
    let socket = || {
        Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.1.2.3:443".parse().unwrap(),
        )
    };
    for (case, s1, expected) in [
        (&CASES[0], b"abc\0", 0),
        (&CASES[0], b"abd\0", 1),
        (&CASES[0], b"abb\0", -1),
        (&CASES[0], b"ab\0\0", -1),
        (&CASES[1], b"abc\0", 0),
    ] {
        for engine in [Engine::Interpreter, Engine::Jit] {
            let mut rt = Runtime::new();
            let id = rt
                .load_raw_program(program(case, s1), engine)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let info = rt.program_info(id).unwrap();
            assert_eq!((info.verdict, info.engine), (Verdict::Verified, engine));
            rt.attach(id, "/", AttachFlags::None).unwrap();
            let result = rt.call(SockOp::TimeoutInit, &mut socket()).unwrap().result;
            assert_eq!(
                result,
                Some(expected),
                "{} {:?} on {engine:?}",
                case.name,
                std::str::from_utf8(s1)
            );
        }
    }
}
