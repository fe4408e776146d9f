//! Stable error codes: what a caller branches on. Human text rides beside them and is never parsed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a request failed. The set is stable: codes are only ever added, never renumbered.
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
}

impl ErrorCode {
    /// Every code, in wire order.
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
        }
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
