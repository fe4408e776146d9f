//! Read-only questions: listing admin keys and clients, showing a client, counting for stats.

use keyward_protocol::{AdminKeyInfo, ClientDetails, ClientSummary, CredentialInfo, Stats};
use uuid::Uuid;

use super::{allowed, AdminContext, Authority, Fault, Outcome};
use crate::store::{PrincipalKind, StoredKind};

impl Authority {
    /// Every admin key, both environments.
    pub fn list_admin_keys(&self) -> Result<Vec<AdminKeyInfo>, Fault> {
        let mut keys: Vec<AdminKeyInfo> = self
            .store
            .credentials_of(Uuid::nil())?
            .into_iter()
            .filter(|f| f.record.kind == StoredKind::AdminKey)
            .map(|f| AdminKeyInfo {
                id: f.record.id,
                label: f.record.label.clone().unwrap_or_default(),
                env: f.record.env(),
                created_at: f.record.created_at,
                last_used_at: f.record.last_used_at,
                disabled: self.store.is_disabled(f.record.id, f.record.owner),
            })
            .collect();
        keys.sort_by_key(|k| (k.created_at, k.id));
        Ok(keys)
    }

    /// The clients of the caller's environment, oldest first.
    pub fn list_clients(&self, ctx: AdminContext) -> Result<Vec<ClientSummary>, Fault> {
        let mut clients = Vec::new();
        for p in self.store.principals()? {
            let p = p?;
            if p.kind == PrincipalKind::Client && p.env() == ctx.env {
                clients.push((
                    p.created_at,
                    ClientSummary {
                        client_id: p.id,
                        label: p.label,
                        disabled: self.store.is_disabled(p.id, p.id),
                    },
                ));
            }
        }
        clients.sort_by_key(|(at, c)| (*at, c.client_id));
        Ok(clients.into_iter().map(|(_, c)| c).collect())
    }

    /// One client with its live credentials, oldest first.
    pub fn show_client(&self, ctx: AdminContext, client_id: Uuid) -> Outcome<ClientDetails> {
        let client = allowed!(self.client_in(ctx, client_id)?);
        let now = self.now();
        let mut credentials: Vec<CredentialInfo> = self
            .store
            .credentials_of(client.id)?
            .into_iter()
            .filter(|f| f.record.is_live(now))
            .map(|f| CredentialInfo {
                id: f.record.id,
                kind: f.record.kind(),
                created_at: f.record.created_at,
                last_used_at: f.record.last_used_at,
                expires_at: f.record.expires_at,
                disabled: self.store.is_disabled(f.record.id, f.record.id),
            })
            .collect();
        credentials.sort_by_key(|c| (c.created_at, c.id));
        Ok(Ok(ClientDetails {
            client_id: client.id,
            label: client.label.clone(),
            env: client.env(),
            scopes: client.scopes(),
            max_sessions: client.max_sessions,
            disabled: self.store.is_disabled(client.id, client.id),
            credentials,
        }))
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
