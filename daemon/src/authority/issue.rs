//! Creating credentials: admin keys, clients with their first session, sessions, test keys and
//! API tokens.

use keyward_protocol::token::{self, TokenHash};
use keyward_protocol::{
    identity, AdminKeyCreated, ApiTokenCreated, ClientCreated, CredentialKind, Env, Meta, Scopes,
    Secret, SessionIssued, TestKeyCreated,
};
use uuid::Uuid;

use super::{
    allowed, expiry, refuse, AdminContext, Authority, Change, Denied, Fault, Outcome, Uncommitted,
};
use crate::clock::millis;
use crate::store::replica::OwnerRule;
use crate::store::{session_id, CredentialRecord, PrincipalKind, PrincipalRecord, StoredKind};

/// The longest label, name or scope name accepted, in bytes.
const MAX_NAME_LEN: usize = 256;
/// The most scopes one principal may hold.
const MAX_SCOPES: usize = 64;

pub(super) fn check_name(what: &str, name: &str) -> Result<(), Denied> {
    if name.trim().is_empty() {
        return Err(Denied::BadRequest(format!("{what} must not be empty")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Denied::BadRequest(format!(
            "{what} is {} bytes; the limit is {MAX_NAME_LEN}",
            name.len()
        )));
    }
    Ok(())
}

pub(super) fn check_scopes(scopes: &Scopes) -> Result<(), Denied> {
    if scopes.len() > MAX_SCOPES {
        return Err(Denied::BadRequest(format!(
            "{} scopes given; the limit is {MAX_SCOPES}",
            scopes.len()
        )));
    }
    scopes
        .keys()
        .try_for_each(|name| check_name("a scope name", name))
}

/// A new principal's external id and metadata, as asked for.
#[derive(Clone, Copy)]
pub struct NewIdentity<'a> {
    /// Its external id, unique in the environment.
    pub external_id: Option<&'a str>,
    /// Its metadata.
    pub meta: &'a Meta,
}

impl<'a> NewIdentity<'a> {
    /// Neither an external id nor metadata.
    pub fn none() -> NewIdentity<'static> {
        static EMPTY: Meta = Meta::new();
        NewIdentity {
            external_id: None,
            meta: &EMPTY,
        }
    }

    /// What `identity` asks for.
    pub fn of(identity: &'a keyward_protocol::Identity) -> Self {
        NewIdentity {
            external_id: identity.external_id.as_deref(),
            meta: &identity.meta,
        }
    }

    /// Checked against the limits in `keyward_protocol::identity`.
    pub(super) fn check(&self) -> Result<(), Denied> {
        if let Some(id) = self.external_id {
            identity::check_external_id(id).map_err(Denied::BadRequest)?;
        }
        identity::check_meta(self.meta).map_err(Denied::BadRequest)
    }

    fn external_id(&self) -> Option<String> {
        self.external_id.map(str::to_owned)
    }

    fn meta(&self) -> Vec<(String, String)> {
        self.meta
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A freshly generated token and its stored hash.
struct Minted {
    token: Secret,
    hash: TokenHash,
}

fn mint(kind: CredentialKind, env: Env) -> Result<Minted, Fault> {
    let token = token::generate(kind, env)?;
    let hash = token::hash(token.expose());
    Ok(Minted { token, hash })
}

impl Change<'_> {
    /// Mints an admin key (host admins only; the caller checks that).
    pub fn create_admin_key(&self, label: &str, env: Env) -> Outcome<Uncommitted<AdminKeyCreated>> {
        allowed!(check_name("the label", label));
        let minted = mint(CredentialKind::AdminKey, env)?;
        let record = CredentialRecord {
            id: Uuid::new_v4(),
            kind: StoredKind::AdminKey,
            env: env.into(),
            owner: Uuid::nil(),
            label: Some(label.to_owned()),
            created_at: self.now(),
            last_used_at: None,
            expires_at: None,
            max_expires_at: None,
            scopes: Vec::new(),
        };
        self.store.insert_credential(&minted.hash, &record)?;
        self.once_durable(AdminKeyCreated {
            id: record.id,
            label: label.to_owned(),
            env,
            secret: minted.token,
        })
    }

    /// Creates a client in the admin key's environment, with its first session.
    pub fn create_client(
        &self,
        ctx: AdminContext,
        label: Option<&str>,
        max_sessions: Option<u32>,
        scopes: &Scopes,
        identity: NewIdentity<'_>,
    ) -> Outcome<Uncommitted<ClientCreated>> {
        if let Some(label) = label {
            allowed!(check_name("the label", label));
        }
        allowed!(check_scopes(scopes));
        allowed!(identity.check());
        if max_sessions == Some(0) {
            refuse!(Denied::BadRequest(
                "max_sessions must be at least 1: a client needs a seat for its first session"
                    .into()
            ));
        }
        let client = PrincipalRecord {
            id: Uuid::new_v4(),
            kind: PrincipalKind::Client,
            env: ctx.env.into(),
            label: label.map(str::to_owned),
            scopes: PrincipalRecord::stored_scopes(scopes),
            max_sessions,
            created_at: self.now(),
            external_id: identity.external_id(),
            meta: identity.meta(),
        };
        if !self.store.insert_principal(&client)? {
            refuse!(Denied::Conflict(identity.external_id().unwrap_or_default()));
        }
        let session = self.insert_session(&client)?;
        self.once_durable(ClientCreated {
            client_id: client.id,
            session,
        })
    }

    /// Issues a fresh session for an existing client: the seeds' refresh call.
    pub fn issue_session(
        &self,
        ctx: AdminContext,
        client_id: Uuid,
    ) -> Outcome<Uncommitted<SessionIssued>> {
        let issued = {
            let _guard = self.lock_writes();
            let client = allowed!(self.client_in(ctx, client_id)?);
            allowed!(self.not_disabled(&client));
            if let Some(limit) = self.seat_limit(&client) {
                let now = self.now();
                let live = self
                    .store
                    .credentials_of(client.id)?
                    .into_iter()
                    .filter(|f| f.record.kind == StoredKind::Session && f.record.is_live(now))
                    .count();
                if live >= limit as usize {
                    refuse!(Denied::SessionLimit { limit });
                }
                let issued = self.insert_session(&client)?;
                // Another host may have filled the seat meanwhile: the replica checks again.
                self.store.relied_on(
                    client.id,
                    OwnerRule::Seats {
                        limit,
                        except: issued.id,
                    },
                );
                issued
            } else {
                self.insert_session(&client)?
            }
        };
        self.once_durable(issued)
    }

    /// Creates the client's test key. A client has at most one.
    pub fn create_test_key(
        &self,
        ctx: AdminContext,
        client_id: Uuid,
    ) -> Outcome<Uncommitted<TestKeyCreated>> {
        let created = {
            let _guard = self.lock_writes();
            let client = allowed!(self.client_in(ctx, client_id)?);
            allowed!(self.not_disabled(&client));
            let existing = self
                .store
                .credentials_of(client.id)?
                .into_iter()
                .find(|f| f.record.kind == StoredKind::TestKey);
            if let Some(found) = existing {
                refuse!(Denied::BadRequest(format!(
                    "client already has a test key ({}); revoke it first",
                    found.record.id
                )));
            }
            let minted = mint(CredentialKind::TestKey, ctx.env)?;
            let record = CredentialRecord {
                id: Uuid::new_v4(),
                kind: StoredKind::TestKey,
                env: ctx.env.into(),
                owner: client.id,
                label: None,
                created_at: self.now(),
                last_used_at: None,
                expires_at: None,
                max_expires_at: None,
                scopes: client.scopes.clone(),
            };
            self.store.insert_credential(&minted.hash, &record)?;
            self.store
                .relied_on(client.id, OwnerRule::OneTestKey { except: record.id });
            TestKeyCreated {
                id: record.id,
                token: minted.token,
            }
        };
        self.once_durable(created)
    }

    /// Creates an API token: a pseudo-user principal with scopes, and its one token.
    pub fn create_api_token(
        &self,
        ctx: AdminContext,
        name: &str,
        scopes: &Scopes,
        expires_in: Option<std::time::Duration>,
        identity: NewIdentity<'_>,
    ) -> Outcome<Uncommitted<ApiTokenCreated>> {
        allowed!(check_name("the name", name));
        allowed!(check_scopes(scopes));
        allowed!(identity.check());
        if expires_in.is_some_and(|d| d.is_zero()) {
            refuse!(Denied::BadRequest("expires_in must be above zero".into()));
        }
        let now = self.now();
        let principal = PrincipalRecord {
            id: Uuid::new_v4(),
            kind: PrincipalKind::ApiToken,
            env: ctx.env.into(),
            label: Some(name.to_owned()),
            scopes: PrincipalRecord::stored_scopes(scopes),
            max_sessions: None,
            created_at: now,
            external_id: identity.external_id(),
            meta: identity.meta(),
        };
        let minted = mint(CredentialKind::ApiToken, ctx.env)?;
        let expires_at = expires_in.map(|d| now.saturating_add(millis(d)));
        let record = CredentialRecord {
            id: Uuid::new_v4(),
            kind: StoredKind::ApiToken,
            env: ctx.env.into(),
            owner: principal.id,
            label: None,
            created_at: now,
            last_used_at: None,
            expires_at,
            max_expires_at: None,
            scopes: principal.scopes.clone(),
        };
        if !self.store.insert_principal(&principal)? {
            refuse!(Denied::Conflict(identity.external_id().unwrap_or_default()));
        }
        self.store.insert_credential(&minted.hash, &record)?;
        self.once_durable(ApiTokenCreated {
            id: record.id,
            principal_id: principal.id,
            token: minted.token,
            expires_at,
        })
    }
}

impl Authority {
    /// The client `id` if it exists in the caller's environment.
    pub(super) fn client_in(
        &self,
        ctx: AdminContext,
        id: Uuid,
    ) -> Result<Result<PrincipalRecord, Denied>, Fault> {
        Ok(match self.store.principal(id)? {
            Some(p) if p.kind == PrincipalKind::Client && p.env() == ctx.env => Ok(p),
            // Another environment's client is indistinguishable from a missing one.
            _ => Err(Denied::NotFound("client")),
        })
    }

    /// Refuses a disabled client a new credential: it would be disabled from birth.
    fn not_disabled(&self, client: &PrincipalRecord) -> Result<(), Denied> {
        if self.store.is_disabled(client.id, client.id) {
            return Err(Denied::Disabled(
                "the client is disabled; enable it before issuing it credentials",
            ));
        }
        Ok(())
    }

    fn seat_limit(&self, client: &PrincipalRecord) -> Option<u32> {
        let default = self.policy().max_sessions_per_client;
        client.max_sessions.or((default > 0).then_some(default))
    }

    fn insert_session(&self, client: &PrincipalRecord) -> Result<SessionIssued, Fault> {
        let now = self.now();
        let (expires_at, max_expires_at) = expiry::new_session(now, &self.policy());
        let minted = mint(CredentialKind::Session, client.env())?;
        let record = CredentialRecord {
            // Derived from the hash: the session table finds a session by either.
            id: session_id(&minted.hash),
            kind: StoredKind::Session,
            env: client.env,
            owner: client.id,
            label: None,
            created_at: now,
            last_used_at: None,
            expires_at: Some(expires_at),
            max_expires_at: Some(max_expires_at),
            scopes: client.scopes.clone(),
        };
        self.store.insert_credential(&minted.hash, &record)?;
        Ok(SessionIssued {
            id: record.id,
            token: minted.token,
            expires_at,
            max_expires_at,
        })
    }
}
