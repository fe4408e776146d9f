//! Property tests of the JSON-to-`Op` conversion (`json`): arbitrary bytes and arbitrary JSON
//! never panic, and either become an `Op` or an error naming the field at fault; a generated
//! valid request becomes the `Op` the CLI builds for the same options.

use super::json::{AdminKeyNew, ApiTokenNew, AuditQuery, ClientNew, LogoutBody, VerifyBody};
use keyward_protocol::{
    CredentialKind, Env, Level, Op, Requirements, ScopeRequirement, Scopes, Secret,
};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// What the `Body` extractor does with `bytes`: the value, or its 400 message.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("malformed JSON body: {inner}")
        } else {
            format!("field {path}: {inner}")
        }
    })?;
    de.end().map_err(|e| format!("malformed JSON body: {e}"))?;
    Ok(value)
}

/// Every body type's `Op`, or the message of its 400.
fn every_op(bytes: &[u8]) -> Vec<Result<Op, String>> {
    vec![
        parse::<AdminKeyNew>(bytes).map(Op::from),
        parse::<ClientNew>(bytes).and_then(ClientNew::into_op),
        parse::<ApiTokenNew>(bytes).and_then(ApiTokenNew::into_op),
        parse::<VerifyBody>(bytes).and_then(VerifyBody::into_op),
        parse::<LogoutBody>(bytes).map(Op::from),
        parse::<AuditQuery>(bytes).and_then(|q| q.into_op(1_700_000_000_000)),
    ]
}

/// Each body type's fields, in [`every_op`]'s order.
const FIELDS_OF: [&[&str]; 6] = [
    &["label", "env"],
    &["label", "max_sessions", "scopes"],
    &["name", "scopes", "expires_in"],
    &["token", "scope", "level", "env", "kinds"],
    &["token"],
    &["since", "limit", "before", "uid", "action", "outcome"],
];

/// Every field any body has.
const FIELDS: &[&str] = &[
    "label",
    "env",
    "max_sessions",
    "scopes",
    "name",
    "expires_in",
    "token",
    "scope",
    "level",
    "kinds",
    "since",
    "limit",
    "before",
    "uid",
    "action",
    "outcome",
];

/// A leaf that is sometimes valid for some field.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u32>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        3 => prop::sample::select(vec![
            "live",
            "test",
            "read",
            "write",
            "admin",
            "30d",
            "1s",
            "0s",
            "session",
            "api_token",
            "ok",
            "refused",
            "",
            "kw_x",
            "session, test_key",
        ])
        .prop_map(Value::from),
        1 => "\\PC{0,12}".prop_map(Value::from),
    ]
}

/// Any JSON value, nested a few levels.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose keys are mostly the bodies' field names.
fn object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ];
    prop::collection::btree_map(key, value(), 0..6).prop_map(|m| m.into_iter().collect())
}

fn env() -> impl Strategy<Value = Env> {
    prop_oneof![Just(Env::Live), Just(Env::Test)]
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Level::Read), Just(Level::Write), Just(Level::Admin)]
}

fn scopes() -> impl Strategy<Value = Scopes> {
    prop::collection::btree_map("[a-z0-9-]{1,12}", level(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn scopes_json(scopes: &Scopes) -> Value {
    scopes
        .iter()
        .map(|(name, level)| (name.clone(), Value::from(level.as_str())))
        .collect::<Map<_, _>>()
        .into()
}

proptest! {
    /// Arbitrary bytes never panic.
    #[test]
    fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = every_op(&bytes);
    }

    /// Arbitrary objects never panic; a refusal names a field, the one it sent or one missing;
    /// a body with a field it does not have is always refused.
    #[test]
    fn any_object_is_an_op_or_names_a_field(object in object()) {
        let bytes = serde_json::to_vec(&object).unwrap();
        for (result, fields) in every_op(&bytes).into_iter().zip(FIELDS_OF) {
            let unknown: Vec<&String> =
                object.keys().filter(|k| !fields.contains(&k.as_str())).collect();
            // Refused, for it or for a field before it.
            prop_assert!(
                unknown.is_empty() || result.is_err(),
                "{unknown:?} accepted: {result:?}"
            );
            if let Err(message) = result {
                let named = object
                    .keys()
                    .map(String::as_str)
                    .chain(FIELDS.iter().copied())
                    .any(|field| !field.is_empty() && message.contains(field));
                prop_assert!(named, "{message} names no field of {object:?}");
            }
        }
    }

    /// Valid bodies with fields added or changed at random never panic, and any field the body
    /// does not have is refused.
    #[test]
    fn near_valid_bodies(extra in object()) {
        let bases = [
            json!({ "label": "l" }),
            json!({}),
            json!({ "name": "n" }),
            json!({ "token": "kw_x" }),
            json!({ "token": "kw_x" }),
            json!({}),
        ];
        for (i, base) in bases.into_iter().enumerate() {
            let mut object = base.as_object().unwrap().clone();
            object.extend(extra.clone());
            let bytes = serde_json::to_vec(&object).unwrap();
            let result = every_op(&bytes).swap_remove(i);
            let unknown = object.keys().any(|k| !FIELDS_OF[i].contains(&k.as_str()));
            prop_assert!(!unknown || result.is_err(), "{object:?} accepted: {result:?}");
        }
    }

    /// A valid verify body is the `Op` the CLI builds from the same options
    /// (`keyward verify --env E --kind K… --scope S --level L`).
    #[test]
    fn verify_is_the_clis(
        token in "kw_[A-Za-z0-9_]{1,40}",
        env in prop::option::of(env()),
        kinds in prop::collection::vec(
            prop::sample::select(vec![
                CredentialKind::Session,
                CredentialKind::TestKey,
                CredentialKind::ApiToken,
                CredentialKind::AdminKey,
            ]),
            0..4,
        ),
        scope in prop::option::of(("[a-z0-9-]{1,12}", level())),
        as_text in any::<bool>(),
    ) {
        let mut body = json!({ "token": token });
        if let Some(env) = env {
            body["env"] = env.as_str().into();
        }
        if !kinds.is_empty() {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            body["kinds"] = if as_text { names.join(",").into() } else { names.into() };
        }
        if let Some((name, level)) = &scope {
            body["scope"] = name.as_str().into();
            body["level"] = level.as_str().into();
        }
        let op = parse::<VerifyBody>(body.to_string().as_bytes())
            .and_then(VerifyBody::into_op)
            .unwrap();
        let mut require = kinds.iter().fold(Requirements::new(), |r, k| r.kind(*k));
        if let Some(env) = env {
            require = require.env(env);
        }
        if let Some((scope, level)) = scope {
            require = require.scope(ScopeRequirement { scope, level });
        }
        prop_assert_eq!(op, Op::Verify { token: Secret::new(token), require });
    }

    /// Valid create bodies are the CLI's `Op`s: scopes as an object, durations as text.
    #[test]
    fn creates_are_the_clis(
        name in "\\PC{1,20}",
        scopes in scopes(),
        days in prop::option::of(1u64..3650),
        max_sessions in prop::option::of(1u32..1000),
        env in prop::option::of(env()),
    ) {
        let mut body = json!({ "name": name, "scopes": scopes_json(&scopes) });
        if let Some(days) = days {
            body["expires_in"] = format!("{days}d").into();
        }
        let op = parse::<ApiTokenNew>(body.to_string().as_bytes())
            .and_then(ApiTokenNew::into_op)
            .unwrap();
        prop_assert_eq!(op, Op::ApiTokenCreate {
            name: name.clone(),
            scopes: scopes.clone(),
            expires_in_secs: days.map(|d| d * 86_400),
            identity: Box::default(),
        });

        let mut body = json!({ "label": name, "scopes": scopes_json(&scopes) });
        if let Some(max) = max_sessions {
            body["max_sessions"] = max.into();
        }
        let op = parse::<ClientNew>(body.to_string().as_bytes())
            .and_then(ClientNew::into_op)
            .unwrap();
        prop_assert_eq!(op, Op::ClientCreate {
            label: Some(name.clone()),
            max_sessions,
            scopes,
            identity: Box::default(),
        });

        let mut body = json!({ "label": name });
        if let Some(env) = env {
            body["env"] = env.as_str().into();
        }
        let op = parse::<AdminKeyNew>(body.to_string().as_bytes()).map(Op::from).unwrap();
        prop_assert_eq!(op, Op::AdminKeyCreate { label: name, env: env.unwrap_or(Env::Live) });
    }
}
