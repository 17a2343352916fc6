// SPDX-License-Identifier: GPL-2.0
// SYN RTO with random jitter: TIMEOUT_INIT replies 25 + bpf_get_prandom_u32() % 25 jiffies
// (100-196 ms at HZ=250), so clients that start together do not retry in lockstep. Replays
// are reproducible: a scenario's `seed` (or `sockops run --seed N`) seeds the PRNG.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("sockops")
int syn_jitter(struct bpf_sock_ops *skops)
{
	if (skops->op == BPF_SOCK_OPS_TIMEOUT_INIT)
		skops->reply = 25 + bpf_get_prandom_u32() % 25;
	else
		skops->reply = -1;
	return 1;
}

char _license[] SEC("license") = "GPL";
