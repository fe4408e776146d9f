//! Committing changes to etcd: one transaction per change, acknowledged once etcd has
//! committed it, or failed with `UNAVAILABLE` after `etcd_timeout`.
//!
//! Rules that span hosts are transaction compares, never a read followed by a write:
//! - an external id is claimed only if its claim key does not exist (`create_revision = 0`);
//! - a credential is created only if its owner still exists (`version > 0` on `p/<owner>`);
//! - a session or test key is issued only if none of its client's credentials changed since
//!   the revision this host's copy had applied before it counted them (one range compare on
//!   `c/<client>/`). If one did, the copy catches up ([`super::mark`]), the rule is checked
//!   again on it, and the transaction is retried; only a rule that still fails refuses.
//!
//! A change that fails has already been applied to the copy: every key it touched is read
//! again from etcd ([`repair`]), so the copy ends up holding what etcd holds, whatever became
//! of the change. Until then the host refuses changes, which would decide on a wrong copy.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use uuid::Uuid;

use super::keys;
use super::{lease, load, Shared};
use crate::store::replica::{Change, CommitError, Committing, Op, OwnerRule};
use crate::store::{StoreError, StoredKind};

/// Attempts at a transaction whose owner compare failed while the rule still held.
const ATTEMPTS: usize = 5;

/// One write of a change.
enum Write {
    /// A put; a session's keys carry the lease that ends them at their 7-day cap.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        until: Option<i64>,
    },
    Delete(Vec<u8>),
    /// Every key starting with this.
    DeleteRange(Vec<u8>),
}

/// A change as etcd operations.
struct Plan {
    compares: Vec<Compare>,
    ops: Vec<Write>,
    /// Claim keys, read back when the transaction fails, to tell a taken id.
    claims: Vec<(Vec<u8>, Uuid, String)>,
    /// The owner rules the change relied on.
    rules: Vec<(Uuid, OwnerRule)>,
    /// Every key written.
    keys: Vec<Vec<u8>>,
}

fn plan(k: &keys::Keys, ops: &[Op]) -> Result<Plan, StoreError> {
    let mut plan = Plan {
        compares: Vec::new(),
        ops: Vec::new(),
        claims: Vec::new(),
        rules: Vec::new(),
        keys: Vec::new(),
    };
    let leased = |plan: &mut Plan, key: Vec<u8>, value: Vec<u8>, until: Option<i64>| {
        plan.keys.push(key.clone());
        plan.ops.push(Write::Put { key, value, until });
    };
    let put = |plan: &mut Plan, key: Vec<u8>, value: Vec<u8>| leased(plan, key, value, None);
    let delete = |plan: &mut Plan, key: Vec<u8>| {
        plan.keys.push(key.clone());
        plan.ops.push(Write::Delete(key));
    };
    // A principal's deletion takes every credential filed under it in etcd, whatever this
    // host's copy knew of: one another host issued a moment ago goes too.
    let gone: std::collections::HashSet<Uuid> = ops
        .iter()
        .filter_map(|op| match op {
            Op::DeletePrincipal { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    // Principals this change creates: their credentials need no compare that they exist.
    let created: std::collections::HashSet<Uuid> = ops
        .iter()
        .filter_map(|op| match op {
            Op::PutPrincipal {
                record,
                existing: false,
                ..
            } => Some(record.id),
            _ => None,
        })
        .collect();
    for op in ops {
        match op {
            Op::PutCredential {
                hash,
                record,
                existing,
            } => {
                if !*existing && !record.owner.is_nil() && !created.contains(&record.owner) {
                    // A credential issued to a principal another host deleted meanwhile (or
                    // one whose delete committed first, while this change was in doubt) must
                    // not outlive it: the delete's range delete has already run.
                    plan.compares.push(Compare::version(
                        k.principal(record.owner),
                        CompareOp::Greater,
                        0,
                    ));
                }
                let key = k.credential(record.owner, record.id);
                plan.compares.push(Compare::version(
                    key,
                    if *existing {
                        CompareOp::Greater
                    } else {
                        CompareOp::Equal
                    },
                    0,
                ));
                let until = record
                    .max_expires_at
                    .filter(|_| record.kind == StoredKind::Session);
                leased(
                    &mut plan,
                    k.credential(record.owner, record.id),
                    keys::encode_credential(hash, record)?,
                    until,
                );
                if let (StoredKind::Session, Some(at)) = (record.kind, record.expires_at) {
                    leased(
                        &mut plan,
                        k.expiry(record.id),
                        keys::encode_expiry(at, record.owner),
                        until,
                    );
                }
            }
            Op::DeleteCredential { id, owner } => {
                if gone.contains(owner) {
                    // Inside the owner's range delete (one txn may not name a key twice).
                    plan.keys.push(k.credential(*owner, *id));
                } else {
                    delete(&mut plan, k.credential(*owner, *id));
                }
                delete(&mut plan, k.expiry(*id));
            }
            Op::PutPrincipal {
                record,
                existing,
                released,
                claims,
            } => {
                plan.compares.push(Compare::version(
                    k.principal(record.id),
                    if *existing {
                        CompareOp::Greater
                    } else {
                        CompareOp::Equal
                    },
                    0,
                ));
                put(
                    &mut plan,
                    k.principal(record.id),
                    keys::encode_principal(record)?,
                );
                if let Some(old) = released {
                    delete(&mut plan, k.claim(record.env, old));
                }
                if let (true, Some(external_id)) = (claims, &record.external_id) {
                    let claim = k.claim(record.env, external_id);
                    plan.compares.push(Compare::create_revision(
                        claim.clone(),
                        CompareOp::Equal,
                        0,
                    ));
                    plan.claims
                        .push((claim.clone(), record.id, external_id.clone()));
                    put(&mut plan, claim, record.id.as_bytes().to_vec());
                }
            }
            Op::DeletePrincipal { id, released } => {
                delete(&mut plan, k.principal(*id));
                plan.ops.push(Write::DeleteRange(k.owned_by(*id)));
                if let Some((env, external_id)) = released {
                    delete(&mut plan, k.claim(*env, external_id));
                }
            }
            Op::Disabled { id, at } => match at {
                Some(at) => put(&mut plan, k.disabled(*id), keys::encode_disabled(*at)),
                None => delete(&mut plan, k.disabled(*id)),
            },
            Op::OwnerUnchanged { owner, rule } => plan.rules.push((*owner, *rule)),
        }
    }
    Ok(plan)
}

impl Plan {
    /// The transaction, with the owner compares at the copy's revision `applied`.
    async fn txn(&self, shared: &Shared, applied: i64) -> Result<Txn, etcd_client::Error> {
        let mut ops = Vec::with_capacity(self.ops.len());
        for write in &self.ops {
            ops.push(match write {
                Write::Put { key, value, until } => {
                    let options = match until {
                        Some(until) => {
                            Some(PutOptions::new().with_lease(lease::until(shared, *until).await?))
                        }
                        None => None,
                    };
                    TxnOp::put(key.clone(), value.clone(), options)
                }
                Write::Delete(key) => TxnOp::delete(key.clone(), None),
                Write::DeleteRange(prefix) => TxnOp::delete(
                    prefix.clone(),
                    Some(etcd_client::DeleteOptions::new().with_prefix()),
                ),
            });
        }
        let mut compares = self.compares.clone();
        for (owner, _) in &self.rules {
            compares.push(
                Compare::mod_revision(shared.keys.owned_by(*owner), CompareOp::Less, applied + 1)
                    .with_prefix(),
            );
        }
        let reads: Vec<TxnOp> = self
            .claims
            .iter()
            .map(|(key, _, _)| TxnOp::get(key.clone(), None))
            .collect();
        Ok(Txn::new().when(compares).and_then(ops).or_else(reads))
    }
}

/// Starts committing `change`; the keys it writes count as in flight from now.
pub fn start(shared: &Arc<Shared>, change: Change) -> Committing {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let plan = match plan(&shared.keys, &change.ops) {
        Ok(plan) => plan,
        Err(e) => {
            let _ = tx.send(Err(CommitError::Store(e)));
            return rx;
        }
    };
    // A copy that may be stale, or holds a failed change, decides nothing: not even that
    // there is nothing to write. Changes are refused before they touch the copy while it is
    // unsettled (`dispatch`); this one began just before it became so.
    if let Some(why) = shared.unsettled() {
        // Applied to the copy all the same: read back what etcd holds, refusing writes
        // until then, as after a failed write.
        shared.echo.begin(&plan.keys);
        let again = shared.echo.end(&plan.keys, None);
        repair(shared, again);
        let _ = tx.send(Err(CommitError::Store(StoreError::Unavailable(why))));
        return rx;
    }
    // A change that writes nothing but relied on a rule (a revoke of no sessions) still
    // checks it against the other hosts, in an empty transaction.
    if plan.ops.is_empty() && plan.rules.is_empty() {
        let _ = tx.send(Ok(()));
        return rx;
    }
    shared.echo.begin(&plan.keys);
    let task = Arc::clone(shared);
    shared.runtime.spawn(async move {
        let (result, revision) = run(&task, &plan, change.seen).await;
        let again = task.echo.end(&plan.keys, revision);
        if revision.is_none() {
            // Held before the answer: a retry must not decide on the copy as it stands.
            repair(&task, again);
            let _ = tx.send(result);
        } else {
            // Answered before the re-read: it does not change the answer.
            let _ = tx.send(result);
            reread(&task, again, false).await;
        }
    });
    rx
}

/// Reads `keys` again after a change the copy holds and etcd may not; writes are refused
/// from now until they are read ([`Shared::unsettled`]).
fn repair(shared: &Arc<Shared>, keys: Vec<Vec<u8>>) {
    use std::sync::atomic::Ordering;
    shared.repairing.fetch_add(keys.len(), Ordering::AcqRel);
    let task = Arc::clone(shared);
    shared
        .runtime
        .spawn(async move { reread(&task, keys, true).await });
}

/// Runs the transaction, its rules compared against the copy as it was at `seen`, retrying
/// while they still hold. Returns the outcome and, if it committed, its revision.
async fn run(shared: &Shared, plan: &Plan, seen: i64) -> (Result<(), CommitError>, Option<i64>) {
    let timeout = shared.config.timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut applied = seen;
    for _ in 0..ATTEMPTS {
        let mut kv = shared.client.kv_client();
        let attempt = async { kv.txn(plan.txn(shared, applied).await?).await };
        let response = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                if e.to_string().contains("lease not found") {
                    shared.leases.forget();
                }
                return (Err(unavailable(&e.to_string(), timeout)), None);
            }
            Err(_) => return (Err(unavailable("no answer", timeout)), None),
        };
        let revision = response.header().map_or(0, |h| h.revision());
        if response.succeeded() {
            return (Ok(()), Some(revision));
        }
        // A claim taken?
        for (op, (_, holder, external_id)) in response.op_responses().iter().zip(&plan.claims) {
            if let TxnOpResponse::Get(got) = op {
                if got.kvs().iter().any(|kv| kv.value() != holder.as_bytes()) {
                    return (Err(CommitError::Conflict(external_id.clone())), None);
                }
            }
        }
        if plan.rules.is_empty() {
            return (
                Err(CommitError::Store(StoreError::Unavailable(
                    "a record this change rewrites was deleted, or one it creates was created, \
                     on another host meanwhile; retry, and the answer will say which"
                        .into(),
                ))),
                None,
            );
        }
        // Another host changed a client's credentials: look again once the copy has them.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Err(why) = super::mark::reach(shared, left).await {
            return (Err(unavailable(&why, timeout)), None);
        }
        // Read before the rules are checked, as `seen` was.
        let at = shared.applied();
        if let Err(refused) = check_rules(shared, &plan.rules) {
            return (Err(refused), None);
        }
        applied = at;
    }
    (
        Err(unavailable(
            "its clients' credentials kept changing on other hosts",
            timeout,
        )),
        None,
    )
}

/// Checks the owner rules on the copy as it now stands.
fn check_rules(shared: &Shared, rules: &[(Uuid, OwnerRule)]) -> Result<(), CommitError> {
    let now = shared.clock.now();
    for (owner, rule) in rules {
        let held = shared
            .store
            .credentials_of(*owner)
            .map_err(CommitError::Store)?;
        match *rule {
            OwnerRule::Seats { limit, except } => {
                let live = held
                    .iter()
                    .filter(|f| {
                        f.record.kind == StoredKind::Session
                            && f.record.id != except
                            && f.record.is_live(now)
                    })
                    .count();
                if live >= limit as usize {
                    return Err(CommitError::SessionLimit(limit));
                }
            }
            OwnerRule::OneTestKey { except } => {
                if held
                    .iter()
                    .any(|f| f.record.kind == StoredKind::TestKey && f.record.id != except)
                {
                    return Err(CommitError::TestKeyExists);
                }
            }
            OwnerRule::NoSessions => {
                if held.iter().any(|f| f.record.kind == StoredKind::Session) {
                    return Err(CommitError::Store(StoreError::Unavailable(
                        "another host issued a session for this client while its sessions \
                         were being revoked; retry the revoke"
                            .into(),
                    )));
                }
            }
        }
    }
    Ok(())
}

fn unavailable(why: &str, timeout: Duration) -> CommitError {
    CommitError::Store(StoreError::Unavailable(format!(
        "etcd did not commit the change within etcd_timeout ({} ms): {why}. It may still \
         commit: retry a revoke, logout, delete or disable as it is; after a create or issue, \
         list before retrying",
        timeout.as_millis()
    )))
}

/// Reads `keys` again from etcd and applies what it holds, retrying until etcd answers.
/// For a `repair` ([`repair`]), each key read lowers the count of keys being repaired.
pub async fn reread(shared: &Shared, keys: Vec<Vec<u8>>, repair: bool) {
    use std::sync::atomic::Ordering;
    for key in keys {
        let mut backoff = Duration::from_millis(50);
        loop {
            let begun = shared.echo.reread_begins(&key);
            let mut kv = shared.client.kv_client();
            let got = match tokio::time::timeout(shared.config.timeout, kv.get(key.clone(), None))
                .await
            {
                Ok(Ok(got)) => got,
                _ => {
                    shared.echo.reread_ends(&key, 0);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let revision = got.header().map_or(0, |h| h.revision());
            let applying = shared.gate.write();
            if shared.echo.reread_applies(&key, begun, revision) {
                let applied = match got.kvs().first() {
                    Some(item) => load::apply_put(shared, &key, item.value()),
                    None => load::apply_delete(shared, &key),
                };
                if let Err(e) = applied {
                    tracing::error!(error = %e, "applying a re-read from etcd failed");
                }
            }
            drop(applying);
            if !shared.echo.reread_ends(&key, revision) {
                break;
            }
        }
        if repair {
            shared.repairing.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PrincipalKind, PrincipalRecord, StoredEnv};

    fn session(owner: Uuid) -> Op {
        Op::PutCredential {
            hash: [7; 32],
            record: crate::store::tests::live_session(Uuid::new_v4(), owner),
            existing: false,
        }
    }

    /// A credential for an existing principal compares that the principal is still there (a
    /// delete that commits first takes it); one for a principal made in the same change
    /// cannot, and an admin key has no principal.
    #[test]
    fn new_credentials_compare_that_their_owner_exists() {
        let k = keys::Keys::new("/t/");
        let owner = Uuid::new_v4();
        // Its own key's `version = 0`, and its owner's `version > 0`.
        assert_eq!(plan(&k, &[session(owner)]).unwrap().compares.len(), 2);
        assert_eq!(plan(&k, &[session(Uuid::nil())]).unwrap().compares.len(), 1);
        let principal = Op::PutPrincipal {
            record: PrincipalRecord {
                id: owner,
                kind: PrincipalKind::ApiToken,
                env: StoredEnv::Live,
                label: None,
                scopes: Vec::new(),
                max_sessions: None,
                created_at: 1,
                external_id: None,
                meta: Vec::new(),
            },
            existing: false,
            released: None,
            claims: false,
        };
        assert_eq!(
            plan(&k, &[principal, session(owner)])
                .unwrap()
                .compares
                .len(),
            2
        );
    }
}
