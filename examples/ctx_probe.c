// SPDX-License-Identifier: GPL-2.0
// Context probe: records what one sock_ops invocation sees into `snapshot` (one array
// entry): every struct bpf_sock_ops field the live-kernel probe recorded, whether ctx->sk is
// non-NULL, whether 1 and 20 packet bytes are readable, sk_txhash after writing 0x12345678,
// and bpf_sock_ops_cb_flags_set(0xff)'s return value. The layout of `struct snapshot`
// follows the field order of shared/spec/sock_ops_live_results.json.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct snapshot {
	__u64 op, args[4], family, remote_ip4, local_ip4, remote_ip6_0, remote_ip6_3, local_ip6_0,
		local_ip6_3, remote_port, local_port, is_fullsock, snd_cwnd, srtt_us, cb_flags,
		state, rtt_min, snd_ssthresh, rcv_nxt, snd_nxt, snd_una, mss_cache, ecn_flags,
		rate_delivered, rate_interval_us, packets_out, retrans_out, total_retrans, segs_in,
		data_segs_in, segs_out, data_segs_out, lost_out, sacked_out, sk_txhash,
		bytes_received, bytes_acked, skb_len, skb_tcp_flags, skb_hwtstamp, sk_nonnull,
		pkt_ge1, pkt_ge20, sk_txhash_after_write;
	__s64 cb_flags_set;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snapshot);
} snapshot SEC(".maps");

SEC("sockops")
int ctx_probe(struct bpf_sock_ops *skops)
{
	__u32 zero = 0;
	struct snapshot *s = bpf_map_lookup_elem(&snapshot, &zero);
	void *data, *data_end;

	if (!s)
		return 1;
	s->op = skops->op;
	s->args[0] = skops->args[0];
	s->args[1] = skops->args[1];
	s->args[2] = skops->args[2];
	s->args[3] = skops->args[3];
	s->family = skops->family;
	s->remote_ip4 = skops->remote_ip4;
	s->local_ip4 = skops->local_ip4;
	s->remote_ip6_0 = skops->remote_ip6[0];
	s->remote_ip6_3 = skops->remote_ip6[3];
	s->local_ip6_0 = skops->local_ip6[0];
	s->local_ip6_3 = skops->local_ip6[3];
	s->remote_port = skops->remote_port;
	s->local_port = skops->local_port;
	s->is_fullsock = skops->is_fullsock;
	s->snd_cwnd = skops->snd_cwnd;
	s->srtt_us = skops->srtt_us;
	s->cb_flags = skops->bpf_sock_ops_cb_flags;
	s->state = skops->state;
	s->rtt_min = skops->rtt_min;
	s->snd_ssthresh = skops->snd_ssthresh;
	s->rcv_nxt = skops->rcv_nxt;
	s->snd_nxt = skops->snd_nxt;
	s->snd_una = skops->snd_una;
	s->mss_cache = skops->mss_cache;
	s->ecn_flags = skops->ecn_flags;
	s->rate_delivered = skops->rate_delivered;
	s->rate_interval_us = skops->rate_interval_us;
	s->packets_out = skops->packets_out;
	s->retrans_out = skops->retrans_out;
	s->total_retrans = skops->total_retrans;
	s->segs_in = skops->segs_in;
	s->data_segs_in = skops->data_segs_in;
	s->segs_out = skops->segs_out;
	s->data_segs_out = skops->data_segs_out;
	s->lost_out = skops->lost_out;
	s->sacked_out = skops->sacked_out;
	s->sk_txhash = skops->sk_txhash;
	s->bytes_received = skops->bytes_received;
	s->bytes_acked = skops->bytes_acked;
	s->skb_len = skops->skb_len;
	s->skb_tcp_flags = skops->skb_tcp_flags;
	/* skb_hwtstamp (offset 216) is newer than some <linux/bpf.h> headers. */
	s->skb_hwtstamp = *(__u64 *)((char *)skops + 216);
	s->sk_nonnull = skops->sk != 0;
	data = (void *)(long)skops->skb_data;
	data_end = (void *)(long)skops->skb_data_end;
	s->pkt_ge1 = data + 1 <= data_end;
	s->pkt_ge20 = data + 20 <= data_end;
	skops->sk_txhash = 0x12345678;
	s->sk_txhash_after_write = skops->sk_txhash;
	s->cb_flags_set = bpf_sock_ops_cb_flags_set(skops, 0xff);
	return 1;
}

char _license[] SEC("license") = "GPL";
