//! The backup file format: versioned, and checksummed end to end.
//!
//! ```text
//! "KWBACKUP"              8 bytes, magic
//! version                 u16 big-endian (3; 2 and 1 are still read, see [`VERSION`])
//! created_at              i64 big-endian, Unix ms
//! entries, each:          tag 1, tree id u8, key length u32, key, value length u32, value
//! end:                    tag 0, entry count u64
//! SHA-256                 32 bytes, over everything before it
//! ```
//!
//! Values are the store's own encoded records, so a restore writes back exactly what was read.
//! A reader verifies the whole file's checksum before a restore writes anything.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"KWBACKUP";
/// The format version this build writes: 2 added the `disabled` tree (id 8); 3 principal
/// records of version 2, with external id and metadata (the `external_ids` index is not
/// carried: a restore rebuilds it from the principals), and the `usage` tree (id 10).
pub const VERSION: u16 = 3;
/// The format versions this build reads.
const READS: [u16; 3] = [1, 2, 3];
/// Longest key or value accepted when reading, so a garbled length cannot exhaust memory.
const MAX_FIELD: u32 = 1 << 20;

/// Why a backup file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be read.
    #[error("cannot read the backup: {0}")]
    Io(#[from] io::Error),
    /// Not a keyward backup.
    #[error("not a keyward backup (bad magic)")]
    Magic,
    /// Written by a newer or older format.
    #[error("backup format version {0} is not supported (this build reads versions 1 to 3)")]
    Version(u16),
    /// The content is damaged.
    #[error("the backup is corrupt: {0}")]
    Corrupt(String),
}

/// Writes a backup, hashing as it goes.
pub struct Writer<W: Write> {
    out: W,
    hash: Sha256,
    entries: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the header.
    pub fn new(out: W, created_at: i64) -> io::Result<Self> {
        let mut w = Writer {
            out,
            hash: Sha256::new(),
            entries: 0,
        };
        w.put(MAGIC)?;
        w.put(&VERSION.to_be_bytes())?;
        w.put(&created_at.to_be_bytes())?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }

    /// Appends one entry.
    pub fn entry(&mut self, tree: u8, key: &[u8], value: &[u8]) -> io::Result<()> {
        let len = |b: &[u8]| {
            u32::try_from(b.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "field too long"))
        };
        self.put(&[1, tree])?;
        self.put(&len(key)?.to_be_bytes())?;
        self.put(key)?;
        self.put(&len(value)?.to_be_bytes())?;
        self.put(value)?;
        self.entries += 1;
        Ok(())
    }

    /// Writes the end marker and the checksum; returns the sink and the entry count.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let entries = self.entries;
        self.put(&[0])?;
        self.put(&entries.to_be_bytes())?;
        let digest = self.hash.finalize_reset();
        self.out.write_all(&digest)?;
        self.out.flush()?;
        Ok((self.out, entries))
    }
}

/// One entry read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The tree's backup id.
    pub tree: u8,
    /// The key.
    pub key: Vec<u8>,
    /// The stored value.
    pub value: Vec<u8>,
}

/// Reads a backup entry by entry, hashing as it goes.
pub struct Reader<R: Read> {
    input: R,
    hash: Sha256,
    /// When the backup was made.
    pub created_at: i64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    pub fn new(input: R) -> Result<Self, FormatError> {
        let mut r = Reader {
            input,
            hash: Sha256::new(),
            created_at: 0,
            done: false,
        };
        let mut magic = [0u8; 8];
        r.take(&mut magic)?;
        if &magic != MAGIC {
            return Err(FormatError::Magic);
        }
        let version = u16::from_be_bytes(r.array()?);
        if !READS.contains(&version) {
            return Err(FormatError::Version(version));
        }
        r.created_at = i64::from_be_bytes(r.array()?);
        Ok(r)
    }

    fn take(&mut self, buf: &mut [u8]) -> Result<(), FormatError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => FormatError::Corrupt("the file is truncated".into()),
            _ => FormatError::Io(e),
        })?;
        self.hash.update(&*buf);
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        self.take(&mut a)?;
        Ok(a)
    }

    fn field(&mut self) -> Result<Vec<u8>, FormatError> {
        let len = u32::from_be_bytes(self.array()?);
        if len > MAX_FIELD {
            return Err(FormatError::Corrupt(format!("a field claims {len} bytes")));
        }
        let mut v = vec![0u8; len as usize];
        self.take(&mut v)?;
        Ok(v)
    }

    /// The next entry, or `None` after the last one, once the count and checksum match.
    pub fn next_entry(&mut self, seen: u64) -> Result<Option<Entry>, FormatError> {
        if self.done {
            return Ok(None);
        }
        match self.array::<1>()?[0] {
            1 => {
                let tree = self.array::<1>()?[0];
                let key = self.field()?;
                let value = self.field()?;
                Ok(Some(Entry { tree, key, value }))
            }
            0 => {
                let count = u64::from_be_bytes(self.array()?);
                if count != seen {
                    return Err(FormatError::Corrupt(format!(
                        "the end marker says {count} entries, {seen} were read"
                    )));
                }
                let digest = self.hash.finalize_reset();
                let mut stored = [0u8; 32];
                self.input.read_exact(&mut stored).map_err(|_| {
                    FormatError::Corrupt("the file is truncated before its checksum".into())
                })?;
                if digest.as_slice() != stored {
                    return Err(FormatError::Corrupt("the checksum does not match".into()));
                }
                let mut extra = [0u8; 1];
                if self.input.read(&mut extra)? != 0 {
                    return Err(FormatError::Corrupt("bytes follow the checksum".into()));
                }
                self.done = true;
                Ok(None)
            }
            tag => Err(FormatError::Corrupt(format!("unknown tag {tag}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), 42).unwrap();
        w.entry(1, b"k1", b"v1").unwrap();
        w.entry(3, b"k2", &[0xff; 300]).unwrap();
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Entry>, FormatError> {
        let mut r = Reader::new(bytes)?;
        let mut out = vec![];
        while let Some(e) = r.next_entry(out.len() as u64)? {
            out.push(e);
        }
        Ok(out)
    }

    /// Entries round-trip.
    #[test]
    fn round_trip() {
        let entries = read_all(&sample()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].value.len(), 300);
    }

    /// A flipped byte anywhere, a truncation, or a wrong version is refused.
    #[test]
    fn damage_is_refused() {
        let good = sample();
        for i in [0, 9, 20, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(read_all(&bad).is_err(), "flip at {i} accepted");
        }
        assert!(matches!(
            read_all(&good[..good.len() - 10]),
            Err(FormatError::Corrupt(_))
        ));
        let mut v4 = good.clone();
        v4[9] = 4;
        assert!(matches!(read_all(&v4), Err(FormatError::Version(4))));
    }
}
