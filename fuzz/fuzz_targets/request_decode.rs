//! Fuzz target: arbitrary frame bodies decoded as the daemon decodes them, as a [`Request`] and
//! as a [`Hello`]. Nothing may panic; whatever decodes must re-encode to a body no longer than
//! the input that decodes to the same value. An error's text must not carry the body's bytes:
//! it is one of the fixed texts below with at most a number filled in, and a body over 16 bytes
//! appears in it only if the body is itself part of a fixed text.

#![no_main]

use keyward_protocol::{codec, Hello, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    check::<Request>(body);
    check::<Hello>(body);
});

/// Decodes `body` as a `T` and checks what comes out.
fn check<T>(body: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    match codec::decode::<T>(body) {
        Ok(value) => {
            let again = codec::encode(&value).expect("a decoded message encodes");
            assert!(again.len() <= body.len(), "re-encoding grew the body");
            assert_eq!(codec::decode::<T>(&again).as_ref(), Ok(&value));
        }
        Err(e) => {
            let text = without_digits(&e.to_string());
            assert!(TEMPLATES.contains(&text.as_str()), "unexpected text: {e}");
            if body.len() > 16
                && e.to_string()
                    .as_bytes()
                    .windows(body.len())
                    .any(|w| w == body)
            {
                let body = without_digits(&String::from_utf8_lossy(body));
                assert!(
                    TEMPLATES.iter().any(|t| t.contains(&body)),
                    "the error echoes the body"
                );
            }
        }
    }
}

/// Every text `codec::decode` may fail with, numbers removed. A new text belongs here only if
/// it describes structure, never content: a body may hold a secret.
const TEMPLATES: &[&str] = &[
    "undecodable body: truncated",
    "undecodable body: a length exceeds the frame limit",
    "undecodable body: the body exceeds the frame limit",
    "undecodable body: unknown variant",
    "undecodable body: invalid UTF- in a string",
    "undecodable body: invalid integer encoding",
    "undecodable body: invalid boolean",
    "undecodable body: invalid char",
    "undecodable body: malformed body",
    "undecodable body:  trailing bytes",
];

/// `text` without ASCII digits: what remains of a message once its numbers are removed.
fn without_digits(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}
