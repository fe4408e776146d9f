//! `keyward-crashtest`: the crash loop of issue #4.
//!
//! Each cycle runs several connections against the real `keywardd` (issuing, verifying,
//! logging out, revoking), SIGKILLs the daemon at a seeded random moment, restarts it on the
//! same data dir and checks, with nothing in flight, that every acknowledged credential still
//! verifies unless its rules say it has expired, that every acknowledged revocation holds, that
//! `client show` lists exactly the live credentials and seat limits count them, and that the
//! daemon starts every time. Operations cut off by the kill have unknown outcomes and are not
//! held against the daemon. See `model` for what is tracked and `expect` for the rules.
//! One more connection disables and enables clients and test keys of their own (`switches`):
//! after each restart, every acknowledged switch must hold. Another updates clients and API
//! tokens of their own (`updates`): every credential of an updated principal must carry its
//! acknowledged scopes at once and after each restart.
//! `--transport http` or `mixed` sends the load's operations over the HTTP/JSON API too
//! (`transport`, `http`), under the same rules.

#![forbid(unsafe_code)]

mod check;
mod cli;
mod clock;
mod cluster;
mod daemon;
mod etcd;
mod expect;
mod http;
mod load;
mod model;
mod ops;
mod report;
mod run;
mod switches;
mod transport;
mod updates;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Args::parse();
    // On SIGINT or SIGTERM, dropping the run kills the daemon and removes the temporary dir.
    let outcome = tokio::select! {
        outcome = run::run(&args) => outcome,
        signal = interrupted() => {
            eprintln!("keyward-crashtest: stopped by {signal}");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(summary) => {
            summary.print(args.json);
            if summary.violations == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("keyward-crashtest: {e}");
            ExitCode::from(2)
        }
    }
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default actions apply; the run just cannot clean up after them.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
