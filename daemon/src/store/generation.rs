//! Detecting a damaged store: fail closed rather than serve from half a log.
//!
//! sled treats a checksum failure in its log as the torn end of a crash and silently recovers
//! only what came before it. For keyward that would be dangerous: a lost revocation brings a
//! credential back. So every group commit bumps a generation counter inside sled *and*, once the
//! flush has succeeded, records it in a small side file (`generation`, with its own CRC). At
//! start the store compares the two: if sled recovered an older generation than was
//! acknowledged, acknowledged changes are missing, and the daemon refuses to start.
//!
//! The side file is written after the flush, so a crash between the two leaves it *behind*
//! sled (harmless) and never ahead (which would be a false alarm).

use std::path::Path;

use super::side_file::{self, Recorded, SideFile};
use super::StoreError;

/// The side file's name inside the data dir.
pub(crate) const FILE: &str = "generation";

/// The side file recording the last acknowledged generation.
#[derive(Debug)]
pub(crate) struct GenerationFile {
    file: SideFile,
}

impl GenerationFile {
    /// Opens the side file in `dir` and checks sled's recovered generation against it.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] if the side file is garbled, missing while sled holds data, or
    /// records a later generation than sled recovered.
    pub fn open_and_check(dir: &Path, recovered: u64) -> Result<GenerationFile, StoreError> {
        let path = dir.join(FILE);
        let damaged = |detail: String| StoreError::Damaged {
            dir: dir.to_owned(),
            detail,
        };
        let acknowledged = match side_file::read(&path, 8).map_err(StoreError::Io)? {
            Recorded::Value(bytes) => u64::from_be_bytes(bytes[..].try_into().expect("8 bytes")),
            Recorded::Garbled => return Err(damaged(format!("{} is garbled", path.display()))),
            Recorded::Missing if recovered == 0 => 0,
            Recorded::Missing => {
                return Err(damaged(format!(
                    "{} is missing, but the store holds data",
                    path.display()
                )))
            }
        };
        if recovered < acknowledged {
            return Err(damaged(format!(
                "the database recovered generation {recovered}, but generation {acknowledged} \
                 was acknowledged: acknowledged changes (possibly revocations) are missing, so \
                 its files were truncated or corrupted"
            )));
        }
        let side = GenerationFile {
            file: SideFile::open(&path).map_err(StoreError::Io)?,
        };
        side.record(recovered)?;
        Ok(side)
    }

    /// Records `generation` as acknowledged. Call only after the flush that made it durable.
    pub fn record(&self, generation: u64) -> Result<(), StoreError> {
        self.file
            .record(&generation.to_be_bytes())
            .map_err(StoreError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh dir starts at zero; a recovered generation behind the file is refused; garbling
    /// the file is refused.
    #[test]
    fn behind_or_garbled_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let side = GenerationFile::open_and_check(dir.path(), 0).unwrap();
        side.record(5).unwrap();
        drop(side);
        GenerationFile::open_and_check(dir.path(), 6).unwrap();
        let err = GenerationFile::open_and_check(dir.path(), 3).unwrap_err();
        assert!(err.to_string().contains("generation 3"), "{err}");
        std::fs::write(dir.path().join(FILE), b"garbage").unwrap();
        assert!(matches!(
            GenerationFile::open_and_check(dir.path(), 9),
            Err(StoreError::Damaged { .. })
        ));
    }

    /// A missing side file is fine for an empty store and refused for one with data.
    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            GenerationFile::open_and_check(dir.path(), 4),
            Err(StoreError::Damaged { .. })
        ));
    }
}
