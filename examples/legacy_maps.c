// SPDX-License-Identifier: GPL-2.0
// The old way to declare maps: struct bpf_map_def records in a "maps" section (libbpf 1.0
// dropped it; sockops still loads it). Counts ops per op code and the last RTT per port.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* libbpf's former definition (bpf_helpers.h before 1.0). */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") ops_seen = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 32,
};

struct bpf_map_def SEC("maps") srtt_by_port = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 256,
};

SEC("sockops")
int legacy_count(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 *seen = bpf_map_lookup_elem(&ops_seen, &op);

	if (seen)
		*seen += 1;
	if (op == BPF_SOCK_OPS_RTT_CB) {
		__u32 port = skops->local_port;
		__u32 srtt = skops->srtt_us >> 3;

		bpf_map_update_elem(&srtt_by_port, &port, &srtt, BPF_ANY);
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x060100;
