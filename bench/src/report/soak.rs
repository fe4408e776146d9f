//! The soak's report: one line per interval as it ends (a table line, or one JSON object with
//! `--json`), then one summary line saying how RSS, open file descriptors and p99 moved.
//!
//! The JSON lines carry the interval's figures only, so stdout stays a clean stream of objects;
//! the summary goes under the table, or to stderr in JSON mode, as the suite's verdicts do.

use serde::Serialize;
use std::io::Write;
use std::time::Duration;

use super::row::round;
use super::table::thousands;
use crate::load::Summary;

/// One interval of a soak: its own throughput and latencies, and the daemon at its end.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Interval {
    /// Seconds since the measurement started, at the interval's end.
    pub elapsed_s: f64,
    /// Successful operations per second in this interval.
    pub ops_per_sec: f64,
    /// Median latency of this interval's replies, microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile latency of this interval's replies, microseconds.
    pub p99_us: Option<f64>,
    /// 99.9th percentile latency of this interval's replies, microseconds.
    pub p999_us: Option<f64>,
    /// The daemon's resident set size at the interval's end, MiB.
    pub rss_mib: f64,
    /// File descriptors the daemon held open at the interval's end.
    pub fds: usize,
    /// Error replies in this interval (table only).
    #[serde(skip)]
    pub errors: u64,
    /// Expired credentials the sweeper logged deleting in this interval (table only).
    #[serde(skip)]
    pub swept: u64,
}

impl Interval {
    /// The interval ending `elapsed` into the measurement, from its replies and the daemon's
    /// state at its end.
    pub fn new(
        elapsed: Duration,
        replies: &Summary,
        rss_mib: f64,
        fds: usize,
        swept: u64,
    ) -> Interval {
        let us = |q| replies.quantile_us(q).map(|v| round(v, 1));
        Interval {
            elapsed_s: round(elapsed.as_secs_f64(), 1),
            ops_per_sec: round(replies.ops_per_sec(), 0),
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            rss_mib: round(rss_mib, 1),
            fds,
            errors: replies.errors,
            swept,
        }
    }
}

/// Prints intervals as they end and keeps them for the summary.
#[derive(Debug)]
pub(crate) struct SoakReport {
    json: bool,
    rows: Vec<Interval>,
}

impl SoakReport {
    /// A report printing a table, or JSON lines when `json` is set.
    pub fn new(json: bool) -> Self {
        SoakReport {
            json,
            rows: Vec::new(),
        }
    }

    /// Prints `row` at once and keeps it.
    pub fn emit(&mut self, row: Interval) {
        let mut out = std::io::stdout().lock();
        if self.json {
            // An interval is plain data; serialising it cannot fail.
            let line = serde_json::to_string(&row).expect("intervals serialise");
            let _ = writeln!(out, "{line}");
        } else {
            if self.rows.is_empty() {
                let _ = writeln!(out, "{}", header());
            }
            let _ = writeln!(out, "{}", line(&row));
        }
        let _ = out.flush();
        self.rows.push(row);
    }

    /// Prints the summary line: the whole run's figures from `overall`, how the intervals
    /// moved, and how many of the `expiring` sessions the sweeper was seen deleting (`swept`).
    pub fn finish(&self, overall: &Summary, swept: u64, expiring: u64) {
        let Some(drift) = Drift::of(&self.rows) else {
            return;
        };
        let text = summary(overall, &drift, swept, expiring);
        if self.json {
            eprintln!("{text}");
        } else {
            println!("\n{text}");
        }
    }
}

/// How the daemon and the latencies moved over the intervals.
#[derive(Debug, Clone, PartialEq)]
struct Drift {
    first_rss: f64,
    last_rss: f64,
    max_rss: f64,
    /// Last RSS less the RSS at the first interval ending at or after half the run.
    second_half_growth: f64,
    first_fds: usize,
    last_fds: usize,
    max_fds: usize,
    /// The lowest and highest per-interval p99, over the intervals that had replies.
    p99_range: Option<(f64, f64)>,
}

impl Drift {
    /// The drift over `rows`, in order; `None` without any.
    fn of(rows: &[Interval]) -> Option<Drift> {
        let (first, last) = (rows.first()?, rows.last()?);
        let half = last.elapsed_s / 2.0;
        let middle = rows.iter().find(|r| r.elapsed_s >= half).unwrap_or(last);
        let p99s = rows.iter().filter_map(|r| r.p99_us);
        let p99_range = p99s.fold(None, |range, p| match range {
            None => Some((p, p)),
            Some((lo, hi)) => Some((f64::min(lo, p), f64::max(hi, p))),
        });
        Some(Drift {
            first_rss: first.rss_mib,
            last_rss: last.rss_mib,
            max_rss: rows.iter().map(|r| r.rss_mib).fold(f64::MIN, f64::max),
            second_half_growth: round(last.rss_mib - middle.rss_mib, 1),
            first_fds: first.fds,
            last_fds: last.fds,
            max_fds: rows.iter().map(|r| r.fds).max().unwrap_or(0),
            p99_range,
        })
    }
}

/// Column headers and widths.
const COLUMNS: [(&str, usize); 8] = [
    ("elapsed s", 9),
    ("ops/s", 9),
    ("p50 us", 8),
    ("p99 us", 8),
    ("p99.9 us", 8),
    ("RSS MiB", 7),
    ("fds", 5),
    ("swept", 7),
];

/// The header line.
fn header() -> String {
    let cells: Vec<String> = COLUMNS.iter().map(|(name, _)| name.to_string()).collect();
    join(&cells, "notes")
}

/// One interval's line.
fn line(row: &Interval) -> String {
    let micros = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    let cells = [
        format!("{:.1}", row.elapsed_s),
        thousands(row.ops_per_sec),
        micros(row.p50_us),
        micros(row.p99_us),
        micros(row.p999_us),
        format!("{:.1}", row.rss_mib),
        row.fds.to_string(),
        thousands(row.swept as f64),
    ];
    let notes = match row.errors {
        0 => String::new(),
        n => format!("{} error replies", thousands(n as f64)),
    };
    join(&cells, &notes)
}

/// Right-aligned cells at the column widths, then free text.
fn join(cells: &[String], notes: &str) -> String {
    let mut line = String::new();
    for (cell, (_, width)) in cells.iter().zip(COLUMNS) {
        line.push_str(&format!("{cell:>width$}  "));
    }
    line.push_str(notes);
    line.trim_end().to_owned()
}

/// The closing line.
fn summary(overall: &Summary, d: &Drift, swept: u64, expiring: u64) -> String {
    let p99 = overall
        .quantile_us(0.99)
        .map_or("-".into(), |v| format!("{v:.1}"));
    let range = d.p99_range.map_or("-".into(), |(lo, hi)| {
        format!("min {lo:.1}, max {hi:.1} us")
    });
    format!(
        "soak summary: {:.0} s at {} ops/s, p99 {p99} us overall, {} error replies; \
         RSS first {:.1}, last {:.1}, max {:.1} MiB, {:+.1} MiB over the second half; \
         fds first {}, last {}, max {}; per-interval p99 {range}; \
         swept {} of {} expiring sessions",
        overall.seconds,
        thousands(overall.ops_per_sec()),
        thousands(overall.errors as f64),
        d.first_rss,
        d.last_rss,
        d.max_rss,
        d.second_half_growth,
        d.first_fds,
        d.last_fds,
        d.max_fds,
        thousands(swept as f64),
        thousands(expiring as f64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(elapsed_s: f64, rss_mib: f64, fds: usize, p99_us: Option<f64>) -> Interval {
        Interval {
            elapsed_s,
            ops_per_sec: 1000.0,
            p50_us: Some(10.0),
            p99_us,
            p999_us: Some(500.0),
            rss_mib,
            fds,
            errors: 0,
            swept: 0,
        }
    }

    /// JSON lines carry exactly the interval's seven figures.
    #[test]
    fn json_keys() {
        let json = serde_json::to_value(row(30.0, 200.0, 34, None)).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "elapsed_s",
                "fds",
                "ops_per_sec",
                "p50_us",
                "p999_us",
                "p99_us",
                "rss_mib"
            ]
        );
        assert!(json["p99_us"].is_null());
    }

    /// First, last and highest values; the second half's growth from the interval at its
    /// start; the p99 range over intervals that had replies.
    #[test]
    fn drift_over_intervals() {
        let rows = [
            row(10.0, 100.0, 30, Some(900.0)),
            row(20.0, 110.0, 34, Some(1200.0)),
            row(30.0, 140.0, 36, None),
            row(40.0, 130.0, 34, Some(800.0)),
        ];
        let d = Drift::of(&rows).unwrap();
        assert_eq!((d.first_rss, d.last_rss, d.max_rss), (100.0, 130.0, 140.0));
        assert_eq!(d.second_half_growth, 20.0);
        assert_eq!((d.first_fds, d.last_fds, d.max_fds), (30, 34, 36));
        assert_eq!(d.p99_range, Some((800.0, 1200.0)));
        assert_eq!(Drift::of(&[]), None);
        let one = Drift::of(&rows[..1]).unwrap();
        assert_eq!(one.second_half_growth, 0.0);
    }

    /// Table lines line up under the header and note error replies.
    #[test]
    fn table_lines() {
        let mut r = row(30.0, 208.4, 34, Some(2712.0));
        r.ops_per_sec = 35294.0;
        r.swept = 500;
        r.errors = 3;
        let line = line(&r);
        assert!(line.contains("35,294"), "{line}");
        assert!(line.ends_with("500  3 error replies"), "{line}");
        assert_eq!(
            header().find("swept").map(|i| i + "swept".len()),
            line.rfind("500").map(|i| i + "500".len())
        );
    }
}
