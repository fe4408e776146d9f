//! What one connection saw: every reply's latency, counted inside the measured window.

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Significant figures kept by every latency histogram (0.1% resolution).
const SIGNIFICANT_FIGURES: u8 = 3;

/// The slowest latency a histogram holds exactly, in nanoseconds; slower replies are clamped.
const HIGHEST_NS: u64 = 120_000_000_000;

/// A new empty latency histogram in nanoseconds.
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_FIGURES)
        .expect("constant bounds are valid")
}

/// The span of time whose replies are counted: after the warm-up, until the end of the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Replies that arrive before this are warm-up.
    pub start: Instant,
    /// Replies that arrive at or after this are not counted.
    pub end: Instant,
}

/// One reply, kept when a workload needs to split latencies by time after the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// When the request was written.
    pub sent: Instant,
    /// How long its reply took.
    pub latency: Duration,
    /// Whether the reply was the expected success.
    pub ok: bool,
}

/// One connection's record of a run.
#[derive(Debug)]
pub(crate) struct Recorder {
    window: Window,
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    samples: Option<Vec<Sample>>,
}

impl Recorder {
    /// An empty record counting replies inside `window`; with `keep_samples`, every reply is
    /// also kept whole.
    pub fn new(window: Window, keep_samples: bool) -> Self {
        Recorder {
            window,
            histogram: histogram(),
            ok: 0,
            errors: 0,
            samples: keep_samples.then(Vec::new),
        }
    }

    /// Records one reply to a request written at `sent` and read at `done`.
    pub fn record(&mut self, sent: Instant, done: Instant, ok: bool) {
        let latency = done.saturating_duration_since(sent);
        if let Some(samples) = &mut self.samples {
            samples.push(Sample { sent, latency, ok });
        }
        if done < self.window.start || done >= self.window.end {
            return;
        }
        if ok {
            self.ok += 1;
            self.histogram.saturating_record(nanos(latency));
        } else {
            self.errors += 1;
        }
    }

    /// Adds another connection's record to this one.
    pub fn merge(&mut self, other: Recorder) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds always add");
        if let (Some(mine), Some(theirs)) = (&mut self.samples, other.samples) {
            mine.extend(theirs);
        }
    }

    /// The totals over `seconds` of measurement, and the kept samples.
    pub fn finish(self, seconds: f64) -> (Summary, Vec<Sample>) {
        let summary = Summary {
            ok: self.ok,
            errors: self.errors,
            seconds,
            histogram: self.histogram,
        };
        (summary, self.samples.unwrap_or_default())
    }
}

/// The result of a run, over all its connections.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// Successful replies inside the window.
    pub ok: u64,
    /// Error replies inside the window (the workload expected success).
    pub errors: u64,
    /// The window's length.
    pub seconds: f64,
    /// Latencies of the successful replies, in nanoseconds.
    pub histogram: Histogram<u64>,
}

impl Summary {
    /// A summary of the `samples` whose request was written in `[from, to)`, over that span.
    pub fn of_samples(samples: &[Sample], from: Instant, to: Instant) -> Summary {
        let mut histogram = histogram();
        let (mut ok, mut errors) = (0, 0);
        for s in samples.iter().filter(|s| s.sent >= from && s.sent < to) {
            if s.ok {
                ok += 1;
                histogram.saturating_record(nanos(s.latency));
            } else {
                errors += 1;
            }
        }
        Summary {
            ok,
            errors,
            seconds: to.saturating_duration_since(from).as_secs_f64(),
            histogram,
        }
    }

    /// Successful operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0.5 for the median), in microseconds; `None` with no replies.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.histogram.is_empty()).then(|| self.histogram.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// `d` in whole nanoseconds, as the histograms record it.
pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replies before the warm-up ends or after the window closes are not counted; errors are
    /// counted apart from latencies.
    #[test]
    fn only_the_window_counts() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let window = Window {
            start: t0 + ms(10),
            end: t0 + ms(20),
        };
        let mut r = Recorder::new(window, false);
        r.record(t0, t0 + ms(5), true);
        r.record(t0 + ms(9), t0 + ms(11), true);
        r.record(t0 + ms(12), t0 + ms(13), false);
        r.record(t0 + ms(15), t0 + ms(25), true);
        let (s, samples) = r.finish(0.01);
        assert_eq!((s.ok, s.errors), (1, 1));
        assert!(samples.is_empty());
        assert!((s.ops_per_sec() - 100.0).abs() < 1e-9);
        let p50 = s.quantile_us(0.5).unwrap();
        assert!((p50 - 2000.0).abs() < 2.0, "{p50}");
    }

    /// Kept samples can be summarised by when their request was sent.
    #[test]
    fn samples_split_by_send_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let window = Window {
            start: t0,
            end: t0 + ms(100),
        };
        let mut a = Recorder::new(window, true);
        let mut b = Recorder::new(window, true);
        a.record(t0, t0 + ms(1), true);
        b.record(t0 + ms(50), t0 + ms(53), true);
        b.record(t0 + ms(60), t0 + ms(61), false);
        a.merge(b);
        let (_, samples) = a.finish(0.1);
        let late = Summary::of_samples(&samples, t0 + ms(40), t0 + ms(90));
        assert_eq!((late.ok, late.errors), (1, 1));
        let p99 = late.quantile_us(0.99).unwrap();
        assert!((p99 - 3000.0).abs() < 3.0, "{p99}");
        assert_eq!(
            Summary::of_samples(&samples, t0 + ms(90), t0 + ms(95)).quantile_us(0.5),
            None
        );
    }
}
