//! Assembler errors: each `AsmErrorKind` with its 1-based line number, and the number rules of
//! the bpf_conformance dialect (README §3): decimal is signed, hex is unsigned bits.

use sockops_vm::{AsmError, AsmErrorKind, Insn, assemble};

fn error(text: &str) -> AsmError {
    assemble(text).expect_err("must not assemble")
}

fn kind_at(text: &str, line: usize) -> AsmErrorKind {
    let e = error(text);
    assert_eq!(e.line, line, "{text:?}: {e}");
    e.kind
}

#[test]
fn unknown_mnemonic() {
    let e = error("mov %r0, 1\n\n  frob %r1\nexit");
    assert_eq!(e.line, 3);
    assert_eq!(e.kind, AsmErrorKind::UnknownMnemonic("frob".into()));
    assert_eq!(e.to_string(), "line 3: unknown mnemonic `frob`");
    // movsx needs its explicit width; movsx3232 does not exist.
    assert!(matches!(
        kind_at("movsx8 %r1, %r2", 1),
        AsmErrorKind::UnknownMnemonic(_)
    ));
    assert!(matches!(
        kind_at("movsx3232 %r1, %r2", 1),
        AsmErrorKind::UnknownMnemonic(_)
    ));
    assert!(matches!(
        kind_at("be8 %r1", 1),
        AsmErrorKind::UnknownMnemonic(_)
    ));
    assert!(matches!(
        kind_at("ldxsdw %r1, [%r2]", 1),
        AsmErrorKind::UnknownMnemonic(_)
    ));
}

#[test]
fn operand_count() {
    for text in [
        "exit %r0",
        "mov %r0",
        "neg %r0, 1",
        "jeq %r0, 1",
        "ja",
        "call",
        "lddw %r0",
        "lock add [%r1]",
    ] {
        assert!(
            matches!(kind_at(text, 1), AsmErrorKind::OperandCount { .. }),
            "{text}"
        );
    }
    let e = error("add %r1, 2, 3");
    assert_eq!(e.to_string(), "line 1: `add` takes 2 operand(s), found 3");
}

#[test]
fn registers() {
    for bad in ["%r16", "%r", "r1", "%r01", "%rx", "%r1a", "%R1"] {
        let text = format!("mov {bad}, 1");
        assert_eq!(
            kind_at(&text, 1),
            AsmErrorKind::InvalidRegister(bad.into()),
            "{bad}"
        );
    }
    // A source that looks like a register must be one.
    assert_eq!(
        kind_at("add %r1, %r99", 1),
        AsmErrorKind::InvalidRegister("%r99".into())
    );
}

#[test]
fn immediates_32() {
    let imm = |t: &str| assemble(&format!("mov %r0, {t}")).map(|s| s[0].imm);
    assert_eq!(imm("2147483647"), Ok(i32::MAX));
    assert_eq!(imm("-2147483648"), Ok(i32::MIN));
    assert_eq!(imm("0xffffffff"), Ok(-1));
    assert_eq!(imm("0x80000000"), Ok(i32::MIN));
    assert_eq!(imm("+5"), Ok(5));
    assert_eq!(imm("-0x10"), Ok(-16));
    for bad in [
        "2147483648",
        "-2147483649",
        "0x100000000",
        "99999999999999999999999",
    ] {
        assert_eq!(
            kind_at(&format!("mov %r0, {bad}"), 1),
            AsmErrorKind::ImmOutOfRange(bad.into())
        );
    }
    for bad in ["1x", "0x", "abc", "--1", "1.5", "0xg"] {
        assert_eq!(
            kind_at(&format!("mov %r0, {bad}"), 1),
            AsmErrorKind::InvalidNumber(bad.into())
        );
    }
}

#[test]
fn offsets_16() {
    let off = |t: &str| assemble(&format!("ldxw %r0, [%r1{t}]")).map(|s| s[0].off);
    assert_eq!(off("+32767"), Ok(i16::MAX));
    assert_eq!(off("-32768"), Ok(i16::MIN));
    assert_eq!(off("+0xffff"), Ok(-1));
    assert_eq!(off(""), Ok(0));
    assert_eq!(
        kind_at("ldxw %r0, [%r1+32768]", 1),
        AsmErrorKind::OffsetOutOfRange("+32768".into())
    );
    assert_eq!(
        kind_at("ja +32768", 1),
        AsmErrorKind::OffsetOutOfRange("+32768".into())
    );
    assert_eq!(
        kind_at("ldxw %r0, [%r1+-1]", 1),
        AsmErrorKind::InvalidNumber("+-1".into())
    );
}

#[test]
fn immediates_64() {
    let v = |t: &str| {
        assemble(&format!("lddw %r0, {t}"))
            .map(|s| (s[0].imm as u32 as u64) | ((s[1].imm as u32 as u64) << 32))
    };
    assert_eq!(v("0xffffffffffffffff"), Ok(u64::MAX));
    assert_eq!(v("18446744073709551615"), Ok(u64::MAX));
    assert_eq!(v("-9223372036854775808"), Ok(1 << 63));
    assert_eq!(v("-1"), Ok(u64::MAX));
    for bad in [
        "0x10000000000000000",
        "18446744073709551616",
        "-9223372036854775809",
    ] {
        assert_eq!(
            kind_at(&format!("lddw %r0, {bad}"), 1),
            AsmErrorKind::Imm64OutOfRange(bad.into())
        );
    }
}

#[test]
fn memory_operands() {
    for bad in ["%r1+2", "[%r1+2", "(%r1+2)", "[]", "[+2]"] {
        let k = kind_at(&format!("ldxw %r0, {bad}"), 1);
        assert!(
            matches!(
                k,
                AsmErrorKind::InvalidMemoryOperand(_) | AsmErrorKind::InvalidRegister(_)
            ),
            "{bad}: {k}"
        );
    }
    assert_eq!(
        kind_at("stw %r1, 2", 1),
        AsmErrorKind::InvalidMemoryOperand("%r1".into())
    );
}

#[test]
fn calls_and_locks() {
    assert_eq!(
        kind_at("call far 5", 1),
        AsmErrorKind::InvalidCallMode("far".into())
    );
    assert!(matches!(
        kind_at("call helper 1 2", 1),
        AsmErrorKind::OperandCount { .. }
    ));
    assert_eq!(
        kind_at("lock sub [%r1], %r2", 1),
        AsmErrorKind::InvalidAtomicOp("sub".into())
    );
    assert!(matches!(
        kind_at("lock", 1),
        AsmErrorKind::OperandCount { .. }
    ));
    // `fetch` is implied for xchg/cmpxchg and accepted.
    assert_eq!(
        assemble("lock fetch xchg [%r1], %r2").unwrap()[0],
        Insn::new(0xdb, 1, 2, 0, 0xe1)
    );
}

#[test]
fn labels() {
    assert_eq!(
        kind_at("a:\nexit\na:\nexit", 3),
        AsmErrorKind::DuplicateLabel("a".into())
    );
    assert_eq!(kind_at("mov %r0, 0\n:\nexit", 2), AsmErrorKind::EmptyLabel);
    // The undefined label is reported on the line that uses it.
    assert_eq!(
        kind_at("mov %r0, 0\nja nowhere\nexit", 2),
        AsmErrorKind::UndefinedLabel("nowhere".into())
    );
    // A plain number is a label name, not an offset (offsets carry a sign).
    assert_eq!(
        kind_at("ja 5\nexit", 1),
        AsmErrorKind::UndefinedLabel("5".into())
    );
    // An `exit:` label after the first exit duplicates the implicit one.
    assert_eq!(
        kind_at("exit\nexit:\nexit", 2),
        AsmErrorKind::DuplicateLabel("exit".into())
    );
    // A label more than 32767 slots away does not fit a jump's offset.
    let mut far = String::from("ja end\n");
    far.push_str(&"mov %r0, 0\n".repeat(40_000));
    far.push_str("end:\nexit\n");
    assert!(matches!(
        kind_at(&far, 1),
        AsmErrorKind::LabelOutOfRange {
            offset: 40_000,
            bits: 16,
            ..
        }
    ));
    // ja32 has room for it.
    assert_eq!(
        assemble(&far.replacen("ja end", "ja32 end", 1)).unwrap()[0].imm,
        40_000
    );
}

#[test]
fn comments_and_commas() {
    let a = assemble("mov %r0 , 1 # comment\n; whole line\n  exit ; done").unwrap();
    assert_eq!(
        a,
        vec![Insn::new(0xb7, 0, 0, 0, 1), Insn::new(0x95, 0, 0, 0, 0)]
    );
    assert_eq!(assemble("").unwrap(), vec![]);
    assert_eq!(assemble("\r\n# nothing\r\n").unwrap(), vec![]);
    assert_eq!(
        assemble("exit\r\n").unwrap(),
        vec![Insn::new(0x95, 0, 0, 0, 0)]
    );
}
