//! keywardd on an etcd that demands TLS with client certificates and a password: it starts
//! and serves with `etcd_ca_file`, `etcd_cert_file`, `etcd_key_file`, `etcd_user` and
//! `etcd_password_file`, and refuses to start, saying why, without them.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use keyward_client::{CredentialKind, Env, Requirements, Scopes};

use crate::support::{wait_for, Daemon};

/// Runs `openssl` with `args` in `dir`, and asserts it succeeded.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=keyward-it-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    // Version 3 certificates (rustls refuses version 1), with the usage each is for.
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ext) in [("server", "server.cnf"), ("client", "client.cnf")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let (csr, pem) = (format!("{name}.csr"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                ext,
            ],
        );
    }
}

/// One etcd member on 127.0.0.1 that serves clients over TLS only, with client certificates.
struct TlsEtcd {
    child: Child,
    url: String,
}

impl Drop for TlsEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TlsEtcd {
    fn start(dir: &Path) -> TlsEtcd {
        let (client, peer) = (free_port(), free_port());
        let url = format!("https://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.join("etcd.log")).unwrap();
        let child = Command::new("etcd")
            .args(["--name", "tls", "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("tls={peer_url}")])
            .arg("--cert-file")
            .arg(dir.join("server.pem"))
            .arg("--key-file")
            .arg(dir.join("server.key"))
            .arg("--trusted-ca-file")
            .arg(dir.join("ca.pem"))
            .args(["--client-cert-auth", "--logger=zap", "--log-level=error"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd (installed by scripts/test)");
        let etcd = TlsEtcd { child, url };
        wait_for("the TLS etcd healthy", || {
            etcd.ctl(dir, &["endpoint", "health"]).ok()
        });
        etcd
    }

    /// etcdctl over TLS with the client certificate, as root once authentication is on.
    fn ctl(&self, dir: &Path, args: &[&str]) -> Result<String, String> {
        let out = Command::new("etcdctl")
            .args(["--endpoints", &self.url, "--command-timeout=3s"])
            .arg(format!("--cacert={}", dir.join("ca.pem").display()))
            .arg(format!("--cert={}", dir.join("client.pem").display()))
            .arg(format!("--key={}", dir.join("client.key").display()))
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

#[test]
fn tls_client_certificates_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let etcd = TlsEtcd::start(d);
    // Authentication on: root, and a user keyward whose role covers only its prefix.
    for args in [
        &["user", "add", "root:rootpw"][..],
        &["role", "add", "keyward"],
        &[
            "role",
            "grant-permission",
            "keyward",
            "--prefix=true",
            "readwrite",
            "/kw-tls/",
        ],
        &["user", "add", "keyward:s3cret"],
        &["user", "grant-role", "keyward", "keyward"],
        &["auth", "enable"],
    ] {
        etcd.ctl(d, args)
            .unwrap_or_else(|e| panic!("etcdctl {args:?}: {e}"));
    }
    std::fs::write(d.join("password"), "s3cret\n").unwrap();
    let tls = format!(
        "backend = \"etcd\"\netcd_endpoints = [\"{}\"]\netcd_prefix = \"/kw-tls/\"\n\
         etcd_ca_file = \"{ca}\"\netcd_cert_file = \"{cert}\"\netcd_key_file = \"{key}\"\n",
        etcd.url,
        ca = d.join("ca.pem").display(),
        cert = d.join("client.pem").display(),
        key = d.join("client.key").display(),
    );
    let auth = format!(
        "etcd_user = \"keyward\"\netcd_password_file = \"{}\"\n",
        d.join("password").display()
    );

    let host = Daemon::start_with(&format!("{tls}{auth}"));
    let (mut admin, _) = host.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    host.client()
        .verify(
            &created.session.token,
            Requirements::new().kind(CredentialKind::Session),
        )
        .unwrap();
    // What etcd holds: hashes, never the token.
    let held = etcd
        .ctl(d, &["--user", "root:rootpw", "get", "/kw-tls/", "--prefix"])
        .unwrap();
    assert!(held.contains("/kw-tls/p/"), "{held}");
    assert!(
        !held.contains(created.session.token.expose()),
        "a token reached etcd"
    );

    // A wrong password, and no client certificate: refused at start, saying why.
    std::fs::write(d.join("password"), "wrong\n").unwrap();
    refused_start(d, "wrong-password", &format!("{tls}{auth}"));
    std::fs::write(d.join("password"), "s3cret\n").unwrap();
    let no_cert = tls
        .lines()
        .filter(|l| !l.starts_with("etcd_cert_file") && !l.starts_with("etcd_key_file"))
        .collect::<Vec<_>>()
        .join("\n");
    refused_start(d, "no-cert", &format!("{no_cert}\n{auth}"));
}

/// Starts keywardd with `config` on a fresh data dir in `d`, and asserts it exits at once
/// saying it cannot use etcd.
fn refused_start(d: &Path, name: &str, config: &str) {
    let file = d.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let out = Command::new(crate::support::binary("keywardd"))
        .arg("--socket")
        .arg(d.join(format!("{name}.sock")))
        .arg("--data-dir")
        .arg(d.join(format!("{name}-data")))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("cannot use etcd"),
        "{name}: {said}"
    );
}
