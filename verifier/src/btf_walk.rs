//! The kernel's walk of a BTF struct (`btf_struct_walk` / `btf_struct_access` and
//! `btf_struct_ids_match` in kernel/bpf/btf.c) over the vmlinux types recorded in
//! `sockops_ctx::vmlinux`: what a load of `size` bytes at `off` through a BTF pointer reads
//! (a scalar, a pointer to another struct, or an error with the kernel's message), and
//! whether a BTF pointer is, at its offset, an embedded instance of a wanted struct.

use std::sync::OnceLock;

use sockops_ctx::vmlinux::{KElem, kstruct, kstruct_index, recorded};

/// What an access through a BTF pointer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walked {
    /// A scalar (an integer, a bitfield's bytes, part of an integer array).
    Scalar,
    /// A pointer member.
    Ptr {
        /// The name of the struct it points to, `""` when it points to something else (the
        /// kernel then gives read-only untrusted memory).
        target: &'static str,
        /// The member's own name (the innermost one: `field_name` in the kernel).
        field: &'static str,
        /// Whether the walk went through a union of more than one member, which makes the
        /// pointer `PTR_UNTRUSTED`.
        untrusted: bool,
    },
}

/// Where the walk stopped inside one struct (`enum bpf_struct_walk_result`).
enum Step {
    Scalar,
    Ptr(&'static str, &'static str),
    /// A nested struct starting exactly at the offset: its index.
    Struct(u16),
}

/// The kernel's name for a type or member in messages (`__btf_name_by_offset`).
fn shown(name: &'static str) -> &'static str {
    if name.is_empty() { "(anon)" } else { name }
}

/// `btf_struct_walk`: one level of the walk from struct `t` at `off`. `untrusted` is the
/// walk's `PTR_UNTRUSTED` flag, set once it enters a union of more than one member: from
/// there a scalar access may run past the end of its member.
fn walk(mut t: u16, mut off: u32, size: u32, untrusted: &mut bool) -> Result<Step, String> {
    'again: loop {
        let s = kstruct(t).ok_or_else(|| format!("Type '{t}' is not a struct"))?;
        let tname = shown(s.name);
        if s.is_union && s.members.len() != 1 {
            *untrusted = true;
        }
        if u64::from(off) + u64::from(size) > u64::from(s.size) {
            // A trailing flexible array lets an access at or past its start run past the
            // end: of scalars (6.18 accepts any such read as a scalar, e.g. the elements of
            // `struct bpf_queue_stack`), or of structs, walked in the element the offset
            // falls in.
            let last = s.members.last();
            if let Some(m) = last
                && m.nelems == Some(0)
                && m.elem == KElem::Scalar
                && off >= m.bit_offset / 8
            {
                return Ok(Step::Scalar);
            }
            let flex = last.and_then(|m| match (m.nelems, m.elem) {
                (Some(0), KElem::Struct(i)) if off >= m.bit_offset / 8 => {
                    Some((m.bit_offset / 8, i))
                }
                _ => None,
            });
            match flex.and_then(|(moff, i)| Some((moff, i, kstruct(i)?.size))) {
                Some((moff, i, esize)) if esize > 0 => {
                    t = i;
                    off = (off - moff) % esize;
                    continue 'again;
                }
                _ => {
                    return Err(format!(
                        "access beyond struct {tname} at off {off} size {size}"
                    ));
                }
            }
        }
        for m in s.members {
            let mut moff = m.bit_offset / 8;
            if off + size <= moff {
                break;
            }
            if m.bitfield_size != 0 {
                let end_bit = m.bit_offset + u32::from(m.bitfield_size);
                if off <= moff && end_bit.div_ceil(8) <= off + size {
                    return Ok(Step::Scalar);
                }
                continue;
            }
            if off < moff {
                break;
            }
            let mut msize = m.size;
            let mtrue_end = moff + msize;
            if off >= mtrue_end {
                continue;
            }
            if let Some(n) = m.nelems {
                if moff == mtrue_end || n == 0 {
                    continue;
                }
                msize /= n;
                let elem_idx = (off - moff) / msize;
                moff += elem_idx * msize;
            }
            match m.elem {
                KElem::Struct(i) => {
                    if off == moff {
                        return Ok(Step::Struct(i));
                    }
                    t = i;
                    off -= moff;
                    continue 'again;
                }
                KElem::Ptr(target) => {
                    if msize != size || off != moff {
                        return Err(format!(
                            "cannot access ptr member {} with moff {moff} in struct {tname} with off {off} size {size}",
                            shown(m.name)
                        ));
                    }
                    return Ok(Step::Ptr(target, m.name));
                }
                KElem::Scalar => {}
            }
            if off + size > mtrue_end && !*untrusted {
                return Err(format!(
                    "access beyond the end of member {} (mend:{mtrue_end}) in struct {tname} with off {off} size {size}",
                    shown(m.name)
                ));
            }
            return Ok(Step::Scalar);
        }
        return Err(format!("struct {tname} doesn't have field at offset {off}"));
    }
}

/// `btf_struct_access` for a read of `size` bytes at `off` (≥ 0) in struct `root`.
pub(crate) fn struct_access(root: u16, off: u32, size: u32) -> Result<Walked, String> {
    let (mut t, mut off) = (root, off);
    let mut untrusted = false;
    // Each step goes one struct deeper, so the recorded table's depth bounds the loop.
    for _ in 0..64 {
        match walk(t, off, size, &mut untrusted)? {
            Step::Scalar => return Ok(Walked::Scalar),
            Step::Ptr(target, field) => {
                return Ok(Walked::Ptr {
                    target,
                    field,
                    untrusted,
                });
            }
            Step::Struct(i) => {
                t = i;
                off = 0;
            }
        }
    }
    Err("struct nesting too deep".to_string())
}

/// `btf_struct_ids_match` (not strict): whether a pointer to struct `id` at offset `off`
/// points to an embedded `need` (e.g. a `tcp_sock` at offset 0 is a `sock_common`).
pub(crate) fn struct_ids_match(id: u16, off: u32, need: u16) -> bool {
    if off == 0 && id == need {
        return true;
    }
    let (mut id, mut off) = (id, off);
    let mut untrusted = false;
    for _ in 0..64 {
        match walk(id, off, 1, &mut untrusted) {
            Ok(Step::Struct(i)) if i == need => return true,
            Ok(Step::Struct(i)) => {
                id = i;
                off = 0;
            }
            _ => return false,
        }
    }
    false
}

/// The recorded name of struct `index` (`""` if unknown or anonymous).
pub(crate) fn struct_name(index: u16) -> &'static str {
    kstruct(index).map_or("", |s| s.name)
}

/// The first type id of a struct known only by name: a pointer member's target whose layout
/// is not recorded. Ids below it are indexes into the recorded structs.
pub(crate) const OPAQUE_BASE: u32 = 0x1_0000;

/// The names of the pointer targets whose layouts are not recorded, sorted.
fn opaque_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<&'static str> = recorded::STRUCTS
            .iter()
            .flat_map(|s| s.members.iter())
            .filter_map(|m| match m.elem {
                KElem::Ptr(name) if !name.is_empty() && kstruct_index(name).is_none() => Some(name),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    })
}

/// The type id of the named struct (the `btf_id` a register keeps): its recorded index, or
/// [`OPAQUE_BASE`] plus its place among the structs known only by name.
pub(crate) fn type_id(name: &str) -> u32 {
    if let Some(i) = kstruct_index(name) {
        return u32::from(i);
    }
    opaque_names()
        .binary_search(&name)
        .map_or(u32::MAX, |i| OPAQUE_BASE + i as u32)
}

/// The name of the struct with type id `id` (`""` if unknown).
pub(crate) fn type_name(id: u32) -> &'static str {
    match recorded_index(id) {
        Some(i) => struct_name(i),
        None => id
            .checked_sub(OPAQUE_BASE)
            .and_then(|k| opaque_names().get(k as usize))
            .copied()
            .unwrap_or(""),
    }
}

/// The recorded struct of type id `id`, if its layout is recorded.
pub(crate) fn recorded_index(id: u32) -> Option<u16> {
    u16::try_from(id).ok().filter(|&i| kstruct(i).is_some())
}

/// How far the kernel trusts a pointer member it reads from a trusted or RCU pointer
/// (`type_is_trusted`, `type_is_trusted_or_null`, `type_is_rcu`, `type_is_rcu_or_null`:
/// the `BTF_TYPE_SAFE_*` allow lists of 6.18's verifier.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SafeField {
    /// `PTR_TRUSTED`, never NULL.
    Trusted,
    /// `PTR_TRUSTED | PTR_MAYBE_NULL`.
    TrustedOrNull,
    /// `MEM_RCU`.
    Rcu,
    /// `MEM_RCU | PTR_MAYBE_NULL`.
    RcuOrNull,
}

/// The allow-listed pointer members: (container struct, member, target struct, trust).
const SAFE_FIELDS: &[(&str, &str, &str, SafeField)] = &[
    ("task_struct", "cpus_ptr", "cpumask", SafeField::Rcu),
    ("task_struct", "cgroups", "css_set", SafeField::Rcu),
    ("task_struct", "real_parent", "task_struct", SafeField::Rcu),
    ("task_struct", "group_leader", "task_struct", SafeField::Rcu),
    ("cgroup", "kn", "kernfs_node", SafeField::Rcu),
    ("css_set", "dfl_cgrp", "cgroup", SafeField::Rcu),
    ("cgroup_subsys_state", "cgroup", "cgroup", SafeField::Rcu),
    ("mm_struct", "exe_file", "file", SafeField::RcuOrNull),
    ("sk_buff", "sk", "sock", SafeField::RcuOrNull),
    ("request_sock", "sk", "sock", SafeField::RcuOrNull),
    ("bpf_iter_meta", "seq", "seq_file", SafeField::Trusted),
    (
        "bpf_iter__task",
        "meta",
        "bpf_iter_meta",
        SafeField::Trusted,
    ),
    ("bpf_iter__task", "task", "task_struct", SafeField::Trusted),
    ("linux_binprm", "file", "file", SafeField::Trusted),
    ("file", "f_inode", "inode", SafeField::Trusted),
    ("dentry", "d_inode", "inode", SafeField::TrustedOrNull),
    ("socket", "sk", "sock", SafeField::TrustedOrNull),
];

/// `btf_nested_type_is_trusted` over the allow lists: how far member `field` (pointing to
/// `target`) of struct `container` is trusted when read from a trusted or RCU pointer.
pub(crate) fn safe_field(container: &str, field: &str, target: &str) -> Option<SafeField> {
    SAFE_FIELDS
        .iter()
        .find(|&&(c, f, t, _)| c == container && f == field && t == target)
        .map(|&(_, _, _, trust)| trust)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockops_vm::vmlinux::field;

    fn tcp() -> u16 {
        kstruct_index("tcp_sock").unwrap()
    }

    #[test]
    fn scalars_pointers_and_errors_as_the_kernel_walks_them() {
        let cwnd = field("tcp_sock", "snd_cwnd").unwrap();
        assert_eq!(struct_access(tcp(), cwnd.offset, 4), Ok(Walked::Scalar));
        // Two bytes of a u32 and a read spanning into the next member.
        assert_eq!(struct_access(tcp(), cwnd.offset + 2, 2), Ok(Walked::Scalar));
        let e = struct_access(tcp(), cwnd.offset + 2, 4).unwrap_err();
        assert!(
            e.starts_with("access beyond the end of member snd_cwnd"),
            "{e}"
        );
        // Through the nesting down to sock_common.
        let family = field("tcp_sock", "inet_conn.icsk_inet.sk.__sk_common.skc_family").unwrap();
        assert_eq!(struct_access(tcp(), family.offset, 2), Ok(Walked::Scalar));
        let prot = field("tcp_sock", "inet_conn.icsk_inet.sk.__sk_common.skc_prot").unwrap();
        assert_eq!(
            struct_access(tcp(), prot.offset, 8),
            Ok(Walked::Ptr {
                target: "proto",
                field: "skc_prot",
                untrusted: false
            })
        );
        let e = struct_access(tcp(), prot.offset, 4).unwrap_err();
        assert!(e.starts_with("cannot access ptr member skc_prot"), "{e}");
        let size = kstruct(tcp()).unwrap().size;
        assert_eq!(
            struct_access(tcp(), size - 2, 4),
            Err(format!(
                "access beyond struct tcp_sock at off {} size 4",
                size - 2
            ))
        );
    }

    #[test]
    fn a_tcp_sock_is_a_sock_common_only_at_offset_zero() {
        let sc = kstruct_index("sock_common").unwrap();
        assert!(struct_ids_match(tcp(), 0, sc));
        assert!(struct_ids_match(tcp(), 0, kstruct_index("sock").unwrap()));
        assert!(!struct_ids_match(tcp(), 8, sc));
        assert!(!struct_ids_match(sc, 0, tcp()));
    }

    /// The memory-safety side of the walk: every read it accepts through a pointer the
    /// runtime hands out (the tcp_sock image of `bpf_skc_to_tcp_sock`, the map struct images
    /// behind map pointers, the task image of `bpf_get_current_task_btf`) lies inside the bytes that image has (`readable_len`), for every
    /// offset an instruction can name and every load size. The JIT trusts this.
    #[test]
    fn every_accepted_read_lies_inside_the_image_the_runtime_hands_out() {
        use sockops_vm::maps::{MapType, kernel_struct_name};
        use sockops_vm::vmlinux::readable_len;
        // The cast structs the runtime never hands out (NULL) are checked too: their
        // helpers' return types must name recorded structs.
        let mut roots = vec![
            "tcp_sock",
            "task_struct",
            "tcp6_sock",
            "tcp_timewait_sock",
            "tcp_request_sock",
            "udp6_sock",
            "unix_sock",
            "mptcp_sock",
        ];
        roots.extend(MapType::ALL.iter().map(|&(t, _, _)| kernel_struct_name(t)));
        roots.sort_unstable();
        roots.dedup();
        for name in roots {
            let root = kstruct_index(name).unwrap_or_else(|| panic!("{name} is recorded"));
            let len = readable_len(root);
            let size_of = kstruct(root).map_or(0, |s| s.size);
            // Every offset up to a little past the struct, then a sample up to the farthest.
            let near = 0..=(size_of + 64).min(i16::MAX as u32);
            let far = (size_of + 65..=i16::MAX as u32)
                .step_by(61)
                .chain([i16::MAX as u32]);
            for off in near.chain(far) {
                for size in [1u32, 2, 4, 8] {
                    if struct_access(root, off, size).is_ok() {
                        assert!(
                            off + size <= len,
                            "{name}: a read of {size} at {off} is accepted past its {len} bytes"
                        );
                    }
                }
            }
        }
    }
}
