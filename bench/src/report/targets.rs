//! The issue's targets, judged from the rows of a run: the keyward/Redis ratios (1–4) and the
//! sweep, memory and cold-start goals (5–7); then issue 14 §6's HTTP goals (14a, 14b) and its
//! forward-auth goal (14c); then issue 15 §7's goals at scale (15a–15e); then issue 16 §4's
//! cluster figures (16a–16f), of which two are goals and four are reported without one.
//!
//! A target is judged only from rows that measure exactly what it states; anything else is
//! shown as not judged, with the reason, never guessed. Goals stated for a million sessions are
//! not judged from a smaller run (such as `--quick`), though their figures are still shown.

use std::fmt;

use super::row::{Row, Target, Workload};
use super::table::thousands;
use crate::workloads::cluster::{NO_SLIDE, SLIDES_DUE, STRICT};

/// The session count targets 5–7 are stated for.
pub(crate) const TARGET_SESSIONS: u64 = 1_000_000;

/// Whether a target was met.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// Not judged, and why.
    Unjudged(String),
    /// A figure the issue asks for without a goal to judge it by.
    Reported,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Met => f.write_str("met"),
            Status::Missed => f.write_str("MISSED"),
            Status::Unjudged(why) => write!(f, "not judged: {why}"),
            Status::Reported => f.write_str("reported (no goal)"),
        }
    }
}

/// One target's outcome.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// The target's number in the issue.
    pub label: &'static str,
    /// What the target demands.
    pub goal: &'static str,
    /// The measured figure, or `-`.
    pub measured: String,
    /// The figure the goal is judged on (a ratio, or seconds), for the spread over runs.
    pub value: Option<f64>,
    /// Met, missed or not judged.
    pub status: Status,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<3} {:<52} {:<46} {}",
            self.label, self.goal, self.measured, self.status
        )
    }
}

fn find(
    rows: &[Row],
    workload: Workload,
    target: Target,
    conns: usize,
    pipe: usize,
) -> Option<&Row> {
    rows.iter().find(|r| r.is(workload, target, conns, pipe))
}

fn judge(met: bool) -> Status {
    if met {
        Status::Met
    } else {
        Status::Missed
    }
}

fn unmeasured(label: &'static str, goal: &'static str, why: &str) -> Verdict {
    Verdict {
        label,
        goal,
        measured: "-".into(),
        value: None,
        status: Status::Unjudged(why.to_owned()),
    }
}

/// keyward ops/s over Redis ops/s for `workload` at this shape, against a floor.
fn throughput_ratio(
    rows: &[Row],
    (label, goal): (&'static str, &'static str),
    workload: Workload,
    (conns, pipe): (usize, usize),
    floor: f64,
) -> Verdict {
    let pair = find(rows, workload, Target::Keyward, conns, pipe)
        .zip(find(rows, workload, Target::Redis, conns, pipe))
        .and_then(|(k, r)| Some((k.ops_per_sec?, r.ops_per_sec?)));
    match pair {
        Some((k, r)) if r > 0.0 => {
            let ratio = k / r;
            Verdict {
                label,
                goal,
                measured: format!("{ratio:.2}x ({} vs {} ops/s)", thousands(k), thousands(r)),
                value: Some(ratio),
                status: judge(ratio >= floor),
            }
        }
        _ => unmeasured(
            label,
            goal,
            &format!("needs {workload} rows for both targets at {conns} conns, pipeline {pipe}"),
        ),
    }
}

/// Judges every target the rows allow.
pub(crate) fn evaluate(rows: &[Row]) -> Vec<Verdict> {
    vec![
        throughput_ratio(
            rows,
            ("1", "verify 16 conns, no pipelining >= 1.2x Redis GETEX"),
            Workload::Verify,
            (16, 1),
            1.2,
        ),
        throughput_ratio(
            rows,
            ("2", "verify 16 conns, pipeline 16 >= 1.0x Redis GETEX"),
            Workload::Verify,
            (16, 16),
            1.0,
        ),
        verify_over_ping(rows),
        throughput_ratio(
            rows,
            ("4", "durable issue 16 conns >= 1.5x Redis SET fsync always"),
            Workload::Issue,
            (16, 1),
            1.5,
        ),
        sweep_time(rows),
        sweep_p99(rows),
        rss(rows),
        cold_start(rows),
        http_over_redis(rows),
        http_over_frames(rows),
        forward_auth_over_nginx(rows),
        throughput_ratio(
            rows,
            ("15a", "verify 16 conns, no pipelining >= 1.3x Redis GETEX"),
            Workload::Verify,
            (16, 1),
            1.3,
        ),
        durable_issue(
            rows,
            ("15b", "durable issue 16 conns >= 1.5x Redis, p99 <= Redis"),
            16,
        ),
        durable_issue(
            rows,
            ("15c", "durable issue 64 conns >= 1.5x Redis, p99 <= Redis"),
            64,
        ),
        durable_issue(
            rows,
            ("15d", "durable issue 256 conns >= 1.5x Redis, p99 <= Redis"),
            256,
        ),
        cold_start_within(
            rows,
            ("15e", "cold start, 1M sessions: first ping <= 0.35 s"),
            350.0,
        ),
        p50_at_clients(
            rows,
            ("15f", "a page of 100 clients at 1M clients: p50 <= 1 ms"),
            Workload::ClientsPage,
            1000.0,
        ),
        p50_at_clients(
            rows,
            ("15g", "stats at 1M clients: p50 <= 0.2 ms"),
            Workload::Stats,
            200.0,
        ),
        cluster_verify(
            rows,
            ("16a", "verify on a cluster host >= 0.9x single-host verify"),
            (NO_SLIDE, NO_SLIDE),
            Some(0.9),
        ),
        cluster_issue(rows),
        revocation_lag(rows),
        cluster_cold_start(rows),
        cluster_verify(
            rows,
            ("16e", "verify, every slide due: cluster / single host"),
            (SLIDES_DUE, SLIDES_DUE),
            None,
        ),
        cluster_verify(
            rows,
            ("16f", "verify with strict_verify: cluster / single host"),
            (STRICT, NO_SLIDE),
            None,
        ),
    ]
}

/// Issue 16 §4: verify on a host with `backend = "etcd"` against a single host in the same
/// run, at the cluster row's shape, on the cluster row noted `cluster` and the single-host
/// row noted `local` (whether slides were due, whether verifies were strict). `floor` is
/// the goal; `None` reports the ratio without judging it.
fn cluster_verify(
    rows: &[Row],
    (label, goal): (&'static str, &'static str),
    (cluster, local): (&'static str, &'static str),
    floor: Option<f64>,
) -> Verdict {
    let noted = |note: &'static str| {
        move |r: &&Row| r.workload == Workload::Verify && r.extra.command == Some(note)
    };
    let pair = rows
        .iter()
        .filter(noted(cluster))
        .find(|r| r.target == Target::Cluster)
        .and_then(|c| {
            let local = rows.iter().filter(noted(local)).find(|r| {
                r.is(
                    Workload::Verify,
                    Target::Keyward,
                    c.connections.unwrap_or(0),
                    c.pipeline.unwrap_or(0),
                )
            })?;
            Some((c.ops_per_sec?, local.ops_per_sec?))
        });
    match pair {
        Some((c, l)) if l > 0.0 => {
            let ratio = c / l;
            Verdict {
                label,
                goal,
                measured: format!("{ratio:.2}x ({} vs {} ops/s)", thousands(c), thousands(l)),
                value: Some(ratio),
                status: floor.map_or(Status::Reported, |floor| judge(ratio >= floor)),
            }
        }
        _ => unmeasured(
            label,
            goal,
            &format!(
                "needs a cluster verify row \"{cluster}\" and a keyward one \"{local}\" at one shape"
            ),
        ),
    }
}

/// Issue 16 §4: durable issue on the cluster against etcd's own rate for the same
/// transactions with as many in flight; the overhead is reported, not judged.
fn cluster_issue(rows: &[Row]) -> Verdict {
    const LABEL: &str = "16b";
    const GOAL: &str = "durable issue on the cluster / etcd's own txn rate";
    let pair = rows
        .iter()
        .find(|r| r.workload == Workload::Issue && r.target == Target::Cluster)
        .and_then(|c| {
            let etcd = find(
                rows,
                Workload::Issue,
                Target::Etcd,
                c.connections?,
                c.pipeline?,
            )?;
            Some((c.ops_per_sec?, etcd.ops_per_sec?))
        });
    match pair {
        Some((c, e)) if e > 0.0 => {
            let ratio = c / e;
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{ratio:.2}x ({} vs {} ops/s)", thousands(c), thousands(e)),
                value: Some(ratio),
                status: Status::Reported,
            }
        }
        _ => unmeasured(
            LABEL,
            GOAL,
            "needs cluster and etcd issue rows at the same shape",
        ),
    }
}

/// Issue 16 §4: how long after host A acknowledged a revoke host B still honoured the
/// session, at the 99th percentile.
fn revocation_lag(rows: &[Row]) -> Verdict {
    const LABEL: &str = "16c";
    const GOAL: &str = "revocation on A refused on B: p99 lag <= 50 ms";
    let row = rows
        .iter()
        .find(|r| r.workload == Workload::Revocation && r.skipped.is_none());
    match row.and_then(|r| Some((r.p50_us?, r.p99_us?, r.extra.lag_max_ms?))) {
        Some((p50, p99, max)) => Verdict {
            label: LABEL,
            goal: GOAL,
            measured: format!(
                "p99 {:.1} ms (p50 {:.1}, max {max:.1})",
                p99 / 1000.0,
                p50 / 1000.0
            ),
            value: Some(p99 / 1000.0),
            status: judge(p99 <= 50_000.0),
        },
        None => unmeasured(LABEL, GOAL, "needs a revocation row"),
    }
}

/// Issue 16 §4: a fresh host's start on a cluster that holds the sessions; reported.
fn cluster_cold_start(rows: &[Row]) -> Verdict {
    const LABEL: &str = "16d";
    const GOAL: &str = "cold start of a cluster host: exec to a verify";
    let row = rows
        .iter()
        .find(|r| r.workload == Workload::Coldstart && r.target == Target::Cluster);
    match row.and_then(|r| Some((r.extra.ready_ms?, r.extra.sessions?, r.rss_mib?))) {
        Some((ms, sessions, rss)) => Verdict {
            label: LABEL,
            goal: GOAL,
            measured: format!(
                "{:.2} s with {} sessions, RSS {rss:.0} MiB",
                ms / 1000.0,
                thousands(sessions as f64)
            ),
            value: Some(ms / 1000.0),
            status: Status::Reported,
        },
        None => unmeasured(LABEL, GOAL, "needs a cluster coldstart row"),
    }
}

/// Issue 15 §7: a management call's median latency against a ceiling in microseconds, judged
/// only at a million clients.
fn p50_at_clients(
    rows: &[Row],
    (label, goal): (&'static str, &'static str),
    workload: Workload,
    ceiling_us: f64,
) -> Verdict {
    let row = rows
        .iter()
        .find(|r| r.workload == workload && r.target == Target::Keyward && r.skipped.is_none());
    match row.and_then(|r| Some((r.p50_us?, r.extra.clients))) {
        Some((p50, clients)) => Verdict {
            label,
            goal,
            measured: format!("{:.3} ms", p50 / 1000.0),
            value: Some(p50 / 1000.0),
            status: match clients {
                Some(n) if n >= TARGET_SESSIONS => judge(p50 <= ceiling_us),
                Some(n) => Status::Unjudged(format!(
                    "measured with {} clients, the goal is for {}",
                    thousands(n as f64),
                    thousands(TARGET_SESSIONS as f64)
                )),
                None => Status::Unjudged("client count unknown".into()),
            },
        },
        None => unmeasured(label, goal, &format!("needs a {workload} row")),
    }
}

/// Issue 15 §7: durable issue at `conns` connections against Redis `SET` with
/// `appendfsync always` in the same run: a throughput floor and a p99 no worse than Redis's.
fn durable_issue(
    rows: &[Row],
    (label, goal): (&'static str, &'static str),
    conns: usize,
) -> Verdict {
    let figures = |r: &Row| Some((r.ops_per_sec?, r.p99_us?));
    let pair = find(rows, Workload::Issue, Target::Keyward, conns, 1)
        .and_then(figures)
        .zip(find(rows, Workload::Issue, Target::Redis, conns, 1).and_then(figures));
    match pair {
        Some(((k, kp99), (r, rp99))) if r > 0.0 => {
            let ratio = k / r;
            Verdict {
                label,
                goal,
                measured: format!(
                    "{ratio:.2}x ({} vs {} ops/s), p99 {:.1} vs {:.1} ms",
                    thousands(k),
                    thousands(r),
                    kp99 / 1000.0,
                    rp99 / 1000.0
                ),
                value: Some(ratio),
                status: judge(ratio >= 1.5 && kp99 <= rp99),
            }
        }
        _ => unmeasured(
            label,
            goal,
            &format!("needs issue rows for both targets at {conns} conns, pipeline 1"),
        ),
    }
}

/// Issue 14 §6: nginx with `auth_request` to keywardd against the same nginx location without
/// auth, at 16 connections, in the same run.
fn forward_auth_over_nginx(rows: &[Row]) -> Verdict {
    const LABEL: &str = "14c";
    const GOAL: &str = "forward auth via nginx 16 conns >= 0.6x nginx no auth";
    let pair = find(rows, Workload::ForwardAuth, Target::Keyward, 16, 1)
        .zip(find(rows, Workload::ForwardAuth, Target::Nginx, 16, 1))
        .and_then(|(a, n)| Some((a.ops_per_sec?, n.ops_per_sec?)));
    match pair {
        Some((a, n)) if n > 0.0 => {
            let ratio = a / n;
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{ratio:.2}x ({} vs {} ops/s)", thousands(a), thousands(n)),
                value: Some(ratio),
                status: judge(ratio >= 0.6),
            }
        }
        _ => unmeasured(
            LABEL,
            GOAL,
            "needs forward-auth keyward and nginx rows at 16 conns, pipeline 1",
        ),
    }
}

/// Issue 14 §6: HTTP verify at 16 connections against the same run's Redis GETEX row.
fn http_over_redis(rows: &[Row]) -> Verdict {
    const LABEL: &str = "14a";
    const GOAL: &str = "HTTP verify 16 conns >= 1.0x Redis GETEX";
    let pair = find(rows, Workload::HttpVerify, Target::Keyward, 16, 1)
        .zip(find(rows, Workload::Verify, Target::Redis, 16, 1))
        .and_then(|(h, r)| Some((h.ops_per_sec?, r.ops_per_sec?)));
    match pair {
        Some((h, r)) if r > 0.0 => {
            let ratio = h / r;
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{ratio:.2}x ({} vs {} ops/s)", thousands(h), thousands(r)),
                value: Some(ratio),
                status: judge(ratio >= 1.0),
            }
        }
        _ => unmeasured(
            LABEL,
            GOAL,
            "needs http-verify and Redis verify rows at 16 conns, pipeline 1",
        ),
    }
}

/// Issue 14 §6: HTTP verify p50 at 1 connection against the frame protocol's.
fn http_over_frames(rows: &[Row]) -> Verdict {
    const LABEL: &str = "14b";
    const GOAL: &str = "HTTP verify p50, 1 conn <= 1.3x frame verify p50";
    let pair = find(rows, Workload::HttpVerify, Target::Keyward, 1, 1)
        .zip(find(rows, Workload::Verify, Target::Keyward, 1, 1))
        .and_then(|(h, f)| Some((h.p50_us?, f.p50_us?)));
    match pair {
        Some((h, f)) if f > 0.0 => {
            let ratio = h / f;
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{ratio:.2}x ({h:.1} vs {f:.1} us)"),
                value: Some(ratio),
                status: judge(ratio <= 1.3),
            }
        }
        _ => unmeasured(
            LABEL,
            GOAL,
            "needs http-verify and keyward verify rows at 1 conn, pipeline 1",
        ),
    }
}

fn verify_over_ping(rows: &[Row]) -> Verdict {
    const LABEL: &str = "3";
    const GOAL: &str = "verify p50, 1 conn <= 1.15x keyward ping p50";
    let pair = find(rows, Workload::Verify, Target::Keyward, 1, 1)
        .zip(find(rows, Workload::Ping, Target::Keyward, 1, 1))
        .and_then(|(v, p)| Some((v.p50_us?, p.p50_us?)));
    match pair {
        Some((v, p)) if p > 0.0 => {
            let ratio = v / p;
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{ratio:.2}x ({v:.1} vs {p:.1} us)"),
                value: Some(ratio),
                status: judge(ratio <= 1.15),
            }
        }
        _ => unmeasured(
            LABEL,
            GOAL,
            "needs keyward verify and ping rows at 1 conn, pipeline 1",
        ),
    }
}

/// Not judged unless `sessions` reaches [`TARGET_SESSIONS`].
fn at_scale(sessions: Option<u64>, met: bool) -> Status {
    match sessions {
        Some(n) if n >= TARGET_SESSIONS => judge(met),
        Some(n) => Status::Unjudged(format!(
            "measured with {} sessions, the goal is for {}",
            thousands(n as f64),
            thousands(TARGET_SESSIONS as f64)
        )),
        None => Status::Unjudged("session count unknown".into()),
    }
}

fn sweep_row(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| {
        r.workload == Workload::Sweep && r.target == Target::Keyward && r.skipped.is_none()
    })
}

fn sweep_time(rows: &[Row]) -> Verdict {
    const LABEL: &str = "5a";
    const GOAL: &str = "sweep 1M expired sessions <= 2 s";
    match sweep_row(rows).and_then(|r| Some((r.extra.sweep_ms?, r.extra.swept))) {
        Some((ms, swept)) => Verdict {
            label: LABEL,
            goal: GOAL,
            measured: format!(
                "{:.2} s for {}",
                ms / 1000.0,
                thousands(swept.unwrap_or(0) as f64)
            ),
            value: Some(ms / 1000.0),
            status: at_scale(swept, ms <= 2000.0),
        },
        None => unmeasured(LABEL, GOAL, "needs a sweep row"),
    }
}

fn sweep_p99(rows: &[Row]) -> Verdict {
    const LABEL: &str = "5b";
    const GOAL: &str = "verify p99 during the sweep <= 2x without";
    let row = sweep_row(rows);
    match row.and_then(|r| Some((r.p99_us?, r.extra.p99_us_without_sweep?))) {
        Some((during, without)) if without > 0.0 => {
            let ratio = during / without;
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{ratio:.2}x ({during:.1} vs {without:.1} us)"),
                value: Some(ratio),
                status: at_scale(row.and_then(|r| r.extra.swept), ratio <= 2.0),
            }
        }
        _ => unmeasured(LABEL, GOAL, "needs a sweep row with both p99 figures"),
    }
}

fn rss(rows: &[Row]) -> Verdict {
    const LABEL: &str = "6";
    const GOAL: &str = "RSS, 1M live sessions <= Redis RSS, same sessions";
    // The verify rows with the most sessions: the cold-start workload's, when it ran.
    let largest = |target| {
        rows.iter()
            .filter(|r| r.workload == Workload::Verify && r.target == target && r.rss_mib.is_some())
            .max_by_key(|r| r.extra.sessions.unwrap_or(0))
    };
    let coldstart = rows
        .iter()
        .find(|r| r.workload == Workload::Coldstart && r.target == Target::Keyward);
    match largest(Target::Keyward).zip(largest(Target::Redis)) {
        Some((k, r)) if k.extra.sessions == r.extra.sessions => {
            // The larger of keyward's figures: after serving verifies on the restarted daemon,
            // or just after creating every session, when the cache has seen them all.
            let preloaded = coldstart
                .filter(|c| c.extra.sessions == k.extra.sessions)
                .and_then(|c| c.extra.rss_mib_after_preload);
            let krss = k.rss_mib.unwrap_or(0.0).max(preloaded.unwrap_or(0.0));
            let rrss = r.rss_mib.unwrap_or(0.0);
            let disk = coldstart
                .and_then(|c| c.extra.data_dir_mib)
                .map_or(String::new(), |d| format!(", disk {d:.0}"));
            Verdict {
                label: LABEL,
                goal: GOAL,
                measured: format!("{krss:.0} vs {rrss:.0} MiB{disk}"),
                value: (rrss > 0.0).then(|| krss / rrss),
                status: at_scale(k.extra.sessions, krss <= rrss),
            }
        }
        _ => unmeasured(
            LABEL,
            GOAL,
            "needs verify rows for both targets with the same sessions",
        ),
    }
}

fn cold_start(rows: &[Row]) -> Verdict {
    cold_start_within(
        rows,
        ("7", "cold start, 1M sessions: first ping <= 0.5 s"),
        500.0,
    )
}

/// The cold start's first ping against a ceiling in milliseconds.
fn cold_start_within(
    rows: &[Row],
    (label, goal): (&'static str, &'static str),
    ceiling_ms: f64,
) -> Verdict {
    let row = rows
        .iter()
        .find(|r| r.workload == Workload::Coldstart && r.target == Target::Keyward);
    match row.and_then(|r| Some((r.extra.first_ping_ms?, r.extra.sessions))) {
        Some((ms, sessions)) => Verdict {
            label,
            goal,
            measured: format!("{:.3} s", ms / 1000.0),
            value: Some(ms / 1000.0),
            status: at_scale(sessions, ms <= ceiling_ms),
        },
        None => unmeasured(label, goal, "needs a coldstart row"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::row::Row;

    fn row(workload: Workload, target: Target, shape: (usize, usize), ops: f64, p50: f64) -> Row {
        Row {
            connections: Some(shape.0),
            pipeline: Some(shape.1),
            ops_per_sec: Some(ops),
            p50_us: Some(p50),
            ..Row::bare(workload, target)
        }
    }

    /// Ratios come from the matching rows and are judged against their floors or ceilings.
    #[test]
    fn ratios_are_judged() {
        let rows = vec![
            row(Workload::Verify, Target::Keyward, (16, 1), 60_000.0, 200.0),
            row(Workload::Verify, Target::Redis, (16, 1), 40_000.0, 300.0),
            row(Workload::Verify, Target::Keyward, (1, 1), 20_000.0, 46.0),
            row(Workload::Ping, Target::Keyward, (1, 1), 25_000.0, 40.0),
        ];
        let v = evaluate(&rows);
        assert_eq!(v[0].status, Status::Met);
        assert_eq!(v[0].measured, "1.50x (60,000 vs 40,000 ops/s)");
        assert!(matches!(v[1].status, Status::Unjudged(_)));
        assert_eq!(v[2].status, Status::Met);
        assert_eq!(v[2].measured, "1.15x (46.0 vs 40.0 us)");
        assert!(matches!(v[3].status, Status::Unjudged(_)));
    }

    /// The HTTP goals compare http-verify with the same run's Redis GETEX at 16 connections
    /// and with the frame protocol's verify p50 at 1 connection.
    #[test]
    fn http_goals_are_judged() {
        let mut rows = vec![
            row(
                Workload::HttpVerify,
                Target::Keyward,
                (16, 1),
                45_000.0,
                300.0,
            ),
            row(Workload::Verify, Target::Redis, (16, 1), 40_000.0, 300.0),
            row(
                Workload::HttpVerify,
                Target::Keyward,
                (1, 1),
                15_000.0,
                65.0,
            ),
            row(Workload::Verify, Target::Keyward, (1, 1), 20_000.0, 46.0),
        ];
        let v = evaluate(&rows);
        let labelled = |v: &[Verdict], label| v.iter().position(|x| x.label == label).unwrap();
        let (redis_at, frames_at) = (labelled(&v, "14a"), labelled(&v, "14b"));
        let (redis, frames) = (&v[redis_at], &v[frames_at]);
        assert_eq!(redis.label, "14a");
        assert_eq!(redis.status, Status::Met);
        assert_eq!(redis.measured, "1.12x (45,000 vs 40,000 ops/s)");
        assert_eq!(frames.label, "14b");
        assert_eq!(frames.status, Status::Missed);
        assert_eq!(frames.measured, "1.41x (65.0 vs 46.0 us)");
        // The frame protocol's own 16-connection row is not the Redis figure.
        rows.remove(1);
        rows.push(row(
            Workload::Verify,
            Target::Keyward,
            (16, 1),
            40_000.0,
            300.0,
        ));
        assert!(matches!(
            evaluate(&rows)[redis_at].status,
            Status::Unjudged(_)
        ));
    }

    /// Forward auth is judged against the same run's nginx row without auth, and not against
    /// anything else.
    #[test]
    fn forward_auth_goal_is_judged() {
        let mut rows = vec![
            row(
                Workload::ForwardAuth,
                Target::Keyward,
                (16, 1),
                14_000.0,
                900.0,
            ),
            row(
                Workload::ForwardAuth,
                Target::Nginx,
                (16, 1),
                20_000.0,
                700.0,
            ),
        ];
        let v = forward_auth_over_nginx(&rows);
        assert_eq!(v.label, "14c");
        assert_eq!(v.status, Status::Met);
        assert_eq!(v.measured, "0.70x (14,000 vs 20,000 ops/s)");
        rows[0].ops_per_sec = Some(10_000.0);
        assert_eq!(forward_auth_over_nginx(&rows).status, Status::Missed);
        rows[1] = row(Workload::Verify, Target::Keyward, (16, 1), 20_000.0, 700.0);
        assert!(matches!(
            forward_auth_over_nginx(&rows).status,
            Status::Unjudged(_)
        ));
    }

    /// A skipped Redis row leaves the ratio unjudged rather than computed from nothing.
    #[test]
    fn skipped_rows_do_not_count() {
        let rows = vec![
            row(Workload::Issue, Target::Keyward, (16, 1), 9_000.0, 1000.0),
            Row::skipped(Workload::Issue, Target::Redis, None, "absent"),
        ];
        assert!(matches!(evaluate(&rows)[3].status, Status::Unjudged(_)));
    }

    /// Issue 15's durable-issue goals are judged per connection count, on throughput and p99.
    #[test]
    fn durable_issue_at_each_count() {
        let with_p99 = |target, conns, ops, p99| Row {
            p99_us: Some(p99),
            ..row(Workload::Issue, target, (conns, 1), ops, 100.0)
        };
        let mut rows = vec![
            with_p99(Target::Keyward, 64, 80_000.0, 2_000.0),
            with_p99(Target::Redis, 64, 50_000.0, 2_400.0),
        ];
        let at = |rows: &[Row], label| {
            evaluate(rows)
                .into_iter()
                .find(|v| v.label == label)
                .unwrap()
        };
        let v = at(&rows, "15c");
        assert_eq!(v.status, Status::Met);
        assert_eq!(
            v.measured,
            "1.60x (80,000 vs 50,000 ops/s), p99 2.0 vs 2.4 ms"
        );
        assert_eq!(v.value, Some(1.6));
        assert!(matches!(at(&rows, "15b").status, Status::Unjudged(_)));
        assert!(matches!(at(&rows, "15d").status, Status::Unjudged(_)));
        rows[0].p99_us = Some(2_500.0);
        assert_eq!(at(&rows, "15c").status, Status::Missed);
    }

    /// Issue 16's cluster figures: verify against the single host at the cluster row's shape,
    /// issue against etcd (reported, not judged), the revocation lag's p99 against 50 ms.
    #[test]
    fn cluster_figures() {
        let noted = |target, shape, ops, note| {
            let mut r = row(Workload::Verify, target, shape, ops, 100.0);
            r.extra.command = Some(note);
            r
        };
        let mut rows = vec![
            noted(Target::Cluster, (16, 1), 190_000.0, NO_SLIDE),
            noted(Target::Keyward, (1, 1), 20_000.0, NO_SLIDE),
            noted(Target::Keyward, (16, 1), 200_000.0, NO_SLIDE),
            row(Workload::Issue, Target::Cluster, (16, 1), 3_000.0, 5_000.0),
            row(Workload::Issue, Target::Etcd, (16, 1), 4_000.0, 4_000.0),
            noted(Target::Keyward, (16, 1), 180_000.0, SLIDES_DUE),
            noted(Target::Cluster, (16, 1), 45_000.0, SLIDES_DUE),
            noted(Target::Cluster, (16, 1), 20_000.0, STRICT),
        ];
        let at = |rows: &[Row], label| {
            evaluate(rows)
                .into_iter()
                .find(|v| v.label == label)
                .unwrap()
        };
        let v = at(&rows, "16a");
        assert_eq!(v.status, Status::Met);
        assert_eq!(v.measured, "0.95x (190,000 vs 200,000 ops/s)");
        let v = at(&rows, "16b");
        assert_eq!((v.status, v.value), (Status::Reported, Some(0.75)));
        let v = at(&rows, "16e");
        assert_eq!((v.status, v.value), (Status::Reported, Some(0.25)));
        // Strict against the single host without slides.
        let v = at(&rows, "16f");
        assert_eq!((v.status, v.value), (Status::Reported, Some(0.1)));
        assert!(matches!(at(&rows, "16c").status, Status::Unjudged(_)));
        let mut lag = Row {
            p50_us: Some(3_000.0),
            p99_us: Some(60_000.0),
            ..Row::bare(Workload::Revocation, Target::Cluster)
        };
        lag.extra.lag_max_ms = Some(70.0);
        rows.push(lag);
        let v = at(&rows, "16c");
        assert_eq!(v.status, Status::Missed);
        assert_eq!(v.measured, "p99 60.0 ms (p50 3.0, max 70.0)");
        rows[0].ops_per_sec = Some(170_000.0);
        assert_eq!(at(&rows, "16a").status, Status::Missed);
        rows.remove(2);
        assert!(matches!(at(&rows, "16a").status, Status::Unjudged(_)));
    }

    /// The management goals are judged on p50 at a million clients, and only there.
    #[test]
    fn management_at_a_million_clients() {
        let mut page = row(
            Workload::ClientsPage,
            Target::Keyward,
            (16, 1),
            9_000.0,
            800.0,
        );
        page.extra.clients = Some(TARGET_SESSIONS);
        let mut stats = row(Workload::Stats, Target::Keyward, (16, 1), 90_000.0, 250.0);
        stats.extra.clients = Some(TARGET_SESSIONS);
        let v = evaluate(&[page.clone(), stats]);
        let at = |label| v.iter().find(|v| v.label == label).unwrap();
        assert_eq!(at("15f").status, Status::Met);
        assert_eq!(at("15f").measured, "0.800 ms");
        assert_eq!(at("15g").status, Status::Missed);
        page.extra.clients = Some(10_000);
        assert!(matches!(
            evaluate(&[page])
                .into_iter()
                .find(|v| v.label == "15f")
                .unwrap()
                .status,
            Status::Unjudged(_)
        ));
    }

    /// Goals stated for a million sessions are shown but not judged from a smaller run.
    #[test]
    fn small_runs_are_not_judged_at_scale() {
        let mut cold = Row::bare(Workload::Coldstart, Target::Keyward);
        cold.extra.first_ping_ms = Some(40.0);
        cold.extra.sessions = Some(20_000);
        let v = cold_start(&[cold.clone()]);
        assert_eq!(v.measured, "0.040 s");
        assert!(matches!(v.status, Status::Unjudged(_)));
        cold.extra.sessions = Some(TARGET_SESSIONS);
        assert_eq!(cold_start(&[cold]).status, Status::Met);
    }
}
