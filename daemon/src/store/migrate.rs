//! Layout migrations, run once per data dir at open: what older layouts kept in sled moves out.
//!
//! - Layout 1 kept sessions in sled's trees; layout 2 ([`SESSIONS_JOURNALED`]) keeps them in the
//!   session journal.
//! - Data dirs from before the audit log kept its entries in sled's `audit` tree, keyed by time
//!   (u64 big-endian ms) ‖ entry id (16); they move into the log.

use super::keys::{read_u64, AuditKey};
use super::{hash_from, records, sled_remove, Found, Raw, Store, StoreError, StoredKind};

/// The `meta` key of the data dir's layout: absent in layout 1, 2 once sessions are journaled.
const LAYOUT: &[u8] = b"layout";
/// The layout in which sessions live in the journal.
const SESSIONS_JOURNALED: u64 = 2;

impl Store {
    /// Moves sessions that an older layout kept in sled into the journal, once per data dir.
    ///
    /// The journal is synced before sled lets go of them, so a crash in between leaves them in
    /// both places, and the next start moves them again (replaying a session twice is
    /// harmless).
    pub(super) fn journal_sled_sessions(&self) -> Result<(), StoreError> {
        let engine = self.engine()?;
        if read_u64(&engine.meta, LAYOUT)? >= SESSIONS_JOURNALED {
            return Ok(());
        }
        let mut moved = Vec::new();
        for entry in engine.credentials.iter() {
            let (hash, raw) = entry?;
            let (record, _) = records::decode_credential(&raw)?;
            if record.kind == StoredKind::Session {
                let hash = hash_from("credentials", &hash)?;
                self.inner.sessions.insert(&hash, &record);
                moved.push(Found {
                    hash,
                    record,
                    raw: Raw::Sled(raw),
                    identity: None,
                });
            }
        }
        self.inner.sessions.write_queued(true)?;
        self.write_sled(|e| {
            for found in &moved {
                sled_remove(e, found)?;
            }
            e.meta.insert(LAYOUT, &SESSIONS_JOURNALED.to_be_bytes())?;
            Ok(())
        })?;
        self.flush()?;
        if !moved.is_empty() {
            tracing::info!(
                sessions = moved.len(),
                "moved sessions from sled to the journal"
            );
        }
        Ok(())
    }

    /// Copies the audit entries an older layout kept in sled into the audit log; returns how
    /// many. sled keeps them until [`Store::clear_sled_audit`], once the log has synced them.
    pub(super) fn copy_sled_audit(&self) -> Result<u64, StoreError> {
        let engine = self.engine()?;
        let mut moved = 0u64;
        for entry in engine.audit.iter() {
            let (key, value) = entry?;
            let key: AuditKey = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::corrupt("audit", "a key of the wrong length".into()))?;
            self.inner.audit.restore(&key, &value)?;
            moved += 1;
        }
        Ok(moved)
    }

    /// Empties sled's `audit` tree once the `moved` entries copied from it are synced in the
    /// audit log.
    pub(super) fn clear_sled_audit(&self, moved: u64) -> Result<(), StoreError> {
        if moved > 0 {
            self.write_sled(|e| {
                e.audit.clear()?;
                Ok(())
            })?;
            self.flush()?;
            tracing::info!(entries = moved, "moved the audit log out of sled");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::owner_key;
    use crate::store::tests::live_session;
    use crate::store::CredentialRecord;
    use uuid::Uuid;

    /// A data dir of the older layout, with a session in sled's trees under a random id: opening
    /// it moves the session into the journal, where it is found by hash and by its old id, and
    /// sled keeps nothing of it; the move happens once.
    #[test]
    fn sessions_in_sled_move_to_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let hash = [9u8; 32];
        let record = CredentialRecord {
            last_used_at: Some(2),
            ..live_session(Uuid::new_v4(), Uuid::new_v4())
        };
        {
            let store = Store::open(dir.path()).unwrap();
            let bytes = records::encode_credential(&record).unwrap();
            store
                .write_sled(|e| {
                    e.owner_index
                        .insert(owner_key(record.owner, record.id), &[])?;
                    e.credential_ids.insert(record.id.as_bytes(), &hash)?;
                    e.credentials.insert(hash, bytes)?;
                    e.meta.remove(LAYOUT)?;
                    Ok(())
                })
                .unwrap();
            store.flush().unwrap();
        }
        for _ in 0..2 {
            let store = Store::open(dir.path()).unwrap();
            let found = store
                .credential(&hash, StoredKind::Session)
                .unwrap()
                .expect("found by hash");
            assert_eq!(found.record.id, record.id);
            assert_eq!(found.record.last_used_at, Some(2));
            assert!(store.credential_by_id(record.id).unwrap().is_some());
            assert_eq!(store.credentials_of(record.owner).unwrap().len(), 1);
            let e = store.engine().unwrap();
            assert!(e.credentials.is_empty() && e.credential_ids.is_empty());
            assert!(e.owner_index.is_empty());
        }
    }
}
