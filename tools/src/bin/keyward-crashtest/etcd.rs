//! A real three-member etcd cluster on 127.0.0.1 for `--cluster`: started on free ports with
//! data dirs under the run's temporary dir, members SIGKILLed and started again on their own
//! data dirs (`--initial-cluster-state existing`), every member killed when it is dropped.
//!
//! Adapted from the integration tests' harness (`tests/it/etcd_support.rs`), which the tools
//! cannot depend on: the same flags, the same health check (`etcdctl endpoint health`, a read
//! through raft), but waits that yield to the load instead of blocking it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How many members: the smallest cluster that survives losing one.
pub(crate) const MEMBERS: usize = 3;
/// How long a start, a restart or a return to health may take.
const DEADLINE: Duration = Duration::from_secs(60);
/// How often the waits poll.
const POLL: Duration = Duration::from_millis(50);
/// A start whose freshly picked port was taken by another process before etcd bound it is
/// tried again, on new ports, this many times.
const START_ATTEMPTS: usize = 5;
/// How much of each member's log a failure report shows.
const LOG_TAIL: usize = 4_000;

/// The `etcd` and `etcdctl` binaries: `etcd` as given or on `PATH`, `etcdctl` beside it or
/// on `PATH`.
///
/// # Errors
/// Naming what is missing and what provides it.
pub(crate) fn programs(etcd: Option<&Path>) -> Result<(PathBuf, PathBuf), String> {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    };
    let etcd = match etcd {
        Some(p) if p.is_file() => p.to_owned(),
        Some(p) => return Err(format!("no etcd at {}", p.display())),
        None => on_path("etcd").ok_or(
            "etcd not found on PATH: --cluster needs etcd and etcdctl 3.4 or later (Debian's \
             etcd-server and etcd-client), or --etcd PATH",
        )?,
    };
    let beside = etcd.with_file_name("etcdctl");
    let etcdctl = if beside.is_file() {
        beside
    } else {
        on_path("etcdctl").ok_or("etcdctl not found beside etcd nor on PATH")?
    };
    Ok((etcd, etcdctl))
}

/// One member: its dir (`data/` and `etcd.log`), its ports, its process if running.
struct Member {
    name: String,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    /// The end of its log.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let mut from = text.len().saturating_sub(LOG_TAIL);
        while !text.is_char_boundary(from) {
            from += 1;
        }
        text[from..].to_owned()
    }

    /// SIGKILLs the process, if it runs, and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running three-member etcd cluster.
pub(crate) struct Etcd {
    etcd: PathBuf,
    etcdctl: PathBuf,
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
}

impl Etcd {
    /// Starts three members with a static bootstrap on free ports of 127.0.0.1, their dirs
    /// under `root`, and waits until every one reports healthy.
    ///
    /// # Errors
    /// If the cluster does not become healthy (with the members' logs).
    pub(crate) async fn start(
        etcd: PathBuf,
        etcdctl: PathBuf,
        root: &Path,
    ) -> Result<Etcd, String> {
        let mut failures = Vec::new();
        for attempt in 0..START_ATTEMPTS {
            let mut cluster =
                Etcd::on_free_ports(&etcd, &etcdctl, &root.join(format!("etcd-{attempt}")))?;
            for i in 0..MEMBERS {
                cluster.spawn(i, "new")?;
            }
            match cluster.wait_healthy().await {
                Ok(()) => return Ok(cluster),
                Err(log) if log.contains("address already in use") => failures.push(log),
                Err(log) => return Err(format!("the etcd cluster did not start: {log}")),
            }
        }
        Err(format!(
            "the etcd cluster did not start in {START_ATTEMPTS} attempts, each losing a port:\n{}",
            failures.join("\n")
        ))
    }

    /// A cluster description on ports that were free a moment ago; nothing runs yet.
    fn on_free_ports(etcd: &Path, etcdctl: &Path, dir: &Path) -> Result<Etcd, String> {
        let io = |e: std::io::Error| format!("cannot prepare the etcd cluster: {e}");
        // All six listeners are open together, so no two of them get the same port.
        let listeners = (0..2 * MEMBERS)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        drop(listeners);
        let mut members = Vec::with_capacity(MEMBERS);
        for i in 0..MEMBERS {
            let member_dir = dir.join(format!("m{i}"));
            std::fs::create_dir_all(&member_dir).map_err(io)?;
            members.push(Member {
                name: format!("m{i}"),
                dir: member_dir,
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        // Unique per cluster, so that members of another run's cluster never take each other's
        // peers for their own, even if a port is reused.
        let token = format!(
            "keyward-crashtest-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        );
        Ok(Etcd {
            etcd: etcd.to_owned(),
            etcdctl: etcdctl.to_owned(),
            members,
            initial_cluster,
            token,
        })
    }

    /// Spawns member `i`; `state` is `new` at bootstrap, `existing` on a restart (where etcd
    /// reads the membership from its data dir).
    fn spawn(&mut self, i: usize, state: &str) -> Result<(), String> {
        let m = &self.members[i];
        assert!(m.child.is_none(), "etcd member {i} already runs");
        let io = |e: std::io::Error| format!("cannot start etcd member {i}: {e}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log_path())
            .map_err(io)?;
        let mut cmd = Command::new(&self.etcd);
        cmd.arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", m.dir.join("data").display()))
            .arg(format!("--listen-client-urls={}", m.client_url()))
            .arg(format!("--advertise-client-urls={}", m.client_url()))
            .arg(format!("--listen-peer-urls={}", m.peer_url()))
            .arg(format!("--initial-advertise-peer-urls={}", m.peer_url()))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg(format!("--initial-cluster-token={}", self.token))
            .arg(format!("--initial-cluster-state={state}"))
            // Elections in a fraction of a second instead of etcd's default of seconds.
            .arg("--heartbeat-interval=50")
            .arg("--election-timeout=500")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .arg("--log-level=error")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io)?)
            .stderr(log);
        // etcd also reads every flag from an ETCD_* variable; none from the outside may apply.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD") {
                cmd.env_remove(key);
            }
        }
        let child = cmd.spawn().map_err(io)?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// Member `i`'s client URL.
    pub(crate) fn client_url(&self, i: usize) -> String {
        self.members[i].client_url()
    }

    /// SIGKILLs member `i`: a crash.
    pub(crate) fn kill(&mut self, i: usize) {
        self.members[i].kill();
    }

    /// Starts member `i` again on its data dir and ports, as a member of the existing cluster,
    /// and waits until it listens (it serves once it has caught up with a quorum).
    ///
    /// # Errors
    /// If it exits or does not listen in time.
    pub(crate) async fn restart(&mut self, i: usize) -> Result<(), String> {
        self.spawn(i, "existing")?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.members[i].client_port));
        let begun = Instant::now();
        loop {
            if let Some(why) = self.exited() {
                return Err(format!("at its restart, {why}"));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if begun.elapsed() > DEADLINE {
                return Err(format!(
                    "etcd member {i} did not listen within {DEADLINE:?} of its restart:\n{}",
                    self.members[i].log_tail()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A member that was running and has exited on its own, with its status and log.
    pub(crate) fn exited(&mut self) -> Option<String> {
        for m in &mut self.members {
            let Some(child) = m.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                m.child = None;
                return Some(format!(
                    "etcd member {} exited on its own ({status}); its log ends:\n{}",
                    m.name,
                    m.log_tail()
                ));
            }
        }
        None
    }

    /// Waits until every running member is healthy: each has a leader and reads through raft.
    ///
    /// # Errors
    /// If a member exits, or they are not healthy within the deadline (with their logs).
    pub(crate) async fn wait_healthy(&mut self) -> Result<(), String> {
        let begun = Instant::now();
        loop {
            if let Some(why) = self.exited() {
                return Err(why);
            }
            let Some(why) = self.unhealthy().await else {
                return Ok(());
            };
            if begun.elapsed() > DEADLINE {
                return Err(format!(
                    "etcd not healthy after {DEADLINE:?}: {why}\n{}",
                    self.logs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Why the running members are not all healthy, or `None` if they are.
    async fn unhealthy(&self) -> Option<String> {
        let endpoints: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(Member::client_url)
            .collect();
        let mut cmd = Command::new(&self.etcdctl);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCDCTL") {
                cmd.env_remove(key);
            }
        }
        // `endpoint health` reads a key through raft: it succeeds only with a leader and quorum.
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args([
                "--dial-timeout=1s",
                "--command-timeout=1s",
                "endpoint",
                "health",
            ])
            .stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output()).await;
        match out {
            Ok(Ok(out)) if out.status.success() => None,
            Ok(Ok(out)) => Some(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Ok(Err(e)) => Some(format!("cannot run {}: {e}", self.etcdctl.display())),
            Err(e) => Some(format!("etcdctl: {e}")),
        }
    }

    /// The end of every member's log, headed by its name.
    pub(crate) fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- etcd {} ---\n{}", m.name, m.log_tail()))
            .collect()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}
