//! One result row: what was measured, on which target, with which shape, and the figures.
//!
//! Serialised as one JSON line. The fields every row carries are always present (`null` when a
//! row has no such figure, as for a skipped target); the extra fields appear only where they
//! apply.

use serde::Serialize;
use std::fmt;

use crate::load::Summary;

/// The workloads the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Workload {
    /// The transport floor.
    Ping,
    /// Verify a random preloaded session (Redis: `GETEX`).
    Verify,
    /// Verify over the HTTP API (`POST /v1/verify`), keyward only.
    #[serde(rename = "http-verify")]
    HttpVerify,
    /// `GET` through nginx with `auth_request` to `GET /v1/auth` (keyward), against the same
    /// nginx location without auth (nginx).
    #[serde(rename = "forward-auth")]
    ForwardAuth,
    /// Durable session issue (Redis: `SET` with `appendfsync always`).
    Issue,
    /// Verify latency while a large sweep runs.
    Sweep,
    /// 90% verify, 5% issue, 5% logout.
    Mixed,
    /// Restart with many sessions on disk.
    Coldstart,
    /// `Op::Stats` with many clients.
    Stats,
    /// `Op::ClientList`, a page of 100, with many clients.
    #[serde(rename = "clients-page")]
    ClientsPage,
    /// A revocation on one cluster host until another refuses the session (issue 16 §4).
    Revocation,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Ping => "ping",
            Workload::Verify => "verify",
            Workload::HttpVerify => "http-verify",
            Workload::ForwardAuth => "forward-auth",
            Workload::Issue => "issue",
            Workload::Sweep => "sweep",
            Workload::Mixed => "mixed",
            Workload::Coldstart => "coldstart",
            Workload::Stats => "stats",
            Workload::ClientsPage => "clients-page",
            Workload::Revocation => "revocation",
        })
    }
}

/// The systems measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Target {
    /// keywardd.
    Keyward,
    /// redis-server.
    Redis,
    /// nginx alone: the forward-auth workload's location without auth.
    Nginx,
    /// keywardd with `backend = "etcd"`, one host of a cluster (issue 16 §4).
    Cluster,
    /// etcd itself, driven with etcd-client.
    Etcd,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Keyward => "keyward",
            Target::Redis => "redis",
            Target::Nginx => "nginx",
            Target::Cluster => "cluster",
            Target::Etcd => "etcd",
        })
    }
}

/// Connections and requests in flight per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Concurrent connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// What was measured.
    pub workload: Workload,
    /// On what.
    pub target: Target,
    /// Concurrent connections.
    pub connections: Option<usize>,
    /// Requests in flight per connection.
    pub pipeline: Option<usize>,
    /// Successful operations per second in the measured window.
    pub ops_per_sec: Option<f64>,
    /// Median latency, microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, microseconds.
    pub p99_us: Option<f64>,
    /// 99.9th percentile latency, microseconds.
    pub p999_us: Option<f64>,
    /// The server's resident set size after the run, MiB.
    pub rss_mib: Option<f64>,
    /// Why this row was not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Figures only some workloads have.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Optional figures, serialised only when present.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Extra {
    /// With `--repeat`, which run of the suite (from 1) the row belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<usize>,
    /// The command sent, where it is not the workload's name (the Redis equivalents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<&'static str>,
    /// Sessions (or keys) preloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    /// Replies that were errors where success was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// `client` when keyward was driven through `keyward_client::Client`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<&'static str>,
    /// Size of the data on disk, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir_mib: Option<f64>,
    /// Cold start: the server's RSS just after the preload, before the restart, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib_after_preload: Option<f64>,
    /// Clients the daemon holds (clients-page and stats).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<u64>,
    /// Cold start: exec to the first answered ping, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ping_ms: Option<f64>,
    /// Sweep: from the sweep's start until every expired session was gone, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_ms: Option<f64>,
    /// Sweep: expired sessions deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swept: Option<u64>,
    /// Sweep: the daemon's own timing of its last sweep's steps, milliseconds: listing the
    /// expired sessions, ending them on the event loop, and the rest (journal compaction,
    /// other credentials, counting, trimming the heap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_steps_ms: Option<[f64; 3]>,
    /// Sweep: the same verify load's p99 with no sweep running, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_us_without_sweep: Option<f64>,
    /// Sweep: the same verify load's throughput with no sweep running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_per_sec_without_sweep: Option<f64>,
    /// Cluster cold start: exec to the first verify of a known session that succeeds, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_ms: Option<f64>,
    /// Cluster cold start: etcd serving every key under the prefix in the host's pages, with
    /// nothing applied, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_read_ms: Option<f64>,
    /// Cluster: the size of etcd's database file (one member's), MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_db_mib: Option<f64>,
    /// Revocation: revocations timed; the row's latencies are their lags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocations: Option<u64>,
    /// Revocation: the longest lag from A's acknowledgment to B's first refusal, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_max_ms: Option<f64>,
    /// Revocation: how long A took to acknowledge a revoke (etcd's commit), p50 and p99, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_ms: Option<[f64; 2]>,
    /// Revocation: revocations B already refused at its first poll after A's acknowledgment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_at_first_poll: Option<u64>,
}

/// Rounds to `places` decimals, so JSON carries no false precision.
pub(crate) fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

impl Row {
    /// A row from a load run's summary.
    pub fn measured(
        workload: Workload,
        target: Target,
        shape: Shape,
        summary: &Summary,
        rss_mib: Option<f64>,
    ) -> Row {
        let us = |q| summary.quantile_us(q).map(|v| round(v, 1));
        Row {
            workload,
            target,
            connections: Some(shape.connections),
            pipeline: Some(shape.pipeline),
            ops_per_sec: Some(round(summary.ops_per_sec(), 0)),
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            rss_mib: rss_mib.map(|v| round(v, 1)),
            skipped: None,
            extra: Extra {
                errors: Some(summary.errors),
                ..Extra::default()
            },
        }
    }

    /// A row with no figures yet, for workloads that fill in their own.
    pub fn bare(workload: Workload, target: Target) -> Row {
        Row {
            workload,
            target,
            connections: None,
            pipeline: None,
            ops_per_sec: None,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            rss_mib: None,
            skipped: None,
            extra: Extra::default(),
        }
    }

    /// A row that was not measured, and why. It carries no figures, never made-up ones.
    pub fn skipped(workload: Workload, target: Target, shape: Option<Shape>, why: &str) -> Row {
        Row {
            connections: shape.map(|s| s.connections),
            pipeline: shape.map(|s| s.pipeline),
            skipped: Some(why.to_owned()),
            ..Row::bare(workload, target)
        }
    }

    /// Whether this row is `workload` on `target` with this connection count and depth.
    pub fn is(
        &self,
        workload: Workload,
        target: Target,
        connections: usize,
        pipeline: usize,
    ) -> bool {
        self.workload == workload
            && self.target == target
            && self.connections == Some(connections)
            && self.pipeline == Some(pipeline)
            && self.skipped.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row carries the required fields, nulls included; extras appear only when set.
    #[test]
    fn json_has_required_fields() {
        let row = Row::skipped(
            Workload::Verify,
            Target::Redis,
            Some(Shape {
                connections: 16,
                pipeline: 1,
            }),
            "redis-server not found",
        );
        let json: serde_json::Value = serde_json::to_value(&row).unwrap();
        let obj = json.as_object().unwrap();
        for key in [
            "workload",
            "target",
            "connections",
            "pipeline",
            "ops_per_sec",
            "p50_us",
            "p99_us",
            "p999_us",
            "rss_mib",
        ] {
            assert!(obj.contains_key(key), "missing {key}");
        }
        assert_eq!(obj["target"], "redis");
        assert_eq!(obj["workload"], "verify");
        assert_eq!(obj["connections"], 16);
        assert!(obj["ops_per_sec"].is_null());
        assert_eq!(obj["skipped"], "redis-server not found");
        assert!(!obj.contains_key("first_ping_ms"));
    }

    /// Figures are rounded to the precision they are reported with.
    #[test]
    fn rounding() {
        assert_eq!(round(12.3456, 1), 12.3);
        assert_eq!(round(99999.5, 0), 100000.0);
    }
}
