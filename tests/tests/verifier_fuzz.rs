//! Robustness of the verifier on untrusted input: seeded random programs and random
//! mutations of valid ones never panic, and every verdict comes back (no hang: exploration is
//! bounded by the kernel's 1,000,000-instruction limit). Reproducible by seed.

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, Insn, MapDef, MapType};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Opcodes that decode (so random programs get past the first instruction often).
const OPCODES: &[u8] = &[
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x37, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x77, 0x87, 0x97, 0xa7, 0xaf,
    0xb7, 0xbf, 0xc7, 0xd7, 0x04, 0x0c, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0xa4,
    0xb4, 0xbc, 0xc4, 0xd4, 0xdc, 0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x45, 0x55, 0x5d, 0x65, 0x6d,
    0x75, 0xa5, 0xad, 0xb5, 0xc5, 0xd5, 0x16, 0x1e, 0x26, 0x56, 0x06, 0x85, 0x95, 0x61, 0x69, 0x71,
    0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18,
];

fn random_insn(rng: &mut Rng) -> Insn {
    let opcode = if rng.below(10) == 0 {
        rng.below(256) as u8
    } else {
        OPCODES[rng.below(OPCODES.len() as u64) as usize]
    };
    let reg = |rng: &mut Rng| {
        if rng.below(20) == 0 {
            rng.below(16) as u8
        } else {
            rng.below(11) as u8
        }
    };
    let off = match rng.below(4) {
        0 => rng.below(8) as i16 - 4,
        1 => -(rng.below(64) as i16) * 8,
        2 => rng.below(232) as i16,
        _ => rng.next() as i16,
    };
    let imm = match rng.below(4) {
        0 => rng.below(8) as i32,
        1 => [0, 1, 7, 46, 49, 57, 59, 96, 144][rng.below(9) as usize],
        2 => rng.below(0x10000) as i32 - 0x8000,
        _ => rng.next() as i32,
    };
    Insn::new(opcode, reg(rng), reg(rng), off, imm)
}

fn maps() -> Vec<MapDef> {
    vec![
        MapDef {
            map_type: MapType::Array,
            key_size: 4,
            value_size: 16,
            max_entries: 1,
            map_flags: 0,
        },
        MapDef {
            map_type: MapType::Hash,
            key_size: 8,
            value_size: 8,
            max_entries: 8,
            map_flags: 0,
        },
    ]
}

#[test]
fn random_programs_never_panic() {
    let helpers = HelperTable::new();
    let maps = maps();
    for seed in 0..3000u64 {
        let mut rng = Rng(seed);
        let n = 1 + rng.below(24) as usize;
        let mut insns: Vec<Insn> = (0..n).map(|_| random_insn(&mut rng)).collect();
        if rng.below(2) == 0 {
            insns.push(Insn::new(0xb7, 0, 0, 0, 1));
            insns.push(Insn::new(0x95, 0, 0, 0, 0));
        }
        for strict in [false, true] {
            let opts = VerifyOptions {
                strict,
                require_runtime_helpers: false,
                ..VerifyOptions::default()
            };
            let r = verify_insns(&insns, &maps, &helpers, &opts);
            if let Err(e) = r {
                assert!(e.pc <= insns.len(), "seed {seed}: pc {} out of range", e.pc);
            }
        }
    }
}

#[test]
fn mutated_corpus_programs_never_panic() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let text = std::fs::read_to_string(dir.join("realistic.jsonl")).expect("realistic corpus");
    let helpers = HelperTable::new();
    let opts = VerifyOptions {
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    let mut bases = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let hex = v["insns_hex"].as_str().expect("insns_hex");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        bases.push(Insn::slice_from_bytes(&bytes).expect("slots"));
    }
    assert!(!bases.is_empty());
    let maps = vec![MapDef {
        map_type: MapType::Hash,
        key_size: 4,
        value_size: 16,
        max_entries: 32,
        map_flags: 0,
    }];
    let mut rng = Rng(42);
    for _ in 0..4000 {
        let mut p = bases[rng.below(bases.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(3) {
            let k = rng.below(p.len() as u64) as usize;
            match rng.below(6) {
                0 => p[k].off = rng.next() as i16,
                1 => p[k].imm = rng.next() as i32,
                2 => p[k].dst = rng.below(16) as u8,
                3 => p[k].src = rng.below(16) as u8,
                4 => p[k].opcode = rng.below(256) as u8,
                _ => p[k] = random_insn(&mut rng),
            }
        }
        let _ = verify_insns(&p, &maps, &helpers, &opts);
    }
}
