//! Building an arbitrary [`Request`] from fuzzer bytes.
//!
//! Every field the wire carries is drawn from the input, including sizes that reach the frame
//! limit: a "bulk" string repeats one character up to 70,000 bytes and a bulk scope map holds up
//! to 300 short entries, so a few input bytes can describe a body of tens of kilobytes. Bulk
//! values are slow to build, encode and compare, so the input selects them rarely
//! ([`BULK_ODDS`]), which keeps the target near its small-request speed while the corpus still
//! holds bulk inputs to mutate.

use arbitrary::{Result, Unstructured};
use keyward_protocol::token;
use keyward_protocol::{
    CredentialKind, Env, Identity, Kinds, Level, ListOrder, Meta, Op, PrincipalUpdate, Request, Requirements,
    ScopeRequirement, Scopes, Secret,
};
use uuid::Uuid;

/// The number of [`Op`] variants. When one is added, [`Op::NAMES`] grows, and the generator's
/// check against [`Op::index`] fails on the new index until [`op`] builds it.
pub const OP_VARIANTS: u8 = Op::NAMES.len() as u8;

/// One value in this many is bulk.
const BULK_ODDS: u8 = 64;

/// The most entries a bulk scope map gets: enough for a map several nodes deep. (Bodies at the
/// frame limit come from bulk strings, which are far cheaper to build and compare.)
const MAX_BULK_SCOPES: u16 = 300;

/// The longest bulk string, in bytes: past the frame limit.
const MAX_BULK_STRING: u32 = 70_000;

/// Builds a request from the fuzzer's bytes.
///
/// # Errors
/// Only when the input runs out in a way `arbitrary` reports (it usually fills with zeros).
pub fn request(u: &mut Unstructured<'_>) -> Result<Request> {
    Ok(Request {
        id: u.arbitrary()?,
        admin_key: option(u, secret)?,
        op: op(u)?,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    let index = u.int_in_range(0..=OP_VARIANTS - 1)?;
    let op = match index {
        0 => Op::Ping,
        1 => Op::AdminKeyCreate {
            label: string(u)?,
            env: env(u)?,
        },
        2 => Op::AdminKeyList {
            limit: u.arbitrary()?,
            after: option(u, string)?,
            order: order(u)?,
        },
        3 => Op::AdminKeyRevoke { id: uuid(u)? },
        4 => Op::ClientCreate {
            label: option(u, string)?,
            max_sessions: u.arbitrary()?,
            scopes: scopes(u)?,
            identity: Box::new(identity(u)?),
        },
        5 => Op::ClientShow {
            client_id: uuid(u)?,
            limit: u.arbitrary()?,
            after: option(u, string)?,
        },
        6 => Op::ClientList {
            limit: u.arbitrary()?,
            after: option(u, string)?,
            order: order(u)?,
        },
        7 => Op::ClientRevokeSessions {
            client_id: uuid(u)?,
        },
        8 => Op::SessionIssue {
            client_id: uuid(u)?,
        },
        9 => Op::TestKeyCreate {
            client_id: uuid(u)?,
        },
        10 => Op::ApiTokenCreate {
            name: string(u)?,
            scopes: scopes(u)?,
            expires_in_secs: u.arbitrary()?,
            identity: Box::new(identity(u)?),
        },
        11 => Op::Verify {
            token: secret(u)?,
            require: Requirements {
                env: option(u, env)?,
                // Any bits, as a peer may send: unknown ones are refused when decoded.
                kinds: Kinds::try_from(u.int_in_range(0..=15u8)?).unwrap_or_default(),
                scope: option(u, |u| {
                    Ok(ScopeRequirement {
                        scope: string(u)?,
                        level: level(u)?,
                    })
                })?,
            },
        },
        12 => Op::Logout { token: secret(u)? },
        13 => Op::Revoke {
            credential_id: uuid(u)?,
        },
        14 => Op::Stats,
        15 => Op::Audit {
            since: u.arbitrary()?,
            limit: u.arbitrary()?,
            before: u.arbitrary()?,
            uid: u.arbitrary()?,
            action: u.arbitrary()?,
            outcome: match u.int_in_range(0..=2u8)? {
                0 => None,
                1 => Some(keyward_protocol::AuditOutcome::Ok),
                _ => Some(keyward_protocol::AuditOutcome::Refused),
            },
        },
        16 => Op::BackupBegin,
        17 => Op::BackupRead {
            id: uuid(u)?,
            offset: u.arbitrary()?,
        },
        18 => Op::BackupEnd {
            id: uuid(u)?,
            completed: u.arbitrary()?,
        },
        19 => Op::ClientDelete {
            client_id: uuid(u)?,
        },
        20 => Op::ApiTokenList {
            limit: u.arbitrary()?,
            after: option(u, string)?,
            order: order(u)?,
        },
        21 => Op::ApiTokenShow { id: uuid(u)? },
        22 => Op::ApiTokenUpdate {
            id: uuid(u)?,
            update: Box::new(update(u)?),
        },
        23 => Op::ClientUpdate {
            client_id: uuid(u)?,
            update: Box::new(update(u)?),
        },
        24 => Op::Disable { id: uuid(u)? },
        25 => Op::Enable { id: uuid(u)? },
        _ => Op::ClientFind {
            external_id: string(u)?,
            limit: u.arbitrary()?,
            after: option(u, string)?,
        },
    };
    assert_eq!(
        op.index(),
        usize::from(index),
        "the generator and `Op::index` disagree"
    );
    Ok(op)
}

fn update(u: &mut Unstructured<'_>) -> Result<PrincipalUpdate> {
    let removals = u.int_in_range(0..=3u8)?;
    Ok(PrincipalUpdate {
        label: option(u, string)?,
        max_sessions: u.arbitrary()?,
        scopes: scopes(u)?,
        remove_scopes: (0..removals).map(|_| string(u)).collect::<Result<_>>()?,
        external_id: option(u, string)?,
        meta: meta(u)?,
        remove_meta: (0..removals).map(|_| string(u)).collect::<Result<_>>()?,
    })
}

fn identity(u: &mut Unstructured<'_>) -> Result<Identity> {
    Ok(Identity {
        external_id: option(u, string)?,
        meta: meta(u)?,
    })
}

/// A few arbitrary entries, or (rarely) more keys than the daemon's limit of 16.
fn meta(u: &mut Unstructured<'_>) -> Result<Meta> {
    let count = if bulk(u)? {
        u.int_in_range(0..=64u8)?
    } else {
        u.int_in_range(0..=4u8)?
    };
    (0..count).map(|_| Ok((string(u)?, string(u)?))).collect()
}

fn option<T>(
    u: &mut Unstructured<'_>,
    some: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(some(u)?) } else { None })
}

fn order(u: &mut Unstructured<'_>) -> Result<ListOrder> {
    Ok(if u.arbitrary()? {
        ListOrder::LastUsed
    } else {
        ListOrder::Id
    })
}

fn uuid(u: &mut Unstructured<'_>) -> Result<Uuid> {
    Ok(Uuid::from_bytes(u.arbitrary()?))
}

fn env(u: &mut Unstructured<'_>) -> Result<Env> {
    Ok(if u.arbitrary()? { Env::Live } else { Env::Test })
}

fn level(u: &mut Unstructured<'_>) -> Result<Level> {
    Ok(*u.choose(&[Level::Read, Level::Write, Level::Admin])?)
}

fn kind(u: &mut Unstructured<'_>) -> Result<CredentialKind> {
    Ok(*u.choose(&[
        CredentialKind::AdminKey,
        CredentialKind::Session,
        CredentialKind::TestKey,
        CredentialKind::ApiToken,
    ])?)
}

/// Whether the next value is bulk: one time in [`BULK_ODDS`], and never once the input has run
/// out (`arbitrary` then answers every ratio with "yes", which would make every tail bulk).
fn bulk(u: &mut Unstructured<'_>) -> Result<bool> {
    Ok(!u.ratio(BULK_ODDS - 1, BULK_ODDS)?)
}

/// Any UTF-8 text, or (rarely) a long run of one character.
fn string(u: &mut Unstructured<'_>) -> Result<String> {
    if bulk(u)? {
        let len = u.int_in_range(0..=MAX_BULK_STRING)?;
        let c: char = u.arbitrary()?;
        Ok(std::iter::repeat_n(c, len as usize / c.len_utf8()).collect())
    } else {
        u.arbitrary()
    }
}

/// A well-formed token half the time (the common case on the wire), else any text.
fn secret(u: &mut Unstructured<'_>) -> Result<Secret> {
    if u.arbitrary()? {
        let random: [u8; token::RANDOM_LEN] = u.arbitrary()?;
        Ok(token::assemble(kind(u)?, env(u)?, &random))
    } else {
        Ok(Secret::new(string(u)?))
    }
}

/// A few arbitrary entries, or (rarely) many short distinct ones.
fn scopes(u: &mut Unstructured<'_>) -> Result<Scopes> {
    let mut scopes = Scopes::new();
    if bulk(u)? {
        let count = u.int_in_range(0..=MAX_BULK_SCOPES)?;
        let first = level(u)?;
        for i in 0..count {
            // Short distinct names keep the encoding compact, as in a real request with many
            // small scopes.
            let level =
                [Level::Read, Level::Write, Level::Admin][(i as usize + first as usize) % 3];
            scopes.insert(format!("{i:x}"), level);
        }
    } else {
        for _ in 0..u.int_in_range(0..=8u8)? {
            scopes.insert(string(u)?, level(u)?);
        }
    }
    Ok(scopes)
}
