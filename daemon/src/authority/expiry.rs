//! The expiry rules as pure functions of time and policy.
//!
//! A session expires at `min(last_use + idle_timeout, issued_at + max_lifetime)`. Every verify
//! slides the first term forward; the stored expiry is rewritten only when it would move by at
//! least the policy's granularity, so a crash (or a skipped write) can only make a session
//! expire earlier than the ideal, never later.

use keyward_protocol::UnixMillis;

use crate::clock::millis;
use crate::config::Policy;

/// A new session's `(expires_at, max_expires_at)`.
pub(crate) fn new_session(now: UnixMillis, policy: &Policy) -> (UnixMillis, UnixMillis) {
    let max = now.saturating_add(millis(policy.max_lifetime));
    (
        now.saturating_add(millis(policy.idle_timeout)).min(max),
        max,
    )
}

/// The expiry a use at `now` would give a session, if it is worth persisting.
///
/// Returns `None` when the slide is smaller than the granularity (or nothing moves at all,
/// as at the cap).
pub(crate) fn slide(
    expires_at: UnixMillis,
    max_expires_at: UnixMillis,
    now: UnixMillis,
    policy: &Policy,
) -> Option<UnixMillis> {
    let wanted = now
        .saturating_add(millis(policy.idle_timeout))
        .min(max_expires_at);
    let step = millis(policy.effective_granularity()).max(1);
    (wanted.saturating_sub(expires_at) >= step).then_some(wanted)
}

/// Whether a last-use stamp for a non-sliding credential is stale enough to rewrite.
pub(crate) fn touch_due(
    last_used_at: Option<UnixMillis>,
    now: UnixMillis,
    policy: &Policy,
) -> bool {
    let step = millis(policy.slide_granularity).max(1);
    last_used_at.is_none_or(|at| now.saturating_sub(at) >= step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const H: i64 = 3_600_000;

    fn policy() -> Policy {
        Policy::default()
    }

    /// A new session lives 24 h unless used, and 7 days at most.
    #[test]
    fn new_session_defaults() {
        assert_eq!(new_session(0, &policy()), (24 * H, 7 * 24 * H));
    }

    /// A use slides the idle expiry to 24 h after the use.
    #[test]
    fn use_slides_idle_expiry() {
        assert_eq!(slide(24 * H, 168 * H, 10 * H, &policy()), Some(34 * H));
    }

    /// Near the cap, the slide stops at issue + 7 days.
    #[test]
    fn slide_is_capped() {
        assert_eq!(slide(160 * H, 168 * H, 150 * H, &policy()), Some(168 * H));
        assert_eq!(slide(168 * H, 168 * H, 160 * H, &policy()), None);
    }

    /// Slides smaller than the granularity are not persisted.
    #[test]
    fn small_slides_are_coalesced() {
        let p = policy();
        assert_eq!(slide(24 * H, 168 * H, 30_000, &p), None, "30 s < 60 s step");
        assert_eq!(slide(24 * H, 168 * H, 60_000, &p), Some(24 * H + 60_000));
    }

    /// With a short idle timeout the step shrinks to 1% of it.
    #[test]
    fn granularity_scales_with_short_timeouts() {
        let p = Policy {
            idle_timeout: Duration::from_secs(2),
            max_lifetime: Duration::from_secs(10),
            ..Policy::default()
        };
        assert_eq!(p.effective_granularity(), Duration::from_millis(20));
        assert_eq!(slide(2_000, 10_000, 20, &p), Some(2_020));
    }

    /// Last-use stamps are rewritten at most once per granularity.
    #[test]
    fn touch_is_coalesced() {
        let p = policy();
        assert!(touch_due(None, 0, &p));
        assert!(!touch_due(Some(0), 59_999, &p));
        assert!(touch_due(Some(0), 60_000, &p));
    }
}
