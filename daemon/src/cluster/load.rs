//! Loading everything under the prefix into this host's copy: at start, and again whenever
//! the watch's revision has been compacted away, so a gap is never skipped.
//!
//! All pages are read at one revision, so the copy is a consistent snapshot; then what the
//! copy holds and etcd does not is dropped. Principals are loaded before credentials, which
//! take their owner's scopes.

use std::collections::HashSet;
use std::path::Path;

use etcd_client::{GetOptions, KeyValue};
use uuid::Uuid;

use super::keys::{self, Key};
use super::{ClusterError, Shared};
use crate::store::{Store, StoreError};

/// The marker that says a data dir holds a copy of etcd, not a single-host store.
const MARKER: &str = "etcd-copy";
/// Keys per page of a load.
const PAGE: i64 = 2_000;

/// Refuses a data dir that holds a single-host store: loading would discard it.
///
/// # Errors
/// [`ClusterError::LocalData`].
pub fn check_data_dir(dir: &Path, store: &Store) -> Result<(), ClusterError> {
    if dir.join(MARKER).exists() || store.is_empty()? {
        return Ok(());
    }
    Err(ClusterError::LocalData {
        dir: dir.to_owned(),
    })
}

/// Marks the data dir as a copy of etcd.
///
/// # Errors
/// If the marker cannot be written.
pub fn mark_data_dir(dir: &Path) -> Result<(), ClusterError> {
    std::fs::write(
        dir.join(MARKER),
        "This data dir holds a copy of etcd (backend = \"etcd\"); keywardd reloads it at start.\n",
    )
    .map_err(|e| ClusterError::Store(StoreError::Io(e)))
}

/// The end of the range of keys starting with `prefix`.
pub fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The ranges to read a section of `held` keys starting with `section` in: itself, or one
/// per first one or two hex digits of the ids that follow it.
fn shards(section: &[u8], held: i64) -> Vec<Vec<u8>> {
    let digits = match held {
        ..=20_000 => return vec![section.to_vec()],
        20_001..=500_000 => 1,
        _ => 2,
    };
    (0..16u32.pow(digits))
        .map(|n| {
            let mut shard = section.to_vec();
            shard.extend(format!("{n:0width$x}", width = digits as usize).bytes());
            shard
        })
        .collect()
}

/// Loads everything at one revision into the copy and drops what etcd no longer holds;
/// returns the revision. The copy counts as fresh from then on.
///
/// # Errors
/// If etcd cannot be read or the copy cannot be written.
pub async fn full(shared: &Shared) -> Result<i64, ClusterError> {
    let connect = |e: etcd_client::Error| ClusterError::Connect {
        endpoints: shared.config.endpoints.join(", "),
        detail: e.to_string(),
    };
    let mut kv = shared.client.kv_client();
    let revision = kv
        .get(
            shared.keys.prefix().as_bytes(),
            Some(GetOptions::new().with_count_only()),
        )
        .await
        .map_err(connect)?
        .header()
        .map_or(0, |h| h.revision());
    let held = shared.store.mirror_held()?;
    let mut seen = Seen::default();
    for section in ["p/", "c/", "e/", "d/"] {
        let start = shared.keys.section(section);
        // etcd 3.4 walks every key left in a range before it applies a page's limit, so
        // paging one large range costs the square of its size: a large section is read in
        // 16 or 256 ranges by the first hex digits of its ids instead.
        let keys = kv
            .get(
                start.clone(),
                Some(
                    GetOptions::new()
                        .with_range(range_end(&start))
                        .with_count_only()
                        .with_revision(revision),
                ),
            )
            .await
            .map_err(connect)?
            .count();
        for shard in shards(&start, keys) {
            let end = range_end(&shard);
            let mut from = shard;
            loop {
                let options = GetOptions::new()
                    .with_range(end.clone())
                    .with_limit(PAGE)
                    .with_revision(revision);
                let mut page = tokio::time::timeout(
                    shared.config.timeout,
                    kv.get(from.clone(), Some(options)),
                )
                .await
                .map_err(|_| ClusterError::Connect {
                    endpoints: shared.config.endpoints.join(", "),
                    detail: "a page of the load timed out".into(),
                })?
                .map_err(connect)?;
                let more = page.more();
                let kvs = page.take_kvs();
                let Some(last) = kvs.last() else {
                    break;
                };
                from = last.key().to_vec();
                from.push(0);
                for item in &kvs {
                    apply_loaded(shared, item, &mut seen)?;
                }
                if !more {
                    break;
                }
            }
        }
    }
    drop_unseen(shared, &held, &seen, revision)?;
    shared.applied_up_to(revision);
    shared.heard_now();
    Ok(revision)
}

/// Ids a load found in etcd.
#[derive(Default)]
struct Seen {
    credentials: HashSet<Uuid>,
    principals: HashSet<Uuid>,
    disabled: HashSet<Uuid>,
}

fn apply_loaded(shared: &Shared, item: &KeyValue, seen: &mut Seen) -> Result<(), StoreError> {
    match shared.keys.parse(item.key()) {
        Some(Key::Credential { id }) => {
            seen.credentials.insert(id);
        }
        Some(Key::Principal { id }) => {
            seen.principals.insert(id);
        }
        Some(Key::Disabled { id }) => {
            seen.disabled.insert(id);
        }
        _ => {}
    }
    let _applying = shared.gate.write();
    if shared.echo.admits(item.key(), item.mod_revision()) {
        apply_put(shared, item.key(), item.value())?;
    }
    Ok(())
}

/// Applies a put of `key` (a watch event's, a load's or a re-read's) to the copy.
///
/// # Errors
/// If the value does not decode or the copy cannot be written.
pub fn apply_put(shared: &Shared, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let store = &shared.store;
    match shared.keys.parse(key) {
        Some(Key::Credential { .. }) => {
            let (hash, record) = keys::decode_credential(value)?;
            store.mirror_credential(&hash, record)
        }
        Some(Key::Expiry { id }) => {
            let Some((at, owner)) = keys::decode_expiry(value) else {
                return Ok(());
            };
            if !store.mirror_expiry(id, at)? && at > shared.clock.now() {
                // Slid alive elsewhere after this copy's own sweep ended it: fetch it back.
                shared.missing(vec![shared.keys.credential(owner, id), key.to_vec()]);
            }
            Ok(())
        }
        Some(Key::Principal { .. }) => store.mirror_principal(&keys::decode_principal(value)?),
        Some(Key::Disabled { id }) => store.mirror_disabled(id, Some(keys::decode_disabled(value))),
        Some(Key::Claim) | None => Ok(()),
    }
}

/// Applies a delete of `key` to the copy.
///
/// # Errors
/// If the copy cannot be written.
pub fn apply_delete(shared: &Shared, key: &[u8]) -> Result<(), StoreError> {
    let store = &shared.store;
    match shared.keys.parse(key) {
        Some(Key::Credential { id }) => store.mirror_credential_gone(id),
        Some(Key::Principal { id }) => store.mirror_principal_gone(id),
        Some(Key::Disabled { id }) => store.mirror_disabled(id, None),
        Some(Key::Expiry { .. } | Key::Claim) | None => Ok(()),
    }
}

/// Drops from the copy what it held before the load and etcd no longer has, except what
/// this host is writing or has written since the load's revision.
fn drop_unseen(
    shared: &Shared,
    held: &crate::store::mirror::Held,
    seen: &Seen,
    revision: i64,
) -> Result<(), StoreError> {
    let store = &shared.store;
    let _applying = shared.gate.write();
    for &id in held.credentials.difference(&seen.credentials) {
        let Some(found) = store.credential_by_id(id)? else {
            continue;
        };
        if shared
            .echo
            .admits(&shared.keys.credential(found.record.owner, id), revision)
        {
            store.mirror_credential_gone(id)?;
        }
    }
    for &id in held.principals.difference(&seen.principals) {
        if shared.echo.admits(&shared.keys.principal(id), revision) {
            store.mirror_principal_gone(id)?;
        }
    }
    for &id in held.disabled.difference(&seen.disabled) {
        if shared.echo.admits(&shared.keys.disabled(id), revision) {
            store.mirror_disabled(id, None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_sections_are_read_in_shards_that_cover_them() {
        assert_eq!(shards(b"/k/e/", 10), vec![b"/k/e/".to_vec()]);
        let sixteen = shards(b"/k/e/", 100_000);
        assert_eq!(sixteen.len(), 16);
        assert_eq!(sixteen[0], b"/k/e/0".to_vec());
        assert_eq!(sixteen[15], b"/k/e/f".to_vec());
        let many = shards(b"/k/e/", 2_000_000);
        assert_eq!((many.len(), many[255].clone()), (256, b"/k/e/ff".to_vec()));
    }

    #[test]
    fn range_ends_cover_their_prefix() {
        assert_eq!(range_end(b"/k/c/"), b"/k/c0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
    }
}
