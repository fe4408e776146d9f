//! `keywardd`: a single-host credential and session authority served over a Unix socket.
//!
//! The binary is thin; everything lives here so tests can drive the same code.
//! Data flows peer → [`server`] (accept, handshake, frames, deadlines) → `dispatch`
//! (authorization) → [`authority`] (the credential rules, with an injectable [`clock`]) →
//! [`store`] (the only code that touches disk: sessions in memory and a journal, the rest in
//! sled, the audit log in its own files).
//! The `sweeper` deletes expired credentials on a timer, and the `checkpointer` syncs what
//! nobody waits on.
//! [`host`] is the OS and systemd around the daemon: signals, reload, readiness, logging,
//! metrics.
//! [`daemon::run`] wires it all together.

pub mod args;
mod audit;
pub mod authority;
pub mod backup;
mod checkpointer;
pub mod clock;
#[cfg(feature = "etcd")]
pub mod cluster;
pub mod config;
pub mod daemon;
mod dispatch;
pub mod host;
pub mod server;
mod state;
pub mod store;
mod sweeper;
