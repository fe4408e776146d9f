//! Changing a principal: its record, its external id, and every copy of its scopes, in one
//! durable change.
//!
//! A sled credential (test key, API token) carries its owner's scopes so that a verify is one
//! lookup, and the owner cache holds the scopes (for sessions) and the external id and metadata
//! (for every credential). A change therefore rewrites the principal, its external-id index
//! entry and its sled credentials in one sled transaction (a crash keeps all or none), then
//! replaces the owner cache's copy before the change is acknowledged.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::external_ids;
use super::keys::{hash_from, uuid_from};
use super::records::{self, PrincipalRecord};
use super::sessions::Owner;
use super::{replica, transaction_error, Store, StoreError};

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Updated {
    /// Written.
    Done,
    /// The principal is gone (an API token revoked meanwhile); nothing was written.
    Gone,
    /// Another principal of the environment holds the new external id; nothing was written.
    Taken,
}

impl Store {
    /// Replaces principal `record` and, with `scopes_changed`, every copy of its scopes; moves
    /// its external id in the index if it changed. An update never brings a principal back.
    /// Not flushed: the caller acknowledges once the group commit is durable.
    ///
    /// # Errors
    /// If sled fails or a credential record does not decode.
    pub(crate) fn update_principal(
        &self,
        record: &PrincipalRecord,
        scopes_changed: bool,
    ) -> Result<Updated, StoreError> {
        let principal = records::encode_principal(record)?;
        // The external id it held, for the replica's claims.
        let before = if replica::capturing() {
            self.principal(record.id)?.map(|old| old.external_id)
        } else {
            None
        };
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
            (&e.principals, &e.credentials, &e.external_ids)
                .transaction(|(principals, credentials, index)| {
                    let Some(old) = external_ids::decoded(principals.get(record.id.as_bytes())?)?
                    else {
                        return Ok(Updated::Gone);
                    };
                    if old.external_id != record.external_id {
                        if !external_ids::claim(index, record)? {
                            return Ok(Updated::Taken);
                        }
                        external_ids::release(index, &old)?;
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
                    Ok(Updated::Done)
                })
                .map_err(transaction_error)
        })?;
        if updated == Updated::Done {
            if let Some(before) = before {
                let moved = before != record.external_id;
                replica::record(|| replica::Op::PutPrincipal {
                    record: record.clone(),
                    existing: true,
                    released: before.filter(|_| moved),
                    claims: moved && record.external_id.is_some(),
                });
            }
            // Also without a scope change: the external id or metadata may have changed.
            self.inner.sessions.set_owner_scopes(
                record.id,
                Owner {
                    scopes: record.scopes.clone(),
                    identity: record.identity(),
                },
            );
        }
        Ok(updated)
    }
}
