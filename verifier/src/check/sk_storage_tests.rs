//! `bpf_sk_storage_get` / `bpf_sk_storage_delete`: verdicts and messages as kernel 6.18
//! gives them (each expectation was checked against the live kernel, see the `sk_storage`
//! corpus category).

use sockops_vm::{HelperTable, MapDef, MapType, assemble};

use crate::{VerifyOptions, verify_insns};

fn storage(value: u32) -> MapDef {
    MapDef {
        map_type: MapType::SkStorage,
        key_size: 4,
        value_size: value,
        max_entries: 0,
        map_flags: 1,
    }
}

/// Verifies `text` with `maps` in root (false) or strict (true) mode: `Ok(())` or the
/// kernel-style message of the rejection.
fn run(text: &str, maps: &[MapDef], strict: bool) -> Result<(), String> {
    let insns = assemble(text).expect("assembles");
    let opts = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(&insns, maps, &HelperTable::new(), &opts)
        .map(|_| ())
        .map_err(|e| e.message)
}

/// r6 = skops->sk, null-checked (the jump lands on the final `mov r0, 1`).
fn with_sk(skip: usize) -> String {
    format!("ldxdw %r6, [%r1+184]\njeq %r6, 0, +{skip}\n")
}

/// r0 = bpf_sk_storage_get(map 0, r6, r3 as given, F_CREATE).
const GET: &str = "lddw %r1, map_fd 0\nmov %r2, %r6\nmov %r4, 1\ncall 107\n";
const END: &str = "mov %r0, 1\nexit";

#[test]
fn a_checked_result_is_a_map_value_of_the_storage() {
    let p = format!(
        "{}mov %r3, 0\n{GET}jeq %r0, 0, +1\nstdw [%r0+8], 7\n{END}",
        with_sk(8)
    );
    assert_eq!(run(&p, &[storage(16)], false), Ok(()));
    assert_eq!(run(&p, &[storage(16)], true), Ok(()));
    assert_eq!(
        run(&p, &[storage(8)], false).unwrap_err(),
        "R0 min value is outside of the allowed memory range"
    );
    // Without the null check on the result.
    let p = format!("{}mov %r3, 0\n{GET}stdw [%r0+0], 7\n{END}", with_sk(7));
    assert_eq!(
        run(&p, &[storage(8)], false).unwrap_err(),
        "R0 invalid mem access 'map_value_or_null'"
    );
}

#[test]
fn the_socket_must_be_a_checked_socket_pointer() {
    let expected = "expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_";
    let p = format!("ldxdw %r6, [%r1+184]\nmov %r3, 0\n{GET}{END}");
    assert_eq!(
        run(&p, &[storage(8)], false).unwrap_err(),
        format!("R2 type=sock_or_null {expected}")
    );
    let p = format!("mov %r6, %r1\nmov %r3, 0\n{GET}{END}");
    assert_eq!(
        run(&p, &[storage(8)], true).unwrap_err(),
        format!("R2 type=ctx {expected}")
    );
    // bpf_tcp_sock's checked result is accepted.
    let p = format!(
        "{}mov %r1, %r6\ncall 96\nmov %r6, %r0\njeq %r6, 0, +6\nmov %r3, 0\n{GET}{END}",
        with_sk(10)
    );
    assert_eq!(run(&p, &[storage(8)], true), Ok(()));
    // Delete takes the same socket argument.
    let p = format!("lddw %r1, map_fd 0\nmov %r2, 0\ncall 108\n{END}");
    assert_eq!(
        run(&p, &[storage(8)], false).unwrap_err(),
        format!("R2 type=scalar {expected}")
    );
    let p = format!(
        "{}lddw %r1, map_fd 0\nmov %r2, %r6\ncall 108\n{END}",
        with_sk(4)
    );
    assert_eq!(run(&p, &[storage(8)], true), Ok(()));
}

#[test]
fn the_init_value_is_null_or_value_size_readable_bytes() {
    let get_from = |off: i32| {
        format!(
            "stdw [%r10-16], 0\nstdw [%r10-8], 0\n{}mov %r3, %r10\nadd %r3, {off}\n{GET}{END}",
            with_sk(7)
        )
    };
    assert_eq!(run(&get_from(-16), &[storage(16)], true), Ok(()));
    assert_eq!(
        run(&get_from(-8), &[storage(16)], false).unwrap_err(),
        "invalid read from stack R3 off=-8 size=16"
    );
    // Eight uninitialised bytes: fine for root, not in strict mode.
    let p = get_from(-24).replace("[%r10-16]", "[%r10-24]");
    assert_eq!(run(&p, &[storage(16)], false), Ok(()));
    assert_eq!(
        run(&p, &[storage(16)], true).unwrap_err(),
        "invalid read from stack R3 off -24+8 size 16"
    );
    let p = format!("{}mov %r3, 8\n{GET}{END}", with_sk(6));
    assert!(
        run(&p, &[storage(8)], false)
            .unwrap_err()
            .starts_with("R3 type=scalar expected=fp, pkt")
    );
    // Another storage's value, even before its null check (PTR_MAYBE_NULL is dropped).
    let p = format!(
        "{}mov %r3, 0\n{GET}lddw %r1, map_fd 1\nmov %r2, %r6\nmov %r3, %r0\nmov %r4, 1\ncall 107\n{END}",
        with_sk(12)
    );
    assert_eq!(run(&p, &[storage(16), storage(8)], true), Ok(()));
    // The first value (8 bytes) is too short for the second storage's 16.
    assert_eq!(
        run(&p, &[storage(8), storage(16)], true).unwrap_err(),
        "R3 min value is outside of the allowed memory range"
    );
}

#[test]
fn only_sk_storage_maps_are_accepted() {
    let hash = MapDef {
        map_type: MapType::Hash,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        map_flags: 0,
    };
    let p = format!("{}mov %r3, 0\n{GET}{END}", with_sk(6));
    assert_eq!(
        run(&p, &[hash], false).unwrap_err(),
        "cannot pass map_type 1 into func bpf_sk_storage_get#107"
    );
    let sockhash = MapDef {
        map_type: MapType::Sockhash,
        ..hash
    };
    assert_eq!(
        run(&p, &[sockhash], false).unwrap_err(),
        "invalid arg_type for sockmap/sockhash"
    );
    let p = format!(
        "{}lddw %r1, map_fd 0\nmov %r2, %r6\ncall 108\n{END}",
        with_sk(4)
    );
    assert_eq!(
        run(&p, &[hash], true).unwrap_err(),
        "cannot pass map_type 1 into func bpf_sk_storage_delete#108"
    );
}
