//! Real loopback TCP connections for recording (`sockops compare`, the recorder's tests):
//! a process joins a cgroup, opens connections to itself over 127.0.0.1 or ::1 only (connect,
//! a small transfer each way, close), and reads back, on both sides, the socket options a
//! sock_ops program may have set, with `getsockopt`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// Bytes each side sends on each connection.
pub const TRANSFER_BYTES: usize = 4096;

/// The options read back from a socket, by their `bpf_setsockopt` names.
pub const READ_BACK: [(&str, i32, i32); 10] = [
    ("SO_SNDBUF", libc::SOL_SOCKET, libc::SO_SNDBUF),
    ("SO_RCVBUF", libc::SOL_SOCKET, libc::SO_RCVBUF),
    ("SO_MARK", libc::SOL_SOCKET, libc::SO_MARK),
    ("SO_PRIORITY", libc::SOL_SOCKET, libc::SO_PRIORITY),
    ("TCP_NODELAY", libc::IPPROTO_TCP, libc::TCP_NODELAY),
    ("TCP_MAXSEG", libc::IPPROTO_TCP, libc::TCP_MAXSEG),
    ("TCP_KEEPIDLE", libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (
        "TCP_WINDOW_CLAMP",
        libc::IPPROTO_TCP,
        libc::TCP_WINDOW_CLAMP,
    ),
    (
        "TCP_NOTSENT_LOWAT",
        libc::IPPROTO_TCP,
        libc::TCP_NOTSENT_LOWAT,
    ),
    (
        "TCP_USER_TIMEOUT",
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
    ),
];

/// One side of one connection, after its transfer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SideReport {
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// `TCP_CONGESTION`.
    pub congestion: String,
    /// Every option of [`READ_BACK`] that could be read, with its value.
    pub options: Vec<(String, i64)>,
}

/// Moves the calling process into the cgroup2 directory `cgroup` (writes `0`, "myself", to
/// its `cgroup.procs`).
pub fn join_cgroup(cgroup: &Path) -> std::io::Result<()> {
    std::fs::write(cgroup.join("cgroup.procs"), "0")
}

fn int_option(fd: i32, level: i32, name: i32) -> Option<i64> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`, which lives for the call; `fd`
    // is an open socket of the caller.
    let r = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &raw mut len) };
    (r == 0).then_some(i64::from(v))
}

fn congestion(fd: i32) -> String {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: as above, into a 16-byte buffer (TCP_CA_NAME_MAX).
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &raw mut len,
        )
    };
    if r != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// What `getsockopt` reads back from `stream` (both families: `IP_TOS` or `IPV6_TCLASS`).
pub fn read_back(stream: &TcpStream) -> std::io::Result<SideReport> {
    let fd = stream.as_raw_fd();
    let local = stream.local_addr()?;
    let mut options: Vec<(String, i64)> = READ_BACK
        .iter()
        .filter_map(|&(n, level, name)| int_option(fd, level, name).map(|v| (n.to_string(), v)))
        .collect();
    let tos = if local.is_ipv4() {
        ("IP_TOS", int_option(fd, libc::IPPROTO_IP, libc::IP_TOS))
    } else {
        (
            "IPV6_TCLASS",
            int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
        )
    };
    if let (n, Some(v)) = tos {
        options.push((n.to_string(), v));
    }
    Ok(SideReport {
        local,
        remote: stream.peer_addr()?,
        congestion: congestion(fd),
        options,
    })
}

/// Runs `count` loopback connections (127.0.0.1, or ::1 with `ipv6`) one after the other:
/// connect, [`TRANSFER_BYTES`] each way, options read back on both sides, close (client
/// first). Returns (client, server) reports per connection.
pub fn run_connections(count: usize, ipv6: bool) -> std::io::Result<Vec<(SideReport, SideReport)>> {
    let ip: std::net::IpAddr = if ipv6 {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let listener = TcpListener::bind(SocketAddr::new(ip, 0))?;
    let addr = listener.local_addr()?;
    let timeout = Some(Duration::from_secs(10));
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut client = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        let (mut server, _) = listener.accept()?;
        for s in [&client, &server] {
            s.set_read_timeout(timeout)?;
            s.set_write_timeout(timeout)?;
        }
        let data = vec![0x5au8; TRANSFER_BYTES];
        let mut buf = vec![0u8; TRANSFER_BYTES];
        client.write_all(&data)?;
        server.read_exact(&mut buf)?;
        server.write_all(&data)?;
        client.read_exact(&mut buf)?;
        let reports = (read_back(&client)?, read_back(&server)?);
        drop(client);
        // The server sees the FIN, then closes its side.
        let _ = server.read(&mut buf);
        drop(server);
        out.push(reports);
    }
    Ok(out)
}
