//! Interpreter tests of loads, stores and atomics, and of the checked memory model: context
//! and stack regions, extra regions lent by the caller, read-only regions, out-of-bounds and
//! overflowing addresses (typed errors naming pc and address, never a panic).

mod interp_support;

use interp_support::*;
use sockops_vm::Insn;
use sockops_vm::opcode::*;
use sockops_vm::{
    Access, ExecErrorKind, GuestRegion, HelperTable, MemoryFault, RegionKind, RunOptions,
};

#[test]
fn loads_of_every_size_are_little_endian_and_zero_extended() {
    let mut mem = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99];
    let load =
        |bytes, off, mem: &mut [u8]| run_mem(&[ldx(bytes, R0, R1, off), exit()], mem).unwrap().r0;
    assert_eq!(load(1, 8, &mut mem), 0x99);
    assert_eq!(load(2, 1, &mut mem), 0x3322);
    assert_eq!(load(4, 2, &mut mem), 0x6655_4433);
    assert_eq!(load(8, 1, &mut mem), 0x9988_7766_5544_3322);
}

#[test]
fn sign_extending_loads() {
    let mut mem = [0x80, 0x80, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x80];
    let load = |bytes, off, mem: &mut [u8]| {
        run_mem(&[ldxs(bytes, R0, R1, off), exit()], mem)
            .unwrap()
            .r0
    };
    assert_eq!(load(1, 0, &mut mem), 0xffff_ffff_ffff_ff80);
    assert_eq!(load(1, 4, &mut mem), 0x7f);
    assert_eq!(load(2, 0, &mut mem), 0xffff_ffff_ffff_8080);
    assert_eq!(load(2, 4, &mut mem), 0x007f);
    assert_eq!(load(4, 0, &mut mem), 0xffff_ffff_ffff_8080);
    assert_eq!(load(4, 4, &mut mem), 0xffff_ffff_8000_007f);
}

#[test]
fn stores_write_the_low_bytes() {
    let mut mem = [0u8; 16];
    let p = prog(&[
        &lddw(R2, 0x1122_3344_5566_7788),
        &[
            stx(1, R1, 0, R2),
            stx(2, R1, 1, R2),
            stx(4, R1, 3, R2),
            stx(8, R1, 8, R2),
            mov64(R0, 0),
            exit(),
        ],
    ]);
    run_mem(&p, &mut mem).unwrap();
    assert_eq!(
        mem,
        [
            0x88, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
            0x11
        ]
    );
}

#[test]
fn store_immediate_sign_extends_for_dw() {
    let mut mem = [0u8; 16];
    let p = [
        st(8, R1, 0, -2),
        st(4, R1, 8, -2),
        st(2, R1, 12, 0x1234),
        st(1, R1, 14, 0x56),
        exit(),
    ];
    run_mem(&p, &mut mem).unwrap();
    assert_eq!(
        mem,
        [
            0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0x34, 0x12,
            0x56, 0
        ]
    );
}

#[test]
fn context_pointer_and_length_in_r1_r2() {
    let mut mem = [0u8; 24];
    let addr = mem.as_ptr() as u64;
    assert_eq!(
        run_mem(&[mov64_reg(R0, R1), exit()], &mut mem).unwrap().r0,
        addr
    );
    assert_eq!(
        run_mem(&[mov64_reg(R0, R2), exit()], &mut mem).unwrap().r0,
        24
    );
    // No context: r1 = 0 and r2 = 0.
    assert_eq!(r0(&[mov64_reg(R0, R1), exit()]), 0);
    assert_eq!(r0(&[mov64_reg(R0, R2), exit()]), 0);
}

#[test]
fn stack_is_512_bytes_below_r10_and_zeroed() {
    // Store at the lowest and highest stack bytes of the frame, read them back.
    let p = [
        st(8, R10, -512, 7),
        st(8, R10, -8, 5),
        ldx(8, R0, R10, -512),
        ldx(8, R1, R10, -8),
        alu64_reg(BPF_ADD, R0, R1),
        exit(),
    ];
    assert_eq!(r0(&p), 12);
    // A second run of the same interpreter sees a zeroed stack.
    let mut vm = interp(
        &[ldx(8, R0, R10, -8), st(8, R10, -8, 9), exit()],
        &HelperTable::new(),
    );
    assert_eq!(vm.run_plain(&mut []).unwrap().r0, 0);
    assert_eq!(vm.run_plain(&mut []).unwrap().r0, 0);
    // Also the deepest frame's bytes, which the entry frame can reach (8 x 512 bytes).
    let mut vm = interp(
        &[ldx(8, R0, R10, -4096), st(8, R10, -4096, 9), exit()],
        &HelperTable::new(),
    );
    assert_eq!(vm.run_plain(&mut []).unwrap().r0, 0);
    assert_eq!(vm.run_plain(&mut []).unwrap().r0, 0);
}

#[test]
fn access_above_the_stack_top_faults() {
    let e = err(&[ldx(8, R0, R10, 0), exit()]);
    assert_eq!(e.pc, 0);
    match e.kind {
        ExecErrorKind::Memory(MemoryFault { len, access, .. }) => {
            assert_eq!((len, access), (8, Access::Read));
        }
        other => panic!("expected a memory fault, got {other:?}"),
    }
    // Straddling the top: [r10-4, r10+4).
    assert!(matches!(
        err(&[ldx(8, R0, R10, -4), exit()]).kind,
        ExecErrorKind::Memory(_)
    ));
}

#[test]
fn access_below_the_whole_stack_faults() {
    // The stack buffer holds 8 frames of 512 bytes; below that nothing is mapped.
    let p = [
        mov64_reg(R1, R10),
        alu64_imm(BPF_SUB, R1, 8 * 512),
        st(1, R1, -1, 1),
        exit(),
    ];
    let e = err(&p);
    assert_eq!(e.pc, 2);
    assert!(matches!(
        e.kind,
        ExecErrorKind::Memory(MemoryFault {
            access: Access::Write,
            len: 1,
            ..
        })
    ));
}

#[test]
fn null_and_out_of_bounds_context_accesses_fault_with_pc_and_address() {
    // No context: r1 = 0.
    let e = err(&[mov64(R0, 0), ldx(4, R0, R1, 16), exit()]);
    assert_eq!(e.pc, 1);
    assert_eq!(
        e.kind,
        ExecErrorKind::Memory(MemoryFault {
            addr: 16,
            len: 4,
            access: Access::Read
        })
    );
    let msg = e.to_string();
    assert!(msg.contains("insn 1") && msg.contains("0x10"), "{msg}");

    let mut mem = [0u8; 8];
    let start = mem.as_ptr() as u64;
    let e = run_mem(&[ldx(2, R0, R1, 7), exit()], &mut mem).unwrap_err();
    assert_eq!(
        e.kind,
        ExecErrorKind::Memory(MemoryFault {
            addr: start + 7,
            len: 2,
            access: Access::Read
        })
    );
    let e = run_mem(&[st(1, R1, -1, 0), exit()], &mut mem).unwrap_err();
    assert!(matches!(e.kind, ExecErrorKind::Memory(_)));
}

#[test]
fn address_overflow_faults_instead_of_wrapping() {
    let p = prog(&[&lddw(R1, u64::MAX - 2), &[ldx(8, R0, R1, 0), exit()]]);
    let e = err(&p);
    assert_eq!(e.pc, 2);
    assert!(matches!(e.kind, ExecErrorKind::Memory(_)));
    // base + offset wraps around zero.
    let p = prog(&[&lddw(R1, u64::MAX), &[ldx(1, R0, R1, 2), exit()]]);
    assert!(matches!(err(&p).kind, ExecErrorKind::Memory(_)));
}

#[test]
fn extra_regions_are_readable_and_read_only_ones_reject_writes() {
    let packet = [0xab, 0xcd, 0xef, 0x01];
    let mut writable = [0u8; 4];
    let helpers = HelperTable::new();
    let packet_addr = packet.as_ptr() as u64;
    let out_addr = writable.as_mut_ptr() as u64;
    // r2 = packet, r3 = writable scratch: copy packet[0..4] there, return packet[1] (u16).
    let p = prog(&[
        &lddw(R2, packet_addr),
        &lddw(R3, out_addr),
        &[
            ldx(4, R4, R2, 0),
            stx(4, R3, 0, R4),
            ldx(2, R0, R2, 1),
            exit(),
        ],
    ]);
    let mut vm = interp(&p, &helpers);
    let regions = [
        GuestRegion::read_only(&packet, RegionKind::Packet),
        GuestRegion::writable(&mut writable, RegionKind::Other),
    ];
    let r = vm
        .run_with_regions(&mut [], &regions, &mut (), &RunOptions::default())
        .unwrap();
    assert_eq!(r.r0, 0xefcd);
    assert_eq!(writable, packet);

    // Writing the read-only packet faults.
    let p = prog(&[&lddw(R2, packet_addr), &[st(1, R2, 0, 0), exit()]]);
    let mut vm = interp(&p, &helpers);
    let regions = [GuestRegion::read_only(&packet, RegionKind::Packet)];
    let e = vm
        .run_with_regions(&mut [], &regions, &mut (), &RunOptions::default())
        .unwrap_err();
    assert_eq!(
        (e.pc, e.kind),
        (
            2,
            ExecErrorKind::Memory(MemoryFault {
                addr: packet_addr,
                len: 1,
                access: Access::Write
            })
        )
    );
    assert_eq!(packet, [0xab, 0xcd, 0xef, 0x01]);
}

/// Runs `op` (an atomic on [r10-8] with operand r1) with the stack slot initialised to
/// `mem`, r1 = `operand`, r0 = `r0_in`; returns (slot after, r0 after, r1 after).
fn atomic_case(bytes: usize, imm: i32, mem: u64, operand: u64, r0_in: u64) -> (u64, u64, u64) {
    let p = prog(&[
        &lddw(R2, mem),
        &[stx(8, R10, -8, R2)],
        &lddw(R1, operand),
        &lddw(R0, r0_in),
        &[
            atomic(bytes, imm, R10, -8, R1),
            // Save the slot, r0 and r1 to the context (r9).
            ldx(8, R6, R10, -8),
            stx(8, R9, 0, R6),
            stx(8, R9, 8, R0),
            stx(8, R9, 16, R1),
            exit(),
        ],
    ]);
    let mut out = [0u8; 24];
    // r9 = ctx pointer: prepend a move from r1 before r1 is overwritten.
    let mut full = vec![mov64_reg(R9, R1)];
    full.extend(p);
    run_mem(&full, &mut out).unwrap();
    let word = |i: usize| u64::from_le_bytes(out[i * 8..i * 8 + 8].try_into().unwrap());
    (word(0), word(1), word(2))
}

#[test]
fn atomic_64_without_fetch_leaves_the_operand() {
    let add = BPF_ADD as i32;
    assert_eq!(atomic_case(8, add, 10, 5, 99), (15, 99, 5));
    assert_eq!(
        atomic_case(8, BPF_OR as i32, 0xf0, 0x0f, 99),
        (0xff, 99, 0x0f)
    );
    assert_eq!(
        atomic_case(8, BPF_AND as i32, 0xf0, 0x3c, 99),
        (0x30, 99, 0x3c)
    );
    assert_eq!(
        atomic_case(8, BPF_XOR as i32, 0xf0, 0x3c, 99),
        (0xcc, 99, 0x3c)
    );
    assert_eq!(atomic_case(8, add, u64::MAX, 2, 0), (1, 0, 2));
}

#[test]
fn atomic_64_with_fetch_returns_the_old_value() {
    let f = BPF_FETCH;
    assert_eq!(atomic_case(8, BPF_ADD as i32 | f, 10, 5, 99), (15, 99, 10));
    assert_eq!(
        atomic_case(8, BPF_OR as i32 | f, 0xf0, 0x0f, 99),
        (0xff, 99, 0xf0)
    );
    assert_eq!(
        atomic_case(8, BPF_AND as i32 | f, 0xf0, 0x3c, 99),
        (0x30, 99, 0xf0)
    );
    assert_eq!(
        atomic_case(8, BPF_XOR as i32 | f, 0xf0, 0x3c, 99),
        (0xcc, 99, 0xf0)
    );
    assert_eq!(
        atomic_case(8, BPF_XCHG, 0x1111, 0x2222, 99),
        (0x2222, 99, 0x1111)
    );
}

#[test]
fn atomic_32_touches_the_low_word_and_zero_extends_fetches() {
    let f = BPF_FETCH;
    let hi = 0xaaaa_aaaa_0000_0000u64;
    // add32: low word wraps, high word of the slot untouched.
    assert_eq!(
        atomic_case(4, BPF_ADD as i32, hi | 0xffff_ffff, 2, 7),
        (hi | 1, 7, 2)
    );
    assert_eq!(
        atomic_case(
            4,
            BPF_ADD as i32 | f,
            hi | 0xffff_fffe,
            0xffff_ffff_0000_0003,
            7
        ),
        (hi | 1, 7, 0xffff_fffe)
    );
    assert_eq!(
        atomic_case(4, BPF_OR as i32 | f, hi | 0x10, 0x01, 7),
        (hi | 0x11, 7, 0x10)
    );
    assert_eq!(
        atomic_case(4, BPF_AND as i32, hi | 0x1f, 0xffff_ffff_0000_0003, 7),
        (hi | 0x3, 7, 0xffff_ffff_0000_0003)
    );
    assert_eq!(
        atomic_case(4, BPF_XOR as i32 | f, hi | 0x0f, 0xff, 7),
        (hi | 0xf0, 7, 0x0f)
    );
    assert_eq!(
        atomic_case(4, BPF_XCHG, hi | 0x8000_0000, 0x1234_0000_0000_0005, 7),
        (hi | 5, 7, 0x8000_0000)
    );
}

#[test]
fn cmpxchg_both_outcomes_64_and_32() {
    // Equal: store src, r0 = old.
    assert_eq!(atomic_case(8, BPF_CMPXCHG, 10, 20, 10), (20, 10, 20));
    // Different: no store, r0 = old.
    assert_eq!(atomic_case(8, BPF_CMPXCHG, 10, 20, 11), (10, 10, 20));
    // 32-bit compares the low words (r0's upper half is ignored), r0 = old zero-extended.
    let hi = 0x5555_5555_0000_0000u64;
    assert_eq!(
        atomic_case(4, BPF_CMPXCHG, hi | 0xffff_fff0, 7, 0x9999_9999_ffff_fff0),
        (hi | 7, 0xffff_fff0, 7)
    );
    assert_eq!(
        atomic_case(4, BPF_CMPXCHG, hi | 0xffff_fff0, 7, 0xffff_fff1),
        (hi | 0xffff_fff0, 0xffff_fff0, 7)
    );
}

#[test]
fn misaligned_atomics_in_checked_mode_still_compute_the_right_value() {
    // Pick offsets so that the 8-byte atomic is at an address = 1 (mod 8) and the 4-byte one
    // at an address = 3 (mod 4): misaligned for both, whatever the buffer's alignment.
    let mut mem = [0u8; 32];
    let base = mem.as_ptr() as usize;
    let off8 = (1 + 8 - base % 8) % 8;
    let off4 = off8 + 10;
    mem[off8] = 40;
    mem[off4 + 1] = 0xff;
    let p = [
        mov64(R2, 2),
        atomic(8, BPF_ADD as i32 | BPF_FETCH, R1, off8 as i16, R2),
        mov64(R3, 1),
        atomic(4, BPF_ADD as i32, R1, off4 as i16, R3),
        mov64_reg(R0, R2),
        exit(),
    ];
    assert_eq!(run_mem(&p, &mut mem).unwrap().r0, 40);
    assert_eq!(mem[off8], 42);
    assert_eq!(&mem[off4..off4 + 4], &[1, 0xff, 0, 0]);
}

#[test]
fn atomics_out_of_bounds_and_on_read_only_memory_fault() {
    let e = err(&[mov64(R1, 1), atomic(8, BPF_ADD as i32, R10, 0, R1), exit()]);
    assert_eq!(e.pc, 1);
    assert!(matches!(
        e.kind,
        ExecErrorKind::Memory(MemoryFault {
            access: Access::Write,
            ..
        })
    ));
    let ro = [0u8; 8];
    let p = prog(&[
        &lddw(R2, ro.as_ptr() as u64),
        &[mov64(R1, 1), atomic(4, BPF_XCHG, R2, 0, R1), exit()],
    ]);
    let mut vm = interp(&p, &HelperTable::new());
    let regions = [GuestRegion::read_only(&ro, RegionKind::Other)];
    let e = vm
        .run_with_regions(&mut [], &regions, &mut (), &RunOptions::default())
        .unwrap_err();
    assert_eq!(e.pc, 3);
    assert!(matches!(e.kind, ExecErrorKind::Memory(_)));
}

/// A program that reads the stack doubleword at `[r10 + off]` into r0, then stores through
/// `write` (which must write that doubleword) and exits: run twice, the second run must still
/// read 0, whatever wrote the stack in the first.
fn reads_zero_after(write: &[Insn], off: i16, helpers: &HelperTable) {
    let code = prog(&[&[ldx(8, R0, R10, off)], write, &[exit()]]);
    let mut vm = interp(&code, helpers);
    for run in 0..3 {
        let r0 = vm.run_plain(&mut []).expect("runs").r0;
        assert_eq!(r0, 0, "run {run}: the stack at {off} was not cleared");
    }
}

/// Writes 8 bytes of 0xff at r1 through the checked memory (like `bpf_probe_read` would).
fn fill_ff(
    env: &mut sockops_vm::HelperEnv<'_>,
    a: [u64; 5],
) -> Result<u64, sockops_vm::HelperError> {
    env.memory.write_bytes(a[0], &[0xff; 8])?;
    Ok(0)
}

fn fill_table() -> HelperTable {
    let mut t = HelperTable::new();
    t.register(sockops_vm::Helper {
        id: 77,
        signature: sockops_vm::HelperSignature {
            name: "fill_ff",
            args: &[sockops_vm::ArgKind::Anything],
            ret: sockops_vm::RetKind::Integer,
            gpl_only: false,
        },
        func: fill_ff,
    });
    t
}

#[test]
fn only_written_stack_bytes_are_cleared_but_every_written_byte_is() {
    let none = HelperTable::new();
    // Direct stores of every size, at the top, the middle and the deepest frame.
    for off in [-8i16, -264, -512, -4096] {
        for bytes in [1usize, 2, 4, 8] {
            reads_zero_after(&[st(bytes, R10, off, -1)], off, &none);
            reads_zero_after(&[mov64(R3, -1), stx(bytes, R10, off, R3)], off, &none);
        }
    }
    // An atomic (through the checked memory, not the store fast path).
    reads_zero_after(&[mov64(R3, -1), atomic(8, 0x00, R10, -72, R3)], -72, &none);
    // A helper writing the stack through its environment.
    let fill = fill_table();
    reads_zero_after(
        &[mov64_reg(R1, R10), alu64_imm(BPF_ADD, R1, -3000), call(77)],
        -3000,
        &fill,
    );
}

#[test]
fn a_failed_run_still_gets_its_stack_writes_cleared() {
    // Store, then fault (a load from address 0): the next run must not see the store.
    let code = [
        ldx(8, R0, R10, -16),
        jmp_imm(BPF_JNE, true, R0, 0, 3),
        st(8, R10, -16, 42),
        mov64(R1, 0),
        ldx(8, R0, R1, 0),
        exit(),
    ];
    let mut vm = interp(&code, &HelperTable::new());
    for _ in 0..3 {
        let e = vm.run_plain(&mut []).expect_err("faults at slot 4");
        assert_eq!(e.pc, 4, "{e}");
    }
}

#[test]
fn a_panicking_helper_leaves_the_whole_stack_to_clear() {
    fn write_then_panic(
        env: &mut sockops_vm::HelperEnv<'_>,
        a: [u64; 5],
    ) -> Result<u64, sockops_vm::HelperError> {
        if a[1] == 1 {
            env.memory.write_bytes(a[0], &[0xff; 8])?;
            panic!("helper panics after writing the stack");
        }
        Ok(0)
    }
    let mut t = HelperTable::new();
    t.register(sockops_vm::Helper {
        id: 78,
        signature: sockops_vm::HelperSignature {
            name: "write_then_panic",
            args: &[sockops_vm::ArgKind::Anything, sockops_vm::ArgKind::Anything],
            ret: sockops_vm::RetKind::Integer,
            gpl_only: false,
        },
        func: write_then_panic,
    });
    // r2 = the value at fp-2048 + 1: the first run writes 0xff.. there and panics; if the
    // stack were not cleared, the second run would pass r2 = 0 and return the garbage.
    let code = [
        ldx(8, R2, R10, -2048),
        alu64_imm(BPF_ADD, R2, 1),
        mov64_reg(R1, R10),
        alu64_imm(BPF_ADD, R1, -2048),
        call(78),
        ldx(8, R0, R10, -2048),
        exit(),
    ];
    let mut vm = interp(&code, &t);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut run =
        || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.run_plain(&mut [])));
    let first = run();
    // Second run: the stack reads 0 again, so the helper panics again (r2 == 1).
    let second = run();
    std::panic::set_hook(previous);
    assert!(first.is_err(), "the helper panicked");
    assert!(second.is_err(), "a stale stack changed the second run");
}

#[test]
fn an_empty_context_is_no_context_r1_and_r2_are_zero() {
    // r0 = r1 | r2: 0 without a context (not the empty slice's dangling address).
    let p = [mov64_reg(R0, R1), alu64_reg(BPF_OR, R0, R2), exit()];
    assert_eq!(r0(&p), 0);
    let mut vm = interp(&p, &HelperTable::new());
    assert_eq!(
        vm.run(&mut [], &mut (), &RunOptions::default()).unwrap().r0,
        0
    );
}

/// Load-acquire (imm 0x100) and store-release (imm 0x110) of `bytes` bytes.
fn load_acquire(bytes: usize, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(
        BPF_STX | BPF_ATOMIC | size_code(bytes),
        dst,
        src,
        off,
        BPF_LOAD_ACQ,
    )
}

fn store_release(bytes: usize, dst: u8, off: i16, src: u8) -> Insn {
    Insn::new(
        BPF_STX | BPF_ATOMIC | size_code(bytes),
        dst,
        src,
        off,
        BPF_STORE_REL,
    )
}

#[test]
fn load_acquire_and_store_release_in_checked_mode() {
    for bytes in [1usize, 2, 4, 8] {
        let mask = if bytes == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * bytes)) - 1
        };
        // Aligned and misaligned (checked mode does the access, as a plain one).
        for off in [-16i16, -13] {
            let p = prog(&[
                &lddw(R3, 0x8877_6655_4433_2211),
                &[
                    st(8, R10, -16, -1),
                    st(8, R10, -8, -1),
                    store_release(bytes, R10, off, R3),
                    load_acquire(bytes, R0, R10, off),
                    exit(),
                ],
            ]);
            assert_eq!(
                r0(&p),
                0x8877_6655_4433_2211 & mask,
                "{bytes} bytes at {off}"
            );
        }
    }
    // Out of bounds: a fault naming the slot, never a host access.
    let e = err(&[load_acquire(8, R0, R10, 0), exit()]);
    assert_eq!(e.pc, 0);
    assert!(
        matches!(
            e.kind,
            ExecErrorKind::Memory(MemoryFault {
                access: Access::Read,
                ..
            })
        ),
        "{e}"
    );
    let e = err(&[store_release(4, R10, -2, R1), exit()]);
    assert!(
        matches!(
            e.kind,
            ExecErrorKind::Memory(MemoryFault {
                access: Access::Write,
                ..
            })
        ),
        "{e}"
    );
    // A read-only region takes load-acquire but not store-release.
    let data = 0x0102_0304u32.to_le_bytes();
    let region = GuestRegion::read_only(&data, RegionKind::Other);
    let addr = region.region().start;
    let read = prog(&[&lddw(R2, addr), &[load_acquire(4, R0, R2, 0), exit()]]);
    let mut vm = interp(&read, &HelperTable::new());
    let r = vm.run_with_regions(&mut [], &[region], &mut (), &RunOptions::default());
    assert_eq!(r.unwrap().r0, 0x0102_0304);
    let region = GuestRegion::read_only(&data, RegionKind::Other);
    let write = prog(&[&lddw(R2, addr), &[store_release(4, R2, 0, R1), exit()]]);
    let mut vm = interp(&write, &HelperTable::new());
    let e = vm
        .run_with_regions(&mut [], &[region], &mut (), &RunOptions::default())
        .unwrap_err();
    assert_eq!(e.pc, 2);
}
