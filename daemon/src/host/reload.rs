//! SIGHUP: re-read the config file and put what can change at run time into force, without
//! dropping a connection. An invalid file is logged and rejected; the old config stays.

use std::sync::Arc;

use crate::config::{Config, Overrides};
use crate::host::notify;
use crate::state::DaemonState;

/// Reloads from the same sources the daemon started with. Returns the config now in force.
pub(crate) fn reload(shared: &Arc<DaemonState>, overrides: &Overrides, running: &Config) -> Config {
    notify::reloading();
    let outcome = match Config::load(overrides) {
        Err(e) => {
            tracing::error!(error = %e, "reload rejected; the previous configuration stays in force");
            running.clone()
        }
        Ok(new) => {
            if new.socket != running.socket
                || new.data_dir != running.data_dir
                || new.http != running.http
                || new.http_socket != running.http_socket
            {
                tracing::warn!(
                    "socket, http, http_socket and data_dir changes take effect only at restart"
                );
            }
            if new.log_level != running.log_level {
                tracing::warn!("log_level changes take effect only at restart");
            }
            shared.apply(&new);
            tracing::info!(
                idle_timeout = ?new.policy.idle_timeout,
                max_lifetime = ?new.policy.max_lifetime,
                sweep_interval = ?new.sweep_interval,
                max_connections = new.limits.max_connections,
                admin_reserved_connections = new.limits.admin_reserved_connections,
                max_connections_per_uid = new.limits.max_connections_per_uid,
                "configuration reloaded"
            );
            Config {
                socket: running.socket.clone(),
                http: running.http,
                http_socket: running.http_socket.clone(),
                data_dir: running.data_dir.clone(),
                log_level: running.log_level.clone(),
                ..new
            }
        }
    };
    notify::ready("serving");
    outcome
}
