//! The harness: start the real `keywardd` on a temporary socket and data dir, talk to it through
//! the client crate or the real `keyward` CLI, and clean up on drop.

use keyward_client::blocking::Client;
use keyward_client::{Env, Secret};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for anything that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The directory holding the workspace's built binaries (`target/<profile>`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/it-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_owned()
}

/// A built binary of the workspace, up to date with the sources.
///
/// Cargo builds a package's binaries only for that package's own integration tests, so the
/// first call builds `keywardd` (with its `etcd` feature) and `keyward` with the cargo that
/// runs this suite. Cargo releases
/// its build lock before tests run, so this does not deadlock, and it is a no-op when they are
/// fresh.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "keywardd",
            "-p",
            "keyward-client",
            "--bins",
            // As scripts/test builds them: the cluster tests need the etcd backend.
            "--features",
            "keywardd/etcd",
        ]);
        if bin_dir().file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
    });
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A directory every user may enter, for what a test shares with another uid: the temp dir if
/// every directory above it lets others through, else `/tmp`.
pub fn shared_base() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let tmp = std::env::temp_dir();
    let traversable = tmp
        .ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o001 != 0));
    if traversable {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

/// A copy of the built binary `name` that every uid can run.
///
/// A checkout may sit in a directory other users cannot enter (root's home is 0700), and then
/// a test that runs a binary as `nobody` fails with `PermissionDenied` before it tests anything.
pub fn shared_binary(name: &str) -> PathBuf {
    shared_copy(&binary(name))
}

/// A copy of the executable `source`, in a directory under [`shared_base`] that every user may
/// enter and only this uid may write; made once per run of the suite (a hard link when the
/// filesystem allows, else a copy).
pub fn shared_copy(source: &Path) -> PathBuf {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    use std::sync::{Mutex, OnceLock};
    static MADE: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(copy) = made.get(source) {
        return copy.clone();
    }
    let uid = nix::unistd::geteuid().as_raw();
    // One directory per source, so suites of several checkouts never share a copy.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    let dir = shared_base().join(format!("keyward-it-bin-{uid}-{:016x}", hasher.finish()));
    match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("cannot create {}: {e}", dir.display()),
    }
    // Under /tmp, someone else may have made it first: run nothing from a directory we do not
    // control.
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(
        meta.is_dir() && meta.uid() == uid && meta.mode() & 0o022 == 0,
        "{} is not a directory only uid {uid} may write",
        dir.display()
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = source.file_name().expect("a file name");
    let copy = dir.join(name);
    // Link or copy beside it, then rename over: a concurrent suite never runs a half copy.
    let partial = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&partial);
    if std::fs::hard_link(source, &partial).is_err() {
        std::fs::copy(source, &partial).expect("copy a binary");
    }
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&partial, &copy).unwrap();
    made.insert(source.to_owned(), copy.clone());
    copy
}

/// Runs `program` with `args` as `uid` (and the same gid), with `env` set, and returns its
/// output. `program` must be reachable by that uid (see [`shared_binary`]).
///
/// A fresh copy can be "Text file busy" for a moment: a child that another test thread forked
/// while the copy was being written holds it open for writing until that child execs. That
/// passes, so the exec is retried until [`DEADLINE`].
pub fn run_as(uid: u32, program: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    use std::os::unix::process::CommandExt;
    let run = || {
        Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("KEYWARD_ADMIN_KEY")
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .output()
    };
    wait_for("a binary copy to stop being busy", || match run() {
        Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) => None,
        done => Some(done),
    })
    .unwrap_or_else(|e| panic!("run {} as uid {uid}: {e}", program.display()))
}

/// The uid and gid of `nobody` on Debian.
pub const NOBODY: u32 = 65534;

/// Fails with a clear message when the suite cannot switch uids.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches to another uid and must run as root, as the README's test command does"
    );
}

/// Polls `f` until it returns `Some`, or panics after [`DEADLINE`] naming `what`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `keywardd` on its own temp dir.
pub struct Daemon {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts a daemon with default settings.
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    /// Starts a daemon with `config` as its TOML file.
    pub fn start_with(config: &str) -> Daemon {
        Daemon::start_at(None, config, Vec::new())
    }

    /// Starts a daemon whose data dir is `data_dir` (for example on a special filesystem).
    pub fn start_on(data_dir: &Path, config: &str) -> Daemon {
        Daemon::start_at(Some(data_dir), config, Vec::new())
    }

    /// Starts a daemon with extra environment variables (for example `LD_PRELOAD`).
    pub fn start_with_env(config: &str, env: Vec<(String, String)>) -> Daemon {
        Daemon::start_at(None, config, env)
    }

    fn start_at(data_dir: Option<&Path>, config: &str, env: Vec<(String, String)>) -> Daemon {
        // Where other uids can reach it once a test opens the socket to them.
        let dir = tempfile::Builder::new()
            .prefix("keyward-it")
            .tempdir_in(shared_base())
            .unwrap();
        let mut d = Daemon {
            child: None,
            socket: dir.path().join("run/keyward.sock"),
            data_dir: data_dir.map_or_else(|| dir.path().join("data"), Path::to_owned),
            config: dir.path().join("keywardd.toml"),
            log: dir.path().join("keywardd.log"),
            env,
            dir,
        };
        std::fs::write(&d.config, config).unwrap();
        d.launch();
        d
    }

    /// Runs `keywardd restore FILE --force` into this stopped daemon's data dir, and asserts it
    /// succeeded.
    pub fn restore_forced(&self, file: &Path) {
        let out = self
            .command()
            .arg("restore")
            .arg(file)
            .arg("--force")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The command that starts this daemon (not yet spawned).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(binary("keywardd"));
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .command()
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn keywardd");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the daemon answers a ping.
    pub fn wait_ready(&mut self) {
        let socket = self.socket.clone();
        wait_for("keywardd to answer a ping", || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("keywardd exited early ({status}): {}", self.log_text());
            }
            Client::connect(&socket).ok()?.ping().ok()
        });
    }

    /// Everything the daemon has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Open file descriptors of the daemon process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("daemon's /proc entry")
            .count()
    }

    /// The daemon's resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Opens the socket's path to every user, so a test can connect as another uid. The daemon
    /// still decides what that uid may do.
    pub fn open_socket_to_all(&self) {
        use std::os::unix::fs::PermissionsExt;
        for dir in [self.dir(), self.socket.parent().unwrap()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(&self.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    }

    /// Runs the real `keyward` CLI as `uid` against this daemon, from a copy every uid can run.
    /// Call [`Daemon::open_socket_to_all`] first.
    pub fn cli_as(&self, uid: u32, args: &[&str]) -> Output {
        run_as(
            uid,
            &shared_binary("keyward"),
            args,
            &[("KEYWARD_SOCKET", self.socket.as_os_str())],
        )
    }

    /// A connected client.
    pub fn client(&self) -> Client {
        Client::connect(&self.socket).expect("connect")
    }

    /// A client that carries a fresh admin key of `env`.
    pub fn admin_client(&self, env: Env) -> (Client, Secret) {
        let mut c = self.client();
        let key = c.admin_key_create("it", env).expect("admin key").secret;
        c.set_admin_key(key.clone());
        (c, key)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        wait_for("keywardd to exit", || child.try_wait().unwrap())
    }

    /// Kills the daemon with SIGKILL: a crash.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9));
    }

    /// Starts the daemon again on the same socket and data dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the daemon first");
        self.launch();
    }

    /// Runs the real `keyward` CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, None, None)
    }

    /// Runs the CLI with an admin key in `KEYWARD_ADMIN_KEY` and optional stdin.
    pub fn cli_with(
        &self,
        args: &[&str],
        admin_key: Option<&Secret>,
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = Command::new(binary("keyward"));
        cmd.args(args)
            .env("KEYWARD_SOCKET", &self.socket)
            .env_remove("KEYWARD_ADMIN_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(key) = admin_key {
            cmd.env("KEYWARD_ADMIN_KEY", key.expose());
        }
        let mut child = cmd.spawn().expect("spawn keyward");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// The temp dir everything lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `keywardd` running as another uid, in a directory that uid owns.
pub struct ForeignDaemon {
    child: Option<Child>,
    /// The uid it runs as.
    pub uid: u32,
    /// Its socket, in a directory it created itself.
    pub socket: PathBuf,
    /// Its data dir.
    pub data_dir: PathBuf,
    log: PathBuf,
    /// Removed on drop.
    _dir: tempfile::TempDir,
}

impl ForeignDaemon {
    /// A temp dir under [`shared_base`] owned by `uid` (mode 0755).
    pub fn dir_for(uid: u32) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("keyward-it-uid")
            .tempdir_in(shared_base())
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        nix::unistd::chown(
            dir.path(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(uid)),
        )
        .unwrap();
        dir
    }

    /// Starts `keywardd` as `uid` and waits until it answers a client that trusts `uid`.
    pub fn start(uid: u32) -> ForeignDaemon {
        let dir = ForeignDaemon::dir_for(uid);
        let mut d = ForeignDaemon {
            child: None,
            uid,
            socket: dir.path().join("run/keyward.sock"),
            data_dir: dir.path().join("data"),
            log: dir.path().join("keywardd.log"),
            _dir: dir,
        };
        let log = std::fs::File::create(&d.log).unwrap();
        let child = d
            .command()
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn keywardd");
        d.child = Some(child);
        let options = keyward_client::ConnectOptions::without_environment().trust_uid(uid);
        wait_for("keywardd as another uid to answer a ping", || {
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("keywardd exited early ({status}): {}", d.log_text());
            }
            Client::connect_with(&d.socket, &options).ok()?.ping().ok()
        });
        d
    }

    /// The command that runs `keywardd` as this uid on this socket and data dir.
    pub fn command(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(shared_binary("keywardd"));
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("RUST_LOG")
            .uid(self.uid)
            .gid(self.uid)
            .stdin(Stdio::null());
        cmd
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything the daemon has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ForeignDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Parses a CLI run's stdout as one JSON object, showing stderr if it is not.
pub fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {text:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Wall-clock milliseconds since the epoch, as the daemon counts them.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// An HTTP reply as the tests read it.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub status: hyper::StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl HttpAnswer {
    /// The value of header `name`, if it is there.
    pub fn header<K: hyper::header::AsHeaderName>(&self, name: K) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// One `GET path` with `headers` (`host` among them) on a fresh HTTP/1.1 connection to the
/// Unix socket `socket`, with hyper's client: the tests parse no HTTP by hand.
pub(crate) async fn http_get(socket: &Path, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    use http_body_util::BodyExt;
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut builder = hyper::Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    HttpAnswer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}
