//! The size of a directory on disk, reported beside RSS.

use anyhow::Result;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes in a MiB.
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// The space the files under `dir` take on disk, in MiB (allocated blocks, as `du` counts them,
/// so preallocated or sparse files count for what they really use).
///
/// # Errors
/// If the directory cannot be walked.
pub(crate) fn dir_mib(dir: &Path) -> Result<f64> {
    let mut bytes = 0u64;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file() {
            // st_blocks is in 512-byte units whatever the file system's block size.
            bytes += entry.metadata()?.blocks() * 512;
        }
    }
    Ok(bytes as f64 / MIB)
}
