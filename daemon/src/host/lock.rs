//! One daemon per data dir: an exclusive `flock` on `<data dir>/keywardd.lock`, held for the
//! daemon's life and released by the kernel however it exits.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data dir.
const LOCK_FILE: &str = "keywardd.lock";

/// Why the data dir could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("another keywardd is already using data dir {} (lock held on {})", dir.display(), file.display())]
    Held {
        /// The data dir.
        dir: PathBuf,
        /// The lock file.
        file: PathBuf,
    },
    /// The directory or lock file could not be created.
    #[error("cannot prepare data dir {}: {source}", dir.display())]
    Io {
        /// The data dir.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the data dir.
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _lock: Flock<File>,
}

/// Creates the data dir (mode 0700) if needed and takes its lock.
pub(crate) fn claim(dir: &Path) -> Result<DataDirLock, LockError> {
    let io = |source| LockError::Io {
        dir: dir.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    // An existing dir may have been created with a looser mode; the data is secret-adjacent.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    let mut lock =
        Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| LockError::Held {
            dir: dir.to_owned(),
            file: path.clone(),
        })?;
    // The pid is for people reading the file; the lock itself is what counts.
    lock.set_len(0).map_err(io)?;
    writeln!(lock, "{}", std::process::id()).map_err(io)?;
    Ok(DataDirLock { _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second claim on the same dir fails while the first is held, and succeeds after.
    #[test]
    fn second_claim_fails_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = claim(dir.path()).unwrap();
        assert!(matches!(claim(dir.path()), Err(LockError::Held { .. })));
        drop(first);
        claim(dir.path()).unwrap();
    }
}
