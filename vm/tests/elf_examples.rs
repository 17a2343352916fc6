//! The example objects in `examples/` (built by `examples/build.sh` with clang) load as
//! libbpf would load them: programs by function symbol and section, `.text` sub-programs
//! linked in, maps from BTF, legacy records and global data with libbpf's names, and
//! LD_IMM64 relocations turned into map references. Expected values come from the C sources.

use std::collections::BTreeSet;
use std::path::PathBuf;

use sockops_vm::elf::Object;
use sockops_vm::maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapDef, MapType};
use sockops_vm::opcode::{BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, LD_IMM64};
use sockops_vm::{Program, decode_program};

/// Path of an example file.
pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn open(name: &str) -> Object {
    Object::open(example(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
    }
}

/// Names of the maps a program references through BPF_PSEUDO_MAP_FD.
fn map_refs(p: &Program) -> BTreeSet<String> {
    p.insns
        .iter()
        .filter(|i| i.opcode == LD_IMM64 && i.src == BPF_PSEUDO_MAP_FD)
        .map(|i| p.maps[i.imm as usize].name().to_string())
        .collect()
}

/// (map name, offset) of every BPF_PSEUDO_MAP_VALUE in a program.
fn value_refs(p: &Program) -> BTreeSet<(String, i32)> {
    p.insns
        .windows(2)
        .filter(|w| w[0].opcode == LD_IMM64 && w[0].src == BPF_PSEUDO_MAP_VALUE)
        .map(|w| (p.maps[w[0].imm as usize].name().to_string(), w[1].imm))
        .collect()
}

/// Slots targeted by local calls (`call` with src = BPF_PSEUDO_CALL).
fn call_targets(p: &Program) -> Vec<usize> {
    p.insns
        .iter()
        .enumerate()
        .filter(|(_, i)| i.opcode == 0x85 && i.src == BPF_PSEUDO_CALL)
        .map(|(pc, i)| (pc as i64 + i64::from(i.imm) + 1) as usize)
        .collect()
}

#[test]
fn every_example_program_decodes() {
    for n in [
        "op_count.o",
        "syn_rto.o",
        "tcp_tuning.o",
        "legacy_maps.o",
        "tail_call.o",
        "tail_values.o",
    ] {
        let o = open(n);
        assert!(!o.programs().is_empty(), "{n}");
        for p in o.programs() {
            decode_program(&p.insns).unwrap_or_else(|e| panic!("{n}/{}: {e}", p.name));
            assert_eq!(p.license, "GPL");
            assert_eq!(p.maps.len(), o.maps().len());
        }
    }
}

#[test]
fn btf_maps_of_op_count() {
    let o = open("op_count.o");
    assert_eq!(o.license(), "GPL");
    assert_eq!(o.kernel_version(), None);
    let names: Vec<_> = o.maps().iter().map(|m| m.name().to_string()).collect();
    assert_eq!(names, ["op_count", "established_by_port"]);
    assert_eq!(
        *o.map("op_count").unwrap().def(),
        def(MapType::Array, 4, 8, 16, 0)
    );
    // __type(key, __u16) gives key_size 2.
    assert_eq!(
        *o.map("established_by_port").unwrap().def(),
        def(MapType::Hash, 2, 8, 1024, 0)
    );
    let p = o.program("count_ops").unwrap();
    assert_eq!(p.section, "sockops");
    assert_eq!(
        map_refs(p),
        BTreeSet::from(["op_count".to_string(), "established_by_port".to_string()])
    );
    assert!(o.map("nope").is_err());
    assert!(o.program("nope").is_err());
}

#[test]
fn global_data_and_subprogram_of_syn_rto() {
    let o = open("syn_rto.o");
    let names: Vec<_> = o.maps().iter().map(|m| m.name().to_string()).collect();
    assert_eq!(names, ["syn_rto.rodata", "syn_rto.data", "syn_rto.bss"]);

    let rodata = o.map("syn_rto.rodata").unwrap();
    assert_eq!(
        *rodata.def(),
        def(MapType::Array, 4, 8, 1, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE)
    );
    assert!(rodata.is_frozen());
    assert!(!rodata.value_region(0).unwrap().writable);
    // dc_rto_ms = 10, default_rto_ms = 1000.
    let mut want = 10u32.to_le_bytes().to_vec();
    want.extend(1000u32.to_le_bytes());
    assert_eq!(rodata.lookup(&0u32.to_le_bytes()).unwrap(), want);

    let data = o.map("syn_rto.data").unwrap();
    assert_eq!(*data.def(), def(MapType::Array, 4, 8, 1, BPF_F_MMAPABLE));
    let mut want = 0x0a00_0000u32.to_le_bytes().to_vec();
    want.extend(8u32.to_le_bytes());
    assert_eq!(data.lookup(&0u32.to_le_bytes()).unwrap(), want);

    let bss = o.map("syn_rto.bss").unwrap();
    assert_eq!(*bss.def(), def(MapType::Array, 4, 16, 1, BPF_F_MMAPABLE));
    assert_eq!(bss.lookup(&0u32.to_le_bytes()).unwrap(), vec![0; 16]);

    let p = o.program("syn_rto").unwrap();
    // Globals by symbol (offset = st_value) and the static `other_hits`, relocated against
    // the .bss section symbol with its offset 8 in the instruction's own immediate.
    let want: BTreeSet<(String, i32)> = [
        ("syn_rto.rodata", 0),
        ("syn_rto.rodata", 4),
        ("syn_rto.data", 0),
        ("syn_rto.data", 4),
        ("syn_rto.bss", 0),
        ("syn_rto.bss", 8),
    ]
    .into_iter()
    .map(|(n, o)| (n.to_string(), o))
    .collect();
    assert_eq!(value_refs(p), want);
    // in_prefix (a .text sub-program) is appended after the main body and called there.
    let targets = call_targets(p);
    assert_eq!(targets.len(), 1);
    let t = targets[0];
    assert!(t > 0 && t < p.insns.len());
    assert_eq!(
        p.insns.last().unwrap().opcode,
        0x95,
        "sub-program ends in exit"
    );
    assert!(
        p.insns[..t].iter().any(|i| i.opcode == 0x95),
        "main body ends before it"
    );
}

#[test]
fn two_programs_share_maps_and_subprogram() {
    let o = open("tcp_tuning.o");
    let progs: Vec<_> = o
        .programs()
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str()))
        .collect();
    assert_eq!(
        progs,
        [("set_buffers", "sockops"), ("set_cong", "sockops/cc")]
    );
    assert_eq!(
        *o.map("last_result").unwrap().def(),
        def(MapType::Array, 4, 8, 2, 0)
    );
    for p in o.programs() {
        // `record` is linked into each program that calls it, once.
        let targets = call_targets(p);
        assert!(!targets.is_empty(), "{}", p.name);
        assert!(targets.iter().all(|&t| t == targets[0]));
        assert!(map_refs(p).contains("last_result"));
    }
    let a = o.program("set_buffers").unwrap();
    let b = o.program("set_cong").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a.maps[0], &b.maps[0]));
}

#[test]
fn legacy_maps_section() {
    let o = open("legacy_maps.o");
    assert_eq!(o.kernel_version(), Some(0x060100));
    let names: Vec<_> = o.maps().iter().map(|m| m.name().to_string()).collect();
    assert_eq!(names, ["ops_seen", "srtt_by_port"]);
    assert_eq!(
        *o.map("ops_seen").unwrap().def(),
        def(MapType::Array, 4, 8, 32, 0)
    );
    assert_eq!(
        *o.map("srtt_by_port").unwrap().def(),
        def(MapType::Hash, 4, 4, 256, 0)
    );
    let p = o.program("legacy_count").unwrap();
    assert_eq!(
        map_refs(p),
        BTreeSet::from(["ops_seen".to_string(), "srtt_by_port".to_string()])
    );
}

#[test]
fn load_options_set_the_cpu_count_of_maps() {
    let bytes = std::fs::read(example("op_count.o")).unwrap();
    let opts = sockops_vm::elf::LoadOptions { ncpus: 4 };
    let o = Object::parse_with_options("op_count", &bytes, &opts).unwrap();
    assert!(o.maps().iter().all(|m| m.ncpus() == 4));
    assert_eq!(o.name(), "op_count");
    let o = Object::parse("op_count", &bytes).unwrap();
    assert!(o.maps().iter().all(|m| m.ncpus() == 1));
}

/// `.values = { [BPF_SOCK_OPS_TIMEOUT_INIT] = &on_timeout_init, ... }`: the prog array's
/// value size is 4 (as libbpf sets it) and its slots are listed for the loader to fill.
#[test]
fn prog_array_values_initialisers() {
    let o = open("tail_values.o");
    let m = o.map("ops").unwrap();
    assert_eq!(*m.def(), def(MapType::ProgArray, 4, 4, 8, 0));
    let inits: Vec<_> = o
        .prog_array_inits()
        .iter()
        .map(|i| (i.map.as_str(), i.index, i.program.as_str()))
        .collect();
    assert_eq!(
        inits,
        [("ops", 1, "on_timeout_init"), ("ops", 2, "on_rwnd_init")]
    );
    // Nothing is filled by parsing alone.
    assert!(m.prog_array_get(1).is_none());
    // Objects without initialisers have none.
    assert!(open("tail_call.o").prog_array_inits().is_empty());
}
