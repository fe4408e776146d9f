//! From an error code to an HTTP status, in one place: the body is the CLI's
//! `{"error":{"code","message"}}`, the status and headers follow the code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_protocol::{ErrorCode, WireError};

/// `WWW-Authenticate` when no credential was sent.
pub(crate) const CHALLENGE: &str = r#"Bearer realm="keyward""#;
/// `WWW-Authenticate` when the credential sent is malformed or invalid.
pub(crate) const INVALID_TOKEN: &str = r#"Bearer realm="keyward", error="invalid_token""#;
/// The body's code when no credential was sent at all: an HTTP-only code (no frame carries it),
/// the same one `keyward_client::axum` answers, since neither `FORBIDDEN` (403) nor
/// `CREDENTIAL_INVALID` (a credential was sent) says that the credential is missing.
pub(crate) const CREDENTIAL_MISSING: &str = "CREDENTIAL_MISSING";
/// `Retry-After` on 503, in seconds: the daemon's outages (a full disk, a reopened store,
/// every slot taken) last about that long before a retry may succeed.
pub(crate) const RETRY_AFTER_SECS: &str = "1";

/// An error answered over HTTP.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The daemon's answer, or a request it refused before dispatch.
    Wire(WireError),
    /// A route that needs an admin key got no `Authorization` header.
    NoCredentials,
    /// The body is larger than the API accepts.
    TooLarge(String),
}

impl ApiError {
    /// A `BAD_REQUEST` with `message`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::Wire(WireError::new(ErrorCode::BadRequest, message))
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> ApiError {
        ApiError::Wire(e)
    }
}

/// The status each code answers with.
pub(crate) fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::CredentialMalformed
        | ErrorCode::CredentialInvalid
        | ErrorCode::CredentialDisabled => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::SessionLimit | ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal | ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error body.
fn body(code: &str, message: &str) -> String {
    keyward_protocol::json::render_error(code, message)
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NoCredentials => {
                let mut response = json(
                    StatusCode::UNAUTHORIZED,
                    body(
                        CREDENTIAL_MISSING,
                        "this route needs an admin key: send Authorization: Bearer kw_adm_…",
                    ),
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
                response
            }
            ApiError::TooLarge(message) => json(
                StatusCode::PAYLOAD_TOO_LARGE,
                body(ErrorCode::BadRequest.as_str(), &message),
            ),
            ApiError::Wire(e) => {
                let message = e.message.as_deref().unwrap_or(e.code.as_str());
                let mut response = json(status(e.code), body(e.code.as_str(), message));
                let headers = response.headers_mut();
                match e.code {
                    ErrorCode::CredentialMalformed
                    | ErrorCode::CredentialInvalid
                    | ErrorCode::CredentialDisabled => {
                        headers.insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static(INVALID_TOKEN),
                        );
                    }
                    ErrorCode::Unavailable => {
                        headers.insert(
                            header::RETRY_AFTER,
                            HeaderValue::from_static(RETRY_AFTER_SECS),
                        );
                    }
                    _ => {}
                }
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code answers with the status of the issue's table.
    #[test]
    fn status_per_code() {
        use ErrorCode::*;
        let table = [
            (CredentialMalformed, 401),
            (CredentialInvalid, 401),
            (CredentialDisabled, 401),
            (Forbidden, 403),
            (NotFound, 404),
            (SessionLimit, 409),
            (BadRequest, 400),
            (Unavailable, 503),
            (Internal, 500),
        ];
        for (code, want) in table {
            assert_eq!(status(code).as_u16(), want, "{code:?}");
        }
    }
}
