//! Socket activation: take over a listening Unix socket passed by systemd
//! (`$LISTEN_FDS`/`$LISTEN_PID`), instead of binding one.

use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockaddrLike, SockaddrStorage,
};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Why a passed socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// The environment was malformed.
    #[error("socket activation: {0}")]
    Env(std::io::Error),
    /// More than one socket was passed.
    #[error("socket activation passed {0} sockets; keywardd takes exactly one")]
    Count(usize),
    /// The passed descriptor is not a listening Unix stream socket.
    #[error("socket activation passed a descriptor that is not a listening Unix stream socket")]
    NotUnixStream,
}

/// The listening socket systemd passed, if any. Call once, before any thread starts: it
/// clears `$LISTEN_FDS` and `$LISTEN_PID` so children do not inherit them.
///
/// # Errors
/// If the variables are malformed or the descriptor is unusable.
pub fn take_listener() -> Result<Option<UnixListener>, ActivationError> {
    let fds: Vec<_> = sd_notify::listen_fds()
        .map_err(ActivationError::Env)?
        .collect();
    let fd = match fds.as_slice() {
        [] => return Ok(None),
        [fd] => *fd,
        more => return Err(ActivationError::Count(more.len())),
    };
    // SAFETY: systemd passed this descriptor to this process (`listen_fds` checked that
    // LISTEN_PID is ours and cleared the variables, so nothing else takes it again), and
    // nothing else in the process uses or closes it; ownership passes to the `OwnedFd`, which
    // closes it on drop, on the error path too.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    listener_from(owned).map(Some)
}

/// The listener over a passed descriptor, if it is a listening Unix stream socket; else the
/// descriptor is closed and an error returned.
fn listener_from(owned: OwnedFd) -> Result<UnixListener, ActivationError> {
    let listening = getsockopt(&owned, sockopt::AcceptConn).unwrap_or(false);
    let unix = getsockname::<SockaddrStorage>(owned.as_raw_fd())
        .ok()
        .is_some_and(|a| a.family() == Some(AddressFamily::Unix));
    if !(listening && unix) {
        return Err(ActivationError::NotUnixStream);
    }
    let listener = UnixListener::from(owned);
    listener
        .set_nonblocking(true)
        .map_err(ActivationError::Env)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    /// A descriptor that is no listening socket is refused, and closed: its peer sees the end
    /// of the stream.
    #[test]
    fn refused_descriptor_is_closed() {
        let (passed, mut peer) = UnixStream::pair().unwrap();
        let refused = listener_from(OwnedFd::from(passed));
        assert!(matches!(refused, Err(ActivationError::NotUnixStream)));
        peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(
            peer.read(&mut buf).unwrap(),
            0,
            "the refused descriptor is still open"
        );
    }

    /// A listening Unix socket is taken, non-blocking.
    #[test]
    fn listening_socket_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let bound = UnixListener::bind(dir.path().join("s")).unwrap();
        let listener = listener_from(OwnedFd::from(bound)).unwrap();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    }
}
