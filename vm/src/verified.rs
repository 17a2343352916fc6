//! `VerifiedProgram`: a program a verifier has accepted. Engines that do not check memory
//! accesses (the JIT) take only this type. Safe code cannot make one — the constructor is
//! `unsafe`, and the sockops verifier is its one caller — and the program inside is shared
//! immutably, so it cannot change after it was judged.

use std::sync::Arc;

use crate::program::Program;

/// A program proven safe to run without memory checks.
#[derive(Debug, Clone)]
pub struct VerifiedProgram {
    program: Arc<Program>,
    subprog_starts: Vec<usize>,
}

impl VerifiedProgram {
    /// Wraps a program a verifier accepted.
    ///
    /// # Safety
    /// `program` must have been accepted by a verifier that proves, for every execution, that
    /// each memory access stays inside the context, the stack, map values or packet data it
    /// may touch, that every jump and call lands on an instruction, and that every helper
    /// argument has the kind its signature asks for: engines that run it unchecked (the JIT)
    /// rely on that for memory safety. `subprog_starts` must be the start slot of every
    /// sub-program, 0 first.
    pub unsafe fn new_unchecked(program: Arc<Program>, subprog_starts: Vec<usize>) -> Self {
        VerifiedProgram {
            program,
            subprog_starts,
        }
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The shared program (e.g. to store in a prog array).
    pub fn program_arc(&self) -> &Arc<Program> {
        &self.program
    }

    /// Start slot of every sub-program, 0 first.
    pub fn subprog_starts(&self) -> &[usize] {
        &self.subprog_starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{Map, MapDef, MapType};

    #[test]
    fn prog_arrays_remember_which_slots_were_verified() {
        let def = MapDef {
            map_type: MapType::ProgArray,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            map_flags: 0,
        };
        let map = Map::try_new("jmp", def).unwrap();
        let plain = Arc::new(Program::from_insns("plain", Vec::new()));
        // SAFETY: test-only; the program is never run.
        let checked = unsafe { VerifiedProgram::new_unchecked(plain.clone(), vec![0]) };
        map.prog_array_set(0, Some(plain)).unwrap();
        map.prog_array_set_verified(1, &checked).unwrap();
        assert!(!map.prog_array_entry(0).unwrap().verified);
        assert!(map.prog_array_entry(1).unwrap().verified);
        assert!(map.prog_array_entry(2).is_none());
        assert_eq!(
            map.prog_array_set_verified(9, &checked)
                .unwrap_err()
                .errno(),
            7
        ); // E2BIG
        // Replacing a verified slot with an unverified program clears the mark.
        map.prog_array_set(1, Some(checked.program_arc().clone()))
            .unwrap();
        assert!(!map.prog_array_entry(1).unwrap().verified);
    }
}
