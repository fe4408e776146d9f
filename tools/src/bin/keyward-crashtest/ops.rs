//! The workload's operations: choosing the next one, turning it into a request, and recording
//! what its answer (or its loss in the crash) tells the model.

use keyward_client::{
    CredentialKind, ErrorCode, Level, Op, Reply, Requirements, Scopes, SessionIssued, WireError,
};
use rand::RngExt;
use uuid::Uuid;

use crate::clock::Stamp;
use crate::expect::Window;
use crate::model::{
    Attached, Credential, DeletedClient, Model, OpOutcome, Origin, Seen, KEEPER_CAP, LIVE_CAP,
    TRACKED_CAP,
};

/// The share of ordinary sessions the load and the checks keep using; the rest are left idle
/// so their idle expiry is observed.
const WATCHED_SHARE: f64 = 0.7;
/// The share of a steady client's sessions, and of expiring API tokens, made keepers while
/// there are fewer than [`KEEPER_CAP`].
const KEEPER_SHARE: f64 = 0.2;
/// The share of load verifies aimed at credentials already known dead (to catch one coming
/// back while the daemon runs); the rest go to live ones.
const DEAD_VERIFY_SHARE: f64 = 0.1;

/// One operation, with what the model needs to judge its answer.
#[derive(Debug, Clone)]
pub(crate) enum Planned {
    /// Issue a session for a tracked client.
    Issue {
        /// The client.
        client: Uuid,
        /// Whether the new session will be kept in use.
        watched: bool,
        /// Whether it will be a keeper.
        keeper: bool,
    },
    /// Create a client (and its first session).
    CreateClient {
        /// Its seat limit.
        limit: Option<u32>,
        /// Whether it is a steady client (set-up only).
        steady: bool,
    },
    /// Create a tracked client's test key.
    CreateTestKey {
        /// The client.
        client: Uuid,
    },
    /// Create an API token.
    CreateApiToken {
        /// Seconds until it expires.
        expires_in: Option<u64>,
        /// Whether it will be a keeper.
        keeper: bool,
    },
    /// Verify a tracked credential.
    Verify {
        /// The credential.
        cred: Uuid,
        /// Verifies of it already in flight when this one was sent.
        others: u32,
        /// Verifies of it ever started, before this one.
        started: u64,
    },
    /// Log out with a tracked credential's token.
    Logout {
        /// The credential.
        cred: Uuid,
        /// Its revocation record.
        op: usize,
    },
    /// Revoke a tracked credential by id.
    Revoke {
        /// The credential.
        cred: Uuid,
        /// Its revocation record.
        op: usize,
    },
    /// Revoke every session of a tracked client.
    RevokeSessions {
        /// The client.
        client: Uuid,
        /// Its revocation record.
        op: usize,
    },
    /// Delete a tracked client with every credential it holds.
    DeleteClient {
        /// The client.
        client: Uuid,
        /// Its revocation record.
        op: usize,
    },
}

/// An operation on its way: what it was, when it was sent, and to which daemon instance.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    /// The operation.
    pub planned: Planned,
    /// When it was sent.
    pub sent: Stamp,
    /// The daemon instance it was sent to.
    pub epoch: u32,
    /// The keywardd host it was sent to (always 0 without `--cluster`).
    pub host: usize,
}

/// How an operation ended.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The daemon said yes.
    Reply(Reply),
    /// The daemon said no.
    Refused(WireError),
    /// The connection died first: the outcome is unknown.
    Lost,
}

/// The kinds of operation the workload chooses between.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Verify,
    Issue,
    CreateClient,
    CreateTestKey,
    CreateApiToken,
    Logout,
    Revoke,
    RevokeSessions,
    DeleteClient,
}

/// One of `ids`, at random.
fn pick<R: RngExt + ?Sized>(rng: &mut R, ids: &[Uuid]) -> Uuid {
    ids[rng.random_range(0..ids.len())]
}

impl Model {
    /// Chooses the next operation at random and sends it on its way to `host`.
    ///
    /// Creation pauses while [`LIVE_CAP`] tracked credentials other than keepers are live, so
    /// revocations and expiry bring the set down again; past [`TRACKED_CAP`] tracked in all,
    /// revocation pauses too until checks have dropped the confirmed dead.
    pub(crate) fn plan(
        &mut self,
        rng: &mut impl RngExt,
        limited_creates: bool,
        host: usize,
    ) -> (Ticket, Op) {
        let (live, dead): (Vec<&Credential>, Vec<&Credential>) =
            self.creds.values().partition(|c| !self.surely_dead(c));
        let revocable: Vec<Uuid> = live.iter().filter(|c| !c.keeper).map(|c| c.id).collect();
        let live_watched: Vec<Uuid> = live.iter().filter(|c| c.watched).map(|c| c.id).collect();
        let dead: Vec<Uuid> = dead.iter().map(|c| c.id).collect();
        let verifiable = if dead.is_empty() || rng.random_bool(1.0 - DEAD_VERIFY_SHARE) {
            live_watched
        } else {
            dead
        };
        let clients: Vec<Uuid> = self.clients.keys().copied().collect();
        let unsteady: Vec<Uuid> = self
            .clients
            .values()
            .filter(|tc| !tc.steady)
            .map(|tc| tc.id)
            .collect();
        let keyless: Vec<Uuid> = self
            .clients
            .values()
            .filter(|tc| tc.test_key.is_none())
            .map(|tc| tc.id)
            .collect();
        let may_keep = self.live_keepers() < KEEPER_CAP;
        let roomy = self.creds.len() < TRACKED_CAP;
        let grow = if roomy && revocable.len() < LIVE_CAP {
            1.0
        } else {
            0.0
        };
        let shrink = if roomy { 1.0 } else { 0.0 };
        let has = |v: &[Uuid]| if v.is_empty() { 0.0 } else { 1.0 };
        // Per operation. Revoke-sessions and client delete are rare: each ends every session of
        // a client at once.
        let weights = [
            (35.0 * has(&verifiable), Kind::Verify),
            (20.0 * grow * has(&clients), Kind::Issue),
            (0.5 * grow, Kind::CreateClient),
            (2.0 * grow * has(&keyless), Kind::CreateTestKey),
            (6.0 * grow, Kind::CreateApiToken),
            (3.0 * shrink * has(&revocable), Kind::Logout),
            (3.0 * shrink * has(&revocable), Kind::Revoke),
            (0.05 * shrink * has(&unsteady), Kind::RevokeSessions),
            (0.05 * shrink * has(&unsteady), Kind::DeleteClient),
        ];
        let total: f64 = weights.iter().map(|(w, _)| w).sum();
        let mut draw = rng.random::<f64>() * total;
        let kind = weights
            .iter()
            .find(|(w, _)| {
                let hit = draw < *w;
                draw -= *w;
                hit
            })
            .map_or(Kind::CreateApiToken, |(_, k)| *k);
        let planned = match kind {
            Kind::Verify => Planned::Verify {
                cred: pick(rng, &verifiable),
                others: 0,
                started: 0,
            },
            Kind::Issue => {
                let client = pick(rng, &clients);
                let tc = &self.clients[&client];
                let (limited, steady) = (tc.limit.is_some(), tc.steady);
                Planned::Issue {
                    client,
                    // Seat checks need every session of a limited client in use.
                    watched: limited || rng.random_bool(WATCHED_SHARE),
                    keeper: steady && may_keep && rng.random_bool(KEEPER_SHARE),
                }
            }
            Kind::CreateClient => Planned::CreateClient {
                limit: limited_creates.then(|| rng.random_range(2..=4)),
                steady: false,
            },
            Kind::CreateTestKey => Planned::CreateTestKey {
                client: pick(rng, &keyless),
            },
            Kind::CreateApiToken => {
                let expires_in = rng.random_bool(0.5).then(|| rng.random_range(5..=60));
                Planned::CreateApiToken {
                    expires_in,
                    // Never-expiring keepers would only pile up.
                    keeper: expires_in.is_some() && may_keep && rng.random_bool(KEEPER_SHARE),
                }
            }
            Kind::Logout => Planned::Logout {
                cred: pick(rng, &revocable),
                op: 0,
            },
            Kind::Revoke => Planned::Revoke {
                cred: pick(rng, &revocable),
                op: 0,
            },
            Kind::RevokeSessions => Planned::RevokeSessions {
                client: pick(rng, &unsteady),
                op: 0,
            },
            Kind::DeleteClient => Planned::DeleteClient {
                client: pick(rng, &unsteady),
                op: 0,
            },
        };
        self.begin(planned, host)
    }

    /// Registers `planned` as sent now to `host` and builds its request.
    pub(crate) fn begin(&mut self, mut planned: Planned, host: usize) -> (Ticket, Op) {
        let sent = self.stamp();
        let op = match &mut planned {
            Planned::Issue { client, .. } => Op::SessionIssue { client_id: *client },
            Planned::CreateClient { limit, .. } => Op::ClientCreate {
                label: Some("crashtest".to_owned()),
                max_sessions: *limit,
                scopes: Scopes::new(),
                identity: Box::default(),
            },
            Planned::CreateTestKey { client } => Op::TestKeyCreate { client_id: *client },
            Planned::CreateApiToken { expires_in, .. } => Op::ApiTokenCreate {
                name: "crashtest".to_owned(),
                scopes: [("catalog".to_owned(), Level::Read)].into(),
                expires_in_secs: *expires_in,
                identity: Box::default(),
            },
            Planned::Verify {
                cred,
                others,
                started,
            } => {
                let c = self.creds.get_mut(cred).expect("planned from the model");
                *others = c.verifies.now;
                *started = c.verifies.started;
                c.verifies.now += 1;
                c.verifies.started += 1;
                Op::Verify {
                    token: c.token.clone(),
                    require: Requirements::new(),
                }
            }
            Planned::Logout { cred, op } => {
                *op = self.open_revoke("logout".to_owned(), sent, host);
                let c = self.creds.get_mut(cred).expect("planned from the model");
                c.revokes.push(Attached {
                    op: *op,
                    certain: true,
                });
                Op::Logout {
                    token: c.token.clone(),
                }
            }
            Planned::Revoke { cred, op } => {
                *op = self.open_revoke("revoke by id".to_owned(), sent, host);
                let c = self.creds.get_mut(cred).expect("planned from the model");
                c.revokes.push(Attached {
                    op: *op,
                    certain: true,
                });
                Op::Revoke {
                    credential_id: *cred,
                }
            }
            Planned::RevokeSessions { client, op } => {
                *op = self.open_revoke(format!("revoke-sessions of client {client}"), sent, host);
                for c in self.creds.values_mut() {
                    if c.client == Some(*client) && c.kind == CredentialKind::Session {
                        // Acknowledged before this was sent, so surely in its scan.
                        c.revokes.push(Attached {
                            op: *op,
                            certain: true,
                        });
                    }
                }
                if let Some(tc) = self.clients.get_mut(client) {
                    tc.revoke_sessions.push(*op);
                }
                Op::ClientRevokeSessions { client_id: *client }
            }
            Planned::DeleteClient { client, op } => {
                *op = self.open_revoke(format!("client delete of client {client}"), sent, host);
                for c in self.creds.values_mut() {
                    if c.client == Some(*client) {
                        // Acknowledged before this was sent, so surely in its scan.
                        c.revokes.push(Attached {
                            op: *op,
                            certain: true,
                        });
                    }
                }
                // Planned against no more, and checked credential by credential from now on.
                let created = self.clients.remove(client).map(|tc| tc.created);
                self.deleted.insert(
                    *client,
                    DeletedClient {
                        op: *op,
                        checks: 0,
                        created,
                    },
                );
                Op::ClientDelete { client_id: *client }
            }
        };
        let ticket = Ticket {
            planned,
            sent,
            epoch: self.epoch,
            host,
        };
        (ticket, op)
    }

    /// Records how an operation ended. Load-phase observations are checked, but settle no
    /// doubts: other operations were in flight.
    pub(crate) fn settle(&mut self, ticket: Ticket, answer: Answer) {
        let replied = self.stamp();
        let Ticket {
            planned,
            sent,
            epoch,
            host,
        } = ticket;
        let answer = match answer {
            // With several hosts, etcd did not commit it in time (or the host is cut off from
            // etcd): it may still commit. Expected while an etcd member is down, so counted,
            // not printed.
            Answer::Refused(e) if self.spread.is_some() && e.code == ErrorCode::Unavailable => {
                self.tally.unavailable += 1;
                Answer::Lost
            }
            // Storage trouble: the change may be in memory without being durable.
            Answer::Refused(e)
                if matches!(e.code, ErrorCode::Unavailable | ErrorCode::Internal) =>
            {
                eprintln!(
                    "keyward-crashtest: cycle {}: {planned:?} answered {e}; its outcome is unknown",
                    self.cycle
                );
                Answer::Lost
            }
            Answer::Refused(e)
                if !matches!(planned, Planned::Verify { .. } | Planned::Logout { .. })
                    && matches!(e.code, ErrorCode::CredentialInvalid | ErrorCode::Forbidden) =>
            {
                self.violation(
                    "admin key rejected",
                    None,
                    "the admin key created at set-up".to_owned(),
                    format!("{planned:?} answered {e}"),
                );
                Answer::Refused(e)
            }
            other => other,
        };
        let change = u64::from(!matches!(planned, Planned::Verify { .. }));
        match answer {
            Answer::Reply(_) => {
                self.tally.acked += 1;
                self.tally.acked_changes += change;
            }
            Answer::Refused(_) => self.tally.refused += 1,
            Answer::Lost => {
                self.tally.lost += 1;
                self.tally.lost_changes += change;
            }
        }
        let cycle = self.cycle;
        let origin = |what| Origin {
            what,
            cycle,
            sent,
            acked: replied,
            host,
        };
        let window = Window {
            sent,
            replied,
            lone: false,
            host,
        };
        match (planned, answer) {
            (
                Planned::Issue {
                    client,
                    watched,
                    keeper,
                },
                Answer::Reply(Reply::SessionIssued(s)),
            ) => {
                self.mark_durable(epoch, sent);
                let (id, origin) = (s.id, origin("session issue"));
                self.add_session(client, s, origin, watched);
                if keeper {
                    self.keep(id);
                }
            }
            (Planned::Issue { client, .. }, Answer::Lost) => {
                if let Some(tc) = self.clients.get_mut(&client) {
                    tc.maybe_sessions += 1;
                }
            }
            (Planned::CreateClient { limit, steady }, Answer::Reply(Reply::ClientCreated(c))) => {
                self.mark_durable(epoch, sent);
                self.add_client(c.client_id, limit, steady, (host, replied));
                let origin = origin("client create");
                self.add_session(c.client_id, c.session, origin, true);
            }
            (Planned::CreateTestKey { client }, Answer::Reply(Reply::TestKeyCreated(t))) => {
                self.mark_durable(epoch, sent);
                let origin = origin("test key create");
                self.add_key(
                    t.id,
                    CredentialKind::TestKey,
                    t.token,
                    Some(client),
                    origin,
                    None,
                );
            }
            (Planned::CreateTestKey { client }, Answer::Lost) => {
                if let Some(tc) = self.clients.get_mut(&client) {
                    tc.maybe_test_keys += 1;
                }
            }
            (Planned::CreateApiToken { keeper, .. }, Answer::Reply(Reply::ApiTokenCreated(t))) => {
                self.mark_durable(epoch, sent);
                let origin = origin("api token create");
                let id = t.id;
                self.add_key(
                    id,
                    CredentialKind::ApiToken,
                    t.token,
                    None,
                    origin,
                    t.expires_at,
                );
                if keeper {
                    self.keep(id);
                }
            }
            (
                Planned::Verify {
                    cred,
                    others,
                    started,
                },
                answer,
            ) => self.settle_verify(cred, others, started, epoch, window, answer),
            (Planned::Logout { cred, op }, answer) => match answer {
                Answer::Reply(Reply::Revoked { .. }) => {
                    self.mark_durable(epoch, sent);
                    self.close_revoke(op, OpOutcome::Acked(replied));
                    let seen = Seen::Valid("logout was acknowledged".into());
                    self.observe(cred, window, &seen, false);
                }
                Answer::Refused(e) => {
                    self.close_revoke(op, OpOutcome::Refused);
                    if e.code == ErrorCode::CredentialInvalid {
                        let seen = Seen::Invalid("logout answered CREDENTIAL_INVALID".into());
                        self.observe(cred, window, &seen, false);
                    }
                }
                Answer::Lost => self.close_revoke(op, OpOutcome::Maybe),
                Answer::Reply(other) => self.unexpected("logout", &other),
            },
            (Planned::Revoke { cred, op }, answer) => match answer {
                Answer::Reply(Reply::Revoked { .. }) => {
                    self.mark_durable(epoch, sent);
                    self.close_revoke(op, OpOutcome::Acked(replied));
                    let seen = Seen::Present("revoke by id was acknowledged".into());
                    self.observe(cred, window, &seen, false);
                }
                Answer::Refused(e) => {
                    self.close_revoke(op, OpOutcome::Refused);
                    if e.code == ErrorCode::NotFound {
                        let seen = Seen::Invalid("revoke by id answered NOT_FOUND".into());
                        self.observe(cred, window, &seen, false);
                    }
                }
                Answer::Lost => self.close_revoke(op, OpOutcome::Maybe),
                Answer::Reply(other) => self.unexpected("revoke", &other),
            },
            (Planned::RevokeSessions { client, op }, answer) => match answer {
                Answer::Reply(Reply::RevokedCount { .. }) => {
                    self.mark_durable(epoch, sent);
                    self.close_revoke(op, OpOutcome::Acked(replied));
                }
                Answer::Refused(e) => {
                    self.close_revoke(op, OpOutcome::Refused);
                    // A delete sent meanwhile may have removed it; with several hosts, its
                    // creation may not have reached this one yet.
                    if e.code == ErrorCode::NotFound
                        && !self.deleted.contains_key(&client)
                        && self.client_reached(client, &window)
                    {
                        self.violation(
                            "lost",
                            None,
                            format!("client {client} created and acknowledged earlier"),
                            "revoke-sessions answered NOT_FOUND".into(),
                        );
                    }
                }
                Answer::Lost => self.close_revoke(op, OpOutcome::Maybe),
                Answer::Reply(other) => self.unexpected("revoke-sessions", &other),
            },
            (Planned::DeleteClient { client, op }, answer) => match answer {
                Answer::Reply(Reply::RevokedCount { .. }) => {
                    self.mark_durable(epoch, sent);
                    self.close_revoke(op, OpOutcome::Acked(replied));
                }
                Answer::Refused(e) => {
                    self.close_revoke(op, OpOutcome::Refused);
                    let created = self.deleted.get(&client).and_then(|d| d.created);
                    let unseen = e.code == ErrorCode::NotFound
                        && created.is_some_and(|(h, at)| !self.reached(h, at, &window));
                    if !unseen {
                        self.violation(
                            "lost",
                            None,
                            format!("client {client} created and acknowledged earlier"),
                            format!("client delete answered {e}"),
                        );
                    }
                }
                Answer::Lost => self.close_revoke(op, OpOutcome::Maybe),
                Answer::Reply(other) => self.unexpected("client delete", &other),
            },
            // Refusals of creations (a full client, a test key already there) change nothing;
            // a lost client or API token create leaves nothing the model could check.
            (_, Answer::Refused(_) | Answer::Lost) => {}
            (planned, Answer::Reply(other)) => self.unexpected(&format!("{planned:?}"), &other),
        }
    }

    fn settle_verify(
        &mut self,
        cred: Uuid,
        others: u32,
        started: u64,
        epoch: u32,
        window: Window,
        answer: Answer,
    ) {
        let Some(c) = self.creds.get_mut(&cred) else {
            return;
        };
        c.verifies.now -= 1;
        // No other verify of it was in flight at any point of this one's window.
        let lone = others == 0 && c.verifies.started == started + 1;
        let window = Window { lone, ..window };
        match answer {
            Answer::Reply(Reply::Verified(v)) => {
                let seen = Seen::Valid("verify succeeded".into());
                self.observe(cred, window, &seen, false);
                self.verified(cred, epoch, window, Some(v.expires_at));
            }
            Answer::Refused(e) if e.code == ErrorCode::CredentialInvalid => {
                let seen = Seen::Invalid("verify answered CREDENTIAL_INVALID".into());
                self.observe(cred, window, &seen, false);
                self.verified(cred, epoch, window, None);
            }
            Answer::Refused(e) => self.violation(
                "unexpected error",
                self.creds.get(&cred).map(|c| (c.id, c.kind)),
                "a well-formed token".into(),
                format!("verify answered {e}"),
            ),
            Answer::Lost => self.verify_lost(cred, crate::clock::now_ms()),
            Answer::Reply(other) => self.unexpected("verify", &other),
        }
    }

    /// Whether the creation of tracked client `client` had surely reached the host that
    /// answered over `w` (an untracked one: yes).
    fn client_reached(&self, client: Uuid, w: &Window) -> bool {
        self.clients
            .get(&client)
            .is_none_or(|tc| self.reached(tc.created.0, tc.created.1, w))
    }

    fn unexpected(&mut self, request: &str, reply: &Reply) {
        self.violation(
            "unexpected reply",
            None,
            request.to_owned(),
            format!("{reply:?}"),
        );
    }
}

/// Registers a session issued outside the workload (the seat probe, on `host`) as
/// acknowledged.
pub(crate) fn probe_issued(
    model: &mut Model,
    client: Uuid,
    issued: SessionIssued,
    (sent, replied): (Stamp, Stamp),
    host: usize,
) {
    let origin = Origin {
        what: "session issue (seat probe)",
        cycle: model.cycle,
        sent,
        acked: replied,
        host,
    };
    model.mark_durable(model.epoch, sent);
    model.add_session(client, issued, origin, true);
}
