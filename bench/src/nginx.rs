//! Debian's nginx in front of keywardd for the `forward-auth` workload, modelled on the shipped
//! `examples/nginx/keyward.conf`: one location asks keywardd's `GET /v1/auth` through
//! `auth_request` on kept-alive upstream connections, and the same static file is served by a
//! second location without auth, so both are measured on one nginx in one run.
//!
//! nginx runs as a child in a temporary directory of its own (`-p` prefix, `-c` config,
//! `daemon off`, pid file and error log inside), listens on a Unix socket there (no TCP port),
//! and is stopped with SIGTERM on drop so its master takes its worker with it.

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

use crate::process::Server;

/// Where Debian installs nginx.
pub(crate) const DEFAULT_NGINX: &str = "/usr/sbin/nginx";

/// The protected location: `auth_request` to keywardd, then the static file.
pub(crate) const AUTH_PATH: &str = "/auth/app.txt";

/// The same static file without auth.
pub(crate) const OPEN_PATH: &str = "/open/app.txt";

/// How long nginx may take to accept connections on its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long nginx may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(5);

/// The site: the shipped example's auth location and headers, cut to what the measurement
/// needs. `return` would answer before the access phase and skip `auth_request`, so the app is
/// a static file. Client and upstream keep-alive are unbounded: the load generator cannot
/// reconnect in the middle of a run.
const SITE: &str = r#"
upstream keyward {
    server unix:{KEYWARD_SOCK};
    keepalive 16;
    keepalive_requests 100000000;
}

server {
    listen unix:{DIR}/nginx.sock;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    root {DIR}/www;
    default_type text/plain;

    location /open/ {
    }

    location /auth/ {
        auth_request /_keyward/any;
        auth_request_set $keyward_principal $upstream_http_x_keyward_principal;
        auth_request_set $keyward_error $upstream_http_x_keyward_error;
        add_header X-Keyward-Principal $keyward_principal;
        add_header X-Keyward-Error $keyward_error always;
    }

    location = /_keyward/any {
        internal;
        proxy_pass http://keyward/v1/auth;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
    }
}
"#;

/// An nginx process in its own temporary directory; dropping it stops nginx, then removes the
/// directory.
#[derive(Debug)]
pub(crate) struct Nginx {
    // Declared before `dir`: the process must be gone before its directory is removed.
    server: Option<Server>,
    dir: TempDir,
}

impl Nginx {
    /// Starts `binary` in front of keywardd's HTTP socket `keyward_http` and waits until it
    /// accepts connections.
    ///
    /// # Errors
    /// If nginx is missing, rejects its configuration, or does not listen in time.
    pub async fn start(binary: &Path, keyward_http: &Path) -> Result<Nginx> {
        if !binary.is_file() {
            bail!(
                "{} not found (install it with `apt-get install -y nginx`, or pass --nginx PATH)",
                binary.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("keyward-bench-nginx.")
            .tempdir()
            .context("creating a temporary directory for nginx")?;
        let d = text(dir.path())?;
        for sub in ["www/open", "www/auth"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
            std::fs::write(dir.path().join(sub).join("app.txt"), "ok\n")?;
        }
        let site = SITE
            .replace("{KEYWARD_SOCK}", text(keyward_http)?)
            .replace("{DIR}", d);
        std::fs::write(dir.path().join("site.conf"), site)?;
        // As root the worker would drop to `nobody` and lose the temporary dirs (0700): it stays
        // root, as in tests/it/forward_auth.rs; otherwise it runs as the invoking user.
        let user = if nix::unistd::geteuid().is_root() {
            "user root;"
        } else {
            ""
        };
        let main = format!(
            "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\nhttp {{\naccess_log off;\n\
             client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\ninclude {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main)?;
        let mut command = Command::new(binary);
        command
            .args(["-p", d, "-e", &format!("{d}/error.log"), "-c"])
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"]);
        let server = Server::spawn("nginx", command, &dir.path().join("nginx.log"))?;
        let mut nginx = Nginx {
            server: Some(server),
            dir,
        };
        nginx.wait_ready().await?;
        Ok(nginx)
    }

    /// The socket nginx listens on.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("nginx.sock")
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(server) = self.server.as_mut() {
                server.check_alive()?;
            }
            if tokio::net::UnixStream::connect(self.socket()).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // SIGTERM: the master stops its worker and exits. A SIGKILL alone would leave the
        // worker running, orphaned.
        if server.send_signal(Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + STOP_GRACE;
            while server.check_alive().is_ok() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        // Dropping the server kills and reaps whatever is left.
    }
}

/// A path as UTF-8 text for nginx's configuration.
fn text(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}
