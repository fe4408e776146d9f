//! PROTOCOL.md is checked against the real codec.
//!
//! Each fenced block opened by ```` ```hex vector NAME ```` holds one whole frame (length prefix
//! and body) as hex bytes; text after `#` on a line is a comment.
//! Every vector must be exactly what this crate writes for the value named here, and must read
//! back as that value.
//! The tag tables (`Op`, `Reply`, `ErrorCode`) must give each variant the tag the codec writes.

use bytes::BytesMut;
use keyward_protocol::frame::{self, read_message, write_message};
use keyward_protocol::token;
use keyward_protocol::{
    codec, AdminKeyCreated, AdminKeyInfo, ApiTokenCreated, ApiTokenInfo, ApiTokenPage, AuditEntry,
    AuditOutcome, AuditPage, ClientCreated, ClientDetails, ClientSettings, ClientSummary,
    CredentialInfo, CredentialKind, Env, ErrorCode, Hello, HelloReply, Identity, Kinds, Level,
    ListOrder, Meta, Op, PrincipalUpdate, Reply, Request, Requirements, Response, ScopeRequirement,
    Scopes, Secret, SessionIssued, Stats, TestKeyCreated, Verified, WireError, MAGIC,
    PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use uuid::Uuid;

/// The document under test.
const SPEC: &str = include_str!("../../PROTOCOL.md");

/// 2026-01-01T00:00:00Z, the time every vector uses.
const T0: i64 = 1_767_225_600_000;

/// A public id that reads as what it is in a hex dump.
fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

/// A well-formed token with a fixed body, so that the vectors do not change between runs.
fn token(kind: CredentialKind, env: Env, fill: u8) -> Secret {
    token::assemble(kind, env, &[fill; token::RANDOM_LEN])
}

fn session_token() -> Secret {
    token(CredentialKind::Session, Env::Live, 0x11)
}

fn admin_key() -> Secret {
    token(CredentialKind::AdminKey, Env::Live, 0x22)
}

fn scopes(pairs: &[(&str, Level)]) -> Scopes {
    pairs.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect()
}

fn meta(pairs: &[(&str, &str)]) -> Meta {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn request(id: u64, admin_key: Option<Secret>, op: Op) -> Request {
    Request { id, admin_key, op }
}

/// One value a vector must encode.
trait Vector {
    /// Compares `bytes` (a whole frame) with this value's frame; `Err` says how they differ.
    fn check(&self, bytes: &[u8]) -> Result<(), String>;
}

struct Frame<T>(T);

impl<T: Serialize + DeserializeOwned + PartialEq + Debug> Vector for Frame<T> {
    fn check(&self, bytes: &[u8]) -> Result<(), String> {
        let mut ours = BytesMut::new();
        write_message(&self.0, &mut ours).map_err(|e| e.to_string())?;
        if ours[..] != *bytes {
            return Err(format!(
                "the codec writes\n{}\nbut the document has\n{}",
                hex_lines(&ours),
                hex_lines(bytes)
            ));
        }
        let mut theirs = BytesMut::from(bytes);
        let read: T = read_message(&mut frame::codec(), &mut theirs)
            .map_err(|e| e.to_string())?
            .ok_or("the document's frame is incomplete")?;
        if read != self.0 || !theirs.is_empty() {
            return Err(format!("the document's bytes read back as {read:?}"));
        }
        Ok(())
    }
}

/// Every vector the document must hold, by name.
fn expected() -> Vec<(&'static str, Box<dyn Vector>)> {
    let verify_require = Requirements::new()
        .env(Env::Live)
        .kind(CredentialKind::Session)
        .kind(CredentialKind::ApiToken)
        .scope(ScopeRequirement {
            scope: "catalog-a".into(),
            level: Level::Write,
        });
    vec![
        (
            "hello",
            Box::new(Frame(Hello {
                magic: MAGIC,
                version: PROTOCOL_VERSION,
                client: "py/1".into(),
            })),
        ),
        (
            "hello-accepted",
            Box::new(Frame(HelloReply::Accepted {
                version: PROTOCOL_VERSION,
                server: "0.1.0".into(),
            })),
        ),
        (
            "hello-refused",
            Box::new(Frame(HelloReply::Refused(WireError::new(
                ErrorCode::BadRequest,
                "bad version",
            )))),
        ),
        ("ping", Box::new(Frame(request(1, None, Op::Ping)))),
        (
            "pong",
            Box::new(Frame(Response {
                id: 1,
                result: Ok(Reply::Pong {
                    version: "0.1.0".into(),
                }),
            })),
        ),
        (
            "verify",
            Box::new(Frame(request(
                2,
                None,
                Op::Verify {
                    token: session_token(),
                    require: Requirements::new(),
                },
            ))),
        ),
        (
            "verify-require",
            Box::new(Frame(request(
                3,
                None,
                Op::Verify {
                    token: session_token(),
                    require: verify_require,
                },
            ))),
        ),
        (
            "verified",
            Box::new(Frame(Response {
                id: 3,
                result: Ok(Reply::Verified(Verified {
                    principal_id: id(0xa1),
                    kind: CredentialKind::Session,
                    env: Env::Live,
                    scopes: scopes(&[("catalog-a", Level::Write)]),
                    expires_at: Some(T0),
                    credential_id: id(0xc1),
                    external_id: Some("user-42".into()),
                    meta: meta(&[("plan", "pro")]),
                })),
            })),
        ),
        (
            "error",
            Box::new(Frame(Response {
                id: 2,
                result: Err(WireError::new(
                    ErrorCode::CredentialInvalid,
                    "the credential has expired; obtain a fresh one",
                )),
            })),
        ),
        (
            "error-disabled",
            Box::new(Frame(Response {
                id: 3,
                result: Err(WireError {
                    code: ErrorCode::CredentialDisabled,
                    message: None,
                }),
            })),
        ),
        (
            "client-create",
            Box::new(Frame(request(
                4,
                Some(admin_key()),
                Op::ClientCreate {
                    label: Some("wallet".into()),
                    max_sessions: None,
                    scopes: scopes(&[("catalog-a", Level::Write), ("catalog-b", Level::Read)]),
                    identity: Box::new(Identity {
                        external_id: Some("user-42".into()),
                        meta: meta(&[("plan", "pro")]),
                    }),
                },
            ))),
        ),
        (
            "client-created",
            Box::new(Frame(Response {
                id: 4,
                result: Ok(Reply::ClientCreated(ClientCreated {
                    client_id: id(0xa1),
                    session: SessionIssued {
                        id: id(0xc1),
                        token: session_token(),
                        expires_at: T0,
                        max_expires_at: T0 + 30 * 24 * 3600 * 1000,
                    },
                })),
            })),
        ),
        (
            "audit",
            Box::new(Frame(request(
                5,
                None,
                Op::Audit {
                    since: Some(T0),
                    limit: 300,
                    before: None,
                    uid: Some(1000),
                    action: Some("verify".into()),
                    outcome: Some(AuditOutcome::Refused),
                },
            ))),
        ),
        (
            "audit-page",
            Box::new(Frame(Response {
                id: 5,
                result: Ok(Reply::Audit(AuditPage {
                    entries: vec![AuditEntry {
                        at: T0,
                        uid: 1000,
                        gid: 1000,
                        pid: 4242,
                        admin_key_id: Some(id(0xd1)),
                        action: "client_create".into(),
                        target: None,
                        outcome: "FORBIDDEN".into(),
                        count: 3,
                    }],
                    next: None,
                })),
            })),
        ),
    ]
}

/// The hex vectors in the document: `(name, bytes)`, in order.
fn document_vectors() -> Vec<(String, Vec<u8>)> {
    let mut vectors = Vec::new();
    let mut lines = SPEC.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("```hex vector ") else {
            continue;
        };
        let mut bytes = Vec::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let data = line.split('#').next().unwrap_or_default();
            for pair in data.split_whitespace() {
                let byte = u8::from_str_radix(pair, 16)
                    .unwrap_or_else(|_| panic!("vector {name}: {pair:?} is not a hex byte"));
                assert_eq!(
                    pair.len(),
                    2,
                    "vector {name}: {pair:?} is not two hex digits"
                );
                bytes.push(byte);
            }
        }
        vectors.push((name.trim().to_owned(), bytes));
    }
    vectors
}

/// Hex as the document writes it: the length prefix on one line, then 16 bytes a line.
fn hex_lines(bytes: &[u8]) -> String {
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (prefix, body) = bytes.split_at(bytes.len().min(frame::LENGTH_PREFIX_LEN));
    let mut out = hex(prefix);
    for chunk in body.chunks(16) {
        out.push('\n');
        out.push_str(&hex(chunk));
    }
    out
}

/// Every vector in PROTOCOL.md is the codec's frame for its value, and reads back as it.
#[test]
fn document_vectors_match_the_codec() {
    let found = document_vectors();
    let wanted = expected();
    let mut failures = Vec::new();
    for (name, vector) in &wanted {
        match found.iter().filter(|(n, _)| n == name).count() {
            1 => {}
            n => failures.push(format!("vector {name}: found {n} times, expected once")),
        }
        if let Some((_, bytes)) = found.iter().find(|(n, _)| n == name) {
            if let Err(why) = vector.check(bytes) {
                failures.push(format!("vector {name}: {why}"));
            }
        }
    }
    for (name, _) in &found {
        if !wanted.iter().any(|(n, _)| n == name) {
            failures.push(format!("vector {name}: no value for it in this test"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The rows `| tag | `Name` | ...` of the table that follows `heading`: `(tag, name)`.
fn tag_table(heading: &str) -> Vec<(u32, String)> {
    let mut rows = Vec::new();
    let mut lines = SPEC.lines().skip_while(|l| l.trim() != heading).skip(1);
    // Skip prose to the table, then read it to its end.
    for line in lines.by_ref() {
        if line.starts_with('|') {
            break;
        }
    }
    for line in lines {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let (Ok(tag), Some(name)) = (cells[1].parse(), cells.get(2)) {
            rows.push((tag, name.trim_matches('`').to_owned()));
        }
    }
    assert!(!rows.is_empty(), "no tag table under {heading:?}");
    rows
}

/// The variant name of an enum value, from its `Debug` form.
fn variant<T: Debug>(value: &T) -> String {
    format!("{value:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Checks that the table under `heading` lists exactly `values`, each with the tag the codec
/// writes (its first byte: every tag is below 251, so one varint byte).
fn check_tags<T: Serialize + Debug>(heading: &str, values: &[T]) {
    let table = tag_table(heading);
    let mut codec_tags: Vec<(u32, String)> = values
        .iter()
        .map(|v| (u32::from(codec::encode(v).unwrap()[0]), variant(v)))
        .collect();
    codec_tags.sort();
    assert_eq!(table, codec_tags, "the tag table under {heading:?}");
}

/// The `Op` table gives every operation the tag the codec writes.
#[test]
fn op_tags_match_the_codec() {
    let ops = vec![
        Op::Ping,
        Op::AdminKeyCreate {
            label: "a".into(),
            env: Env::Test,
        },
        Op::AdminKeyList {
            limit: 1,
            after: None,
            order: ListOrder::Id,
        },
        Op::AdminKeyRevoke { id: id(1) },
        Op::ClientCreate {
            label: None,
            max_sessions: None,
            scopes: Scopes::new(),
            identity: Box::default(),
        },
        Op::ClientShow {
            client_id: id(1),
            limit: 1,
            after: None,
        },
        Op::ClientList {
            limit: 1,
            after: None,
            order: ListOrder::LastUsed,
        },
        Op::ClientRevokeSessions { client_id: id(1) },
        Op::SessionIssue { client_id: id(1) },
        Op::TestKeyCreate { client_id: id(1) },
        Op::ApiTokenCreate {
            name: "n".into(),
            scopes: Scopes::new(),
            expires_in_secs: None,
            identity: Box::default(),
        },
        Op::Verify {
            token: session_token(),
            require: Requirements::new(),
        },
        Op::Logout {
            token: session_token(),
        },
        Op::Revoke {
            credential_id: id(1),
        },
        Op::Stats,
        Op::Audit {
            since: None,
            limit: 1,
            before: None,
            uid: None,
            action: None,
            outcome: None,
        },
        Op::BackupBegin,
        Op::BackupRead {
            id: id(1),
            offset: 0,
        },
        Op::BackupEnd {
            id: id(1),
            completed: true,
        },
        Op::ClientDelete { client_id: id(1) },
        Op::ApiTokenList {
            limit: 1,
            after: None,
            order: ListOrder::Id,
        },
        Op::ApiTokenShow { id: id(1) },
        Op::ApiTokenUpdate {
            id: id(1),
            update: Box::new(PrincipalUpdate::default()),
        },
        Op::ClientUpdate {
            client_id: id(1),
            update: Box::new(PrincipalUpdate::default()),
        },
        Op::Disable { id: id(1) },
        Op::Enable { id: id(1) },
        Op::ClientFind {
            external_id: "e".into(),
            limit: 1,
            after: None,
        },
    ];
    assert_eq!(ops.len(), Op::NAMES.len(), "a new Op needs a sample here");
    check_tags("### Op", &ops);
}

/// The `Reply` table gives every reply the tag the codec writes.
#[test]
fn reply_tags_match_the_codec() {
    let replies = vec![
        Reply::Pong {
            version: "v".into(),
        },
        Reply::AdminKeyCreated(AdminKeyCreated {
            id: id(1),
            label: "l".into(),
            env: Env::Live,
            secret: admin_key(),
        }),
        Reply::AdminKeys(keyward_protocol::AdminKeyPage {
            admin_keys: vec![AdminKeyInfo {
                id: id(1),
                label: "l".into(),
                env: Env::Live,
                created_at: T0,
                last_used_at: None,
                disabled: false,
                uses: 0,
            }],
            next: None,
        }),
        Reply::Revoked { id: id(1) },
        Reply::ClientCreated(ClientCreated {
            client_id: id(1),
            session: SessionIssued {
                id: id(2),
                token: session_token(),
                expires_at: T0,
                max_expires_at: T0,
            },
        }),
        Reply::Client(ClientDetails {
            client_id: id(1),
            label: None,
            env: Env::Live,
            scopes: Scopes::new(),
            max_sessions: None,
            disabled: false,
            last_used_at: None,
            uses: 0,
            credentials: vec![CredentialInfo {
                id: id(2),
                kind: CredentialKind::TestKey,
                created_at: T0,
                last_used_at: None,
                expires_at: None,
                disabled: false,
                uses: 0,
            }],
            next: None,
            external_id: None,
            meta: Meta::new(),
        }),
        Reply::Clients(keyward_protocol::ClientPage {
            clients: vec![ClientSummary {
                client_id: id(1),
                label: None,
                disabled: false,
                external_id: None,
                meta: Meta::new(),
                last_used_at: None,
                uses: 0,
            }],
            next: None,
        }),
        Reply::RevokedCount { count: 1 },
        Reply::SessionIssued(SessionIssued {
            id: id(2),
            token: session_token(),
            expires_at: T0,
            max_expires_at: T0,
        }),
        Reply::TestKeyCreated(TestKeyCreated {
            id: id(2),
            token: token(CredentialKind::TestKey, Env::Test, 0x33),
        }),
        Reply::ApiTokenCreated(ApiTokenCreated {
            id: id(2),
            principal_id: id(3),
            token: token(CredentialKind::ApiToken, Env::Live, 0x44),
            expires_at: None,
        }),
        Reply::Verified(Verified {
            principal_id: id(1),
            kind: CredentialKind::Session,
            env: Env::Live,
            scopes: Scopes::new(),
            expires_at: None,
            credential_id: id(2),
            external_id: None,
            meta: Meta::new(),
        }),
        Reply::Stats(Stats {
            clients: 0,
            live_sessions: 0,
            test_keys: 0,
            api_tokens: 0,
            admin_keys: 0,
            sweeps_run: 0,
            credentials_swept: 0,
            connections_open: 0,
            connections_total: 0,
            connections_refused: 0,
            audit_dropped: 0,
            requests: BTreeMap::new(),
            errors: BTreeMap::new(),
            uptime_secs: 0,
        }),
        Reply::Audit(AuditPage {
            entries: vec![],
            next: None,
        }),
        Reply::BackupStarted {
            id: id(1),
            bytes: 0,
        },
        Reply::BackupChunk(vec![]),
        Reply::BackupEnded,
        Reply::ApiTokens(ApiTokenPage {
            api_tokens: vec![],
            next: None,
        }),
        Reply::ApiToken(ApiTokenInfo {
            principal_id: id(1),
            id: None,
            name: "n".into(),
            env: Env::Live,
            scopes: Scopes::new(),
            created_at: T0,
            last_used_at: None,
            expires_at: None,
            disabled: false,
            external_id: None,
            meta: Meta::new(),
            uses: 0,
        }),
        Reply::ClientUpdated(ClientSettings {
            client_id: id(1),
            label: None,
            env: Env::Live,
            scopes: Scopes::new(),
            max_sessions: None,
            external_id: None,
            meta: Meta::new(),
        }),
        Reply::Disabled { id: id(1) },
        Reply::Enabled { id: id(1) },
    ];
    check_tags("### Reply", &replies);
}

/// The error-code table gives every code its wire number and name, and the document names the
/// tag `Unknown` holds.
#[test]
fn error_codes_match_the_codec() {
    let table = tag_table("## Error codes");
    let codes: Vec<(u32, String)> = ErrorCode::ALL
        .iter()
        .map(|c| {
            (
                u32::from(codec::encode(c).unwrap()[0]),
                c.as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(table, codes);
    let unknown = byte(&ErrorCode::Unknown);
    let said = format!("Tag {unknown} is `{}`", ErrorCode::Unknown.as_str());
    assert!(SPEC.contains(&said), "PROTOCOL.md must say {said:?}");
}

/// The first byte `value` encodes to: the tag of an enum, the bits of `Kinds`.
fn byte<T: Serialize>(value: &T) -> u8 {
    codec::encode(value).unwrap()[0]
}

/// The small enums and the kind bits have the numbers the document gives them.
#[test]
fn small_enums_match_the_codec() {
    for (value, want) in [
        (byte(&Env::Test), 0),
        (byte(&Env::Live), 1),
        (byte(&Level::Read), 0),
        (byte(&Level::Write), 1),
        (byte(&Level::Admin), 2),
        (byte(&CredentialKind::AdminKey), 0),
        (byte(&CredentialKind::Session), 1),
        (byte(&CredentialKind::TestKey), 2),
        (byte(&CredentialKind::ApiToken), 3),
        (byte(&AuditOutcome::Ok), 0),
        (byte(&AuditOutcome::Refused), 1),
        (byte(&ListOrder::Id), 0),
        (byte(&ListOrder::LastUsed), 1),
        (byte(&Kinds::EMPTY.with(CredentialKind::AdminKey)), 0x01),
        (byte(&Kinds::EMPTY.with(CredentialKind::Session)), 0x02),
        (byte(&Kinds::EMPTY.with(CredentialKind::TestKey)), 0x04),
        (byte(&Kinds::EMPTY.with(CredentialKind::ApiToken)), 0x08),
    ] {
        assert_eq!(value, want);
    }
    for row in [
        "| `Env` | `test` = 0, `live` = 1 |",
        "| `Level` | `read` = 0, `write` = 1, `admin` = 2 |",
        "| `CredentialKind` | `admin_key` = 0, `session` = 1, `test_key` = 2, `api_token` = 3 |",
        "| `AuditOutcome` | `Ok` = 0, `Refused` = 1 |",
        "| `ListOrder` | `Id` = 0, `LastUsed` = 1 |",
        "| `Kinds` | `admin_key` = 0x01, `session` = 0x02, `test_key` = 0x04, `api_token` = 0x08 |",
    ] {
        assert!(SPEC.contains(row), "PROTOCOL.md lacks the row {row}");
    }
}

/// Prints every vector as the document writes it, for updating PROTOCOL.md after an intended
/// change: `cargo test -p keyward-protocol --test spec -- --ignored --nocapture`.
#[test]
#[ignore = "prints the vectors; run by hand"]
fn print_vectors() {
    for (name, vector) in expected() {
        println!("```hex vector {name}");
        // An empty vector never matches, so the failure carries the codec's own bytes.
        let ours = vector.check(&[]).unwrap_err();
        let hex = ours
            .strip_prefix("the codec writes\n")
            .and_then(|s| s.split("\nbut the document has").next())
            .unwrap_or(&ours);
        println!("{hex}\n```\n");
    }
}
