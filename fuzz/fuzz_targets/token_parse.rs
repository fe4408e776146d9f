//! Fuzz target: `token::parse` on arbitrary text.
//!
//! Nothing may panic. A token that parses must have the exact documented shape, and must be the
//! one text `token::assemble` makes from its kind, environment and random bytes (so no second
//! spelling of a credential parses). A refusal must not echo the text: every message is one of
//! the fixed templates with at most numbers filled in, and a text over 16 characters appears in
//! it only if that text is itself part of a template.

#![no_main]

use data_encoding::BASE32_DNSSEC;
use keyward_protocol::token::{self, MalformedToken, TOKEN_LEN};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match token::parse(text) {
        Ok(info) => {
            assert_eq!(text.len(), TOKEN_LEN);
            assert!(text.starts_with(token::PREFIX));
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            let raw = BASE32_DNSSEC
                .decode(&text.as_bytes()[TOKEN_LEN - token::BODY_LEN..])
                .expect("a parsed body is base32");
            let random: [u8; token::RANDOM_LEN] = raw[..token::RANDOM_LEN]
                .try_into()
                .expect("the body holds the random bytes");
            assert_eq!(
                token::assemble(info.kind, info.env, &random).expose(),
                text,
                "a parsed token is not the canonical spelling"
            );
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                templates().contains(&without_digits(&message)),
                "a message that is not a fixed template: {err:?}"
            );
            if text.chars().count() > 16 && message.contains(text) {
                let skeleton = without_digits(text);
                assert!(
                    templates().iter().any(|t| t.contains(&skeleton)),
                    "the message echoes the input"
                );
            }
        }
    }
});

/// Every refusal's message with its numbers taken out.
fn templates() -> &'static [String] {
    static TEMPLATES: OnceLock<Vec<String>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        [
            MalformedToken::Empty,
            MalformedToken::Quoted,
            MalformedToken::Whitespace,
            MalformedToken::Uppercase,
            MalformedToken::MissingPrefix,
            MalformedToken::TruncatedPrefix,
            MalformedToken::NotKeyward,
            MalformedToken::UnknownKind,
            MalformedToken::UnknownEnv,
            MalformedToken::Truncated { found: 0 },
            MalformedToken::TooLong { found: 0 },
            MalformedToken::BadCharacter { position: 0 },
            MalformedToken::Checksum,
        ]
        .iter()
        .map(|e| without_digits(&e.to_string()))
        .collect()
    })
}

/// `text` without ASCII digits: what remains of a message once its numbers are removed.
fn without_digits(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}
