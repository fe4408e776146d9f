//! The async client: one connection, handshake on connect, pipelining by request id.

use bytes::BytesMut;
use keyward_protocol::frame::{self, FrameError};
use keyward_protocol::{
    AdminKeyCreated, AdminKeyInfo, AdminKeyPage, ApiTokenCreated, ApiTokenInfo, ApiTokenPage,
    AuditPage, ClientCreated, ClientDetails, ClientPage, ClientSettings, ClientSummary, Env, Hello,
    HelloReply, Identity, ListOrder, Meta, Op, PrincipalUpdate, Reply, Request, Requirements,
    Response, Scopes, Secret, SessionIssued, Stats, TestKeyCreated, Verified, MAX_PAGE,
    PROTOCOL_VERSION,
};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::codec::LengthDelimitedCodec;
use uuid::Uuid;

use crate::{ConnectOptions, Error};

/// A connection to `keywardd`.
///
/// Calls on one `Client` are answered in order. For concurrency, open several clients, or send a
/// batch with [`Client::pipeline`].
pub struct Client {
    stream: UnixStream,
    framing: LengthDelimitedCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    next_id: u64,
    admin_key: Option<Secret>,
    server_version: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server_version", &self.server_version)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the daemon at `path` and performs the version handshake, if the daemon runs
    /// as a uid the default rule trusts ([`ConnectOptions::default`]).
    ///
    /// # Errors
    /// [`Error::Connect`] if the socket cannot be reached; [`Error::UntrustedDaemon`] if the
    /// process listening there runs as an untrusted uid; [`Error::Daemon`] if the daemon refuses
    /// the handshake (for example, a protocol version mismatch).
    pub async fn connect(path: impl AsRef<Path>) -> Result<Client, Error> {
        Client::connect_with(path, &ConnectOptions::default()).await
    }

    /// As [`Client::connect`], trusting the daemon uids `options` allows.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(
        path: impl AsRef<Path>,
        options: &ConnectOptions,
    ) -> Result<Client, Error> {
        let path = path.as_ref();
        let connect_err = |source| Error::Connect {
            path: path.to_owned(),
            source,
        };
        let stream = UnixStream::connect(path).await.map_err(connect_err)?;
        // Before anything is sent, the handshake included: an impostor must learn nothing, not
        // even that a client came by with an admin key to offer.
        let uid = stream.peer_cred().map_err(connect_err)?.uid();
        if !options.trusts(uid) {
            return Err(Error::UntrustedDaemon {
                path: path.to_owned(),
                uid,
            });
        }
        let mut client = Client {
            stream,
            framing: frame::codec(),
            read_buf: BytesMut::with_capacity(4096),
            write_buf: BytesMut::with_capacity(4096),
            next_id: 1,
            admin_key: None,
            server_version: String::new(),
        };
        client.send(&Hello::current(concat!(
            "keyward-client/",
            env!("CARGO_PKG_VERSION")
        )))?;
        client.flush().await?;
        match client.receive::<HelloReply>().await? {
            HelloReply::Accepted { version, server } if version == PROTOCOL_VERSION => {
                client.server_version = server;
                Ok(client)
            }
            HelloReply::Accepted { version, .. } => Err(Error::Protocol(format!(
                "daemon speaks protocol {version}, this client speaks {PROTOCOL_VERSION}"
            ))),
            HelloReply::Refused(e) => Err(Error::Daemon(e)),
        }
    }

    /// Sets the admin key sent with operations that need one.
    pub fn set_admin_key(&mut self, key: Secret) {
        self.admin_key = Some(key);
    }

    /// The daemon's package version, from the handshake.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Sends one operation and waits for its reply.
    ///
    /// # Errors
    /// [`Error::Daemon`] with the daemon's code, or a connection error.
    pub async fn call(&mut self, op: Op) -> Result<Reply, Error> {
        let mut replies = self.pipeline(vec![op]).await?;
        replies
            .pop()
            .expect("one reply per request")
            .map_err(Error::Daemon)
    }

    /// Sends every operation in one write, then reads their replies in order.
    ///
    /// Per-operation failures are returned in place; only connection failures fail the batch.
    ///
    /// # Errors
    /// A connection or protocol error.
    pub async fn pipeline(
        &mut self,
        ops: Vec<Op>,
    ) -> Result<Vec<Result<Reply, keyward_protocol::WireError>>, Error> {
        let first = self.next_id;
        for op in ops.iter().cloned() {
            let admin_key = op
                .needs_admin_key()
                .then(|| self.admin_key.clone())
                .flatten();
            let request = Request {
                id: self.next_id,
                admin_key,
                op,
            };
            self.next_id += 1;
            self.send(&request)?;
        }
        self.flush().await?;
        let mut out = Vec::with_capacity(ops.len());
        for expected in first..self.next_id {
            let response: Response = self.receive().await?;
            if response.id != expected {
                return Err(Error::Protocol(format!(
                    "reply to request {} arrived where {expected} was expected",
                    response.id
                )));
            }
            out.push(response.result);
        }
        Ok(out)
    }

    fn send<T: serde::Serialize>(&mut self, message: &T) -> Result<(), Error> {
        frame::write_message(message, &mut self.write_buf)
            .map_err(|e| Error::Protocol(e.to_string()))
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.stream.write_all(&self.write_buf).await?;
        self.write_buf.clear();
        Ok(())
    }

    async fn receive<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        loop {
            match frame::read_message(&mut self.framing, &mut self.read_buf) {
                Ok(Some(message)) => return Ok(message),
                Ok(None) => {}
                Err(FrameError::Framing(e)) => return Err(Error::Io(e)),
                Err(FrameError::Body(e)) => return Err(Error::Protocol(e.to_string())),
            }
            if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                return Err(Error::Protocol(
                    "the daemon closed the connection".to_owned(),
                ));
            }
        }
    }

    /// Checks the daemon is alive; returns its version.
    pub async fn ping(&mut self) -> Result<String, Error> {
        match self.call(Op::Ping).await? {
            Reply::Pong { version } => Ok(version),
            other => Err(unexpected(&other)),
        }
    }

    /// Host admin: mints an admin key.
    pub async fn admin_key_create(
        &mut self,
        label: &str,
        env: Env,
    ) -> Result<AdminKeyCreated, Error> {
        let op = Op::AdminKeyCreate {
            label: label.to_owned(),
            env,
        };
        match self.call(op).await? {
            Reply::AdminKeyCreated(k) => Ok(k),
            other => Err(unexpected(&other)),
        }
    }

    /// Host admin: every admin key, following the pages to the end.
    pub async fn admin_key_list(&mut self) -> Result<Vec<AdminKeyInfo>, Error> {
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .admin_key_list_page(MAX_PAGE, after, ListOrder::Id)
                .await?;
            keys.extend(page.admin_keys);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Host admin: one page of admin keys in `order`, after `after` (the `next` of the page
    /// before, in the same order).
    pub async fn admin_key_list_page(
        &mut self,
        limit: u32,
        after: Option<String>,
        order: ListOrder,
    ) -> Result<AdminKeyPage, Error> {
        let op = Op::AdminKeyList {
            limit,
            after,
            order,
        };
        match self.call(op).await? {
            Reply::AdminKeys(page) => Ok(page),
            other => Err(unexpected(&other)),
        }
    }

    /// Host admin: revokes an admin key.
    pub async fn admin_key_revoke(&mut self, id: Uuid) -> Result<Uuid, Error> {
        self.expect_revoked(Op::AdminKeyRevoke { id }).await
    }

    /// Admin key: creates a client and its first session.
    pub async fn client_create(
        &mut self,
        label: Option<String>,
        max_sessions: Option<u32>,
        scopes: Scopes,
    ) -> Result<ClientCreated, Error> {
        self.client_create_with(label, max_sessions, scopes, None, Meta::new())
            .await
    }

    /// Admin key: creates a client with an external id (unique in the environment, else
    /// `CONFLICT`) and metadata, which verify returns; and its first session.
    pub async fn client_create_with(
        &mut self,
        label: Option<String>,
        max_sessions: Option<u32>,
        scopes: Scopes,
        external_id: Option<String>,
        meta: Meta,
    ) -> Result<ClientCreated, Error> {
        let op = Op::ClientCreate {
            label,
            max_sessions,
            scopes,
            identity: Box::new(Identity { external_id, meta }),
        };
        match self.call(op).await? {
            Reply::ClientCreated(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: finds the client with external id `external_id` and shows it with all of
    /// its live credentials, following the pages; `NOT_FOUND` if no client has it.
    pub async fn client_find(&mut self, external_id: &str) -> Result<ClientDetails, Error> {
        let mut details: Option<ClientDetails> = None;
        let mut after = None;
        loop {
            let op = Op::ClientFind {
                external_id: external_id.to_owned(),
                limit: MAX_PAGE,
                after,
            };
            let page = match self.call(op).await? {
                Reply::Client(c) => c,
                other => return Err(unexpected(&other)),
            };
            after = page.next.clone();
            match &mut details {
                Some(d) => {
                    d.credentials.extend(page.credentials);
                    d.next = page.next;
                }
                None => details = Some(page),
            }
            if after.is_none() {
                return Ok(details.expect("one page at least"));
            }
        }
    }

    /// Admin key: shows a client and all of its live credentials, following the pages.
    pub async fn client_show(&mut self, client_id: Uuid) -> Result<ClientDetails, Error> {
        let mut details = self.client_show_page(client_id, MAX_PAGE, None).await?;
        while let Some(after) = details.next.take() {
            let page = self
                .client_show_page(client_id, MAX_PAGE, Some(after))
                .await?;
            details.credentials.extend(page.credentials);
            details.next = page.next;
        }
        Ok(details)
    }

    /// Admin key: shows a client and one page of its live credentials, after `after`.
    pub async fn client_show_page(
        &mut self,
        client_id: Uuid,
        limit: u32,
        after: Option<String>,
    ) -> Result<ClientDetails, Error> {
        let op = Op::ClientShow {
            client_id,
            limit,
            after,
        };
        match self.call(op).await? {
            Reply::Client(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: every client, following the pages to the end.
    pub async fn client_list(&mut self) -> Result<Vec<ClientSummary>, Error> {
        let mut clients = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .client_list_page(MAX_PAGE, after, ListOrder::Id)
                .await?;
            clients.extend(page.clients);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(clients),
            }
        }
    }

    /// Admin key: one page of clients in `order`, after `after` (the `next` of the page
    /// before, in the same order).
    pub async fn client_list_page(
        &mut self,
        limit: u32,
        after: Option<String>,
        order: ListOrder,
    ) -> Result<ClientPage, Error> {
        let op = Op::ClientList {
            limit,
            after,
            order,
        };
        match self.call(op).await? {
            Reply::Clients(page) => Ok(page),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: revokes every session of a client; returns how many.
    pub async fn client_revoke_sessions(&mut self, client_id: Uuid) -> Result<u64, Error> {
        match self.call(Op::ClientRevokeSessions { client_id }).await? {
            Reply::RevokedCount { count } => Ok(count),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: deletes a client, revoking every credential it holds (sessions, test key);
    /// returns how many of those were live. Durable before it returns.
    pub async fn client_delete(&mut self, client_id: Uuid) -> Result<u64, Error> {
        match self.call(Op::ClientDelete { client_id }).await? {
            Reply::RevokedCount { count } => Ok(count),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: disables a client (all of its credentials), one credential, an API token or
    /// (from a host admin) an admin key; its verifies then fail with `CREDENTIAL_DISABLED`.
    /// Durable before it returns.
    pub async fn disable(&mut self, id: Uuid) -> Result<Uuid, Error> {
        match self.call(Op::Disable { id }).await? {
            Reply::Disabled { id } => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: undoes [`Client::disable`]; what was there comes back as it was.
    /// Durable before it returns.
    pub async fn enable(&mut self, id: Uuid) -> Result<Uuid, Error> {
        match self.call(Op::Enable { id }).await? {
            Reply::Enabled { id } => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: issues a fresh session for a client.
    pub async fn session_issue(&mut self, client_id: Uuid) -> Result<SessionIssued, Error> {
        match self.call(Op::SessionIssue { client_id }).await? {
            Reply::SessionIssued(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: creates a client's test key.
    pub async fn test_key_create(&mut self, client_id: Uuid) -> Result<TestKeyCreated, Error> {
        match self.call(Op::TestKeyCreate { client_id }).await? {
            Reply::TestKeyCreated(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: creates an API token.
    pub async fn api_token_create(
        &mut self,
        name: &str,
        scopes: Scopes,
        expires_in_secs: Option<u64>,
    ) -> Result<ApiTokenCreated, Error> {
        self.api_token_create_with(name, scopes, expires_in_secs, None, Meta::new())
            .await
    }

    /// Admin key: creates an API token with an external id (unique in the environment among
    /// clients and API tokens, else `CONFLICT`) and metadata, which verify returns.
    pub async fn api_token_create_with(
        &mut self,
        name: &str,
        scopes: Scopes,
        expires_in_secs: Option<u64>,
        external_id: Option<String>,
        meta: Meta,
    ) -> Result<ApiTokenCreated, Error> {
        let op = Op::ApiTokenCreate {
            name: name.to_owned(),
            scopes,
            expires_in_secs,
            identity: Box::new(Identity { external_id, meta }),
        };
        match self.call(op).await? {
            Reply::ApiTokenCreated(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: one page of API tokens in `order`, after `after` (the `next` of the page
    /// before, in the same order).
    pub async fn api_token_list(
        &mut self,
        limit: u32,
        after: Option<String>,
        order: ListOrder,
    ) -> Result<ApiTokenPage, Error> {
        let op = Op::ApiTokenList {
            limit,
            after,
            order,
        };
        match self.call(op).await? {
            Reply::ApiTokens(page) => Ok(page),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: one API token, by its id or its principal id.
    pub async fn api_token_show(&mut self, id: Uuid) -> Result<ApiTokenInfo, Error> {
        match self.call(Op::ApiTokenShow { id }).await? {
            Reply::ApiToken(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: renames an API token or changes its scopes; answers once durable.
    pub async fn api_token_update(
        &mut self,
        id: Uuid,
        update: PrincipalUpdate,
    ) -> Result<ApiTokenInfo, Error> {
        match self
            .call(Op::ApiTokenUpdate {
                id,
                update: Box::new(update),
            })
            .await?
        {
            Reply::ApiToken(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Admin key: changes a client's label, seat limit or scopes; answers once durable.
    pub async fn client_update(
        &mut self,
        client_id: Uuid,
        update: PrincipalUpdate,
    ) -> Result<ClientSettings, Error> {
        match self
            .call(Op::ClientUpdate {
                client_id,
                update: Box::new(update),
            })
            .await?
        {
            Reply::ClientUpdated(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    /// Verifies a token against `require`: pin the environment and the kinds a service
    /// accepts, e.g. `Requirements::new().env(Env::Live).kind(CredentialKind::Session)`.
    /// With no kind named, sessions, test keys and API tokens verify, and admin keys do not.
    ///
    /// # Errors
    /// [`Error::Daemon`] with `CREDENTIAL_INVALID` (naming the requirement) when the credential
    /// is of another kind or environment, `FORBIDDEN` when it lacks the scope; a session that
    /// fails a requirement does not slide.
    pub async fn verify(
        &mut self,
        token: &Secret,
        require: Requirements,
    ) -> Result<Verified, Error> {
        let op = Op::Verify {
            token: token.clone(),
            require,
        };
        match self.call(op).await? {
            Reply::Verified(v) => Ok(v),
            other => Err(unexpected(&other)),
        }
    }

    /// Revokes the presented token; returns its credential id.
    pub async fn logout(&mut self, token: &Secret) -> Result<Uuid, Error> {
        self.expect_revoked(Op::Logout {
            token: token.clone(),
        })
        .await
    }

    /// Admin key: revokes a credential by id.
    pub async fn revoke(&mut self, credential_id: Uuid) -> Result<Uuid, Error> {
        self.expect_revoked(Op::Revoke { credential_id }).await
    }

    /// Host admin: one page of the audit log, the `limit` most recent entries (at most
    /// [`MAX_PAGE`], fewer when more would not fit in a frame) older than `before` (the `next`
    /// of the page before), oldest first. Use [`Op::Audit`] through [`Client::call`] for its
    /// filters.
    pub async fn audit_page(
        &mut self,
        limit: u32,
        before: Option<String>,
    ) -> Result<AuditPage, Error> {
        let op = Op::Audit {
            since: None,
            limit,
            before,
            uid: None,
            action: None,
            outcome: None,
        };
        match self.call(op).await? {
            Reply::Audit(page) => Ok(page),
            other => Err(unexpected(&other)),
        }
    }

    /// Counts of what the daemon holds.
    pub async fn stats(&mut self) -> Result<Stats, Error> {
        match self.call(Op::Stats).await? {
            Reply::Stats(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    async fn expect_revoked(&mut self, op: Op) -> Result<Uuid, Error> {
        match self.call(op).await? {
            Reply::Revoked { id } => Ok(id),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(reply: &Reply) -> Error {
    // Reply's Debug redacts secrets, so it is safe to show.
    Error::Protocol(format!("unexpected reply {reply:?}"))
}
