//! `keyward`: the command-line tool for keywardd.
//!
//! Parses the command line, runs the command, prints the result and exits with the status the
//! CLI contract promises: 0 success, 1 the daemon refused, 2 usage error, 3 unreachable.
//!
//! - [`cli`]: the clap definitions, [`scope`]: `NAME=LEVEL` grants and [`meta`]: `KEY=VALUE`
//!   metadata, all from `keyward_client::cli`; [`completions`]: shell completion scripts.
//! - [`request`]: the operation each command sends; [`secrets`]: admin key and token sources.
//! - [`run`]: talks to the daemon; [`socket`]: which socket, and why it cannot be reached;
//!   [`failure`]: errors, codes and exit statuses.
//! - [`output`]: where things are printed; [`json`] and [`human`]: what is printed;
//!   [`when`]: times and spans.

#![forbid(unsafe_code)]

mod backup;
mod completions;
mod failure;
mod human;
mod json;
mod output;
mod pages;
mod request;
mod run;
mod secrets;
mod socket;
mod when;

use clap::Parser;
use cli::{Cli, Command};
use failure::Failure;
use keyward_client::cli;
use keyward_client::cli::{meta, scope};
use output::Format;
use std::ffi::OsString;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // --help and --version arrive as "errors" meant for stdout with status 0.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            let failure = Failure::from_clap(&err, &args);
            Format::from_raw_args(&args).print_failure(&failure);
            return ExitCode::from(failure.exit_status());
        }
    };
    if let Command::Completions { shell } = cli.command {
        completions::write(shell, &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let format = Format::new(cli.global.json);
    match run::run(&cli).await {
        Ok(outcome) => {
            format.print_outcome(&outcome);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            format.print_failure(&failure);
            ExitCode::from(failure.exit_status())
        }
    }
}
