// SPDX-License-Identifier: GPL-2.0
// Congestion window and RTO knobs: TCP_BPF_IW (initial window) at connect and again once
// established (the kernel refuses it once data was sent), TCP_BPF_SNDCWND_CLAMP (which also
// sets ssthresh) and TCP_BPF_RTO_MIN (kept in jiffies, so it reads back rounded) once
// established. `results`: 0 = last TCP_BPF_IW return code, 1 = TCP_BPF_SNDCWND_CLAMP's,
// 2 = TCP_BPF_RTO_MIN's, 3 = TCP_BPF_RTO_MIN read back with bpf_getsockopt (µs).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SOL_TCP 6
#define TCP_BPF_IW 1001
#define TCP_BPF_SNDCWND_CLAMP 1002
#define TCP_BPF_RTO_MIN 1004

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __attribute__((noinline)) void record(__u32 slot, __s64 value)
{
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

SEC("sockops")
int cwnd_tuning(struct bpf_sock_ops *skops)
{
	int iw, clamp, rto_min, readback = 0;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		iw = 40;
		record(0, bpf_setsockopt(skops, SOL_TCP, TCP_BPF_IW, &iw, sizeof(iw)));
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		iw = 20;
		record(0, bpf_setsockopt(skops, SOL_TCP, TCP_BPF_IW, &iw, sizeof(iw)));
		clamp = 100;
		record(1, bpf_setsockopt(skops, SOL_TCP, TCP_BPF_SNDCWND_CLAMP, &clamp, sizeof(clamp)));
		rto_min = 50000;
		record(2, bpf_setsockopt(skops, SOL_TCP, TCP_BPF_RTO_MIN, &rto_min, sizeof(rto_min)));
		if (bpf_getsockopt(skops, SOL_TCP, TCP_BPF_RTO_MIN, &readback, sizeof(readback)) == 0)
			record(3, readback);
		break;
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
