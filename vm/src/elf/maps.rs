//! Map discovery in an object, in libbpf's order: legacy `maps` section records, then
//! BTF-defined maps in `.maps`, then one single-entry array per global data section
//! (`.data*`, `.rodata*`, `.bss*`) named as libbpf names it and initialised from the section.

use std::collections::HashMap;
use std::sync::Arc;

use super::btf::{Btf, BtfKind, BtfType};
use super::error::ElfError;
use super::sections::{RawObject, SectionKind};
use crate::maps::{BPF_ANY, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, Map, MapDef, MapType};

/// The kernel's BPF_OBJ_NAME_LEN (names are at most 15 characters plus NUL).
const BPF_OBJ_NAME_LEN: usize = 16;
/// Size of libbpf's former `struct bpf_map_def` (type, key_size, value_size, max_entries,
/// map_flags); legacy records may be longer, with zeros beyond.
const LEGACY_DEF_SIZE: usize = 20;

/// The object's maps and where relocations find them.
#[derive(Debug, Default)]
pub(crate) struct MapTable {
    /// Maps in object order (the index programs' LD_IMM64 refer to).
    pub(crate) maps: Vec<Arc<Map>>,
    /// (section index, offset) of each legacy / BTF map definition -> map index.
    pub(crate) by_location: HashMap<(usize, u64), usize>,
    /// Global data section index -> map index.
    pub(crate) data_by_section: HashMap<usize, usize>,
    /// The `values` arrays of BTF map definitions that have one.
    pub(crate) values: Vec<ValuesArray>,
    /// CPUs per-CPU maps are created with.
    ncpus: usize,
}

/// Where a BTF map definition's `values` array (prog-array / map-in-map initialisers) lies
/// in `.maps`: 8-byte slots from `start` up to `end`, slot `i` at `start + 8 * i`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ValuesArray {
    /// The map's index.
    pub(crate) map_index: usize,
    /// Offset in `.maps` of slot 0.
    pub(crate) start: u64,
    /// End of the map's variable in `.maps`.
    pub(crate) end: u64,
}

/// The object name libbpf derives from a path: the file name up to its first '.', at most
/// 15 bytes.
pub fn object_name_from_path(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let truncated: String = base.chars().take(BPF_OBJ_NAME_LEN - 1).collect();
    truncated.split('.').next().unwrap_or("").to_string()
}

/// libbpf's `internal_map_name`: up to 8 characters of the object name, then the section
/// name (at least 7 characters reserved for it); custom sections such as `.rodata.str1.1`
/// use the section name alone. At most 15 characters, others than [A-Za-z0-9_.] become '_'.
pub fn internal_map_name(object: &str, section: &str) -> String {
    let sfx_len = section.len().clamp(7, BPF_OBJ_NAME_LEN - 1);
    let pfx_len = if section.get(1..).is_some_and(|r| r.contains('.')) {
        0
    } else {
        (BPF_OBJ_NAME_LEN - sfx_len - 1).min(object.len())
    };
    let name: String = object
        .chars()
        .take(pfx_len)
        .chain(section.chars().take(sfx_len))
        .take(BPF_OBJ_NAME_LEN - 1)
        .collect();
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn map_type(map: &str, type_id: u32) -> Result<MapType, ElfError> {
    MapType::from_kernel(type_id).ok_or_else(|| ElfError::UnknownMapType {
        map: map.to_string(),
        type_id,
    })
}

/// The page size libbpf rounds ring buffer sizes to.
const RINGBUF_PAGE: u32 = 4096;

/// The defaults libbpf applies to a map definition when it creates the map from an object:
/// - a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` without `max_entries` gets one entry per CPU
///   (`map_set_def_max_entries`; here the CPUs the object is loaded for, `ncpus`);
/// - a ring buffer's `max_entries` is rounded up to a power-of-two number of pages
///   (`adjust_ringbuf_sz`).
pub(crate) fn apply_libbpf_defaults(mut def: MapDef, ncpus: usize) -> MapDef {
    match def.map_type {
        MapType::PerfEventArray if def.max_entries == 0 => {
            def.max_entries = u32::try_from(ncpus).unwrap_or(u32::MAX).max(1);
        }
        MapType::Ringbuf if def.max_entries > 0 => {
            let pages = def.max_entries.div_ceil(RINGBUF_PAGE);
            def.max_entries = pages
                .checked_next_power_of_two()
                .and_then(|p| p.checked_mul(RINGBUF_PAGE))
                .unwrap_or(def.max_entries);
        }
        _ => {}
    }
    def
}

fn add_map(table: &mut MapTable, name: &str, def: MapDef) -> Result<usize, ElfError> {
    let def = apply_libbpf_defaults(def, table.ncpus);
    let map = Map::try_with_cpus(name, def, table.ncpus)?;
    table.maps.push(Arc::new(map));
    Ok(table.maps.len() - 1)
}

/// Builds the map table of `raw`; `object` is the object name for global data maps, `ncpus`
/// the number of CPUs per-CPU maps keep values for.
pub(crate) fn collect_maps(
    raw: &RawObject<'_>,
    object: &str,
    ncpus: usize,
) -> Result<MapTable, ElfError> {
    let mut table = MapTable {
        ncpus,
        ..MapTable::default()
    };
    if let Some((idx, _)) = raw
        .section_by_name("maps")
        .filter(|(_, s)| s.kind == SectionKind::LegacyMaps)
    {
        legacy_maps(raw, idx, &mut table)?;
    }
    if let Some((idx, _)) = raw
        .section_by_name(".maps")
        .filter(|(_, s)| s.kind == SectionKind::BtfMaps)
    {
        btf_maps(raw, idx, &mut table)?;
    }
    for (idx, sec) in raw.sections.iter().enumerate() {
        let flags = match sec.kind {
            SectionKind::Rodata => BPF_F_RDONLY_PROG,
            SectionKind::Data | SectionKind::Bss => 0,
            _ => continue,
        };
        if sec.size == 0 {
            continue; // libbpf skips empty data sections
        }
        let value_size = u32::try_from(sec.size).map_err(|_| {
            ElfError::Unsupported(format!(
                "global data section `{}` of {} bytes",
                sec.name, sec.size
            ))
        })?;
        // libbpf: mmapable when some global, non-hidden variable lives in the section.
        let mmapable = raw.symbols_in(idx).any(|s| s.is_global && !s.is_hidden);
        let def = MapDef {
            map_type: MapType::Array,
            key_size: 4,
            value_size,
            max_entries: 1,
            map_flags: flags | if mmapable { BPF_F_MMAPABLE } else { 0 },
        };
        let name = internal_map_name(object, &sec.name);
        let map_index = add_map(&mut table, &name, def)?;
        let map = &table.maps[map_index];
        if sec.kind != SectionKind::Bss {
            map.update(&0u32.to_le_bytes(), sec.data, BPF_ANY)?;
        }
        if sec.kind == SectionKind::Rodata {
            map.freeze();
        }
        table.data_by_section.insert(idx, map_index);
    }
    Ok(table)
}

/// Legacy `struct bpf_map_def SEC("maps")` records: one per symbol, the record size being
/// the section size divided by the number of symbols (as libbpf did).
fn legacy_maps(raw: &RawObject<'_>, idx: usize, table: &mut MapTable) -> Result<(), ElfError> {
    let sec = &raw.sections[idx];
    let mut syms: Vec<_> = raw.symbols_in(idx).collect();
    syms.sort_by_key(|s| s.value);
    if syms.is_empty() {
        return Ok(());
    }
    let data = sec.data;
    if data.is_empty() || !data.len().is_multiple_of(syms.len()) {
        return Err(ElfError::LegacyMaps(format!(
            "cannot determine the map definition size: {} bytes for {} symbols",
            data.len(),
            syms.len()
        )));
    }
    let def_size = data.len() / syms.len();
    if def_size < 16 {
        return Err(ElfError::LegacyMaps(format!(
            "map definitions of {def_size} bytes are too short (type, key_size, value_size, max_entries)"
        )));
    }
    for s in syms {
        let start = usize::try_from(s.value).ok().filter(|v| v % 4 == 0);
        let rec = start
            .and_then(|st| data.get(st..st.checked_add(def_size)?))
            .ok_or_else(|| {
                ElfError::LegacyMaps(format!(
                    "map `{}` at offset {} does not fit the section of {} bytes",
                    s.name,
                    s.value,
                    data.len()
                ))
            })?;
        let field = |i: usize| {
            rec.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0)
        };
        if rec.len() > LEGACY_DEF_SIZE && rec[LEGACY_DEF_SIZE..].iter().any(|&b| b != 0) {
            return Err(ElfError::LegacyMaps(format!(
                "map `{}` has unrecognized, non-zero fields beyond map_flags",
                s.name
            )));
        }
        let def = MapDef {
            map_type: map_type(&s.name, field(0))?,
            key_size: field(1),
            value_size: field(2),
            max_entries: field(3),
            map_flags: field(4),
        };
        let map_index = add_map(table, &s.name, def)?;
        table.by_location.insert((idx, s.value), map_index);
    }
    Ok(())
}

/// Decodes libbpf's `__uint(name, N)`: a pointer to an array of N elements.
fn btf_uint(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ElfError> {
    let bad = |why: &str| ElfError::BtfMap {
        map: map.to_string(),
        reason: format!("field `{field}`: {why}"),
    };
    let (_, ptr) = btf.skip_mods(type_id)?;
    if ptr.kind != BtfKind::Ptr {
        return Err(bad("not a pointer (expected __uint)"));
    }
    let (_, arr) = btf.skip_mods(ptr.size_or_type)?;
    match (arr.kind, arr.array) {
        (BtfKind::Array, Some((_, n))) => Ok(n),
        _ => Err(bad("not a pointer to an array (expected __uint)")),
    }
}

/// Decodes libbpf's `__type(name, T)`: a pointer to T; returns T's size.
fn btf_type_size(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ElfError> {
    let bad = |why: String| ElfError::BtfMap {
        map: map.to_string(),
        reason: format!("field `{field}`: {why}"),
    };
    let (_, ptr) = btf.skip_mods(type_id)?;
    if ptr.kind != BtfKind::Ptr {
        return Err(bad("not a pointer (expected __type)".into()));
    }
    let size = btf.resolve_size(ptr.size_or_type)?;
    u32::try_from(size).map_err(|_| bad(format!("type size {size} does not fit 32 bits")))
}

/// BTF-defined maps: the variables of the `.maps` DATASEC, each a struct whose members
/// follow libbpf's conventions.
fn btf_maps(raw: &RawObject<'_>, idx: usize, table: &mut MapTable) -> Result<(), ElfError> {
    let (_, btf_sec) = raw
        .section_by_name(".BTF")
        .ok_or_else(|| ElfError::MissingSection(".BTF".into()))?;
    let btf = Btf::parse(btf_sec.data)?;
    let datasec = btf.datasec(".maps").ok_or_else(|| ElfError::BtfMap {
        map: ".maps".into(),
        reason: "no DATASEC `.maps` in .BTF".into(),
    })?;
    for var in &datasec.members {
        let vt = btf
            .type_by_id(var.type_id)
            .filter(|t| t.kind == BtfKind::Var);
        let Some(vt) = vt else {
            return Err(ElfError::BtfMap {
                map: ".maps".into(),
                reason: format!("DATASEC entry type {} is not a variable", var.type_id),
            });
        };
        let name = btf.string(vt.name_off).unwrap_or_default();
        let offset = raw
            .symbols_in(idx)
            .find(|s| s.name == name)
            .map(|s| s.value)
            .ok_or_else(|| ElfError::BtfMap {
                map: name.clone(),
                reason: "no ELF symbol in `.maps` for this variable".into(),
            })?;
        let (_, st) = btf.skip_mods(vt.size_or_type)?;
        if st.kind != BtfKind::Struct {
            return Err(ElfError::BtfMap {
                map: name,
                reason: format!("definition is a {:?}, not a struct", st.kind),
            });
        }
        let def = btf_map_def(&btf, &name, st)?;
        let map_index = add_map(table, &name, def)?;
        table.by_location.insert((idx, offset), map_index);
        let values = st
            .members
            .iter()
            .find(|m| btf.string(m.name_off).is_some_and(|n| n == "values"));
        if let Some(m) = values {
            table.values.push(ValuesArray {
                map_index,
                start: offset + u64::from(m.offset / 8),
                end: offset + u64::from(var.size),
            });
        }
    }
    Ok(())
}

fn btf_map_def(btf: &Btf, name: &str, st: &BtfType) -> Result<MapDef, ElfError> {
    let mut type_id = None;
    let (mut key_size, mut value_size) = (None::<u32>, None::<u32>);
    let (mut max_entries, mut map_flags) = (0u32, 0u32);
    let set_size = |slot: &mut Option<u32>, v: u32, what: &str| match *slot {
        Some(prev) if prev != v => Err(ElfError::BtfMap {
            map: name.to_string(),
            reason: format!("conflicting {what} sizes {prev} and {v}"),
        }),
        _ => {
            *slot = Some(v);
            Ok(())
        }
    };
    for m in &st.members {
        let field = btf.string(m.name_off).unwrap_or_default();
        match field.as_str() {
            "type" => type_id = Some(btf_uint(btf, name, &field, m.type_id)?),
            "max_entries" => max_entries = btf_uint(btf, name, &field, m.type_id)?,
            "map_flags" => map_flags = btf_uint(btf, name, &field, m.type_id)?,
            "key_size" => set_size(
                &mut key_size,
                btf_uint(btf, name, &field, m.type_id)?,
                "key",
            )?,
            "value_size" => set_size(
                &mut value_size,
                btf_uint(btf, name, &field, m.type_id)?,
                "value",
            )?,
            "key" => set_size(
                &mut key_size,
                btf_type_size(btf, name, &field, m.type_id)?,
                "key",
            )?,
            "value" => set_size(
                &mut value_size,
                btf_type_size(btf, name, &field, m.type_id)?,
                "value",
            )?,
            // Initial prog-array slots (see `ValuesArray`): as in libbpf, their values are
            // 4 bytes (a program fd).
            "values" => set_size(&mut value_size, 4, "value")?,
            // Accepted and not needed here: NUMA placement, pinning (no bpffs) and map_extra
            // (bloom filters).
            "numa_node" | "pinning" | "map_extra" => {}
            other => {
                return Err(ElfError::BtfMap {
                    map: name.to_string(),
                    reason: format!("unknown field `{other}`"),
                });
            }
        }
    }
    let type_id = type_id.ok_or_else(|| ElfError::UnknownMapType {
        map: name.to_string(),
        type_id: 0,
    })?;
    Ok(MapDef {
        map_type: map_type(name, type_id)?,
        key_size: key_size.unwrap_or(0),
        value_size: value_size.unwrap_or(0),
        max_entries,
        map_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_libbpf_internal_map_name() {
        // Examples from libbpf's comment in internal_map_name.
        assert_eq!(
            internal_map_name("my_object_name", ".rodata"),
            "my_objec.rodata"
        );
        assert_eq!(internal_map_name("my_object_name", ".bss"), "my_objec.bss");
        assert_eq!(internal_map_name("syn_rto", ".data"), "syn_rto.data");
        assert_eq!(internal_map_name("obj", ".rodata.str1.1"), ".rodata.str1.1");
        assert_eq!(
            internal_map_name("obj", ".data.very_long_name"),
            ".data.very_long"
        );
        assert_eq!(internal_map_name("a-b", ".bss"), "a_b.bss");
        assert_eq!(object_name_from_path("/x/y/syn_rto.bpf.o"), "syn_rto");
        assert_eq!(
            object_name_from_path("a_very_long_object_name.o"),
            "a_very_long_obj"
        );
    }

    /// A tiny BTF writer: types as (name, info, size_or_type, extra words), then strings.
    struct BtfBuilder {
        types: Vec<u32>,
        strings: Vec<u8>,
    }

    impl BtfBuilder {
        fn new() -> Self {
            BtfBuilder {
                types: Vec::new(),
                strings: vec![0],
            }
        }
        fn s(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend(name.as_bytes());
            self.strings.push(0);
            off
        }
        fn t(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32, extra: &[u32]) {
            let n = self.s(name);
            self.types.extend([n, (kind << 24) | vlen, size_or_type]);
            self.types.extend(extra);
        }
        fn bytes(&self) -> Vec<u8> {
            let tlen = (self.types.len() * 4) as u32;
            let mut out = Vec::new();
            out.extend(0xeb9fu16.to_le_bytes());
            out.extend([1, 0]);
            for w in [24, 0, tlen, tlen, self.strings.len() as u32] {
                out.extend(w.to_le_bytes());
            }
            for w in &self.types {
                out.extend(w.to_le_bytes());
            }
            out.extend(&self.strings);
            out
        }
    }

    /// `struct { __uint(type, T); __uint(max_entries, 10); __type(key, const my_key_t);
    /// __type(value, u64); <extra member> } m SEC(".maps");` with `my_key_t` a typedef of a
    /// 12-byte struct. `extra` adds a member named so, of type `__uint(x, 4)`.
    fn map_btf(map_type: u32, extra: Option<&str>) -> Vec<u8> {
        let mut b = BtfBuilder::new();
        b.t("int", 1, 0, 4, &[32]); // 1
        b.t("", 3, 0, 0, &[1, 1, map_type]); // 2: int[T]
        b.t("", 2, 0, 2, &[]); // 3: ptr
        b.t("", 3, 0, 0, &[1, 1, 10]); // 4: int[10]
        b.t("", 2, 0, 4, &[]); // 5
        b.t("key_t", 4, 0, 12, &[]); // 6: struct of 12 bytes
        b.t("my_key_t", 8, 0, 6, &[]); // 7: typedef
        b.t("", 10, 0, 7, &[]); // 8: const
        b.t("", 2, 0, 8, &[]); // 9: ptr to const my_key_t
        b.t("u64", 1, 0, 8, &[64]); // 10
        b.t("", 2, 0, 10, &[]); // 11
        b.t("", 3, 0, 0, &[1, 1, 4]); // 12: int[4]
        b.t("", 2, 0, 12, &[]); // 13
        let mut members = Vec::new();
        for (name, ty) in [("type", 3), ("max_entries", 5), ("key", 9), ("value", 11)]
            .into_iter()
            .chain(extra.map(|e| (e, 13)))
        {
            members.extend([b.s(name), ty, 0]);
        }
        let n = (members.len() / 3) as u32;
        b.t("", 4, n, 8 * n, &members); // 14: the map struct
        b.t("m", 14, 0, 14, &[1]); // 15: var
        b.t(".maps", 15, 1, 8 * n, &[15, 0, 8 * n]); // 16: datasec
        b.bytes()
    }

    fn decode(bytes: &[u8]) -> Result<MapDef, ElfError> {
        let btf = Btf::parse(bytes)?;
        let ds = btf.datasec(".maps").unwrap();
        let var = btf.type_by_id(ds.members[0].type_id).unwrap();
        let (_, st) = btf.skip_mods(var.size_or_type)?;
        btf_map_def(&btf, "m", st)
    }

    #[test]
    fn btf_map_definitions_follow_libbpf_conventions() {
        let d = decode(&map_btf(1, None)).unwrap();
        assert_eq!(
            d,
            MapDef {
                map_type: MapType::Hash,
                key_size: 12,
                value_size: 8,
                max_entries: 10,
                map_flags: 0
            }
        );
        let d = decode(&map_btf(2, Some("map_flags"))).unwrap();
        assert_eq!((d.map_type, d.map_flags), (MapType::Array, 4));
        // key_size 4 conflicts with `key` of 12 bytes.
        assert!(matches!(
            decode(&map_btf(1, Some("key_size"))),
            Err(ElfError::BtfMap { reason, .. }) if reason.contains("conflicting key")
        ));
        assert!(matches!(
            decode(&map_btf(1, Some("colour"))),
            Err(ElfError::BtfMap { reason, .. }) if reason.contains("unknown field `colour`")
        ));
        assert!(matches!(
            decode(&map_btf(4242, None)),
            Err(ElfError::UnknownMapType { type_id: 4242, .. })
        ));
    }

    #[test]
    fn libbpf_defaults_are_applied() {
        let def = |map_type, max_entries| MapDef {
            map_type,
            key_size: 4,
            value_size: 4,
            max_entries,
            map_flags: 0,
        };
        let perf = apply_libbpf_defaults(def(MapType::PerfEventArray, 0), 4);
        assert_eq!(perf.max_entries, 4);
        let sized = apply_libbpf_defaults(def(MapType::PerfEventArray, 2), 4);
        assert_eq!(sized.max_entries, 2);
        let ring = |n| apply_libbpf_defaults(def(MapType::Ringbuf, n), 1).max_entries;
        assert_eq!(ring(1), 4096);
        assert_eq!(ring(4096), 4096);
        assert_eq!(ring(4097), 8192);
        assert_eq!(ring(3 * 4096), 4 * 4096);
        let array = apply_libbpf_defaults(def(MapType::Array, 0), 4);
        assert_eq!(array.max_entries, 0, "other maps keep their definition");
    }

    #[test]
    fn malformed_btf_is_an_error() {
        let good = map_btf(1, None);
        // Every truncation fails cleanly (or parses a prefix whose types are consistent).
        for len in 0..good.len() {
            let _ = decode_checked(&good[..len]);
        }
        // A typedef cycle: resolve_size reports it instead of recursing forever.
        let mut b = BtfBuilder::new();
        b.t("a", 8, 0, 2, &[]);
        b.t("b", 8, 0, 1, &[]);
        let btf = Btf::parse(&b.bytes()).unwrap();
        assert!(btf.resolve_size(1).is_err());
        // An array whose size overflows.
        let mut b = BtfBuilder::new();
        b.t("big", 1, 0, 0xffff_ffff, &[32]);
        b.t("", 3, 0, 0, &[1, 1, 0xffff_ffff]);
        b.t("", 3, 0, 0, &[2, 1, 0xffff_ffff]);
        let btf = Btf::parse(&b.bytes()).unwrap();
        assert!(btf.resolve_size(3).is_err());
        // Strings out of range, type ids out of range: None / errors, no panic.
        assert_eq!(btf.string(1 << 30), None);
        assert!(btf.type_by_id(0).is_none() && btf.type_by_id(99).is_none());
        assert!(btf.skip_mods(99).is_err());
    }

    fn decode_checked(bytes: &[u8]) -> Result<(), ElfError> {
        let btf = Btf::parse(bytes)?;
        if let Some(ds) = btf.datasec(".maps") {
            for m in &ds.members {
                if let Some(v) = btf.type_by_id(m.type_id) {
                    let (_, st) = btf.skip_mods(v.size_or_type)?;
                    btf_map_def(&btf, "m", st)?;
                }
            }
        }
        Ok(())
    }
}
