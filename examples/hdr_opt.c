// SPDX-License-Identifier: GPL-2.0
// A TCP header option of our own (experimental kind 254, magic 0xeb9f, one byte of data):
// once a connection is set up the program asks for the header-option callbacks, reserves
// 5 bytes in HDR_OPT_LEN_CB (the kernel rounds the space up to 8), writes the option in
// WRITE_HDR_OPT_CB (the unused 3 bytes become NOPs), and in PARSE_HDR_OPT_CB looks for the
// peer's option. `results`: 0 = last bpf_reserve_hdr_opt return, 1 = last
// bpf_store_hdr_opt return, 2 = last bpf_load_hdr_opt return, 3 = data byte found.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG
#define BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG (1 << 4)
#define BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG (1 << 6)
#define BPF_SOCK_OPS_PARSE_HDR_OPT_CB 13
#define BPF_SOCK_OPS_HDR_OPT_LEN_CB 14
#define BPF_SOCK_OPS_WRITE_HDR_OPT_CB 15
#endif

#define OPT_KIND 254
#define OPT_LEN 5

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
int hdr_opt(struct bpf_sock_ops *skops)
{
	__u8 opt[OPT_LEN] = { OPT_KIND, OPT_LEN, 0xeb, 0x9f, 0x2a };
	__u8 found[8] = { OPT_KIND, 4, 0xeb, 0x9f };
	long rv;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG |
						 BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		record(0, bpf_reserve_hdr_opt(skops, OPT_LEN, 0));
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		record(1, bpf_store_hdr_opt(skops, opt, sizeof(opt), 0));
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		rv = bpf_load_hdr_opt(skops, found, sizeof(found), 0);
		record(2, rv);
		if (rv > 0)
			record(3, found[4]);
		break;
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
