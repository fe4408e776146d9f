//! The `last_used` tree: clients and API tokens ordered by their last use, never-used first,
//! so that `list --sort last-used` finds dead credentials a page at a time.
//!
//! Key: last use (8 bytes, big-endian with the sign bit flipped, never = [`i64::MIN`]) ‖
//! principal id (16) → empty. It is derived from the `usage` tree's principal totals, as of
//! the last fold: a principal is filed with "never" before it is written, and a fold that moves
//! a principal's last use files the new key before it writes the total and removes the old key
//! after. So every principal always has an entry under its current total, and an entry whose
//! use no longer matches (a crash or a race left it behind) or whose principal is gone is
//! passed over by the walk, like a dangling index entry elsewhere.
//!
//! Since a last use only moves forward, an entry only ever moves later in the order: a walk
//! sees every principal that existed for the whole walk at least once, and sees one used
//! during the walk again at its new place if the walk had already passed it.
//!
//! Backups leave it out: a restore files each principal as it imports it and its total, and a
//! data dir without the [`BUILT`] marker (one from before the tree) has it built at open.

use std::ops::Bound;

use keyward_protocol::UnixMillis;
use uuid::Uuid;

use super::engine::Engine;
use super::records::{self, PrincipalKind, PrincipalRecord};
use super::{Store, StoreError, TreeId, Used};

use super::derived::BUILT;

/// A place in the order: the last use (`None` for never), then the principal id.
pub(crate) type Place = (Option<UnixMillis>, Uuid);

/// The entry of principal `id` last used at `at`.
pub(super) fn key(at: Option<UnixMillis>, id: Uuid) -> [u8; 24] {
    let mut key = [0; 24];
    let at = at.unwrap_or(i64::MIN) as u64 ^ (1 << 63);
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

/// The place an entry's key holds.
fn place(key: &[u8]) -> Result<Place, StoreError> {
    let corrupt = || StoreError::corrupt("last_used", format!("a key of {} bytes", key.len()));
    let at: [u8; 8] = key.get(..8).ok_or_else(corrupt)?.try_into().expect("8");
    let at = (u64::from_be_bytes(at) ^ (1 << 63)) as i64;
    let id = Uuid::from_slice(key.get(8..).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
    Ok(((at != i64::MIN).then_some(at), id))
}

/// Whether principals of `kind` are filed: clients and API tokens, the ones lists sort.
fn filed(kind: PrincipalKind) -> bool {
    matches!(kind, PrincipalKind::Client | PrincipalKind::ApiToken)
}

/// Files a new principal as never used. Call before writing the principal.
pub(super) fn file(e: &Engine, record: &PrincipalRecord) -> Result<(), StoreError> {
    if filed(record.kind) {
        e.last_used.insert(key(None, record.id), &[])?;
    }
    Ok(())
}

impl Store {
    /// Builds the tree from `principals` and `usage`, once per data dir.
    pub(super) fn index_last_used(&self) -> Result<(), StoreError> {
        self.build_index(
            |e| &e.last_used,
            |e, record| {
                if filed(record.kind) {
                    e.last_used
                        .insert(key(folded(e, record.id)?, record.id), &[])?;
                }
                Ok(())
            },
        )
    }

    /// The principals after place `after` (from the start without it), least lately used
    /// first: each place with its principal, or `None` for an entry to pass over (stale, or
    /// its principal gone). A page's walk, which costs what it reads.
    pub(crate) fn principals_by_last_use(
        &self,
        after: Option<Place>,
    ) -> Result<
        impl Iterator<Item = Result<(Place, Option<PrincipalRecord>), StoreError>> + '_,
        StoreError,
    > {
        let e = self.engine()?;
        let from = match after {
            Some((at, id)) => Bound::Excluded(key(at, id).to_vec()),
            None => Bound::Unbounded,
        };
        let principals = e.principals.clone();
        Ok(e.last_used
            .range::<Vec<u8>, _>((from, Bound::Unbounded))
            .filter(|entry| entry.as_ref().map_or(true, |(k, _)| k.as_ref() != BUILT))
            .map(move |entry| {
                let (key, _) = entry?;
                let (at, id) = place(&key)?;
                let record = match principals.get(id.as_bytes())? {
                    Some(raw) => Some(records::decode_principal(&raw)?),
                    None => None,
                };
                // An entry is current only if it holds the principal's folded last use.
                let current = match &record {
                    Some(_) => self.principal_usage(id)?.last_used_at == at,
                    None => false,
                };
                Ok(((at, id), record.filter(|_| current)))
            }))
    }
}

/// Files what a restore imports into tree `tree` under `key`: a client or an API token at its
/// total's last use, or, for a principal's total, its principal at the total's last use.
/// Call before writing it.
pub(super) fn imported(
    e: &Engine,
    tree: TreeId,
    key: &[u8],
    value: &[u8],
) -> Result<(), StoreError> {
    match tree {
        TreeId::Principals => {
            let record = records::decode_principal(value)?;
            if filed(record.kind) {
                let at = folded(e, record.id)?;
                e.last_used.insert(self::key(at, record.id), &[])?;
            }
        }
        TreeId::Usage if key.first() == Some(&super::usage::PRINCIPAL) => {
            let id = Uuid::from_slice(&key[1..])
                .map_err(|_| StoreError::corrupt("usage", "a key without an id".to_owned()))?;
            let old = folded(e, id)?;
            let new = Used::decode(value)?.last_used_at;
            file_moved(e, id, old, new)?;
            unfile_old(e, id, old, new)?;
        }
        _ => {}
    }
    Ok(())
}

/// Principal `id`'s folded last use.
fn folded(e: &Engine, id: Uuid) -> Result<Option<UnixMillis>, StoreError> {
    match e
        .usage
        .get(super::usage::key(super::usage::PRINCIPAL, id))?
    {
        Some(v) => Ok(Used::decode(&v)?.last_used_at),
        None => Ok(None),
    }
}

/// A fold's move of principal `id` from last use `old` to `new`: files the new place. Call
/// before writing the total; [`unfile_old`] after.
pub(super) fn file_moved(
    e: &Engine,
    id: Uuid,
    old: Option<UnixMillis>,
    new: Option<UnixMillis>,
) -> Result<(), StoreError> {
    if old != new {
        e.last_used.insert(key(new, id), &[])?;
    }
    Ok(())
}

/// Removes the old place of a move that [`file_moved`] filed, once the total is written.
pub(super) fn unfile_old(
    e: &Engine,
    id: Uuid,
    old: Option<UnixMillis>,
    new: Option<UnixMillis>,
) -> Result<(), StoreError> {
    if old != new {
        e.last_used.remove(key(old, id))?;
    }
    Ok(())
}

/// Removes principal `id`'s entry at `at` (its principal is being removed, or is gone).
pub(super) fn unfile(e: &Engine, at: Option<UnixMillis>, id: Uuid) -> Result<(), StoreError> {
    e.last_used.remove(key(at, id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys sort by last use, never first, then by id; a key gives back its place; and no
    /// entry's key is the marker's length.
    #[test]
    fn keys_sort_by_last_use_and_round_trip() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let places = [
            (None, b),
            (Some(-5), a),
            (Some(0), a),
            (Some(1), b),
            (Some(1_700_000_000_000), a),
            (Some(1_700_000_000_000), b),
        ];
        let keys: Vec<_> = places.iter().map(|(at, id)| key(*at, *id)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for (k, p) in keys.iter().zip(places) {
            assert_eq!(place(k).unwrap(), p);
            assert_ne!(k.len(), BUILT.len());
        }
    }

    fn principal(kind: PrincipalKind, n: u128) -> PrincipalRecord {
        PrincipalRecord {
            id: Uuid::from_u128(n),
            kind,
            env: super::super::records::StoredEnv::Live,
            label: None,
            scopes: Vec::new(),
            max_sessions: None,
            created_at: 0,
            external_id: None,
            meta: Vec::new(),
        }
    }

    fn walked(store: &Store, after: Option<Place>) -> Vec<Uuid> {
        store
            .principals_by_last_use(after)
            .unwrap()
            .filter_map(|entry| entry.unwrap().1.map(|p| p.id))
            .collect()
    }

    /// A walk lists clients and API tokens (not admin principals of other kinds) once each,
    /// passing over an entry whose place is stale or whose principal is gone; removing a
    /// principal removes its entry; and a data dir without the tree gets it built at open.
    #[test]
    fn a_walk_passes_over_stale_and_gone_entries_and_is_built_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (
            principal(PrincipalKind::Client, 1),
            principal(PrincipalKind::ApiToken, 2),
        );
        assert!(store.insert_principal(&a).unwrap());
        assert!(store.insert_principal(&b).unwrap());
        assert_eq!(walked(&store, None), vec![a.id, b.id]);
        // What a crash between filing a new place and writing the total leaves, and what a
        // fold racing a delete leaves.
        let e = store.engine().unwrap();
        e.last_used.insert(key(Some(5), a.id), &[]).unwrap();
        e.last_used
            .insert(key(Some(6), Uuid::from_u128(3)), &[])
            .unwrap();
        assert_eq!(walked(&store, None), vec![a.id, b.id]);
        assert_eq!(walked(&store, Some((None, a.id))), vec![b.id]);
        store.remove_principal(b.id).unwrap();
        assert!(!e.last_used.contains_key(key(None, b.id)).unwrap());
        assert_eq!(walked(&store, None), vec![a.id]);
        // As before the tree existed.
        drop(e);
        store.forget_index(|e| &e.last_used);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(walked(&store, None), vec![a.id]);
    }
}
