//! `keywardd`: parse arguments, set up logging, run the daemon. All logic is in the library.

use clap::Parser;
use keywardd::config::{Config, Overrides};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The keyward daemon: issues and verifies credentials over a Unix socket.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Unix socket to listen on [default: $RUNTIME_DIRECTORY/keyward.sock, /run/keyward/keyward.sock
    /// as root, else $XDG_RUNTIME_DIR/keyward/keyward.sock or /tmp/keyward-$UID/keyward.sock]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Data directory [default: $STATE_DIRECTORY, /var/lib/keyward as root, else
    /// $XDG_STATE_HOME/keyward or ~/.local/state/keyward]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let overrides = Overrides {
        socket: args.socket,
        data_dir: args.data_dir,
        config_file: args.config,
    };
    let config = match Config::load(&overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keywardd: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only help a terminal; in files and the journal they are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keywardd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keywardd::daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("keywardd: {e}");
            ExitCode::FAILURE
        }
    }
}
