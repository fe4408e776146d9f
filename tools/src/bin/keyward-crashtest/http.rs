//! The load's operations over `http.sock`: each `Op` the workload sends as its route of the
//! HTTP/JSON API on one keep-alive connection, and each JSON answer read back as the `Reply` or
//! `WireError` the frame socket would have given, so the model judges both transports alike.
//!
//! The JSON carries times as RFC 3339 seconds, so a time read back is rounded the way that
//! keeps the model's checks sound: an expiry the daemon promises (`expires_at` of a session
//! or a verify) is rounded down, a fixed end it must not pass (`max_expires_at`, an API
//! token's `expires_at`) up to the second's last millisecond.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use keyward_client::{
    ApiTokenCreated, ApiTokenInfo, ClientCreated, ClientSettings, CredentialKind, Env, Error,
    ErrorCode, Level, Op, Reply, Scopes, Secret, SessionIssued, TestKeyCreated, UnixMillis,
    Verified, WireError,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;
use uuid::Uuid;

/// One keep-alive HTTP/1.1 connection to `http.sock`, carrying the run's admin key.
pub(crate) struct HttpClient {
    sender: SendRequest<Full<Bytes>>,
    admin_key: Secret,
}

impl HttpClient {
    /// Connects to the HTTP socket at `path`.
    ///
    /// # Errors
    /// If the socket cannot be reached or the HTTP handshake fails.
    pub(crate) async fn connect(path: &Path, admin_key: Secret) -> Result<HttpClient, Error> {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|source| Error::Connect {
                path: path.to_owned(),
                source,
            })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Protocol(format!("HTTP handshake: {e}")))?;
        // The connection task ends when the daemon closes the socket (it is killed) or the
        // sender is dropped; its error then surfaces on the request in flight.
        tokio::spawn(connection);
        Ok(HttpClient { sender, admin_key })
    }

    /// Sends `op` as its route and reads the answer as the frame socket would have given it.
    ///
    /// # Errors
    /// `Error::Daemon` for an error body; any other error means the outcome is unknown.
    pub(crate) async fn call(&mut self, op: Op) -> Result<Reply, Error> {
        let (method, path, body) = route(&op)?;
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "keyward")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.admin_key.expose()),
            )
            .body(Full::new(body))
            .map_err(|e| Error::Protocol(format!("cannot build the request: {e}")))?;
        self.sender
            .ready()
            .await
            .map_err(|e| Error::Protocol(format!("HTTP connection: {e}")))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| Error::Protocol(format!("HTTP request: {e}")))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Protocol(format!("HTTP body: {e}")))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("the {status} body is not JSON: {e}")))?;
        if !status.is_success() {
            return Err(Error::Daemon(wire_error(status, &value)?));
        }
        reply(&op, value).map_err(|e| {
            // A whole 2xx body the tool cannot read is its own bug, not the daemon's crash.
            eprintln!(
                "keyward-crashtest: cannot read the HTTP reply to {}: {e}",
                name(&op)
            );
            Error::Protocol(e)
        })
    }
}

/// `op`'s method, path and JSON body.
fn route(op: &Op) -> Result<(Method, String, Option<Value>), Error> {
    Ok(match op {
        Op::SessionIssue { client_id } => (
            Method::POST,
            format!("/v1/clients/{client_id}/sessions"),
            None,
        ),
        Op::ClientCreate {
            label,
            max_sessions,
            scopes,
            ..
        } => {
            let scopes: serde_json::Map<String, Value> = scopes
                .iter()
                .map(|(name, level)| (name.clone(), Value::from(level.as_str())))
                .collect();
            (
                Method::POST,
                "/v1/clients".to_owned(),
                Some(json!({"label": label, "max_sessions": max_sessions, "scopes": scopes})),
            )
        }
        Op::TestKeyCreate { client_id } => (
            Method::POST,
            format!("/v1/clients/{client_id}/test-key"),
            None,
        ),
        Op::ApiTokenCreate {
            name,
            scopes,
            expires_in_secs,
            ..
        } => {
            let scopes: serde_json::Map<String, Value> = scopes
                .iter()
                .map(|(name, level)| (name.clone(), Value::from(level.as_str())))
                .collect();
            let mut body = json!({"name": name, "scopes": scopes});
            if let Some(secs) = expires_in_secs {
                body["expires_in"] = Value::from(format!("{secs}s"));
            }
            (Method::POST, "/v1/api-tokens".to_owned(), Some(body))
        }
        // The load verifies with no requirements; the tool sends nothing else.
        Op::Verify { token, .. } => (
            Method::POST,
            "/v1/verify".to_owned(),
            Some(json!({"token": token.expose()})),
        ),
        Op::Logout { token } => (
            Method::POST,
            "/v1/logout".to_owned(),
            Some(json!({"token": token.expose()})),
        ),
        Op::Revoke { credential_id } => (
            Method::DELETE,
            format!("/v1/credentials/{credential_id}"),
            None,
        ),
        Op::ClientRevokeSessions { client_id } => (
            Method::DELETE,
            format!("/v1/clients/{client_id}/sessions"),
            None,
        ),
        Op::ClientUpdate { client_id, update } => (
            Method::PATCH,
            format!("/v1/clients/{client_id}"),
            Some(json!({
                "label": update.label,
                "max_sessions": update.max_sessions,
                "scopes": scope_map(&update.scopes),
                "remove_scopes": update.remove_scopes,
            })),
        ),
        Op::ApiTokenUpdate { id, update } => (
            Method::PATCH,
            format!("/v1/api-tokens/{id}"),
            Some(json!({
                "name": update.label,
                "scopes": scope_map(&update.scopes),
                "remove_scopes": update.remove_scopes,
            })),
        ),
        other => {
            return Err(Error::Protocol(format!(
                "the crash loop sends no {} over HTTP",
                name(other)
            )))
        }
    })
}

/// Scopes as the JSON object `{"name": "level"}`.
fn scope_map(scopes: &Scopes) -> serde_json::Map<String, Value> {
    scopes
        .iter()
        .map(|(name, level)| (name.clone(), Value::from(level.as_str())))
        .collect()
}

/// Scopes read back from the JSON object `{"name": "level"}`.
fn scopes_from(map: BTreeMap<String, String>) -> Result<Scopes, String> {
    map.into_iter()
        .map(|(name, level)| {
            let level = level.parse::<Level>().map_err(|e| e.to_string())?;
            Ok((name, level))
        })
        .collect()
}

/// The operation's name, for messages (never its token).
fn name(op: &Op) -> &'static str {
    match op {
        Op::SessionIssue { .. } => "session issue",
        Op::ClientCreate { .. } => "client create",
        Op::TestKeyCreate { .. } => "test-key create",
        Op::ApiTokenCreate { .. } => "api-token create",
        Op::Verify { .. } => "verify",
        Op::Logout { .. } => "logout",
        Op::Revoke { .. } => "revoke",
        Op::ClientRevokeSessions { .. } => "revoke-sessions",
        Op::ClientUpdate { .. } => "client update",
        Op::ApiTokenUpdate { .. } => "api-token update",
        _ => "other operation",
    }
}

/// An error body `{"error":{"code","message"}}` as the wire error it stands for.
fn wire_error(status: StatusCode, value: &Value) -> Result<WireError, Error> {
    let error = &value["error"];
    let code = error["code"]
        .as_str()
        .ok_or_else(|| Error::Protocol(format!("a {status} without an error body: {value}")))?;
    let code = ErrorCode::ALL
        .into_iter()
        .find(|c| c.as_str() == code)
        .unwrap_or(ErrorCode::Unknown);
    let message = error["message"].as_str().unwrap_or_default();
    Ok(WireError::new(code, message))
}

/// A session as `session issue` and `client create` print it.
#[derive(Deserialize)]
struct SessionJson {
    id: Uuid,
    token: String,
    expires_at: String,
    max_expires_at: String,
}

impl SessionJson {
    fn issued(self) -> Result<SessionIssued, String> {
        Ok(SessionIssued {
            id: self.id,
            token: Secret::new(self.token),
            expires_at: floor(&self.expires_at)?,
            max_expires_at: ceil(&self.max_expires_at)?,
        })
    }
}

/// `client create`.
#[derive(Deserialize)]
struct ClientJson {
    client_id: Uuid,
    session: SessionJson,
}

/// `test-key create`.
#[derive(Deserialize)]
struct TestKeyJson {
    id: Uuid,
    token: String,
}

/// `api-token create`.
#[derive(Deserialize)]
struct ApiTokenJson {
    id: Uuid,
    principal_id: Uuid,
    token: String,
    expires_at: Option<String>,
}

/// `verify`. Scopes are not read: the model does not judge them.
#[derive(Deserialize)]
struct IdentityJson {
    principal_id: Uuid,
    kind: String,
    env: String,
    expires_at: Option<String>,
    credential_id: Uuid,
}

/// `client update`: the client's settings.
#[derive(Deserialize)]
struct ClientSettingsJson {
    client_id: Uuid,
    label: Option<String>,
    env: String,
    scopes: BTreeMap<String, String>,
    max_sessions: Option<u32>,
    external_id: Option<String>,
    meta: BTreeMap<String, String>,
}

/// `api-token update`: the token as `api-token show` has it.
#[derive(Deserialize)]
struct ApiTokenRowJson {
    principal_id: Uuid,
    id: Option<Uuid>,
    name: String,
    env: String,
    scopes: BTreeMap<String, String>,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    disabled: bool,
    external_id: Option<String>,
    meta: BTreeMap<String, String>,
    uses: u64,
}

/// `logout`, `revoke` and `revoke-sessions`.
#[derive(Deserialize)]
struct RevokedJson<T> {
    revoked: T,
}

/// A 2xx body as the reply `op` gets on the frame socket.
fn reply(op: &Op, value: Value) -> Result<Reply, String> {
    fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
    Ok(match op {
        Op::SessionIssue { .. } => Reply::SessionIssued(parse::<SessionJson>(value)?.issued()?),
        Op::ClientCreate { .. } => {
            let c: ClientJson = parse(value)?;
            Reply::ClientCreated(ClientCreated {
                client_id: c.client_id,
                session: c.session.issued()?,
            })
        }
        Op::TestKeyCreate { .. } => {
            let t: TestKeyJson = parse(value)?;
            Reply::TestKeyCreated(TestKeyCreated {
                id: t.id,
                token: Secret::new(t.token),
            })
        }
        Op::ApiTokenCreate { .. } => {
            let t: ApiTokenJson = parse(value)?;
            Reply::ApiTokenCreated(ApiTokenCreated {
                id: t.id,
                principal_id: t.principal_id,
                token: Secret::new(t.token),
                expires_at: t.expires_at.as_deref().map(ceil).transpose()?,
            })
        }
        Op::Verify { .. } => {
            let v: IdentityJson = parse(value)?;
            let kind = [
                CredentialKind::Session,
                CredentialKind::TestKey,
                CredentialKind::ApiToken,
                CredentialKind::AdminKey,
            ]
            .into_iter()
            .find(|k| k.as_str() == v.kind)
            .ok_or_else(|| format!("unknown kind {:?}", v.kind))?;
            Reply::Verified(Verified {
                principal_id: v.principal_id,
                kind,
                env: v.env.parse::<Env>().map_err(|e| e.to_string())?,
                scopes: keyward_client::Scopes::new(),
                expires_at: v.expires_at.as_deref().map(floor).transpose()?,
                credential_id: v.credential_id,
                external_id: None,
                meta: Default::default(),
            })
        }
        Op::Logout { .. } | Op::Revoke { .. } => Reply::Revoked {
            id: parse::<RevokedJson<Uuid>>(value)?.revoked,
        },
        Op::ClientRevokeSessions { .. } => Reply::RevokedCount {
            count: parse::<RevokedJson<u64>>(value)?.revoked,
        },
        Op::ClientUpdate { .. } => {
            let c: ClientSettingsJson = parse(value)?;
            Reply::ClientUpdated(ClientSettings {
                client_id: c.client_id,
                label: c.label,
                env: c.env.parse::<Env>().map_err(|e| e.to_string())?,
                scopes: scopes_from(c.scopes)?,
                max_sessions: c.max_sessions,
                external_id: c.external_id,
                meta: c.meta.into_iter().collect(),
            })
        }
        Op::ApiTokenUpdate { .. } => {
            let t: ApiTokenRowJson = parse(value)?;
            Reply::ApiToken(ApiTokenInfo {
                principal_id: t.principal_id,
                id: t.id,
                name: t.name,
                env: t.env.parse::<Env>().map_err(|e| e.to_string())?,
                scopes: scopes_from(t.scopes)?,
                created_at: floor(&t.created_at)?,
                last_used_at: t.last_used_at.as_deref().map(floor).transpose()?,
                expires_at: t.expires_at.as_deref().map(ceil).transpose()?,
                disabled: t.disabled,
                external_id: t.external_id,
                meta: t.meta.into_iter().collect(),
                uses: t.uses,
            })
        }
        other => return Err(format!("no HTTP reply for {}", name(other))),
    })
}

/// An RFC 3339 time in Unix milliseconds, at the start of its second.
fn floor(text: &str) -> Result<UnixMillis, String> {
    let at = humantime::parse_rfc3339(text).map_err(|e| format!("{text:?}: {e}"))?;
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970"))?
        .as_millis();
    UnixMillis::try_from(ms).map_err(|_| format!("{text:?} is out of range"))
}

/// An RFC 3339 time in Unix milliseconds, at the last millisecond of its second.
fn ceil(text: &str) -> Result<UnixMillis, String> {
    Ok(floor(text)? + 999)
}
