//! Facts of the kernel's own BTF (`/sys/kernel/btf/vmlinux`) that programs reach through
//! BTF pointers and map pointers: the layouts of `struct tcp_sock`, `struct bpf_map`, the
//! struct each map type is (`bpf_htab`, `bpf_array`, ...), `struct task_struct`, the structs
//! the other `bpf_skc_to_*` casts return (`tcp6_sock`...) and every struct or union embedded
//! in them or reachable from them through pointer members (the whole closure a program can
//! walk), recorded from a live kernel into [`recorded`] by the `record_vmlinux_btf` tool.
//!
//! The verifier walks these types as the kernel's `btf_struct_walk` walks vmlinux BTF (an
//! access lands in a scalar, a pointer or a nested struct); the runtime uses the same layouts
//! to place values where a program reads them (the socket image of `bpf_skc_to_tcp_sock`,
//! the map images behind map pointers, the task image of `bpf_get_current_task_btf`).
//! A pointer member records the name of the struct it points to; the images' pointer
//! members point to the blank structs of [`blank`].

pub mod blank;
pub mod recorded;

use std::collections::HashMap;
use std::sync::OnceLock;

/// What a member (or, for an array, each element) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KElem {
    /// An integer, enum, float or anything else without inner structure.
    Scalar,
    /// A pointer; the name of the struct or union it points to, `""` for any other target
    /// (void, integers, functions).
    Ptr(&'static str),
    /// An embedded struct or union: its index in [`recorded::STRUCTS`].
    Struct(u16),
}

/// One member of a recorded struct or union.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KMember {
    /// Member name (`""` for an anonymous struct or union).
    pub name: &'static str,
    /// Offset from the start of the enclosing type, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits; 0 for a member that is not a bitfield.
    pub bitfield_size: u8,
    /// Size in bytes (for an array, of the whole array, as `__btf_resolve_size` gives it).
    pub size: u32,
    /// For an array, the number of elements of all dimensions together; `None` otherwise.
    pub nelems: Option<u32>,
    /// The member's type, or its innermost element type for an array.
    pub elem: KElem,
}

/// A recorded struct or union.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KStruct {
    /// Name (`""` for an anonymous type).
    pub name: &'static str,
    /// `sizeof`.
    pub size: u32,
    /// A union rather than a struct.
    pub is_union: bool,
    /// Members in BTF order.
    pub members: &'static [KMember],
}

/// The recorded struct at `index`.
pub fn kstruct(index: u16) -> Option<&'static KStruct> {
    recorded::STRUCTS.get(usize::from(index))
}

/// The index of the named (non-anonymous) struct or union (the first of that name).
pub fn kstruct_index(name: &str) -> Option<u16> {
    static BY_NAME: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        let mut map = HashMap::new();
        for (i, s) in recorded::STRUCTS.iter().enumerate() {
            if let Ok(i) = u16::try_from(i)
                && !s.name.is_empty()
            {
                map.entry(s.name).or_insert(i);
            }
        }
        map
    });
    by_name.get(name).copied()
}

/// The largest offset a load instruction can name (`off` is an `s16`) plus the widest load:
/// how far a read through a pointer with no variable part can reach.
pub const MAX_INSN_REACH: u32 = i16::MAX as u32 + 8;

/// How many bytes from the start of struct `index` this runtime's images of it (and its
/// blank) have: its size, or, when it ends in a flexible array of scalars or structs (which
/// 6.18's walk lets a read run into as far as it likes, e.g. `struct bpf_queue_stack`'s
/// `elements`, `struct pid`'s `numbers`), everything an instruction's offset can reach
/// ([`MAX_INSN_REACH`]). The verifier leaves a read the walk accepts past this length
/// unjudged (the kernel's faulting load), so images need be no longer.
pub fn readable_len(index: u16) -> u32 {
    let Some(s) = kstruct(index) else { return 0 };
    let flexible = s
        .members
        .last()
        .is_some_and(|m| m.nelems == Some(0) && matches!(m.elem, KElem::Scalar | KElem::Struct(_)));
    if flexible {
        s.size.max(MAX_INSN_REACH)
    } else {
        s.size
    }
}

/// Where a named field lies inside a recorded struct: byte offset and byte size, found as C
/// finds `a.b.c` (members of anonymous structs and unions are reached directly). For a
/// bitfield the offset and size are those of the bytes holding it, and `bits` gives its
/// bit offset within those bytes and its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldPlace {
    /// Byte offset from the start of the outer struct.
    pub offset: u32,
    /// Byte size.
    pub size: u32,
    /// For a bitfield: (bit offset from `offset`, width in bits).
    pub bits: Option<(u32, u8)>,
}

/// Finds the dotted `path` (`"inet_conn.icsk_inet.sk.__sk_common.skc_family"`, or simply
/// `"snd_cwnd"` when the name is unique along anonymous members) in struct `root`.
pub fn field(root: &str, path: &str) -> Option<FieldPlace> {
    let mut index = kstruct_index(root)?;
    let mut base_bits = 0u32;
    let mut parts = path.split('.').peekable();
    while let Some(name) = parts.next() {
        let (bit, m) = find_member(index, name)?;
        let bit = base_bits + bit;
        if parts.peek().is_none() {
            if m.bitfield_size != 0 {
                let offset = bit / 8;
                let end = (bit + u32::from(m.bitfield_size)).div_ceil(8);
                return Some(FieldPlace {
                    offset,
                    size: end - offset,
                    bits: Some((bit % 8, m.bitfield_size)),
                });
            }
            return Some(FieldPlace {
                offset: bit / 8,
                size: m.size,
                bits: None,
            });
        }
        match m.elem {
            KElem::Struct(i) if m.nelems.is_none() => {
                index = i;
                base_bits = bit;
            }
            _ => return None,
        }
    }
    None
}

/// Member `name` of struct `index`, searching anonymous members as C does: its bit offset
/// from the start of `index`, and the member.
fn find_member(index: u16, name: &str) -> Option<(u32, &'static KMember)> {
    let s = kstruct(index)?;
    for m in s.members {
        if m.name == name {
            return Some((m.bit_offset, m));
        }
        if m.name.is_empty()
            && m.nelems.is_none()
            && let KElem::Struct(inner) = m.elem
            && let Some((bit, found)) = find_member(inner, name)
        {
            return Some((m.bit_offset + bit, found));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_struct_index_in_the_table_exists() {
        for s in recorded::STRUCTS {
            for m in s.members {
                if let KElem::Struct(i) = m.elem {
                    assert!(kstruct(i).is_some(), "{}.{} -> {i}", s.name, m.name);
                }
                // A bitfield's `size` is its base type's; its bits are what must fit.
                let fits = if m.bitfield_size != 0 {
                    m.bit_offset + u32::from(m.bitfield_size) <= s.size * 8
                } else {
                    m.bit_offset / 8 + m.size <= s.size || m.size == 0
                };
                assert!(fits, "{}.{} ends past the struct", s.name, m.name);
            }
        }
    }

    #[test]
    fn readable_len_covers_trailing_flexible_scalar_arrays() {
        let queue = kstruct_index("bpf_queue_stack").unwrap();
        assert_eq!(readable_len(queue), MAX_INSN_REACH);
        let tcp = kstruct_index("tcp_sock").unwrap();
        assert_eq!(readable_len(tcp), recorded::TCP_SOCK_SIZE);
        let htab = kstruct_index("bpf_htab").unwrap();
        assert_eq!(readable_len(htab), kstruct(htab).unwrap().size);
    }

    #[test]
    fn tcp_sock_fields_are_found_through_nesting_and_anonymous_members() {
        let family = field("tcp_sock", "inet_conn.icsk_inet.sk.__sk_common.skc_family").unwrap();
        assert_eq!(family.size, 2);
        let cwnd = field("tcp_sock", "snd_cwnd").unwrap();
        assert_eq!(cwnd.size, 4);
        assert!(cwnd.offset > family.offset);
        assert!(field("tcp_sock", "no_such_field").is_none());
        assert!(field("no_such_struct", "snd_cwnd").is_none());
        let size = kstruct(kstruct_index("tcp_sock").unwrap()).unwrap().size;
        assert_eq!(size, recorded::TCP_SOCK_SIZE);
    }
}
