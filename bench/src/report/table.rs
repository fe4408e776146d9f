//! The human-readable table: a header, then one aligned line per row as rows arrive, so a long
//! suite shows its progress.

use super::row::Row;

/// Column headers and widths; the last column (notes) is free text.
const COLUMNS: [(&str, usize); 10] = [
    ("workload", 12),
    ("target", 7),
    ("sessions", 9),
    ("conns", 5),
    ("pipe", 4),
    ("ops/s", 9),
    ("p50 us", 8),
    ("p99 us", 8),
    ("p99.9 us", 8),
    ("RSS MiB", 7),
];

/// The header line.
pub(crate) fn header() -> String {
    let mut line = String::new();
    for (i, (name, width)) in COLUMNS.iter().enumerate() {
        push_cell(&mut line, name, *width, i < 2);
    }
    line.push_str("notes");
    line
}

/// One row's line.
pub(crate) fn line(row: &Row) -> String {
    let cells = [
        row.workload.to_string(),
        row.target.to_string(),
        row.extra
            .sessions
            .map_or("-".into(), |n| thousands(n as f64)),
        row.connections.map_or("-".into(), |n| n.to_string()),
        row.pipeline.map_or("-".into(), |n| n.to_string()),
        row.ops_per_sec.map_or("-".into(), thousands),
        micros(row.p50_us),
        micros(row.p99_us),
        micros(row.p999_us),
        row.rss_mib.map_or("-".into(), |v| format!("{v:.1}")),
    ];
    let mut line = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS).enumerate() {
        push_cell(&mut line, cell, width, i < 2);
    }
    line.push_str(&notes(row).join("; "));
    line.trim_end().to_owned()
}

fn push_cell(line: &mut String, text: &str, width: usize, left: bool) {
    if left {
        line.push_str(&format!("{text:<width$}  "));
    } else {
        line.push_str(&format!("{text:>width$}  "));
    }
}

fn micros(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// Free-text notes: what the row cannot say in its columns.
fn notes(row: &Row) -> Vec<String> {
    let x = &row.extra;
    let mut notes = Vec::new();
    if let Some(why) = &row.skipped {
        notes.push(format!("skipped: {why}"));
    }
    if let Some(command) = x.command {
        notes.push(command.to_owned());
    }
    if let Some(driver) = x.driver {
        notes.push(format!("driver: {driver}"));
    }
    if let Some(errors) = x.errors.filter(|&e| e > 0) {
        notes.push(format!("{} error replies", thousands(errors as f64)));
    }
    if let (Some(ms), Some(swept)) = (x.sweep_ms, x.swept) {
        notes.push(format!(
            "swept {} expired in {:.2} s",
            thousands(swept as f64),
            ms / 1000.0
        ));
    }
    if let Some([listed, ended, rest]) = x.sweep_steps_ms {
        notes.push(format!(
            "daemon's steps: list {listed:.0} ms, end {ended:.0} ms, rest {rest:.0} ms"
        ));
    }
    if let Some(p99) = x.p99_us_without_sweep {
        let ops = x.ops_per_sec_without_sweep.map_or("-".into(), thousands);
        notes.push(format!("without a sweep: p99 {p99:.1} us at {ops} ops/s"));
    }
    if let Some(ms) = x.first_ping_ms {
        notes.push(format!("first ping {ms:.0} ms after exec"));
    }
    if let Some(ms) = x.ready_ms {
        notes.push(format!("a known session verified {ms:.0} ms after exec"));
    }
    if let Some(n) = x.revocations {
        notes.push(format!(
            "lag from A's ack to B's first refusal over {} revocations",
            thousands(n as f64)
        ));
    }
    if let Some(ms) = x.lag_max_ms {
        notes.push(format!("max {ms:.1} ms"));
    }
    if let Some([p50, p99]) = x.revoke_ms {
        notes.push(format!(
            "A acked each revoke in p50 {p50:.1} / p99 {p99:.1} ms"
        ));
    }
    if let Some(n) = x.refused_at_first_poll {
        notes.push(format!("{n} refused at B's first poll"));
    }
    if let Some(mib) = x.rss_mib_after_preload {
        notes.push(format!("RSS {mib:.1} MiB before the restart"));
    }
    if let Some(clients) = x.clients {
        notes.push(format!("{} clients", thousands(clients as f64)));
    }
    if let Some(mib) = x.data_dir_mib {
        notes.push(format!("data on disk {mib:.1} MiB"));
    }
    if let Some(ms) = x.etcd_read_ms {
        notes.push(format!("etcd alone serves the keys in {ms:.0} ms"));
    }
    if let Some(mib) = x.etcd_db_mib {
        notes.push(format!("etcd db {mib:.1} MiB"));
    }
    notes
}

/// `1234567.0` as `1,234,567`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0.0 && digits != "0" {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::row::{Target, Workload};

    /// Thousands are separated by commas.
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(-12345.0), "-12,345");
    }

    /// A skipped row shows dashes and its reason, never figures.
    #[test]
    fn skipped_row_line() {
        let row = Row::skipped(Workload::Ping, Target::Redis, None, "no redis-server");
        let line = line(&row);
        assert!(line.starts_with("ping          redis"), "{line}");
        assert!(line.ends_with("skipped: no redis-server"), "{line}");
        assert!(!line.chars().any(|c| c.is_ascii_digit()), "{line}");
        assert_eq!(header().split_whitespace().next(), Some("workload"));
    }
}
