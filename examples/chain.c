// SPDX-License-Identifier: GPL-2.0
// Programs that make the run order of a cgroup's effective programs visible: each appends
// its digit to the decimal `reply` (reply = reply * 10 + digit), so programs that run in the
// order 1, 2, 3 on one shared context leave reply = 123. `deny` writes 99 and returns 0,
// which makes the kernel's caller get -1 whatever the reply.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("sockops/digit1")
int digit1(struct bpf_sock_ops *skops)
{
	skops->reply = skops->reply * 10 + 1;
	return 1;
}

SEC("sockops/digit2")
int digit2(struct bpf_sock_ops *skops)
{
	skops->reply = skops->reply * 10 + 2;
	return 1;
}

SEC("sockops/digit3")
int digit3(struct bpf_sock_ops *skops)
{
	skops->reply = skops->reply * 10 + 3;
	return 1;
}

SEC("sockops/deny")
int deny(struct bpf_sock_ops *skops)
{
	skops->reply = 99;
	return 0;
}

char _license[] SEC("license") = "GPL";
