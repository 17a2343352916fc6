//! The raw view of an object that the loader works from: the ELF header checks, and every
//! section and symbol with its name resolved and its bytes bounds-checked against the file.
//! Built on goblin; everything goblin hands back is re-checked before use.

use goblin::elf::Elf;
use goblin::elf::section_header::{SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS};
use goblin::elf::sym::{STB_GLOBAL, STT_FUNC, STT_SECTION};

use super::error::ElfError;

/// ELF identification and header values the loader requires.
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_REL: u16 = 1;
const EM_BPF: u16 = 247;
/// Size of the ELF64 header.
const EHDR64_SIZE: usize = 64;

/// What a section is to the loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SectionKind {
    /// Executable code (`.text` or a program section).
    Code,
    /// The legacy `maps` section.
    LegacyMaps,
    /// The BTF-defined `.maps` section.
    BtfMaps,
    /// `.data`, `.data.*`.
    Data,
    /// `.rodata`, `.rodata.*`.
    Rodata,
    /// `.bss`, `.bss.*`.
    Bss,
    /// Anything else (debug info, BTF, license, ...).
    Other,
}

/// One section with its name and (for PROGBITS) its bytes.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    pub(crate) name: String,
    pub(crate) kind: SectionKind,
    /// Contents; empty for NOBITS sections.
    pub(crate) data: &'a [u8],
    /// sh_size (the size even for NOBITS).
    pub(crate) size: u64,
}

/// One symbol with its name resolved.
#[derive(Clone, Debug)]
pub(crate) struct Symbol {
    pub(crate) name: String,
    pub(crate) shndx: usize,
    pub(crate) value: u64,
    pub(crate) size: u64,
    pub(crate) is_func: bool,
    pub(crate) is_section: bool,
    pub(crate) is_global: bool,
    /// STV_HIDDEN (or internal): not exposed to user space.
    pub(crate) is_hidden: bool,
}

/// One relocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reloc {
    pub(crate) offset: u64,
    pub(crate) sym: usize,
    pub(crate) r_type: u32,
    pub(crate) addend: Option<i64>,
}

/// Sections, symbols and code relocations of a parsed object.
#[derive(Debug)]
pub(crate) struct RawObject<'a> {
    pub(crate) sections: Vec<Section<'a>>,
    /// Symbols by symbol-table index (index 0 is the null symbol).
    pub(crate) symbols: Vec<Symbol>,
    /// Relocations by the index of the section they apply to.
    pub(crate) relocs: Vec<(usize, Vec<Reloc>)>,
    /// Relocations in the BTF `.maps` section: prog-array `values` initialisers.
    pub(crate) maps_relocs: Vec<Reloc>,
}

/// Checks the ELF identification and header fields the loader depends on, before parsing.
fn check_header(bytes: &[u8]) -> Result<(), ElfError> {
    if bytes.len() < 16 || &bytes[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf(if bytes.len() < 4 {
            format!("{} bytes, too short for the ELF magic", bytes.len())
        } else {
            "bad magic (expected \\x7fELF)".to_string()
        }));
    }
    if bytes[4] != ELFCLASS64 {
        return Err(ElfError::WrongClass(bytes[4]));
    }
    if bytes[5] != ELFDATA2LSB {
        return Err(ElfError::WrongEndianness(bytes[5]));
    }
    if bytes.len() < EHDR64_SIZE {
        return Err(ElfError::NotElf(format!(
            "{} bytes, too short for the 64-byte ELF header",
            bytes.len()
        )));
    }
    let e_type = u16::from_le_bytes([bytes[16], bytes[17]]);
    let e_machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    if e_machine != EM_BPF {
        return Err(ElfError::WrongMachine(e_machine));
    }
    if e_type != ET_REL {
        return Err(ElfError::NotRelocatable(e_type));
    }
    Ok(())
}

fn classify(name: &str, sh_type: u32, sh_flags: u64) -> SectionKind {
    let is =
        |base: &str| name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'));
    if sh_type == SHT_PROGBITS && sh_flags & u64::from(SHF_EXECINSTR) != 0 {
        SectionKind::Code
    } else if sh_type == SHT_PROGBITS && name == "maps" {
        SectionKind::LegacyMaps
    } else if sh_type == SHT_PROGBITS && name == ".maps" {
        SectionKind::BtfMaps
    } else if sh_type == SHT_PROGBITS && is(".data") {
        SectionKind::Data
    } else if sh_type == SHT_PROGBITS && is(".rodata") {
        SectionKind::Rodata
    } else if sh_type == SHT_NOBITS && is(".bss") {
        SectionKind::Bss
    } else {
        SectionKind::Other
    }
}

impl<'a> RawObject<'a> {
    /// Checks the header, parses with goblin and resolves sections, symbols and relocations.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<RawObject<'a>, ElfError> {
        check_header(bytes)?;
        let elf = Elf::parse(bytes).map_err(|e| ElfError::Malformed(e.to_string()))?;
        let mut sections = Vec::with_capacity(elf.section_headers.len());
        for (i, sh) in elf.section_headers.iter().enumerate() {
            let name = elf
                .shdr_strtab
                .get_at(sh.sh_name)
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{i}"));
            let kind = classify(&name, sh.sh_type, sh.sh_flags);
            let data = if sh.sh_type == SHT_NOBITS || i == 0 {
                &[][..]
            } else {
                let range = usize::try_from(sh.sh_offset).ok().and_then(|start| {
                    let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
                    bytes.get(start..end)
                });
                match range {
                    Some(d) => d,
                    None => {
                        return Err(ElfError::SectionOutOfBounds {
                            section: name,
                            offset: sh.sh_offset,
                            size: sh.sh_size,
                            file_len: bytes.len(),
                        });
                    }
                }
            };
            sections.push(Section {
                name,
                kind,
                data,
                size: sh.sh_size,
            });
        }
        let symbols = elf
            .syms
            .iter()
            .map(|s| Symbol {
                name: elf.strtab.get_at(s.st_name).unwrap_or("").to_string(),
                shndx: s.st_shndx,
                value: s.st_value,
                size: s.st_size,
                is_func: s.st_type() == STT_FUNC,
                is_section: s.st_type() == STT_SECTION,
                is_global: s.st_bind() == STB_GLOBAL,
                is_hidden: matches!(s.st_other & 0x3, 1 | 2),
            })
            .collect();
        let mut relocs = Vec::new();
        let mut maps_relocs = Vec::new();
        for (reloc_idx, rs) in &elf.shdr_relocs {
            let Some(sh) = elf.section_headers.get(*reloc_idx) else {
                continue;
            };
            let target = sh.sh_info as usize;
            let list = rs.iter().map(|r| Reloc {
                offset: r.r_offset,
                sym: r.r_sym,
                r_type: r.r_type,
                addend: r.r_addend,
            });
            match sections.get(target).map(|s| s.kind) {
                Some(SectionKind::Code) => relocs.push((target, list.collect())),
                Some(SectionKind::BtfMaps) => maps_relocs.extend(list),
                _ => continue, // debug info, BTF: not applied
            }
        }
        Ok(RawObject {
            sections,
            symbols,
            relocs,
            maps_relocs,
        })
    }

    /// The section named `name`.
    pub(crate) fn section_by_name(&self, name: &str) -> Option<(usize, &Section<'a>)> {
        self.sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// The name of section `idx` (or `#idx` if there is none).
    pub(crate) fn section_name(&self, idx: usize) -> String {
        self.sections
            .get(idx)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| format!("#{idx}"))
    }

    /// Symbols defined in section `idx` that are not section symbols or file symbols.
    pub(crate) fn symbols_in(&self, idx: usize) -> impl Iterator<Item = &Symbol> {
        self.symbols
            .iter()
            .filter(move |s| s.shndx == idx && !s.is_section && !s.name.is_empty())
    }
}
