// SPDX-License-Identifier: GPL-2.0
// A sock_ops program for `sockops simulate` (examples/simulate/): what it does depends on the
// server port, so one NET.toml can put connections with and without a tuning side by side.
//   every socket:   counts each op it sees (op_count), asks for STATE_CB;
//   listeners:      TCP_SAVE_SYN = 1, so accepted sockets keep the client's SYN;
//   accepted:       records bpf_getsockopt(TCP_BPF_SYN) (the saved SYN's TCP header length);
//   port 8443:      the client turns Nagle off (TCP_NODELAY = 1);
//   ports 9000-9099: both sides also ask for RETRANS_CB, RTO_CB and RTT_CB; the client sets
//                   IP_TOS 0x20;
//   port 9000:      both sides pick reno; port 9001: cubic; port 9002: "bbr" (not available);
//   port 9003:      both sides also ask for PARSE_HDR_OPT_CB on every segment;
//   RETRANS_CB:     counts calls and the segments args[1] reports (retrans).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SOL_IP 0
#define IP_TOS 1
#define SOL_TCP 6
#define TCP_NODELAY 1
#define TCP_CONGESTION 13
#define TCP_SAVE_SYN 27
#define TCP_BPF_SYN 1005

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 21);
	__type(key, __u32);
	__type(value, __u64);
} op_count SEC(".maps");

/* [0] RETRANS_CB calls, [1] segments they reported (sum of args[1]). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} retrans SEC(".maps");

/* [0] TCP_NODELAY, [1] TCP_CONGESTION, [2] TCP_BPF_SYN (last results). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __always_inline void record(__u32 slot, __s64 value)
{
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

static __always_inline int tuned_port(__u32 port)
{
	return port >= 9000 && port < 9100;
}

static __always_inline int flags_for(__u32 port)
{
	int flags = BPF_SOCK_OPS_STATE_CB_FLAG;

	if (tuned_port(port))
		flags |= BPF_SOCK_OPS_RETRANS_CB_FLAG | BPF_SOCK_OPS_RTO_CB_FLAG |
			 BPF_SOCK_OPS_RTT_CB_FLAG;
	if (port == 9003)
		flags |= BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG;
	return flags;
}

/* Port 9000: reno, 9001: cubic, 9002: "bbr" (-ENOENT on this host); the result in results[1]. */
static __always_inline void pick_congestion(struct bpf_sock_ops *skops, __u32 port)
{
	if (port == 9000) {
		char cc[] = "reno";

		record(1, bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, cc, sizeof(cc)));
	} else if (port == 9001) {
		char cc[] = "cubic";

		record(1, bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, cc, sizeof(cc)));
	} else if (port == 9002) {
		char cc[] = "bbr";

		record(1, bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, cc, sizeof(cc)));
	}
}

SEC("sockops")
int net_tuning(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u32 remote = bpf_ntohl(skops->remote_port);
	__u32 local = skops->local_port;
	__u64 *count;
	int one = 1;

	count = bpf_map_lookup_elem(&op_count, &op);
	if (count)
		__sync_fetch_and_add(count, 1);

	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		bpf_sock_ops_cb_flags_set(skops, flags_for(remote));
		if (tuned_port(remote)) {
			int tos = 0x20;

			bpf_setsockopt(skops, SOL_IP, IP_TOS, &tos, sizeof(tos));
		}
		if (remote == 8443)
			record(0, bpf_setsockopt(skops, SOL_TCP, TCP_NODELAY, &one, sizeof(one)));
		pick_congestion(skops, remote);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		bpf_setsockopt(skops, SOL_TCP, TCP_SAVE_SYN, &one, sizeof(one));
		bpf_sock_ops_cb_flags_set(skops, flags_for(local));
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
		char syn[64];

		record(2, bpf_getsockopt(skops, SOL_TCP, TCP_BPF_SYN, syn, sizeof(syn)));
		pick_congestion(skops, local);
		break;
	}
	case BPF_SOCK_OPS_RETRANS_CB: {
		__u32 key = 0;
		__u64 *calls = bpf_map_lookup_elem(&retrans, &key);

		if (calls)
			__sync_fetch_and_add(calls, 1);
		key = 1;
		calls = bpf_map_lookup_elem(&retrans, &key);
		if (calls)
			__sync_fetch_and_add(calls, skops->args[1]);
		break;
	}
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
