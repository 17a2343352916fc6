//! Blank kernel structs: what the pointer members of the runtime's struct images point to.
//!
//! The kernel lets a program follow a pointer member of a BTF pointer without a null check
//! (`task->real_parent->tgid`): the loaded pointer is not trusted to be valid, and the JIT
//! turns every load through it into a faulting load (`BPF_PROBE_MEM`) that reads 0 where the
//! address is bad. This runtime has no faulting loads. Instead every pointer member a
//! verified program may follow holds the address of a real, readable image of the struct it
//! points to: one shared, zero-filled, read-only **blank** image per recorded struct, whose
//! own pointer members point to blanks again. Scalars read through them are 0.
//!
//! Which members are followed is the verifier's walk (`btf_struct_walk`): a pointer member
//! of a recorded named struct, reached without entering a union of more than one member
//! (a pointer read out of such a union is `PTR_UNTRUSTED`, and the verifier refuses reads
//! through it), in any element of an array. [`fill_pointers`] writes exactly those slots,
//! so an image of any recorded struct can be made safe to walk; [`region`] is the one
//! read-only memory region holding every blank, which the engines add to a run's memory.

use std::sync::OnceLock;

use super::{KElem, kstruct, kstruct_index, readable_len, recorded};
use crate::memory::{Region, RegionKind};

/// Every blank image, in one leaked allocation, and the pointer slots of every struct.
struct Blanks {
    /// Host address of the first blank.
    base: u64,
    /// Bytes of all blanks together.
    len: u64,
    /// For each recorded struct index: the offsets of its followed pointer members and the
    /// address each must hold (the blank of the member's target).
    slots: Vec<Vec<(u32, u64)>>,
    /// For each recorded struct index: the address of its blank, if it has one.
    addrs: Vec<Option<u64>>,
}

/// The followed pointer members of struct `t` placed at `base`: (offset, target index).
/// At the top (`depth` 0) a trailing flexible array of structs counts every element that
/// fits whole in [`readable_len`] of `t`, as far as the verifier lets a program read.
fn pointer_slots(t: u16, base: u32, out: &mut Vec<(u32, u16)>, depth: u32) {
    let Some(s) = kstruct(t) else { return };
    if depth > 64 || (s.is_union && s.members.len() != 1) {
        return;
    }
    for m in s.members {
        if m.bitfield_size != 0 {
            continue;
        }
        let moff = base + m.bit_offset / 8;
        let (n, esize) = match (m.nelems, m.elem) {
            (None, _) => (1, m.size),
            (Some(0), KElem::Struct(i)) if depth == 0 => {
                let esize = kstruct(i).map_or(0, |e| e.size);
                let room = readable_len(t).saturating_sub(m.bit_offset / 8);
                match room.checked_div(esize) {
                    Some(n) if n > 0 => (n, esize),
                    _ => continue,
                }
            }
            (Some(0), _) => continue,
            (Some(n), _) => (n, m.size / n),
        };
        match m.elem {
            KElem::Struct(i) => {
                for k in 0..n {
                    pointer_slots(i, moff + k * esize, out, depth + 1);
                }
            }
            KElem::Ptr(name) if !name.is_empty() => {
                // A pointer to an empty struct needs no blank: the walk refuses every read
                // through it.
                if let Some(target) = kstruct_index(name).filter(|&i| readable_len(i) > 0) {
                    out.extend((0..n).map(|k| (moff + k * esize, target)));
                }
            }
            KElem::Ptr(_) | KElem::Scalar => {}
        }
    }
}

fn build() -> Blanks {
    let count = recorded::STRUCTS.len();
    let slots_by_index: Vec<Vec<(u32, u16)>> = (0..count)
        .map(|i| {
            let mut out = Vec::new();
            if let Ok(i) = u16::try_from(i) {
                pointer_slots(i, 0, &mut out, 0);
            }
            out
        })
        .collect();
    // A blank for every struct some pointer member points to.
    let mut wanted = vec![false; count];
    for slots in &slots_by_index {
        for &(_, target) in slots {
            wanted[usize::from(target)] = true;
        }
    }
    let mut offsets = vec![None; count];
    let mut total = 0u64;
    for (i, want) in wanted.iter().enumerate() {
        let len = u16::try_from(i).map_or(0, readable_len);
        if *want && len > 0 {
            offsets[i] = Some(total);
            total += u64::from(len).div_ceil(8) * 8;
        }
    }
    let mut words = vec![0u64; (total / 8).max(1) as usize].into_boxed_slice();
    let base = words.as_ptr() as u64;
    let addrs: Vec<Option<u64>> = offsets.iter().map(|o| o.map(|o| base + o)).collect();
    let slots: Vec<Vec<(u32, u64)>> = slots_by_index
        .iter()
        .map(|s| {
            s.iter()
                .filter_map(|&(off, target)| Some((off, addrs[usize::from(target)]?)))
                .collect()
        })
        .collect();
    // Each blank's own pointer members point to blanks. Slots are 8-byte aligned in every
    // recorded layout (pointers are), and each lies inside its struct.
    for (i, o) in offsets.iter().enumerate() {
        let Some(o) = o else { continue };
        let len = u16::try_from(i).map_or(0, readable_len);
        for &(off, addr) in &slots[i] {
            if off % 8 == 0 && off + 8 <= len {
                words[((o + u64::from(off)) / 8) as usize] = addr;
            }
        }
    }
    // The blanks live as long as the process: programs may hold their addresses anywhere.
    let words: &'static [u64] = Box::leak(words);
    Blanks {
        base: words.as_ptr() as u64,
        len: total,
        slots,
        addrs,
    }
}

fn blanks() -> &'static Blanks {
    static BLANKS: OnceLock<Blanks> = OnceLock::new();
    BLANKS.get_or_init(build)
}

/// Writes, into `image` (the bytes of recorded struct `root` from offset 0), the address of
/// the blank of its target into every pointer member a verified program may follow.
/// Members past the end of `image` are left alone.
pub fn fill_pointers(image: &mut [u8], root: u16) {
    let Some(slots) = blanks().slots.get(usize::from(root)) else {
        return;
    };
    for &(off, addr) in slots {
        let off = off as usize;
        if let Some(dst) = image.get_mut(off..off + 8) {
            dst.copy_from_slice(&addr.to_ne_bytes());
        }
    }
}

/// The followed pointer members of struct `root`: offset and the address written there by
/// [`fill_pointers`].
pub fn pointer_members(root: u16) -> &'static [(u32, u64)] {
    blanks()
        .slots
        .get(usize::from(root))
        .map_or(&[], Vec::as_slice)
}

/// The address of the blank image of recorded struct `index`, if some followed pointer
/// member points to that struct.
pub fn blank_addr(index: u16) -> Option<u64> {
    blanks().addrs.get(usize::from(index)).copied().flatten()
}

/// The read-only region holding every blank image.
pub fn region() -> Region {
    let b = blanks();
    Region {
        start: b.base,
        len: b.len,
        writable: false,
        kind: RegionKind::Other,
    }
}

/// A faulting load (`Instruction::ProbeLoad`): the `len` bytes (1, 2, 4 or 8) at `addr`,
/// little-endian and zero-extended, when they lie inside the blank region; 0 anywhere else,
/// as the kernel's JIT gives 0 for a faulting address. The engines that compile code
/// inline the same bounds test against [`region`].
pub fn probe_read(addr: u64, len: u64) -> u64 {
    let b = blanks();
    let inside = addr
        .checked_sub(b.base)
        .and_then(|rel| rel.checked_add(len))
        .is_some_and(|end| end <= b.len);
    if !inside || !matches!(len, 1 | 2 | 4 | 8) {
        return 0;
    }
    let mut bytes = [0u8; 8];
    // SAFETY: `[addr, addr + len)` lies inside the blank allocation, which is leaked (never
    // freed) and never written after `build` published it.
    unsafe {
        std::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), len as usize);
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_u64(addr: u64) -> u64 {
        let r = region();
        assert!(addr >= r.start && addr + 8 <= r.start + r.len);
        // SAFETY: the address lies inside the leaked, never-written blank allocation.
        unsafe { std::ptr::read(addr as *const u64) }
    }

    /// Every slot of every struct points to a blank of its target that is at least as long
    /// as the verifier lets a program read, inside the blank region; the blanks' own slots
    /// hold the same addresses.
    #[test]
    fn every_followed_pointer_leads_to_a_readable_blank() {
        let r = region();
        let mut seen = 0;
        for (i, _) in recorded::STRUCTS.iter().enumerate() {
            let i = i as u16;
            let mut raw = Vec::new();
            pointer_slots(i, 0, &mut raw, 0);
            let slots = pointer_members(i);
            assert_eq!(raw.len(), slots.len(), "struct {i}: a target has no blank");
            for (&(off, target), &(off2, addr)) in raw.iter().zip(slots) {
                assert_eq!(off, off2);
                assert_eq!(off % 8, 0);
                assert_eq!(Some(addr), blank_addr(target));
                let len = u64::from(readable_len(target));
                assert!(addr >= r.start && addr + len <= r.start + r.len);
                if let Some(own) = blank_addr(i) {
                    assert_eq!(read_u64(own + u64::from(off)), addr);
                }
                seen += 1;
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn the_current_task_reaches_its_parent_and_group_leader() {
        let task = kstruct_index("task_struct").unwrap();
        let blank_task = blank_addr(task).expect("task_struct is a pointer target");
        for name in ["real_parent", "group_leader"] {
            let place = super::super::field("task_struct", name).unwrap();
            let mut image = vec![0u8; readable_len(task) as usize];
            fill_pointers(&mut image, task);
            let at = place.offset as usize;
            let got = u64::from_ne_bytes(image[at..at + 8].try_into().unwrap());
            assert_eq!(got, blank_task, "{name}");
        }
        // A short image is filled only where a whole pointer fits.
        let mut short = vec![0u8; 5];
        fill_pointers(&mut short, task);
        assert_eq!(short, [0; 5]);
    }

    /// `struct pid` ends in a flexible array of `struct upid { int nr; struct
    /// pid_namespace *ns; }`, which the walk lets a moved pointer read far past the struct:
    /// the blank is `readable_len` long and every whole element in it has its `ns` filled.
    #[test]
    fn flexible_arrays_of_structs_have_their_elements_pointers_filled() {
        let pid = kstruct_index("pid").unwrap();
        let size = kstruct(pid).unwrap().size;
        let numbers = super::super::field("pid", "numbers").unwrap().offset;
        let upid = kstruct(kstruct_index("upid").unwrap()).unwrap().size;
        assert_eq!(readable_len(pid), super::super::MAX_INSN_REACH);
        let own = blank_addr(pid).expect("struct pid is a pointer target");
        let ns = blank_addr(kstruct_index("pid_namespace").unwrap()).unwrap();
        let slots: Vec<u32> = pointer_members(pid).iter().map(|&(off, _)| off).collect();
        let last = numbers + (readable_len(pid) - numbers) / upid * upid - upid + 8;
        for off in [numbers + 8, size + 8, last] {
            assert!(slots.contains(&off), "no slot at {off}");
            assert_eq!(read_u64(own + u64::from(off)), ns);
        }
        assert!(!slots.contains(&(last + upid)));
    }
}
