//! Binding the Unix socket: a directory no one else controls, stale-socket replacement, a live
//! daemon left alone, mode 0660.
//!
//! The directory matters as much as the socket: whoever can write to it can replace the socket
//! with their own between two connections, and a non-root daemon's default directory is under
//! `/tmp`, where anyone may create it first. So the daemon creates its directory itself (mode
//! 0700) and refuses one that is owned by another user or that others can write to, unless it is
//! root-owned and sticky, like `/tmp` itself.

use nix::sys::stat::{umask, Mode};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

/// The socket file's mode: owner and group may connect, others may not.
pub(crate) const SOCKET_MODE: u32 = 0o660;

/// The mode of a socket directory the daemon creates: only its own uid may enter. A daemon that
/// serves other users listens in a directory made for that (systemd's `RuntimeDirectory=`, or
/// one an administrator creates with the group they share).
pub(crate) const DIR_MODE: u32 = 0o700;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A daemon answers on the path already.
    #[error("a keywardd is already listening on {}; stop it first or choose another --socket", .0.display())]
    Live(PathBuf),
    /// The socket's directory is controlled by someone else.
    #[error(
        "refusing to listen in {}: it is owned by uid {owner}{} and {problem}; \
         remove it, or choose a --socket in a directory you own",
        dir.display(),
        user_name(*owner).map_or_else(String::new, |name| format!(" ({name})"))
    )]
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// What is wrong with it.
        problem: &'static str,
    },
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

/// Checks, without changing anything, that `path` could be bound: its directory, if it exists,
/// is safe, and no daemon answers there. Start-up calls it before touching the data dir, so a
/// refused start leaves nothing behind.
pub(crate) fn check(path: &Path) -> Result<(), BindError> {
    if let Some(parent) = parent(path) {
        match std::fs::symlink_metadata(parent) {
            Ok(_) => check_dir(parent)?,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(BindError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket && std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(BindError::Live(path.to_owned()));
    }
    Ok(())
}

/// Binds `path`, replacing a stale socket but never a live one, in a directory that is created
/// with [`DIR_MODE`] if missing and refused if someone else controls it.
pub(crate) fn bind(path: &Path) -> Result<BoundSocket, BindError> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = parent(path) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)
            .map_err(io)?;
        check_dir(parent)?;
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

/// The directory `path` is in, unless it is the current one.
fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

/// Refuses a directory that another user owns or that others may write to, unless it is
/// root-owned and sticky (where nobody may remove another's files). A symlink is judged as well
/// as its target: whoever owns the link can point it elsewhere.
fn check_dir(dir: &Path) -> Result<(), BindError> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| BindError::Io {
        path: dir.to_owned(),
        source,
    };
    let own = nix::unistd::geteuid().as_raw();
    let link = std::fs::symlink_metadata(dir).map_err(io)?;
    let target = std::fs::metadata(dir).map_err(io)?;
    let unsafe_dir = |owner, problem| BindError::UnsafeDir {
        dir: dir.to_owned(),
        owner,
        problem,
    };
    if link.file_type().is_symlink() && link.uid() != own && link.uid() != 0 {
        return Err(unsafe_dir(link.uid(), "is a symlink another user controls"));
    }
    if !target.is_dir() {
        return Err(unsafe_dir(target.uid(), "is not a directory"));
    }
    let (owner, mode) = (target.uid(), target.mode());
    if owner != own && owner != 0 {
        return Err(unsafe_dir(owner, "is not yours or root's"));
    }
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !(sticky && owner == 0) {
        return Err(unsafe_dir(owner, "other users may write to it"));
    }
    Ok(())
}

/// The name of the user with `uid`, if there is one.
fn user_name(uid: u32) -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
    Some(user.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_mode(mode: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    /// A missing directory is created 0700; an own 0755 one is kept.
    #[tokio::test]
    async fn own_directories_are_fine() {
        use std::os::unix::fs::MetadataExt;
        let base = dir_with_mode(0o755);
        let socket = base.path().join("new/keyward.sock");
        let bound = bind(&socket).unwrap();
        let mode = std::fs::metadata(base.path().join("new")).unwrap().mode();
        assert_eq!(mode & 0o7777, DIR_MODE);
        drop(bound);
        assert!(check(&base.path().join("keyward.sock")).is_ok());
    }

    /// A directory others may write to is refused, naming it, unless root-owned and sticky.
    #[test]
    fn writable_directories_are_refused() {
        let open = dir_with_mode(0o777);
        let err = check(&open.path().join("keyward.sock")).unwrap_err();
        assert!(matches!(err, BindError::UnsafeDir { .. }), "{err}");
        assert!(err.to_string().contains(&open.path().display().to_string()));
        let group = dir_with_mode(0o770);
        assert!(check(&group.path().join("keyward.sock")).is_err());
        if nix::unistd::geteuid().is_root() {
            let tmp = dir_with_mode(0o1777);
            assert!(check(&tmp.path().join("keyward.sock")).is_ok());
        }
    }
}
