// SPDX-License-Identifier: GPL-2.0
// The recorder of `sockops record` and `sockops compare`: for every sock_ops call it copies
// the whole context (op, args, addresses, ports, family, state, every metric, is_fullsock,
// the callback flags, and for ops that carry a segment its length, flags and header bytes)
// into a ring buffer, with the socket's cookie to tell connections apart. It only reads: it
// returns 1 and leaves `reply` alone, so attached with BPF_F_ALLOW_MULTI beside other
// programs it changes nothing.
//
// Every record also carries the socket options a program may set, read with bpf_getsockopt
// (full sockets, ops 0-15; bit k of `opt_ok` says whether the read succeeded).
//
// `record_after` is `record` for the end of a program list (`phase` 1): attached after the
// candidate program, it sees the `reply` the candidate left (args[0]) and what it changed.
//
// `record_all_callbacks` does the same and also turns every callback flag on (RTO, RETRANS,
// STATE, RTT, header options...), which every program of the cgroup then also sees.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "recorder.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} records SEC(".maps");

/* (level, optname) of the integer options read into `opts`; the last one is IP_TOS on
 * AF_INET sockets and IPV6_TCLASS on AF_INET6 ones. */
static const int RECORD_OPTS[RECORD_OPT_COUNT][2] = {
	{ 1, 7 },     /* SO_SNDBUF */
	{ 1, 8 },     /* SO_RCVBUF */
	{ 1, 36 },    /* SO_MARK */
	{ 1, 12 },    /* SO_PRIORITY */
	{ 6, 1 },     /* TCP_NODELAY */
	{ 6, 10 },    /* TCP_WINDOW_CLAMP */
	{ 6, 4 },     /* TCP_KEEPIDLE */
	{ 6, 18 },    /* TCP_USER_TIMEOUT */
	{ 6, 25 },    /* TCP_NOTSENT_LOWAT */
	{ 6, 1004 },  /* TCP_BPF_RTO_MIN */
	{ 6, 1003 },  /* TCP_BPF_DELACK_MAX */
	{ 0, 1 },     /* IP_TOS, or IPV6_TCLASS (41, 67) on AF_INET6 */
};

static __always_inline void read_options(struct bpf_sock_ops *skops, struct record *r)
{
	r->opt_ok = 0;
#pragma unroll
	for (int k = 0; k < RECORD_OPT_COUNT; k++)
		r->opts[k] = 0;
	__builtin_memset(r->congestion, 0, sizeof(r->congestion));
	if (!skops->is_fullsock || skops->op >= 16)
		return;
#pragma unroll
	for (int k = 0; k < RECORD_OPT_COUNT; k++) {
		int level = RECORD_OPTS[k][0], name = RECORD_OPTS[k][1];
		int v = 0;
		if (k == RECORD_OPT_COUNT - 1 && skops->family == 10) {
			level = 41;
			name = 67;
		}
		if (bpf_getsockopt(skops, level, name, &v, sizeof(v)) == 0)
			r->opt_ok |= 1u << k;
		r->opts[k] = v;
	}
	if (bpf_getsockopt(skops, 6, 13, r->congestion, sizeof(r->congestion)) == 0)
		r->opt_ok |= 1u << RECORD_OPT_COUNT;
}

static __always_inline void capture(struct bpf_sock_ops *skops, __u32 phase)
{
	struct record *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r)
		return;
	r->cookie = bpf_get_socket_cookie(skops);
	r->op = skops->op;
	r->args[0] = skops->args[0];
	r->args[1] = skops->args[1];
	r->args[2] = skops->args[2];
	r->args[3] = skops->args[3];
	r->family = skops->family;
	r->remote_ip4 = skops->remote_ip4;
	r->local_ip4 = skops->local_ip4;
	r->remote_ip6[0] = skops->remote_ip6[0];
	r->remote_ip6[1] = skops->remote_ip6[1];
	r->remote_ip6[2] = skops->remote_ip6[2];
	r->remote_ip6[3] = skops->remote_ip6[3];
	r->local_ip6[0] = skops->local_ip6[0];
	r->local_ip6[1] = skops->local_ip6[1];
	r->local_ip6[2] = skops->local_ip6[2];
	r->local_ip6[3] = skops->local_ip6[3];
	r->remote_port = skops->remote_port;
	r->local_port = skops->local_port;
	r->is_fullsock = skops->is_fullsock;
	r->snd_cwnd = skops->snd_cwnd;
	r->srtt_us = skops->srtt_us;
	r->cb_flags = skops->bpf_sock_ops_cb_flags;
	r->state = skops->state;
	r->rtt_min = skops->rtt_min;
	r->snd_ssthresh = skops->snd_ssthresh;
	r->rcv_nxt = skops->rcv_nxt;
	r->snd_nxt = skops->snd_nxt;
	r->snd_una = skops->snd_una;
	r->mss_cache = skops->mss_cache;
	r->ecn_flags = skops->ecn_flags;
	r->rate_delivered = skops->rate_delivered;
	r->rate_interval_us = skops->rate_interval_us;
	r->packets_out = skops->packets_out;
	r->retrans_out = skops->retrans_out;
	r->total_retrans = skops->total_retrans;
	r->segs_in = skops->segs_in;
	r->data_segs_in = skops->data_segs_in;
	r->segs_out = skops->segs_out;
	r->data_segs_out = skops->data_segs_out;
	r->lost_out = skops->lost_out;
	r->sacked_out = skops->sacked_out;
	r->sk_txhash = skops->sk_txhash;
	r->bytes_received = skops->bytes_received;
	r->bytes_acked = skops->bytes_acked;
	r->skb_len = skops->skb_len;
	r->skb_tcp_flags = skops->skb_tcp_flags;
	r->hdr_len = 0;
	__u8 *data = (__u8 *)(long)skops->skb_data;
	__u8 *end = (__u8 *)(long)skops->skb_data_end;
	for (int i = 0; i < RECORD_HDR_MAX; i++) {
		if (data + i + 1 > end)
			break;
		r->hdr[i] = data[i];
		r->hdr_len = i + 1;
	}
	r->phase = phase;
	read_options(skops, r);
	bpf_ringbuf_submit(r, 0);
}

SEC("sockops")
int record(struct bpf_sock_ops *skops)
{
	capture(skops, 0);
	return 1;
}

SEC("sockops")
int record_after(struct bpf_sock_ops *skops)
{
	capture(skops, 1);
	return 1;
}

SEC("sockops")
int record_all_callbacks(struct bpf_sock_ops *skops)
{
	capture(skops, 0);
	if (skops->is_fullsock) {
		__u32 all = BPF_SOCK_OPS_ALL_CB_FLAGS;
		if ((skops->bpf_sock_ops_cb_flags & all) != all)
			bpf_sock_ops_cb_flags_set(skops, all);
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
