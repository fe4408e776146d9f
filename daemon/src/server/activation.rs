//! Socket activation: take over a listening Unix socket passed by systemd
//! (`$LISTEN_FDS`/`$LISTEN_PID`), instead of binding one.

use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockaddrLike, SockaddrStorage,
};
use std::os::fd::{BorrowedFd, FromRawFd};
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
    // SAFETY: systemd hands this descriptor to this process (LISTEN_PID matched) and nothing
    // else in the process uses it; it is only borrowed for the checks.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let listening = getsockopt(&borrowed, sockopt::AcceptConn).unwrap_or(false);
    let unix = getsockname::<SockaddrStorage>(fd)
        .ok()
        .is_some_and(|a| a.family() == Some(AddressFamily::Unix));
    if !(listening && unix) {
        return Err(ActivationError::NotUnixStream);
    }
    // SAFETY: as above; ownership passes to the listener, which closes it on drop.
    let listener = unsafe { UnixListener::from_raw_fd(fd) };
    listener
        .set_nonblocking(true)
        .map_err(ActivationError::Env)?;
    Ok(Some(listener))
}
