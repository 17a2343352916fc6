//! `sockops-ctx`: the sock_ops world — `struct bpf_sock_ops`, its field table, the ops and callback flags, synthetic sockets and the sock_ops helpers.
