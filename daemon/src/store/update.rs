//! Changing a principal: its record, and every copy of its scopes, in one durable change.
//!
//! A sled credential (test key, API token) carries its owner's scopes so that a verify is one
//! lookup, and the session table caches them per owner. A scope change therefore rewrites the
//! principal and its sled credentials in one sled transaction (a crash keeps all or none), then
//! replaces the session table's copy before the change is acknowledged.

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::keys::{hash_from, uuid_from};
use super::records::{self, PrincipalRecord};
use super::{Store, StoreError};

impl Store {
    /// Replaces principal `record` and, with `scopes_changed`, every copy of its scopes.
    /// Returns `false`, writing nothing, if the principal is gone (an API token revoked
    /// meanwhile): an update never brings one back. Not flushed: the caller acknowledges once
    /// the group commit is durable.
    ///
    /// # Errors
    /// If sled fails or a credential record does not decode.
    pub(crate) fn update_principal(
        &self,
        record: &PrincipalRecord,
        scopes_changed: bool,
    ) -> Result<bool, StoreError> {
        let principal = records::encode(record)?;
        let updated = self.write_sled(|e| {
            let mut hashes = Vec::new();
            if scopes_changed {
                for entry in e.owner_index.scan_prefix(record.id.as_bytes()) {
                    let (key, _) = entry?;
                    let id = uuid_from("owner_index", &key[16..])?;
                    if let Some(hash) = e.credential_ids.get(id.as_bytes())? {
                        hashes.push(hash_from("credential_ids", &hash)?);
                    }
                }
            }
            (&e.principals, &e.credentials)
                .transaction(|(principals, credentials)| {
                    if principals.get(record.id.as_bytes())?.is_none() {
                        return Ok(false);
                    }
                    for hash in &hashes {
                        // Gone since it was listed: revoked, nothing to rewrite.
                        let Some(raw) = credentials.get(hash)? else {
                            continue;
                        };
                        let (mut credential, _) = records::decode_credential(&raw)
                            .map_err(ConflictableTransactionError::Abort)?;
                        credential.scopes = record.scopes.clone();
                        let bytes = records::encode_credential(&credential)
                            .map_err(ConflictableTransactionError::Abort)?;
                        credentials.insert(&hash[..], bytes)?;
                    }
                    principals.insert(record.id.as_bytes(), principal.clone())?;
                    Ok(true)
                })
                .map_err(|e| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => StoreError::from(e),
                })
        })?;
        if updated && scopes_changed {
            self.inner
                .sessions
                .set_owner_scopes(record.id, record.scopes.clone());
        }
        Ok(updated)
    }
}
