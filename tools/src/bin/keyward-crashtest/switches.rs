//! Disable and enable in the crash loop: a few clients of their own, each with a test key,
//! switched off and on by one extra connection during the load.
//!
//! They are kept apart from the model of issued and revoked credentials, so a disable never
//! makes that model's "must verify" wrong. After each restart, `client show` and a verify of
//! each test key must agree with every acknowledged switch: a disabled credential never
//! verifies after a crash unless an acknowledged enable followed, and an acknowledged enable
//! is never undone. A switch cut off by the kill may have taken effect or not; the first check
//! after it decides which, and from then on that holds.

use keyward_client::{
    Client, CredentialKind, Error, ErrorCode, Op, Reply, Requirements, Scopes, Secret,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use crate::model::Model;

/// How many switched clients the run keeps.
const SWITCHES: usize = 4;
/// The pause between two switches, so that they stay a small share of the load.
const PACE: Duration = Duration::from_millis(3);

/// One flag the load switches: `Some(disabled)` once known, `None` while a switch cut off by
/// the kill leaves it open.
type Flag = Option<bool>;

/// A client and its test key, switched by id: the client's, or the key's own.
#[derive(Debug)]
pub(crate) struct Switch {
    client: Uuid,
    key_id: Uuid,
    token: Secret,
    /// Whether the client is disabled.
    client_off: Flag,
    /// Whether the test key itself is disabled.
    key_off: Flag,
}

impl Switch {
    fn flag(&mut self, id: Uuid) -> &mut Flag {
        if id == self.client {
            &mut self.client_off
        } else {
            &mut self.key_off
        }
    }
}

/// Creates the switched clients and their test keys.
///
/// # Errors
/// If the daemon refuses or fails.
pub(crate) async fn set_up(client: &mut Client) -> Result<Vec<Switch>, Error> {
    let mut switches = Vec::with_capacity(SWITCHES);
    for _ in 0..SWITCHES {
        let created = client
            .client_create(Some("switched".into()), None, Scopes::new())
            .await?;
        let key = client.test_key_create(created.client_id).await?;
        switches.push(Switch {
            client: created.client_id,
            key_id: key.id,
            token: key.token,
            client_off: Some(false),
            key_off: Some(false),
        });
    }
    Ok(switches)
}

/// The extra connection's loop: switch a random id off or on, record the answer, until the
/// connection dies with the daemon or `stop` is set.
pub(crate) async fn work(
    mut client: Client,
    model: Arc<Mutex<Model>>,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (id, off) = {
            let m = lock(&model);
            let Some(s) = m.switches.get(rng.random_range(0..m.switches.len().max(1))) else {
                return;
            };
            let id = if rng.random_bool(0.5) {
                s.client
            } else {
                s.key_id
            };
            (id, rng.random_bool(0.5))
        };
        let op = if off {
            Op::Disable { id }
        } else {
            Op::Enable { id }
        };
        let answer = client.call(op).await;
        if !settle(&model, id, off, answer) {
            return;
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Records a switch's answer; returns whether the connection is still up.
fn settle(model: &Mutex<Model>, id: Uuid, off: bool, answer: Result<Reply, Error>) -> bool {
    let mut m = lock(model);
    let cluster = m.spread.is_some();
    let Some(s) = m
        .switches
        .iter_mut()
        .find(|s| s.client == id || s.key_id == id)
    else {
        return false;
    };
    match answer {
        Ok(Reply::Disabled { .. } | Reply::Enabled { .. }) => {
            *s.flag(id) = Some(off);
            m.tally.acked += 1;
            m.tally.acked_changes += 1;
        }
        Ok(other) => {
            let what = format!("{other:?}");
            m.violation("unexpected reply", None, format!("a switch of {id}"), what);
        }
        // With several hosts: etcd did not commit it in time, and it may still. In doubt like a
        // cut-off one, and the last switch of this cycle, so that no later one races it.
        Err(Error::Daemon(e)) if cluster && e.code == ErrorCode::Unavailable => {
            let flag = s.flag(id);
            if *flag != Some(off) {
                *flag = None;
            }
            m.tally.unavailable += 1;
            return false;
        }
        Err(Error::Daemon(e)) => m.violation(
            "refused",
            None,
            format!("a switch of {id}, which exists"),
            e.to_string(),
        ),
        Err(_) => {
            // Cut off by the kill: it may or may not have been made durable.
            let flag = s.flag(id);
            if *flag != Some(off) {
                *flag = None;
            }
            return false;
        }
    }
    true
}

/// After a restart: every switched client and key is as the acknowledged switches left it,
/// and its test key verifies exactly when neither is disabled. Returns how many were checked.
///
/// # Errors
/// If the daemon stops answering.
pub(crate) async fn check(model: &mut Model, client: &mut Client) -> Result<u64, Error> {
    let mut checked = 0;
    for i in 0..model.switches.len() {
        let (cid, key_id, token) = {
            let s = &model.switches[i];
            (s.client, s.key_id, s.token.clone())
        };
        let shown = match client.client_show(cid).await {
            Ok(shown) => shown,
            Err(Error::Daemon(e)) => {
                model.violation(
                    "lost",
                    None,
                    format!("switched client {cid}, created at set-up"),
                    format!("client show answered {e}"),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        let key_off = shown
            .credentials
            .iter()
            .find(|c| c.id == key_id)
            .map(|c| c.disabled);
        let verified = client
            .verify(&token, Requirements::new().kind(CredentialKind::TestKey))
            .await;
        let refused_disabled = match verified {
            Ok(_) => false,
            Err(Error::Daemon(e)) if e.code == ErrorCode::CredentialDisabled => true,
            Err(Error::Daemon(e)) => {
                model.violation(
                    "lost",
                    None,
                    format!("test key {key_id} of switched client {cid}"),
                    format!("verify answered {e}"),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(key_off) = key_off else {
            model.violation(
                "lost",
                None,
                format!("test key {key_id} of switched client {cid}"),
                "client show does not list it".into(),
            );
            continue;
        };
        let s = &model.switches[i];
        let mut wrong = Vec::new();
        for (what, held, seen) in [
            ("client", s.client_off, shown.disabled),
            ("test key", s.key_off, key_off),
        ] {
            if held.is_some_and(|h| h != seen) {
                wrong.push(format!(
                    "the {what} is {} after the restart",
                    if seen { "disabled" } else { "enabled" }
                ));
            }
        }
        if refused_disabled != (shown.disabled || key_off) {
            wrong.push(format!(
                "verify {} the test key, but client show says client disabled: {}, key \
                 disabled: {key_off}",
                if refused_disabled {
                    "refused"
                } else {
                    "accepted"
                },
                shown.disabled
            ));
        }
        let acked = format!(
            "client {cid} acknowledged {}, its test key {}",
            state(s.client_off),
            state(s.key_off)
        );
        for observed in wrong {
            model.violation("switch", None, acked.clone(), observed);
        }
        let s = &mut model.switches[i];
        s.client_off = Some(shown.disabled);
        s.key_off = Some(key_off);
        checked += 1;
    }
    Ok(checked)
}

fn state(flag: Flag) -> &'static str {
    match flag {
        Some(true) => "disabled",
        Some(false) => "enabled",
        None => "cut off mid-switch",
    }
}

fn lock(model: &Mutex<Model>) -> std::sync::MutexGuard<'_, Model> {
    // A worker that panicked mid-update is re-raised by the load; the model is not reused then.
    model.lock().unwrap_or_else(|p| p.into_inner())
}
