//! The client's error type: the daemon said no, or it could not be asked.

use keyward_protocol::{ErrorCode, WireError};
use std::path::PathBuf;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket could not be reached: no daemon, wrong path, or no permission.
    #[error("cannot reach keywardd at {}: {source}", path.display())]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The process listening on the socket runs as a uid this client does not trust (see
    /// [`crate::ConnectOptions`]); nothing was sent to it.
    #[error(
        "refusing to talk to {}: the process listening there runs as uid {uid}, which is not \
         root, this user, the keyward system user or a uid listed in $KEYWARD_DAEMON_UID",
        path.display()
    )]
    UntrustedDaemon {
        /// The socket path.
        path: PathBuf,
        /// The uid the listening process runs as (`SO_PEERCRED`).
        uid: u32,
    },
    /// The connection failed after it was open.
    #[error("connection to keywardd failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon closed the connection or sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The daemon answered with an error code.
    #[error("{0}")]
    Daemon(#[from] WireError),
}

impl Error {
    /// The daemon's error code, if the daemon answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Daemon(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether the daemon could not be reached at all, or was not trusted (as opposed to
    /// answering with an error).
    pub fn is_unreachable(&self) -> bool {
        !matches!(self, Error::Daemon(_))
    }
}
