//! `Program`: a loadable eBPF program — its relocated instruction slots, the maps its
//! LD_IMM64 map references index, and where it came from (name, section, license).

use std::sync::Arc;

use crate::insn::Insn;
use crate::maps::Map;

/// One program ready for the verifier and the engines.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Function symbol name (or a name given by the embedder).
    pub name: String,
    /// ELF section it came from (`sockops`, `sockops/count`, ...); empty for raw programs.
    pub section: String,
    /// Instruction slots, entry at slot 0, sub-programs appended after the main body.
    /// LD_IMM64 with src 1 (map fd) or 2 (map value) holds an index into `maps` in its imm.
    pub insns: Vec<Insn>,
    /// The maps this program references (shared with other programs of the same object).
    pub maps: Vec<Arc<Map>>,
    /// The object's license string (`GPL`, ...), empty if none.
    pub license: String,
}

impl Program {
    /// A program from raw slots, with no maps.
    pub fn from_insns(name: impl Into<String>, insns: Vec<Insn>) -> Program {
        Program {
            name: name.into(),
            insns,
            ..Program::default()
        }
    }
}
