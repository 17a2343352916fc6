//! Decoder errors: one test per `DecodeErrorKind` the decoder produces, with the Linux
//! verifier's message (kernel/bpf/verifier.c) and the instruction index, plus the encodings
//! the kernel accepts although a field looks unused.

use sockops_vm::{DecodeError, DecodeErrorKind, Insn, Instruction, decode_program, encode};

fn err(slots: &[Insn]) -> DecodeError {
    decode_program(slots).expect_err("must not decode")
}

fn exit() -> Insn {
    Insn::new(0x95, 0, 0, 0, 0)
}

/// Decodes `bad` placed after one valid instruction, so the error must name index 1.
fn at_index_1(bad: Insn) -> DecodeError {
    let e = err(&[Insn::new(0xb7, 0, 0, 0, 0), bad, exit()]);
    assert_eq!(e.pc, 1, "{e}");
    e
}

#[test]
fn unknown_opcode() {
    // 0xe7: ALU64 with op 0xe0, which does not exist.
    let e = at_index_1(Insn::new(0xe7, 0, 0, 0, 0));
    assert_eq!(e.kind, DecodeErrorKind::UnknownOpcode(0xe7));
    assert_eq!(e.to_string(), "insn 1: unknown opcode e7");
    // Byte-sized atomics (0xd3) and 64-bit sign-extending loads (0x99) are not in the table.
    assert_eq!(
        at_index_1(Insn::new(0xd3, 1, 2, 0, 0)).kind,
        DecodeErrorKind::UnknownOpcode(0xd3)
    );
    assert_eq!(
        at_index_1(Insn::new(0x99, 1, 2, 0, 0)).kind,
        DecodeErrorKind::UnknownOpcode(0x99)
    );
    // JMP32 has no call or exit.
    assert_eq!(
        at_index_1(Insn::new(0x86, 0, 0, 0, 1)).kind,
        DecodeErrorKind::UnknownOpcode(0x86)
    );
    assert_eq!(
        at_index_1(Insn::new(0x96, 0, 0, 0, 0)).kind,
        DecodeErrorKind::UnknownOpcode(0x96)
    );
}

#[test]
fn invalid_register() {
    let e = at_index_1(Insn::new(0xb7, 11, 0, 0, 1));
    assert_eq!(e.kind, DecodeErrorKind::InvalidRegister(11));
    assert_eq!(e.kind.to_string(), "R11 is invalid");
    assert_eq!(
        at_index_1(Insn::new(0xbf, 1, 15, 0, 0)).kind,
        DecodeErrorKind::InvalidRegister(15)
    );
}

#[test]
fn invalid_ld_imm64() {
    // No second slot.
    let e = err(&[Insn::new(0x18, 0, 0, 0, 1)]);
    assert_eq!((e.pc, &e.kind), (0, &DecodeErrorKind::InvalidLdImm64));
    assert_eq!(e.kind.to_string(), "invalid bpf_ld_imm64 insn");
    // A second slot with a non-zero opcode.
    let e = err(&[Insn::new(0x18, 0, 0, 0, 1), exit()]);
    assert_eq!(e.kind, DecodeErrorKind::InvalidLdImm64);
}

#[test]
fn unrecognized_ld_imm64() {
    let e = err(&[Insn::new(0x18, 1, 7, 0, 0), Insn::default(), exit()]);
    assert_eq!(e.kind, DecodeErrorKind::UnrecognizedLdImm64);
    assert_eq!(e.kind.to_string(), "unrecognized bpf_ld_imm64 insn");
    // A map by fd or index has no high half (resolve_pseudo_ldimm64).
    for src in [1, 5] {
        let e = err(&[
            Insn::new(0x18, 1, src, 0, 0),
            Insn::new(0, 0, 0, 0, 1),
            exit(),
        ]);
        assert_eq!(e.kind, DecodeErrorKind::UnrecognizedLdImm64, "src {src}");
    }
    // ... but a map value has its offset there.
    assert!(
        decode_program(&[
            Insn::new(0x18, 1, 2, 0, 0),
            Insn::new(0, 0, 0, 0, 8),
            exit()
        ])
        .is_ok()
    );
}

#[test]
fn ld_imm64_reserved() {
    let e = err(&[Insn::new(0x18, 1, 0, 1, 0), Insn::default(), exit()]);
    assert_eq!(e.kind, DecodeErrorKind::LdImm64Reserved);
    assert_eq!(e.kind.to_string(), "BPF_LD_IMM64 uses reserved fields");
}

#[test]
fn legacy_load_reserved() {
    // ldabsw with a destination register.
    let e = at_index_1(Insn::new(0x20, 1, 0, 0, 4));
    assert_eq!(e.kind, DecodeErrorKind::LegacyLoadReserved);
    assert_eq!(e.kind.to_string(), "BPF_LD_[ABS|IND] uses reserved fields");
}

#[test]
fn ldx_reserved() {
    let e = at_index_1(Insn::new(0x61, 0, 1, 0, 1));
    assert_eq!(e.kind, DecodeErrorKind::LdxReserved);
    assert_eq!(e.kind.to_string(), "BPF_LDX uses reserved fields");
}

#[test]
fn st_reserved() {
    let e = at_index_1(Insn::new(0x62, 10, 1, -4, 1));
    assert_eq!(e.kind, DecodeErrorKind::StReserved);
    assert_eq!(e.kind.to_string(), "BPF_ST uses reserved fields");
}

#[test]
fn stx_reserved() {
    let e = at_index_1(Insn::new(0x63, 10, 1, -4, 1));
    assert_eq!(e.kind, DecodeErrorKind::StxReserved);
    assert_eq!(e.kind.to_string(), "BPF_STX uses reserved fields");
}

#[test]
fn invalid_atomic_op() {
    let e = at_index_1(Insn::new(0xdb, 1, 2, 0, 0x10));
    assert_eq!(e.kind, DecodeErrorKind::InvalidAtomicOp(0x10));
    assert_eq!(
        e.kind.to_string(),
        "BPF_ATOMIC uses invalid atomic opcode 10"
    );
    // xchg without its implied fetch bit is not an operation.
    assert_eq!(
        at_index_1(Insn::new(0xc3, 1, 2, 0, 0xe0)).kind,
        DecodeErrorKind::InvalidAtomicOp(0xe0)
    );
}

#[test]
fn alu_reserved() {
    // Offset 1 is only for div/mod; a K form must have src 0; an X form imm 0.
    for bad in [
        Insn::new(0x07, 1, 0, 1, 1),
        Insn::new(0x37, 1, 0, 2, 1),
        Insn::new(0x07, 1, 2, 0, 1),
        Insn::new(0x0f, 1, 2, 0, 1),
    ] {
        let e = at_index_1(bad);
        assert_eq!(e.kind, DecodeErrorKind::AluReserved, "{bad:?}");
    }
    assert_eq!(
        DecodeErrorKind::AluReserved.to_string(),
        "BPF_ALU uses reserved fields"
    );
}

#[test]
fn mov_reserved() {
    // movsx with 32-bit source exists only in ALU64; mov K takes no offset.
    for bad in [
        Insn::new(0xbc, 1, 2, 32, 0),
        Insn::new(0xb7, 1, 0, 8, 0),
        Insn::new(0xbf, 1, 2, 4, 0),
        Insn::new(0xbf, 1, 2, 0, 1),
    ] {
        assert_eq!(
            at_index_1(bad).kind,
            DecodeErrorKind::MovReserved,
            "{bad:?}"
        );
    }
    assert_eq!(
        DecodeErrorKind::MovReserved.to_string(),
        "BPF_MOV uses reserved fields"
    );
}

#[test]
fn neg_reserved() {
    let e = at_index_1(Insn::new(0x87, 1, 0, 0, 1));
    assert_eq!(e.kind, DecodeErrorKind::NegReserved);
    assert_eq!(e.kind.to_string(), "BPF_NEG uses reserved fields");
}

#[test]
fn end_reserved() {
    for bad in [
        Insn::new(0xdc, 1, 0, 0, 8),
        Insn::new(0xd7, 1, 0, 0, 0),
        Insn::new(0xdf, 1, 0, 0, 16),
    ] {
        assert_eq!(
            at_index_1(bad).kind,
            DecodeErrorKind::EndReserved,
            "{bad:?}"
        );
    }
    assert_eq!(
        DecodeErrorKind::EndReserved.to_string(),
        "BPF_END uses reserved fields"
    );
}

#[test]
fn jmp_reserved() {
    let e = at_index_1(Insn::new(0x15, 1, 2, 0, 0));
    assert_eq!(e.kind, DecodeErrorKind::JmpReserved);
    assert_eq!(e.kind.to_string(), "BPF_JMP/JMP32 uses reserved fields");
    assert_eq!(
        at_index_1(Insn::new(0x1e, 1, 2, 0, 3)).kind,
        DecodeErrorKind::JmpReserved
    );
}

#[test]
fn ja_reserved() {
    let e = at_index_1(Insn::new(0x05, 0, 0, 0, 1));
    assert_eq!(e.kind, DecodeErrorKind::JaReserved);
    assert_eq!(e.kind.to_string(), "BPF_JA uses reserved fields");
    // gotol keeps its target in imm; off must be 0.
    assert_eq!(
        at_index_1(Insn::new(0x06, 0, 0, 1, 1)).kind,
        DecodeErrorKind::JaReserved
    );
}

#[test]
fn call_reserved() {
    for bad in [
        Insn::new(0x85, 1, 0, 0, 1),
        Insn::new(0x85, 0, 3, 0, 1),
        Insn::new(0x85, 0, 0, 1, 1),
        Insn::new(0x8d, 1, 0, 0, 1),
    ] {
        assert_eq!(
            at_index_1(bad).kind,
            DecodeErrorKind::CallReserved,
            "{bad:?}"
        );
    }
    assert_eq!(
        DecodeErrorKind::CallReserved.to_string(),
        "BPF_CALL uses reserved fields"
    );
}

#[test]
fn exit_reserved() {
    let e = at_index_1(Insn::new(0x95, 0, 0, 0, 1));
    assert_eq!(e.kind, DecodeErrorKind::ExitReserved);
    assert_eq!(e.kind.to_string(), "BPF_EXIT uses reserved fields");
}

#[test]
fn exit_offset_is_ignored_like_the_kernel() {
    // do_check does not look at exit's off: it decodes, and re-encodes canonically (off 0).
    let decoded = decode_program(&[Insn::new(0x95, 0, 0, 7, 0)]).unwrap();
    assert_eq!(decoded, vec![Instruction::Exit]);
    assert_eq!(encode(&decoded[0]).unwrap().as_slice(), &[exit()]);
}

#[test]
fn kfunc_keeps_its_module_offset() {
    let raw = [Insn::new(0x85, 0, 2, 3, 99), exit()];
    let decoded = decode_program(&raw).unwrap();
    assert_eq!(encode(&decoded[0]).unwrap().as_slice(), &raw[..1]);
}
