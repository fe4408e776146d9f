//! Following etcd: one watch on the prefix from the revision after the copy's, applying every
//! event in order, and asking for progress notifications so that a quiet cluster and a lost
//! one can be told apart. How far the copy has applied comes from events only
//! ([`super::mark`] says why).
//!
//! The copy counts as fresh while the watch hears from etcd (an event or a progress
//! notification) at least every `max_staleness`; progress is requested four times as often.
//! The client asks for a leader (`require_leader`), so a member cut off from the quorum
//! cancels the watch rather than answer in silence. If the watch's revision has been
//! compacted away, everything is reloaded ([`super::load::full`]); a gap is never skipped.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType, WatchOptions};

use super::{load, Shared};

/// How a watch ended.
enum Ended {
    /// Its start revision was compacted away.
    Compacted(i64),
    /// The stream broke or was cancelled.
    Lost(String),
}

/// Follows etcd for as long as the process lives, reconnecting after every loss.
pub async fn run(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match watch(&shared).await {
            Ended::Compacted(at) => {
                tracing::warn!(
                    applied = shared.applied(),
                    compacted = at,
                    "etcd compacted past this host's copy; reloading everything"
                );
                shared
                    .reloading
                    .store(true, std::sync::atomic::Ordering::Release);
                match load::full(&shared).await {
                    Ok(revision) => {
                        shared
                            .reloading
                            .store(false, std::sync::atomic::Ordering::Release);
                        tracing::info!(revision, "reloaded the copy of etcd");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reloading from etcd failed; retrying");
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
            Ended::Lost(why) => {
                tracing::warn!(error = %why, applied = shared.applied(), "watch on etcd lost; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        }
        backoff = Duration::from_millis(50);
    }
}

/// One watch, until it ends.
async fn watch(shared: &Arc<Shared>) -> Ended {
    let from = shared.applied() + 1;
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(from)
        .with_progress_notify();
    let mut client = shared.client.watch_client();
    let stream = match tokio::time::timeout(
        shared.config.timeout,
        client.watch(shared.keys.prefix().as_bytes(), Some(options)),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Ended::Lost(e.to_string()),
        Err(_) => return Ended::Lost("no answer to the watch request".into()),
    };
    let (mut requests, mut responses) = stream.split();
    let mut ask =
        tokio::time::interval((shared.config.max_staleness / 4).max(Duration::from_millis(25)));
    ask.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = false;
    loop {
        tokio::select! {
            _ = ask.tick() => {
                if let Err(e) = requests.request_progress().await {
                    return Ended::Lost(e.to_string());
                }
            }
            message = responses.message() => {
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => return Ended::Lost("etcd closed the watch".into()),
                    Err(e) => return Ended::Lost(e.to_string()),
                };
                if response.compact_revision() > 0 {
                    return Ended::Compacted(response.compact_revision());
                }
                if response.canceled() {
                    return Ended::Lost(format!("watch cancelled: {}", response.cancel_reason()));
                }
                let mut last = 0;
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    last = last.max(kv.mod_revision());
                    let _applying = shared.gate.write();
                    if !shared.echo.admits(kv.key(), kv.mod_revision()) {
                        continue;
                    }
                    let applied = match event.event_type() {
                        EventType::Put => load::apply_put(shared, kv.key(), kv.value()),
                        EventType::Delete => load::apply_delete(shared, kv.key()),
                    };
                    if let Err(e) = applied {
                        tracing::error!(error = %e, key = %String::from_utf8_lossy(kv.key()), "applying a change from etcd failed");
                    }
                }
                if response.created() {
                    // Its header's revision is etcd's, not how far the watch has sent.
                    if !healthy {
                        healthy = true;
                        tracing::info!(from, "watching etcd");
                    }
                } else if !response.events().is_empty() {
                    shared.applied_up_to(last);
                }
                // A progress notification says etcd is there, not how far the watch has sent:
                // etcd 3.4.23 may answer it ahead of queued events (see `super::mark`).
                shared.heard_now();
                let missing = shared.take_missing();
                if !missing.is_empty() {
                    let task = Arc::clone(shared);
                    tokio::spawn(async move { super::commit::reread(&task, missing, false).await });
                }
            }
        }
    }
}
