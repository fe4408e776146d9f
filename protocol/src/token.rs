//! The token format: generation, parsing and checksum.
//!
//! A token reads `kw_<kind>_<env>_<body>`, for example `kw_ses_live_0h3k…`:
//! - `kind` is `adm` (admin key), `ses` (session), `tst` (test key) or `api` (API token);
//! - `env` is `live` or `test`;
//! - `body` is 58 characters of lowercase base32hex (RFC 4648 §7, no padding) encoding 32 bytes
//!   from the OS CSPRNG (`getrandom`, fetched 64 tokens' worth at a time) followed by a
//!   big-endian CRC-32 of the prefix and those bytes.
//!
//! Only `[a-z0-9_]` appear, which are safe unquoted in a shell, a URL and an HTTP header. The
//! prefix is part of the token and is covered by the checksum, so a token with its prefix cut
//! off, or with another kind's prefix pasted on, is refused before any lookup, with a message
//! that says what is wrong (the forum seed's user lost an hour to a `TOKEN-` prefix that looked
//! like a label). The other common mistakes are named too: quotes copied along, uppercase, a
//! prefix missing its first characters, and a character outside the body's alphabet (`0-9a-v`),
//! counted from 1.
//!
//! The daemon stores only [`hash`] of a token: SHA-256 of its full text. The 256 random bits make
//! the hash irreversible, so a copy of the data dir yields no usable token.

use crate::{CredentialKind, Env, Secret};
use data_encoding::BASE32_DNSSEC;
use sha2::{Digest, Sha256};
use std::fmt;

/// Bytes of CSPRNG output in every token.
pub const RANDOM_LEN: usize = 32;
/// Bytes of checksum appended to the random bytes.
const CHECKSUM_LEN: usize = 4;
/// Characters in the base32 body.
pub const BODY_LEN: usize = 58;
/// Every token starts with this.
pub const PREFIX: &str = "kw_";
/// Characters in a whole token.
pub const TOKEN_LEN: usize = PREFIX.len() + 4 + 5 + BODY_LEN;

/// A stored token hash: SHA-256 of the token text.
pub type TokenHash = [u8; 32];

/// The parts of a well-formed token. Holds no secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenInfo {
    /// What the token claims to be.
    pub kind: CredentialKind,
    /// The environment it claims.
    pub env: Env,
}

/// Why a token is not well formed. Messages never include the token's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    /// Nothing was given.
    #[error("the token is empty")]
    Empty,
    /// The token came with the quotes around it, as copied from JSON or a config file.
    #[error("the token is wrapped in quotes: remove the surrounding quote characters")]
    Quoted,
    /// Spaces, line breaks or control characters were pasted in.
    #[error(
        "the token contains whitespace or control characters: copy it exactly, without spaces or line breaks"
    )]
    Whitespace,
    /// Uppercase letters, as when a token was retyped or passed through something that
    /// uppercases.
    #[error(
        "the token contains uppercase letters: keyward tokens are all lowercase; copy it exactly"
    )]
    Uppercase,
    /// A token body without its `kw_<kind>_<env>_` prefix.
    #[error(
        "the token is missing its prefix: the leading 'kw_<kind>_<env>_' is part of the token, not a label; copy the whole value"
    )]
    MissingPrefix,
    /// A token body with only the end of its prefix, as when the first characters were not
    /// selected while copying.
    #[error(
        "the token's prefix is cut short: it must start with the whole 'kw_<kind>_<env>_' (for example 'kw_ses_live_'), which is part of the token; copy the whole value"
    )]
    TruncatedPrefix,
    /// Not a keyward token at all.
    #[error(
        "not a keyward token: keyward tokens start with 'kw_', and that prefix is part of the token"
    )]
    NotKeyward,
    /// The kind after `kw_` is not one keyward issues.
    #[error("unknown token kind after 'kw_': expected adm, ses, tst or api")]
    UnknownKind,
    /// The environment is not `live` or `test`.
    #[error("unknown token environment: expected 'live' or 'test' after the kind")]
    UnknownEnv,
    /// The token is too short, as when cut off while copying.
    #[error("the token is {found} characters long but should be {TOKEN_LEN}: it looks truncated")]
    Truncated {
        /// Characters found.
        found: usize,
    },
    /// The token is too long, as when two values were pasted together.
    #[error("the token is {found} characters long but should be {TOKEN_LEN}: extra characters were pasted")]
    TooLong {
        /// Characters found.
        found: usize,
    },
    /// A character that never appears in a token body.
    #[error(
        "the token has a character at position {position} (counting from 1) that never appears in keyward tokens: after the 'kw_<kind>_<env>_' prefix come only 0-9 and a-v (lowercase base32hex)"
    )]
    BadCharacter {
        /// One-based character position, as people count.
        position: usize,
    },
    /// The checksum does not match.
    #[error("the token's checksum does not match: it was mistyped or altered")]
    Checksum,
}

/// Whether `b` can appear in a token body: lowercase base32hex, `0-9a-v`.
fn is_body_byte(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'v').contains(&b)
}

/// Quote characters people copy along with a token: ASCII and typographic ones.
const QUOTES: [char; 7] = [
    '"', '\'', '`', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}',
];

fn kind_code(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AdminKey => "adm",
        CredentialKind::Session => "ses",
        CredentialKind::TestKey => "tst",
        CredentialKind::ApiToken => "api",
    }
}

fn kind_from_code(code: &str) -> Option<CredentialKind> {
    Some(match code {
        "adm" => CredentialKind::AdminKey,
        "ses" => CredentialKind::Session,
        "tst" => CredentialKind::TestKey,
        "api" => CredentialKind::ApiToken,
        _ => return None,
    })
}

fn prefix_of(kind: CredentialKind, env: Env) -> String {
    format!("{PREFIX}{}_{}_", kind_code(kind), env.as_str())
}

fn checksum(prefix: &str, random: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = crc32fast::Hasher::new();
    h.update(prefix.as_bytes());
    h.update(random);
    h.finalize().to_be_bytes()
}

fn encode_body(prefix: &str, random: &[u8; RANDOM_LEN]) -> String {
    let mut raw = [0u8; RANDOM_LEN + CHECKSUM_LEN];
    raw[..RANDOM_LEN].copy_from_slice(random);
    raw[RANDOM_LEN..].copy_from_slice(&checksum(prefix, random));
    BASE32_DNSSEC.encode(&raw)
}

/// Why a token could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("the OS random number generator failed: {0}")]
pub struct RandomError(getrandom::Error);

/// Tokens' worth of OS randomness fetched per `getrandom` call.
const POOL_TOKENS: usize = 64;

/// OS CSPRNG output fetched ahead, so that one system call serves [`POOL_TOKENS`] tokens: a
/// session issue is otherwise one system call in four. The bytes are handed out unaltered and
/// each is zeroed as it is taken, so no two tokens share any, and what was handed out does not
/// linger. A pool is per thread and never crosses a `fork` (keywardd does not fork).
struct Pool {
    bytes: [u8; RANDOM_LEN * POOL_TOKENS],
    /// The first byte not yet handed out.
    next: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool {
            bytes: [0; RANDOM_LEN * POOL_TOKENS],
            next: RANDOM_LEN * POOL_TOKENS,
        })
    };
}

/// Fills `out` from the thread's pool of OS randomness, refilling it when it runs out.
fn os_random(out: &mut [u8; RANDOM_LEN]) -> Result<(), RandomError> {
    POOL.with_borrow_mut(|pool| {
        if pool.next + RANDOM_LEN > pool.bytes.len() {
            getrandom::getrandom(&mut pool.bytes).map_err(RandomError)?;
            pool.next = 0;
        }
        let taken = &mut pool.bytes[pool.next..pool.next + RANDOM_LEN];
        out.copy_from_slice(taken);
        taken.fill(0);
        pool.next += RANDOM_LEN;
        Ok(())
    })
}

/// Generates a new token of `kind` in `env` from the OS CSPRNG.
///
/// # Errors
/// Only if the operating system's random source fails.
pub fn generate(kind: CredentialKind, env: Env) -> Result<Secret, RandomError> {
    let mut random = [0u8; RANDOM_LEN];
    os_random(&mut random)?;
    let token = assemble(kind, env, &random);
    random.fill(0);
    Ok(token)
}

/// Builds the token for given random bytes. Public so tests and fuzzers can make valid tokens.
pub fn assemble(kind: CredentialKind, env: Env, random: &[u8; RANDOM_LEN]) -> Secret {
    let prefix = prefix_of(kind, env);
    let body = encode_body(&prefix, random);
    Secret::new(prefix + &body)
}

/// Checks that `text` is a well-formed token and says what it claims to be.
///
/// # Errors
/// A [`MalformedToken`] that names the first problem found.
pub fn parse(text: &str) -> Result<TokenInfo, MalformedToken> {
    parse_shape(text).map_err(|err| name_mistake(text, err))
}

/// `err`, or the common mistake that caused it: quotes copied along, or uppercase. Looked for
/// only once `text` has failed, so a valid token never pays for it (this is verify's path).
fn name_mistake(text: &str, err: MalformedToken) -> MalformedToken {
    if err == MalformedToken::Empty {
        err
    } else if text.starts_with(QUOTES) || text.ends_with(QUOTES) {
        MalformedToken::Quoted
    } else if err != MalformedToken::Whitespace
        && text.bytes().any(|b| b.is_ascii_uppercase())
        && looks_uppercased(text)
    {
        MalformedToken::Uppercase
    } else {
        err
    }
}

/// [`parse`] without naming quotes and uppercase.
fn parse_shape(text: &str) -> Result<TokenInfo, MalformedToken> {
    if text.is_empty() {
        return Err(MalformedToken::Empty);
    }
    // Tokens are ASCII, so the common case skips decoding characters (this is verify's path).
    let ascii = text.is_ascii();
    let spaced = if ascii {
        text.bytes().any(|b| b == b' ' || b.is_ascii_control())
    } else {
        text.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if spaced {
        return Err(MalformedToken::Whitespace);
    }
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return Err(without_prefix(text));
    };
    let mut parts = rest.splitn(3, '_');
    let kind = parts
        .next()
        .and_then(kind_from_code)
        .ok_or(MalformedToken::UnknownKind)?;
    let env = match parts.next() {
        Some("live") => Env::Live,
        Some("test") => Env::Test,
        _ => return Err(MalformedToken::UnknownEnv),
    };
    let found = if ascii {
        text.len()
    } else {
        text.chars().count()
    };
    if found < TOKEN_LEN {
        return Err(MalformedToken::Truncated { found });
    }
    if found > TOKEN_LEN {
        return Err(MalformedToken::TooLong { found });
    }
    let prefix_len = TOKEN_LEN - BODY_LEN;
    let body = &text[prefix_len..];
    if let Some(offset) = body.bytes().position(|b| !is_body_byte(b)) {
        // The prefix is ASCII, so the body's byte offset counts characters up to the first
        // non-ASCII one, which is where `position` stops.
        return Err(MalformedToken::BadCharacter {
            position: prefix_len + offset + 1,
        });
    }
    // Decoded on the stack: no allocation on verify's path.
    let mut raw = [0u8; RANDOM_LEN + CHECKSUM_LEN];
    match BASE32_DNSSEC.decode_len(body.len()) {
        Ok(len) if len == raw.len() => {}
        _ => return Err(MalformedToken::Checksum),
    }
    BASE32_DNSSEC
        .decode_mut(body.as_bytes(), &mut raw)
        .map_err(|_| MalformedToken::Checksum)?;
    let (random, sum) = raw.split_at(RANDOM_LEN);
    if checksum(&text[..prefix_len], random) != sum {
        return Err(MalformedToken::Checksum);
    }
    Ok(TokenInfo { kind, env })
}

/// Whether `text`, lowercased, has a token's shape: a known prefix or a bare body. Only then is
/// uppercase the mistake to name; other text is simply not a keyward token.
fn looks_uppercased(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with(PREFIX) || !matches!(without_prefix(&lower), MalformedToken::NotKeyward)
}

/// What is wrong with `text`, which does not start with [`PREFIX`]: a bare body, a body after
/// the end of a prefix, or something else altogether.
fn without_prefix(text: &str) -> MalformedToken {
    let Some(head_len) = text.len().checked_sub(BODY_LEN) else {
        return MalformedToken::NotKeyward;
    };
    let (head, body) = text.split_at_checked(head_len).unwrap_or((text, ""));
    if body.len() != BODY_LEN || !body.bytes().all(is_body_byte) {
        return MalformedToken::NotKeyward;
    }
    if head.is_empty() {
        return MalformedToken::MissingPrefix;
    }
    let kinds = ["adm", "ses", "tst", "api"];
    let envs = ["live", "test"];
    let cut_short = kinds.iter().any(|kind| {
        envs.iter()
            .any(|env| format!("{PREFIX}{kind}_{env}_").ends_with(head))
    });
    if cut_short {
        MalformedToken::TruncatedPrefix
    } else {
        MalformedToken::NotKeyward
    }
}

/// The stored form of a token: SHA-256 of its full text.
pub fn hash(text: &str) -> TokenHash {
    Sha256::digest(text.as_bytes()).into()
}

impl fmt::Display for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        assemble(CredentialKind::Session, Env::Live, &[7u8; RANDOM_LEN])
            .expose()
            .to_owned()
    }

    /// The ASCII fast path finds exactly the characters that the general rule (Unicode
    /// whitespace or control) finds, wherever they stand, and a non-ASCII token takes the
    /// general path to the same verdicts.
    #[test]
    fn ascii_fast_path_agrees_with_the_general_rule() {
        let token = sample();
        for byte in 0u8..=0x7f {
            let c = char::from(byte);
            for at in [0, 3, 12, token.len()] {
                let mut text = token.clone();
                text.insert(at, c);
                let spaced = c.is_whitespace() || c.is_control();
                assert_eq!(
                    parse(&text) == Err(MalformedToken::Whitespace),
                    spaced,
                    "byte {byte:#04x} at {at}"
                );
            }
        }
        let mut wide = token.clone();
        wide.replace_range(token.len() - 1.., "\u{e9}");
        assert_eq!(
            parse(&wide),
            Err(MalformedToken::BadCharacter {
                position: TOKEN_LEN
            })
        );
        assert_eq!(
            parse(&format!("{token}\u{a0}")),
            Err(MalformedToken::Whitespace)
        );
        assert_eq!(
            parse(&format!(
                "{}\u{e9}{}",
                &token[..token.len() - 2],
                &token[token.len() - 1..]
            )),
            Err(MalformedToken::BadCharacter {
                position: TOKEN_LEN - 1
            })
        );
    }

    /// Generated tokens have the documented shape and parse back to their kind and env.
    /// Across several refills of the pool every token is distinct, and the bytes handed out
    /// are zeroed in the pool.
    #[test]
    fn pooled_randomness_is_never_reused() {
        let tokens: std::collections::HashSet<String> = (0..POOL_TOKENS * 3 + 5)
            .map(|_| {
                generate(CredentialKind::Session, Env::Live)
                    .unwrap()
                    .expose()
                    .to_owned()
            })
            .collect();
        assert_eq!(tokens.len(), POOL_TOKENS * 3 + 5);
        POOL.with_borrow(|pool| {
            assert!(pool.bytes[..pool.next].iter().all(|&b| b == 0));
            assert!(pool.bytes[pool.next..].iter().any(|&b| b != 0));
        });
    }

    #[test]
    fn generated_tokens_parse() {
        for kind in [
            CredentialKind::AdminKey,
            CredentialKind::Session,
            CredentialKind::TestKey,
            CredentialKind::ApiToken,
        ] {
            for env in [Env::Live, Env::Test] {
                let t = generate(kind, env).unwrap();
                let text = t.expose();
                assert_eq!(text.len(), TOKEN_LEN, "{kind} {env}");
                assert!(text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
                assert_eq!(parse(text).unwrap(), TokenInfo { kind, env });
            }
        }
    }

    /// Two generated tokens differ: the randomness is real.
    #[test]
    fn tokens_are_unique() {
        let a = generate(CredentialKind::Session, Env::Live).unwrap();
        let b = generate(CredentialKind::Session, Env::Live).unwrap();
        assert_ne!(a, b);
        assert_ne!(hash(a.expose()), hash(b.expose()));
    }

    /// A token cut short says it looks truncated.
    #[test]
    fn truncated() {
        let t = sample();
        let err = parse(&t[..t.len() - 5]).unwrap_err();
        assert_eq!(
            err,
            MalformedToken::Truncated {
                found: TOKEN_LEN - 5
            }
        );
        assert!(err.to_string().contains("truncated"));
    }

    /// Extra characters are reported as such.
    #[test]
    fn too_long() {
        let t = sample() + "a";
        assert!(matches!(parse(&t), Err(MalformedToken::TooLong { .. })));
    }

    /// A body without its prefix is recognised, and the message says the prefix belongs to it.
    #[test]
    fn missing_prefix_explains_itself() {
        let t = sample();
        let err = parse(&t[TOKEN_LEN - BODY_LEN..]).unwrap_err();
        assert_eq!(err, MalformedToken::MissingPrefix);
        assert!(err.to_string().contains("part of the token"));
        let err = parse("TOKEN-da921ac3-ab8a-437b").unwrap_err();
        assert_eq!(err, MalformedToken::NotKeyward);
        assert!(err.to_string().contains("part of the token"));
    }

    /// One mistyped character fails the checksum.
    #[test]
    fn mistyped_character_fails_checksum() {
        let mut t = sample().into_bytes();
        let i = TOKEN_LEN - 10;
        t[i] = if t[i] == b'a' { b'b' } else { b'a' };
        let t = String::from_utf8(t).unwrap();
        assert_eq!(parse(&t), Err(MalformedToken::Checksum));
    }

    /// Swapping the kind in the prefix fails the checksum, since the prefix is covered.
    #[test]
    fn relabelled_kind_fails_checksum() {
        let t = sample().replacen("kw_ses_", "kw_tst_", 1);
        assert_eq!(parse(&t), Err(MalformedToken::Checksum));
    }

    /// Uppercase, whitespace, unknown kinds and envs are each named.
    #[test]
    fn other_mistakes_are_named() {
        let t = sample();
        assert_eq!(parse(""), Err(MalformedToken::Empty));
        assert_eq!(parse(&format!("{t}\n")), Err(MalformedToken::Whitespace));
        assert_eq!(parse(&t.to_uppercase()), Err(MalformedToken::Uppercase));
        let upper_body = format!("{}{}", &t[..12], t[12..].to_uppercase());
        assert_eq!(parse(&upper_body), Err(MalformedToken::Uppercase));
        assert_eq!(
            parse(&t.replacen("_ses_", "_xyz_", 1)),
            Err(MalformedToken::UnknownKind)
        );
        assert_eq!(
            parse(&t.replacen("_live_", "_prod_", 1)),
            Err(MalformedToken::UnknownEnv)
        );
    }

    /// A character outside the body's alphabet is counted from 1, and the message names the
    /// real alphabet, `0-9a-v`: `w` to `z` look like token characters but are not.
    #[test]
    fn bad_character_names_the_alphabet_and_counts_from_one() {
        let t = sample();
        let prefix_len = TOKEN_LEN - BODY_LEN;
        let mut bad = t.clone().into_bytes();
        bad[prefix_len] = b'w';
        let err = parse(std::str::from_utf8(&bad).unwrap()).unwrap_err();
        assert_eq!(
            err,
            MalformedToken::BadCharacter {
                position: prefix_len + 1
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("position 13 (counting from 1)"), "{msg}");
        assert!(msg.contains("0-9 and a-v"), "{msg}");
        assert!(!msg.contains("a-z"), "{msg}");
        let mut last = t.into_bytes();
        last[TOKEN_LEN - 1] = b'-';
        assert_eq!(
            parse(std::str::from_utf8(&last).unwrap()),
            Err(MalformedToken::BadCharacter {
                position: TOKEN_LEN
            })
        );
    }

    /// Quotes copied along with a token, from JSON or a config file, are named as such.
    #[test]
    fn surrounding_quotes_are_named() {
        let t = sample();
        for quoted in [
            format!("\"{t}\""),
            format!("'{t}'"),
            format!("\"{t}"),
            format!("{t}'"),
            format!("\u{201c}{t}\u{201d}"),
            format!("`{t}`"),
        ] {
            let err = parse(&quoted).unwrap_err();
            assert_eq!(err, MalformedToken::Quoted, "{quoted}");
            assert!(err.to_string().contains("quotes"));
        }
    }

    /// Uppercase anywhere in something token-shaped is named, wherever it is; other text with
    /// capitals is just not a keyward token.
    #[test]
    fn uppercase_is_named() {
        let t = sample();
        let body = &t[TOKEN_LEN - BODY_LEN..];
        for upper in [
            t.to_uppercase(),
            t.replacen("kw_ses", "KW_SES", 1),
            format!("{}A{}", &t[..20], &t[21..]),
            body.to_uppercase(),
        ] {
            assert_eq!(parse(&upper), Err(MalformedToken::Uppercase), "{upper}");
        }
        assert_eq!(parse("TOKEN-da921ac3"), Err(MalformedToken::NotKeyward));
        assert!(MalformedToken::Uppercase.to_string().contains("lowercase"));
    }

    /// A prefix that lost its first characters while copying is named, not called foreign.
    #[test]
    fn truncated_prefix_is_named() {
        let t = sample();
        for cut in 1..TOKEN_LEN - BODY_LEN {
            assert_eq!(
                parse(&t[cut..]),
                Err(MalformedToken::TruncatedPrefix),
                "{}",
                &t[cut..]
            );
        }
        assert_eq!(
            parse(&format!("xy_live_{}", &t[TOKEN_LEN - BODY_LEN..])),
            Err(MalformedToken::NotKeyward)
        );
        assert!(MalformedToken::TruncatedPrefix
            .to_string()
            .contains("kw_ses_live_"));
    }

    /// Error messages never echo the token.
    #[test]
    fn messages_do_not_echo_the_token() {
        let t = sample();
        let body = &t[TOKEN_LEN - BODY_LEN..];
        for bad in [&t[..40], body, &t.replacen("_ses_", "_xyz_", 1)] {
            let msg = parse(bad).unwrap_err().to_string();
            assert!(!msg.contains(&body[..10]), "{msg}");
        }
    }
}
