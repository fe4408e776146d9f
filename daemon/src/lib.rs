//! `keywardd`: a single-host credential and session authority served over a Unix socket.
//!
//! The binary is thin; everything lives here so tests can drive the same code. Data flows
//! peer → [`connection`] (handshake, frames, deadlines) → [`dispatch`] (authorization) →
//! [`authority`] (the credential rules, with an injectable [`clock`]) → [`store`] (the only code
//! that touches disk: sessions in memory and a journal, the rest in sled). The [`sweeper`] deletes expired credentials on a timer; [`daemon::run`]
//! wires it all together and [`signals`] ends it.

pub mod activation;
pub mod args;
mod audit;
pub mod authority;
pub mod backup;
pub mod clock;
pub mod config;
mod connection;
mod connection_slots;
pub mod daemon;
mod dispatch;
mod journal_writer;
mod listener;
mod lock;
mod log_limit;
pub mod logging;
pub mod memory;
pub mod metrics;
mod metrics_file;
mod notify;
mod peer;
mod reload;
mod server;
mod signals;
mod state;
pub mod store;
mod sweeper;
mod uid_slots;
