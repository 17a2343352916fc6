//! `sockops-ctx`: the sock_ops world — `struct bpf_sock_ops`, its field table, the ops and callback flags, synthetic sockets and the sock_ops helpers.
//!
//! Modules, one job each:
//! - `layout`: the `#[repr(C)]` context structs with compile-time offset checks;
//! - `field_table`: per-field access rules and `check_access` (the verifier's ctx rules);
//! - `ops`: `BPF_SOCK_OPS_*`, callback flags, TCP states;
//! - `sysctl`: kernel settings that bound options, HZ and jiffies;
//! - `socket`: the synthetic `Socket`;
//! - `optnames`: option levels/names and their kernel constant names;
//! - `sockopt`: bpf_setsockopt / bpf_getsockopt semantics;
//! - `context`: building the 224-byte context for an op and applying write-backs;
//! - `hdr_opt`: TCP header options for ops 13-15;
//! - `sk_storage`: per-socket values of sk_storage maps;
//! - `printk`: bpf_trace_printk formatting;
//! - `helper_ids`: kernel helper ids/names and which ones sock_ops may call;
//! - `env`: `SockOpsEnv`, the helper payload (socket, context, call log, clock, PRNG);
//! - `helpers`: the helper implementations and their registration;
//! - `socket_helpers`: bpf_sock_map_update, bpf_sock_hash_update, bpf_tcp_sock;
//! - `base_helpers`: current task ids, jiffies64, strtol/strtoul/strncmp, ring buffer;
//! - `dynptr`: the dynptr helpers (`bpf_dynptr_from_mem`, ring buffer dynptrs, read, write,
//!   data) and the kernel's 16-byte `struct bpf_dynptr_kern`;
//! - `tcp_sock`: `struct bpf_tcp_sock` and its field table;
//! - `strtox`: the kernel's string-to-integer and strncmp arithmetic;
//! - `ringbuf`: ring buffer records of a run; `task`: the current task's identity;
//! - `vmlinux`: kernel BTF facts recorded from a live kernel (re-exported from `sockops-vm`,
//!   whose maps also need them);
//! - `kernel_tcp_sock`: the `struct tcp_sock` image `bpf_skc_to_tcp_sock` returns.

pub mod base_helpers;
pub mod context;
pub mod dynptr;
pub mod env;
pub mod errno;
pub mod field_table;
mod guest_buf;
pub mod hdr_opt;
pub mod helper_ids;
pub mod helpers;
pub mod kernel_tcp_sock;
pub mod layout;
pub mod ops;
pub mod optnames;
pub mod printk;
pub mod ringbuf;
pub mod sk_storage;
pub mod socket;
pub mod socket_helpers;
pub mod sockopt;
pub mod strtox;
pub mod sysctl;
pub mod task;
pub mod tcp_sock;
/// Kernel BTF facts recorded from a live kernel (`struct tcp_sock`, `struct bpf_map` and the
/// map structs around it); they live in `sockops-vm`, whose map images need them too.
pub use sockops_vm::vmlinux;

pub use context::{OpContext, OpInput, Segment, WriteBack};
pub use env::{Clock, HelperCall, PerfRecord, Prng, SockOpsEnv};
pub use field_table::{
    AccessKind, CtxAccess, CtxAccessError, CtxField, Guard, LoadYields, check_access,
    check_sock_access,
};
pub use helper_ids::{HelperRefusal, check_helper};
pub use helpers::{register_sock_ops_helpers, sock_ops_helper_table};
pub use layout::{BpfSock, BpfSockOps};
pub use ops::{SockOp, TcpState};
pub use ringbuf::RingbufRecord;
pub use socket::{Family, SavedSyn, Socket, SocketKind, TcpMetrics};
pub use sysctl::Sysctls;
pub use task::CurrentTask;
pub use tcp_sock::{BpfTcpSock, TcpSockAccessError, check_tcp_sock_access};
