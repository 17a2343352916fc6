//! Calls: helper calls checked against the kernel's sock_ops prototypes (`check_helper_call`,
//! `check_func_arg`, `check_mem_size_reg`, `check_map_func_compatibility`) and BPF-to-BPF
//! calls (`check_func_call`: new frame, depth limit).

use sockops_ctx::helper_ids::helper_id;
use sockops_ctx::vmlinux::kstruct_index;
use sockops_vm::{Insn, MapType};

use super::{Env, MAX_CALL_FRAMES, Step};
use crate::btf_walk;
use crate::error::Reject;
use crate::helpers::{
    Arg, BTF_SOCK_TYPES, DYNPTR_TYPES, MEM_TYPES, Ret, SOCK_TYPES, might_sleep, needs_perfmon,
    proto,
};
use crate::reg::{DYNPTR_RINGBUF, RegState, RegType};
use crate::stack::{ByteType, Stack};
use crate::state::Frame;

/// `BPF_MAX_VAR_SIZ`.
const MAX_VAR_SIZ: u64 = 1 << 29;
/// `__BPF_FUNC_MAX_ID` on the reference kernel.
const FUNC_MAX_ID: i32 = 212;

#[derive(Default)]
struct Meta {
    map: Option<u32>,
    /// (register, byte count) of an uninitialised-memory argument to mark written.
    raw: Option<(u8, i64)>,
    raw_mode: bool,
    const_key: Option<u64>,
    /// The constant of an ARG_CONST_ALLOC_SIZE_OR_ZERO argument.
    mem_size: u32,
    /// The reference held by an argument (`meta->ref_obj_id`).
    ref_obj_id: u32,
    /// The argument register whose reference the call releases (0: none).
    release_regno: u8,
    /// The register of an initialised dynptr argument (`get_dynptr_arg_reg`), 0 for none.
    dynptr_regno: u8,
}

/// The kernel's name of helper `id` (`bpf_map_lookup_elem`), `unknown` if there is none.
pub(super) fn func_name(id: i32) -> String {
    match u32::try_from(id).ok().and_then(helper_id) {
        Some(h) => format!("bpf_{}", h.name),
        None => "unknown".to_string(),
    }
}

impl Env<'_> {
    pub(super) fn check_func_call(&mut self, pc: usize, insn: Insn) -> Result<Step, Reject> {
        let target = (pc as i64 + insn.imm as i64 + 1) as usize;
        let curframe = self.cur.curframe();
        if curframe + 1 >= MAX_CALL_FRAMES {
            return Err(Reject::new(
                pc,
                format!("the call stack of {} frames is too deep", curframe + 2),
            ));
        }
        let callee_sub = self.cfg.subprog_of(target);
        let caller_sub = self.cur.cur().subprog;
        if !self.call_edges.contains(&(caller_sub, callee_sub)) {
            self.call_edges.push((caller_sub, callee_sub));
        }
        let mut regs = [RegState::NOT_INIT; 11];
        regs[1..6].copy_from_slice(&self.regs()[1..6]);
        regs[10] = RegState {
            frameno: (curframe + 1) as u8,
            ..RegState::pointer(RegType::Stack)
        };
        for r in 0..6 {
            self.regs_mut()[r] = RegState::NOT_INIT;
        }
        self.cur.frames.push(Frame {
            regs,
            stack: Stack::default(),
            callsite: pc,
            subprog: callee_sub,
        });
        Ok(Step::Goto(target))
    }

    fn arg_type_error(&self, pc: usize, regno: u8, reg: &RegState, expected: &str) -> Reject {
        Reject::new(
            pc,
            format!("R{regno} type={} expected={expected}", reg.typ.name()),
        )
    }

    /// `check_helper_mem_access`.
    fn check_helper_mem_access(
        &mut self,
        pc: usize,
        regno: u8,
        size: i64,
        write: bool,
        zero_ok: bool,
        raw: bool,
    ) -> Result<(), Reject> {
        let reg = self.regs()[regno as usize];
        match reg.typ {
            RegType::Pkt => {
                self.check_packet_access(pc, regno, &reg, reg.off as i64, size, zero_ok)
            }
            RegType::MapValue => {
                self.check_map_access_type(pc, &reg, reg.off as i64, size, write)?;
                self.check_map_access(pc, regno, &reg, reg.off as i64, size, zero_ok)
            }
            RegType::Mem | RegType::DynptrMem => self.check_region(
                pc,
                regno,
                &reg,
                reg.off as i64,
                size,
                reg.map as i64,
                zero_ok,
            ),
            RegType::Stack => {
                if size == 0 && !zero_ok {
                    return Err(Reject::new(pc, "invalid zero-sized read"));
                }
                self.check_stack_range_initialized(
                    pc,
                    regno,
                    &reg,
                    reg.off as i64,
                    size,
                    write,
                    raw,
                )
            }
            _ => {
                if zero_ok && size == 0 && reg.is_const(0) {
                    if reg.typ == RegType::Scalar {
                        self.mark_precise(1 << regno);
                    }
                    return Ok(());
                }
                Err(Reject::new(
                    pc,
                    format!("R{regno} type={} expected=fp", reg.typ.name()),
                ))
            }
        }
    }

    /// `check_mem_size_reg`.
    fn check_mem_size_reg(
        &mut self,
        pc: usize,
        regno: u8,
        write: bool,
        zero_ok: bool,
        meta: &mut Meta,
    ) -> Result<(), Reject> {
        let reg = self.regs()[regno as usize];
        let raw = meta.raw_mode && reg.var.is_const();
        if reg.var.smin < 0 {
            return Err(Reject::new(
                pc,
                format!("R{regno} min value is negative, either use unsigned or 'var &= const'"),
            ));
        }
        if reg.var.umin == 0 && !zero_ok {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} invalid zero-sized read: u64=[{},{}]",
                    reg.var.umin, reg.var.umax
                ),
            ));
        }
        if reg.var.umax >= MAX_VAR_SIZ {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'"
                ),
            ));
        }
        let size = reg.var.umax as i64;
        self.check_helper_mem_access(pc, regno - 1, size, write, zero_ok, raw)?;
        self.mark_precise(1 << regno);
        if raw {
            meta.raw = Some((regno - 1, size));
        }
        Ok(())
    }

    /// Reads a constant array key from the stack (`get_constant_map_key`): the key, and the
    /// frame and slot of the spilled scalar it came from (whose value then matters).
    fn constant_map_key(
        &self,
        key: &RegState,
        key_size: i64,
    ) -> Option<(u64, Option<(usize, usize)>)> {
        if key.typ != RegType::Stack || !key.var.is_const() {
            return None;
        }
        let off = key.off as i64 + key.var.value() as i64;
        let stack = &self.cur.frames.get(key.frameno as usize)?.stack;
        let (_, first) = Stack::locate(off as i32);
        let slot = stack.slot(off as i32)?;
        let mut zeros = 0;
        let mut i = first as i64;
        while i >= 0 && slot.bytes[i as usize] == ByteType::Zero {
            zeros += 1;
            i -= 1;
        }
        if zeros >= key_size {
            return Some((0, None));
        }
        if slot.bytes[7] != ByteType::Spill || slot.spilled.typ != RegType::Scalar {
            return None;
        }
        let mut spill = 0;
        let mut i = first as i64;
        while i >= 0 && slot.bytes[i as usize] == ByteType::Spill {
            spill += 1;
            i -= 1;
        }
        if spill != key_size || !slot.spilled.var.is_const() {
            return None;
        }
        let spi = Stack::locate(off as i32).0;
        Some((slot.spilled.var.value(), Some((key.frameno as usize, spi))))
    }

    fn check_func_arg(
        &mut self,
        pc: usize,
        i: usize,
        arg: Arg,
        args: &[Arg],
        meta: &mut Meta,
    ) -> Result<(), Reject> {
        let regno = (i + 1) as u8;
        self.check_src(pc, regno)?;
        let reg = self.regs()[regno as usize];
        if arg == Arg::Anything {
            if self.is_pointer_value(regno) {
                return Err(Reject::new(
                    pc,
                    format!("R{regno} leaks addr into helper function"),
                ));
            }
            return Ok(());
        }
        if let Arg::DynptrUninit(_) | Arg::Dynptr | Arg::DynptrRelease = arg {
            // check_reg_type, then (a stack pointer may carry any offset) the release
            // pre-check and process_dynptr_func.
            if reg.typ != RegType::Stack {
                return Err(self.arg_type_error(pc, regno, &reg, DYNPTR_TYPES));
            }
            let (init, expected) = match arg {
                Arg::DynptrUninit(kind) => (Some(kind), None),
                Arg::DynptrRelease => {
                    self.check_dynptr_release_arg(pc, regno, &reg)?;
                    meta.release_regno = regno;
                    (None, Some(DYNPTR_RINGBUF))
                }
                _ => {
                    meta.dynptr_regno = regno;
                    (None, None)
                }
            };
            return self.process_dynptr_arg(pc, regno, &reg, init, expected);
        }
        let mem_arg = matches!(
            arg,
            Arg::MapKey
                | Arg::MapValue
                | Arg::MapValueOrNull
                | Arg::UninitMapValue
                | Arg::MemRead
                | Arg::MemWrite
                | Arg::UninitMem
                | Arg::LongOut
        );
        if reg.typ == RegType::BtfTask && mem_arg {
            // The kernel accepts trusted BTF pointers here and sizes them by BTF.
            return Err(Reject::new(
                pc,
                format!("R{regno} of type trusted_ptr_ as a helper argument is not supported by this verifier"),
            )
            .unsupported());
        }
        if reg.typ == RegType::Pkt && mem_arg {
            return Err(Reject::new(
                pc,
                "helper access to the packet is not allowed",
            ));
        }
        // resolve_map_arg_type: a sockmap/sockhash value argument must be exactly
        // ARG_PTR_TO_MAP_VALUE, which the kernel turns into a socket argument.
        let sockmap = meta
            .map
            .and_then(|m| self.maps.get(m as usize))
            .is_some_and(|d| matches!(d.map_type, MapType::Sockmap | MapType::Sockhash));
        if sockmap && matches!(arg, Arg::MapValueOrNull | Arg::UninitMapValue) {
            return Err(Reject::new(pc, "invalid arg_type for sockmap/sockhash"));
        }
        let arg = if sockmap && arg == Arg::MapValue {
            Arg::BtfSockCommon
        } else {
            arg
        };
        let null_ok = matches!(arg, Arg::CtxOrNull | Arg::MapValueOrNull);
        if null_ok && reg.typ == RegType::Scalar && reg.is_const(0) {
            // NULL passes for a pointer only while the scalar stays zero. (The kernel marks
            // nothing here; marking is the safe side.)
            self.mark_precise(1 << regno);
        }
        if !(null_ok && reg.is_const(0)) {
            let ok = match arg {
                Arg::Ctx | Arg::CtxOrNull => reg.typ == RegType::Ctx,
                Arg::ConstMapPtr => reg.typ == RegType::MapPtr,
                Arg::SockCommon | Arg::BtfSockCommon => {
                    matches!(
                        reg.typ,
                        RegType::Sock | RegType::SockCommon | RegType::TcpSock
                    ) || (arg == Arg::BtfSockCommon
                        && matches!(reg.typ, RegType::BtfPtr | RegType::BtfTask))
                }
                Arg::ConstSize | Arg::ConstSizeOrZero | Arg::AllocSizeOrZero => {
                    reg.typ == RegType::Scalar
                }
                Arg::RingbufMemRelease => reg.typ == RegType::Mem,
                Arg::ConstStr => reg.typ == RegType::MapValue,
                // check_reg_type drops PTR_MAYBE_NULL from the register's type for a
                // maybe-null argument: an unchecked map value or reservation passes too.
                Arg::MapValueOrNull => matches!(
                    reg.typ,
                    RegType::Stack
                        | RegType::Pkt
                        | RegType::MapValue
                        | RegType::Mem
                        | RegType::DynptrMem
                        | RegType::MapValueOrNull
                        | RegType::MemOrNull
                        | RegType::DynptrMemOrNull
                ),
                _ if mem_arg => matches!(
                    reg.typ,
                    RegType::Stack
                        | RegType::Pkt
                        | RegType::MapValue
                        | RegType::Mem
                        | RegType::DynptrMem
                ),
                _ => false,
            };
            if !ok {
                let expected = match arg {
                    Arg::Ctx | Arg::CtxOrNull => "ctx",
                    Arg::ConstMapPtr => "map_ptr",
                    Arg::SockCommon => SOCK_TYPES,
                    Arg::BtfSockCommon => BTF_SOCK_TYPES,
                    Arg::ConstSize | Arg::ConstSizeOrZero | Arg::AllocSizeOrZero => "scalar",
                    Arg::RingbufMemRelease => "ringbuf_mem",
                    Arg::ConstStr => "map_value",
                    _ => MEM_TYPES,
                };
                return Err(self.arg_type_error(pc, regno, &reg, expected));
            }
            // check_reg_type: a BTF pointer must point, at its fixed offset, to a struct
            // that is or embeds a `sock_common` (btf_struct_ids_match).
            if matches!(reg.typ, RegType::BtfPtr | RegType::BtfTask) {
                let need = kstruct_index("sock_common").unwrap_or(u16::MAX);
                let Some(have) = btf_walk::recorded_index(reg.map) else {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "R{regno} points to 'struct {}', whose layout is not recorded: whether it is a sock_common cannot be judged",
                            btf_walk::type_name(reg.map)
                        ),
                    )
                    .unsupported());
                };
                let matches = u32::try_from(reg.off)
                    .is_ok_and(|off| btf_walk::struct_ids_match(have, off, need));
                if !matches {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "R{regno} is of type {} but sock_common is expected",
                            btf_walk::type_name(reg.map)
                        ),
                    ));
                }
            }
            // check_func_arg_reg_off: a pointer to release must be unmodified.
            if arg == Arg::RingbufMemRelease {
                if reg.off != 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "R{regno} must have zero offset when passed to release func or trusted arg to kfunc"
                        ),
                    ));
                }
                if !reg.var.is_const() || reg.var.value() != 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "variable {} access var_off={} disallowed",
                            reg.typ.name(),
                            reg.var.var_off
                        ),
                    ));
                }
            }
            // check_func_arg_reg_off: only memory-like pointers may carry an offset (a BTF
            // pointer a fixed one).
            if !matches!(
                reg.typ,
                RegType::Stack
                    | RegType::Pkt
                    | RegType::MapValue
                    | RegType::Mem
                    | RegType::DynptrMem
                    | RegType::Scalar
            ) {
                let fixed_off_ok = reg.typ == RegType::BtfPtr;
                if reg.off < 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "negative offset {} ptr R{regno} off={} disallowed",
                            reg.typ.name(),
                            reg.off
                        ),
                    ));
                }
                if reg.off != 0 && !fixed_off_ok {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "dereference of modified {} ptr R{regno} off={} disallowed",
                            reg.typ.name(),
                            reg.off
                        ),
                    ));
                }
                if !reg.var.is_const() || reg.var.value() != 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "variable {} access var_off={} disallowed",
                            reg.typ.name(),
                            reg.var.var_off
                        ),
                    ));
                }
            }
        }
        if arg == Arg::RingbufMemRelease {
            if reg.ref_obj_id == 0 && !reg.is_const(0) {
                return Err(Reject::new(
                    pc,
                    format!("R{regno} must be referenced when passed to release function"),
                ));
            }
            meta.release_regno = regno;
        }
        if reg.ref_obj_id != 0 {
            if meta.ref_obj_id != 0 {
                // The kernel refuses a call with two referenced arguments, in a message
                // without a newline.
                return Err(Reject::new(
                    pc,
                    format!(
                        "more than one arg with ref_obj_id R{regno} {} {}",
                        reg.ref_obj_id, meta.ref_obj_id
                    ),
                )
                .glued());
            }
            meta.ref_obj_id = reg.ref_obj_id;
        }
        match arg {
            Arg::ConstMapPtr => meta.map = Some(reg.map),
            Arg::AllocSizeOrZero => {
                if !reg.var.is_const() {
                    return Err(Reject::new(
                        pc,
                        format!("R{regno} is not a known constant'"),
                    ));
                }
                meta.mem_size = reg.var.value() as u32;
                self.mark_precise(1 << regno);
            }
            Arg::MapKey => {
                let Some(m) = meta.map.and_then(|m| self.maps.get(m as usize).copied()) else {
                    return Err(Reject::new(pc, "invalid map_ptr to access map->key"));
                };
                self.check_helper_mem_access(pc, regno, m.key_size as i64, false, false, false)?;
                if matches!(m.map_type, MapType::Array | MapType::PercpuArray) {
                    let key = self.constant_map_key(&reg, m.key_size as i64);
                    if let Some((_, Some((frame, spi)))) = key {
                        self.mark_precise_slot(frame, spi);
                    }
                    meta.const_key = key.map(|k| k.0);
                }
            }
            Arg::MapValueOrNull if reg.is_const(0) => {}
            Arg::MapValue | Arg::UninitMapValue | Arg::MapValueOrNull => {
                let Some(m) = meta.map.and_then(|m| self.maps.get(m as usize).copied()) else {
                    return Err(Reject::new(pc, "invalid map_ptr to access map->value"));
                };
                let uninit = arg == Arg::UninitMapValue;
                // A maybe-null pointer is checked as if it were not null (the helper gets
                // NULL or valid memory).
                self.regs_mut()[regno as usize].typ = reg.typ.not_null();
                let checked = self.check_helper_mem_access(
                    pc,
                    regno,
                    m.value_size as i64,
                    uninit,
                    false,
                    uninit,
                );
                self.regs_mut()[regno as usize].typ = reg.typ;
                checked?;
                if uninit && reg.typ == RegType::Stack && reg.var.is_const() {
                    meta.raw = Some((regno, m.value_size as i64));
                }
            }
            Arg::MemRead | Arg::MemWrite => meta.raw_mode = false,
            Arg::UninitMem => meta.raw_mode = true,
            Arg::ConstSize | Arg::ConstSizeOrZero => {
                // The memory argument before the size is written when it is MEM_WRITE:
                // every byte the helper may write becomes unknown (`clobber`).
                let write = matches!(
                    args.get(i.wrapping_sub(1)),
                    Some(Arg::UninitMem | Arg::MemWrite)
                );
                self.check_mem_size_reg(pc, regno, write, arg == Arg::ConstSizeOrZero, meta)?;
            }
            Arg::ConstStr => self.check_reg_const_str(pc, regno, &reg)?,
            Arg::LongOut => {
                self.check_helper_mem_access(pc, regno, 8, true, false, true)?;
                // MEM_ALIGNED: the result is stored as one 8-byte word.
                self.check_ptr_alignment(pc, &reg, 0, 8, true)?;
                if reg.typ == RegType::Stack && reg.var.is_const() {
                    meta.raw = Some((regno, 8));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `check_reg_const_str`: the string must lie in a map value nothing can change (a frozen
    /// `BPF_F_RDONLY_PROG` map: `bpf_map_is_rdonly`) at a constant offset, in an array the
    /// kernel reads directly (one entry), and hold a NUL before the value ends. The string
    /// is read from the value the map holds now, which can no longer change.
    fn check_reg_const_str(&self, pc: usize, regno: u8, reg: &RegState) -> Result<(), Reject> {
        let Some(value) = self
            .frozen_values
            .get(reg.map as usize)
            .and_then(|v| v.as_ref())
        else {
            return Err(Reject::new(
                pc,
                format!("R{regno} does not point to a readonly map'"),
            ));
        };
        if !reg.var.is_const() {
            return Err(Reject::new(
                pc,
                format!("R{regno} is not a constant address'"),
            ));
        }
        let Some(def) = self.maps.get(reg.map as usize) else {
            return Err(Reject::new(pc, "direct value access on string failed"));
        };
        let value_size = i64::from(def.value_size);
        let off = i64::from(reg.off);
        self.check_map_access(pc, regno, reg, off, value_size - off, false)?;
        // array_map_direct_value_addr: one entry only, offset inside the value.
        let map_off = off + reg.var.value() as i64;
        if def.max_entries != 1 || !(0..value_size).contains(&map_off) {
            return Err(Reject::new(pc, "direct value access on string failed"));
        }
        let end = (def.value_size as usize).min(value.len());
        let terminated = value
            .get(map_off as usize..end)
            .is_some_and(|s| s.contains(&0));
        if !terminated {
            return Err(Reject::new(pc, "string is not zero-terminated"));
        }
        Ok(())
    }

    /// `release_reference`: drops the reference `id` and invalidates every register and
    /// spilled register holding it (an unknown scalar for root, unreadable in strict mode:
    /// `mark_reg_invalid`).
    pub(super) fn release_reference(
        &mut self,
        pc: usize,
        helper: u32,
        id: u32,
    ) -> Result<(), Reject> {
        if id == 0 || !self.cur.release_ref(id) {
            return Err(Reject::new(
                pc,
                format!(
                    "func {}#{helper} reference has not been acquired before",
                    func_name(helper as i32)
                ),
            ));
        }
        let invalid = if self.strict() {
            RegState::NOT_INIT
        } else {
            RegState::unknown()
        };
        for fr in self.cur.frames.iter_mut() {
            for r in fr.regs.iter_mut() {
                if r.ref_obj_id == id {
                    *r = invalid;
                }
            }
            for sl in fr.stack.slots.iter_mut() {
                if sl.bytes[7] == ByteType::Spill && sl.spilled.ref_obj_id == id {
                    sl.spilled = invalid;
                }
            }
        }
        Ok(())
    }

    fn map_func_compatible(&mut self, pc: usize, map: Option<u32>, id: u32) -> Result<(), Reject> {
        let Some(m) = map else { return Ok(()) };
        let Some(def) = self.maps.get(m as usize) else {
            return Ok(());
        };
        let t = def.map_type;
        let ok_map_side = match t {
            MapType::ProgArray => id == 12,
            MapType::PerfEventArray => matches!(id, 22 | 25 | 55),
            MapType::Ringbuf => matches!(id, 130 | 131 | 134 | 198 | 199 | 200),
            // `may_update_sockmap` says why before the compatibility error (the kernel's log
            // ends with both lines).
            MapType::Sockmap | MapType::Sockhash if id == 2 => {
                if self.opts.log_level > 0 {
                    self.log_line("cannot update sockmap in this context");
                }
                false
            }
            MapType::Sockmap => matches!(id, 1 | 3 | 53),
            MapType::Sockhash => matches!(id, 1 | 3 | 70),
            MapType::Queue | MapType::Stack => matches!(id, 87..=89),
            MapType::SkStorage => matches!(id, 107 | 108 | 194),
            _ => true,
        };
        let ok_func_side = match id {
            12 => t == MapType::ProgArray,
            22 | 25 | 55 => t == MapType::PerfEventArray,
            130 | 131 | 134 | 198 => t == MapType::Ringbuf,
            37 => false,
            53 => t == MapType::Sockmap,
            70 => t == MapType::Sockhash,
            87..=89 => matches!(t, MapType::Queue | MapType::Stack),
            195 => matches!(
                t,
                MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
            ),
            107 | 108 => t == MapType::SkStorage,
            _ => true,
        };
        if ok_map_side && ok_func_side {
            Ok(())
        } else {
            Err(Reject::new(
                pc,
                format!(
                    "cannot pass map_type {} into func {}#{}",
                    t.kernel_id(),
                    func_name(id as i32),
                    id
                ),
            ))
        }
    }

    pub(super) fn check_helper_call(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        let id = insn.imm;
        if !(0..FUNC_MAX_ID).contains(&id) {
            return Err(Reject::new(
                pc,
                format!("invalid func {}#{id}", func_name(id)),
            ));
        }
        let uid = id as u32;
        let info = helper_id(uid);
        let callable = info.map(|h| h.sock_ops_callable).unwrap_or(false)
            && !(self.opts.strict && needs_perfmon(uid));
        if !callable {
            return Err(Reject::new(
                pc,
                format!(
                    "program of this type cannot use helper {}#{id}",
                    func_name(id)
                ),
            ));
        }
        if info.map(|h| h.gpl_only).unwrap_or(false) && !self.opts.gpl_compatible {
            return Err(Reject::new(
                pc,
                "cannot call GPL-restricted function from non-GPL compatible program",
            ));
        }
        if might_sleep(uid) {
            return Err(Reject::new(
                pc,
                "helper call might sleep in a non-sleepable prog",
            ));
        }
        let Some(p) = proto(uid) else {
            return Err(Reject::new(
                pc,
                format!(
                    "helper {}#{id} is not supported by this verifier",
                    func_name(id)
                ),
            )
            .unsupported());
        };
        if self.opts.require_runtime_helpers && self.helpers.get(uid).is_none() {
            return Err(Reject::new(
                pc,
                format!(
                    "helper {}#{id} is not implemented by this runtime",
                    func_name(id)
                ),
            )
            .unsupported());
        }
        let mut meta = Meta::default();
        for (i, a) in p.args.iter().enumerate() {
            if let Arg::Unmodelled(expected) = a {
                let regno = (i + 1) as u8;
                self.check_src(pc, regno)?;
                let reg = self.regs()[regno as usize];
                let accepted = match *expected {
                    "map_ptr" => reg.typ == RegType::MapPtr,
                    "map_value" | "map_value, ptr_" => reg.typ == RegType::MapValue,
                    e if e == MEM_TYPES => matches!(
                        reg.typ,
                        RegType::Stack
                            | RegType::Pkt
                            | RegType::MapValue
                            | RegType::Mem
                            | RegType::DynptrMem
                    ),
                    e if e.starts_with("sock_common") => matches!(
                        reg.typ,
                        RegType::Sock | RegType::SockCommon | RegType::TcpSock
                    ),
                    // A BTF pointer may fit any `ptr_` argument; judging it needs BTF.
                    e if e.contains("ptr_") && reg.typ == RegType::BtfTask => true,
                    _ => false,
                };
                if !accepted {
                    return Err(self.arg_type_error(pc, regno, &reg, expected));
                }
                return Err(Reject::new(
                    pc,
                    format!(
                        "helper {}#{id} argument {} is not supported by this verifier",
                        func_name(id),
                        i + 1
                    ),
                )
                .unsupported());
            }
            self.check_func_arg(pc, i, *a, p.args, &mut meta)?;
        }
        // record_func_key: a tail call through a constant index inside the program array is
        // recorded for a direct jump, so that index must stay exact.
        if uid == 12
            && let Some(def) = meta.map.and_then(|m| self.maps.get(m as usize))
        {
            let key = self.regs()[3];
            if key.typ == RegType::Scalar
                && key.var.is_const()
                && key.var.value() < u64::from(def.max_entries)
            {
                self.mark_precise(1 << 3);
            }
        }
        // record_func_map: helpers that write a map refuse one programs may only read.
        if matches!(uid, 2 | 3 | 87 | 88)
            && let Some(def) = meta.map.and_then(|m| self.maps.get(m as usize))
            && def.map_flags & sockops_vm::maps::BPF_F_RDONLY_PROG != 0
        {
            return Err(Reject::new(pc, "write into map forbidden"));
        }
        if let Some((regno, n)) = meta.raw {
            for k in 0..n {
                self.check_mem_access(pc, regno, k, 1, true, super::mem::Val::None, false, false)?;
            }
        }
        if meta.release_regno != 0 {
            if p.args.get(meta.release_regno as usize - 1) == Some(&Arg::DynptrRelease) {
                let reg = self.regs()[meta.release_regno as usize];
                self.release_dynptr(pc, uid, &reg)?;
            } else {
                self.release_reference(pc, uid, meta.ref_obj_id)?;
            }
        }
        if uid == 12 && self.log_reference_leaks() {
            return Err(Reject::new(pc, "tail_call would lead to reference leak"));
        }
        if uid == 197 && self.regs()[1].typ != RegType::MapValue {
            return Err(Reject::new(
                pc,
                format!(
                    "Unsupported reg type {} for bpf_dynptr_from_mem data",
                    self.regs()[1].typ.name()
                ),
            ));
        }
        let dynptr = match meta.dynptr_regno {
            0 => (0, 0),
            r => {
                let reg = self.regs()[r as usize];
                self.dynptr_ids(&reg)
            }
        };
        for r in 1..6 {
            self.regs_mut()[r] = RegState::NOT_INIT;
        }
        let r0 = match p.ret {
            Ret::Integer => RegState::unknown(),
            Ret::Void => RegState::NOT_INIT,
            Ret::CpuId => Self::bounded_scalar(self.opts.nr_cpu_ids.saturating_sub(1) as u64),
            Ret::BtfTask => RegState {
                map: u32::from(kstruct_index("task_struct").unwrap_or(u16::MAX)),
                ..RegState::pointer(RegType::BtfTask)
            },
            Ret::RingbufMemOrNull => {
                // The kernel gives the maybe-null result an id, then acquire_reference
                // replaces it with the reference's own.
                self.new_id();
                let id = self.new_id();
                self.cur.refs.push((id, pc));
                RegState {
                    id,
                    ref_obj_id: id,
                    map: meta.mem_size,
                    ..RegState::pointer(RegType::MemOrNull)
                }
            }
            Ret::DynptrMemOrNull => RegState {
                id: self.new_id(),
                map: meta.mem_size,
                dynptr_id: dynptr.0,
                ref_obj_id: dynptr.1,
                ..RegState::pointer(RegType::DynptrMemOrNull)
            },
            Ret::TcpSockOrNull => RegState {
                id: self.new_id(),
                ..RegState::pointer(RegType::TcpSockOrNull)
            },
            Ret::BtfSockOrNull(name) => RegState {
                id: self.new_id(),
                map: u32::from(kstruct_index(name).unwrap_or(u16::MAX)),
                ..RegState::pointer(RegType::BtfPtrOrNull)
            },
            Ret::MapValueOrNull => {
                let map = meta.map.unwrap_or(0);
                let def = self.maps.get(map as usize).copied();
                let non_null = uid == 1
                    && def.is_some_and(|d| {
                        matches!(d.map_type, MapType::Array | MapType::PercpuArray)
                            && meta.const_key.is_some_and(|k| k < d.max_entries as u64)
                    });
                let sockmap =
                    def.is_some_and(|d| matches!(d.map_type, MapType::Sockmap | MapType::Sockhash));
                if non_null {
                    RegState {
                        map,
                        ..RegState::pointer(RegType::MapValue)
                    }
                } else if uid == 1 && sockmap {
                    // `is_acquire_function`: a sockmap/sockhash lookup returns the socket
                    // (`sock_or_null` in the kernel's log) as an acquired reference (the
                    // maybe-null result takes an id, then the reference's own replaces it).
                    // sock_ops cannot call bpf_sk_release, so only the null branch drops it.
                    self.new_id();
                    let id = self.new_id();
                    self.cur.refs.push((id, pc));
                    RegState {
                        id,
                        ref_obj_id: id,
                        ..RegState::pointer(RegType::SockOrNull)
                    }
                } else {
                    RegState {
                        map,
                        id: self.new_id(),
                        ..RegState::pointer(RegType::MapValueOrNull)
                    }
                }
            }
        };
        self.regs_mut()[0] = r0;
        self.map_func_compatible(pc, meta.map, uid)?;
        if uid == 12 && self.cfg.subprog_starts.len() > 1 {
            return Err(Reject::new(
                pc,
                "mixing of tail_calls and bpf-to-bpf calls is not supported",
            ));
        }
        Ok(())
    }
}
