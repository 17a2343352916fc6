//! `sockops-verifier`: judges `BPF_PROG_TYPE_SOCK_OPS` programs by the Linux kernel's rules.
