//! Changing clients and API tokens, and finding and listing API tokens.
//!
//! A scope change is written with every copy of the scopes in one durable change (see the
//! store's `update`), so it holds from the very next verify of every credential of the
//! principal, on every connection, while verify stays one lookup.

use keyward_protocol::{
    identity, ApiTokenInfo, ApiTokenPage, ClientSettings, ListOrder, Meta, PrincipalUpdate, Scopes,
};
use uuid::Uuid;

use super::issue::{check_name, check_scopes, NewIdentity};
use super::{allowed, page, refuse, AdminContext, Authority, Change, Denied, Outcome, Uncommitted};
use crate::store::{PrincipalKind, PrincipalRecord, StoredKind, Updated};

impl Change<'_> {
    /// Applies `update` to client `client_id` of the caller's environment.
    pub fn update_client(
        &self,
        ctx: AdminContext,
        client_id: Uuid,
        update: &PrincipalUpdate,
    ) -> Outcome<Uncommitted<ClientSettings>> {
        let updated = {
            // Held so a test key created meanwhile cannot copy the old scopes.
            let _guard = self.lock_writes();
            let client = allowed!(self.client_in(ctx, client_id)?);
            let (updated, scopes_changed) = allowed!(apply(&client, update));
            allowed!(written(
                self.store.update_principal(&updated, scopes_changed)?,
                &updated,
                "client"
            ));
            updated
        };
        self.once_durable(ClientSettings {
            client_id: updated.id,
            label: updated.label.clone(),
            env: updated.env(),
            scopes: updated.scopes(),
            max_sessions: updated.max_sessions,
            meta: updated.meta(),
            external_id: updated.external_id,
        })
    }

    /// Applies `update` to the API token `id` (its principal or credential id).
    pub fn update_api_token(
        &self,
        ctx: AdminContext,
        id: Uuid,
        update: &PrincipalUpdate,
    ) -> Outcome<Uncommitted<ApiTokenInfo>> {
        if update.max_sessions.is_some() {
            refuse!(Denied::BadRequest(
                "an API token has no seats: max_sessions is for clients".into()
            ));
        }
        let updated = {
            let _guard = self.lock_writes();
            let token = allowed!(self.api_token_in(ctx, id)?);
            let (updated, scopes_changed) = allowed!(apply(&token, update));
            // Revoking the token deletes its principal, outside this lock.
            allowed!(written(
                self.store.update_principal(&updated, scopes_changed)?,
                &updated,
                "API token"
            ));
            updated
        };
        let info = self.api_token_info(updated)?;
        self.once_durable(info)
    }
}

/// What the store said of an update, as a refusal where it wrote nothing.
fn written(updated: Updated, record: &PrincipalRecord, what: &'static str) -> Result<(), Denied> {
    match updated {
        Updated::Done => Ok(()),
        Updated::Gone => Err(Denied::NotFound(what)),
        Updated::Taken => Err(Denied::Conflict(
            record.external_id.clone().unwrap_or_default(),
        )),
    }
}

/// `principal` with `update` applied, and whether its scopes changed.
fn apply(
    principal: &PrincipalRecord,
    update: &PrincipalUpdate,
) -> Result<(PrincipalRecord, bool), Denied> {
    if update.label.is_none()
        && update.max_sessions.is_none()
        && update.scopes.is_empty()
        && update.remove_scopes.is_empty()
        && update.external_id.is_none()
        && update.meta.is_empty()
        && update.remove_meta.is_empty()
    {
        return Err(Denied::BadRequest("nothing to change".into()));
    }
    let meta = apply_meta(principal, update)?;
    NewIdentity {
        external_id: update.external_id.as_deref(),
        meta: &meta,
    }
    .check()?;
    if let Some(label) = &update.label {
        check_name("the label", label)?;
    }
    if update.max_sessions == Some(0) {
        return Err(Denied::BadRequest("max_sessions must be at least 1".into()));
    }
    check_scopes(&update.scopes)?;
    let mut scopes: Scopes = principal.scopes();
    if update.remove_scopes.len() > scopes.len() {
        return Err(Denied::BadRequest(format!(
            "{} scopes to remove, but {} held",
            update.remove_scopes.len(),
            scopes.len()
        )));
    }
    for name in &update.remove_scopes {
        if update.scopes.contains_key(name) {
            return Err(Denied::BadRequest(format!(
                "scope '{name}' is both granted and removed"
            )));
        }
        if scopes.remove(name).is_none() {
            return Err(Denied::BadRequest(format!("scope '{name}' is not held")));
        }
    }
    scopes.extend(update.scopes.iter().map(|(n, l)| (n.clone(), *l)));
    check_scopes(&scopes)?;
    let mut updated = principal.clone();
    if let Some(label) = &update.label {
        updated.label = Some(label.clone());
    }
    if update.max_sessions.is_some() {
        updated.max_sessions = update.max_sessions;
    }
    updated.scopes = PrincipalRecord::stored_scopes(&scopes);
    if update.external_id.is_some() {
        updated.external_id = update.external_id.clone();
    }
    updated.meta = meta.into_iter().collect();
    let scopes_changed = updated.scopes != principal.scopes;
    Ok((updated, scopes_changed))
}

/// `principal`'s metadata with `update`'s keys set and removed. The limits are checked on the
/// result by the caller.
fn apply_meta(principal: &PrincipalRecord, update: &PrincipalUpdate) -> Result<Meta, Denied> {
    let mut meta = principal.meta();
    // Checked before anything is copied: a removal list can be no longer than what is held.
    if update.remove_meta.len() > meta.len() {
        return Err(Denied::BadRequest(format!(
            "{} metadata keys to remove, but {} held",
            update.remove_meta.len(),
            meta.len()
        )));
    }
    identity::check_meta(&update.meta).map_err(Denied::BadRequest)?;
    for key in &update.remove_meta {
        if update.meta.contains_key(key) {
            return Err(Denied::BadRequest(format!(
                "metadata key {key:?} is both set and removed"
            )));
        }
        if meta.remove(key).is_none() {
            return Err(Denied::BadRequest(format!(
                "metadata key {key:?} is not held"
            )));
        }
    }
    meta.extend(update.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(meta)
}

impl Authority {
    /// The API token `id` (its principal id or its credential id) in the caller's environment.
    fn api_token_in(
        &self,
        ctx: AdminContext,
        id: Uuid,
    ) -> Result<Result<PrincipalRecord, Denied>, super::Fault> {
        let principal_id = match self.store.credential_by_id(id)? {
            Some(found) if found.record.kind == StoredKind::ApiToken => found.record.owner,
            _ => id,
        };
        Ok(match self.store.principal(principal_id)? {
            Some(p) if p.kind == PrincipalKind::ApiToken && p.env() == ctx.env => Ok(p),
            // Another environment's token is indistinguishable from a missing one.
            _ => Err(Denied::NotFound("API token")),
        })
    }

    /// An API token's principal with its credential, if not yet revoked.
    fn api_token_info(&self, principal: PrincipalRecord) -> Result<ApiTokenInfo, super::Fault> {
        let credentials = self.store.credentials_of(principal.id)?;
        let used = self
            .store
            .principal_usage_now(principal.id, credentials.iter().map(|f| f.record.id))?;
        let credential = credentials
            .into_iter()
            .find(|f| f.record.kind == StoredKind::ApiToken)
            .map(|f| f.record);
        Ok(ApiTokenInfo {
            principal_id: principal.id,
            id: credential.as_ref().map(|c| c.id),
            name: principal.label.clone().unwrap_or_default(),
            env: principal.env(),
            scopes: principal.scopes(),
            created_at: principal.created_at,
            last_used_at: credential
                .as_ref()
                .and_then(|c| c.last_used_at)
                .max(used.last_used_at),
            expires_at: credential.as_ref().and_then(|c| c.expires_at),
            disabled: self.store.is_disabled(
                credential.as_ref().map_or(principal.id, |c| c.id),
                principal.id,
            ),
            meta: principal.meta(),
            external_id: principal.external_id,
            uses: used.uses,
        })
    }

    /// One API token of the caller's environment.
    pub fn show_api_token(&self, ctx: AdminContext, id: Uuid) -> Outcome<ApiTokenInfo> {
        let token = allowed!(self.api_token_in(ctx, id)?);
        Ok(Ok(self.api_token_info(token)?))
    }

    /// A page of the caller's environment's API tokens, in principal-id order or least lately
    /// used first, after the cursor `after` (see [`super::page`]).
    pub fn list_api_tokens(
        &self,
        ctx: AdminContext,
        limit: u32,
        after: Option<&str>,
        order: ListOrder,
    ) -> Outcome<ApiTokenPage> {
        let page = match order {
            ListOrder::Id => {
                let after = allowed!(page::parse_cursor(after));
                let entries = self.store.api_tokens_after(ctx.env, after)?.map(|entry| {
                    let (id, principal) = entry?;
                    Ok((id, principal.map(|p| self.api_token_info(p)).transpose()?))
                });
                page::collect::<_, _, super::Fault>(limit, 0, entries)?
            }
            ListOrder::LastUsed => {
                let after = allowed!(page::parse_cursor(after));
                let entries = self.store.principals_by_last_use(after)?.map(|entry| {
                    let (place, principal) = entry?;
                    let token = principal
                        .filter(|p| p.kind == PrincipalKind::ApiToken && p.env() == ctx.env);
                    Ok((place, token.map(|p| self.api_token_info(p)).transpose()?))
                });
                page::collect::<_, _, super::Fault>(limit, 0, entries)?
            }
        };
        Ok(Ok(ApiTokenPage {
            api_tokens: page.items,
            next: page.next,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredEnv;
    use keyward_protocol::Level;

    fn principal(scopes: &[(&str, Level)]) -> PrincipalRecord {
        PrincipalRecord {
            id: Uuid::nil(),
            kind: PrincipalKind::Client,
            env: StoredEnv::Live,
            label: None,
            scopes: PrincipalRecord::stored_scopes(
                &scopes.iter().map(|(n, l)| ((*n).to_owned(), *l)).collect(),
            ),
            max_sessions: None,
            created_at: 0,
            external_id: None,
            meta: Vec::new(),
        }
    }

    /// Grants regrade or add, removals take away, and contradictions or no-ops are refused.
    #[test]
    fn updates_apply_to_scopes() {
        let p = principal(&[("a", Level::Admin), ("b", Level::Read)]);
        let update = PrincipalUpdate {
            scopes: Scopes::from([
                ("a".to_owned(), Level::Read),
                ("c".to_owned(), Level::Write),
            ]),
            remove_scopes: vec!["b".into()],
            ..PrincipalUpdate::default()
        };
        let (updated, changed) = apply(&p, &update).unwrap();
        assert!(changed);
        assert_eq!(
            updated.scopes(),
            Scopes::from([
                ("a".to_owned(), Level::Read),
                ("c".to_owned(), Level::Write)
            ])
        );
        let label_only = PrincipalUpdate {
            label: Some("x".into()),
            ..PrincipalUpdate::default()
        };
        assert!(!apply(&p, &label_only).unwrap().1);
        assert!(apply(&p, &PrincipalUpdate::default()).is_err());
        let both = PrincipalUpdate {
            scopes: Scopes::from([("a".to_owned(), Level::Read)]),
            remove_scopes: vec!["a".into()],
            ..PrincipalUpdate::default()
        };
        assert!(apply(&p, &both).is_err());
        let missing = PrincipalUpdate {
            remove_scopes: vec!["z".into()],
            ..PrincipalUpdate::default()
        };
        assert!(apply(&p, &missing).is_err());
    }
}
