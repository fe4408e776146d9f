//! Metrics without a network port: Prometheus text format written atomically to a file, for
//! node_exporter's textfile collector; and the sd_notify STATUS line.

use keyward_protocol::{ErrorCode, Op};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::host::metrics::Snapshot;
use crate::host::notify;
use crate::state::DaemonState;

/// How often the STATUS line is refreshed under systemd.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Renders the counters in Prometheus text exposition format.
pub(crate) fn render(m: &Snapshot, sweeps: (u64, u64), uptime: Duration) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
        let _ = writeln!(
            out,
            "# HELP keyward_{name} {help}\n# TYPE keyward_{name} {kind}"
        );
        for (labels, value) in rows {
            let _ = writeln!(out, "keyward_{name}{labels} {value}");
        }
    };
    let one = |v: u64| vec![(String::new(), v)];
    metric("up", "gauge", "1 while keywardd runs.", &one(1));
    metric(
        "uptime_seconds",
        "gauge",
        "Seconds since keywardd started.",
        &one(uptime.as_secs()),
    );
    metric(
        "connections_open",
        "gauge",
        "Connections open now.",
        &one(m.connections_open),
    );
    metric(
        "connections_total",
        "counter",
        "Connections accepted.",
        &one(m.connections_total),
    );
    metric(
        "connections_refused_total",
        "counter",
        "Connections refused because their uid held its share.",
        &one(m.connections_refused),
    );
    let requests: Vec<_> = Op::NAMES
        .iter()
        .zip(&m.requests)
        .map(|(op, n)| (format!("{{op=\"{op}\"}}"), *n))
        .collect();
    metric(
        "requests_total",
        "counter",
        "Requests answered, by operation.",
        &requests,
    );
    let errors: Vec<_> = ErrorCode::ALL
        .iter()
        .zip(&m.errors)
        .map(|(code, n)| (format!("{{code=\"{}\"}}", code.as_str()), *n))
        .collect();
    metric(
        "errors_total",
        "counter",
        "Failed requests, by error code.",
        &errors,
    );
    metric(
        "sweeps_total",
        "counter",
        "Sweeps run since the data dir was created.",
        &one(sweeps.0),
    );
    metric(
        "credentials_swept_total",
        "counter",
        "Expired credentials deleted by sweeps since the data dir was created.",
        &one(sweeps.1),
    );
    metric(
        "audit_dropped_total",
        "counter",
        "Audit entries dropped because the queue waiting for the disk was full (refused attempts first).",
        &one(m.audit_dropped),
    );
    out
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, then a rename.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Rewrites the metrics file every `metrics_interval` (if one is configured) and refreshes the
/// STATUS line, until `shutdown` fires.
pub(crate) async fn run(shared: Arc<DaemonState>, shutdown: CancellationToken) {
    let mut since_status = Duration::MAX;
    loop {
        let settings = shared.settings.load_full();
        let tick = settings.metrics_interval.min(STATUS_EVERY);
        let mut m = shared.metrics.snapshot();
        m.audit_dropped = shared.authority.store().audit_dropped();
        if since_status >= STATUS_EVERY {
            notify::status(&format!(
                "serving: {} connections open, {} requests answered",
                m.connections_open,
                m.requests_total()
            ));
            since_status = Duration::ZERO;
        }
        if let Some(path) = &settings.metrics_file {
            let auth = Arc::clone(&shared.authority);
            let sweeps = tokio::task::spawn_blocking(move || auth.store().sweep_counters())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let text = render(&m, sweeps, shared.started.elapsed());
            let path = path.clone();
            match tokio::task::spawn_blocking(move || write_atomically(&path, &text)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the metrics file"),
                Err(e) => tracing::warn!(error = %e, "metrics writer panicked"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(tick) => since_status = since_status.saturating_add(tick),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text has HELP/TYPE lines and labelled samples Prometheus accepts.
    #[test]
    fn renders_prometheus_text() {
        let m = Snapshot {
            connections_open: 2,
            audit_dropped: 5,
            requests: vec![1; Op::NAMES.len()],
            errors: vec![0; ErrorCode::ALL.len()],
            ..Snapshot::default()
        };
        let text = render(&m, (3, 4), Duration::from_secs(9));
        assert!(text.contains("# TYPE keyward_requests_total counter"));
        assert!(text.contains("keyward_requests_total{op=\"verify\"} 1"));
        assert!(text.contains("keyward_errors_total{code=\"CREDENTIAL_INVALID\"} 0"));
        assert!(text.contains("keyward_credentials_swept_total 4"));
        assert!(text.contains("keyward_connections_open 2"));
        assert!(text.contains("keyward_audit_dropped_total 5"));
    }

    /// The file is replaced whole.
    #[test]
    fn writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.prom");
        write_atomically(&path, "a 1\n").unwrap();
        write_atomically(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
