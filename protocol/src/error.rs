//! Stable error codes: what a caller branches on. Human text rides beside them and is never parsed.

use serde::de::{self, EnumAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a request failed. The set is stable: codes are only ever added, never renumbered.
///
/// Adding a code does not need a new [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
/// A client that meets a code newer than itself decodes it as [`ErrorCode::Unknown`], so it still
/// reads the reply (and the rest of a pipelined batch) instead of failing to decode it.
/// Each code's wire tag is [`ErrorCode::tag`]: `Unknown` holds tag 8, and codes added after it
/// take 9 and up, so no tag ever changes (serde is implemented by hand for that).
///
/// Callers branch on [`is_refusal`](ErrorCode::is_refusal) (the daemon decided against the
/// request) and [`is_retryable`](ErrorCode::is_retryable) (the daemon could not serve it now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    Unknown,
    /// The credential, or the client or API token it belongs to, has been disabled by an
    /// operator. Unlike [`ErrorCode::CredentialInvalid`], a fresh credential will not help:
    /// the caller must not refresh, but ask its operator.
    CredentialDisabled,
    /// The request would break a uniqueness rule: another client or API token of the same
    /// environment already has the external id given. Pick another, or find the holder.
    Conflict,
}

impl ErrorCode {
    /// Every code a daemon sends, in wire order (without [`ErrorCode::Unknown`]).
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::CredentialMalformed,
        ErrorCode::CredentialInvalid,
        ErrorCode::Forbidden,
        ErrorCode::SessionLimit,
        ErrorCode::NotFound,
        ErrorCode::BadRequest,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::CredentialDisabled,
        ErrorCode::Conflict,
    ];

    /// Every code by its wire tag: the position is the tag.
    const BY_TAG: [ErrorCode; 11] = [
        ErrorCode::CredentialMalformed,
        ErrorCode::CredentialInvalid,
        ErrorCode::Forbidden,
        ErrorCode::SessionLimit,
        ErrorCode::NotFound,
        ErrorCode::BadRequest,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::Unknown,
        ErrorCode::CredentialDisabled,
        ErrorCode::Conflict,
    ];

    /// The tag the codec writes for the code; never changes once given.
    pub fn tag(self) -> u32 {
        // The enum's declaration order is the tag order.
        self as u32
    }

    /// The code with wire tag `tag`: [`ErrorCode::Unknown`] for one this build does not know.
    pub fn from_tag(tag: u64) -> ErrorCode {
        usize::try_from(tag)
            .ok()
            .and_then(|i| ErrorCode::BY_TAG.get(i).copied())
            .unwrap_or(ErrorCode::Unknown)
    }

    /// The variant's Rust name, which self-describing formats (JSON) carry.
    fn variant(self) -> &'static str {
        match self {
            ErrorCode::CredentialMalformed => "CredentialMalformed",
            ErrorCode::CredentialInvalid => "CredentialInvalid",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::SessionLimit => "SessionLimit",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::BadRequest => "BadRequest",
            ErrorCode::Unavailable => "Unavailable",
            ErrorCode::Internal => "Internal",
            ErrorCode::Unknown => "Unknown",
            ErrorCode::CredentialDisabled => "CredentialDisabled",
            ErrorCode::Conflict => "Conflict",
        }
    }

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
            ErrorCode::CredentialDisabled => "CREDENTIAL_DISABLED",
            ErrorCode::Conflict => "CONFLICT",
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
            | ErrorCode::BadRequest
            | ErrorCode::CredentialDisabled
            | ErrorCode::Conflict => true,
            ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::Unknown => false,
        }
    }

    /// Whether the daemon could not serve the request now (storage failing, shutting down), so
    /// that the same request, sent again later, may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Unavailable)
    }
}

/// The variant names, for `deserialize_enum`.
const VARIANTS: [&str; 11] = [
    "CredentialMalformed",
    "CredentialInvalid",
    "Forbidden",
    "SessionLimit",
    "NotFound",
    "BadRequest",
    "Unavailable",
    "Internal",
    "Unknown",
    "CredentialDisabled",
    "Conflict",
];

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit_variant("ErrorCode", self.tag(), self.variant())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ErrorCode, D::Error> {
        d.deserialize_enum("ErrorCode", &VARIANTS, CodeVisitor)
    }
}

/// Reads an `ErrorCode` enum: any tag or name this build does not know is `Unknown`.
struct CodeVisitor;

impl<'de> Visitor<'de> for CodeVisitor {
    type Value = ErrorCode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an error code")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<ErrorCode, A::Error> {
        let (Tag(code), variant) = data.variant::<Tag>()?;
        variant.unit_variant()?;
        Ok(code)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<ErrorCode, E> {
        Ok(by_name(name))
    }
}

/// An enum's variant identifier: a tag (bincode) or a name (JSON).
struct Tag(ErrorCode);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tag, D::Error> {
        d.deserialize_identifier(TagVisitor)
    }
}

struct TagVisitor;

impl Visitor<'_> for TagVisitor {
    type Value = Tag;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an error code's tag or name")
    }

    fn visit_u64<E: de::Error>(self, tag: u64) -> Result<Tag, E> {
        Ok(Tag(ErrorCode::from_tag(tag)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Tag, E> {
        Ok(Tag(by_name(name)))
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<Tag, E> {
        Ok(Tag(
            std::str::from_utf8(name).map_or(ErrorCode::Unknown, by_name)
        ))
    }
}

fn by_name(name: &str) -> ErrorCode {
    ErrorCode::BY_TAG
        .into_iter()
        .find(|c| c.variant() == name)
        .unwrap_or(ErrorCode::Unknown)
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
        // 8 is `Unknown`, which no daemon sends; codes added after it count on from 9.
        let tags = [0u8, 1, 2, 3, 4, 5, 6, 7, 9, 10];
        for (code, tag) in ErrorCode::ALL.into_iter().zip(tags) {
            assert_eq!(codec::encode(&code).unwrap(), [tag], "{code}");
            let back: ErrorCode = codec::decode(&[tag]).unwrap();
            assert_eq!(back, code);
        }
        assert_eq!(codec::encode(&ErrorCode::Unknown).unwrap(), [8]);
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
