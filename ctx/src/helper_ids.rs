//! Kernel helper ids (`BPF_FUNC_*`, 0..=211 on the reference kernel) with their names, which
//! of them a sock_ops program may call (the 97 ids of SOCK_OPS.md §5.1, probed live) and
//! which are GPL-only; plus the load-time check that refuses, by name, a helper sock_ops may
//! not call or that this runtime does not provide.

use sockops_vm::HelperTable;

/// One kernel helper id as the live probe saw it from a sock_ops program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperId {
    /// `BPF_FUNC_*` number.
    pub id: u32,
    /// Name without the `bpf_` prefix.
    pub name: &'static str,
    /// The verifier lets sock_ops programs call it.
    pub sock_ops_callable: bool,
    /// GPL-only.
    pub gpl_only: bool,
}

/// `__BPF_FUNC_MAX_ID` on the reference kernel: ids at or above it are unknown.
pub const BPF_FUNC_MAX_ID: u32 = 212;

const fn h(id: u32, name: &'static str, sock_ops_callable: bool, gpl_only: bool) -> HelperId {
    HelperId {
        id,
        name,
        sock_ops_callable,
        gpl_only,
    }
}

/// Every helper id below `BPF_FUNC_MAX_ID`, indexed by id.
pub const HELPER_IDS: &[HelperId] = &[
    h(0, "unspec", false, false),
    h(1, "map_lookup_elem", true, false),
    h(2, "map_update_elem", true, false),
    h(3, "map_delete_elem", true, false),
    h(4, "probe_read", false, false),
    h(5, "ktime_get_ns", true, false),
    h(6, "trace_printk", true, true),
    h(7, "get_prandom_u32", true, false),
    h(8, "get_smp_processor_id", true, false),
    h(9, "skb_store_bytes", false, false),
    h(10, "l3_csum_replace", false, false),
    h(11, "l4_csum_replace", false, false),
    h(12, "tail_call", true, false),
    h(13, "clone_redirect", false, false),
    h(14, "get_current_pid_tgid", true, false),
    h(15, "get_current_uid_gid", true, false),
    h(16, "get_current_comm", true, false),
    h(17, "get_cgroup_classid", true, false),
    h(18, "skb_vlan_push", false, false),
    h(19, "skb_vlan_pop", false, false),
    h(20, "skb_get_tunnel_key", false, false),
    h(21, "skb_set_tunnel_key", false, false),
    h(22, "perf_event_read", true, true),
    h(23, "redirect", false, false),
    h(24, "get_route_realm", false, false),
    h(25, "perf_event_output", true, true),
    h(26, "skb_load_bytes", false, false),
    h(27, "get_stackid", false, false),
    h(28, "csum_diff", false, false),
    h(29, "skb_get_tunnel_opt", false, false),
    h(30, "skb_set_tunnel_opt", false, false),
    h(31, "skb_change_proto", false, false),
    h(32, "skb_change_type", false, false),
    h(33, "skb_under_cgroup", false, false),
    h(34, "get_hash_recalc", false, false),
    h(35, "get_current_task", true, true),
    h(36, "probe_write_user", false, false),
    h(37, "current_task_under_cgroup", true, false),
    h(38, "skb_change_tail", false, false),
    h(39, "skb_pull_data", false, false),
    h(40, "csum_update", false, false),
    h(41, "set_hash_invalid", false, false),
    h(42, "get_numa_node_id", true, false),
    h(43, "skb_change_head", false, false),
    h(44, "xdp_adjust_head", false, false),
    h(45, "probe_read_str", false, false),
    h(46, "get_socket_cookie", true, false),
    h(47, "get_socket_uid", false, false),
    h(48, "set_hash", false, false),
    h(49, "setsockopt", true, false),
    h(50, "skb_adjust_room", false, false),
    h(51, "redirect_map", false, false),
    h(52, "sk_redirect_map", false, false),
    h(53, "sock_map_update", true, false),
    h(54, "xdp_adjust_meta", false, false),
    h(55, "perf_event_read_value", true, true),
    h(56, "perf_prog_read_value", false, false),
    h(57, "getsockopt", true, false),
    h(58, "override_return", false, false),
    h(59, "sock_ops_cb_flags_set", true, false),
    h(60, "msg_redirect_map", false, false),
    h(61, "msg_apply_bytes", false, false),
    h(62, "msg_cork_bytes", false, false),
    h(63, "msg_pull_data", false, false),
    h(64, "bind", false, false),
    h(65, "xdp_adjust_tail", false, false),
    h(66, "skb_get_xfrm_state", false, false),
    h(67, "get_stack", false, false),
    h(68, "skb_load_bytes_relative", false, false),
    h(69, "fib_lookup", false, false),
    h(70, "sock_hash_update", true, false),
    h(71, "msg_redirect_hash", false, false),
    h(72, "sk_redirect_hash", false, false),
    h(73, "lwt_push_encap", false, false),
    h(74, "lwt_seg6_store_bytes", false, false),
    h(75, "lwt_seg6_adjust_srh", false, false),
    h(76, "lwt_seg6_action", false, false),
    h(77, "rc_repeat", false, false),
    h(78, "rc_keydown", false, false),
    h(79, "skb_cgroup_id", false, false),
    h(80, "get_current_cgroup_id", true, false),
    h(81, "get_local_storage", true, false),
    h(82, "sk_select_reuseport", false, false),
    h(83, "skb_ancestor_cgroup_id", false, false),
    h(84, "sk_lookup_tcp", false, false),
    h(85, "sk_lookup_udp", false, false),
    h(86, "sk_release", false, false),
    h(87, "map_push_elem", true, false),
    h(88, "map_pop_elem", true, false),
    h(89, "map_peek_elem", true, false),
    h(90, "msg_push_data", false, false),
    h(91, "msg_pop_data", false, false),
    h(92, "rc_pointer_rel", false, false),
    h(93, "spin_lock", true, false),
    h(94, "spin_unlock", true, false),
    h(95, "sk_fullsock", false, false),
    h(96, "tcp_sock", true, false),
    h(97, "skb_ecn_set_ce", false, false),
    h(98, "get_listener_sock", false, false),
    h(99, "skc_lookup_tcp", false, false),
    h(100, "tcp_check_syncookie", false, false),
    h(101, "sysctl_get_name", false, false),
    h(102, "sysctl_get_current_value", false, false),
    h(103, "sysctl_get_new_value", false, false),
    h(104, "sysctl_set_new_value", false, false),
    h(105, "strtol", true, false),
    h(106, "strtoul", true, false),
    h(107, "sk_storage_get", true, false),
    h(108, "sk_storage_delete", true, false),
    h(109, "send_signal", true, false),
    h(110, "tcp_gen_syncookie", false, false),
    h(111, "skb_output", false, false),
    h(112, "probe_read_user", true, true),
    h(113, "probe_read_kernel", true, true),
    h(114, "probe_read_user_str", true, true),
    h(115, "probe_read_kernel_str", true, true),
    h(116, "tcp_send_ack", false, false),
    h(117, "send_signal_thread", true, false),
    h(118, "jiffies64", true, false),
    h(119, "read_branch_records", false, false),
    h(120, "get_ns_current_pid_tgid", true, false),
    h(121, "xdp_output", false, false),
    h(122, "get_netns_cookie", true, false),
    h(123, "get_current_ancestor_cgroup_id", true, false),
    h(124, "sk_assign", false, false),
    h(125, "ktime_get_boot_ns", true, false),
    h(126, "seq_printf", false, false),
    h(127, "seq_write", false, false),
    h(128, "sk_cgroup_id", false, false),
    h(129, "sk_ancestor_cgroup_id", false, false),
    h(130, "ringbuf_output", true, false),
    h(131, "ringbuf_reserve", true, false),
    h(132, "ringbuf_submit", true, false),
    h(133, "ringbuf_discard", true, false),
    h(134, "ringbuf_query", true, false),
    h(135, "csum_level", false, false),
    h(136, "skc_to_tcp6_sock", true, false),
    h(137, "skc_to_tcp_sock", true, false),
    h(138, "skc_to_tcp_timewait_sock", true, false),
    h(139, "skc_to_tcp_request_sock", true, false),
    h(140, "skc_to_udp6_sock", true, false),
    h(141, "get_task_stack", true, false),
    h(142, "load_hdr_opt", true, false),
    h(143, "store_hdr_opt", true, false),
    h(144, "reserve_hdr_opt", true, false),
    h(145, "inode_storage_get", false, false),
    h(146, "inode_storage_delete", false, false),
    h(147, "d_path", false, false),
    h(148, "copy_from_user", true, false),
    h(149, "snprintf_btf", true, false),
    h(150, "seq_printf_btf", false, false),
    h(151, "skb_cgroup_classid", false, false),
    h(152, "redirect_neigh", false, false),
    h(153, "per_cpu_ptr", true, false),
    h(154, "this_cpu_ptr", true, false),
    h(155, "redirect_peer", false, false),
    h(156, "task_storage_get", true, false),
    h(157, "task_storage_delete", true, false),
    h(158, "get_current_task_btf", true, true),
    h(159, "bprm_opts_set", false, false),
    h(160, "ktime_get_coarse_ns", true, false),
    h(161, "ima_inode_hash", false, false),
    h(162, "sock_from_file", false, false),
    h(163, "check_mtu", false, false),
    h(164, "for_each_map_elem", true, false),
    h(165, "snprintf", true, true),
    h(166, "sys_bpf", false, false),
    h(167, "btf_find_by_name_kind", false, false),
    h(168, "sys_close", false, false),
    h(169, "timer_init", true, true),
    h(170, "timer_set_callback", true, true),
    h(171, "timer_start", true, true),
    h(172, "timer_cancel", true, true),
    h(173, "get_func_ip", false, false),
    h(174, "get_attach_cookie", false, false),
    h(175, "task_pt_regs", true, true),
    h(176, "get_branch_snapshot", true, true),
    h(177, "trace_vprintk", true, true),
    h(178, "skc_to_unix_sock", true, false),
    h(179, "kallsyms_lookup_name", false, false),
    h(180, "find_vma", true, false),
    h(181, "loop", true, false),
    h(182, "strncmp", true, false),
    h(183, "get_func_arg", false, false),
    h(184, "get_func_ret", false, false),
    h(185, "get_func_arg_cnt", false, false),
    h(186, "get_retval", false, false),
    h(187, "set_retval", false, false),
    h(188, "xdp_get_buff_len", false, false),
    h(189, "xdp_load_bytes", false, false),
    h(190, "xdp_store_bytes", false, false),
    h(191, "copy_from_user_task", true, true),
    h(192, "skb_set_tstamp", false, false),
    h(193, "ima_file_hash", false, false),
    h(194, "kptr_xchg", true, false),
    h(195, "map_lookup_percpu_elem", true, false),
    h(196, "skc_to_mptcp_sock", true, false),
    h(197, "dynptr_from_mem", true, false),
    h(198, "ringbuf_reserve_dynptr", true, false),
    h(199, "ringbuf_submit_dynptr", true, false),
    h(200, "ringbuf_discard_dynptr", true, false),
    h(201, "dynptr_read", true, false),
    h(202, "dynptr_write", true, false),
    h(203, "dynptr_data", true, false),
    h(204, "tcp_raw_gen_syncookie_ipv4", false, false),
    h(205, "tcp_raw_gen_syncookie_ipv6", false, false),
    h(206, "tcp_raw_check_syncookie_ipv4", false, false),
    h(207, "tcp_raw_check_syncookie_ipv6", false, false),
    h(208, "ktime_get_tai_ns", true, false),
    h(209, "user_ringbuf_drain", true, false),
    h(210, "cgrp_storage_get", true, false),
    h(211, "cgrp_storage_delete", true, false),
];

/// The helper with id `id`.
pub fn helper_id(id: u32) -> Option<&'static HelperId> {
    HELPER_IDS.get(id as usize)
}

/// The kernel name (`bpf_...`) of helper `id`, or `unknown#id`.
pub fn helper_name(id: u32) -> String {
    match helper_id(id) {
        Some(h) => format!("bpf_{}", h.name),
        None => format!("unknown#{id}"),
    }
}

/// The ids a sock_ops program may call (97 on the reference kernel).
pub fn sock_ops_callable_ids() -> impl Iterator<Item = u32> {
    HELPER_IDS
        .iter()
        .filter(|h| h.sock_ops_callable)
        .map(|h| h.id)
}

/// Why a program's helper call is refused at load time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelperRefusal {
    /// The id does not exist (kernel: `invalid func unknown#N`).
    #[error("invalid func unknown#{0}")]
    Unknown(u32),
    /// The kernel does not let sock_ops call it.
    #[error("program of this type cannot use helper {name}#{id}")]
    NotForSockOps {
        /// Kernel helper name.
        name: String,
        /// Helper id.
        id: u32,
    },
    /// sock_ops may call it but this runtime does not implement it.
    #[error("helper {name}#{id} is not supported by this runtime")]
    NotProvided {
        /// Kernel helper name.
        name: String,
        /// Helper id.
        id: u32,
    },
}

/// Checks that a sock_ops program may call helper `id` and that `table` provides it.
pub fn check_helper(table: &HelperTable, id: u32) -> Result<(), HelperRefusal> {
    let Some(h) = helper_id(id) else {
        return Err(HelperRefusal::Unknown(id));
    };
    if !h.sock_ops_callable {
        return Err(HelperRefusal::NotForSockOps {
            name: helper_name(id),
            id,
        });
    }
    if table.get(id).is_none() {
        return Err(HelperRefusal::NotProvided {
            name: helper_name(id),
            id,
        });
    }
    Ok(())
}
