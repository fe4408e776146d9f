//! Running `redis-server` for a measurement: a Unix socket in a temporary directory, no TCP
//! port, and the persistence the workload compares against.

use anyhow::{bail, Context, Result};
use redis_protocol::resp2::types::OwnedFrame;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::net::UnixStream;

use super::wire;
use crate::process::Server;

/// The longest Redis may take from exec to answering `PING` (it answers `-LOADING` while it
/// reads its snapshot).
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// How often readiness is probed.
const READY_POLL: Duration = Duration::from_millis(1);

/// How Redis keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Memory only (snapshots only when asked with `SAVE`): the fair match for verify, whose
    /// slides keyward writes lazily.
    Memory,
    /// `appendonly yes`, `appendfsync always`: every write is fsynced before it is answered,
    /// the match for keyward's durable issue.
    AppendFsyncAlways,
}

/// The version `redis-server --version` reports, or why it cannot be run.
pub(crate) fn version(binary: &Path) -> Result<String, String> {
    match Command::new(binary).arg("--version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            Ok(text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("v="))
                .unwrap_or("unknown")
                .to_owned())
        }
        Ok(out) => Err(format!(
            "{} --version failed: {}",
            binary.display(),
            out.status
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{} not found (install it with `apt-get install -y redis-server`)",
            binary.display()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", binary.display())),
    }
}

/// A `redis-server` in its own temporary directory. Dropping it kills the server, then removes
/// the directory.
#[derive(Debug)]
pub(crate) struct RedisServer {
    // Declared before `dir`: the process must be gone before its directory is removed.
    server: Option<Server>,
    binary: PathBuf,
    persistence: Persistence,
    dir: TempDir,
    /// How long the last start took from exec to the first `PONG`.
    pub ready_after: Duration,
}

impl RedisServer {
    /// Starts `binary` with `persistence` and waits until it answers `PING`.
    ///
    /// # Errors
    /// If it cannot be started or does not answer in time.
    pub async fn start(binary: &Path, persistence: Persistence) -> Result<RedisServer> {
        let dir = tempfile::Builder::new()
            .prefix("keyward-bench-redis.")
            .tempdir()
            .context("creating a temporary directory for redis-server")?;
        std::fs::create_dir(dir.path().join("data"))?;
        let mut redis = RedisServer {
            server: None,
            binary: binary.to_owned(),
            persistence,
            dir,
            ready_after: Duration::ZERO,
        };
        redis.launch().await?;
        Ok(redis)
    }

    /// Stops the server and starts it again on the same directory, so it loads what it saved.
    ///
    /// # Errors
    /// If it does not stop cleanly or the new server does not answer.
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            server.stop().await?;
        }
        self.launch().await
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Where Redis keeps its snapshot and append-only files.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's resident set size, in MiB.
    ///
    /// # Errors
    /// If it is not running.
    pub fn rss_mib(&self) -> Result<f64> {
        self.server
            .as_ref()
            .context("redis-server is not running")?
            .rss_mib()
    }

    /// Writes a snapshot (`SAVE`) and waits for it.
    ///
    /// # Errors
    /// If Redis refuses or fails.
    pub async fn save(&self) -> Result<()> {
        let mut stream = wire::connect(&self.socket()).await?;
        match wire::call(&mut stream, [b"SAVE".as_slice()]).await? {
            OwnedFrame::SimpleString(s) if s == b"OK" => Ok(()),
            other => bail!("SAVE failed: {other:?}"),
        }
    }

    /// Opens `n` connections.
    ///
    /// # Errors
    /// If any connection fails.
    pub async fn connect(&self, n: usize) -> Result<Vec<UnixStream>> {
        let socket = self.socket();
        let mut streams = Vec::with_capacity(n);
        for _ in 0..n {
            streams.push(wire::connect(&socket).await?);
        }
        Ok(streams)
    }

    async fn launch(&mut self) -> Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .args(["--port", "0"])
            .arg("--unixsocket")
            .arg(self.socket())
            .args(["--unixsocketperm", "700"])
            .arg("--dir")
            .arg(self.data_dir())
            .args(["--dbfilename", "dump.rdb"])
            // No automatic snapshots: their forks would land inside measurements.
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .args(["--databases", "1"])
            .args(["--logfile", ""]);
        match self.persistence {
            Persistence::Memory => command.args(["--appendonly", "no"]),
            Persistence::AppendFsyncAlways => command.args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                // A rewrite forks and rewrites the whole log; keep it out of the measurement.
                "--auto-aof-rewrite-percentage",
                "0",
            ]),
        };
        let log = self.dir.path().join("redis.log");
        let server = Server::spawn("redis-server", command, &log)?;
        let exec = server.started();
        self.server = Some(server);
        self.ready_after = self.wait_ready(exec).await?;
        Ok(())
    }

    async fn wait_ready(&mut self, exec: Instant) -> Result<Duration> {
        let socket = self.socket();
        loop {
            if let Ok(mut stream) = wire::connect(&socket).await {
                if let Ok(OwnedFrame::SimpleString(s)) =
                    wire::call(&mut stream, [b"PING".as_slice()]).await
                {
                    if s == b"PONG" {
                        return Ok(exec.elapsed());
                    }
                }
            }
            self.server
                .as_mut()
                .context("redis-server is not running")?
                .check_alive()?;
            if exec.elapsed() > READY_TIMEOUT {
                bail!("redis-server did not answer PING within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}
