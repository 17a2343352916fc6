//! Linux errno values the sock_ops helpers return (negated), and their names for messages.
//! Only the codes SOCK_OPS.md lists are here.

/// Operation not permitted.
pub const EPERM: i32 = 1;
/// No such file or directory (unknown congestion control, nothing saved).
pub const ENOENT: i32 = 2;
/// Bad address (malformed TCP header in header-option search).
pub const EFAULT: i32 = 14;
/// Device or resource busy.
pub const EBUSY: i32 = 16;
/// File exists (duplicate header option).
pub const EEXIST: i32 = 17;
/// No such device (SO_BINDTODEVICE to an unknown name).
pub const ENODEV: i32 = 19;
/// Invalid argument.
pub const EINVAL: i32 = 22;
/// Argument list too long (perf event index past the map).
pub const E2BIG: i32 = 7;
/// No space left (option buffer too small / no reserved room).
pub const ENOSPC: i32 = 28;
/// No message of desired type (header option not found).
pub const ENOMSG: i32 = 42;
/// Protocol not available (set of TCP_SAVED_SYN).
pub const ENOPROTOOPT: i32 = 92;
/// Try again (ring buffer full in `bpf_ringbuf_output`).
pub const EAGAIN: i32 = 11;
/// Result out of range (`bpf_strtol` / `bpf_strtoul` overflow).
pub const ERANGE: i32 = 34;
/// Operation not supported (TSTAMP ops).
pub const EOPNOTSUPP: i32 = 95;
/// Kernel-internal "operation not supported" (TCP_CONGESTION "cdg").
pub const ENOTSUPP: i32 = 524;

/// The kernel name of errno `code` (positive), for messages.
pub fn errno_name(code: i32) -> &'static str {
    match code {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        E2BIG => "E2BIG",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENOSPC => "ENOSPC",
        ENOMSG => "ENOMSG",
        EAGAIN => "EAGAIN",
        ERANGE => "ERANGE",
        ENOPROTOOPT => "ENOPROTOOPT",
        EOPNOTSUPP => "EOPNOTSUPP",
        ENOTSUPP => "ENOTSUPP",
        _ => "E?",
    }
}
