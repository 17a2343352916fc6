//! Recording real connections from the live kernel (`sockops record`): the recorder program
//! (`bpf/recorder.c`, embedded) loaded into the kernel and attached to a cgroup beside
//! whatever else runs there, its ring buffer decoded into [`Record`]s ([`wire`]), and the
//! records written as a scenario file `sockops run` replays ([`trace`]).

pub mod compare;
pub mod loopback;
pub mod trace;
pub mod wire;

use sockops_vm::Program;
use sockops_vm::elf::{ElfError, Object};

use crate::kernel::{KernelError, KernelProgram, RingbufReader};

pub use trace::{TraceSocket, scenario_text};
pub use wire::{IPV6_TCLASS, RECORD_METRICS, RECORD_OPTIONS, RECORD_SIZE, Record, RecordSizeError};

/// The recorder object (`bpf/recorder.o`, built from `bpf/recorder.c` by `bpf/build.sh`).
pub const RECORDER_OBJECT: &[u8] = include_bytes!("../../bpf/recorder.o");

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The embedded recorder object did not load (a build problem).
    #[error("the recorder object: {0}")]
    Elf(#[from] ElfError),
    /// The kernel refused something.
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

/// The recorder program loaded into the kernel, with its ring buffer mapped.
pub struct Recorder {
    program: Program,
    kernel: KernelProgram,
    reader: RingbufReader,
    foreign: usize,
}

impl Recorder {
    /// The recorder as our runtime loads it (for replaying a trace through it): `record`, or
    /// with `all_callbacks` `record_all_callbacks`, which also turns every callback flag on.
    pub fn program(all_callbacks: bool) -> Result<Program, ElfError> {
        let object = Object::parse("recorder.o", RECORDER_OBJECT)?;
        let name = if all_callbacks {
            "record_all_callbacks"
        } else {
            "record"
        };
        object.program(name).cloned()
    }

    /// Loads a fresh recorder (its own ring buffer) into the kernel.
    pub fn load(all_callbacks: bool) -> Result<Recorder, RecordError> {
        Recorder::load_program(Recorder::program(all_callbacks)?)
    }

    /// Loads a fresh `record_after` (its own ring buffer): the recorder for the end of a
    /// program list, whose records (`phase` 1) show what the programs before it left.
    pub fn load_after() -> Result<Recorder, RecordError> {
        let object = Object::parse("recorder.o", RECORDER_OBJECT)?;
        Recorder::load_program(object.program("record_after")?.clone())
    }

    fn load_program(program: Program) -> Result<Recorder, RecordError> {
        let kernel = KernelProgram::load(&program)?;
        let map = kernel.map(&program, "records").ok_or_else(|| {
            RecordError::Elf(ElfError::Malformed(
                "the recorder has no `records` map".to_string(),
            ))
        })?;
        let reader = RingbufReader::new(map)?;
        Ok(Recorder {
            program,
            kernel,
            reader,
            foreign: 0,
        })
    }

    /// The loaded program (to attach it).
    pub fn kernel_program(&self) -> &KernelProgram {
        &self.kernel
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.program.name
    }

    /// Appends every record written since the last call to `out`; returns how many.
    pub fn poll(&mut self, out: &mut Vec<Record>) -> usize {
        let mut foreign = 0;
        let n = self.reader.drain(|bytes| match Record::decode(bytes) {
            Ok(r) => out.push(r),
            Err(_) => foreign += 1,
        });
        self.foreign += foreign;
        n - foreign
    }

    /// Ring buffer records that were not recorder records (none unless the object and this
    /// binary disagree about `struct record`).
    pub fn foreign_records(&self) -> usize {
        self.foreign
    }
}
