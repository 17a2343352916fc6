//! Recording real connections from the live kernel (`sockops record`): the recorder program
//! (`bpf/recorder.c`, embedded) loaded into the kernel and attached to a cgroup beside
//! whatever else runs there, its ring buffer decoded into [`Record`]s ([`wire`]), and the
//! records written as a scenario file `sockops run` replays ([`trace`]).

pub mod compare;
pub mod loopback;
pub mod trace;
pub mod wire;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sockops_vm::Program;
use sockops_vm::elf::{ElfError, Object};

use crate::kernel::{Cgroup, KernelError, KernelProgram, RingbufReader};

pub use trace::{TraceSocket, scenario_text};
pub use wire::{IPV6_TCLASS, RECORD_METRICS, RECORD_OPTIONS, RECORD_SIZE, Record, RecordSizeError};

/// The recorder object (`bpf/recorder.o`, built from `bpf/recorder.c` by `bpf/build.sh`).
pub const RECORDER_OBJECT: &[u8] = include_bytes!("../../bpf/recorder.o");

/// Set by [`request_stop`]: the recording or comparison running in this process stops and
/// cleans up as soon as it sees it.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks a running recording ([`record_cgroup`]) or comparison ([`compare::run_compare`]) to
/// stop and clean up (async-signal-safe: one atomic store, so a SIGINT/SIGTERM handler may
/// call it). The request stays in force for the rest of the process: a recording or
/// comparison started after it stops at once.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether [`request_stop`] was called.
pub(crate) fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// When a recording ([`record_cgroup`]) ends.
#[derive(Clone, Copy, Debug)]
pub struct RecordLimits {
    /// After this long.
    pub duration: Duration,
    /// After this many calls (the records are cut to this many).
    pub count: Option<usize>,
    /// Use `record_all_callbacks`, which turns every callback flag on.
    pub all_callbacks: bool,
}

/// Records the sock_ops calls of the sockets in the cgroup2 directory `cgroup`: loads a fresh
/// recorder, links it there (a BPF link, `BPF_F_ALLOW_MULTI` semantics: it runs beside what is
/// attached and changes nothing; the kernel detaches it if this process dies, even by
/// SIGKILL), polls its ring buffer until `limits` or [`request_stop`], detaches, and returns
/// the records. `progress` is called with the records so far whenever their number changes.
/// The recorder is detached on every return path.
pub fn record_cgroup(
    cgroup: &Path,
    limits: RecordLimits,
    mut progress: impl FnMut(&[Record]),
) -> Result<(Vec<Record>, Recorder), RecordError> {
    let cgroup = Cgroup::open(cgroup)?;
    let mut recorder = Recorder::load(limits.all_callbacks)?;
    let link = cgroup.link(recorder.kernel_program())?;
    let start = Instant::now();
    let mut records: Vec<Record> = Vec::new();
    let limit = limits.count.unwrap_or(usize::MAX);
    let mut shown = usize::MAX;
    while !stop_requested() && records.len() < limit && start.elapsed() < limits.duration {
        if recorder.poll(&mut records) == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        if records.len() != shown {
            shown = records.len();
            progress(&records);
        }
    }
    // Detach first, then read what was written before the detach.
    drop(link);
    recorder.poll(&mut records);
    records.truncate(limit);
    Ok((records, recorder))
}

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
