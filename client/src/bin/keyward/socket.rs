//! Which socket the CLI uses, and what to tell a person who cannot reach it.

use keyward_client::Error;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The socket paths considered, in order: `--socket` (or `$KEYWARD_SOCKET`) alone if given,
/// else the default rule's candidates.
pub(crate) fn candidates(given: Option<&Path>) -> Vec<PathBuf> {
    match given {
        // An empty --socket or $KEYWARD_SOCKET means "not set", as for the daemon.
        Some(path) if !path.as_os_str().is_empty() => vec![path.to_owned()],
        _ => keyward_client::default_socket_candidates(),
    }
}

/// The socket to connect to: the first candidate that exists, else the first.
pub(crate) fn choose(candidates: &[PathBuf]) -> PathBuf {
    candidates
        .iter()
        .find(|path| path.exists())
        .unwrap_or(&candidates[0])
        .clone()
}

/// Why `error` (a failed connect to one of `tried`) happened and what to do, in one line.
pub(crate) fn explain(error: &Error, tried: &[PathBuf]) -> String {
    let mut text = error.to_string();
    if tried.len() > 1 {
        let states: Vec<String> = tried
            .iter()
            .map(|path| format!("{} ({})", path.display(), state(path)))
            .collect();
        text += &format!("; sockets tried: {}", states.join(", "));
    }
    match error {
        Error::Connect { path, source } if source.kind() == ErrorKind::PermissionDenied => {
            text += &match group_of(path) {
                Some(group) => format!(
                    "; the socket is for members of group {group}: ask an administrator to add \
                     you (sudo usermod -aG {group} $USER, then log in again)"
                ),
                None => "; you lack permission on the socket or its directory".to_owned(),
            };
        }
        Error::Connect { .. } => {
            text += "; is keywardd running, and do --socket or $KEYWARD_SOCKET name its socket?";
        }
        Error::UntrustedDaemon { uid, .. } => {
            text += &format!(
                "; if you trust uid {uid}{}, set {}={uid}",
                user_of(*uid).map_or_else(String::new, |name| format!(" ({name})")),
                keyward_client::DAEMON_UID_VAR
            );
        }
        _ => {}
    }
    text
}

/// What is at `path`, in a word or two.
fn state(path: &Path) -> &'static str {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => "answers",
        Err(e) => match e.kind() {
            ErrorKind::NotFound => "does not exist",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::ConnectionRefused => "nobody listening",
            _ => "unusable",
        },
    }
}

/// The name of the group that owns the socket, or its directory when the socket itself cannot
/// be looked at.
fn group_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok().or_else(|| {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty())?;
        std::fs::metadata(parent).ok()
    })?;
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid())).ok()??;
    Some(group.name)
}

/// The name of the user with `uid`, if there is one.
fn user_of(uid: u32) -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
    Some(user.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A given path is the only candidate; an empty one falls back to the default rule.
    #[test]
    fn given_socket_wins() {
        assert_eq!(candidates(Some(Path::new("/s"))), vec![PathBuf::from("/s")]);
        assert!(!candidates(Some(Path::new(""))).is_empty());
    }

    /// The first existing candidate is chosen, else the first.
    #[test]
    fn choice() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().join("there");
        std::fs::write(&there, "").unwrap();
        let gone = dir.path().join("gone");
        assert_eq!(choose(&[gone.clone(), there.clone()]), there);
        assert_eq!(choose(std::slice::from_ref(&gone)), gone);
    }

    /// A refused permission names every path tried and the socket's group.
    #[test]
    fn permission_denied_names_paths_and_group() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("keyward.sock");
        std::fs::write(&socket, "").unwrap();
        let gone = dir.path().join("gone.sock");
        let error = Error::Connect {
            path: socket.clone(),
            source: std::io::Error::from(ErrorKind::PermissionDenied),
        };
        let text = explain(&error, &[gone.clone(), socket.clone()]);
        assert!(
            text.contains(&format!("{} (does not exist)", gone.display())),
            "{text}"
        );
        assert!(text.contains(&socket.display().to_string()), "{text}");
        let gid = std::fs::metadata(&socket).unwrap().gid();
        let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .unwrap()
            .unwrap()
            .name;
        assert!(text.contains(&format!("group {group}")), "{text}");
    }
}
