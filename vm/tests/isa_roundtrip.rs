//! Property tests of the instruction-set text and encoding side:
//! decoding random bytes never panics; `encode(decode(x)) == x` for every decodable slot
//! sequence (exit's ignored offset aside); `assemble(disassemble(p)) == p` and the
//! disassembly is stable; assembling random text never panics.

use proptest::prelude::*;
use sockops_vm::{
    Insn, Instruction, assemble, decode_at, decode_program, decode_slot, disassemble, encode,
    encode_program,
};

/// Every opcode byte that names an instruction in RFC 9669 / Linux cpu v4, so random slots
/// decode often enough to exercise the encoder.
const OPCODES: &[u8] = &[
    // ALU64 / ALU, K and X
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f,
    0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c,
    0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4,
    0xbc, 0xc4, 0xcc, 0xd4, 0xdc, // JMP / JMP32
    0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0x85,
    0x8d, 0x95, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x06, 0x16, 0x1e, 0x26, 0x2e, 0x36,
    0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e, 0xa6, 0xae, 0xb6, 0xbe, 0xc6, 0xce, 0xd6,
    0xde, // loads, stores, atomics, lddw, legacy packet loads
    0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3,
    0xdb, 0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,
];

fn opcode() -> impl Strategy<Value = u8> {
    prop_oneof![4 => prop::sample::select(OPCODES), 1 => any::<u8>()]
}

fn register() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 8 => 0u8..=10, 1 => 0u8..=15]
}

fn offset() -> impl Strategy<Value = i16> {
    prop_oneof![
        6 => Just(0i16),
        2 => prop::sample::select(vec![1i16, 8, 16, 32, -1]),
        2 => any::<i16>(),
    ]
}

fn immediate() -> impl Strategy<Value = i32> {
    prop_oneof![
        5 => Just(0i32),
        3 => prop::sample::select(vec![
            1i32, 16, 32, 64, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110, -1,
            i32::MIN, i32::MAX,
        ]),
        2 => any::<i32>(),
    ]
}

/// One instruction's slots, biased towards valid encodings: a single slot, or an lddw head
/// with a tail (any pseudo source 0..=7, so some are invalid).
fn instruction_slots() -> impl Strategy<Value = Vec<Insn>> {
    prop_oneof![
        8 => (opcode(), register(), register(), offset(), immediate())
            .prop_map(|(op, dst, src, off, imm)| vec![Insn::new(op, dst, src, off, imm)]),
        1 => (register(), 0u8..=7, immediate(), immediate()).prop_map(|(dst, src, lo, hi)| {
            vec![Insn::new(0x18, dst, src, 0, lo), Insn::new(0, 0, 0, 0, hi)]
        }),
        2 => templated_slot().prop_map(|s| vec![s]),
    ]
}

/// Instructions whose unused fields must be zero (exit, ja, calls, byte swaps, neg), which
/// fully random fields rarely hit.
fn templated_slot() -> impl Strategy<Value = Insn> {
    prop_oneof![
        Just(Insn::new(0x95, 0, 0, 0, 0)),
        any::<i16>().prop_map(|off| Insn::new(0x05, 0, 0, off, 0)),
        any::<i32>().prop_map(|imm| Insn::new(0x06, 0, 0, 0, imm)),
        (0u8..=1, immediate()).prop_map(|(src, imm)| Insn::new(0x85, 0, src, 0, imm)),
        (any::<i16>(), immediate()).prop_map(|(off, imm)| Insn::new(0x85, 0, 2, off, imm)),
        register().prop_map(|dst| Insn::new(0x8d, dst, 0, 0, 0)),
        (
            prop::sample::select(vec![0xd4u8, 0xdc, 0xd7]),
            register(),
            prop::sample::select(vec![16, 32, 64])
        )
            .prop_map(|(op, dst, imm)| Insn::new(op, dst, 0, 0, imm)),
        (prop::sample::select(vec![0x84u8, 0x87]), register())
            .prop_map(|(op, dst)| Insn::new(op, dst, 0, 0, 0)),
    ]
}

/// A sequence of slots made of `instruction_slots`.
fn slots(max_instructions: usize) -> impl Strategy<Value = Vec<Insn>> {
    prop::collection::vec(instruction_slots(), 0..max_instructions)
        .prop_map(|v| v.into_iter().flatten().collect())
}

/// Keeps the instructions of `slots` that decode (lddw with its tail), with exit's ignored
/// offset cleared, so the result is a fully decodable, canonically encoded program.
fn decodable(slots: &[Insn]) -> Vec<Insn> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        match decode_slot(slots[i], slots.get(i + 1).copied()) {
            Ok(Instruction::LdImm64 { .. }) => {
                out.extend_from_slice(&slots[i..i + 2]);
                i += 2;
            }
            Ok(Instruction::Exit) => {
                out.push(Insn::new(0x95, 0, 0, 0, 0));
                i += 1;
            }
            Ok(_) => {
                out.push(slots[i]);
                i += 1;
            }
            Err(_) => i += 1,
        }
    }
    out
}

/// Clears the offset of `exit` slots (the kernel ignores it, so it does not survive decoding).
/// Only used on decodable programs, where 0x95 in an lddw tail cannot occur.
fn normalize_exit(slots: &[Insn]) -> Vec<Insn> {
    slots
        .iter()
        .map(|s| {
            if s.opcode == 0x95 {
                Insn { off: 0, ..*s }
            } else {
                *s
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), pc in 0usize..40) {
        if let Ok(slots) = Insn::slice_from_bytes(&bytes) {
            let _ = decode_program(&slots);
            let _ = decode_at(&slots, pc);
            if let Ok(text) = disassemble(&slots) {
                prop_assert_eq!(assemble(&text).unwrap(), normalize_exit(&slots));
            }
        }
    }

    #[test]
    fn encode_inverts_decode(slots in slots(2)) {
        let Some(&first) = slots.first() else { return Ok(()) };
        if let Ok(ins) = decode_slot(first, slots.get(1).copied()) {
            let encoded = encode(&ins).unwrap();
            let n = encoded.len();
            if ins == Instruction::Exit {
                // The kernel ignores exit's offset; everything else must come back exactly.
                prop_assert_eq!(encoded.as_slice(), &[Insn { off: 0, ..first }][..]);
            } else {
                prop_assert_eq!(encoded.as_slice(), &slots[..n]);
            }
            prop_assert_eq!(decode_slot(encoded[0], encoded.get(1).copied()), Ok(ins));
        }
    }

    #[test]
    fn encode_program_inverts_decode_program(raw in slots(40)) {
        let program = decodable(&raw);
        let decoded = decode_program(&program).unwrap();
        prop_assert_eq!(encode_program(&decoded).unwrap(), program);
    }

    #[test]
    fn disassembly_round_trips(raw in slots(40)) {
        let program = decodable(&raw);
        let text = disassemble(&program).unwrap();
        let again = assemble(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(&again, &program, "{}", text);
        prop_assert_eq!(disassemble(&again).unwrap(), text);
    }

    #[test]
    fn assembling_random_text_never_panics(text in ".{0,200}") {
        let _ = assemble(&text);
    }

    #[test]
    fn assembling_random_token_soup_never_panics(
        lines in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec![
                        "mov", "add32", "lddw", "ldxw", "stxdw", "stw", "lock", "fetch", "xchg32",
                        "call", "local", "helper", "runtime", "ja", "ja32", "jeq", "jsle32", "exit",
                        "movsx864", "be16", "bswap64", "map_fd", "map_value", "func", "ldabsw",
                        "ldindb", "l:", "l", "exit:", "+1", "-1", "+", "-", "0x", "%r1,", "%r15",
                        "%r10", "[%r1+4]", "[%r10-8],", "[%r1", "0xffffffff", "-2147483649",
                        "18446744073709551615", ",", "#", ";", ":", "\u{e9}", "[\u{e9}+1]",
                    ]).prop_map(str::to_string),
                    "[ -~]{0,6}",
                ],
                0..6,
            ).prop_map(|t| t.join(" ")),
            0..12,
        ).prop_map(|l| l.join("\n"))
    ) {
        if let Ok(slots) = assemble(&lines) {
            // Whatever assembles and decodes must disassemble to text that assembles back.
            if let Ok(text) = disassemble(&slots) {
                prop_assert_eq!(assemble(&text).unwrap(), normalize_exit(&slots));
            }
        }
    }
}
