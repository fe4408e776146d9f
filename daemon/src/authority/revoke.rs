//! Revoking credentials: logout, by id, all of a client's sessions, admin keys, and a whole
//! client with everything it holds.
//!
//! Each removal deletes the credential's record first (so it stops verifying at once) and is
//! flushed before it is acknowledged, so a revoked credential never comes back after a crash.

use keyward_protocol::Secret;
use uuid::Uuid;

use super::{
    allowed, refuse, AdminContext, Authority, Change, Denied, Fault, Outcome, Uncommitted,
};
use crate::store::{Found, StoredKind};

/// How often a removal is retried when a concurrent slide changed the record under it.
const REMOVE_ATTEMPTS: usize = 16;
/// Rounds of a client delete that wait for the disk without the seat lock, before the last,
/// which holds it (see [`Change::delete_client`]).
const DELETE_ROUNDS: usize = 4;

impl Change<'_> {
    /// Revokes the presented token (any kind but an admin key).
    pub fn logout(&self, token: &Secret) -> Outcome<Uncommitted<Uuid>> {
        let (found, _) = allowed!(self.find_live(token, self.now())?);
        if found.record.kind == StoredKind::AdminKey {
            refuse!(Denied::Forbidden(
                "admin keys are revoked by a host admin with `keyward admin-key revoke`".into()
            ));
        }
        let id = found.record.id;
        if !self.remove(found)? {
            // A concurrent revoke won; the token is dead either way.
            refuse!(Denied::Invalid(
                "the credential is unknown or has been revoked"
            ));
        }
        self.once_durable(id)
    }

    /// Revokes a session, test key or API token by id, within the admin key's environment. An
    /// admin key's id is `NOT_FOUND`, as an unknown id is.
    pub fn revoke(&self, ctx: AdminContext, id: Uuid) -> Outcome<Uncommitted<Uuid>> {
        let Some(found) = self.store.credential_by_id(id)? else {
            refuse!(Denied::NotFound("credential"));
        };
        // An admin key's id gets the same answer as an unknown id, in either environment, so
        // the answer says nothing about which ids are admin keys (host admins revoke those
        // with `keyward admin-key revoke`).
        if found.record.env() != ctx.env || found.record.kind == StoredKind::AdminKey {
            refuse!(Denied::NotFound("credential"));
        }
        self.remove(found)?;
        self.once_durable(id)
    }

    /// Revokes an admin key (host admins only; the caller checks that), and every record that
    /// claims its id under another hash.
    pub fn revoke_admin_key(&self, id: Uuid) -> Outcome<Uncommitted<Uuid>> {
        match self.store.credential_by_id(id)? {
            Some(found) if found.record.kind == StoredKind::AdminKey => {
                self.remove(found)?;
                self.store.remove_claims_of(id)?;
                self.once_durable(id)
            }
            _ => Ok(Err(Denied::NotFound("admin key"))),
        }
    }

    /// Revokes every session of a client; returns how many were still live.
    pub fn revoke_sessions(&self, ctx: AdminContext, client_id: Uuid) -> Outcome<Uncommitted<u64>> {
        let client = allowed!(self.client_in(ctx, client_id)?);
        let now = self.now();
        let mut revoked = 0;
        for found in self.store.credentials_of(client.id)? {
            if found.record.kind == StoredKind::Session {
                let live = found.record.is_live(now);
                if self.remove(found)? && live {
                    revoked += 1;
                }
            }
        }
        // Another host may have issued one meanwhile: the replica checks none is left.
        self.store
            .relied_on(client.id, crate::store::replica::OwnerRule::NoSessions);
        self.once_durable(revoked)
    }

    /// Deletes a client: revokes every credential it holds (sessions, test key), then removes
    /// the client itself; returns how many of the credentials were still live.
    ///
    /// The removal of the credentials is made durable before the client record is removed.
    /// Sessions and sled are synced in parallel, so removing both in one commit could, after a
    /// crash, keep the sessions but lose the client, leaving credentials no delete can reach.
    /// This order leaves at worst a client with fewer credentials, which a second delete
    /// finishes.
    ///
    /// The seat lock is not held across that wait, so issues on other connections do not
    /// stall behind a disk sync. Instead the client is rescanned under the lock, and removed
    /// in the same hold that finds it empty: no credential is issued to a removed client. If
    /// concurrent issues keep refilling it, the last round waits with the lock held.
    /// Blocks for at least one group commit: run it on the blocking pool.
    pub fn delete_client(&self, ctx: AdminContext, client_id: Uuid) -> Outcome<Uncommitted<u64>> {
        let now = self.now();
        let mut revoked = 0;
        for round in 1..=DELETE_ROUNDS {
            let guard = self.lock_writes();
            let client = allowed!(self.client_in(ctx, client_id)?);
            let held = self.store.credentials_of(client.id)?;
            if !held.is_empty() {
                for found in held {
                    let live = found.record.is_live(now);
                    if self.remove(found)? && live {
                        revoked += 1;
                    }
                }
                let ticket = self.store.ticket();
                if round < DELETE_ROUNDS {
                    drop(guard);
                    self.store.wait(ticket)?;
                    continue;
                }
                self.store.wait(ticket)?;
            }
            self.store.remove_principal(client.id)?;
            return self.once_durable(revoked);
        }
        unreachable!("the last round removes the client")
    }
}

impl Authority {
    /// Removes a credential, re-reading it if a concurrent slide changed it. Returns whether
    /// this call removed it (false: someone else already had).
    pub(super) fn remove(&self, mut found: Found) -> Result<bool, Fault> {
        for _ in 0..REMOVE_ATTEMPTS {
            if self.store.remove_credential(&found)? {
                if found.record.kind == StoredKind::ApiToken {
                    // The pseudo-user exists only for its one token.
                    self.store.remove_principal(found.record.owner)?;
                }
                return Ok(true);
            }
            match self.store.credential(&found.hash, found.record.kind)? {
                Some(again) => found = again,
                None => return Ok(false),
            }
        }
        // Sixteen slides in a row during one revoke cannot happen with a 1-step granularity
        // floor unless the store misbehaves; report it rather than loop forever.
        Err(Fault::Store(crate::store::StoreError::corrupt(
            "credentials",
            "record kept changing during revoke".into(),
        )))
    }
}
