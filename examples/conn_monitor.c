// SPDX-License-Identifier: GPL-2.0
// Connection monitor: once a connection is established it asks for the RTO, RETRANS and
// STATE callbacks (but not RTT, so RTT_CB never reaches it), counts every callback it gets
// per op in `callbacks`, keeps the last state change as (old << 8 | new) in `last_state`, and
// logs retransmission timeouts with bpf_printk.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 21);
	__type(key, __u32);
	__type(value, __u64);
} callbacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} last_state SEC(".maps");

SEC("sockops")
int conn_monitor(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u32 zero = 0;
	__u32 change;
	__u64 *count;

	count = bpf_map_lookup_elem(&callbacks, &op);
	if (count)
		__sync_fetch_and_add(count, 1);

	switch (op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_RTO_CB_FLAG |
						 BPF_SOCK_OPS_RETRANS_CB_FLAG |
						 BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		change = (skops->args[0] << 8) | skops->args[1];
		bpf_map_update_elem(&last_state, &zero, &change, BPF_ANY);
		break;
	case BPF_SOCK_OPS_RTO_CB:
		bpf_printk("rto: retransmits=%u rto=%u jiffies", skops->args[0], skops->args[1]);
		break;
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
