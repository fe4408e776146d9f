//! The client's error type: the daemon said no, or it could not be asked.

use keyward_protocol::{ErrorCode, WireError};
use std::path::PathBuf;

/// Why a call failed.
///
/// Branch on [`Error::code`], [`Error::is_retryable`] and [`Error::is_unreachable`] rather than
/// on the variants: more may be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

    /// Whether no daemon answered: nothing accepted a connection on the socket (no daemon, a
    /// wrong path, or no permission to connect).
    ///
    /// A process that answered but is not trusted ([`Error::UntrustedDaemon`]), and a daemon
    /// that answered and then failed or closed ([`Error::Io`], [`Error::Protocol`]), are not
    /// unreachable.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// Whether the same call, made again later (on a new connection), may succeed: the daemon
    /// said it cannot serve it now ([`ErrorCode::is_retryable`]), the connection broke, or
    /// nothing listened on the socket, as while the daemon restarts.
    ///
    /// A broken connection may have lost the reply rather than the request, so a change may
    /// already have been made; retry only what may be done twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Daemon(e) => e.code.is_retryable(),
            Error::Io(_) => true,
            Error::Connect { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ),
            Error::UntrustedDaemon { .. } | Error::Protocol(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    fn connect(kind: ErrorKind) -> Error {
        Error::Connect {
            path: "/run/keyward/keyward.sock".into(),
            source: kind.into(),
        }
    }

    fn daemon(code: ErrorCode) -> Error {
        Error::Daemon(WireError::new(code, "no"))
    }

    #[test]
    fn only_a_failed_connect_is_unreachable() {
        assert!(connect(ErrorKind::NotFound).is_unreachable());
        assert!(connect(ErrorKind::PermissionDenied).is_unreachable());
        let answered = [
            Error::UntrustedDaemon {
                path: "/tmp/s".into(),
                uid: 1000,
            },
            Error::Io(ErrorKind::UnexpectedEof.into()),
            Error::Protocol("closed".into()),
            daemon(ErrorCode::Unavailable),
        ];
        for error in answered {
            assert!(!error.is_unreachable(), "{error}");
        }
    }

    #[test]
    fn retryable_follows_the_code_and_the_connection() {
        assert!(daemon(ErrorCode::Unavailable).is_retryable());
        assert!(!daemon(ErrorCode::CredentialInvalid).is_retryable());
        assert!(!daemon(ErrorCode::Unknown).is_retryable());
        assert!(Error::Io(ErrorKind::BrokenPipe.into()).is_retryable());
        assert!(connect(ErrorKind::ConnectionRefused).is_retryable());
        assert!(!connect(ErrorKind::PermissionDenied).is_retryable());
        assert!(!Error::Protocol("closed".into()).is_retryable());
    }
}
