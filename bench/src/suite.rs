//! `keyward-bench suite`: the standard matrix in one run, keyward and Redis alternating row by
//! row so that both see the same machine conditions.
//!
//! Servers are started once per phase and measured at every shape:
//! The connection counts are `--connections` (1 and 16 unless told otherwise).
//!
//! 1. steady servers with the preloaded sessions: ping and verify at each connection count,
//!    pipeline 1 and 16; http-verify at each count, pipeline 1; forward-auth through
//!    nginx (with and without auth) at 16 connections; then mixed (last, since its logouts use
//!    sessions up);
//! 2. issue at each connection count against a fresh daemon and an `appendfsync always` Redis;
//! 3. the sweep;
//! 4. the cold start.

use anyhow::Result;

use crate::redis::server::Persistence;
use crate::report::{Shape, Workload};
use crate::workloads::{
    coldstart, forward_auth, http_verify, issue, mixed, ping, sweep, verify, Bench,
};

/// Pipeline depths of the ping and verify matrix.
const PIPELINES: [usize; 2] = [1, 16];

/// The shape of the single-shape workloads: many clients, no pipelining.
const CONCURRENT: Shape = Shape {
    connections: 16,
    pipeline: 1,
};

/// Runs the suite.
///
/// # Errors
/// If a server cannot be started or a measurement fails.
pub(crate) async fn run(bench: &mut Bench) -> Result<()> {
    let counts = bench.settings.suite_connections.clone();
    let shapes: Vec<Shape> = counts
        .iter()
        .flat_map(|&connections| {
            PIPELINES.iter().map(move |&pipeline| Shape {
                connections,
                pipeline,
            })
        })
        .collect();
    let sessions = bench.settings.sizes.steady;

    let keyward = match bench.keyward() {
        true => Some(bench.keyward_with(sessions, "verify").await?),
        false => None,
    };
    let redis = match bench.redis_present() {
        true => Some(
            bench
                .redis_with(Persistence::Memory, sessions, "verify")
                .await?,
        ),
        false => None,
    };
    for workload in [Workload::Ping, Workload::Verify] {
        for &shape in &shapes {
            if let Some((daemon, population)) = &keyward {
                match workload {
                    Workload::Ping => ping::keyward(bench, daemon, shape).await?,
                    _ => verify::keyward(bench, daemon, population, shape).await?,
                }
            }
            match &redis {
                Some((server, keys)) => match workload {
                    Workload::Ping => ping::redis(bench, server, shape).await?,
                    _ => verify::redis(bench, server, keys, shape).await?,
                },
                // Emits the skipped row when Redis is wanted but missing.
                None => _ = bench.redis(workload, Some(shape)),
            }
        }
    }
    if let Some((daemon, population)) = &keyward {
        for &connections in &counts {
            let shape = Shape {
                connections,
                pipeline: 1,
            };
            http_verify::keyward(bench, daemon, population, shape).await?;
        }
        forward_auth::run(bench, daemon, population, CONCURRENT).await?;
        mixed::keyward(bench, daemon, population, CONCURRENT).await?;
    }
    // Free the steady servers' memory before the large phases.
    drop(keyward);
    drop(redis);

    let keyward = match bench.keyward() {
        true => Some(bench.keyward_for_issue().await?),
        false => None,
    };
    let redis = match bench.redis_present() {
        true => Some(
            bench
                .redis_with(Persistence::AppendFsyncAlways, 0, "issue")
                .await?,
        ),
        false => None,
    };
    for &connections in &counts {
        let shape = Shape {
            connections,
            pipeline: 1,
        };
        if let Some((daemon, population)) = &keyward {
            issue::keyward(bench, daemon, population, shape).await?;
        }
        match &redis {
            Some((server, _)) => issue::redis(bench, server, shape).await?,
            None => _ = bench.redis(Workload::Issue, Some(shape)),
        }
    }
    drop(keyward);
    drop(redis);

    if bench.keyward() {
        sweep::keyward(bench, CONCURRENT).await?;
    }
    coldstart::run(bench, CONCURRENT).await
}
