//! The `api_tokens` tree: environment (1 byte) ‖ principal id (16) → empty, one entry per API
//! token, so that `api-token list` walks API tokens only and fills its pages however many
//! clients share the `principals` tree with them.
//!
//! It is derived from `principals`: an entry is written before its principal and removed after
//! it, so a crash leaves at worst an entry without a principal, which the walk skips. Backups
//! leave it out; a data dir without its [`super::derived::BUILT`] marker (one from before the
//! tree, or a fresh one) has it built at open, and a restore files each API token it imports.

use keyward_protocol::Env;
use std::ops::Bound;
use uuid::Uuid;

use super::engine::Engine;
use super::records::{self, PrincipalKind, PrincipalRecord, StoredEnv};
use super::{Store, StoreError};

/// The first byte of an environment's entries.
fn env_byte(env: StoredEnv) -> u8 {
    match env {
        StoredEnv::Test => 0,
        StoredEnv::Live => 1,
    }
}

/// The entry of API token `id` in `env`.
fn key(env: StoredEnv, id: Uuid) -> [u8; 17] {
    let mut key = [0; 17];
    key[0] = env_byte(env);
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// Files `record` if it is an API token. Call before writing the principal.
pub(super) fn file(e: &Engine, record: &PrincipalRecord) -> Result<(), StoreError> {
    if record.kind == PrincipalKind::ApiToken {
        e.api_tokens.insert(key(record.env, record.id), &[])?;
    }
    Ok(())
}

/// Removes principal `id`'s entry, in either environment. Call after removing the principal.
pub(super) fn unfile(e: &Engine, id: Uuid) -> Result<(), StoreError> {
    for env in [StoredEnv::Test, StoredEnv::Live] {
        e.api_tokens.remove(key(env, id))?;
    }
    Ok(())
}

impl Store {
    /// Builds the tree from `principals`, once per data dir.
    pub(super) fn index_api_tokens(&self) -> Result<(), StoreError> {
        self.build_index(|e| &e.api_tokens, file)
    }

    /// The API tokens of `env` after principal id `after` (all of them without it), in id
    /// order: each id with its principal, or `None` for an entry a crash left without one.
    /// A page's walk, which costs what it reads.
    pub(crate) fn api_tokens_after(
        &self,
        env: Env,
        after: Option<Uuid>,
    ) -> Result<impl Iterator<Item = Result<(Uuid, Option<PrincipalRecord>), StoreError>>, StoreError>
    {
        let env = StoredEnv::from(env);
        let e = self.engine()?;
        let from = match after {
            Some(id) => Bound::Excluded(key(env, id).to_vec()),
            None => Bound::Included(vec![env_byte(env)]),
        };
        let to = Bound::Excluded(vec![env_byte(env) + 1]);
        let principals = e.principals.clone();
        Ok(e.api_tokens
            .range::<Vec<u8>, _>((from, to))
            .map(move |entry| {
                let (key, _) = entry?;
                let id = super::keys::uuid_from("api_tokens", &key[1..])?;
                let record = match principals.get(id.as_bytes())? {
                    Some(raw) => Some(records::decode_principal(&raw)?),
                    None => None,
                };
                Ok((id, record.filter(|p| p.kind == PrincipalKind::ApiToken)))
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A principal whose id sorts after every earlier one's.
    fn principal(kind: PrincipalKind, env: StoredEnv) -> PrincipalRecord {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        PrincipalRecord {
            id: Uuid::from_u128(u128::from(n)),
            kind,
            env,
            label: None,
            scopes: Vec::new(),
            max_sessions: None,
            created_at: 0,
            external_id: None,
            meta: Vec::new(),
        }
    }

    fn listed(store: &Store, env: Env, after: Option<Uuid>) -> Vec<Uuid> {
        store
            .api_tokens_after(env, after)
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect()
    }

    /// Only API tokens, of the one environment, in id order after the cursor; a removed one
    /// is gone; and a data dir without the tree (as before it existed) gets it at open.
    #[test]
    fn lists_api_tokens_of_one_environment_and_is_built_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut live = Vec::new();
        for i in 0..40 {
            assert!(store
                .insert_principal(&principal(PrincipalKind::Client, StoredEnv::Live))
                .unwrap());
            if i % 10 == 0 {
                let token = principal(PrincipalKind::ApiToken, StoredEnv::Live);
                assert!(store.insert_principal(&token).unwrap());
                live.push(token.id);
            }
        }
        let test = principal(PrincipalKind::ApiToken, StoredEnv::Test);
        assert!(store.insert_principal(&test).unwrap());
        assert_eq!(listed(&store, Env::Live, None), live);
        assert_eq!(listed(&store, Env::Live, Some(live[1])), live[2..]);
        assert_eq!(listed(&store, Env::Test, None), vec![test.id]);
        store.remove_principal(live[0]).unwrap();
        live.remove(0);
        assert_eq!(listed(&store, Env::Live, None), live);

        store.forget_index(|e| &e.api_tokens);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(listed(&store, Env::Live, None), live);
        assert_eq!(listed(&store, Env::Test, None), vec![test.id]);
    }

    /// A restore files each API token it imports, since backups leave the tree out.
    #[test]
    fn an_imported_api_token_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let token = principal(PrincipalKind::ApiToken, StoredEnv::Live);
        let bytes = records::encode_principal(&token).unwrap();
        store
            .import(
                super::super::TreeId::Principals as u8,
                token.id.as_bytes(),
                &bytes,
            )
            .unwrap();
        assert_eq!(listed(&store, Env::Live, None), vec![token.id]);
    }
}
