//! Valid messages and tokens that seed the corpora, so fuzzing starts from inputs the daemon
//! really sees rather than from nothing.

use keyward_protocol::token;
use keyward_protocol::{
    CredentialKind, Env, Hello, Level, ListOrder, Op, Request, Requirements, ScopeRequirement, Scopes, Secret,
};
use uuid::Uuid;

/// A fixed id, so seeds are the same on every run.
const ID: Uuid = Uuid::from_u128(0x438b_60d1_cf63_431e_8902_50de_8fc3_02fb);

/// Every credential kind, in a fixed order.
const KINDS: [CredentialKind; 4] = [
    CredentialKind::AdminKey,
    CredentialKind::Session,
    CredentialKind::TestKey,
    CredentialKind::ApiToken,
];

/// The well-formed token of `kind` in `env`, from fixed random bytes distinct per pair.
pub fn token(kind: CredentialKind, env: Env) -> Secret {
    let position = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    let fill = u8::try_from(position).unwrap_or(0) * 2 + u8::from(env == Env::Test);
    token::assemble(kind, env, &[fill; token::RANDOM_LEN])
}

/// One well-formed token of each kind and environment.
pub fn tokens() -> Vec<Secret> {
    KINDS
        .iter()
        .flat_map(|kind| [Env::Live, Env::Test].map(|env| token(*kind, env)))
        .collect()
}

/// The hello a current client sends.
pub fn hello() -> Hello {
    Hello::current("keyward-fuzz")
}

/// One request of every operation, with realistic arguments.
pub fn requests() -> Vec<Request> {
    let session = token(CredentialKind::Session, Env::Live);
    let scopes: Scopes = [
        ("catalog-a".to_owned(), Level::Write),
        ("catalog-b".to_owned(), Level::Read),
    ]
    .into();
    let ops = vec![
        Op::Ping,
        Op::AdminKeyCreate {
            label: "wallet-backend".into(),
            env: Env::Live,
        },
        Op::AdminKeyList {
            limit: 100,
            after: None,
            order: ListOrder::LastUsed,
        },
        Op::AdminKeyRevoke { id: ID },
        Op::ClientCreate {
            label: Some("alice".into()),
            max_sessions: Some(3),
            scopes: scopes.clone(),
            identity: Box::new(keyward_protocol::Identity {
                external_id: Some("user-42".into()),
                meta: [("plan".to_owned(), "pro".to_owned())].into(),
            }),
        },
        Op::ClientShow {
            client_id: ID,
            limit: 100,
            after: None,
        },
        Op::ClientList {
            limit: 100,
            after: Some("0190000000007000800000000000002a".into()),
            order: ListOrder::Id,
        },
        Op::ClientList {
            limit: 100,
            after: Some("l80000000000000000190000000007000800000000000002a".into()),
            order: ListOrder::LastUsed,
        },
        Op::ClientRevokeSessions { client_id: ID },
        Op::SessionIssue { client_id: ID },
        Op::TestKeyCreate { client_id: ID },
        Op::ApiTokenCreate {
            name: "importer".into(),
            scopes,
            expires_in_secs: Some(30 * 86_400),
            identity: Box::default(),
        },
        Op::Verify {
            token: session.clone(),
            require: Requirements::new()
                .env(Env::Live)
                .kind(CredentialKind::Session)
                .scope(ScopeRequirement {
                    scope: "catalog-a".into(),
                    level: Level::Write,
                }),
        },
        Op::Logout { token: session },
        Op::Revoke { credential_id: ID },
        Op::Stats,
        Op::Audit {
            since: Some(1_700_000_000_000),
            limit: 100,
            before: Some("00000190".into()),
            uid: Some(65_534),
            action: Some("admin_key_create".into()),
            outcome: Some(keyward_protocol::AuditOutcome::Refused),
        },
        Op::BackupBegin,
        Op::BackupRead {
            id: ID,
            offset: 65_536,
        },
        Op::BackupEnd {
            id: ID,
            completed: true,
        },
        Op::ClientDelete { client_id: ID },
        Op::ApiTokenList {
            limit: 100,
            after: Some("0190000000007000800000000000002a".into()),
            order: ListOrder::Id,
        },
        Op::ApiTokenList {
            limit: 100,
            after: None,
            order: ListOrder::LastUsed,
        },
        Op::ApiTokenShow { id: ID },
        Op::ApiTokenUpdate {
            id: ID,
            update: Box::new(keyward_protocol::PrincipalUpdate {
                label: Some("renamed".into()),
                scopes: Scopes::from([("photos".to_owned(), Level::Read)]),
                remove_scopes: vec!["billing".into()],
                ..Default::default()
            }),
        },
        Op::ClientUpdate {
            client_id: ID,
            update: Box::new(keyward_protocol::PrincipalUpdate {
                max_sessions: Some(3),
                external_id: Some("user-43".into()),
                meta: [("plan".to_owned(), "free".to_owned())].into(),
                remove_meta: vec!["trial".into()],
                ..Default::default()
            }),
        },
        Op::Disable { id: ID },
        Op::Enable { id: ID },
        Op::ClientFind {
            external_id: "user-42".into(),
            limit: 100,
            after: None,
        },
    ];
    let admin_key = token(CredentialKind::AdminKey, Env::Live);
    ops.into_iter()
        .zip(1..)
        .map(|(op, id)| Request {
            id,
            admin_key: op.needs_admin_key().then(|| admin_key.clone()),
            op,
        })
        .collect()
}
