//! The ctx field table and `check_access` against SOCK_OPS.md §1-2 and the live probe TSV
//! (`shared/spec/sock_ops_ctx_access.tsv`, 960 rows).

use std::path::PathBuf;

use sockops_ctx::field_table::{SOCK_OPS_FIELDS, sock_ops_field_at};
use sockops_ctx::{AccessKind, Guard, LoadYields, check_access, check_sock_access};

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
}

#[test]
fn every_row_of_the_live_probe_tsv_matches() {
    let path = spec_dir().join("sock_ops_ctx_access.tsv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipping: {} not present", path.display());
        return;
    };
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 6, "bad row {line}");
        let off: i64 = cols[0].parse().unwrap();
        let size: u32 = cols[1].parse().unwrap();
        let expect = |c: &str| c == "1";
        let load = check_access(off, size, AccessKind::Load);
        let st_reg = check_access(off, size, AccessKind::StoreReg);
        let st_imm = check_access(off, size, AccessKind::StoreImm);
        assert_eq!(load.is_ok(), expect(cols[2]), "load off={off} size={size}");
        assert_eq!(st_reg.is_ok(), expect(cols[3]), "stx off={off} size={size}");
        assert_eq!(st_imm.is_ok(), expect(cols[4]), "st off={off} size={size}");
        if let Ok(acc) = load {
            assert_eq!(acc.field.name, cols[5], "field name at off={off}");
        }
        if let Err(e) = load {
            assert_eq!(
                e.to_string(),
                format!("invalid bpf_context access off={off} size={size}")
            );
        }
        rows += 1;
    }
    assert_eq!(rows, 960);
}

#[test]
fn accepted_counts_match_the_spec_totals() {
    // §2: 52 accepted (offset,size) loads, 2 accepted stores.
    let mut loads = 0;
    let mut stores = 0;
    for off in -8..232i64 {
        for size in [1, 2, 4, 8] {
            loads += check_access(off, size, AccessKind::Load).is_ok() as u32;
            stores += check_access(off, size, AccessKind::StoreReg).is_ok() as u32;
        }
    }
    assert_eq!(loads, 52);
    assert_eq!(stores, 2);
}

#[test]
fn pointer_fields_yield_their_pointer_types() {
    let y = |off| check_access(off, 8, AccessKind::Load).unwrap().yields;
    assert_eq!(y(184), LoadYields::SocketOrNull);
    assert_eq!(y(192), LoadYields::Packet);
    assert_eq!(y(200), LoadYields::PacketEnd);
    assert_eq!(y(168), LoadYields::Scalar);
    assert!(check_access(192, 4, AccessKind::Load).is_err());
    assert_eq!(
        check_access(4, 8, AccessKind::StoreReg)
            .unwrap_err()
            .to_string(),
        "invalid bpf_context access off=4 size=8"
    );
    assert_eq!(
        check_access(8, 4, AccessKind::StoreImm)
            .unwrap_err()
            .to_string(),
        "invalid bpf_context access off=8 size=4"
    );
}

#[test]
fn guards_follow_section_1() {
    let g = |off| sock_ops_field_at(off).unwrap().guard;
    assert_eq!(g(76), Guard::Locked); // snd_cwnd
    assert_eq!(g(164), Guard::Locked); // sk_txhash
    assert_eq!(g(92), Guard::None); // rtt_min: no guard
    assert_eq!(g(88), Guard::None); // state
    assert_eq!(g(184), Guard::FullSock);
    assert_eq!(g(208), Guard::Skb);
    assert_eq!(g(200), Guard::None);
    let writable: Vec<u32> = SOCK_OPS_FIELDS
        .iter()
        .filter(|f| f.writable)
        .map(|f| f.offset)
        .collect();
    assert_eq!(writable, vec![4, 164]);
}

#[test]
fn bpf_sock_access_rules() {
    assert!(check_sock_access(4, 4).is_ok()); // family
    assert!(check_sock_access(4, 1).is_ok()); // narrow at field start
    assert!(check_sock_access(5, 1).is_err()); // not inside exact-offset fields
    assert!(check_sock_access(25, 1).is_ok()); // src_ip4 range allows narrow anywhere
    assert!(check_sock_access(48, 2).is_ok()); // dst_port be16
    assert!(check_sock_access(50, 2).is_err()); // dst_port padding
    assert!(check_sock_access(0, 2).is_err()); // bound_dev_if: 4 only
    assert!(check_sock_access(80, 4).is_err());
    assert!(check_sock_access(24, 8).is_err());
}
