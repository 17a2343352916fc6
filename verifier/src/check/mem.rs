//! Memory instructions (`check_mem_access` and friends): loads, stores, atomics and LD_IMM64
//! against the context (through the sock_ops field table), the stack (slot states, spills and
//! fills), map values, packet data and socket pointers.

use sockops_ctx::field_table::{AccessKind, LoadYields, check_access, check_sock_access};
use sockops_vm::Insn;
use sockops_vm::maps::{BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, kernel_struct_name};
use sockops_vm::opcode::*;
use sockops_vm::vmlinux::kstruct_index;

use super::Env;
use crate::btf_walk;
use crate::error::Reject;
use crate::reg::{RegState, RegType};
use crate::scalar::Scalar;
use crate::stack::{ByteType, MAX_STACK, Slot, Stack};
use crate::tnum::Tnum;

/// `BPF_MAX_VAR_OFF`.
const MAX_VAR_OFF: i64 = 1 << 29;

/// Formats a tnum as the kernel's messages do (a plain number when constant).
pub(crate) fn tn(t: Tnum) -> String {
    if t.is_const() {
        format!("{}", t.value as i64)
    } else {
        format!("{t}")
    }
}

fn size_bytes(opcode: u8) -> i64 {
    match size(opcode) {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// Where the value of a store comes from.
#[derive(Clone, Copy)]
pub(crate) enum Val {
    /// A load into this register.
    Load(u8),
    /// A store of this register.
    Reg(u8),
    /// A store of an immediate (BPF_ST).
    Imm(i32),
    /// No register involved (atomics' checks, helper writes).
    None,
}

impl Val {
    fn regno(self) -> Option<u8> {
        match self {
            Val::Load(r) | Val::Reg(r) => Some(r),
            _ => None,
        }
    }
}

fn sock_type(t: RegType) -> bool {
    matches!(t, RegType::Sock | RegType::SockCommon | RegType::TcpSock)
}

/// `bpf_tcp_sock_is_valid_access`.
fn tcp_sock_access_ok(off: i64, size: i64) -> bool {
    if !(0..112).contains(&off) || off % size != 0 {
        return false;
    }
    match off {
        80 | 88 => size == 8,
        _ => size == 4,
    }
}

/// `atomic_ptr_type_ok`: atomics may not go through context, packet or socket pointers.
fn atomic_ptr_type_ok(t: RegType) -> bool {
    !matches!(
        t,
        RegType::Ctx | RegType::Pkt | RegType::Sock | RegType::SockCommon | RegType::TcpSock
    )
}

fn is_spilled(slot: &Slot) -> bool {
    slot.bytes[7] == ByteType::Spill
}

impl Env<'_> {
    /// `save_aux_ptr_type`: one instruction may not access context, socket and BTF pointers
    /// and other pointers on different paths; a load (`allow_trust_mismatch`) may mix BTF
    /// pointers with helper memory.
    fn save_aux_ptr_type(
        &mut self,
        pc: usize,
        t: RegType,
        allow_trust_mismatch: bool,
    ) -> Result<(), Reject> {
        // Untrusted memory too, on the live 6.18 kernel (not in the 6.18.y source read
        // here): one load may not read it on one path and the stack or a map value on
        // another ("same insn cannot be used with different pointers"), though it may read
        // it and trusted BTF memory (the merge below).
        let mismatch_ok = |t: RegType| {
            !matches!(
                t,
                RegType::Ctx
                    | RegType::Sock
                    | RegType::SockCommon
                    | RegType::TcpSock
                    | RegType::UntrustedMem
            ) && !t.is_btf()
        };
        let mem_or_btf = |t: RegType| {
            t.is_btf() || matches!(t, RegType::Mem | RegType::DynptrMem | RegType::UntrustedMem)
        };
        let reg_type_mismatch = |prev: RegType| {
            let same_or_ok = prev == t || (mismatch_ok(t) && mismatch_ok(prev));
            let trust_mismatch = allow_trust_mismatch && mem_or_btf(t) && mem_or_btf(prev);
            !(same_or_ok || trust_mismatch)
        };
        match self.aux_ptr.get(pc).copied().flatten() {
            None => {
                if let Some(slot) = self.aux_ptr.get_mut(pc) {
                    *slot = Some(t);
                }
                Ok(())
            }
            Some(prev) if reg_type_mismatch(prev) => Err(Reject::new(
                pc,
                "same insn cannot be used with different pointers",
            )),
            Some(_) => Ok(()),
        }
    }

    pub(super) fn check_ldx(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        self.check_src(pc, insn.src)?;
        self.check_dst(pc, insn.dst)?;
        let t = self.regs()[insn.src as usize].typ;
        let sx = mode(insn.opcode) == BPF_MEMSX;
        self.check_mem_access(
            pc,
            insn.src,
            insn.off as i64,
            size_bytes(insn.opcode),
            false,
            Val::Load(insn.dst),
            sx,
            false,
        )?;
        if !matches!(t, RegType::UntrustedMem | RegType::BtfUntrustedUnion)
            && let Some(kind) = self.load_kinds.get_mut(pc)
        {
            *kind |= super::PLAIN_LOAD;
        }
        self.save_aux_ptr_type(pc, t, true)
    }

    pub(super) fn check_stx(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        self.check_src(pc, insn.src)?;
        self.check_src(pc, insn.dst)?;
        let t = self.regs()[insn.dst as usize].typ;
        self.check_mem_access(
            pc,
            insn.dst,
            insn.off as i64,
            size_bytes(insn.opcode),
            true,
            Val::Reg(insn.src),
            false,
            false,
        )?;
        self.save_aux_ptr_type(pc, t, false)
    }

    pub(super) fn check_st(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        self.check_src(pc, insn.dst)?;
        let t = self.regs()[insn.dst as usize].typ;
        self.check_mem_access(
            pc,
            insn.dst,
            insn.off as i64,
            size_bytes(insn.opcode),
            true,
            Val::Imm(insn.imm),
            false,
            false,
        )?;
        self.save_aux_ptr_type(pc, t, false)
    }

    pub(super) fn check_atomic(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        let imm = insn.imm;
        let valid = [
            BPF_ADD as i32,
            BPF_ADD as i32 | BPF_FETCH,
            BPF_AND as i32,
            BPF_AND as i32 | BPF_FETCH,
            BPF_OR as i32,
            BPF_OR as i32 | BPF_FETCH,
            BPF_XOR as i32,
            BPF_XOR as i32 | BPF_FETCH,
            BPF_XCHG,
            BPF_CMPXCHG,
        ];
        if imm == BPF_LOAD_ACQ {
            return self.check_load_acquire(pc, insn);
        }
        if imm == BPF_STORE_REL {
            return self.check_store_release(pc, insn);
        }
        if !valid.contains(&imm) {
            return Err(Reject::new(
                pc,
                format!("BPF_ATOMIC uses invalid atomic opcode {:02x}", imm),
            ));
        }
        let sz = size(insn.opcode);
        if sz != BPF_W && sz != BPF_DW {
            return Err(Reject::new(pc, "invalid atomic operand size"));
        }
        self.check_src(pc, insn.src)?;
        self.check_src(pc, insn.dst)?;
        if imm == BPF_CMPXCHG {
            self.check_src(pc, 0)?;
            if self.is_pointer_value(0) {
                return Err(Reject::new(pc, "R0 leaks addr into mem"));
            }
        }
        if self.is_pointer_value(insn.src) {
            return Err(Reject::new(
                pc,
                format!("R{} leaks addr into mem", insn.src),
            ));
        }
        let dt = self.regs()[insn.dst as usize].typ;
        if !atomic_ptr_type_ok(dt) {
            return Err(Reject::new(
                pc,
                format!(
                    "BPF_ATOMIC stores into R{} {} is not allowed",
                    insn.dst,
                    dt.name()
                ),
            ));
        }
        let load_reg = if imm & BPF_FETCH != 0 {
            let r = if imm == BPF_CMPXCHG { 0 } else { insn.src };
            self.check_dst(pc, r)?;
            Some(r)
        } else {
            None
        };
        let sz = size_bytes(insn.opcode);
        self.check_mem_access(
            pc,
            insn.dst,
            insn.off as i64,
            sz,
            false,
            Val::None,
            false,
            true,
        )?;
        if let Some(r) = load_reg {
            self.check_mem_access(
                pc,
                insn.dst,
                insn.off as i64,
                sz,
                false,
                Val::Load(r),
                false,
                true,
            )?;
        }
        self.check_mem_access(
            pc,
            insn.dst,
            insn.off as i64,
            sz,
            true,
            Val::None,
            false,
            true,
        )
    }

    /// `BPF_LOAD_ACQ` (`check_atomic_load`): the base must not be a context, packet or
    /// socket pointer (checked first, as kernel 6.18 does), then a load with strict alignment
    /// (any size).
    fn check_load_acquire(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        let base = self.regs().get(insn.src as usize).map(|r| r.typ);
        if let Some(t) = base.filter(|&t| !atomic_ptr_type_ok(t)) {
            return Err(Reject::new(
                pc,
                format!(
                    "BPF_ATOMIC loads from R{} {} is not allowed",
                    insn.src,
                    t.name()
                ),
            ));
        }
        self.check_src(pc, insn.src)?;
        self.check_dst(pc, insn.dst)?;
        let t = self.regs()[insn.src as usize].typ;
        self.check_mem_access(
            pc,
            insn.src,
            insn.off as i64,
            size_bytes(insn.opcode),
            false,
            Val::Load(insn.dst),
            false,
            true,
        )?;
        self.save_aux_ptr_type(pc, t, false)
    }

    /// `BPF_STORE_REL` (`check_atomic_store`): a register store with strict alignment (any
    /// size), then the base must not be a context, packet or socket pointer.
    fn check_store_release(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        self.check_src(pc, insn.src)?;
        self.check_src(pc, insn.dst)?;
        let t = self.regs()[insn.dst as usize].typ;
        self.check_mem_access(
            pc,
            insn.dst,
            insn.off as i64,
            size_bytes(insn.opcode),
            true,
            Val::Reg(insn.src),
            false,
            true,
        )?;
        self.save_aux_ptr_type(pc, t, false)?;
        let now = self.regs()[insn.dst as usize].typ;
        if !atomic_ptr_type_ok(now) {
            return Err(Reject::new(
                pc,
                format!(
                    "BPF_ATOMIC stores into R{} {} is not allowed",
                    insn.dst,
                    now.name()
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn check_ld_imm(&mut self, pc: usize, insn: Insn) -> Result<(), Reject> {
        if size(insn.opcode) != BPF_DW {
            return Err(Reject::new(pc, "invalid BPF_LD_IMM insn"));
        }
        if insn.off != 0 {
            return Err(Reject::new(pc, "BPF_LD_IMM64 uses reserved fields"));
        }
        self.check_dst(pc, insn.dst)?;
        let hi = self.insns.get(pc + 1).map(|i| i.imm).unwrap_or(0);
        let r = match insn.src {
            0 => RegState::konst((insn.imm as u32 as u64) | ((hi as u32 as u64) << 32)),
            BPF_PSEUDO_MAP_FD => RegState {
                map: insn.imm as u32,
                ..RegState::pointer(RegType::MapPtr)
            },
            BPF_PSEUDO_MAP_VALUE => RegState {
                map: insn.imm as u32,
                off: hi,
                ..RegState::pointer(RegType::MapValue)
            },
            _ => {
                return Err(Reject::new(
                    pc,
                    "this kind of LD_IMM64 is not supported by this runtime",
                ));
            }
        };
        self.regs_mut()[insn.dst as usize] = r;
        Ok(())
    }

    pub(crate) fn check_ptr_alignment(
        &self,
        pc: usize,
        reg: &RegState,
        off: i64,
        size: i64,
        strict_once: bool,
    ) -> Result<(), Reject> {
        let (desc, strict) = match reg.typ {
            RegType::Pkt => return Ok(()), // no strict alignment on this architecture
            RegType::MapValue => ("value ", strict_once),
            RegType::Ctx => ("context ", strict_once),
            RegType::Stack => ("stack ", true),
            RegType::Sock => ("sock ", strict_once),
            RegType::SockCommon => ("sock_common ", strict_once),
            RegType::TcpSock => ("tcp_sock ", strict_once),
            _ => ("", strict_once),
        };
        if !strict || size == 1 {
            return Ok(());
        }
        let t = reg
            .var
            .var_off
            .add(Tnum::konst((reg.off as i64 + off) as u64));
        if !t.is_aligned(size as u64) {
            return Err(Reject::new(
                pc,
                format!(
                    "misaligned {desc}access off {}+{}+{} size {}",
                    tn(reg.var.var_off),
                    reg.off,
                    off,
                    size
                ),
            ));
        }
        Ok(())
    }

    /// `__check_mem_access` for a region of `mem_size` bytes.
    fn mem_in_range(off: i64, size: i64, mem_size: i64, zero_ok: bool) -> bool {
        let size_ok = size > 0 || (size == 0 && zero_ok);
        off >= 0 && size_ok && off + size <= mem_size
    }

    /// `check_mem_region_access` / `check_map_access` for a map value.
    pub(crate) fn check_map_access(
        &self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        zero_ok: bool,
    ) -> Result<(), Reject> {
        let mem_size = self
            .maps
            .get(reg.map as usize)
            .map(|m| m.value_size as i64)
            .unwrap_or(0);
        self.check_region(pc, regno, reg, off, size, mem_size, zero_ok)
    }

    /// `check_map_access_type`: programs may not write a `BPF_F_RDONLY_PROG` map's values
    /// (`.rodata`) nor read a `BPF_F_WRONLY_PROG` map's. `off` includes the pointer's fixed
    /// offset.
    pub(crate) fn check_map_access_type(
        &self,
        pc: usize,
        reg: &RegState,
        off: i64,
        size: i64,
        write: bool,
    ) -> Result<(), Reject> {
        let Some(def) = self.maps.get(reg.map as usize) else {
            return Ok(());
        };
        let (forbidden, what) = if write {
            (BPF_F_RDONLY_PROG, "write into")
        } else {
            (BPF_F_WRONLY_PROG, "read from")
        };
        if def.map_flags & forbidden != 0 {
            return Err(Reject::new(
                pc,
                format!(
                    "{what} map forbidden, value_size={} off={off} size={size}",
                    def.value_size
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_region(
        &self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        mem_size: i64,
        zero_ok: bool,
    ) -> Result<(), Reject> {
        let v = &reg.var;
        if v.smin < 0
            && (v.smin == i64::MIN
                || (off + v.smin) != (off + v.smin) as i32 as i64
                || v.smin + off < 0)
        {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."
                ),
            ));
        }
        if !Self::mem_in_range(v.smin + off, size, mem_size, zero_ok) {
            return Err(Reject::new(
                pc,
                format!("R{regno} min value is outside of the allowed memory range"),
            ));
        }
        if v.umax >= MAX_VAR_OFF as u64 {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} unbounded memory access, make sure to bounds check any such access"
                ),
            ));
        }
        if !Self::mem_in_range(v.umax as i64 + off, size, mem_size, zero_ok) {
            return Err(Reject::new(
                pc,
                format!("R{regno} max value is outside of the allowed memory range"),
            ));
        }
        Ok(())
    }

    /// `check_packet_access`.
    pub(crate) fn check_packet_access(
        &self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        zero_ok: bool,
    ) -> Result<(), Reject> {
        if reg.var.smin < 0 {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."
                ),
            ));
        }
        if reg.range < 0 || !Self::mem_in_range(off, size, reg.range as i64, zero_ok) {
            return Err(Reject::new(
                pc,
                format!("R{regno} offset is outside of the packet"),
            ));
        }
        Ok(())
    }

    /// What a read of `size` bytes at `off` through the map value pointer `reg` loads, when
    /// the map is a frozen `BPF_F_RDONLY_PROG` array and the offset is constant: the bytes
    /// themselves (sign-extended for `ldsx`), as the kernel's `bpf_map_direct_read` reads them.
    /// `None`: an unknown scalar. An array of more than one entry cannot be read so
    /// (`array_map_direct_value_addr` refuses it), and the kernel fails the load.
    fn frozen_map_read(
        &self,
        pc: usize,
        reg: &RegState,
        off: i64,
        size: i64,
        is_ldsx: bool,
    ) -> Result<Option<u64>, Reject> {
        let Some(Some(value)) = self.frozen_values.get(reg.map as usize) else {
            return Ok(None);
        };
        if !reg.var.is_const() {
            return Ok(None);
        }
        if self
            .maps
            .get(reg.map as usize)
            .is_none_or(|m| m.max_entries != 1)
        {
            return Err(Reject::new(
                pc,
                "cannot read a frozen read-only array of more than one entry at a constant offset (the kernel's bpf_map_direct_read fails with EOPNOTSUPP)",
            ));
        }
        let start = off.saturating_add(reg.var.value() as i64);
        let bytes = usize::try_from(start)
            .ok()
            .and_then(|s| value.get(s..s.checked_add(size as usize)?));
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let mut word = [0u8; 8];
        word[..bytes.len()].copy_from_slice(bytes);
        let v = u64::from_le_bytes(word);
        let bits = 8 * bytes.len() as u32;
        Ok(Some(if is_ldsx && bits < 64 {
            (((v << (64 - bits)) as i64) >> (64 - bits)) as u64
        } else {
            v
        }))
    }

    /// `check_mem_access`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_mem_access(
        &mut self,
        pc: usize,
        regno: u8,
        off: i64,
        size: i64,
        write: bool,
        val: Val,
        is_ldsx: bool,
        strict_once: bool,
    ) -> Result<(), Reject> {
        let reg = self.regs()[regno as usize];
        self.check_ptr_alignment(pc, &reg, off, size, strict_once)?;
        let off = off + reg.off as i64;
        let leaks = |env: &Env<'_>| -> bool {
            write && matches!(val, Val::Reg(r) if env.is_pointer_value(r))
        };
        match reg.typ {
            RegType::BtfTask
            | RegType::BtfPtr
            | RegType::BtfRcu
            | RegType::BtfUntrusted
            | RegType::BtfUntrustedUnion => {
                self.check_ptr_to_btf_access(pc, regno, &reg, off, size, write, val)?
            }
            RegType::UntrustedMem => {
                // Read-only memory of unknown size: the kernel checks no bounds and reads
                // through a faulting load.
                if write {
                    return Err(Reject::new(
                        pc,
                        format!("R{regno} cannot write into {}", reg.typ.name()),
                    ));
                }
                self.note_faulting_read(
                    pc,
                    format!("R{regno} read through rdonly_untrusted_mem (a faulting load in the kernel) by an instruction other than a load is not supported by this runtime"),
                );
                if let Val::Load(d) = val {
                    self.regs_mut()[d as usize] = RegState::unknown();
                }
            }
            RegType::MapValue => {
                if leaks(self) {
                    return Err(Reject::new(
                        pc,
                        format!("R{} leaks addr into map", val.regno().unwrap_or(0)),
                    ));
                }
                self.check_map_access_type(pc, &reg, off, size, write)?;
                self.check_map_access(pc, regno, &reg, off, size, false)?;
                if let Val::Load(d) = val {
                    let loaded = self.frozen_map_read(pc, &reg, off, size, is_ldsx)?;
                    self.regs_mut()[d as usize] =
                        loaded.map_or_else(RegState::unknown, RegState::konst);
                }
            }
            RegType::Mem | RegType::MemOrNull | RegType::DynptrMem | RegType::DynptrMemOrNull => {
                if reg.typ.maybe_null() {
                    return Err(Reject::new(
                        pc,
                        format!("R{regno} invalid mem access '{}'", reg.typ.name()),
                    ));
                }
                if leaks(self) {
                    return Err(Reject::new(
                        pc,
                        format!("R{} leaks addr into mem", val.regno().unwrap_or(0)),
                    ));
                }
                self.check_region(pc, regno, &reg, off, size, reg.map as i64, false)?;
                if let Val::Load(d) = val {
                    self.regs_mut()[d as usize] = RegState::unknown();
                }
            }
            RegType::Ctx => {
                if leaks(self) {
                    return Err(Reject::new(
                        pc,
                        format!("R{} leaks addr into ctx", val.regno().unwrap_or(0)),
                    ));
                }
                if reg.off < 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "negative offset ctx ptr R{regno} off={} disallowed",
                            reg.off
                        ),
                    ));
                }
                if reg.off != 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "dereference of modified ctx ptr R{regno} off={} disallowed",
                            reg.off
                        ),
                    ));
                }
                if !reg.var.is_const() || reg.var.value() != 0 {
                    return Err(Reject::new(
                        pc,
                        format!("variable ctx access var_off={} disallowed", reg.var.var_off),
                    ));
                }
                let kind = match val {
                    Val::Imm(_) => AccessKind::StoreImm,
                    _ if write => AccessKind::StoreReg,
                    _ => AccessKind::Load,
                };
                let acc = check_access(off, size as u32, kind)
                    .map_err(|e| Reject::new(pc, e.to_string()))?;
                if let Val::Load(d) = val {
                    let r = match acc.yields {
                        LoadYields::Scalar => RegState::unknown(),
                        LoadYields::SocketOrNull => RegState {
                            id: self.new_id(),
                            ..RegState::pointer(RegType::SockOrNull)
                        },
                        LoadYields::Packet => RegState::pointer(RegType::Pkt),
                        LoadYields::PacketEnd => RegState::pointer(RegType::PktEnd),
                    };
                    self.regs_mut()[d as usize] = r;
                }
            }
            RegType::Stack => {
                self.check_stack_within_bounds(pc, regno, &reg, off, size, write)?;
                if write {
                    self.check_stack_write(pc, &reg, off, size, val)?;
                } else {
                    self.check_stack_read(pc, regno, &reg, off, size, val)?;
                }
            }
            RegType::Pkt => {
                if write {
                    return Err(Reject::new(pc, "cannot write into packet"));
                }
                self.check_packet_access(pc, regno, &reg, off, size, false)?;
                if let Val::Load(d) = val {
                    self.regs_mut()[d as usize] = RegState::unknown();
                }
            }
            t if sock_type(t) => {
                if write {
                    return Err(Reject::new(
                        pc,
                        format!("R{regno} cannot write into {}", t.name()),
                    ));
                }
                if reg.var.smin < 0 {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."
                        ),
                    ));
                }
                let ok = match t {
                    RegType::Sock => check_sock_access(off, size as u32).is_ok(),
                    RegType::TcpSock => tcp_sock_access_ok(off, size),
                    _ => false,
                };
                if !ok {
                    return Err(Reject::new(
                        pc,
                        format!("R{regno} invalid {} access off={off} size={size}", t.name()),
                    ));
                }
                if let Val::Load(d) = val {
                    self.regs_mut()[d as usize] = RegState::unknown();
                }
            }
            RegType::MapPtr => {
                // check_ptr_to_map_access: the map's BTF type (`map->ops->map_btf_id`),
                // then the capability, the sign of the offset and the direction.
                let tname = self
                    .maps
                    .get(reg.map as usize)
                    .map_or("bpf_map", |m| kernel_struct_name(m.map_type));
                if self.opts.strict {
                    return Err(Reject::new(
                        pc,
                        format!(
                            "'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"
                        ),
                    ));
                }
                if off < 0 {
                    return Err(Reject::new(
                        pc,
                        format!("R{regno} is {tname} invalid negative access: off={off}"),
                    ));
                }
                if write {
                    return Err(Reject::new(
                        pc,
                        format!("only read from {tname} is supported"),
                    ));
                }
                // The kernel walks the vmlinux BTF of `struct {tname}` (btf_struct_access);
                // the runtime's map pointer is an image of that struct (`Map::program_ptr`).
                let Some(tindex) = kstruct_index(tname) else {
                    return Err(Reject::new(
                        pc,
                        format!("map_ptr access not supported for map type {tname}"),
                    )
                    .unsupported());
                };
                self.btf_struct_load(pc, RegType::MapPtr, tindex, off, size, val)?;
            }
            t => {
                return Err(Reject::new(
                    pc,
                    format!("R{regno} invalid mem access '{}'", t.name()),
                ));
            }
        }
        if let Val::Load(d) = val
            && size < 8
            && self.regs()[d as usize].typ == RegType::Scalar
        {
            let r = &mut self.regs_mut()[d as usize];
            if is_ldsx {
                r.var.coerce_to_size(size as u8);
                r.var.sext_from(size as u8);
            } else {
                r.var.coerce_to_size(size as u8);
            }
        }
        Ok(())
    }

    /// `check_ptr_to_btf_access`: a load through a BTF pointer walks the recorded layout of
    /// its kernel struct (`btf_struct_access`) and gives a scalar; stores are refused.
    #[allow(clippy::too_many_arguments)]
    fn check_ptr_to_btf_access(
        &mut self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        write: bool,
        val: Val,
    ) -> Result<(), Reject> {
        let tname = btf_walk::type_name(reg.map);
        if self.opts.strict {
            return Err(Reject::new(
                pc,
                format!("'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"),
            ));
        }
        if !self.opts.gpl_compatible {
            return Err(Reject::new(
                pc,
                format!("Cannot access kernel 'struct {tname}' from non-GPL compatible program"),
            ));
        }
        if off < 0 {
            return Err(Reject::new(
                pc,
                format!("R{regno} is ptr_{tname} invalid negative access: off={off}"),
            ));
        }
        if !reg.var.is_const() || reg.var.value() != 0 {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} is ptr_{tname} invalid variable offset: off={off}, var_off={}",
                    tn(reg.var.var_off)
                ),
            ));
        }
        if write {
            return Err(Reject::new(pc, "only read is supported"));
        }
        let Some(tindex) = btf_walk::recorded_index(reg.map) else {
            return Err(Reject::new(
                pc,
                format!(
                    "R{regno} read through {}{tname}: the layout of 'struct {tname}' is not recorded, so this verifier cannot judge it",
                    reg.typ.name()
                ),
            )
            .unsupported());
        };
        if reg.typ == RegType::BtfUntrustedUnion {
            self.note_faulting_read(
                pc,
                format!("R{regno} read through untrusted_ptr_{tname} read out of a union (a faulting load in the kernel) by an instruction other than a load is not supported by this runtime"),
            );
        }
        self.btf_struct_load(pc, reg.typ, tindex, off, size, val)
    }

    /// `btf_struct_access` for a load of `size` bytes at `off` (not negative) of the
    /// recorded struct `tindex`: a scalar member gives an unknown scalar; the kernel's
    /// messages for accesses its walk refuses.
    fn btf_struct_load(
        &mut self,
        pc: usize,
        src: RegType,
        tindex: u16,
        off: i64,
        size: i64,
        val: Val,
    ) -> Result<(), Reject> {
        let tname = btf_walk::struct_name(tindex);
        let walked = u32::try_from(off)
            .map_err(|_| format!("access beyond struct {tname} at off {off} size {size}"))
            .and_then(|o| btf_walk::struct_access(tindex, o, size as u32))
            .map_err(|msg| Reject::new(pc, msg))?;
        let image_len = sockops_vm::vmlinux::readable_len(tindex);
        if off + size > i64::from(image_len) {
            // Past a trailing flexible array's first elements (a pointer moved far along
            // it): the kernel reads there with a faulting load; this runtime's images and
            // blanks end at `readable_len`.
            self.note_probe_load(
                pc,
                format!("read of {size} bytes at offset {off} of struct {tname}: past the {image_len} bytes this runtime's image of it has (a faulting load in the kernel), not supported"),
            );
        }
        match walked {
            btf_walk::Walked::Scalar => {
                if let Val::Load(d) = val {
                    self.regs_mut()[d as usize] = RegState::unknown();
                }
                Ok(())
            }
            btf_walk::Walked::Ptr {
                target,
                field,
                untrusted,
            } => {
                let Val::Load(d) = val else { return Ok(()) };
                // `untrusted` here: the walk went through a union.
                let r = self.walked_pointer(pc, src, tname, target, field, untrusted)?;
                self.regs_mut()[d as usize] = r;
                Ok(())
            }
        }
    }

    /// What a load of pointer member `field` (to struct `target`, `""` for anything else) of
    /// struct `container` gives, read through a register of type `src`, as Linux 6.18
    /// types it (`check_ptr_to_btf_access`, `check_ptr_to_map_access`, `mark_btf_ld_reg`,
    /// observed on the live kernel): an allow-listed member of a trusted or RCU pointer
    /// keeps that trust (`task->real_parent` is `rcu_ptr_`), every other pointer member is
    /// `untrusted_ptr_`, and a pointer to anything but a struct is `rdonly_untrusted_mem`.
    /// Every sock_ops program runs in an RCU read section.
    fn walked_pointer(
        &mut self,
        pc: usize,
        src: RegType,
        container: &str,
        target: &'static str,
        field: &str,
        union: bool,
    ) -> Result<RegState, Reject> {
        use btf_walk::SafeField;
        if target.is_empty() {
            // WALK_PTR_UNTRUSTED: read-only untrusted memory of size 0.
            return Ok(RegState {
                map: 0,
                ..RegState::pointer(RegType::UntrustedMem)
            });
        }
        let listed = match src {
            RegType::BtfTask | RegType::BtfRcu => btf_walk::safe_field(container, field, target),
            _ => None,
        };
        let typ = match listed {
            // __rcu pointers are trusted even out of a union.
            Some(SafeField::RcuOrNull) => RegType::BtfRcuOrNull,
            Some(SafeField::Trusted) if !union => RegType::BtfTask,
            Some(SafeField::Rcu) if !union => RegType::BtfRcu,
            Some(_) => {
                return Err(Reject::new(
                    pc,
                    format!("a trusted pointer that may be NULL or untrusted ('{container}.{field}') is not supported by this verifier"),
                )
                .unsupported());
            }
            None if union || src == RegType::BtfUntrustedUnion => RegType::BtfUntrustedUnion,
            None => RegType::BtfUntrusted,
        };
        let id = if typ.maybe_null() { self.new_id() } else { 0 };
        Ok(RegState {
            map: btf_walk::type_id(target),
            id,
            ..RegState::pointer(typ)
        })
    }

    /// `check_stack_access_within_bounds`.
    pub(crate) fn check_stack_within_bounds(
        &mut self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        write: bool,
    ) -> Result<(), Reject> {
        let extra = if write { " write to" } else { " read from" };
        let (min_off, max_off) = if reg.var.is_const() {
            let m = reg.var.value() as i64 + off;
            (m, m + size)
        } else {
            if reg.var.smax >= MAX_VAR_OFF || reg.var.smin <= -MAX_VAR_OFF {
                return Err(Reject::new(
                    pc,
                    format!("invalid unbounded variable-offset{extra} stack R{regno}"),
                ));
            }
            (reg.var.smin + off, reg.var.smax + off + size)
        };
        let frame = reg.frameno as usize;
        let allocated = self
            .cur
            .frames
            .get(frame)
            .map(|f| f.stack.depth())
            .unwrap_or(0) as i64;
        let min_valid = if write || !self.opts.strict {
            -(MAX_STACK as i64)
        } else {
            -allocated
        };
        let bad = min_off < min_valid || min_off > -1 || max_off > 0 || size < 0;
        if bad {
            return Err(Reject::new(
                pc,
                if reg.var.is_const() {
                    format!("invalid{extra} stack R{regno} off={off} size={size}")
                } else {
                    format!(
                        "invalid variable-offset{extra} stack R{regno} var_off={} off={off} size={size}",
                        tn(reg.var.var_off)
                    )
                },
            ));
        }
        if let Some(f) = self.cur.frames.get_mut(frame) {
            f.stack.grow_to(min_off as i32);
        }
        self.note_stack_depth(frame, -min_off as i32);
        Ok(())
    }

    fn check_stack_write(
        &mut self,
        pc: usize,
        reg: &RegState,
        off: i64,
        size: i64,
        val: Val,
    ) -> Result<(), Reject> {
        let frame = reg.frameno as usize;
        if !reg.var.is_const() {
            return self.check_stack_write_var(pc, reg, off, size, val);
        }
        let off = (off + reg.var.value() as i64) as i32;
        let size = size as usize;
        let cur_frame = self.cur.curframe();
        let value = val.regno().map(|r| self.regs()[r as usize]);
        let strict = self.opts.strict;
        let slot = *self.cur.frames[frame].stack.slot_mut(off);
        if strict && is_spilled(&slot) && slot.spilled.typ != RegType::Scalar && size != 8 {
            return Err(Reject::new(
                pc,
                "attempt to corrupt spilled pointer on stack",
            ));
        }
        if strict {
            // Spectre v4 (`bypass_spec_v4` off): a store that spills a pointer or overwrites
            // anything but plain data is followed by a barrier, so speculative paths end after
            // it (`nospec_result`). The kernel looks at the slot's first `size` byte types.
            let sanitize = value.is_some_and(|r| r.is_pointer())
                || slot.bytes[..size.min(8)]
                    .iter()
                    .any(|b| !matches!(b, ByteType::Misc | ByteType::Zero));
            if let Some(f) = self.nospec_result.get_mut(pc).filter(|_| sanitize) {
                *f = true;
            }
        }
        self.destroy_if_dynptr_stack_slot(pc, frame, Stack::locate(off).0)?;
        let aligned = off % 8 == 0;
        let spill = |stack_slot: &mut Slot, r: RegState, size: usize| {
            stack_slot.spilled = r;
            for i in (8 - size)..8 {
                stack_slot.bytes[i] = ByteType::Spill;
            }
            for i in 0..(8 - size) {
                if !matches!(stack_slot.bytes[i], ByteType::Zero | ByteType::Invalid) {
                    stack_slot.bytes[i] = ByteType::Misc;
                }
            }
        };
        match (value, val) {
            (Some(r), _) if aligned && r.typ == RegType::Scalar => {
                // As check_stack_write_fixed_off: a spill of a value that fits in the slot
                // links the register and the slot (assign_scalar_id_before_mov, so a later
                // branch on either refines both, in any frame); a narrowing spill of a wider
                // value breaks the link.
                let width = 64 - r.var.umax.leading_zeros() as usize;
                let fits = width <= 8 * size;
                let mut r = r;
                if fits && r.id == 0 && !r.var.is_const() {
                    r.id = self.new_id();
                    if let Val::Reg(regno) = val {
                        self.regs_mut()[regno as usize].id = r.id;
                    }
                }
                if !fits {
                    r.id = 0;
                }
                let s = self.cur.frames[frame].stack.slot_mut(off);
                spill(s, r, size);
                self.note_stack_access(frame, Stack::locate(off).0);
            }
            (None, Val::Imm(imm)) if aligned => {
                let s = self.cur.frames[frame].stack.slot_mut(off);
                spill(s, RegState::konst(imm as i64 as u64), size);
                self.note_stack_access(frame, Stack::locate(off).0);
            }
            (Some(r), _) if r.is_pointer() => {
                if size != 8 {
                    return Err(Reject::new(pc, "invalid size of register spill"));
                }
                if frame != cur_frame && r.typ == RegType::Stack {
                    return Err(Reject::new(
                        pc,
                        "cannot spill pointers to stack into stack frame of the caller",
                    ));
                }
                let s = self.cur.frames[frame].stack.slot_mut(off);
                spill(s, r, size);
                self.note_stack_access(frame, Stack::locate(off).0);
            }
            _ => {
                let zero = matches!(value, Some(r) if r.is_const(0)) || matches!(val, Val::Imm(0));
                // STACK_ZERO stands for the stored register's value, which no spill
                // remembers: that value must stay exact (`mark_chain_precision`).
                if let (true, Val::Reg(regno)) = (zero, val) {
                    self.mark_precise(1 << regno);
                }
                let s = self.cur.frames[frame].stack.slot_mut(off);
                s.spilled = RegState::NOT_INIT;
                if is_spilled(s) {
                    for b in s.bytes.iter_mut() {
                        if *b != ByteType::Invalid {
                            *b = ByteType::Misc;
                        }
                    }
                }
                let t = if zero { ByteType::Zero } else { ByteType::Misc };
                for i in 0..size as i32 {
                    self.cur.frames[frame].stack.set_byte(off + i, t);
                }
            }
        }
        Ok(())
    }

    fn check_stack_write_var(
        &mut self,
        pc: usize,
        reg: &RegState,
        off: i64,
        size: i64,
        val: Val,
    ) -> Result<(), Reject> {
        let frame = reg.frameno as usize;
        let value = val.regno().map(|r| self.regs()[r as usize]);
        let zero = matches!(value, Some(r) if r.is_const(0)) || matches!(val, Val::Imm(0));
        let min_off = reg.var.smin + off;
        let max_off = reg.var.smax + off + size;
        // Every dynptr the write may touch is destroyed first (refused if referenced).
        for i in min_off..max_off {
            self.destroy_if_dynptr_stack_slot(pc, frame, Stack::locate(i as i32).0)?;
        }
        let strict = self.opts.strict;
        let mut zero_used = false;
        for i in min_off..max_off {
            let i = i as i32;
            let stack = &mut self.cur.frames[frame].stack;
            let b = stack.byte(i);
            if strict && b != ByteType::Misc && b != ByteType::Zero {
                return Err(Reject::new(
                    pc,
                    format!(
                        "spilled ptr in range of var-offset stack write; insn {pc}, ptr off: {i}"
                    ),
                ));
            }
            let slot = *stack.slot_mut(i);
            if zero
                && b == ByteType::Spill
                && slot.spilled.typ == RegType::Scalar
                && slot.spilled.is_const(0)
            {
                zero_used = true;
                continue;
            }
            stack.slot_mut(i).spilled = RegState::NOT_INIT;
            let nt = if zero && b == ByteType::Zero {
                zero_used = true;
                ByteType::Zero
            } else {
                ByteType::Misc
            };
            stack.set_byte(i, nt);
        }
        if let (true, Val::Reg(regno)) = (zero_used, val) {
            self.mark_precise(1 << regno);
        }
        Ok(())
    }

    fn check_stack_read(
        &mut self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        val: Val,
    ) -> Result<(), Reject> {
        let var = !reg.var.is_const();
        let dst = match val {
            Val::Load(d) => Some(d),
            _ => None,
        };
        if dst.is_none() && var {
            return Err(Reject::new(
                pc,
                format!(
                    "variable offset stack pointer cannot be passed into helper function; var_off={} off={off} size={size}",
                    tn(reg.var.var_off)
                ),
            ));
        }
        if var {
            if self.opts.strict {
                return Err(Reject::new(
                    pc,
                    format!(
                        "R{regno} variable offset stack access prohibited for !root, var_off={}",
                        tn(reg.var.var_off)
                    ),
                ));
            }
            self.check_stack_range_initialized(pc, regno, reg, off, size, false, false)?;
            let min_off = reg.var.smin + off;
            let max_off = reg.var.smax + off + size;
            let frame = reg.frameno as usize;
            let all_zero = (min_off..max_off)
                .all(|i| self.cur.frames[frame].stack.byte(i as i32) == ByteType::Zero);
            if let Some(d) = dst {
                self.regs_mut()[d as usize] = if all_zero {
                    RegState::konst(0)
                } else {
                    RegState::unknown()
                };
            }
            return Ok(());
        }
        let off = (off + reg.var.value() as i64) as i32;
        self.check_stack_read_fixed(pc, reg.frameno as usize, off, size as i32, dst)
    }

    fn check_stack_read_fixed(
        &mut self,
        pc: usize,
        frame: usize,
        off: i32,
        size: i32,
        dst: Option<u8>,
    ) -> Result<(), Reject> {
        let allow_uninit = !self.opts.strict;
        let slot = self.cur.frames[frame]
            .stack
            .slot(off)
            .copied()
            .unwrap_or(Slot::INVALID);
        let (_, first) = crate::stack::Stack::locate(off);
        let first = first as i32;
        if is_spilled(&slot) {
            let mut spill_size = 1;
            let mut i = 7;
            while i > 0 && slot.bytes[i - 1] == ByteType::Spill {
                spill_size += 1;
                i -= 1;
            }
            let sp = slot.spilled;
            if size != 8 || spill_size != 8 {
                if sp.typ != RegType::Scalar {
                    return Err(Reject::new(pc, "invalid size of register fill"));
                }
                let Some(d) = dst else { return Ok(()) };
                if size <= spill_size && off % 8 == 0 {
                    // As check_stack_read_fixed: the fill copies the spilled scalar, link
                    // included, when its value fits in the bytes read (a 32-bit fill of a
                    // 32-bit spill first gives the slot an id, so the two are linked); a
                    // fill narrower than the value breaks the link.
                    let width = 64 - sp.var.umax.leading_zeros() as i32;
                    let mut sp = sp;
                    if size == 4
                        && spill_size == 4
                        && width <= 32
                        && sp.id == 0
                        && !sp.var.is_const()
                    {
                        sp.id = self.new_id();
                        self.cur.frames[frame].stack.slot_mut(off).spilled.id = sp.id;
                    }
                    if width > 8 * size {
                        sp.id = 0;
                    }
                    self.regs_mut()[d as usize] = sp;
                    self.note_stack_access(frame, Stack::locate(off).0);
                } else {
                    let (mut spill_cnt, mut zero_cnt) = (0, 0);
                    for k in 0..size {
                        let idx = (first - k).rem_euclid(8) as usize;
                        match slot.bytes[idx] {
                            ByteType::Spill => spill_cnt += 1,
                            ByteType::Misc => {}
                            ByteType::Zero => zero_cnt += 1,
                            ByteType::Invalid if allow_uninit => {}
                            ByteType::Invalid | ByteType::Dynptr => {
                                return Err(Reject::new(
                                    pc,
                                    format!("invalid read from stack off {off}+{k} size {size}"),
                                ));
                            }
                        }
                    }
                    // Zeros read from a spilled zero are still a fill; zeros or unknown
                    // data read from anything else restore no register.
                    let r = if spill_cnt == size && sp.is_const(0) {
                        self.note_stack_access(frame, Stack::locate(off).0);
                        RegState::konst(0)
                    } else if zero_cnt == size {
                        RegState::konst(0)
                    } else {
                        RegState::unknown()
                    };
                    self.regs_mut()[d as usize] = r;
                }
            } else if let Some(d) = dst {
                self.regs_mut()[d as usize] = sp;
                self.note_stack_access(frame, Stack::locate(off).0);
            } else if self.opts.strict && sp.is_pointer() {
                return Err(Reject::new(
                    pc,
                    format!("leaking pointer from stack off {off}"),
                ));
            }
            return Ok(());
        }
        let stack = &self.cur.frames[frame].stack;
        let mut zeros = 0;
        for k in 0..size {
            match stack.byte(off + k) {
                ByteType::Misc => {}
                ByteType::Zero => zeros += 1,
                ByteType::Invalid if allow_uninit => {}
                _ => {
                    return Err(Reject::new(
                        pc,
                        format!("invalid read from stack off {off}+{k} size {size}"),
                    ));
                }
            }
        }
        if let Some(d) = dst {
            self.regs_mut()[d as usize] = if zeros == size {
                RegState::konst(0)
            } else {
                RegState::unknown()
            };
        }
        Ok(())
    }

    /// `check_stack_range_initialized`: helper access to `size` stack bytes at `reg + off`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_stack_range_initialized(
        &mut self,
        pc: usize,
        regno: u8,
        reg: &RegState,
        off: i64,
        size: i64,
        write: bool,
        raw: bool,
    ) -> Result<(), Reject> {
        self.check_stack_within_bounds(pc, regno, reg, off, size, write)?;
        let (min_off, max_off) = if reg.var.is_const() {
            let m = reg.var.value() as i64 + off;
            (m, m)
        } else {
            if self.opts.strict {
                return Err(Reject::new(
                    pc,
                    format!(
                        "R{regno} variable offset stack access prohibited for !root, var_off={}",
                        tn(reg.var.var_off)
                    ),
                ));
            }
            (reg.var.smin + off, reg.var.smax + off)
        };
        let frame = reg.frameno as usize;
        if raw && reg.var.is_const() {
            // The helper's writes are simulated byte by byte after the call: none may land
            // in a dynptr.
            let stack = &self.cur.frames[frame].stack;
            if let Some(i) =
                (min_off..max_off + size).find(|&i| stack.byte(i as i32) == ByteType::Dynptr)
            {
                return Err(Reject::new(
                    pc,
                    format!("potential write to dynptr at off={i} disallowed"),
                ));
            }
            return Ok(());
        }
        let allow_uninit = !self.opts.strict;
        let strict = self.opts.strict;
        for i in min_off..max_off + size {
            let i = i as i32;
            let stack = &mut self.cur.frames[frame].stack;
            let b = stack.byte(i);
            match b {
                ByteType::Misc => continue,
                ByteType::Zero => {
                    if write {
                        stack.set_byte(i, ByteType::Misc);
                    }
                    continue;
                }
                ByteType::Invalid if allow_uninit => {
                    if write {
                        stack.set_byte(i, ByteType::Misc);
                    }
                    continue;
                }
                _ => {}
            }
            let slot = *stack.slot_mut(i);
            if is_spilled(&slot) && (slot.spilled.typ == RegType::Scalar || !strict) {
                if write {
                    let s = stack.slot_mut(i);
                    s.spilled = RegState::unknown();
                    for bt in s.bytes.iter_mut() {
                        if *bt != ByteType::Invalid {
                            *bt = ByteType::Misc;
                        }
                    }
                }
                continue;
            }
            if reg.var.is_const() {
                return Err(Reject::new(
                    pc,
                    format!(
                        "invalid read from stack R{regno} off {}+{} size {size}",
                        min_off,
                        i as i64 - min_off
                    ),
                ));
            }
            return Err(Reject::new(
                pc,
                format!(
                    "invalid read from stack R{regno} var_off {}+{} size {size}",
                    tn(reg.var.var_off),
                    i as i64 - min_off
                ),
            ));
        }
        Ok(())
    }

    /// A scalar known to be in `[0, n)`, for helpers.
    pub(crate) fn bounded_scalar(max_inclusive: u64) -> RegState {
        let mut s = Scalar::UNKNOWN;
        s.umin = 0;
        s.umax = max_inclusive;
        s.sync();
        RegState::scalar(s)
    }
}
