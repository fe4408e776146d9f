//! The route table, read like the README's: each route builds an `Op` and hands it to the same
//! `dispatch` code the frame socket uses; no frame is encoded on the way.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Router};
use keyward_protocol::{ErrorCode, ListOrder, Op, Secret, WireError};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use uuid::Uuid;

use super::errors::{self, ApiError};
use super::json::{
    AdminKeyNew, ApiTokenChange, ApiTokenNew, AuditQuery, ClientChange, ClientNew, LogoutBody,
    PageQuery, SortedPageQuery, VerifyBody,
};
use super::MAX_BODY;
use crate::dispatch;
use crate::server::peer::Peer;
use crate::state::DaemonState;

type Shared = Arc<DaemonState>;

/// Every route: method (as OpenAPI spells it), path, handler. The router is built from this
/// table alone, and a test holds it equal to `docs/openapi.json`.
pub(crate) fn table() -> Vec<(&'static str, &'static str, MethodRouter<Shared>)> {
    use MethodFilter as M;
    vec![
        ("get", "/v1/ping", on(M::GET, ping)),
        ("post", "/v1/admin-keys", on(M::POST, admin_key_create)),
        ("get", "/v1/admin-keys", on(M::GET, admin_key_list)),
        (
            "delete",
            "/v1/admin-keys/{id}",
            on(M::DELETE, admin_key_revoke),
        ),
        ("post", "/v1/clients", on(M::POST, client_create)),
        ("get", "/v1/clients", on(M::GET, client_list)),
        ("get", "/v1/clients/{id}", on(M::GET, client_show)),
        (
            "post",
            "/v1/clients/{id}/sessions",
            on(M::POST, session_issue),
        ),
        (
            "delete",
            "/v1/clients/{id}/sessions",
            on(M::DELETE, revoke_sessions),
        ),
        (
            "post",
            "/v1/clients/{id}/test-key",
            on(M::POST, test_key_create),
        ),
        ("post", "/v1/api-tokens", on(M::POST, api_token_create)),
        ("post", "/v1/verify", on(M::POST, verify)),
        ("get", "/v1/auth", on(M::GET, super::forward_auth::auth)),
        ("post", "/v1/logout", on(M::POST, logout)),
        ("delete", "/v1/credentials/{id}", on(M::DELETE, revoke)),
        ("get", "/v1/stats", on(M::GET, stats)),
        ("get", "/v1/audit", on(M::GET, audit)),
        ("get", "/v1/openapi.json", on(M::GET, openapi)),
        ("delete", "/v1/clients/{id}", on(M::DELETE, client_delete)),
        ("get", "/v1/api-tokens", on(M::GET, api_token_list)),
        ("get", "/v1/api-tokens/{id}", on(M::GET, api_token_show)),
        (
            "patch",
            "/v1/api-tokens/{id}",
            on(M::PATCH, api_token_update),
        ),
        ("patch", "/v1/clients/{id}", on(M::PATCH, client_update)),
        ("post", "/v1/credentials/{id}/disable", on(M::POST, disable)),
        ("post", "/v1/credentials/{id}/enable", on(M::POST, enable)),
        (
            "get",
            "/v1/clients/by-external-id/{external_id}",
            on(M::GET, client_find),
        ),
    ]
}

/// The API's router, over `shared`.
pub(crate) fn router(shared: Shared) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .with_state(shared)
}

/// The message of a request no route matches; the drift test looks for it.
pub(crate) const NO_ROUTE: &str = "no such route; GET /v1/openapi.json lists them";

async fn no_route() -> ApiError {
    ApiError::Wire(WireError::new(ErrorCode::NotFound, NO_ROUTE))
}

async fn no_method() -> Response {
    let mut response =
        ApiError::bad_request("this route does not take that method").into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// The admin key from `Authorization: Bearer …`, if the header is there, or why it is
/// malformed. Only routes that need an admin key look: a proxy's own `Authorization` on any
/// other route is none of their business.
pub(crate) struct Credentials(Result<Option<Secret>, ApiError>);

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Credentials(Ok(None)));
        };
        let malformed = ApiError::Wire(WireError::new(
            ErrorCode::CredentialMalformed,
            "the Authorization header must be `Bearer kw_adm_…`",
        ));
        let bearer = value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
            })
            .map(|(_, token)| Secret::new(token.trim()));
        Ok(Credentials(bearer.map(Some).ok_or(malformed)))
    }
}

/// How long a request's body may take to arrive once its head has: `frame_timeout`, put into
/// each request's extensions by the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyDeadline(pub std::time::Duration);

impl BodyDeadline {
    /// The deadline `request` carries.
    fn of(request: &Request) -> std::time::Duration {
        request
            .extensions()
            .get::<BodyDeadline>()
            // Always set by the connection; the default only keeps a router built alone usable.
            .map_or(std::time::Duration::from_secs(5), |d| d.0)
    }
}

/// A JSON body of at most [`MAX_BODY`] bytes, whole within its [`BodyDeadline`]; an empty body
/// reads as `{}`. Malformed JSON and
/// unknown fields are 400 naming the field, whatever the `Content-Type`.
pub(crate) struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let deadline = BodyDeadline::of(&request);
        read_json(request.into_body(), deadline).await.map(Body)
    }
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes within `deadline` and decodes it; an empty
/// body reads as `{}`. Malformed JSON and unknown fields are 400 naming the field.
pub(crate) async fn read_json<T: DeserializeOwned>(
    body: axum::body::Body,
    deadline: std::time::Duration,
) -> Result<T, ApiError> {
    let read = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY));
    let bytes = tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| {
            ApiError::bad_request(format!(
                "the request body did not arrive within {} ms (frame_timeout)",
                deadline.as_millis()
            ))
        })?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::TooLarge(too_large())
            } else {
                ApiError::bad_request(format!("the request body could not be read: {e}"))
            }
        })?
        .to_bytes();
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("malformed JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("field {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
    Ok(value)
}

/// `POST /v1/verify`, which the connection calls without the router: on the hot path, the
/// router's matching and extractors are work per request that a verify does not need
/// (BENCHMARKS.md, "HTTP verify"). The router's own `verify` route calls this too.
pub(crate) async fn verify_direct(
    shared: &Shared,
    peer: Peer,
    deadline: std::time::Duration,
    body: axum::body::Body,
) -> Response {
    match read_json::<VerifyBody>(body, deadline).await {
        Ok(body) => match body.into_op() {
            Ok(op) => answer(shared, peer, Credentials(Ok(None)), op, StatusCode::OK).await,
            Err(e) => bad(e),
        },
        Err(e) => e.into_response(),
    }
}

/// The message of a body over [`MAX_BODY`].
pub(crate) fn too_large() -> String {
    format!("the request body is larger than {} bytes", MAX_BODY)
}

/// An id in the path; a malformed one is a 400.
pub(crate) struct Id(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        text.parse().map(Id).map_err(|_| {
            ApiError::bad_request(format!(
                "{text:?} is not an id: expected a UUID such as 0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978"
            ))
        })
    }
}

/// Runs `op` through `dispatch` for `peer`, answering `success` and the reply's JSON.
async fn answer(
    shared: &Shared,
    peer: Peer,
    credentials: Credentials,
    op: Op,
    success: StatusCode,
) -> Response {
    let admin_key = if op.needs_admin_key() {
        match credentials.0 {
            Ok(Some(key)) => Some(key),
            Ok(None) => return ApiError::NoCredentials.into_response(),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let request = keyward_protocol::Request {
        id: 0,
        admin_key,
        op,
    };
    match dispatch::answer_later(shared, peer, request).await.result {
        Ok(reply) => errors::json(success, keyward_protocol::json::render_reply(&reply)),
        Err(e) => ApiError::Wire(e).into_response(),
    }
}

fn bad(message: String) -> Response {
    ApiError::bad_request(message).into_response()
}

async fn ping(State(s): State<Shared>, Extension(p): Extension<Peer>, c: Credentials) -> Response {
    answer(&s, p, c, Op::Ping, StatusCode::OK).await
}

async fn admin_key_create(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Body(body): Body<AdminKeyNew>,
) -> Response {
    answer(&s, p, c, body.into(), StatusCode::CREATED).await
}

async fn admin_key_list(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    query: SortedPageQueryResult,
) -> Response {
    match sorted_page(query) {
        Ok((limit, after, order)) => {
            let op = Op::AdminKeyList {
                limit,
                after,
                order,
            };
            answer(&s, p, c, op, StatusCode::OK).await
        }
        Err(response) => response,
    }
}

async fn admin_key_revoke(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(id): Id,
) -> Response {
    answer(&s, p, c, Op::AdminKeyRevoke { id }, StatusCode::OK).await
}

async fn client_create(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Body(body): Body<ClientNew>,
) -> Response {
    match body.into_op() {
        Ok(op) => answer(&s, p, c, op, StatusCode::CREATED).await,
        Err(e) => bad(e),
    }
}

async fn client_list(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    query: SortedPageQueryResult,
) -> Response {
    match sorted_page(query) {
        Ok((limit, after, order)) => {
            let op = Op::ClientList {
                limit,
                after,
                order,
            };
            answer(&s, p, c, op, StatusCode::OK).await
        }
        Err(response) => response,
    }
}

async fn client_show(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(client_id): Id,
    query: PageQueryResult,
) -> Response {
    match page(query) {
        Ok((limit, after)) => {
            let op = Op::ClientShow {
                client_id,
                limit,
                after,
            };
            answer(&s, p, c, op, StatusCode::OK).await
        }
        Err(response) => response,
    }
}

async fn client_find(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: PageQueryResult,
) -> Response {
    let external_id = match path {
        Ok(Path(id)) => id,
        Err(e) => return bad(e.body_text()),
    };
    match page(query) {
        Ok((limit, after)) => {
            let op = Op::ClientFind {
                external_id,
                limit,
                after,
            };
            answer(&s, p, c, op, StatusCode::OK).await
        }
        Err(response) => response,
    }
}

async fn session_issue(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(client_id): Id,
) -> Response {
    answer(
        &s,
        p,
        c,
        Op::SessionIssue { client_id },
        StatusCode::CREATED,
    )
    .await
}

async fn revoke_sessions(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(client_id): Id,
) -> Response {
    let op = Op::ClientRevokeSessions { client_id };
    answer(&s, p, c, op, StatusCode::OK).await
}

async fn client_delete(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(client_id): Id,
) -> Response {
    let op = Op::ClientDelete { client_id };
    answer(&s, p, c, op, StatusCode::OK).await
}

async fn test_key_create(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(client_id): Id,
) -> Response {
    answer(
        &s,
        p,
        c,
        Op::TestKeyCreate { client_id },
        StatusCode::CREATED,
    )
    .await
}

async fn api_token_create(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Body(body): Body<ApiTokenNew>,
) -> Response {
    match body.into_op() {
        Ok(op) => answer(&s, p, c, op, StatusCode::CREATED).await,
        Err(e) => bad(e),
    }
}

async fn verify(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    request: Request,
) -> Response {
    let deadline = BodyDeadline::of(&request);
    verify_direct(&s, p, deadline, request.into_body()).await
}

async fn logout(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Body(body): Body<LogoutBody>,
) -> Response {
    answer(&s, p, c, body.into(), StatusCode::OK).await
}

async fn revoke(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(credential_id): Id,
) -> Response {
    answer(&s, p, c, Op::Revoke { credential_id }, StatusCode::OK).await
}

async fn disable(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(id): Id,
) -> Response {
    answer(&s, p, c, Op::Disable { id }, StatusCode::OK).await
}

async fn enable(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(id): Id,
) -> Response {
    answer(&s, p, c, Op::Enable { id }, StatusCode::OK).await
}

async fn stats(State(s): State<Shared>, Extension(p): Extension<Peer>, c: Credentials) -> Response {
    answer(&s, p, c, Op::Stats, StatusCode::OK).await
}

async fn audit(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(axum::extract::Query(q)) => q,
        Err(e) => return bad(e.body_text()),
    };
    match query.into_op(s.authority.now_ms()) {
        Ok(op) => answer(&s, p, c, op, StatusCode::OK).await,
        Err(e) => bad(e),
    }
}

type PageQueryResult =
    Result<axum::extract::Query<PageQuery>, axum::extract::rejection::QueryRejection>;

/// A paged list's `limit` and `after`, or the 400 that says why not.
fn page(query: PageQueryResult) -> Result<(u32, Option<String>), Response> {
    match query {
        Ok(axum::extract::Query(q)) => q.into_parts().map_err(bad),
        Err(e) => Err(bad(e.body_text())),
    }
}

type SortedPageQueryResult =
    Result<axum::extract::Query<SortedPageQuery>, axum::extract::rejection::QueryRejection>;

/// The limit, cursor and order of a sortable list, or a 400 that says what is wrong.
fn sorted_page(query: SortedPageQueryResult) -> Result<(u32, Option<String>, ListOrder), Response> {
    match query {
        Ok(axum::extract::Query(q)) => q.into_parts().map_err(bad),
        Err(e) => Err(bad(e.body_text())),
    }
}

async fn api_token_list(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    query: SortedPageQueryResult,
) -> Response {
    match sorted_page(query) {
        Ok((limit, after, order)) => {
            let op = Op::ApiTokenList {
                limit,
                after,
                order,
            };
            answer(&s, p, c, op, StatusCode::OK).await
        }
        Err(response) => response,
    }
}

async fn api_token_show(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(id): Id,
) -> Response {
    answer(&s, p, c, Op::ApiTokenShow { id }, StatusCode::OK).await
}

async fn api_token_update(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(id): Id,
    Body(body): Body<ApiTokenChange>,
) -> Response {
    match body.into_op(id) {
        Ok(op) => answer(&s, p, c, op, StatusCode::OK).await,
        Err(e) => bad(e),
    }
}

async fn client_update(
    State(s): State<Shared>,
    Extension(p): Extension<Peer>,
    c: Credentials,
    Id(client_id): Id,
    Body(body): Body<ClientChange>,
) -> Response {
    match body.into_op(client_id) {
        Ok(op) => answer(&s, p, c, op, StatusCode::OK).await,
        Err(e) => bad(e),
    }
}

async fn openapi() -> Response {
    errors::json(StatusCode::OK, super::openapi::DOCUMENT.to_owned())
}
