//! A running tally of replies that can be taken at any moment: a soak's per-interval figures.
//!
//! The [`Recorder`](super::Recorder) of each connection sums a whole run and is read only when
//! the run is over. A tap is shared by every connection of a run and emptied by whoever reads
//! it, so each reading covers exactly the replies since the one before: a fresh histogram per
//! interval, not a cumulative one whose tail would hide a late slowdown.
//!
//! The connections and the reader all run on the generator's one thread, so the lock is never
//! contended; it costs two atomic operations per reply.

use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::recorder::{histogram, nanos};
use super::Summary;

/// A shared tally of replies since it was last taken; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    tally: Arc<Mutex<Tally>>,
}

/// The replies since the last reading, and when that reading was.
#[derive(Debug)]
struct Tally {
    since: Instant,
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
}

impl Tally {
    fn empty(since: Instant) -> Tally {
        Tally {
            since,
            histogram: histogram(),
            ok: 0,
            errors: 0,
        }
    }
}

impl Tap {
    /// An empty tap whose first reading covers the time from now.
    pub fn new() -> Tap {
        Tap {
            tally: Arc::new(Mutex::new(Tally::empty(Instant::now()))),
        }
    }

    /// Records one reply that took `latency`; only successes have their latency kept, as in a
    /// [`Recorder`](super::Recorder).
    pub fn record(&self, latency: Duration, ok: bool) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        if ok {
            tally.ok += 1;
            tally.histogram.saturating_record(nanos(latency));
        } else {
            tally.errors += 1;
        }
    }

    /// The replies since the last reading (or since the tap was made), over the time since
    /// then; the tap starts again empty.
    pub fn take(&self) -> Summary {
        let now = Instant::now();
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = std::mem::replace(&mut *tally, Tally::empty(now));
        Summary {
            ok: taken.ok,
            errors: taken.errors,
            seconds: now.saturating_duration_since(taken.since).as_secs_f64(),
            histogram: taken.histogram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reading holds only what was recorded since the one before, errors apart from
    /// latencies, and clones feed the same tally.
    #[test]
    fn readings_do_not_overlap() {
        let tap = Tap::new();
        let other = tap.clone();
        tap.record(Duration::from_micros(100), true);
        other.record(Duration::from_micros(300), true);
        other.record(Duration::from_micros(900), false);
        let first = tap.take();
        assert_eq!((first.ok, first.errors), (2, 1));
        let p99 = first.quantile_us(0.99).unwrap();
        assert!((p99 - 300.0).abs() < 1.0, "{p99}");
        assert!(first.seconds >= 0.0);

        tap.record(Duration::from_micros(50), true);
        let second = other.take();
        assert_eq!((second.ok, second.errors), (1, 0));
        let p50 = second.quantile_us(0.5).unwrap();
        assert!((p50 - 50.0).abs() < 0.1, "{p50}");

        let third = tap.take();
        assert_eq!((third.ok, third.errors), (0, 0));
        assert_eq!(third.quantile_us(0.5), None);
    }
}
