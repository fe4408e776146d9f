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
    /// Stop once this many violations are found (by then more mostly repeat the story); 0 runs
    /// every cycle whatever is found
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_violations: u64,
    /// The keywardd binary [default: keywardd next to this executable]
    #[arg(long, value_name = "PATH")]
    pub keywardd: Option<PathBuf>,
    /// Which socket the load uses: frames (keyward.sock), http (http.sock, the JSON API), or
    /// mixed (half the workers each way); the checks after each restart always use frames
    #[arg(long, value_enum, default_value = "frames", value_name = "T")]
    pub transport: crate::transport::Transport,
    /// Data dir to use and keep [default: a temporary one, removed at the end]; with --cluster,
    /// an empty dir for every host's and etcd member's data and logs
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run several keywardd hosts (backend = "etcd") on a 3-member etcd cluster of their own,
    /// and each cycle SIGKILL one host or one etcd member under load, then restart it. Needs
    /// keywardd built with `--features etcd`, and etcd and etcdctl (3.4 or later)
    #[arg(long)]
    pub cluster: bool,
    /// With --cluster: how many keywardd hosts, 2 or 3 [default: 3]
    #[arg(long, value_name = "N", requires = "cluster",
          value_parser = clap::value_parser!(u8).range(2..=3))]
    pub hosts: Option<u8>,
    /// With --cluster: the etcd binary [default: etcd on PATH]; etcdctl is looked for beside
    /// it, then on PATH
    #[arg(long, value_name = "PATH", requires = "cluster")]
    pub etcd: Option<PathBuf>,
}
