//! The structure-aware generators (`sockops_tests::generator`) as a seeded test: programs of
//! every kind, in arbitrary worlds, go through the fuzz targets' own check
//! (`sockops_tests::engines::check_world`): what the verifier accepts runs without a fault in
//! the checked interpreter and decides alike on the JIT. The generators must also be worth
//! fuzzing with: most kinds must give programs the verifier accepts and programs it rejects.

use sockops_tests::engines::{World, check_world};
use sockops_tests::generator::{self, Kind, Source, SplitMix};
use sockops_vm::disassemble;

/// `n` bytes from a seeded source (what libFuzzer would hand a target).
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = SplitMix(seed);
    (0..n).map(|_| s.next() as u8).collect()
}

#[test]
fn generated_worlds_pass_the_engines_check() {
    let per_kind = 40;
    let mut accepted = [0usize; Kind::ALL.len()];
    for (k, kind) in Kind::ALL.into_iter().enumerate() {
        for seed in 0..per_kind {
            let data = bytes(seed * 31 + k as u64, 600);
            // The world's socket, ops and maps from the bytes; the program of this kind.
            let mut world = World::from_bytes(&data);
            let g = generator::generate(&mut SplitMix(seed ^ 0xabcd), kind);
            world.insns = g.insns;
            world.maps = g.maps;
            match check_world(&world) {
                Ok(true) => accepted[k] += 1,
                Ok(false) => {}
                Err(e) => panic!(
                    "{kind:?} seed {seed}: {e}\n{}",
                    disassemble(&world.insns).unwrap_or_default()
                ),
            }
        }
    }
    for (kind, n) in Kind::ALL.iter().zip(accepted) {
        println!("{kind:?}: {n}/{per_kind} verified");
    }
    // Every structured kind but the random one must give verified programs, and none may be
    // all-accepted (then it would not probe the rules).
    let verified_kinds = accepted.iter().filter(|&&n| n > 0).count();
    assert!(verified_kinds >= Kind::ALL.len() - 2, "{accepted:?}");
    assert!(
        accepted.iter().all(|&n| n < per_kind as usize),
        "{accepted:?}"
    );
}

#[test]
fn fuzzer_bytes_give_worlds() {
    // Short, empty and long inputs all describe a world (no panic, a program at least one
    // slot long), and the same bytes describe the same world.
    for n in [0, 1, 7, 64, 4096] {
        let data = bytes(n as u64, n);
        let a = World::from_bytes(&data);
        let b = World::from_bytes(&data);
        assert!(!a.insns.is_empty(), "{n} bytes");
        assert_eq!(a.insns, b.insns);
        assert_eq!(a.ops, b.ops);
    }
}

#[test]
fn mutation_changes_one_slot() {
    for seed in 0..200 {
        let mut s = SplitMix(seed);
        let g = generator::any(&mut s);
        let mut mutated = g.insns.clone();
        generator::mutate(&mut s, &mut mutated);
        let changed = g.insns.iter().zip(&mutated).filter(|(a, b)| a != b).count();
        assert!(changed <= 1, "seed {seed}: {changed} slots changed");
    }
}

#[test]
fn slots_given_inputs_carry_the_program() {
    // 0xff, 2 slots (u16 LE), `r0 = 1; exit`, then world bytes.
    let mut data = vec![0xff, 2, 0];
    data.extend_from_slice(&[0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    data.extend_from_slice(&bytes(7, 64));
    let world = World::from_bytes(&data);
    assert_eq!(world.insns.len(), 2);
    assert_eq!(world.insns[0].opcode, 0xb7);
    assert!(check_world(&world).expect("passes"));
}
