//! Read-only questions: listing admin keys and clients by page, showing a client with a page of
//! its credentials, counting for stats.

use keyward_protocol::{
    codec, identity, AdminKeyInfo, AdminKeyPage, ClientDetails, ClientPage, ClientSummary,
    CredentialInfo, ListOrder, Stats,
};
use uuid::Uuid;

use super::{allowed, page, AdminContext, Authority, Denied, Fault, Outcome};
use crate::store::{PrincipalKind, PrincipalRecord, StoredKind};

impl Authority {
    /// A page of admin keys, both environments, in id order or least lately used first,
    /// after the cursor `after`. Admin keys are few (a host admin mints them), so the
    /// last-use order sorts them all for each page.
    pub fn list_admin_keys(
        &self,
        limit: u32,
        after: Option<&str>,
        order: ListOrder,
    ) -> Outcome<AdminKeyPage> {
        let info = |f: crate::store::Found| -> Result<Option<AdminKeyInfo>, Fault> {
            if f.record.kind != StoredKind::AdminKey {
                return Ok(None);
            }
            let used = self.store.credential_usage(f.record.id)?;
            Ok(Some(AdminKeyInfo {
                id: f.record.id,
                label: f.record.label.clone().unwrap_or_default(),
                env: f.record.env(),
                created_at: f.record.created_at,
                last_used_at: used.last_used_at.max(f.record.last_used_at),
                disabled: self.store.is_disabled(f.record.id, f.record.owner),
                uses: used.uses,
            }))
        };
        let page = match order {
            ListOrder::Id => {
                let after = allowed!(page::parse_cursor::<Uuid>(after));
                let entries = self
                    .store
                    .sled_credentials_of(Uuid::nil(), after)?
                    .map(|f| {
                        let f = f?;
                        Ok::<_, Fault>((f.record.id, info(f)?))
                    });
                page::collect(limit, 0, entries)?
            }
            ListOrder::LastUsed => {
                let after = allowed!(page::parse_cursor::<crate::store::Place>(after));
                let mut keys = Vec::new();
                for f in self.store.sled_credentials_of(Uuid::nil(), None)? {
                    if let Some(key) = info(f?)? {
                        keys.push(((key.last_used_at, key.id), key));
                    }
                }
                keys.sort_by_key(|(place, _)| *place);
                let entries = keys
                    .into_iter()
                    .filter(|(place, _)| after.is_none_or(|a| *place > a))
                    .map(|(place, key)| Ok::<_, Fault>((place, Some(key))));
                page::collect(limit, 0, entries)?
            }
        };
        Ok(Ok(AdminKeyPage {
            admin_keys: page.items,
            next: page.next,
        }))
    }

    /// A page of the caller's environment's clients, in id order or least lately used first,
    /// after the cursor `after`.
    pub fn list_clients(
        &self,
        ctx: AdminContext,
        limit: u32,
        after: Option<&str>,
        order: ListOrder,
    ) -> Outcome<ClientPage> {
        let summary = |p: PrincipalRecord| -> Result<Option<ClientSummary>, Fault> {
            if p.kind != PrincipalKind::Client || p.env() != ctx.env {
                return Ok(None);
            }
            let used = self.store.principal_usage(p.id)?;
            Ok(Some(ClientSummary {
                client_id: p.id,
                label: p.label.clone(),
                disabled: self.store.is_disabled(p.id, p.id),
                external_id: p.external_id.clone(),
                meta: p.meta(),
                last_used_at: used.last_used_at,
                uses: used.uses,
            }))
        };
        let page = match order {
            ListOrder::Id => {
                let after = allowed!(page::parse_cursor(after));
                let entries = self.store.principals_after(after)?.map(|p| {
                    let p = p?;
                    Ok::<_, Fault>((p.id, summary(p)?))
                });
                page::collect(limit, 0, entries)?
            }
            ListOrder::LastUsed => {
                let after = allowed!(page::parse_cursor(after));
                let entries = self.store.principals_by_last_use(after)?.map(|entry| {
                    let (place, p) = entry?;
                    Ok::<_, Fault>((place, p.map(summary).transpose()?.flatten()))
                });
                page::collect(limit, 0, entries)?
            }
        };
        Ok(Ok(ClientPage {
            clients: page.items,
            next: page.next,
        }))
    }

    /// One client with a page of its live credentials, in id order, after the cursor `after`.
    /// A page reads all of this client's credentials (never another's) to sort them.
    pub fn show_client(
        &self,
        ctx: AdminContext,
        client_id: Uuid,
        limit: u32,
        after: Option<&str>,
    ) -> Outcome<ClientDetails> {
        let client = allowed!(self.client_in(ctx, client_id)?);
        self.client_details(client, limit, after)
    }

    /// The client with external id `external_id` in the caller's environment, as
    /// [`Authority::show_client`] shows it.
    pub fn find_client(
        &self,
        ctx: AdminContext,
        external_id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Outcome<ClientDetails> {
        allowed!(identity::check_external_id(external_id).map_err(Denied::BadRequest));
        match self.store.principal_by_external_id(ctx.env, external_id)? {
            Some(client) if client.kind == PrincipalKind::Client => {
                self.client_details(client, limit, after)
            }
            // An API token's external id names no client.
            _ => Ok(Err(Denied::NotFound("client"))),
        }
    }

    fn client_details(
        &self,
        client: PrincipalRecord,
        limit: u32,
        after: Option<&str>,
    ) -> Outcome<ClientDetails> {
        let after = allowed!(page::parse_cursor::<Uuid>(after));
        let now = self.now();
        let all = self.store.credentials_of(client.id)?;
        // Every credential's unfolded uses, on every page, so the totals agree across pages.
        let used = self
            .store
            .principal_usage_now(client.id, all.iter().map(|f| f.record.id))?;
        let mut credentials: Vec<CredentialInfo> = all
            .into_iter()
            .filter(|f| f.record.is_live(now) && after.is_none_or(|a| f.record.id > a))
            .map(|f| CredentialInfo {
                id: f.record.id,
                kind: f.record.kind(),
                created_at: f.record.created_at,
                last_used_at: f.record.last_used_at,
                expires_at: f.record.expires_at,
                disabled: self.store.is_disabled(f.record.id, f.record.id),
                uses: 0,
            })
            .collect();
        credentials.sort_by_key(|c| c.id);
        let mut details = ClientDetails {
            last_used_at: used.last_used_at,
            uses: used.uses,
            client_id: client.id,
            label: client.label.clone(),
            env: client.env(),
            scopes: client.scopes(),
            max_sessions: client.max_sessions,
            disabled: self.store.is_disabled(client.id, client.id),
            credentials: Vec::new(),
            next: None,
            external_id: client.external_id.clone(),
            meta: client.meta(),
        };
        let reserved = codec::encode(&details).map_or(0, |b| b.len());
        // Usage is read for the page's credentials only, as the page is cut.
        let entries = credentials.into_iter().map(|mut c| {
            let used = self.store.credential_usage(c.id)?;
            c.last_used_at = c.last_used_at.max(used.last_used_at);
            c.uses = used.uses;
            Ok::<_, Fault>((c.id, Some(c)))
        });
        let page = page::collect(limit, reserved, entries)?;
        details.credentials = page.items;
        details.next = page.next;
        Ok(Ok(details))
    }

    /// A cheap read through the store, proving it answers: the watchdog's liveness probe.
    pub fn probe(&self) -> Result<(), Fault> {
        self.store.sweep_counters()?;
        Ok(())
    }

    /// Counts of what the store holds (the daemon adds its runtime counters). Reads counters
    /// the store keeps as it changes, so it costs the same at any size and any peer may ask.
    /// A credential counts until the sweep deletes it, so one that expired since the last
    /// sweep is still counted.
    pub fn stats(&self) -> Result<Stats, Fault> {
        let (sweeps_run, credentials_swept) = self.store.sweep_counters()?;
        let (held, sessions) = self.store.counts();
        Ok(Stats {
            clients: held.clients,
            live_sessions: sessions,
            test_keys: held.test_keys,
            api_tokens: held.api_tokens,
            admin_keys: held.admin_keys,
            sweeps_run,
            credentials_swept,
            connections_open: 0,
            connections_total: 0,
            connections_refused: 0,
            audit_dropped: 0,
            requests: Default::default(),
            errors: Default::default(),
            uptime_secs: 0,
        })
    }
}
