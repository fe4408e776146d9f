//! `keyward-bench`: measures keywardd and Redis with one load generator in one run.
//!
//! The binary parses its arguments, runs the suite or one workload on a current-thread runtime,
//! and stops on Ctrl-C or SIGTERM; dropping the run stops every server it started and removes
//! their temporary directories. See `BENCHMARKS.md` for how to run it and what it found.

#![forbid(unsafe_code)]

mod cli;
mod disk;
mod etcd;
mod keyward;
mod load;
mod nginx;
mod process;
mod progress;
mod redis;
mod report;
mod suite;
mod workloads;

use anyhow::{bail, Result};
use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;
use tokio::signal::unix::{signal, SignalKind};

use cli::{Cli, Settings, What};
use workloads::Bench;

fn main() -> ExitCode {
    let settings = match Settings::resolve(Cli::parse(), std::env::current_exe().ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keyward-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    // One thread for every load connection: the generator takes one core and leaves the rest
    // to the server under test.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyward-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyward-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> Result<()> {
    let started = Instant::now();
    let mut bench = Bench::new(settings);
    describe(&bench);
    let what = bench.settings.what;
    let result = {
        let work = async {
            match what {
                What::Suite => {
                    let repeat = bench.settings.repeat;
                    for run in 1..=repeat {
                        bench.reporter.start_run(run, repeat);
                        suite::run(&mut bench).await?;
                    }
                    Ok(())
                }
                _ => workloads::run_one(&mut bench).await,
            }
        };
        tokio::select! {
            result = work => result,
            signal = interrupted() => {
                signal?;
                bail!("interrupted: the servers were stopped and their directories removed")
            }
        }
    };
    bench.reporter.finish(what == What::Suite);
    eprintln!(
        "keyward-bench: finished in {:.0} s; load average {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    result
}

/// Says on stderr what is being measured, so a saved table can be traced to its binaries.
fn describe(bench: &Bench) {
    let s = &bench.settings;
    if s.keyward {
        eprintln!("keyward-bench: keywardd {}", s.keywardd.display());
    }
    if s.redis {
        match redis::server::version(&s.redis_server) {
            Ok(version) => eprintln!("keyward-bench: redis-server {version}"),
            Err(why) => eprintln!("keyward-bench: Redis rows skipped: {why}"),
        }
    }
    let timing = match s.what {
        What::Soak => format!("{:?} with a line every {:?}", s.duration, s.interval),
        _ => format!("{:?} per row", s.duration),
    };
    eprintln!(
        "keyward-bench: warm-up {:?}, {timing}{}; {} cores, load average {}",
        s.warmup,
        if s.quick { " (quick)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
}

/// The 1, 5 and 15 minute load averages: other work on the machine shows up in every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() -> Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
