//! Replaying a prepared scenario through the runtime: load each object once (programs of one
//! object share its maps) and each of its programs once, attach them in file order, then deliver the
//! events in order, each as the kernel would (a gated op runs nothing). Everything is
//! collected into a `Replay`; nothing is printed here, so a failure leaves no partial output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sockops_ctx::context::tcp_flags;
use sockops_ctx::sockopt::{OptionValue, options_report};
use sockops_ctx::{OpInput, Segment, SockOp, Socket, TcpState};
use sockops_vm::MapType;

use crate::cgroup::AttachFlags;
use crate::runtime::{Decision, Engine, ObjectId, ProgId, Runtime};
use crate::scenario::prepare::{EventPlan, ProgramPlan, Scenario, ScenarioError};

/// A program as the replay loaded and attached it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedProgram {
    /// Function name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// Object name (libbpf's: the file name up to its first '.', at most 15 bytes).
    pub object: String,
    /// The object's file name as the scenario gives it (e.g. `tcp_basertt_kern.o`).
    pub file: String,
    /// Cgroup path.
    pub cgroup: String,
    /// Attach flags.
    pub flags: AttachFlags,
}

/// One replayed event.
#[derive(Clone, Debug)]
pub struct EventOutcome {
    /// Event index in the file.
    pub index: usize,
    /// Socket name.
    pub socket: String,
    /// The socket's addresses and cgroup, for display.
    pub socket_desc: String,
    /// The socket's HZ (for jiffies in reports).
    pub hz: u32,
    /// The args the op was delivered with.
    pub args: [u32; 4],
    /// Fields the event set before the op.
    pub set: Vec<(String, u64)>,
    /// What the programs decided.
    pub decision: Decision,
    /// Options a program set on the socket so far, valued as bpf_getsockopt returns them.
    pub options: Vec<(&'static str, OptionValue)>,
    /// `bpf_sock_ops_cb_flags` after the event.
    pub cb_flags: u32,
    /// The bpf_sock_ops metric fields and `state` after the event.
    pub tcp: Vec<(&'static str, u64)>,
}

/// One map's contents after the last event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDump {
    /// Map name (`object:name` when two objects have a map of that name).
    pub name: String,
    /// Programs may only read it (`.rodata`): it holds constants.
    pub read_only: bool,
    /// (key, value) bytes in memory order: every index of an array map in index order, the
    /// values of a queue, stack or ring buffer in their order, the entries of other maps
    /// sorted by key bytes.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The whole replay.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The engine used.
    pub engine: Engine,
    /// The PRNG seed used.
    pub seed: u64,
    /// Programs, in attach order.
    pub programs: Vec<AttachedProgram>,
    /// Number of sockets.
    pub sockets: usize,
    /// Events, in order.
    pub events: Vec<EventOutcome>,
    /// Maps of every loaded object, in load order.
    pub maps: Vec<MapDump>,
}

/// Replays `scenario` with `engine`; `seed` overrides the file's seed.
pub fn replay(
    scenario: &Scenario,
    engine: Engine,
    seed: Option<u64>,
) -> Result<Replay, ScenarioError> {
    let seed = seed.unwrap_or(scenario.seed);
    let mut rt = Runtime::new();
    rt.set_seed(seed);
    let programs = load_programs(&mut rt, &scenario.programs, engine)?;

    let mut sockets: Vec<Socket> = scenario.sockets.iter().map(|(_, s)| s.clone()).collect();
    // Per socket: option bytes reserved by the last HDR_OPT_LEN_CB (for WRITE_HDR_OPT_CB).
    let mut reserved: Vec<u32> = vec![0; sockets.len()];
    let mut events = Vec::with_capacity(scenario.events.len());
    for (index, ev) in scenario.events.iter().enumerate() {
        let place = format!("event {index}");
        let socket = &mut sockets[ev.socket];
        for (field, value) in &ev.set {
            socket
                .set_field(field, *value)
                .map_err(|e| ScenarioError::Invalid {
                    place: place.clone(),
                    message: format!("set: {e}"),
                })?;
        }
        let input = event_input(ev, socket, reserved[ev.socket]);
        let decision = rt
            .call_input(input, socket)
            .map_err(|source| ScenarioError::Runtime {
                place: place.clone(),
                source: Box::new(source),
            })?;
        if let Some(r) = decision
            .write_back
            .as_ref()
            .and_then(|w| w.hdr_opt_reserved)
        {
            reserved[ev.socket] = r;
        }
        let mut tcp = socket.metrics();
        tcp.push(("state", u64::from(socket.state.number())));
        events.push(EventOutcome {
            index,
            socket: scenario.sockets[ev.socket].0.clone(),
            socket_desc: format!(
                "{} -> {}, cgroup {}",
                socket.local, socket.remote, socket.cgroup
            ),
            hz: socket.sysctl.hz,
            args: ev.args,
            set: ev.set.clone(),
            decision,
            options: options_report(socket),
            cb_flags: socket.cb_flags,
            tcp,
        });
    }
    Ok(Replay {
        engine,
        seed,
        programs,
        sockets: sockets.len(),
        events,
        maps: dump_maps(&rt, &sockets.iter().collect::<Vec<_>>()),
    })
}

/// Loads and attaches `plans` in order on `rt` with `engine`: each object once (programs of
/// one object share its maps), each (object, program) once. Errors name the program.
pub fn load_programs(
    rt: &mut Runtime,
    plans: &[ProgramPlan],
    engine: Engine,
) -> Result<Vec<AttachedProgram>, ScenarioError> {
    let mut objects: Vec<(PathBuf, ObjectId)> = Vec::new();
    let mut loaded: Vec<(ObjectId, String, ProgId)> = Vec::new();
    let mut programs = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        let place = format!("program {i} ({})", plan.object.display());
        let wrap = |source| ScenarioError::Runtime {
            place: place.clone(),
            source: Box::new(source),
        };
        let key = plan
            .object
            .canonicalize()
            .unwrap_or_else(|_| plan.object.clone());
        let obj = match objects.iter().find(|(p, _)| *p == key) {
            Some((_, id)) => *id,
            None => {
                let id = rt.load_object_file(&plan.object).map_err(wrap)?;
                objects.push((key, id));
                id
            }
        };
        // One program per (object, function), as when an object is loaded once and its
        // program attached to several cgroups.
        let name = rt
            .select_program(obj, plan.selector.as_deref())
            .map_err(wrap)?;
        let prog = match loaded.iter().find(|(o, n, _)| *o == obj && *n == name) {
            Some((_, _, id)) => *id,
            None => {
                let id = rt
                    .load_program(obj, plan.selector.as_deref(), engine)
                    .map_err(wrap)?;
                loaded.push((obj, name, id));
                id
            }
        };
        rt.attach(prog, &plan.cgroup, plan.flags).map_err(wrap)?;
        let info = rt.program_info(prog).map_err(wrap)?;
        programs.push(AttachedProgram {
            name: info.name,
            section: info.section,
            object: rt.object_name(obj).map_err(wrap)?.to_string(),
            file: plan.object.file_name().map_or_else(
                || plan.object.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            ),
            cgroup: plan.cgroup.clone(),
            flags: plan.flags,
        });
    }
    Ok(programs)
}

/// What the kernel hands the op of event `ev` on `socket`: `op_input`'s, with the segment the
/// event gives (its flags, options and payload replacing those of the usual segment, in the
/// same direction).
pub fn event_input(ev: &EventPlan, socket: &Socket, reserved: u32) -> OpInput {
    let mut input = op_input(ev.op, ev.args, socket, reserved);
    if let (Some(change), Some(segment)) = (&ev.segment, input.segment.as_mut()) {
        let flags = change.flags.unwrap_or(segment.tcp_flags);
        let payload = change.payload.unwrap_or(0);
        if let Some(header) = &change.header {
            // The peer's own header, as recorded.
            *segment = Segment {
                header: header.clone(),
                skb_len: header.len() as u32 + payload,
                tcp_flags: change.flags.unwrap_or(header[13]),
                hwtstamp: 0,
            };
        } else if segment.header.is_empty() {
            // Ops that see only the skb's length and flags.
            segment.tcp_flags = flags;
            segment.skb_len = payload;
        } else {
            let usual = segment.header.get(20..).unwrap_or_default().to_vec();
            let options = change.options.as_deref().unwrap_or(&usual);
            let incoming = matches!(
                ev.op,
                SockOp::ActiveEstablishedCb | SockOp::PassiveEstablishedCb | SockOp::ParseHdrOptCb
            );
            let mut replaced = Segment::synthetic(socket, incoming, flags, options, payload);
            if !incoming {
                // A segment being built: `skb->len` does not count the header yet.
                replaced.skb_len = payload;
            }
            *segment = replaced;
        }
    }
    input
}

/// What the kernel hands `op` when the scenario gives no segment: the skb it carries, as a synthetic TCP segment of `socket` (SOCK_OPS.md §3: the
/// received SYN-ACK for ACTIVE_ESTABLISHED, the third ACK for PASSIVE_ESTABLISHED, the
/// segment being built for the header-option ops, with the live kernel's skb_len and flags).
/// `reserved` is what the last HDR_OPT_LEN_CB reserved (the space WRITE_HDR_OPT_CB gets).
pub fn op_input(op: SockOp, args: [u32; 4], socket: &Socket, reserved: u32) -> OpInput {
    // MSS 1460, SACK permitted, timestamps, NOP + window scale 7: a SYN's / SYN-ACK's options.
    const SYN_OPTIONS: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 1, 1, 3, 3, 7,
    ];
    // NOP, NOP, timestamps: an established segment's options.
    const TS_OPTIONS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1];
    let mut input = OpInput::new(op).with_args(&args);
    let segment = match op {
        SockOp::ActiveEstablishedCb => Some(Segment::synthetic(
            socket,
            true,
            tcp_flags::SYN | tcp_flags::ACK,
            &SYN_OPTIONS,
            0,
        )),
        SockOp::PassiveEstablishedCb | SockOp::ParseHdrOptCb => Some(Segment::synthetic(
            socket,
            true,
            tcp_flags::ACK,
            &TS_OPTIONS,
            0,
        )),
        SockOp::HdrOptLenCb | SockOp::WriteHdrOptCb => {
            if op == SockOp::WriteHdrOptCb {
                input.hdr_opt_space = Some(reserved);
            }
            // The segment being built: the client's SYN, a request socket's SYN-ACK, or an
            // ACK. `skb->len` does not count the header yet (live: 0 for a SYN).
            let (flags, options): (u8, &[u8]) = if !socket.is_fullsock() {
                (tcp_flags::SYN | tcp_flags::ACK, &SYN_OPTIONS)
            } else if socket.state == TcpState::SynSent {
                (tcp_flags::SYN, &SYN_OPTIONS)
            } else {
                (tcp_flags::ACK, &TS_OPTIONS)
            };
            let mut segment = Segment::synthetic(socket, false, flags, options, 0);
            segment.skb_len = 0;
            Some(segment)
        }
        _ if op.is_tstamp() => Some(Segment::flags_only(tcp_flags::ACK, 52)),
        _ => None,
    };
    if let Some(s) = segment {
        input = input.with_segment(s);
    }
    input
}

/// Every map of every object `rt` loaded, named uniquely (`object:name` when two objects
/// have a map of that name), in load order. An sk_storage map's values live on the sockets:
/// its entries are each of `sockets` that holds a value, keyed by the socket's index (u32,
/// little-endian) in `sockets` (the kernel keys them by socket fd).
pub fn dump_maps(rt: &Runtime, sockets: &[&Socket]) -> Vec<MapDump> {
    let all: Vec<(ObjectId, &sockops_vm::Map)> = rt.maps().collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, m) in &all {
        *count.entry(m.name()).or_default() += 1;
    }
    all.iter()
        .map(|(obj, m)| {
            let name = if count[m.name()] > 1 {
                format!("{}:{}", rt.object_name(*obj).unwrap_or("?"), m.name())
            } else {
                m.name().to_string()
            };
            let mut entries = if m.map_type() == MapType::SkStorage {
                sockets
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        let value = s.sk_storage.get(m.name())?;
                        Some(((i as u32).to_le_bytes().to_vec(), value))
                    })
                    .collect()
            } else {
                m.entries()
            };
            // Arrays are in index order; queues, stacks and ring buffers in their own order.
            if !matches!(
                m.map_type(),
                MapType::Array
                    | MapType::PercpuArray
                    | MapType::Queue
                    | MapType::Stack
                    | MapType::Ringbuf
            ) {
                entries.sort();
            }
            MapDump {
                name,
                read_only: m.is_read_only_for_programs(),
                entries,
            }
        })
        .collect()
}
