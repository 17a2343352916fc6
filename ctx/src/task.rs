//! `CurrentTask`: the task a sock_ops program runs "in" — what `bpf_get_current_pid_tgid`,
//! `bpf_get_current_uid_gid` and `bpf_get_current_cgroup_id` report. In the kernel that is
//! whichever task is on the CPU (the connecting process for ops run from connect(), often
//! the idle task in softirq for ops run on packet receipt); here it is a fixed, settable
//! value so runs are reproducible.

/// The current task's identity, as the `bpf_get_current_*` helpers report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentTask {
    /// Thread id (`task->pid`).
    pub pid: u32,
    /// Process id (`task->tgid`).
    pub tgid: u32,
    /// Real user id in the initial user namespace.
    pub uid: u32,
    /// Real group id in the initial user namespace.
    pub gid: u32,
    /// Id of the task's cgroup v2 cgroup (the root cgroup's id is 1).
    pub cgroup_id: u64,
}

impl Default for CurrentTask {
    /// The idle task (pid 0, root) in the root cgroup: the context of ops the kernel runs
    /// from softirq on an idle CPU.
    fn default() -> Self {
        CurrentTask {
            pid: 0,
            tgid: 0,
            uid: 0,
            gid: 0,
            cgroup_id: 1,
        }
    }
}

impl CurrentTask {
    /// `bpf_get_current_pid_tgid`: `tgid << 32 | pid`.
    pub fn pid_tgid(&self) -> u64 {
        (u64::from(self.tgid) << 32) | u64::from(self.pid)
    }

    /// `bpf_get_current_uid_gid`: `gid << 32 | uid`.
    pub fn uid_gid(&self) -> u64 {
        (u64::from(self.gid) << 32) | u64::from(self.uid)
    }
}
