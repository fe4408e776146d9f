//! Offline restore: check a backup end to end (checksum and consistency), then write it into an
//! empty data dir.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::{Path, PathBuf};

use super::check::Consistency;
use super::format::{FormatError, Reader};
use crate::host::lock::{self, LockError};
use crate::store::{Store, StoreError};

/// Why a restore failed. Nothing is written unless the whole file checked out.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The backup file is unreadable or damaged.
    #[error("{}: {source}", file.display())]
    Format {
        /// The backup file.
        file: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// The backup is whole but its trees disagree: damaged, or forged (its checksum can be
    /// recomputed by anyone).
    #[error("{}: refused, the backup is inconsistent: {problem}; nothing was written", file.display())]
    Inconsistent {
        /// The backup file.
        file: PathBuf,
        /// The first problem found.
        problem: String,
    },
    /// The data dir is in use by a running daemon, or unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The data dir already holds data.
    #[error("data dir {} already holds data; restore into an empty one, or pass --force to replace it", .0.display())]
    NotEmpty(PathBuf),
    /// Writing the store failed.
    #[error("writing the restored store: {0}")]
    Store(#[from] StoreError),
    /// Removing the old store failed.
    #[error("removing the old store: {0}")]
    Io(#[from] std::io::Error),
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Entries written.
    pub entries: u64,
    /// When the backup was made (Unix ms).
    pub created_at: i64,
    /// The data dir restored into.
    pub data_dir: PathBuf,
}

impl fmt::Display for RestoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "restored {} entries into {} (backup taken at {} ms since the epoch)",
            self.entries,
            self.data_dir.display(),
            self.created_at
        )
    }
}

/// A progress bar on a terminal, nothing otherwise.
fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

fn open(file: &Path) -> Result<(Reader<impl std::io::Read>, u64), RestoreError> {
    let format = |source| RestoreError::Format {
        file: file.to_owned(),
        source,
    };
    let f = File::open(file).map_err(|e| format(FormatError::Io(e)))?;
    let len = f.metadata().map_err(|e| format(FormatError::Io(e)))?.len();
    Ok((Reader::new(BufReader::new(f)).map_err(format)?, len))
}

/// Checks all of `file` (its checksum, and the consistency of its trees), writing nothing:
/// a restore's first pass, wherever it then writes.
///
/// # Errors
/// [`RestoreError::Format`] or [`RestoreError::Inconsistent`].
pub fn check_file(file: &Path) -> Result<(), RestoreError> {
    let format = |source| RestoreError::Format {
        file: file.to_owned(),
        source,
    };
    let (mut reader, len) = open(file)?;
    let bar = progress(len, "checking");
    let mut seen = 0;
    let mut consistency = Consistency::default();
    while let Some(entry) = reader.next_entry(seen).map_err(format)? {
        consistency.add(seen, entry.tree, &entry.key, &entry.value);
        seen += 1;
        bar.inc((entry.key.len() + entry.value.len() + 10) as u64);
    }
    bar.finish_and_clear();
    consistency
        .finish()
        .map_err(|problem| RestoreError::Inconsistent {
            file: file.to_owned(),
            problem,
        })
}

/// A reader of `file`'s entries, for a second pass after [`check_file`].
///
/// # Errors
/// [`RestoreError::Format`] if it cannot be opened or its header is wrong.
pub fn open_file(file: &Path) -> Result<Reader<impl std::io::Read>, RestoreError> {
    open(file).map(|(reader, _)| reader)
}

/// Restores `file` into `data_dir`, which must hold no data unless `force` is set.
///
/// # Errors
/// See [`RestoreError`]. The file is checked completely (checksum, and the consistency of its
/// trees) before anything is written.
pub fn restore_file(
    file: &Path,
    data_dir: &Path,
    force: bool,
) -> Result<RestoreReport, RestoreError> {
    let format = |source| RestoreError::Format {
        file: file.to_owned(),
        source,
    };
    // Pass one: check every byte before touching the data dir.
    check_file(file)?;

    let _lock = lock::claim(data_dir)?;
    if data_dir.join("db").exists() {
        if !force && !Store::open(data_dir)?.is_empty()? {
            return Err(RestoreError::NotEmpty(data_dir.to_owned()));
        }
        crate::store::remove_all(data_dir)?;
    }

    // Pass two: write.
    let store = Store::open(data_dir)?;
    let (mut reader, len) = open(file)?;
    let bar = progress(len, "restoring");
    let mut entries = 0;
    while let Some(entry) = reader.next_entry(entries).map_err(format)? {
        store.import(entry.tree, &entry.key, &entry.value)?;
        entries += 1;
        bar.inc((entry.key.len() + entry.value.len() + 10) as u64);
    }
    store.checkpoint()?;
    bar.finish_and_clear();
    Ok(RestoreReport {
        entries,
        created_at: reader.created_at,
        data_dir: data_dir.to_owned(),
    })
}
