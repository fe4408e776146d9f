//! What each keyward connection asks, and which replies count as success.

use keyward_protocol::{ListOrder, Op, Reply, Requirements, Secret, WireError};
use std::sync::Arc;
use uuid::Uuid;

/// Chooses one connection's next operation and judges each reply.
pub(crate) trait OpSource: Send + 'static {
    /// The next operation; `None` when there is nothing more to send.
    fn next_op(&mut self) -> Option<Op>;

    /// Whether `reply` is the success the workload expects. Replies arrive in request order.
    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool;
}

/// `Op::Ping`, forever.
#[derive(Debug, Default)]
pub(crate) struct Pings;

impl OpSource for Pings {
    fn next_op(&mut self) -> Option<Op> {
        Some(Op::Ping)
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        matches!(reply, Ok(Reply::Pong { .. }))
    }
}

/// Verifies a token picked at random from a shared set, forever.
#[derive(Debug)]
pub(crate) struct Verifies {
    tokens: Arc<Vec<Secret>>,
    rng: fastrand::Rng,
}

impl Verifies {
    /// Verifies drawn from `tokens` with a generator seeded by `seed`.
    pub fn new(tokens: Arc<Vec<Secret>>, seed: u64) -> Self {
        assert!(!tokens.is_empty(), "verify needs at least one session");
        Verifies {
            tokens,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl OpSource for Verifies {
    fn next_op(&mut self) -> Option<Op> {
        let token = self.tokens[self.rng.usize(..self.tokens.len())].clone();
        Some(Op::Verify {
            token,
            require: Requirements::new(),
        })
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        matches!(reply, Ok(Reply::Verified(_)))
    }
}

/// Issues a session for a client picked at random, forever.
#[derive(Debug)]
pub(crate) struct Issues {
    clients: Arc<Vec<Uuid>>,
    rng: fastrand::Rng,
}

impl Issues {
    /// Issues for `clients` with a generator seeded by `seed`.
    pub fn new(clients: Arc<Vec<Uuid>>, seed: u64) -> Self {
        assert!(!clients.is_empty(), "issue needs at least one client");
        Issues {
            clients,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl OpSource for Issues {
    fn next_op(&mut self) -> Option<Op> {
        let client_id = self.clients[self.rng.usize(..self.clients.len())];
        Some(Op::SessionIssue { client_id })
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        matches!(reply, Ok(Reply::SessionIssued(_)))
    }
}

/// Percent of mixed operations that verify; the rest split evenly between issue and logout.
pub(crate) const MIXED_VERIFY_PERCENT: u32 = 90;
/// Percent of mixed operations that issue a session.
pub(crate) const MIXED_ISSUE_PERCENT: u32 = 5;

/// 90% verify, 5% issue, 5% logout, over tokens this connection owns.
///
/// Each connection owns its own tokens, so a logout never races a verify on another connection;
/// a token leaves the pool when its logout is sent and issued tokens join it when they arrive.
#[derive(Debug)]
pub(crate) struct Mixed {
    pool: Vec<Secret>,
    clients: Arc<Vec<Uuid>>,
    rng: fastrand::Rng,
}

impl Mixed {
    /// A mix over `pool` (this connection's tokens) and `clients`, seeded by `seed`.
    pub fn new(pool: Vec<Secret>, clients: Arc<Vec<Uuid>>, seed: u64) -> Self {
        assert!(!clients.is_empty(), "mixed needs at least one client");
        Mixed {
            pool,
            clients,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl OpSource for Mixed {
    fn next_op(&mut self) -> Option<Op> {
        let roll = self.rng.u32(..100);
        if self.pool.is_empty() || roll >= 100 - MIXED_ISSUE_PERCENT * 2 {
            let logout = roll >= MIXED_VERIFY_PERCENT + MIXED_ISSUE_PERCENT;
            if logout && !self.pool.is_empty() {
                let token = self.pool.swap_remove(self.rng.usize(..self.pool.len()));
                return Some(Op::Logout { token });
            }
            let client_id = self.clients[self.rng.usize(..self.clients.len())];
            return Some(Op::SessionIssue { client_id });
        }
        let token = self.pool[self.rng.usize(..self.pool.len())].clone();
        Some(Op::Verify {
            token,
            require: Requirements::new(),
        })
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        match reply {
            Ok(Reply::SessionIssued(issued)) => {
                self.pool.push(issued.token);
                true
            }
            Ok(Reply::Verified(_) | Reply::Revoked { .. }) => true,
            _ => false,
        }
    }
}

/// A fixed list of set-up operations (creating clients, issuing sessions) whose results are
/// collected; any failure is kept, since a preload that silently lost sessions would skew
/// every measurement after it.
#[derive(Debug)]
pub(crate) struct Script {
    ops: std::vec::IntoIter<Op>,
    /// Clients created, in reply order.
    pub clients: Vec<Uuid>,
    /// Session tokens received, in reply order.
    pub tokens: Vec<Secret>,
    /// The first error reply, if any.
    pub failure: Option<WireError>,
}

impl Script {
    /// A script that sends `ops` in order.
    pub fn new(ops: Vec<Op>) -> Self {
        Script {
            ops: ops.into_iter(),
            clients: Vec::new(),
            tokens: Vec::new(),
            failure: None,
        }
    }
}

impl OpSource for Script {
    fn next_op(&mut self) -> Option<Op> {
        self.ops.next()
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        match reply {
            Ok(Reply::ClientCreated(created)) => {
                self.clients.push(created.client_id);
                self.tokens.push(created.session.token);
                true
            }
            Ok(Reply::SessionIssued(issued)) => {
                self.tokens.push(issued.token);
                true
            }
            Ok(_) => true,
            Err(e) => {
                self.failure.get_or_insert(e);
                false
            }
        }
    }
}

/// `Op::Stats`, forever: the daemon's counts, which must not cost a scan.
#[derive(Debug, Default)]
pub(crate) struct StatsCalls;

impl OpSource for StatsCalls {
    fn next_op(&mut self) -> Option<Op> {
        Some(Op::Stats)
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        matches!(reply, Ok(Reply::Stats(_)))
    }
}

/// Walks the client list a page of `limit` at a time, forever: each request asks for the page
/// after the last reply's cursor, and the walk starts again at the end.
///
/// With requests in flight, the next request is sent before the last reply is in, so it asks
/// for a page again; every request still reads a page of `limit`.
#[derive(Debug)]
pub(crate) struct ClientPages {
    limit: u32,
    after: Option<String>,
    /// Clients in the replies so far.
    pub listed: u64,
}

impl ClientPages {
    /// A walk from the first page, in pages of `limit`.
    pub fn new(limit: u32) -> Self {
        ClientPages {
            limit,
            after: None,
            listed: 0,
        }
    }
}

impl OpSource for ClientPages {
    fn next_op(&mut self) -> Option<Op> {
        Some(Op::ClientList {
            limit: self.limit,
            after: self.after.clone(),
            order: ListOrder::Id,
        })
    }

    fn on_reply(&mut self, reply: Result<Reply, WireError>) -> bool {
        match reply {
            Ok(Reply::Clients(page)) => {
                self.listed += page.clients.len() as u64;
                self.after = page.next;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mix is about 90/5/5, logouts take tokens out of the pool, and issued tokens join it.
    #[test]
    fn mixed_proportions_and_pool() {
        let pool: Vec<Secret> = (0..1000).map(|i| Secret::new(format!("t{i}"))).collect();
        let mut mixed = Mixed::new(pool, Arc::new(vec![Uuid::nil()]), 7);
        let (mut verify, mut issue, mut logout) = (0, 0, 0);
        for _ in 0..10_000 {
            match mixed.next_op().unwrap() {
                Op::Verify { .. } => verify += 1,
                Op::SessionIssue { .. } => issue += 1,
                Op::Logout { .. } => logout += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((8800..9200).contains(&verify), "{verify}");
        assert!((400..600).contains(&issue), "{issue}");
        assert!((400..600).contains(&logout), "{logout}");
        assert_eq!(mixed.pool.len(), 1000 - logout);
    }

    /// A mix whose pool is empty issues instead of verifying or logging out.
    #[test]
    fn mixed_with_empty_pool_issues() {
        let mut mixed = Mixed::new(Vec::new(), Arc::new(vec![Uuid::nil()]), 1);
        for _ in 0..100 {
            assert!(matches!(mixed.next_op(), Some(Op::SessionIssue { .. })));
        }
    }
}
