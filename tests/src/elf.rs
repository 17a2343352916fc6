//! ELF helpers for tests that edit example objects byte by byte.

/// Offset of the bytes of section `name` in an ELF64 little-endian file (panics if there is
/// none: for tests that corrupt a known section of an example object).
pub fn section_offset(elf: &[u8], name: &str) -> usize {
    let word = |at: usize, n: usize| {
        elf[at..at + n]
            .iter()
            .rev()
            .fold(0usize, |v, b| (v << 8) | usize::from(*b))
    };
    let (shoff, shentsize, shnum, shstrndx) =
        (word(0x28, 8), word(0x3a, 2), word(0x3c, 2), word(0x3e, 2));
    let header = |i: usize| shoff + i * shentsize;
    let strtab = word(header(shstrndx) + 0x18, 8);
    (0..shnum)
        .find(|&i| {
            let at = strtab + word(header(i), 4);
            elf[at..].starts_with(name.as_bytes()) && elf[at + name.len()] == 0
        })
        .map(|i| word(header(i) + 0x18, 8))
        .unwrap_or_else(|| panic!("no section {name}"))
}
