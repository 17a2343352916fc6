//! Program structure checks that run before path exploration, in the kernel's order:
//! subprogram discovery (`add_subprog_and_kfunc`), jump ranges and subprogram ends
//! (`check_subprogs`), and the control-flow walk (`check_cfg`: unreachable instructions,
//! jumps into an LD_IMM64, prune points).

use sockops_vm::Insn;
use sockops_vm::opcode::*;

use crate::error::Reject;

/// What the structural pass learned about the program.
#[derive(Debug, Clone)]
pub struct Cfg {
    /// Start slot of every subprogram, ascending; index 0 is the main program.
    pub subprog_starts: Vec<usize>,
    /// Slots where the explorer checks for equivalent states.
    pub prune_point: Vec<bool>,
}

impl Cfg {
    /// The subprogram containing slot `pc`.
    pub fn subprog_of(&self, pc: usize) -> usize {
        match self.subprog_starts.binary_search(&pc) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}

fn is_pseudo_call(i: &Insn) -> bool {
    i.opcode == (BPF_JMP | BPF_CALL) && i.src == BPF_PSEUDO_CALL
}

fn is_pseudo_func(i: &Insn) -> bool {
    i.opcode == LD_IMM64 && i.src == BPF_PSEUDO_FUNC
}

fn is_kfunc_call(i: &Insn) -> bool {
    i.opcode == (BPF_JMP | BPF_CALL) && i.src == BPF_PSEUDO_KFUNC_CALL
}

/// `add_subprog_and_kfunc` + `check_subprogs`.
pub fn check_subprogs(insns: &[Insn]) -> Result<Vec<usize>, Reject> {
    let n = insns.len();
    let mut starts = vec![0usize];
    for (i, insn) in insns.iter().enumerate() {
        if is_pseudo_call(insn) || is_pseudo_func(insn) {
            let target = i as i64 + insn.imm as i64 + 1;
            if target < 0 || target >= n as i64 {
                return Err(Reject::new(i, "call to invalid destination"));
            }
            let t = target as usize;
            if let Err(pos) = starts.binary_search(&t) {
                starts.insert(pos, t);
            }
        } else if is_kfunc_call(insn) {
            return Err(Reject::new(
                i,
                format!("kernel btf_id {} is not a function", insn.imm),
            ));
        }
    }
    let mut sub = 0usize;
    let mut sub_start = starts[0];
    let mut sub_end = starts.get(1).copied().unwrap_or(n);
    for (i, insn) in insns.iter().enumerate() {
        let code = insn.opcode;
        let cls = class(code);
        if (cls == BPF_JMP || cls == BPF_JMP32) && op(code) != BPF_EXIT && op(code) != BPF_CALL {
            let off = if code == (BPF_JMP32 | BPF_JA) {
                i as i64 + insn.imm as i64 + 1
            } else {
                i as i64 + insn.off as i64 + 1
            };
            if off < sub_start as i64 || off >= sub_end as i64 {
                return Err(Reject::new(
                    i,
                    format!("jump out of range from insn {i} to {off}"),
                ));
            }
        }
        if i + 1 == sub_end {
            if code != (BPF_JMP | BPF_EXIT)
                && code != (BPF_JMP32 | BPF_JA)
                && code != (BPF_JMP | BPF_JA)
            {
                return Err(Reject::new(i, "last insn is not an exit or jmp"));
            }
            sub += 1;
            sub_start = sub_end;
            sub_end = starts.get(sub + 1).copied().unwrap_or(n);
        }
    }
    Ok(starts)
}

const DISCOVERED: u8 = 0x10;
const EXPLORED: u8 = 0x20;
const FALLTHROUGH: u8 = 1;
const BRANCH: u8 = 2;

enum Push {
    Keep,
    Done,
}

/// `check_cfg`: depth-first walk from slot 0. Back-edges are allowed (bounded loops are
/// judged by exploration, as for a `bpf_capable` loader).
pub fn check_cfg(insns: &[Insn], subprog_starts: Vec<usize>) -> Result<Cfg, Reject> {
    let n = insns.len();
    let mut state = vec![0u8; n];
    let mut prune = vec![false; n];
    let mut stack: Vec<usize> = vec![0];
    if n == 0 {
        return Ok(Cfg {
            subprog_starts,
            prune_point: prune,
        });
    }
    state[0] = DISCOVERED;
    let push = |t: usize,
                w: i64,
                e: u8,
                state: &mut Vec<u8>,
                stack: &mut Vec<usize>,
                prune: &mut Vec<bool>| {
        if e == FALLTHROUGH && state[t] >= (DISCOVERED | FALLTHROUGH) {
            return Ok(Push::Done);
        }
        if e == BRANCH && state[t] >= (DISCOVERED | BRANCH) {
            return Ok(Push::Done);
        }
        if w < 0 || w >= n as i64 {
            return Err(Reject::new(
                t,
                format!("jump out of range from insn {t} to {w}"),
            ));
        }
        let w = w as usize;
        if e == BRANCH {
            // mark branch target for state pruning
            prune[w] = true;
        }
        if state[w] == 0 {
            state[t] = DISCOVERED | e;
            state[w] = DISCOVERED;
            stack.push(w);
            Ok(Push::Keep)
        } else if (state[w] & 0xf0) == DISCOVERED {
            Ok(Push::Done)
        } else {
            state[t] = DISCOVERED | e;
            Ok(Push::Done)
        }
    };
    while let Some(&t) = stack.last() {
        let insn = insns[t];
        let cls = class(insn.opcode);
        let r = if is_pseudo_func(&insn) || (cls == BPF_JMP && op(insn.opcode) == BPF_CALL) {
            let sz = if insn.opcode == LD_IMM64 { 2 } else { 1 };
            match push(
                t,
                (t + sz) as i64,
                FALLTHROUGH,
                &mut state,
                &mut stack,
                &mut prune,
            )? {
                Push::Keep => Push::Keep,
                Push::Done => {
                    if t + sz < n {
                        prune[t + sz] = true;
                    }
                    if is_pseudo_call(&insn) || is_pseudo_func(&insn) {
                        prune[t] = true;
                        push(
                            t,
                            t as i64 + insn.imm as i64 + 1,
                            BRANCH,
                            &mut state,
                            &mut stack,
                            &mut prune,
                        )?
                    } else {
                        Push::Done
                    }
                }
            }
        } else if cls != BPF_JMP && cls != BPF_JMP32 {
            let sz = if insn.opcode == LD_IMM64 { 2 } else { 1 };
            push(
                t,
                (t + sz) as i64,
                FALLTHROUGH,
                &mut state,
                &mut stack,
                &mut prune,
            )?
        } else {
            match op(insn.opcode) {
                BPF_EXIT => Push::Done,
                BPF_JA => {
                    let off = if cls == BPF_JMP {
                        insn.off as i64
                    } else {
                        insn.imm as i64
                    };
                    let w = t as i64 + off + 1;
                    let r = push(t, w, FALLTHROUGH, &mut state, &mut stack, &mut prune)?;
                    if let Push::Done = r {
                        prune[w as usize] = true;
                    }
                    r
                }
                _ => {
                    prune[t] = true;
                    match push(
                        t,
                        t as i64 + 1,
                        FALLTHROUGH,
                        &mut state,
                        &mut stack,
                        &mut prune,
                    )? {
                        Push::Keep => Push::Keep,
                        Push::Done => push(
                            t,
                            t as i64 + insn.off as i64 + 1,
                            BRANCH,
                            &mut state,
                            &mut stack,
                            &mut prune,
                        )?,
                    }
                }
            }
        };
        if let Push::Done = r {
            state[t] = EXPLORED;
            stack.pop();
        }
    }
    let mut i = 0;
    while i < n {
        if state[i] != EXPLORED {
            return Err(Reject::new(i, format!("unreachable insn {i}")));
        }
        if insns[i].opcode == LD_IMM64 {
            if i + 1 < n && state[i + 1] != 0 {
                return Err(Reject::new(
                    i,
                    format!("jump into the middle of ldimm64 insn {i}"),
                ));
            }
            i += 1;
        }
        i += 1;
    }
    Ok(Cfg {
        subprog_starts,
        prune_point: prune,
    })
}
