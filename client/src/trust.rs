//! Which daemons a client talks to: the uid at the other end of the socket, checked before a
//! single byte is sent.
//!
//! A socket path proves nothing: a non-root user's default socket lives under `/tmp`, where any
//! local user can create the directory first and listen there. So, as ssh-agent's and
//! gpg-agent's clients do, a client reads the server's credentials (`SO_PEERCRED`) right after
//! connecting and refuses the connection unless the daemon runs as root, as the caller's own
//! uid, as the system user `keyward`, or as a uid the caller trusts explicitly
//! ([`ConnectOptions::trust_uid`] or `$KEYWARD_DAEMON_UID`).

use std::path::Path;

/// The variable listing extra daemon uids to trust, comma-separated (`KEYWARD_DAEMON_UID=998,999`).
pub const DAEMON_UID_VAR: &str = "KEYWARD_DAEMON_UID";

/// The system user a packaged daemon runs as.
pub const DAEMON_USER: &str = "keyward";

/// How a [`crate::Client`] connects: which daemon uids it trusts besides root, its own uid and
/// the system user `keyward`.
///
/// `ConnectOptions::default()` also trusts every uid listed in `$KEYWARD_DAEMON_UID`, read when
/// the options are built, so an operator can point a service at a daemon running as another
/// user without a code change.
///
/// ```no_run
/// # async fn demo() -> Result<(), keyward_client::Error> {
/// use keyward_client::ConnectOptions;
/// let client = ConnectOptions::default()
///     .trust_uid(998)
///     .connect("/srv/keyward/keyward.sock")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    trusted: Vec<u32>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        let listed = std::env::var(DAEMON_UID_VAR).unwrap_or_default();
        ConnectOptions {
            trusted: parse_uids(&listed),
        }
    }
}

impl ConnectOptions {
    /// Options that trust only root, the caller's own uid and the system user `keyward`,
    /// whatever the environment says.
    pub fn without_environment() -> Self {
        ConnectOptions {
            trusted: Vec::new(),
        }
    }

    /// Also trusts a daemon running as `uid`.
    #[must_use]
    pub fn trust_uid(mut self, uid: u32) -> Self {
        self.trusted.push(uid);
        self
    }

    /// Connects to the daemon at `path`, refusing it unless it runs as a trusted uid, then
    /// performs the version handshake.
    ///
    /// # Errors
    /// As [`crate::Client::connect`].
    pub async fn connect(&self, path: impl AsRef<Path>) -> Result<crate::Client, crate::Error> {
        crate::Client::connect_with(path, self).await
    }

    /// Whether a daemon running as `uid` may be talked to.
    pub fn trusts(&self, uid: u32) -> bool {
        uid == 0
            || uid == nix::unistd::geteuid().as_raw()
            || self.trusted.contains(&uid)
            || daemon_user_uid() == Some(uid)
    }
}

/// The uid of the system user `keyward`, if there is one.
fn daemon_user_uid() -> Option<u32> {
    // A failed lookup (no such user, no passwd database) trusts nobody extra: fail closed.
    nix::unistd::User::from_name(DAEMON_USER)
        .ok()
        .flatten()
        .map(|user| user.uid.as_raw())
}

/// The uids in a comma-separated list. Entries that are not numbers are skipped, so a typo
/// trusts fewer daemons, never more.
fn parse_uids(list: &str) -> Vec<u32> {
    list.split(',')
        .filter_map(|entry| entry.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list parses with spaces and empty entries; junk is skipped rather than trusted.
    #[test]
    fn uid_lists() {
        assert_eq!(parse_uids("998, 999,,x,-1"), vec![998, 999]);
        assert!(parse_uids("").is_empty());
    }

    /// Root and the caller are trusted by default; another uid only once named.
    #[test]
    fn default_rule() {
        let options = ConnectOptions::without_environment();
        assert!(options.trusts(0));
        assert!(options.trusts(nix::unistd::geteuid().as_raw()));
        let stranger = 4_000_000_000;
        assert!(!options.trusts(stranger));
        assert!(options.trust_uid(stranger).trusts(stranger));
    }
}
