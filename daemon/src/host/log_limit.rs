//! Bounded-rate logging for events a hostile peer can trigger at will (bad tokens, refused
//! admin attempts): the first event of a window is logged at once, the rest are counted and
//! summarised when the next window opens, so a flood costs one line per window, not per event.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one window lasts.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// What the limiter decided about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log this event, mentioning that `suppressed` earlier ones were not logged.
    Log {
        /// Events swallowed since the last logged one.
        suppressed: u64,
    },
    /// Count it silently.
    Suppress,
}

#[derive(Debug)]
struct Window {
    opened: Option<Instant>,
    suppressed: u64,
}

/// A per-kind rate limiter for log lines.
#[derive(Debug)]
pub(crate) struct LogLimit {
    window: Mutex<Window>,
    length: Duration,
}

impl LogLimit {
    /// A limiter with windows of `length`.
    pub fn new(length: Duration) -> Self {
        LogLimit {
            window: Mutex::new(Window {
                opened: None,
                suppressed: 0,
            }),
            length,
        }
    }

    /// Records an event at `now` and says whether to log it.
    pub fn check(&self, now: Instant) -> Verdict {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        match w.opened {
            Some(opened) if now.saturating_duration_since(opened) < self.length => {
                w.suppressed += 1;
                Verdict::Suppress
            }
            _ => {
                w.opened = Some(now);
                Verdict::Log {
                    suppressed: std::mem::take(&mut w.suppressed),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood within one window logs once; the next window's first line reports the rest.
    #[test]
    fn one_line_per_window() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.check(t0), Verdict::Log { suppressed: 0 });
        for i in 1..1000 {
            assert_eq!(
                limit.check(t0 + Duration::from_millis(i)),
                Verdict::Suppress
            );
        }
        assert_eq!(
            limit.check(t0 + Duration::from_secs(10)),
            Verdict::Log { suppressed: 999 }
        );
    }
}
