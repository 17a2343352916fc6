//! Shared helpers for the sockops integration tests (the tests live in `tests/tests/`).
