//! Kernel-recorded verifier cases: a program, its maps and the verdict the live kernel gave
//! it, compared with our verifier's verdict (slot and message) and, where `bpf()` works, with
//! the live kernel's again (message).

use sockops_verifier::{VerifyOptions, verify_insns};
use sockops_vm::{HelperTable, MapDef, assemble};

use crate::kernel::Oracle;

/// One program with its maps and the kernel's verdict: `None` accepted, `Some((pc,
/// message))` rejected at `pc` with that last log line.
pub struct RecordedCase {
    /// What the case shows.
    pub name: &'static str,
    /// Its maps, in map-index order.
    pub maps: Vec<MapDef>,
    /// The program (assembler text).
    pub text: String,
    /// The recorded kernel verdict.
    pub kernel: Option<(usize, &'static str)>,
}

/// Our verdict of `case` (root mode, or unprivileged with `strict`).
pub fn our_verdict(case: &RecordedCase, strict: bool) -> Option<(usize, String)> {
    let insns = assemble(&case.text).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let options = VerifyOptions {
        strict,
        require_runtime_helpers: false,
        ..VerifyOptions::default()
    };
    verify_insns(&insns, &case.maps, &HelperTable::new(), &options)
        .err()
        .map(|e| (e.pc, e.message))
}

/// The cases whose recorded verdict differs from ours, one line each (empty: all agree).
pub fn differences_from_ours(cases: &[RecordedCase], strict: bool) -> Vec<String> {
    cases
        .iter()
        .filter_map(|case| {
            let got = our_verdict(case, strict);
            let expected = case.kernel.map(|(pc, m)| (pc, m.to_string()));
            (got != expected).then(|| {
                format!(
                    "{}: ours {got:?}, kernel {expected:?}\n{}",
                    case.name, case.text
                )
            })
        })
        .collect()
}

/// The cases whose recorded verdict differs from the live kernel's (loading as root, or with
/// `strict` as a loader with only `CAP_BPF` + `CAP_NET_ADMIN`), or `Err(reason)` when the
/// comparison cannot run here: `bpf()` is not permitted (or capabilities cannot be dropped),
/// or the kernel answers a case with `too_old` in its message (it predates what the cases
/// test).
pub fn differences_from_live_kernel(
    cases: &[RecordedCase],
    strict: bool,
    too_old: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut oracle = Oracle::new().map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for case in cases {
        let maps = oracle.create_maps(&case.maps).expect("kernel maps");
        let insns = assemble(&case.text).expect("assembles");
        let verdict = if strict {
            oracle
                .load_strict(&insns, &maps, 1)
                .map_err(|e| e.to_string())?
        } else {
            oracle.load(&insns, &maps, 1)
        };
        if let Some(marker) = too_old.filter(|m| verdict.message.contains(m)) {
            return Err(format!("this kernel predates these cases ({marker})"));
        }
        let kernel_message = (!verdict.accepted).then(|| verdict.message.clone());
        let recorded = case.kernel.map(|(_, m)| m.to_string());
        if kernel_message != recorded {
            failures.push(format!(
                "{}: live kernel {kernel_message:?}, recorded {recorded:?}\n{}",
                case.name, verdict.log
            ));
        }
    }
    Ok(failures)
}

/// Asserts that our verdict (root mode, or unprivileged with `strict`) equals the recorded
/// kernel verdict of every case, slot and message included; the failure lists every case
/// that differs.
pub fn assert_ours_match_recorded(cases: &[RecordedCase], strict: bool) {
    let failures = differences_from_ours(cases, strict);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Asserts that the recorded verdicts are still the live kernel's (root mode, or
/// unprivileged with `strict`); prints the reason and returns when the comparison cannot
/// run here (no `bpf()`).
pub fn assert_recorded_match_live_kernel(cases: &[RecordedCase], strict: bool) {
    match differences_from_live_kernel(cases, strict, None) {
        Ok(failures) => assert!(failures.is_empty(), "{}", failures.join("\n\n")),
        Err(reason) => println!("skipped: {reason}"),
    }
}

/// A `'static` copy of a message or name built at run time, for the case tables.
pub fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A case without maps from run-time strings: `None` accepted, `Some((pc, message))`
/// rejected at `pc`.
pub fn owned_case(name: String, text: String, kernel: Option<(usize, String)>) -> RecordedCase {
    RecordedCase {
        name: leak(name),
        maps: Vec::new(),
        text,
        kernel: kernel.map(|(pc, m)| (pc, leak(m))),
    }
}

/// `r6 = ctx; r0 = bpf_skc_to_tcp_sock(ctx->sk)`, both null-checked (returning 1), then
/// `access` from instruction 9, then `return 1`: the program the BTF `tcp_sock` tests wrap
/// their reads in.
pub fn tcp_sock_program(access: &str) -> String {
    format!(
        "mov %r6, %r1\nldxdw %r1, [%r6+184]\njne %r1, 0, +2\nmov %r0, 1\nexit\n\
         call 137\njne %r0, 0, +2\nmov %r0, 1\nexit\n{access}mov %r0, 1\nexit"
    )
}

/// The assembler's load mnemonic for a load of `size` bytes (1, 2, 4, else 8).
pub fn load_mnemonic(size: u32) -> &'static str {
    match size {
        1 => "ldxb",
        2 => "ldxh",
        4 => "ldxw",
        _ => "ldxdw",
    }
}

/// Why the live kernel cannot confirm verdicts that rest on the recorded vmlinux layouts of
/// `structs`, if it cannot: no kernel BTF here, or one of them is not the recorded size
/// (another kernel build).
pub fn recorded_layout_differs_from_live_kernel(structs: &[&str]) -> Option<String> {
    use sockops_vm::elf::btf::{Btf, BtfKind};
    use sockops_vm::vmlinux::{kstruct, kstruct_index, recorded::KERNEL_RELEASE};
    let data = match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(d) => d,
        Err(e) => return Some(format!("no kernel BTF to compare the layout with: {e}")),
    };
    let btf = match Btf::parse(&data) {
        Ok(b) => b,
        Err(e) => return Some(format!("kernel BTF unreadable: {e}")),
    };
    for &name in structs {
        let recorded = kstruct_index(name).and_then(kstruct).map(|s| s.size);
        let live = (1..=btf.type_count()).find_map(|id| {
            let t = btf.type_by_id(id)?;
            (t.kind == BtfKind::Struct && btf.name_of(id) == name).then_some(t.size_or_type)
        });
        if live.is_none() || live != recorded {
            return Some(format!(
                "this kernel's struct {name} ({live:?} bytes) is not the recorded one ({recorded:?} bytes, Linux {KERNEL_RELEASE})"
            ));
        }
    }
    None
}
