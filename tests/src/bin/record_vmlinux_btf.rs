//! `record_vmlinux_btf [BTF] [OUT]`: records the kernel BTF facts `sockops-vm` ships
//! (`vm/src/vmlinux/recorded.rs`): `struct tcp_sock`, `struct bpf_map` and the struct each
//! map type is (`map->ops->map_btf_id`: `bpf_htab`, `bpf_array`...) and `struct task_struct`
//! (`bpf_get_current_task_btf`) and the structs the other `bpf_skc_to_*` casts return
//! (`tcp6_sock`, `tcp_timewait_sock`, `tcp_request_sock`, `udp6_sock`, `unix_sock`,
//! `mptcp_sock`), with every struct or union embedded in them or reachable from them through
//! pointer members (the whole closure a program can walk: `task->mm->...`,
//! `map->ops->...`), each with its members' bit offsets,
//! bitfield widths, sizes, array lengths and element kinds, as the kernel's
//! `btf_struct_walk` sees them.
//!
//! BTF defaults to `/sys/kernel/btf/vmlinux`, OUT to stdout. Rerun it on a new kernel and
//! commit the result with the kernel's verdicts that depend on it.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use sockops_vm::elf::btf::{Btf, BtfKind, BtfType};

/// The structs whose layout is recorded, with everything embedded in them.
/// `tcp_sock` must stay first (index 0).
const ROOTS: &[&str] = &[
    "tcp_sock",
    "bpf_map",
    "bpf_htab",
    "bpf_array",
    "bpf_stab",
    "bpf_shtab",
    "bpf_queue_stack",
    "bpf_local_storage_map",
    "bpf_ringbuf_map",
    // Only for their sizes, which set fields of the map structs (`elem_size`).
    "htab_elem",
    "bpf_shtab_elem",
    "bpf_local_storage_elem",
    "task_struct",
    // What the other `bpf_skc_to_*` casts return.
    "tcp6_sock",
    "tcp_timewait_sock",
    "tcp_request_sock",
    "udp6_sock",
    "unix_sock",
    "mptcp_sock",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/sys/kernel/btf/vmlinux".to_string());
    let out = args.next();
    let data = std::fs::read(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let btf = Btf::parse(&data).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let text = record(&btf).unwrap_or_else(|e| fail(&e));
    match out {
        Some(o) => std::fs::write(&o, text).unwrap_or_else(|e| fail(&format!("{o}: {e}"))),
        None => print!("{text}"),
    }
}

/// The root structs as comment lines of at most 92 columns.
fn wrap_roots() -> String {
    let mut lines = vec![String::from("//!")];
    for (i, r) in ROOTS.iter().enumerate() {
        let item = format!(
            " `struct {r}`{}",
            if i + 1 < ROOTS.len() { "," } else { "" }
        );
        if lines.last().is_some_and(|l| l.len() + item.len() > 92) {
            lines.push(String::from("//!"));
        }
        if let Some(l) = lines.last_mut() {
            l.push_str(&item);
        }
    }
    lines.join("\n")
}

fn fail(msg: &str) -> ! {
    eprintln!("record_vmlinux_btf: {msg}");
    std::process::exit(1)
}

/// What a member resolves to: `__btf_resolve_size`'s view (modifiers skipped, arrays
/// linearised to their innermost element).
struct Resolved {
    size: u64,
    nelems: Option<u64>,
    elem_id: u32,
}

fn resolve(btf: &Btf, id: u32) -> Result<Resolved, String> {
    let mut nelems: Option<u64> = None;
    let mut id = id;
    for _ in 0..64 {
        let (sid, t) = btf.skip_mods(id).map_err(|e| e.to_string())?;
        if t.kind == BtfKind::Array {
            let (elem, n) = t.array.unwrap_or((0, 0));
            nelems = Some(nelems.unwrap_or(1) * u64::from(n));
            id = elem;
            continue;
        }
        let size = btf.resolve_size(sid).map_err(|e| e.to_string())?;
        return Ok(Resolved {
            size: size * nelems.unwrap_or(1),
            nelems,
            elem_id: sid,
        });
    }
    Err(format!("type {id}: array chain too deep"))
}

fn is_struct(kind: BtfKind) -> bool {
    matches!(kind, BtfKind::Struct | BtfKind::Union)
}

/// The struct or union a pointer type points to (modifiers skipped); `None` for `void *`
/// (also `const void *`), pointers to scalars and functions, and forward declarations.
fn pointer_target<'a>(btf: &'a Btf, ptr: &BtfType) -> Option<(u32, &'a BtfType)> {
    if ptr.kind != BtfKind::Ptr || ptr.size_or_type == 0 {
        return None;
    }
    let (pid, pt) = btf.skip_mods(ptr.size_or_type).ok()?;
    is_struct(pt.kind).then_some((pid, pt))
}

fn record(btf: &Btf) -> Result<String, String> {
    let mut order: Vec<u32> = Vec::new();
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut queue: VecDeque<u32> = VecDeque::new();
    for root in ROOTS {
        let id = (1..=btf.type_count())
            .find(|&id| {
                btf.type_by_id(id)
                    .is_some_and(|t| t.kind == BtfKind::Struct && btf.name_of(id) == *root)
            })
            .ok_or_else(|| format!("struct {root} is not in this BTF"))?;
        index.insert(id, order.len());
        order.push(id);
        queue.push_back(id);
    }
    // Breadth-first over embedded members and the targets of pointer members, so each
    // struct gets a stable index and every struct a program can reach is recorded.
    while let Some(id) = queue.pop_front() {
        let t = btf.type_by_id(id).ok_or("bad id")?;
        for m in &t.members {
            let r = resolve(btf, m.type_id)?;
            let et = btf.type_by_id(r.elem_id).ok_or("bad member type")?;
            let reached = if is_struct(et.kind) {
                Some(r.elem_id)
            } else {
                pointer_target(btf, et).map(|(pid, _)| pid)
            };
            if let Some(rid) = reached
                && !index.contains_key(&rid)
            {
                index.insert(rid, order.len());
                order.push(rid);
                queue.push_back(rid);
            }
        }
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let machine = std::env::consts::ARCH;
    let tcp_sock_size = btf.type_by_id(order[0]).map_or(0, |t| t.size_or_type);
    let mut o = String::new();
    writeln!(
        o,
        "//! GENERATED by `cargo run -p sockops-tests --bin record_vmlinux_btf -- /sys/kernel/btf/vmlinux vm/src/vmlinux/recorded.rs`\n\
         //! on Linux {release} ({machine}):\n{}\n//! and the {} structs and unions embedded in\n\
         //! them or reachable from them through pointer members, as vmlinux BTF describes\n\
         //! them. Do not edit by hand.\n",
        wrap_roots(),
        order.len() - ROOTS.len()
    )
    .unwrap();
    o.push_str("use super::KElem::{Ptr, Scalar, Struct};\nuse super::{KMember, KStruct};\n\n");
    writeln!(
        o,
        "/// The kernel release (`uname -r`) the facts were recorded from.\npub const KERNEL_RELEASE: &str = {release:?};\n\
         /// The machine of that kernel.\npub const MACHINE: &str = {machine:?};\n\
         /// `sizeof(struct tcp_sock)` in that kernel.\npub const TCP_SOCK_SIZE: u32 = {tcp_sock_size};\n"
    )
    .unwrap();
    o.push_str(
        "const fn m(\n    name: &'static str,\n    bit_offset: u32,\n    bitfield_size: u8,\n    size: u32,\n    nelems: Option<u32>,\n    elem: super::KElem,\n) -> KMember {\n    KMember {\n        name,\n        bit_offset,\n        bitfield_size,\n        size,\n        nelems,\n        elem,\n    }\n}\n\n",
    );
    o.push_str("/// The recorded structs and unions; index 0 is `struct tcp_sock`.\n#[rustfmt::skip]\npub static STRUCTS: &[KStruct] = &[\n");
    for (i, &id) in order.iter().enumerate() {
        let t = btf.type_by_id(id).ok_or("bad id")?;
        writeln!(
            o,
            "    // {i}\n    KStruct {{ name: {:?}, size: {}, is_union: {}, members: &[",
            btf.name_of(id),
            t.size_or_type,
            t.kind == BtfKind::Union
        )
        .unwrap();
        for m in &t.members {
            let (bit, bf) = if t.kind_flag {
                (m.offset & 0x00ff_ffff, m.offset >> 24)
            } else {
                (m.offset, 0)
            };
            let r = resolve(btf, m.type_id)?;
            let et = btf.type_by_id(r.elem_id).ok_or("bad member type")?;
            let elem = if is_struct(et.kind) {
                format!("Struct({})", index[&r.elem_id])
            } else if et.kind == BtfKind::Ptr {
                let target = pointer_target(btf, et).map(|(pid, _)| btf.name_of(pid));
                format!("Ptr({:?})", target.unwrap_or_default())
            } else {
                "Scalar".to_string()
            };
            let nelems = r
                .nelems
                .map_or("None".to_string(), |n| format!("Some({n})"));
            writeln!(
                o,
                "        m({:?}, {bit}, {bf}, {}, {nelems}, {elem}),",
                btf.string(m.name_off).unwrap_or_default(),
                r.size
            )
            .unwrap();
        }
        o.push_str("    ]},\n");
    }
    o.push_str("];\n");
    Ok(o)
}
