//! `GET /v1/auth`: forward auth for nginx's `auth_request` and Caddy's `forward_auth`.
//!
//! The proxy sends the client's request head; the token comes from `Authorization: Bearer …`,
//! else the cookie named by `X-Keyward-Cookie`, else the query parameter named by
//! `X-Keyward-Query-Param` in `X-Original-URI` (nginx) or `X-Forwarded-Uri` (Caddy).
//! `X-Keyward-Require-*` carry `verify`'s requirements, and the verify is the same `Op` the
//! other routes dispatch, so it slides a session like any other verify.
//! A success is 204 with every identity header present, even when empty: older Caddy keeps a
//! header the client sent itself when the reply lacks it.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use keyward_protocol::{
    ErrorCode, Op, Reply, Requirements, ScopeRequirement, Secret, Verified, WireError,
};
use std::collections::HashMap;
use std::sync::Arc;

use super::errors::{ApiError, CHALLENGE, CREDENTIAL_MISSING};
use super::json::kind;
use crate::dispatch;
use crate::server::peer::Peer;
use crate::state::DaemonState;

/// `WWW-Authenticate` when the credential lacks a scope or level.
const INSUFFICIENT_SCOPE: &str = r#"Bearer realm="keyward", error="insufficient_scope""#;
/// `WWW-Authenticate` when the credential is malformed, unknown, expired or of the wrong
/// kind or environment.
const INVALID_TOKEN: &str = super::errors::INVALID_TOKEN;

/// The identity headers of a success, in the order they are sent.
/// The external id's is empty when the principal has none; metadata stays out of headers.
pub(crate) const IDENTITY: [&str; 7] = [
    "x-keyward-principal",
    "x-keyward-kind",
    "x-keyward-env",
    "x-keyward-credential",
    "x-keyward-scopes",
    "x-keyward-expires",
    "x-keyward-external-id",
];

/// Answers one forward-auth request from a proxy.
pub(crate) async fn auth(
    State(shared): State<Arc<DaemonState>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    answer(&shared, peer, &headers).await
}

/// [`auth`]'s answer to a request with `headers`, from `peer`. The connection calls this
/// without the router: forward auth is on the hot path of every proxied request.
pub(crate) async fn answer(shared: &Arc<DaemonState>, peer: Peer, headers: &HeaderMap) -> Response {
    let require = match requirements(headers) {
        Ok(require) => require,
        Err(message) => return ApiError::bad_request(message).into_response(),
    };
    let token = match token(headers) {
        Ok(Some(token)) => token,
        Ok(None) => return missing(),
        Err(message) => return ApiError::bad_request(message).into_response(),
    };
    let request = keyward_protocol::Request {
        id: 0,
        admin_key: None,
        op: Op::Verify { token, require },
    };
    match dispatch::answer_later(shared, peer, request).await.result {
        Ok(Reply::Verified(verified)) => success(&verified),
        Ok(_) => ApiError::Wire(WireError::new(
            ErrorCode::Internal,
            "verify answered with another reply",
        ))
        .into_response(),
        Err(e) => refusal(e),
    }
}

/// The value of header `name` as text, if it is there and not empty.
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim()).filter(|v| !v.is_empty()))
            .map_err(|_| format!("header {name}: not visible ASCII")),
    }
}

/// `verify`'s requirements from `X-Keyward-Require-*`; a bad value names its header.
fn requirements(headers: &HeaderMap) -> Result<Requirements, String> {
    let mut require = Requirements::new();
    if let Some(env) = text(headers, "x-keyward-require-env")? {
        let env = env
            .parse()
            .map_err(|e| format!("header X-Keyward-Require-Env: {e}"))?;
        require = require.env(env);
    }
    if let Some(kinds) = text(headers, "x-keyward-require-kind")? {
        for name in kinds.split(',') {
            let kind =
                kind(name.trim()).map_err(|e| format!("header X-Keyward-Require-Kind: {e}"))?;
            require = require.kind(kind);
        }
    }
    let scope = text(headers, "x-keyward-require-scope")?;
    let level = text(headers, "x-keyward-require-level")?;
    match (scope, level) {
        (Some(scope), Some(level)) => {
            let level = level
                .parse()
                .map_err(|e| format!("header X-Keyward-Require-Level: {e}"))?;
            require = require.scope(ScopeRequirement {
                scope: scope.to_owned(),
                level,
            });
        }
        (None, None) => {}
        _ => {
            return Err(
                "headers X-Keyward-Require-Scope and X-Keyward-Require-Level come together"
                    .to_owned(),
            )
        }
    }
    Ok(require)
}

/// The token, from the first place the proxy's headers name that holds one.
fn token(headers: &HeaderMap) -> Result<Option<Secret>, String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    if let Some(token) = bearer {
        return Ok(Some(Secret::new(token)));
    }
    if let Some(name) = text(headers, "x-keyward-cookie")? {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, v)| *n == name && !v.is_empty());
        if let Some((_, value)) = cookie {
            return Ok(Some(Secret::new(value.trim_matches('"'))));
        }
    }
    if let Some(name) = text(headers, "x-keyward-query-param")? {
        let uri = match text(headers, "x-original-uri")? {
            Some(uri) => Some(uri),
            None => text(headers, "x-forwarded-uri")?,
        };
        if let Some(uri) = uri {
            let uri: Uri = uri
                .parse()
                .map_err(|_| "header X-Original-URI or X-Forwarded-Uri: not a URI".to_owned())?;
            let Query(params) = Query::<HashMap<String, String>>::try_from_uri(&uri)
                .map_err(|e| format!("header X-Original-URI or X-Forwarded-Uri: {e}"))?;
            if let Some(value) = params.get(name).filter(|v| !v.is_empty()) {
                return Ok(Some(Secret::new(value.as_str())));
            }
        }
    }
    Ok(None)
}

/// 204 with every identity header.
fn success(v: &Verified) -> Response {
    let scopes = v
        .scopes
        .iter()
        .map(|(name, level)| format!("{name}={}", level.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    let expires = v
        .expires_at
        .map_or("never".to_owned(), keyward_protocol::json::rfc3339);
    let values = [
        v.principal_id.to_string(),
        v.kind.as_str().to_owned(),
        v.env.as_str().to_owned(),
        v.credential_id.to_string(),
        scopes,
        expires,
        // No control characters: the daemon refuses them in an external id.
        v.external_id.clone().unwrap_or_default(),
    ];
    let mut response = StatusCode::NO_CONTENT.into_response();
    for (name, value) in IDENTITY.into_iter().zip(values) {
        let Ok(value) = HeaderValue::from_str(&value) else {
            return ApiError::Wire(WireError::new(
                ErrorCode::Internal,
                format!("{name} is not a header value"),
            ))
            .into_response();
        };
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
    response
}

/// 401 with the bare challenge: no token anywhere the proxy named.
fn missing() -> Response {
    let body = keyward_protocol::json::render_error(
        CREDENTIAL_MISSING,
        "no token: send Authorization: Bearer …, or the cookie or query parameter the proxy names",
    );
    let mut response = super::errors::json(StatusCode::UNAUTHORIZED, body);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    response.headers_mut().insert(
        HeaderName::from_static("x-keyward-error"),
        HeaderValue::from_static(CREDENTIAL_MISSING),
    );
    response
}

/// A refused verify: 401 `invalid_token` for a bad token, 403 `insufficient_scope` for a
/// scope or level it lacks, else the API's usual status; the code in `X-Keyward-Error`.
fn refusal(e: WireError) -> Response {
    let code = e.code;
    let mut response = ApiError::Wire(e).into_response();
    let challenge = match code {
        ErrorCode::CredentialMalformed
        | ErrorCode::CredentialInvalid
        | ErrorCode::CredentialDisabled => Some(INVALID_TOKEN),
        ErrorCode::Forbidden => Some(INSUFFICIENT_SCOPE),
        _ => None,
    };
    let headers = response.headers_mut();
    if let Some(challenge) = challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    headers.insert(
        HeaderName::from_static("x-keyward-error"),
        HeaderValue::from_static(code.as_str()),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_protocol::{CredentialKind, Env, Level};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_static(n),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    /// The token comes from the bearer header, else the named cookie, else the named query
    /// parameter of the original URI.
    #[test]
    fn token_sources_in_order() {
        let found = |pairs: &[(&'static str, &str)]| {
            token(&headers(pairs))
                .unwrap()
                .map(|s| s.expose().to_owned())
        };
        let all = [
            ("authorization", "Bearer from-header"),
            ("x-keyward-cookie", "kw"),
            ("cookie", "a=1; kw=from-cookie"),
            ("x-keyward-query-param", "session"),
            ("x-original-uri", "/p?x=1&session=from-query"),
        ];
        assert_eq!(found(&all).as_deref(), Some("from-header"));
        assert_eq!(found(&all[1..]).as_deref(), Some("from-cookie"));
        assert_eq!(found(&all[3..]).as_deref(), Some("from-query"));
        let caddy = [
            ("x-keyward-query-param", "session"),
            ("x-forwarded-uri", "/p?session=kw%5Fx"),
        ];
        assert_eq!(found(&caddy).as_deref(), Some("kw_x"));
        assert_eq!(found(&[("authorization", "Basic abc")]), None);
        assert_eq!(found(&[("cookie", "kw=unnamed")]), None);
    }

    /// The requirement headers mean `verify`'s requirements; a bad value names its header.
    #[test]
    fn requirements_from_headers() {
        let require = requirements(&headers(&[
            ("x-keyward-require-env", "live"),
            ("x-keyward-require-kind", "session, api_token"),
            ("x-keyward-require-scope", "catalog-a"),
            ("x-keyward-require-level", "write"),
        ]))
        .unwrap();
        let want = Requirements::new()
            .env(Env::Live)
            .kind(CredentialKind::Session)
            .kind(CredentialKind::ApiToken)
            .scope(ScopeRequirement {
                scope: "catalog-a".into(),
                level: Level::Write,
            });
        assert_eq!(require, want);
        for (name, value) in [
            ("x-keyward-require-env", "prod"),
            ("x-keyward-require-kind", "session,cookie"),
            ("x-keyward-require-level", "root"),
        ] {
            let mut pairs = vec![(name, value)];
            if name == "x-keyward-require-level" {
                pairs.push(("x-keyward-require-scope", "a"));
            }
            let e = requirements(&headers(&pairs)).unwrap_err();
            assert!(e.to_lowercase().contains(name), "{e}");
        }
        let half = requirements(&headers(&[("x-keyward-require-scope", "a")])).unwrap_err();
        assert!(half.contains("X-Keyward-Require-Level"), "{half}");
    }
}
