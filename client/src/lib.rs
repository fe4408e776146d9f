//! `keyward-client`: talk to `keywardd` over its Unix socket.
//!
//! [`Client`] is async (tokio); [`blocking::Client`] wraps it for synchronous callers;
//! [`SharedClient`] shares one pipelined connection among every task of a service, and the
//! `axum` feature builds a layer and an extractor on it (`keyward_client::axum`). All speak
//! the handshake, pipeline-capable framing and typed errors of `keyward-protocol`, and map every
//! daemon error to [`Error::Daemon`] with its [`ErrorCode`], so callers branch on codes, never on
//! text.
//!
//! Before sending anything, a client checks who listens on the socket ([`ConnectOptions`]): it
//! talks only to a daemon running as root, as its own uid, as the system user `keyward`, or as
//! a uid it was told to trust, and otherwise fails with [`Error::UntrustedDaemon`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), keyward_client::Error> {
//! use keyward_client::{Client, CredentialKind, Env, Requirements, Secret};
//! let mut client = Client::connect("/run/keyward/keyward.sock").await?;
//! let live_sessions = Requirements::new().env(Env::Live).kind(CredentialKind::Session);
//! let who = client.verify(&Secret::new("kw_ses_live_..."), live_sessions).await?;
//! println!("{} ({})", who.principal_id, who.kind);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod blocking;
#[cfg(feature = "cli")]
pub mod cli;
mod client;
mod error;
mod shared;
mod trust;

pub use client::Client;
pub use error::Error;
#[cfg(feature = "cli")]
pub use keyward_protocol::json;
pub use keyward_protocol::{
    paths, AdminKeyCreated, AdminKeyInfo, AdminKeyPage, ApiTokenCreated, ApiTokenInfo,
    ApiTokenPage, AuditEntry, AuditOutcome, AuditPage, ClientCreated, ClientDetails, ClientPage,
    ClientSettings, ClientSummary, CredentialInfo, CredentialKind, Env, ErrorCode, Identity, Kinds,
    Level, ListOrder, Meta, Op, PrincipalUpdate, Reply, Requirements, ScopeRequirement, Scopes,
    Secret, SessionIssued, Stats, TestKeyCreated, UnixMillis, Verified, WireError, MAX_PAGE,
};
pub use shared::SharedClient;
pub use trust::{ConnectOptions, DAEMON_UID_VAR};

/// The system-wide socket a packaged daemon listens on.
pub const SYSTEM_SOCKET: &str = "/run/keyward/keyward.sock";

/// The socket path a client uses when none is given: `$KEYWARD_SOCKET`, else the first of
/// [`default_socket_candidates`] that exists, else the first of them.
pub fn default_socket_path() -> std::path::PathBuf {
    let candidates = default_socket_candidates();
    candidates
        .iter()
        .find(|path| path.exists())
        .unwrap_or(&candidates[0])
        .clone()
}

/// Every socket path a client considers when none is given, in order: `$KEYWARD_SOCKET` alone
/// if set; else the daemon's default rule ([`paths::default_socket_path`]), then the
/// system-wide socket (a user in group `keyward` talking to the packaged daemon). Never empty.
pub fn default_socket_candidates() -> Vec<std::path::PathBuf> {
    if let Some(p) = paths::non_empty_var("KEYWARD_SOCKET") {
        return vec![p.into()];
    }
    let own = paths::default_socket_path(&paths::PathEnv::from_process(effective_uid()));
    let system = std::path::PathBuf::from(SYSTEM_SOCKET);
    if own == system {
        vec![own]
    } else {
        vec![own, system]
    }
}

fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}
