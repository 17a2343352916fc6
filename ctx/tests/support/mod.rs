//! A harness that calls sock_ops helpers directly, as an engine would: a `SockOpsEnv` for
//! one op, its regions plus a writable 256-byte stack and an optional read-only buffer in a
//! checked `Memory`, and the program's maps.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use sockops_ctx::{OpInput, SockOp, SockOpsEnv, Socket, sock_ops_helper_table};
use sockops_vm::{
    HelperEnv, HelperError, HelperTable, Map, MapDef, MapType, Memory, Region, RegionKind,
};

/// An established IPv4 socket 10.0.0.1:40000 -> 10.0.0.2:443.
pub fn socket() -> Socket {
    Socket::new(
        "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
    )
}

/// A request socket with the same addresses.
pub fn request_socket() -> Socket {
    Socket::request(
        "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
    )
}

/// A map definition.
pub fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    }
}

/// Size of the harness stack.
pub const STACK: usize = 256;

/// One op invocation's helper world.
pub struct Run {
    pub env: SockOpsEnv,
    pub stack: Box<[u8; STACK]>,
    pub rodata: Box<[u8; 64]>,
    pub maps: Vec<Arc<Map>>,
    pub memory: Memory,
    table: HelperTable,
}

impl Run {
    /// A run of `op` on `socket` with `maps`.
    pub fn new(socket: Socket, op: SockOp, maps: Vec<Arc<Map>>) -> Run {
        let env = SockOpsEnv::new(socket, OpInput::new(op));
        let mut run = Run {
            env,
            stack: Box::new([0; STACK]),
            rodata: Box::new([0; 64]),
            maps,
            memory: Memory::new(),
            table: sock_ops_helper_table(),
        };
        // SAFETY: env, stack and rodata are owned by `run` and outlive `run.memory`'s use
        // (all are dropped together); they are only accessed through raw copies.
        unsafe {
            run.env.add_regions(&mut run.memory);
            run.memory.add(Region {
                start: run.stack.as_mut_ptr() as u64,
                len: STACK as u64,
                writable: true,
                kind: RegionKind::Stack,
            });
            run.memory.add(Region {
                start: run.rodata.as_ptr() as u64,
                len: 64,
                writable: false,
                kind: RegionKind::MapValue,
            });
        }
        run
    }

    /// Guest address of stack byte `off`.
    pub fn stack_addr(&self, off: usize) -> u64 {
        self.stack.as_ptr() as u64 + off as u64
    }

    /// Guest address of read-only byte `off`.
    pub fn rodata_addr(&self, off: usize) -> u64 {
        self.rodata.as_ptr() as u64 + off as u64
    }

    /// Writes `bytes` to the stack at `off` (as the program would before a call).
    pub fn put(&mut self, off: usize, bytes: &[u8]) {
        self.stack[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// Reads `n` stack bytes at `off`.
    pub fn get(&self, off: usize, n: usize) -> Vec<u8> {
        self.stack[off..off + n].to_vec()
    }

    /// The pointer LD_IMM64 would load for map `i`.
    pub fn map_ptr(&self, i: usize) -> u64 {
        self.maps[i].program_ptr()
    }

    /// Calls helper `id`; Err for a call that ends the program.
    pub fn try_call(&mut self, id: u32, args: [u64; 5]) -> Result<u64, HelperError> {
        let func = self.table.get(id).expect("helper registered").func;
        let mut env = HelperEnv {
            memory: &mut self.memory,
            maps: &self.maps,
            payload: &mut self.env,
            tail_call: None,
        };
        func(&mut env, args)
    }

    /// Calls helper `id` and returns r0 as a signed value.
    pub fn call(&mut self, id: u32, args: [u64; 5]) -> i64 {
        self.try_call(id, args).expect("helper call") as i64
    }
}
