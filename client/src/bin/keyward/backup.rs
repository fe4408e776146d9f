//! `keyward backup FILE`: read a snapshot from the daemon chunk by chunk, check it, and only
//! then put it in place.
//!
//! The bytes go to a new temporary file in `FILE`'s directory, created exclusively (`O_EXCL`,
//! so no planted file or symlink is ever opened) under a random name, mode 0600; once the last
//! chunk is in, the SHA-256 trailer the daemon wrote is checked against the bytes before it,
//! the file is synced, and it is renamed to `FILE` (a symlink there is replaced, not
//! followed). A failed or interrupted backup never leaves something at `FILE` that looks
//! whole, and the daemon is told, so its audit log records it as `ABANDONED`, not `ok`.

use keyward_client::{Client, Error, Op, Reply};
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use uuid::Uuid;

use crate::failure::Failure;

/// Bytes of the SHA-256 trailer at the end of every backup.
const TRAILER: usize = 32;

/// A finished backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupDone {
    /// Where it was written.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256 trailer, hex.
    pub sha256: String,
}

fn unexpected(what: &str) -> Failure {
    Error::Protocol(format!(
        "the daemon answered {what} with a reply of another kind"
    ))
    .into()
}

fn io_failure(file: &Path, e: std::io::Error) -> Failure {
    Failure::Io(format!("cannot write {}: {e}", file.display()))
}

/// Runs the whole backup on `client`.
///
/// # Errors
/// A daemon error, a connection failure, or a local file error ([`Failure::Io`]: the daemon
/// is fine, the file is not).
pub(crate) async fn run(client: &mut Client, file: &Path) -> Result<BackupDone, Failure> {
    // Before the daemon takes a snapshot: a directory that cannot take the file fails at once.
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let out = tempfile::Builder::new()
        .prefix(".keyward-backup-")
        .tempfile_in(dir)
        .map_err(|e| io_failure(file, e))?;
    let (id, total) = match client.call(Op::BackupBegin).await? {
        Reply::BackupStarted { id, bytes } => (id, bytes),
        _ => return Err(unexpected("backup_begin")),
    };
    let result = download(client, id, total, out, file, dir).await;
    // Whatever happened, let the daemon delete its copy, and say whether the file is written.
    let ended = client
        .call(Op::BackupEnd {
            id,
            completed: result.is_ok(),
        })
        .await;
    let done = result?;
    match ended? {
        Reply::BackupEnded => Ok(done),
        _ => Err(unexpected("backup_end")),
    }
}

async fn download(
    client: &mut Client,
    id: Uuid,
    total: u64,
    mut out: tempfile::NamedTempFile,
    file: &Path,
    dir: &Path,
) -> Result<BackupDone, Failure> {
    // A backup describes every credential (hashes, never secrets): owner-only, like the data
    // dir. `tempfile` creates it 0600 already; this says so where it matters.
    out.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_failure(file, e))?;
    let bar = progress(total);
    let mut hash = Sha256::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut offset = 0u64;
    loop {
        let chunk = match client.call(Op::BackupRead { id, offset }).await? {
            Reply::BackupChunk(bytes) => bytes,
            _ => return Err(unexpected("backup_read")),
        };
        if chunk.is_empty() {
            break;
        }
        out.write_all(&chunk).map_err(|e| io_failure(file, e))?;
        // Hash everything but the last 32 bytes, which are the trailer to check against.
        tail.extend_from_slice(&chunk);
        if tail.len() > TRAILER {
            let cut = tail.len() - TRAILER;
            hash.update(&tail[..cut]);
            tail.drain(..cut);
        }
        offset += chunk.len() as u64;
        bar.set_position(offset);
    }
    bar.finish_and_clear();
    let digest = hash.finalize();
    if offset != total || tail.len() != TRAILER || digest.as_slice() != tail.as_slice() {
        // Dropping `out` deletes the temporary file.
        return Err(Error::Protocol(format!(
            "the backup arrived damaged ({offset} of {total} bytes, checksum {})",
            if digest.as_slice() == tail.as_slice() {
                "ok"
            } else {
                "wrong"
            }
        ))
        .into());
    }
    out.as_file().sync_all().map_err(|e| io_failure(file, e))?;
    out.persist(file).map_err(|e| io_failure(file, e.error))?;
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_failure(file, e))?;
    Ok(BackupDone {
        file: file.to_owned(),
        bytes: offset,
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// A progress bar on a terminal, nothing otherwise.
fn progress(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("backup [{bar:40}] {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
