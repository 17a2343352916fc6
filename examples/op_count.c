// SPDX-License-Identifier: GPL-2.0
// Counts sock_ops callbacks per op code in a BTF-defined array map, and established
// connections per remote port in a BTF-defined hash map.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} op_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u64);
} established_by_port SEC(".maps");

SEC("sockops")
int count_ops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 *count;

	count = bpf_map_lookup_elem(&op_count, &op);
	if (count)
		__sync_fetch_and_add(count, 1);

	if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
		__u16 port = bpf_ntohl(skops->remote_port);
		__u64 one = 1, *seen;

		seen = bpf_map_lookup_elem(&established_by_port, &port);
		if (seen)
			__sync_fetch_and_add(seen, 1);
		else
			bpf_map_update_elem(&established_by_port, &port, &one, BPF_NOEXIST);
	}
	skops->reply = 0;
	return 1;
}

char _license[] SEC("license") = "GPL";
