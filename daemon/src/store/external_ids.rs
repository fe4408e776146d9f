//! The `external_ids` index: environment ‖ external id → principal id, one holder per id.
//!
//! A principal's external id is claimed and released in the same sled transaction that writes
//! or removes the principal, never by a read in one transaction and a write in another, so two
//! concurrent creates with the same id cannot both succeed. The index is derived from the
//! principals: backups leave it out and a restore rebuilds it ([`index_restored`]).

use keyward_protocol::Env;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use uuid::Uuid;

use super::engine::Engine;
use super::keys::uuid_from;
use super::records::{self, PrincipalRecord, StoredEnv};
use super::{Store, StoreError};

/// What a transaction that may claim an external id says.
pub(super) type Tx<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The index key of external id `id` in `env`.
fn key(env: StoredEnv, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(match env {
        StoredEnv::Test => b't',
        StoredEnv::Live => b'l',
    });
    k.extend_from_slice(id.as_bytes());
    k
}

/// Claims `record`'s external id (if it has one) for it. `false`, claiming nothing, when
/// another principal holds it.
pub(super) fn claim(index: &TransactionalTree, record: &PrincipalRecord) -> Tx<bool> {
    let Some(id) = &record.external_id else {
        return Ok(true);
    };
    let k = key(record.env, id);
    match index.get(&k)? {
        Some(holder) if holder.as_ref() != record.id.as_bytes() => Ok(false),
        Some(_) => Ok(true),
        None => {
            index.insert(k, record.id.as_bytes())?;
            Ok(true)
        }
    }
}

/// Frees `record`'s external id, if it holds one.
pub(super) fn release(index: &TransactionalTree, record: &PrincipalRecord) -> Tx<()> {
    if let Some(id) = &record.external_id {
        let k = key(record.env, id);
        if index
            .get(&k)?
            .is_some_and(|h| h.as_ref() == record.id.as_bytes())
        {
            index.remove(k)?;
        }
    }
    Ok(())
}

/// The old record in `principals` under `id`, decoded inside a transaction.
pub(super) fn decoded(raw: Option<sled::IVec>) -> Tx<Option<PrincipalRecord>> {
    raw.map(|raw| records::decode_principal(&raw))
        .transpose()
        .map_err(ConflictableTransactionError::Abort)
}

/// Files a restored principal's external id: a restore (offline, after `backup::check` refused
/// any id held twice) rebuilds the index as it imports the principals.
pub(super) fn index_restored(e: &Engine, principal: &[u8]) -> Result<(), StoreError> {
    let record = records::decode_principal(principal)?;
    if let Some(id) = &record.external_id {
        e.external_ids
            .insert(key(record.env, id), record.id.as_bytes())?;
    }
    Ok(())
}

impl Store {
    /// The principal holding external id `id` in `env`, if any.
    pub(crate) fn principal_by_external_id(
        &self,
        env: Env,
        id: &str,
    ) -> Result<Option<PrincipalRecord>, StoreError> {
        let e = self.engine()?;
        let Some(holder) = e.external_ids.get(key(env.into(), id))? else {
            return Ok(None);
        };
        let holder: Uuid = uuid_from("external_ids", &holder)?;
        match e.principals.get(holder.as_bytes())? {
            Some(raw) => Ok(Some(records::decode_principal(&raw)?)),
            None => Ok(None),
        }
    }
}
