//! Program generators shared by the random tests, the fuzz targets and the benches. Every
//! generator draws its choices from a [`Source`](crate::generator::Source): a seeded [`SplitMix`](crate::generator::SplitMix) for reproducible
//! tests, or fuzzer bytes through [`Bytes`](crate::generator::Bytes) (an `arbitrary::Unstructured`), so that a
//! libFuzzer input steers the structure of the program rather than its raw bytes. Programs
//! come out mostly decodable and mostly past the verifier's first checks (valid registers,
//! context accesses at real `bpf_sock_ops` offsets, stack accesses inside the frame, null
//! checks where they belong), so the verifier's deep paths are what gets exercised; each
//! kind also produces near-misses on purpose.
//!
//! - [`structured`](crate::generator::structured): the families of the live-kernel differential test (stack walks,
//!   map-value arithmetic, mixed 32-bit/spill/atomic/helper code, bpf-to-bpf calls, packet
//!   pointers, bounds arithmetic) and single random instructions;
//! - [`sockops`](crate::generator::sockops): context loads and stores (real fields and near-misses), helper calls with
//!   plausible and wrong arguments, bounded and unbounded loops, atomics, cpu v4
//!   instructions;
//! - [`world`](crate::generator::world): arbitrary sockets, op inputs and map contents for running what the
//!   verifier accepts;
//! - [`mutate`](crate::generator::mutate): the mutation mode (one instruction of a valid program perturbed).

pub mod sockops;
pub mod structured;
pub mod world;

use arbitrary::Unstructured;
use sockops_vm::{Insn, MapDef, MapType};

/// Where a generator's choices come from.
pub trait Source {
    /// Any 64-bit value.
    fn next(&mut self) -> u64;
    /// A value in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// A seeded splitmix64 generator: the reproducible source of the random tests.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl Source for SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Fuzzer bytes as a source: each choice consumes only the bytes it needs, and an
/// exhausted input answers 0 (so every input, however short, gives a program).
pub struct Bytes<'a, 'b>(pub &'b mut Unstructured<'a>);

impl Source for Bytes<'_, '_> {
    fn next(&mut self) -> u64 {
        self.0.arbitrary().unwrap_or(0)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        self.0.int_in_range(0..=n - 1).unwrap_or(0)
    }
}

/// The kinds of program the generators make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Stack walks by constants and registers, in and out of bounded loops.
    Stack,
    /// A null-checked array value moved by bounded and unbounded scalars.
    Map,
    /// 32-bit ALU and jumps, sign extension, byte swaps, spills/fills at every size, atomics,
    /// helper calls, spilled map-value pointers.
    Mixed,
    /// bpf-to-bpf calls reading and writing the caller's stack.
    Call,
    /// Packet pointers checked against the packet end.
    Packet,
    /// Random 32/64-bit arithmetic and comparisons feeding a stack offset.
    Bounds,
    /// Context loads and stores at real `bpf_sock_ops` offsets and sizes, and near-misses.
    Context,
    /// Helper calls with plausible and wrong argument types, map lookups with and without
    /// null checks.
    Helpers,
    /// Bounded and unbounded loops.
    Loops,
    /// Atomics on the stack and on map values, every op, 32 and 64 bits.
    Atomics,
    /// cpu v4 instructions: movsx, ldsx, sdiv/smod, bswap, gotol.
    CpuV4,
    /// Random instructions that mostly decode.
    Random,
    /// Dynptrs: local ones over a map value and ring buffer ones, read, written, sliced,
    /// overwritten and released (helpers 197-203).
    Dynptr,
    /// Pointer members followed from the current task, the kernel `tcp_sock` and a map
    /// pointer: chains of loads, null checks, reads and stores through them, arithmetic,
    /// spills, and walked pointers passed to helpers.
    BtfPointers,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 14] = [
        Kind::Stack,
        Kind::Map,
        Kind::Mixed,
        Kind::Call,
        Kind::Packet,
        Kind::Bounds,
        Kind::Context,
        Kind::Helpers,
        Kind::Loops,
        Kind::Atomics,
        Kind::CpuV4,
        Kind::Random,
        Kind::Dynptr,
        Kind::BtfPointers,
    ];
}

/// A generated program and the maps its LD_IMM64 map references (indices) name.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The kind that made it.
    pub kind: Kind,
    /// The program's slots.
    pub insns: Vec<Insn>,
    /// Its maps, by index.
    pub maps: Vec<MapDef>,
}

/// A map definition.
pub fn map_def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    }
}

/// The maps the `sockops` kinds use: 0 an array (key 4, value 16, 4 entries), 1 a hash
/// (key 8, value 8), 2 a queue (value 8), 3 a read-only array (`.rodata`-like).
pub fn sockops_maps() -> Vec<MapDef> {
    vec![
        map_def(MapType::Array, 4, 16, 4),
        map_def(MapType::Hash, 8, 8, 16),
        map_def(MapType::Queue, 0, 8, 4),
        MapDef {
            map_flags: sockops_vm::maps::BPF_F_RDONLY_PROG,
            ..map_def(MapType::Array, 4, 8, 1)
        },
    ]
}

/// A program of `kind`.
pub fn generate<S: Source>(s: &mut S, kind: Kind) -> Generated {
    use structured as st;
    let (insns, maps) = match kind {
        Kind::Stack => (st::stack_program(s), Vec::new()),
        Kind::Map => {
            let value_size = st::pick(s, &[8u32, 16, 32]);
            (
                st::map_program(s),
                vec![map_def(MapType::Array, 4, value_size, 4)],
            )
        }
        Kind::Mixed => (st::mixed_program(s), vec![map_def(MapType::Hash, 8, 16, 4)]),
        Kind::Call => (st::call_program(s), Vec::new()),
        Kind::Packet => (st::packet_program(s), Vec::new()),
        Kind::Bounds => (st::bounds_program(s), Vec::new()),
        Kind::Context => (sockops::context_program(s), sockops_maps()),
        Kind::Helpers => (sockops::helper_program(s), sockops_maps()),
        Kind::Loops => (sockops::loop_program(s), sockops_maps()),
        Kind::Atomics => (sockops::atomic_program(s), sockops_maps()),
        Kind::CpuV4 => (sockops::cpu_v4_program(s), sockops_maps()),
        Kind::Dynptr => (
            sockops::dynptr_program(s),
            vec![
                map_def(MapType::Array, 4, 32, 1),
                map_def(MapType::Ringbuf, 0, 0, 4096),
            ],
        ),
        Kind::BtfPointers => (sockops::btf_pointer_program(s), sockops_maps()),
        Kind::Random => {
            let n = 1 + s.below(24) as usize;
            let mut insns: Vec<Insn> = (0..n).map(|_| st::random_insn(s)).collect();
            if s.below(2) == 0 {
                insns.push(Insn::new(0xb7, 0, 0, 0, 1));
                insns.push(Insn::new(0x95, 0, 0, 0, 0));
            }
            (insns, sockops_maps())
        }
    };
    Generated { kind, insns, maps }
}

/// A program of a kind the source chooses.
pub fn any<S: Source>(s: &mut S) -> Generated {
    let kind = Kind::ALL[s.below(Kind::ALL.len() as u64) as usize];
    generate(s, kind)
}

/// The mutation mode: perturbs one instruction of `insns` (a field, or the whole slot).
pub fn mutate<S: Source>(s: &mut S, insns: &mut [Insn]) {
    if insns.is_empty() {
        return;
    }
    let k = s.below(insns.len() as u64) as usize;
    let insn = &mut insns[k];
    match s.below(8) {
        0 => insn.off = insn.off.wrapping_add(s.below(17) as i16 - 8),
        1 => insn.off = s.next() as i16,
        2 => insn.imm = insn.imm.wrapping_add(s.below(17) as i32 - 8),
        3 => insn.imm = s.next() as i32,
        4 => insn.dst = s.below(11) as u8,
        5 => insn.src = s.below(11) as u8,
        6 => insn.opcode ^= 1 << s.below(8),
        _ => *insn = structured::random_insn(s),
    }
}
