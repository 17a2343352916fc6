//! A minimal reader of the `.BTF` section: the header, the string table and every type
//! record, enough to decode BTF-defined maps the way libbpf's `__uint` / `__type` macros
//! encode them (`int (*name)[N]` for numbers, `T *name` for key and value types) and to
//! resolve type sizes. Every offset and count is checked; malformed BTF is a `BtfError`
//! naming the byte offset in the section, never a panic.
//!
//! Layout (include/uapi/linux/btf.h): a header (magic 0xeB9F, version 1, flags, hdr_len,
//! type_off, type_len, str_off, str_len), then type records of 12 bytes (name_off, info,
//! size/type) each followed by kind-specific data, then NUL-terminated strings.

/// Malformed BTF: what is wrong and where (byte offset in `.BTF`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed BTF at offset {offset}: {reason}")]
pub struct BtfError {
    /// Byte offset in the `.BTF` section.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, BtfError> {
    Err(BtfError {
        offset,
        reason: reason.into(),
    })
}

/// BTF type kinds (`BTF_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BtfKind {
    /// BTF_KIND_INT (1)
    Int,
    /// BTF_KIND_PTR (2)
    Ptr,
    /// BTF_KIND_ARRAY (3)
    Array,
    /// BTF_KIND_STRUCT (4)
    Struct,
    /// BTF_KIND_UNION (5)
    Union,
    /// BTF_KIND_ENUM (6)
    Enum,
    /// BTF_KIND_FWD (7)
    Fwd,
    /// BTF_KIND_TYPEDEF (8)
    Typedef,
    /// BTF_KIND_VOLATILE (9)
    Volatile,
    /// BTF_KIND_CONST (10)
    Const,
    /// BTF_KIND_RESTRICT (11)
    Restrict,
    /// BTF_KIND_FUNC (12)
    Func,
    /// BTF_KIND_FUNC_PROTO (13)
    FuncProto,
    /// BTF_KIND_VAR (14)
    Var,
    /// BTF_KIND_DATASEC (15)
    Datasec,
    /// BTF_KIND_FLOAT (16)
    Float,
    /// BTF_KIND_DECL_TAG (17)
    DeclTag,
    /// BTF_KIND_TYPE_TAG (18)
    TypeTag,
    /// BTF_KIND_ENUM64 (19)
    Enum64,
}

impl BtfKind {
    fn from_raw(k: u32) -> Option<BtfKind> {
        use BtfKind::*;
        Some(match k {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }
}

/// A struct/union member or a datasec variable: (name offset, type id, offset/bits or size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BtfMember {
    /// Name (struct members) — empty for datasec entries.
    pub name_off: u32,
    /// Member type id.
    pub type_id: u32,
    /// Bit offset (members) or byte offset (datasec entries).
    pub offset: u32,
    /// Byte size (datasec entries only).
    pub size: u32,
}

/// One type record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtfType {
    /// Kind.
    pub kind: BtfKind,
    /// Name offset in the string table.
    pub name_off: u32,
    /// `size` (int, struct, union, enum, datasec, float) or referenced `type` (others).
    pub size_or_type: u32,
    /// Array: (element type, number of elements).
    pub array: Option<(u32, u32)>,
    /// Struct/union members or datasec variables.
    pub members: Vec<BtfMember>,
    /// Where the record starts in `.BTF` (for error messages).
    pub offset: usize,
    /// The `kind_flag` bit of `info`: for structs and unions, member offsets carry a
    /// bitfield size in their top 8 bits (`BTF_MEMBER_BITFIELD_SIZE`).
    pub kind_flag: bool,
}

/// A parsed `.BTF` section.
#[derive(Clone, Debug)]
pub struct Btf {
    types: Vec<BtfType>,
    strings: Vec<u8>,
}

const HEADER_MIN: usize = 24;
/// How many typedef/modifier/array links `resolve_size` follows before calling it a cycle.
const MAX_RESOLVE_DEPTH: usize = 32;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl Btf {
    /// Parses a little-endian `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        if data.len() < HEADER_MIN {
            return err(
                0,
                format!("section is {} bytes, shorter than the header", data.len()),
            );
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != 0xeb9f {
            return err(
                0,
                format!("bad magic {magic:#06x} (expected 0xeb9f, little-endian)"),
            );
        }
        if data[2] != 1 {
            return err(2, format!("unsupported version {}", data[2]));
        }
        let field = |off: usize| u32_at(data, off).map(|v| v as usize).unwrap_or(0);
        let hdr_len = field(4);
        if hdr_len < HEADER_MIN || hdr_len > data.len() {
            return err(4, format!("bad header length {hdr_len}"));
        }
        let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
        let range = |off: usize, len: usize, what: &str| {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some((s, s.checked_add(len)?)))
                .filter(|&(_, e)| e <= data.len())
                .ok_or_else(|| BtfError {
                    offset: 8,
                    reason: format!("{what} section ({off}+{len}) is outside the data"),
                })
        };
        let (ts, te) = range(type_off, type_len, "type")?;
        let (ss, se) = range(str_off, str_len, "string")?;
        let strings = data[ss..se].to_vec();
        if !strings.is_empty() && strings[0] != 0 {
            return err(ss, "string section does not start with an empty string");
        }
        let mut types = Vec::new();
        let mut pos = ts;
        while pos < te {
            let (t, next) = Self::parse_type(data, pos, te)?;
            types.push(t);
            pos = next;
        }
        Ok(Btf { types, strings })
    }

    fn parse_type(d: &[u8], pos: usize, end: usize) -> Result<(BtfType, usize), BtfError> {
        let word = |off: usize| -> Result<u32, BtfError> {
            match u32_at(d, off) {
                Some(v) if off + 4 <= end => Ok(v),
                _ => err(off, "type record runs past the type section"),
            }
        };
        let name_off = word(pos)?;
        let info = word(pos + 4)?;
        let size_or_type = word(pos + 8)?;
        let raw_kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let kind = match BtfKind::from_raw(raw_kind) {
            Some(k) => k,
            None => return err(pos, format!("unknown type kind {raw_kind}")),
        };
        let mut p = pos + 12;
        let mut array = None;
        let mut members = Vec::new();
        match kind {
            BtfKind::Int | BtfKind::Var | BtfKind::DeclTag => {
                word(p)?;
                p += 4;
            }
            BtfKind::Array => {
                let elem = word(p)?;
                word(p + 4)?;
                let n = word(p + 8)?;
                array = Some((elem, n));
                p += 12;
            }
            BtfKind::Struct | BtfKind::Union | BtfKind::Datasec => {
                for _ in 0..vlen {
                    let (a, b, c) = (word(p)?, word(p + 4)?, word(p + 8)?);
                    members.push(if kind == BtfKind::Datasec {
                        BtfMember {
                            name_off: 0,
                            type_id: a,
                            offset: b,
                            size: c,
                        }
                    } else {
                        BtfMember {
                            name_off: a,
                            type_id: b,
                            offset: c,
                            size: 0,
                        }
                    });
                    p += 12;
                }
            }
            BtfKind::Enum | BtfKind::FuncProto => {
                let len = vlen.saturating_mul(8);
                if p.checked_add(len).is_none_or(|e| e > end) {
                    return err(p, "member list runs past the type section");
                }
                p += len;
            }
            BtfKind::Enum64 => {
                let len = vlen.saturating_mul(12);
                if p.checked_add(len).is_none_or(|e| e > end) {
                    return err(p, "member list runs past the type section");
                }
                p += len;
            }
            BtfKind::Ptr
            | BtfKind::Fwd
            | BtfKind::Typedef
            | BtfKind::Volatile
            | BtfKind::Const
            | BtfKind::Restrict
            | BtfKind::Func
            | BtfKind::Float
            | BtfKind::TypeTag => {}
        }
        Ok((
            BtfType {
                kind,
                name_off,
                size_or_type,
                array,
                members,
                offset: pos,
                kind_flag: info >> 31 == 1,
            },
            p,
        ))
    }

    /// The type with id `id` (ids start at 1; 0 is `void`).
    pub fn type_by_id(&self, id: u32) -> Option<&BtfType> {
        self.types.get((id as usize).checked_sub(1)?)
    }

    /// The string at `off` in the string table (lossy UTF-8; `None` if out of range).
    pub fn string(&self, off: u32) -> Option<String> {
        let rest = self.strings.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// How many type records there are (the largest type id).
    pub fn type_count(&self) -> u32 {
        self.types.len() as u32
    }

    /// The name of type `id` (empty when anonymous or unknown).
    pub fn name_of(&self, id: u32) -> String {
        self.type_by_id(id)
            .and_then(|t| self.string(t.name_off))
            .unwrap_or_default()
    }

    /// The DATASEC named `name`, if any.
    pub fn datasec(&self, name: &str) -> Option<&BtfType> {
        self.types.iter().find(|t| {
            t.kind == BtfKind::Datasec && self.string(t.name_off).as_deref() == Some(name)
        })
    }

    /// Type `id` with typedefs and modifiers (const, volatile, restrict, type tags) removed.
    pub fn skip_mods(&self, mut id: u32) -> Result<(u32, &BtfType), BtfError> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(id).ok_or_else(|| BtfError {
                offset: 0,
                reason: format!("type id {id} does not exist"),
            })?;
            match t.kind {
                BtfKind::Typedef
                | BtfKind::Volatile
                | BtfKind::Const
                | BtfKind::Restrict
                | BtfKind::TypeTag => id = t.size_or_type,
                _ => return Ok((id, t)),
            }
        }
        err(0, format!("type chain from id {id} is too deep (a cycle?)"))
    }

    /// The size in bytes of type `id`, as `btf__resolve_size` computes it.
    pub fn resolve_size(&self, id: u32) -> Result<u64, BtfError> {
        self.resolve_size_depth(id, 0)
    }

    fn resolve_size_depth(&self, id: u32, depth: usize) -> Result<u64, BtfError> {
        if depth > MAX_RESOLVE_DEPTH {
            return err(0, format!("type chain from id {id} is too deep (a cycle?)"));
        }
        let (id, t) = self.skip_mods(id)?;
        match t.kind {
            BtfKind::Int
            | BtfKind::Struct
            | BtfKind::Union
            | BtfKind::Enum
            | BtfKind::Enum64
            | BtfKind::Datasec
            | BtfKind::Float => Ok(u64::from(t.size_or_type)),
            BtfKind::Ptr => Ok(8),
            BtfKind::Var => self.resolve_size_depth(t.size_or_type, depth + 1),
            BtfKind::Array => {
                let (elem, n) = t.array.unwrap_or((0, 0));
                let es = self.resolve_size_depth(elem, depth + 1)?;
                es.checked_mul(u64::from(n)).ok_or_else(|| BtfError {
                    offset: t.offset,
                    reason: format!("array type {id} size overflows"),
                })
            }
            _ => err(t.offset, format!("type {id} ({:?}) has no size", t.kind)),
        }
    }
}
