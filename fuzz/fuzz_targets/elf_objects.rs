//! ELF objects from anywhere: parsing never panics, and every program of an object that
//! parses goes through the verifier and (when verified) the runtime's load without
//! panicking. Half the inputs are raw bytes; the other half are structure-aware: one of the
//! shipped example objects (what `clang -target bpf` writes: BTF, `.maps`, relocations,
//! sub-programs) with a few mutations aimed at its structure — bytes inside a chosen
//! section, fields of a relocation entry or symbol, section header fields (offset, size,
//! link, info), truncation.

#![no_main]

use arbitrary::Unstructured;
use goblin::elf::Elf;
use libfuzzer_sys::fuzz_target;
use sockops::runtime::{Engine, Runtime};
use sockops::vm::HelperTable;
use sockops::vm::elf::Object;
use sockops_verifier::{VerifyOptions, verify};

/// The shipped example objects.
const OBJECTS: [&[u8]; 14] = [
    include_bytes!("../../examples/chain.o"),
    include_bytes!("../../examples/conn_monitor.o"),
    include_bytes!("../../examples/ctx_probe.o"),
    include_bytes!("../../examples/cwnd_tuning.o"),
    include_bytes!("../../examples/dc_tuning.o"),
    include_bytes!("../../examples/hdr_opt.o"),
    include_bytes!("../../examples/legacy_maps.o"),
    include_bytes!("../../examples/op_count.o"),
    include_bytes!("../../examples/syn_jitter.o"),
    include_bytes!("../../examples/sock_stats.o"),
    include_bytes!("../../examples/syn_rto.o"),
    include_bytes!("../../examples/tail_call.o"),
    include_bytes!("../../examples/tail_values.o"),
    include_bytes!("../../examples/tcp_tuning.o"),
];

/// Interesting 32-bit values for overwritten fields.
const INTERESTING: [u32; 10] = [0, 1, 2, 7, 8, 0x7f, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff];

/// An example object mutated as `u` says.
fn mutated_object(u: &mut Unstructured<'_>) -> Vec<u8> {
    let mut bytes = OBJECTS[u.choose_index(OBJECTS.len()).unwrap_or(0)].to_vec();
    // Section ranges and the section header table, from the valid object.
    let (sections, shoff, shentsize) = match Elf::parse(&bytes) {
        Ok(elf) => (
            elf.section_headers
                .iter()
                .map(|s| (s.sh_offset as usize, s.sh_size as usize, s.sh_type))
                .collect::<Vec<_>>(),
            elf.header.e_shoff as usize,
            elf.header.e_shentsize as usize,
        ),
        Err(_) => (Vec::new(), 0, 0),
    };
    for _ in 0..1 + u.int_in_range(0..=3).unwrap_or(0) {
        let value = if u.ratio(1, 2).unwrap_or(true) {
            INTERESTING[u.choose_index(INTERESTING.len()).unwrap_or(0)]
        } else {
            u.arbitrary().unwrap_or(0)
        };
        match u.int_in_range(0..=4).unwrap_or(0) {
            0 | 1 if !sections.is_empty() => {
                // Inside a section (relocation tables and BTF more often than not: they
                // are what the loader interprets).
                let (off, size, _) = sections[u.choose_index(sections.len()).unwrap_or(0)];
                if size >= 4 {
                    let at = off + 4 * u.int_in_range(0..=size / 4 - 1).unwrap_or(0);
                    put(&mut bytes, at, value, u);
                }
            }
            2 if shentsize > 0 && !sections.is_empty() => {
                // A section header field: type, flags, offset, size, link, info.
                let index = u.choose_index(sections.len()).unwrap_or(0);
                let field = [4usize, 8, 24, 32, 40, 44][u.choose_index(6).unwrap_or(0)];
                put(&mut bytes, shoff + index * shentsize + field, value, u);
            }
            3 => {
                let len = bytes.len();
                bytes.truncate(u.int_in_range(0..=len).unwrap_or(len));
            }
            _ => {
                let len = bytes.len().max(1);
                let at = u.int_in_range(0..=len - 1).unwrap_or(0);
                put(&mut bytes, at, value, u);
            }
        }
    }
    bytes
}

/// Writes `value` at `at` (4 bytes, or 1 when `u` says so), where it fits.
fn put(bytes: &mut [u8], at: usize, value: u32, u: &mut Unstructured<'_>) {
    if u.ratio(1, 4).unwrap_or(false) {
        if let Some(b) = bytes.get_mut(at) {
            *b = value as u8;
        }
    } else if let Some(slot) = bytes.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let bytes = if u.ratio(1, 2).unwrap_or(false) {
        mutated_object(&mut u)
    } else {
        u.take_rest().to_vec()
    };
    let Ok(object) = Object::parse("fuzz", &bytes) else {
        return;
    };
    let helpers = HelperTable::new();
    let options = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    for program in object.programs() {
        let _ = verify(program, &helpers, &options);
    }
    // The runtime's whole load path (verification, prog-array initialisers, compilation):
    // every program of the object, on both engines.
    let names: Vec<String> = object.programs().iter().map(|p| p.name.clone()).collect();
    for engine in [Engine::Interpreter, Engine::Jit] {
        let mut rt = Runtime::new();
        let Ok(id) = rt.load_object_bytes("fuzz.o", &bytes) else {
            continue;
        };
        for name in &names {
            let _ = rt.load_program(id, Some(name), engine);
        }
    }
});
