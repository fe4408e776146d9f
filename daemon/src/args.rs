//! The command line of `keywardd`, public so packaging can render its man page and completions.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The keyward daemon: issues and verifies credentials over a Unix socket.
#[derive(Debug, Parser)]
#[command(name = "keywardd", version, about)]
pub struct Args {
    /// Unix socket to listen on [default: $RUNTIME_DIRECTORY/keyward.sock, /run/keyward/keyward.sock
    /// as root, else $XDG_RUNTIME_DIR/keyward/keyward.sock or /tmp/keyward-$UID/keyward.sock].
    /// A missing directory is created mode 0700; one that another user owns or may write to is
    /// refused. Ignored when systemd passes a listening socket (socket activation).
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Data directory [default: $STATE_DIRECTORY, /var/lib/keyward as root, else
    /// $XDG_STATE_HOME/keyward or ~/.local/state/keyward, or /tmp/keyward-$UID-state when
    /// neither can be created]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file; SIGHUP re-reads it
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Something other than serving
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Offline operations.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restore a backup (made with `keyward backup`) into an empty data dir, offline; with
    /// backend = "etcd" in the config, into the empty etcd prefix instead
    Restore {
        /// The backup file
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace a data dir that already holds data (never a non-empty etcd prefix)
        #[arg(long)]
        force: bool,
    },
    /// Move a single-host data dir into the empty etcd prefix the config names, offline, and
    /// check the counts afterwards
    Migrate {
        /// Write into etcd (backend = "etcd", etcd_endpoints, etcd_prefix and the TLS and
        /// auth keys, read from the config as the daemon reads them); the data dir's store is
        /// read and left in place
        #[arg(long, required = true)]
        to_etcd: bool,
    },
}

impl Args {
    /// The config overrides these arguments carry.
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            socket: self.socket.clone(),
            data_dir: self.data_dir.clone(),
            config_file: self.config.clone(),
        }
    }
}
