// SPDX-License-Identifier: GPL-2.0
// Two programs in one object: one sets socket buffer sizes when a connection is set up, the
// other picks the congestion control algorithm. Both record what they did in a shared map.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SOL_SOCKET 1
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define SOL_TCP 6
#define TCP_CONGESTION 13

#define BUF_SIZE (1 << 20)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
} last_result SEC(".maps");

static __attribute__((noinline)) void record(__u32 slot, __s64 result)
{
	bpf_map_update_elem(&last_result, &slot, &result, BPF_ANY);
}

SEC("sockops")
int set_buffers(struct bpf_sock_ops *skops)
{
	int size = BUF_SIZE;
	long rv = 0;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		rv = bpf_setsockopt(skops, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		rv += bpf_setsockopt(skops, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		record(0, rv);
		break;
	default:
		rv = -1;
	}
	skops->reply = rv;
	return 1;
}

SEC("sockops/cc")
int set_cong(struct bpf_sock_ops *skops)
{
	char cc[] = "reno";
	long rv = -1;

	if (skops->op == BPF_SOCK_OPS_TCP_CONNECT_CB ||
	    skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
		rv = bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, cc, sizeof(cc));
		record(1, rv);
	}
	skops->reply = rv;
	return 1;
}

char _license[] SEC("license") = "GPL";
