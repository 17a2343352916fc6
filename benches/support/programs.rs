//! The benchmark programs: each eBPF program (assembler text) with the context it runs on and
//! its twin written in Rust, plus the helper they call. Per instruction class: an empty
//! program (per-call cost), a 30-compare decision tree (jumps), a 1000-iteration ALU loop,
//! 256 stack stores then 256 loads (memory), a div/mod loop (division), and helper calls:
//! one call (the per-run cost of code with calls) and 100 calls (the per-call cost), each
//! once with `plus_one` registered as a pure helper (helper 1, called directly like rbpf's
//! helpers) and once as an environment helper (helper 2, `_env` cases: what helpers that
//! touch memory, maps or the socket pay); per sock_ops callback: a SYN-RTO program reading
//! op, family, addresses and ports, and one callback-dispatch program run for five ops. No
//! twin is allowed to constant-fold its input: the context and loop bounds go through
//! `black_box`.

use std::hint::black_box;

use sockops::vm::helper::PureHelper;
use sockops::vm::{ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, RetKind};

/// Context size (`struct bpf_sock_ops`).
pub const CTX_LEN: usize = 224;

/// Offsets in `struct bpf_sock_ops` (shared/spec/SOCK_OPS.md §1).
mod off {
    pub const OP: usize = 0;
    pub const ARGS: usize = 4;
    pub const FAMILY: usize = 20;
    pub const REMOTE_IP4: usize = 24;
    pub const LOCAL_IP4: usize = 28;
    pub const REMOTE_PORT: usize = 64;
    pub const LOCAL_PORT: usize = 68;
    pub const RTT_MIN: usize = 92;
    pub const MSS_CACHE: usize = 112;
    pub const SK_TXHASH: usize = 164;
}

/// `BPF_SOCK_OPS_*` values (SOCK_OPS.md §4.1).
mod op {
    pub const TIMEOUT_INIT: u32 = 1;
    pub const RWND_INIT: u32 = 2;
    pub const NEEDS_ECN: u32 = 6;
    pub const STATE_CB: u32 = 10;
    pub const RTT_CB: u32 = 12;
}

/// One benchmark program with its context and its native Rust twin.
pub struct Case {
    /// Name in the table and the criterion group.
    pub name: &'static str,
    /// Instruction class or sock_ops callback it stands for.
    pub class: &'static str,
    /// The eBPF program (assembler text).
    pub text: String,
    /// The context it runs on.
    pub ctx: fn() -> Vec<u8>,
    /// The same logic in Rust; gets the context, returns r0.
    pub native: fn(&mut [u8]) -> u64,
}

fn put(c: &mut [u8], at: usize, value: u32) {
    c[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn get(c: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&c[at..at + 4]);
    u32::from_le_bytes(word)
}

/// An IPv4 connection 10.0.0.1:1029 -> 10.0.0.7:80 in op `op`.
fn sock_ops_ctx(op: u32) -> Vec<u8> {
    let mut c = vec![0u8; CTX_LEN];
    put(&mut c, off::OP, op);
    put(&mut c, off::FAMILY, 2); // AF_INET
    c[off::REMOTE_IP4..off::REMOTE_IP4 + 4].copy_from_slice(&[10, 0, 0, 7]);
    c[off::LOCAL_IP4..off::LOCAL_IP4 + 4].copy_from_slice(&[10, 0, 0, 1]);
    // remote_port: the be16 port in the high half of the u32.
    put(&mut c, off::REMOTE_PORT, u32::from(80u16.to_be()) << 16);
    put(&mut c, off::LOCAL_PORT, 1029);
    put(&mut c, off::MSS_CACHE, 1448);
    put(&mut c, off::RTT_MIN, 200);
    c
}

fn timeout_init_ctx() -> Vec<u8> {
    sock_ops_ctx(op::TIMEOUT_INIT)
}

const SYN_RTO: &str = "
ldxw %r2, [%r1+0]
jne %r2, 1, fail
ldxw %r3, [%r1+20]
jne %r3, 2, fail
ldxw %r4, [%r1+24]
ldxw %r5, [%r1+28]
ldxw %r6, [%r1+64]
ldxw %r7, [%r1+68]
and %r4, 0xffffff
jne %r4, 10, fail
and %r5, 0xffffff
jne %r5, 10, fail
rsh %r6, 16
be16 %r6
jeq %r6, 80, fast
jeq %r7, 22, fast
mov %r0, 50
exit
fast:
mov %r0, 10
exit
fail:
mov %r0, -1
exit
";

#[inline(never)]
fn syn_rto_native(c: &mut [u8]) -> u64 {
    if get(c, off::OP) != op::TIMEOUT_INIT || get(c, off::FAMILY) != 2 {
        return u64::MAX;
    }
    let (rip, lip) = (get(c, off::REMOTE_IP4), get(c, off::LOCAL_IP4));
    let (rport, lport) = (get(c, off::REMOTE_PORT), get(c, off::LOCAL_PORT));
    if rip & 0x00ff_ffff != 0x0000_000a || lip & 0x00ff_ffff != 0x0000_000a {
        return u64::MAX;
    }
    if u16::from_be((rport >> 16) as u16) == 80 || lport == 22 {
        10
    } else {
        50
    }
}

/// The callback-dispatch program: what a tuning program does per op. TIMEOUT_INIT: a short
/// SYN RTO inside 10/8; RWND_INIT: a 64 KiB window in segments (a division by mss_cache);
/// NEEDS_ECN: ECN for local port 443; RTT_CB: rehash the flow (write sk_txhash) when the
/// sample is over twice the minimum; STATE_CB: count closes (new state TCP_CLOSE = 7).
const CALLBACKS: &str = "
ldxw %r2, [%r1+0]
jeq %r2, 1, timeout
jeq %r2, 2, rwnd
jeq %r2, 6, ecn
jeq %r2, 12, rtt
jeq %r2, 10, state
mov %r0, 1
exit
timeout:
ldxb %r3, [%r1+24]
mov %r0, 250
jne %r3, 10, reply
mov %r0, 50
ja reply
rwnd:
ldxw %r3, [%r1+112]
mov %r0, 65535
div %r0, %r3
ja reply
ecn:
ldxw %r3, [%r1+68]
mov %r0, 0
jne %r3, 443, reply
mov %r0, 1
ja reply
rtt:
ldxw %r3, [%r1+4]
ldxw %r4, [%r1+92]
lsh %r4, 1
jle %r3, %r4, done
ldxw %r5, [%r1+8]
xor %r5, %r3
stxw [%r1+164], %r5
ja done
state:
ldxw %r3, [%r1+8]
jne %r3, 7, done
ldxw %r4, [%r1+4]
add %r4, 1
stxw [%r1+4], %r4
ja done
reply:
stxw [%r1+4], %r0
done:
mov %r0, 1
exit
";

#[inline(never)]
fn callbacks_native(c: &mut [u8]) -> u64 {
    let reply = match get(c, off::OP) {
        op::TIMEOUT_INIT => Some(if c[off::REMOTE_IP4] == 10 { 50 } else { 250 }),
        op::RWND_INIT => Some(65535u32.checked_div(get(c, off::MSS_CACHE)).unwrap_or(0)),
        op::NEEDS_ECN => Some(u32::from(get(c, off::LOCAL_PORT) == 443)),
        op::RTT_CB => {
            let sample = get(c, off::ARGS);
            if u64::from(sample) > u64::from(get(c, off::RTT_MIN)) << 1 {
                let hash = get(c, off::ARGS + 4) ^ sample;
                put(c, off::SK_TXHASH, hash);
            }
            None
        }
        op::STATE_CB => {
            if get(c, off::ARGS + 4) == 7 {
                let count = get(c, off::ARGS).wrapping_add(1);
                put(c, off::ARGS, count);
            }
            None
        }
        _ => None,
    };
    if let Some(reply) = reply {
        put(c, off::ARGS, reply);
    }
    1
}

fn rwnd_init_ctx() -> Vec<u8> {
    sock_ops_ctx(op::RWND_INIT)
}

fn needs_ecn_ctx() -> Vec<u8> {
    sock_ops_ctx(op::NEEDS_ECN)
}

fn rtt_cb_ctx() -> Vec<u8> {
    let mut c = sock_ops_ctx(op::RTT_CB);
    put(&mut c, off::ARGS, 450); // measured RTT, over twice rtt_min
    put(&mut c, off::ARGS + 4, 2648); // new srtt
    c
}

fn state_cb_ctx() -> Vec<u8> {
    let mut c = sock_ops_ctx(op::STATE_CB);
    put(&mut c, off::ARGS, 1); // old state ESTABLISHED
    put(&mut c, off::ARGS + 4, 7); // new state CLOSE
    c
}

fn tree_text() -> String {
    let mut t = String::from("ldxw %r2, [%r1+68]\n");
    for i in 0..30 {
        t.push_str(&format!("jeq %r2, {}, +1\n", 1000 + i));
        t.push_str("ja +2\n");
        t.push_str(&format!("mov %r0, {i}\nexit\n"));
    }
    t.push_str("mov %r0, 99\nexit\n");
    t
}

#[inline(never)]
fn tree_native(c: &mut [u8]) -> u64 {
    let port = get(c, off::LOCAL_PORT);
    match port {
        1000..=1029 => u64::from(port - 1000),
        _ => 99,
    }
}

const ALU_LOOP: &str = "
mov %r0, 0
mov %r1, 1000
loop:
add %r0, %r1
xor %r0, 0x55
lsh %r0, 1
rsh %r0, 1
sub %r1, 1
jne %r1, 0, loop
exit
";

#[inline(never)]
fn alu_native(_: &mut [u8]) -> u64 {
    let mut r0: u64 = 0;
    let mut r1: u64 = black_box(1000);
    while r1 != 0 {
        r0 = r0.wrapping_add(r1);
        r0 ^= 0x55;
        r0 = (r0 << 1) >> 1;
        r1 -= 1;
    }
    r0
}

fn stack_text() -> String {
    let mut t = String::from("mov %r2, 1\n");
    for i in 1..=256 {
        t.push_str(&format!("stxb [%r10-{i}], %r2\nadd %r2, 3\n"));
    }
    t.push_str("mov %r0, 0\n");
    for i in 1..=256 {
        t.push_str(&format!("ldxb %r3, [%r10-{i}]\nadd %r0, %r3\n"));
    }
    t.push_str("exit\n");
    t
}

#[inline(never)]
fn stack_native(_: &mut [u8]) -> u64 {
    let mut stack = [0u8; 256];
    let mut r2: u64 = black_box(1);
    for b in stack.iter_mut() {
        *b = r2 as u8;
        r2 += 3;
    }
    let stack = black_box(stack);
    stack.iter().map(|&b| u64::from(b)).sum()
}

/// 100 calls of helper `id`, each on the previous result.
fn helpers_text(id: u32) -> String {
    let mut t = String::from("mov %r1, 0\n");
    for _ in 0..100 {
        t.push_str(&format!("call {id}\nmov %r1, %r0\n"));
    }
    t.push_str("exit\n");
    t
}

/// The helper body every engine calls (helper ids 1 and 2).
#[inline(never)]
pub fn plus_one(a: u64) -> u64 {
    a.wrapping_add(1)
}

#[inline(never)]
fn helper1_native(_: &mut [u8]) -> u64 {
    plus_one(black_box(41))
}

#[inline(never)]
fn helpers_native(_: &mut [u8]) -> u64 {
    let mut r1 = black_box(0);
    for _ in 0..100 {
        r1 = black_box(plus_one(r1));
    }
    r1
}

const DIV_LOOP: &str = "
mov %r0, 0
mov %r6, 1000
loop:
lddw %r2, 0xfedcba9876543210
div %r2, %r6
mov %r3, %r2
mod %r3, 7
add %r0, %r3
sub %r6, 1
jne %r6, 0, loop
exit
";

#[inline(never)]
fn div_native(_: &mut [u8]) -> u64 {
    let mut r0: u64 = 0;
    let mut r6: u64 = black_box(1000);
    while r6 != 0 {
        let r2 = black_box(0xfedc_ba98_7654_3210u64) / r6;
        r0 = r0.wrapping_add(r2 % 7);
        r6 -= 1;
    }
    r0
}

#[inline(never)]
fn empty_native(_: &mut [u8]) -> u64 {
    0
}

/// Every benchmark program.
pub fn cases() -> Vec<Case> {
    let callback = |name, ctx| Case {
        name,
        class: "sock_ops callback",
        text: CALLBACKS.into(),
        ctx,
        native: callbacks_native,
    };
    vec![
        Case {
            name: "empty",
            class: "per-call cost",
            text: "mov %r0, 0\nexit".into(),
            ctx: timeout_init_ctx,
            native: empty_native,
        },
        Case {
            name: "syn_rto",
            class: "sock_ops callback",
            text: SYN_RTO.into(),
            ctx: timeout_init_ctx,
            native: syn_rto_native,
        },
        callback("cb_timeout_init", timeout_init_ctx),
        callback("cb_rwnd_init", rwnd_init_ctx),
        callback("cb_needs_ecn", needs_ecn_ctx),
        callback("cb_rtt", rtt_cb_ctx),
        callback("cb_state", state_cb_ctx),
        Case {
            name: "tree30",
            class: "jumps",
            text: tree_text(),
            ctx: timeout_init_ctx,
            native: tree_native,
        },
        Case {
            name: "alu_loop1000",
            class: "alu",
            text: ALU_LOOP.into(),
            ctx: timeout_init_ctx,
            native: alu_native,
        },
        Case {
            name: "stack256",
            class: "memory",
            text: stack_text(),
            ctx: timeout_init_ctx,
            native: stack_native,
        },
        Case {
            name: "helper1",
            class: "pure call",
            text: format!("mov %r1, 41\ncall {PURE_PLUS_ONE}\nexit"),
            ctx: timeout_init_ctx,
            native: helper1_native,
        },
        Case {
            name: "helper1_env",
            class: "env call",
            text: format!("mov %r1, 41\ncall {ENV_PLUS_ONE}\nexit"),
            ctx: timeout_init_ctx,
            native: helper1_native,
        },
        Case {
            name: "helpers100",
            class: "pure calls",
            text: helpers_text(PURE_PLUS_ONE),
            ctx: timeout_init_ctx,
            native: helpers_native,
        },
        Case {
            name: "helpers100_env",
            class: "env calls",
            text: helpers_text(ENV_PLUS_ONE),
            ctx: timeout_init_ctx,
            native: helpers_native,
        },
        Case {
            name: "divmod_loop1000",
            class: "division",
            text: DIV_LOOP.into(),
            ctx: timeout_init_ctx,
            native: div_native,
        },
    ]
}

/// A 100-instruction program for compile-time measurements: a mix of ALU, loads, jumps,
/// multiplications and stack stores.
pub fn compile_text() -> String {
    (0..99)
        .map(|i| match i % 5 {
            0 => format!("add %r{}, {i}\n", i % 9 + 1),
            1 => format!("ldxw %r0, [%r1+{}]\n", (i % 50) * 4),
            2 => format!("jgt %r{}, {i}, +1\n", i % 9 + 1),
            3 => format!("mul %r{}, %r0\n", i % 9 + 1),
            _ => format!("stxdw [%r10-{}], %r2\n", (i % 60) * 8 + 8),
        })
        .chain(std::iter::once("exit\n".to_string()))
        .collect()
}

/// Helper id of `plus_one` as a pure helper.
pub const PURE_PLUS_ONE: u32 = 1;
/// Helper id of `plus_one` as an environment helper.
pub const ENV_PLUS_ONE: u32 = 2;

/// The signature of `plus_one` under either id.
const PLUS_ONE_SIGNATURE: HelperSignature = HelperSignature {
    name: "plus_one",
    args: &[ArgKind::Anything],
    ret: RetKind::Integer,
    gpl_only: false,
};

/// `plus_one` as a pure helper.
struct PurePlusOne;

impl PureHelper for PurePlusOne {
    const ID: u32 = PURE_PLUS_ONE;
    const SIGNATURE: HelperSignature = PLUS_ONE_SIGNATURE;
    fn call(r1: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
        plus_one(r1)
    }
}

/// `plus_one` as an environment helper.
fn helper_plus_one(_: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(plus_one(a[0]))
}

/// `plus_one` as rbpf calls helpers (registered under both ids).
pub fn rbpf_plus_one(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    plus_one(a)
}

/// The helper table of the sockops engines: `plus_one` as pure helper 1 and as environment
/// helper 2.
pub fn helpers() -> HelperTable {
    let mut t = HelperTable::new();
    t.register_pure::<PurePlusOne>();
    t.register(Helper {
        id: ENV_PLUS_ONE,
        signature: PLUS_ONE_SIGNATURE,
        func: helper_plus_one,
    });
    t
}
