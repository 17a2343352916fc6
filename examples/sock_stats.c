// SPDX-License-Identifier: GPL-2.0
// Per-socket statistics in socket-local storage (BPF_MAP_TYPE_SK_STORAGE): how many ops each
// connection saw and how many of them were retransmissions, kept on the socket itself, as
// programs that must not grow a global map with every connection do.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct sock_stats {
	__u32 ops;
	__u32 retransmits;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_stats);
} sock_stats SEC(".maps");

SEC("sockops")
int count_per_socket(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sock_stats *stats;

	if (!sk)
		return 1;
	stats = bpf_sk_storage_get(&sock_stats, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!stats)
		return 1;
	stats->ops++;
	if (skops->op == BPF_SOCK_OPS_RETRANS_CB)
		stats->retransmits++;
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_RETRANS_CB_FLAG);
	return 1;
}

char _license[] SEC("license") = "GPL";
