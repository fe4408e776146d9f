//! Disabled ids: clients, API-token principals and credentials that an operator switched off.
//!
//! The `disabled` sled tree maps an id (16 bytes) to when it was disabled (i64 big-endian Unix
//! ms); an in-memory set mirrors it, loaded at open.
//! A principal's id stands for every credential it holds, so one entry disables them all, and
//! a credential issued later is disabled too: no credential record carries a copy of the flag.
//! Verify asks [`Store::is_disabled`] for the credential and its owner: one atomic load while
//! nothing is disabled, two hash lookups otherwise.

use dashmap::DashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

use super::engine::Engine;
use super::{replica, Store, StoreError};

/// The in-memory mirror of the `disabled` tree.
#[derive(Default)]
pub(super) struct Disabled {
    ids: DashSet<Uuid>,
    /// How many ids `ids` holds, so that a verify with nothing disabled touches no shard lock.
    count: AtomicUsize,
}

impl Disabled {
    /// The ids the `disabled` tree of `engine` holds.
    pub(super) fn load(engine: &Engine) -> Result<Disabled, StoreError> {
        let disabled = Disabled::default();
        for entry in engine.disabled.iter() {
            let (key, _) = entry?;
            disabled.insert(super::keys::uuid_from("disabled", &key)?);
        }
        Ok(disabled)
    }

    fn insert(&self, id: Uuid) -> bool {
        let new = self.ids.insert(id);
        if new {
            self.count.fetch_add(1, Ordering::AcqRel);
        }
        new
    }

    fn remove(&self, id: Uuid) -> bool {
        let gone = self.ids.remove(&id).is_some();
        if gone {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        gone
    }

    /// Every id disabled.
    #[cfg(feature = "etcd")]
    pub(super) fn all(&self) -> std::collections::HashSet<Uuid> {
        self.ids.iter().map(|id| *id).collect()
    }

    fn contains(&self, id: Uuid) -> bool {
        self.count.load(Ordering::Acquire) != 0 && self.ids.contains(&id)
    }
}

impl Store {
    /// Whether `credential` or its `owner` is disabled.
    pub(crate) fn is_disabled(&self, credential: Uuid, owner: Uuid) -> bool {
        let disabled = &self.inner.disabled;
        disabled.contains(credential) || disabled.contains(owner)
    }

    /// Disables or enables `id`; returns whether anything changed.
    ///
    /// The in-memory set changes at once, so the next verify on any connection sees it; the
    /// caller acknowledges only after the group commit has made the sled write durable.
    pub(crate) fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let set = &self.inner.disabled;
        if disabled {
            if !set.insert(id) {
                // A replica's copy may be behind the truth (another host enabled it a moment
                // ago): write what was asked all the same, with the time the copy holds.
                if replica::capturing() {
                    let at = self
                        .engine()?
                        .disabled
                        .get(id.as_bytes())?
                        .and_then(|v| v.as_ref().try_into().ok().map(i64::from_be_bytes))
                        .unwrap_or(now);
                    replica::record(|| replica::Op::Disabled { id, at: Some(at) });
                }
                return Ok(false);
            }
            let written = self.write_sled(|e| {
                e.disabled.insert(id.as_bytes(), &now.to_be_bytes())?;
                Ok(())
            });
            if written.is_err() {
                // Not acknowledged: leave memory as the disk is.
                set.remove(id);
            } else {
                replica::record(|| replica::Op::Disabled { id, at: Some(now) });
            }
            written.map(|()| true)
        } else {
            if !set.ids.contains(&id) {
                // As above: another host may have disabled it a moment ago.
                replica::record(|| replica::Op::Disabled { id, at: None });
                return Ok(false);
            }
            self.write_sled(|e| {
                e.disabled.remove(id.as_bytes())?;
                Ok(())
            })?;
            replica::record(|| replica::Op::Disabled { id, at: None });
            Ok(set.remove(id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::replica::{Capture, Op};
    use super::*;

    /// With a replica, a disable or enable the copy already agrees with is still written: the
    /// copy may be behind another host's opposite switch, which etcd already holds.
    #[test]
    fn a_switch_the_copy_agrees_with_is_still_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = Uuid::new_v4();
        let capture = Capture::for_test();
        assert!(store.set_disabled(id, true, 5).unwrap());
        assert!(!store.set_disabled(id, true, 9).unwrap());
        assert!(store.set_disabled(id, false, 0).unwrap());
        assert!(!store.set_disabled(id, false, 0).unwrap());
        let ops: Vec<Option<i64>> = Capture::take()
            .ops
            .into_iter()
            .map(|op| match op {
                Op::Disabled { at, .. } => at,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        // The second disable keeps the time the copy holds.
        assert_eq!(ops, vec![Some(5), Some(5), None, None]);
        drop(capture);
    }
}
