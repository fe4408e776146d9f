//! How times are shown: RFC 3339 UTC to the second (`2026-11-23T11:00:00Z`) for machines and
//! people, and short spans (`6d 23h`, `23h 59m`, `4m`) for people.

use keyward_client::UnixMillis;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in a minute.
const MINUTE_MS: u64 = 60 * 1000;
/// Milliseconds in an hour.
const HOUR_MS: u64 = 60 * MINUTE_MS;
/// Milliseconds in a day.
const DAY_MS: u64 = 24 * HOUR_MS;

/// The current wall-clock time, as the protocol counts it.
pub(crate) fn now() -> UnixMillis {
    // A clock before 1970 is a broken host; treating it as the epoch keeps output sane.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `at` as RFC 3339 UTC with seconds precision, e.g. `2026-11-23T11:00:00Z` (the JSON
/// contract's form, [`keyward_client::json::rfc3339`]).
pub(crate) fn rfc3339(at: UnixMillis) -> String {
    keyward_client::json::rfc3339(at)
}

/// A positive span in its two largest units, rounded down: `6d 23h`, `23h 59m`, `4m`, `<1m`.
///
/// Rounding down means a session issued a moment ago for 24h reads `23h 59m`, never a `24h` it
/// no longer has.
pub(crate) fn span(ms: u64) -> String {
    let days = ms / DAY_MS;
    let hours = ms % DAY_MS / HOUR_MS;
    let minutes = ms % HOUR_MS / MINUTE_MS;
    match (days, hours, minutes) {
        (0, 0, 0) => "<1m".to_owned(),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// When something expires, relative to `now`: `expires in 23h 59m`, `expired`, or
/// `never expires` for `None`.
pub(crate) fn expiry(at: Option<UnixMillis>, now: UnixMillis) -> String {
    match at {
        None => "never expires".to_owned(),
        Some(at) if at <= now => "expired".to_owned(),
        Some(at) => format!("expires in {}", span(at.abs_diff(now))),
    }
}

/// How long ago `at` was: `5m ago`, `2d 3h ago`, or `just now` for under a minute (or a time a
/// little ahead of this host's clock).
pub(crate) fn ago(at: UnixMillis, now: UnixMillis) -> String {
    let elapsed = if at >= now { 0 } else { at.abs_diff(now) };
    if elapsed < MINUTE_MS {
        "just now".to_owned()
    } else {
        format!("{} ago", span(elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use keyward_client::json::LAST_FORMATTABLE_MS;

    /// 2026-11-23T11:00:00Z in Unix milliseconds.
    const T: UnixMillis = 1_795_431_600_000;
    /// The span constants as signed times, for arithmetic on [`T`].
    const MINUTE: UnixMillis = MINUTE_MS as UnixMillis;
    const HOUR: UnixMillis = HOUR_MS as UnixMillis;
    const DAY: UnixMillis = DAY_MS as UnixMillis;

    /// Times print as RFC 3339 UTC, truncated to the second.
    #[test]
    fn rfc3339_to_the_second() {
        assert_eq!(rfc3339(T), "2026-11-23T11:00:00Z");
        assert_eq!(rfc3339(T + 999), "2026-11-23T11:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(LAST_FORMATTABLE_MS), "9999-12-31T23:59:59Z");
    }

    /// Times humantime cannot format do not panic.
    #[test]
    fn rfc3339_out_of_range_does_not_panic() {
        assert_eq!(rfc3339(-1), "-1 ms since the Unix epoch");
        assert!(rfc3339(LAST_FORMATTABLE_MS + 1).ends_with("ms since the Unix epoch"));
        assert!(rfc3339(i64::MAX).ends_with("ms since the Unix epoch"));
        assert!(rfc3339(i64::MIN).ends_with("ms since the Unix epoch"));
    }

    /// Spans show their two largest units, rounded down.
    #[test]
    fn spans() {
        assert_eq!(span(0), "<1m");
        assert_eq!(span(59_999), "<1m");
        assert_eq!(span(4 * MINUTE_MS + 59_000), "4m");
        assert_eq!(span(3 * HOUR_MS), "3h");
        assert_eq!(span(DAY_MS - 1), "23h 59m");
        assert_eq!(span(DAY_MS), "1d");
        assert_eq!(span(7 * DAY_MS - 1), "6d 23h");
        assert_eq!(span(30 * DAY_MS + 5 * MINUTE_MS), "30d");
    }

    /// Expiry reads "expires in …", "expired" at or after the instant, "never expires" for None.
    #[test]
    fn expiry_phrases() {
        assert_eq!(expiry(Some(T + DAY - 1), T), "expires in 23h 59m");
        assert_eq!(expiry(Some(T + 4 * MINUTE), T), "expires in 4m");
        assert_eq!(expiry(Some(T), T), "expired");
        assert_eq!(expiry(Some(T - 1), T), "expired");
        assert_eq!(expiry(None, T), "never expires");
        assert_eq!(
            expiry(Some(i64::MAX), i64::MIN),
            format!("expires in {}", span(u64::MAX))
        );
    }

    /// Past times read "… ago"; the last minute, or a slightly future time, reads "just now".
    #[test]
    fn ago_phrases() {
        assert_eq!(ago(T - 2 * DAY - 3 * HOUR, T), "2d 3h ago");
        assert_eq!(ago(T - 5 * MINUTE, T), "5m ago");
        assert_eq!(ago(T - 1000, T), "just now");
        assert_eq!(ago(T + 1000, T), "just now");
    }
}
