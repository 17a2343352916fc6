//! Applying what programs set on a `Socket` to its smoltcp socket, and reporting, for every
//! option a program set, whether smoltcp honours it. The table in the module docs of
//! [`crate::net`] is the contract; [`how_applied`] is its code. The model (`sockops-ctx`)
//! decides every return code; the bridge never changes one.

use smoltcp::socket::tcp::{CongestionControl, Socket as TcpSocket};
use smoltcp::time::Duration;

use sockops_ctx::Socket;
use sockops_ctx::sockopt::{OptionValue, current_value, level, option_name, optname};

/// How the bridge applies one option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Application {
    /// Set on the smoltcp socket (the name of the knob).
    Smoltcp(&'static str),
    /// Used for the smoltcp socket's buffers, which exist from its creation on: applied when
    /// set before the socket was created, model only after.
    AtCreation,
    /// Written into the IP header of every outgoing segment by the device wrapper.
    Device,
    /// Kept in the model (its return code and `bpf_getsockopt` value) but not honoured by
    /// smoltcp; the reason.
    ModelOnly(&'static str),
}

/// How option `(lvl, name)` is applied on a socket of the given family (`ipv6`).
pub fn how_applied(lvl: i32, name: i32, ipv6: bool) -> Application {
    use Application::*;
    use level::*;
    use optname::*;
    match (lvl, name) {
        (SOL_TCP, TCP_NODELAY) => Smoltcp("set_nagle_enabled"),
        (SOL_TCP, TCP_CONGESTION) => Smoltcp("set_congestion_control"),
        (SOL_TCP, TCP_BPF_DELACK_MAX) => Smoltcp("set_ack_delay"),
        (SOL_SOCKET, SO_KEEPALIVE) | (SOL_TCP, TCP_KEEPIDLE) => Smoltcp("set_keep_alive"),
        (SOL_TCP, TCP_USER_TIMEOUT) => Smoltcp("set_timeout"),
        (SOL_SOCKET, SO_SNDBUF) | (SOL_SOCKET, SO_RCVBUF) => AtCreation,
        (SOL_IP, IP_TOS) if !ipv6 => Device,
        (SOL_IP, IP_TOS) => ModelOnly("on an IPv6 socket IP_TOS only affects IPv4-mapped traffic"),
        (SOL_IPV6, IPV6_TCLASS) => Device,
        (SOL_TCP, TCP_KEEPINTVL) | (SOL_TCP, TCP_KEEPCNT) => {
            ModelOnly("smoltcp probes at one interval and never gives up on keep-alive")
        }
        (SOL_TCP, TCP_BPF_IW) => ModelOnly("smoltcp's initial window is fixed"),
        (SOL_TCP, TCP_BPF_SNDCWND_CLAMP) => ModelOnly("smoltcp's congestion window is private"),
        (SOL_TCP, TCP_BPF_RTO_MIN) => ModelOnly("smoltcp's RTO minimum is fixed"),
        (SOL_TCP, TCP_RTO_MAX_MS) => ModelOnly("smoltcp's RTO maximum is fixed"),
        (SOL_TCP, TCP_WINDOW_CLAMP) => ModelOnly("smoltcp advertises its free receive buffer"),
        (SOL_TCP, TCP_MAXSEG) => ModelOnly("smoltcp derives the MSS from the MTU"),
        (SOL_TCP, TCP_SYNCNT) => ModelOnly("smoltcp retries a SYN until the user timeout"),
        (SOL_TCP, TCP_SAVE_SYN) => ModelOnly(
            "no knob in smoltcp; the bridge saves the real SYN for TCP_SAVED_SYN / TCP_BPF_SYN*",
        ),
        (SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS) => {
            ModelOnly("callback flags gate the ops the bridge delivers; nothing in smoltcp")
        }
        (SOL_SOCKET, SK_BPF_CB_FLAGS) => ModelOnly("TX timestamping ops are not delivered"),
        _ => ModelOnly("smoltcp has no such knob"),
    }
}

/// One option a program set, as the simulation reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionReport {
    /// Kernel constant name (`TCP_NODELAY`, ...).
    pub name: &'static str,
    /// Its value as `bpf_getsockopt` returns it now (set-only options: the value set).
    pub value: OptionValue,
    /// Whether smoltcp (or the device wrapper) honours it on this socket.
    pub applied: bool,
    /// How, or why not.
    pub how: Application,
}

/// Every option a program set on `model`, in (level, optname) order. `created_with` lists
/// the (level, optname) pairs that were already set when the smoltcp socket was created.
pub fn report(model: &Socket, created_with: &[(i32, i32)]) -> Vec<OptionReport> {
    let ipv6 = model.local.is_ipv6();
    model
        .options_set
        .keys()
        .filter_map(|&(l, o)| {
            let name = option_name(l, o)?;
            let value = current_value(model, l, o)?;
            let how = how_applied(l, o, ipv6);
            let applied = match how {
                Application::Smoltcp("set_congestion_control") => {
                    congestion_of(&model.options.congestion).is_some()
                }
                Application::Smoltcp("set_keep_alive") => model.options.keepalive,
                Application::Smoltcp(_) | Application::Device => true,
                Application::AtCreation => created_with.contains(&(l, o)),
                Application::ModelOnly(_) => false,
            };
            Some(OptionReport {
                name,
                value,
                applied,
                how,
            })
        })
        .collect()
}

/// smoltcp's congestion controller for a kernel algorithm name, if it has one.
pub fn congestion_of(name: &str) -> Option<CongestionControl> {
    match name {
        "reno" => Some(CongestionControl::Reno),
        "cubic" => Some(CongestionControl::Cubic),
        _ => None,
    }
}

/// The kernel name of smoltcp's congestion controller.
pub fn congestion_name(cc: CongestionControl) -> &'static str {
    match cc {
        CongestionControl::Reno => "reno",
        CongestionControl::Cubic => "cubic",
        CongestionControl::None => "none",
    }
}

/// The traffic class the device writes into `model`'s outgoing segments, if a program set one.
pub fn traffic_class(model: &Socket) -> Option<u8> {
    if model.local.is_ipv6() {
        model
            .options_set
            .contains_key(&(level::SOL_IPV6, optname::IPV6_TCLASS))
            .then_some(model.options.tclass)
    } else {
        model
            .options_set
            .contains_key(&(level::SOL_IP, optname::IP_TOS))
            .then_some(model.options.tos)
    }
}

/// Sets every smoltcp knob from the model's current option state (called after every op).
/// A knob is only written when its value differs: `set_congestion_control` builds a fresh
/// controller (its window back to the initial one) and `set_keep_alive` rewinds the timer, so
/// rewriting an unchanged value would change smoltcp's behaviour. Knobs a program never
/// touched keep smoltcp's defaults, except Nagle and the congestion control, which follow
/// the model's defaults (Nagle on; `net.ipv4.tcp_congestion_control`).
pub fn apply(model: &Socket, tcp: &mut TcpSocket<'_>) {
    use level::*;
    use optname::*;
    let jiffies = model.sysctl.jiffies();
    if tcp.nagle_enabled() == model.options.nodelay {
        tcp.set_nagle_enabled(!model.options.nodelay);
    }
    if let Some(cc) = congestion_of(&model.options.congestion)
        && tcp.congestion_control() != cc
    {
        tcp.set_congestion_control(cc);
    }
    if model
        .options_set
        .contains_key(&(SOL_TCP, TCP_BPF_DELACK_MAX))
    {
        let us = jiffies.to_usecs(model.options.delack_max);
        let delay = Some(Duration::from_micros(u64::from(us)));
        if tcp.ack_delay() != delay {
            tcp.set_ack_delay(delay);
        }
    }
    let keepalive_touched = model.options_set.contains_key(&(SOL_SOCKET, SO_KEEPALIVE))
        || model.options_set.contains_key(&(SOL_TCP, TCP_KEEPIDLE));
    if keepalive_touched {
        let interval = model.options.keepalive.then(|| {
            let idle_ms = if model.options.keepalive_time == 0 {
                u64::from(model.sysctl.tcp_keepalive_time) * 1000
            } else {
                u64::from(jiffies.to_msecs(model.options.keepalive_time))
            };
            Duration::from_millis(idle_ms)
        });
        if tcp.keep_alive() != interval {
            tcp.set_keep_alive(interval);
        }
    }
    if model.options_set.contains_key(&(SOL_TCP, TCP_USER_TIMEOUT)) {
        let ms = model.options.user_timeout;
        let timeout = (ms > 0).then(|| Duration::from_millis(u64::from(ms)));
        if tcp.timeout() != timeout {
            tcp.set_timeout(timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_ctx::SockOp;
    use sockops_ctx::sockopt::bpf_setsockopt;

    fn int(v: i32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    #[test]
    fn programs_options_reach_smoltcp() {
        let mut model = Socket::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let op = SockOp::TcpConnectCb;
        assert_eq!(
            bpf_setsockopt(&mut model, op, 6, optname::TCP_NODELAY, &int(1)),
            0
        );
        assert_eq!(
            bpf_setsockopt(&mut model, op, 6, optname::TCP_CONGESTION, b"reno\0"),
            0
        );
        assert_eq!(
            bpf_setsockopt(&mut model, op, 6, optname::TCP_CONGESTION, b"bbr\0"),
            -2
        );
        assert_eq!(
            bpf_setsockopt(&mut model, op, 6, optname::TCP_BPF_DELACK_MAX, &int(40000)),
            0
        );
        assert_eq!(
            bpf_setsockopt(&mut model, op, 6, optname::TCP_USER_TIMEOUT, &int(3000)),
            0
        );
        assert_eq!(
            bpf_setsockopt(&mut model, op, 1, optname::SO_KEEPALIVE, &int(1)),
            0
        );
        assert_eq!(
            bpf_setsockopt(&mut model, op, 6, optname::TCP_BPF_IW, &int(40)),
            0
        );
        let mut tcp = TcpSocket::new(
            smoltcp::socket::tcp::SocketBuffer::new(vec![0; 1024]),
            smoltcp::socket::tcp::SocketBuffer::new(vec![0; 1024]),
        );
        apply(&model, &mut tcp);
        assert!(!tcp.nagle_enabled());
        assert_eq!(tcp.congestion_control(), CongestionControl::Reno);
        assert_eq!(tcp.ack_delay(), Some(Duration::from_millis(40)));
        assert_eq!(tcp.timeout(), Some(Duration::from_millis(3000)));
        assert_eq!(tcp.keep_alive(), Some(Duration::from_secs(7200)));
        let rep = report(&model, &[]);
        let find = |n: &str| rep.iter().find(|r| r.name == n).unwrap().clone();
        assert!(find("TCP_NODELAY").applied);
        assert_eq!(
            find("TCP_CONGESTION").value,
            OptionValue::Str("reno".into())
        );
        assert!(!find("TCP_BPF_IW").applied);
        assert!(matches!(find("TCP_BPF_IW").how, Application::ModelOnly(_)));
    }
}
