//! The kernel oracle: over `sockops::kernel`'s `bpf(BPF_PROG_LOAD)` and `bpf(BPF_MAP_CREATE)`, it
//! asks the running Linux kernel's verifier for its verdict on a `BPF_PROG_TYPE_SOCK_OPS`
//! program. Used by the corpus generator (`tests/src/bin/gen_verifier_corpus`) and by tests
//! that compare our verifier with the kernel.
//!
//! Two privilege levels are offered:
//! - **root**: the calling thread's own capabilities (normally all of them);
//! - **strict**: a dedicated worker thread that drops every capability except `CAP_BPF` and
//!   `CAP_NET_ADMIN` (sock_ops is a net-admin program type, so loading it needs both). Linux
//!   capabilities are per thread, so only that worker loses `CAP_PERFMON` / `CAP_SYS_ADMIN`;
//!   the kernel then refuses pointer leaks, pointer comparisons, uninitialised stack reads
//!   and the other things it reserves for `perfmon_capable()` loaders.
//!
//! Nothing here panics on a denied `bpf()`: errors come back as `OracleError`.

use std::sync::mpsc;
use std::thread;

use sockops_vm::{Insn, MapDef};

pub use sockops::kernel::PROG_TYPE_SOCK_OPS;
/// Size of the kernel log buffer we hand to the verifier (16 MiB is the kernel's own cap
/// for `log_size` before 5.2; larger logs are truncated with ENOSPC).
const LOG_SIZE: usize = 1 << 22;

/// `CAP_NET_ADMIN` bit number.
const CAP_NET_ADMIN: u32 = 12;
/// `CAP_BPF` bit number.
const CAP_BPF: u32 = 39;
/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Why the oracle could not give a verdict (as opposed to the kernel rejecting a program).
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// `bpf()` itself is not permitted here (no privileges, seccomp, unprivileged_bpf_disabled).
    #[error("bpf() is not permitted here: {0}")]
    Denied(String),
    /// A map could not be created.
    #[error("BPF_MAP_CREATE for map {index} ({def:?}) failed: {err}")]
    MapCreate {
        /// Index of the map in the request.
        index: usize,
        /// Its definition.
        def: MapDef,
        /// The OS error.
        err: std::io::Error,
    },
    /// The strict worker thread could not be set up (capset failed) or died.
    #[error("strict-mode worker: {0}")]
    Strict(String),
}

/// The kernel's answer for one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVerdict {
    /// True if `BPF_PROG_LOAD` returned a program fd.
    pub accepted: bool,
    /// The errno of a rejection (0 when accepted).
    pub errno: i32,
    /// The verifier log (log level 1; level 2 when asked for).
    pub log: String,
    /// The last error line of the log: the kernel's message for the first error, or empty
    /// when accepted.
    pub message: String,
}

use sockops::kernel::{KernelError, load_sock_ops};
pub use sockops::kernel::{KernelMap, last_error_line};

/// Creates a kernel map from a definition.
pub fn create_map(index: usize, def: &MapDef) -> Result<KernelMap, OracleError> {
    KernelMap::create(&format!("map {index}"), def).map_err(|e| match e {
        KernelError::Denied { what, source } => OracleError::Denied(format!("{what}: {source}")),
        KernelError::MapCreate { source, .. } => OracleError::MapCreate {
            index,
            def: *def,
            err: source,
        },
        other => OracleError::Denied(other.to_string()),
    })
}

/// Creates kernel map 0 from `def`, stores `value` under key 0 and freezes the map if
/// `frozen`: a `.rodata`-style array as libbpf prepares it. A failing update or freeze is
/// reported as the map's creation failing.
pub fn create_filled_map(
    def: &MapDef,
    value: &[u8],
    frozen: bool,
) -> Result<KernelMap, OracleError> {
    let map = create_map(0, def)?;
    let failed = |err| OracleError::MapCreate {
        index: 0,
        def: *def,
        err,
    };
    map.update(0, value).map_err(failed)?;
    if frozen {
        map.freeze().map_err(failed)?;
    }
    Ok(map)
}

/// Replaces map indices in LD_IMM64 slots (src 1 = map fd, src 2 = map value) by the fds of
/// `maps`. An index out of range becomes fd -1, which is never a map: left as it was, it
/// could happen to be the number of some open map fd of this process (the oracle keeps maps
/// open), and the kernel would accept what our verifier rightly refuses.
pub fn patch_map_fds(insns: &[Insn], maps: &[KernelMap]) -> Vec<Insn> {
    let fds: Vec<i32> = maps.iter().map(KernelMap::fd).collect();
    sockops::kernel::patch_map_fds(insns, &fds)
}

/// The kernel's `BPF_PROG_LOAD` time for `insns` (map fds already patched in) with the log
/// off: the fastest of `runs` loads (the program fd is closed at once), as the load costs a
/// caller.
pub fn load_time(insns: &[Insn], runs: usize) -> std::time::Duration {
    (0..runs.max(1))
        .map(|_| {
            let t = std::time::Instant::now();
            let _ = load_raw(insns, 0, &mut []);
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Loads `insns` (map fds already patched in) as a sock_ops program with license "GPL".
/// `log_level` 1 gives the error path; 2 the full state log. The program fd is closed at once.
/// A load that fails only because the log overflowed (ENOSPC: the program verified but its
/// log did not fit) is repeated without a log, so the verdict is the verifier's; one
/// interrupted by a signal (EAGAIN) is repeated.
pub fn load_raw(insns: &[Insn], log_level: u32, log: &mut [u8]) -> KernelVerdict {
    let mut v = load_once(insns, log_level, log);
    // A signal arriving during verification (a fuzzer's timer) makes the kernel give up with
    // EAGAIN and no message: that is no verdict, so load again.
    for _ in 0..8 {
        if v.accepted || v.errno != libc::EAGAIN {
            break;
        }
        v = load_once(insns, log_level, log);
    }
    if !v.accepted && v.errno == libc::ENOSPC && log_level > 0 {
        let mut quiet = load_once(insns, 0, &mut []);
        quiet.log = v.log;
        if !quiet.accepted {
            quiet.message = v.message;
        }
        return quiet;
    }
    v
}

fn load_once(insns: &[Insn], log_level: u32, log: &mut [u8]) -> KernelVerdict {
    let out = load_sock_ops(insns, "GPL", log_level, log);
    match out.fd {
        Some(_) => KernelVerdict {
            accepted: true,
            errno: 0,
            log: out.log,
            message: String::new(),
        },
        None => KernelVerdict {
            accepted: false,
            errno: out.errno,
            message: last_error_line(&out.log),
            log: out.log,
        },
    }
}

/// Drops the calling thread's capabilities to exactly `CAP_BPF` + `CAP_NET_ADMIN`
/// (effective and permitted; inheritable empty). Per-thread: other threads keep theirs.
fn drop_to_strict_caps() -> Result<(), std::io::Error> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let low = 1u32 << CAP_NET_ADMIN;
    let high = 1u32 << (CAP_BPF - 32);
    let data = [
        CapData {
            effective: low,
            permitted: low,
            inheritable: 0,
        },
        CapData {
            effective: high,
            permitted: high,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads a valid v3 header and two data structs, which live on this stack
    // frame for the duration of the call; pid 0 means the calling thread.
    let r = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

type StrictJob = (Vec<Insn>, u32, mpsc::Sender<KernelVerdict>);

/// The kernel oracle: loads programs in root and strict mode.
pub struct Oracle {
    log: Vec<u8>,
    strict: Option<mpsc::Sender<StrictJob>>,
    strict_error: Option<String>,
}

impl Oracle {
    /// Creates an oracle and checks that `bpf()` works by loading `r0 = 1; exit`.
    /// The strict worker is started too; if it cannot drop capabilities, strict loads fail
    /// with `OracleError::Strict` while root loads keep working.
    pub fn new() -> Result<Oracle, OracleError> {
        let mut log = vec![0u8; LOG_SIZE];
        let probe = [
            Insn::new(0xb7, 0, 0, 0, 1), // r0 = 1
            Insn::new(0x95, 0, 0, 0, 0), // exit
        ];
        let v = load_raw(&probe, 1, &mut log);
        if !v.accepted {
            return Err(OracleError::Denied(format!(
                "probe load failed: errno {} ({})",
                v.errno,
                std::io::Error::from_raw_os_error(v.errno)
            )));
        }
        let (tx, rx) = mpsc::channel::<StrictJob>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let spawned = thread::Builder::new()
            .name("bpf-strict".into())
            .spawn(move || {
                if let Err(e) = drop_to_strict_caps() {
                    let _ = ready_tx.send(Err(format!("capset: {e}")));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                let mut log = vec![0u8; LOG_SIZE];
                for (insns, level, reply) in rx {
                    let _ = reply.send(load_raw(&insns, level, &mut log));
                }
            });
        let (strict, strict_error) = match spawned {
            Err(e) => (None, Some(format!("spawn: {e}"))),
            Ok(_) => match ready_rx.recv() {
                Ok(Ok(())) => (Some(tx), None),
                Ok(Err(e)) => (None, Some(e)),
                Err(_) => (None, Some("worker exited".into())),
            },
        };
        Ok(Oracle {
            log,
            strict,
            strict_error,
        })
    }

    /// Creates the kernel maps for a request.
    pub fn create_maps(&self, defs: &[MapDef]) -> Result<Vec<KernelMap>, OracleError> {
        defs.iter()
            .enumerate()
            .map(|(i, d)| create_map(i, d))
            .collect()
    }

    /// Loads a program whose LD_IMM64 map references are indices into `maps`, as root.
    pub fn load(&mut self, insns: &[Insn], maps: &[KernelMap], log_level: u32) -> KernelVerdict {
        let patched = patch_map_fds(insns, maps);
        load_raw(&patched, log_level, &mut self.log)
    }

    /// Loads a program as a loader with only `CAP_BPF` + `CAP_NET_ADMIN`.
    pub fn load_strict(
        &mut self,
        insns: &[Insn],
        maps: &[KernelMap],
        log_level: u32,
    ) -> Result<KernelVerdict, OracleError> {
        let Some(tx) = &self.strict else {
            return Err(OracleError::Strict(
                self.strict_error.clone().unwrap_or_default(),
            ));
        };
        let (rtx, rrx) = mpsc::channel();
        let patched = patch_map_fds(insns, maps);
        tx.send((patched, log_level, rtx))
            .map_err(|_| OracleError::Strict("worker gone".into()))?;
        rrx.recv()
            .map_err(|_| OracleError::Strict("worker gone".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_vm::MapType;

    fn oracle() -> Option<Oracle> {
        match Oracle::new() {
            Ok(o) => Some(o),
            Err(e) => {
                println!("SKIP: kernel oracle unavailable: {e}");
                None
            }
        }
    }

    #[test]
    fn return_value_two_is_rejected_with_kernel_message() {
        let Some(mut o) = oracle() else { return };
        let prog = [Insn::new(0xb7, 0, 0, 0, 2), Insn::new(0x95, 0, 0, 0, 0)];
        let v = o.load(&prog, &[], 1);
        assert!(!v.accepted);
        assert_eq!(v.errno, libc::EINVAL);
        assert_eq!(
            v.message,
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"
        );
    }

    #[test]
    fn strict_mode_rejects_pointer_leak_that_root_accepts() {
        let Some(mut o) = oracle() else { return };
        // *(u32 *)(r1 + 4) = r10 (pointer stored into ctx->reply); r0 = 1; exit
        let prog = [
            Insn::new(0x63, 1, 10, 4, 0),
            Insn::new(0xb7, 0, 0, 0, 1),
            Insn::new(0x95, 0, 0, 0, 0),
        ];
        let root = o.load(&prog, &[], 1);
        assert!(root.accepted, "{}", root.log);
        match o.load_strict(&prog, &[], 1) {
            Ok(v) => assert!(!v.accepted),
            Err(e) => println!("SKIP strict: {e}"),
        }
    }

    #[test]
    fn hash_map_lookup_without_null_check_is_rejected() {
        let Some(mut o) = oracle() else { return };
        let def = MapDef {
            map_type: MapType::Hash,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            map_flags: 0,
        };
        let maps = o.create_maps(&[def]).expect("map create");
        let prog = [
            Insn::new(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
            Insn::new(0x18, 1, 1, 0, 0),   // r1 = map[0]
            Insn::new(0, 0, 0, 0, 0),
            Insn::new(0xbf, 2, 10, 0, 0), // r2 = r10
            Insn::new(0x07, 2, 0, 0, -4), // r2 += -4
            Insn::new(0x85, 0, 0, 0, 1),  // call map_lookup_elem
            Insn::new(0x61, 0, 0, 0, 0),  // r0 = *(u32 *)(r0 + 0)
            Insn::new(0xb7, 0, 0, 0, 1),
            Insn::new(0x95, 0, 0, 0, 0),
        ];
        let v = o.load(&prog, &maps, 1);
        assert!(!v.accepted);
        assert_eq!(v.message, "R0 invalid mem access 'map_value_or_null'");
    }
}
