//! What a backup reads in etcd mode: every record under the prefix at one revision, paged,
//! loaded into a scratch store ([`crate::backup::SharedTruth`]). This host's copy is not
//! used: other hosts' changes reach it one by one, so it is no snapshot.

use std::sync::Arc;

use etcd_client::{GetOptions, KeyValue};

use super::keys::{self, Key, Keys};
use super::load::range_end;
use super::{Cluster, Shared};
use crate::backup::SharedTruth;
use crate::store::{Store, StoreError};

/// Keys per page.
const PAGE: i64 = 2_000;

impl Cluster {
    /// This cluster as the source of a backup's shared records.
    pub(crate) fn as_truth(self: &Arc<Self>) -> Arc<dyn SharedTruth> {
        Arc::clone(self) as Arc<dyn SharedTruth>
    }
}

impl SharedTruth for Cluster {
    fn load_into(&self, into: &Store) -> Result<i64, StoreError> {
        let shared = &self.shared;
        let revision = on_client(shared, |s| async move {
            let mut kv = s.client.kv_client();
            let got = kv
                .get(
                    s.keys.prefix().as_bytes(),
                    Some(GetOptions::new().with_count_only()),
                )
                .await?;
            Ok(got.header().map_or(0, |h| h.revision()))
        })?;
        // Principals first: credentials take their owner's scopes.
        for section in ["p/", "c/", "e/", "d/"] {
            let start = shared.keys.section(section);
            let end = range_end(&start);
            let mut from = start;
            loop {
                let (key, end) = (from.clone(), end.clone());
                let (kvs, more) = on_client(shared, move |s| async move {
                    let options = GetOptions::new()
                        .with_range(end)
                        .with_limit(PAGE)
                        .with_revision(revision);
                    let mut page = s.client.kv_client().get(key, Some(options)).await?;
                    Ok((page.take_kvs(), page.more()))
                })?;
                let Some(last) = kvs.last() else {
                    break;
                };
                from = last.key().to_vec();
                from.push(0);
                for item in &kvs {
                    apply(&shared.keys, into, item)?;
                }
                if !more {
                    break;
                }
            }
        }
        Ok(revision)
    }
}

/// Runs `f` on the client's runtime and waits for it, for at most `etcd_timeout`.
fn on_client<T, F>(shared: &Arc<Shared>, f: impl FnOnce(Arc<Shared>) -> F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
{
    let timeout = shared.config.timeout;
    let task = f(Arc::clone(shared));
    let (tx, rx) = std::sync::mpsc::channel();
    shared.runtime.spawn(async move {
        let _ = tx.send(tokio::time::timeout(timeout, task).await);
    });
    let failed = |why: String| {
        StoreError::Unavailable(format!(
            "the backup could not read etcd: {why}; nothing was written, try again"
        ))
    };
    match rx.recv() {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) => Err(failed(e.to_string())),
        Ok(Err(_)) => Err(failed(format!(
            "no answer within etcd_timeout ({} ms)",
            timeout.as_millis()
        ))),
        Err(_) => Err(failed("the etcd client's thread is gone".into())),
    }
}

/// Puts one record read from etcd into the scratch store, as a load puts it into the copy.
fn apply(keys_: &Keys, into: &Store, item: &KeyValue) -> Result<(), StoreError> {
    match keys_.parse(item.key()) {
        Some(Key::Credential { .. }) => {
            let (hash, record) = keys::decode_credential(item.value())?;
            into.mirror_credential(&hash, record)
        }
        Some(Key::Expiry { id }) => match keys::decode_expiry(item.value()) {
            Some((at, _)) => into.mirror_expiry(id, at).map(drop),
            None => Ok(()),
        },
        Some(Key::Principal { .. }) => {
            into.mirror_principal(&keys::decode_principal(item.value())?)
        }
        Some(Key::Disabled { id }) => {
            into.mirror_disabled(id, Some(keys::decode_disabled(item.value())))
        }
        Some(Key::Claim) | None => Ok(()),
    }
}
