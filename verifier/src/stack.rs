//! Stack frame slots: each 8-byte slot has a type per byte (invalid, misc, zero, spill) and,
//! for spills, the spilled register's state (kernel `struct bpf_stack_state`).

use crate::reg::RegState;

/// Maximum stack size of one frame, and of all frames together.
pub const MAX_STACK: i32 = 512;

/// The type of one stack byte (kernel `STACK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteType {
    /// Never written.
    Invalid,
    /// Holds some unknown data.
    Misc,
    /// Known to be zero.
    Zero,
    /// Part of a spilled register.
    Spill,
    /// Part of a dynptr (`STACK_DYNPTR`): 16 bytes over two slots, whose `spilled` state
    /// ([`crate::reg::RegType::Dynptr`]) says the dynptr's type, identity and reference.
    Dynptr,
}

/// One 8-byte stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Per-byte types; index 0 is the highest address of the slot (fp-1 for slot 0), index 7
    /// the lowest (fp-8), as in the kernel's `slot_type`.
    pub bytes: [ByteType; 8],
    /// The spilled register (meaningful when some byte is `Spill`).
    pub spilled: RegState,
}

impl Slot {
    /// A never-written slot.
    pub const INVALID: Slot = Slot {
        bytes: [ByteType::Invalid; 8],
        spilled: RegState::NOT_INIT,
    };

    /// True if the whole slot holds a spilled register.
    pub fn is_full_spill(&self) -> bool {
        self.bytes.iter().all(|b| *b == ByteType::Spill)
    }

    /// True if any byte is part of a spill.
    pub fn has_spill(&self) -> bool {
        self.bytes.contains(&ByteType::Spill)
    }

    /// True if the slot is half of a dynptr (a dynptr's bytes are never partly set).
    pub fn is_dynptr(&self) -> bool {
        self.bytes[0] == ByteType::Dynptr
    }
}

/// A frame's stack: slot 0 covers fp-8..fp-1, slot 1 fp-16..fp-9, and so on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Stack {
    /// Allocated slots.
    pub slots: Vec<Slot>,
}

impl Stack {
    /// The slot index and byte index of stack offset `off` (negative, relative to fp), as the
    /// kernel numbers them: byte 0 of slot 0 is fp-1, byte 7 of slot 0 is fp-8.
    pub fn locate(off: i32) -> (usize, usize) {
        let pos = (-off - 1) as usize; // 0 for fp-1
        (pos / 8, pos % 8)
    }

    /// Grows the stack to cover `off` (negative).
    pub fn grow_to(&mut self, off: i32) {
        let (slot, _) = Stack::locate(off);
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, Slot::INVALID);
        }
    }

    /// The type of the byte at `off`.
    pub fn byte(&self, off: i32) -> ByteType {
        let (s, b) = Stack::locate(off);
        self.slots
            .get(s)
            .map(|sl| sl.bytes[b])
            .unwrap_or(ByteType::Invalid)
    }

    /// The slot containing `off`.
    pub fn slot(&self, off: i32) -> Option<&Slot> {
        self.slots.get(Stack::locate(off).0)
    }

    /// Mutable slot containing `off` (grows the stack).
    pub fn slot_mut(&mut self, off: i32) -> &mut Slot {
        self.grow_to(off);
        let (s, _) = Stack::locate(off);
        &mut self.slots[s]
    }

    /// Sets the type of the byte at `off`.
    pub fn set_byte(&mut self, off: i32, t: ByteType) {
        let (s, b) = Stack::locate(off);
        self.grow_to(off);
        self.slots[s].bytes[b] = t;
    }

    /// Bytes in use (for stack depth).
    pub fn depth(&self) -> i32 {
        self.slots.len() as i32 * 8
    }
}
