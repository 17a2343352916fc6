//! `sockops compare`: one sock_ops program judged by the live kernel and by this runtime on
//! the same real connections. The kernel side runs in a child cgroup of our own: the recorder
//! (`record`), the candidate, and `record_after` are linked there in that order, a helper
//! process (the only one in the cgroup) opens loopback connections, and each op leaves two
//! records: the context the kernel built, and what the candidate left (`reply`, callback
//! flags, metrics, the options `bpf_getsockopt` reads). The first records become a scenario
//! replayed here through the same program; each op's outcome is compared with the second
//! records, and the options the helper read back with `getsockopt` with our model's.
//!
//! Everything attached is a BPF link (detached when its fd closes, even if this process is
//! killed) and the cgroup is removed on every exit path of this process.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sockops_ctx::SockOp;
use sockops_ctx::sockopt::OptionValue;
use sockops_vm::elf::Object;

use super::loopback::SideReport;
use super::trace::{TraceSocket, scenario_text_with, sockets};
use super::{Record, RecordError, Recorder};
use crate::cgroup::AttachFlags;
use crate::kernel::{Cgroup, KernelError, KernelProgram, OwnedCgroup};
use crate::runtime::Engine;
use crate::scenario::{EventOutcome, ProgramPlan, Scenario, ScenarioError, ScenarioFile, replay};

/// Most connections one comparison opens.
pub const MAX_CONNECTIONS: usize = 32;
pub use super::request_stop;

/// `bpf_get_prandom_u32`'s helper id.
const BPF_FUNC_GET_PRANDOM_U32: u32 = 7;
/// How long the helper may take before it is killed.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// What to compare and how.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    /// The candidate object.
    pub object: PathBuf,
    /// Its section or function name (optional when it has one sock_ops program).
    pub section: Option<String>,
    /// Loopback connections to open (1..=[`MAX_CONNECTIONS`]).
    pub connections: usize,
    /// Over ::1 instead of 127.0.0.1.
    pub ipv6: bool,
    /// The engine of the replay.
    pub engine: Engine,
    /// The helper command that joins the cgroup given after these words, then opens the
    /// connections (protocol of `sockops __loopback CGROUP COUNT [--ipv6]`: one JSON line
    /// `[client, server]` per connection).
    pub helper: Vec<OsString>,
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The candidate object does not load or has no such program.
    #[error("{0}")]
    Program(String),
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The kernel refused something (not root, no `bpf()`, the program rejected...).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The recorder.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The helper process failed.
    #[error("the loopback helper: {0}")]
    Helper(String),
    /// Stopped by [`request_stop`] (a signal) before the end; everything was cleaned up.
    #[error("stopped before the end (everything attached was detached, the cgroup removed)")]
    Stopped,
    /// The replay here failed.
    #[error("the replay: {0}")]
    Replay(#[from] ScenarioError),
}

/// One value both sides have.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ValuePair {
    /// What is compared (`reply`, `bpf_sock_ops_cb_flags`, `snd_cwnd`, an option name).
    pub name: String,
    /// The kernel's value.
    pub kernel: String,
    /// Ours.
    pub ours: String,
}

impl ValuePair {
    /// True when both sides have the same value.
    pub fn agrees(&self) -> bool {
        self.kernel == self.ours
    }
}

/// One op of the trace, both sides.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OpComparison {
    /// Its index in the trace (and the scenario's event index).
    pub index: usize,
    /// The socket (`c1-a`, `c1-b-req`...).
    pub socket: String,
    /// The op's name.
    pub op: String,
    /// Every value compared.
    pub values: Vec<ValuePair>,
    /// A reason the op could not be compared at all (then it does not agree).
    pub missing: Option<String>,
    /// Why the op cannot be compared by nature (the program drew a random number, which the
    /// kernel and we draw independently): listed, neither agreeing nor disagreeing.
    pub not_comparable: Option<String>,
}

impl OpComparison {
    /// True when every value agrees (an op that cannot be compared does not count).
    pub fn agrees(&self) -> bool {
        self.not_comparable.is_none()
            && self.missing.is_none()
            && self.values.iter().all(ValuePair::agrees)
    }

    /// True when the op was compared and something differs.
    pub fn differs(&self) -> bool {
        self.not_comparable.is_none() && !self.agrees()
    }
}

/// An option the helper read back with `getsockopt` from a socket, against our model's value
/// after that socket's last op.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReadBack {
    /// The socket.
    pub socket: String,
    /// The option and both values.
    pub value: ValuePair,
}

/// The whole comparison.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Comparison {
    /// The candidate program's name.
    pub program: String,
    /// Connections opened.
    pub connections: usize,
    /// IPv6 or not.
    pub ipv6: bool,
    /// Every op, in the kernel's order.
    pub ops: Vec<OpComparison>,
    /// The options read back, for the options our model says the program set.
    pub read_back: Vec<ReadBack>,
}

impl Comparison {
    /// Ops that agree.
    pub fn ops_agreeing(&self) -> usize {
        self.ops.iter().filter(|o| o.agrees()).count()
    }

    /// Ops that cannot be compared by nature (see [`OpComparison::not_comparable`]).
    pub fn ops_not_comparable(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| o.not_comparable.is_some())
            .count()
    }

    /// True when no compared op and no read-back value differs, and some op was compared.
    pub fn all_agree(&self) -> bool {
        self.ops_agreeing() > 0
            && !self.ops.iter().any(OpComparison::differs)
            && self.read_back.iter().all(|r| r.value.agrees())
    }

    /// The readable report: one line per op, the read-backs, the summary line.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{}: {} loopback connection(s) over {}, the live kernel vs this runtime",
            self.program,
            self.connections,
            if self.ipv6 { "::1" } else { "127.0.0.1" }
        );
        for o in &self.ops {
            let reply = o.values.iter().find(|v| v.name == "reply");
            let reply = reply.map_or(String::new(), |v| {
                format!("reply kernel {} ours {}", v.kernel, v.ours)
            });
            let verdict = if o.not_comparable.is_some() {
                "not comparable"
            } else if o.agrees() {
                "agree"
            } else {
                "DIFFER"
            };
            let _ = writeln!(
                t,
                "{:>4}  {:<10} {:<28} {:<28} {verdict}",
                o.index, o.socket, o.op, reply
            );
            if let Some(m) = &o.not_comparable {
                let _ = writeln!(t, "        {m}");
            }
            if let Some(m) = &o.missing {
                let _ = writeln!(t, "        {m}");
            }
            for v in o
                .values
                .iter()
                .filter(|v| !v.agrees() && o.not_comparable.is_none())
            {
                let _ = writeln!(t, "        {}: kernel {} ours {}", v.name, v.kernel, v.ours);
            }
        }
        if !self.read_back.is_empty() {
            let _ = writeln!(t, "read back with getsockopt after the transfer:");
            for r in &self.read_back {
                let verdict = if r.value.agrees() { "agree" } else { "DIFFER" };
                let _ = writeln!(
                    t,
                    "      {:<10} {:<20} kernel {:<12} ours {:<12} {verdict}",
                    r.socket, r.value.name, r.value.kernel, r.value.ours
                );
            }
        }
        let rb = self.read_back.iter().filter(|r| r.value.agrees()).count();
        let _ = writeln!(
            t,
            "{} ops, {} agree, {} not comparable; {} options read back, {} agree",
            self.ops.len(),
            self.ops_agreeing(),
            self.ops_not_comparable(),
            self.read_back.len(),
            rb
        );
        t
    }

    /// The comparison as one JSON document.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            comparison: &'a Comparison,
            ops_agreeing: usize,
            all_agree: bool,
        }
        serde_json::to_string(&Out {
            comparison: self,
            ops_agreeing: self.ops_agreeing(),
            all_agree: self.all_agree(),
        })
        .unwrap_or_default()
    }
}

/// What the kernel side captured.
#[derive(Clone, Debug, Default)]
pub struct KernelRun {
    /// The records written before the candidate ran (`phase` 0), in the kernel's order.
    pub before: Vec<Record>,
    /// The records written after it (`phase` 1).
    pub after: Vec<Record>,
    /// The options the helper read back, (client, server) per connection.
    pub read_back: Vec<(SideReport, SideReport)>,
}

/// Checks the configuration and selects the candidate program of the object.
fn candidate(config: &CompareConfig) -> Result<(Object, sockops_vm::Program), CompareError> {
    if config.connections == 0 || config.connections > MAX_CONNECTIONS {
        return Err(CompareError::Usage(format!(
            "--connections must be 1 to {MAX_CONNECTIONS}, not {}",
            config.connections
        )));
    }
    let object = Object::open(&config.object)
        .map_err(|e| CompareError::Program(format!("{}: {e}", config.object.display())))?;
    let program = crate::runtime::select_program(&object, config.section.as_deref())
        .map_err(|e| CompareError::Program(format!("{}: {e}", config.object.display())))?
        .clone();
    Ok((object, program))
}

/// Runs the kernel side: loads everything, links it to a child cgroup created here, runs
/// the helper in it, collects the records, and unlinks and removes everything (on every
/// path out of this function).
pub fn kernel_run(config: &CompareConfig) -> Result<(String, KernelRun), CompareError> {
    let (object, program) = candidate(config)?;
    let (entry, _tail_targets) = KernelProgram::load_from_object(&object, &program)?;
    let mut before = Recorder::load(false)?;
    let mut after = Recorder::load_after()?;
    let owned = OwnedCgroup::create("sockops-compare")?;
    let result = (|| {
        let cgroup = Cgroup::open(&owned.path)?;
        // Run order: the recorder, the candidate, the after-recorder.
        let links = [
            cgroup.link(before.kernel_program())?,
            cgroup.link(&entry)?,
            cgroup.link(after.kernel_program())?,
        ];
        let read_back = run_helper(config, &owned.path);
        // The closing states come after the helper's last close: give them a moment.
        std::thread::sleep(Duration::from_millis(300));
        let mut run = KernelRun::default();
        before.poll(&mut run.before);
        after.poll(&mut run.after);
        drop(links);
        run.read_back = read_back?;
        Ok::<_, CompareError>(run)
    })();
    owned.remove()?;
    Ok((program.name.clone(), result?))
}

/// Runs the helper as the only process of `cgroup` and reads its reports.
fn run_helper(
    config: &CompareConfig,
    cgroup: &Path,
) -> Result<Vec<(SideReport, SideReport)>, CompareError> {
    let (cmd, lead) = config
        .helper
        .split_first()
        .ok_or_else(|| CompareError::Helper("no helper command".into()))?;
    let mut command = Command::new(cmd);
    command
        .args(lead)
        .arg(cgroup)
        .arg(config.connections.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if config.ipv6 {
        command.arg("--ipv6");
    }
    let mut child = command
        .spawn()
        .map_err(|e| CompareError::Helper(format!("cannot start {cmd:?}: {e}")))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if super::stop_requested() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CompareError::Stopped);
            }
            Ok(None) if start.elapsed() > HELPER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CompareError::Helper(format!(
                    "did not finish in {} s (killed)",
                    HELPER_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(CompareError::Helper(e.to_string())),
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        return Err(CompareError::Helper(format!("{status}: {}", err.trim())));
    }
    out.lines()
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| CompareError::Helper(format!("unreadable report {l:?}: {e}")))
        })
        .collect()
}

/// Replays `run.before` through the candidate here and compares every op with the kernel.
pub fn compare(
    config: &CompareConfig,
    program_name: &str,
    run: &KernelRun,
) -> Result<Comparison, CompareError> {
    let text = host_sysctls_toml() + &scenario_text_with(&run.before, None, false);
    let file =
        ScenarioFile::parse(&text, Path::new("compare.toml")).map_err(ScenarioError::from)?;
    let mut scenario = Scenario::prepare(&file, Path::new("."))?;
    scenario.programs = vec![ProgramPlan {
        object: config.object.clone(),
        selector: config.section.clone(),
        cgroup: "/".to_string(),
        flags: AttachFlags::None,
    }];
    let replay = replay(&scenario, config.engine, None)?;
    let socks = sockets(&run.before);
    let name_of = |r: &Record| -> String {
        socks
            .iter()
            .find(|s| (s.cookie, s.fullsock) == (r.cookie, r.is_fullsock()))
            .map_or_else(String::new, |s| s.name.clone())
    };
    // The k-th call on a socket left the k-th record of each phase for that socket.
    let mut after_by_socket: HashMap<(u64, bool), Vec<&Record>> = HashMap::new();
    for r in &run.after {
        after_by_socket
            .entry((r.cookie, r.is_fullsock()))
            .or_default()
            .push(r);
    }
    let mut seen: HashMap<(u64, bool), usize> = HashMap::new();
    let mut ops = Vec::with_capacity(run.before.len());
    for (i, b) in run.before.iter().enumerate() {
        let key = (b.cookie, b.is_fullsock());
        let n = seen.entry(key).or_default();
        let a = after_by_socket.get(&key).and_then(|v| v.get(*n)).copied();
        *n += 1;
        let op =
            SockOp::from_number(b.op).map_or_else(|| b.op.to_string(), |o| o.name().to_string());
        let ours = replay.events.get(i);
        let (values, missing) = match (a, ours) {
            (Some(a), Some(ours)) => (op_values(b, a, ours), None),
            (None, _) => (
                Vec::new(),
                Some("the kernel left no record after the program".into()),
            ),
            (_, None) => (Vec::new(), Some("the replay has no such event".into())),
        };
        let not_comparable = ours
            .filter(|o| {
                o.decision
                    .helper_calls
                    .iter()
                    .any(|c| c.id == BPF_FUNC_GET_PRANDOM_U32)
            })
            .map(|_| {
                "the program drew a random number (bpf_get_prandom_u32), which the kernel and \
                 this runtime draw independently"
                    .to_string()
            });
        ops.push(OpComparison {
            index: i,
            socket: name_of(b),
            op,
            values,
            missing,
            not_comparable,
        });
    }
    Ok(Comparison {
        program: program_name.to_string(),
        connections: config.connections,
        ipv6: config.ipv6,
        read_back: read_backs(&run.read_back, &socks, &run.before, &replay.events),
        ops,
    })
}

/// This host's sysctls that shape sockets and their options (`/proc/sys`), as a scenario's
/// `[sysctl]` table, so the replay's sockets start as the kernel's did (default congestion
/// control and the available ones, buffer sizes and limits...). `kernel.hz` is not in
/// `/proc/sys`: the replay keeps its default (250, the reference kernel's).
pub fn host_sysctls_toml() -> String {
    let mut t = String::from("[sysctl]\n");
    for name in sockops_ctx::sysctl::Sysctls::NAMES {
        if *name == "kernel.hz" {
            continue;
        }
        let path = Path::new("/proc/sys").join(name.replace('.', "/"));
        let Ok(raw) = std::fs::read_to_string(&path) else {
            continue;
        };
        let value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if value.parse::<i64>().is_ok() {
            t.push_str(&format!("{name:?} = {value}\n"));
        } else {
            t.push_str(&format!("{name:?} = {value:?}\n"));
        }
    }
    t + "\n"
}

fn opt_text(v: &OptionValue) -> String {
    match v {
        OptionValue::Int(i) => i.to_string(),
        OptionValue::Str(s) => s.clone(),
    }
}

/// The values of one op: `reply`; on full sockets the callback flags, `snd_cwnd` and
/// `snd_ssthresh` after the op, and every option the kernel could read after it (ours: the
/// value our model holds when a program set it, else the kernel's before the op).
fn op_values(before: &Record, after: &Record, ours: &EventOutcome) -> Vec<ValuePair> {
    let pair = |name: &str, kernel: String, ours: String| ValuePair {
        name: name.to_string(),
        kernel,
        ours,
    };
    let mut v = vec![pair(
        "reply",
        after.args[0].to_string(),
        ours.decision.reply.to_string(),
    )];
    if !before.is_fullsock() {
        return v;
    }
    v.push(pair(
        "bpf_sock_ops_cb_flags",
        format!("{:#x}", after.metric("bpf_sock_ops_cb_flags").unwrap_or(0)),
        format!("{:#x}", ours.cb_flags),
    ));
    for metric in ["snd_cwnd", "snd_ssthresh"] {
        let ours_value = ours.tcp.iter().find(|(n, _)| *n == metric).map(|(_, x)| *x);
        if let Some(o) = ours_value {
            v.push(pair(
                metric,
                after.metric(metric).unwrap_or(0).to_string(),
                o.to_string(),
            ));
        }
    }
    let ours_set = |name: &str| {
        ours.options
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, x)| opt_text(x))
    };
    for &(name, _, _, kernel_value) in &after.options {
        let ours_value = ours_set(name).or_else(|| {
            before
                .options
                .iter()
                .find(|o| o.0 == name)
                .map(|o| o.3.to_string())
        });
        if let Some(o) = ours_value {
            v.push(pair(name, kernel_value.to_string(), o));
        }
    }
    if let Some(kernel_cc) = &after.congestion
        && let Some(o) = ours_set("TCP_CONGESTION").or_else(|| before.congestion.clone())
    {
        v.push(pair("TCP_CONGESTION", kernel_cc.clone(), o));
    }
    v
}

/// For each side the helper reported, the options our model says a program set on that
/// socket (after its last op), against what `getsockopt` read back.
fn read_backs(
    reports: &[(SideReport, SideReport)],
    socks: &[TraceSocket],
    records: &[Record],
    events: &[EventOutcome],
) -> Vec<ReadBack> {
    let mut out = Vec::new();
    for side in reports.iter().flat_map(|(c, s)| [c, s]) {
        let Some(sock) = socks.iter().find(|s| {
            s.fullsock
                && records
                    .get(s.first)
                    .is_some_and(|r| r.local == side.local && r.remote == side.remote)
        }) else {
            continue;
        };
        let last = records
            .iter()
            .enumerate()
            .filter(|(_, r)| (r.cookie, r.is_fullsock()) == (sock.cookie, true))
            .filter_map(|(i, _)| events.get(i))
            .next_back();
        let Some(last) = last else { continue };
        for (name, value) in &last.options {
            let kernel = if *name == "TCP_CONGESTION" {
                Some(side.congestion.clone())
            } else {
                side.options
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.to_string())
            };
            if let Some(kernel) = kernel {
                out.push(ReadBack {
                    socket: sock.name.clone(),
                    value: ValuePair {
                        name: name.to_string(),
                        kernel,
                        ours: opt_text(value),
                    },
                });
            }
        }
    }
    out
}

/// Runs a whole comparison: the kernel side, then the replay and the comparison.
pub fn run_compare(config: &CompareConfig) -> Result<Comparison, CompareError> {
    let (name, run) = kernel_run(config)?;
    compare(config, &name, &run)
}
