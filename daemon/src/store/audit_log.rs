//! The audit log: an append-only file of entries, in segments, beside sled.
//!
//! Every audited request adds an entry. In sled that cost a B-tree insert (a copy of the leaf)
//! on the event loop per entry, and its outcome a second one, which made the log the largest
//! cost of a session issue. Here appending is encoding a record into a buffer. Durability comes
//! from the session journal, which carries every entry until this log has synced it: the store
//! syncs the log in its checkpoints (every 500 ms and at shutdown) and records the journal
//! position up to which the carried entries are safe here; at open it copies back the entries
//! the journal holds past that position.
//!
//! Files, in `audit/` in the data dir:
//! - `<seq>.log` (16 hex digits): segments, oldest first. Records use the session journal's
//!   framing (length, CRC-32, a tag, the 24-byte key, the entry). A later record for a key
//!   replaces an earlier one: that is how an outcome replaces `pending`.
//! - `state`: a side file holding that journal position and how much of the current segment is
//!   synced. A current segment shorter than that is damage (the store refuses to start); a
//!   torn record past it is a crash's tail and is cut off.
//!
//! A segment is closed at [`SEGMENT_BYTES`]. Pruning deletes whole closed segments whose
//! entries are all older than the cut-off, so an entry may outlive the retention by up to one
//! segment.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::private_file::{self, Contents};
use super::sessions::{decode_record, encode_audit, Decoded, Position};
use super::side_file::{self, Recorded, SideFile};
use super::spare_buffer::SpareBuffer;
use super::{AuditKey, StoreError};

/// The log's directory in the data dir.
pub(crate) const DIR: &str = "audit";
const STATE: &str = "state";
/// A segment is closed once it holds this much.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent before it can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn segment_name(seq: u64) -> String {
    format!("{seq:016x}.log")
}

/// The segment being appended to.
#[derive(Debug)]
struct Current {
    seq: u64,
    file: File,
    /// Bytes written.
    len: u64,
}

/// The files: closed segments and the current one.
#[derive(Debug)]
struct Files {
    /// Closed segments' numbers, oldest first.
    closed: Vec<u64>,
    current: Current,
    /// The write buffer that takes turns with the queue.
    spare: SpareBuffer,
}

/// What the state side file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Synced {
    /// Every entry the journal carries before this position is synced here.
    pub carried_to: Position,
    /// The current segment and its synced length.
    segment: u64,
    len: u64,
}

impl Synced {
    fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, v) in [self.carried_to.0, self.carried_to.1, self.segment, self.len]
            .into_iter()
            .enumerate()
        {
            out[i * 8..(i + 1) * 8].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Synced {
        let at = |i: usize| u64::from_le_bytes(bytes[i * 8..(i + 1) * 8].try_into().expect("8"));
        Synced {
            carried_to: (at(0), at(1)),
            segment: at(2),
            len: at(3),
        }
    }
}

/// The open audit log. See the module docs.
#[derive(Debug)]
pub(crate) struct AuditLog {
    dir: PathBuf,
    /// Whether [`AuditLog::sync`] calls `fdatasync` (see [`AuditLog::open`]).
    fsync: bool,
    /// Encoded records not yet written.
    queue: Mutex<Vec<u8>>,
    files: Mutex<Files>,
    state: SideFile,
}

/// The intact records at the start of a segment.
struct Scanned<'a> {
    /// Keys and entries, in file order.
    records: Vec<(AuditKey, &'a [u8])>,
    /// Bytes they take.
    end: usize,
    /// Why reading stopped before the end of the bytes, if it did.
    torn: Option<&'static str>,
}

/// The records in `bytes`, in order, up to the first that is not intact.
fn scan(mut bytes: &[u8]) -> Scanned<'_> {
    let mut out = Scanned {
        records: Vec::new(),
        end: 0,
        torn: None,
    };
    loop {
        match decode_record(bytes) {
            Decoded::Audit { key, entry, len } => {
                out.records.push((*key, entry));
                out.end += len;
                bytes = &bytes[len..];
            }
            Decoded::End => return out,
            Decoded::Bad(why) => {
                out.torn = Some(why);
                return out;
            }
            Decoded::Record(..) => {
                out.torn = Some("a session record in the audit log");
                return out;
            }
        }
    }
}

/// The intact records of a segment.
fn records(bytes: &[u8]) -> Vec<(AuditKey, &[u8])> {
    scan(bytes).records
}

impl AuditLog {
    /// Opens the log in `dir`'s `audit/` directory, creating it if there is none. Returns it
    /// and what its state file recorded (`None` for a new log). `fsync` says whether
    /// [`AuditLog::sync`] calls `fdatasync`: the store always asks for it, whatever its own
    /// `fsync` option (the sync runs in the background, and a state file ahead of the data
    /// would make the next start refuse the log); only tests that write tens of megabytes
    /// turn it off.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] if synced entries are missing; I/O errors.
    pub fn open(data_dir: &Path, fsync: bool) -> Result<(AuditLog, Option<Synced>), StoreError> {
        let dir = data_dir.join(DIR);
        let damaged = |detail: String| StoreError::Damaged {
            dir: data_dir.to_owned(),
            detail,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(StoreError::Io)?;
        let recorded = match side_file::read(&dir.join(STATE), 32).map_err(StoreError::Io)? {
            Recorded::Value(v) => Some(Synced::decode(&v)),
            Recorded::Missing => None,
            Recorded::Garbled => return Err(damaged(format!("{DIR}/{STATE} is garbled"))),
        };
        let mut seqs = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(StoreError::Io)? {
            let name = entry.map_err(StoreError::Io)?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name
                .strip_suffix(".log")
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let seq = seqs.pop().unwrap_or(1);
        if let Some(r) = recorded {
            if r.segment > seq {
                return Err(damaged(format!(
                    "{DIR}/{} is missing, but {DIR}/{STATE} records it",
                    segment_name(r.segment)
                )));
            }
        }
        let path = dir.join(segment_name(seq));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::Io(e)),
        };
        let Scanned { end, torn, .. } = scan(&bytes);
        let required = match recorded {
            Some(r) if r.segment == seq => r.len,
            _ => 0,
        };
        if (end as u64) < required {
            return Err(damaged(format!(
                "{DIR}/{} holds {end} good bytes, but {required} were synced: audit entries are \
                 missing",
                segment_name(seq)
            )));
        }
        let file = private_file::open(&path, Contents::Keep).map_err(StoreError::Io)?;
        if let Some(why) = torn {
            tracing::warn!(
                at = end,
                discarded = bytes.len() - end,
                why,
                "cutting off the torn tail of the audit log"
            );
        }
        if bytes.len() != end {
            file.set_len(end as u64).map_err(StoreError::Io)?;
        }
        let log = AuditLog {
            state: SideFile::open(&dir.join(STATE)).map_err(StoreError::Io)?,
            dir,
            fsync,
            queue: Mutex::new(Vec::new()),
            files: Mutex::new(Files {
                closed: seqs,
                current: Current {
                    seq,
                    file,
                    len: end as u64,
                },
                spare: SpareBuffer::default(),
            }),
        };
        Ok((log, recorded))
    }

    /// Queues an entry under `key`, replacing any earlier entry under it. Written and synced by
    /// [`AuditLog::sync`]; until then only the journal carries it.
    ///
    /// # Errors
    /// If the entry is longer than a record may be (entries are a few hundred bytes).
    pub fn append(&self, key: &AuditKey, entry: &[u8]) -> Result<(), StoreError> {
        if entry.len() > super::sessions::MAX_AUDIT_ENTRY {
            return Err(StoreError::corrupt(
                "audit",
                format!("an entry of {} bytes", entry.len()),
            ));
        }
        encode_audit(key, entry, &mut lock(&self.queue));
        Ok(())
    }

    /// Writes what is queued to the current segment, closing it first if it is full.
    fn write(&self, files: &mut Files) -> Result<(), StoreError> {
        let bytes = files.spare.swap_with(&mut lock(&self.queue));
        if bytes.is_empty() {
            files.spare.keep(bytes);
            return Ok(());
        }
        let written = self.roll_if_full(files).and_then(|()| {
            let current = &mut files.current;
            current
                .file
                .write_all_at(&bytes, current.len)
                .map_err(StoreError::Io)?;
            current.len += bytes.len() as u64;
            Ok(())
        });
        if written.is_err() {
            // Put back in front, to be written again.
            let mut queue = lock(&self.queue);
            let later = std::mem::replace(&mut *queue, bytes);
            queue.extend_from_slice(&later);
        } else {
            files.spare.keep(bytes);
        }
        written
    }

    /// Closes the current segment if it is full: syncs it and starts the next.
    fn roll_if_full(&self, files: &mut Files) -> Result<(), StoreError> {
        if files.current.len < SEGMENT_BYTES {
            return Ok(());
        }
        files.current.file.sync_data().map_err(StoreError::Io)?;
        let seq = files.current.seq + 1;
        let file = private_file::open(&self.dir.join(segment_name(seq)), Contents::Discard)
            .map_err(StoreError::Io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(StoreError::Io)?;
        let old = std::mem::replace(&mut files.current, Current { seq, file, len: 0 });
        files.closed.push(old.seq);
        Ok(())
    }

    /// Writes and syncs everything queued, then records that the entries the journal carries
    /// before `carried_to` are safe here. The caller reads `carried_to` before this call, after
    /// queuing every such entry.
    ///
    /// # Errors
    /// If a write or the sync fails; unwritten entries stay queued.
    pub fn sync(&self, carried_to: Position) -> Result<(), StoreError> {
        let mut files = lock(&self.files);
        self.write(&mut files)?;
        if self.fsync {
            files.current.file.sync_data().map_err(StoreError::Io)?;
        }
        let synced = Synced {
            carried_to,
            segment: files.current.seq,
            len: files.current.len,
        };
        self.state.record(&synced.encode()).map_err(StoreError::Io)
    }

    /// The key of segment `seq`'s first written record: read from its head alone, which holds
    /// a whole record of the longest kind.
    fn first_key(&self, seq: u64) -> Result<Option<AuditKey>, StoreError> {
        const HEAD: u64 = 8 << 10;
        let file = match File::open(self.dir.join(segment_name(seq))) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io(e)),
        };
        let mut head = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, HEAD), &mut head)
            .map_err(StoreError::Io)?;
        Ok(records(&head).first().map(|(k, _)| *k))
    }

    fn read_segment(&self, seq: u64) -> Result<Vec<u8>, StoreError> {
        match std::fs::read(self.dir.join(segment_name(seq))) {
            Ok(bytes) => Ok(bytes),
            // Pruned meanwhile.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::Io(e)),
        }
    }

    /// Segment numbers, oldest first, after writing what is queued.
    fn segments(&self) -> Result<Vec<u64>, StoreError> {
        let mut files = lock(&self.files);
        self.write(&mut files)?;
        let mut all = files.closed.clone();
        all.push(files.current.seq);
        Ok(all)
    }

    /// The newest `limit` entries whose keys are at or after `from`, oldest first. Reads
    /// segments from the newest back, and stops once it has `limit` entries or reaches a
    /// segment that begins before `from`.
    ///
    /// # Errors
    /// If a segment cannot be read.
    pub fn since(&self, from: &AuditKey, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut found: HashMap<AuditKey, Vec<u8>> = HashMap::new();
        for seq in self.segments()?.into_iter().rev() {
            let bytes = self.read_segment(seq)?;
            let recs = records(&bytes);
            let begins_before = recs.first().is_some_and(|(k, _)| k < from);
            // Newest first: the first version seen of a key is its latest.
            for (key, entry) in recs.into_iter().rev() {
                if &key >= from {
                    found.entry(key).or_insert_with(|| entry.to_vec());
                }
            }
            if begins_before || found.len() >= limit {
                break;
            }
        }
        let mut keys: Vec<AuditKey> = found.keys().copied().collect();
        keys.sort_unstable();
        let skip = keys.len().saturating_sub(limit);
        Ok(keys[skip..]
            .iter()
            .map(|k| found.remove(k).expect("listed from the map"))
            .collect())
    }

    /// Every record, oldest first, superseded ones included (a later record for a key replaces
    /// an earlier one): for backups, which apply them in the same order.
    ///
    /// # Errors
    /// If a segment cannot be read, or `sink` fails.
    pub fn for_each(
        &self,
        mut sink: impl FnMut(&AuditKey, &[u8]) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for seq in self.segments()? {
            let bytes = self.read_segment(seq)?;
            for (key, entry) in records(&bytes) {
                sink(&key, entry).map_err(StoreError::Io)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The keys in the newest two segments: where entries written since the last sync are.
    ///
    /// # Errors
    /// If a segment cannot be read.
    pub fn recent_keys(&self) -> Result<HashSet<AuditKey>, StoreError> {
        let segments = self.segments()?;
        let mut keys = HashSet::new();
        for &seq in segments.iter().rev().take(2) {
            keys.extend(
                records(&self.read_segment(seq)?)
                    .into_iter()
                    .map(|(k, _)| k),
            );
        }
        Ok(keys)
    }

    /// Deletes closed segments whose entries are all before `before` (the next segment begins
    /// before it); returns how many records they held.
    ///
    /// # Errors
    /// If a segment cannot be read or deleted.
    pub fn prune(&self, before: &AuditKey) -> Result<u64, StoreError> {
        let mut files = lock(&self.files);
        let mut pruned = 0;
        while let Some(&oldest) = files.closed.first() {
            let next = files.closed.get(1).copied().unwrap_or(files.current.seq);
            if self.first_key(next)?.is_none_or(|k| &k >= before) {
                break;
            }
            pruned += records(&self.read_segment(oldest)?).len() as u64;
            std::fs::remove_file(self.dir.join(segment_name(oldest))).map_err(StoreError::Io)?;
            files.closed.remove(0);
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sessions::AUDIT_KEY;

    fn key(at: u64, n: u8) -> AuditKey {
        let mut k = [n; AUDIT_KEY];
        k[..8].copy_from_slice(&at.to_be_bytes());
        k
    }

    /// Entries come back newest-limited and oldest first, a later record for a key replaces an
    /// earlier one, and what was synced survives a reopen while the unsynced queue does not.
    #[test]
    fn append_read_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (log, recorded) = AuditLog::open(dir.path(), true).unwrap();
        assert_eq!(recorded, None);
        for n in 1..=5 {
            log.append(&key(n, 0), b"pending").unwrap();
        }
        log.append(&key(3, 0), b"ok").unwrap();
        assert_eq!(
            log.since(&key(2, 0), 3).unwrap(),
            vec![b"ok".to_vec(), b"pending".to_vec(), b"pending".to_vec()]
        );
        assert_eq!(log.since(&key(2, 0), 10).unwrap().len(), 4);
        log.sync((1, 99)).unwrap();
        log.append(&key(6, 0), b"lost").unwrap();
        drop(log);
        let (log, recorded) = AuditLog::open(dir.path(), true).unwrap();
        assert_eq!(recorded.map(|r| r.carried_to), Some((1, 99)));
        assert_eq!(log.since(&key(0, 0), 10).unwrap().len(), 5);
        let mut seen = Vec::new();
        log.for_each(|k, e| {
            seen.push((k[7], e.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 6, "the superseded record is kept for backups");
        assert!(log.recent_keys().unwrap().contains(&key(5, 0)));
    }

    /// A torn tail past the synced length is cut off; a segment shorter than synced is
    /// damage.
    #[test]
    fn torn_tail_versus_lost_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path(), true).unwrap();
        log.append(&key(1, 0), b"synced").unwrap();
        log.sync((1, 0)).unwrap();
        log.append(&key(2, 0), b"torn").unwrap();
        log.write(&mut lock(&log.files)).unwrap();
        drop(log);
        let path = dir.path().join(DIR).join(segment_name(1));
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 2).unwrap();
        let (log, _) = AuditLog::open(dir.path(), true).unwrap();
        assert_eq!(log.since(&key(0, 0), 10).unwrap(), vec![b"synced".to_vec()]);
        drop(log);
        f.set_len(10).unwrap();
        let err = AuditLog::open(dir.path(), true).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    }

    /// Full segments are closed; pruning deletes the closed ones wholly before the cut-off,
    /// and never the current one.
    #[test]
    fn segments_roll_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        // Without fdatasync: this writes 32 MiB.
        let (log, _) = AuditLog::open(dir.path(), false).unwrap();
        let entry = vec![7u8; 4000];
        let mut at = 0;
        while lock(&log.files).closed.len() < 2 {
            log.append(&key(at, 0), &entry).unwrap();
            log.sync((1, 0)).unwrap();
            at += 1;
        }
        let third_begins = at - 1;
        for _ in 0..10 {
            log.append(&key(at, 0), &entry).unwrap();
            at += 1;
        }
        assert_eq!(
            log.prune(&key(10, 0)).unwrap(),
            0,
            "the next segment is newer"
        );
        assert_eq!(lock(&log.files).closed.len(), 2);
        let pruned = log.prune(&key(third_begins + 1, 0)).unwrap();
        assert_eq!(pruned, third_begins);
        assert!(lock(&log.files).closed.is_empty());
        assert_eq!(log.since(&key(0, 0), 100).unwrap().len(), 11);
        drop(log);
        AuditLog::open(dir.path(), false).unwrap();
    }
}
