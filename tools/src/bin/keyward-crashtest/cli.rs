//! Command-line arguments.

use clap::Parser;
use std::path::PathBuf;

/// SIGKILL keywardd at random moments under concurrent load, restart it on the same data dir,
/// and check that nothing acknowledged was lost and nothing revoked came back.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Args {
    /// Kill-restart-check cycles to run
    #[arg(long, value_name = "N")]
    pub cycles: u32,
    /// Seed for the kill moments and the operation mix [default: from the clock; always printed]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// End stdout with one line {"cycles":N,"acked_checked":N,"violations":N}
    #[arg(long)]
    pub json: bool,
    /// The keywardd binary [default: keywardd next to this executable]
    #[arg(long, value_name = "PATH")]
    pub keywardd: Option<PathBuf>,
    /// Which socket the load uses: frames (keyward.sock), http (http.sock, the JSON API), or
    /// mixed (half the workers each way); the checks after each restart always use frames
    #[arg(long, value_enum, default_value = "frames", value_name = "T")]
    pub transport: crate::transport::Transport,
    /// Data dir to use and keep [default: a temporary one, removed at the end]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}
