//! When things happened, as the tool saw them: the wall clock the daemon also reads, and a
//! sequence number that orders the tool's own events exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch: the daemon's own time base.
pub(crate) type Millis = i64;

/// One point in the tool's history.
///
/// `seq` orders events without ties (two events in one millisecond still compare); `ms` is the
/// wall time, compared with the expiry times the daemon hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Place in the order of the tool's events.
    pub seq: u64,
    /// Wall-clock time then.
    pub ms: Millis,
}

/// The wall clock now, as the daemon reads it.
pub(crate) fn now_ms() -> Millis {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        // A clock before 1970 would break the daemon's expiry rules too; nothing to check then.
        .expect("the system clock is after 1970");
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` as an RFC 3339 time for reports.
pub(crate) fn rfc3339(ms: Millis) -> String {
    match u64::try_from(ms) {
        Ok(ms) => {
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        Err(_) => format!("{ms} ms since the epoch"),
    }
}
