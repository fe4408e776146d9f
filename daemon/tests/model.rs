//! Model test: random sequences of authority operations, checked step by step against a small
//! in-memory model of the credential rules.
//!
//! Each case opens a real [`Store`] on a temporary directory under a [`ManualClock`], creates
//! one live admin key, and runs up to [`MAX_STEPS`] steps: creating clients (with or without a
//! seat limit), issuing sessions, creating test keys and API tokens (with or without expiry),
//! verifying, logging out, revoking by id and by client, deleting clients, updating a client's
//! scopes and seats or an API token's scopes, disabling and enabling (a credential, or its
//! owner: a client, an API token's principal), sweeping, moving the clock (forward a little or a
//! lot, and back) and reopening the store. The model predicts every outcome exactly:
//! - a session's stored expiry `E` starts at `min(issue + idle, issue + max)`; a verify at `now`
//!   succeeds iff `now < E`, and then moves `E` to `min(now + idle, issue + max)` only if that
//!   moves it by at least [`Policy::effective_granularity`];
//! - an API token expires at creation + its lifetime, if it has one; test keys and admin keys
//!   never expire;
//! - a client may hold as many live sessions as its own limit, else the policy's default;
//! - a revoked credential never verifies again; a swept one neither, even if the clock goes back;
//! - a verify reports its principal's scopes as last updated, whatever was cached before, and
//!   its external id and metadata likewise; an external id held by a live client or API token
//!   is refused to another with `CONFLICT`, and freed by a delete, a revoke or a sweep;
//! - a live credential whose id or owner is disabled is refused with `CREDENTIAL_DISABLED`
//!   (verify, logout), a disabled client gets no new session or test key, and an enable
//!   restores the expiry the credential had; an admin key's id is `NOT_FOUND` to a caller that
//!   is not a host admin;
//! - the sweep deletes exactly the credentials expired by now and moves the index entries of
//!   sessions that slid past them (the model tracks each credential's index entry).
//!
//! Independently of the model, every successful session verify is checked against the bounds
//! the README promises: never after `issue + max` or `last use + idle`, and a stored expiry at
//! most one granularity step short of the ideal. After every step the read-only views
//! (`stats`, `show_client` of every client) must match the model, so a reopen that lost or
//! revived anything acknowledged shows up at once. A reopen here is clean (sled flushes when its
//! last handle drops), so even unflushed slides must survive it; crashes are not modelled.
//!
//! Run it with `cargo test -p keywardd --test model`; a failure prints the shrunk sequence.

use keyward_protocol::{
    token, CredentialKind, Env, ErrorCode, Level, ListOrder, Meta, PrincipalUpdate, Scopes, Secret,
    Stats, UnixMillis,
};
use keywardd::authority::{
    Acknowledge, AdminContext, Authority, Denied, NewIdentity, Outcome, SweepReport,
};
use keywardd::clock::{millis, ManualClock};
use keywardd::config::Policy;
use keywardd::store::Store;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Cases per run: with up to [`MAX_STEPS`] steps each, a debug run takes a few seconds.
const CASES: u32 = 128;
/// The most steps in one case.
const MAX_STEPS: usize = 60;
/// The clock's start: any fixed wall-clock time.
const START: i64 = 1_700_000_000_000;
/// The policy's idle timeout, in ms.
const IDLE_MS: i64 = 10_000;
/// The policy's maximum session lifetime, in ms: short next to the idle timeout, so that a few
/// verifies of one session already reach the cap.
const MAX_MS: i64 = 20_000;
/// The policy's default seat limit for clients without their own.
const DEFAULT_SEATS: u32 = 4;

/// A short policy, so clock moves of seconds cross every boundary.
fn policy() -> Policy {
    Policy {
        idle_timeout: Duration::from_millis(IDLE_MS as u64),
        max_lifetime: Duration::from_millis(MAX_MS as u64),
        max_sessions_per_client: DEFAULT_SEATS,
        slide_granularity: Duration::from_secs(1),
    }
}

/// The smallest expiry move that is persisted, in ms (100 ms here: 1% of the idle timeout).
fn step_ms() -> i64 {
    millis(policy().effective_granularity()).max(1)
}

/// One generated operation. Selectors pick a known object modulo the count, or an unknown one
/// when they land one past the end, so they stay meaningful while proptest shrinks a sequence.
#[derive(Debug, Clone)]
enum Op {
    /// A client with its first session; `Some(0)` seats is a bad request. With an external
    /// id from a pool of four ([`external`]) and metadata ([`meta_set`]).
    CreateClient {
        max_sessions: Option<u32>,
        external: Option<u8>,
        meta: u8,
    },
    /// A further session, within the client's seats.
    IssueSession { client: usize },
    /// The client's one test key.
    CreateTestKey { client: usize },
    /// An API token, never expiring or expiring after the given time (zero is a bad request),
    /// maybe with an external id from the clients' pool.
    CreateApiToken {
        expires_in_ms: Option<u64>,
        external: Option<u8>,
    },
    /// A verify of any credential ever issued, or of an unknown token.
    Verify { credential: usize },
    /// A verify of a session, picked among sessions only: sliding is where the rules are subtle.
    VerifySession { session: usize },
    /// A logout with the credential's token.
    Logout { credential: usize },
    /// A revoke by the credential's id.
    Revoke { credential: usize },
    /// A revoke of every session of a client.
    RevokeSessions { client: usize },
    /// Delete a client with every credential it holds.
    DeleteClient { client: usize },
    /// Disable (`on`) or enable a credential, or with `owner` the principal it belongs to.
    SetDisabled {
        credential: usize,
        owner: bool,
        on: bool,
    },
    /// One sweep, as the sweeper's timer runs it.
    Sweep,
    /// A clock move by `ms`, forward or back.
    Advance { ms: i64 },
    /// Sets the clock to one of a credential's edges plus `offset` ms, where off-by-one errors
    /// live. A credential without that edge leaves the clock alone.
    Jump {
        credential: usize,
        edge: Edge,
        offset: i64,
    },
    /// Drops the authority and its store and opens both again on the same directory.
    Reopen,
    /// Rewrites the session journal from memory (what the sweeper does once it is mostly
    /// garbage); a later reopen replays the rewritten file.
    Compact,
    /// A checkpoint that folds the uses counted so far, as one does every few seconds.
    Checkpoint,
    /// Sets a client's scopes to [`scope_set`]`(scopes)`, its metadata to
    /// [`meta_set`]`(meta)`, and maybe its seats and external id.
    UpdateClient {
        client: usize,
        scopes: u8,
        max_sessions: Option<u32>,
        external: Option<u8>,
        meta: u8,
    },
    /// Sets an API token's scopes to [`scope_set`]`(scopes)`.
    UpdateApiToken { token: usize, scopes: u8 },
}

/// A small set of scopes from three bits, so updates both raise and lower levels.
fn scope_set(bits: u8) -> Scopes {
    let mut scopes = Scopes::new();
    if bits & 1 != 0 {
        scopes.insert("a".into(), Level::Read);
    }
    if bits & 2 != 0 {
        scopes.insert("a".into(), Level::Write);
    }
    if bits & 4 != 0 {
        scopes.insert("b".into(), Level::Admin);
    }
    scopes
}

/// External id number `n`: a pool of four, so that they collide.
fn external(n: u8) -> String {
    format!("user-{}", n % 4)
}

/// Metadata from two bits.
fn meta_set(bits: u8) -> Meta {
    let mut meta = Meta::new();
    if bits & 1 != 0 {
        meta.insert("plan".into(), "pro".into());
    }
    if bits & 2 != 0 {
        meta.insert("region".into(), "eu".into());
    }
    meta
}

/// A principal's external id and metadata, as the model knows them.
type IdentityModel = (Option<String>, Meta);

/// The update that takes `held` to `wanted`.
fn update_to(held: &Scopes, wanted: &Scopes, max_sessions: Option<u32>) -> PrincipalUpdate {
    PrincipalUpdate {
        label: None,
        max_sessions,
        scopes: wanted.clone(),
        remove_scopes: held
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect(),
        external_id: None,
        meta: Default::default(),
        remove_meta: Vec::new(),
    }
}

/// The times [`Op::Jump`] can aim at.
#[derive(Debug, Clone, Copy)]
enum Edge {
    /// The stored expiry.
    Expiry,
    /// The sliding cap.
    Cap,
    /// The expiry-index entry: after a slide, the sweeper finds a live session there.
    Index,
}

/// Mostly one of the four newest objects, so a case keeps using the same few credentials.
fn selector() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..4, 1 => 0usize..64]
}

/// A clock move: mostly random, sometimes exactly one granularity step or just around it.
fn advance() -> impl Strategy<Value = Op> {
    let step = step_ms();
    prop_oneof![
        3 => (1i64..=500).prop_map(|ms| Op::Advance { ms }),
        1 => prop_oneof![Just(step - 1), Just(step), Just(step + 1)]
            .prop_map(|ms| Op::Advance { ms }),
        4 => (1_000i64..=9_000).prop_map(|ms| Op::Advance { ms }),
        1 => (9_000i64..=15_000).prop_map(|ms| Op::Advance { ms }),
        1 => (20_000i64..=70_000).prop_map(|ms| Op::Advance { ms }),
        1 => (-5_000i64..=-1).prop_map(|ms| Op::Advance { ms }),
        3 => (
            selector(),
            prop_oneof![Just(Edge::Expiry), Just(Edge::Cap), Just(Edge::Index)],
            -1i64..=1,
        )
            .prop_map(|(credential, edge, offset)| Op::Jump {
                credential,
                edge,
                offset,
            }),
    ]
}

/// Any operation, weighted towards sessions, verifies and clock moves.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (
            prop_oneof![Just(None), (0u32..=3).prop_map(Some)],
            prop_oneof![Just(None), (0u8..4).prop_map(Some)],
            0u8..4,
        )
            .prop_map(|(max_sessions, external, meta)| Op::CreateClient {
                max_sessions,
                external,
                meta
            }),
        3 => selector().prop_map(|client| Op::IssueSession { client }),
        1 => selector().prop_map(|client| Op::CreateTestKey { client }),
        1 => (
            prop_oneof![Just(None), (0u64..=30_000).prop_map(Some)],
            prop_oneof![Just(None), (0u8..4).prop_map(Some)],
        )
            .prop_map(|(expires_in_ms, external)| Op::CreateApiToken {
                expires_in_ms,
                external
            }),
        4 => selector().prop_map(|credential| Op::Verify { credential }),
        8 => selector().prop_map(|session| Op::VerifySession { session }),
        1 => selector().prop_map(|credential| Op::Logout { credential }),
        1 => selector().prop_map(|credential| Op::Revoke { credential }),
        1 => selector().prop_map(|client| Op::RevokeSessions { client }),
        1 => selector().prop_map(|client| Op::DeleteClient { client }),
        3 => (selector(), any::<bool>(), any::<bool>()).prop_map(|(credential, owner, on)| {
            Op::SetDisabled { credential, owner, on }
        }),
        3 => Just(Op::Sweep),
        10 => advance(),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
        2 => (
            selector(),
            0u8..8,
            prop_oneof![3 => Just(None), 1 => (0u32..=3).prop_map(Some)],
            prop_oneof![2 => Just(None), 1 => (0u8..4).prop_map(Some)],
            0u8..4,
        )
            .prop_map(|(client, scopes, max_sessions, external, meta)| Op::UpdateClient {
                client,
                scopes,
                max_sessions,
                external,
                meta
            }),
        1 => (selector(), 0u8..8).prop_map(|(token, scopes)| Op::UpdateApiToken { token, scopes }),
        2 => Just(Op::Checkpoint),
    ]
}

/// A client as the model knows it.
struct ClientModel {
    id: Uuid,
    max_sessions: Option<u32>,
    /// Whether `delete_client` removed it: every operation on it is then `NOT_FOUND`.
    deleted: bool,
    /// Its credentials' successful verifies, revoked ones' included.
    usage: Usage,
}

/// Successful verifies: all of them, and those a checkpoint has folded into the store. A reopen
/// without a checkpoint (this test's crash) keeps only the folded ones.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    uses: u64,
    folded: u64,
    /// The last successful verify, and what the last fold took of it.
    last: Option<UnixMillis>,
    folded_last: Option<UnixMillis>,
}

impl Usage {
    fn fold(&mut self) {
        self.folded = self.uses;
        self.folded_last = self.last;
    }

    fn crash(&mut self) {
        self.uses = self.folded;
        self.last = self.folded_last;
    }
}

/// A credential as the model knows it, including ones revoked or swept.
struct CredentialModel {
    id: Uuid,
    token: Secret,
    kind: CredentialKind,
    /// The principal a verify reports.
    principal: Uuid,
    /// The owning client's position, for sessions and test keys.
    client: Option<usize>,
    /// Whether its record is still in the store.
    stored: bool,
    /// The stored expiry; `None` never expires.
    expires_at: Option<i64>,
    /// The sliding cap (sessions).
    max_expires_at: Option<i64>,
    /// Where its expiry-index entry sits, if it has one.
    indexed_at: Option<i64>,
    /// The latest time it was issued or verified, for the README's bounds.
    last_use: i64,
    /// Its successful verifies.
    usage: Usage,
}

impl CredentialModel {
    /// Whether it verifies at `now`.
    fn is_live(&self, now: i64) -> bool {
        self.stored && self.expires_at.is_none_or(|at| now < at)
    }
}

/// The model: what the authority should hold and answer.
struct Model {
    now: i64,
    clients: Vec<ClientModel>,
    credentials: Vec<CredentialModel>,
    sweeps_run: u64,
    /// Sweeps that removed nothing since the last that did: counted in memory only, so a
    /// reopen (a crash) takes them from `sweeps_run`.
    sweeps_unsaved: u64,
    credentials_swept: u64,
    /// Every principal's scopes as last set; absent is none.
    scopes: HashMap<Uuid, Scopes>,
    /// API-token principals, oldest first.
    api_tokens: Vec<Uuid>,
    /// Ids disabled and not enabled since.
    disabled: std::collections::HashSet<Uuid>,
    /// Every principal's external id and metadata as last set; absent is neither.
    identities: HashMap<Uuid, IdentityModel>,
}

impl Model {
    fn identity_of(&self, principal: Uuid) -> IdentityModel {
        self.identities.get(&principal).cloned().unwrap_or_default()
    }

    /// The live client or API token holding external id `id`.
    fn holder(&self, id: &str) -> Option<Uuid> {
        self.identities
            .iter()
            .filter(|(_, (held, _))| held.as_deref() == Some(id))
            .map(|(p, _)| *p)
            .find(|p| {
                self.clients.iter().any(|c| c.id == *p && !c.deleted) || self.api_token_exists(*p)
            })
    }

    /// Whether API token `principal` still exists: revoking or sweeping its one credential
    /// deletes it.
    fn api_token_exists(&self, principal: Uuid) -> bool {
        self.credentials
            .iter()
            .any(|c| c.kind == CredentialKind::ApiToken && c.principal == principal && c.stored)
    }

    fn scopes_of(&self, principal: Uuid) -> Scopes {
        self.scopes.get(&principal).cloned().unwrap_or_default()
    }

    /// Whether credential `i`'s id or owner is disabled.
    fn is_disabled(&self, i: usize) -> bool {
        let c = &self.credentials[i];
        self.disabled.contains(&c.id) || self.disabled.contains(&c.principal)
    }

    /// Counted from the newest, as [`selector`] favours small numbers.
    fn client(&self, selector: usize) -> Option<usize> {
        let n = self.clients.len();
        let back = selector % (n + 1);
        (back < n).then(|| n - 1 - back)
    }

    /// A session, counted from the newest; `None` picks an unknown token.
    fn session(&self, selector: usize) -> Option<usize> {
        let sessions: Vec<usize> = (0..self.credentials.len())
            .filter(|i| self.credentials[*i].kind == CredentialKind::Session)
            .collect();
        let back = selector % (sessions.len() + 1);
        (back < sessions.len()).then(|| sessions[sessions.len() - 1 - back])
    }

    /// Counted from the newest, as [`selector`] favours small numbers.
    fn credential(&self, selector: usize) -> Option<usize> {
        let n = self.credentials.len();
        let back = selector % (n + 1);
        (back < n).then(|| n - 1 - back)
    }

    /// Sessions of the client that verify now: what seats and `revoke_sessions` count.
    fn live_sessions_of(&self, client: usize) -> usize {
        self.credentials
            .iter()
            .filter(|c| c.kind == CredentialKind::Session && c.client == Some(client))
            .filter(|c| c.is_live(self.now))
            .count()
    }

    /// The client's own seat limit, else the policy's default (0 meaning none).
    fn seat_limit(&self, client: usize) -> Option<u32> {
        self.clients[client]
            .max_sessions
            .or((DEFAULT_SEATS > 0).then_some(DEFAULT_SEATS))
    }

    /// Records a session issued now; returns its `(expires_at, max_expires_at)`.
    fn add_session(&mut self, client: usize, id: Uuid, token: Secret) -> (i64, i64) {
        let max = self.now + MAX_MS;
        let at = (self.now + IDLE_MS).min(max);
        self.credentials.push(CredentialModel {
            id,
            token,
            kind: CredentialKind::Session,
            principal: self.clients[client].id,
            client: Some(client),
            stored: true,
            expires_at: Some(at),
            max_expires_at: Some(max),
            indexed_at: Some(at),
            last_use: self.now,
            usage: Usage::default(),
        });
        (at, max)
    }

    /// The counters `stats` should report: a credential counts until a sweep deletes it.
    fn counts(&self) -> Counts {
        let count = |kind| {
            self.credentials
                .iter()
                .filter(|c| c.kind == kind && c.stored)
                .count() as u64
        };
        Counts {
            clients: self.clients.iter().filter(|c| !c.deleted).count() as u64,
            live_sessions: count(CredentialKind::Session),
            test_keys: count(CredentialKind::TestKey),
            api_tokens: count(CredentialKind::ApiToken),
            admin_keys: count(CredentialKind::AdminKey),
            sweeps_run: self.sweeps_run,
            credentials_swept: self.credentials_swept,
        }
    }

    /// What `show_client` should list for a client: `(id, kind, expires_at)`, by id.
    fn listed(&self, client: usize) -> Vec<(Uuid, CredentialKind, Option<i64>)> {
        let mut out: Vec<_> = self
            .credentials
            .iter()
            .filter(|c| c.client == Some(client) && c.is_live(self.now))
            .map(|c| (c.id, c.kind, c.expires_at))
            .collect();
        out.sort_by_key(|(id, _, _)| *id);
        out
    }
}

/// The part of [`Stats`] the authority computes from the store (the daemon adds its own runtime
/// counters, which this test does not see).
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    clients: u64,
    live_sessions: u64,
    test_keys: u64,
    api_tokens: u64,
    admin_keys: u64,
    sweeps_run: u64,
    credentials_swept: u64,
}

impl From<Stats> for Counts {
    fn from(s: Stats) -> Self {
        Counts {
            clients: s.clients,
            live_sessions: s.live_sessions,
            test_keys: s.test_keys,
            api_tokens: s.api_tokens,
            admin_keys: s.admin_keys,
            sweeps_run: s.sweeps_run,
            credentials_swept: s.credentials_swept,
        }
    }
}

/// The real authority on its data dir, reopened on demand.
struct System {
    dir: tempfile::TempDir,
    clock: ManualClock,
    auth: Option<Authority>,
    admin: Secret,
    ctx: AdminContext,
}

impl System {
    /// The authority, open between steps.
    fn auth(&self) -> &Authority {
        self.auth.as_ref().expect("open between steps")
    }

    /// Drops the authority and its store, then opens both again on the same directory.
    fn reopen(&mut self) {
        // sled holds a lock on its directory until the old `Db` is gone.
        drop(self.auth.take());
        let auth = open(&self.dir, &self.clock);
        self.ctx = allowed(auth.authenticate_admin(&self.admin));
        self.auth = Some(auth);
    }
}

/// How long a reopen waits for sled to let go of the directory.
const REOPEN_DEADLINE: Duration = Duration::from_secs(10);

/// Opens the store and an authority over it.
///
/// sled 0.34 releases its directory lock from a background thread shortly after the last `Db`
/// handle drops (spacejam/sled#1234), so an immediate reopen in the same process can find the
/// lock still held; that one error is retried until [`REOPEN_DEADLINE`].
fn open(dir: &tempfile::TempDir, clock: &ManualClock) -> Authority {
    let deadline = Instant::now() + REOPEN_DEADLINE;
    let store = loop {
        match Store::open(dir.path()) {
            Ok(store) => break store,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("the store does not open: {e}"),
        }
    };
    Authority::new(store, Arc::new(clock.clone()), policy())
}

/// The inner result of an outcome; a fault (storage failing) fails the test.
fn result<T>(outcome: Outcome<T>) -> Result<T, Denied> {
    outcome.expect("no storage fault")
}

/// The value of an outcome the rules allowed; a refusal fails the test.
fn allowed<T>(outcome: Outcome<T>) -> T {
    result(outcome).unwrap_or_else(|d| panic!("refused: {d}"))
}

/// Asserts that `outcome` was refused with `code`.
fn refused<T: std::fmt::Debug>(outcome: Outcome<T>, code: ErrorCode, what: &str) {
    match result(outcome) {
        Err(d) => assert_eq!(d.code(), code, "{what}: {d}"),
        Ok(v) => panic!("{what}: expected {code}, got {v:?}"),
    }
}

/// A well-formed token the daemon never issued.
fn unknown_token() -> Secret {
    token::generate(CredentialKind::Session, Env::Live).expect("randomness")
}

/// A fresh data dir, in memory where the system offers one: the model checks the rules, not
/// the disk, and sled's fsync on every acknowledged write would otherwise dominate the run
/// (about 4x slower on a busy disk). Reopens still go through sled's full recovery path.
fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temp dir")
}

/// Starts a case: a fresh store with one live admin key, which the model records as a
/// credential too (it verifies, never expires, and cannot be logged out or revoked by id).
fn start() -> (System, Model) {
    let dir = data_dir();
    let clock = ManualClock::new(START);
    let auth = open(&dir, &clock);
    let key = allowed(
        auth.change()
            .create_admin_key("model", Env::Live)
            .acknowledged(),
    );
    let ctx = allowed(auth.authenticate_admin(&key.secret));
    let model = Model {
        now: START,
        clients: Vec::new(),
        credentials: vec![CredentialModel {
            id: key.id,
            token: key.secret.clone(),
            kind: CredentialKind::AdminKey,
            principal: key.id,
            client: None,
            stored: true,
            expires_at: None,
            max_expires_at: None,
            indexed_at: None,
            last_use: START,
            usage: Usage::default(),
        }],
        sweeps_run: 0,
        sweeps_unsaved: 0,
        credentials_swept: 0,
        scopes: HashMap::new(),
        identities: HashMap::new(),
        api_tokens: Vec::new(),
        disabled: Default::default(),
    };
    let system = System {
        dir,
        clock,
        auth: Some(auth),
        admin: key.secret,
        ctx,
    };
    (system, model)
}

/// Runs one operation on both sides and checks the real answer against the model's.
fn apply(sys: &mut System, m: &mut Model, op: &Op) {
    let now = m.now;
    let ctx = sys.ctx;
    match *op {
        Op::CreateClient {
            max_sessions,
            external: ext,
            meta,
        } => {
            let ext = ext.map(external);
            let meta = meta_set(meta);
            let outcome = sys
                .auth()
                .change()
                .create_client(
                    ctx,
                    Some("client"),
                    max_sessions,
                    &Scopes::new(),
                    NewIdentity {
                        external_id: ext.as_deref(),
                        meta: &meta,
                    },
                )
                .acknowledged();
            if max_sessions == Some(0) {
                return refused(outcome, ErrorCode::BadRequest, "zero seats");
            }
            if ext.as_deref().and_then(|e| m.holder(e)).is_some() {
                return refused(outcome, ErrorCode::Conflict, "external id held");
            }
            let created = allowed(outcome);
            m.identities.insert(created.client_id, (ext, meta));
            m.clients.push(ClientModel {
                usage: Usage::default(),
                id: created.client_id,
                max_sessions,
                deleted: false,
            });
            let s = created.session;
            let expected = m.add_session(m.clients.len() - 1, s.id, s.token);
            assert_eq!((s.expires_at, s.max_expires_at), expected, "first session");
        }
        Op::IssueSession { client } => {
            let Some(c) = m.client(client) else {
                let outcome = sys
                    .auth()
                    .change()
                    .issue_session(ctx, Uuid::new_v4())
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown client");
            };
            let outcome = sys
                .auth()
                .change()
                .issue_session(ctx, m.clients[c].id)
                .acknowledged();
            if m.clients[c].deleted {
                return refused(outcome, ErrorCode::NotFound, "deleted client");
            }
            if m.disabled.contains(&m.clients[c].id) {
                return refused(outcome, ErrorCode::CredentialDisabled, "disabled client");
            }
            let live = m.live_sessions_of(c);
            if let Some(limit) = m.seat_limit(c).filter(|l| live >= *l as usize) {
                match result(outcome) {
                    Err(Denied::SessionLimit { limit: got }) => assert_eq!(got, limit),
                    other => {
                        panic!("{live} live of {limit}: expected SESSION_LIMIT, got {other:?}")
                    }
                }
                return;
            }
            let s = allowed(outcome);
            let expected = m.add_session(c, s.id, s.token);
            assert_eq!((s.expires_at, s.max_expires_at), expected, "issued session");
        }
        Op::CreateTestKey { client } => {
            let Some(c) = m.client(client) else {
                let outcome = sys
                    .auth()
                    .change()
                    .create_test_key(ctx, Uuid::new_v4())
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown client");
            };
            let outcome = sys
                .auth()
                .change()
                .create_test_key(ctx, m.clients[c].id)
                .acknowledged();
            if m.clients[c].deleted {
                return refused(outcome, ErrorCode::NotFound, "deleted client");
            }
            if m.disabled.contains(&m.clients[c].id) {
                return refused(outcome, ErrorCode::CredentialDisabled, "disabled client");
            }
            let has_one = m
                .credentials
                .iter()
                .any(|k| k.kind == CredentialKind::TestKey && k.client == Some(c) && k.stored);
            if has_one {
                return refused(outcome, ErrorCode::BadRequest, "second test key");
            }
            let key = allowed(outcome);
            m.credentials.push(CredentialModel {
                id: key.id,
                token: key.token,
                kind: CredentialKind::TestKey,
                principal: m.clients[c].id,
                client: Some(c),
                stored: true,
                expires_at: None,
                max_expires_at: None,
                indexed_at: None,
                last_use: now,
                usage: Usage::default(),
            });
        }
        Op::CreateApiToken {
            expires_in_ms,
            external: ext,
        } => {
            let ext = ext.map(external);
            let outcome = sys
                .auth()
                .change()
                .create_api_token(
                    ctx,
                    "importer",
                    &Scopes::new(),
                    expires_in_ms.map(Duration::from_millis),
                    NewIdentity {
                        external_id: ext.as_deref(),
                        meta: &Meta::new(),
                    },
                )
                .acknowledged();
            if expires_in_ms == Some(0) {
                return refused(outcome, ErrorCode::BadRequest, "zero lifetime");
            }
            if ext.as_deref().and_then(|e| m.holder(e)).is_some() {
                return refused(outcome, ErrorCode::Conflict, "external id held");
            }
            let api = allowed(outcome);
            m.identities.insert(api.principal_id, (ext, Meta::new()));
            m.api_tokens.push(api.principal_id);
            let expires_at = expires_in_ms.map(|ms| now + ms as i64);
            assert_eq!(api.expires_at, expires_at, "API token expiry");
            m.credentials.push(CredentialModel {
                id: api.id,
                token: api.token,
                kind: CredentialKind::ApiToken,
                principal: api.principal_id,
                client: None,
                stored: true,
                expires_at,
                max_expires_at: None,
                indexed_at: expires_at,
                last_use: now,
                usage: Usage::default(),
            });
        }
        Op::Verify { credential } => verify(sys, m, m.credential(credential)),
        Op::VerifySession { session } => verify(sys, m, m.session(session)),
        Op::Logout { credential } => {
            let Some(i) = m.credential(credential) else {
                let outcome = sys.auth().change().logout(&unknown_token()).acknowledged();
                return refused(outcome, ErrorCode::CredentialInvalid, "unknown token");
            };
            let outcome = sys
                .auth()
                .change()
                .logout(&m.credentials[i].token)
                .acknowledged();
            let disabled = m.is_disabled(i);
            let c = &mut m.credentials[i];
            if !c.is_live(now) {
                return refused(outcome, ErrorCode::CredentialInvalid, "dead credential");
            }
            if disabled {
                return refused(outcome, ErrorCode::CredentialDisabled, "disabled logout");
            }
            if c.kind == CredentialKind::AdminKey {
                return refused(outcome, ErrorCode::Forbidden, "admin key logout");
            }
            assert_eq!(allowed(outcome), c.id);
            c.stored = false;
        }
        Op::Revoke { credential } => {
            let Some(i) = m.credential(credential) else {
                let outcome = sys
                    .auth()
                    .change()
                    .revoke(ctx, Uuid::new_v4())
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown id");
            };
            let outcome = sys
                .auth()
                .change()
                .revoke(ctx, m.credentials[i].id)
                .acknowledged();
            let c = &mut m.credentials[i];
            if !c.stored {
                return refused(outcome, ErrorCode::NotFound, "gone credential");
            }
            if c.kind == CredentialKind::AdminKey {
                return refused(outcome, ErrorCode::NotFound, "admin key by id");
            }
            // Expired but not yet swept still counts as there: revoking it succeeds.
            assert_eq!(allowed(outcome), c.id);
            c.stored = false;
        }
        Op::RevokeSessions { client } => {
            let Some(cl) = m.client(client) else {
                let outcome = sys
                    .auth()
                    .change()
                    .revoke_sessions(ctx, Uuid::new_v4())
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown client");
            };
            let outcome = sys
                .auth()
                .change()
                .revoke_sessions(ctx, m.clients[cl].id)
                .acknowledged();
            if m.clients[cl].deleted {
                return refused(outcome, ErrorCode::NotFound, "deleted client");
            }
            let count = allowed(outcome);
            assert_eq!(
                count,
                m.live_sessions_of(cl) as u64,
                "live sessions revoked"
            );
            for c in &mut m.credentials {
                if c.kind == CredentialKind::Session && c.client == Some(cl) {
                    c.stored = false;
                }
            }
        }
        Op::DeleteClient { client } => {
            let Some(cl) = m.client(client) else {
                let outcome = sys
                    .auth()
                    .change()
                    .delete_client(ctx, Uuid::new_v4())
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown client");
            };
            let outcome = sys
                .auth()
                .change()
                .delete_client(ctx, m.clients[cl].id)
                .acknowledged();
            if m.clients[cl].deleted {
                return refused(outcome, ErrorCode::NotFound, "deleted client");
            }
            let live = m
                .credentials
                .iter()
                .filter(|c| c.client == Some(cl) && c.is_live(now))
                .count();
            assert_eq!(allowed(outcome), live as u64, "live credentials revoked");
            for c in &mut m.credentials {
                if c.client == Some(cl) {
                    c.stored = false;
                }
            }
            m.clients[cl].deleted = true;
        }
        Op::SetDisabled {
            credential,
            owner,
            on,
        } => {
            let target = m.credential(credential).map(|i| {
                let c = &m.credentials[i];
                (if owner { c.principal } else { c.id }, i)
            });
            let id = target.map_or_else(Uuid::new_v4, |(id, _)| id);
            // Not a host admin: an admin key's id answers as an unknown one.
            let outcome = sys
                .auth()
                .change()
                .set_disabled(ctx, false, id, on)
                .acknowledged();
            let Some((_, i)) = target else {
                return refused(outcome, ErrorCode::NotFound, "unknown id");
            };
            let c = &m.credentials[i];
            let exists = match (owner, c.kind, c.client) {
                (_, CredentialKind::AdminKey, _) => false,
                (true, _, Some(cl)) => !m.clients[cl].deleted,
                // An API token's principal goes with its token (revoke, logout or sweep).
                (true, _, None) => c.stored,
                (false, ..) => c.stored,
            };
            if !exists {
                return refused(outcome, ErrorCode::NotFound, "gone or admin key");
            }
            assert_eq!(allowed(outcome), id);
            if on {
                m.disabled.insert(id);
            } else {
                m.disabled.remove(&id);
            }
        }
        Op::Sweep => {
            let report = sys.auth().change().sweep().expect("no storage fault");
            let mut expected = SweepReport::default();
            for c in &mut m.credentials {
                if c.stored && c.kind == CredentialKind::Session {
                    // Sessions are swept by a scan of the session table, not an index.
                    if !c.is_live(now) {
                        c.stored = false;
                        expected.swept += 1;
                    }
                    continue;
                }
                if !c.stored || c.indexed_at.is_none_or(|at| at > now) {
                    continue;
                }
                if c.is_live(now) {
                    c.indexed_at = c.expires_at;
                    expected.moved += 1;
                } else {
                    c.stored = false;
                    c.indexed_at = None;
                    expected.swept += 1;
                }
            }
            assert_eq!(report, expected, "sweep");
            m.sweeps_run += 1;
            m.sweeps_unsaved = if expected.swept == 0 {
                m.sweeps_unsaved + 1
            } else {
                0
            };
            m.credentials_swept += expected.swept;
        }
        Op::Advance { ms } => {
            sys.clock.advance_ms(ms);
            m.now += ms;
        }
        Op::Jump {
            credential,
            edge,
            offset,
        } => {
            let Some(c) = m.credential(credential).map(|i| &m.credentials[i]) else {
                return;
            };
            let at = match edge {
                Edge::Expiry => c.expires_at,
                Edge::Cap => c.max_expires_at,
                Edge::Index => c.indexed_at,
            };
            if let Some(at) = at {
                m.now = at + offset;
                sys.clock.set(m.now);
            }
        }
        Op::Reopen => {
            sys.reopen();
            m.sweeps_run -= std::mem::take(&mut m.sweeps_unsaved);
            m.clients.iter_mut().for_each(|c| c.usage.crash());
            m.credentials.iter_mut().for_each(|c| c.usage.crash());
        }
        Op::Checkpoint => {
            sys.auth()
                .frozen(|store| store.fold_usage().and_then(|()| store.checkpoint()))
                .expect("checkpoint works");
            m.clients.iter_mut().for_each(|c| c.usage.fold());
            m.credentials.iter_mut().for_each(|c| c.usage.fold());
        }
        Op::Compact => sys
            .auth()
            .frozen(|store| store.compact_sessions())
            .expect("compaction works"),
        Op::UpdateClient {
            client,
            scopes,
            max_sessions,
            external: ext,
            meta,
        } => {
            let Some(c) = m.client(client) else {
                let update = update_to(&Scopes::new(), &scope_set(1), None);
                let outcome = sys
                    .auth()
                    .change()
                    .update_client(ctx, Uuid::new_v4(), &update)
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown client");
            };
            let id = m.clients[c].id;
            let wanted = scope_set(scopes);
            let mut update = update_to(&m.scopes_of(id), &wanted, max_sessions);
            let (held_ext, held_meta) = m.identity_of(id);
            let wanted_meta = meta_set(meta);
            update.external_id = ext.map(external);
            update.meta = wanted_meta.clone();
            update.remove_meta = held_meta
                .keys()
                .filter(|k| !wanted_meta.contains_key(*k))
                .cloned()
                .collect();
            let outcome = sys
                .auth()
                .change()
                .update_client(ctx, id, &update)
                .acknowledged();
            if m.clients[c].deleted {
                return refused(outcome, ErrorCode::NotFound, "deleted client");
            }
            if update == PrincipalUpdate::default() || max_sessions == Some(0) {
                return refused(outcome, ErrorCode::BadRequest, "no change or zero seats");
            }
            let new_ext = update.external_id.clone().or(held_ext);
            if let Some(e) = &update.external_id {
                if m.holder(e).is_some_and(|h| h != id) {
                    return refused(outcome, ErrorCode::Conflict, "external id held");
                }
            }
            let shown = allowed(outcome);
            assert_eq!(
                (&shown.external_id, &shown.meta),
                (&new_ext, &wanted_meta),
                "updated client's identity"
            );
            m.identities.insert(id, (new_ext, wanted_meta));
            assert_eq!(shown.scopes, wanted, "updated client's scopes");
            m.scopes.insert(id, wanted);
            if max_sessions.is_some() {
                m.clients[c].max_sessions = max_sessions;
            }
            assert_eq!(shown.max_sessions, m.clients[c].max_sessions);
        }
        Op::UpdateApiToken { token, scopes } => {
            let n = m.api_tokens.len();
            let back = token % (n + 1);
            if back == n {
                let update = update_to(&Scopes::new(), &scope_set(1), None);
                let outcome = sys
                    .auth()
                    .change()
                    .update_api_token(ctx, Uuid::new_v4(), &update)
                    .acknowledged();
                return refused(outcome, ErrorCode::NotFound, "unknown API token");
            }
            let id = m.api_tokens[n - 1 - back];
            let wanted = scope_set(scopes);
            let update = update_to(&m.scopes_of(id), &wanted, None);
            let outcome = sys
                .auth()
                .change()
                .update_api_token(ctx, id, &update)
                .acknowledged();
            if !m.api_token_exists(id) {
                return refused(outcome, ErrorCode::NotFound, "revoked API token");
            }
            if update == PrincipalUpdate::default() {
                return refused(outcome, ErrorCode::BadRequest, "no change");
            }
            assert_eq!(allowed(outcome).scopes, wanted, "updated token's scopes");
            m.scopes.insert(id, wanted);
        }
    }
}

/// Verifies credential `i` (or, for `None`, a token never issued) and checks the answer, the
/// slide, and the README's bounds on a session's expiry.
/// Requirements every credential the model issues meets: the model checks what a verify
/// reports, not what a verifier accepts.
fn every_kind() -> keyward_protocol::Requirements {
    [
        CredentialKind::Session,
        CredentialKind::TestKey,
        CredentialKind::ApiToken,
        CredentialKind::AdminKey,
    ]
    .into_iter()
    .fold(keyward_protocol::Requirements::new(), |r, k| r.kind(k))
}

fn verify(sys: &System, m: &mut Model, i: Option<usize>) {
    let now = m.now;
    let Some(i) = i else {
        let outcome = sys.auth().verify(&unknown_token(), &every_kind());
        return refused(outcome, ErrorCode::CredentialInvalid, "unknown token");
    };
    let outcome = sys.auth().verify(&m.credentials[i].token, &every_kind());
    let disabled = m.is_disabled(i);
    let c = &mut m.credentials[i];
    if !c.is_live(now) {
        return refused(outcome, ErrorCode::CredentialInvalid, "dead credential");
    }
    if disabled {
        return refused(
            outcome,
            ErrorCode::CredentialDisabled,
            "disabled credential",
        );
    }
    let v = allowed(outcome);
    assert_eq!(
        (v.credential_id, v.kind, v.env, v.principal_id),
        (c.id, c.kind, Env::Live, c.principal)
    );
    let principal = c.principal;
    assert_eq!(
        v.scopes,
        m.scopes_of(principal),
        "scopes reported by verify"
    );
    if v.kind != CredentialKind::AdminKey {
        assert_eq!(
            (v.external_id, v.meta),
            m.identity_of(principal),
            "identity reported by verify"
        );
    }
    m.credentials[i].usage.uses += 1;
    m.credentials[i].usage.last = Some(now);
    if let Some(client) = m.credentials[i].client {
        m.clients[client].usage.uses += 1;
    }
    let c = &mut m.credentials[i];
    if let (Some(at), Some(max)) = (c.expires_at, c.max_expires_at) {
        // The README's bounds, independent of the model's arithmetic.
        assert!(now < max, "verified at {now}, past the cap {max}");
        assert!(
            now < c.last_use + IDLE_MS,
            "verified {now} after idling since {}",
            c.last_use
        );
        let wanted = (now + IDLE_MS).min(max);
        if wanted - at >= step_ms() {
            c.expires_at = Some(wanted);
        }
        c.last_use = c.last_use.max(now);
        let ideal = (c.last_use + IDLE_MS).min(max);
        let stored = c.expires_at.expect("sessions expire");
        assert!(
            stored <= ideal,
            "expiry {stored} later than the ideal {ideal}"
        );
        assert!(
            stored > wanted - step_ms(),
            "expiry {stored} more than one step short of {wanted}"
        );
    }
    assert_eq!(v.expires_at, c.expires_at, "expiry after verify");
}

/// Compares every read-only view with the model.
fn audit(sys: &System, m: &Model) {
    let stats = sys.auth().stats().expect("no storage fault");
    assert_eq!(Counts::from(stats), m.counts(), "stats");
    for (i, client) in m.clients.iter().enumerate() {
        if client.deleted {
            let shown = sys.auth().show_client(sys.ctx, client.id, 1000, None);
            refused(shown, ErrorCode::NotFound, "deleted client");
            continue;
        }
        let shown = allowed(sys.auth().show_client(sys.ctx, client.id, 1000, None));
        assert_eq!(shown.next, None);
        // By pages of one, the same credentials.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = allowed(
                sys.auth()
                    .show_client(sys.ctx, client.id, 1, after.as_deref()),
            );
            assert!(page.credentials.len() <= 1);
            paged.extend(page.credentials.iter().map(|c| c.id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ids: Vec<Uuid> = shown.credentials.iter().map(|c| c.id).collect();
        assert_eq!(paged, ids, "credentials of client {i} by page");
        let mut listed: Vec<_> = shown
            .credentials
            .iter()
            .map(|c| (c.id, c.kind, c.expires_at))
            .collect();
        listed.sort_by_key(|(id, _, _)| *id);
        assert_eq!(listed, m.listed(i), "credentials of client {i}");
        assert_eq!(shown.max_sessions, client.max_sessions);
        assert_eq!(shown.scopes, m.scopes_of(client.id), "scopes of client {i}");
        let (ext, meta) = m.identity_of(client.id);
        assert_eq!((&shown.external_id, &shown.meta), (&ext, &meta));
        if let Some(ext) = &ext {
            let found = allowed(sys.auth().find_client(sys.ctx, ext, 1000, None));
            assert_eq!(found.client_id, client.id, "client found by {ext}");
        }
        assert_eq!(
            shown.disabled,
            m.disabled.contains(&client.id),
            "client {i}"
        );
        assert_eq!(shown.uses, client.usage.uses, "uses of client {i}");
        for c in &shown.credentials {
            let known = m.credentials.iter().find(|k| k.id == c.id).expect("known");
            assert_eq!(c.uses, known.usage.uses, "uses of credential {}", c.id);
            assert_eq!(
                c.disabled,
                m.disabled.contains(&c.id),
                "credential {}",
                c.id
            );
        }
    }
    // A walk by pages of two sees every client once, in id order; and, least lately used
    // first, every client once, each in the place its folded last use gives it.
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = allowed(
            sys.auth()
                .list_clients(sys.ctx, 2, after.as_deref(), ListOrder::Id),
        );
        walked.extend(page.clients.into_iter().map(|c| c.client_id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<Uuid> = m
        .clients
        .iter()
        .filter(|c| !c.deleted)
        .map(|c| c.id)
        .collect();
    expected.sort();
    assert_eq!(walked, expected, "clients by page");
    let by_use = walk_by_last_use(|after| {
        let page = allowed(
            sys.auth()
                .list_clients(sys.ctx, 2, after, ListOrder::LastUsed),
        );
        let rows = page.clients.iter();
        let rows = rows.map(|c| (c.client_id, c.last_used_at)).collect();
        (rows, page.next)
    });
    assert_by_last_use(m, &by_use, &expected, "clients by last use");
    // A walk by pages of two sees every API token once, in id order, as last updated.
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = allowed(
            sys.auth()
                .list_api_tokens(sys.ctx, 2, after.as_deref(), ListOrder::Id),
        );
        assert!(page.api_tokens.len() <= 2);
        walked.extend(
            page.api_tokens
                .into_iter()
                .map(|t| (t.principal_id, t.scopes)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<(Uuid, Scopes)> = m
        .api_tokens
        .iter()
        .filter(|id| m.api_token_exists(**id))
        .map(|id| (*id, m.scopes_of(*id)))
        .collect();
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(walked, expected, "API tokens by page");
    let by_use = walk_by_last_use(|after| {
        let page = allowed(
            sys.auth()
                .list_api_tokens(sys.ctx, 2, after, ListOrder::LastUsed),
        );
        let rows = page.api_tokens.iter();
        let rows = rows.map(|t| (t.principal_id, t.last_used_at)).collect();
        (rows, page.next)
    });
    let ids: Vec<Uuid> = expected.iter().map(|(id, _)| *id).collect();
    assert_by_last_use(m, &by_use, &ids, "API tokens by last use");
}

/// Walks a list least lately used first, by pages: each row's id, as `page` gives them.
fn walk_by_last_use(
    mut page: impl FnMut(Option<&str>) -> (Vec<(Uuid, Option<UnixMillis>)>, Option<String>),
) -> Vec<Uuid> {
    let (mut walked, mut after) = (Vec::new(), None::<String>);
    loop {
        let (rows, next) = page(after.as_deref());
        walked.extend(rows.into_iter().map(|(id, _)| id));
        match next {
            Some(next) => after = Some(next),
            None => return walked,
        }
    }
}

/// That a walk by last use holds each of `ids` once, ordered by folded last use (never
/// first) and then by id: the model folds nothing during a walk, so nothing moves.
fn assert_by_last_use(m: &Model, walked: &[Uuid], ids: &[Uuid], what: &str) {
    let folded_last = |p: Uuid| {
        m.credentials
            .iter()
            .filter(|c| c.principal == p)
            .map(|c| c.usage.folded_last)
            .max()
            .flatten()
    };
    let mut expected: Vec<(Option<UnixMillis>, Uuid)> =
        ids.iter().map(|id| (folded_last(*id), *id)).collect();
    expected.sort();
    let expected: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(walked, expected, "{what}");
}

proptest! {
    #![proptest_config(Config {
        cases: CASES,
        // A failure prints its shrunk sequence; no regression file is written into the tree.
        failure_persistence: None,
        ..Config::default()
    })]

    /// Every outcome of a random operation sequence, across reopens, matches the model.
    #[test]
    fn authority_matches_model(ops in prop::collection::vec(op(), 1..=MAX_STEPS)) {
        let (mut sys, mut model) = start();
        for op in &ops {
            apply(&mut sys, &mut model, op);
            audit(&sys, &model);
        }
    }
}
