//! Raw eBPF opcode constants (RFC 9669 and Linux cpu v4), the single place where the
//! numbers live. The decoder, encoder and assembler use these; nothing else should.

/// Instruction class: non-standard load (LD_IMM64, legacy packet loads).
pub const BPF_LD: u8 = 0x00;
/// Instruction class: load into register.
pub const BPF_LDX: u8 = 0x01;
/// Instruction class: store immediate.
pub const BPF_ST: u8 = 0x02;
/// Instruction class: store register (and atomics).
pub const BPF_STX: u8 = 0x03;
/// Instruction class: 32-bit arithmetic.
pub const BPF_ALU: u8 = 0x04;
/// Instruction class: 64-bit jumps, calls, exit.
pub const BPF_JMP: u8 = 0x05;
/// Instruction class: 32-bit jumps.
pub const BPF_JMP32: u8 = 0x06;
/// Instruction class: 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

/// Source bit: operand is the immediate.
pub const BPF_K: u8 = 0x00;
/// Source bit: operand is the source register.
pub const BPF_X: u8 = 0x08;

/// ALU operation: add.
pub const BPF_ADD: u8 = 0x00;
/// ALU operation: subtract.
pub const BPF_SUB: u8 = 0x10;
/// ALU operation: multiply.
pub const BPF_MUL: u8 = 0x20;
/// ALU operation: divide (signed with off=1).
pub const BPF_DIV: u8 = 0x30;
/// ALU operation: or.
pub const BPF_OR: u8 = 0x40;
/// ALU operation: and.
pub const BPF_AND: u8 = 0x50;
/// ALU operation: left shift.
pub const BPF_LSH: u8 = 0x60;
/// ALU operation: logical right shift.
pub const BPF_RSH: u8 = 0x70;
/// ALU operation: negate.
pub const BPF_NEG: u8 = 0x80;
/// ALU operation: modulo (signed with off=1).
pub const BPF_MOD: u8 = 0x90;
/// ALU operation: exclusive or.
pub const BPF_XOR: u8 = 0xa0;
/// ALU operation: move (sign-extending with off=8/16/32).
pub const BPF_MOV: u8 = 0xb0;
/// ALU operation: arithmetic right shift.
pub const BPF_ARSH: u8 = 0xc0;
/// ALU operation: byte order conversion (class ALU: to LE/BE; class ALU64: bswap).
pub const BPF_END: u8 = 0xd0;

/// Byte-order source bit for `BPF_END` in class ALU: convert to little-endian.
pub const BPF_TO_LE: u8 = 0x00;
/// Byte-order source bit for `BPF_END` in class ALU: convert to big-endian.
pub const BPF_TO_BE: u8 = 0x08;

/// Jump operation: unconditional.
pub const BPF_JA: u8 = 0x00;
/// Jump operation: equal.
pub const BPF_JEQ: u8 = 0x10;
/// Jump operation: unsigned greater than.
pub const BPF_JGT: u8 = 0x20;
/// Jump operation: unsigned greater or equal.
pub const BPF_JGE: u8 = 0x30;
/// Jump operation: bit test.
pub const BPF_JSET: u8 = 0x40;
/// Jump operation: not equal.
pub const BPF_JNE: u8 = 0x50;
/// Jump operation: signed greater than.
pub const BPF_JSGT: u8 = 0x60;
/// Jump operation: signed greater or equal.
pub const BPF_JSGE: u8 = 0x70;
/// Jump operation: call.
pub const BPF_CALL: u8 = 0x80;
/// Jump operation: exit.
pub const BPF_EXIT: u8 = 0x90;
/// Jump operation: unsigned less than.
pub const BPF_JLT: u8 = 0xa0;
/// Jump operation: unsigned less or equal.
pub const BPF_JLE: u8 = 0xb0;
/// Jump operation: signed less than.
pub const BPF_JSLT: u8 = 0xc0;
/// Jump operation: signed less or equal.
pub const BPF_JSLE: u8 = 0xd0;

/// Memory access size: 4 bytes.
pub const BPF_W: u8 = 0x00;
/// Memory access size: 2 bytes.
pub const BPF_H: u8 = 0x08;
/// Memory access size: 1 byte.
pub const BPF_B: u8 = 0x10;
/// Memory access size: 8 bytes.
pub const BPF_DW: u8 = 0x18;

/// Memory mode: 64-bit immediate (LD class).
pub const BPF_IMM: u8 = 0x00;
/// Memory mode: legacy packet absolute load.
pub const BPF_ABS: u8 = 0x20;
/// Memory mode: legacy packet indirect load.
pub const BPF_IND: u8 = 0x40;
/// Memory mode: regular memory access.
pub const BPF_MEM: u8 = 0x60;
/// Memory mode of an LDX the verifier rewrote as a faulting load (the kernel's
/// `BPF_PROBE_MEM`, numerically `BPF_ABS`); programs may not contain it.
pub const BPF_PROBE_MEM: u8 = 0x20;
/// `BPF_PROBE_MEM` for a sign-extending load (the kernel's `BPF_PROBE_MEMSX`, numerically
/// `BPF_IND`).
pub const BPF_PROBE_MEMSX: u8 = 0x40;
/// Memory mode: sign-extending load (cpu v4).
pub const BPF_MEMSX: u8 = 0x80;
/// Memory mode: atomic operation (STX class).
pub const BPF_ATOMIC: u8 = 0xc0;

/// Atomic modifier: also return the old value.
pub const BPF_FETCH: i32 = 0x01;
/// Atomic operation: exchange.
pub const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
/// Atomic operation: compare and exchange (compares with r0).
pub const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
/// Atomic `imm`: load-acquire, `dst = load_acquire(src + off)` (kernel 6.15+, any size).
pub const BPF_LOAD_ACQ: i32 = 0x100;
/// Atomic `imm`: store-release, `store_release(dst + off, src)` (kernel 6.15+, any size).
pub const BPF_STORE_REL: i32 = 0x110;

/// LD_IMM64 pseudo source: plain 64-bit immediate.
pub const BPF_PSEUDO_NONE: u8 = 0;
/// LD_IMM64 pseudo source: map by file descriptor (or, here, by map index).
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// LD_IMM64 pseudo source: address of a map value (map in imm, offset in the second imm).
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// LD_IMM64 pseudo source: BTF id of a kernel variable.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// LD_IMM64 pseudo source: address of a BPF function (imm = relative offset).
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// LD_IMM64 pseudo source: map by index into the fd array.
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
/// LD_IMM64 pseudo source: map value by index into the fd array.
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// CALL source: helper function by id.
pub const BPF_PSEUDO_HELPER: u8 = 0;
/// CALL source: BPF-to-BPF call, imm = relative offset.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// CALL source: kernel function by BTF id.
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// The full opcode of LD_IMM64 (`lddw`).
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

/// Class bits of an opcode.
pub const fn class(opcode: u8) -> u8 {
    opcode & 0x07
}

/// Operation bits (ALU and JMP classes).
pub const fn op(opcode: u8) -> u8 {
    opcode & 0xf0
}

/// Source bit (ALU and JMP classes).
pub const fn source(opcode: u8) -> u8 {
    opcode & 0x08
}

/// Size bits (memory classes).
pub const fn size(opcode: u8) -> u8 {
    opcode & 0x18
}

/// Mode bits (memory classes).
pub const fn mode(opcode: u8) -> u8 {
    opcode & 0xe0
}
