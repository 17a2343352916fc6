//! The running Linux kernel's BPF subsystem, for the commands that use it as the reference
//! (`sockops record`, `sockops compare`) and for the tests' kernel oracle: maps
//! (`BPF_MAP_CREATE`), sock_ops programs (`BPF_PROG_LOAD`), cgroup attachment that is undone
//! on drop (`BPF_PROG_ATTACH` / `BPF_PROG_DETACH`), cgroup2 paths, and ring buffers read
//! through their memory mapping ([`ringbuf`]).
//!
//! Linux-only: the `bpf()` syscall. Everything returns a [`KernelError`]; nothing panics
//! when `bpf()` is denied.

pub mod ringbuf;
mod sys;

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sockops_vm::{Insn, MapDef};

pub use ringbuf::RingbufReader;

/// `BPF_PROG_TYPE_SOCK_OPS`.
pub const PROG_TYPE_SOCK_OPS: u32 = 13;
/// `BPF_CGROUP_SOCK_OPS` attach type.
pub const ATTACH_CGROUP_SOCK_OPS: u32 = 3;
/// `BPF_F_ALLOW_MULTI`.
pub const F_ALLOW_MULTI: u32 = 2;
/// `CGROUP2_SUPER_MAGIC` (statfs `f_type` of a cgroup2 file system).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Why a request to the kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// `bpf()` is not permitted (not root, seccomp, `kernel.unprivileged_bpf_disabled`).
    #[error("bpf() is not permitted here ({what}: {source}); run as root on Linux")]
    Denied {
        /// The command that was refused.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A map could not be created.
    #[error("BPF_MAP_CREATE for map {name:?} ({def:?}): {source}")]
    MapCreate {
        /// The map's name in its object.
        name: String,
        /// Its definition.
        def: MapDef,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel's verifier rejected a program.
    #[error("the kernel rejects program {program}: {message} (errno {errno})\n{log}")]
    Rejected {
        /// Program name.
        program: String,
        /// The last error line of the verifier log.
        message: String,
        /// The errno of the rejection.
        errno: i32,
        /// The whole verifier log.
        log: String,
    },
    /// A path is not a directory of a cgroup2 file system.
    #[error("{path} is not a cgroup2 directory{detail}")]
    NotCgroup2 {
        /// The path.
        path: PathBuf,
        /// Why (empty, or ": " and the OS error).
        detail: String,
    },
    /// Attaching to a cgroup failed.
    #[error("cannot attach {program} to cgroup {cgroup}: {source}{hint}")]
    Attach {
        /// Program name.
        program: String,
        /// The cgroup.
        cgroup: PathBuf,
        /// The OS error.
        source: std::io::Error,
        /// A hint for the usual causes.
        hint: &'static str,
    },
    /// Another system call failed.
    #[error("{what}: {source}")]
    Os {
        /// What was attempted.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl KernelError {
    fn os(what: impl Into<String>, source: std::io::Error) -> KernelError {
        KernelError::Os {
            what: what.into(),
            source,
        }
    }
}

/// A kernel map, closed on drop.
#[derive(Debug)]
pub struct KernelMap {
    fd: OwnedFd,
    /// The definition it was created from.
    pub def: MapDef,
}

impl KernelMap {
    /// A map created elsewhere (e.g. with BTF the caller loaded), owned from now on.
    pub fn adopt(fd: OwnedFd, def: MapDef) -> KernelMap {
        KernelMap { fd, def }
    }

    /// Creates a map (`BPF_MAP_CREATE`); `name` only names it in errors.
    pub fn create(name: &str, def: &MapDef) -> Result<KernelMap, KernelError> {
        match sys::map_create(def) {
            Ok(fd) => Ok(KernelMap { fd, def: *def }),
            Err(source) if source.raw_os_error() == Some(libc::EPERM) => Err(KernelError::Denied {
                what: "BPF_MAP_CREATE",
                source,
            }),
            Err(source) => Err(KernelError::MapCreate {
                name: name.to_string(),
                def: *def,
                source,
            }),
        }
    }

    /// The map's file descriptor number.
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Stores `value` under the 4-byte key `key` (`BPF_MAP_UPDATE_ELEM`, `BPF_ANY`).
    pub fn update(&self, key: u32, value: &[u8]) -> Result<(), std::io::Error> {
        sys::map_update(self.fd(), &key.to_ne_bytes(), value)
    }

    /// Freezes the map (`BPF_MAP_FREEZE`): user space may no longer write it.
    pub fn freeze(&self) -> Result<(), std::io::Error> {
        sys::map_freeze(self.fd())
    }
}

/// Replaces map indices in `LD_IMM64` slots (src 1 = map fd, src 2 = map value) by the
/// fds in `fds`. An index out of range becomes fd -1, which is never a map (left as it was,
/// it could be the number of some open map fd of this process).
pub fn patch_map_fds(insns: &[Insn], fds: &[i32]) -> Vec<Insn> {
    let mut out = insns.to_vec();
    let mut pc = 0;
    while pc < out.len() {
        let i = out[pc];
        if i.opcode == sockops_vm::opcode::LD_IMM64 {
            if i.src == 1 || i.src == 2 {
                out[pc].imm = usize::try_from(i.imm)
                    .ok()
                    .and_then(|k| fds.get(k))
                    .copied()
                    .unwrap_or(-1);
            }
            pc += 2;
        } else {
            pc += 1;
        }
    }
    out
}

/// The outcome of one `BPF_PROG_LOAD`.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The program's fd when the kernel accepted it.
    pub fd: Option<OwnedFd>,
    /// The errno of a rejection (0 when accepted).
    pub errno: i32,
    /// The verifier log (empty at log level 0).
    pub log: String,
}

/// Loads `insns` (map fds already patched in) as a sock_ops program. `log` is the verifier
/// log buffer (empty for none); `log_level` 1 gives the error path, 2 the full state log.
pub fn load_sock_ops(insns: &[Insn], license: &str, log_level: u32, log: &mut [u8]) -> LoadOutcome {
    let license = CString::new(license.replace('\0', "")).unwrap_or_default();
    let (r, text) = sys::prog_load(PROG_TYPE_SOCK_OPS, insns, &license, log_level, log);
    match r {
        Ok(fd) => LoadOutcome {
            fd: Some(fd),
            errno: 0,
            log: text,
        },
        Err(e) => LoadOutcome {
            fd: None,
            errno: e.raw_os_error().unwrap_or(0),
            log: text,
        },
    }
}

/// The last error line of a verifier log: the last non-empty line that is not one of the
/// statistics lines the kernel appends (`processed N insns ...`, `verification time ...`).
/// The `cur state:` / `old state:` lines after an infinite-loop report are skipped, and a
/// message glued to a truncated instruction line keeps only the message.
pub fn last_error_line(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .find(|l| {
            !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
                && !l.starts_with("mark_precise")
                && !l.starts_with("cur state:")
                && !l.starts_with("old state:")
        })
        .unwrap_or("");
    const GLUED: &str = "BPF program is too large";
    match line.find(GLUED) {
        Some(k) => line[k..].to_string(),
        None => line.to_string(),
    }
}

/// A sock_ops program of an object loaded into the kernel, with the kernel maps it uses
/// (one per map of the program, in the program's map order).
#[derive(Debug)]
pub struct KernelProgram {
    /// Program name.
    pub name: String,
    fd: OwnedFd,
    /// Its maps (shared with the other programs of its object loaded with it).
    pub maps: Vec<Arc<KernelMap>>,
}

impl KernelProgram {
    /// Creates the program's maps and loads it; a rejection carries the verifier's log.
    pub fn load(program: &sockops_vm::Program) -> Result<KernelProgram, KernelError> {
        let mut maps = Vec::with_capacity(program.maps.len());
        for m in &program.maps {
            maps.push(Arc::new(KernelMap::create(m.name(), m.def())?));
        }
        KernelProgram::load_with_maps(program, maps)
    }

    /// Loads `program` with `maps` as its maps (in the program's map order).
    fn load_with_maps(
        program: &sockops_vm::Program,
        maps: Vec<Arc<KernelMap>>,
    ) -> Result<KernelProgram, KernelError> {
        let fds: Vec<i32> = maps.iter().map(|m| m.fd()).collect();
        let insns = patch_map_fds(&program.insns, &fds);
        let license = if program.license.is_empty() {
            "GPL"
        } else {
            &program.license
        };
        let mut log = vec![0u8; 1 << 20];
        let out = load_sock_ops(&insns, license, 1, &mut log);
        match out.fd {
            Some(fd) => Ok(KernelProgram {
                name: program.name.clone(),
                fd,
                maps,
            }),
            None if out.errno == libc::EPERM && out.log.is_empty() => Err(KernelError::Denied {
                what: "BPF_PROG_LOAD",
                source: std::io::Error::from_raw_os_error(out.errno),
            }),
            None => Err(KernelError::Rejected {
                program: program.name.clone(),
                message: last_error_line(&out.log),
                errno: out.errno,
                log: out.log,
            }),
        }
    }

    /// Loads `program` of `object` as libbpf would: the object's maps are created once for
    /// all its programs, with their contents at load (global data; frozen when programs may
    /// only read them, as `.rodata`), and every program the object's prog arrays name
    /// (`.values`) is loaded too and stored in its slot. Returns the program, then the
    /// programs it may tail-call (kept loaded while the slots refer to them).
    pub fn load_from_object(
        object: &sockops_vm::elf::Object,
        program: &sockops_vm::Program,
    ) -> Result<(KernelProgram, Vec<KernelProgram>), KernelError> {
        let mut shared: Vec<(*const sockops_vm::Map, String, Arc<KernelMap>)> = Vec::new();
        let entry = KernelProgram::load_shared(program, &mut shared)?;
        let mut others = Vec::new();
        for init in object.prog_array_inits() {
            let Ok(target) = object.program(&init.program) else {
                continue;
            };
            let loaded = KernelProgram::load_shared(target, &mut shared)?;
            if let Some((_, _, array)) = shared.iter().find(|(_, name, _)| *name == init.map) {
                array
                    .update(init.index, &(loaded.fd() as u32).to_ne_bytes())
                    .map_err(|e| {
                        KernelError::os(
                            format!(
                                "cannot store {} in {}[{}]",
                                init.program, init.map, init.index
                            ),
                            e,
                        )
                    })?;
            }
            others.push(loaded);
        }
        Ok((entry, others))
    }

    fn load_shared(
        program: &sockops_vm::Program,
        shared: &mut Vec<(*const sockops_vm::Map, String, Arc<KernelMap>)>,
    ) -> Result<KernelProgram, KernelError> {
        let mut maps = Vec::with_capacity(program.maps.len());
        for m in &program.maps {
            let key = Arc::as_ptr(m);
            if let Some((_, _, km)) = shared.iter().find(|(p, _, _)| *p == key) {
                maps.push(Arc::clone(km));
                continue;
            }
            let km = Arc::new(KernelMap::create(m.name(), m.def())?);
            if m.map_type() == sockops_vm::MapType::Array {
                for (k, v) in m.entries() {
                    let key = u32::from_ne_bytes(
                        k.get(..4).and_then(|b| b.try_into().ok()).unwrap_or([0; 4]),
                    );
                    if v.iter().any(|&b| b != 0) {
                        km.update(key, &v).map_err(|e| {
                            KernelError::os(format!("cannot fill map {}", m.name()), e)
                        })?;
                    }
                }
                if m.is_read_only_for_programs() {
                    km.freeze().map_err(|e| {
                        KernelError::os(format!("cannot freeze map {}", m.name()), e)
                    })?;
                }
            }
            shared.push((key, m.name().to_string(), Arc::clone(&km)));
            maps.push(km);
        }
        KernelProgram::load_with_maps(program, maps)
    }

    /// The program's fd number.
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// The kernel map the program knows as `name`.
    pub fn map(&self, program: &sockops_vm::Program, name: &str) -> Option<&KernelMap> {
        program
            .maps
            .iter()
            .position(|m| m.name() == name)
            .and_then(|k| self.maps.get(k))
            .map(|m| &**m)
    }
}

/// An open cgroup2 directory.
#[derive(Debug)]
pub struct Cgroup {
    /// Its path.
    pub path: PathBuf,
    fd: OwnedFd,
}

impl Cgroup {
    /// Opens `path`, which must be a directory of a cgroup2 file system.
    pub fn open(path: &Path) -> Result<Cgroup, KernelError> {
        let not = |detail: String| KernelError::NotCgroup2 {
            path: path.to_path_buf(),
            detail,
        };
        let file = std::fs::File::open(path).map_err(|e| not(format!(": {e}")))?;
        if !file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(not(": not a directory".into()));
        }
        let fd = OwnedFd::from(file);
        let magic = sys::fs_magic(fd.as_raw_fd()).map_err(|e| not(format!(": {e}")))?;
        if magic != CGROUP2_SUPER_MAGIC {
            return Err(not(format!(
                " (its file system has magic {magic:#x}, not cgroup2's {CGROUP2_SUPER_MAGIC:#x})"
            )));
        }
        Ok(Cgroup {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// Attaches `program` here as a sock_ops program with `BPF_F_ALLOW_MULTI` (it runs after
    /// the programs attached before it). Detached when the returned guard drops.
    pub fn attach_multi(&self, program: &KernelProgram) -> Result<Attachment, KernelError> {
        let dup = |fd: &OwnedFd, what: &str| {
            fd.try_clone()
                .map_err(|e| KernelError::os(format!("cannot duplicate the {what} fd"), e))
        };
        let (cgroup_fd, prog_fd) = (dup(&self.fd, "cgroup")?, dup(&program.fd, "program")?);
        sys::prog_attach(
            cgroup_fd.as_raw_fd(),
            prog_fd.as_raw_fd(),
            ATTACH_CGROUP_SOCK_OPS,
            F_ALLOW_MULTI,
        )
        .map_err(|source| {
            let hint = match source.raw_os_error() {
                Some(libc::EPERM) => {
                    " (a program attached there, or above, without BPF_F_ALLOW_MULTI keeps others out; or not root)"
                }
                Some(libc::E2BIG) => " (the cgroup has the most programs it may hold)",
                _ => "",
            };
            KernelError::Attach {
                program: program.name.clone(),
                cgroup: self.path.clone(),
                source,
                hint,
            }
        })?;
        Ok(Attachment {
            cgroup_fd,
            prog_fd,
            program: program.name.clone(),
            cgroup: self.path.clone(),
        })
    }
}

/// A program attached to a cgroup through a BPF link: the kernel detaches it when the link's
/// fd closes, on drop and also when the process dies (killed included), so nothing stays
/// attached behind a run that did not finish.
#[derive(Debug)]
pub struct Link {
    _fd: OwnedFd,
    /// The program's name.
    pub program: String,
}

impl Cgroup {
    /// Attaches `program` here as a sock_ops program through a BPF link (multi: it runs after
    /// the programs attached before it). Detached when the returned link drops, or when this
    /// process dies.
    pub fn link(&self, program: &KernelProgram) -> Result<Link, KernelError> {
        let fd = sys::link_create(
            self.fd.as_raw_fd(),
            program.fd.as_raw_fd(),
            ATTACH_CGROUP_SOCK_OPS,
        )
        .map_err(|source| KernelError::Attach {
            program: program.name.clone(),
            cgroup: self.path.clone(),
            hint: match source.raw_os_error() {
                Some(libc::EPERM) => {
                    " (a program attached there, or above, without BPF_F_ALLOW_MULTI keeps others out; or not root)"
                }
                _ => "",
            },
            source,
        })?;
        Ok(Link {
            _fd: fd,
            program: program.name.clone(),
        })
    }
}

/// A program attached to a cgroup; detached on drop (an error then is ignored: the kernel
/// detaches a cgroup's programs when the cgroup goes away).
#[derive(Debug)]
pub struct Attachment {
    cgroup_fd: OwnedFd,
    prog_fd: OwnedFd,
    program: String,
    cgroup: PathBuf,
}

impl Attachment {
    /// Detaches now, reporting a failure.
    pub fn detach(mut self) -> Result<(), KernelError> {
        let r = self.detach_ref();
        self.program.clear();
        r
    }

    fn detach_ref(&self) -> Result<(), KernelError> {
        sys::prog_detach(
            self.cgroup_fd.as_raw_fd(),
            self.prog_fd.as_raw_fd(),
            ATTACH_CGROUP_SOCK_OPS,
        )
        .map_err(|e| {
            KernelError::os(
                format!(
                    "cannot detach {} from {}",
                    self.program,
                    self.cgroup.display()
                ),
                e,
            )
        })
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // `detach` clears the name once done.
        if !self.program.is_empty() {
            let _ = self.detach_ref();
        }
    }
}

/// The ids of the sock_ops programs attached directly to a cgroup (`BPF_PROG_QUERY`).
pub fn attached_sock_ops(cgroup: &Cgroup) -> Result<Vec<u32>, KernelError> {
    sys::prog_query(cgroup.fd.as_raw_fd(), ATTACH_CGROUP_SOCK_OPS)
        .map_err(|e| KernelError::os(format!("BPF_PROG_QUERY on {}", cgroup.path.display()), e))
}

/// Where the cgroup2 file system is mounted (from `/proc/self/mountinfo`), if it is.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount))
    })
}

/// The cgroup2 path of the calling process (`0::/path` in `/proc/self/cgroup`), relative to
/// the cgroup2 mount.
pub fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// A cgroup2 directory this process created under the cgroup2 mount, removed on drop (once
/// the processes moved into it have exited).
#[derive(Debug)]
pub struct OwnedCgroup {
    /// Its path.
    pub path: PathBuf,
}

impl OwnedCgroup {
    /// Creates `<cgroup2 mount>/<prefix>-<pid>-<n>` (a fresh name).
    pub fn create(prefix: &str) -> Result<OwnedCgroup, KernelError> {
        let mount = cgroup2_mount().ok_or_else(|| KernelError::NotCgroup2 {
            path: PathBuf::from("/proc/self/mountinfo"),
            detail: ": no cgroup2 file system is mounted".into(),
        })?;
        for n in 0..1000 {
            let path = mount.join(format!("{prefix}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(OwnedCgroup { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(KernelError::os(
                        format!("cannot create cgroup {}", path.display()),
                        e,
                    ));
                }
            }
        }
        Err(KernelError::os(
            format!("cannot find a free cgroup name under {}", mount.display()),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ))
    }

    /// Removes the directory now (waiting up to two seconds for exiting processes to leave).
    pub fn remove(self) -> Result<(), KernelError> {
        let r = self.remove_ref();
        std::mem::forget(self);
        r
    }

    fn remove_ref(&self) -> Result<(), KernelError> {
        let mut last = None;
        for _ in 0..200 {
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(KernelError::os(
            format!("cannot remove cgroup {}", self.path.display()),
            last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::Other)),
        ))
    }
}

impl Drop for OwnedCgroup {
    fn drop(&mut self) {
        let _ = self.remove_ref();
    }
}

/// The kernel's `nr_cpu_ids` (from `/sys/devices/system/cpu/possible`, e.g. `0-1` is 2):
/// the bound its verifier gives `bpf_get_smp_processor_id`, so our verifier must use the
/// same `VerifyOptions::nr_cpu_ids` to reach the same verdict. 1 when unreadable.
pub fn possible_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|text| {
            text.trim()
                .split(',')
                .filter_map(|range| {
                    let last = range.rsplit('-').next()?;
                    last.trim().parse::<u32>().ok()
                })
                .max()
        })
        .map_or(1, |highest| highest.saturating_add(1))
}
