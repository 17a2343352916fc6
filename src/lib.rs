//! `sockops`: a userspace runtime for eBPF `BPF_PROG_TYPE_SOCK_OPS` programs. This facade
//! re-exports the member crates; the runtime (attach tree, decisions, scenarios) lives here.

pub use sockops_ctx as ctx;
pub use sockops_jit as jit;
pub use sockops_verifier as verifier;
pub use sockops_vm as vm;

pub mod cgroup;
pub mod kernel;
#[cfg(feature = "net")]
pub mod net;
pub mod record;
pub mod runtime;
pub mod scenario;
