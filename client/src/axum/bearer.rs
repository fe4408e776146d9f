//! The bearer token of a request: `Authorization: Bearer <token>` (RFC 6750), read without
//! asking the daemon anything.

use crate::Secret;
use axum::http::{header, HeaderMap};

/// Tokens longer than this are refused here, unsent: a keyward token is 71 characters.
pub(crate) const MAX_TOKEN_LEN: usize = 1024;

/// Why a request has no token to verify.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoToken {
    /// No `Authorization` header, or one of another scheme: the credentials are missing.
    Missing,
    /// An `Authorization: Bearer` header that holds no usable token; says why.
    Malformed(&'static str),
}

/// The bearer token `headers` carry.
///
/// # Errors
/// [`NoToken::Missing`] without a bearer header; [`NoToken::Malformed`] for more than one
/// `Authorization` header, or a bearer value that is empty, too long or not visible ASCII.
pub(crate) fn token(headers: &HeaderMap) -> Result<Secret, NoToken> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(NoToken::Missing)?;
    // Two headers could name two identities; choosing one would let a proxy and the service
    // disagree about who is asking.
    if values.next().is_some() {
        return Err(NoToken::Malformed(
            "the request has more than one Authorization header",
        ));
    }
    let (scheme, rest) = split_scheme(value.as_bytes());
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(NoToken::Missing);
    }
    let credentials = rest.trim_ascii();
    if credentials.is_empty() {
        return Err(NoToken::Malformed("the bearer token is empty"));
    }
    if credentials.len() > MAX_TOKEN_LEN {
        return Err(NoToken::Malformed("the bearer token is too long"));
    }
    if !credentials.iter().all(u8::is_ascii_graphic) {
        return Err(NoToken::Malformed(
            "the bearer token has characters a token never has",
        ));
    }
    // Only visible ASCII is left, which converts without loss.
    let text = String::from_utf8_lossy(credentials).into_owned();
    Ok(Secret::new(text))
}

/// The scheme and what follows it (empty if nothing does).
fn split_scheme(value: &[u8]) -> (&[u8], &[u8]) {
    let value = value.trim_ascii();
    match value.iter().position(|b| *b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        headers
    }

    /// The scheme is case-insensitive and spaces around the token are ignored.
    #[test]
    fn reads_a_bearer_token() {
        for value in [&b"Bearer kw_x"[..], b"bearer kw_x", b"BEARER   kw_x "] {
            assert_eq!(token(&with(&[value])).unwrap().expose(), "kw_x");
        }
    }

    /// No header, or another scheme, is missing credentials, not a bad token.
    #[test]
    fn other_schemes_are_missing() {
        assert_eq!(token(&HeaderMap::new()).unwrap_err(), NoToken::Missing);
        for value in [&b"Basic dXNlcjpwYXNz"[..], b"kw_x", b"Bearerkw_x"] {
            assert_eq!(token(&with(&[value])).unwrap_err(), NoToken::Missing);
        }
    }

    /// A bearer header that cannot hold a token is malformed.
    #[test]
    fn bad_bearer_values_are_malformed() {
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        for value in [
            &b"Bearer"[..],
            b"Bearer  ",
            long.as_bytes(),
            b"Bearer kw x",
            b"Bearer kw\xff",
        ] {
            assert!(
                matches!(token(&with(&[value])), Err(NoToken::Malformed(_))),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        let two = with(&[b"Bearer kw_a", b"Bearer kw_b"]);
        assert!(matches!(token(&two), Err(NoToken::Malformed(_))));
    }
}
