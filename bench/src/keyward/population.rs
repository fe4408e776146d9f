//! Filling a daemon with sessions through its public operations, as a backend would: an admin
//! key, clients (each created with its first session), then more sessions for those clients.

use anyhow::{bail, Context, Result};
use keyward_protocol::{Env, Op, Scopes, Secret};
use std::sync::Arc;
use uuid::Uuid;

use super::daemon::Daemon;
use super::ops::Script;
use super::wire::FrameExchange;
use crate::load::{self, Plan};
use crate::progress;

/// Sessions given to each client: a user signed in on a few devices.
pub(crate) const SESSIONS_PER_CLIENT: u64 = 10;

/// Connections a preload uses. Every create and issue waits for a flush, and the daemon serves
/// one connection's requests in order, so concurrency comes from connections.
const PRELOAD_CONNECTIONS: usize = 64;

/// Requests in flight per preload connection: enough that a connection never idles between a
/// reply and its next request.
const PRELOAD_DEPTH: usize = 4;

/// What a preload created.
#[derive(Debug, Clone)]
pub(crate) struct Population {
    /// The admin key that created everything (live environment).
    pub admin_key: Secret,
    /// Every client.
    pub clients: Arc<Vec<Uuid>>,
    /// Every session token, live when issued.
    pub tokens: Arc<Vec<Secret>>,
}

/// Creates an admin key, then `sessions` sessions spread over `sessions / SESSIONS_PER_CLIENT`
/// clients (at least `min_clients`), all with default seat limits.
///
/// # Errors
/// If any operation fails: a preload that lost sessions would skew what follows.
pub(crate) async fn preload(
    daemon: &Daemon,
    sessions: u64,
    min_clients: u64,
    label: &str,
) -> Result<Population> {
    let mut admin = daemon.client().await?;
    let admin_key = admin
        .admin_key_create("keyward-bench", Env::Live)
        .await
        .context("creating the admin key (the harness must run as root or keywardd's uid)")?
        .secret;
    let client_count = sessions.div_ceil(SESSIONS_PER_CLIENT).max(min_clients);
    let creates = (0..client_count)
        .map(|_| Op::ClientCreate {
            label: None,
            max_sessions: None,
            scopes: Scopes::new(),
            identity: Box::default(),
        })
        .collect();
    let bar = progress::bar(sessions.max(client_count), &format!("{label}: sessions"));
    let created = run_script(daemon, creates, &admin_key, &bar).await?;
    let clients: Vec<Uuid> = created.iter().flat_map(|s| s.clients.clone()).collect();
    let mut tokens: Vec<Secret> = created.into_iter().flat_map(|s| s.tokens).collect();
    let remaining = sessions.saturating_sub(tokens.len() as u64);
    let issues = (0..remaining)
        .map(|i| Op::SessionIssue {
            client_id: clients[(i % client_count) as usize],
        })
        .collect();
    let issued = run_script(daemon, issues, &admin_key, &bar).await?;
    tokens.extend(issued.into_iter().flat_map(|s| s.tokens));
    bar.finish_and_clear();
    if tokens.len() as u64 != sessions.max(client_count) {
        bail!(
            "preload asked for {} sessions but received {}",
            sessions.max(client_count),
            tokens.len()
        );
    }
    Ok(Population {
        admin_key,
        clients: Arc::new(clients),
        tokens: Arc::new(tokens),
    })
}

/// Issues `n` more sessions for `population`'s clients, round robin, and returns their tokens;
/// `label` names the progress bar.
///
/// # Errors
/// If any issue fails.
pub(crate) async fn issue(
    daemon: &Daemon,
    population: &Population,
    n: u64,
    label: &str,
) -> Result<Vec<Secret>> {
    let clients = &population.clients;
    let ops = (0..n)
        .map(|i| Op::SessionIssue {
            client_id: clients[(i % clients.len() as u64) as usize],
        })
        .collect();
    let bar = progress::bar(n, label);
    let scripts = run_script(daemon, ops, &population.admin_key, &bar).await?;
    bar.finish_and_clear();
    Ok(scripts.into_iter().flat_map(|s| s.tokens).collect())
}

/// Sends `ops` over the preload connections and returns each connection's script.
async fn run_script(
    daemon: &Daemon,
    mut ops: Vec<Op>,
    admin_key: &Secret,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<Script>> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let connections = PRELOAD_CONNECTIONS.min(ops.len());
    let per = ops.len().div_ceil(connections);
    let mut links = Vec::with_capacity(connections);
    for stream in daemon.connect(connections).await? {
        let tail = ops.split_off(ops.len().saturating_sub(per));
        links.push((
            stream,
            FrameExchange::new(Script::new(tail), Some(admin_key.clone())),
        ));
    }
    let outcome = load::run(links, &Plan::to_completion(PRELOAD_DEPTH, bar.clone())).await?;
    let scripts: Vec<Script> = outcome
        .exchanges
        .into_iter()
        .map(FrameExchange::into_source)
        .collect();
    if let Some(e) = scripts.iter().find_map(|s| s.failure.as_ref()) {
        bail!("preload failed: {e}");
    }
    Ok(scripts)
}
