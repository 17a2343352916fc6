//! The raw 8-byte eBPF instruction slot (`Insn`) and the register type (`Reg`).
//! No meaning is attached here: see `instruction` for the typed, validated form.

use std::fmt;

/// Size in bytes of one instruction slot.
pub const INSN_SIZE: usize = 8;

/// One raw instruction slot exactly as encoded: opcode, dst and src register nibbles,
/// signed 16-bit offset, signed 32-bit immediate (little-endian on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode byte.
    pub opcode: u8,
    /// Destination register field (low nibble of byte 1), 0..=15.
    pub dst: u8,
    /// Source register field (high nibble of byte 1), 0..=15.
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds a slot from its fields; register fields are masked to 4 bits.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            opcode,
            dst: dst & 0xf,
            src: src & 0xf,
            off,
            imm,
        }
    }

    /// Decodes a slot from its 8 little-endian bytes.
    pub fn from_bytes(b: [u8; 8]) -> Self {
        Insn {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes the slot as 8 little-endian bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0xf) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// Splits a byte buffer into slots. Fails if the length is not a multiple of 8.
    pub fn slice_from_bytes(bytes: &[u8]) -> Result<Vec<Insn>, TrailingBytes> {
        if !bytes.len().is_multiple_of(INSN_SIZE) {
            return Err(TrailingBytes { len: bytes.len() });
        }
        Ok(bytes
            .chunks_exact(INSN_SIZE)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                Insn::from_bytes(a)
            })
            .collect())
    }

    /// Encodes slots back to bytes.
    pub fn slice_to_bytes(insns: &[Insn]) -> Vec<u8> {
        insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
}

/// A program byte buffer whose length is not a multiple of the 8-byte slot size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program is {len} bytes, not a multiple of 8 (the instruction size)")]
pub struct TrailingBytes {
    /// The buffer length.
    pub len: usize,
}

/// An eBPF register, r0..=r10 (validated by the decoder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// Return value and helper result.
    pub const R0: Reg = Reg(0);
    /// First argument (the context at entry).
    pub const R1: Reg = Reg(1);
    /// Second argument.
    pub const R2: Reg = Reg(2);
    /// Third argument.
    pub const R3: Reg = Reg(3);
    /// Fourth argument.
    pub const R4: Reg = Reg(4);
    /// Fifth argument.
    pub const R5: Reg = Reg(5);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Read-only frame pointer.
    pub const R10: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;

    /// A register from its number, if it is 0..=10.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// The register number, 0..=10.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The register number as encoded.
    pub const fn num(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}
