/* SPDX-License-Identifier: GPL-2.0 */
/* The record the recorder program (recorder.c) writes to its ring buffer for every sock_ops
 * call: the whole context as the kernel built it. Mirrored by `sockops::record::Record`
 * (src/record/wire.rs), which checks RECORD_SIZE. */
#ifndef SOCKOPS_RECORDER_H
#define SOCKOPS_RECORDER_H

#define RECORD_HDR_MAX 60
/* The integer options every record reads with bpf_getsockopt (full sockets, ops 0-15): see
 * RECORD_OPTS in recorder.c and `sockops::record::RECORD_OPTIONS`. */
#define RECORD_OPT_COUNT 12

struct record {
	__u64 cookie;        /* bpf_get_socket_cookie(skops): one connection side */
	__u64 bytes_received;
	__u64 bytes_acked;
	__u32 op;
	__u32 args[4];       /* args[0] is also `reply` */
	__u32 family;
	__u32 remote_ip4;    /* network byte order */
	__u32 local_ip4;     /* network byte order */
	__u32 remote_ip6[4]; /* network byte order */
	__u32 local_ip6[4];  /* network byte order */
	__u32 remote_port;   /* network byte order, as the context holds it */
	__u32 local_port;    /* host byte order */
	__u32 is_fullsock;
	__u32 snd_cwnd;
	__u32 srtt_us;
	__u32 cb_flags;
	__u32 state;
	__u32 rtt_min;
	__u32 snd_ssthresh;
	__u32 rcv_nxt;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 mss_cache;
	__u32 ecn_flags;
	__u32 rate_delivered;
	__u32 rate_interval_us;
	__u32 packets_out;
	__u32 retrans_out;
	__u32 total_retrans;
	__u32 segs_in;
	__u32 data_segs_in;
	__u32 segs_out;
	__u32 data_segs_out;
	__u32 lost_out;
	__u32 sacked_out;
	__u32 sk_txhash;
	__u32 skb_len;
	__u32 skb_tcp_flags;
	__u32 hdr_len;       /* bytes of the segment's header copied into hdr */
	__u8 hdr[RECORD_HDR_MAX];
	__u32 phase;         /* 0: before the other programs of the cgroup, 1: after them */
	__u32 opt_ok;        /* bit k: bpf_getsockopt of RECORD_OPTS[k] succeeded; bit
	                      * RECORD_OPT_COUNT: TCP_CONGESTION did */
	__s32 opts[RECORD_OPT_COUNT]; /* the values read (RECORD_OPTS order) */
	char congestion[16]; /* TCP_CONGESTION */
};

#endif
