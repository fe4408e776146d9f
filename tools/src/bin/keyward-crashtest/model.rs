//! What the tool knows of the daemon's state: every credential it saw acknowledged, every
//! revocation it sent and how that ended, and what is still in doubt after a crash.
//!
//! The model only ever learns from replies. An operation in flight when the daemon died has an
//! unknown outcome: a lost issue becomes a budget of "ghost" credentials a client may show, a
//! lost revocation leaves its target in doubt until an observation after the restart (when
//! nothing is in flight) settles it.

use keyward_client::{CredentialKind, Secret, SessionIssued};
use rand::RngExt;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use crate::clock::{self, Millis, Stamp};
use crate::expect::{self, Expect, Spread, Window};
use crate::report::{Tally, Violation};

/// Live tracked credentials beyond which the workload stops creating until revocations and
/// expiry bring them down. Dead ones leave after [`DEAD_CHECKS`] checks, so the whole tracked
/// set, and each check, stays bounded however long the run.
pub(crate) const LIVE_CAP: usize = 200;
/// Live "keepers" at most: credentials the load never revokes one by one, so they live to
/// their cap or idle expiry and the checks see them expire on time.
pub(crate) const KEEPER_CAP: usize = 80;
/// Tracked clients beyond which the oldest is retired from the per-client checks.
pub(crate) const CLIENT_CAP: usize = 12;
/// Tracked credentials, live or dead, beyond which the load only verifies: a fast daemon
/// revokes hundreds per cycle, and the dead stay tracked for [`DEAD_CHECKS`] checks.
pub(crate) const TRACKED_CAP: usize = 600;
/// Checks after the restart that must find a dead credential still dead before it is dropped
/// (per host, with `--cluster`).
pub(crate) const DEAD_CHECKS: u32 = 2;

/// The acknowledged operation that created a credential.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// `session issue`, `client create`, `test key create`, `api token create`.
    pub what: &'static str,
    /// The cycle it was acknowledged in (0: set-up).
    pub cycle: u32,
    /// When it was sent.
    pub sent: Stamp,
    /// When its reply arrived.
    pub acked: Stamp,
    /// The keywardd host that acknowledged it (always 0 without `--cluster`).
    pub host: usize,
}

/// A successful verify whose slide is not known to be durable yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unsealed {
    /// The daemon instance that answered it.
    epoch: u32,
    /// When its reply arrived.
    replied_seq: u64,
    /// The expiry it reported.
    expires_at: Millis,
}

/// Verifies of one credential that are in flight.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InFlight {
    /// How many now.
    pub now: u32,
    /// How many were ever started.
    pub started: u64,
}

/// A revocation that may reach a credential.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attached {
    /// Index into [`Model::ops`].
    pub op: usize,
    /// Whether the revocation surely covers the credential once acknowledged. A revoke-sessions
    /// is uncertain for a session whose issue overlapped it.
    pub certain: bool,
}

/// How a revocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpOutcome {
    /// Sent, no answer yet.
    Pending,
    /// Acknowledged: durable from then on.
    Acked(Stamp),
    /// In flight when the daemon died, or failed with a storage error: it may or may not have
    /// taken effect.
    Maybe,
    /// Refused: it changed nothing.
    Refused,
}

/// A logout, revoke by id, revoke-sessions or client delete sent by the workload.
#[derive(Debug, Clone)]
pub(crate) struct RevokeOp {
    /// What it was, for reports.
    pub what: String,
    /// The cycle it was sent in.
    pub cycle: u32,
    /// When it was sent.
    pub sent: Stamp,
    /// How it ended.
    pub outcome: OpOutcome,
    /// The keywardd host it was sent to (always 0 without `--cluster`).
    pub host: usize,
}

/// A credential the tool saw acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    /// Public id.
    pub id: Uuid,
    /// Session, test key or API token.
    pub kind: CredentialKind,
    /// The token (`Secret` keeps it out of debug output).
    pub token: Secret,
    /// The client it belongs to (sessions and test keys).
    pub client: Option<Uuid>,
    /// The acknowledged creation.
    pub origin: Origin,
    /// An expiry that never moves: a session's `max_expires_at`, an API token's `expires_at`.
    pub hard_end: Option<Millis>,
    /// A session's expiry that survives a crash: the one acknowledged at issue, raised by
    /// verifies whose slide a later acknowledged flush made durable.
    pub sure_until: Option<Millis>,
    /// The latest time a use of it may have been processed: no idle expiry lies past this plus
    /// the idle timeout.
    pub touched_by: Millis,
    /// Verifies in flight, so a concurrent slide is not ruled out.
    pub verifies: InFlight,
    /// Slides seen but not yet known durable.
    pub unsealed: Vec<Unsealed>,
    /// Revocations that may reach it.
    pub revokes: Vec<Attached>,
    /// The cycle whose post-restart check first found it invalid, and the host that did: it
    /// must stay so.
    pub dead_seen: Option<(u32, usize)>,
    /// With `--cluster`, for reports: the revocations still in doubt when it was found dead,
    /// which that observation settled as having taken effect.
    pub dead_doubt: Option<String>,
    /// How many post-restart checks found it invalid.
    pub dead_checks: u32,
    /// Whether the load leaves it alone (no logout or revoke by id) so that it lives out its
    /// expiry rules; a steady client's keepers are not revoked wholesale either.
    pub keeper: bool,
    /// Whether a violation was reported for it: one report per credential is enough, the same
    /// broken state would otherwise be reported again at every check.
    pub flagged: bool,
    /// Whether the load and the checks verify it. Unwatched sessions are never used after
    /// issue, so their idle expiry is observed; they are checked through `client show`, which
    /// does not slide them.
    pub watched: bool,
}

/// A client the tool tracks: checked through `client show` after every restart.
#[derive(Debug, Clone)]
pub(crate) struct TrackedClient {
    /// Its id.
    pub id: Uuid,
    /// Its own seat limit.
    pub limit: Option<u32>,
    /// The cycle it was created in, to retire the oldest.
    pub since_cycle: u32,
    /// The host that acknowledged its creation, and when: until the creation has reached
    /// another host, that host may not know the client yet.
    pub created: (usize, Stamp),
    /// A set-up client: never revoked wholesale nor retired, so its keepers live out their
    /// expiry.
    pub steady: bool,
    /// Its tracked test key.
    pub test_key: Option<Uuid>,
    /// Session issues lost in flight since the last check: sessions it may hold that the tool
    /// has no token for.
    pub maybe_sessions: u32,
    /// Likewise for test-key creates.
    pub maybe_test_keys: u32,
    /// Credentials confirmed dead (or revoked unseen): `client show` must never list them.
    pub buried: BTreeSet<Uuid>,
    /// Revoke-sessions sent since the last check, for sessions issued while one was running.
    pub revoke_sessions: Vec<usize>,
}

/// A client the workload deleted: no longer planned against nor checked through `client show`;
/// its credentials are checked one by one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeletedClient {
    /// Index into [`Model::ops`]: the delete.
    pub op: usize,
    /// Checks after a restart that found it gone; dropped after [`DEAD_CHECKS`].
    pub checks: u32,
    /// Where and when its creation was acknowledged, if the tool tracked it.
    pub created: Option<(usize, Stamp)>,
}

/// What an observation showed.
#[derive(Debug, Clone)]
pub(crate) enum Seen {
    /// The credential was live (verify or logout succeeded, or `client show` listed it).
    Valid(String),
    /// It was not (CREDENTIAL_INVALID, NOT_FOUND, or not listed).
    Invalid(String),
    /// Its record existed, live or expired (a revoke by id succeeded).
    Present(String),
}

/// Everything the tool knows.
#[derive(Debug)]
pub(crate) struct Model {
    /// The daemon's `idle_timeout`.
    pub idle_ms: Millis,
    /// The cycle running now.
    pub cycle: u32,
    /// The daemon instance running now; bumped at each kill.
    pub epoch: u32,
    seq: u64,
    /// The latest send of a mutation this epoch acknowledged: its flush made every write before
    /// that send durable.
    sealed_through: u64,
    /// Credentials by id.
    pub creds: BTreeMap<Uuid, Credential>,
    /// Clients by id.
    pub clients: BTreeMap<Uuid, TrackedClient>,
    /// Clients a delete was sent for, by id.
    pub deleted: BTreeMap<Uuid, DeletedClient>,
    /// Every revocation sent.
    pub ops: Vec<RevokeOp>,
    /// Violations not yet printed.
    pub violations: Vec<Violation>,
    /// What the run has done so far.
    pub tally: Tally,
    /// The clients and test keys the load disables and enables.
    pub switches: Vec<crate::switches::Switch>,
    /// The clients and API tokens the load updates.
    pub updates: Vec<crate::updates::Updated>,
    /// With `--cluster`, what each host's copy surely holds; `None` for one daemon.
    pub spread: Option<Spread>,
    /// With `--cluster`, buried credentials already reported as listed again.
    pub resurrected: BTreeSet<Uuid>,
    /// With `--cluster`, the host being checked, for violation reports.
    pub checking: Option<usize>,
    /// Checks that must find a dead credential (or a deleted client) dead before it is
    /// dropped: [`DEAD_CHECKS`] for one daemon, that many per host with `--cluster`, where each
    /// cycle checks every host.
    pub dead_checks: u32,
}

impl Model {
    /// An empty model for a daemon with this idle timeout.
    pub(crate) fn new(idle_ms: Millis) -> Model {
        Model {
            idle_ms,
            cycle: 0,
            epoch: 0,
            seq: 0,
            sealed_through: 0,
            creds: BTreeMap::new(),
            clients: BTreeMap::new(),
            deleted: BTreeMap::new(),
            ops: Vec::new(),
            violations: Vec::new(),
            tally: Tally::default(),
            switches: Vec::new(),
            updates: Vec::new(),
            spread: None,
            resurrected: BTreeSet::new(),
            checking: None,
            dead_checks: DEAD_CHECKS,
        }
    }

    /// Whether a change `host` acknowledged at `acked` had surely reached the copy of the host
    /// that answered over `w` (always, with one daemon).
    pub(crate) fn reached(&self, host: usize, acked: Stamp, w: &Window) -> bool {
        self.spread
            .as_ref()
            .is_none_or(|s| s.reached(host, acked, w))
    }

    /// Now, in the tool's order of events.
    pub(crate) fn stamp(&mut self) -> Stamp {
        self.seq += 1;
        Stamp {
            seq: self.seq,
            ms: clock::now_ms(),
        }
    }

    /// Records a violation found in the current cycle.
    pub(crate) fn violation(
        &mut self,
        what: &'static str,
        credential: Option<(Uuid, CredentialKind)>,
        acked: String,
        observed: String,
    ) {
        self.violations.push(Violation {
            cycle: self.cycle,
            host: self.checking,
            what,
            credential,
            acked,
            observed,
        });
    }

    /// Records a violation about one credential, once: a tracked credential already reported
    /// is not reported again, since the same broken state would show at every check.
    pub(crate) fn violation_on(
        &mut self,
        subject: (Uuid, CredentialKind),
        what: &'static str,
        acked: String,
        observed: String,
    ) {
        if let Some(c) = self.creds.get_mut(&subject.0) {
            if c.flagged {
                return;
            }
            c.flagged = true;
        }
        self.violation(what, Some(subject), acked, observed);
    }

    /// Notes an acknowledged mutation sent at `sent` to daemon instance `epoch`: its flush
    /// covered every write made before it was sent.
    pub(crate) fn mark_durable(&mut self, epoch: u32, sent: Stamp) {
        if epoch == self.epoch {
            self.sealed_through = self.sealed_through.max(sent.seq);
        }
    }

    /// Starts tracking a new client, whose creation `created.0` acknowledged at `created.1`.
    pub(crate) fn add_client(
        &mut self,
        id: Uuid,
        limit: Option<u32>,
        steady: bool,
        created: (usize, Stamp),
    ) {
        self.clients.insert(
            id,
            TrackedClient {
                id,
                limit,
                since_cycle: self.cycle,
                created,
                steady,
                test_key: None,
                maybe_sessions: 0,
                maybe_test_keys: 0,
                buried: BTreeSet::new(),
                revoke_sessions: Vec::new(),
            },
        );
    }

    /// Starts tracking an acknowledged session of `client`.
    pub(crate) fn add_session(
        &mut self,
        client: Uuid,
        issued: SessionIssued,
        origin: Origin,
        watched: bool,
    ) {
        let mut revokes = Vec::new();
        if let Some(tc) = self.clients.get(&client) {
            for &op in &tc.revoke_sessions {
                let o = &self.ops[op];
                // A revoke-sessions that ran while this issue did may or may not have seen it.
                let overlapped = o.sent.seq < origin.acked.seq
                    && match o.outcome {
                        OpOutcome::Acked(at) => at.seq > origin.sent.seq,
                        OpOutcome::Pending | OpOutcome::Maybe => true,
                        OpOutcome::Refused => false,
                    };
                if overlapped {
                    revokes.push(Attached { op, certain: false });
                }
            }
        }
        revokes.extend(self.delete_of(client));
        let touched_by = origin.acked.ms;
        self.insert(Credential {
            id: issued.id,
            kind: CredentialKind::Session,
            token: issued.token,
            client: Some(client),
            origin,
            hard_end: Some(issued.max_expires_at),
            sure_until: Some(issued.expires_at),
            touched_by,
            verifies: InFlight::default(),
            unsealed: Vec::new(),
            revokes,
            dead_seen: None,
            dead_doubt: None,
            dead_checks: 0,
            keeper: false,
            flagged: false,
            watched,
        });
    }

    /// Starts tracking an acknowledged test key or API token.
    pub(crate) fn add_key(
        &mut self,
        id: Uuid,
        kind: CredentialKind,
        token: Secret,
        client: Option<Uuid>,
        origin: Origin,
        expires_at: Option<Millis>,
    ) {
        if let Some(tc) = client.and_then(|c| self.clients.get_mut(&c)) {
            tc.test_key = Some(id);
        }
        let touched_by = origin.acked.ms;
        let revokes = client.and_then(|c| self.delete_of(c)).into_iter().collect();
        self.insert(Credential {
            id,
            kind,
            token,
            client,
            origin,
            hard_end: expires_at,
            sure_until: None,
            touched_by,
            verifies: InFlight::default(),
            unsealed: Vec::new(),
            revokes,
            dead_seen: None,
            dead_doubt: None,
            dead_checks: 0,
            keeper: false,
            flagged: false,
            watched: true,
        });
    }

    fn insert(&mut self, credential: Credential) {
        if self.creds.contains_key(&credential.id) {
            self.violation(
                "duplicate id",
                Some((credential.id, credential.kind)),
                format!(
                    "{} in cycle {}",
                    credential.origin.what, credential.origin.cycle
                ),
                "an id the daemon had already handed out".into(),
            );
        }
        self.creds.insert(credential.id, credential);
    }

    /// The delete sent for `client`, if any, as it reaches a credential of the client
    /// acknowledged after the delete was sent. It surely covers it: the daemon serialises a
    /// delete with the client's issues, so an issue acknowledged at all ran before the delete
    /// removed the client's credentials.
    fn delete_of(&self, client: Uuid) -> Option<Attached> {
        self.deleted.get(&client).map(|d| Attached {
            op: d.op,
            certain: true,
        })
    }

    /// Registers a revocation about to be sent to `host`; returns its index.
    pub(crate) fn open_revoke(&mut self, what: String, sent: Stamp, host: usize) -> usize {
        self.ops.push(RevokeOp {
            what,
            cycle: self.cycle,
            sent,
            outcome: OpOutcome::Pending,
            host,
        });
        self.ops.len() - 1
    }

    /// Records how a revocation ended.
    pub(crate) fn close_revoke(&mut self, op: usize, outcome: OpOutcome) {
        self.ops[op].outcome = outcome;
    }

    /// How many keepers are not known dead.
    pub(crate) fn live_keepers(&self) -> usize {
        self.creds
            .values()
            .filter(|c| c.keeper && !self.surely_dead(c))
            .count()
    }

    /// Makes `id` a keeper.
    pub(crate) fn keep(&mut self, id: Uuid) {
        if let Some(c) = self.creds.get_mut(&id) {
            c.keeper = true;
        }
    }

    /// Whether a credential is dead for certain: seen dead after a restart, or revoked by an
    /// acknowledged revocation that surely covered it.
    pub(crate) fn surely_dead(&self, c: &Credential) -> bool {
        c.dead_seen.is_some()
            || c.revokes
                .iter()
                .any(|a| a.certain && matches!(self.ops[a.op].outcome, OpOutcome::Acked(_)))
    }

    /// What an observation of `id` over window `w` must show.
    pub(crate) fn expect(&self, id: Uuid, w: Window) -> Expect {
        match self.creds.get(&id) {
            Some(c) => expect::expect(c, &self.ops, w, self.idle_ms, self.spread.as_ref()),
            None => Expect::Either,
        }
    }

    /// Checks an observation of `id` against what the model expects, and learns from it.
    ///
    /// `quiescent` observations (after a restart, nothing else in flight) settle every doubt:
    /// a lost revocation either took effect or did not, and a credential seen dead must stay
    /// dead. Returns whether the expectation was definite, i.e. the observation checked an
    /// acknowledged outcome.
    pub(crate) fn observe(&mut self, id: Uuid, w: Window, seen: &Seen, quiescent: bool) -> bool {
        let Some(c) = self.creds.get(&id) else {
            return false;
        };
        let subject = (c.id, c.kind);
        let expected = expect::expect(c, &self.ops, w, self.idle_ms, self.spread.as_ref());
        let definite = !matches!(expected, Expect::Either);
        let problem = match (&expected, seen) {
            (Expect::Valid { because }, Seen::Invalid(how)) => Some(("lost", because, how)),
            (Expect::Invalid { because, .. }, Seen::Valid(how))
            | (
                Expect::Invalid {
                    because,
                    revoked: true,
                },
                Seen::Present(how),
            ) => Some(("resurrected", because, how)),
            _ => None,
        };
        if let Some((what, because, how)) = problem {
            let observed = match self.spread {
                None => format!("{how} (sent {})", clock::rfc3339(w.sent.ms)),
                Some(_) => format!(
                    "{how} (sent {} to host {})",
                    clock::rfc3339(w.sent.ms),
                    w.host
                ),
            };
            self.violation_on(subject, what, because.clone(), observed);
        }
        if quiescent {
            match expected {
                Expect::Valid { .. } => self.tally.must_live += 1,
                Expect::Invalid { .. } => self.tally.must_die += 1,
                Expect::Either => {}
            }
            let cycle = self.cycle;
            let cluster = self.spread.is_some();
            let ops = &self.ops;
            let c = self.creds.get_mut(&id).expect("looked up above");
            let sure = |a: &Attached| a.certain && matches!(ops[a.op].outcome, OpOutcome::Acked(_));
            if cluster && c.dead_seen.is_none() && matches!(seen, Seen::Invalid(_)) {
                let doubt: Vec<String> = c
                    .revokes
                    .iter()
                    .filter(|a| !sure(a) && ops[a.op].outcome != OpOutcome::Refused)
                    .map(|a| {
                        let op = &ops[a.op];
                        format!("{} sent to host {} in cycle {}", op.what, op.host, op.cycle)
                    })
                    .collect();
                if !doubt.is_empty() {
                    c.dead_doubt = Some(doubt.join(", "));
                }
            }
            // Every revocation has ended by now; whatever did not surely take effect is settled
            // by this observation either way.
            c.revokes.retain(sure);
            if matches!(seen, Seen::Invalid(_)) {
                c.dead_seen.get_or_insert((cycle, w.host));
                c.dead_checks += 1;
            }
        }
        definite
    }

    /// Learns from a verify of `id` answered by instance `epoch`: the use may have slid it, and
    /// a successful one reported the expiry now stored.
    pub(crate) fn verified(
        &mut self,
        id: Uuid,
        epoch: u32,
        w: Window,
        expires_at: Option<Option<Millis>>,
    ) {
        let Some(c) = self.creds.get_mut(&id) else {
            return;
        };
        c.touched_by = c.touched_by.max(w.replied.ms);
        if let (CredentialKind::Session, Some(Some(at))) = (c.kind, expires_at) {
            c.unsealed.push(Unsealed {
                epoch,
                replied_seq: w.replied.seq,
                expires_at: at,
            });
            self.check_expiry_bound(id, at, "verify reported expires_at");
        }
    }

    /// The latest expiry the rules allow a session now: its cap, and the idle timeout after its
    /// last possible use.
    pub(crate) fn latest_expiry(&self, id: Uuid) -> Option<Millis> {
        let c = self.creds.get(&id)?;
        let idle_end = c.touched_by.saturating_add(self.idle_ms);
        (c.kind == CredentialKind::Session)
            .then(|| c.hard_end.map_or(idle_end, |h| h.min(idle_end)))
    }

    /// Checks an expiry the daemon reported for session `id` against [`Model::latest_expiry`].
    pub(crate) fn check_expiry_bound(&mut self, id: Uuid, reported: Millis, how: &str) {
        let Some(bound) = self.latest_expiry(id) else {
            return;
        };
        let c = &self.creds[&id];
        if reported > bound {
            let subject = (c.id, c.kind);
            self.violation_on(
                subject,
                "late expiry",
                format!(
                    "{} acknowledged in cycle {}: never to live past {} (cap, or idle timeout \
                     after its last use)",
                    c.origin.what,
                    c.origin.cycle,
                    clock::rfc3339(bound)
                ),
                format!("{how} {}", clock::rfc3339(reported)),
            );
        }
    }

    /// Learns that a verify of `id` was lost in flight: it may have been used up to now.
    pub(crate) fn verify_lost(&mut self, id: Uuid, now: Millis) {
        if let Some(c) = self.creds.get_mut(&id) {
            c.touched_by = c.touched_by.max(now);
        }
    }

    /// Closes the current daemon instance after its kill: slides acknowledged before its last
    /// acknowledged flush are durable, the rest may be lost.
    ///
    /// With `--cluster` no slide is ever sure: a host writes a slide back to etcd lazily, and
    /// only if it moves the expiry by `slide_granularity`, and a restarted host reloads its
    /// copy from etcd. A session is then sure to live only until the expiry of its issue.
    pub(crate) fn end_epoch(&mut self) {
        let (epoch, through) = (self.epoch, self.sealed_through);
        let sealing = self.spread.is_none();
        for c in self.creds.values_mut() {
            for u in c.unsealed.drain(..) {
                if sealing && u.epoch == epoch && u.replied_seq < through {
                    c.sure_until = Some(c.sure_until.map_or(u.expires_at, |s| s.max(u.expires_at)));
                }
            }
        }
        self.epoch += 1;
        self.sealed_through = 0;
    }

    /// Stops using some watched sessions of unlimited clients, at `share` per cycle, so that
    /// sessions which were slid and then left idle are seen to idle-expire on time.
    pub(crate) fn abandon(&mut self, rng: &mut impl RngExt, share: f64) {
        for c in self.creds.values_mut() {
            let unlimited = c
                .client
                .and_then(|id| self.clients.get(&id))
                .is_some_and(|tc| tc.limit.is_none());
            if c.watched && c.kind == CredentialKind::Session && unlimited && rng.random_bool(share)
            {
                c.watched = false;
            }
        }
    }

    /// After a check: drops credentials confirmed dead often enough (their clients keep their
    /// ids, so `client show` must never list them again) and retires the oldest clients.
    pub(crate) fn prune(&mut self) {
        let done: Vec<Uuid> = self
            .creds
            .values()
            .filter(|c| c.dead_checks >= self.dead_checks)
            .map(|c| c.id)
            .collect();
        for id in done {
            let c = self.creds.remove(&id).expect("listed above");
            if let Some(tc) = c.client.and_then(|cid| self.clients.get_mut(&cid)) {
                tc.buried.insert(id);
            }
        }
        let limit = self.dead_checks;
        self.deleted.retain(|_, d| d.checks < limit);
        for tc in self.clients.values_mut() {
            tc.revoke_sessions.clear();
            if let Some(key) = tc.test_key {
                if self.creds.get(&key).is_none_or(|c| c.dead_seen.is_some()) {
                    tc.test_key = None;
                }
            }
        }
        while self.clients.len() > CLIENT_CAP {
            let Some(oldest) = self
                .clients
                .values()
                .filter(|tc| !tc.steady)
                .min_by_key(|tc| (tc.since_cycle, tc.id))
                .map(|tc| tc.id)
            else {
                break;
            };
            self.clients.remove(&oldest);
        }
    }
}
