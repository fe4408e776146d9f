//! Who is on the other end of a connection, from the kernel (`SO_PEERCRED`), never from the
//! peer's own words.

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::os::fd::AsFd;

use crate::config::Admins;

/// A peer's credentials as the kernel recorded them at `connect()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
}

impl Peer {
    /// Reads `SO_PEERCRED` from a connected Unix socket.
    pub fn of(socket: &impl AsFd) -> std::io::Result<Peer> {
        let cred = getsockopt(socket, PeerCredentials).map_err(std::io::Error::from)?;
        Ok(Peer {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        })
    }

    /// Whether the peer is a host admin: root, the daemon's own uid, or listed in the config.
    pub fn is_host_admin(&self, daemon_uid: u32, admins: &Admins) -> bool {
        self.uid == 0
            || self.uid == daemon_uid
            || admins.uids.contains(&self.uid)
            || admins.gids.contains(&self.gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root, the daemon's uid and configured uids/gids are admins; anyone else is not.
    #[test]
    fn host_admin_rule() {
        let admins = Admins {
            uids: vec![1001],
            gids: vec![50],
        };
        let peer = |uid, gid| Peer { uid, gid, pid: 1 };
        assert!(peer(0, 0).is_host_admin(999, &admins));
        assert!(peer(999, 100).is_host_admin(999, &admins));
        assert!(peer(1001, 100).is_host_admin(999, &admins));
        assert!(peer(1002, 50).is_host_admin(999, &admins));
        assert!(!peer(1002, 100).is_host_admin(999, &admins));
    }

    /// SO_PEERCRED on a socket pair names this very process.
    #[test]
    fn reads_own_credentials() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let peer = Peer::of(&a).unwrap();
        assert_eq!(peer.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(peer.pid, std::process::id() as i32);
    }
}
