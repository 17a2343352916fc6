// A sock_ops program whose context struct is declared with preserve_access_index, as
// vmlinux.h declares every type: clang writes a CO-RE relocation (.BTF.ext) for each
// access. The loader reports them (Object::core_relocations) and does not apply them;
// tests/tests/elf_core_relocs.rs checks what it reads. Rebuild with ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_sock_ops___core {
	__u32 op;
	__u32 reply;
} __attribute__((preserve_access_index));

SEC("sockops")
int core_timeout(struct bpf_sock_ops *skops)
{
	struct bpf_sock_ops___core *s = (void *)skops;

	if (s->op == BPF_SOCK_OPS_TIMEOUT_INIT)
		s->reply = 5;
	return 1;
}

char _license[] SEC("license") = "GPL";
