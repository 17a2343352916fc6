//! Path exploration (`do_check` in kernel/bpf/verifier.c): walks every path from the entry,
//! one instruction at a time, pushing the other side of each undecided branch, and prunes a
//! path when its state at a prune point is covered by an explored one (`is_state_visited`).
//! The per-instruction rules live in the sibling modules.

mod alu;
mod call;
mod dynptr;
mod jmp;
mod mem;
#[cfg(test)]
mod ringbuf_tests;
#[cfg(test)]
mod sk_storage_tests;

use sockops_vm::{HelperTable, Insn, MapDef};

use crate::backtrack::{Bt, HistEntry, Linked, NO_SLOT, backtrack_insn};
use crate::cfg::Cfg;
use crate::error::Reject;
use crate::reg::{RegState, RegType};
use crate::stack::Stack;
use crate::state::{Frame, State, states_equal};
use crate::{Stats, VerifyOptions};

/// The kernel's processed-instruction limit (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const INSN_LIMIT: u64 = 1_000_000;
/// The kernel's limit on pending branches (`BPF_COMPLEXITY_LIMIT_JMP_SEQ`).
pub const JMP_SEQ_LIMIT: usize = 8192;
/// Maximum call depth (`MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;
/// `Env::load_kinds`: the instruction loads through untrusted kernel memory on some path.
pub const FAULTING_LOAD: u8 = 1;
/// `Env::load_kinds`: the instruction loads through any other pointer on some path.
pub const PLAIN_LOAD: u8 = 2;

/// A checkpoint: an explored state stored at a prune point.
struct Node {
    state: State,
    /// Hash of the current frame's registers (quick filter for the loop check).
    regs_hash: u64,
    branches: u32,
    parent: Option<usize>,
    hit: u32,
    miss: u32,
    /// Removed from its instruction's list by the miss heuristic (the kernel's
    /// `in_free_list`): no longer compared, its state dropped; still counted among the
    /// live states until its paths finish.
    evicted: bool,
    /// The instructions the path ran from the parent checkpoint up to this one (the
    /// kernel's `jmp_history` of the state, from `first_insn_idx` to `last_insn_idx`).
    hist: Vec<HistEntry>,
    /// Per frame: the registers and the spilled slots that hold scalars here, where a
    /// precision mark can land (kept when the state itself is evicted).
    scalars: Vec<(u16, u64)>,
    /// Per frame: the scalars marked precise (`reg->precise`): some path explored from this
    /// state depended on their ranges.
    precise: Vec<(u16, u64)>,
}

/// Per instruction, whether it is a jump point (`mark_jmp_point` in `check_cfg`): the target
/// of a jump, a callee's first instruction, or the instruction after a call.
fn jmp_points(insns: &[Insn]) -> Vec<bool> {
    use sockops_vm::opcode::*;
    let mut v = vec![false; insns.len()];
    let mut mark = |t: i64| {
        if let Some(f) = usize::try_from(t).ok().and_then(|t| v.get_mut(t)) {
            *f = true;
        }
    };
    for (pc, insn) in insns.iter().enumerate() {
        let cls = class(insn.opcode);
        if cls != BPF_JMP && cls != BPF_JMP32 {
            continue;
        }
        let pc = pc as i64;
        match op(insn.opcode) {
            BPF_EXIT => {}
            BPF_CALL => {
                mark(pc + 1);
                if insn.src == BPF_PSEUDO_CALL {
                    mark(pc + insn.imm as i64 + 1);
                }
            }
            BPF_JA => mark(
                pc + if cls == BPF_JMP32 {
                    insn.imm as i64
                } else {
                    insn.off as i64
                } + 1,
            ),
            _ => mark(pc + insn.off as i64 + 1),
        }
    }
    v
}

/// Per frame, the registers (r0-r9) and spilled slots holding scalars.
fn scalar_places(state: &State) -> Vec<(u16, u64)> {
    state
        .frames
        .iter()
        .map(|f| {
            let regs = f.regs[..10]
                .iter()
                .enumerate()
                .filter(|(_, r)| r.typ == RegType::Scalar)
                .fold(0u16, |m, (i, _)| m | 1 << i);
            let slots = f
                .stack
                .slots
                .iter()
                .take(64)
                .enumerate()
                .filter(|(_, s)| {
                    s.bytes[7] == crate::stack::ByteType::Spill && s.spilled.typ == RegType::Scalar
                })
                .fold(0u64, |m, (i, _)| m | 1 << i);
            (regs, slots)
        })
        .collect()
}

/// Walks one history segment backwards (newest first), moving the traced set `bt` from after
/// the segment to before it; false once nothing is traced any more. `subseq` carries the
/// instruction run after the one being walked.
fn walk_segment(
    insns: &[Insn],
    linked_sets: &[Vec<Linked>],
    hist: &[HistEntry],
    skip_last: bool,
    subseq: &mut Option<usize>,
    bt: &mut Bt,
) -> Result<bool, crate::backtrack::Unsupported> {
    for (k, e) in hist.iter().enumerate().rev() {
        if skip_last && k + 1 == hist.len() {
            *subseq = Some(e.pc as usize);
            continue;
        }
        let linked = match e.linked {
            0 => &[][..],
            n => linked_sets
                .get(n as usize - 1)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        };
        backtrack_insn(insns, e, *subseq, linked, bt)?;
        if bt.is_empty() {
            return Ok(false);
        }
        *subseq = Some(e.pc as usize);
    }
    Ok(true)
}

fn regs_hash(state: &State) -> u64 {
    // A quick filter for the exact comparison of the loop check: equal register files hash
    // equal. It runs at every prune point where a state is in progress (each iteration of a
    // loop being unrolled), so each register's words are folded with rotations and mixed
    // with one multiplication.
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = state.frames.len() as u64;
    for r in &state.cur().regs {
        let v = &r.var;
        let word = (r.typ as u64 | u64::from(r.off as u32) << 32)
            ^ (v.var_off.value ^ v.var_off.mask.rotate_left(32)).rotate_left(7)
            ^ (v.umin ^ v.umax.rotate_left(17) ^ u64::from(r.id) << 40).rotate_left(13)
            // The signed bounds too: a loop that moves only them (a counter the unsigned
            // view sees as [1, U64_MAX] every time) would otherwise put every iteration's
            // state in one bucket, and the loop check would compare each new state with
            // all of them.
            ^ (v.smin as u64 ^ (v.smax as u64).rotate_left(29)).rotate_left(19)
            ^ (u64::from(v.u32_min)
                ^ u64::from(v.u32_max) << 32
                ^ (u64::from(v.s32_min as u32) ^ u64::from(v.s32_max as u32) << 32)
                    .rotate_left(16))
            .rotate_left(23);
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    h
}

/// A path waiting to be explored.
struct Pending {
    state: State,
    pc: usize,
    prev_pc: usize,
    parent: Option<usize>,
    hist: Vec<HistEntry>,
    jmp_hist: u32,
}

/// What an instruction step does to the path.
pub(crate) enum Step {
    /// Continue at this instruction.
    Goto(usize),
    /// The path ended at an `exit` of the main program.
    Done,
}

/// The verifier environment for one program.
pub(crate) struct Env<'a> {
    pub insns: &'a [Insn],
    pub maps: &'a [MapDef],
    /// Per map: the value of a frozen `BPF_F_RDONLY_PROG` array (what `bpf_map_is_rdonly`
    /// maps hold forever), whose constant-offset reads are constants (`bpf_map_direct_read`).
    pub frozen_values: &'a [Option<Vec<u8>>],
    pub helpers: &'a HelperTable,
    pub opts: &'a VerifyOptions,
    pub cfg: &'a Cfg,
    /// Stack depth used per subprogram.
    pub subprog_depth: Vec<i32>,
    /// Call edges seen: (caller subprog, callee subprog).
    pub call_edges: Vec<(usize, usize)>,
    pub id_gen: u32,
    /// The first instruction that needs a faulting load (`BPF_PROBE_MEM`) the runtime does
    /// not have, and why: a program the kernel would accept is then not verified.
    pub probe_load: Option<(usize, String)>,
    /// Per instruction, how its loads read: [`FAULTING_LOAD`] (through untrusted memory or
    /// a pointer out of a union: the kernel's `BPF_PROBE_MEM`) and/or [`PLAIN_LOAD`].
    pub load_kinds: Vec<u8>,
    pub insn_processed: u64,
    jmps_processed: u64,
    prev_jmps: u64,
    prev_insns: u64,
    nodes: Vec<Node>,
    /// Stored states per instruction, oldest first: the kernel's `explored_states` list of
    /// that instruction, which it walks newest first. A state whose paths are all finished
    /// (`branches == 0`) can prune; one still in progress is looked at by the loop check.
    explored: Vec<Vec<usize>>,
    pending: Vec<Pending>,
    /// The instruction that pushed the current path, from its pop until the path's first
    /// instruction is logged. The kernel saves its log position when it pushes a branch
    /// (`push_stack`'s `log_pos`), just after the pushing instruction's line; the
    /// registers that instruction changed are then printed on that same line, in place of
    /// its newline, so the saved position now ends in the instruction's text and one space.
    /// At level 1 the kernel truncates its log to that position when it pops the path
    /// (`pop_stack` with `pop_log`), so an error found before the path's first line (an
    /// infinite loop at its first instruction) continues the pushing instruction's line:
    /// the message reads `PC: (op) text infinite loop detected at insn N`.
    path_glue: Option<usize>,
    peak_states: usize,
    live_states: usize,
    /// The current path's state.
    pub cur: State,
    cur_parent: Option<usize>,
    /// The instructions the current path ran since its last checkpoint, the one being
    /// checked last.
    cur_hist: Vec<HistEntry>,
    /// Scalars linked by a conditional jump (`linked_regs` of the history entries).
    linked_sets: Vec<Vec<Linked>>,
    /// How many entries the kernel's jump history of the current path holds since its last
    /// checkpoint (`jmp_history_cnt`): instructions that are jump targets or follow a call,
    /// spills and fills, and jumps that linked scalars.
    cur_jmp_hist: u32,
    /// Per instruction: a jump target or the instruction after a call (`jmp_point`).
    jmp_point: Vec<bool>,
    /// The log (kernel style, for `-v`).
    pub log: String,
    /// Pointer type each load/store instruction was first seen with (`save_aux_ptr_type`).
    pub aux_ptr: Vec<Option<RegType>>,
    /// Instructions a speculative path found unsafe (`nospec`): speculative paths stop there.
    pub(super) nospec: Vec<bool>,
    /// Per instruction, the registers and stack slots whose values may still matter.
    pub(super) needed: Vec<crate::precision::Needed>,
    /// Per instruction, the registers live before it (`precision::live_registers`).
    pub(super) live: Vec<u16>,
    /// Stack slots live before each slot (`precision::live_stack_slots`).
    pub(super) live_slots: Vec<u64>,
    /// Per instruction, the pointer-arithmetic masking recorded by the first path through it
    /// (`alu_state`, `alu_limit` of `bpf_insn_aux_data`; strict mode only).
    pub alu_aux: Vec<(u8, u32)>,
    /// Set once a pointer moved by an unknown scalar in strict mode: from then on scalars
    /// are compared exactly when pruning (`env->explore_alu_limits`).
    pub explore_alu_limits: bool,
    /// Stores followed by a speculation barrier (`nospec_result`): a speculative path ends
    /// after one.
    pub nospec_result: Vec<bool>,
    /// ALU instructions a path ran as `scalar op= pointer`: their destination counts as read
    /// by the precision pass (see `precision::needed_with`).
    pub(super) ptr_dst_used: Vec<bool>,
    /// Most stored states looked at in one visit of an instruction (the kernel's
    /// `max_states_per_insn`).
    max_states_per_insn: usize,
}

impl<'a> Env<'a> {
    pub(crate) fn new(
        insns: &'a [Insn],
        maps: &'a [MapDef],
        frozen_values: &'a [Option<Vec<u8>>],
        helpers: &'a HelperTable,
        opts: &'a VerifyOptions,
        cfg: &'a Cfg,
    ) -> Env<'a> {
        let mut regs = [RegState::NOT_INIT; 11];
        regs[1] = RegState::pointer(RegType::Ctx);
        regs[10] = RegState::pointer(RegType::Stack);
        let cur = State {
            frames: vec![Frame {
                regs,
                stack: Stack::default(),
                callsite: 0,
                subprog: 0,
            }],
            speculative: false,
            refs: Vec::new(),
        };
        Env {
            insns,
            maps,
            frozen_values,
            helpers,
            opts,
            cfg,
            subprog_depth: vec![0; cfg.subprog_starts.len()],
            call_edges: Vec::new(),
            id_gen: 0,
            probe_load: None,
            load_kinds: vec![0; insns.len()],
            insn_processed: 0,
            jmps_processed: 0,
            prev_jmps: 0,
            prev_insns: 0,
            nodes: Vec::new(),
            explored: vec![Vec::new(); insns.len()],
            pending: Vec::new(),
            path_glue: None,
            peak_states: 0,
            live_states: 0,
            cur,
            cur_parent: None,
            cur_hist: Vec::new(),
            linked_sets: Vec::new(),
            cur_jmp_hist: 0,
            jmp_point: jmp_points(insns),
            log: String::new(),
            aux_ptr: vec![None; insns.len()],
            nospec: vec![false; insns.len()],
            needed: crate::precision::needed(insns),
            live: crate::precision::live_registers(insns),
            live_slots: crate::precision::live_stack_slots(insns),
            alu_aux: vec![(0, 0); insns.len()],
            explore_alu_limits: false,
            nospec_result: vec![false; insns.len()],
            max_states_per_insn: 0,
            ptr_dst_used: vec![false; insns.len()],
        }
    }

    /// True in strict mode (no CAP_PERFMON): pointer leaks and comparisons are refused.
    pub fn strict(&self) -> bool {
        self.opts.strict
    }

    /// Notes that the instruction at `pc` reads memory the kernel reads with a faulting
    /// load. Judging goes on as the kernel's; if the kernel's rules accept the program, the
    /// verdict is "not supported" at the first such instruction.
    pub fn note_probe_load(&mut self, pc: usize, why: String) {
        if self.probe_load.is_none() {
            self.probe_load = Some((pc, why));
        }
    }

    /// Notes that the load at `pc` reads untrusted kernel memory, which the kernel reads
    /// with a faulting load: an LDX becomes one (`Instruction::ProbeLoad`) if every path
    /// reads that way; any other instruction is not supported (`note_probe_load`).
    pub fn note_faulting_read(&mut self, pc: usize, why: String) {
        let ldx = self
            .insns
            .get(pc)
            .is_some_and(|i| sockops_vm::opcode::class(i.opcode) == sockops_vm::opcode::BPF_LDX);
        match self.load_kinds.get_mut(pc) {
            Some(kind) if ldx => *kind |= FAULTING_LOAD,
            _ => self.note_probe_load(pc, why),
        }
    }

    /// The loads that become faulting loads, or the first one that reads untrusted kernel
    /// memory on one path and other memory on another (which one instruction cannot do
    /// here: a faulting load reads only the blank structs).
    pub fn faulting_loads(&self) -> Result<Vec<usize>, usize> {
        let mut out = Vec::new();
        for (pc, &kind) in self.load_kinds.iter().enumerate() {
            if kind == FAULTING_LOAD | PLAIN_LOAD {
                return Err(pc);
            }
            if kind == FAULTING_LOAD {
                out.push(pc);
            }
        }
        Ok(out)
    }

    /// A fresh id.
    pub fn new_id(&mut self) -> u32 {
        self.id_gen += 1;
        self.id_gen
    }

    /// Registers of the current frame.
    pub fn regs(&self) -> &[RegState; 11] {
        &self.cur.cur().regs
    }

    /// Registers of the current frame, mutably.
    pub fn regs_mut(&mut self) -> &mut [RegState; 11] {
        &mut self.cur.cur_mut().regs
    }

    /// Pushes the other side of a branch (`push_stack`).
    pub fn push_branch(&mut self, state: State, pc: usize, prev_pc: usize) -> Result<(), Reject> {
        if self.pending.len() + 1 > JMP_SEQ_LIMIT {
            return Err(Reject::new(
                prev_pc,
                format!(
                    "The sequence of {} jumps is too complex.",
                    self.pending.len() + 1
                ),
            ));
        }
        if let Some(p) = self.cur_parent {
            self.nodes[p].branches += 1;
        }
        self.pending.push(Pending {
            state,
            pc,
            prev_pc,
            parent: self.cur_parent,
            hist: self.cur_hist.clone(),
            jmp_hist: self.cur_jmp_hist,
        });
        Ok(())
    }

    fn update_branch_counts(&mut self, mut node: Option<usize>) {
        while let Some(n) = node {
            self.nodes[n].branches = self.nodes[n].branches.saturating_sub(1);
            if self.nodes[n].branches > 0 {
                break;
            }
            // An evicted state leaves the kernel's free list (`maybe_free_verifier_state`)
            // once its paths are done.
            if self.nodes[n].evicted {
                self.live_states -= 1;
            }
            node = self.nodes[n].parent;
        }
    }

    /// `is_state_visited`: true if the current path can be pruned here.
    fn is_state_visited(&mut self, pc: usize) -> Result<bool, Reject> {
        // A path whose jump history grew past 40 entries gets a checkpoint whatever the
        // heuristics below say (`force_new_state`).
        let force_new_state = self.cur_jmp_hist > 40;
        let mut add_new_state = force_new_state
            || (self.jmps_processed - self.prev_jmps >= 2
                && self.insn_processed - self.prev_insns >= 8);
        let allow_uninit = !self.opts.strict;
        // Hashed only when a state at `pc` is in progress (the loop check) or a new one is
        // kept: most prune-point visits need neither.
        let mut cur_hash = None;
        let need = self
            .needed
            .get(pc)
            .copied()
            .unwrap_or(crate::precision::Needed {
                regs: 0x7ff,
                slots: u64::MAX,
            });
        let base = crate::state::Imprecise {
            regs: !need.regs & 0x3ff,
            slots: !need.slots,
            dead_regs: !self.live.get(pc).copied().unwrap_or(0x7ff) & 0x7ff,
            dead_slots: !self.live_slots.get(pc).copied().unwrap_or(u64::MAX),
        };
        let mut list = self
            .explored
            .get_mut(pc)
            .map(std::mem::take)
            .unwrap_or_default();
        self.max_states_per_insn = self.max_states_per_insn.max(list.len());
        let mut evict = Vec::new();
        let mut pruned = false;
        let mut hit = None;
        let mut frames_imprecise = [crate::state::Imprecise::NONE; MAX_CALL_FRAMES];
        // Newest first, as the kernel walks its list (new states go to its head). The order
        // matters: the loop heuristic below stops counting misses for the states after the
        // first in-progress one.
        for &id in list.iter().rev() {
            let node = &self.nodes[id];
            if node.branches > 0 {
                // In progress: the same state again is an infinite loop (`states_maybe_looping`
                // and an exact `states_equal`). The register hash filters first.
                let h = *cur_hash.get_or_insert_with(|| regs_hash(&self.cur));
                if node.regs_hash == h
                    && node.state.frames.len() == self.cur.frames.len()
                    && node.state.cur().regs == self.cur.cur().regs
                    && states_equal(&node.state, &self.cur, true, allow_uninit, &[], false)
                {
                    self.explored[pc] = list;
                    let msg = format!("infinite loop detected at insn {pc}");
                    let msg = match self.path_glue {
                        Some(at) => format!(
                            "{at}: {} {msg}",
                            crate::vlog::disasm(self.insns, at, call::func_name)
                        ),
                        None => msg,
                    };
                    return Err(Reject::new(pc, msg));
                }
                // Inside a loop, new states are kept less often (`skip_inf_loop_check`).
                if !force_new_state
                    && self.jmps_processed - self.prev_jmps < 20
                    && self.insn_processed - self.prev_insns < 100
                {
                    add_new_state = false;
                }
            } else if states_equal(
                &node.state,
                &self.cur,
                false,
                allow_uninit,
                self.imprecise_for(node, base, &mut frames_imprecise),
                self.explore_alu_limits,
            ) {
                self.nodes[id].hit += 1;
                pruned = true;
                hit = Some(id);
                break;
            }
            // A miss counts only when a new state is going to be added, and a state that
            // keeps missing is evicted, in progress or not (`miss_cnt > hit_cnt * n + n`,
            // n = 3: this runtime has no forced checkpoints, where the kernel uses 64).
            let node = &mut self.nodes[id];
            if add_new_state {
                node.miss += 1;
            }
            if node.miss > node.hit * 3 + 3 {
                evict.push(id);
            }
        }
        if !evict.is_empty() {
            list.retain(|id| !evict.contains(id));
            for id in evict {
                let node = &mut self.nodes[id];
                node.evicted = true;
                node.state = State {
                    frames: Vec::new(),
                    speculative: false,
                    refs: Vec::new(),
                };
                if node.branches == 0 {
                    self.live_states -= 1;
                }
            }
        }
        if let Some(slot) = self.explored.get_mut(pc) {
            *slot = list;
        }
        if let Some(id) = hit {
            // propagate_precision: what the explored state's paths depended on, the current
            // path's checkpoints depend on too.
            let node = &self.nodes[id];
            let mut bt = Bt::new(self.cur.curframe());
            for (fr, (&(pr, ps), &(sr, ss))) in node.precise.iter().zip(&node.scalars).enumerate() {
                bt.regs[fr] = pr & sr;
                bt.slots[fr] = ps & ss;
            }
            self.mark_chain(bt, false);
        }
        if pruned {
            return Ok(true);
        }
        if !add_new_state {
            return Ok(false);
        }
        self.prev_jmps = self.jmps_processed;
        self.prev_insns = self.insn_processed;
        let cur_hash = cur_hash.unwrap_or_else(|| regs_hash(&self.cur));
        let id = self.nodes.len();
        let scalars = scalar_places(&self.cur);
        self.cur_jmp_hist = 0;
        self.nodes.push(Node {
            state: self.cur.clone(),
            regs_hash: cur_hash,
            branches: 1,
            parent: self.cur_parent,
            hit: 0,
            miss: 0,
            evicted: false,
            hist: std::mem::take(&mut self.cur_hist),
            precise: vec![(0, 0); scalars.len()],
            scalars,
        });
        self.cur_parent = Some(id);
        if let Some(list) = self.explored.get_mut(pc) {
            list.push(id);
        }
        self.live_states += 1;
        self.peak_states = self.peak_states.max(self.live_states);
        Ok(false)
    }

    /// What pruning against `node` may ignore, per frame of the current path. A scalar counts
    /// when a path explored from the stored state depended on it (its precision mark) and
    /// the static pass says it may still matter: `base` for the current frame; for a
    /// caller's frame, its registers needed after the call returns (it cannot see them
    /// before) and its slots by their marks alone (the callee may read them through a
    /// pointer). A caller's registers not live at its call are not compared
    /// (`frame_insn_idx` in `states_equal`), nor its slots no path reads: none after the
    /// return, and no pointer to them held by a deeper frame.
    fn imprecise_for<'b>(
        &self,
        node: &Node,
        base: crate::state::Imprecise,
        out: &'b mut [crate::state::Imprecise; MAX_CALL_FRAMES],
    ) -> &'b [crate::state::Imprecise] {
        let n = self.cur.frames.len().min(MAX_CALL_FRAMES);
        for (k, slot) in out.iter_mut().enumerate().take(n) {
            let (regs, slots) = node.precise.get(k).copied().unwrap_or((0, 0));
            *slot = if k + 1 == n {
                crate::state::Imprecise {
                    regs: base.regs | (!regs & 0x3ff),
                    slots: base.slots | !slots,
                    ..base
                }
            } else {
                let call = self.cur.frames[k + 1].callsite;
                let after = self.needed.get(call + 1).map_or(0x7ff, |n| n.regs);
                let reachable = self.cur.frames[k + 1..].iter().any(|f| {
                    f.regs
                        .iter()
                        .chain(f.stack.slots.iter().map(|s| &s.spilled))
                        .any(|r| r.typ == RegType::Stack && r.frameno as usize == k)
                });
                let dead_slots = if reachable {
                    0
                } else {
                    !self.live_slots.get(call + 1).copied().unwrap_or(u64::MAX)
                };
                crate::state::Imprecise {
                    regs: !(after & regs) & 0x3ff,
                    slots: !slots,
                    dead_regs: !self.live.get(call).copied().unwrap_or(0x7ff) & 0x7ff,
                    dead_slots,
                }
            };
        }
        &out[..n]
    }

    /// `mark_chain_precision` for registers of the current frame that the instruction being
    /// checked depends on.
    pub(super) fn mark_precise(&mut self, regs: u16) {
        let mut bt = Bt::new(self.cur.curframe());
        bt.regs[bt.frame] = regs;
        self.mark_chain(bt, true);
    }

    /// `mark_chain_precision` for a spilled slot of `frame` that the instruction being
    /// checked depends on.
    pub(super) fn mark_precise_slot(&mut self, frame: usize, slot: usize) {
        if frame >= MAX_CALL_FRAMES || slot >= 64 {
            return self.mark_all_precise();
        }
        let mut bt = Bt::new(self.cur.curframe());
        bt.slots[frame] = 1 << slot;
        self.mark_chain(bt, true);
    }

    /// Records that the instruction being checked spilled a register to, or filled one
    /// from, `slot` of `frame` (`INSN_F_STACK_ACCESS`).
    pub(super) fn note_stack_access(&mut self, frame: usize, slot: usize) {
        if let Some(e) = self.cur_hist.last_mut() {
            e.slot = if frame < MAX_CALL_FRAMES && slot < 64 {
                ((frame as u16) << 8) | slot as u16
            } else {
                NO_SLOT
            };
            if !e.counted {
                e.counted = true;
                self.cur_jmp_hist += 1;
            }
        }
    }

    /// Records the scalars sharing one of `ids` (0: none) that the conditional jump being
    /// checked refines together (`collect_linked_regs`), when there are at least two.
    pub(super) fn note_linked(&mut self, ids: [u32; 2]) {
        if ids == [0, 0] {
            return;
        }
        let ids = ids.map(|i| if i == 0 { u32::MAX } else { i });
        let mut set = Vec::new();
        for (fr, f) in self.cur.frames.iter().enumerate() {
            for (r, reg) in f.regs[..10].iter().enumerate() {
                if reg.typ == RegType::Scalar && ids.contains(&reg.id) {
                    set.push(crate::backtrack::linked_reg(fr, r));
                }
            }
            for (k, s) in f.stack.slots.iter().take(64).enumerate() {
                if s.bytes[7] == crate::stack::ByteType::Spill
                    && s.spilled.typ == RegType::Scalar
                    && ids.contains(&s.spilled.id)
                {
                    set.push(crate::backtrack::linked_slot(fr, k));
                }
            }
        }
        if set.len() > 1
            && let Some(e) = self.cur_hist.last_mut()
        {
            self.linked_sets.push(set);
            e.linked = self.linked_sets.len() as u32;
            if !e.counted {
                e.counted = true;
                self.cur_jmp_hist += 1;
            }
        }
    }

    /// Walks the current path back through its checkpoints, marking in each the scalars
    /// `bt` traces there (`__mark_chain_precision`). `skip_last` skips the instruction being
    /// checked (the one that depends on the values).
    fn mark_chain(&mut self, mut bt: Bt, skip_last: bool) {
        if bt.is_empty() {
            return;
        }
        let mut subseq = None;
        match walk_segment(
            self.insns,
            &self.linked_sets,
            &self.cur_hist,
            skip_last,
            &mut subseq,
            &mut bt,
        ) {
            Ok(true) => {}
            Ok(false) => return,
            Err(_) => return self.mark_all_precise(),
        }
        let mut node = self.cur_parent;
        while let Some(id) = node {
            let nd = &mut self.nodes[id];
            if nd.scalars.len() != bt.frame + 1 {
                return self.mark_all_precise();
            }
            for fr in 0..=bt.frame {
                let (sr, ss) = nd.scalars[fr];
                let (pr, ps) = &mut nd.precise[fr];
                // A register that holds no scalar here is not traced further; one already
                // marked had its sources marked when it was.
                let (r, s) = (bt.regs[fr] & sr, bt.slots[fr] & ss);
                bt.regs[fr] = r & !*pr;
                bt.slots[fr] = s & !*ps;
                *pr |= r;
                *ps |= s;
            }
            if bt.is_empty() {
                return;
            }
            match walk_segment(
                self.insns,
                &self.linked_sets,
                &nd.hist,
                false,
                &mut subseq,
                &mut bt,
            ) {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => return self.mark_all_precise(),
            }
            node = nd.parent;
        }
    }

    /// The fallback when the history cannot be explained (`mark_all_scalars_precise`):
    /// every scalar of every checkpoint of the current path becomes precise.
    fn mark_all_precise(&mut self) {
        let mut node = self.cur_parent;
        while let Some(id) = node {
            let nd = &mut self.nodes[id];
            for (p, s) in nd.precise.iter_mut().zip(&nd.scalars) {
                p.0 |= s.0;
                p.1 |= s.1;
            }
            node = nd.parent;
        }
    }

    /// Pops the next pending path into `cur`; false when none is left.
    fn pop_path(&mut self) -> Option<(usize, usize)> {
        let p = self.pending.pop()?;
        self.path_glue = Some(p.prev_pc);
        self.cur = p.state;
        self.cur_parent = p.parent;
        self.cur_hist = p.hist;
        self.cur_jmp_hist = p.jmp_hist;
        Some((p.pc, p.prev_pc))
    }

    /// Explores every path. Returns the statistics on success.
    pub(crate) fn run(&mut self) -> Result<Stats, Reject> {
        let mut pc = 0usize;
        loop {
            self.insn_processed += 1;
            if self.insn_processed > self.opts.insn_limit {
                return Err(Reject::new(
                    pc,
                    format!(
                        "BPF program is too large. Processed {} insn",
                        self.insn_processed
                    ),
                ));
            }
            let pruned = if self.cfg.prune_point.get(pc).copied().unwrap_or(false) {
                self.is_state_visited(pc)?
            } else {
                false
            };
            if pruned && self.opts.log_level > 0 {
                self.log_line(format!("{pc}: safe"));
            }
            let ended = if pruned {
                true
            } else {
                let insn = self.insns.get(pc).copied().ok_or_else(|| {
                    Reject::new(
                        pc,
                        format!("invalid insn idx {pc} insn_cnt {}", self.insns.len()),
                    )
                })?;
                if matches!(insn.opcode & 7, 5 | 6) {
                    self.jmps_processed += 1;
                }
                // The kernel's level-1 line for this instruction is written here.
                self.path_glue = None;
                let mut entry = HistEntry::new(pc);
                if self.jmp_point.get(pc).copied().unwrap_or(false) {
                    entry.counted = true;
                    self.cur_jmp_hist += 1;
                }
                self.cur_hist.push(entry);
                let before = (self.opts.log_level > 0).then(|| self.log_insn(pc, insn));
                if self.cur.speculative && self.nospec.get(pc).copied().unwrap_or(false) {
                    true
                } else {
                    let result = self.step(pc, insn);
                    if let (Some(before), Ok(_)) = (before, &result) {
                        self.log_insn_state(insn, &before);
                    }
                    match result {
                        Ok(Step::Goto(_))
                            if self.cur.speculative
                                && self.nospec_result.get(pc).copied().unwrap_or(false) =>
                        {
                            true
                        }
                        Ok(Step::Goto(next)) => {
                            pc = next;
                            false
                        }
                        Ok(Step::Done) => true,
                        // A speculative path that would fault is cut with a barrier
                        // (`error_recoverable_with_nospec`), not rejected.
                        Err(r) if self.cur.speculative && !r.fatal() => {
                            if let Some(f) = self.nospec.get_mut(pc) {
                                *f = true;
                            }
                            true
                        }
                        Err(r) => return Err(r),
                    }
                }
            };
            if ended {
                let parent = self.cur_parent;
                self.update_branch_counts(parent);
                match self.pop_path() {
                    Some((next, prev)) => {
                        pc = next;
                        if self.opts.log_level > 0 {
                            self.log_path_start(prev, next);
                        }
                    }
                    None => break,
                }
            }
        }
        self.check_max_stack_depth()?;
        if self.opts.log_level > 0 {
            let line = self.stats_line();
            self.log_line(line);
        }
        Ok(Stats {
            insns_processed: self.insn_processed,
            total_states: self.nodes.len() as u64,
            peak_states: self.peak_states as u64,
            stack_depth: self.subprog_depth.clone(),
            log: std::mem::take(&mut self.log),
            faulting_loads: Vec::new(),
        })
    }

    /// Appends one line to the log.
    pub(super) fn log_line(&mut self, line: impl AsRef<str>) {
        self.log.push_str(line.as_ref());
        self.log.push('\n');
    }

    /// The kernel's closing line: `processed N insns (limit 1000000) max_states_per_insn M
    /// total_states T peak_states P mark_read K` (this verifier keeps no read marks: K = 0).
    pub(crate) fn stats_line(&self) -> String {
        format!(
            "processed {} insns (limit {INSN_LIMIT}) max_states_per_insn {} total_states {} peak_states {} mark_read 0",
            self.insn_processed,
            self.max_states_per_insn,
            self.nodes.len(),
            self.peak_states
        )
    }

    /// The current frame's state in the kernel's notation, `frameN:` first in a callee.
    fn log_state(&self, only: Option<(u16, u64)>) -> String {
        let n = self.cur.curframe();
        let prefix = if n > 0 {
            format!(" frame{n}:")
        } else {
            String::new()
        };
        let mut text = format!(
            "{prefix}{}",
            crate::vlog::frame(self.cur.cur(), n as u8, only)
        );
        // print_verifier_state: the references held, after the registers and the stack.
        for (k, (id, _)) in self.cur.refs.iter().enumerate() {
            text.push_str(&format!("{}{id}", if k == 0 { " refs=" } else { "," }));
        }
        text
    }

    /// `check_reference_leak`: logs `Unreleased reference id=N alloc_insn=M` for every
    /// reference still held; true if there is one.
    pub(super) fn log_reference_leaks(&mut self) -> bool {
        if self.opts.log_level > 0 {
            let lines: Vec<String> = self
                .cur
                .refs
                .iter()
                .map(|(id, insn)| format!("Unreleased reference id={id} alloc_insn={insn}"))
                .collect();
            for l in lines {
                self.log_line(l);
            }
        }
        !self.cur.refs.is_empty()
    }

    /// Logs `pc: (op) text` before the instruction runs; returns the frame before it.
    fn log_insn(&mut self, pc: usize, _insn: Insn) -> Frame {
        if self.insn_processed == 1 {
            let state = self.log_state(None);
            self.log_line(format!("0:{state}"));
        }
        let text = crate::vlog::disasm(self.insns, pc, call::func_name);
        self.log_line(format!("{pc}: {text}"));
        self.cur.cur().clone()
    }

    /// After an instruction: at level 2 (and at level 1 for conditional jumps), the registers
    /// it read or changed, on the instruction's line as the kernel prints them.
    fn log_insn_state(&mut self, insn: Insn, before: &Frame) {
        use sockops_vm::opcode::*;
        let cond = matches!(class(insn.opcode), BPF_JMP | BPF_JMP32)
            && !matches!(op(insn.opcode), BPF_JA | BPF_CALL | BPF_EXIT);
        if self.opts.log_level < 2 && !cond {
            return;
        }
        let only = if before.subprog != self.cur.cur().subprog
            || before.callsite != self.cur.cur().callsite
        {
            // A call or return switched frames: print the new frame whole.
            None
        } else {
            let (regs, slots) = crate::vlog::changed(before, self.cur.cur());
            Some((regs | crate::vlog::touched(&insn), slots))
        };
        let state = self.log_state(only);
        if state.is_empty() {
            return;
        }
        // Put the state on the instruction's line, after the kernel's padding.
        self.log.pop();
        let start = self.log.rfind('\n').map_or(0, |i| i + 1);
        let mut line = self.log.split_off(start);
        crate::vlog::pad(&mut line);
        line.push_str(&state);
        self.log.push_str(&line);
        self.log.push('\n');
    }

    /// Logs the start of a path popped from the pending stack (`from P to Q: state`).
    fn log_path_start(&mut self, prev: usize, next: usize) {
        let spec = if self.cur.speculative {
            " (speculative execution)"
        } else {
            ""
        };
        let state = self.log_state(None);
        self.log_line(format!("\nfrom {prev} to {next}{spec}:{state}"));
    }

    fn step(&mut self, pc: usize, insn: Insn) -> Result<Step, Reject> {
        use sockops_vm::opcode::*;
        match class(insn.opcode) {
            BPF_ALU | BPF_ALU64 => {
                self.check_alu(pc, insn)?;
                Ok(Step::Goto(pc + 1))
            }
            BPF_LDX => {
                self.check_ldx(pc, insn)?;
                Ok(Step::Goto(pc + 1))
            }
            BPF_STX => {
                if mode(insn.opcode) == BPF_ATOMIC {
                    self.check_atomic(pc, insn)?;
                } else if mode(insn.opcode) != BPF_MEM || insn.imm != 0 {
                    return Err(Reject::new(pc, "BPF_STX uses reserved fields"));
                } else {
                    self.check_stx(pc, insn)?;
                }
                Ok(Step::Goto(pc + 1))
            }
            BPF_ST => {
                if mode(insn.opcode) != BPF_MEM || insn.src != 0 {
                    return Err(Reject::new(pc, "BPF_ST uses reserved fields"));
                }
                self.check_st(pc, insn)?;
                Ok(Step::Goto(pc + 1))
            }
            BPF_JMP | BPF_JMP32 => self.check_jmp(pc, insn),
            _ => {
                // BPF_LD
                let m = mode(insn.opcode);
                if m == BPF_ABS || m == BPF_IND {
                    return Err(Reject::new(
                        pc,
                        "BPF_LD_[ABS|IND] instructions not allowed for this program type",
                    ));
                }
                self.check_ld_imm(pc, insn)?;
                Ok(Step::Goto(pc + 2))
            }
        }
    }

    /// `check_reg_arg(regno, SRC_OP)`.
    pub fn check_src(&self, pc: usize, r: u8) -> Result<(), Reject> {
        if r > 10 {
            return Err(Reject::new(pc, format!("R{r} is invalid")));
        }
        if self.regs()[r as usize].typ == RegType::NotInit {
            return Err(Reject::new(pc, format!("R{r} !read_ok")));
        }
        Ok(())
    }

    /// `check_reg_arg(regno, DST_OP)`.
    pub fn check_dst(&self, pc: usize, r: u8) -> Result<(), Reject> {
        if r > 10 {
            return Err(Reject::new(pc, format!("R{r} is invalid")));
        }
        if r == 10 {
            return Err(Reject::new(pc, "frame pointer is read only"));
        }
        Ok(())
    }

    /// Records stack use of the current subprogram.
    pub fn note_stack_depth(&mut self, frame: usize, depth: i32) {
        let sub = self.cur.frames[frame].subprog;
        if let Some(d) = self.subprog_depth.get_mut(sub) {
            *d = (*d).max(depth);
        }
    }

    /// `check_max_stack_depth`: the deepest call chain's combined (16-byte rounded) stack.
    fn check_max_stack_depth(&self) -> Result<(), Reject> {
        let round = |d: i32| (d + 15) / 16 * 16;
        // Depth-first over the call graph from subprog 0.
        fn walk(
            env: &Env<'_>,
            sub: usize,
            depth: i32,
            frames: usize,
            seen: &mut Vec<usize>,
            round: &dyn Fn(i32) -> i32,
        ) -> Result<(), Reject> {
            let d = depth + round(env.subprog_depth[sub]);
            if d > 512 {
                return Err(Reject::new(
                    env.cfg.subprog_starts[sub],
                    format!("combined stack size of {frames} calls is {d}. Too large"),
                ));
            }
            if seen.contains(&sub) {
                return Ok(());
            }
            seen.push(sub);
            let mut callees: Vec<usize> = env
                .call_edges
                .iter()
                .filter(|(a, _)| *a == sub)
                .map(|(_, b)| *b)
                .collect();
            callees.sort_unstable();
            callees.dedup();
            for c in callees {
                walk(env, c, d, frames + 1, seen, round)?;
            }
            seen.pop();
            Ok(())
        }
        walk(self, 0, 0, 1, &mut Vec::new(), &round)
    }
}
