//! Opening the store's own files: read-write, created owner-only (mode 0600), since they
//! describe every credential.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether opening empties the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contents {
    Keep,
    Discard,
}

/// Opens (creating it if need be) the store file at `path`.
pub(crate) fn open(path: &Path, contents: Contents) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(contents == Contents::Discard)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
}
