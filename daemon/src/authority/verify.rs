//! Verifying tokens: the hot path. One parse, one hash, one lookup (the record carries its
//! owner's scopes; the owner cache adds its external id and metadata, for owners that have
//! them), a look at the disabled set (one atomic load while it is empty), at most one
//! compare-and-swap to persist a slide, and one in-memory increment to count the use.

use keyward_protocol::token::{self, TokenInfo};
use keyward_protocol::{CredentialKind, Requirements, Secret, Verified};

use super::{allowed, expiry, refuse, AdminContext, Authority, Denied, Outcome};
use crate::store::{Found, StoredKind};

/// The message for an unknown or revoked credential. Deliberately one text for both: the
/// daemon does not say whether a token ever existed.
const UNKNOWN: &str = "the credential is unknown or has been revoked";
/// The message for an expired credential.
const EXPIRED: &str = "the credential has expired; obtain a fresh one";
/// The message for a disabled credential: a fresh one would be disabled too.
const DISABLED: &str = "the credential is disabled; ask its operator, do not refresh it";
/// The message for a disabled admin key: the request carried no other credential to blame.
const ADMIN_KEY_DISABLED: &str = "the admin key is disabled; a host admin can enable it";

impl Authority {
    /// Checks a token and, for sessions, slides its idle expiry.
    ///
    /// The credential must be of a kind `require` accepts (admin keys only when named) and of
    /// its environment, or the answer is [`Denied::Requirement`]; its
    /// principal must hold the scope `require` names, or the answer is [`Denied::Forbidden`].
    /// Nothing slides unless every requirement is met.
    pub fn verify(&self, token: &Secret, require: &Requirements) -> Outcome<Verified> {
        let now = self.now();
        let (found, _) = allowed!(self.find_live(token, now)?);
        let record = &found.record;
        if let Some(why) = require.refusal(record.kind(), record.env()) {
            refuse!(Denied::Requirement(why));
        }
        let scopes = record.scopes();
        if let Some(req) = &require.scope {
            if !req.is_met_by(&scopes) {
                let held = scopes
                    .get(&req.scope)
                    .map_or("no access".to_owned(), |l| format!("'{l}'"));
                refuse!(Denied::Forbidden(format!(
                    "the credential needs '{}' in scope '{}' but holds {held}",
                    req.level, req.scope
                )));
            }
        }
        let expires_at = self.touch(&found, now)?;
        self.store.count_use(&found, now);
        Ok(Ok(Verified {
            principal_id: match record.kind {
                StoredKind::AdminKey => record.id,
                _ => record.owner,
            },
            kind: record.kind(),
            env: record.env(),
            scopes,
            expires_at,
            credential_id: record.id,
            // Shared with the owner cache: cloned out only for owners that have them.
            external_id: found.identity.as_ref().and_then(|i| i.external_id.clone()),
            meta: found
                .identity
                .as_ref()
                .map(|i| i.meta.clone())
                .unwrap_or_default(),
        }))
    }

    /// Authenticates an admin key for a management request.
    pub fn authenticate_admin(&self, key: &Secret) -> Outcome<AdminContext> {
        let now = self.now();
        let (found, info) = match self.find_live(key, now)? {
            Err(Denied::Disabled(_)) => refuse!(Denied::Disabled(ADMIN_KEY_DISABLED)),
            found => allowed!(found),
        };
        if info.kind != CredentialKind::AdminKey {
            // "an api_token", "a session".
            let article = if info.kind.as_str().starts_with('a') {
                "an"
            } else {
                "a"
            };
            refuse!(Denied::Forbidden(format!(
                "this operation needs an admin key, but {article} {} was given",
                info.kind
            )));
        }
        self.touch(&found, now)?;
        self.store.count_use(&found, now);
        Ok(Ok(AdminContext {
            key_id: found.record.id,
            env: found.record.env(),
        }))
    }

    /// Parses, looks up and expiry-checks a token at `now`.
    pub(super) fn find_live(
        &self,
        token: &Secret,
        now: i64,
    ) -> Result<Result<(Found, TokenInfo), Denied>, super::Fault> {
        let info = match token::parse(token.expose()) {
            Ok(info) => info,
            Err(malformed) => return Ok(Err(Denied::Malformed(malformed))),
        };
        self.store.check_fresh()?;
        let hash = token::hash(token.expose());
        let Some(found) = self.store.credential(&hash, info.kind.into())? else {
            return Ok(Err(Denied::Invalid(UNKNOWN)));
        };
        if found.record.kind() != info.kind || found.record.env() != info.env {
            // Only a hash collision could get here; treat it as unknown.
            return Ok(Err(Denied::Invalid(UNKNOWN)));
        }
        if !found.record.is_live(now) {
            return Ok(Err(Denied::Invalid(EXPIRED)));
        }
        // Checked after expiry: a credential that expired while disabled stays dead.
        if self.store.is_disabled(found.record.id, found.record.owner) {
            return Ok(Err(Denied::Disabled(DISABLED)));
        }
        Ok(Ok((found, info)))
    }

    /// Records a use: slides a session, or refreshes another kind's last-use stamp, when the
    /// change is worth a write. Returns the expiry now in force.
    fn touch(&self, found: &Found, now: i64) -> Result<Option<i64>, super::Fault> {
        let record = &found.record;
        let policy = self.policy();
        let expires_at = match (record.kind, record.expires_at, record.max_expires_at) {
            (StoredKind::Session, Some(at), Some(max)) => {
                match expiry::slide(at, max, now, &policy) {
                    Some(new_at) => Some(new_at),
                    None => return Ok(record.expires_at),
                }
            }
            _ if expiry::touch_due(record.last_used_at, now, &policy) => record.expires_at,
            _ => return Ok(record.expires_at),
        };
        // Cloned only now: most uses change nothing worth a write.
        let mut updated = record.clone();
        updated.expires_at = expires_at;
        updated.last_used_at = Some(now);
        // Not flushed: losing this write on a crash only shortens the session.
        if self.store.replace_credential(found, &updated)? {
            Ok(updated.expires_at)
        } else {
            // Revoked or slid by a concurrent request; the stored state stands.
            Ok(record.expires_at)
        }
    }
}
