//! The session journal: an append-only file of [`Change`]s, replayed at start-up and
//! rewritten (compacted) when it is mostly garbage.
//!
//! Files in the data dir:
//! - `sessions.journal`: a 24-byte header (magic, epoch, CRC) and then records;
//! - `sessions.state`: a side file holding the epoch and the length known durable.
//!
//! Changes are appended to an in-memory buffer under the same lock that applies them to the
//! table, so the journal's order is the table's order. [`Journal::write_queued`] moves the buffer to
//! the file; with `sync` it also `fdatasync`s the file and then records the durable length in
//! the state file. At start-up a shorter journal than the state file records means
//! acknowledged changes (perhaps revocations) are missing: the store refuses to start. A torn
//! record past that length is the tail of a crash and is cut off.
//!
//! Compaction writes every live session to a new file with the next epoch, syncs it, and
//! renames it over the old one. The buffer is emptied when compaction starts: everything in it
//! is already in the table the snapshot reads, and replaying a change twice is harmless. Audit
//! entries are not in the table: those past the point the caller names (the last one the audit
//! log has synced) are carried over into the new file.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::change::{self, Change, Decoded};
use crate::store::private_file::{self, Contents};
use crate::store::record_frame::{self, Position, AUDIT_KEY};
use crate::store::side_file::{self, Recorded, SideFile};
use crate::store::spare_buffer::SpareBuffer;
use crate::store::StoreError;

/// The journal's file name in the data dir.
pub(crate) const JOURNAL: &str = "sessions.journal";
/// The state side file's name.
pub(crate) const STATE: &str = "sessions.state";
const MAGIC: &[u8; 8] = b"KWSESSJ1";
/// Magic, epoch, and the CRC of both.
const HEADER: usize = 8 + 8 + 4;
/// Zeros written ahead of the records, a mebibyte at a time. Appending within blocks the file
/// already has leaves its size and block map alone, so an `fdatasync` flushes the data without
/// a filesystem journal commit (measured here: 106 µs against 133-165 µs). Replay stops at the
/// zeros, which read as the end of the written part, and open cuts them off.
const PREALLOCATE: u64 = 1 << 20;
/// Snapshot bytes gathered before each write during compaction.
const SNAPSHOT_CHUNK: usize = 1 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent before it can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn header(epoch: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&epoch.to_le_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The open file and how much of it is written and synced.
#[derive(Debug)]
struct Open {
    file: File,
    epoch: u64,
    /// Bytes written.
    len: u64,
    /// Bytes known durable.
    synced: u64,
    /// The file's length: past `len` it holds zeros written ahead (see [`PREALLOCATE`]).
    allocated: u64,
    /// The write buffer that takes turns with the queue.
    spare: SpareBuffer,
}

/// Encoded records not yet written to the file, and where they will go.
#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// The epoch of the file they go to...
    epoch: u64,
    /// ...and the offset in it where they start.
    base: u64,
}

/// An audit entry read back from the journal: its key and its bytes.
pub(crate) type CarriedAudit = ([u8; AUDIT_KEY], Vec<u8>);

/// The journal. See the module docs.
#[derive(Debug)]
pub(super) struct Journal {
    dir: PathBuf,
    fsync: bool,
    /// Encoded changes not yet written to the file.
    pending: Mutex<Queue>,
    open: Mutex<Open>,
    state: SideFile,
}

impl Journal {
    /// Opens the journal in `dir`, creating it if there is none. `replay` reads the records
    /// (see [`Records::changes`]) and returns how the reading ended; only then is the journal
    /// checked against what was acknowledged, so a caller must discard what it replayed if
    /// this fails.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] if acknowledged changes are missing or the header is garbled.
    pub fn open(
        dir: &Path,
        fsync: bool,
        replay: impl FnOnce(&Records<'_>) -> Scan,
    ) -> Result<Journal, StoreError> {
        let path = dir.join(JOURNAL);
        let damaged = |detail: String| StoreError::Damaged {
            dir: dir.to_owned(),
            detail,
        };
        let recorded = match side_file::read(&dir.join(STATE), 16).map_err(StoreError::Io)? {
            Recorded::Value(v) => Some((
                u64::from_le_bytes(v[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(v[8..].try_into().expect("8 bytes")),
            )),
            Recorded::Missing => None,
            Recorded::Garbled => return Err(damaged(format!("{STATE} is garbled"))),
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if let Some((epoch, _)) = recorded {
                    return Err(damaged(format!(
                        "{JOURNAL} is missing, but {STATE} records epoch {epoch}"
                    )));
                }
                return Journal::create(dir, fsync);
            }
            Err(e) => return Err(StoreError::Io(e)),
        };
        if bytes.len() < HEADER || bytes[..HEADER] != header(epoch_of(&bytes)) {
            return Err(damaged(format!("{JOURNAL} has a garbled header")));
        }
        let epoch = epoch_of(&bytes);
        let required = match recorded {
            // A compaction renamed its file into place but did not get to record it.
            Some((e, _)) if e < epoch => HEADER as u64,
            Some((e, len)) if e == epoch => len,
            Some((e, _)) => {
                return Err(damaged(format!(
                    "{JOURNAL} is epoch {epoch}, but {STATE} records epoch {e}: an older \
                     journal was put back"
                )))
            }
            None => HEADER as u64,
        };
        let scan = replay(&Records(&bytes[HEADER..]));
        let torn = scan.torn;
        let end = (HEADER + scan.end) as u64;
        if end < required {
            return Err(damaged(format!(
                "{JOURNAL} holds {end} good bytes{}, but {required} were acknowledged: \
                 acknowledged session changes (possibly revocations) are missing",
                torn.map(|why| format!(" ({why} at byte {end})"))
                    .unwrap_or_default()
            )));
        }
        if recorded.is_none() && end > HEADER as u64 {
            return Err(damaged(format!(
                "{STATE} is missing, but {JOURNAL} holds sessions"
            )));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(StoreError::Io)?;
        if let Some(why) = torn {
            tracing::warn!(
                at = end,
                discarded = bytes.len() as u64 - end,
                why,
                "cutting off the torn tail of the session journal"
            );
        }
        if bytes.len() as u64 != end {
            file.set_len(end).map_err(StoreError::Io)?;
        }
        let journal = Journal::from_parts(dir, fsync, file, epoch, end)?;
        journal.record_state(epoch, end)?;
        Ok(journal)
    }

    fn from_parts(
        dir: &Path,
        fsync: bool,
        file: File,
        epoch: u64,
        len: u64,
    ) -> Result<Journal, StoreError> {
        Ok(Journal {
            dir: dir.to_owned(),
            fsync,
            pending: Mutex::new(Queue {
                bytes: Vec::new(),
                epoch,
                base: len,
            }),
            open: Mutex::new(Open {
                file,
                epoch,
                len,
                synced: len,
                allocated: len,
                spare: SpareBuffer::default(),
            }),
            state: SideFile::open(&dir.join(STATE)).map_err(StoreError::Io)?,
        })
    }

    /// Starts an empty journal at epoch 1.
    fn create(dir: &Path, fsync: bool) -> Result<Journal, StoreError> {
        let file = write_new(dir, 1, |_| Ok(()))?;
        let journal = Journal::from_parts(dir, fsync, file, 1, HEADER as u64)?;
        journal.record_state(1, HEADER as u64)?;
        Ok(journal)
    }

    fn record_state(&self, epoch: u64, len: u64) -> Result<(), StoreError> {
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&epoch.to_le_bytes());
        payload[8..].copy_from_slice(&len.to_le_bytes());
        self.state.record(&payload).map_err(StoreError::Io)
    }

    /// Runs `apply` and, if it returns `true`, queues `change`, both under one lock, so the
    /// journal records changes in the order they took effect.
    pub fn append(&self, change: &Change, apply: impl FnOnce() -> bool) -> bool {
        let mut pending = lock(&self.pending);
        let applied = apply();
        if applied {
            change.encode(&mut pending.bytes);
        }
        applied
    }

    /// Queues an audit entry (at most [`record_frame::MAX_AUDIT_ENTRY`] bytes).
    pub fn append_audit(&self, key: &[u8; AUDIT_KEY], entry: &[u8]) {
        record_frame::encode_audit(key, entry, &mut lock(&self.pending).bytes);
    }

    /// Where the next queued record will go.
    pub fn position(&self) -> Position {
        let pending = lock(&self.pending);
        (pending.epoch, pending.base + pending.bytes.len() as u64)
    }

    /// The audit entries written at or after `from`: all of this epoch's if `from` is in an
    /// earlier one.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn audits_from(&self, from: Position) -> Result<Vec<CarriedAudit>, StoreError> {
        let open = lock(&self.open);
        audits_in(&open, from)
    }

    /// Queues many changes, applying each first (see [`Journal::append`]).
    pub fn append_all(&self, changes: impl IntoIterator<Item = (Change, bool)>) {
        let mut pending = lock(&self.pending);
        for (change, applied) in changes {
            if applied {
                change.encode(&mut pending.bytes);
            }
        }
    }

    /// Writes queued changes to the file; with `sync`, also makes them durable.
    ///
    /// # Errors
    /// If a write fails. The changes stay queued and the next call writes them again.
    pub fn write_queued(&self, sync: bool) -> Result<(), StoreError> {
        let mut open = lock(&self.open);
        let bytes = {
            let mut pending = lock(&self.pending);
            let bytes = open.spare.swap_with(&mut pending.bytes);
            pending.base += bytes.len() as u64;
            bytes
        };
        if !bytes.is_empty() {
            // Best effort: on a nearly full disk the records may fit where a mebibyte of zeros
            // does not, and an append without them is merely slower to sync.
            let end = open.len + bytes.len() as u64;
            let _ = preallocate(&mut open, end);
            if let Err(e) = open.file.write_all_at(&bytes, open.len) {
                lock(&self.pending).put_back(bytes);
                return Err(StoreError::Io(e));
            }
            open.len += bytes.len() as u64;
        }
        open.spare.keep(bytes);
        // Without `fsync` nothing is recorded as synced: the state file must never get ahead of
        // what is on disk. The background `write_and_sync` does that part.
        if sync && self.fsync && open.synced < open.len {
            open.file.sync_data().map_err(StoreError::Io)?;
            open.synced = open.len;
            self.record_state(open.epoch, open.len)?;
        }
        Ok(())
    }

    /// Writes queued changes and syncs the file, whatever the `fsync` option says: the
    /// background writer's call, which bounds what power loss can take of changes nobody
    /// waits on (slides, sweeps) and, with `fsync` off, of acknowledged ones.
    ///
    /// # Errors
    /// If the write or the sync fails.
    pub fn write_and_sync(&self) -> Result<(), StoreError> {
        self.write_queued(false)?;
        let mut open = lock(&self.open);
        if open.synced < open.len {
            open.file.sync_data().map_err(StoreError::Io)?;
            open.synced = open.len;
            self.record_state(open.epoch, open.len)?;
        }
        Ok(())
    }

    /// Rewrites the journal as `snapshot` describes the live sessions, followed by the audit
    /// entries queued or written at or after `carry_from`.
    ///
    /// `snapshot` is called once, after the queue is emptied, and hands records to its
    /// argument; changes made meanwhile queue up and are written after the snapshot.
    ///
    /// # Errors
    /// If writing the new file fails; the old journal then stays in place, whole.
    pub fn compact(
        &self,
        carry_from: Position,
        snapshot: impl FnOnce(&mut dyn FnMut(&Change) -> std::io::Result<()>) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let mut open = lock(&self.open);
        let (dropped, dropped_at) = {
            let mut pending = lock(&self.pending);
            let at = (pending.epoch, pending.base);
            (std::mem::take(&mut pending.bytes), at)
        };
        let mut carried = audits_in(&open, carry_from)?;
        carried.extend(audits(skip_to(&dropped, dropped_at, carry_from)));
        let epoch = open.epoch + 1;
        let result = write_new(&self.dir, epoch, |file| {
            let mut buf = Vec::with_capacity(SNAPSHOT_CHUNK + 128);
            let mut at = HEADER as u64;
            snapshot(&mut |change| {
                change.encode(&mut buf);
                if buf.len() >= SNAPSHOT_CHUNK {
                    file.write_all_at(&buf, at)?;
                    at += buf.len() as u64;
                    buf.clear();
                }
                Ok(())
            })?;
            for (key, entry) in &carried {
                record_frame::encode_audit(key, entry, &mut buf);
            }
            file.write_all_at(&buf, at)
        });
        let file = match result {
            Ok(file) => file,
            Err(e) => {
                // The old file is untouched; put the dropped changes back for it.
                lock(&self.pending).put_back(dropped);
                return Err(e);
            }
        };
        let len = file.metadata().map_err(StoreError::Io)?.len();
        *open = Open {
            file,
            epoch,
            len,
            synced: len,
            allocated: len,
            spare: SpareBuffer::default(),
        };
        {
            let mut pending = lock(&self.pending);
            pending.epoch = epoch;
            pending.base = len;
        }
        self.record_state(epoch, len)
    }
}

/// Writes zeros ahead so that the file holds at least `end` bytes; see [`PREALLOCATE`].
fn preallocate(open: &mut Open, end: u64) -> std::io::Result<()> {
    if end <= open.allocated {
        return Ok(());
    }
    // Never below the written end: after a failed attempt, records may lie past `allocated`.
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    let mut at = open.allocated.max(open.len);
    let target = end + PREALLOCATE;
    while at < target {
        let n = usize::try_from(target - at).map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
        open.file.write_all_at(&ZEROS[..n], at)?;
        at += n as u64;
    }
    open.allocated = target;
    Ok(())
}

impl Queue {
    /// Puts back in front bytes taken for a write that failed.
    fn put_back(&mut self, bytes: Vec<u8>) {
        let later = std::mem::replace(&mut self.bytes, bytes);
        self.base -= self.bytes.len() as u64;
        self.bytes.extend_from_slice(&later);
    }
}

/// The audit entries in `open`'s file at or after `from` (all of them if `from` is in an
/// earlier epoch).
fn audits_in(open: &Open, from: Position) -> Result<Vec<CarriedAudit>, StoreError> {
    let start = match from {
        (epoch, offset) if epoch == open.epoch => offset.max(HEADER as u64),
        _ => HEADER as u64,
    };
    if start >= open.len {
        return Ok(Vec::new());
    }
    let mut bytes = vec![0; usize::try_from(open.len - start).expect("a journal fits memory")];
    open.file
        .read_exact_at(&mut bytes, start)
        .map_err(StoreError::Io)?;
    Ok(audits(&bytes))
}

/// The part of `bytes`, which start at position `at`, from position `from` on: all of them
/// if `from` is in an earlier epoch.
fn skip_to(bytes: &[u8], at: Position, from: Position) -> &[u8] {
    if from.0 != at.0 || from.1 <= at.1 {
        return bytes;
    }
    let skip = usize::try_from(from.1 - at.1).map_or(bytes.len(), |n| n.min(bytes.len()));
    &bytes[skip..]
}

/// The audit entries among encoded records.
fn audits(mut bytes: &[u8]) -> Vec<CarriedAudit> {
    let mut out = Vec::new();
    loop {
        let len = match change::decode(bytes) {
            Decoded::Record(_, len) => len,
            Decoded::Audit { key, entry, len } => {
                out.push((*key, entry.to_vec()));
                len
            }
            Decoded::End | Decoded::Bad(_) => return out,
        };
        bytes = &bytes[len..];
    }
}

impl Drop for Journal {
    /// Writes and syncs what is queued, as sled does when it is dropped: a clean shutdown
    /// loses nothing.
    fn drop(&mut self) {
        if let Err(e) = self.write_queued(true) {
            tracing::error!(error = %e, "writing the session journal at close failed");
            return;
        }
        // A cleanly closed journal ends with its last record, not with zeros written ahead.
        let open = lock(&self.open);
        if open.allocated > open.len {
            if let Err(e) = open.file.set_len(open.len) {
                tracing::warn!(error = %e, "cutting the session journal's zeros at close failed");
            }
        }
    }
}

/// The records of a journal, as read at open.
#[derive(Debug)]
pub(super) struct Records<'a>(&'a [u8]);

impl<'a> Records<'a> {
    /// An iterator over every intact change, oldest first. Several may run at once.
    pub fn changes(&self) -> Changes<'a> {
        Changes {
            bytes: self.0,
            at: 0,
            torn: None,
        }
    }

    /// The most sessions they can hold: the issue records, counted by walking the frames
    /// without checking them, to size the table.
    pub fn max_sessions(&self) -> usize {
        change::count_issues(self.0)
    }
}

/// How reading the records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scan {
    /// Bytes of intact records.
    pub end: usize,
    /// Why reading stopped before the written end, if it did.
    pub torn: Option<&'static str>,
}

/// Iterates the changes in [`Records`]; once done, [`Changes::ended`] says how it ended.
#[derive(Debug)]
pub(super) struct Changes<'a> {
    bytes: &'a [u8],
    at: usize,
    torn: Option<&'static str>,
}

impl Changes<'_> {
    /// Where and why the iteration stopped.
    pub fn ended(&self) -> Scan {
        Scan {
            end: self.at,
            torn: self.torn,
        }
    }
}

impl Iterator for Changes<'_> {
    type Item = Change;

    fn next(&mut self) -> Option<Change> {
        if self.torn.is_some() {
            return None;
        }
        loop {
            match change::decode(&self.bytes[self.at..]) {
                Decoded::Record(c, n) => {
                    self.at += n;
                    return Some(c);
                }
                // Not a session's: the store reads these back itself.
                Decoded::Audit { len, .. } => self.at += len,
                Decoded::End => return None,
                Decoded::Bad(why) => {
                    self.torn = Some(why);
                    return None;
                }
            }
        }
    }
}

fn epoch_of(bytes: &[u8]) -> u64 {
    bytes
        .get(8..16)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Writes a journal file with `epoch`'s header and what `body` adds, syncs it, and renames it
/// into place. Returns it open for appending.
fn write_new(
    dir: &Path,
    epoch: u64,
    body: impl FnOnce(&File) -> std::io::Result<()>,
) -> Result<File, StoreError> {
    let tmp = dir.join(format!("{JOURNAL}.new"));
    let file = private_file::open(&tmp, Contents::Discard).map_err(StoreError::Io)?;
    let written = (|| {
        file.write_all_at(&header(epoch), 0)?;
        body(&file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(JOURNAL))?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Io(e));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn end(n: u128) -> Change {
        Change::End {
            id: Uuid::from_u128(n),
        }
    }

    fn replay(dir: &Path) -> Result<(Journal, Vec<Change>), StoreError> {
        let mut seen = Vec::new();
        let j = Journal::open(dir, true, |records| {
            let mut changes = records.changes();
            seen.extend(&mut changes);
            changes.ended()
        })?;
        Ok((j, seen))
    }

    fn audit(n: u8) -> CarriedAudit {
        ([n; AUDIT_KEY], vec![n; usize::from(n)])
    }

    /// What was synced comes back in order; compaction replaces it with the snapshot.
    #[test]
    fn replays_then_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let (j, seen) = replay(dir.path()).unwrap();
        assert!(seen.is_empty());
        for n in 0..3 {
            j.append(&end(n), || true);
        }
        j.append(&end(9), || false);
        j.write_queued(true).unwrap();
        drop(j);
        let (j, seen) = replay(dir.path()).unwrap();
        assert_eq!(seen, vec![end(0), end(1), end(2)]);
        j.append(&end(3), || true);
        j.compact(j.position(), |put| put(&end(7))).unwrap();
        j.append(&end(8), || true);
        j.write_queued(true).unwrap();
        drop(j);
        let (_, seen) = replay(dir.path()).unwrap();
        assert_eq!(seen, vec![end(7), end(8)]);
    }

    /// Audit entries are skipped by session replay and read back from a position on, written
    /// or queued; compaction carries those from its position on, and only those.
    #[test]
    fn audit_entries_are_carried_from_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = replay(dir.path()).unwrap();
        let (one, two, three) = (audit(1), audit(2), audit(3));
        j.append_audit(&one.0, &one.1);
        j.append(&end(1), || true);
        j.write_queued(true).unwrap();
        let mark = j.position();
        j.append_audit(&two.0, &two.1);
        j.write_queued(false).unwrap();
        j.append_audit(&three.0, &three.1);
        assert_eq!(
            j.audits_from((0, 0)).unwrap(),
            vec![one.clone(), two.clone()]
        );
        assert_eq!(j.audits_from(mark).unwrap(), vec![two.clone()]);
        // The queued entry is carried too, after the snapshot.
        j.compact(mark, |put| put(&end(7))).unwrap();
        let (epoch, _) = j.position();
        assert_eq!(
            j.audits_from((epoch, 0)).unwrap(),
            vec![two.clone(), three.clone()]
        );
        drop(j);
        let (j, seen) = replay(dir.path()).unwrap();
        assert_eq!(seen, vec![end(7)]);
        assert_eq!(j.audits_from((0, 0)).unwrap(), vec![two, three]);
        assert_eq!(j.audits_from(j.position()).unwrap(), vec![]);
    }

    /// A torn tail past the acknowledged length is cut off; damage inside it is refused.
    #[test]
    fn torn_tail_versus_lost_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = replay(dir.path()).unwrap();
        j.append(&end(1), || true);
        j.write_queued(true).unwrap();
        j.append(&end(2), || true);
        j.write_queued(false).unwrap();
        let (_, len) = j.position();
        // A crash: no sync at close.
        std::mem::forget(j);
        let path = dir.path().join(JOURNAL);
        assert!(std::fs::metadata(&path).unwrap().len() > len, "zeros ahead");
        // Tear the unsynced record: it is dropped, the synced one stays.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (j, seen) = replay(dir.path()).unwrap();
        assert_eq!(seen, vec![end(1)]);
        drop(j);
        // Garble the synced record: refused.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = replay(dir.path()).unwrap_err();
        assert!(err.to_string().contains("acknowledged"), "{err}");
    }

    /// Without `fsync`, a commit's write records nothing as synced (the state file must not get
    /// ahead of the disk); the background sync does.
    #[test]
    fn without_fsync_only_the_background_sync_records_state() {
        let dir = tempfile::tempdir().unwrap();
        let recorded = || match side_file::read(&dir.path().join(STATE), 16).unwrap() {
            Recorded::Value(v) => u64::from_le_bytes(v[8..].try_into().unwrap()),
            other => panic!("{other:?}"),
        };
        let j = Journal::open(dir.path(), false, |r| r.changes().ended()).unwrap();
        let empty = recorded();
        j.append(&end(1), || true);
        j.write_queued(true).unwrap();
        assert_eq!(recorded(), empty);
        j.write_and_sync().unwrap();
        assert!(recorded() > empty);
    }

    /// A missing journal, a missing state file, or an older epoch are refused.
    #[test]
    fn missing_or_older_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = replay(dir.path()).unwrap();
        j.append(&end(1), || true);
        j.write_queued(true).unwrap();
        let old = std::fs::read(dir.path().join(JOURNAL)).unwrap();
        j.compact(j.position(), |_| Ok(())).unwrap();
        drop(j);
        std::fs::write(dir.path().join(JOURNAL), &old).unwrap();
        assert!(matches!(
            replay(dir.path()),
            Err(StoreError::Damaged { .. })
        ));
        std::fs::remove_file(dir.path().join(STATE)).unwrap();
        assert!(matches!(
            replay(dir.path()),
            Err(StoreError::Damaged { .. })
        ));
        std::fs::remove_file(dir.path().join(JOURNAL)).unwrap();
        replay(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(JOURNAL)).unwrap();
        assert!(matches!(
            replay(dir.path()),
            Err(StoreError::Damaged { .. })
        ));
    }
}
