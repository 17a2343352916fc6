//! Robustness of the checked interpreter on untrusted programs: random raw slots (proptest)
//! and random structured programs (seeded loop) with random memory never panic, always stop
//! (budget), report errors at a slot inside the program, and are deterministic (a second run
//! on the same input gives the same outcome).

mod interp_support;

use interp_support::*;
use proptest::prelude::*;
use sockops_vm::opcode::*;
use sockops_vm::{
    ArgKind, ExecErrorKind, Helper, HelperEnv, HelperError, HelperSignature, HelperTable, Insn,
    Interpreter, Program, RetKind, RunOptions,
};

/// A helper that treats its arguments as guest pointers: stores r2 at r1, loads from r3.
fn poke(env: &mut HelperEnv<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    env.memory.store(a[0], 4, a[1])?;
    Ok(env.memory.load(a[2], 2)?)
}

fn helpers() -> HelperTable {
    let mut t = HelperTable::new();
    t.register(Helper {
        id: 1,
        signature: HelperSignature {
            name: "poke",
            args: &[ArgKind::Anything],
            ret: RetKind::Integer,
            gpl_only: false,
        },
        func: poke,
    });
    t
}

const BUDGET: u64 = 5_000;

/// Runs `insns` twice on `mem` and checks the invariants.
fn check(insns: &[Insn], mem: &[u8]) {
    let program = Program::from_insns("fuzz", insns.to_vec());
    let Ok(mut vm) = Interpreter::new(&program, &helpers()) else {
        return;
    };
    let options = RunOptions {
        instruction_budget: Some(BUDGET),
    };
    // Both runs use the same buffer (reset in between), so addresses match too.
    let mut buf = mem.to_vec();
    let first = vm.run(&mut buf, &mut (), &options);
    let after_first = buf.clone();
    buf.copy_from_slice(mem);
    let second = vm.run(&mut buf, &mut (), &options);
    match &first {
        Ok(r) => assert!(r.stats.instructions <= BUDGET),
        Err(e) => {
            assert!(e.pc < insns.len(), "error pc {} outside program: {e}", e.pc);
            assert!(
                !matches!(e.kind, ExecErrorKind::Decode(_)),
                "decode error at run time: {e}"
            );
        }
    }
    // Determinism: same input, same outcome and same memory afterwards (the stack is zeroed
    // between runs).
    assert_eq!(first, second);
    assert_eq!(after_first, buf);
}

/// Raw slots with opcodes drawn from every class; registers mostly valid.
fn arb_insn() -> impl Strategy<Value = Insn> {
    (
        any::<u8>(),
        0u8..12,
        0u8..12,
        prop_oneof![any::<i16>(), -8i16..8, -600i16..64],
        prop_oneof![any::<i32>(), -4i32..70, Just(0)],
    )
        .prop_map(|(op, dst, src, off, imm)| Insn::new(op, dst, src, off, imm))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_slots_never_panic(
        insns in prop::collection::vec(arb_insn(), 1..24),
        mem in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        check(&insns, &mem);
    }
}

/// xorshift64*: a small deterministic generator for the structured programs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn reg(&mut self) -> u8 {
        self.below(10) as u8
    }
    fn imm(&mut self) -> i32 {
        let noise = if self.below(4) == 0 {
            self.next() as i32
        } else {
            0
        };
        self.pick(&[0, 1, -1, 2, 7, 31, 32, 63, 64, i32::MIN, i32::MAX, -8, 512]) ^ noise
    }
}

const ALU_OPS: &[u8] = &[
    BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR,
    BPF_MOV, BPF_ARSH,
];
const JMP_OPS: &[u8] = &[
    BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE, BPF_JSLT,
    BPF_JSLE,
];
const ATOMIC_OPS: &[i32] = &[
    BPF_ADD as i32,
    BPF_OR as i32,
    BPF_AND as i32,
    BPF_XOR as i32,
    BPF_ADD as i32 | BPF_FETCH,
    BPF_OR as i32 | BPF_FETCH,
    BPF_AND as i32 | BPF_FETCH,
    BPF_XOR as i32 | BPF_FETCH,
    BPF_XCHG,
    BPF_CMPXCHG,
];

/// A program of valid instructions whose jumps mostly land inside it.
fn structured(rng: &mut Rng) -> Vec<Insn> {
    let n = 2 + rng.below(40) as usize;
    let mut out: Vec<Insn> = Vec::with_capacity(n + 2);
    while out.len() < n {
        let here = out.len() as i64;
        let rel = |rng: &mut Rng| (rng.below(n as u64 + 2) as i64 - here - 1) as i16;
        let base = |rng: &mut Rng| {
            let r = rng.reg();
            rng.pick(&[R1, R10, R10, R6, r])
        };
        let off = |rng: &mut Rng| rng.pick(&[-8i16, -16, -512, -4, 0, 4, 8, 16, -520]);
        let size = |rng: &mut Rng| rng.pick(&[1usize, 2, 4, 8]);
        match rng.below(20) {
            0..=5 => {
                let op = rng.pick(ALU_OPS);
                let (dst, src, imm) = (rng.reg(), rng.reg(), rng.imm());
                out.push(match rng.below(4) {
                    0 => alu64_imm(op, dst, imm),
                    1 => alu64_reg(op, dst, src),
                    2 => alu32_imm(op, dst, imm),
                    _ => alu32_reg(op, dst, src),
                });
            }
            6 => {
                let (dst, src) = (rng.reg(), rng.reg());
                out.push(match rng.below(6) {
                    0 => s64_reg(rng.pick(&[BPF_DIV, BPF_MOD]), dst, src),
                    1 => s32_imm(rng.pick(&[BPF_DIV, BPF_MOD]), dst, rng.imm()),
                    2 => movsx64(dst, src, rng.pick(&[8, 16, 32])),
                    3 => neg(dst, rng.below(2) == 0),
                    4 => bswap(dst, rng.pick(&[16, 32, 64])),
                    _ => be(dst, rng.pick(&[16, 32, 64])),
                });
            }
            7..=8 => {
                let (dst, b, o, s) = (rng.reg(), base(rng), off(rng), size(rng));
                out.push(if rng.below(3) == 0 && s < 8 {
                    ldxs(s, dst, b, o)
                } else {
                    ldx(s, dst, b, o)
                });
            }
            9..=10 => {
                let (b, o, s, src) = (base(rng), off(rng), size(rng), rng.reg());
                out.push(if rng.below(2) == 0 {
                    stx(s, b, o, src)
                } else {
                    st(s, b, o, rng.imm())
                });
            }
            11 => {
                let (b, o, src) = (base(rng), off(rng), rng.reg());
                let s = rng.pick(&[4usize, 8]);
                out.push(atomic(s, rng.pick(ATOMIC_OPS), b, o, src));
            }
            12..=14 => {
                let (op, wide, dst) = (rng.pick(JMP_OPS), rng.below(2) == 0, rng.reg());
                let target = rel(rng);
                out.push(if rng.below(2) == 0 {
                    jmp_imm(op, wide, dst, rng.imm(), target)
                } else {
                    jmp_reg(op, wide, dst, rng.reg(), target)
                });
            }
            15 => {
                let target = rel(rng);
                out.push(if rng.below(2) == 0 {
                    ja(target)
                } else {
                    gotol(target as i32)
                });
            }
            16 => {
                let target = rel(rng);
                out.push(call_local(target as i32));
            }
            17 => out.push(if rng.below(3) == 0 {
                callx(rng.reg())
            } else {
                call(1)
            }),
            18 => {
                let random = rng.next();
                let v = rng.pick(&[0u64, u64::MAX, 0x8000_0000, random]);
                out.extend(lddw(rng.reg(), v));
            }
            _ => out.push(exit()),
        }
    }
    out.push(exit());
    out
}

#[test]
fn random_structured_programs_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut outcomes = [0usize; 2];
    for _ in 0..4000 {
        let insns = structured(&mut rng);
        let len = rng.below(40) as usize;
        let mem: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&insns, &mem);
        let program = Program::from_insns("fuzz", insns);
        let mut vm = Interpreter::new(&program, &helpers()).expect("structured programs decode");
        let mut m = mem.clone();
        let r = vm.run(
            &mut m,
            &mut (),
            &RunOptions {
                instruction_budget: Some(BUDGET),
            },
        );
        outcomes[r.is_ok() as usize] += 1;
    }
    // The generator must exercise both successful runs and errors.
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
}
