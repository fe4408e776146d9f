//! Where the socket lives when nobody says: one rule shared by the daemon and its clients.
//!
//! First match wins:
//! 1. under systemd: `$RUNTIME_DIRECTORY/keyward.sock`;
//! 2. as root: `/run/keyward/keyward.sock`;
//! 3. otherwise `$XDG_RUNTIME_DIR/keyward/keyward.sock`, falling back to
//!    `/tmp/keyward-$UID/keyward.sock`.
//!
//! The data dir follows the same rule in the daemon's config.

use std::path::PathBuf;

/// The socket's file name inside its directory.
pub const SOCKET_FILE: &str = "keyward.sock";

/// The HTTP/JSON API's socket file name, beside [`SOCKET_FILE`] unless configured otherwise.
pub const HTTP_SOCKET_FILE: &str = "http.sock";

/// The environment a path rule reads, gathered so the rule can be tested without touching the
/// process environment.
#[derive(Debug, Clone, Default)]
pub struct PathEnv {
    /// The effective uid.
    pub uid: u32,
    /// `$RUNTIME_DIRECTORY` (set by systemd's `RuntimeDirectory=`).
    pub runtime_directory: Option<String>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<String>,
}

impl PathEnv {
    /// Reads the process environment. `uid` must be the caller's effective uid.
    pub fn from_process(uid: u32) -> Self {
        PathEnv {
            uid,
            runtime_directory: non_empty_var("RUNTIME_DIRECTORY"),
            xdg_runtime_dir: non_empty_var("XDG_RUNTIME_DIR"),
        }
    }
}

/// An environment variable, treating empty as unset.
pub fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The default socket path for `env`.
pub fn default_socket_path(env: &PathEnv) -> PathBuf {
    if let Some(dir) = &env.runtime_directory {
        // systemd may pass several colon-separated directories; ours is the first.
        let first = dir.split(':').next().unwrap_or(dir);
        return PathBuf::from(first).join(SOCKET_FILE);
    }
    if env.uid == 0 {
        return PathBuf::from("/run/keyward").join(SOCKET_FILE);
    }
    match &env.xdg_runtime_dir {
        Some(dir) => PathBuf::from(dir).join("keyward").join(SOCKET_FILE),
        None => PathBuf::from(format!("/tmp/keyward-{}", env.uid)).join(SOCKET_FILE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each step of the rule, in order of precedence.
    #[test]
    fn rule_order() {
        let mut env = PathEnv {
            uid: 1000,
            runtime_directory: Some("/run/keyward:/run/other".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
        };
        assert_eq!(
            default_socket_path(&env),
            PathBuf::from("/run/keyward/keyward.sock")
        );
        env.runtime_directory = None;
        assert_eq!(
            default_socket_path(&env),
            PathBuf::from("/run/user/1000/keyward/keyward.sock")
        );
        env.xdg_runtime_dir = None;
        assert_eq!(
            default_socket_path(&env),
            PathBuf::from("/tmp/keyward-1000/keyward.sock")
        );
        env.uid = 0;
        assert_eq!(
            default_socket_path(&env),
            PathBuf::from("/run/keyward/keyward.sock")
        );
    }
}
