//! `SockOpsEnv`, the helper payload of one op invocation: the socket, the op's context
//! memory, and the run's observable side channels (helper call log, trace_printk output,
//! perf records) plus the injectable clock and the seeded PRNG that make runs reproducible.

use sockops_vm::Memory;

use crate::context::{OpContext, OpInput, WriteBack};
use crate::socket::Socket;

/// The injectable clock behind `bpf_ktime_get_*_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// CLOCK_MONOTONIC now, ns.
    pub monotonic_ns: u64,
    /// CLOCK_BOOTTIME - CLOCK_MONOTONIC (time spent suspended), ns.
    pub boot_offset_ns: u64,
    /// CLOCK_TAI - CLOCK_MONOTONIC, ns.
    pub tai_offset_ns: u64,
    /// How far each read advances the clock, ns (0: time stands still within a run).
    pub step_ns: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            monotonic_ns: 1_000_000_000,
            boot_offset_ns: 0,
            tai_offset_ns: 1_700_000_037_000_000_000,
            step_ns: 1000,
        }
    }
}

impl Clock {
    /// Reads CLOCK_MONOTONIC and advances by `step_ns`.
    pub fn read_monotonic(&mut self) -> u64 {
        let t = self.monotonic_ns;
        self.monotonic_ns = self.monotonic_ns.wrapping_add(self.step_ns);
        t
    }
}

/// The seeded PRNG behind `bpf_get_prandom_u32` (SplitMix64; same seed, same sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prng {
    state: u64,
}

impl Prng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Prng {
        Prng { state: seed }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
}

impl Default for Prng {
    fn default() -> Self {
        Prng::new(0)
    }
}

/// One helper call a program made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperCall {
    /// Helper id.
    pub id: u32,
    /// Kernel helper name, e.g. `bpf_setsockopt`.
    pub name: &'static str,
    /// r1..r5 at the call.
    pub args: [u64; 5],
    /// r0 as a signed value.
    pub ret: i64,
    /// (level, optname) for bpf_setsockopt / bpf_getsockopt.
    pub sockopt: Option<(i32, i32)>,
}

/// One `bpf_perf_event_output` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfRecord {
    /// The perf event array's name.
    pub map: String,
    /// The CPU index the record went to.
    pub cpu: u32,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The payload the sock_ops helpers find in `HelperEnv::payload`.
#[derive(Debug)]
pub struct SockOpsEnv {
    /// The socket the op runs on (helpers change it).
    pub socket: Socket,
    /// The op's context memory.
    pub context: OpContext,
    /// Every helper call, in order.
    pub calls: Vec<HelperCall>,
    /// `bpf_trace_printk` lines.
    pub trace: Vec<String>,
    /// `bpf_perf_event_output` records.
    pub perf: Vec<PerfRecord>,
    /// The clock.
    pub clock: Clock,
    /// The PRNG.
    pub prng: Prng,
    /// `bpf_get_smp_processor_id`.
    pub cpu: u32,
    /// `bpf_get_numa_node_id`.
    pub numa_node: u32,
    /// sk_storage values deleted during the run: kept alive until the environment is
    /// dropped, since the program may still hold pointers to them (the kernel frees by RCU).
    pub(crate) retired: Vec<crate::guest_buf::GuestBuf>,
    /// The task `bpf_get_current_pid_tgid` / `_uid_gid` / `_cgroup_id` / `_comm` /
    /// `_task_btf` report.
    pub task: crate::task::CurrentTask,
    /// Records submitted with `bpf_ringbuf_output` / `bpf_ringbuf_submit`, in order.
    pub ringbuf: Vec<crate::ringbuf::RingbufRecord>,
    /// The `struct bpf_tcp_sock` view `bpf_tcp_sock` returns (made on first use, refreshed
    /// after every sock_ops helper call).
    pub(crate) tcp_sock: Option<crate::guest_buf::GuestBuf>,
    /// The kernel `struct tcp_sock` image `bpf_skc_to_tcp_sock` returns (made on first use,
    /// refreshed after every sock_ops helper call).
    pub(crate) kernel_tcp_sock: Option<crate::guest_buf::GuestBuf>,
    /// The `struct task_struct` image `bpf_get_current_task_btf` returns (made on first
    /// use, rewritten from `task` at every call).
    pub(crate) task_struct: Option<crate::guest_buf::GuestBuf>,
    /// Ring buffer records reserved during the run.
    pub(crate) reservations: crate::ringbuf::Reservations,
}

impl SockOpsEnv {
    /// An environment for `input` on `socket` with a default clock and a PRNG seeded 0.
    pub fn new(socket: Socket, input: OpInput) -> SockOpsEnv {
        let context = OpContext::build(&socket, input);
        SockOpsEnv {
            socket,
            context,
            calls: Vec::new(),
            trace: Vec::new(),
            perf: Vec::new(),
            clock: Clock::default(),
            prng: Prng::default(),
            cpu: 0,
            numa_node: 0,
            retired: Vec::new(),
            task: Default::default(),
            ringbuf: Vec::new(),
            tcp_sock: None,
            kernel_tcp_sock: None,
            task_struct: None,
            reservations: Default::default(),
        }
    }

    /// The `struct bpf_sock` pointer `ctx->sk` holds (0 for request sockets).
    pub fn sk_addr(&self) -> u64 {
        let b = self.context.ctx_bytes();
        u64::from_ne_bytes(b[184..192].try_into().unwrap_or([0; 8]))
    }

    /// The `struct bpf_tcp_sock` pointer `bpf_tcp_sock` returns in this run (0 before the
    /// first call).
    pub fn tcp_sock_addr(&self) -> u64 {
        self.tcp_sock.as_ref().map_or(0, |b| b.addr())
    }

    /// The kernel `struct tcp_sock` pointer `bpf_skc_to_tcp_sock` returns in this run (0
    /// before the first call).
    pub fn kernel_tcp_sock_addr(&self) -> u64 {
        self.kernel_tcp_sock.as_ref().map_or(0, |b| b.addr())
    }

    /// Whether `sk` points to this run's socket: `ctx->sk`, the `bpf_tcp_sock` view or the
    /// kernel `struct tcp_sock` image of it (all the same `struct sock` in the kernel).
    pub fn is_this_socket(&self, sk: u64) -> bool {
        sk != 0
            && (sk == self.sk_addr()
                || sk == self.tcp_sock_addr()
                || sk == self.kernel_tcp_sock_addr())
    }

    /// Rewrites the `struct bpf_tcp_sock` view and the kernel `struct tcp_sock` image (those
    /// a program asked for) from the socket.
    pub(crate) fn refresh_tcp_sock(&self) {
        if let Some(buf) = &self.tcp_sock {
            buf.write(0, &crate::tcp_sock::BpfTcpSock::of(&self.socket).to_bytes());
        }
        if let Some(buf) = &self.kernel_tcp_sock {
            buf.write(0, &crate::kernel_tcp_sock::image(&self.socket));
        }
    }

    /// The context pointer for r1.
    pub fn ctx_addr(&self) -> u64 {
        self.context.ctx_addr()
    }

    /// Adds the context, `struct bpf_sock` and packet regions to `memory`, and the blank
    /// kernel structs the images' pointer members lead to (`vmlinux::blank`).
    ///
    /// # Safety
    /// `memory` must not be used to access these regions after this environment is dropped.
    pub unsafe fn add_regions(&self, memory: &mut Memory) {
        // SAFETY: forwarded contract.
        unsafe { self.context.add_regions(memory) }
        // SAFETY: the blank structs behind the images' pointer members live (unwritten) as
        // long as the process.
        unsafe { memory.add(crate::vmlinux::blank::region()) };
    }

    /// Applies the programs' write-backs to the socket and reports them.
    pub fn finish(&mut self) -> WriteBack {
        self.context.finish(&mut self.socket)
    }
}
