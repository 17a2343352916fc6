//! `CurrentTask`: the task a sock_ops program runs "in" — what `bpf_get_current_pid_tgid`,
//! `bpf_get_current_uid_gid`, `bpf_get_current_cgroup_id` and `bpf_get_current_comm`
//! report, and the `struct task_struct` image `bpf_get_current_task_btf` hands out
//! ([`CurrentTask::image`]). In the kernel that is whichever task is on the CPU (the
//! connecting process for ops run from connect(), often the idle task in softirq for ops
//! run on packet receipt); here it is a fixed, settable value so runs are reproducible.

use crate::vmlinux::{self, FieldPlace};

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
    /// `task->comm`: the task's name, NUL-padded (the kernel keeps at most 15 bytes and a
    /// NUL).
    pub comm: [u8; 16],
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
            comm: CurrentTask::comm_of("swapper/0"),
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

    /// A `comm` value: the first 15 bytes of `name`, NUL-padded, as `__set_task_comm`
    /// stores it.
    pub fn comm_of(name: &str) -> [u8; 16] {
        let mut comm = [0u8; 16];
        let bytes = name.as_bytes();
        let n = bytes.len().min(15);
        comm[..n].copy_from_slice(&bytes[..n]);
        comm
    }

    /// The task's `struct task_struct` as `bpf_get_current_task_btf` hands it to a program:
    /// [`image_len`] bytes laid out as the recorded vmlinux BTF says, holding `pid`, `tgid`,
    /// `comm`, the priorities of a nice-0 normal task (`prio`, `static_prio`,
    /// `normal_prio`: 120) and `thread_info.cpu` (`cpu`, the run's CPU). Every pointer
    /// member a verified program may follow (`real_parent`, `group_leader`, ...) holds the
    /// address of a blank struct of its type (`vmlinux::blank`: a zero-filled task for the
    /// parent, so `task->real_parent->tgid` reads 0); everything else (state, flags,
    /// counters, times, locks, the other pointers) reads 0.
    pub fn image(&self, cpu: u32) -> Vec<u8> {
        let mut out = vec![0u8; image_len()];
        // Pointer members (`real_parent`, `group_leader`, ...) lead to blank structs.
        if let Some(root) = vmlinux::kstruct_index("task_struct") {
            vmlinux::blank::fill_pointers(&mut out, root);
        }
        let mut put = |path: &str, bytes: &[u8]| {
            if let Some(FieldPlace { offset, size, .. }) = vmlinux::field("task_struct", path)
                && let Some(dst) = out.get_mut(offset as usize..(offset + size) as usize)
            {
                let n = bytes.len().min(dst.len());
                dst[..n].copy_from_slice(&bytes[..n]);
            }
        };
        put("pid", &self.pid.to_ne_bytes());
        put("tgid", &self.tgid.to_ne_bytes());
        put("comm", &self.comm);
        for prio in ["prio", "static_prio", "normal_prio"] {
            put(prio, &NICE_0_PRIO.to_ne_bytes());
        }
        put("thread_info.cpu", &cpu.to_ne_bytes());
        out
    }
}

/// `NICE_TO_PRIO(0)`: `MAX_RT_PRIO (100) + 20`.
const NICE_0_PRIO: i32 = 120;

/// How many bytes the `struct task_struct` image has: as far as the verifier's walk lets a
/// program read through a task pointer (`vmlinux::readable_len`).
pub fn image_len() -> usize {
    vmlinux::kstruct_index("task_struct").map_or(0, |i| vmlinux::readable_len(i) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<'a>(image: &'a [u8], path: &str) -> &'a [u8] {
        let p = vmlinux::field("task_struct", path).expect("recorded");
        &image[p.offset as usize..(p.offset + p.size) as usize]
    }

    #[test]
    fn the_image_holds_the_task_at_the_kernel_offsets() {
        let task = CurrentTask {
            pid: 4242,
            tgid: 4200,
            comm: CurrentTask::comm_of("a-name-longer-than-15"),
            ..CurrentTask::default()
        };
        let image = task.image(3);
        let index = vmlinux::kstruct_index("task_struct").expect("recorded");
        assert_eq!(image.len(), vmlinux::readable_len(index) as usize);
        assert_eq!(image.len(), image_len());
        assert_eq!(read(&image, "pid"), 4242u32.to_ne_bytes());
        assert_eq!(read(&image, "tgid"), 4200u32.to_ne_bytes());
        assert_eq!(read(&image, "comm"), b"a-name-longer-t\0");
        assert_eq!(read(&image, "prio"), 120i32.to_ne_bytes());
        assert_eq!(read(&image, "thread_info.cpu"), 3u32.to_ne_bytes());
        // Followed pointers lead to blanks; nothing else is set.
        let blank_task = vmlinux::blank::blank_addr(index).expect("a blank task");
        assert_eq!(read(&image, "real_parent"), blank_task.to_ne_bytes());
        let mut pointers = image.clone();
        for &(off, _) in vmlinux::blank::pointer_members(index) {
            pointers[off as usize..off as usize + 8].fill(0);
        }
        let set = pointers.iter().filter(|&&b| b != 0).count();
        assert!(set <= 4 + 4 + 15 + 3 * 4 + 4, "{set} bytes set");
    }

    #[test]
    fn the_idle_task_is_swapper() {
        let t = CurrentTask::default();
        assert_eq!(&t.comm[..10], b"swapper/0\0");
        assert_eq!(t.pid_tgid(), 0);
    }
}
