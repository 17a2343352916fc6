//! The program type libbpf gives a program by its ELF section name (`SEC("sockops")`,
//! `SEC("cgroup/connect6")`, `SEC("fexit/tcp_v4_connect")`...), as its `section_defs` table
//! does: an exact name, or a prefix followed by `/` and an attach target.

/// libbpf's section prefixes and the program types they give, most specific first.
const SECTION_TYPES: &[(&str, &str)] = &[
    ("sockops", "sock_ops"),
    ("cgroup/connect4", "cgroup_sock_addr"),
    ("cgroup/connect6", "cgroup_sock_addr"),
    ("cgroup/connect_unix", "cgroup_sock_addr"),
    ("cgroup/bind4", "cgroup_sock_addr"),
    ("cgroup/bind6", "cgroup_sock_addr"),
    ("cgroup/sendmsg4", "cgroup_sock_addr"),
    ("cgroup/sendmsg6", "cgroup_sock_addr"),
    ("cgroup/recvmsg4", "cgroup_sock_addr"),
    ("cgroup/recvmsg6", "cgroup_sock_addr"),
    ("cgroup/getpeername4", "cgroup_sock_addr"),
    ("cgroup/getpeername6", "cgroup_sock_addr"),
    ("cgroup/getsockname4", "cgroup_sock_addr"),
    ("cgroup/getsockname6", "cgroup_sock_addr"),
    ("cgroup/getsockopt", "cgroup_sockopt"),
    ("cgroup/setsockopt", "cgroup_sockopt"),
    ("cgroup/sock_create", "cgroup_sock"),
    ("cgroup/sock_release", "cgroup_sock"),
    ("cgroup/post_bind4", "cgroup_sock"),
    ("cgroup/post_bind6", "cgroup_sock"),
    ("cgroup/sock", "cgroup_sock"),
    ("cgroup/dev", "cgroup_device"),
    ("cgroup/sysctl", "cgroup_sysctl"),
    ("cgroup/skb", "cgroup_skb"),
    ("cgroup_skb", "cgroup_skb"),
    ("sk_msg", "sk_msg"),
    ("sk_skb", "sk_skb"),
    ("sk_lookup", "sk_lookup"),
    ("sk_reuseport", "sk_reuseport"),
    ("socket", "socket_filter"),
    ("xdp", "xdp"),
    ("tc", "sched_cls"),
    ("tcx", "sched_cls"),
    ("classifier", "sched_cls"),
    ("action", "sched_act"),
    ("kprobe", "kprobe"),
    ("kretprobe", "kprobe"),
    ("uprobe", "kprobe"),
    ("uretprobe", "kprobe"),
    ("ksyscall", "kprobe"),
    ("tracepoint", "tracepoint"),
    ("tp", "tracepoint"),
    ("raw_tracepoint", "raw_tracepoint"),
    ("raw_tp", "raw_tracepoint"),
    ("tp_btf", "tracing"),
    ("fentry", "tracing"),
    ("fexit", "tracing"),
    ("fmod_ret", "tracing"),
    ("iter", "tracing"),
    ("lsm", "lsm"),
    ("struct_ops", "struct_ops"),
    ("perf_event", "perf_event"),
    ("flow_dissector", "flow_dissector"),
    ("lwt_in", "lwt_in"),
    ("lwt_out", "lwt_out"),
    ("lwt_xmit", "lwt_xmit"),
    ("syscall", "syscall"),
    ("netfilter", "netfilter"),
];

/// The program type libbpf gives a program in ELF section `section` (`"sock_ops"`,
/// `"cgroup_sock_addr"`, `"tracing"`, ...), or `None` for a section libbpf does not know.
pub fn program_type_of_section(section: &str) -> Option<&'static str> {
    SECTION_TYPES.iter().find_map(|&(prefix, kind)| {
        let rest = section.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_give_libbpf_program_types() {
        assert_eq!(program_type_of_section("sockops"), Some("sock_ops"));
        assert_eq!(program_type_of_section("sockops/tuning"), Some("sock_ops"));
        assert_eq!(
            program_type_of_section("cgroup/connect6"),
            Some("cgroup_sock_addr")
        );
        assert_eq!(
            program_type_of_section("fexit/tcp_v4_connect"),
            Some("tracing")
        );
        assert_eq!(
            program_type_of_section("cgroup_skb/egress"),
            Some("cgroup_skb")
        );
        assert_eq!(program_type_of_section("sockopsx"), None);
        assert_eq!(program_type_of_section(".text"), None);
    }
}
