//! A real three-member etcd cluster on 127.0.0.1, for the tests of keywardd's etcd backend
//! (several hosts sharing one truth): members can be killed, stopped and started again on their
//! own data dirs and ports, so a test can take the leader or the quorum away.
//!
//! It runs Debian's `etcd` and `etcdctl` (3.4), which `scripts/test` installs.

use crate::support::{wait_for, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How many members a cluster has: the smallest that survives losing one.
pub const MEMBERS: usize = 3;

/// How often the harness polls etcd while it waits.
const POLL: Duration = Duration::from_millis(50);

/// Each start of a cluster picks free ports afresh; another process can take one between the
/// pick and etcd's bind, so a start that fails to bind is tried again this many times.
const START_ATTEMPTS: usize = 5;

/// `etcd` or `etcdctl` on `PATH`; panics naming what installs them, so that no test of the etcd
/// backend is skipped on a machine without them.
fn etcd_program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} not found on PATH: the etcd tests need Debian's etcd-server and \
                 etcd-client, which scripts/test installs (as root)"
            )
        })
}

/// One member: its own temp dir (`data/` and `etcd.log`), its ports, its process if running.
struct Member {
    name: String,
    dir: tempfile::TempDir,
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
        self.dir.path().join("etcd.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the process with SIGKILL, if it runs, and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running three-member etcd cluster; every member is killed and its temp dir removed on drop.
pub struct EtcdCluster {
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
}

impl EtcdCluster {
    /// Starts three members with a static bootstrap on free ports of 127.0.0.1, and waits until
    /// every one reports healthy.
    pub fn new() -> EtcdCluster {
        let etcd = etcd_program("etcd");
        etcd_program("etcdctl");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut cluster = EtcdCluster::on_free_ports();
            for i in 0..MEMBERS {
                cluster.spawn(&etcd, i, "new");
            }
            match cluster.wait_started() {
                Ok(()) => return cluster,
                Err(log) if log.contains("address already in use") => failures.push(log),
                Err(log) => panic!("etcd cluster did not start:\n{log}"),
            }
        }
        panic!(
            "etcd cluster did not start in {START_ATTEMPTS} attempts, each losing a port:\n{}",
            failures.join("\n")
        )
    }

    /// A cluster description on ports that were free a moment ago; nothing runs yet.
    fn on_free_ports() -> EtcdCluster {
        // All six listeners are open together, so no two of them get the same port.
        let listeners: Vec<std::net::TcpListener> = (0..2 * MEMBERS)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        let members: Vec<Member> = (0..MEMBERS)
            .map(|i| Member {
                name: format!("m{i}"),
                dir: tempfile::Builder::new()
                    .prefix("keyward-it-etcd")
                    .tempdir()
                    .unwrap(),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        // Unique per cluster, so members of two tests' clusters never take each other's peers
        // for their own, even if a port is reused.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let token = format!(
            "keyward-it-{}-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            crate::support::now_ms()
        );
        EtcdCluster {
            members,
            initial_cluster,
            token,
        }
    }

    /// Spawns member `i`; `state` is `new` at bootstrap, `existing` on a restart (where etcd
    /// reads the membership from its data dir).
    fn spawn(&mut self, etcd: &Path, i: usize, state: &str) {
        let m = &self.members[i];
        assert!(m.child.is_none(), "etcd member {i} already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log_path())
            .unwrap();
        let mut cmd = Command::new(etcd);
        cmd.arg(format!("--name={}", m.name))
            .arg(format!(
                "--data-dir={}",
                m.dir.path().join("data").display()
            ))
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
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // etcd also reads every flag from an ETCD_* variable; none from the outside may apply.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD") {
                cmd.env_remove(key);
            }
        }
        let child = cmd.spawn().expect("spawn etcd");
        self.members[i].child = Some(child);
    }

    /// Waits until every member is healthy; on a member's early exit, returns every log.
    fn wait_started(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let exited = self.members.iter_mut().any(|m| {
                m.child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().unwrap().is_some())
            });
            if exited {
                let logs = self.logs();
                for m in &mut self.members {
                    m.kill();
                }
                return Err(logs);
            }
            if self.unhealthy().is_none() {
                return Ok(());
            }
            if start.elapsed() > DEADLINE {
                return Err(format!(
                    "not healthy after {DEADLINE:?}: {}\n{}",
                    self.unhealthy().unwrap_or_default(),
                    self.logs()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The indexes of the members that run.
    fn running(&self) -> Vec<usize> {
        (0..MEMBERS)
            .filter(|&i| self.members[i].child.is_some())
            .collect()
    }

    /// The client URLs of the running members.
    fn running_urls(&self) -> Vec<String> {
        self.running()
            .into_iter()
            .map(|i| self.members[i].client_url())
            .collect()
    }

    /// etcdctl `args` on the running members, with one-second dial and command timeouts.
    fn etcdctl_on_running(&self, args: &[&str]) -> Output {
        let mut all = vec!["--dial-timeout=1s", "--command-timeout=1s"];
        all.extend_from_slice(args);
        self.etcdctl_on(&self.running_urls(), &all)
    }

    /// Why the running members are not all healthy, or `None` if they are.
    fn unhealthy(&self) -> Option<String> {
        // `endpoint health` reads a key through raft: it succeeds only with a leader and quorum.
        let out = self.etcdctl_on_running(&["endpoint", "health"]);
        (!out.status.success()).then(|| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Every member's log, headed by its name.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- etcd {} ---\n{}", m.name, m.log_text()))
            .collect()
    }

    /// Each member's client URL (`http://127.0.0.1:PORT`), in member order.
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// The client URLs as a TOML array, for keywardd's `etcd_endpoints`.
    pub fn endpoints_toml(&self) -> String {
        let quoted: Vec<String> = self
            .client_urls()
            .iter()
            .map(|u| format!("\"{u}\""))
            .collect();
        format!("[{}]", quoted.join(", "))
    }

    /// Runs `etcdctl` (API v3) with `args` against every member's client URL.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        self.etcdctl_on(&self.client_urls(), args)
    }

    /// Runs `etcdctl` (API v3) with `args` against `endpoints` only.
    pub fn etcdctl_on(&self, endpoints: &[String], args: &[&str]) -> Output {
        let mut cmd = Command::new(etcd_program("etcdctl"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCDCTL") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// `etcdctl endpoint status -w json` of the running members: `(member index, member id,
    /// the leader's id as that member sees it, revision)` for each that answered.
    fn statuses(&self) -> Vec<(usize, u64, u64, i64)> {
        let running = self.running();
        // A member that does not answer makes etcdctl fail, but the others are still printed.
        let out = self.etcdctl_on_running(&["endpoint", "status", "-w", "json"]);
        let Ok(serde_json::Value::Array(list)) = serde_json::from_slice(&out.stdout) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|s| {
                let url = s["Endpoint"].as_str()?;
                let i = *running
                    .iter()
                    .find(|&&i| self.members[i].client_url() == url)?;
                let status = &s["Status"];
                Some((
                    i,
                    status["header"]["member_id"].as_u64()?,
                    status["leader"].as_u64()?,
                    status["header"]["revision"].as_i64().unwrap_or(0),
                ))
            })
            .collect()
    }

    /// The index of the current leader: a running member that every running member that
    /// answers names as leader. Waits for an election if there is none yet.
    pub fn leader(&self) -> usize {
        wait_for("an etcd leader among the running members", || {
            let statuses = self.statuses();
            // Right after a crash the survivors still name the dead leader, whose id is then
            // none of theirs: wait for the election.
            let leader_id = statuses.first().map(|&(_, _, leader, _)| leader)?;
            let agreed = statuses.iter().all(|&(_, _, l, _)| l == leader_id);
            let found = statuses
                .iter()
                .find(|&&(_, id, _, _)| agreed && id == leader_id)
                .map(|&(i, _, _, _)| i);
            if found.is_none() {
                std::thread::sleep(POLL);
            }
            found
        })
    }

    /// Kills member `i` with SIGKILL: a crash.
    pub fn kill(&mut self, i: usize) {
        assert!(
            self.members[i].child.is_some(),
            "etcd member {i} is not running"
        );
        self.members[i].kill();
    }

    /// Stops member `i` with SIGTERM and waits for it to exit (SIGKILL after [`DEADLINE`]).
    pub fn stop(&mut self, i: usize) {
        let mut child = self.members[i]
            .child
            .take()
            .unwrap_or_else(|| panic!("etcd member {i} is not running"));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("etcd member {i} ignored SIGTERM for {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts member `i` again, on its data dir and ports, as a member of the existing cluster,
    /// and waits until it listens. It serves only once a quorum runs: see
    /// [`EtcdCluster::wait_healthy`].
    pub fn start(&mut self, i: usize) {
        self.spawn(&etcd_program("etcd"), i, "existing");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.members[i].client_port));
        wait_for(&format!("etcd member {i} to listen"), || {
            let m = &mut self.members[i];
            if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "etcd member {i} exited at restart ({status}):\n{}",
                    m.log_text()
                );
            }
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()
        });
    }

    /// Waits until every running member is healthy: it has a leader and reads through raft.
    pub fn wait_healthy(&self) {
        let start = Instant::now();
        while let Some(why) = self.unhealthy() {
            assert!(
                start.elapsed() < DEADLINE,
                "etcd not healthy after {DEADLINE:?}: {why}\n{}",
                self.logs()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Compacts the key space up to the current revision, waiting until the old revisions are
    /// gone from every member; returns that revision.
    pub fn compact_to_latest(&self) -> i64 {
        let revision = wait_for("the current etcd revision", || {
            self.statuses().iter().map(|&(_, _, _, r)| r).max()
        });
        let out = self.etcdctl(&["compaction", "--physical", &revision.to_string()]);
        assert!(
            out.status.success(),
            "etcdctl compaction {revision}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        revision
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}

/// The harness itself: a cluster starts, serves, elects a new leader when the old one dies,
/// refuses writes without a quorum and takes them again once the quorum is back.
#[test]
fn etcd_cluster_harness_works() {
    let started = Instant::now();
    let mut cluster = EtcdCluster::new();
    let ok = |out: Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(cluster.etcdctl(&["put", "/it/a", "1"]), "put");
    assert_eq!(
        ok(
            cluster.etcdctl(&["get", "/it/a", "--print-value-only"]),
            "get"
        )
        .trim(),
        "1"
    );
    assert_eq!(
        cluster
            .endpoints_toml()
            .matches("http://127.0.0.1:")
            .count(),
        3
    );

    let old = cluster.leader();
    cluster.kill(old);
    let new = cluster.leader();
    assert_ne!(new, old);
    ok(
        cluster.etcdctl(&["put", "/it/b", "2"]),
        "put after the leader died",
    );

    // The survivor that is not the leader goes too, and the dead one stays down: one of three
    // members is no quorum.
    let other = (0..MEMBERS).find(|&i| i != old && i != new).unwrap();
    cluster.stop(other);
    let out = cluster.etcdctl(&["--command-timeout=1s", "put", "/it/c", "3"]);
    assert!(!out.status.success(), "a put without a quorum succeeded");

    cluster.start(old);
    cluster.start(other);
    cluster.wait_healthy();
    ok(
        cluster.etcdctl(&["--command-timeout=1s", "put", "/it/c", "3"]),
        "put after the quorum came back",
    );
    let revision = cluster.compact_to_latest();
    let out = cluster.etcdctl(&["get", "/it/a", &format!("--rev={}", revision - 1)]);
    assert!(!out.status.success(), "a read below the compacted revision");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("compacted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("etcd harness self-test took {:?}", started.elapsed());
}
