//! Small side files: a few bytes and their CRC-32, rewritten in place after each durable
//! commit and checked at start-up.
//!
//! A side file records how far the data dir is known to be durable, so that start-up can tell
//! a torn tail (harmless) from lost acknowledged changes (the data dir is damaged). It is
//! written *after* the commit it describes, so a crash can leave it behind the data, never
//! ahead of it.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;

use super::private_file::{self, Contents};
use std::path::Path;

/// What a side file held at start-up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// There is no such file.
    Missing,
    /// The file is there but its length or CRC is wrong.
    Garbled,
    /// The payload, CRC checked.
    Value(Vec<u8>),
}

/// Reads the side file at `path`, which should hold `len` payload bytes.
pub(crate) fn read(path: &Path, len: usize) -> std::io::Result<Recorded> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == len + 4 => {
            let crc = crc32fast::hash(&bytes[..len]).to_be_bytes();
            Ok(if bytes[len..] == crc {
                Recorded::Value(bytes[..len].to_vec())
            } else {
                Recorded::Garbled
            })
        }
        Ok(_) => Ok(Recorded::Garbled),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Recorded::Missing),
        Err(e) => Err(e),
    }
}

/// An open side file.
#[derive(Debug)]
pub(crate) struct SideFile {
    file: File,
}

impl SideFile {
    /// Opens (or creates) the side file at `path`.
    pub fn open(path: &Path) -> std::io::Result<SideFile> {
        let file = private_file::open(path, Contents::Keep)?;
        Ok(SideFile { file })
    }

    /// Records `payload`. Call only after the commit it describes is durable.
    pub fn record(&self, payload: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(payload.len() + 4);
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
        self.file.write_all_at(&bytes, 0)
    }
}
