//! Binding the Unix socket: stale-socket replacement, a live daemon left alone, mode 0660.

use nix::sys::stat::{umask, Mode};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

/// The socket file's mode: owner and group may connect, others may not.
pub(crate) const SOCKET_MODE: u32 = 0o660;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A daemon answers on the path already.
    #[error("a keywardd is already listening on {}; stop it first or choose another --socket", .0.display())]
    Live(PathBuf),
    /// Something that is not a socket sits at the path.
    #[error("{} exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
    /// Any other failure.
    #[error("cannot bind {}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The listening socket, removed from the filesystem on drop if this daemon created it and it
/// is still the same file. A socket passed by systemd is systemd's to keep.
#[derive(Debug)]
pub(crate) struct BoundSocket {
    pub listener: UnixListener,
    /// The path and inode of a socket file this daemon created.
    owned: Option<(PathBuf, u64)>,
}

impl BoundSocket {
    /// Wraps a listening socket passed by systemd.
    pub fn activated(listener: std::os::unix::net::UnixListener) -> std::io::Result<Self> {
        Ok(BoundSocket {
            listener: UnixListener::from_std(listener)?,
            owned: None,
        })
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        if let Some((path, inode)) = &self.owned {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == *inode) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Binds `path`, replacing a stale socket but never a live one.
pub(crate) fn bind(path: &Path) -> Result<BoundSocket, BindError> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(io)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(BindError::Live(path.to_owned())),
                // Nobody listens: a daemon died without cleaning up.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(io)?;
                    tracing::info!(path = %path.display(), "replaced a stale socket");
                }
                Err(e) => return Err(io(e)),
            }
        }
        Ok(_) => return Err(BindError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    // Bind under a umask that yields 0660 directly, so the socket is never briefly wider.
    let old = umask(Mode::from_bits_truncate(0o117));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound.map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(io)?;
    let inode = std::fs::symlink_metadata(path).map_err(io)?.ino();
    Ok(BoundSocket {
        listener,
        owned: Some((path.to_owned(), inode)),
    })
}
