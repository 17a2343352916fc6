// SPDX-License-Identifier: GPL-2.0
// Callback dispatch through a prog array that the object fills itself, as libbpf does at load
// time: `.values` places each handler at its op's index. Ops without a handler fall through
// the tail call and keep the kernel's default (reply -1).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

int on_timeout_init(struct bpf_sock_ops *skops);
int on_rwnd_init(struct bpf_sock_ops *skops);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} ops SEC(".maps") = {
	.values = {
		[BPF_SOCK_OPS_TIMEOUT_INIT] = (void *)&on_timeout_init,
		[BPF_SOCK_OPS_RWND_INIT] = (void *)&on_rwnd_init,
	},
};

SEC("sockops")
int dispatch(struct bpf_sock_ops *skops)
{
	bpf_tail_call(skops, &ops, skops->op);
	skops->reply = -1;
	return 1;
}

SEC("sockops/timeout_init")
int on_timeout_init(struct bpf_sock_ops *skops)
{
	/* SYN RTO: 20 jiffies (80 ms at HZ=250) inside 10.0.0.0/8, the default elsewhere. */
	if (skops->family == 2 /* AF_INET */ && (bpf_ntohl(skops->remote_ip4) >> 24) == 10)
		skops->reply = 20;
	else
		skops->reply = -1;
	return 1;
}

SEC("sockops/rwnd_init")
int on_rwnd_init(struct bpf_sock_ops *skops)
{
	skops->reply = 40; /* initial receive window, in segments */
	return 1;
}

char _license[] SEC("license") = "GPL";
