//! The JIT's checked-memory mode (`JitOptions::checked_memory`, `JitProgram::compile_checked`):
//! every wild access a program can make — through a pointer read from the context, past either
//! end of the context, below the stack, through an overwritten r10, by every access kind and
//! size, in a local function, after helper calls — ends the run with exactly the interpreter's
//! error (`ExecErrorKind::Memory` with the same address, length and access, at the same
//! instruction), never a signal; and accesses inside the regions (context, stack through copied
//! pointers, map values helpers return, read-only regions) behave as on the interpreter. The
//! differential tests of the other `jit_*` files run every program in checked mode too.

mod jit_support;

use jit_support::test_helpers;
use sockops::jit::{JitOptions, JitProgram};
use sockops_vm::{
    Access, ExecError, ExecErrorKind, GuestRegion, Interpreter, MemoryFault, Program, RegionKind,
    RunOptions, assemble,
};

fn program(text: &str) -> Program {
    let insns = assemble(text).unwrap_or_else(|e| panic!("bad test program: {e}\n{text}"));
    Program::from_insns("checked", insns)
}

/// Runs `text` on the interpreter and on the checked JIT (compiled without verification:
/// checked memory makes that safe) with plain and blinded constants, each time on the same
/// context buffer filled with `ctx`, so that context addresses are equal. Both must agree on
/// everything (for a memory fault below the stack, whose address differs between the two
/// engines' stacks, on everything but the address); returns the interpreter's result.
fn agree(text: &str, ctx: &[u8]) -> Result<u64, ExecError> {
    let helpers = test_helpers();
    let mut buffer = ctx.to_vec();
    let mut recorder = jit_support::Recorder::default();
    let interp = Interpreter::new(&program(text), &helpers)
        .and_then(|mut vm| {
            let options = RunOptions {
                instruction_budget: Some(100_000),
            };
            vm.run(&mut buffer, &mut recorder, &options)
        })
        .map(|r| r.r0);
    let interp_ctx = buffer.clone();
    for constant_blinding in [false, true] {
        let options = JitOptions {
            constant_blinding,
            ..JitOptions::default()
        };
        let jit = JitProgram::compile_checked(&program(text), &helpers, &options)
            .unwrap_or_else(|e| panic!("compile failed: {e}\n{text}"));
        buffer.copy_from_slice(ctx);
        let mut jit_recorder = jit_support::Recorder::default();
        let result = jit.run(&mut buffer, &mut jit_recorder);
        let same = match (&interp, &result) {
            (Err(a), Err(b)) => match (&a.kind, &b.kind) {
                (ExecErrorKind::Memory(fa), ExecErrorKind::Memory(fb))
                    if !in_context(fa.addr, &buffer) =>
                {
                    a.pc == b.pc && fa.len == fb.len && fa.access == fb.access
                }
                _ => a == b,
            },
            _ => interp == result,
        };
        assert!(
            same,
            "results differ (blinding {constant_blinding}) on\n{text}\ninterpreter {interp:?}\nJIT {result:?}"
        );
        assert_eq!(buffer, interp_ctx, "context differs on\n{text}");
        assert_eq!(
            recorder.calls, jit_recorder.calls,
            "helper calls differ on\n{text}"
        );
    }
    interp
}

/// Whether `addr` is within a few KiB of the context buffer (a fault relative to it).
fn in_context(addr: u64, ctx: &[u8]) -> bool {
    let start = ctx.as_ptr() as u64;
    addr.wrapping_sub(start).wrapping_add(4096) < ctx.len() as u64 + 8192
}

/// `agree`, and the result is the memory fault of `len` bytes at slot `pc` (at `addr` if
/// given; context and stack addresses differ from run to run).
fn faults(text: &str, ctx: &[u8], pc: usize, addr: Option<u64>, len: u64, write: bool) {
    let result = agree(text, ctx);
    let Err(ExecError {
        pc: got_pc,
        kind: ExecErrorKind::Memory(fault),
    }) = result
    else {
        panic!("expected a memory fault, got {result:?}\n{text}");
    };
    assert_eq!(got_pc, pc, "{text}");
    assert_eq!(fault.len, len, "{text}");
    let access = if write { Access::Write } else { Access::Read };
    assert_eq!(fault.access, access, "{text}");
    if let Some(expected) = addr {
        assert_eq!(fault.addr, expected, "{text}");
    }
}

const CTX: [u8; 16] = [0x41, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

#[test]
fn a_pointer_a_peer_chose_faults_instead_of_crashing() {
    // Katran's pattern with the verifier fooled: 8 bytes of the context (a peer's option
    // bytes) used as a pointer. Unchecked machine code would read address 0x41.
    let text = "ldxdw %r2, [%r1]\nldxb %r0, [%r2]\nexit";
    faults(text, &CTX, 1, Some(0x41), 1, false);
    let text = "ldxdw %r2, [%r1]\nstb [%r2+3], 9\nexit";
    faults(text, &CTX, 1, Some(0x44), 1, true);
}

#[test]
fn every_access_kind_and_size_past_either_end_of_the_context_faults() {
    let n = CTX.len() as i64;
    for (size, bytes) in [("b", 1i64), ("h", 2), ("w", 4), ("dw", 8)] {
        // Straddling the end by one byte, and one byte before the start.
        for off in [n - bytes + 1, -1] {
            let load = format!("ldx{size} %r0, [%r1{off:+}]\nexit");
            faults(&load, &CTX, 0, None, bytes as u64, false);
            let store = format!("st{size} [%r1{off:+}], 7\nexit");
            faults(&store, &CTX, 0, None, bytes as u64, true);
            let store_reg = format!("mov %r2, 7\nstx{size} [%r1{off:+}], %r2\nexit");
            faults(&store_reg, &CTX, 1, None, bytes as u64, true);
            let acquire = format!("ldacq{size} %r0, [%r1{off:+}]\nexit");
            faults(&acquire, &CTX, 0, None, bytes as u64, false);
            let release = format!("mov %r2, 7\nstrel{size} [%r1{off:+}], %r2\nexit");
            faults(&release, &CTX, 1, None, bytes as u64, true);
            let signed = format!("ldxs{size} %r0, [%r1{off:+}]\nexit");
            if bytes < 8 {
                faults(&signed, &CTX, 0, None, bytes as u64, false);
            }
        }
        // The last bytes that fit are fine.
        let last = n - bytes;
        agree(&format!("ldx{size} %r0, [%r1{last:+}]\nexit"), &CTX).unwrap();
        agree(&format!("st{size} [%r1{last:+}], 7\nexit"), &CTX).unwrap();
    }
    for (op, width) in [
        ("add", "dw"),
        ("add", "w"),
        ("xchg", "dw"),
        ("cmpxchg", "w"),
    ] {
        for fetch in ["", "fetch_"] {
            if fetch == "fetch_" && op != "add" {
                continue;
            }
            let text = format!(
                "mov %r2, 1\nlock {fetch}{op}{width} [%r1+{}], %r2\nexit",
                CTX.len()
            );
            let bytes = if width == "dw" { 8 } else { 4 };
            if assemble(&text).is_ok() {
                faults(&text, &CTX, 1, None, bytes, true);
            }
        }
    }
}

#[test]
fn below_the_stack_and_through_an_overwritten_r10_faults() {
    // A copy of r10 taken below every frame of the block.
    let text = "mov %r2, %r10\nldxdw %r0, [%r2-4104]\nexit";
    faults(text, &[], 1, None, 8, false);
    // r10 overwritten (only an unverified program can): [r10 - 8] is no longer the frame.
    let text = "mov %r10, 4096\nstdw [%r10-8], 1\nexit";
    faults(text, &[], 1, Some(4088), 8, true);
    // No context at all: r1 is 0.
    let text = "ldxw %r0, [%r1+4]\nexit";
    faults(text, &[], 0, Some(4), 4, false);
}

#[test]
fn faults_in_local_functions_and_after_helper_calls_name_their_instruction() {
    // The fault is in a subprogram, after a helper call through the trampoline and checked
    // accesses through pointers (r1 must survive the out-of-line check of `[r1]`).
    let text = "mov %r6, %r1
        ldxdw %r2, [%r6+8]
        stxdw [%r10-8], %r2
        mov %r1, %r10
        add %r1, -8
        call local sub
        exit
        sub:
        ldxw %r0, [%r1]
        mov %r7, %r1
        call 100
        ldxw %r0, [%r7]
        ldxdw %r0, [%r7+600]
        exit";
    faults(text, &CTX, 11, None, 8, false);
}

#[test]
fn stack_buffers_through_copied_pointers_and_map_values_work() {
    // A loop over a stack buffer through a copied pointer (the stack window, out of line).
    let text = "mov %r2, %r10
        add %r2, -64
        mov %r3, 0
        loop:
        stxb [%r2], %r3
        add %r2, 1
        add %r3, 1
        jlt %r3, 64, loop
        ldxdw %r0, [%r10-8]
        exit";
    let r0 = agree(text, &[]).unwrap();
    assert_eq!(r0, u64::from_le_bytes([56, 57, 58, 59, 60, 61, 62, 63]));
}

#[test]
fn read_only_regions_are_readable_and_not_writable() {
    let helpers = test_helpers();
    let packet = [5u8; 32];
    let addr = packet.as_ptr() as u64;
    // r1 is the context; the packet's address is given in the context's first 8 bytes.
    let mut ctx = addr.to_le_bytes().to_vec();
    let read = program("ldxdw %r2, [%r1]\nldxb %r0, [%r2+31]\nexit");
    let write = program("ldxdw %r2, [%r1]\nstb [%r2+31], 1\nexit");
    let jit_read = JitProgram::compile_checked(&read, &helpers, &JitOptions::default()).unwrap();
    let jit_write = JitProgram::compile_checked(&write, &helpers, &JitOptions::default()).unwrap();
    let regions = [GuestRegion::read_only(&packet, RegionKind::Packet)];
    assert_eq!(
        jit_read.run_with_regions(&mut ctx, &regions, &mut ()),
        Ok(5)
    );
    let fault = jit_write
        .run_with_regions(&mut ctx, &regions, &mut ())
        .unwrap_err();
    assert_eq!(
        fault,
        ExecError::new(
            1,
            ExecErrorKind::Memory(MemoryFault {
                addr: addr + 31,
                len: 1,
                access: Access::Write,
            })
        )
    );
    // The out-of-line check that calls the trampoline keeps r0-r5.
    let keeps = program(
        "ldxdw %r2, [%r1]\nmov %r0, 1\nmov %r3, 30\nmov %r4, 400\nmov %r5, 5000\n\
         ldxb %r6, [%r2+7]\nadd %r0, %r3\nadd %r0, %r4\nadd %r0, %r5\nadd %r0, %r6\n\
         sub %r2, %r1\nadd %r0, %r2\nexit",
    );
    let jit_keeps = JitProgram::compile_checked(&keeps, &helpers, &JitOptions::default()).unwrap();
    let ctx_addr = ctx.as_ptr() as u64;
    assert_eq!(
        jit_keeps.run_with_regions(&mut ctx, &regions, &mut ()),
        Ok((1 + 30 + 400 + 5000 + 5u64).wrapping_add(addr.wrapping_sub(ctx_addr)))
    );
    // The interpreter says the same.
    let mut vm = Interpreter::new(&write, &helpers).unwrap();
    let interp = vm.run_with_regions(&mut ctx, &regions, &mut (), &RunOptions::default());
    assert_eq!(interp.map(|r| r.r0), Err(fault));
}
