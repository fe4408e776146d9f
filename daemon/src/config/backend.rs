//! The `backend` key and the etcd keys that go with it.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

/// Where the truth lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backend {
    /// sled and the session journal in the data dir (the default).
    #[default]
    Local,
    /// An etcd cluster shared by several hosts.
    Etcd(Box<EtcdConfig>),
}

/// What a verify does when this host may have missed changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaleVerify {
    /// Answer `UNAVAILABLE` rather than honour a credential that may have been revoked.
    #[default]
    Refuse,
    /// Answer from the copy this host holds.
    Serve,
}

/// The etcd backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs of the cluster's members.
    pub endpoints: Vec<String>,
    /// Every key keyward writes starts with this.
    pub prefix: String,
    /// How long this host may go without hearing from etcd before its copy counts as stale.
    pub max_staleness: Duration,
    /// What a verify does when the copy is stale.
    pub stale_verify: StaleVerify,
    /// Whether every verify first catches up with a quorum write (a mark).
    pub strict_verify: bool,
    /// How long a write may wait for etcd to commit it.
    pub timeout: Duration,
    /// TLS: the CA that signed the members' certificates.
    pub ca_file: Option<PathBuf>,
    /// TLS: this host's client certificate...
    pub cert_file: Option<PathBuf>,
    /// ...and its key.
    pub key_file: Option<PathBuf>,
    /// etcd authentication: the user...
    pub user: Option<String>,
    /// ...and a file holding its password (never the password itself in the config).
    pub password_file: Option<PathBuf>,
}

/// The backend keys as the file gives them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackendKeys {
    pub backend: Option<String>,
    pub etcd_endpoints: Option<Vec<String>>,
    pub etcd_prefix: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub max_staleness: Option<Duration>,
    pub stale_verify: Option<StaleVerify>,
    pub strict_verify: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub etcd_timeout: Option<Duration>,
    pub etcd_ca_file: Option<PathBuf>,
    pub etcd_cert_file: Option<PathBuf>,
    pub etcd_key_file: Option<PathBuf>,
    pub etcd_user: Option<String>,
    pub etcd_password_file: Option<PathBuf>,
}

/// `etcd_prefix` when the file does not say.
pub const DEFAULT_PREFIX: &str = "/keyward/";

impl BackendKeys {
    /// The backend these keys describe.
    ///
    /// # Errors
    /// If `backend` is unknown, etcd keys are set for the local backend, or the etcd settings
    /// are incomplete or out of range.
    pub(super) fn resolve(self) -> Result<Backend, ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        match self.backend.as_deref().unwrap_or("local") {
            "local" => {
                if self.etcd_endpoints.is_some() {
                    return invalid(
                        "etcd_endpoints is set but backend is \"local\"; set backend = \"etcd\" \
                         to use etcd, or remove the etcd keys"
                            .into(),
                    );
                }
                Ok(Backend::Local)
            }
            "etcd" => self.etcd().map(|etcd| Backend::Etcd(Box::new(etcd))),
            other => invalid(format!(
                "backend is {other:?}; it must be \"local\" or \"etcd\""
            )),
        }
    }

    fn etcd(self) -> Result<EtcdConfig, ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let endpoints = self.etcd_endpoints.unwrap_or_default();
        if endpoints.is_empty() {
            return invalid(
                "backend = \"etcd\" needs etcd_endpoints, a list of the members' client URLs, \
                 e.g. [\"https://10.0.0.1:2379\"]"
                    .into(),
            );
        }
        if let Some(bad) = endpoints
            .iter()
            .find(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            return invalid(format!(
                "etcd_endpoints holds {bad:?}; each must be an http:// or https:// URL"
            ));
        }
        let prefix = self.etcd_prefix.unwrap_or_else(|| DEFAULT_PREFIX.into());
        if prefix.is_empty() || prefix.len() > 256 {
            return invalid("etcd_prefix must be 1 to 256 bytes, e.g. \"/keyward/\"".into());
        }
        let max_staleness = self.max_staleness.unwrap_or(Duration::from_secs(2));
        let timeout = self.etcd_timeout.unwrap_or(Duration::from_secs(5));
        for (name, value) in [("max_staleness", max_staleness), ("etcd_timeout", timeout)] {
            if value < Duration::from_millis(100) || value > Duration::from_secs(600) {
                return invalid(format!("{name} must be from 100ms to 10m"));
            }
        }
        if self.etcd_cert_file.is_some() != self.etcd_key_file.is_some() {
            return invalid(
                "etcd_cert_file and etcd_key_file go together: set both for a client \
                 certificate, or neither"
                    .into(),
            );
        }
        if self.etcd_user.is_some() != self.etcd_password_file.is_some() {
            return invalid(
                "etcd_user and etcd_password_file go together: set both for etcd \
                 authentication, or neither"
                    .into(),
            );
        }
        Ok(EtcdConfig {
            endpoints,
            prefix,
            max_staleness,
            stale_verify: self.stale_verify.unwrap_or_default(),
            strict_verify: self.strict_verify.unwrap_or(false),
            timeout,
            ca_file: self.etcd_ca_file,
            cert_file: self.etcd_cert_file,
            key_file: self.etcd_key_file,
            user: self.etcd_user,
            password_file: self.etcd_password_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Backend, ConfigError> {
        toml::from_str::<BackendKeys>(text).unwrap().resolve()
    }

    #[test]
    fn local_by_default_and_etcd_with_its_defaults() {
        assert_eq!(parse("").unwrap(), Backend::Local);
        let Backend::Etcd(etcd) =
            parse("backend = \"etcd\"\netcd_endpoints = [\"http://127.0.0.1:2379\"]").unwrap()
        else {
            panic!("not etcd");
        };
        assert_eq!(etcd.prefix, "/keyward/");
        assert_eq!(etcd.max_staleness, Duration::from_secs(2));
        assert_eq!(etcd.timeout, Duration::from_secs(5));
        assert_eq!(etcd.stale_verify, StaleVerify::Refuse);
        assert!(!etcd.strict_verify);
    }

    #[test]
    fn mistakes_say_what_to_do() {
        for (text, says) in [
            ("backend = \"raft\"", "\"local\" or \"etcd\""),
            ("backend = \"etcd\"", "needs etcd_endpoints"),
            (
                "etcd_endpoints = [\"http://a:1\"]",
                "set backend = \"etcd\"",
            ),
            (
                "backend = \"etcd\"\netcd_endpoints = [\"a:1\"]",
                "http:// or https://",
            ),
            (
                "backend = \"etcd\"\netcd_endpoints = [\"http://a:1\"]\netcd_user = \"k\"",
                "etcd_password_file",
            ),
            (
                "backend = \"etcd\"\netcd_endpoints = [\"http://a:1\"]\nmax_staleness = \"1ms\"",
                "max_staleness must be",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
