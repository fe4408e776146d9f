//! Client and API-token updates in the crash loop: a few clients and API tokens of their own,
//! changed by one extra connection during the load (label, seat limit, scopes upgraded,
//! downgraded and removed), over frames or HTTP as the run's transport says.
//!
//! They are kept apart from the model of issued and revoked credentials, so an update never
//! makes that model's "must verify" wrong. Each updated client has a test key and a session,
//! each API token its one credential: every credential of the principal must carry exactly its
//! scopes. After each acknowledged update, and after each restart, every such credential is
//! verified against each scope name: a held level is granted, the level above it and a removed
//! scope are refused with `FORBIDDEN`, and the scopes verify reports are the principal's.
//! `client show` and `api-token show` must agree. An acknowledged update holds after a crash;
//! one cut off by the kill is either wholly applied or not at all, and the first check after
//! it decides which.

use keyward_client::{
    Client, CredentialKind, Error, ErrorCode, Level, Op, PrincipalUpdate, Reply, Requirements,
    ScopeRequirement, Scopes, Secret,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use crate::model::Model;
use crate::transport::Connection;

/// How many updated clients the run keeps.
const CLIENTS: usize = 3;
/// How many updated API tokens.
const TOKENS: usize = 2;
/// The scope names updates grant, change and remove.
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
/// Every level, lowest first.
const LEVELS: [Level; 3] = [Level::Read, Level::Write, Level::Admin];
/// The pause between two updates, so that they stay a small share of the load.
const PACE: Duration = Duration::from_millis(3);

/// What an update sets: a client's label, seat limit and scopes, or an API token's name (as the
/// label) and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    label: Option<String>,
    max_sessions: Option<u32>,
    scopes: Scopes,
}

impl Settings {
    /// These settings with `update` applied, as the daemon applies it.
    fn with(&self, update: &PrincipalUpdate) -> Settings {
        let mut next = self.clone();
        if let Some(label) = &update.label {
            next.label = Some(label.clone());
        }
        if update.max_sessions.is_some() {
            next.max_sessions = update.max_sessions;
        }
        for name in &update.remove_scopes {
            next.scopes.remove(name);
        }
        next.scopes
            .extend(update.scopes.iter().map(|(n, l)| (n.clone(), *l)));
        next
    }
}

/// What the tool knows of a principal's settings.
#[derive(Debug, Clone)]
enum Held {
    /// Acknowledged (or observed after a restart).
    Known(Settings),
    /// An update cut off by the kill: the old settings or the new, wholly.
    Either(Settings, Settings),
}

impl Held {
    /// The settings the tool is sure of, if any.
    fn known(&self) -> Option<&Settings> {
        match self {
            Held::Known(s) => Some(s),
            Held::Either(..) => None,
        }
    }
}

/// A client or API token the load updates, with its credentials.
#[derive(Debug)]
pub(crate) struct Updated {
    /// The client's or API token's principal id.
    principal: Uuid,
    /// Whether it is an API token (else a client).
    api_token: bool,
    /// Its credentials that live through the run: a client's test key, an API token's own.
    keys: Vec<(Uuid, Secret)>,
    /// A client's session, issued again after each restart so it never idles out or reaches
    /// its cap.
    session: Option<(Uuid, Secret)>,
    held: Held,
}

impl Updated {
    fn credentials(&self) -> Vec<(Uuid, Secret)> {
        self.keys.iter().chain(&self.session).cloned().collect()
    }

    fn what(&self) -> String {
        let kind = if self.api_token {
            "API token"
        } else {
            "client"
        };
        format!("updated {kind} {}", self.principal)
    }
}

/// Creates the updated clients (each with a test key and a session) and API tokens.
///
/// # Errors
/// If the daemon refuses or fails.
pub(crate) async fn set_up(client: &mut Client) -> Result<Vec<Updated>, Error> {
    let scopes: Scopes = [("alpha".to_owned(), Level::Write)].into();
    let mut updated = Vec::with_capacity(CLIENTS + TOKENS);
    for _ in 0..CLIENTS {
        let label = Some("updated".to_owned());
        let created = client
            .client_create(label.clone(), Some(4), scopes.clone())
            .await?;
        let key = client.test_key_create(created.client_id).await?;
        updated.push(Updated {
            principal: created.client_id,
            api_token: false,
            keys: vec![(key.id, key.token)],
            session: Some((created.session.id, created.session.token)),
            held: Held::Known(Settings {
                label,
                max_sessions: Some(4),
                scopes: scopes.clone(),
            }),
        });
    }
    for _ in 0..TOKENS {
        let created = client
            .api_token_create("updated", scopes.clone(), None)
            .await?;
        updated.push(Updated {
            principal: created.principal_id,
            api_token: true,
            keys: vec![(created.id, created.token)],
            session: None,
            held: Held::Known(Settings {
                label: Some("updated".to_owned()),
                max_sessions: None,
                scopes: scopes.clone(),
            }),
        });
    }
    Ok(updated)
}

/// A random change to `settings` that changes something: a new label, a new seat limit (for a
/// client), and a scope granted, moved up or down, or removed.
fn plan(rng: &mut impl RngExt, settings: &Settings, api_token: bool) -> PrincipalUpdate {
    let mut update = PrincipalUpdate::default();
    if rng.random_bool(0.3) {
        update.label = Some(format!("u{}", rng.random_range(0..1000u32)));
    }
    if !api_token && rng.random_bool(0.3) {
        update.max_sessions = Some(rng.random_range(1..=5));
    }
    for name in NAMES {
        if !rng.random_bool(0.5) {
            continue;
        }
        let held = settings.scopes.get(name).copied();
        let level = LEVELS[rng.random_range(0..LEVELS.len())];
        if held.is_some() && rng.random_bool(0.35) {
            update.remove_scopes.push(name.to_owned());
        } else if held != Some(level) {
            update.scopes.insert(name.to_owned(), level);
        }
    }
    if update == PrincipalUpdate::default() {
        update.label = Some(format!("u{}", rng.random_range(0..1000u32)));
    }
    update
}

/// The extra connection's loop: update a random principal, record the answer, and on an
/// acknowledgement verify every credential of it against the new scopes at once; until the
/// connection dies with the daemon or `stop` is set. `prober` is a frame connection to the
/// same host for those verifies.
pub(crate) async fn work(
    mut conn: Connection,
    mut prober: Client,
    model: Arc<Mutex<Model>>,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    // With several hosts, a verify this host refuses as stale (etcd out of reach) proves
    // nothing either way.
    let stale_ok = lock(&model).spread.is_some();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let planned = {
            let m = lock(&model);
            let count = m.updates.len();
            if count == 0 {
                return;
            }
            let index = rng.random_range(0..count);
            let u = &m.updates[index];
            // One at a time, so a principal is never left with two outcomes in doubt.
            let Some(settings) = u.held.known() else {
                return;
            };
            let update = plan(&mut rng, settings, u.api_token);
            let op = if u.api_token {
                Op::ApiTokenUpdate {
                    id: u.principal,
                    update: Box::new(update.clone()),
                }
            } else {
                Op::ClientUpdate {
                    client_id: u.principal,
                    update: Box::new(update.clone()),
                }
            };
            (index, settings.with(&update), op)
        };
        let (index, next, op) = planned;
        let answer = conn.call(op).await;
        if !settle(&model, index, next, answer) {
            return;
        }
        let (what, settings, creds) = {
            let m = lock(&model);
            let u = &m.updates[index];
            let settings = u.held.known().cloned().expect("just acknowledged");
            (u.what(), settings, u.credentials())
        };
        let mut wrong = Vec::new();
        for (id, token) in creds {
            match probe(&mut prober, &token, &settings.scopes, stale_ok).await {
                Ok(mut found) => wrong.extend(found.drain(..).map(|w| format!("{id}: {w}"))),
                // The daemon died under the verify: the next check sees to it.
                Err(_) => return,
            }
        }
        {
            let mut m = lock(&model);
            for observed in wrong {
                let acked = format!("{what} acknowledged with scopes {:?}", settings.scopes);
                m.violation("update not in effect", None, acked, observed);
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Records an update's answer; returns whether the connection is still up.
fn settle(
    model: &Mutex<Model>,
    index: usize,
    next: Settings,
    answer: Result<Reply, Error>,
) -> bool {
    let mut m = lock(model);
    let what = m.updates[index].what();
    let api_token = m.updates[index].api_token;
    match answer {
        Ok(Reply::ClientUpdated(c)) if !api_token => {
            let shown = Settings {
                label: c.label,
                max_sessions: c.max_sessions,
                scopes: c.scopes,
            };
            acknowledged(&mut m, index, next, shown, &what);
        }
        Ok(Reply::ApiToken(t)) if api_token => {
            let shown = Settings {
                label: Some(t.name),
                max_sessions: None,
                scopes: t.scopes,
            };
            acknowledged(&mut m, index, next, shown, &what);
        }
        Ok(other) => {
            let observed = format!("{other:?}");
            m.violation(
                "unexpected reply",
                None,
                format!("an update of {what}"),
                observed,
            );
        }
        // With several hosts: etcd did not commit it in time, and it may still. In doubt like
        // a cut-off one (below).
        Err(Error::Daemon(e)) if m.spread.is_some() && e.code == ErrorCode::Unavailable => {
            m.tally.unavailable += 1;
            return in_doubt(&mut m, index, next);
        }
        Err(Error::Daemon(e)) => m.violation(
            "refused",
            None,
            format!("a valid update of {what}, which exists"),
            e.to_string(),
        ),
        // Cut off by the kill: it may or may not have been made durable, but not in part.
        Err(_) => return in_doubt(&mut m, index, next),
    }
    true
}

/// Records an acknowledged update whose reply showed `shown`.
/// Records an update whose outcome is unknown: it holds either its old settings or `next`.
/// Returns `false`: the connection is treated as down.
fn in_doubt(m: &mut Model, index: usize, next: Settings) -> bool {
    m.tally.updates_cut.0 += 1;
    let u = &mut m.updates[index];
    if let Held::Known(old) = &u.held {
        if *old != next {
            u.held = Held::Either(old.clone(), next);
        }
    }
    false
}

fn acknowledged(m: &mut Model, index: usize, next: Settings, shown: Settings, what: &str) {
    if shown != next {
        m.violation(
            "update",
            None,
            format!("an update of {what} to {next:?}"),
            format!("the reply shows {shown:?}"),
        );
    }
    m.updates[index].held = Held::Known(next);
    m.tally.acked += 1;
    m.tally.acked_changes += 1;
    m.tally.updates += 1;
}

/// Verifies `token` against `scopes`: its reported scopes must equal them, each held level
/// must be granted, and the level above it, or any level of a scope not held, refused with
/// `FORBIDDEN`. Returns what was wrong. With `stale_ok`, a verify answered `UNAVAILABLE` ends
/// the probe with what was found so far.
///
/// # Errors
/// If the daemon stops answering.
async fn probe(
    client: &mut Client,
    token: &Secret,
    scopes: &Scopes,
    stale_ok: bool,
) -> Result<Vec<String>, Error> {
    let mut wrong = Vec::new();
    let any_kind = Requirements::new()
        .kind(CredentialKind::Session)
        .kind(CredentialKind::TestKey)
        .kind(CredentialKind::ApiToken);
    match client.verify(token, any_kind.clone()).await {
        Ok(v) if v.scopes != *scopes => {
            wrong.push(format!("verify reports scopes {:?}", v.scopes));
        }
        Ok(_) => {}
        Err(Error::Daemon(e)) if stale_ok && e.code == ErrorCode::Unavailable => return Ok(wrong),
        Err(Error::Daemon(e)) => {
            wrong.push(format!("verify answered {e}"));
            return Ok(wrong);
        }
        Err(e) => return Err(e),
    }
    for name in NAMES {
        let held = scopes.get(name).copied();
        let above = match held {
            None => Some(Level::Read),
            Some(l) => LEVELS.iter().copied().skip_while(|x| *x != l).nth(1),
        };
        for (level, granted) in held
            .map(|l| (l, true))
            .into_iter()
            .chain(above.map(|l| (l, false)))
        {
            let require = any_kind.clone().scope(ScopeRequirement {
                scope: name.to_owned(),
                level,
            });
            let refused = match client.verify(token, require).await {
                Ok(_) => None,
                Err(Error::Daemon(e)) if stale_ok && e.code == ErrorCode::Unavailable => {
                    return Ok(wrong)
                }
                Err(Error::Daemon(e)) => Some(e),
                Err(e) => return Err(e),
            };
            match (refused, granted) {
                (None, true) => {}
                (Some(e), false) if e.code == ErrorCode::Forbidden => {}
                (refused, _) => wrong.push(format!(
                    "a verify requiring {name}={} was {}",
                    level.as_str(),
                    refused.map_or_else(|| "granted".to_owned(), |e| format!("answered {e}"))
                )),
            }
        }
    }
    Ok(wrong)
}

/// After a restart: every updated principal shows the settings of its last acknowledged
/// update (or, after a cut-off one, wholly the old or wholly the new), and every credential of
/// it carries exactly those scopes. Then each client's session is issued again. Returns how
/// many principals were checked.
///
/// # Errors
/// If the daemon stops answering.
pub(crate) async fn check(model: &mut Model, client: &mut Client) -> Result<u64, Error> {
    let mut checked = 0;
    for i in 0..model.updates.len() {
        let (principal, api_token, what, creds) = {
            let u = &model.updates[i];
            (u.principal, u.api_token, u.what(), u.credentials())
        };
        let shown = if api_token {
            client.api_token_show(principal).await.map(|t| Settings {
                label: Some(t.name),
                max_sessions: None,
                scopes: t.scopes,
            })
        } else {
            client.client_show(principal).await.map(|c| Settings {
                label: c.label,
                max_sessions: c.max_sessions,
                scopes: c.scopes,
            })
        };
        let shown = match shown {
            Ok(shown) => shown,
            Err(Error::Daemon(e)) => {
                model.violation(
                    "lost",
                    None,
                    format!("{what}, created at set-up"),
                    e.to_string(),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        let held = model.updates[i].held.clone();
        let acked = match &held {
            Held::Known(s) => format!("{what} acknowledged as {s:?}"),
            Held::Either(old, new) => {
                format!("{what} was {old:?} and an update to {new:?} was cut off")
            }
        };
        let matches = match &held {
            Held::Known(s) => *s == shown,
            Held::Either(old, new) => {
                if *new == shown {
                    model.tally.updates_cut.1 += 1;
                }
                *old == shown || *new == shown
            }
        };
        if !matches {
            model.violation(
                "update",
                None,
                acked.clone(),
                format!("show says {shown:?}"),
            );
        }
        for (id, token) in creds {
            for observed in probe(client, &token, &shown.scopes, false).await? {
                let observed = format!("credential {id}, while show says {shown:?}: {observed}");
                model.violation("update", None, acked.clone(), observed);
            }
        }
        let u = &mut model.updates[i];
        u.held = Held::Known(shown);
        if !api_token {
            client.client_revoke_sessions(principal).await?;
            match client.session_issue(principal).await {
                Ok(session) => u.session = Some((session.id, session.token)),
                Err(Error::Daemon(e)) => {
                    u.session = None;
                    let acked = format!("{what}, with no session after revoke-sessions");
                    model.violation("update", None, acked, format!("session issue answered {e}"));
                }
                Err(e) => return Err(e),
            }
        }
        checked += 1;
    }
    Ok(checked)
}

fn lock(model: &Mutex<Model>) -> std::sync::MutexGuard<'_, Model> {
    // A worker that panicked mid-update is re-raised by the load; the model is not reused then.
    model.lock().unwrap_or_else(|p| p.into_inner())
}
