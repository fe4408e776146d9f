//! Stable error codes: what a caller branches on. Human text rides beside them and is never parsed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a request failed. The set is stable: codes are only ever added, never renumbered.
///
/// Adding a code does not need a new [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
/// A client that meets a code newer than itself decodes it as [`ErrorCode::Unknown`], so it still
/// reads the reply (and the rest of a pipelined batch) instead of failing to decode it.
/// A new code goes after `Unknown`, so that no existing code is renumbered.
///
/// Callers branch on [`is_refusal`](ErrorCode::is_refusal) (the daemon decided against the
/// request) and [`is_retryable`](ErrorCode::is_retryable) (the daemon could not serve it now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The token is not well formed (wrong prefix, length, characters or checksum). No lookup
    /// was made.
    CredentialMalformed,
    /// The token is well formed but unknown, revoked or expired. The seeds' `INVALID_API_KEY`:
    /// the caller should obtain a fresh credential.
    CredentialInvalid,
    /// The caller is known but not allowed to do this, or lacks the requested scope level.
    Forbidden,
    /// The client already holds as many live sessions as it may.
    SessionLimit,
    /// No such object in the caller's environment.
    NotFound,
    /// The request is invalid in itself (bad argument, undecodable frame, wrong protocol).
    BadRequest,
    /// The daemon cannot serve this now (storage failure, shutting down); retrying may work.
    Unavailable,
    /// A bug or an unexpected state in the daemon.
    Internal,
    /// A code this build does not know: a newer daemon sent it.
    /// No daemon sends this one; it is neither a refusal nor retryable.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code a daemon sends, in wire order (without [`ErrorCode::Unknown`]).
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::CredentialMalformed,
        ErrorCode::CredentialInvalid,
        ErrorCode::Forbidden,
        ErrorCode::SessionLimit,
        ErrorCode::NotFound,
        ErrorCode::BadRequest,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The code as it appears in JSON output and documentation, e.g. `CREDENTIAL_INVALID`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::CredentialMalformed => "CREDENTIAL_MALFORMED",
            ErrorCode::CredentialInvalid => "CREDENTIAL_INVALID",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::SessionLimit => "SESSION_LIMIT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// Whether the daemon decided against the request itself: the credential, the caller's
    /// rights, a limit or the arguments.
    /// The same request will be refused again until something about it changes.
    pub fn is_refusal(self) -> bool {
        match self {
            ErrorCode::CredentialMalformed
            | ErrorCode::CredentialInvalid
            | ErrorCode::Forbidden
            | ErrorCode::SessionLimit
            | ErrorCode::NotFound
            | ErrorCode::BadRequest => true,
            ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::Unknown => false,
        }
    }

    /// Whether the daemon could not serve the request now (storage failing, shutting down), so
    /// that the same request, sent again later, may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Unavailable)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it travels on the wire: a code, and optional text for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct WireError {
    /// What callers branch on.
    pub code: ErrorCode,
    /// A human explanation. Never contains a secret.
    pub message: Option<String>,
}

impl WireError {
    /// An error with a code and an explanation.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: Some(message.into()),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{}: {m}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn every_code_is_a_refusal_or_a_failure() {
        for code in ErrorCode::ALL {
            assert!(
                !(code.is_refusal() && code.is_retryable()),
                "{code} is both a refusal and retryable"
            );
        }
        assert!(ErrorCode::Unavailable.is_retryable());
        assert!(!ErrorCode::Internal.is_retryable() && !ErrorCode::Internal.is_refusal());
        assert!(ErrorCode::Forbidden.is_refusal());
    }

    #[test]
    fn codes_keep_their_wire_numbers() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(codec::encode(&code).unwrap(), [i as u8], "{code}");
        }
    }

    /// A newer daemon's code reads as `Unknown`, and the rest of the reply still decodes.
    #[test]
    fn a_code_from_a_newer_daemon_decodes_as_unknown() {
        let known = WireError::new(ErrorCode::Forbidden, "no");
        let mut body = codec::encode(&known).unwrap();
        for newer in [ErrorCode::ALL.len() as u8 + 1, 200] {
            body[0] = newer;
            let read: WireError = codec::decode(&body).unwrap();
            assert_eq!(read.code, ErrorCode::Unknown);
            assert_eq!(read.message.as_deref(), Some("no"));
        }
    }
}
