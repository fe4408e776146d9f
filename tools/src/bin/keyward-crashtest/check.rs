//! The checks after each restart, with nothing else in flight: every tracked credential against
//! what was acknowledged, each tracked client's `client show` against what verifies, credentials
//! no acknowledged or lost operation created, and seat limits.

use keyward_client::{
    Client, CredentialInfo, CredentialKind, Error, ErrorCode, Requirements, Secret,
};
use rand::RngExt;
use std::collections::BTreeMap;
use std::path::Path;
use uuid::Uuid;

use crate::clock::{self, Millis};
use crate::expect::{Expect, Window};
use crate::model::{Model, OpOutcome, Seen};
use crate::ops;

/// The share of checks that probe a limited client's free seats.
const PROBE_SHARE: f64 = 0.5;
/// A probe is skipped if one of the client's sessions reaches its cap within this, since the
/// seat count could change under it.
const PROBE_MARGIN_MS: Millis = 5_000;

/// Runs every check on the daemon at `socket`, host number `host` (0 without `--cluster`);
/// returns how many acknowledged outcomes were decided. Violations go to the model.
///
/// # Errors
/// If the daemon stops answering.
pub(crate) async fn run(
    model: &mut Model,
    socket: &Path,
    host: usize,
    admin_key: &Secret,
    rng: &mut impl RngExt,
) -> Result<u64, Error> {
    let mut client = Client::connect(socket).await?;
    client.set_admin_key(admin_key.clone());
    let mut checker = Checker {
        model,
        client,
        host,
        checked: 0,
    };
    let clients: Vec<Uuid> = checker.model.clients.keys().copied().collect();
    for id in clients {
        let probe = rng.random_bool(PROBE_SHARE);
        checker.check_client(id, probe).await?;
    }
    let loose: Vec<Uuid> = checker
        .model
        .creds
        .values()
        .filter(|c| {
            c.client
                .is_none_or(|id| !checker.model.clients.contains_key(&id))
        })
        .map(|c| c.id)
        .collect();
    for id in loose {
        checker.check_loose(id).await?;
    }
    let deleted: Vec<Uuid> = checker.model.deleted.keys().copied().collect();
    for id in deleted {
        checker.check_deleted(id).await?;
    }
    checker.checked += crate::switches::check(checker.model, &mut checker.client).await?;
    checker.checked += crate::updates::check(checker.model, &mut checker.client).await?;
    Ok(checker.checked)
}

/// One check pass over one connection.
struct Checker<'a> {
    model: &'a mut Model,
    client: Client,
    /// The host checked.
    host: usize,
    checked: u64,
}

/// Every kind, admin keys included: the check is whether a credential survived, not what a
/// service accepts.
fn every_kind() -> Requirements {
    [
        CredentialKind::Session,
        CredentialKind::TestKey,
        CredentialKind::ApiToken,
        CredentialKind::AdminKey,
    ]
    .into_iter()
    .fold(Requirements::new(), Requirements::kind)
}

impl Checker<'_> {
    /// Verifies a tracked credential and checks the answer. Returns whether it verified and
    /// when the reply came, or `None` after an unexpected error (already reported).
    async fn verify(&mut self, id: Uuid) -> Result<Option<(bool, Millis)>, Error> {
        let token = self.model.creds[&id].token.clone();
        let sent = self.model.stamp();
        let result = self.client.verify(&token, every_kind()).await;
        let replied = self.model.stamp();
        let window = Window {
            sent,
            replied,
            lone: true,
            host: self.host,
        };
        let (seen, expires_at) = match result {
            Ok(v) => (
                Seen::Valid("verify after the restart succeeded".into()),
                Some(v.expires_at),
            ),
            Err(Error::Daemon(e)) if e.code == ErrorCode::CredentialInvalid => (
                Seen::Invalid("verify after the restart answered CREDENTIAL_INVALID".into()),
                None,
            ),
            Err(Error::Daemon(e)) => {
                let c = &self.model.creds[&id];
                let subject = Some((c.id, c.kind));
                self.model.violation(
                    "unexpected error",
                    subject,
                    "a well-formed token".into(),
                    format!("verify answered {e}"),
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if self.model.observe(id, window, &seen, true) {
            self.checked += 1;
        }
        let epoch = self.model.epoch;
        self.model.verified(id, epoch, window, expires_at);
        Ok(Some((matches!(seen, Seen::Valid(_)), replied.ms)))
    }

    /// Checks one client: its listing against what verifies, credentials nobody created, and
    /// (if `probe`) its free seats.
    async fn check_client(&mut self, cid: Uuid, probe: bool) -> Result<(), Error> {
        // Every revoke-sessions has ended: none can overlap the probe's issues.
        if let Some(tc) = self.model.clients.get_mut(&cid) {
            tc.revoke_sessions.clear();
        }
        let sent = self.model.stamp();
        let shown = self.client.client_show(cid).await;
        let replied = self.model.stamp();
        let details = match shown {
            Ok(d) => d,
            Err(Error::Daemon(e)) => {
                let since = self.model.clients[&cid].since_cycle;
                self.model.violation(
                    "lost",
                    None,
                    format!("client {cid} created in cycle {since}"),
                    format!("client show answered {e}"),
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let listed: BTreeMap<Uuid, CredentialInfo> =
            details.credentials.into_iter().map(|c| (c.id, c)).collect();
        let show_window = Window {
            sent,
            replied,
            lone: true,
            host: self.host,
        };
        let mine: Vec<Uuid> = self
            .model
            .creds
            .values()
            .filter(|c| c.client == Some(cid))
            .map(|c| c.id)
            .collect();
        let violations_before = self.model.violations.len();
        for info in listed.values() {
            self.check_listed_expiry(cid, info, sent.ms);
        }
        let mut live_sessions = 0usize;
        let mut seats_steady = true;
        for &id in &mine {
            let c = &self.model.creds[&id];
            let (watched, kind, hard_end) = (c.watched, c.kind, c.hard_end);
            let listing = listed.get(&id);
            if let Some(at) = listing.and_then(|info| info.expires_at) {
                self.model
                    .check_expiry_bound(id, at, "client show lists expires_at");
            }
            if !watched && listing.is_some() {
                // An idle session: a verify would slide it, so the listing is the observation.
                let seen = Seen::Valid("client show after the restart lists it".into());
                if self.model.observe(id, show_window, &seen, true) {
                    self.checked += 1;
                }
                seats_steady = false;
                continue;
            }
            let Some((valid, at)) = self.verify(id).await? else {
                seats_steady = false;
                continue;
            };
            self.compare_listing(cid, id, kind, valid, at, listing);
            if valid && kind == CredentialKind::Session {
                live_sessions += 1;
                if hard_end.is_none_or(|end| end < clock::now_ms() + PROBE_MARGIN_MS) {
                    seats_steady = false;
                }
            }
        }
        for info in listed.values().filter(|i| !mine.contains(&i.id)) {
            self.check_ghost(cid, info).await?;
        }
        let tc = self.model.clients.get_mut(&cid).expect("checked client");
        tc.maybe_sessions = 0;
        tc.maybe_test_keys = 0;
        let limit = tc.limit;
        let clean = self.model.violations.len() == violations_before;
        if let (true, true, true, Some(limit)) = (probe, seats_steady, clean, limit) {
            self.probe(cid, limit, live_sessions).await?;
        }
        Ok(())
    }

    /// A verify and the `client show` just before it must agree, up to expiry in between.
    fn compare_listing(
        &mut self,
        cid: Uuid,
        id: Uuid,
        kind: CredentialKind,
        valid: bool,
        at: Millis,
        listing: Option<&CredentialInfo>,
    ) {
        let problem = match (valid, listing) {
            (true, None) => Some("it verifies, but client show just before did not list it".into()),
            (false, Some(info)) if info.expires_at.is_none_or(|end| end > at) => Some(format!(
                "client show lists it (expires_at {}), but verify just after answered \
                 CREDENTIAL_INVALID",
                info.expires_at
                    .map_or_else(|| "never".to_owned(), clock::rfc3339)
            )),
            _ => None,
        };
        if let Some(observed) = problem {
            self.model.violation_on(
                (id, kind),
                "seat count",
                format!("client show of client {cid} lists exactly its live credentials"),
                observed,
            );
        }
    }

    /// `client show` lists live credentials only: none whose own expiry had passed when the
    /// request was sent.
    fn check_listed_expiry(&mut self, cid: Uuid, info: &CredentialInfo, sent_ms: Millis) {
        if let Some(end) = info.expires_at.filter(|end| *end <= sent_ms) {
            self.model.violation_on(
                (info.id, info.kind),
                "seat count",
                format!("client show of client {cid} lists live credentials only"),
                format!(
                    "it lists one that expired at {}, before the request was sent at {}",
                    clock::rfc3339(end),
                    clock::rfc3339(sent_ms)
                ),
            );
        }
    }

    /// A listed credential the model does not track: from an issue lost in the crash (revoke
    /// it, within that budget), or a violation.
    async fn check_ghost(&mut self, cid: Uuid, info: &CredentialInfo) -> Result<(), Error> {
        let tc = self.model.clients.get_mut(&cid).expect("checked client");
        if tc.buried.contains(&info.id) {
            // With several hosts the same one would be listed by every host that kept it, at
            // every check: once is enough.
            if self.model.spread.is_some() && !self.model.resurrected.insert(info.id) {
                return Ok(());
            }
            self.model.violation(
                "resurrected",
                Some((info.id, info.kind)),
                "found dead after an earlier restart (revoked or expired)".into(),
                "client show after the restart lists it again".into(),
            );
            return Ok(());
        }
        let budget = match info.kind {
            CredentialKind::Session => Some(&mut tc.maybe_sessions),
            CredentialKind::TestKey => Some(&mut tc.maybe_test_keys),
            CredentialKind::AdminKey | CredentialKind::ApiToken => None,
        };
        let Some(budget) = budget.filter(|b| **b > 0) else {
            self.model.violation(
                "phantom",
                Some((info.id, info.kind)),
                format!("no acknowledged or lost operation on client {cid} created it"),
                format!(
                    "client show after the restart lists it, created {}",
                    clock::rfc3339(info.created_at)
                ),
            );
            return Ok(());
        };
        *budget -= 1;
        tc.buried.insert(info.id);
        self.model.tally.ghosts += 1;
        let sent = self.model.stamp();
        match self.client.revoke(info.id).await {
            Ok(_) => {
                let epoch = self.model.epoch;
                self.model.mark_durable(epoch, sent);
                Ok(())
            }
            Err(Error::Daemon(e)) => {
                self.model.violation(
                    "unexpected error",
                    Some((info.id, info.kind)),
                    "a credential client show had just listed".into(),
                    format!("revoke by id answered {e}"),
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Issues sessions into a limited client's free seats: exactly `limit - live` must succeed,
    /// and one more must be refused with SESSION_LIMIT.
    async fn probe(&mut self, cid: Uuid, limit: u32, live: usize) -> Result<(), Error> {
        self.checked += 1;
        self.model.tally.probes += 1;
        let live = u32::try_from(live).unwrap_or(u32::MAX);
        let acked = format!("client {cid} limited to {limit} sessions, {live} of them verifying");
        if live > limit {
            self.model.violation(
                "seat count",
                None,
                acked,
                "more live sessions than the limit".into(),
            );
            return Ok(());
        }
        let free = limit - live;
        for n in 1..=free + 1 {
            let sent = self.model.stamp();
            let result = self.client.session_issue(cid).await;
            let replied = self.model.stamp();
            match result {
                Ok(issued) => {
                    ops::probe_issued(self.model, cid, issued, (sent, replied), self.host);
                    if n > free {
                        self.model.violation(
                            "seat count",
                            None,
                            acked,
                            format!("issue {n} was acknowledged with only {free} seats free"),
                        );
                        return Ok(());
                    }
                }
                Err(Error::Daemon(e)) if e.code == ErrorCode::SessionLimit => {
                    if n <= free {
                        self.model.violation(
                            "seat count",
                            None,
                            acked,
                            format!("issue {n} of {free} free seats answered SESSION_LIMIT"),
                        );
                    }
                    return Ok(());
                }
                Err(Error::Daemon(e)) => {
                    self.model.violation(
                        "unexpected error",
                        None,
                        acked,
                        format!("session issue answered {e}"),
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A client whose delete was acknowledged must be gone; one whose delete was lost may be
    /// either, but once seen gone it stays gone.
    async fn check_deleted(&mut self, cid: Uuid) -> Result<(), Error> {
        let shown = self.client.client_show(cid).await;
        let d = self.model.deleted[&cid];
        let op = &self.model.ops[d.op];
        let must_be_gone = matches!(op.outcome, OpOutcome::Acked(_)) || d.checks > 0;
        let because = format!("{} (cycle {})", op.what, op.cycle);
        match shown {
            Err(Error::Daemon(e)) if e.code == ErrorCode::NotFound => {
                self.checked += u64::from(must_be_gone);
                self.model.tally.deleted_gone += u64::from(must_be_gone);
                self.model.deleted.get_mut(&cid).expect("listed").checks += 1;
            }
            Ok(_) if must_be_gone => self.model.violation(
                "resurrected",
                None,
                because,
                "client show after the restart found the client".into(),
            ),
            // A lost delete that did not take effect: the client stays, untracked.
            Ok(_) => {
                self.model.deleted.remove(&cid);
            }
            Err(Error::Daemon(e)) => self.model.violation(
                "unexpected error",
                None,
                because,
                format!("client show answered {e}"),
            ),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// A credential of no tracked client: verified if in use, dead, or surely expired (an idle
    /// session is left alone until then, since a verify would slide it).
    async fn check_loose(&mut self, id: Uuid) -> Result<(), Error> {
        let now = self.model.stamp();
        let window = Window {
            sent: now,
            replied: now,
            lone: true,
            host: self.host,
        };
        let c = &self.model.creds[&id];
        let due = c.watched
            || c.dead_seen.is_some()
            || matches!(self.model.expect(id, window), Expect::Invalid { .. });
        if due {
            self.verify(id).await?;
        }
        Ok(())
    }
}
