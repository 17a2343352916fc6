// SPDX-License-Identifier: GPL-2.0
// Dispatches sock_ops callbacks through a prog array: the entry program tail-calls the
// handler stored at the op's index (filled by user space); ops without a handler fall
// through and are counted as unhandled.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} handlers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} handled SEC(".maps");

__u64 unhandled;

static __attribute__((noinline)) void count(__u32 op)
{
	__u64 *n = bpf_map_lookup_elem(&handled, &op);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("sockops")
int dispatch(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;

	bpf_tail_call(skops, &handlers, op);
	/* No handler for this op. */
	unhandled++;
	skops->reply = -1;
	return 1;
}

SEC("sockops/timeout_init")
int on_timeout_init(struct bpf_sock_ops *skops)
{
	count(skops->op);
	skops->reply = 50; /* jiffies */
	return 1;
}

SEC("sockops/rwnd_init")
int on_rwnd_init(struct bpf_sock_ops *skops)
{
	count(skops->op);
	skops->reply = 40; /* segments */
	return 1;
}

char _license[] SEC("license") = "GPL";
