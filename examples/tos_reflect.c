// SPDX-License-Identifier: GPL-2.0
// Reflects the peer's IP TOS (IPv4) or traffic class (IPv6) onto an accepted connection: in
// PASSIVE_ESTABLISHED_CB it reads the network header of the SYN the listener saved
// (TCP_SAVE_SYN) with bpf_getsockopt(TCP_BPF_SYN_IP) and sets IP_TOS or IPV6_TCLASS to it.
// Without a saved SYN the getsockopt fails and nothing is set. `results`: 0 = last
// getsockopt return (the header bytes copied), 1 = the TOS or traffic class found, 2 = last
// setsockopt return.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define SOL_IP 0
#define IP_TOS 1
#define SOL_IPV6 41
#define IPV6_TCLASS 67
#define SOL_TCP 6
#define TCP_BPF_SYN_IP 1006

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __attribute__((noinline)) void record(__u32 slot, __s64 value)
{
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

SEC("sockops")
int tos_reflect(struct bpf_sock_ops *skops)
{
	/* Room for the largest IPv4 (60) and TCP (60) headers: the kernel copies both and
	 * fails with -ENOSPC when they do not fit (after copying what does). */
	__u8 hdr[120] = {};
	int tos, ret;

	if (skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (skops->family == AF_INET) {
		ret = bpf_getsockopt(skops, SOL_TCP, TCP_BPF_SYN_IP, hdr, sizeof(hdr));
		record(0, ret);
		if (ret < 0)
			return 1;
		tos = hdr[1];
		record(1, tos);
		ret = bpf_setsockopt(skops, SOL_IP, IP_TOS, &tos, sizeof(tos));
	} else {
		ret = bpf_getsockopt(skops, SOL_TCP, TCP_BPF_SYN_IP, hdr, sizeof(hdr));
		record(0, ret);
		if (ret < 0)
			return 1;
		tos = ((hdr[0] & 0x0f) << 4) | (hdr[1] >> 4);
		record(1, tos);
		ret = bpf_setsockopt(skops, SOL_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
	}
	record(2, ret);
	return 1;
}

char _license[] SEC("license") = "GPL";
