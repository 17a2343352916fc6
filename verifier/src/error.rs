//! Rejection types: the internal `Reject` (instruction index + kernel message) and the public
//! `VerifyError` that adds the log.

/// An internal rejection: the instruction index and the kernel's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Instruction (slot) index.
    pub pc: usize,
    /// The message in the kernel's words.
    pub msg: String,
    /// The kernel would accept this; this runtime lacks the feature.
    pub unsupported: bool,
    /// The kernel prints this message without a newline: its log's last line is the message
    /// followed by the statistics line.
    pub glued: bool,
}

impl Reject {
    /// A rejection at `pc`.
    pub fn new(pc: usize, msg: impl Into<String>) -> Reject {
        Reject {
            pc,
            msg: msg.into(),
            unsupported: false,
            glued: false,
        }
    }

    /// Marks a message the kernel prints without a newline (the statistics follow on its line).
    pub fn glued(mut self) -> Reject {
        self.glued = true;
        self
    }

    /// True for errors the kernel does not turn into a speculation barrier (-E2BIG and the
    /// like): they reject even on a speculative path.
    pub fn fatal(&self) -> bool {
        // -E2BIG and -EFAULT in the kernel: too many frames, too many pending branches.
        self.unsupported
            || self.msg.starts_with("the call stack of")
            || self.msg.starts_with("The sequence of")
    }

    /// Marks the rejection as "not supported by this runtime".
    pub fn unsupported(mut self) -> Reject {
        self.unsupported = true;
        self
    }
}

/// Why a program was rejected: the first error, as the kernel would report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insn {pc}: {message}")]
pub struct VerifyError {
    /// Instruction (slot) index of the error.
    pub pc: usize,
    /// The kernel's message (the last line of its log), e.g. `R0 !read_ok`.
    pub message: String,
    /// A kernel-style log of the path that failed.
    pub log: String,
    /// True when the program is refused because this runtime lacks something the kernel has
    /// (e.g. a helper without an implementation), not because it is unsafe.
    pub unsupported: bool,
}
