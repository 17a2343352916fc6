//! `ElfError`: why an object did not load (or a lookup in it failed), naming the section,
//! symbol, instruction index or byte offset involved. `ElfError::Unsupported` is kept apart
//! from the errors that mean the object itself is malformed.

use super::btf::BtfError;
use crate::maps::MapError;

/// What is wrong with one relocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelocErrorKind {
    /// Symbol index 0 (the null symbol) or beyond the symbol table.
    #[error("relocation against no symbol (symbol index {0})")]
    NoSymbol(usize),
    /// The offset is not an instruction of the section, or not 8-byte aligned.
    #[error("offset is not an instruction of the section")]
    BadOffset,
    /// The relocated slot is the second half of an LD_IMM64.
    #[error("relocation on the second slot of an ld_imm64")]
    SecondSlot,
    /// A data or map relocation on something other than LD_IMM64.
    #[error("relocation on opcode {opcode:#04x}, expected ld_imm64 (0x18)")]
    NotLdImm64 {
        /// The relocated instruction's opcode.
        opcode: u8,
    },
    /// An LD_IMM64 without its second slot in the function.
    #[error("ld_imm64 is cut off at the end of the function")]
    TruncatedLdImm64,
    /// A relocation type that is not R_BPF_64_64 (ld_imm64) or R_BPF_64_32 (call).
    #[error(
        "relocation type {r_type} is not valid here (R_BPF_64_64 = 1 on ld_imm64, R_BPF_64_32 = 10 on call)"
    )]
    BadType {
        /// The ELF relocation type.
        r_type: u32,
    },
    /// RELA relocations with a non-zero addend (clang writes REL for BPF).
    #[error("RELA addend {0} is not supported (BPF objects use REL relocations)")]
    Addend(i64),
    /// The symbol is undefined: an extern (`__ksym`, `__kconfig`, another object's function).
    #[error("unresolved external symbol `{0}`")]
    Extern(String),
    /// The symbol's section is neither code, a map section nor a global data section.
    #[error(
        "symbol `{symbol}` is in section `{section}`, which is neither code, maps nor global data"
    )]
    UnknownTarget {
        /// Symbol name.
        symbol: String,
        /// Its section.
        section: String,
    },
    /// No map is defined at the symbol's offset of the maps section.
    #[error("no map at offset {offset} of `{section}` (symbol `{symbol}`)")]
    NoMap {
        /// Symbol name.
        symbol: String,
        /// The maps section.
        section: String,
        /// The offset.
        offset: u64,
    },
    /// A call or function address that does not land on the start of a function.
    #[error("call target slot {target} of section `{section}` is not the start of a function")]
    BadCallTarget {
        /// The target's section.
        section: String,
        /// The target slot index in that section (may be out of range).
        target: i64,
    },
    /// A global data offset that does not fit the 32-bit immediate.
    #[error("map value offset {0} does not fit 32 bits")]
    OffsetOverflow(i64),
}

/// Why an ELF object did not load, or a lookup in a loaded object failed.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not an ELF file, or shorter than its header.
    #[error("not an ELF object: {0}")]
    NotElf(String),
    /// ELF class other than 64-bit.
    #[error("ELF class {0} is not supported: BPF objects are 64-bit (ELFCLASS64 = 2)")]
    WrongClass(u8),
    /// Big-endian (or invalid) data encoding.
    #[error("ELF data encoding {0} is not supported: only little-endian BPF (ELFDATA2LSB = 1)")]
    WrongEndianness(u8),
    /// Machine other than EM_BPF.
    #[error("ELF machine {0} is not BPF (EM_BPF = 247)")]
    WrongMachine(u16),
    /// Not a relocatable object (ET_REL).
    #[error("ELF type {0} is not a relocatable object (ET_REL = 1)")]
    NotRelocatable(u16),
    /// goblin could not parse the headers, symbols or relocations.
    #[error("malformed ELF: {0}")]
    Malformed(String),
    /// A section's contents lie outside the file.
    #[error("section `{section}` ({offset:#x}+{size:#x}) lies outside the {file_len}-byte file")]
    SectionOutOfBounds {
        /// Section name.
        section: String,
        /// File offset.
        offset: u64,
        /// Size.
        size: u64,
        /// File length.
        file_len: usize,
    },
    /// A section the object needs is absent (e.g. `.BTF` for `.maps`, the symbol table).
    #[error("missing section `{0}`")]
    MissingSection(String),
    /// A code section whose size is not a multiple of 8.
    #[error("code section `{section}` is {size} bytes, not a multiple of 8")]
    CodeSize {
        /// Section name.
        section: String,
        /// Its size.
        size: u64,
    },
    /// A symbol pointing outside its section, or a misaligned function symbol.
    #[error("symbol `{symbol}` ({value:#x}+{size:#x}) does not fit section `{section}`")]
    BadSymbol {
        /// Symbol name.
        symbol: String,
        /// Section name.
        section: String,
        /// st_value.
        value: u64,
        /// st_size.
        size: u64,
    },
    /// A relocation that cannot be applied.
    #[error("relocation in `{section}` at offset {offset:#x} (slot {slot}): {kind}")]
    Relocation {
        /// The relocated section.
        section: String,
        /// r_offset.
        offset: u64,
        /// r_offset / 8.
        slot: u64,
        /// What is wrong.
        kind: RelocErrorKind,
    },
    /// The `.BTF` section does not parse.
    #[error("section .BTF: {0}")]
    Btf(#[from] BtfError),
    /// The `.BTF.ext` section does not parse.
    #[error("section .BTF.ext: {0}")]
    BtfExt(String),
    /// A BTF-defined map (`.maps`) whose definition cannot be decoded.
    #[error("BTF map `{map}`: {reason}")]
    BtfMap {
        /// Map name.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// A malformed legacy `maps` section.
    #[error("section `maps`: {0}")]
    LegacyMaps(String),
    /// A map type number the kernel does not define (or this runtime does not know).
    #[error("map `{map}`: unknown map type {type_id}")]
    UnknownMapType {
        /// Map name.
        map: String,
        /// The type number.
        type_id: u32,
    },
    /// A map definition the kernel would refuse.
    #[error(transparent)]
    Map(#[from] MapError),
    /// A `license` or `version` section that is malformed.
    #[error("section `{section}`: {reason}")]
    BadMetadata {
        /// Section name.
        section: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A valid object using a feature this runtime does not implement.
    #[error("not supported by this runtime: {0}")]
    Unsupported(String),
    /// `Object::program(name)`: no such program.
    #[error("no program named `{0}` in the object")]
    NoSuchProgram(String),
    /// `Object::map(name)`: no such map.
    #[error("no map named `{0}` in the object")]
    NoSuchMap(String),
}
