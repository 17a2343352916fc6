//! The pass the kernel runs over every instruction before exploring paths
//! (`resolve_pseudo_ldimm64`): reserved LDX fields, LD_IMM64 shape and map references, and
//! the opcode table (`bpf_opcode_in_insntable`).

use sockops_vm::opcode::*;
use sockops_vm::{Insn, MapDef, MapType};

use crate::error::Reject;

/// `bpf_opcode_in_insntable` (kernel/bpf/core.c) for the reference kernel.
pub fn opcode_in_table(code: u8) -> bool {
    let cls = class(code);
    let o = op(code);
    match cls {
        BPF_ALU | BPF_ALU64 => match o {
            BPF_NEG => source(code) == BPF_K,
            BPF_END => cls == BPF_ALU || source(code) == BPF_K,
            o => o <= BPF_ARSH,
        },
        BPF_JMP => match o {
            BPF_CALL | BPF_EXIT | BPF_JA => source(code) == BPF_K,
            0xe0 => source(code) == BPF_K, // may_goto (BPF_JCOND)
            o => o <= BPF_JSLE,
        },
        BPF_JMP32 => match o {
            BPF_JA => source(code) == BPF_K,
            BPF_CALL | BPF_EXIT => false,
            o => o <= BPF_JSLE,
        },
        BPF_STX => matches!(mode(code), BPF_MEM | BPF_ATOMIC),
        BPF_ST => mode(code) == BPF_MEM,
        BPF_LDX => mode(code) == BPF_MEM || (mode(code) == BPF_MEMSX && size(code) != BPF_DW),
        _ => {
            // BPF_LD
            code == LD_IMM64 || (matches!(mode(code), BPF_ABS | BPF_IND) && size(code) != BPF_DW)
        }
    }
}

/// Checks every slot in order as `resolve_pseudo_ldimm64` does.
pub fn resolve(insns: &[Insn], maps: &[MapDef]) -> Result<(), Reject> {
    let n = insns.len();
    let mut i = 0;
    while i < n {
        let insn = insns[i];
        if class(insn.opcode) == BPF_LDX
            && ((mode(insn.opcode) != BPF_MEM && mode(insn.opcode) != BPF_MEMSX) || insn.imm != 0)
        {
            return Err(Reject::new(i, "BPF_LDX uses reserved fields"));
        }
        if insn.opcode == LD_IMM64 {
            let next = insns.get(i + 1);
            match next {
                Some(nx) if nx.opcode == 0 && nx.dst == 0 && nx.src == 0 && nx.off == 0 => {}
                _ => return Err(Reject::new(i, "invalid bpf_ld_imm64 insn")),
            }
            let hi = next.map(|x| x.imm).unwrap_or(0);
            match insn.src {
                0 | BPF_PSEUDO_FUNC => {}
                // check_pseudo_btf_id: type 0 of any BTF is `void`, never a variable or a
                // function. Whether another id is one (a ksym) depends on the kernel build's
                // BTF, which this verifier does not have: not judged (and kernel variables
                // do not exist in this runtime).
                BPF_PSEUDO_BTF_ID if insn.imm == 0 && hi == 0 => {
                    return Err(Reject::new(
                        i,
                        "pseudo btf_id 0 in ldimm64 isn't KIND_VAR or KIND_FUNC",
                    ));
                }
                BPF_PSEUDO_BTF_ID => {
                    return Err(Reject::new(
                        i,
                        format!(
                            "pseudo btf_id {} in ldimm64: a kernel symbol (ksym) needs the kernel's BTF; not supported by this verifier",
                            insn.imm
                        ),
                    )
                    .unsupported());
                }
                BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => {
                    if insn.src == BPF_PSEUDO_MAP_FD && hi != 0 {
                        return Err(Reject::new(i, "unrecognized bpf_ld_imm64 insn"));
                    }
                    let Some(def) = usize::try_from(insn.imm).ok().and_then(|k| maps.get(k)) else {
                        return Err(Reject::new(
                            i,
                            format!("fd {} is not pointing to valid bpf_map", insn.imm),
                        ));
                    };
                    if insn.src == BPF_PSEUDO_MAP_VALUE {
                        let off = hi as u32;
                        if off >= 1 << 29 {
                            return Err(Reject::new(
                                i,
                                format!("direct value offset of {off} is not allowed"),
                            ));
                        }
                        if def.map_type != MapType::Array {
                            return Err(Reject::new(
                                i,
                                "no direct value access support for this map type",
                            ));
                        }
                        if def.max_entries != 1 || off >= def.value_size {
                            return Err(Reject::new(
                                i,
                                format!(
                                    "invalid access to map value pointer, value_size={} off={}",
                                    def.value_size, off
                                ),
                            ));
                        }
                    }
                }
                BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_IDX_VALUE => {
                    if insn.src == BPF_PSEUDO_MAP_IDX && hi != 0 {
                        return Err(Reject::new(i, "unrecognized bpf_ld_imm64 insn"));
                    }
                    return Err(Reject::new(i, "fd_idx without fd_array is invalid"));
                }
                _ => return Err(Reject::new(i, "unrecognized bpf_ld_imm64 insn")),
            }
            i += 2;
            continue;
        }
        if !opcode_in_table(insn.opcode) {
            return Err(Reject::new(
                i,
                format!("unknown opcode {:02x}", insn.opcode),
            ));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lddw r2, btf_id ID` (BPF_PSEUDO_BTF_ID), `r0 = 1`, `exit`.
    fn ksym_program(id: i32) -> Vec<Insn> {
        let ld = |imm| Insn {
            opcode: LD_IMM64,
            dst: 2,
            src: BPF_PSEUDO_BTF_ID,
            off: 0,
            imm,
        };
        vec![
            ld(id),
            Insn {
                opcode: 0,
                dst: 0,
                src: 0,
                off: 0,
                imm: 0,
            },
            Insn {
                opcode: BPF_ALU64 | BPF_MOV | BPF_K,
                dst: 0,
                src: 0,
                off: 0,
                imm: 1,
            },
            Insn {
                opcode: BPF_JMP | BPF_EXIT,
                dst: 0,
                src: 0,
                off: 0,
                imm: 0,
            },
        ]
    }

    #[test]
    fn btf_id_zero_is_void_and_refused_but_other_ksyms_are_not_judged() {
        // Type 0 is `void` in every BTF: the kernel refuses it (corpus opcodes-0366).
        let e = resolve(&ksym_program(0), &[]).unwrap_err();
        assert_eq!(
            e.msg,
            "pseudo btf_id 0 in ldimm64 isn't KIND_VAR or KIND_FUNC"
        );
        assert!(!e.unsupported);
        // Whether 57344 is a variable depends on the kernel build (the 6.18 kernel here
        // accepted it, a kernel-oracle false reject before): not judged.
        let e = resolve(&ksym_program(57344), &[]).unwrap_err();
        assert!(e.unsupported, "{}", e.msg);
        assert!(e.msg.contains("btf_id 57344"), "{}", e.msg);
    }
}
