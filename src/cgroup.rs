//! The cgroup attach tree: which programs run for a socket in a given cgroup, by the rules of
//! the kernel's `kernel/bpf/cgroup.c` (`__cgroup_bpf_attach`, `hierarchy_allows_attach`,
//! `compute_effective_progs`, `__cgroup_bpf_detach`). Generic over the attached item so it can
//! be tested on its own; the runtime attaches loaded programs.

use std::collections::BTreeMap;
use std::fmt;

/// Most programs one cgroup may have attached (`BPF_CGROUP_MAX_PROGS`).
pub const MAX_PROGS_PER_CGROUP: usize = 64;

/// How a program is attached (`BPF_F_ALLOW_OVERRIDE`, `BPF_F_ALLOW_MULTI`, or neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AttachFlags {
    /// No flag: the only program; descendants may not attach their own.
    #[default]
    None,
    /// `BPF_F_ALLOW_OVERRIDE`: descendants may replace it with their own program.
    Override,
    /// `BPF_F_ALLOW_MULTI`: several programs; descendants' programs run before these.
    Multi,
}

impl AttachFlags {
    /// Parses `none`, `override` or `multi`.
    pub fn parse(s: &str) -> Option<AttachFlags> {
        match s {
            "none" | "" => Some(AttachFlags::None),
            "override" => Some(AttachFlags::Override),
            "multi" => Some(AttachFlags::Multi),
            _ => None,
        }
    }

    /// The kernel's flag bits.
    pub fn bits(self) -> u32 {
        match self {
            AttachFlags::None => 0,
            AttachFlags::Override => 1,
            AttachFlags::Multi => 2,
        }
    }
}

impl fmt::Display for AttachFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachFlags::None => "none",
            AttachFlags::Override => "override",
            AttachFlags::Multi => "multi",
        })
    }
}

/// Why an attach or detach was refused, with the kernel's errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// The path is not an absolute cgroup path.
    #[error(
        "invalid cgroup path {0:?}: it must start with '/' and have no empty, '.' or '..' parts"
    )]
    BadPath(String),
    /// An ancestor has a program attached without `override` or `multi` (-EPERM).
    #[error(
        "attach to {path} refused (EPERM): ancestor {ancestor} has a program attached with flags {flags}, which does not allow descendants to attach"
    )]
    AncestorForbids {
        /// The cgroup attached to.
        path: String,
        /// The ancestor whose program forbids it.
        ancestor: String,
        /// That ancestor's flags.
        flags: AttachFlags,
    },
    /// The cgroup already has programs attached with other flags (-EPERM).
    #[error(
        "attach to {path} with flags {requested} refused (EPERM): its programs are attached with flags {existing}"
    )]
    FlagsMismatch {
        /// The cgroup.
        path: String,
        /// Flags of the existing programs.
        existing: AttachFlags,
        /// Flags requested.
        requested: AttachFlags,
    },
    /// The same program is already attached to this cgroup with `multi` (-EINVAL).
    #[error("program {program} is already attached to {path} (EINVAL)")]
    AlreadyAttached {
        /// The cgroup.
        path: String,
        /// The program.
        program: String,
    },
    /// More than `MAX_PROGS_PER_CGROUP` programs (-E2BIG).
    #[error("cgroup {0} already has {MAX_PROGS_PER_CGROUP} programs attached (E2BIG)")]
    TooMany(String),
    /// Detaching from a `multi` cgroup without naming the program (-EINVAL).
    #[error("detach from {0} needs the program: it has programs attached with multi (EINVAL)")]
    MultiNeedsProgram(String),
    /// Nothing to detach (-ENOENT).
    #[error("no such program attached to {0} (ENOENT)")]
    NotAttached(String),
}

impl AttachError {
    /// The errno the kernel returns for this refusal.
    pub fn errno(&self) -> i32 {
        match self {
            AttachError::BadPath(_)
            | AttachError::AlreadyAttached { .. }
            | AttachError::MultiNeedsProgram(_) => 22,
            AttachError::AncestorForbids { .. } | AttachError::FlagsMismatch { .. } => 1,
            AttachError::TooMany(_) => 7,
            AttachError::NotAttached(_) => 2,
        }
    }
}

#[derive(Debug, Clone)]
struct Attached<T> {
    flags: AttachFlags,
    progs: Vec<T>,
}

/// Programs attached per cgroup path (`/`, `/web`, `/web/api`, ...).
#[derive(Debug, Clone)]
pub struct CgroupTree<T> {
    nodes: BTreeMap<String, Attached<T>>,
}

impl<T> Default for CgroupTree<T> {
    fn default() -> Self {
        CgroupTree {
            nodes: BTreeMap::new(),
        }
    }
}

/// Normalises a cgroup path: `/`, or `/a/b` without a trailing slash.
pub fn normalize_path(path: &str) -> Result<String, AttachError> {
    if !path.starts_with('/') {
        return Err(AttachError::BadPath(path.to_string()));
    }
    let parts: Vec<&str> = path.split('/').skip(1).filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") || path.contains("//") {
        return Err(AttachError::BadPath(path.to_string()));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The parent of a normalised path (`None` for `/`).
fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

impl<T: Clone + PartialEq + fmt::Display> CgroupTree<T> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches `prog` to `path` as `BPF_PROG_ATTACH` would. Without `multi`, attaching again
    /// to the same cgroup replaces its program (as the kernel does).
    pub fn attach(&mut self, path: &str, prog: T, flags: AttachFlags) -> Result<(), AttachError> {
        let path = normalize_path(path)?;
        // hierarchy_allows_attach: the nearest ancestor with programs decides.
        let mut p = parent(&path);
        while let Some(anc) = p {
            if let Some(node) = self.nodes.get(anc).filter(|n| !n.progs.is_empty()) {
                if node.flags == AttachFlags::Multi {
                    break;
                }
                if node.flags != AttachFlags::Override {
                    return Err(AttachError::AncestorForbids {
                        path: path.clone(),
                        ancestor: anc.to_string(),
                        flags: node.flags,
                    });
                }
                break;
            }
            p = parent(anc);
        }
        let node = self.nodes.entry(path.clone()).or_insert(Attached {
            flags,
            progs: Vec::new(),
        });
        if !node.progs.is_empty() && node.flags != flags {
            return Err(AttachError::FlagsMismatch {
                path,
                existing: node.flags,
                requested: flags,
            });
        }
        if node.progs.len() >= MAX_PROGS_PER_CGROUP {
            return Err(AttachError::TooMany(path));
        }
        node.flags = flags;
        if flags == AttachFlags::Multi {
            if node.progs.contains(&prog) {
                return Err(AttachError::AlreadyAttached {
                    path,
                    program: prog.to_string(),
                });
            }
            node.progs.push(prog);
        } else {
            node.progs = vec![prog];
        }
        Ok(())
    }

    /// Detaches a program as `BPF_PROG_DETACH` does (`find_detach_entry`): from a `multi`
    /// cgroup the named program (-EINVAL when none is named, -ENOENT when it is not attached);
    /// from a `none`/`override` cgroup its one program, whichever program is named (the
    /// kernel keeps this for backward compatibility).
    pub fn detach(&mut self, path: &str, prog: Option<&T>) -> Result<(), AttachError> {
        let path = normalize_path(path)?;
        let node = self
            .nodes
            .get_mut(&path)
            .ok_or(AttachError::NotAttached(path.clone()))?;
        let idx = if node.flags == AttachFlags::Multi {
            let p = prog.ok_or(AttachError::MultiNeedsProgram(path.clone()))?;
            node.progs.iter().position(|x| x == p)
        } else {
            (!node.progs.is_empty()).then_some(0)
        }
        .ok_or(AttachError::NotAttached(path.clone()))?;
        node.progs.remove(idx);
        if node.progs.is_empty() {
            self.nodes.remove(&path);
        }
        Ok(())
    }

    /// The programs attached directly to `path`, with their flags.
    pub fn attached(&self, path: &str) -> Option<(AttachFlags, &[T])> {
        let path = normalize_path(path).ok()?;
        self.nodes.get(&path).map(|n| (n.flags, n.progs.as_slice()))
    }

    /// The programs that run for a socket in `path`, in run order (`compute_effective_progs`):
    /// the cgroup's own programs, then each ancestor's, where an ancestor contributes only if
    /// nothing was collected yet or it was attached with `multi`.
    pub fn effective(&self, path: &str) -> Result<Vec<T>, AttachError> {
        let path = normalize_path(path)?;
        let mut out: Vec<T> = Vec::new();
        let mut p = Some(path.as_str());
        while let Some(cg) = p {
            if let Some(node) = self.nodes.get(cg)
                && (out.is_empty() || node.flags == AttachFlags::Multi)
            {
                out.extend(node.progs.iter().cloned());
            }
            p = parent(cg);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise() {
        assert_eq!(normalize_path("/").unwrap(), "/");
        assert_eq!(normalize_path("/a/b/").unwrap(), "/a/b");
        assert!(normalize_path("a").is_err());
        assert!(normalize_path("/a/../b").is_err());
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
    }

    #[test]
    fn none_flag_forbids_descendants() {
        let mut t = CgroupTree::new();
        t.attach("/", "root", AttachFlags::None).unwrap();
        let e = t.attach("/web", "web", AttachFlags::None).unwrap_err();
        assert_eq!(e.errno(), 1);
        assert!(matches!(e, AttachError::AncestorForbids { .. }));
        assert_eq!(t.effective("/web/api").unwrap(), vec!["root"]);
    }

    #[test]
    fn override_is_replaced_by_descendant() {
        let mut t = CgroupTree::new();
        t.attach("/", "root", AttachFlags::Override).unwrap();
        t.attach("/web", "web", AttachFlags::None).unwrap();
        assert_eq!(t.effective("/web/api").unwrap(), vec!["web"]);
        assert_eq!(t.effective("/other").unwrap(), vec!["root"]);
        // "/web" has a non-overridable program: its children may not attach.
        assert!(t.attach("/web/api", "api", AttachFlags::Override).is_err());
    }

    #[test]
    fn multi_runs_own_programs_first_then_ancestors() {
        let mut t = CgroupTree::new();
        t.attach("/", "r1", AttachFlags::Multi).unwrap();
        t.attach("/", "r2", AttachFlags::Multi).unwrap();
        t.attach("/web", "w1", AttachFlags::Multi).unwrap();
        t.attach("/web/api", "a1", AttachFlags::Override).unwrap();
        assert_eq!(
            t.effective("/web/api").unwrap(),
            vec!["a1", "w1", "r1", "r2"]
        );
        assert_eq!(t.effective("/web").unwrap(), vec!["w1", "r1", "r2"]);
    }

    #[test]
    fn non_multi_ancestor_is_skipped_once_programs_were_collected() {
        let mut t = CgroupTree::new();
        t.attach("/", "root", AttachFlags::Multi).unwrap();
        t.attach("/a", "a", AttachFlags::Override).unwrap();
        t.attach("/a/b", "b", AttachFlags::Multi).unwrap();
        // "/a" is overridable, so it is skipped; "/" is multi, so it still runs.
        assert_eq!(t.effective("/a/b").unwrap(), vec!["b", "root"]);
        assert_eq!(t.effective("/a").unwrap(), vec!["a", "root"]);
    }

    #[test]
    fn flags_must_match_and_multi_rejects_duplicates() {
        let mut t = CgroupTree::new();
        t.attach("/x", "p", AttachFlags::Multi).unwrap();
        assert!(matches!(
            t.attach("/x", "q", AttachFlags::Override),
            Err(AttachError::FlagsMismatch { .. })
        ));
        assert_eq!(
            t.attach("/x", "p", AttachFlags::Multi).unwrap_err().errno(),
            22
        );
        // Non-multi attach replaces.
        t.attach("/y", "p", AttachFlags::Override).unwrap();
        t.attach("/y", "q", AttachFlags::Override).unwrap();
        assert_eq!(t.effective("/y").unwrap(), vec!["q"]);
    }

    #[test]
    fn detach_and_limits() {
        let mut t = CgroupTree::new();
        for i in 0..MAX_PROGS_PER_CGROUP {
            t.attach("/m", format!("p{i}"), AttachFlags::Multi).unwrap();
        }
        assert_eq!(
            t.attach("/m", "extra".to_string(), AttachFlags::Multi)
                .unwrap_err()
                .errno(),
            7
        );
        t.detach("/m", Some(&"p0".to_string())).unwrap();
        assert_eq!(
            t.detach("/m", Some(&"p0".to_string())).unwrap_err().errno(),
            2
        );
        assert_eq!(t.detach("/m", None).unwrap_err().errno(), 22);
        t.attach("/n", "x".to_string(), AttachFlags::None).unwrap();
        // A non-multi cgroup's program goes whichever program is named.
        t.detach("/n", Some(&"other".to_string())).unwrap();
        assert_eq!(t.detach("/n", None).unwrap_err().errno(), 2);
        t.attach("/n", "x".to_string(), AttachFlags::None).unwrap();
        t.detach("/n", None).unwrap();
        assert!(t.attached("/n").is_none());
        // After the last detach, other flags are allowed again.
        t.attach("/n", "y".to_string(), AttachFlags::Multi).unwrap();
    }
}
