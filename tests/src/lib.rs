//! Shared helpers for the sockops integration tests (the tests live in `tests/tests/`).

/// The bpf_conformance suite: `.data` parser and engine runner.
pub mod conformance;

/// Maps built by hand for tests.
pub mod maps;

/// The kernel oracle: asks the running kernel verifier about sock_ops programs.
pub mod kernel;

/// The engines check of the `verified_programs_never_fault` fuzz target and its regressions.
pub mod engines;

/// Program generators (seeded or driven by fuzzer bytes) shared by tests and fuzz targets.
pub mod generator;

/// ELF helpers for tests that edit example objects.
pub mod elf;

/// The kernel-labelled verifier corpus: its lines and their programs.
pub mod corpus;

/// Kernel-recorded verifier cases and their comparison with ours and the live kernel's.
pub mod recorded;
