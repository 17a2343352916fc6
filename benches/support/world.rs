//! The realistic sock_ops case of the ratio table: a program that calls `bpf_setsockopt`
//! three times on `TCP_CONNECT_CB` (TCP_NODELAY, SO_SNDBUF, SO_RCVBUF), run with the
//! runtime's helper table on a synthetic socket, against the same logic in Rust: the same
//! registered `bpf_setsockopt` helper called three times directly, with the same arguments
//! and the option values in the same kind of guest memory. Both sides log their helper
//! calls into the environment, which is reset before every call, so every call does the same
//! work.

use std::hint::black_box;

use sockops::ctx::{OpInput, SockOp, SockOpsEnv, Socket};
use sockops::jit::{JitOptions, JitProgram};
use sockops::runtime::runtime_helper_table;
use sockops::vm::{
    GuestRegion, HelperEnv, Interpreter, Memory, Program, Region, RegionKind, RunOptions, assemble,
};

/// `bpf_setsockopt`'s helper id.
const SETSOCKOPT: u32 = 49;
/// (level, optname, value) of the three calls.
const OPTIONS: [(u64, u64, i32); 3] = [(6, 1, 1), (1, 7, 262_144), (1, 8, 262_144)];

/// The program: r6 = ctx; the three values on the stack; three calls; r0 = the sum of the
/// results (0 when all succeed).
fn program_text() -> String {
    let mut t = String::from("mov %r6, %r1\nmov %r7, 0\n");
    for (i, (level, name, value)) in OPTIONS.iter().enumerate() {
        let off = -4 * (i as i32 + 1);
        t.push_str(&format!(
            "stw [%r10{off}], {value}\nmov %r1, %r6\nmov %r2, {level}\nmov %r3, {name}\n\
             mov %r4, %r10\nadd %r4, {off}\nmov %r5, 4\ncall {SETSOCKOPT}\nadd %r7, %r0\n"
        ));
    }
    t.push_str("mov %r0, %r7\nexit\n");
    t
}

/// A socket in the state `TCP_CONNECT_CB` sees, and its environment.
fn environment() -> SockOpsEnv {
    let socket = Socket::new(
        "10.0.0.1:40000".parse().expect("address"),
        "10.0.0.7:443".parse().expect("address"),
    );
    SockOpsEnv::new(socket, OpInput::new(SockOp::TcpConnectCb))
}

/// The context region and the other regions of `env`.
fn regions(env: &SockOpsEnv) -> (Region, Vec<Region>) {
    let mut memory = Memory::new();
    // SAFETY: `memory` only collects the regions; they are used while `env` lives.
    unsafe { env.add_regions(&mut memory) };
    let all = memory.regions().to_vec();
    let ctx = *all
        .iter()
        .find(|r| r.kind == RegionKind::Context)
        .expect("a context region");
    let others = all
        .into_iter()
        .filter(|r| r.kind != RegionKind::Context)
        .collect();
    (ctx, others)
}

/// The case on every engine: `run(engine)` runs one call and returns r0 (engine 0 native
/// Rust, 1 the JIT, 2 the interpreter, 3 the JIT with checked memory).
pub struct WorldCase {
    env: Box<SockOpsEnv>,
    ctx: Region,
    others: Vec<Region>,
    jit: JitProgram,
    checked: JitProgram,
    interp: Interpreter,
    setsockopt: sockops::vm::HelperFn,
}

impl WorldCase {
    /// Compiles the program for both engines and prepares the environment.
    pub fn new() -> WorldCase {
        let table = runtime_helper_table();
        let insns = assemble(&program_text()).expect("the program assembles");
        let program = Program::from_insns("setsockopt3", insns);
        // SAFETY: the program touches only its context and stack, in bounds, and calls
        // bpf_setsockopt with a 4-byte stack buffer.
        let jit =
            unsafe { JitProgram::compile_unverified(&program, &table, &JitOptions::default()) }
                .expect("compiles");
        let checked = JitProgram::compile_checked(&program, &table, &JitOptions::default())
            .expect("compiles checked");
        let interp = Interpreter::new(&program, &table).expect("decodes");
        let env = Box::new(environment());
        let (ctx, others) = regions(&env);
        let setsockopt = table.get(SETSOCKOPT).expect("bpf_setsockopt").func;
        WorldCase {
            env,
            ctx,
            others,
            jit,
            checked,
            interp,
            setsockopt,
        }
    }

    /// One call on `engine` (0 native, 1 JIT, 2 interpreter, 3 checked JIT); returns r0.
    #[inline(always)]
    pub fn run(&mut self, engine: usize) -> u64 {
        self.env.calls.clear();
        match engine {
            0 => self.native(),
            // SAFETY: the regions point into `self.env`, alive and only accessed through
            // raw pointers during the run.
            1 => unsafe {
                self.jit
                    .run_raw(Some(self.ctx), &self.others, &mut *self.env)
            }
            .expect("jit runs"),
            // SAFETY: as for the JIT.
            3 => unsafe {
                self.checked
                    .run_raw(Some(self.ctx), &self.others, &mut *self.env)
            }
            .expect("checked jit runs"),
            _ => {
                unsafe {
                    self.interp.run_raw(
                        Some(self.ctx),
                        &self.others,
                        &mut *self.env,
                        &RunOptions::default(),
                    )
                }
                .expect("interpreter runs")
                .r0
            }
        }
    }

    /// The same three helper calls from Rust, with the values in guest memory.
    #[inline(never)]
    fn native(&mut self) -> u64 {
        let mut values = [0u8; 12];
        for (i, (_, _, v)) in OPTIONS.iter().enumerate() {
            values[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        let values_region = GuestRegion::read_only(&values, RegionKind::Stack).region();
        let mut memory = Memory::new();
        // SAFETY: the regions point into `self.env` and `values`, both alive for this call
        // and only accessed through raw pointers by the helper.
        unsafe {
            memory.add(self.ctx);
            for r in &self.others {
                memory.add(*r);
            }
            memory.add(values_region);
        }
        let mut env = HelperEnv {
            memory: &mut memory,
            maps: &[],
            payload: &mut *self.env,
            tail_call: None,
        };
        let mut sum = 0u64;
        for (i, (level, name, _)) in OPTIONS.iter().enumerate() {
            let optval = values_region.start + 4 * i as u64;
            let args = [self.ctx.start, *level, *name, optval, 4];
            let r = (self.setsockopt)(&mut env, black_box(args)).expect("setsockopt");
            sum = sum.wrapping_add(r);
        }
        sum
    }
}
