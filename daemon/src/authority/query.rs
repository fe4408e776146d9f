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
            })
            .collect();
        credentials.sort_by_key(|c| (c.created_at, c.id));
        Ok(Ok(ClientDetails {
            client_id: client.id,
            label: client.label.clone(),
            env: client.env(),
            scopes: client.scopes(),
            max_sessions: client.max_sessions,
            credentials,
        }))
    }

    /// A cheap read through the store, proving it answers: the watchdog's liveness probe.
    pub fn probe(&self) -> Result<(), Fault> {
        self.store.sweep_counters()?;
        Ok(())
    }

    /// Counts of what the store holds (the daemon adds its runtime counters). Walks every
    /// record, sessions in memory: meant for operators, not hot paths.
    pub fn stats(&self) -> Result<Stats, Fault> {
        let now = self.now();
        let (sweeps_run, credentials_swept) = self.store.sweep_counters()?;
        let mut stats = Stats {
            clients: 0,
            live_sessions: 0,
            test_keys: 0,
            api_tokens: 0,
            admin_keys: 0,
            sweeps_run,
            credentials_swept,
            connections_open: 0,
            connections_total: 0,
            connections_refused: 0,
            audit_dropped: 0,
            requests: Default::default(),
            errors: Default::default(),
            uptime_secs: 0,
        };
        for p in self.store.principals()? {
            if p?.kind == PrincipalKind::Client {
                stats.clients += 1;
            }
        }
        stats.live_sessions = self.store.live_sessions(now);
        for record in self.store.sled_credentials()? {
            let record = record?;
            if !record.is_live(now) {
                continue;
            }
            match record.kind {
                // Only data dirs of the older layout held sessions in sled, and opening one
                // moves them to the journal.
                StoredKind::Session => stats.live_sessions += 1,
                StoredKind::TestKey => stats.test_keys += 1,
                StoredKind::ApiToken => stats.api_tokens += 1,
                StoredKind::AdminKey => stats.admin_keys += 1,
            }
        }
        Ok(stats)
    }
}
