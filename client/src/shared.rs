//! [`SharedClient`]: one connection to `keywardd` that every task of a service shares, with
//! requests pipelined on it and a new connection made when it breaks.
//!
//! A [`Client`] answers in order and needs `&mut self`, so a server that verifies on every
//! request would otherwise open a connection per request or queue behind a lock.
//! Here one task owns the connection: callers send it their operation over a bounded channel,
//! it writes every waiting operation in one batch ([`Client::pipeline`]), and hands each reply
//! back to its caller.
//! Nothing is cached: every call reaches the daemon, so a revocation takes effect at once.

use crate::{Client, ConnectOptions, Error, Op, Reply, Requirements, Secret, Verified, WireError};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Calls waiting for the connection's task; past this, callers wait to be queued.
const QUEUE_LEN: usize = 1024;

/// Operations sent in one batch at most, so one write and its replies stay small.
const MAX_BATCH: usize = 64;

/// How long a connect and handshake, or a batch's replies, may take before the connection is
/// given up as hung and its calls fail as retryable.
const DEADLINE: Duration = Duration::from_secs(5);

/// A cloneable handle on one shared, pipelined connection to `keywardd`.
///
/// The connection is opened on the first call, checked like any other ([`ConnectOptions`]:
/// the daemon's uid before a byte is sent, then the handshake), and opened again on the next
/// call after it fails.
/// A call that fails because a connection it reused had broken (the daemon restarted, or closed
/// it while idle) is sent once more on a new connection, if the operation may be done twice.
/// The connection carries no admin key, so it serves `verify`, `logout`, `ping` and `stats`.
///
/// The connection's task ends when the last handle is dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), keyward_client::Error> {
/// use keyward_client::{Env, Requirements, Secret, SharedClient};
/// let keyward = SharedClient::new("/run/keyward/keyward.sock");
/// let live = Requirements::new().env(Env::Live);
/// let who = keyward.verify(&Secret::new("kw_ses_live_..."), live).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SharedClient {
    calls: mpsc::Sender<Call>,
}

/// One operation waiting for its reply.
struct Call {
    op: Op,
    reply: oneshot::Sender<Result<Reply, Error>>,
}

impl SharedClient {
    /// A handle on the daemon at `path`, trusting the daemon uids [`ConnectOptions::default`]
    /// trusts. Nothing is connected until the first call.
    ///
    /// # Panics
    /// Outside a tokio runtime, which must run the connection's task.
    pub fn new(path: impl Into<PathBuf>) -> SharedClient {
        SharedClient::with_options(path, ConnectOptions::default())
    }

    /// As [`SharedClient::new`], trusting the daemon uids `options` allows.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn with_options(path: impl Into<PathBuf>, options: ConnectOptions) -> SharedClient {
        let (calls, queue) = mpsc::channel(QUEUE_LEN);
        let link = Link {
            path: path.into(),
            options,
            client: None,
        };
        tokio::spawn(link.serve(queue));
        SharedClient { calls }
    }

    /// Sends one operation on the shared connection and waits for its reply.
    ///
    /// # Errors
    /// [`Error::Daemon`] with the daemon's code; [`Error::Connect`] if no daemon could be
    /// reached; [`Error::Io`] (retryable) if the connection broke or hung.
    pub async fn call(&self, op: Op) -> Result<Reply, Error> {
        let (reply, answer) = oneshot::channel();
        let gone = || {
            Error::Io(std::io::Error::other(
                "the shared connection's task has ended",
            ))
        };
        self.calls
            .send(Call { op, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Verifies a token against `require`, as [`Client::verify`] does.
    ///
    /// # Errors
    /// As [`Client::verify`], and as [`SharedClient::call`].
    pub async fn verify(&self, token: &Secret, require: Requirements) -> Result<Verified, Error> {
        let op = Op::Verify {
            token: token.clone(),
            require,
        };
        match self.call(op).await? {
            Reply::Verified(v) => Ok(v),
            // Reply's Debug redacts secrets, so it is safe to show.
            other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
        }
    }
}

/// The task that owns the connection.
struct Link {
    path: PathBuf,
    options: ConnectOptions,
    client: Option<Client>,
}

impl Link {
    /// Serves batches of waiting calls until every handle is dropped.
    async fn serve(mut self, mut queue: mpsc::Receiver<Call>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // A caller that gave up (its request was cancelled) needs no answer.
            batch.retain(|call: &Call| !call.reply.is_closed());
            if !batch.is_empty() {
                self.answer(std::mem::take(&mut batch)).await;
            }
        }
    }

    /// Sends `batch`, resending once on a new connection what a broken, reused one lost.
    async fn answer(&mut self, batch: Vec<Call>) {
        let reused = self.client.is_some();
        let ops = batch.iter().map(|call| call.op.clone()).collect();
        let error = match self.send(ops).await {
            Ok(replies) => return reply_all(batch, replies),
            Err(error) => error,
        };
        if !(reused && broke(&error)) {
            return fail_all(batch, &error);
        }
        let (again, lost): (Vec<Call>, Vec<Call>) =
            batch.into_iter().partition(|call| may_repeat(&call.op));
        fail_all(lost, &error);
        if again.is_empty() {
            return;
        }
        let ops = again.iter().map(|call| call.op.clone()).collect();
        match self.send(ops).await {
            Ok(replies) => reply_all(again, replies),
            Err(error) => fail_all(again, &error),
        }
    }

    /// One batch on the current connection, or on a new one if there is none; any failure
    /// drops the connection, so the next batch starts afresh.
    async fn send(&mut self, ops: Vec<Op>) -> Result<Vec<Result<Reply, WireError>>, Error> {
        let result = async {
            let client = match &mut self.client {
                Some(client) => client,
                None => {
                    let connect = Client::connect_with(&self.path, &self.options);
                    let client = within_deadline(connect).await?;
                    self.client.insert(client)
                }
            };
            within_deadline(client.pipeline(ops)).await
        }
        .await;
        if result.is_err() {
            self.client = None;
        }
        result
    }
}

/// `work`'s result, or a retryable timeout if it takes longer than [`DEADLINE`].
async fn within_deadline<T>(
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(DEADLINE, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "keywardd did not answer in time",
            )))
        })
}

/// Hands each call its reply; the daemon answers a batch in order.
fn reply_all(batch: Vec<Call>, replies: Vec<Result<Reply, WireError>>) {
    for (call, reply) in batch.into_iter().zip(replies) {
        // A caller that has gone away needs no answer.
        let _ = call.reply.send(reply.map_err(Error::Daemon));
    }
}

/// Hands every call of `batch` the error that failed it.
fn fail_all(batch: Vec<Call>, error: &Error) {
    for call in batch {
        let _ = call.reply.send(Err(duplicate(error)));
    }
}

/// Whether `error` means the connection itself broke (closed, reset, hung), rather than that
/// the daemon answered or could not be reached at all.
fn broke(error: &Error) -> bool {
    matches!(error, Error::Io(_) | Error::Protocol(_))
}

/// Whether an operation may be sent twice: it changes nothing, or doing it again changes
/// nothing more (a verify slides a session to the same place).
fn may_repeat(op: &Op) -> bool {
    matches!(
        op,
        Op::Ping
            | Op::Verify { .. }
            | Op::Stats
            | Op::ClientShow { .. }
            | Op::ClientList { .. }
            | Op::AdminKeyList { .. }
            | Op::Audit { .. }
            | Op::ApiTokenList { .. }
            | Op::ApiTokenShow { .. }
    )
}

/// A copy of `error` for each caller of a failed batch (`std::io::Error` is not `Clone`).
fn duplicate(error: &Error) -> Error {
    let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
    match error {
        Error::Connect { path, source } => Error::Connect {
            path: path.clone(),
            source: io(source),
        },
        Error::UntrustedDaemon { path, uid } => Error::UntrustedDaemon {
            path: path.clone(),
            uid: *uid,
        },
        Error::Io(e) => Error::Io(io(e)),
        Error::Protocol(text) => Error::Protocol(text.clone()),
        Error::Daemon(e) => Error::Daemon(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copied error keeps what callers branch on.
    #[test]
    fn duplicates_keep_their_class() {
        let errors = [
            Error::Connect {
                path: "/s".into(),
                source: std::io::ErrorKind::NotFound.into(),
            },
            Error::Io(std::io::ErrorKind::BrokenPipe.into()),
            Error::Protocol("closed".into()),
            Error::UntrustedDaemon {
                path: "/s".into(),
                uid: 7,
            },
        ];
        for error in &errors {
            let copy = duplicate(error);
            assert_eq!(copy.is_retryable(), error.is_retryable(), "{error}");
            assert_eq!(copy.is_unreachable(), error.is_unreachable(), "{error}");
            assert_eq!(copy.to_string(), error.to_string());
        }
    }

    /// Only operations that change nothing more when repeated are sent again.
    #[test]
    fn only_repeatable_operations_are_resent() {
        let verify = Op::Verify {
            token: Secret::new("kw_ses_live_x"),
            require: Requirements::new(),
        };
        assert!(may_repeat(&verify) && may_repeat(&Op::Ping));
        let create = Op::ClientCreate {
            label: None,
            max_sessions: None,
            scopes: Default::default(),
            identity: Box::default(),
        };
        assert!(!may_repeat(&create));
        assert!(!may_repeat(&Op::Logout {
            token: Secret::new("kw_ses_live_x")
        }));
    }
}
