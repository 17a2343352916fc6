//! What one op delivered to the attached programs decided (`Decision`), and how the socket
//! changed (`SocketChanges`, computed by comparing the socket before and after).

use sockops_ctx::sockopt::{OptionValue, current_value, option_name};
use sockops_ctx::{HelperCall, PerfRecord, SockOp, Socket, WriteBack};

use crate::runtime::ProgId;

/// One program's run within an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRun {
    /// The program.
    pub id: ProgId,
    /// Its name.
    pub name: String,
    /// Its return value (r0). Verified programs return 0 or 1.
    pub ret: u64,
}

/// The outcome of delivering one op to a socket's cgroup programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The op.
    pub op: SockOp,
    /// Whether the socket's callback flags enable the op (a gated op runs no program).
    pub enabled: bool,
    /// The programs that ran, in run order, with their return values (empty: none ran).
    pub runs: Vec<ProgramRun>,
    /// `reply` (= `args[0]`) after the last program; `args[0]` when none ran.
    pub reply: u32,
    /// `replylong[0..4]` after the last program.
    pub replylong: [u32; 4],
    /// What the kernel's caller (`tcp_call_bpf`) gets: `reply` as a signed 32-bit value when
    /// every program returned non-zero (1 for verified programs), else -1. `None` when no
    /// program ran.
    pub result: Option<i32>,
    /// Every helper call, in order, with its return code.
    pub helper_calls: Vec<HelperCall>,
    /// `bpf_trace_printk` output lines.
    pub trace: Vec<String>,
    /// `bpf_perf_event_output` records.
    pub perf: Vec<PerfRecord>,
    /// What the programs wrote back (reply, sk_txhash, header options); `None` when none ran.
    pub write_back: Option<WriteBack>,
    /// How the socket changed.
    pub changes: SocketChanges,
}

impl Decision {
    /// Whether any program ran.
    pub fn called(&self) -> bool {
        !self.runs.is_empty()
    }

    /// Each program's return value, in run order.
    pub fn returns(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.ret).collect()
    }

    /// The result the kernel's caller gets for `runs`: the reply as a signed 32-bit value when
    /// every program returned non-zero, else -1 (`__cgroup_bpf_run_filter_sock_ops` turns a
    /// 0 return into -EPERM and `tcp_call_bpf` any error into -1); `None` if none ran.
    pub fn kernel_result(runs: &[ProgramRun], reply: u32) -> Option<i32> {
        if runs.is_empty() {
            None
        } else if runs.iter().all(|r| r.ret as u32 != 0) {
            Some(reply as i32)
        } else {
            Some(-1)
        }
    }
}

/// One socket field that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The bpf_sock_ops field name (`snd_cwnd`, `bpf_sock_ops_cb_flags`, `state`, ...).
    pub field: &'static str,
    /// Value before the op.
    pub before: u64,
    /// Value after the op.
    pub after: u64,
}

/// One socket option that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionChange {
    /// Kernel constant name (`SO_SNDBUF`, `TCP_CONGESTION`, ...).
    pub option: &'static str,
    /// Value before (as bpf_getsockopt returns it; `None` for a set-only option not set yet).
    pub before: Option<OptionValue>,
    /// Value after.
    pub after: Option<OptionValue>,
}

/// How an op changed the socket.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SocketChanges {
    /// Changed fields (metrics, callback flags, state), in struct order.
    pub fields: Vec<FieldChange>,
    /// Changed options, in (level, optname) order.
    pub options: Vec<OptionChange>,
}

impl SocketChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.options.is_empty()
    }

    /// The changes from `before` to `after`. Options compared are those a program has set on
    /// either (any other option only changes through them or through fields listed here).
    pub fn between(before: &Socket, after: &Socket) -> SocketChanges {
        let names = sockops_ctx::socket::METRIC_FIELDS
            .iter()
            .copied()
            .chain(["bpf_sock_ops_cb_flags", "state"]);
        let fields = names
            .filter_map(|field| {
                let (b, a) = (before.field(field)?, after.field(field)?);
                (b != a).then_some(FieldChange {
                    field,
                    before: b,
                    after: a,
                })
            })
            .collect();
        let mut keys: Vec<(i32, i32)> = before
            .options_set
            .keys()
            .chain(after.options_set.keys())
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let options = keys
            .into_iter()
            .filter_map(|(level, optname)| {
                let option = option_name(level, optname)?;
                let b = current_value(before, level, optname);
                let a = current_value(after, level, optname);
                (b != a).then_some(OptionChange {
                    option,
                    before: b,
                    after: a,
                })
            })
            .collect();
        SocketChanges { fields, options }
    }
}
