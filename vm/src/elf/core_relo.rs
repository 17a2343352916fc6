//! CO-RE relocations: the `core_relo` records of `.BTF.ext`, which clang writes for every
//! access to a type declared with `__attribute__((preserve_access_index))` (all of
//! `vmlinux.h`, `BPF_CORE_READ`, `bpf_core_field_exists`...). libbpf rewrites each such
//! instruction for the running kernel's BTF before loading; this loader reads the records
//! and reports them ([`super::Object::core_relocations`]) but does not apply them, so the
//! instructions keep the compiler's offsets, which are right only where the program's types
//! match the kernel's layout.
//!
//! Format (`struct btf_ext_header`, `struct btf_ext_info_sec`, `struct bpf_core_relo` in
//! libbpf): a header with the offsets of the func_info, line_info and (when `hdr_len` covers
//! them) core_relo subsections, relative to the end of the header; the core_relo subsection
//! is a record size, then per code section its name (in `.BTF`'s strings), a count and the
//! records: instruction byte offset, local type id, access string, kind.

use std::fmt;

use super::btf::Btf;
use super::error::ElfError;

/// `BTF_MAGIC`.
const BTF_MAGIC: u16 = 0xeb9f;
/// The header size from which `core_relo_off`/`core_relo_len` are present.
const HDR_LEN_WITH_CORE_RELO: u32 = 32;
/// `sizeof(struct bpf_core_relo)`: the smallest record size a reader understands.
const CORE_RELO_SIZE: u32 = 16;

/// What a CO-RE relocation computes (`enum bpf_core_relo_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreReloKind {
    /// A field's byte offset.
    FieldByteOffset,
    /// A field's byte size.
    FieldByteSize,
    /// Whether a field exists.
    FieldExists,
    /// Whether a field is signed.
    FieldSigned,
    /// The left shift that extracts a bitfield.
    FieldLshiftU64,
    /// The right shift that extracts a bitfield.
    FieldRshiftU64,
    /// The type's id in the program's BTF.
    TypeIdLocal,
    /// The type's id in the kernel's BTF.
    TypeIdTarget,
    /// Whether the type exists in the kernel.
    TypeExists,
    /// The type's size.
    TypeSize,
    /// Whether an enum value exists.
    EnumvalExists,
    /// An enum value's value.
    EnumvalValue,
    /// Whether the kernel's type matches the program's.
    TypeMatches,
    /// A kind this loader does not know.
    Other(u32),
}

impl CoreReloKind {
    fn from_raw(k: u32) -> CoreReloKind {
        use CoreReloKind::*;
        match k {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            k => Other(k),
        }
    }
}

impl fmt::Display for CoreReloKind {
    /// libbpf's names (`core_relo_kind_str`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CoreReloKind::*;
        let s = match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
            Other(k) => return write!(f, "kind {k}"),
        };
        f.write_str(s)
    }
}

/// One CO-RE relocation of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelocation {
    /// The code section it applies to.
    pub section: String,
    /// The instruction's index in that section.
    pub insn: usize,
    /// What it computes.
    pub kind: CoreReloKind,
    /// The local type's name (`""` for an anonymous type).
    pub type_name: String,
    /// The access string (`"0:1:2"`: member indices from the type).
    pub access: String,
}

impl fmt::Display for CoreRelocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} insn {}: {} of '{}' (access {})",
            self.section, self.insn, self.kind, self.type_name, self.access
        )
    }
}

fn bad(reason: impl Into<String>) -> ElfError {
    ElfError::BtfExt(reason.into())
}

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The CO-RE relocations of `.BTF.ext` (`ext`), with names from `.BTF` (`btf`).
pub(crate) fn read(ext: &[u8], btf: &Btf) -> Result<Vec<CoreRelocation>, ElfError> {
    let magic = ext
        .get(..2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| bad("header cut off"))?;
    if magic != BTF_MAGIC {
        return Err(bad(format!("bad magic {magic:#06x}")));
    }
    let hdr_len = u32_at(ext, 4).ok_or_else(|| bad("header cut off"))?;
    if hdr_len < HDR_LEN_WITH_CORE_RELO {
        return Ok(Vec::new());
    }
    let field = |off: usize| u32_at(ext, off).ok_or_else(|| bad("header cut off"));
    let (relo_off, relo_len) = (field(24)?, field(28)?);
    if relo_len == 0 {
        return Ok(Vec::new());
    }
    let start = u64::from(hdr_len) + u64::from(relo_off);
    let end = start + u64::from(relo_len);
    let sub = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(s, e)| ext.get(s..e))
        .ok_or_else(|| {
            bad(format!(
                "core_relo subsection [{start}, {end}) lies outside the section ({} bytes)",
                ext.len()
            ))
        })?;
    let rec_size = u32_at(sub, 0).ok_or_else(|| bad("core_relo record size cut off"))?;
    if rec_size < CORE_RELO_SIZE || rec_size % 4 != 0 {
        return Err(bad(format!("core_relo record size {rec_size}")));
    }
    let mut out = Vec::new();
    let mut at = 4usize;
    while at < sub.len() {
        let (name_off, count) = u32_at(sub, at)
            .zip(u32_at(sub, at + 4))
            .ok_or_else(|| bad(format!("core_relo section header at {at} cut off")))?;
        at += 8;
        let section = btf
            .string(name_off)
            .ok_or_else(|| bad(format!("section name offset {name_off} is not a string")))?;
        for _ in 0..count {
            let rec = sub
                .get(at..at + rec_size as usize)
                .ok_or_else(|| bad(format!("core_relo record at {at} of {section} cut off")))?;
            let word = |i: usize| u32_at(rec, 4 * i).unwrap_or(0);
            let (insn_off, type_id, access_off, kind) = (word(0), word(1), word(2), word(3));
            if insn_off % 8 != 0 {
                return Err(bad(format!(
                    "{section}: CO-RE relocation at byte {insn_off}, not an instruction"
                )));
            }
            let access = btf.string(access_off).ok_or_else(|| {
                bad(format!(
                    "{section}: access string offset {access_off} is not a string"
                ))
            })?;
            out.push(CoreRelocation {
                section: section.clone(),
                insn: (insn_off / 8) as usize,
                kind: CoreReloKind::from_raw(kind),
                type_name: btf.name_of(type_id),
                access,
            });
            at += rec_size as usize;
        }
    }
    Ok(out)
}
