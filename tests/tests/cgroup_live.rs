//! The cgroup attach rules of `sockops::cgroup::CgroupTree` against the live kernel: the same
//! attach/detach sequences run on a private cgroup-v2 subtree this test creates (and removes),
//! comparing each errno and every cgroup's effective program order (`BPF_PROG_QUERY` with
//! `BPF_F_QUERY_EFFECTIVE`). Skips with a printed reason without root, cgroup2 or `bpf()`.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use sockops::cgroup::{AttachFlags, CgroupTree};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_CGROUP_SOCK_OPS: u32 = 3;
const BPF_F_QUERY_EFFECTIVE: u32 = 1;
const ATTR_SIZE: usize = 144;

fn sys_bpf(cmd: libc::c_long, attr: &mut [u8; ATTR_SIZE]) -> Result<i32, i32> {
    // SAFETY: `attr` is a live, zero-initialised 144-byte buffer (the size of the union
    // members used here); pointers stored in it point to live buffers of the stated sizes.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), ATTR_SIZE) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r as i32)
    }
}

fn put32(a: &mut [u8; ATTR_SIZE], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(a: &mut [u8; ATTR_SIZE], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Loads `r0 = 1; exit` as a sock_ops program; returns its fd and kernel id.
fn load_prog() -> Result<(OwnedFd, u32), i32> {
    let insns: [u8; 16] = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let license = c"GPL";
    let mut a = [0u8; ATTR_SIZE];
    put32(&mut a, 0, 13); // prog_type = BPF_PROG_TYPE_SOCK_OPS
    put32(&mut a, 4, 2); // insn_cnt
    put64(&mut a, 8, insns.as_ptr() as u64);
    put64(&mut a, 16, license.as_ptr() as u64);
    let fd = sys_bpf(BPF_PROG_LOAD, &mut a)?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut info = [0u8; 256];
    let mut a = [0u8; ATTR_SIZE];
    put32(&mut a, 0, fd.as_raw_fd() as u32);
    put32(&mut a, 4, info.len() as u32);
    put64(&mut a, 8, info.as_mut_ptr() as u64);
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    let id = u32::from_le_bytes([info[4], info[5], info[6], info[7]]);
    Ok((fd, id))
}

fn open_dir(path: &Path) -> OwnedFd {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path has no NUL");
    // SAFETY: `c` is a valid NUL-terminated path; the returned fd is checked below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(
        fd >= 0,
        "open {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` was just opened and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn attach(cg: &OwnedFd, prog: &OwnedFd, flags: AttachFlags) -> Result<(), i32> {
    let mut a = [0u8; ATTR_SIZE];
    put32(&mut a, 0, cg.as_raw_fd() as u32);
    put32(&mut a, 4, prog.as_raw_fd() as u32);
    put32(&mut a, 8, BPF_CGROUP_SOCK_OPS);
    put32(&mut a, 12, flags.bits());
    sys_bpf(BPF_PROG_ATTACH, &mut a).map(|_| ())
}

fn detach(cg: &OwnedFd, prog: &OwnedFd) -> Result<(), i32> {
    let mut a = [0u8; ATTR_SIZE];
    put32(&mut a, 0, cg.as_raw_fd() as u32);
    put32(&mut a, 4, prog.as_raw_fd() as u32);
    put32(&mut a, 8, BPF_CGROUP_SOCK_OPS);
    sys_bpf(BPF_PROG_DETACH, &mut a).map(|_| ())
}

fn effective(cg: &OwnedFd) -> Vec<u32> {
    let mut ids = [0u32; 128];
    let mut a = [0u8; ATTR_SIZE];
    put32(&mut a, 0, cg.as_raw_fd() as u32);
    put32(&mut a, 4, BPF_CGROUP_SOCK_OPS);
    put32(&mut a, 8, BPF_F_QUERY_EFFECTIVE);
    put64(&mut a, 16, ids.as_mut_ptr() as u64);
    put32(&mut a, 24, ids.len() as u32);
    sys_bpf(BPF_PROG_QUERY, &mut a).expect("BPF_PROG_QUERY");
    let cnt = u32::from_le_bytes([a[24], a[25], a[26], a[27]]) as usize;
    ids[..cnt.min(ids.len())].to_vec()
}

/// A private subtree under the cgroup2 mount, removed (deepest first) on drop.
struct Subtree {
    base: PathBuf,
    dirs: Vec<PathBuf>,
}

impl Drop for Subtree {
    fn drop(&mut self) {
        for d in self.dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        let _ = fs::remove_dir(&self.base);
    }
}

fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
    })
}

const CGROUPS: [&str; 5] = ["/", "/a", "/a/b", "/a/b/c", "/d"];

struct Step {
    cgroup: usize,
    prog: usize,
    flags: AttachFlags,
    detach: bool,
}

/// One sequence of attach/detach steps replayed on the kernel and on the model.
fn replay(root: &Path, tag: &str, steps: &[Step], progs: &[(OwnedFd, u32)]) {
    let base = root.join(format!("sockops-test-{}-{tag}", std::process::id()));
    let mut tree = Subtree {
        base: base.clone(),
        dirs: Vec::new(),
    };
    fs::create_dir(&base).expect("mkdir test cgroup");
    for cg in &CGROUPS[1..] {
        let d = base.join(&cg[1..]);
        fs::create_dir(&d).expect("mkdir child cgroup");
        tree.dirs.push(d);
    }
    let fds: Vec<OwnedFd> = CGROUPS
        .iter()
        .map(|c| open_dir(&base.join(&c[1..])))
        .collect();
    let mut model: CgroupTree<u32> = CgroupTree::new();
    for (i, s) in steps.iter().enumerate() {
        let (pfd, id) = &progs[s.prog];
        let (kernel, ours) = if s.detach {
            (
                detach(&fds[s.cgroup], pfd),
                model.detach(CGROUPS[s.cgroup], Some(id)),
            )
        } else {
            (
                attach(&fds[s.cgroup], pfd, s.flags),
                model.attach(CGROUPS[s.cgroup], *id, s.flags),
            )
        };
        let what = format!(
            "{tag} step {i}: {} prog {} {} {}",
            if s.detach { "detach" } else { "attach" },
            s.prog,
            CGROUPS[s.cgroup],
            s.flags
        );
        assert_eq!(
            kernel.err().unwrap_or(0),
            ours.as_ref().err().map_or(0, |e| e.errno()),
            "{what}: {ours:?}"
        );
        for (c, fd) in CGROUPS.iter().zip(&fds) {
            assert_eq!(
                effective(fd),
                model.effective(c).unwrap(),
                "{what}: effective programs of {c}"
            );
        }
    }
    for fd in &fds {
        for (pfd, _) in progs {
            let _ = detach(fd, pfd);
        }
    }
}

#[test]
fn attach_rules_match_the_kernel() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root to create cgroups and attach programs");
        return;
    }
    let Some(root) = cgroup2_mount() else {
        println!("skipped: no cgroup2 mount");
        return;
    };
    let progs: Vec<(OwnedFd, u32)> = match (0..4).map(|_| load_prog()).collect() {
        Ok(p) => p,
        Err(errno) => {
            println!("skipped: BPF_PROG_LOAD of a sock_ops program failed (errno {errno})");
            return;
        }
    };
    // The test subtree must start with no inherited sock_ops programs.
    if !effective(&open_dir(&root)).is_empty() {
        println!("skipped: the cgroup2 root already has sock_ops programs attached");
        return;
    }
    use AttachFlags::{Multi, None as Plain, Override};
    let st = |cgroup, prog, flags| Step {
        cgroup,
        prog,
        flags,
        detach: false,
    };
    let dt = |cgroup, prog| Step {
        cgroup,
        prog,
        flags: Plain,
        detach: true,
    };
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "none",
            vec![
                st(0, 0, Plain),
                st(1, 1, Plain),
                st(0, 1, Plain),
                st(2, 2, Override),
            ],
        ),
        (
            "override",
            vec![
                st(0, 0, Override),
                st(1, 1, Override),
                st(2, 2, Plain),
                st(3, 3, Multi),
                dt(2, 2),
                st(3, 3, Multi),
            ],
        ),
        (
            "multi",
            vec![
                st(0, 0, Multi),
                st(0, 1, Multi),
                st(0, 1, Multi),
                st(2, 2, Multi),
                st(1, 3, Override),
                st(3, 3, Multi),
                dt(0, 0),
            ],
        ),
        (
            "mismatch",
            vec![
                st(1, 0, Multi),
                st(1, 1, Override),
                st(1, 2, Plain),
                dt(1, 3),
                dt(1, 0),
                st(1, 1, Override),
            ],
        ),
    ];
    for (tag, steps) in &cases {
        replay(&root, tag, steps, &progs);
    }
    // A seeded random walk over attach/detach with every flag.
    let mut seed = 0x5eed_u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for round in 0..40 {
        let steps: Vec<Step> = (0..20)
            .map(|_| Step {
                cgroup: next(CGROUPS.len() as u64) as usize,
                prog: next(progs.len() as u64) as usize,
                flags: [Plain, Override, Multi][next(3) as usize],
                detach: next(4) == 0,
            })
            .collect();
        replay(&root, &format!("random{round}"), &steps, &progs);
    }
    println!(
        "cgroup attach rules: {} fixed and 40 random sequences agree with the kernel",
        cases.len()
    );
}
