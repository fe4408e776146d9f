//! Running `keywardd` for a measurement: a generated config (rewritten and put into force with
//! SIGHUP when a run changes it), a temporary socket and data dir, and readiness measured as the
//! first answered ping.

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

use super::log_watch::LogWatch;
use super::wire;
use crate::process::Server;

/// The longest a daemon may take from exec to its first answered ping.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// How often readiness is probed: fine enough to time a cold start to the millisecond.
const READY_POLL: Duration = Duration::from_millis(1);

/// The longest a daemon may take to log that it has put a reloaded config into force.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the log is read while a reload is awaited.
const RELOAD_POLL: Duration = Duration::from_millis(2);

/// What keywardd logs once a reloaded config is in force.
const RELOADED: &str = "configuration reloaded";

/// What keywardd logs when it refuses a reloaded config and keeps the old one.
const RELOAD_REJECTED: &str = "reload rejected";

/// The settings the harness varies, written to the daemon's TOML config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// A session expires this long after its last use.
    pub idle_timeout: Duration,
    /// A session never lives longer than this.
    pub max_lifetime: Duration,
    /// How often the sweeper runs.
    pub sweep_interval: Duration,
    /// How long audit entries are kept; `None` keeps the daemon's default (90 days).
    pub audit_retention: Option<Duration>,
    /// The most a stored expiry may lag the last use; `None` keeps the daemon's default
    /// (60 s). A verify that slides a session further writes the new expiry: lazily to the
    /// journal on a single host, as an etcd transaction on a cluster host.
    pub slide_granularity: Option<Duration>,
    /// `backend = "etcd"` on these members; `None` is the single-host backend.
    pub etcd: Option<EtcdBackend>,
}

/// The etcd backend's keys; the rest (`max_staleness` 2 s, `stale_verify = "refuse"`,
/// `etcd_timeout` 5 s) are the daemon's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EtcdBackend {
    /// The members' client URLs.
    pub endpoints: Vec<String>,
    /// Where the hosts of one cluster keep their keys.
    pub prefix: String,
    /// `strict_verify`: every verify waits for a mark in etcd first.
    pub strict_verify: bool,
}

impl Default for Settings {
    /// The daemon's own defaults, spelled out so every run's config says what it measured.
    fn default() -> Self {
        Settings {
            idle_timeout: Duration::from_secs(24 * 3600),
            max_lifetime: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(60),
            audit_retention: None,
            slide_granularity: None,
            etcd: None,
        }
    }
}

/// The config file's contents: the keys of keywardd's README.
#[derive(Debug, Serialize)]
struct ConfigFile {
    idle_timeout: String,
    max_lifetime: String,
    sweep_interval: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_retention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slide_granularity: Option<String>,
    max_connections: usize,
    max_connections_per_uid: usize,
    log_level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_endpoints: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict_verify: Option<bool>,
}

/// Connections the daemon serves at once: room for every load and preload connection. All of
/// them come from the harness's one uid, so that uid may hold them all.
const MAX_CONNECTIONS: usize = 1024;

impl Settings {
    fn to_toml(&self) -> Result<String> {
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        Ok(toml::to_string(&ConfigFile {
            idle_timeout: millis(self.idle_timeout),
            max_lifetime: millis(self.max_lifetime),
            sweep_interval: millis(self.sweep_interval),
            audit_retention: self.audit_retention.map(millis),
            slide_granularity: self.slide_granularity.map(millis),
            max_connections: MAX_CONNECTIONS,
            max_connections_per_uid: MAX_CONNECTIONS,
            log_level: "info",
            backend: self.etcd.as_ref().map(|_| "etcd"),
            etcd_endpoints: self.etcd.as_ref().map(|e| e.endpoints.clone()),
            etcd_prefix: self.etcd.as_ref().map(|e| e.prefix.clone()),
            strict_verify: self.etcd.as_ref().map(|e| e.strict_verify),
        })?)
    }
}

/// A `keywardd` in its own temporary directory. Dropping it kills the daemon, then removes the
/// directory.
#[derive(Debug)]
pub(crate) struct Daemon {
    // Declared before `dir`: the process must be gone before its directory is removed.
    server: Option<Server>,
    binary: PathBuf,
    dir: TempDir,
    /// How long the last start took from exec to the first answered ping.
    pub ready_after: Duration,
    /// When the last start called exec.
    pub exec_at: Instant,
    /// When the last start's socket appeared: the daemon binds it just before it starts the
    /// sweeper's timer, so the first sweep is due one `sweep_interval` after this.
    pub listening_since: Instant,
}

impl Daemon {
    /// Starts `binary` with `settings` in a fresh temporary directory and waits until it answers.
    ///
    /// # Errors
    /// If it cannot be started or does not answer within the start-up timeout.
    pub async fn start(binary: &Path, settings: &Settings) -> Result<Daemon> {
        let dir = tempfile::Builder::new()
            .prefix("keyward-bench-kw.")
            .tempdir()
            .context("creating a temporary directory for keywardd")?;
        let mut daemon = Daemon {
            server: None,
            binary: binary.to_owned(),
            dir,
            ready_after: Duration::ZERO,
            exec_at: Instant::now(),
            listening_since: Instant::now(),
        };
        daemon.launch(settings).await?;
        Ok(daemon)
    }

    /// Stops the daemon cleanly (SIGTERM, so it flushes) and starts it again on the same data
    /// dir with `settings`.
    ///
    /// # Errors
    /// If the stop is not clean or the new daemon does not answer.
    pub async fn restart(&mut self, settings: &Settings) -> Result<()> {
        self.stop().await?;
        self.launch(settings).await
    }

    /// Rewrites the config file with `settings` and sends SIGHUP, then waits until the daemon
    /// logs that the new config is in force. Lifetimes apply to credentials issued from then on
    /// (keywardd's README, "Reload"); connections stay open.
    ///
    /// # Errors
    /// If the daemon is not running, refuses the config, or does not confirm in time.
    pub async fn reload(&self, settings: &Settings) -> Result<()> {
        let server = self.server.as_ref().context("keywardd is not running")?;
        let mut log = LogWatch::open(&self.log())?;
        // Only lines written after the signal can confirm this reload.
        log.lines()?;
        self.write_config(settings)?;
        server.send_signal(Signal::SIGHUP)?;
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            for line in log.lines()? {
                if line.contains(RELOAD_REJECTED) {
                    bail!("keywardd rejected the reloaded config: {line}");
                }
                if line.contains(RELOADED) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("keywardd did not log `{RELOADED}` within {RELOAD_TIMEOUT:?} of SIGHUP");
            }
            tokio::time::sleep(RELOAD_POLL).await;
        }
    }

    /// Stops the daemon cleanly, keeping its data dir.
    ///
    /// # Errors
    /// If it does not exit cleanly.
    pub async fn stop(&mut self) -> Result<()> {
        match self.server.take() {
            Some(server) => server.stop().await,
            None => Ok(()),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("keyward.sock")
    }

    /// The HTTP API's socket: `http.sock` beside the frame socket, the daemon's default.
    pub fn http_socket(&self) -> PathBuf {
        self.dir.path().join("http.sock")
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The daemon's log (its stderr).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("keywardd.log")
    }

    /// The daemon's resident set size, in MiB.
    ///
    /// # Errors
    /// If it is not running.
    pub fn rss_mib(&self) -> Result<f64> {
        self.server
            .as_ref()
            .context("keywardd is not running")?
            .rss_mib()
    }

    /// How many file descriptors the daemon holds open.
    ///
    /// # Errors
    /// If it is not running.
    pub fn open_fds(&self) -> Result<usize> {
        self.server
            .as_ref()
            .context("keywardd is not running")?
            .open_fds()
    }

    /// Fails with the daemon's last log lines if it has died.
    ///
    /// # Errors
    /// If it is not running.
    pub fn check_alive(&mut self) -> Result<()> {
        self.server
            .as_mut()
            .context("keywardd is not running")?
            .check_alive()
    }

    /// Writes `settings` to the config file the daemon reads at start and on SIGHUP.
    fn write_config(&self, settings: &Settings) -> Result<PathBuf> {
        let config = self.dir.path().join("keywardd.toml");
        std::fs::write(&config, settings.to_toml()?)
            .with_context(|| format!("writing {}", config.display()))?;
        Ok(config)
    }

    async fn launch(&mut self, settings: &Settings) -> Result<()> {
        let config = self.write_config(settings)?;
        let mut command = Command::new(&self.binary);
        command
            .arg("--socket")
            .arg(self.socket())
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--config")
            .arg(&config)
            // The config file's log level is the one that applies.
            .env_remove("RUST_LOG");
        let server = Server::spawn("keywardd", command, &self.log())?;
        let exec = server.started();
        self.exec_at = exec;
        self.server = Some(server);
        self.ready_after = self.wait_ready(exec).await?;
        Ok(())
    }

    /// Polls until a ping is answered; returns the time since `exec`.
    async fn wait_ready(&mut self, exec: Instant) -> Result<Duration> {
        let socket = self.socket();
        let mut seen = false;
        loop {
            if socket.exists() {
                if !seen {
                    seen = true;
                    self.listening_since = Instant::now();
                }
                if let Ok(mut client) = keyward_client::Client::connect(&socket).await {
                    if client.ping().await.is_ok() {
                        return Ok(exec.elapsed());
                    }
                }
            }
            self.check_alive()?;
            if exec.elapsed() > READY_TIMEOUT {
                bail!(
                    "keywardd did not answer a ping within {READY_TIMEOUT:?} (socket {})",
                    socket.display()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Opens `n` connections with the handshake done.
    ///
    /// # Errors
    /// If any connection fails.
    pub async fn connect(&self, n: usize) -> Result<Vec<tokio::net::UnixStream>> {
        let socket = self.socket();
        let mut streams = Vec::with_capacity(n);
        for _ in 0..n {
            streams.push(wire::connect(&socket).await?);
        }
        Ok(streams)
    }

    /// A client for one-off calls (admin key, stats).
    ///
    /// # Errors
    /// If the daemon cannot be reached.
    pub async fn client(&self) -> Result<keyward_client::Client> {
        Ok(keyward_client::Client::connect(self.socket()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated config uses the daemon's key names and duration syntax.
    #[test]
    fn config_uses_readme_keys() {
        let settings = Settings {
            idle_timeout: Duration::from_secs(1),
            max_lifetime: Duration::from_millis(1500),
            sweep_interval: Duration::from_secs(3600),
            audit_retention: Some(Duration::from_secs(60)),
            slide_granularity: Some(Duration::from_secs(600)),
            etcd: None,
        };
        let text = settings.to_toml().unwrap();
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["idle_timeout"].as_str(), Some("1000ms"));
        assert_eq!(table["max_lifetime"].as_str(), Some("1500ms"));
        assert_eq!(table["sweep_interval"].as_str(), Some("3600000ms"));
        assert_eq!(table["audit_retention"].as_str(), Some("60000ms"));
        assert_eq!(table["slide_granularity"].as_str(), Some("600000ms"));
        assert_eq!(table["max_connections"].as_integer(), Some(1024));
        assert!(!table.contains_key("backend"));
    }

    /// On etcd, the backend keys are the daemon's own (daemon/src/config/backend.rs).
    #[test]
    fn etcd_backend_keys() {
        let urls = vec![
            "http://127.0.0.1:1".to_owned(),
            "http://127.0.0.1:2".to_owned(),
        ];
        let settings = Settings {
            etcd: Some(EtcdBackend {
                endpoints: urls,
                prefix: "/kwb/".into(),
                strict_verify: true,
            }),
            ..Settings::default()
        };
        let text = settings.to_toml().unwrap();
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["backend"].as_str(), Some("etcd"));
        assert_eq!(table["etcd_endpoints"].as_array().map(Vec::len), Some(2));
        assert_eq!(table["etcd_prefix"].as_str(), Some("/kwb/"));
        assert_eq!(table["strict_verify"].as_bool(), Some(true));
    }
}
