//! Golden machine-code tests (filled below).
