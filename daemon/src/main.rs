//! `keywardd`: parse arguments, set up logging, run the daemon (or an offline command). All
//! logic is in the library.

use clap::Parser;
use keywardd::args::{Args, Command};
use keywardd::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keywardd: {e}");
            return ExitCode::from(2);
        }
    };
    keywardd::logging::init(&config.log_level);
    if let Some(Command::Restore { file, force }) = &args.command {
        return match keywardd::backup::restore_file(file, &config.data_dir, *force) {
            Ok(report) => {
                eprintln!("keywardd: {report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("keywardd: restore failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Before the runtime starts threads: this clears $LISTEN_FDS and $LISTEN_PID.
    let activated = match keywardd::activation::take_listener() {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("keywardd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keywardd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keywardd::daemon::run(config, args.overrides(), activated)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("keywardd: {e}");
            ExitCode::FAILURE
        }
    }
}
