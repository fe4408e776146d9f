//! A full disk: writes fail with UNAVAILABLE and a clear message, verify keeps working, the
//! daemon stays up, writes resume once space is freed, and nothing acknowledged is lost.

use crate::support::{require_root, wait_for, Daemon};
use keyward_client::{Env, ErrorCode, Scopes};
use std::process::Command;

/// A small tmpfs mounted for one test, unmounted on drop.
struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    fn mount(size: &str) -> TinyFs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs failed");
        TinyFs { dir }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the disk under a running daemon, then frees it.
#[test]
fn disk_full_then_freed() {
    require_root();
    let fs = TinyFs::mount("8M");
    let data_dir = fs.dir.path().join("data");
    let mut daemon = Daemon::start_on(&data_dir, "");
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let mut acked = vec![
        admin
            .client_create(None, None, Scopes::new())
            .unwrap()
            .session
            .token,
    ];

    let filler = fs.dir.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 16 << 20]); // fails with ENOSPC once full
    let err = wait_for("a write to fail", || {
        match admin.client_create(None, None, Scopes::new()) {
            Ok(c) => {
                acked.push(c.session.token);
                None
            }
            Err(e) => Some(e),
        }
    });
    assert_eq!(err.code(), Some(ErrorCode::Unavailable), "{err}");
    assert!(err.to_string().contains("space"), "{err}");
    // Reads still work, and the daemon stays up.
    let mut app = daemon.client();
    for token in &acked {
        app.verify(token, keyward_client::Requirements::new())
            .unwrap();
    }
    assert_eq!(
        admin
            .client_create(None, None, Scopes::new())
            .unwrap_err()
            .code(),
        Some(ErrorCode::Unavailable)
    );

    std::fs::remove_file(&filler).unwrap();
    let resumed = wait_for("writes to resume", || {
        admin.client_create(None, None, Scopes::new()).ok()
    });
    acked.push(resumed.session.token);

    drop((admin, app));
    assert!(daemon.terminate().success(), "{}", daemon.log_text());
    daemon.restart();
    let mut app = daemon.client();
    for token in &acked {
        app.verify(token, keyward_client::Requirements::new())
            .unwrap();
    }
    assert!(daemon.terminate().success());
}
