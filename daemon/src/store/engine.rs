//! One open sled database: its trees, the commit that makes changes durable, and the reads
//! that several store operations share.

use keyward_protocol::token::TokenHash;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

use super::backup::TreeId;
use super::generation::GenerationFile;
use super::keys::{hash_from, read_u64, GENERATION};
use super::{records, Found, StoreError, StoreOptions};

/// An open database. Replaced wholesale when the store reopens after a write failure.
pub(crate) struct Engine {
    db: sled::Db,
    pub credentials: sled::Tree,
    pub credential_ids: sled::Tree,
    pub principals: sled::Tree,
    pub owner_index: sled::Tree,
    pub expiry_index: sled::Tree,
    pub meta: sled::Tree,
    pub audit: sled::Tree,
    pub disabled: sled::Tree,
    /// API tokens by environment ([`super::api_tokens`]); not in backups.
    pub api_tokens: sled::Tree,
    /// Environment ‖ external id → principal id: one holder per id (`store::external_ids`).
    /// Not in backups: a restore rebuilds it from the principals.
    pub external_ids: sled::Tree,
    pub usage: sled::Tree,
    /// Clients and API tokens by last use ([`super::last_used`]); not in backups.
    pub last_used: sled::Tree,
    /// sled's log file, opened separately so a commit can `fdatasync` it: sled's own flush
    /// uses `sync_file_range`, which flushes neither the disk's cache nor the file size.
    log: File,
    /// The last generation made durable.
    generation: AtomicU64,
    /// The side file recording it.
    side: GenerationFile,
}

impl Engine {
    /// Opens the database in `dir` and checks it against the generation side file.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Engine, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(options.cache_bytes)
            // No background flush of sled's own: every write to sled marks it dirty, and the
            // group commit or the next checkpoint commits it; sled's flusher would `fsync` its
            // log every half second even with nothing to write, keeping an idle disk awake.
            .flush_every_ms(None)
            .open()?;
        let meta = db.open_tree("meta")?;
        let recovered = read_u64(&meta, GENERATION)?;
        let side = GenerationFile::open_and_check(dir, recovered)?;
        let log = File::open(dir.join("db").join("db")).map_err(StoreError::Io)?;
        Ok(Engine {
            credentials: db.open_tree("credentials")?,
            credential_ids: db.open_tree("credential_ids")?,
            principals: db.open_tree("principals")?,
            owner_index: db.open_tree("owner_index")?,
            expiry_index: db.open_tree("expiry_index")?,
            audit: db.open_tree("audit")?,
            disabled: db.open_tree("disabled")?,
            api_tokens: db.open_tree("api_tokens")?,
            external_ids: db.open_tree("external_ids")?,
            usage: db.open_tree("usage")?,
            last_used: db.open_tree("last_used")?,
            meta,
            log,
            generation: AtomicU64::new(recovered),
            side,
            db,
        })
    }

    /// Flushes everything written so far, bumping the commit generation; with `sync`, also
    /// `fdatasync`s the log and records the generation in the side file, which must never get
    /// ahead of what is on disk. Called by one thread at a time.
    pub fn commit(&self, sync: bool) -> Result<(), StoreError> {
        let next = self.generation.load(Ordering::Acquire) + 1;
        self.meta.insert(GENERATION, &next.to_be_bytes())?;
        self.db.flush()?;
        self.generation.store(next, Ordering::Release);
        if !sync {
            return Ok(());
        }
        self.log.sync_data().map_err(StoreError::Io)?;
        self.side.record(next)
    }

    /// A tree by the id backups store it under.
    pub fn tree(&self, id: TreeId) -> &sled::Tree {
        match id {
            TreeId::Credentials => &self.credentials,
            TreeId::CredentialIds => &self.credential_ids,
            TreeId::Principals => &self.principals,
            TreeId::OwnerIndex => &self.owner_index,
            TreeId::ExpiryIndex => &self.expiry_index,
            TreeId::Meta => &self.meta,
            TreeId::Audit => &self.audit,
            TreeId::Disabled => &self.disabled,
            TreeId::Usage => &self.usage,
        }
    }

    /// The credential whose token hashes to `hash`.
    pub fn credential(&self, hash: &TokenHash) -> Result<Option<Found>, StoreError> {
        match self.credentials.get(hash)? {
            Some(raw) => {
                let (mut record, needs_scopes) = records::decode_credential(&raw)?;
                if needs_scopes {
                    record.scopes = self.owner_scopes(record.owner)?;
                }
                Ok(Some(Found {
                    hash: *hash,
                    record,
                    raw: super::Raw::Sled(raw),
                    identity: None,
                }))
            }
            None => Ok(None),
        }
    }

    /// The stored scopes of principal `owner` (none for admin keys, or if it is gone).
    pub fn owner_scopes(
        &self,
        owner: Uuid,
    ) -> Result<Vec<(String, records::StoredLevel)>, StoreError> {
        Ok(match self.principals.get(owner.as_bytes())? {
            Some(raw) => records::decode_principal(&raw)?.scopes,
            None => Vec::new(),
        })
    }

    /// What a verify reports of principal `owner` (nothing if it is gone).
    pub fn owner(&self, owner: Uuid) -> Result<super::sessions::Owner, StoreError> {
        Ok(match self.principals.get(owner.as_bytes())? {
            Some(raw) => {
                let record = records::decode_principal(&raw)?;
                super::sessions::Owner {
                    identity: record.identity(),
                    scopes: record.scopes,
                }
            }
            None => super::sessions::Owner::default(),
        })
    }

    /// The credential with public id `id`.
    pub fn credential_by_id(&self, id: Uuid) -> Result<Option<Found>, StoreError> {
        match self.credential_ids.get(id.as_bytes())? {
            Some(h) => self.credential(&hash_from("credential_ids", &h)?),
            None => Ok(None),
        }
    }
}
