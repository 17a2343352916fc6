// SPDX-License-Identifier: GPL-2.0
// Sets the initial SYN RTO by destination address prefix: connections to 10.0.0.0/8 (the
// "datacenter" prefix, configurable in .data) get a short RTO from .rodata, others the
// default. Counts decisions in .bss. The prefix match is a .text sub-program.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* .rodata: read-only configuration (frozen after load, as libbpf does). */
const volatile __u32 dc_rto_ms = 10;
const volatile __u32 default_rto_ms = 1000;

/* .data: initialised, writable. */
__u32 dc_prefix = 0x0a000000; /* 10.0.0.0, host order */
__u32 dc_prefix_len = 8;

/* .bss: zero-initialised counters. */
__u64 dc_hits;
static __u64 other_hits; /* static: relocated against .bss + addend */

static __attribute__((noinline)) int in_prefix(__u32 addr_host, __u32 prefix, __u32 len)
{
	__u32 mask;

	if (len == 0)
		return 1;
	if (len > 32)
		return 0;
	mask = len == 32 ? 0xffffffff : ~(0xffffffffu >> len);
	return (addr_host & mask) == (prefix & mask);
}

SEC("sockops")
int syn_rto(struct bpf_sock_ops *skops)
{
	__u32 daddr;

	if (skops->op != BPF_SOCK_OPS_TIMEOUT_INIT) {
		skops->reply = -1;
		return 1;
	}
	if (skops->family != 2 /* AF_INET */) {
		skops->reply = -1;
		return 1;
	}
	daddr = bpf_ntohl(skops->remote_ip4);
	if (in_prefix(daddr, dc_prefix, dc_prefix_len)) {
		dc_hits++;
		skops->reply = dc_rto_ms; /* jiffies at HZ=1000 */
	} else {
		other_hits++;
		skops->reply = default_rto_ms;
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
