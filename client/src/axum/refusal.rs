//! [`Refusal`]: why the layer or the extractor turned a request away, as the HTTP response
//! a client can act on.
//!
//! The status follows the code as in the daemon's HTTP API, the challenge follows RFC 6750,
//! and the body is the CLI's `{"error":{"code","message"}}`.

use super::bearer::NoToken;
use crate::{Error, ErrorCode};
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;

/// The challenge sent when a request carries no credentials.
const CHALLENGE: &str = r#"Bearer realm="keyward""#;
/// The challenge sent with a token that is malformed, unknown, revoked or expired.
const INVALID_TOKEN: &str = r#"Bearer realm="keyward", error="invalid_token""#;
/// The challenge sent with a token that lacks the scope or level required.
const INSUFFICIENT_SCOPE: &str = r#"Bearer realm="keyward", error="insufficient_scope""#;
/// Seconds a client should wait before trying again while the daemon cannot answer.
const RETRY_AFTER_SECS: &str = "1";

/// The code sent when a request has no bearer token; not a daemon code, since the daemon was
/// not asked.
pub const CREDENTIAL_MISSING: &str = "CREDENTIAL_MISSING";

/// A refused request: a status, its headers and a JSON error body.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    challenge: Option<&'static str>,
    retry_after: bool,
    code: &'static str,
    message: String,
}

impl Refusal {
    /// The refusal of a request without a usable bearer token.
    pub(crate) fn no_token(why: NoToken) -> Refusal {
        match why {
            NoToken::Missing => Refusal {
                status: StatusCode::UNAUTHORIZED,
                challenge: Some(CHALLENGE),
                retry_after: false,
                code: CREDENTIAL_MISSING,
                message: "send a keyward token as Authorization: Bearer <token>".to_owned(),
            },
            NoToken::Malformed(why) => {
                Refusal::from_code(ErrorCode::CredentialMalformed, why.to_owned())
            }
        }
    }

    /// The refusal of a request whose verify failed with `error`.
    pub(crate) fn from_error(error: &Error) -> Refusal {
        if let Error::Daemon(wire) = error {
            let message = wire
                .message
                .clone()
                .unwrap_or_else(|| wire.code.as_str().to_owned());
            return Refusal::from_code(wire.code, message);
        }
        // The connection's details (the socket's path, the daemon's uid) are the service's
        // business, not its clients'.
        if error.is_retryable() || error.is_unreachable() {
            Refusal::from_code(
                ErrorCode::Unavailable,
                "keyward cannot verify the token now; try again".to_owned(),
            )
        } else {
            Refusal::from_code(
                ErrorCode::Internal,
                "keyward could not verify the token".to_owned(),
            )
        }
    }

    /// The refusal of a handler that asks for [`super::Verified`] on a route the layer does
    /// not cover: a mistake in the service, refused rather than served unverified.
    pub(crate) fn no_layer() -> Refusal {
        Refusal::from_code(
            ErrorCode::Internal,
            "no keyward layer verified this request".to_owned(),
        )
    }

    fn from_code(code: ErrorCode, message: String) -> Refusal {
        let (status, challenge) = match code {
            ErrorCode::CredentialMalformed
            | ErrorCode::CredentialInvalid
            | ErrorCode::CredentialDisabled => (StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN)),
            ErrorCode::Forbidden => (StatusCode::FORBIDDEN, Some(INSUFFICIENT_SCOPE)),
            ErrorCode::NotFound => (StatusCode::NOT_FOUND, None),
            ErrorCode::SessionLimit | ErrorCode::Conflict => (StatusCode::CONFLICT, None),
            ErrorCode::BadRequest => (StatusCode::BAD_REQUEST, None),
            ErrorCode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            ErrorCode::Internal | ErrorCode::Unknown => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        Refusal {
            status,
            challenge,
            retry_after: code == ErrorCode::Unavailable,
            code: code.as_str(),
            message,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WireError;

    fn daemon(code: ErrorCode) -> Response<Body> {
        Refusal::from_error(&Error::Daemon(WireError::new(code, "no"))).into_response()
    }

    fn header(response: &Response<Body>, name: header::HeaderName) -> Option<&str> {
        response.headers().get(name).map(|v| v.to_str().unwrap())
    }

    /// Each case of the issue's table: status, challenge and Retry-After.
    #[test]
    fn statuses_and_challenges() {
        let missing = Refusal::no_token(NoToken::Missing).into_response();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&missing, header::WWW_AUTHENTICATE), Some(CHALLENGE));
        for code in [
            ErrorCode::CredentialMalformed,
            ErrorCode::CredentialInvalid,
            ErrorCode::CredentialDisabled,
        ] {
            let r = daemon(code);
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(header(&r, header::WWW_AUTHENTICATE), Some(INVALID_TOKEN));
        }
        let forbidden = daemon(ErrorCode::Forbidden);
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            header(&forbidden, header::WWW_AUTHENTICATE),
            Some(INSUFFICIENT_SCOPE)
        );
        let unavailable = daemon(ErrorCode::Unavailable);
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&unavailable, header::RETRY_AFTER), Some("1"));
        assert_eq!(daemon(ErrorCode::Internal).status(), 500);
    }

    /// A daemon nobody could reach, or a connection that broke, is a 503 that hides the path.
    #[test]
    fn unreachable_is_unavailable() {
        let unreachable = Error::Connect {
            path: "/run/secret-place/keyward.sock".into(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        let refusal = Refusal::from_error(&unreachable);
        assert_eq!(refusal.code, "UNAVAILABLE");
        assert!(!refusal.message.contains("secret-place"));
        let response = refusal.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let untrusted = Error::UntrustedDaemon {
            path: "/tmp/s".into(),
            uid: 1000,
        };
        assert_eq!(Refusal::from_error(&untrusted).status, 500);
    }
}
