//! Program extraction and linking, as libbpf does it: every function symbol of a code section
//! other than `.text` is a program; functions it calls (local calls, R_BPF_64_32 against
//! `.text` or a function symbol, or unrelocated calls within its section) and functions whose
//! address it takes (BPF_PSEUDO_FUNC) are appended after its body, once each, and the call
//! offsets are rewritten to the appended copies. LD_IMM64 relocations (R_BPF_64_64) become
//! map references: src 1 (BPF_PSEUDO_MAP_FD) with imm = map index for maps, src 2
//! (BPF_PSEUDO_MAP_VALUE) with imm = map index and the second slot's imm = offset for
//! global data, the offset being the symbol's value plus the addend already in the imm.

use std::collections::{HashMap, VecDeque};

use super::error::{ElfError, RelocErrorKind};
use super::maps::MapTable;
use super::sections::{RawObject, Reloc, SectionKind};
use crate::insn::{INSN_SIZE, Insn};
use crate::opcode::{
    BPF_CALL, BPF_JMP, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
    LD_IMM64,
};

/// R_BPF_64_64: the 64-bit immediate of an LD_IMM64.
const R_BPF_64_64: u32 = 1;
/// R_BPF_64_32: the 32-bit immediate of a call.
const R_BPF_64_32: u32 = 10;
/// Opcode of `call`.
const CALL: u8 = BPF_JMP | BPF_CALL;

/// One function of a code section.
#[derive(Clone, Debug)]
pub(crate) struct Func {
    pub(crate) name: String,
    pub(crate) section: usize,
    /// First slot, in the section.
    pub(crate) start: usize,
    /// Number of slots.
    pub(crate) len: usize,
}

/// The code sections of an object: their slots, functions and relocations.
pub(crate) struct Code {
    /// Slots of each code section, by section index.
    insns: HashMap<usize, Vec<Insn>>,
    /// Functions of each code section, sorted by start.
    funcs: HashMap<usize, Vec<Func>>,
    /// (section, r_offset) -> relocation.
    relocs: HashMap<(usize, u64), Reloc>,
}

impl Code {
    /// Splits every code section into slots and functions.
    pub(crate) fn new(raw: &RawObject<'_>) -> Result<Code, ElfError> {
        let mut insns = HashMap::new();
        let mut funcs = HashMap::new();
        for (idx, sec) in raw.sections.iter().enumerate() {
            if sec.kind != SectionKind::Code {
                continue;
            }
            let slots = Insn::slice_from_bytes(sec.data).map_err(|_| ElfError::CodeSize {
                section: sec.name.clone(),
                size: sec.size,
            })?;
            let n = slots.len();
            let mut list: Vec<_> = raw
                .symbols_in(idx)
                .filter(|s| s.is_func)
                .map(|s| {
                    let bad = || ElfError::BadSymbol {
                        symbol: s.name.clone(),
                        section: sec.name.clone(),
                        value: s.value,
                        size: s.size,
                    };
                    let in_range = s
                        .value
                        .checked_add(s.size)
                        .is_some_and(|end| end <= sec.data.len() as u64);
                    if s.value % INSN_SIZE as u64 != 0
                        || s.size % INSN_SIZE as u64 != 0
                        || !in_range
                    {
                        return Err(bad());
                    }
                    Ok(Func {
                        name: s.name.clone(),
                        section: idx,
                        start: (s.value / INSN_SIZE as u64) as usize,
                        len: (s.size / INSN_SIZE as u64) as usize,
                    })
                })
                .collect::<Result<_, _>>()?;
            list.sort_by_key(|f: &Func| f.start);
            list.dedup_by_key(|f| f.start);
            // Functions without a size extend to the next function or the section end.
            for i in 0..list.len() {
                if list[i].len == 0 {
                    let end = list.get(i + 1).map(|f| f.start).unwrap_or(n);
                    list[i].len = end - list[i].start;
                }
            }
            if list.is_empty() && sec.name != ".text" && n > 0 {
                // Hand-written objects without symbols: the section is one program.
                list.push(Func {
                    name: sec.name.clone(),
                    section: idx,
                    start: 0,
                    len: n,
                });
            }
            insns.insert(idx, slots);
            funcs.insert(idx, list);
        }
        let mut relocs = HashMap::new();
        for (target, list) in &raw.relocs {
            for r in list {
                relocs.insert((*target, r.offset), *r);
            }
        }
        Ok(Code {
            insns,
            funcs,
            relocs,
        })
    }

    /// The entry points: functions of code sections other than `.text`, in section order.
    pub(crate) fn programs(&self, raw: &RawObject<'_>) -> Vec<Func> {
        let mut secs: Vec<_> = self.funcs.keys().copied().collect();
        secs.sort();
        secs.into_iter()
            .filter(|&s| raw.sections[s].name != ".text")
            .flat_map(|s| self.funcs[&s].iter().cloned())
            .collect()
    }

    fn func_at(&self, section: usize, slot: i64) -> Option<&Func> {
        self.funcs
            .get(&section)?
            .iter()
            .find(|f| f.start as i64 == slot)
    }

    /// Every relocation of code that no program reaches is still checked, so a broken
    /// object is reported even if the broken part is unused.
    pub(crate) fn check_all_relocs(
        &self,
        raw: &RawObject<'_>,
        maps: &MapTable,
    ) -> Result<(), ElfError> {
        for ((section, offset), r) in &self.relocs {
            let slots = &self.insns[section];
            let err = |kind| reloc_error(raw, *section, *offset, kind);
            if offset % INSN_SIZE as u64 != 0 {
                return Err(err(RelocErrorKind::BadOffset));
            }
            let slot = (offset / INSN_SIZE as u64) as usize;
            let Some(insn) = slots.get(slot) else {
                return Err(err(RelocErrorKind::BadOffset));
            };
            let sym = symbol(raw, r).map_err(err)?;
            if insn.opcode == CALL {
                continue; // resolved (and checked) when linked
            }
            if insn.opcode != LD_IMM64 {
                return Err(err(RelocErrorKind::NotLdImm64 {
                    opcode: insn.opcode,
                }));
            }
            if slot + 1 >= slots.len() {
                return Err(err(RelocErrorKind::TruncatedLdImm64));
            }
            if r.r_type != R_BPF_64_64 {
                return Err(err(RelocErrorKind::BadType { r_type: r.r_type }));
            }
            target_kind(raw, maps, sym, insn.imm).map_err(err)?;
        }
        Ok(())
    }

    /// Links program `main`: its body, then every function it reaches, relocated.
    pub(crate) fn link(
        &self,
        raw: &RawObject<'_>,
        maps: &MapTable,
        main: &Func,
    ) -> Result<Vec<Insn>, ElfError> {
        let mut out: Vec<Insn> = Vec::new();
        let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
        let mut queue: VecDeque<(Func, usize)> = VecDeque::new();
        let mut place = |f: &Func, out: &mut Vec<Insn>, queue: &mut VecDeque<(Func, usize)>| {
            if let Some(&at) = placed.get(&(f.section, f.start)) {
                return at;
            }
            let at = out.len();
            out.extend_from_slice(&self.insns[&f.section][f.start..f.start + f.len]);
            placed.insert((f.section, f.start), at);
            queue.push_back((f.clone(), at));
            at
        };
        place(main, &mut out, &mut queue);
        while let Some((f, base)) = queue.pop_front() {
            let mut i = 0;
            while i < f.len {
                let sec_slot = f.start + i;
                let abs = base + i;
                let offset = (sec_slot * INSN_SIZE) as u64;
                let err = |kind| reloc_error(raw, f.section, offset, kind);
                let insn = out[abs];
                let reloc = self.relocs.get(&(f.section, offset));
                let wide = insn.opcode == LD_IMM64;
                if wide && i + 1 >= f.len && reloc.is_some() {
                    return Err(err(RelocErrorKind::TruncatedLdImm64));
                }
                if wide
                    && self
                        .relocs
                        .contains_key(&(f.section, offset + INSN_SIZE as u64))
                {
                    let second = offset + INSN_SIZE as u64;
                    return Err(reloc_error(
                        raw,
                        f.section,
                        second,
                        RelocErrorKind::SecondSlot,
                    ));
                }
                if insn.opcode == CALL && insn.src == BPF_PSEUDO_CALL {
                    let (tsec, tslot) = match reloc {
                        Some(r) => {
                            if r.r_type != R_BPF_64_32 {
                                return Err(err(RelocErrorKind::BadType { r_type: r.r_type }));
                            }
                            let sym = symbol(raw, r).map_err(err)?;
                            code_slot(raw, sym.shndx, sym.value, err)?;
                            let base_slot = (sym.value / INSN_SIZE as u64) as i64;
                            (sym.shndx, base_slot + i64::from(insn.imm) + 1)
                        }
                        None => (f.section, sec_slot as i64 + i64::from(insn.imm) + 1),
                    };
                    let target = self.func_at(tsec, tslot).cloned().ok_or_else(|| {
                        err(RelocErrorKind::BadCallTarget {
                            section: raw.section_name(tsec),
                            target: tslot,
                        })
                    })?;
                    let at = place(&target, &mut out, &mut queue);
                    out[abs].imm = relative(at, abs);
                } else if let Some(r) = reloc {
                    if insn.opcode == CALL {
                        let sym = symbol(raw, r).map_err(err)?;
                        return Err(err(RelocErrorKind::Extern(sym.name.clone())));
                    }
                    if !wide {
                        return Err(err(RelocErrorKind::NotLdImm64 {
                            opcode: insn.opcode,
                        }));
                    }
                    if r.r_type != R_BPF_64_64 {
                        return Err(err(RelocErrorKind::BadType { r_type: r.r_type }));
                    }
                    let sym = symbol(raw, r).map_err(err)?;
                    match target_kind(raw, maps, sym, insn.imm).map_err(err)? {
                        Target::Func { section, byte } => {
                            let tslot = (byte / INSN_SIZE as i64, section);
                            let target =
                                self.func_at(tslot.1, tslot.0).cloned().ok_or_else(|| {
                                    err(RelocErrorKind::BadCallTarget {
                                        section: raw.section_name(section),
                                        target: tslot.0,
                                    })
                                })?;
                            let at = place(&target, &mut out, &mut queue);
                            out[abs].src = BPF_PSEUDO_FUNC;
                            out[abs].imm = relative(at, abs);
                            out[abs + 1].imm = 0;
                        }
                        Target::Map(index) => {
                            out[abs].src = BPF_PSEUDO_MAP_FD;
                            out[abs].imm = index as i32;
                            out[abs + 1].imm = 0;
                        }
                        Target::Value { map, offset } => {
                            out[abs].src = BPF_PSEUDO_MAP_VALUE;
                            out[abs].imm = map as i32;
                            out[abs + 1].imm = offset as i32;
                        }
                    }
                } else if wide && insn.src == BPF_PSEUDO_FUNC && i + 1 < f.len {
                    // A function address within the same section, without relocation.
                    let tslot = sec_slot as i64 + i64::from(insn.imm) + 1;
                    let target = self.func_at(f.section, tslot).cloned().ok_or_else(|| {
                        err(RelocErrorKind::BadCallTarget {
                            section: raw.section_name(f.section),
                            target: tslot,
                        })
                    })?;
                    let at = place(&target, &mut out, &mut queue);
                    out[abs].imm = relative(at, abs);
                }
                i += if wide { 2 } else { 1 };
            }
        }
        Ok(out)
    }
}

/// The imm of a call at slot `from` to slot `to`: `to - from - 1`.
fn relative(to: usize, from: usize) -> i32 {
    (to as i64 - from as i64 - 1) as i32
}

fn reloc_error(raw: &RawObject<'_>, section: usize, offset: u64, kind: RelocErrorKind) -> ElfError {
    ElfError::Relocation {
        section: raw.section_name(section),
        offset,
        slot: offset / INSN_SIZE as u64,
        kind,
    }
}

fn symbol<'r>(
    raw: &'r RawObject<'_>,
    r: &Reloc,
) -> Result<&'r super::sections::Symbol, RelocErrorKind> {
    if let Some(a) = r.addend.filter(|&a| a != 0) {
        return Err(RelocErrorKind::Addend(a));
    }
    if r.sym == 0 {
        return Err(RelocErrorKind::NoSymbol(0));
    }
    let sym = raw
        .symbols
        .get(r.sym)
        .ok_or(RelocErrorKind::NoSymbol(r.sym))?;
    if sym.shndx == 0 {
        return Err(RelocErrorKind::Extern(sym.name.clone()));
    }
    Ok(sym)
}

/// Checks that `value` is an aligned offset in code section `shndx`.
fn code_slot(
    raw: &RawObject<'_>,
    shndx: usize,
    value: u64,
    err: impl Fn(RelocErrorKind) -> ElfError,
) -> Result<(), ElfError> {
    match raw.sections.get(shndx) {
        Some(s) if s.kind == SectionKind::Code && value.is_multiple_of(INSN_SIZE as u64) => Ok(()),
        Some(s) if s.kind == SectionKind::Code => Err(err(RelocErrorKind::BadCallTarget {
            section: s.name.clone(),
            target: (value / INSN_SIZE as u64) as i64,
        })),
        _ => Err(err(RelocErrorKind::UnknownTarget {
            symbol: String::new(),
            section: raw.section_name(shndx),
        })),
    }
}

/// What an LD_IMM64 relocation points to.
enum Target {
    /// A function address: its code section and byte offset.
    Func { section: usize, byte: i64 },
    /// A map (legacy or BTF-defined), by index.
    Map(usize),
    /// A global data map value at an offset.
    Value { map: usize, offset: u32 },
}

fn target_kind(
    raw: &RawObject<'_>,
    maps: &MapTable,
    sym: &super::sections::Symbol,
    imm: i32,
) -> Result<Target, RelocErrorKind> {
    let sec = raw
        .sections
        .get(sym.shndx)
        .ok_or_else(|| RelocErrorKind::UnknownTarget {
            symbol: sym.name.clone(),
            section: raw.section_name(sym.shndx),
        })?;
    match sec.kind {
        SectionKind::Code => {
            let byte = sym.value as i64 + i64::from(imm);
            if byte % INSN_SIZE as i64 != 0 {
                return Err(RelocErrorKind::BadCallTarget {
                    section: sec.name.clone(),
                    target: byte / INSN_SIZE as i64,
                });
            }
            Ok(Target::Func {
                section: sym.shndx,
                byte,
            })
        }
        SectionKind::LegacyMaps | SectionKind::BtfMaps => {
            let offset = if sym.is_section {
                sym.value.wrapping_add(imm as i64 as u64)
            } else {
                sym.value
            };
            maps.by_location
                .get(&(sym.shndx, offset))
                .map(|&i| Target::Map(i))
                .ok_or_else(|| RelocErrorKind::NoMap {
                    symbol: sym.name.clone(),
                    section: sec.name.clone(),
                    offset,
                })
        }
        SectionKind::Data | SectionKind::Rodata | SectionKind::Bss => {
            let map = *maps.data_by_section.get(&sym.shndx).ok_or_else(|| {
                RelocErrorKind::UnknownTarget {
                    symbol: sym.name.clone(),
                    section: sec.name.clone(),
                }
            })?;
            let off = sym.value as i64 + i64::from(imm);
            let offset = u32::try_from(off).map_err(|_| RelocErrorKind::OffsetOverflow(off))?;
            Ok(Target::Value { map, offset })
        }
        SectionKind::Other => Err(RelocErrorKind::UnknownTarget {
            symbol: sym.name.clone(),
            section: sec.name.clone(),
        }),
    }
}
