//! Integration tests for keyward live in `it/`; this crate has no library code.
