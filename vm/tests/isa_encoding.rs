//! Per-mnemonic encoding tests of the assembler, encoder and disassembler. Expected slots come
//! from the opcode table in `shared/conformance/README.md` §3 and RFC 9669 (opcode byte,
//! dst/src nibbles, offset, immediate), not from running the code.

use sockops_vm::{Insn, Instruction, assemble, decode_program, disassemble, encode_program};

/// (text, expected slots as (opcode, dst, src, off, imm), canonical disassembly).
type Case = (
    &'static str,
    &'static [(u8, u8, u8, i16, i32)],
    &'static str,
);

const CASES: &[Case] = &[
    // ALU64 immediate (class 0x07) and register (0x0f) forms, op in the high nibble.
    ("add %r1, 2", &[(0x07, 1, 0, 0, 2)], "add %r1, 2"),
    ("add64 %r1, 2", &[(0x07, 1, 0, 0, 2)], "add %r1, 2"),
    ("add %r1, %r2", &[(0x0f, 1, 2, 0, 0)], "add %r1, %r2"),
    ("sub %r3, -1", &[(0x17, 3, 0, 0, -1)], "sub %r3, -1"),
    ("mul %r0, %r9", &[(0x2f, 0, 9, 0, 0)], "mul %r0, %r9"),
    ("div %r0, 7", &[(0x37, 0, 0, 0, 7)], "div %r0, 7"),
    ("or %r0, 0xff", &[(0x47, 0, 0, 0, 0xff)], "or %r0, 255"),
    ("and %r0, %r1", &[(0x5f, 0, 1, 0, 0)], "and %r0, %r1"),
    ("lsh %r0, 63", &[(0x67, 0, 0, 0, 63)], "lsh %r0, 63"),
    ("rsh %r0, %r1", &[(0x7f, 0, 1, 0, 0)], "rsh %r0, %r1"),
    ("neg %r4", &[(0x87, 4, 0, 0, 0)], "neg %r4"),
    ("neg64 %r4", &[(0x87, 4, 0, 0, 0)], "neg %r4"),
    ("mod %r0, 3", &[(0x97, 0, 0, 0, 3)], "mod %r0, 3"),
    ("xor %r0, %r0", &[(0xaf, 0, 0, 0, 0)], "xor %r0, %r0"),
    ("mov %r0, 1", &[(0xb7, 0, 0, 0, 1)], "mov %r0, 1"),
    ("mov %r0, %r10", &[(0xbf, 0, 10, 0, 0)], "mov %r0, %r10"),
    ("arsh %r0, 1", &[(0xc7, 0, 0, 0, 1)], "arsh %r0, 1"),
    // ALU (class 0x04) with the 32 suffix.
    ("add32 %r1, %r2", &[(0x0c, 1, 2, 0, 0)], "add32 %r1, %r2"),
    ("sub32 %r1, 1", &[(0x14, 1, 0, 0, 1)], "sub32 %r1, 1"),
    ("mul32 %r1, 1", &[(0x24, 1, 0, 0, 1)], "mul32 %r1, 1"),
    ("div32 %r1, %r2", &[(0x3c, 1, 2, 0, 0)], "div32 %r1, %r2"),
    ("or32 %r1, 1", &[(0x44, 1, 0, 0, 1)], "or32 %r1, 1"),
    ("and32 %r1, 1", &[(0x54, 1, 0, 0, 1)], "and32 %r1, 1"),
    ("lsh32 %r1, %r2", &[(0x6c, 1, 2, 0, 0)], "lsh32 %r1, %r2"),
    ("rsh32 %r1, 1", &[(0x74, 1, 0, 0, 1)], "rsh32 %r1, 1"),
    ("neg32 %r1", &[(0x84, 1, 0, 0, 0)], "neg32 %r1"),
    ("mod32 %r1, %r2", &[(0x9c, 1, 2, 0, 0)], "mod32 %r1, %r2"),
    ("xor32 %r1, 1", &[(0xa4, 1, 0, 0, 1)], "xor32 %r1, 1"),
    (
        "mov32 %r1, 0xffffffff",
        &[(0xb4, 1, 0, 0, -1)],
        "mov32 %r1, -1",
    ),
    ("arsh32 %r1, %r2", &[(0xcc, 1, 2, 0, 0)], "arsh32 %r1, %r2"),
    // Signed division and modulo: offset 1.
    ("sdiv %r1, 3", &[(0x37, 1, 0, 1, 3)], "sdiv %r1, 3"),
    ("sdiv32 %r1, %r2", &[(0x3c, 1, 2, 1, 0)], "sdiv32 %r1, %r2"),
    ("smod %r1, %r2", &[(0x9f, 1, 2, 1, 0)], "smod %r1, %r2"),
    ("smod32 %r1, -3", &[(0x94, 1, 0, 1, -3)], "smod32 %r1, -3"),
    // Sign-extending moves: offset = source width.
    (
        "movsx864 %r1, %r2",
        &[(0xbf, 1, 2, 8, 0)],
        "movsx864 %r1, %r2",
    ),
    (
        "movsx1664 %r1, %r2",
        &[(0xbf, 1, 2, 16, 0)],
        "movsx1664 %r1, %r2",
    ),
    (
        "movsx3264 %r1, %r2",
        &[(0xbf, 1, 2, 32, 0)],
        "movsx3264 %r1, %r2",
    ),
    (
        "movsx832 %r1, %r2",
        &[(0xbc, 1, 2, 8, 0)],
        "movsx832 %r1, %r2",
    ),
    (
        "movsx1632 %r1, %r2",
        &[(0xbc, 1, 2, 16, 0)],
        "movsx1632 %r1, %r2",
    ),
    // Byte order: 0xd4 (le), 0xdc (be), 0xd7 (bswap), imm = width.
    ("le16 %r1", &[(0xd4, 1, 0, 0, 16)], "le16 %r1"),
    ("le32 %r1", &[(0xd4, 1, 0, 0, 32)], "le32 %r1"),
    ("le64 %r1", &[(0xd4, 1, 0, 0, 64)], "le64 %r1"),
    ("be16 %r2", &[(0xdc, 2, 0, 0, 16)], "be16 %r2"),
    ("be32 %r2", &[(0xdc, 2, 0, 0, 32)], "be32 %r2"),
    ("be64 %r2", &[(0xdc, 2, 0, 0, 64)], "be64 %r2"),
    ("bswap16 %r3", &[(0xd7, 3, 0, 0, 16)], "bswap16 %r3"),
    ("bswap32 %r3", &[(0xd7, 3, 0, 0, 32)], "bswap32 %r3"),
    ("bswap64 %r3", &[(0xd7, 3, 0, 0, 64)], "bswap64 %r3"),
    ("swap16 %r3", &[(0xd7, 3, 0, 0, 16)], "bswap16 %r3"),
    // lddw: low 32 bits in the first imm, high 32 bits in the second slot's imm.
    (
        "lddw %r0, 0x1122334455667788",
        &[(0x18, 0, 0, 0, 0x5566_7788), (0, 0, 0, 0, 0x1122_3344)],
        "lddw %r0, 0x1122334455667788",
    ),
    (
        "lddw %r0, -1",
        &[(0x18, 0, 0, 0, -1), (0, 0, 0, 0, -1)],
        "lddw %r0, 0xffffffffffffffff",
    ),
    (
        "lddw %r5, 18446744073709551615",
        &[(0x18, 5, 0, 0, -1), (0, 0, 0, 0, -1)],
        "lddw %r5, 0xffffffffffffffff",
    ),
    // lddw pseudo forms: src = 1 (map fd), 2 (map value: offset in the second imm), ...
    (
        "lddw %r1, map_fd 3",
        &[(0x18, 1, 1, 0, 3), (0, 0, 0, 0, 0)],
        "lddw %r1, map_fd 3",
    ),
    (
        "lddw %r1, map_value 0 16",
        &[(0x18, 1, 2, 0, 0), (0, 0, 0, 0, 16)],
        "lddw %r1, map_value 0 16",
    ),
    (
        "lddw %r1, map_value 2",
        &[(0x18, 1, 2, 0, 2), (0, 0, 0, 0, 0)],
        "lddw %r1, map_value 2 0",
    ),
    (
        "lddw %r2, btf_id 77 4",
        &[(0x18, 2, 3, 0, 77), (0, 0, 0, 0, 4)],
        "lddw %r2, btf_id 77 4",
    ),
    (
        "lddw %r2, map_idx 1",
        &[(0x18, 2, 5, 0, 1), (0, 0, 0, 0, 0)],
        "lddw %r2, map_idx 1",
    ),
    (
        "lddw %r2, map_idx_value 1, 8",
        &[(0x18, 2, 6, 0, 1), (0, 0, 0, 0, 8)],
        "lddw %r2, map_idx_value 1 8",
    ),
    // Loads and stores.
    (
        "ldxb %r0, [%r1+2]",
        &[(0x71, 0, 1, 2, 0)],
        "ldxb %r0, [%r1+2]",
    ),
    ("ldxh %r0, [%r1]", &[(0x69, 0, 1, 0, 0)], "ldxh %r0, [%r1]"),
    (
        "ldxw %r0, [%r1+0]",
        &[(0x61, 0, 1, 0, 0)],
        "ldxw %r0, [%r1]",
    ),
    (
        "ldxdw %r0, [%r10-8]",
        &[(0x79, 0, 10, -8, 0)],
        "ldxdw %r0, [%r10-8]",
    ),
    (
        "ldxsb %r0, [%r1+1]",
        &[(0x91, 0, 1, 1, 0)],
        "ldxsb %r0, [%r1+1]",
    ),
    (
        "ldxsh %r0, [%r1+1]",
        &[(0x89, 0, 1, 1, 0)],
        "ldxsh %r0, [%r1+1]",
    ),
    (
        "ldxsw %r0, [%r1+1]",
        &[(0x81, 0, 1, 1, 0)],
        "ldxsw %r0, [%r1+1]",
    ),
    (
        "stb [%r10-1], 7",
        &[(0x72, 10, 0, -1, 7)],
        "stb [%r10-1], 7",
    ),
    (
        "sth [%r10-2], 7",
        &[(0x6a, 10, 0, -2, 7)],
        "sth [%r10-2], 7",
    ),
    (
        "stw [%r10-4], -7",
        &[(0x62, 10, 0, -4, -7)],
        "stw [%r10-4], -7",
    ),
    (
        "stdw [%r10-8], 7",
        &[(0x7a, 10, 0, -8, 7)],
        "stdw [%r10-8], 7",
    ),
    (
        "stxb [%r1+3], %r2",
        &[(0x73, 1, 2, 3, 0)],
        "stxb [%r1+3], %r2",
    ),
    (
        "stxh [%r1+3], %r2",
        &[(0x6b, 1, 2, 3, 0)],
        "stxh [%r1+3], %r2",
    ),
    (
        "stxw [%r1+3], %r2",
        &[(0x63, 1, 2, 3, 0)],
        "stxw [%r1+3], %r2",
    ),
    (
        "stxdw [%r1+3], %r2",
        &[(0x7b, 1, 2, 3, 0)],
        "stxdw [%r1+3], %r2",
    ),
    (
        "ldxw %r0, [%r1+0x10]",
        &[(0x61, 0, 1, 16, 0)],
        "ldxw %r0, [%r1+16]",
    ),
    (
        "ldxw %r0, [%r1-32768]",
        &[(0x61, 0, 1, -32768, 0)],
        "ldxw %r0, [%r1-32768]",
    ),
    // Atomics: 0xdb (64-bit), 0xc3 (32-bit); imm = op, | 0x01 with fetch.
    (
        "lock add [%r1+8], %r2",
        &[(0xdb, 1, 2, 8, 0x00)],
        "lock add [%r1+8], %r2",
    ),
    (
        "lock fetch add [%r1], %r2",
        &[(0xdb, 1, 2, 0, 0x01)],
        "lock fetch add [%r1], %r2",
    ),
    (
        "lock add32 [%r1], %r2",
        &[(0xc3, 1, 2, 0, 0x00)],
        "lock add32 [%r1], %r2",
    ),
    (
        "lock or [%r1], %r2",
        &[(0xdb, 1, 2, 0, 0x40)],
        "lock or [%r1], %r2",
    ),
    (
        "lock fetch or32 [%r1], %r2",
        &[(0xc3, 1, 2, 0, 0x41)],
        "lock fetch or32 [%r1], %r2",
    ),
    (
        "lock and [%r1], %r2",
        &[(0xdb, 1, 2, 0, 0x50)],
        "lock and [%r1], %r2",
    ),
    (
        "lock fetch and [%r1], %r2",
        &[(0xdb, 1, 2, 0, 0x51)],
        "lock fetch and [%r1], %r2",
    ),
    (
        "lock xor32 [%r1], %r2",
        &[(0xc3, 1, 2, 0, 0xa0)],
        "lock xor32 [%r1], %r2",
    ),
    (
        "lock fetch xor [%r1], %r2",
        &[(0xdb, 1, 2, 0, 0xa1)],
        "lock fetch xor [%r1], %r2",
    ),
    (
        "lock xchg [%r1-8], %r2",
        &[(0xdb, 1, 2, -8, 0xe1)],
        "lock xchg [%r1-8], %r2",
    ),
    (
        "lock xchg32 [%r1], %r2",
        &[(0xc3, 1, 2, 0, 0xe1)],
        "lock xchg32 [%r1], %r2",
    ),
    (
        "lock cmpxchg [%r1], %r2",
        &[(0xdb, 1, 2, 0, 0xf1)],
        "lock cmpxchg [%r1], %r2",
    ),
    (
        "lock cmpxchg32 [%r1], %r2",
        &[(0xc3, 1, 2, 0, 0xf1)],
        "lock cmpxchg32 [%r1], %r2",
    ),
    // Jumps: JMP (0x05) / JMP32 (0x06) class, op nibble, target in off.
    ("ja +3", &[(0x05, 0, 0, 3, 0)], "ja +3"),
    ("ja -1", &[(0x05, 0, 0, -1, 0)], "ja -1"),
    ("ja32 -2", &[(0x06, 0, 0, 0, -2)], "ja32 -2"),
    ("jeq %r1, 5, +1", &[(0x15, 1, 0, 1, 5)], "jeq %r1, 5, +1"),
    (
        "jeq %r1, %r2, +1",
        &[(0x1d, 1, 2, 1, 0)],
        "jeq %r1, %r2, +1",
    ),
    ("jgt %r1, 5, +1", &[(0x25, 1, 0, 1, 5)], "jgt %r1, 5, +1"),
    ("jge %r1, 5, +1", &[(0x35, 1, 0, 1, 5)], "jge %r1, 5, +1"),
    ("jset %r1, 5, +1", &[(0x45, 1, 0, 1, 5)], "jset %r1, 5, +1"),
    (
        "jne %r1, %r2, -4",
        &[(0x5d, 1, 2, -4, 0)],
        "jne %r1, %r2, -4",
    ),
    ("jsgt %r1, 5, +1", &[(0x65, 1, 0, 1, 5)], "jsgt %r1, 5, +1"),
    ("jsge %r1, 5, +1", &[(0x75, 1, 0, 1, 5)], "jsge %r1, 5, +1"),
    ("jlt %r1, 5, +1", &[(0xa5, 1, 0, 1, 5)], "jlt %r1, 5, +1"),
    ("jle %r1, 5, +1", &[(0xb5, 1, 0, 1, 5)], "jle %r1, 5, +1"),
    ("jslt %r1, 5, +1", &[(0xc5, 1, 0, 1, 5)], "jslt %r1, 5, +1"),
    (
        "jsle %r1, %r2, +1",
        &[(0xdd, 1, 2, 1, 0)],
        "jsle %r1, %r2, +1",
    ),
    (
        "jeq32 %r1, 5, +1",
        &[(0x16, 1, 0, 1, 5)],
        "jeq32 %r1, 5, +1",
    ),
    (
        "jne32 %r1, %r2, +0",
        &[(0x5e, 1, 2, 0, 0)],
        "jne32 %r1, %r2, +0",
    ),
    (
        "jsle32 %r1, -1, +2",
        &[(0xd6, 1, 0, 2, -1)],
        "jsle32 %r1, -1, +2",
    ),
    // imm is stored as 32 bits; 0x80000000 is i32::MIN.
    (
        "jeq %r1, 0x80000000, +0",
        &[(0x15, 1, 0, 0, i32::MIN)],
        "jeq %r1, -2147483648, +0",
    ),
    // Calls and exit.
    ("call 5", &[(0x85, 0, 0, 0, 5)], "call 5"),
    ("call helper 5", &[(0x85, 0, 0, 0, 5)], "call 5"),
    ("call %r2", &[(0x8d, 2, 0, 0, 0)], "call %r2"),
    ("call helper %r2", &[(0x8d, 2, 0, 0, 0)], "call %r2"),
    ("call local +3", &[(0x85, 0, 1, 0, 3)], "call local +3"),
    ("call runtime 7", &[(0x85, 0, 2, 0, 7)], "call runtime 7"),
    (
        "call runtime 7 2",
        &[(0x85, 0, 2, 2, 7)],
        "call runtime 7 2",
    ),
    ("exit", &[(0x95, 0, 0, 0, 0)], "exit"),
    // Legacy packet loads (BPF_LD | BPF_ABS / BPF_IND).
    ("ldabsb 12", &[(0x30, 0, 0, 0, 12)], "ldabsb 12"),
    ("ldabsh 12", &[(0x28, 0, 0, 0, 12)], "ldabsh 12"),
    ("ldabsw 12", &[(0x20, 0, 0, 0, 12)], "ldabsw 12"),
    ("ldindb %r3, 4", &[(0x50, 0, 3, 0, 4)], "ldindb %r3, 4"),
    ("ldindh %r3, 4", &[(0x48, 0, 3, 0, 4)], "ldindh %r3, 4"),
    ("ldindw %r3, 4", &[(0x40, 0, 3, 0, 4)], "ldindw %r3, 4"),
];

fn slots(expected: &[(u8, u8, u8, i16, i32)]) -> Vec<Insn> {
    expected
        .iter()
        .map(|&(op, dst, src, off, imm)| Insn::new(op, dst, src, off, imm))
        .collect()
}

#[test]
fn every_mnemonic_assembles_to_its_encoding() {
    for (text, expected, _) in CASES {
        let got = assemble(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, slots(expected), "{text}");
    }
}

#[test]
fn every_mnemonic_disassembles_canonically() {
    for (text, expected, canonical) in CASES {
        let got = disassemble(&slots(expected)).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, format!("{canonical}\n"), "{text}");
        // The canonical form assembles back to the same slots.
        assert_eq!(assemble(canonical).unwrap(), slots(expected), "{canonical}");
    }
}

#[test]
fn every_mnemonic_decodes_and_reencodes() {
    for (text, expected, _) in CASES {
        let raw = slots(expected);
        let decoded = decode_program(&raw).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(encode_program(&decoded).unwrap(), raw, "{text}");
    }
}

#[test]
fn labels_count_slots_and_exit_is_implicit() {
    // lddw occupies slots 1-2, so `out` is slot 4 and `exit` slot 5.
    let text = "
        mov %r0, 0        # slot 0
        lddw %r1, 1       # slots 1, 2
        jeq %r1, 1, out   ; slot 3 -> +0
    out:
        jne %r0, 2, exit  # slot 4 -> +0
        exit              # slot 5
        ja exit           # slot 6 -> -2
        call local out    # slot 7 -> imm -4
        ja32 back         # slot 8 -> imm 0
    back:
    ";
    let got = assemble(text).unwrap();
    assert_eq!(got[3], Insn::new(0x15, 1, 0, 0, 1));
    assert_eq!(got[4], Insn::new(0x55, 0, 0, 0, 2));
    assert_eq!(got[6], Insn::new(0x05, 0, 0, -2, 0));
    assert_eq!(got[7], Insn::new(0x85, 0, 1, 0, -4));
    assert_eq!(got[8], Insn::new(0x06, 0, 0, 0, 0));
    assert_eq!(got.len(), 9);
}

#[test]
fn lddw_func_takes_a_label() {
    let got = assemble("lddw %r2, func f\nexit\nf:\nexit").unwrap();
    // Slot 0 + 1 + imm = 3: imm = 2.
    assert_eq!(got[0], Insn::new(0x18, 2, 4, 0, 2));
    assert_eq!(
        disassemble(&got).unwrap(),
        "lddw %r2, func +2\nexit\nexit\n"
    );
}

#[test]
fn invalid_registers_assemble_for_negative_tests() {
    // %r11..%r15 produce encodings the decoder must refuse.
    let got = assemble("mov %r11, 1\nexit").unwrap();
    assert_eq!(got[0], Insn::new(0xb7, 11, 0, 0, 1));
    assert!(decode_program(&got).is_err());
}

#[test]
fn annotations_follow_the_instruction() {
    let prog = assemble("lddw %r1, map_fd 0\nexit").unwrap();
    let text = sockops_vm::disassemble_annotated(&prog, |pc, ins| match ins {
        Instruction::LdImm64 { .. } => Some(format!("map counters at {pc}\nsecond line")),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        text,
        "lddw %r1, map_fd 0  ; map counters at 0 second line\nexit\n"
    );
    assert_eq!(assemble(&text).unwrap(), prog);
    let listing = sockops_vm::disassemble_listing(&prog, |_, _| None).unwrap();
    assert_eq!(listing, "0: lddw %r1, map_fd 0\n2: exit\n");
}
