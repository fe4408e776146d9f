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
//! - `<seq>.log` (16 hex digits): segments, oldest first. Records use the framing the session
//!   journal uses too ([`super::record_frame`]: length, CRC-32, a tag, the 24-byte key, the
//!   entry). A later record for a key
//!   replaces an earlier one: that is how an outcome replaces `pending`.
//! - `state`: a side file holding that journal position and how much of the current segment is
//!   synced. A current segment shorter than that is damage (the store refuses to start); a
//!   torn record past it is a crash's tail and is cut off.
//!
//! A segment is closed at [`SEGMENT_BYTES`]. Pruning deletes whole closed segments whose
//! entries are all older than the cut-off, so an entry may outlive the retention by up to one
//! segment; and, oldest first, closed segments while the log holds more than its byte budget.
//!
//! An append that makes the queue of records waiting for the disk [`WRITE_AT_BYTES`] long writes
//! it out, unsynced (the checkpoint syncs it), so a busy issue load's entries never wait for a
//! checkpoint in memory. The queue holds at most [`QUEUE_MAX_BYTES`]: while the disk is full it
//! cannot grow without bound. Once it is full a new refused attempt is dropped, and a
//! new entry of any other kind first drops the refused attempts queued; every drop is counted.
//!
//! [`AuditLog`] is the log itself. The `impl Store` below it is what the rest of the daemon
//! calls (append, update, page, prune), and the recovery at open that copies back what the
//! journal carried.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::ErrorKind;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::private_file::{self, Contents};
use super::record_frame::{self, encode_audit, Frame, Position, MAX_AUDIT_ENTRY};
use super::side_file::{self, Recorded, SideFile};
use super::spare_buffer::SpareBuffer;
use keyward_protocol::UnixMillis;
use uuid::Uuid;

use super::keys::{audit_key, expiry_key, AuditKey};
use super::{records, AuditPriority, AuditRecord, Store, StoreError};

/// The log's directory in the data dir.
pub(crate) const DIR: &str = "audit";
const STATE: &str = "state";
/// A segment is closed once it holds this much.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;
/// Most bytes of records waiting for the disk: this much only queues up while writes fail,
/// since an append writes the queue out (unsynced) once it holds [`WRITE_AT_BYTES`].
pub(crate) const QUEUE_MAX_BYTES: usize = 4 << 20;
/// A queue this long is written out by the append that makes it so, without a sync, rather
/// than wait for the next checkpoint: every session issue is audited, and at tens of
/// thousands a second two checkpoints apart would otherwise fill [`QUEUE_MAX_BYTES`].
const WRITE_AT_BYTES: usize = 256 << 10;

/// Whether an entry may be dropped first when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A refused attempt: dropped first.
    Refused,
    /// An admin action or read, or its outcome.
    Action,
}

/// Encoded records waiting for the disk.
#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// Where the refused attempts are in `bytes`, in order.
    refused: Vec<Range<usize>>,
}

impl Queue {
    /// Removes the queued refused attempts; returns how many there were.
    fn shed_refused(&mut self) -> u64 {
        let ranges = std::mem::take(&mut self.refused);
        let mut kept = Vec::with_capacity(self.bytes.len());
        let mut from = 0;
        for r in &ranges {
            kept.extend_from_slice(&self.bytes[from..r.start]);
            from = r.end;
        }
        kept.extend_from_slice(&self.bytes[from..]);
        self.bytes = kept;
        ranges.len() as u64
    }
}

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
    /// What this process last recorded in the state file: a sync that would record the same
    /// again has nothing new to make durable, so it writes and syncs nothing, and an idle
    /// daemon leaves the disk alone.
    recorded: Option<Synced>,
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
    queue: Mutex<Queue>,
    /// Most bytes [`AuditLog::queue`] may hold ([`QUEUE_MAX_BYTES`]; tests lower it).
    queue_max: usize,
    /// Entries dropped because the queue was full.
    dropped: AtomicU64,
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
        match record_frame::decode(bytes) {
            Frame::Audit { key, entry, len } => {
                out.records.push((*key, entry));
                out.end += len;
                bytes = &bytes[len..];
            }
            Frame::End => return out,
            Frame::Bad(why) => {
                out.torn = Some(why);
                return out;
            }
            Frame::Other { .. } => {
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
            queue: Mutex::default(),
            queue_max: QUEUE_MAX_BYTES,
            dropped: AtomicU64::new(0),
            files: Mutex::new(Files {
                closed: seqs,
                current: Current {
                    seq,
                    file,
                    len: end as u64,
                },
                spare: SpareBuffer::default(),
                recorded: None,
            }),
        };
        Ok((log, recorded))
    }

    /// Queues an entry under `key`, replacing any earlier entry under it. Written and synced by
    /// [`AuditLog::sync`]; until then only the journal carries it. Returns `false` if the
    /// queue was full and the entry was dropped (see the module docs).
    ///
    /// # Errors
    /// If the entry is longer than a record may be (entries are a few hundred bytes).
    pub fn append(
        &self,
        key: &AuditKey,
        entry: &[u8],
        priority: Priority,
    ) -> Result<bool, StoreError> {
        if entry.len() > MAX_AUDIT_ENTRY {
            return Err(StoreError::corrupt(
                "audit",
                format!("an entry of {} bytes", entry.len()),
            ));
        }
        let mut queue = lock(&self.queue);
        // A record is its entry plus less than a hundred bytes of framing and key.
        if queue.bytes.len() + entry.len() + 100 > self.queue_max {
            // Shedding copies the queue: only when there is something to shed.
            let shed = match priority {
                Priority::Action if !queue.refused.is_empty() => queue.shed_refused(),
                _ => 0,
            };
            if shed > 0 {
                self.dropped.fetch_add(shed, Ordering::Relaxed);
            }
            if queue.bytes.len() + entry.len() + 100 > self.queue_max {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
        }
        let start = queue.bytes.len();
        encode_audit(key, entry, &mut queue.bytes);
        if priority == Priority::Refused {
            let end = queue.bytes.len();
            queue.refused.push(start..end);
        }
        let long = queue.bytes.len() >= WRITE_AT_BYTES;
        drop(queue);
        if long {
            self.write_early();
        }
        Ok(true)
    }

    /// Writes the queue out, unsynced, unless a sync holds the files or the write would close
    /// the segment (whose sync is the checkpoint's to make): an append must not wait on either.
    /// A failed write leaves the queue as it was, for the checkpoint to retry and report.
    fn write_early(&self) {
        let Ok(mut files) = self.files.try_lock() else {
            return;
        };
        if files.current.len + (WRITE_AT_BYTES as u64) * 2 < SEGMENT_BYTES {
            let _ = self.write(&mut files);
        }
    }

    /// Queues a restored entry, never dropping it: a restore from a backup, and the copy at
    /// open of what the journal or an older layout holds, queue a whole log before they sync
    /// it, so what is queued is written out (not synced) whenever it reaches the queue's
    /// bound.
    ///
    /// # Errors
    /// As [`AuditLog::append`], or if a write fails.
    pub fn restore(&self, key: &AuditKey, entry: &[u8]) -> Result<(), StoreError> {
        if !self.append(key, entry, Priority::Action)? {
            self.dropped.fetch_sub(1, Ordering::Relaxed);
            self.write(&mut lock(&self.files))?;
            if !self.append(key, entry, Priority::Action)? {
                return Err(StoreError::corrupt(
                    "audit",
                    format!("an entry of {} bytes does not fit the queue", entry.len()),
                ));
            }
        }
        Ok(())
    }

    /// Entries dropped since the log was opened because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued to the current segment, closing it first if it is full.
    fn write(&self, files: &mut Files) -> Result<(), StoreError> {
        let (bytes, refused) = {
            let mut queue = lock(&self.queue);
            let refused = std::mem::take(&mut queue.refused);
            (files.spare.swap_with(&mut queue.bytes), refused)
        };
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
            let shift = bytes.len();
            let later = std::mem::replace(&mut queue.bytes, bytes);
            queue.bytes.extend_from_slice(&later);
            let later_refused = std::mem::replace(&mut queue.refused, refused);
            queue.refused.extend(
                later_refused
                    .into_iter()
                    .map(|r| r.start + shift..r.end + shift),
            );
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
    /// queuing every such entry. Nothing is written or synced if nothing changed since the last
    /// record.
    ///
    /// # Errors
    /// If a write or the sync fails; unwritten entries stay queued.
    pub fn sync(&self, carried_to: Position) -> Result<(), StoreError> {
        let mut files = lock(&self.files);
        self.write(&mut files)?;
        let synced = Synced {
            carried_to,
            segment: files.current.seq,
            len: files.current.len,
        };
        if files.recorded == Some(synced) {
            return Ok(());
        }
        if self.fsync {
            files.current.file.sync_data().map_err(StoreError::Io)?;
        }
        self.state
            .record(&synced.encode())
            .map_err(StoreError::Io)?;
        files.recorded = Some(synced);
        Ok(())
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

    /// The newest `limit` entries whose keys are at or after `from` and before `before` and
    /// which `select` keeps (it decodes an entry, or says `None` to skip it), oldest first;
    /// and whether an older one is kept too. Reads segments from the newest back, and stops
    /// once it holds one more than `limit` entries that are all newer than the segment it
    /// read last, or reaches a segment that begins before `from`.
    ///
    /// Only the latest record of a key counts. A key's earlier records differ from its latest
    /// only in a `pending` outcome and a smaller count, so `select` must keep a key's earlier
    /// record only if it keeps its latest.
    ///
    /// # Errors
    /// If a segment cannot be read, or `select` fails.
    pub fn page<T>(
        &self,
        from: &AuditKey,
        before: &AuditKey,
        limit: usize,
        mut select: impl FnMut(&[u8]) -> Result<Option<T>, StoreError>,
    ) -> Result<(Vec<(AuditKey, T)>, bool), StoreError> {
        let mut found: BTreeMap<AuditKey, T> = BTreeMap::new();
        for seq in self.segments()?.into_iter().rev() {
            let bytes = self.read_segment(seq)?;
            let recs = records(&bytes);
            let Some(&(first, _)) = recs.first() else {
                continue;
            };
            // Newest first: the first record seen of a key is its latest.
            for (key, entry) in recs.into_iter().rev() {
                if &key < from || &key >= before || found.contains_key(&key) {
                    continue;
                }
                if let Some(value) = select(entry)? {
                    found.insert(key, value);
                    // Letting the oldest go forgets only a key older than every one held, so
                    // an earlier record of it is let go again at once.
                    if found.len() > limit + 1 {
                        found.pop_first();
                    }
                }
            }
            let complete =
                found.len() > limit && found.first_key_value().is_some_and(|(k, _)| *k >= first);
            if complete || &first < from {
                break;
            }
        }
        let mut kept: Vec<(AuditKey, T)> = found.into_iter().collect();
        let more = kept.len() > limit;
        if more {
            kept.drain(..kept.len() - limit);
        }
        Ok((kept, more))
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

    /// Deletes closed segments, oldest first: those whose entries are all before `before` (the
    /// next segment begins before it), and then any while the log holds more than
    /// `max_bytes`. Returns how many records they held.
    ///
    /// # Errors
    /// If a segment cannot be read or deleted.
    pub fn prune(&self, before: &AuditKey, max_bytes: u64) -> Result<u64, StoreError> {
        let mut files = lock(&self.files);
        let mut held = files.current.len;
        for &seq in &files.closed {
            held += self.segment_len(seq)?;
        }
        let mut pruned = 0;
        while let Some(&oldest) = files.closed.first() {
            let next = files.closed.get(1).copied().unwrap_or(files.current.seq);
            if held <= max_bytes && self.first_key(next)?.is_none_or(|k| &k >= before) {
                break;
            }
            held = held.saturating_sub(self.segment_len(oldest)?);
            pruned += records(&self.read_segment(oldest)?).len() as u64;
            std::fs::remove_file(self.dir.join(segment_name(oldest))).map_err(StoreError::Io)?;
            files.closed.remove(0);
        }
        Ok(pruned)
    }

    /// The length of segment `seq` (0 if it is gone).
    fn segment_len(&self, seq: u64) -> Result<u64, StoreError> {
        match std::fs::metadata(self.dir.join(segment_name(seq))) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::Io(e)),
        }
    }
}

/// The store's audit facade: what the rest of the daemon calls.
impl Store {
    /// Brings the audit log up to date at open: copies into it the entries an older layout
    /// kept in sled, and the entries the journal carries past `carried_to` (what the log had
    /// synced when the daemon stopped) that the log lacks, since a crash took them. Then syncs
    /// the log, recording the journal's end, and only then lets sled drop its copies.
    pub(super) fn recover_audit(&self, carried_to: Option<Position>) -> Result<(), StoreError> {
        let moved = self.copy_sled_audit()?;
        // With no record of its own, the log has synced nothing the journal carries: all of it
        // is copied (none, in a data dir older than the journal's audit entries).
        let from = carried_to.unwrap_or((0, 0));
        let carried = self.inner.sessions.audits_from(from)?;
        let mut restored = 0u64;
        if !carried.is_empty() {
            let present = self.inner.audit.recent_keys()?;
            for (key, entry) in carried {
                if !present.contains(&key) {
                    self.inner.audit.restore(&key, &entry)?;
                    restored += 1;
                }
            }
        }
        self.sync_audit()?;
        self.clear_sled_audit(moved)?;
        if restored > 0 {
            tracing::info!(
                restored,
                "copied audit entries from the journal into the audit log"
            );
        }
        Ok(())
    }

    /// Writes and syncs the audit log, recording that every entry the journal carried so far
    /// is safe in it. Returns the journal position recorded.
    pub(super) fn sync_audit(&self) -> Result<Position, StoreError> {
        // Read first: an entry goes into the log's queue before the journal's, so every
        // carried entry before this position is queued in the log by now.
        let carried_to = self.inner.sessions.position();
        self.inner.audit.sync(carried_to)?;
        Ok(carried_to)
    }

    /// Appends an audit entry; returns its key, for [`Store::update_audit`].
    ///
    /// The entry is queued in the audit log and then in the session journal, which carries it:
    /// the next group commit makes it durable with whatever change it describes, without a
    /// sled commit. Checkpoints write and sync the log in the background; at open, the
    /// entries the journal carries past the log's last sync are copied back. A refused attempt
    /// the log's full queue drops is not carried either (see [`AuditLog`]).
    ///
    /// # Errors
    /// If the entry cannot be encoded.
    pub(crate) fn append_audit(
        &self,
        record: &AuditRecord,
        priority: AuditPriority,
    ) -> Result<AuditKey, StoreError> {
        let key = audit_key(record.at);
        let bytes = records::encode_audit(record)?;
        let queued = self.inner.audit.append(&key, &bytes, priority)?;
        if queued || priority == AuditPriority::Action {
            self.inner.sessions.append_audit(&key, &bytes);
        }
        Ok(key)
    }

    /// Replaces an audit entry (with its outcome, once known, or a larger count). Lazily
    /// durable: the next checkpoint syncs it.
    ///
    /// # Errors
    /// If the entry cannot be encoded.
    pub(crate) fn update_audit(
        &self,
        key: &AuditKey,
        record: &AuditRecord,
        priority: AuditPriority,
    ) -> Result<(), StoreError> {
        self.inner
            .audit
            .append(key, &records::encode_audit(record)?, priority)
            .map(drop)
    }

    /// Audit entries dropped since the store opened because the log's queue was full.
    pub(crate) fn audit_dropped(&self) -> u64 {
        self.inner.audit.dropped()
    }

    /// The most recent `limit` audit entries at or after `since` and before the key `before`
    /// that `select` keeps, oldest first, with their keys; and whether an older one is kept
    /// too. `select` sees every version of an entry; see [`AuditLog::page`].
    ///
    /// # Errors
    /// If the log cannot be read or holds a garbled entry.
    pub(crate) fn audit_page(
        &self,
        since: UnixMillis,
        before: Option<&AuditKey>,
        limit: usize,
        mut select: impl FnMut(&AuditRecord) -> bool,
    ) -> Result<(Vec<(AuditKey, AuditRecord)>, bool), StoreError> {
        self.inner.audit.page(
            &expiry_key(since, Uuid::nil()),
            before.unwrap_or(&[u8::MAX; 24]),
            limit,
            |bytes| {
                let record = records::decode_audit(bytes)?;
                Ok(select(&record).then_some(record))
            },
        )
    }

    /// Deletes audit entries older than `before`, and the oldest while the log holds more than
    /// `max_bytes`, a segment at a time (see [`AuditLog`]); returns how many.
    ///
    /// # Errors
    /// If a segment cannot be read or deleted.
    pub(crate) fn prune_audit(
        &self,
        before: UnixMillis,
        max_bytes: u64,
    ) -> Result<u64, StoreError> {
        self.inner
            .audit
            .prune(&expiry_key(before, Uuid::nil()), max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record_frame::AUDIT_KEY;
    use crate::store::StoredOutcome;

    fn key(at: u64, n: u8) -> AuditKey {
        let mut k = [n; AUDIT_KEY];
        k[..8].copy_from_slice(&at.to_be_bytes());
        k
    }

    /// The newest `limit` entries at or after `from`, oldest first.
    fn since(log: &AuditLog, from: &AuditKey, limit: usize) -> Vec<Vec<u8>> {
        let (page, _) = log
            .page(from, &[u8::MAX; AUDIT_KEY], limit, |e| Ok(Some(e.to_vec())))
            .unwrap();
        page.into_iter().map(|(_, e)| e).collect()
    }

    /// Entries come back newest-limited and oldest first, a later record for a key replaces an
    /// earlier one, and what was synced survives a reopen while the unsynced queue does not.
    #[test]
    fn append_read_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (log, recorded) = AuditLog::open(dir.path(), true).unwrap();
        assert_eq!(recorded, None);
        for n in 1..=5 {
            log.append(&key(n, 0), b"pending", Priority::Action)
                .unwrap();
        }
        log.append(&key(3, 0), b"ok", Priority::Action).unwrap();
        assert_eq!(
            since(&log, &key(2, 0), 3),
            vec![b"ok".to_vec(), b"pending".to_vec(), b"pending".to_vec()]
        );
        assert_eq!(since(&log, &key(2, 0), 10).len(), 4);
        log.sync((1, 99)).unwrap();
        log.append(&key(6, 0), b"lost", Priority::Action).unwrap();
        drop(log);
        let (log, recorded) = AuditLog::open(dir.path(), true).unwrap();
        assert_eq!(recorded.map(|r| r.carried_to), Some((1, 99)));
        assert_eq!(since(&log, &key(0, 0), 10).len(), 5);
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
        log.append(&key(1, 0), b"synced", Priority::Action).unwrap();
        log.sync((1, 0)).unwrap();
        log.append(&key(2, 0), b"torn", Priority::Action).unwrap();
        log.write(&mut lock(&log.files)).unwrap();
        drop(log);
        let path = dir.path().join(DIR).join(segment_name(1));
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 2).unwrap();
        let (log, _) = AuditLog::open(dir.path(), true).unwrap();
        assert_eq!(since(&log, &key(0, 0), 10), vec![b"synced".to_vec()]);
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
            log.append(&key(at, 0), &entry, Priority::Action).unwrap();
            log.sync((1, 0)).unwrap();
            at += 1;
        }
        let third_begins = at - 1;
        for _ in 0..10 {
            log.append(&key(at, 0), &entry, Priority::Action).unwrap();
            at += 1;
        }
        assert_eq!(
            log.prune(&key(10, 0), 3 * SEGMENT_BYTES).unwrap(),
            0,
            "the next segment is newer, and the log is within its budget"
        );
        assert_eq!(lock(&log.files).closed.len(), 2);
        let second_begins = log.first_key(lock(&log.files).closed[1]).unwrap().unwrap();
        let second_begins = u64::from_be_bytes(second_begins[..8].try_into().unwrap());
        let pruned = log.prune(&key(0, 0), SEGMENT_BYTES * 3 / 2).unwrap();
        assert_eq!(
            pruned, second_begins,
            "over budget, the oldest goes whatever its age"
        );
        assert_eq!(lock(&log.files).closed.len(), 1);
        let pruned = log.prune(&key(third_begins + 1, 0), u64::MAX).unwrap();
        assert_eq!(pruned, third_begins - second_begins);
        assert!(lock(&log.files).closed.is_empty());
        assert_eq!(since(&log, &key(0, 0), 100).len(), 11);
        drop(log);
        AuditLog::open(dir.path(), false).unwrap();
    }

    /// Actions at the rate of a busy issue load (every session issue is audited) never fill
    /// the queue between two checkpoints: appends write it out, unsynced, as it grows, so none
    /// is dropped and the queue stays short. Before, 4 MiB of actions between checkpoints
    /// filled it, dropped actions, and made every append copy the queue.
    #[test]
    fn a_busy_stream_of_actions_is_written_out_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path(), false).unwrap();
        let entry = [7u8; 200];
        let count = 2 * QUEUE_MAX_BYTES / entry.len();
        for n in 0..count as u64 {
            assert!(log.append(&key(n, 0), &entry, Priority::Action).unwrap());
            assert!(lock(&log.queue).bytes.len() < WRITE_AT_BYTES + 1024);
        }
        assert_eq!(log.dropped(), 0);
        assert!(lock(&log.files).current.len > QUEUE_MAX_BYTES as u64);
        log.sync((1, 0)).unwrap();
        assert_eq!(since(&log, &key(0, 0), 300).len(), 300);
    }

    /// A full queue drops new refused attempts, and sheds its queued ones to make room for an
    /// action; every drop is counted, and what was kept is written.
    #[test]
    fn a_full_queue_drops_refused_attempts_first() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = AuditLog::open(dir.path(), false).unwrap();
        log.queue_max = 1000;
        let entry = [1u8; 100];
        let mut n = 0;
        while log.append(&key(n, 0), &entry, Priority::Refused).unwrap() {
            n += 1;
        }
        assert!(n > 3, "{n} refused attempts fit");
        assert_eq!(log.dropped(), 1);
        assert!(log.append(&key(100, 0), &entry, Priority::Action).unwrap());
        assert_eq!(
            log.dropped(),
            1 + n,
            "the queued refused attempts made room"
        );
        while log.append(&key(200, 0), &entry, Priority::Action).unwrap() {}
        assert!(!log.append(&key(300, 0), &entry, Priority::Refused).unwrap());
        let kept = lock(&log.queue).bytes.len();
        assert!(kept <= 1000, "{kept} bytes queued");
        log.sync((1, 0)).unwrap();
        let written = since(&log, &key(0, 0), 1000);
        assert!(written.len() > 1 && written.iter().all(|e| e == &entry));
        assert!(lock(&log.queue).bytes.is_empty());

        // A restore drops nothing, however much it queues before its checkpoint.
        let dropped = log.dropped();
        for n in 1000..1100 {
            log.restore(&key(n, 0), &entry).unwrap();
        }
        assert_eq!(log.dropped(), dropped);
        let restored = since(&log, &key(1000, 0), 1000);
        assert_eq!(restored.len(), 100);
    }

    /// Paging goes back from a cursor, counts only what `select` keeps, says whether there is
    /// more, and takes a key's latest record even when an earlier one is older in the file.
    #[test]
    fn pages_go_back_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = AuditLog::open(dir.path(), true).unwrap();
        for n in 1..=10 {
            let tag = if n % 2 == 0 { b"even" } else { b"odd!" };
            log.append(&key(n, 0), tag, Priority::Action).unwrap();
        }
        log.sync((1, 0)).unwrap();
        log.append(&key(4, 0), b"EVEN", Priority::Action).unwrap();
        let evens = |e: &[u8]| Ok(e.eq_ignore_ascii_case(b"even").then(|| e.to_vec()));
        let all = [u8::MAX; AUDIT_KEY];
        let (page, more) = log.page(&key(0, 0), &all, 2, evens).unwrap();
        let at =
            |page: &[(AuditKey, Vec<u8>)]| -> Vec<u8> { page.iter().map(|(k, _)| k[7]).collect() };
        assert_eq!((at(&page), more), (vec![8, 10], true));
        let (page, more) = log.page(&key(0, 0), &page[0].0, 2, evens).unwrap();
        assert_eq!((at(&page), more), (vec![4, 6], true));
        assert_eq!(page[0].1, b"EVEN", "the latest record of a key");
        let (page, more) = log.page(&key(0, 0), &page[0].0, 2, evens).unwrap();
        assert_eq!((at(&page), more), (vec![2], false));
        let (page, more) = log.page(&key(5, 0), &all, 10, evens).unwrap();
        assert_eq!((at(&page), more), (vec![6, 8, 10], false));
    }

    fn audit_entry(at: UnixMillis) -> AuditRecord {
        AuditRecord {
            at,
            uid: 0,
            gid: 0,
            pid: 1,
            admin_key: None,
            action: "session_issue".into(),
            target: None,
            outcome: StoredOutcome::Pending,
            count: 1,
        }
    }

    fn outcome_of(store: &Store) -> Vec<(UnixMillis, StoredOutcome)> {
        store
            .audit_page(0, None, 100, |_| true)
            .unwrap()
            .0
            .into_iter()
            .map(|(_, r)| (r.at, r.outcome))
            .collect()
    }

    /// Audit entries through crashes (simulated by dropping the store without a checkpoint:
    /// the log's queue is lost, the journal is synced): an entry the journal made durable comes
    /// back, once; an outcome synced by a checkpoint stays; one that was not reads `pending`;
    /// a compaction carries what the log had not synced; and entries an older layout kept in
    /// sled move into the log.
    #[test]
    fn audit_entries_through_crashes() {
        use StoredOutcome::{Ok as Done, Pending};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .append_audit(&audit_entry(10), AuditPriority::Action)
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(outcome_of(&store), vec![(10, Pending)]);

        let synced = store
            .append_audit(&audit_entry(20), AuditPriority::Action)
            .unwrap();
        store.checkpoint().unwrap();
        let mut done = audit_entry(20);
        done.outcome = Done;
        store
            .update_audit(&synced, &done, AuditPriority::Action)
            .unwrap();
        store.checkpoint().unwrap();
        let unsynced = store
            .append_audit(&audit_entry(30), AuditPriority::Action)
            .unwrap();
        store.flush().unwrap();
        let mut done = audit_entry(30);
        done.outcome = Done;
        store
            .update_audit(&unsynced, &done, AuditPriority::Action)
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            outcome_of(&store),
            vec![(10, Pending), (20, Done), (30, Pending)]
        );

        store
            .append_audit(&audit_entry(40), AuditPriority::Action)
            .unwrap();
        store.compact_sessions().unwrap();
        store
            .append_audit(&audit_entry(50), AuditPriority::Action)
            .unwrap();
        store.flush().unwrap();
        let mut legacy = audit_entry(5);
        legacy.outcome = Done;
        let legacy_key = expiry_key(5, Uuid::new_v4());
        store
            .write_sled(|e| {
                e.audit
                    .insert(legacy_key, records::encode_audit(&legacy)?)?;
                Ok(())
            })
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            outcome_of(&store),
            vec![
                (5, Done),
                (10, Pending),
                (20, Done),
                (30, Pending),
                (40, Pending),
                (50, Pending)
            ]
        );
        assert!(store.engine().unwrap().audit.is_empty());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(outcome_of(&store).len(), 6, "nothing is copied twice");
    }
}
