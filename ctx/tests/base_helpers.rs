//! The base helpers: current task ids (kernel/bpf/helpers.c: `tgid << 32 | pid`,
//! `gid << 32 | uid`), bpf_jiffies64 (`get_jiffies_64()`, starting at INITIAL_JIFFIES =
//! `(u32)(-300 * HZ)`), bpf_strtol / bpf_strtoul (`__bpf_strtoull`, lib/kstrtox.c
//! `_parse_integer_fixup_radix` / `_parse_integer`), bpf_strncmp (lib/string.c), and that
//! every helper of the crate carries the kernel's name and GPL flag.

mod support;

use sockops_ctx::helper_ids::{helper_id, helper_name};
use sockops_ctx::helpers::{all_sock_ops_helpers, id};
use sockops_ctx::{CurrentTask, SockOp, sock_ops_helper_table};
use support::{Run, socket};

const EINVAL: i64 = -22;
const ERANGE: i64 = -34;

#[test]
fn every_helper_has_the_kernel_name_and_license_flag_and_is_callable() {
    let table = sock_ops_helper_table();
    let mut n = 0;
    for h in all_sock_ops_helpers() {
        let kernel = helper_id(h.id).unwrap();
        assert_eq!(h.signature.name, helper_name(h.id), "id {}", h.id);
        assert_eq!(
            h.signature.gpl_only, kernel.gpl_only,
            "{}",
            h.signature.name
        );
        assert!(kernel.sock_ops_callable, "{}", h.signature.name);
        assert!(table.get(h.id).is_some());
        n += 1;
    }
    for want in [
        14, 15, 53, 70, 80, 96, 105, 106, 118, 130, 131, 132, 133, 134, 182,
    ] {
        assert!(table.get(want).is_some(), "helper {want} registered");
    }
    assert!(n >= 34);
}

#[test]
fn current_task_ids() {
    let mut r = Run::new(socket(), SockOp::TcpConnectCb, vec![]);
    // Default: the idle task in the root cgroup.
    assert_eq!(r.call(id::GET_CURRENT_PID_TGID, [0; 5]), 0);
    assert_eq!(r.call(id::GET_CURRENT_UID_GID, [0; 5]), 0);
    assert_eq!(r.call(id::GET_CURRENT_CGROUP_ID, [0; 5]), 1);
    r.env.task = CurrentTask {
        pid: 4242,
        tgid: 4200,
        uid: 1000,
        gid: 100,
        cgroup_id: 77,
        comm: CurrentTask::comm_of("curl"),
    };
    assert_eq!(
        r.call(id::GET_CURRENT_PID_TGID, [0; 5]),
        (4200 << 32) | 4242
    );
    assert_eq!(r.call(id::GET_CURRENT_UID_GID, [0; 5]), (100 << 32) | 1000);
    assert_eq!(r.call(id::GET_CURRENT_CGROUP_ID, [0; 5]), 77);
}

/// `bpf_get_current_comm` pads with NULs to the size and cuts the name to `size - 1`
/// bytes (`strscpy_pad`); a buffer the run does not have is a fault, checked before any
/// allocation (an unverified program may name a size of 2 GB).
#[test]
fn current_comm_is_copied_padded_and_cut() {
    let mut r = Run::new(socket(), SockOp::TcpConnectCb, vec![]);
    r.env.task.comm = CurrentTask::comm_of("nginx");
    r.put(0, &[0xff; 16]);
    assert_eq!(
        r.call(id::GET_CURRENT_COMM, [r.stack_addr(0), 16, 0, 0, 0]),
        0
    );
    assert_eq!(r.get(0, 16), b"nginx\0\0\0\0\0\0\0\0\0\0\0");
    r.put(0, &[0xff; 16]);
    assert_eq!(
        r.call(id::GET_CURRENT_COMM, [r.stack_addr(0), 3, 0, 0, 0]),
        0
    );
    assert_eq!(r.get(0, 4), b"ng\0\xff");
    let huge = r.try_call(
        id::GET_CURRENT_COMM,
        [r.stack_addr(0), 0x7fff_ffff, 0, 0, 0],
    );
    assert!(huge.is_err(), "{huge:?}");
    let zero = r.try_call(id::GET_CURRENT_COMM, [r.stack_addr(0), 0, 0, 0, 0]);
    assert!(zero.is_err(), "{zero:?}");
}

#[test]
fn jiffies64_from_the_clock_and_hz() {
    let mut r = Run::new(socket(), SockOp::TcpConnectCb, vec![]);
    // HZ 250: INITIAL_JIFFIES = 2^32 - 75000; 1 s of CLOCK_MONOTONIC is 250 jiffies.
    r.env.clock.monotonic_ns = 1_000_000_000;
    assert_eq!(r.call(id::JIFFIES64, [0; 5]), (1i64 << 32) - 75_000 + 250);
    // Reading jiffies does not move the clock; 3.999 ms is still the same jiffy, 4 ms the next.
    assert_eq!(r.env.clock.monotonic_ns, 1_000_000_000);
    r.env.clock.monotonic_ns = 1_003_999_999;
    assert_eq!(r.call(id::JIFFIES64, [0; 5]), (1i64 << 32) - 75_000 + 250);
    r.env.clock.monotonic_ns = 1_004_000_000;
    assert_eq!(r.call(id::JIFFIES64, [0; 5]), (1i64 << 32) - 75_000 + 251);
    // HZ 1000 at boot: 2^32 - 300000.
    r.env.socket.sysctl.hz = 1000;
    r.env.clock.monotonic_ns = 0;
    assert_eq!(r.call(id::JIFFIES64, [0; 5]), (1i64 << 32) - 300_000);
}

/// Calls bpf_strtol / bpf_strtoul on `s` with `flags`: (r0, *res). `*res` is pre-filled with
/// 0xff bytes to see that it is always written.
fn strtox(helper: u32, s: &[u8], flags: u64) -> (i64, u64) {
    let mut r = Run::new(socket(), SockOp::TcpConnectCb, vec![]);
    r.put(0, s);
    r.put(128, &[0xff; 8]);
    let (buf, res) = (r.stack_addr(0), r.stack_addr(128));
    let ret = r.call(helper, [buf, s.len() as u64, flags, res, 0]);
    let out = u64::from_ne_bytes(r.get(128, 8).try_into().unwrap());
    (ret, out)
}

fn strtol(s: &str, flags: u64) -> (i64, i64) {
    let (r, v) = strtox(id::STRTOL, s.as_bytes(), flags);
    (r, v as i64)
}

fn strtoul(s: &str, flags: u64) -> (i64, u64) {
    strtox(id::STRTOUL, s.as_bytes(), flags)
}

#[test]
fn strtol_bases_and_prefixes() {
    assert_eq!(strtol("123", 10), (3, 123));
    assert_eq!(strtol("123abc", 0), (3, 123));
    assert_eq!(strtol("-42", 10), (3, -42));
    // Leading whitespace counts as consumed.
    assert_eq!(strtol("  \t7", 10), (4, 7));
    // Base 0: "0x" + hex digit is hex, a leading 0 is octal, else decimal.
    assert_eq!(strtol("0x1f", 0), (4, 31));
    assert_eq!(strtol("  -0x1F", 0), (7, -31));
    assert_eq!(strtol("077", 0), (3, 63));
    assert_eq!(strtol("089", 0), (1, 0), "octal stops at 8");
    assert_eq!(strtol("0x", 0), (1, 0), "no hex digit after 0x: octal 0");
    assert_eq!(strtol("0xg", 0), (1, 0));
    // Base 16 skips an optional 0x; "0x" alone has no digits.
    assert_eq!(strtol("0x10", 16), (4, 16));
    assert_eq!(strtol("ff", 16), (2, 255));
    assert_eq!(strtol("0x", 16), (EINVAL, 0));
    assert_eq!(strtol("777", 8), (3, 511));
    assert_eq!(strtol("8", 8), (EINVAL, 0));
}

#[test]
fn strtol_errors() {
    assert_eq!(strtol("abc", 10), (EINVAL, 0));
    assert_eq!(strtol("   ", 10), (EINVAL, 0));
    assert_eq!(strtol("-", 10), (EINVAL, 0));
    assert_eq!(strtol("1", 2), (EINVAL, 0), "base 2 is not allowed");
    assert_eq!(
        strtol("1", 10 | 0x20),
        (EINVAL, 0),
        "bits above the base mask"
    );
    // LONG_MAX and LONG_MIN fit, one past does not.
    assert_eq!(strtol("9223372036854775807", 10), (19, i64::MAX));
    assert_eq!(strtol("-9223372036854775808", 10), (20, i64::MIN));
    assert_eq!(strtol("9223372036854775808", 10), (ERANGE, 0));
    assert_eq!(strtol("-9223372036854775809", 10), (ERANGE, 0));
    assert_eq!(strtol("18446744073709551616", 10), (ERANGE, 0));
}

#[test]
fn strtoul_cases() {
    assert_eq!(strtoul("18446744073709551615", 10), (20, u64::MAX));
    assert_eq!(strtoul("18446744073709551616", 10), (ERANGE, 0));
    assert_eq!(strtoul("0xffffffffffffffff", 0), (18, u64::MAX));
    assert_eq!(strtoul("-1", 10), (EINVAL, 0));
    assert_eq!(strtoul("42\0", 10), (2, 42));
}

#[test]
fn strtox_kernel_quirks() {
    // Only the first 63 characters after the sign are parsed.
    let mut long = "0".repeat(64);
    long.push('1');
    assert_eq!(strtol(&long, 10), (63, 0));
    // Latin-1 NBSP (0xa0) is whitespace for the kernel's isspace.
    assert_eq!(strtox(id::STRTOL, b"\xa05", 10), (2, 5));
    // The buffer need not be NUL-terminated; parsing stops at its size.
    let mut r = Run::new(socket(), SockOp::TcpConnectCb, vec![]);
    r.put(0, b"12345");
    let (buf, res) = (r.stack_addr(0), r.stack_addr(128));
    assert_eq!(r.call(id::STRTOL, [buf, 3, 10, res, 0]), 3);
    assert_eq!(r.get(128, 8), 123u64.to_ne_bytes());
    // *res must be writable 8 bytes: a read-only destination ends the program.
    let ro = r.rodata_addr(0);
    assert!(r.try_call(id::STRTOL, [buf, 3, 10, ro, 0]).is_err());
}

/// bpf_strncmp(s1 on the stack, s1_sz, s2 in the read-only buffer).
fn strncmp(s1: &[u8], s1_sz: usize, s2: &[u8]) -> i64 {
    let mut r = Run::new(socket(), SockOp::TcpConnectCb, vec![]);
    r.put(0, s1);
    r.rodata[..s2.len()].copy_from_slice(s2);
    let (a, b) = (r.stack_addr(0), r.rodata_addr(0));
    r.call(id::STRNCMP, [a, s1_sz as u64, b, 0, 0])
}

#[test]
fn strncmp_cases() {
    assert_eq!(strncmp(b"abc", 3, b"abd\0"), -1);
    assert_eq!(strncmp(b"abd", 3, b"abc\0"), 1);
    assert_eq!(strncmp(b"abc", 3, b"abc\0"), 0);
    assert_eq!(strncmp(b"abc", 2, b"abx\0"), 0, "only s1_sz bytes compared");
    assert_eq!(strncmp(b"ab\0x", 4, b"ab\0"), 0, "both end at the NUL");
    assert_eq!(strncmp(b"a", 1, b"\0"), 1);
    assert_eq!(strncmp(b"\0", 1, b"a\0"), -1);
    assert_eq!(strncmp(b"\xff", 1, b"a\0"), 1, "bytes compare unsigned");
    assert_eq!(strncmp(b"abc", 4, b"abc\0"), 0, "s1's stack byte 3 is 0");
}
