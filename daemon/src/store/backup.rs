//! The store's side of backups: every entry out ([`Store::export`]) and back in
//! ([`Store::import`]), each under the [`TreeId`] a backup file stores it with.
//!
//! Backups look the same whatever the layout: sessions go out as `credentials` entries, the
//! audit log as the `audit` tree it once was.

use uuid::Uuid;

use super::engine::Engine;
use super::keys::{AuditKey, GENERATION};
use super::{hash_from, records, Store, StoreError, StoredKind};

/// The trees a backup carries, by the id a backup file stores each under. The ids are part of
/// the backup format: never renumber one.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeId {
    /// Token hash → credential record.
    Credentials = 1,
    /// Credential id → token hash.
    CredentialIds = 2,
    /// Principal id → principal record.
    Principals = 3,
    /// Owner id ‖ credential id → empty.
    OwnerIndex = 4,
    /// Expiry ‖ credential id → empty.
    ExpiryIndex = 5,
    /// Counters.
    Meta = 6,
    /// Audit entries: a sled tree once, the audit log now.
    Audit = 7,
    /// Disabled id → when it was disabled (backup format 2).
    Disabled = 8,
    /// `c`/`p` ‖ id → uses and last use ([`super::usage`]).
    Usage = 10,
}

impl TreeId {
    /// Every tree, in the order a backup holds them.
    pub const ALL: [TreeId; 9] = [
        TreeId::Credentials,
        TreeId::CredentialIds,
        TreeId::Principals,
        TreeId::OwnerIndex,
        TreeId::ExpiryIndex,
        TreeId::Meta,
        TreeId::Audit,
        TreeId::Disabled,
        TreeId::Usage,
    ];

    /// The tree stored under `id`, if any.
    pub fn from_u8(id: u8) -> Option<TreeId> {
        TreeId::ALL.into_iter().find(|t| *t as u8 == id)
    }

    /// The tree's name in sled and in messages.
    pub fn name(self) -> &'static str {
        match self {
            TreeId::Credentials => "credentials",
            TreeId::CredentialIds => "credential_ids",
            TreeId::Principals => "principals",
            TreeId::OwnerIndex => "owner_index",
            TreeId::ExpiryIndex => "expiry_index",
            TreeId::Meta => "meta",
            TreeId::Audit => "audit",
            TreeId::Disabled => "disabled",
            TreeId::Usage => "usage",
        }
    }

    /// The credential id in an index entry's key, for the indexes that file one.
    fn indexed_id(self, key: &[u8]) -> Option<Uuid> {
        let bytes = match self {
            TreeId::CredentialIds => key.get(..16),
            TreeId::OwnerIndex | TreeId::ExpiryIndex => key.get(key.len().saturating_sub(16)..),
            _ => None,
        };
        bytes.and_then(|b| Uuid::from_slice(b).ok())
    }
}

impl Store {
    /// Hands every entry of every tree in [`TreeId::ALL`] to `sink`, under its tree's id, tree
    /// by tree in key order. The commit generation is left out: it belongs to the data dir,
    /// not to the data.
    ///
    /// The caller must keep writers out for the duration if it needs a consistent snapshot.
    pub(crate) fn export(
        &self,
        mut sink: impl FnMut(u8, &[u8], &[u8]) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let e = self.engine()?;
        let mut n = 0;
        for id in TreeId::ALL {
            match id {
                TreeId::Credentials => n += self.export_sessions(&mut sink)?,
                TreeId::Audit => {
                    n += self
                        .inner
                        .audit
                        .for_each(|key, entry| sink(id as u8, key, entry))?;
                    continue;
                }
                _ => {}
            }
            for entry in e.tree(id).iter() {
                let (key, value) = entry?;
                if id == TreeId::Meta && key.as_ref() == GENERATION {
                    continue;
                }
                if self.dangling(&e, id, &key, &value)? {
                    continue;
                }
                sink(id as u8, &key, &value).map_err(StoreError::Io)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Whether an index entry points at no record: a crash between a record's write and its
    /// indexes' leaves such entries, which readers skip. A backup leaves them out, so that a
    /// restore can refuse every index entry without a record as forged.
    fn dangling(
        &self,
        e: &Engine,
        tree: TreeId,
        key: &[u8],
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let id = match tree {
            TreeId::CredentialIds => return Ok(!e.credentials.contains_key(value)?),
            // An id disabled, then revoked or deleted: nothing left for it to disable.
            TreeId::Disabled => {
                let id = Uuid::from_slice(key).ok();
                return Ok(match id {
                    Some(id) => {
                        !e.principals.contains_key(key)? && self.credential_by_id(id)?.is_none()
                    }
                    None => false,
                });
            }
            TreeId::OwnerIndex | TreeId::ExpiryIndex => tree.indexed_id(key),
            _ => return Ok(false),
        };
        match id {
            Some(id) => Ok(self.credential_by_id(id)?.is_none()),
            None => Ok(false),
        }
    }

    /// Hands every session to `sink` as a `credentials` entry: backups look the same whether
    /// sessions live in sled or in the journal.
    fn export_sessions(
        &self,
        sink: &mut impl FnMut(u8, &[u8], &[u8]) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut result = Ok(());
        self.inner.sessions.for_each(|hash, record| {
            if result.is_ok() {
                result = records::encode_credential(&record).and_then(|bytes| {
                    sink(TreeId::Credentials as u8, hash, &bytes).map_err(StoreError::Io)
                });
                n += 1;
            }
        });
        result.map(|()| n)
    }

    /// Inserts one backed-up entry (restore). Unknown tree ids are corruption.
    ///
    /// A session's `credentials` entry goes to the journal, and the index entries that an
    /// older layout kept for it in sled are dropped.
    pub(crate) fn import(&self, tree: u8, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let Some(id) = TreeId::from_u8(tree) else {
            return Err(StoreError::corrupt(
                "backup",
                format!("unknown tree {tree}"),
            ));
        };
        if id == TreeId::Audit {
            let key: AuditKey = key.try_into().map_err(|_| {
                StoreError::corrupt("backup", "an audit key of the wrong length".into())
            })?;
            return self.inner.audit.restore(&key, value);
        }
        if id == TreeId::Credentials {
            let (record, _) = records::decode_credential(value)?;
            if record.kind == StoredKind::Session {
                let hash = hash_from("credentials", key)?;
                self.inner.sessions.insert(&hash, &record);
                return Ok(());
            }
        }
        if let Some(id) = id.indexed_id(key) {
            if self.inner.sessions.by_id(id).is_some() {
                return Ok(());
            }
        }
        let principal = match id {
            TreeId::Principals => Some(records::decode_principal(value)?),
            _ => None,
        };
        self.write_sled(|e| {
            if let Some(principal) = &principal {
                super::api_tokens::file(e, principal)?;
                super::external_ids::index_restored(e, value)?;
            }
            // Whichever of a principal and its total comes first, its place in the last-use
            // order ends up under the total.
            super::last_used::imported(e, id, key, value)?;
            e.tree(id).insert(key, value)?;
            Ok(())
        })
    }

    /// Whether the store holds no credential and no principal.
    pub(crate) fn is_empty(&self) -> Result<bool, StoreError> {
        let e = self.engine()?;
        Ok(e.credentials.is_empty() && e.principals.is_empty() && self.inner.sessions.len() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::{expiry_key, owner_key};
    use crate::store::tests::live_session;
    use crate::store::{session_id, PrincipalKind, PrincipalRecord, StoredEnv};
    use records::StoredLevel;

    /// A session restored from a backup (exported without scopes) verifies with its client's
    /// scopes, read from sled, not with the empty list the backup carried.
    #[test]
    fn imported_sessions_take_their_owners_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let scopes = vec![("billing".to_owned(), StoredLevel::Write)];
        let client = PrincipalRecord {
            id: Uuid::new_v4(),
            kind: PrincipalKind::Client,
            env: StoredEnv::Live,
            label: None,
            scopes: scopes.clone(),
            max_sessions: None,
            created_at: 0,
            external_id: None,
            meta: Vec::new(),
        };
        assert!(store.insert_principal(&client).unwrap());
        let hash = [3u8; 32];
        let record = live_session(session_id(&hash), client.id);
        let bytes = records::encode_credential(&record).unwrap();
        store
            .import(TreeId::Credentials as u8, &hash, &bytes)
            .unwrap();
        let found = store
            .credential(&hash, StoredKind::Session)
            .unwrap()
            .expect("imported");
        assert_eq!(found.record.scopes, scopes);
    }

    /// Index entries a crash left without a record are not exported, so that a restore may
    /// refuse every such entry as forged.
    #[test]
    fn dangling_index_entries_stay_out_of_backups() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let gone = Uuid::new_v4();
        store
            .write_sled(|e| {
                e.owner_index.insert(owner_key(Uuid::new_v4(), gone), &[])?;
                e.expiry_index.insert(expiry_key(5, gone), &[])?;
                e.credential_ids.insert(gone.as_bytes(), &[4u8; 32])?;
                Ok(())
            })
            .unwrap();
        let mut trees = Vec::new();
        store
            .export(|tree, _, _| {
                trees.push(tree);
                Ok(())
            })
            .unwrap();
        let indexes = [
            TreeId::CredentialIds,
            TreeId::OwnerIndex,
            TreeId::ExpiryIndex,
        ];
        assert!(
            !trees.iter().any(|t| indexes.iter().any(|i| *i as u8 == *t)),
            "{trees:?}"
        );
    }
}
