//! The map helpers as the kernel defines them (kernel/bpf/helpers.c, kernel/bpf/core.c):
//! `bpf_map_lookup_elem` (1), `bpf_map_update_elem` (2), `bpf_map_delete_elem` (3),
//! `bpf_tail_call` (12), `bpf_map_push_elem` (87), `bpf_map_pop_elem` (88),
//! `bpf_map_peek_elem` (89) and `bpf_map_lookup_percpu_elem` (195), registered by
//! [`register_map_helpers`]. Keys and values are read from and written to guest memory only
//! through the run's checked `Memory`; failures return the kernel's negative errno in r0.

use std::sync::Arc;

use super::{Map, MapType, errno};
use crate::helper::{
    ArgKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, RetKind,
};

/// `BPF_FUNC_map_lookup_elem`.
pub const BPF_FUNC_MAP_LOOKUP_ELEM: u32 = 1;
/// `BPF_FUNC_map_update_elem`.
pub const BPF_FUNC_MAP_UPDATE_ELEM: u32 = 2;
/// `BPF_FUNC_map_delete_elem`.
pub const BPF_FUNC_MAP_DELETE_ELEM: u32 = 3;
/// `BPF_FUNC_tail_call`.
pub const BPF_FUNC_TAIL_CALL: u32 = 12;
/// `BPF_FUNC_map_push_elem`.
pub const BPF_FUNC_MAP_PUSH_ELEM: u32 = 87;
/// `BPF_FUNC_map_pop_elem`.
pub const BPF_FUNC_MAP_POP_ELEM: u32 = 88;
/// `BPF_FUNC_map_peek_elem`.
pub const BPF_FUNC_MAP_PEEK_ELEM: u32 = 89;
/// `BPF_FUNC_map_lookup_percpu_elem`.
pub const BPF_FUNC_MAP_LOOKUP_PERCPU_ELEM: u32 = 195;

/// `bpf_map_lookup_elem_proto`.
pub const MAP_LOOKUP_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_lookup_elem",
    args: &[ArgKind::ConstMapPtr, ArgKind::MapKey],
    ret: RetKind::MapValueOrNull,
    gpl_only: false,
};
/// `bpf_map_update_elem_proto`.
pub const MAP_UPDATE_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_update_elem",
    args: &[
        ArgKind::ConstMapPtr,
        ArgKind::MapKey,
        ArgKind::MapValue,
        ArgKind::Anything,
    ],
    ret: RetKind::Integer,
    gpl_only: false,
};
/// `bpf_map_delete_elem_proto`.
pub const MAP_DELETE_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_delete_elem",
    args: &[ArgKind::ConstMapPtr, ArgKind::MapKey],
    ret: RetKind::Integer,
    gpl_only: false,
};
/// `bpf_tail_call_proto`.
pub const TAIL_CALL: HelperSignature = HelperSignature {
    name: "bpf_tail_call",
    args: &[ArgKind::Ctx, ArgKind::ConstMapPtr, ArgKind::Anything],
    ret: RetKind::Integer,
    gpl_only: false,
};
/// `bpf_map_push_elem_proto`.
pub const MAP_PUSH_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_push_elem",
    args: &[ArgKind::ConstMapPtr, ArgKind::MapValue, ArgKind::Anything],
    ret: RetKind::Integer,
    gpl_only: false,
};
/// `bpf_map_pop_elem_proto`.
pub const MAP_POP_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_pop_elem",
    args: &[ArgKind::ConstMapPtr, ArgKind::UninitMapValue],
    ret: RetKind::Integer,
    gpl_only: false,
};
/// `bpf_map_peek_elem_proto`.
pub const MAP_PEEK_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_peek_elem",
    args: &[ArgKind::ConstMapPtr, ArgKind::UninitMapValue],
    ret: RetKind::Integer,
    gpl_only: false,
};
/// `bpf_map_lookup_percpu_elem_proto`.
pub const MAP_LOOKUP_PERCPU_ELEM: HelperSignature = HelperSignature {
    name: "bpf_map_lookup_percpu_elem",
    args: &[ArgKind::ConstMapPtr, ArgKind::MapKey, ArgKind::Anything],
    ret: RetKind::MapValueOrNull,
    gpl_only: false,
};

/// Registers the map helpers into `table`.
pub fn register_map_helpers(table: &mut HelperTable) {
    let all: [(u32, HelperSignature, crate::helper::HelperFn); 8] = [
        (BPF_FUNC_MAP_LOOKUP_ELEM, MAP_LOOKUP_ELEM, map_lookup_elem),
        (BPF_FUNC_MAP_UPDATE_ELEM, MAP_UPDATE_ELEM, map_update_elem),
        (BPF_FUNC_MAP_DELETE_ELEM, MAP_DELETE_ELEM, map_delete_elem),
        (BPF_FUNC_TAIL_CALL, TAIL_CALL, tail_call),
        (BPF_FUNC_MAP_PUSH_ELEM, MAP_PUSH_ELEM, map_push_elem),
        (BPF_FUNC_MAP_POP_ELEM, MAP_POP_ELEM, map_pop_elem),
        (BPF_FUNC_MAP_PEEK_ELEM, MAP_PEEK_ELEM, map_peek_elem),
        (
            BPF_FUNC_MAP_LOOKUP_PERCPU_ELEM,
            MAP_LOOKUP_PERCPU_ELEM,
            map_lookup_percpu_elem,
        ),
    ];
    for (id, signature, func) in all {
        table.register(Helper {
            id,
            signature,
            func,
        });
    }
}

/// `-errno` as a register value.
fn neg(errno: i32) -> u64 {
    (-(errno as i64)) as u64
}

/// The map argument `arg` (a pointer LD_IMM64 loaded), or BadArgument.
fn map_arg(
    env: &HelperEnv<'_>,
    helper: &'static str,
    arg: u8,
    ptr: u64,
) -> Result<(usize, Arc<Map>), HelperError> {
    env.map_by_ptr(ptr)
        .map(|(i, m)| (i, Arc::clone(m)))
        .ok_or_else(|| HelperError::BadArgument {
            helper,
            arg,
            reason: format!("{ptr:#x} is not a map of this program"),
        })
}

fn read_key(env: &HelperEnv<'_>, map: &Map, ptr: u64) -> Result<Vec<u8>, HelperError> {
    Ok(env.memory.read_bytes(ptr, u64::from(map.def().key_size))?)
}

fn read_value(env: &HelperEnv<'_>, map: &Map, ptr: u64) -> Result<Vec<u8>, HelperError> {
    Ok(env
        .memory
        .read_bytes(ptr, u64::from(map.def().value_size))?)
}

/// Returns `ptr` to the program after making its value visible in the run's memory.
fn expose(env: &mut HelperEnv<'_>, map: &Map, ptr: Option<*mut u8>) -> u64 {
    match ptr {
        Some(p) => {
            // SAFETY: `p` points to a value of `map` (value_size bytes, 8-aligned storage).
            // By the maps memory contract it stays valid while the map lives and no
            // `release_deferred` runs; the map lives for the whole run because `env.maps`
            // (the running program's maps) holds an `Arc` to it, and the runtime calls
            // `release_deferred` only between runs. Writability follows BPF_F_RDONLY_PROG.
            unsafe { env.memory.add(map.region_at(p)) };
            p as u64
        }
        None => 0,
    }
}

fn map_lookup_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (_, map) = map_arg(env, MAP_LOOKUP_ELEM.name, 1, a[0])?;
    if matches!(
        map.map_type(),
        MapType::Queue | MapType::Stack | MapType::ProgArray
    ) {
        return Err(HelperError::BadArgument {
            helper: MAP_LOOKUP_ELEM.name,
            arg: 1,
            reason: format!("cannot look up in a {} map", map.map_type()),
        });
    }
    let key = read_key(env, &map, a[1])?;
    let ptr = map.lookup_ptr(&key);
    Ok(expose(env, &map, ptr))
}

fn map_lookup_percpu_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (_, map) = map_arg(env, MAP_LOOKUP_PERCPU_ELEM.name, 1, a[0])?;
    if !matches!(
        map.map_type(),
        MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
    ) {
        return Err(HelperError::BadArgument {
            helper: MAP_LOOKUP_PERCPU_ELEM.name,
            arg: 1,
            reason: format!("{} is not a per-CPU map", map.map_type()),
        });
    }
    let key = read_key(env, &map, a[1])?;
    let cpu = a[2] as u32 as usize;
    let ptr = map.lookup_percpu_ptr(&key, cpu);
    Ok(expose(env, &map, ptr))
}

fn map_update_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (_, map) = map_arg(env, MAP_UPDATE_ELEM.name, 1, a[0])?;
    let key = read_key(env, &map, a[1])?;
    let value = read_value(env, &map, a[2])?;
    Ok(match map.program_update(&key, &value, a[3]) {
        Ok(()) => 0,
        Err(e) => e.helper_return(),
    })
}

fn map_delete_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (_, map) = map_arg(env, MAP_DELETE_ELEM.name, 1, a[0])?;
    let key = read_key(env, &map, a[1])?;
    Ok(match map.program_delete(&key) {
        Ok(()) => 0,
        Err(e) => e.helper_return(),
    })
}

fn map_push_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (_, map) = map_arg(env, MAP_PUSH_ELEM.name, 1, a[0])?;
    let value = read_value(env, &map, a[1])?;
    Ok(match map.program_push(&value, a[2]) {
        Ok(()) => 0,
        Err(e) => e.helper_return(),
    })
}

fn take_into(
    env: &mut HelperEnv<'_>,
    name: &'static str,
    a: [u64; 5],
    delete: bool,
) -> Result<u64, HelperError> {
    let (_, map) = map_arg(env, name, 1, a[0])?;
    // The destination must be writable before anything is removed from the map.
    env.memory.check(
        a[1],
        u64::from(map.def().value_size),
        crate::memory::Access::Write,
    )?;
    match map.program_take(delete) {
        Ok(v) => {
            env.memory.write_bytes(a[1], &v)?;
            Ok(0)
        }
        Err(e) => Ok(e.helper_return()),
    }
}

fn map_pop_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    take_into(env, MAP_POP_ELEM.name, a, true)
}

fn map_peek_elem(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    take_into(env, MAP_PEEK_ELEM.name, a, false)
}

/// `bpf_tail_call(ctx, prog_array, index)`: validates the target and asks the engine to jump
/// (`env.tail_call`); an index out of range or an empty slot returns -ENOENT and the program
/// continues after the call, as in the kernel (where r0 is then unspecified). The engine
/// enforces the limit of 33 tail calls per run.
fn tail_call(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (map_index, map) = map_arg(env, TAIL_CALL.name, 2, a[1])?;
    if map.map_type() != MapType::ProgArray {
        return Err(HelperError::BadArgument {
            helper: TAIL_CALL.name,
            arg: 2,
            reason: format!("{} is not a prog_array", map.name()),
        });
    }
    let index = a[2] as u32;
    if map.prog_array_get(index).is_none() {
        return Ok(neg(errno::ENOENT));
    }
    env.tail_call = Some((map_index, index));
    Ok(0)
}
