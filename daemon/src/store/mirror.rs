//! Applying the shared truth to this host's copy: what a replicated backend calls for each
//! change it reads (another host's, or its own coming back), and for each record of a full
//! load.
//!
//! Every call makes the copy hold exactly what it is given, whatever it held: applying the
//! same change twice is the same as once. None is captured for the replica: these run
//! outside any change.

use std::collections::HashSet;

use keyward_protocol::token::TokenHash;
use uuid::Uuid;

use super::update::Updated;
use super::{CredentialRecord, PrincipalRecord, Store, StoreError};

/// Every id this host's copy holds, for a full load to drop what the truth no longer has.
#[derive(Debug, Default)]
pub(crate) struct Held {
    pub credentials: HashSet<Uuid>,
    pub principals: HashSet<Uuid>,
    pub disabled: HashSet<Uuid>,
}

impl Store {
    /// Holds credential `record` under `hash`, with its owner's scopes.
    ///
    /// # Errors
    /// If sled fails.
    pub(crate) fn mirror_credential(
        &self,
        hash: &TokenHash,
        mut record: CredentialRecord,
    ) -> Result<(), StoreError> {
        debug_assert!(!super::replica::capturing());
        if !record.owner.is_nil() {
            // The truth keeps the scopes its principal had at issue; a later scope change
            // rewrote the principal only.
            if let Some(owner) = self.principal(record.owner)? {
                record.scopes = owner.scopes;
            }
        }
        match self.credential_by_id(record.id)? {
            // A session's record never changes after issue but for its expiry, which comes
            // by its own key (`mirror_expiry`), and its last use, which is per host.
            Some(found) if found.hash == *hash && record.kind == super::StoredKind::Session => {
                Ok(())
            }
            Some(found) if found.hash == *hash => {
                if found.record != record && !self.replace_unreplicated(&found, &record)? {
                    // Changed meanwhile by a verify's slide: apply once more on top of it.
                    if let Some(found) = self.credential_by_id(record.id)? {
                        self.replace_unreplicated(&found, &record)?;
                    }
                }
                Ok(())
            }
            Some(found) => {
                self.remove_credential(&found)?;
                self.insert_credential(hash, &record)
            }
            None => self.insert_credential(hash, &record),
        }
    }

    /// Moves session `id`'s idle expiry forward to `expires_at` (never back, never past its
    /// cap): another host's slide. Returns `false` if this copy does not hold the session
    /// (for example, its own sweep ended it before the slide arrived).
    ///
    /// # Errors
    /// If sled fails.
    pub(crate) fn mirror_expiry(&self, id: Uuid, expires_at: i64) -> Result<bool, StoreError> {
        for _ in 0..3 {
            let Some(found) = self.credential_by_id(id)? else {
                return Ok(false);
            };
            let at = match (found.record.expires_at, found.record.max_expires_at) {
                (Some(at), _) if at >= expires_at => return Ok(true),
                (_, Some(max)) => expires_at.min(max),
                (_, None) => expires_at,
            };
            let mut updated = found.record.clone();
            updated.expires_at = Some(at);
            // The session table records a slide with a last use; this host's own last use
            // stands (usage is per host), or the issue time if it has none.
            updated.last_used_at = found.record.last_used_at.or(Some(found.record.created_at));
            if self.replace_unreplicated(&found, &updated)? {
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// Drops credential `id`, if held.
    ///
    /// # Errors
    /// If sled fails.
    pub(crate) fn mirror_credential_gone(&self, id: Uuid) -> Result<(), StoreError> {
        if let Some(found) = self.credential_by_id(id)? {
            self.remove_credential(&found)?;
        }
        Ok(())
    }

    /// Holds principal `record`, its external id and its scopes on its credentials.
    ///
    /// # Errors
    /// If sled fails.
    pub(crate) fn mirror_principal(&self, record: &PrincipalRecord) -> Result<(), StoreError> {
        if self.principal(record.id)?.as_ref() == Some(record) {
            return Ok(());
        }
        let held = match self.update_principal(record, true)? {
            Updated::Done => true,
            Updated::Gone => self.insert_principal(record)?,
            Updated::Taken => false,
        };
        if !held {
            // The truth holds one principal per external id; a copy that disagrees is
            // mid-way through applying a move, which a later change completes.
            tracing::warn!(principal = %record.id, "external id held by another principal in this host's copy");
        }
        Ok(())
    }

    /// Drops principal `id`, if held.
    ///
    /// # Errors
    /// If sled fails.
    pub(crate) fn mirror_principal_gone(&self, id: Uuid) -> Result<(), StoreError> {
        if self.principal(id)?.is_some() {
            self.remove_principal(id)?;
        }
        Ok(())
    }

    /// Disables (`Some(at)`) or enables `id`.
    ///
    /// # Errors
    /// If sled fails.
    pub(crate) fn mirror_disabled(&self, id: Uuid, at: Option<i64>) -> Result<(), StoreError> {
        self.set_disabled(id, at.is_some(), at.unwrap_or_default())?;
        Ok(())
    }

    /// Every id held, for a full load.
    ///
    /// # Errors
    /// If sled fails or a record does not decode.
    pub(crate) fn mirror_held(&self) -> Result<Held, StoreError> {
        let mut held = Held::default();
        self.inner.sessions.for_each(|_, record| {
            held.credentials.insert(record.id);
        });
        let e = self.engine()?;
        for entry in e.credential_ids.iter() {
            let (id, _) = entry?;
            held.credentials
                .insert(super::keys::uuid_from("credential_ids", &id)?);
        }
        for principal in self.principals_after(None)? {
            held.principals.insert(principal?.id);
        }
        held.disabled = self.inner.disabled.all();
        Ok(held)
    }
}
