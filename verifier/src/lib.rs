//! `sockops-verifier`: judges `BPF_PROG_TYPE_SOCK_OPS` programs by the Linux kernel's rules.
//!
//! `verify` runs the kernel's passes in the kernel's order — subprogram and jump checks
//! (`cfg`), the per-instruction pass over opcodes and LD_IMM64 (`resolve`), the control-flow
//! walk (`cfg`), then path exploration with state pruning (`check`) — and either returns a
//! `Verified` program, which only this crate can construct, or a `VerifyError` carrying the
//! instruction index and the kernel's message for the first error.
//!
//! Two privilege modes: root (default; CAP_BPF + CAP_PERFMON, how sock_ops programs are
//! normally loaded) and strict (`VerifyOptions::strict`: no CAP_PERFMON, so pointer leaks,
//! pointer comparisons and uninitialised stack reads are refused).

mod backtrack;
mod btf_walk;
pub mod cfg;
mod check;
pub mod error;
pub mod helpers;
pub mod precision;
pub mod reg;
pub mod request;
pub mod resolve;
pub mod scalar;
pub mod stack;
pub mod state;
pub mod tnum;
mod vlog;

use std::sync::Arc;

use sockops_vm::opcode::{BPF_MEMSX, BPF_PROBE_MEM, BPF_PROBE_MEMSX, mode};
use sockops_vm::{HelperTable, Insn, MapDef, MapType, Program, VerifiedProgram};

pub use error::VerifyError;
pub use request::{StreamRequest, StreamResponse, map_defs, verify_request};

/// How to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Verify as a loader without CAP_PERFMON (`--strict`).
    pub strict: bool,
    /// The program's license is GPL-compatible (GPL-only helpers are callable).
    pub gpl_compatible: bool,
    /// `nr_cpu_ids`, the bound of `bpf_get_smp_processor_id`.
    pub nr_cpu_ids: u32,
    /// Refuse helpers the given `HelperTable` does not implement (as "unsupported").
    /// Off, the verifier judges only as the kernel would.
    pub require_runtime_helpers: bool,
    /// Kernel-style log (`Stats::log` on success, `VerifyError::log` on rejection): 0 none
    /// (the default; nothing is formatted), 1 every processed instruction in the kernel's
    /// syntax, the state where each path starts and after each conditional jump, and the
    /// closing `processed N insns ...` line; 2 also the registers each instruction touched.
    pub log_level: u32,
    /// The processed-instruction limit: the kernel's `BPF_COMPLEXITY_LIMIT_INSNS`
    /// (1,000,000) by default. A lower limit only rejects more programs ("BPF program is too
    /// large"); fuzzers use one to bound the time a state-heavy input may take.
    pub insn_limit: u64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            strict: false,
            gpl_compatible: true,
            nr_cpu_ids: 1,
            require_runtime_helpers: true,
            log_level: 0,
            insn_limit: check::INSN_LIMIT,
        }
    }
}

/// Statistics of a verification (the kernel's "processed N insns ..." line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed over all paths.
    pub insns_processed: u64,
    /// States stored for pruning.
    pub total_states: u64,
    /// Most states alive at once.
    pub peak_states: u64,
    /// Stack depth per subprogram, in bytes.
    pub stack_depth: Vec<i32>,
    /// The kernel-style log when `VerifyOptions::log_level` > 0, else empty.
    pub log: String,
    /// The loads that read untrusted kernel memory (through `rdonly_untrusted_mem` or a
    /// pointer read out of a union): the kernel runs them as faulting loads
    /// (`BPF_PROBE_MEM`), and so does the verified program (`Instruction::ProbeLoad`),
    /// which reads the blank kernel structs and gives 0 for any other address.
    pub faulting_loads: Vec<usize>,
}

/// A program the verifier accepted. Only `verify` creates one; the engines take it as proof
/// through [`Verified::verified_program`] (the vm's `VerifiedProgram`, which the JIT compiles).
#[derive(Debug, Clone)]
pub struct Verified {
    program: VerifiedProgram,
    stats: Stats,
}

impl Verified {
    /// The verified program.
    pub fn program(&self) -> &Program {
        self.program.program()
    }

    /// The proof the engines accept: the program, shared immutably, and its subprograms.
    pub fn verified_program(&self) -> &VerifiedProgram {
        &self.program
    }

    /// Verification statistics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Start slot of every subprogram (0 first).
    pub fn subprog_starts(&self) -> &[usize] {
        self.program.subprog_starts()
    }

    /// Gives the proof back, without the statistics.
    pub fn into_verified_program(self) -> VerifiedProgram {
        self.program
    }

    /// Gives the program back (a copy if the program is shared).
    pub fn into_program(self) -> Program {
        let shared = self.program.program_arc().clone();
        drop(self.program);
        Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone())
    }
}

/// True for the license strings the kernel treats as GPL-compatible (`license_is_gpl_compatible`).
pub fn license_is_gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual BSD/GPL"
            | "Dual MIT/GPL"
            | "Dual MPL/GPL"
    )
}

/// Verifies raw slots against map definitions (LD_IMM64 src 1/2 imm = index into `maps`).
pub fn verify_insns(
    insns: &[Insn],
    maps: &[MapDef],
    helpers: &HelperTable,
    opts: &VerifyOptions,
) -> Result<Stats, VerifyError> {
    verify_inner(insns, maps, &[], helpers, opts).map(|(s, _)| s)
}

/// `frozen_values`: per map, the value of a frozen `BPF_F_RDONLY_PROG` array (empty when
/// only definitions are known, as for `verify_insns`: nothing is frozen then).
fn verify_inner(
    insns: &[Insn],
    maps: &[MapDef],
    frozen_values: &[Option<Vec<u8>>],
    helpers: &HelperTable,
    opts: &VerifyOptions,
) -> Result<(Stats, Vec<usize>), VerifyError> {
    let fail = |r: error::Reject, log: String| VerifyError {
        pc: r.pc,
        message: r.msg.clone(),
        log: format!("{log}{}\n", r.msg),
        unsupported: r.unsupported,
    };
    if insns.is_empty() {
        return Err(VerifyError {
            pc: 0,
            message: String::new(),
            log: String::new(),
            unsupported: false,
        });
    }
    if insns.len() > 1_000_000 {
        return Err(VerifyError {
            pc: 0,
            message: String::new(),
            log: String::new(),
            unsupported: false,
        });
    }
    // The structural passes run before any instruction is processed.
    let early = |r: error::Reject| {
        let mut e = fail(r, String::new());
        if opts.log_level > 0 {
            e.log.push_str(&format!(
                "processed 0 insns (limit {}) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n",
                check::INSN_LIMIT
            ));
        }
        e
    };
    let starts = cfg::check_subprogs(insns).map_err(early)?;
    resolve::resolve(insns, maps).map_err(early)?;
    let cfg = cfg::check_cfg(insns, starts).map_err(early)?;
    let mut env = check::Env::new(insns, maps, frozen_values, helpers, opts, &cfg);
    match env.run() {
        Ok(_) if env.probe_load.is_some() => {
            let (pc, message) = env.probe_load.take().unwrap_or_default();
            let log = std::mem::take(&mut env.log);
            Err(VerifyError {
                pc,
                log: format!("{log}{message}\n"),
                message,
                unsupported: true,
            })
        }
        Ok(mut stats) => match env.faulting_loads() {
            Ok(faulting) => {
                stats.faulting_loads = faulting;
                Ok((stats, cfg.subprog_starts.clone()))
            }
            Err(pc) => {
                let message = format!(
                    "insn {pc} loads through untrusted kernel memory (a faulting load) on one path and through other memory on another: not supported by this runtime"
                );
                let log = std::mem::take(&mut env.log);
                Err(VerifyError {
                    pc,
                    log: format!("{log}{message}\n"),
                    message,
                    unsupported: true,
                })
            }
        },
        Err(r) => {
            let log = std::mem::take(&mut env.log);
            if r.glued {
                let stats = env.stats_line();
                let message = format!("{}{stats}", r.msg);
                return Err(VerifyError {
                    pc: r.pc,
                    log: format!("{log}{message}\n"),
                    message,
                    unsupported: r.unsupported,
                });
            }
            let mut e = fail(r, log);
            if opts.log_level > 0 {
                e.log.push_str(&env.stats_line());
                e.log.push('\n');
            }
            Err(e)
        }
    }
}

/// Verifies a program: the maps it references come from `program.maps`, GPL-only helpers
/// need a GPL-compatible `program.license` (an empty license counts as GPL, as for raw
/// programs). Returns the `Verified` program (holding a copy) or the kernel's first error.
pub fn verify(
    program: &Program,
    helpers: &HelperTable,
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    verify_shared(&Arc::new(program.clone()), helpers, opts)
}

/// `verify` for a program already shared: the `Verified` result holds the same `Arc`, or a
/// copy whose loads through untrusted kernel memory are faulting loads
/// (`Stats::faulting_loads`).
pub fn verify_shared(
    program: &Arc<Program>,
    helpers: &HelperTable,
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    let maps: Vec<MapDef> = program.maps.iter().map(|m| *m.def()).collect();
    // As `bpf_map_is_rdonly`: read-only for programs and frozen, so nothing can ever change
    // the value (user space may not write a frozen map, programs not a BPF_F_RDONLY_PROG one).
    let frozen_values: Vec<Option<Vec<u8>>> = program
        .maps
        .iter()
        .map(|m| {
            (m.is_frozen() && m.is_read_only_for_programs() && m.map_type() == MapType::Array)
                .then(|| m.lookup(&0u32.to_le_bytes()).ok())
                .flatten()
        })
        .collect();
    let mut o = opts.clone();
    if !program.license.is_empty() {
        o.gpl_compatible = license_is_gpl_compatible(&program.license);
    }
    let (stats, subprog_starts) = verify_inner(&program.insns, &maps, &frozen_values, helpers, &o)?;
    // As the kernel's `convert_ctx_accesses`: loads through untrusted kernel memory become
    // faulting loads (`BPF_PROBE_MEM`, `BPF_PROBE_MEMSX`), in a copy of the program.
    let program = if stats.faulting_loads.is_empty() {
        program.clone()
    } else {
        let mut rewritten = Program::clone(program);
        for &pc in &stats.faulting_loads {
            if let Some(insn) = rewritten.insns.get_mut(pc) {
                let probe = if mode(insn.opcode) == BPF_MEMSX {
                    BPF_PROBE_MEMSX
                } else {
                    BPF_PROBE_MEM
                };
                insn.opcode = (insn.opcode & !mode(0xff)) | probe;
            }
        }
        Arc::new(rewritten)
    };
    // SAFETY: `verify_inner` accepted exactly these instructions against these maps: every
    // path was explored with memory accesses, jumps, calls and helper arguments checked by
    // the kernel's rules; `subprog_starts` comes from the same pass. The only change, loads
    // made faulting loads, narrows what they may read to the blank structs. The program is
    // behind an `Arc` nobody can mutate through.
    let program = unsafe { VerifiedProgram::new_unchecked(program, subprog_starts) };
    Ok(Verified { program, stats })
}
