//! Socket activation: take over the listening Unix sockets passed by systemd
//! (`$LISTEN_FDS`/`$LISTEN_PID`), instead of binding them.
//!
//! Each socket is picked by its name in `$LISTEN_FDNAMES` (`FileDescriptorName=`): the one
//! named [`HTTP_FD_NAME`] serves the HTTP API, any other the frame protocol, so a unit with a
//! single unnamed `ListenStream=` keeps working.

use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockaddrLike, SockaddrStorage,
};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// The `FileDescriptorName=` of the HTTP API's socket.
pub const HTTP_FD_NAME: &str = "http";

/// The sockets systemd passed, by role.
#[derive(Debug, Default)]
pub struct Activated {
    /// The frame protocol's socket.
    pub frames: Option<UnixListener>,
    /// The HTTP API's socket.
    pub http: Option<UnixListener>,
}

/// Why a passed socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// The environment was malformed.
    #[error("socket activation: {0}")]
    Env(std::io::Error),
    /// More than one socket was passed for one role.
    #[error(
        "socket activation passed {0} sockets for the {1} socket; keywardd takes one frame \
         socket and one named \"http\""
    )]
    Count(usize, &'static str),
    /// The passed descriptor is not a listening Unix stream socket.
    #[error("socket activation passed a descriptor that is not a listening Unix stream socket")]
    NotUnixStream,
}

/// The listening sockets systemd passed, if any. Call once, before any thread starts: it
/// clears `$LISTEN_FDS`, `$LISTEN_PID` and `$LISTEN_FDNAMES` so children do not inherit them.
///
/// # Errors
/// If the variables are malformed, a descriptor is unusable, or two sockets claim one role.
pub fn take_listeners() -> Result<Activated, ActivationError> {
    let passed: Vec<(OwnedFd, String)> = sd_notify::listen_fds_with_names(true)
        .map_err(ActivationError::Env)?
        // SAFETY: systemd passed these descriptors to this process (`listen_fds_with_names`
        // checked that LISTEN_PID is ours and cleared the variables, so nothing else takes
        // them again), and nothing else in the process uses or closes them; ownership passes
        // to each `OwnedFd`, which closes it on drop, on the error paths too.
        .map(|(fd, name)| (unsafe { OwnedFd::from_raw_fd(fd) }, name))
        .collect();
    sort(passed)
}

/// Gives each passed descriptor its role by name, checking each is a listening Unix socket.
fn sort(passed: Vec<(OwnedFd, String)>) -> Result<Activated, ActivationError> {
    let (http, frames): (Vec<_>, Vec<_>) = passed
        .into_iter()
        .partition(|(_, name)| name == HTTP_FD_NAME);
    Ok(Activated {
        frames: one(frames, "frame")?,
        http: one(http, "http")?,
    })
}

/// The one socket for a role, if any.
fn one(
    mut fds: Vec<(OwnedFd, String)>,
    role: &'static str,
) -> Result<Option<UnixListener>, ActivationError> {
    match fds.len() {
        0 => Ok(None),
        1 => listener_from(fds.remove(0).0).map(Some),
        n => Err(ActivationError::Count(n, role)),
    }
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

    /// Sockets are picked by name: "http" for the HTTP API, any other name for frames; two
    /// for one role are refused.
    #[test]
    fn sockets_are_picked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let bound = |name: &str| OwnedFd::from(UnixListener::bind(dir.path().join(name)).unwrap());
        let passed = vec![
            (bound("h"), HTTP_FD_NAME.to_owned()),
            (bound("f"), "keywardd.socket".to_owned()),
        ];
        let activated = sort(passed).unwrap();
        let path = |l: &UnixListener| l.local_addr().unwrap().as_pathname().unwrap().to_owned();
        assert_eq!(path(&activated.http.unwrap()), dir.path().join("h"));
        assert_eq!(path(&activated.frames.unwrap()), dir.path().join("f"));
        let twice = vec![
            (bound("a"), "unknown".to_owned()),
            (bound("b"), "unknown".to_owned()),
        ];
        assert!(matches!(
            sort(twice),
            Err(ActivationError::Count(2, "frame"))
        ));
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
