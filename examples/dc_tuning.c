// SPDX-License-Identifier: GPL-2.0
// Datacenter-aware TCP tuning (the README's main example). A peer inside the datacenter
// (10.0.0.0/8, 2001:db8:1::/48, or a v4-mapped 10.x address) gets a short initial SYN RTO,
// large socket buffers and DCTCP; any other peer keeps the kernel's default SYN RTO (1 s) and
// gets moderate buffers and BBR. The kernel clamps the buffer sizes to net.core.wmem_max /
// rmem_max and doubles them; a congestion control the host has not loaded fails with -ENOENT
// and the socket keeps its default. Decisions are counted in `decisions`: index 0 =
// datacenter peers, 1 = other peers.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define SOL_SOCKET 1
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define SOL_TCP 6
#define TCP_CONGESTION 13

#define DC_SYN_RTO_JIFFIES 10 /* 40 ms at HZ=250 */
#define DC_BUF (8 << 20)
#define WAN_BUF (256 << 10)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} decisions SEC(".maps");

static __always_inline int peer_in_datacenter(struct bpf_sock_ops *skops)
{
	if (skops->family == AF_INET)
		return (bpf_ntohl(skops->remote_ip4) >> 24) == 10;
	if (skops->family != AF_INET6)
		return 0;
	if (skops->remote_ip6[0] == 0 && skops->remote_ip6[1] == 0 &&
	    skops->remote_ip6[2] == bpf_htonl(0xffff))
		return (bpf_ntohl(skops->remote_ip6[3]) >> 24) == 10;
	return bpf_ntohl(skops->remote_ip6[0]) == 0x20010db8 &&
	       (bpf_ntohl(skops->remote_ip6[1]) >> 16) == 0x0001;
}

SEC("sockops")
int dc_tuning(struct bpf_sock_ops *skops)
{
	int dc = peer_in_datacenter(skops);
	char dctcp[] = "dctcp";
	char bbr[] = "bbr";
	__u32 key = dc ? 0 : 1;
	__u64 *count;
	int buf;
	int rv = -1;

	switch (skops->op) {
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		/* reply <= 0 keeps the kernel's default SYN RTO. */
		rv = dc ? DC_SYN_RTO_JIFFIES : -1;
		break;
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		buf = dc ? DC_BUF : WAN_BUF;
		rv = bpf_setsockopt(skops, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		rv |= bpf_setsockopt(skops, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		if (dc)
			rv |= bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, dctcp, sizeof(dctcp));
		else
			rv |= bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, bbr, sizeof(bbr));
		count = bpf_map_lookup_elem(&decisions, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
		break;
	}
	skops->reply = rv;
	return 1;
}

char _license[] SEC("license") = "GPL";
