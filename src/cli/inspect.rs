//! `sockops inspect FILE.o [--json] [--values]`: lists an object's programs and maps.
//!
//! The JSON shape is a contract other tools parse:
//! `{"programs": [{"name", "section", "insns"}], "maps": [{"name", "type", "key_size",
//! "value_size", "max_entries", "flags"}]}` — `type` is the kernel's map type name without
//! `BPF_MAP_TYPE_`, lower case; `insns` counts the slots of the linked program (sub-programs
//! included); `.text` sub-programs are not listed as programs. `--values` adds each map's
//! current entries (`"entries": [{"key": hex, "value": hex}]`, initial contents at load).

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use sockops_vm::Map;
use sockops_vm::elf::Object;

use super::CliError;

/// Arguments of `sockops inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// ELF object built with `clang -target bpf`.
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also print the maps' entries (global data sections show their initial values).
    #[arg(long)]
    values: bool,
}

/// One program in the JSON output.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    /// Function symbol.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// Instruction slots after linking.
    pub insns: usize,
}

/// One map entry in the JSON output, as lower-case hex bytes.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// Key bytes.
    pub key: String,
    /// Value bytes (per-CPU maps: every CPU's value, each padded to 8 bytes).
    pub value: String,
}

/// One map in the JSON output.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// Map name.
    pub name: String,
    /// Kernel map type name in lower case (`array`, `hash`, ...).
    #[serde(rename = "type")]
    pub map_type: String,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum entries.
    pub max_entries: u32,
    /// map_flags.
    pub flags: u32,
    /// Entries (only with `--values`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntryInfo>>,
}

/// The whole JSON document.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct InspectReport {
    /// Programs in object order.
    pub programs: Vec<ProgramInfo>,
    /// Maps in object order.
    pub maps: Vec<MapInfo>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entries(map: &Map) -> Vec<EntryInfo> {
    map.entries()
        .into_iter()
        .map(|(k, v)| EntryInfo {
            key: hex(&k),
            value: hex(&v),
        })
        .collect()
}

/// The report for a loaded object.
pub fn report(object: &Object, values: bool) -> InspectReport {
    InspectReport {
        programs: object
            .programs()
            .iter()
            .map(|p| ProgramInfo {
                name: p.name.clone(),
                section: p.section.clone(),
                insns: p.insns.len(),
            })
            .collect(),
        maps: object
            .maps()
            .iter()
            .map(|m| {
                let d = m.def();
                MapInfo {
                    name: m.name().to_string(),
                    map_type: d.map_type.name().to_string(),
                    key_size: d.key_size,
                    value_size: d.value_size,
                    max_entries: d.max_entries,
                    flags: d.map_flags,
                    entries: values.then(|| entries(m)),
                }
            })
            .collect(),
    }
}

/// The text form of a report.
pub fn render_text(object: &Object, r: &InspectReport) -> String {
    let mut out = String::new();
    let license = if object.license().is_empty() {
        "(none)"
    } else {
        object.license()
    };
    out.push_str(&format!("object {}  license {license}\n", object.name()));
    out.push_str(&format!("programs ({}):\n", r.programs.len()));
    for p in &r.programs {
        out.push_str(&format!(
            "  {:<24} section {:<20} {} insns\n",
            p.name, p.section, p.insns
        ));
    }
    out.push_str(&format!("maps ({}):\n", r.maps.len()));
    for m in &r.maps {
        out.push_str(&format!(
            "  {:<24} {:<14} key {:<4} value {:<6} max_entries {:<8} flags {:#x}\n",
            m.name, m.map_type, m.key_size, m.value_size, m.max_entries, m.flags
        ));
        for e in m.entries.iter().flatten() {
            out.push_str(&format!("    [{}] = {}\n", e.key, e.value));
        }
        for init in object.prog_array_inits().iter().filter(|i| i.map == m.name) {
            out.push_str(&format!(
                "    [{}] = {} (initialised by the object)\n",
                init.index, init.program
            ));
        }
    }
    let relocs = object.core_relocations();
    if !relocs.is_empty() {
        out.push_str(&format!(
            "CO-RE relocations ({}, not applied: the instructions keep the compiler's offsets):\n",
            relocs.len()
        ));
        for r in relocs {
            out.push_str(&format!("  {r}\n"));
        }
    }
    if let Some(why) = object.btf_ext_error() {
        out.push_str(&format!(".BTF.ext ignored: {why}\n"));
    }
    out
}

/// Runs `sockops inspect`.
pub fn run(args: InspectArgs) -> Result<ExitCode, CliError> {
    let object = Object::open(&args.file)?;
    let r = report(&object, args.values);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render_text(&object, &r));
    }
    Ok(ExitCode::SUCCESS)
}

/// `sockops disasm FILE.o [--program NAME]`: the programs of an object (or the one named),
/// relocated, with LD_IMM64 map references annotated with the map's name (and offset for
/// global data). Called by `asm::run_disasm` for ELF input.
pub fn disasm_object(
    path: &std::path::Path,
    bytes: &[u8],
    program: Option<&str>,
    pc: bool,
) -> Result<String, CliError> {
    let name = sockops_vm::elf::object_name_from_path(&path.to_string_lossy());
    let object = Object::parse(&name, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let programs: Vec<_> = match program {
        Some(n) => vec![object.program(n)?],
        None => object.programs().iter().collect(),
    };
    let mut out = String::new();
    for (i, p) in programs.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "; program {} (section {}), {} slots\n",
            p.name,
            p.section,
            p.insns.len()
        ));
        let annotate = |_: usize, insn: &sockops_vm::Instruction| map_annotation(p, insn);
        let text = if pc {
            sockops_vm::disassemble_listing(&p.insns, annotate)
        } else {
            sockops_vm::disassemble_annotated(&p.insns, annotate)
        }
        .map_err(|e| format!("{}: program {}: {e}", path.display(), p.name))?;
        out.push_str(&text);
    }
    Ok(out)
}

/// `map NAME` for a map reference, `map NAME + OFFSET` for a map value (global data).
fn map_annotation(p: &sockops_vm::Program, insn: &sockops_vm::Instruction) -> Option<String> {
    use sockops_vm::{Imm64Kind, Instruction};
    let Instruction::LdImm64 { kind, imm, .. } = insn else {
        return None;
    };
    let map = |i: u64| p.maps.get(i as usize).map(|m| m.name().to_string());
    match kind {
        Imm64Kind::MapFd | Imm64Kind::MapIdx => map(imm & 0xffff_ffff).map(|n| format!("map {n}")),
        Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
            map(imm & 0xffff_ffff).map(|n| format!("map {n} + {}", imm >> 32))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Object {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        Object::open(path).unwrap()
    }

    #[test]
    fn json_has_the_contract_shape() {
        let o = example("op_count.o");
        let v = serde_json::to_value(report(&o, false)).unwrap();
        let insns = o.programs()[0].insns.len();
        let want = serde_json::json!({
            "programs": [{"name": "count_ops", "section": "sockops", "insns": insns}],
            "maps": [
                {"name": "op_count", "type": "array", "key_size": 4, "value_size": 8,
                 "max_entries": 16, "flags": 0},
                {"name": "established_by_port", "type": "hash", "key_size": 2,
                 "value_size": 8, "max_entries": 1024, "flags": 0}
            ]
        });
        assert_eq!(v, want);
        // Key order is part of the contract.
        let text = serde_json::to_string(&report(&o, false)).unwrap();
        assert!(
            text.starts_with(r#"{"programs":[{"name":"count_ops","section":"sockops","insns":"#)
        );
        assert!(text.contains(r#"{"name":"op_count","type":"array","key_size":4,"value_size":8,"max_entries":16,"flags":0}"#));
    }

    #[test]
    fn values_show_global_data_and_text_lists_everything() {
        let o = example("syn_rto.o");
        let r = report(&o, true);
        let rodata = r.maps.iter().find(|m| m.name == "syn_rto.rodata").unwrap();
        // dc_rto_ms = 10, default_rto_ms = 1000, little-endian.
        assert_eq!(
            rodata.entries.as_deref().unwrap(),
            [EntryInfo {
                key: "00000000".into(),
                value: "0a000000e8030000".into()
            }]
        );
        let text = render_text(&o, &r);
        assert!(text.contains("syn_rto"));
        assert!(text.contains("flags 0x480"));
        assert!(text.contains("syn_rto.bss"));
    }

    #[test]
    fn text_lists_prog_array_initialisers() {
        let o = example("tail_values.o");
        let text = render_text(&o, &report(&o, false));
        assert!(
            text.contains("[1] = on_timeout_init (initialised by the object)"),
            "{text}"
        );
        assert!(text.contains("[2] = on_rwnd_init"), "{text}");
    }

    #[test]
    fn disasm_names_maps_and_offsets() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/syn_rto.o");
        let bytes = std::fs::read(&path).unwrap();
        let text = disasm_object(&path, &bytes, Some("syn_rto"), false).unwrap();
        assert!(text.starts_with("; program syn_rto (section sockops)"));
        assert!(text.contains("map syn_rto.bss + 8"), "{text}");
        assert!(text.contains("map syn_rto.rodata + 4"));
        assert!(text.contains("map syn_rto.data + 0"));
        assert!(disasm_object(&path, &bytes, Some("nope"), false).is_err());
        let all = disasm_object(&path, &bytes, None, true).unwrap();
        assert!(all.contains("exit"));
    }
}
