//! Interpreter tests of ALU, ALU64 and byte-order instructions: every operation in both widths
//! and the RFC 9669 / Linux edge cases (division and modulo by zero, signed overflow, shift
//! masking, zero-extension of 32-bit results, immediate sign-extension, movsx, be/le/bswap).
//! Expected values are worked out from the specification, not taken from a run.

mod interp_support;

use interp_support::*;
use sockops_vm::Insn;
use sockops_vm::opcode::*;

/// r0 = a (64-bit via lddw), r1 = b (64-bit via lddw), then `op`, exit.
fn binop(a: u64, b: u64, op: Insn) -> u64 {
    r0(&prog(&[&lddw(R0, a), &lddw(R1, b), &[op, exit()]]))
}

/// r0 = a (64-bit), then `op` (which uses an immediate), exit.
fn unop(a: u64, op: Insn) -> u64 {
    r0(&prog(&[&lddw(R0, a), &[op, exit()]]))
}

const MIN64: u64 = 0x8000_0000_0000_0000;

#[test]
fn add_sub_mul_wrap_in_64_bits() {
    assert_eq!(binop(u64::MAX, 2, alu64_reg(BPF_ADD, R0, R1)), 1);
    assert_eq!(binop(1, 2, alu64_reg(BPF_SUB, R0, R1)), u64::MAX);
    assert_eq!(
        binop(0x1_0000_0001, 0x1_0000_0001, alu64_reg(BPF_MUL, R0, R1)),
        0x0000_0002_0000_0001
    );
    // Immediates are sign-extended: 5 + (-1) = 4, 0 - (-1) = 1.
    assert_eq!(unop(5, alu64_imm(BPF_ADD, R0, -1)), 4);
    assert_eq!(unop(0, alu64_imm(BPF_SUB, R0, -1)), 1);
    assert_eq!(unop(3, alu64_imm(BPF_MUL, R0, -2)), (-6i64) as u64);
}

#[test]
fn alu32_results_are_zero_extended() {
    // 0xffffffff + 1 wraps to 0 in 32 bits; the upper half of dst is cleared.
    assert_eq!(
        binop(0xdead_beef_ffff_ffff, 1, alu32_reg(BPF_ADD, R0, R1)),
        0
    );
    assert_eq!(
        unop(0xffff_ffff_0000_0000, alu32_imm(BPF_SUB, R0, 1)),
        0xffff_ffff
    );
    assert_eq!(
        unop(0x1234_5678_0000_0003, alu32_imm(BPF_MUL, R0, -1)),
        0xffff_fffd
    );
    assert_eq!(
        unop(0xffff_ffff_ffff_ffff, alu32_imm(BPF_MOV, R0, -1)),
        0xffff_ffff
    );
    assert_eq!(
        binop(0, 0xaaaa_bbbb_cccc_dddd, alu32_reg(BPF_MOV, R0, R1)),
        0xcccc_dddd
    );
    assert_eq!(
        unop(0xffff_0000_ffff_0000, alu32_imm(BPF_OR, R0, 0xff)),
        0xffff_00ff
    );
    assert_eq!(
        unop(0xffff_0000_ffff_00ff, alu32_imm(BPF_AND, R0, 0xf0)),
        0xf0
    );
    assert_eq!(
        unop(0xffff_0000_0000_00ff, alu32_imm(BPF_XOR, R0, -1)),
        0xffff_ff00
    );
}

#[test]
fn mov64_immediate_is_sign_extended() {
    assert_eq!(r0(&[mov64(R0, -1), exit()]), u64::MAX);
    assert_eq!(r0(&[mov64(R0, i32::MIN), exit()]), 0xffff_ffff_8000_0000);
    assert_eq!(r0(&[mov64(R0, 0x7fff_ffff), exit()]), 0x7fff_ffff);
    assert_eq!(unop(u64::MAX, alu64_imm(BPF_AND, R0, -2)), u64::MAX - 1);
    assert_eq!(
        unop(0, alu64_imm(BPF_OR, R0, i32::MIN)),
        0xffff_ffff_8000_0000
    );
    assert_eq!(unop(u64::MAX, alu64_imm(BPF_XOR, R0, -1)), 0);
}

#[test]
fn unsigned_division_and_modulo() {
    assert_eq!(binop(100, 7, alu64_reg(BPF_DIV, R0, R1)), 14);
    assert_eq!(binop(100, 7, alu64_reg(BPF_MOD, R0, R1)), 2);
    // Unsigned: u64::MAX / 2.
    assert_eq!(binop(u64::MAX, 2, alu64_reg(BPF_DIV, R0, R1)), u64::MAX / 2);
    // div64 by imm -1 divides by 0xffff_ffff_ffff_ffff.
    assert_eq!(unop(5, alu64_imm(BPF_DIV, R0, -1)), 0);
    assert_eq!(unop(u64::MAX, alu64_imm(BPF_DIV, R0, -1)), 1);
    assert_eq!(unop(5, alu64_imm(BPF_MOD, R0, -1)), 5);
    // div32 by imm -1 divides the low 32 bits by 0xffff_ffff.
    assert_eq!(unop(0x0000_0001_ffff_ffff, alu32_imm(BPF_DIV, R0, -1)), 1);
    assert_eq!(
        unop(0x0000_0001_ffff_fffe, alu32_imm(BPF_MOD, R0, -1)),
        0xffff_fffe
    );
    // 32-bit operands are the low halves: (0x1_0000_0010 as u32) / (0x1_0000_0004 as u32) = 4.
    assert_eq!(
        binop(0x1_0000_0010, 0x1_0000_0004, alu32_reg(BPF_DIV, R0, R1)),
        4
    );
}

#[test]
fn division_by_zero_gives_zero() {
    assert_eq!(binop(42, 0, alu64_reg(BPF_DIV, R0, R1)), 0);
    assert_eq!(unop(42, alu64_imm(BPF_DIV, R0, 0)), 0);
    assert_eq!(
        binop(0xffff_ffff_0000_002a, 0, alu32_reg(BPF_DIV, R0, R1)),
        0
    );
    assert_eq!(unop(42, alu32_imm(BPF_DIV, R0, 0)), 0);
    // A 32-bit divisor whose low half is zero is zero.
    assert_eq!(binop(42, 0x1_0000_0000, alu32_reg(BPF_DIV, R0, R1)), 0);
    assert_eq!(binop(42, 0, s64_reg(BPF_DIV, R0, R1)), 0);
    assert_eq!(unop(42, s64_imm(BPF_DIV, R0, 0)), 0);
    assert_eq!(binop(42, 0, s32_reg(BPF_DIV, R0, R1)), 0);
    assert_eq!(unop(42, s32_imm(BPF_DIV, R0, 0)), 0);
}

#[test]
fn modulo_by_zero_leaves_dst_and_32_bit_zero_extends_it() {
    let dst = 0xdead_beef_0000_0005;
    assert_eq!(binop(dst, 0, alu64_reg(BPF_MOD, R0, R1)), dst);
    assert_eq!(unop(dst, alu64_imm(BPF_MOD, R0, 0)), dst);
    assert_eq!(binop(dst, 0, alu32_reg(BPF_MOD, R0, R1)), 5);
    assert_eq!(unop(dst, alu32_imm(BPF_MOD, R0, 0)), 5);
    assert_eq!(binop(dst, 0x7_0000_0000, alu32_reg(BPF_MOD, R0, R1)), 5);
    assert_eq!(binop(dst, 0, s64_reg(BPF_MOD, R0, R1)), dst);
    assert_eq!(unop(dst, s64_imm(BPF_MOD, R0, 0)), dst);
    assert_eq!(binop(dst, 0, s32_reg(BPF_MOD, R0, R1)), 5);
    assert_eq!(unop(dst, s32_imm(BPF_MOD, R0, 0)), 5);
}

#[test]
fn signed_division_truncates_toward_zero() {
    let m7 = (-7i64) as u64;
    assert_eq!(binop(m7, 2, s64_reg(BPF_DIV, R0, R1)), (-3i64) as u64);
    assert_eq!(
        binop(7, (-2i64) as u64, s64_reg(BPF_DIV, R0, R1)),
        (-3i64) as u64
    );
    assert_eq!(binop(m7, (-2i64) as u64, s64_reg(BPF_DIV, R0, R1)), 3);
    assert_eq!(unop(m7, s64_imm(BPF_DIV, R0, 2)), (-3i64) as u64);
    // C remainder has the sign of the dividend.
    assert_eq!(binop(m7, 2, s64_reg(BPF_MOD, R0, R1)), (-1i64) as u64);
    assert_eq!(binop(7, (-2i64) as u64, s64_reg(BPF_MOD, R0, R1)), 1);
    assert_eq!(unop(m7, s64_imm(BPF_MOD, R0, -2)), (-1i64) as u64);
    // 32-bit: operands are the low halves as s32; the result is zero-extended.
    assert_eq!(
        unop(0xffff_ffff_ffff_fff9, s32_imm(BPF_DIV, R0, 2)),
        0xffff_fffd
    );
    assert_eq!(
        unop(0x0000_0000_ffff_fff9, s32_imm(BPF_MOD, R0, 2)),
        0xffff_ffff
    );
    assert_eq!(
        unop(0x1234_5678_0000_0007, s32_imm(BPF_DIV, R0, -2)),
        0xffff_fffd
    );
    assert_eq!(
        binop(0x0000_0000_ffff_fff9, 0xffff_fffe, s32_reg(BPF_DIV, R0, R1)),
        3
    );
}

#[test]
fn signed_division_overflow() {
    // INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0 (the kernel rewrites these to neg and 0).
    assert_eq!(binop(MIN64, u64::MAX, s64_reg(BPF_DIV, R0, R1)), MIN64);
    assert_eq!(unop(MIN64, s64_imm(BPF_DIV, R0, -1)), MIN64);
    assert_eq!(binop(MIN64, u64::MAX, s64_reg(BPF_MOD, R0, R1)), 0);
    assert_eq!(unop(MIN64, s64_imm(BPF_MOD, R0, -1)), 0);
    assert_eq!(
        unop(0xffff_ffff_8000_0000, s32_imm(BPF_DIV, R0, -1)),
        0x8000_0000
    );
    assert_eq!(
        binop(0x8000_0000, 0xffff_ffff, s32_reg(BPF_DIV, R0, R1)),
        0x8000_0000
    );
    assert_eq!(unop(0x8000_0000, s32_imm(BPF_MOD, R0, -1)), 0);
    assert_eq!(binop(0x8000_0000, u64::MAX, s32_reg(BPF_MOD, R0, R1)), 0);
}

#[test]
fn shifts_mask_the_count() {
    assert_eq!(unop(1, alu64_imm(BPF_LSH, R0, 63)), MIN64);
    assert_eq!(binop(1, 65, alu64_reg(BPF_LSH, R0, R1)), 2);
    assert_eq!(binop(1, 64, alu64_reg(BPF_LSH, R0, R1)), 1);
    assert_eq!(binop(MIN64, 65, alu64_reg(BPF_RSH, R0, R1)), MIN64 >> 1);
    assert_eq!(binop(MIN64, 127, alu64_reg(BPF_ARSH, R0, R1)), u64::MAX);
    // 32-bit: count masked to 31, result zero-extended.
    assert_eq!(
        binop(0xffff_ffff_0000_0001, 33, alu32_reg(BPF_LSH, R0, R1)),
        2
    );
    assert_eq!(binop(1, 32, alu32_reg(BPF_LSH, R0, R1)), 1);
    assert_eq!(unop(0xffff_ffff_8000_0000, alu32_imm(BPF_LSH, R0, 1)), 0);
    assert_eq!(
        binop(0xffff_ffff_8000_0000, 36, alu32_reg(BPF_RSH, R0, R1)),
        0x0800_0000
    );
    assert_eq!(unop(0xffff_ffff_0000_0010, alu32_imm(BPF_RSH, R0, 4)), 1);
}

#[test]
fn arithmetic_shift_right() {
    assert_eq!(
        unop((-16i64) as u64, alu64_imm(BPF_ARSH, R0, 2)),
        (-4i64) as u64
    );
    assert_eq!(unop(16, alu64_imm(BPF_ARSH, R0, 2)), 4);
    // arsh32 uses bit 31 of the low half as the sign and zero-extends.
    assert_eq!(
        unop(0x0000_0000_8000_0000, alu32_imm(BPF_ARSH, R0, 1)),
        0xc000_0000
    );
    assert_eq!(
        unop(0xffff_ffff_7fff_fff0, alu32_imm(BPF_ARSH, R0, 4)),
        0x07ff_ffff
    );
    assert_eq!(
        binop(0x8000_0000, 63, alu32_reg(BPF_ARSH, R0, R1)),
        0xffff_ffff
    );
}

#[test]
fn negation() {
    assert_eq!(unop(1, neg(R0, true)), u64::MAX);
    assert_eq!(unop(MIN64, neg(R0, true)), MIN64);
    assert_eq!(unop(0xffff_ffff_0000_0001, neg(R0, false)), 0xffff_ffff);
    assert_eq!(unop(0x1_0000_0000, neg(R0, false)), 0);
    assert_eq!(unop(0x8000_0000, neg(R0, false)), 0x8000_0000);
}

#[test]
fn movsx_sign_extends_the_source_low_bits() {
    assert_eq!(
        binop(0, 0x1234_5680, movsx64(R0, R1, 8)),
        0xffff_ffff_ffff_ff80
    );
    assert_eq!(binop(0, 0x1234_567f, movsx64(R0, R1, 8)), 0x7f);
    assert_eq!(
        binop(0, 0x1234_8000, movsx64(R0, R1, 16)),
        0xffff_ffff_ffff_8000
    );
    assert_eq!(
        binop(0, 0x1_8000_0000, movsx64(R0, R1, 32)),
        0xffff_ffff_8000_0000
    );
    assert_eq!(binop(0, 0x1_7fff_ffff, movsx64(R0, R1, 32)), 0x7fff_ffff);
    // 32-bit forms sign-extend to 32 bits, then zero-extend.
    assert_eq!(binop(u64::MAX, 0x80, movsx32(R0, R1, 8)), 0xffff_ff80);
    assert_eq!(
        binop(u64::MAX, 0xffff_0000_0000_8001, movsx32(R0, R1, 16)),
        0xffff_8001
    );
    assert_eq!(binop(u64::MAX, 0x7001, movsx32(R0, R1, 16)), 0x7001);
}

#[test]
fn byte_order_conversions() {
    let v = 0x1122_3344_5566_7788;
    // Little-endian host: le truncates and zero-extends.
    assert_eq!(unop(v, le(R0, 16)), 0x7788);
    assert_eq!(unop(v, le(R0, 32)), 0x5566_7788);
    assert_eq!(unop(v, le(R0, 64)), v);
    assert_eq!(unop(v, be(R0, 16)), 0x8877);
    assert_eq!(unop(v, be(R0, 32)), 0x8877_6655);
    assert_eq!(unop(v, be(R0, 64)), 0x8877_6655_4433_2211);
    assert_eq!(unop(v, bswap(R0, 16)), 0x8877);
    assert_eq!(unop(v, bswap(R0, 32)), 0x8877_6655);
    assert_eq!(unop(v, bswap(R0, 64)), 0x8877_6655_4433_2211);
}

#[test]
fn register_operands_of_every_binary_op_64() {
    let (a, b) = (0xf0f0_0000_0000_00ffu64, 0x0ff0_0000_0000_0f0fu64);
    assert_eq!(
        binop(a, b, alu64_reg(BPF_OR, R0, R1)),
        0xfff0_0000_0000_0fff
    );
    assert_eq!(
        binop(a, b, alu64_reg(BPF_AND, R0, R1)),
        0x00f0_0000_0000_000f
    );
    assert_eq!(
        binop(a, b, alu64_reg(BPF_XOR, R0, R1)),
        0xff00_0000_0000_0ff0
    );
    assert_eq!(binop(a, b, alu64_reg(BPF_MOV, R0, R1)), b);
    assert_eq!(
        binop(a, 4, alu64_reg(BPF_RSH, R0, R1)),
        0x0f0f_0000_0000_000f
    );
    assert_eq!(
        binop(a, 4, alu64_reg(BPF_ARSH, R0, R1)),
        0xff0f_0000_0000_000f
    );
}

#[test]
fn alu_on_registers_other_than_r0() {
    // r3 = 6; r4 = 7; r3 *= r4; r0 = r3
    let p = [
        mov64(R3, 6),
        mov64(R4, 7),
        alu64_reg(BPF_MUL, R3, R4),
        mov64_reg(R0, R3),
        exit(),
    ];
    assert_eq!(r0(&p), 42);
}

#[test]
fn lddw_loads_the_full_64_bit_constant() {
    assert_eq!(
        r0(&prog(&[&lddw(R0, 0x8765_4321_dead_beef), &[exit()]])),
        0x8765_4321_dead_beef
    );
    assert_eq!(r0(&prog(&[&lddw(R0, 0xffff_ffff), &[exit()]])), 0xffff_ffff);
}
