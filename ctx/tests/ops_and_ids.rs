//! Ops, callback-flag gating, TCP states, helper ids and sysctls against SOCK_OPS.md §4-5.

use sockops_ctx::helper_ids::{HELPER_IDS, helper_name, sock_ops_callable_ids};
use sockops_ctx::ops::{TcpState, cb_flags, sk_bpf_cb};
use sockops_ctx::{HelperRefusal, SockOp, Sysctls, check_helper, sock_ops_helper_table};

#[test]
fn all_21_ops_parse_by_name_prefix_and_number() {
    assert_eq!(SockOp::ALL.len(), 21);
    for (n, op) in SockOp::ALL.iter().enumerate() {
        assert_eq!(op.number(), n as u32);
        assert_eq!(SockOp::parse(op.name()).unwrap(), *op);
        assert_eq!(SockOp::parse(&op.kernel_name()).unwrap(), *op);
        assert_eq!(SockOp::parse(&n.to_string()).unwrap(), *op);
    }
    assert_eq!(SockOp::parse("timeout_init").unwrap(), SockOp::TimeoutInit);
    assert_eq!(
        SockOp::parse("BPF_SOCK_OPS_TSTAMP_SENDMSG_CB")
            .unwrap()
            .number(),
        20
    );
    assert_eq!(SockOp::parse("HDR_OPT_LEN_CB").unwrap().number(), 14);
    assert!(SockOp::parse("21").is_err());
    assert!(SockOp::parse("NOPE").is_err());
}

#[test]
fn callback_flag_gating() {
    assert!(!SockOp::RtoCb.is_enabled(0, 0));
    assert!(SockOp::RtoCb.is_enabled(cb_flags::RTO, 0));
    assert!(!SockOp::RetransCb.is_enabled(cb_flags::RTO, 0));
    assert!(SockOp::StateCb.is_enabled(cb_flags::STATE, 0));
    assert!(SockOp::RttCb.is_enabled(0x08, 0));
    assert!(SockOp::ParseHdrOptCb.is_enabled(0x20, 0));
    assert!(SockOp::HdrOptLenCb.is_enabled(0x40, 0));
    assert!(!SockOp::WriteHdrOptCb.is_enabled(0x3f, 0));
    for op in [
        SockOp::TimeoutInit,
        SockOp::RwndInit,
        SockOp::TcpConnectCb,
        SockOp::NeedsEcn,
        SockOp::TcpListenCb,
    ] {
        assert!(op.is_enabled(0, 0), "{op} is not gated");
    }
    assert!(!SockOp::TstampSendmsgCb.is_enabled(0x7f, 0));
    assert!(SockOp::TstampSendmsgCb.is_enabled(0, sk_bpf_cb::TX_TIMESTAMPING));
    assert!(SockOp::TstampAckCb.is_tstamp() && !SockOp::WriteHdrOptCb.is_tstamp());
}

#[test]
fn tcp_states() {
    assert_eq!(TcpState::parse("ESTABLISHED").unwrap().number(), 1);
    assert_eq!(
        TcpState::parse("BPF_TCP_NEW_SYN_RECV").unwrap().number(),
        12
    );
    assert_eq!(TcpState::parse("10").unwrap(), TcpState::Listen);
    assert_eq!(TcpState::from_number(13), Some(TcpState::BoundInactive));
    assert_eq!(TcpState::from_number(14), None);
}

#[test]
fn helper_ids_match_section_5_1() {
    let callable: Vec<u32> = sock_ops_callable_ids().collect();
    assert_eq!(callable.len(), 97);
    for id in [
        1, 2, 3, 5, 6, 7, 12, 25, 46, 49, 53, 57, 59, 70, 107, 108, 122, 142, 143, 144, 208, 211,
    ] {
        assert!(callable.contains(&id), "{id} callable");
    }
    assert!(!callable.contains(&9)); // skb_store_bytes
    assert_eq!(HELPER_IDS.len(), 212);
    assert_eq!(helper_name(49), "bpf_setsockopt");
    let gpl: Vec<u32> = HELPER_IDS
        .iter()
        .filter(|h| h.gpl_only)
        .map(|h| h.id)
        .collect();
    assert!(gpl.contains(&6) && gpl.contains(&25));
    let table = sock_ops_helper_table();
    assert_eq!(check_helper(&table, 49), Ok(()));
    assert_eq!(
        check_helper(&table, 9).unwrap_err().to_string(),
        "program of this type cannot use helper bpf_skb_store_bytes#9"
    );
    assert_eq!(
        check_helper(&table, 212).unwrap_err(),
        HelperRefusal::Unknown(212)
    );
    assert_eq!(
        check_helper(&table, 212).unwrap_err().to_string(),
        "invalid func unknown#212"
    );
    assert!(matches!(
        check_helper(&table, 210),
        Err(HelperRefusal::NotProvided { .. })
    ));
    // Every provided helper is one sock_ops may call, with the kernel's name.
    for h in table.iter() {
        assert!(
            callable.contains(&h.id),
            "{} provided but not callable",
            h.signature.name
        );
        assert_eq!(h.signature.name, helper_name(h.id));
    }
}

#[test]
fn sysctls_by_name_with_defaults() {
    let mut s = Sysctls::default();
    assert_eq!(s.hz, 250);
    assert_eq!(s.get("net.core.wmem_max").unwrap(), "4194304");
    s.set("net.core.wmem_max", "200000").unwrap();
    assert_eq!(s.wmem_max, 200_000);
    s.set("net/core/rmem_max", "100000").unwrap();
    assert_eq!(s.rmem_max, 100_000);
    assert!(s.set("net.ipv4.tcp_congestion_control", "bbr").is_err());
    s.set(
        "net.ipv4.tcp_available_congestion_control",
        "reno cubic bbr",
    )
    .unwrap();
    s.set("net.ipv4.tcp_congestion_control", "bbr").unwrap();
    assert!(s.set("net.core.nope", "1").is_err());
    assert!(s.set("net.core.wmem_max", "lots").is_err());
    let j = s.jiffies();
    assert_eq!(j.from_usecs(50_000), 13);
    assert_eq!(j.to_usecs(13), 52_000);
    assert_eq!(j.tcp_rto_min(), 50);
}
