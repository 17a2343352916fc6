//! ELF objects as `clang -O2 -g -target bpf -c prog.c` writes them: 64-bit little-endian
//! EM_BPF relocatable files. [`Object::parse`] / [`Object::open`] read the programs (one per
//! function symbol of each code section other than `.text`, with the `.text` sub-programs
//! they call linked in), the maps (legacy `maps` records, BTF-defined `.maps`, and global data
//! `.data*` / `.rodata*` / `.bss*` as single-entry arrays), the `license` and the `version`.
//!
//! Supported relocations (REL, in code sections): R_BPF_64_64 on LD_IMM64 against a map
//! symbol (-> BPF_PSEUDO_MAP_FD, imm = map index), against global data (->
//! BPF_PSEUDO_MAP_VALUE, imm = map index, second imm = symbol value + addend) or against a
//! function (-> BPF_PSEUDO_FUNC); R_BPF_64_32 on local calls. Rejected with a typed error:
//! externs (`__ksym`, `__kconfig`, kfuncs, functions of other objects), relocations against
//! other sections, RELA addends, relocations on other instructions. In `.maps`, R_BPF_64_ABS64
//! relocations in a prog array's `values` array (`.values = { [1] = &handler }`) become
//! [`ProgArrayInit`]s: libbpf fills those slots when it loads the object, and so does the
//! sockops runtime once it has verified the programs; map-in-map `values` are refused.
//! Relocations in other non-code sections (debug info, `.BTF`) are not applied. CO-RE
//! relocations (`.BTF.ext`) are read and reported ([`Object::core_relocations`]), not applied.
//!
//! Maps are created with the defaults libbpf applies when it creates an object's maps: a
//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY` declared without `max_entries` gets one entry per CPU
//! (`LoadOptions::ncpus`), and a ring buffer's size is rounded up to a power-of-two number
//! of 4 KiB pages. (libbpf's other creation-time adjustments concern features this loader
//! refuses: map-in-map inner maps, struct_ops, kconfig/ksym externs, pinning.)
//!
//! Every program's map list is the object's map list (shared `Arc<Map>`s), so map indices in
//! LD_IMM64 are the same in every program of an object.

pub mod btf;
mod core_relo;
mod error;
mod link;
mod maps;
mod section_type;
mod sections;

use std::sync::Arc;

pub use core_relo::{CoreReloKind, CoreRelocation};
pub use error::{ElfError, RelocErrorKind};
pub use maps::{internal_map_name, object_name_from_path};
pub use section_type::program_type_of_section;

use crate::maps::Map;
use crate::program::Program;
use link::Code;
use sections::RawObject;

/// How to load an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Number of CPUs per-CPU maps keep values for (at least 1).
    pub ncpus: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { ncpus: 1 }
    }
}

/// One slot of a prog array that the object initialises (`.values = { [index] = &prog }` in
/// a BTF map definition), as libbpf fills it at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgArrayInit {
    /// The prog array's name.
    pub map: String,
    /// The slot.
    pub index: u32,
    /// The program's function name (one of the object's programs).
    pub program: String,
}

/// A loaded object: its programs and maps.
#[derive(Debug, Clone)]
pub struct Object {
    name: String,
    license: String,
    kernel_version: Option<u32>,
    programs: Vec<Program>,
    maps: Vec<Arc<Map>>,
    prog_array_inits: Vec<ProgArrayInit>,
    core_relocations: Vec<CoreRelocation>,
    btf_ext_error: Option<String>,
}

impl Object {
    /// Reads and parses the object at `path`; its name (for global data maps) is the file
    /// name up to the first '.', as libbpf derives it.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Object, ElfError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ElfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let name = maps::object_name_from_path(&path.to_string_lossy());
        Object::parse(&name, &bytes)
    }

    /// Parses an object from its bytes; `name` is the object name libbpf would use (it
    /// prefixes the global data map names, e.g. `syn_rto.bss`).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Object, ElfError> {
        Object::parse_with_options(name, bytes, &LoadOptions::default())
    }

    /// As [`Object::parse`], with options (e.g. the CPU count of per-CPU maps).
    pub fn parse_with_options(
        name: &str,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Object, ElfError> {
        let raw = RawObject::parse(bytes)?;
        let license = read_license(&raw)?;
        let kernel_version = read_version(&raw)?;
        let table = maps::collect_maps(&raw, name, options.ncpus.max(1))?;
        let code = Code::new(&raw)?;
        code.check_all_relocs(&raw, &table)?;
        let mut programs = Vec::new();
        for f in code.programs(&raw) {
            let insns = code.link(&raw, &table, &f)?;
            programs.push(Program {
                name: f.name.clone(),
                section: raw.section_name(f.section),
                insns,
                maps: table.maps.clone(),
                license: license.clone(),
            });
        }
        let prog_array_inits = prog_array_inits(&raw, &table, &programs)?;
        // libbpf goes on without a `.BTF.ext` it cannot parse; so does this loader, and says so.
        let (core_relocations, btf_ext_error) = match read_core_relocations(&raw) {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Ok(Object {
            name: name.to_string(),
            license,
            kernel_version,
            programs,
            maps: table.maps,
            prog_array_inits,
            core_relocations,
            btf_ext_error,
        })
    }

    /// The object's CO-RE relocations (`.BTF.ext`), which this loader does **not** apply:
    /// the instructions keep the compiler's offsets. Empty for objects built without
    /// `preserve_access_index` types (`vmlinux.h`, `BPF_CORE_READ`). Tools should warn when
    /// it is not (see `CoreRelocation`'s display).
    pub fn core_relocations(&self) -> &[CoreRelocation] {
        &self.core_relocations
    }

    /// Why the object's `.BTF.ext` could not be read, if it could not (the object loads
    /// without it, as libbpf loads it).
    pub fn btf_ext_error(&self) -> Option<&str> {
        self.btf_ext_error.as_deref()
    }

    /// The prog-array slots the object initialises, in relocation order. Nothing fills them
    /// by itself: the runtime does, with the programs it verified (`Map::prog_array_set*`).
    pub fn prog_array_inits(&self) -> &[ProgArrayInit] {
        &self.prog_array_inits
    }

    /// The object name (prefix of global data map names).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `license` section's string (empty if none).
    pub fn license(&self) -> &str {
        &self.license
    }

    /// The `version` section's value, if present.
    pub fn kernel_version(&self) -> Option<u32> {
        self.kernel_version
    }

    /// The programs, in section order then symbol order.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<&Program, ElfError> {
        self.programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ElfError::NoSuchProgram(name.to_string()))
    }

    /// The maps, in the order LD_IMM64 map references index them.
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// The map named `name` (a map symbol, or a global data map such as `syn_rto.bss`).
    pub fn map(&self, name: &str) -> Result<&Arc<Map>, ElfError> {
        self.maps
            .iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| ElfError::NoSuchMap(name.to_string()))
    }
}

/// The `license` section: a NUL-terminated string.
fn read_license(raw: &RawObject<'_>) -> Result<String, ElfError> {
    let Some((_, sec)) = raw.section_by_name("license") else {
        return Ok(String::new());
    };
    let end = sec
        .data
        .iter()
        .position(|&b| b == 0)
        .ok_or(ElfError::BadMetadata {
            section: "license",
            reason: "not NUL-terminated".into(),
        })?;
    std::str::from_utf8(&sec.data[..end])
        .map(str::to_string)
        .map_err(|_| ElfError::BadMetadata {
            section: "license",
            reason: "not UTF-8".into(),
        })
}

/// The `version` section: one little-endian u32.
fn read_version(raw: &RawObject<'_>) -> Result<Option<u32>, ElfError> {
    let Some((_, sec)) = raw.section_by_name("version") else {
        return Ok(None);
    };
    match <[u8; 4]>::try_from(sec.data) {
        Ok(b) => Ok(Some(u32::from_le_bytes(b))),
        Err(_) => Err(ElfError::BadMetadata {
            section: "version",
            reason: format!("{} bytes, expected 4", sec.data.len()),
        }),
    }
}

/// R_BPF_64_ABS64, the relocation clang emits for `&prog` in a `values` array.
const R_BPF_64_ABS64: u32 = 2;

/// The `.maps` relocations: each must be an R_BPF_64_ABS64 in some map's `values` array,
/// against one of the object's programs, in a prog array.
fn prog_array_inits(
    raw: &RawObject<'_>,
    table: &maps::MapTable,
    programs: &[Program],
) -> Result<Vec<ProgArrayInit>, ElfError> {
    let mut inits = Vec::new();
    for r in &raw.maps_relocs {
        let fail = |reason: String| ElfError::BtfMap {
            map: ".maps".into(),
            reason: format!("relocation at offset {:#x}: {reason}", r.offset),
        };
        let values = table
            .values
            .iter()
            .find(|v| v.start <= r.offset && r.offset < v.end)
            .ok_or_else(|| fail("not inside a map's `values` array".into()))?;
        let map = &table.maps[values.map_index];
        if r.r_type != R_BPF_64_ABS64 {
            return Err(fail(format!(
                "relocation type {} (expected R_BPF_64_ABS64)",
                r.r_type
            )));
        }
        if (r.offset - values.start) % 8 != 0 {
            return Err(fail("not at an 8-byte slot of `values`".into()));
        }
        let index = u32::try_from((r.offset - values.start) / 8)
            .map_err(|_| fail("slot index out of range".into()))?;
        if map.def().map_type != crate::maps::MapType::ProgArray {
            return Err(ElfError::Unsupported(format!(
                "`values` initialisers of map `{}` ({}): only prog arrays are supported",
                map.name(),
                map.def().map_type.name()
            )));
        }
        if index >= map.def().max_entries {
            return Err(fail(format!(
                "slot {index} of `{}` is beyond max_entries {}",
                map.name(),
                map.def().max_entries
            )));
        }
        let sym = raw
            .symbols
            .get(r.sym)
            .ok_or_else(|| fail(format!("symbol index {} does not exist", r.sym)))?;
        if !sym.is_func || !programs.iter().any(|p| p.name == sym.name) {
            return Err(fail(format!(
                "slot {index} of `{}` names `{}`, which is not a program of this object",
                map.name(),
                sym.name
            )));
        }
        inits.push(ProgArrayInit {
            map: map.name().to_string(),
            index,
            program: sym.name.clone(),
        });
    }
    Ok(inits)
}

/// The CO-RE relocations of the object's `.BTF.ext`, if it has one (and a `.BTF` for its
/// names).
fn read_core_relocations(raw: &RawObject<'_>) -> Result<Vec<CoreRelocation>, ElfError> {
    let Some((_, ext)) = raw.section_by_name(".BTF.ext") else {
        return Ok(Vec::new());
    };
    let Some((_, btf)) = raw.section_by_name(".BTF") else {
        return Err(ElfError::BtfExt("no .BTF section for its names".into()));
    };
    let btf = btf::Btf::parse(btf.data)?;
    core_relo::read(ext.data, &btf)
}
