//! Configuration: built-in defaults, the optional TOML file, and command-line overrides.
//!
//! The daemon runs with no set-up at all: every setting has a default, and the socket and data
//! dir follow the rule in [`keyward_protocol::paths`] (systemd's directories, then root's
//! standard paths, then the user's XDG directories).

mod backend;
pub use backend::{Backend, EtcdConfig, StaleVerify, DEFAULT_PREFIX as DEFAULT_ETCD_PREFIX};
use keyward_protocol::paths::{self, non_empty_var, PathEnv};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// sled's default page cache, in MiB. sled's own default (1 GiB) would make the daemon's
/// memory grow far past what its data needs; sessions live in memory anyway, and what sled
/// holds (principals, admin keys, audit entries) is small or rarely read. At 128 MiB, sled held
/// about 200 MiB more after a million sessions were issued (BENCHMARKS.md).
pub const DEFAULT_CACHE_MIB: u64 = 16;

/// A day, for the bounds below.
const DAY: Duration = Duration::from_secs(24 * 3600);
/// Ten years of 365 days: the longest any credential lifetime or retention may be.
const DECADE: Duration = Duration::from_secs(3650 * 24 * 3600);

/// The range of every duration key, inclusive: `(key, least, most)`. Every deadline and
/// lifetime the daemon computes stays far from overflow inside these, and the README's
/// configuration table lists them.
pub const DURATION_BOUNDS: [(&str, Duration, Duration); 10] = [
    ("idle_timeout", Duration::from_millis(100), DECADE),
    ("max_lifetime", Duration::from_millis(100), DECADE),
    ("slide_granularity", Duration::ZERO, DAY),
    ("sweep_interval", Duration::from_millis(10), DAY),
    (
        "handshake_timeout",
        Duration::from_millis(1),
        Duration::from_secs(3600),
    ),
    (
        "frame_timeout",
        Duration::from_millis(1),
        Duration::from_secs(3600),
    ),
    (
        "connection_idle_timeout",
        Duration::from_millis(1),
        Duration::from_secs(7 * 24 * 3600),
    ),
    (
        "write_timeout",
        Duration::from_millis(1),
        Duration::from_secs(3600),
    ),
    ("metrics_interval", Duration::from_millis(100), DAY),
    ("audit_retention", Duration::ZERO, DECADE),
];

/// The range of every count key, inclusive: `(key, least, most)`. Some have a further bound
/// relative to another key, checked in [`Config::validate`]: `max_connections_per_uid` is at
/// most `max_connections`, `admin_reserved_connections` below it.
pub const COUNT_BOUNDS: [(&str, u64, u64); 8] = [
    ("max_sessions_per_client", 0, 1_000_000),
    ("max_connections", 1, 65_536),
    ("max_connections_per_uid", 1, 65_536),
    ("admin_reserved_connections", 0, 65_535),
    ("cache_mib", 1, 1 << 20),
    ("worker_threads", 0, 1024),
    ("admin_uids", 0, 1024),
    ("admin_gids", 0, 1024),
];

/// The most connections reserved for host admins when `admin_reserved_connections` is not set
/// (half of `max_connections`, if that is less).
pub const DEFAULT_ADMIN_RESERVED: usize = 16;
/// Without `max_connections_per_uid`, each uid may hold this fraction of the connections
/// that are not reserved: no two uids can take them all.
pub const DEFAULT_PER_UID_DIVISOR: usize = 4;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// No data dir could be derived.
    #[error(
        "cannot choose a data dir: neither $XDG_STATE_HOME/keyward nor ~/.local/state/keyward \
         can be created, and /tmp/keyward-$UID-state is not yours; pass --data-dir DIR"
    )]
    NoDataDir,
}

/// The rules that decide how long credentials live and how many a client may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A session expires this long after its last use.
    pub idle_timeout: Duration,
    /// A session never lives longer than this from issue, however much it is used.
    pub max_lifetime: Duration,
    /// Live sessions a client may hold unless it has its own limit; 0 is unlimited.
    pub max_sessions_per_client: u32,
    /// The most a session's stored expiry may lag behind its last use (write coalescing).
    pub slide_granularity: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            idle_timeout: Duration::from_secs(24 * 3600),
            max_lifetime: Duration::from_secs(7 * 24 * 3600),
            max_sessions_per_client: 0,
            slide_granularity: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// The coalescing step actually used: at most 1% of the idle timeout, so short test timeouts
    /// still slide smoothly.
    pub fn effective_granularity(&self) -> Duration {
        self.slide_granularity.min(self.idle_timeout / 100)
    }
}

/// Limits that protect the daemon from slow, hostile or numerous peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once, the reserved ones included; further peers wait in the
    /// listen backlog.
    pub max_connections: usize,
    /// Of `max_connections`, how many only host admins may use: with every other slot taken,
    /// root can still connect.
    pub admin_reserved_connections: usize,
    /// Connections one uid may hold at once; more from that uid are refused immediately.
    pub max_connections_per_uid: usize,
    /// A new connection must complete the handshake within this.
    pub handshake_timeout: Duration,
    /// A frame, once its first byte arrives, must arrive whole within this.
    pub frame_timeout: Duration,
    /// A connection with no request for this long is closed.
    pub connection_idle_timeout: Duration,
    /// A reply must be taken by the peer within this, or the connection is closed.
    pub write_timeout: Duration,
}

impl Limits {
    /// The default reservation for `max_connections` connections.
    pub fn default_reserved(max_connections: usize) -> usize {
        DEFAULT_ADMIN_RESERVED.min(max_connections / 2)
    }

    /// The default per-uid share for `max_connections` connections of which `reserved` are
    /// for host admins.
    pub fn default_per_uid(max_connections: usize, reserved: usize) -> usize {
        (max_connections.saturating_sub(reserved) / DEFAULT_PER_UID_DIVISOR).max(1)
    }

    /// Connections anyone may use.
    pub fn general_connections(&self) -> usize {
        self.max_connections - self.admin_reserved_connections
    }
}

impl Default for Limits {
    fn default() -> Self {
        let reserved = Limits::default_reserved(1024);
        Limits {
            max_connections: 1024,
            admin_reserved_connections: reserved,
            max_connections_per_uid: Limits::default_per_uid(1024, reserved),
            handshake_timeout: Duration::from_secs(5),
            frame_timeout: Duration::from_secs(5),
            connection_idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// Who counts as host admin besides root and the daemon's own uid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admins {
    /// Extra uids.
    pub uids: Vec<u32>,
    /// Peers whose primary gid (as `SO_PEERCRED` reports it) is one of these.
    pub gids: Vec<u32>,
}

/// Everything the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Unix socket to listen on.
    pub socket: PathBuf,
    /// Whether to serve the HTTP/JSON API as well.
    pub http: bool,
    /// The HTTP/JSON API's Unix socket: `http.sock` beside `socket` unless set.
    pub http_socket: PathBuf,
    /// The data dir: sled's database and the session journal.
    pub data_dir: PathBuf,
    /// Credential lifetimes and seats.
    pub policy: Policy,
    /// Connection limits and deadlines.
    pub limits: Limits,
    /// Extra host admins.
    pub admins: Admins,
    /// How often the sweeper deletes expired credentials.
    pub sweep_interval: Duration,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` itself wins when set.
    pub log_level: String,
    /// Where to write Prometheus text-format metrics, if anywhere.
    pub metrics_file: Option<PathBuf>,
    /// How often to rewrite the metrics file.
    pub metrics_interval: Duration,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// Most bytes the audit log keeps on disk: past this, its oldest segments are deleted,
    /// whatever their age.
    pub audit_max_bytes: u64,
    /// The store's page cache, in bytes (sled's `cache_capacity`).
    pub cache_bytes: u64,
    /// Whether commits `fdatasync` the session journal and sled's log before acknowledging
    /// (power-loss safe).
    pub fsync: bool,
    /// Threads serving connections. 1 (the default) runs them all on one event-loop thread,
    /// as Redis does: on small machines that beat a thread per core by a third, because
    /// clients on the same host need the other cores. 0 means one per core.
    pub worker_threads: usize,
    /// Where the truth lives: this data dir, or etcd.
    pub backend: Backend,
}

/// `slide_granularity` when the file does not say and `backend = "etcd"`: 5 minutes (still
/// capped at 1% of `idle_timeout`).
pub const CLUSTER_SLIDE_GRANULARITY: Duration = Duration::from_secs(300);

/// `audit_max_bytes` when the file does not say: 256 MiB.
pub const DEFAULT_AUDIT_MAX_BYTES: u64 = 256 << 20;
/// The values `audit_max_bytes` may take: at least two of the log's 16 MiB segments (it
/// prunes whole closed segments), at most 1 TiB.
pub const AUDIT_MAX_BYTES_RANGE: std::ops::RangeInclusive<u64> = (32 << 20)..=(1 << 40);

/// The TOML file's schema. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    socket: Option<PathBuf>,
    http: Option<bool>,
    http_socket: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    idle_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    max_lifetime: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    slide_granularity: Option<Duration>,
    max_sessions_per_client: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    sweep_interval: Option<Duration>,
    admin_uids: Option<Vec<u32>>,
    admin_gids: Option<Vec<u32>>,
    max_connections: Option<usize>,
    admin_reserved_connections: Option<usize>,
    max_connections_per_uid: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    handshake_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    frame_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    connection_idle_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    write_timeout: Option<Duration>,
    log_level: Option<String>,
    metrics_file: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    metrics_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    audit_retention: Option<Duration>,
    audit_max_bytes: Option<u64>,
    cache_mib: Option<u64>,
    fsync: Option<bool>,
    worker_threads: Option<usize>,
    backend: Option<String>,
    etcd_endpoints: Option<Vec<String>>,
    etcd_prefix: Option<String>,
    #[serde(default, with = "humantime_serde")]
    max_staleness: Option<Duration>,
    stale_verify: Option<StaleVerify>,
    strict_verify: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    etcd_timeout: Option<Duration>,
    etcd_ca_file: Option<PathBuf>,
    etcd_cert_file: Option<PathBuf>,
    etcd_key_file: Option<PathBuf>,
    etcd_user: Option<String>,
    etcd_password_file: Option<PathBuf>,
}

/// Command-line overrides, which win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--config`.
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// Builds the configuration from defaults, the optional file and the overrides.
    ///
    /// # Errors
    /// If the file cannot be read or parsed, a value is out of range, or no data dir can be
    /// derived.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let uid = nix::unistd::geteuid().as_raw();
        let socket = match overrides.socket.clone().or(file.socket.clone()) {
            Some(s) => s,
            None => paths::default_socket_path(&PathEnv::from_process(uid)),
        };
        let data_dir = match overrides.data_dir.clone().or(file.data_dir.clone()) {
            Some(d) => d,
            None => default_data_dir(uid).ok_or(ConfigError::NoDataDir)?,
        };
        Config::from_parts(socket, data_dir, file)
    }

    /// Parses `text` as a config file, with explicit socket and data dir. For tests.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_toml(
        socket: PathBuf,
        data_dir: PathBuf,
        text: &str,
    ) -> Result<Config, ConfigError> {
        let file = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message: e.to_string(),
        })?;
        Config::from_parts(socket, data_dir, file)
    }

    fn from_parts(
        socket: PathBuf,
        data_dir: PathBuf,
        file: FileConfig,
    ) -> Result<Config, ConfigError> {
        let backend = backend::BackendKeys {
            backend: file.backend,
            etcd_endpoints: file.etcd_endpoints,
            etcd_prefix: file.etcd_prefix,
            max_staleness: file.max_staleness,
            stale_verify: file.stale_verify,
            strict_verify: file.strict_verify,
            etcd_timeout: file.etcd_timeout,
            etcd_ca_file: file.etcd_ca_file,
            etcd_cert_file: file.etcd_cert_file,
            etcd_key_file: file.etcd_key_file,
            etcd_user: file.etcd_user,
            etcd_password_file: file.etcd_password_file,
        }
        .resolve()?;
        let pd = Policy::default();
        // Several hosts write slides back to etcd: fewer, larger steps by default.
        let slide_default = match backend {
            Backend::Local => pd.slide_granularity,
            Backend::Etcd(_) => CLUSTER_SLIDE_GRANULARITY,
        };
        let policy = Policy {
            idle_timeout: file.idle_timeout.unwrap_or(pd.idle_timeout),
            max_lifetime: file.max_lifetime.unwrap_or(pd.max_lifetime),
            max_sessions_per_client: file
                .max_sessions_per_client
                .unwrap_or(pd.max_sessions_per_client),
            slide_granularity: file.slide_granularity.unwrap_or(slide_default),
        };
        let ld = Limits::default();
        let max_connections = file.max_connections.unwrap_or(ld.max_connections);
        let reserved = file
            .admin_reserved_connections
            .unwrap_or_else(|| Limits::default_reserved(max_connections));
        let limits = Limits {
            max_connections,
            admin_reserved_connections: reserved,
            max_connections_per_uid: file
                .max_connections_per_uid
                .unwrap_or_else(|| Limits::default_per_uid(max_connections, reserved)),
            handshake_timeout: file.handshake_timeout.unwrap_or(ld.handshake_timeout),
            frame_timeout: file.frame_timeout.unwrap_or(ld.frame_timeout),
            connection_idle_timeout: file
                .connection_idle_timeout
                .unwrap_or(ld.connection_idle_timeout),
            write_timeout: file.write_timeout.unwrap_or(ld.write_timeout),
        };
        let http_socket = file
            .http_socket
            .clone()
            .unwrap_or_else(|| socket.with_file_name(paths::HTTP_SOCKET_FILE));
        let config = Config {
            backend,
            http: file.http.unwrap_or(true),
            http_socket,
            socket,
            data_dir,
            policy,
            limits,
            admins: Admins {
                uids: file.admin_uids.unwrap_or_default(),
                gids: file.admin_gids.unwrap_or_default(),
            },
            sweep_interval: file.sweep_interval.unwrap_or(Duration::from_secs(60)),
            log_level: file.log_level.unwrap_or_else(|| "info".to_owned()),
            metrics_file: file.metrics_file,
            metrics_interval: file.metrics_interval.unwrap_or(Duration::from_secs(15)),
            audit_retention: file
                .audit_retention
                .unwrap_or(Duration::from_secs(90 * 24 * 3600)),
            audit_max_bytes: file.audit_max_bytes.unwrap_or(DEFAULT_AUDIT_MAX_BYTES),
            cache_bytes: file
                .cache_mib
                .unwrap_or(DEFAULT_CACHE_MIB)
                .saturating_mul(1 << 20),
            fsync: file.fsync.unwrap_or(true),
            worker_threads: file.worker_threads.unwrap_or(1),
        };
        config.validate()?;
        Ok(config)
    }

    /// Every duration key's value, in the order of [`DURATION_BOUNDS`].
    fn durations(&self) -> [Duration; DURATION_BOUNDS.len()] {
        let (p, l) = (&self.policy, &self.limits);
        [
            p.idle_timeout,
            p.max_lifetime,
            p.slide_granularity,
            self.sweep_interval,
            l.handshake_timeout,
            l.frame_timeout,
            l.connection_idle_timeout,
            l.write_timeout,
            self.metrics_interval,
            self.audit_retention,
        ]
    }

    /// Every count key's value, in the order of [`COUNT_BOUNDS`].
    fn counts(&self) -> [u64; COUNT_BOUNDS.len()] {
        let l = &self.limits;
        [
            self.policy.max_sessions_per_client.into(),
            l.max_connections as u64,
            l.max_connections_per_uid as u64,
            l.admin_reserved_connections as u64,
            self.cache_bytes >> 20,
            self.worker_threads as u64,
            self.admins.uids.len() as u64,
            self.admins.gids.len() as u64,
        ]
    }

    /// Checks every key against its bounds; the error names the first key out of them.
    fn validate(&self) -> Result<(), ConfigError> {
        let show = |d: Duration| humantime_serde::re::humantime::format_duration(d).to_string();
        for ((name, least, most), value) in DURATION_BOUNDS.iter().zip(self.durations()) {
            if value < *least || value > *most {
                return Err(ConfigError::Invalid(format!(
                    "{name} is {}; it must be from {} to {}",
                    show(value),
                    show(*least),
                    show(*most)
                )));
            }
        }
        for ((name, least, most), value) in COUNT_BOUNDS.iter().zip(self.counts()) {
            if value < *least || value > *most {
                let what = if name.starts_with("admin_") && name.ends_with("ids") {
                    " entries"
                } else {
                    ""
                };
                return Err(ConfigError::Invalid(format!(
                    "{name} has {value}{what}; it must be from {least} to {most}"
                )));
            }
        }
        let (p, l) = (&self.policy, &self.limits);
        if p.max_lifetime < p.idle_timeout {
            return Err(ConfigError::Invalid(
                "max_lifetime must be at least idle_timeout".into(),
            ));
        }
        if !AUDIT_MAX_BYTES_RANGE.contains(&self.audit_max_bytes) {
            return Err(ConfigError::Invalid(format!(
                "audit_max_bytes must be between {} and {} (two audit segments and 1 TiB)",
                AUDIT_MAX_BYTES_RANGE.start(),
                AUDIT_MAX_BYTES_RANGE.end()
            )));
        }
        if self.http && self.http_socket == self.socket {
            return Err(ConfigError::Invalid(format!(
                "http_socket ({}) must differ from socket",
                self.http_socket.display()
            )));
        }
        if self.http && self.http_socket.file_name().is_none() {
            return Err(ConfigError::Invalid(format!(
                "http_socket ({}) must name a socket file",
                self.http_socket.display()
            )));
        }
        if l.max_connections_per_uid > l.max_connections {
            return Err(ConfigError::Invalid(format!(
                "max_connections_per_uid ({}) must be at most max_connections ({})",
                l.max_connections_per_uid, l.max_connections
            )));
        }
        if l.admin_reserved_connections >= l.max_connections {
            return Err(ConfigError::Invalid(format!(
                "admin_reserved_connections ({}) must be below max_connections ({})",
                l.admin_reserved_connections, l.max_connections
            )));
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The default data dir: `$STATE_DIRECTORY`, `/var/lib/keyward` as root, else the first of
/// `$XDG_STATE_HOME/keyward` and `~/.local/state/keyward` that this uid can create or use, else
/// `/tmp/keyward-$UID-state` (a user with no writable home, such as a service account).
fn default_data_dir(uid: u32) -> Option<PathBuf> {
    if let Some(dir) = non_empty_var("STATE_DIRECTORY") {
        let first = dir.split(':').next().unwrap_or(&dir).to_owned();
        return Some(first.into());
    }
    if uid == 0 {
        return Some("/var/lib/keyward".into());
    }
    let xdg = non_empty_var("XDG_STATE_HOME").map(|xdg| PathBuf::from(xdg).join("keyward"));
    let home = non_empty_var("HOME").map(|h| PathBuf::from(h).join(".local/state/keyward"));
    xdg.into_iter()
        .chain(home)
        .find(|dir| can_use(dir, uid))
        .or_else(|| {
            let fallback = PathBuf::from(format!("/tmp/keyward-{uid}-state"));
            can_use(&fallback, uid).then_some(fallback)
        })
}

/// Whether `dir` is a directory `uid` owns, or could be created by `uid`: its nearest existing
/// ancestor is writable. Looks only; creates nothing. A directory someone else owns is refused
/// (as under a shared `/tmp`, where another user may have made it first).
fn can_use(dir: &Path, uid: u32) -> bool {
    use nix::unistd::{access, AccessFlags};
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta.is_dir() && meta.uid() == uid,
        Err(_) => dir
            .ancestors()
            .skip(1)
            .find(|a| a.exists())
            .is_some_and(|a| access(a, AccessFlags::W_OK | AccessFlags::X_OK).is_ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP socket is on by default, beside `socket`; it can be moved or turned off, and
    /// may not be the frame socket itself.
    #[test]
    fn http_socket_keys() {
        let c = Config::from_toml("/run/k/keyward.sock".into(), "/d".into(), "").unwrap();
        assert!(c.http);
        assert_eq!(c.http_socket, PathBuf::from("/run/k/http.sock"));
        let c =
            Config::from_toml("/s".into(), "/d".into(), "http_socket = \"/h/x.sock\"\n").unwrap();
        assert_eq!(c.http_socket, PathBuf::from("/h/x.sock"));
        let c = Config::from_toml("/s".into(), "/d".into(), "http = false\n").unwrap();
        assert!(!c.http);
        let err = Config::from_toml("/s".into(), "/d".into(), "http_socket = \"/s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http_socket"), "{err}");
        assert!(Config::from_toml("/s".into(), "/d".into(), "http = \"yes\"\n").is_err());
    }

    /// An empty file gives the documented defaults.
    #[test]
    fn defaults() {
        let c = Config::from_toml("/s".into(), "/d".into(), "").unwrap();
        assert_eq!(c.policy.idle_timeout, Duration::from_secs(86_400));
        assert_eq!(c.policy.max_lifetime, Duration::from_secs(7 * 86_400));
        assert_eq!(c.policy.max_sessions_per_client, 0);
        assert_eq!(c.sweep_interval, Duration::from_secs(60));
    }

    /// Durations are human-readable, and unknown keys are refused rather than ignored.
    #[test]
    fn durations_and_unknown_keys() {
        let c = Config::from_toml(
            "/s".into(),
            "/d".into(),
            "idle_timeout = \"2s\"\nmax_lifetime = \"10s\"\nadmin_uids = [1000]\n",
        )
        .unwrap();
        assert_eq!(c.policy.idle_timeout, Duration::from_secs(2));
        assert_eq!(c.admins.uids, vec![1000]);
        let err = Config::from_toml("/s".into(), "/d".into(), "idle_timout = \"2s\"").unwrap_err();
        assert!(err.to_string().contains("idle_timout"), "{err}");
    }

    /// A data dir that cannot be created is skipped; one another uid owns is never chosen.
    #[test]
    fn data_dir_candidates() {
        let uid = nix::unistd::geteuid().as_raw();
        let base = tempfile::tempdir().unwrap();
        assert!(can_use(&base.path().join("a/b/keyward"), uid));
        assert!(can_use(base.path(), uid));
        assert!(!can_use(base.path(), uid + 1));
        let file = base.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(!can_use(&file, uid));
    }

    /// Other keys a value needs beside it to be valid on its own: `max_lifetime` at least
    /// `idle_timeout`, a per-uid share and a reservation within `max_connections`.
    fn companions(key: &str, value: &str) -> String {
        match key {
            "idle_timeout" => format!("max_lifetime = {value}\n"),
            "max_lifetime" => "idle_timeout = \"100ms\"\n".into(),
            "max_connections_per_uid" | "admin_reserved_connections" => {
                "max_connections = 65536\n".into()
            }
            _ => String::new(),
        }
    }

    fn parse(key: &str, value: &str) -> Result<Config, ConfigError> {
        let text = format!("{key} = {value}\n{}", companions(key, value));
        Config::from_toml("/s".into(), "/d".into(), &text)
    }

    /// Every duration and count key is accepted at both ends of its range and refused just
    /// past each, by a message that names the key.
    #[test]
    fn every_key_at_and_past_its_bounds() {
        let ms = |d: Duration| format!("\"{}ms\"", d.as_millis());
        let mut cases = Vec::new();
        for (key, least, most) in DURATION_BOUNDS {
            cases.push((
                key,
                ms(least),
                ms(most),
                least.checked_sub(Duration::from_millis(1)).map(ms),
                ms(most + Duration::from_millis(1)),
            ));
        }
        for (key, least, most) in COUNT_BOUNDS {
            let value = |n: u64| {
                if key.ends_with("ids") {
                    format!("[{}]", vec!["7"; n as usize].join(", "))
                } else {
                    n.to_string()
                }
            };
            cases.push((
                key,
                value(least),
                value(most),
                least.checked_sub(1).map(value),
                value(most + 1),
            ));
        }
        for (key, least, most, below, above) in cases {
            for ok in [&least, &most] {
                if let Err(e) = parse(key, ok) {
                    panic!("{key} = {ok} refused: {e}");
                }
            }
            for bad in below.iter().chain([&above]) {
                let err = parse(key, bad).expect_err(&format!("{key} = {bad} accepted"));
                assert!(matches!(err, ConfigError::Invalid(_)), "{key}: {err}");
                assert!(err.to_string().contains(key), "{key} = {bad}: {err}");
            }
        }
    }

    /// The value from the review, which overflowed every connection's deadline, is refused.
    #[test]
    fn an_overflowing_duration_is_refused() {
        let err = parse("connection_idle_timeout", "\"500000000000y\"").unwrap_err();
        assert!(err.to_string().contains("connection_idle_timeout"), "{err}");
    }

    /// Every key of the README's configuration table that takes a duration or a count has a
    /// bound here, so a new key cannot arrive without one.
    #[test]
    fn every_documented_key_is_bounded() {
        /// Keys that take neither a duration nor a count, and `audit_max_bytes`, whose range
        /// (`AUDIT_MAX_BYTES_RANGE`) is checked and tested on its own; `backend`'s etcd keys
        /// are bounded and tested in `config/backend.rs`.
        const OTHER: [&str; 9] = [
            "backend",
            "socket",
            "http",
            "http_socket",
            "data_dir",
            "log_level",
            "metrics_file",
            "fsync",
            "audit_max_bytes",
        ];
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Configuration section");
        let mut keys = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let cell = row.split('|').nth(1).unwrap_or_default();
            keys.extend(
                cell.split(',')
                    .map(|k| k.trim().trim_matches('`').to_owned()),
            );
        }
        assert!(keys.len() > 15, "read {keys:?}");
        for key in keys {
            let bounded = DURATION_BOUNDS.iter().any(|(k, _, _)| *k == key)
                || COUNT_BOUNDS.iter().any(|(k, _, _)| *k == key);
            assert!(
                bounded || OTHER.contains(&key.as_str()),
                "{key} has no bound"
            );
        }
    }

    /// With `backend = "etcd"`, slides default to 5-minute steps; the file still wins.
    #[test]
    fn cluster_slides_default_to_five_minutes() {
        let etcd = "backend = \"etcd\"\netcd_endpoints = [\"http://127.0.0.1:2379\"]\n";
        let c = Config::from_toml("/s".into(), "/d".into(), etcd).unwrap();
        assert_eq!(c.policy.slide_granularity, CLUSTER_SLIDE_GRANULARITY);
        let set = format!("{etcd}slide_granularity = \"30s\"");
        let c = Config::from_toml("/s".into(), "/d".into(), &set).unwrap();
        assert_eq!(c.policy.slide_granularity, Duration::from_secs(30));
        let c = Config::from_toml("/s".into(), "/d".into(), "").unwrap();
        assert_eq!(c.policy.slide_granularity, Duration::from_secs(60));
    }

    /// The connection defaults: 16 slots reserved (at most half), and a uid may hold a quarter
    /// of the rest, so no two uids can take every unreserved slot.
    #[test]
    fn connection_defaults() {
        let c = Config::from_toml("/s".into(), "/d".into(), "").unwrap();
        assert_eq!(c.limits.admin_reserved_connections, 16);
        assert_eq!(c.limits.max_connections_per_uid, (1024 - 16) / 4);
        assert!(2 * c.limits.max_connections_per_uid < c.limits.general_connections());
        let c = Config::from_toml("/s".into(), "/d".into(), "max_connections = 3").unwrap();
        assert_eq!(
            (
                c.limits.admin_reserved_connections,
                c.limits.max_connections_per_uid
            ),
            (1, 1)
        );
    }

    /// A max lifetime shorter than the idle timeout is refused.
    #[test]
    fn lifetime_below_idle_is_refused() {
        let err = Config::from_toml(
            "/s".into(),
            "/d".into(),
            "idle_timeout = \"1h\"\nmax_lifetime = \"1m\"",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)));
    }

    /// `audit_max_bytes` defaults to 256 MiB, takes its bounds, and is refused just past
    /// them, with a message naming the key.
    #[test]
    fn audit_max_bytes_is_bounded() {
        let load = |text: &str| Config::from_toml("/s".into(), "/d".into(), text);
        assert_eq!(load("").unwrap().audit_max_bytes, 256 << 20);
        for ok in [*AUDIT_MAX_BYTES_RANGE.start(), *AUDIT_MAX_BYTES_RANGE.end()] {
            let c = load(&format!("audit_max_bytes = {ok}")).unwrap();
            assert_eq!(c.audit_max_bytes, ok);
        }
        for bad in [
            AUDIT_MAX_BYTES_RANGE.start() - 1,
            AUDIT_MAX_BYTES_RANGE.end() + 1,
        ] {
            let err = load(&format!("audit_max_bytes = {bad}")).unwrap_err();
            assert!(err.to_string().contains("audit_max_bytes"), "{err}");
        }
    }
}
