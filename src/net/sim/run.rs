//! Running a [`NetPlan`]: two [`NetHost`]s joined by a [`Link`], one [`Runtime`] holding the
//! programs, and a manual clock that jumps from event to event (a frame arriving, a smoltcp
//! timer, a connection starting). The applications are simple: the client writes its request
//! in the given number of writes, polling after each as a `send()` loop would; the server reads
//! it, then writes its response the same way; once the client has the whole response (and its
//! request is acknowledged) it closes, and the server closes when the client's FIN arrives. The
//! run stops when every connection has closed on both sides, when nothing is scheduled any
//! more, or at `duration_ms`; a connection that did not complete reports `null`.

use std::net::SocketAddr;

use smoltcp::socket::tcp::State;
use sockops_ctx::{SockOp, TcpMetrics};

use crate::net::connection::{ConnId, Connection, HostConfig, OpEvent, SentSegment};
use crate::net::host::NetHost;
use crate::net::options::{OptionReport, congestion_name};
use crate::net::sim::format::{CLIENT_PORT_BASE, ConnectionPlan, NetPlan, SimError, TransferPlan};
use crate::net::sim::link::{Direction, Link};
use crate::runtime::{Engine, Runtime};
use crate::scenario::{MapDump, dump_maps, load_programs};

/// Clock steps before the run gives up (a bound that makes a hang impossible; far above
/// what `duration_ms` allows in practice).
const MAX_STEPS: u64 = 20_000_000;
/// Bytes one `send()` hands smoltcp at most (a write larger than this is several sends).
const SEND_CHUNK: usize = 64 * 1024;

/// One side of a connection after the run.
#[derive(Clone, Debug)]
pub struct SideReport {
    /// Segments it sent (`segs_out`).
    pub segments_sent: u32,
    /// Retransmitted segments the device wrapper saw.
    pub retransmits: u32,
    /// Ops delivered (enabled) on this side, in the order each was first delivered, with counts.
    pub ops: Vec<(SockOp, usize)>,
    /// Options programs set, with whether smoltcp applied them.
    pub options: Vec<OptionReport>,
    /// smoltcp's congestion control at the end.
    pub congestion: &'static str,
    /// Whether smoltcp's Nagle algorithm was on at the end.
    pub nagle: bool,
    /// Every op delivered, in order.
    pub op_log: Vec<OpEvent>,
    /// Every segment with sequence space it sent.
    pub sent: Vec<SentSegment>,
    /// The socket's metrics at the end.
    pub metrics: TcpMetrics,
    /// When it reached ESTABLISHED, µs.
    pub established_us: Option<u64>,
}

/// One connection after the run.
#[derive(Clone, Debug)]
pub struct ConnectionReport {
    /// Its name.
    pub name: String,
    /// Server port.
    pub port: u16,
    /// When the client reached ESTABLISHED, µs (`None`: never).
    pub established_us: Option<u64>,
    /// When the client had the whole response, µs (`None`: never).
    pub completed_us: Option<u64>,
    /// The client side (`None`: never started within the duration).
    pub client: Option<SideReport>,
    /// The server side (`None`: no SYN ever reached the server).
    pub server: Option<SideReport>,
}

/// The whole run.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Engine used.
    pub engine: Engine,
    /// Seed used.
    pub seed: u64,
    /// Simulated time when the run stopped, µs.
    pub end_us: u64,
    /// Clock steps the run took (each: arrivals, applications, timers).
    pub steps: u64,
    /// Frames the link dropped (to server, to client).
    pub dropped: [u64; 2],
    /// Connections, in file order.
    pub connections: Vec<ConnectionReport>,
    /// Every map of every loaded object.
    pub maps: Vec<MapDump>,
}

/// Application progress of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Writer {
    write: u64,
    in_write: u64,
    written: u64,
}

impl Writer {
    fn done(&self, t: &TransferPlan) -> bool {
        self.written >= t.bytes
    }

    /// Issues the remaining writes of `t` on `id` until the send buffer is full.
    fn step(
        &mut self,
        t: &TransferPlan,
        host: &mut NetHost,
        rt: &mut Runtime,
        id: ConnId,
        pattern: &[u8],
    ) -> Result<(), SimError> {
        while self.write < t.writes {
            let size = t.write_size(self.write);
            let left = usize::try_from(size - self.in_write).unwrap_or(usize::MAX);
            if left > 0 {
                let n = host.send(rt, id, &pattern[..left.min(pattern.len())])? as u64;
                if n == 0 {
                    return Ok(());
                }
                self.in_write += n;
                self.written += n;
            }
            if self.in_write >= size {
                self.write += 1;
                self.in_write = 0;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct ConnRun {
    client: Option<ConnId>,
    server: Option<ConnId>,
    request: Writer,
    response: Writer,
    request_received: u64,
    response_received: u64,
    completed_us: Option<u64>,
    client_closed: bool,
    server_closed: bool,
}

fn finished(state: State) -> bool {
    matches!(state, State::Closed | State::TimeWait)
}

/// A 64-bit mix of `seed` and `salt` (SplitMix64 finaliser), for the independent seeds of
/// the link and each host.
fn derive_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs `plan` with `engine`; `seed` overrides the file's seed.
pub fn simulate(plan: &NetPlan, engine: Engine, seed: Option<u64>) -> Result<SimReport, SimError> {
    let seed = seed.unwrap_or(plan.seed);
    let mut rt = Runtime::new();
    rt.set_seed(seed);
    load_programs(&mut rt, &plan.programs, engine)?;
    let host_config = |h: &crate::net::sim::format::HostPlan, salt| HostConfig {
        address: h.address,
        mtu: plan.link.mtu,
        cgroup: h.cgroup.clone(),
        sysctls: plan.sysctls.clone(),
        random_seed: derive_seed(seed, salt),
    };
    let mut client = NetHost::new(host_config(&plan.client, 1))?;
    let mut server = NetHost::new(host_config(&plan.server, 2))?;
    let mut link = Link::new(plan.link, derive_seed(seed, 3));
    let mut ports: Vec<u16> = plan.connections.iter().map(|c| c.port).collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        server.listen(&mut rt, port)?;
    }
    let pattern: Vec<u8> = (0..SEND_CHUNK).map(|i| (i % 251) as u8).collect();
    let mut runs: Vec<ConnRun> = plan
        .connections
        .iter()
        .map(|_| ConnRun::default())
        .collect();
    let mut now = 0u64;
    let mut steps = 0;
    while steps < MAX_STEPS {
        steps += 1;
        client.set_now(now);
        server.set_now(now);
        // Frames due now, one at a time, each answered before the next arrives.
        loop {
            let mut any = false;
            if let Some(f) = link.pop_due(Direction::ToServer, now) {
                server.receive(&mut rt, f)?;
                any = true;
            }
            if let Some(f) = link.pop_due(Direction::ToClient, now) {
                client.receive(&mut rt, f)?;
                any = true;
            }
            forward(&mut client, &mut server, &mut link, now);
            if !any {
                break;
            }
        }
        for (i, (c, run)) in plan.connections.iter().zip(runs.iter_mut()).enumerate() {
            if run.client.is_none() && c.start_us <= now {
                let remote = SocketAddr::new(plan.server.address, c.port);
                run.client = Some(client.connect(&mut rt, CLIENT_PORT_BASE + i as u16, remote)?);
            }
            step_apps(c, run, i, &mut client, &mut server, &mut rt, &pattern, now)?;
            forward(&mut client, &mut server, &mut link, now);
        }
        client.poll(&mut rt)?;
        server.poll(&mut rt)?;
        forward(&mut client, &mut server, &mut link, now);
        let all_done = runs.iter().all(|r| {
            let c = r
                .client
                .and_then(|id| client.tcp_socket(id).ok())
                .is_some_and(|s| finished(s.state()));
            let s = r
                .server
                .and_then(|id| server.tcp_socket(id).ok())
                .is_none_or(|s| finished(s.state()));
            c && s
        });
        if all_done {
            break;
        }
        let next_start = plan
            .connections
            .iter()
            .zip(&runs)
            .filter(|(_, r)| r.client.is_none())
            .map(|(c, _)| c.start_us)
            .min();
        let next = [
            link.next_arrival(),
            client.poll_at(),
            server.poll_at(),
            next_start,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        let next = next.max(now + 1);
        if next > plan.duration_us {
            break;
        }
        now = next;
    }
    let connections = plan
        .connections
        .iter()
        .zip(&runs)
        .map(|(c, r)| ConnectionReport {
            name: c.name.clone(),
            port: c.port,
            established_us: r
                .client
                .and_then(|id| client.connection(id).ok())
                .and_then(|c| c.established_us),
            completed_us: r.completed_us,
            client: r.client.and_then(|id| side_report(&client, id)),
            server: r.server.and_then(|id| side_report(&server, id)),
        })
        .collect();
    Ok(SimReport {
        engine,
        seed,
        end_us: now,
        steps,
        dropped: link.dropped,
        connections,
        maps: dump_maps(
            &rt,
            &[&client, &server]
                .iter()
                .flat_map(|host| host.connections().iter().map(|c| &c.model))
                .collect::<Vec<_>>(),
        ),
    })
}

/// Moves what both hosts transmitted onto the link.
fn forward(client: &mut NetHost, server: &mut NetHost, link: &mut Link, now: u64) {
    for f in client.take_transmitted() {
        link.send(Direction::ToServer, f, now);
    }
    for f in server.take_transmitted() {
        link.send(Direction::ToClient, f, now);
    }
}

#[allow(clippy::too_many_arguments)]
fn step_apps(
    c: &ConnectionPlan,
    run: &mut ConnRun,
    index: usize,
    client: &mut NetHost,
    server: &mut NetHost,
    rt: &mut Runtime,
    pattern: &[u8],
    now: u64,
) -> Result<(), SimError> {
    let Some(cid) = run.client else {
        return Ok(());
    };
    if run.server.is_none() {
        let client_addr = SocketAddr::new(client.address(), CLIENT_PORT_BASE + index as u16);
        run.server = server.find(c.port, client_addr);
    }
    // Client: write the request, read the response, close once it is all there.
    if client.tcp_socket(cid)?.may_send() && !run.request.done(&c.request) {
        run.request.step(&c.request, client, rt, cid, pattern)?;
    }
    run.response_received += client.recv(rt, cid)? as u64;
    let acked = client.connection(cid)?.model.tcp.bytes_acked;
    if run.completed_us.is_none()
        && run.request.done(&c.request)
        && acked >= c.request.bytes
        && run.response_received >= c.response.bytes
    {
        run.completed_us = Some(now);
    }
    if run.completed_us.is_some() && !run.client_closed {
        run.client_closed = true;
        client.close(rt, cid)?;
    }
    // Server: read the request, answer it, close after the client's FIN.
    if let Some(sid) = run.server {
        run.request_received += server.recv(rt, sid)? as u64;
        let may_send = server.tcp_socket(sid)?.may_send();
        if run.request_received >= c.request.bytes && may_send && !run.response.done(&c.response) {
            run.response.step(&c.response, server, rt, sid, pattern)?;
        }
        let state = server.tcp_socket(sid)?.state();
        if state == State::CloseWait && run.response.done(&c.response) && !run.server_closed {
            run.server_closed = true;
            server.close(rt, sid)?;
        }
    }
    Ok(())
}

fn side_report(host: &NetHost, id: ConnId) -> Option<SideReport> {
    let conn: &Connection = host.connection(id).ok()?;
    let tcp = host.tcp_socket(id).ok()?;
    // Ops in the order each was first delivered, with their counts.
    let mut ops: Vec<(SockOp, usize)> = Vec::new();
    for e in conn.ops.iter().filter(|e| e.enabled) {
        match ops.iter_mut().find(|(op, _)| *op == e.op) {
            Some((_, n)) => *n += 1,
            None => ops.push((e.op, 1)),
        }
    }
    Some(SideReport {
        segments_sent: conn.model.tcp.segs_out,
        retransmits: conn.retransmits,
        ops,
        options: conn.options(),
        congestion: congestion_name(tcp.congestion_control()),
        nagle: tcp.nagle_enabled(),
        op_log: conn.ops.clone(),
        sent: conn.sent.clone(),
        metrics: conn.model.tcp,
        established_us: conn.established_us,
    })
}
