//! The `keywardd` process under test: start it on the run's socket, config and data dir, wait
//! until it answers, SIGKILL it, and read back what it wrote to stderr.

use keyward_client::Client;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before it counts as a failure. Generous: a debug build recovering
/// a large log on two busy cores is slow, and a slow start is not what this tool checks.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(10);
/// SIGKILL's number: 9 on every Unix keyward runs on.
const SIGKILL: i32 = 9;

/// Why a start failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The process could not be spawned at all.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The binary.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It exited before answering a ping.
    #[error("keywardd exited before answering a ping ({status}); its stderr:\n{stderr}")]
    Exited {
        /// How it ended.
        status: ExitStatus,
        /// What it wrote.
        stderr: String,
    },
    /// It neither answered nor exited in time.
    #[error("keywardd did not answer a ping within {START_DEADLINE:?}; its stderr:\n{stderr}")]
    Timeout {
        /// What it wrote.
        stderr: String,
    },
}

/// One `keywardd` binary on one socket, config and data dir, started and killed repeatedly.
#[derive(Debug)]
pub(crate) struct Daemon {
    program: PathBuf,
    /// The socket it listens on.
    pub socket: PathBuf,
    data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// Where the current start's output begins in the log.
    log_from: u64,
    child: Option<Child>,
}

impl Daemon {
    /// A daemon that is not started yet; its stderr goes to `log`.
    pub(crate) fn new(
        program: PathBuf,
        socket: PathBuf,
        data_dir: PathBuf,
        config: PathBuf,
        log: PathBuf,
    ) -> Daemon {
        Daemon {
            program,
            socket,
            data_dir,
            config,
            log,
            log_from: 0,
            child: None,
        }
    }

    /// Starts it and waits until it answers a ping.
    ///
    /// # Errors
    /// If it cannot be spawned, exits first, or does not answer in time.
    pub(crate) async fn start(&mut self) -> Result<(), StartError> {
        assert!(self.child.is_none(), "the daemon is already running");
        let spawn_err = |source| StartError::Spawn {
            program: self.program.clone(),
            source,
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(spawn_err)?;
        self.log_from = log.metadata().map_err(spawn_err)?.len();
        let child = Command::new(&self.program)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(spawn_err)?)
            .stderr(log)
            .spawn()
            .map_err(spawn_err)?;
        let child = self.child.insert(child);
        let begun = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(StartError::Exited {
                    status,
                    stderr: self.stderr(),
                });
            }
            if ping(&self.socket).await {
                return Ok(());
            }
            if begun.elapsed() > START_DEADLINE {
                return Err(StartError::Timeout {
                    stderr: self.stderr(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills it with SIGKILL and reaps it.
    ///
    /// # Errors
    /// If it had already exited on its own (the exit status and its stderr), which is a crash
    /// the tool did not cause.
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // A process that already exited but is not reaped still takes the signal harmlessly.
        let _ = child.kill();
        match child.wait() {
            Ok(status) if status.signal() == Some(SIGKILL) => Ok(()),
            Ok(status) => Err(format!("{status}; its stderr:\n{}", self.stderr())),
            Err(e) => Err(format!("cannot reap it: {e}")),
        }
    }

    /// If it was running and has exited on its own: how, and its stderr.
    pub(crate) fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(format!("{status}; its stderr:\n{}", self.stderr()))
    }

    /// What the current (or last) start wrote to stdout and stderr.
    pub(crate) fn stderr(&self) -> String {
        read_from(&self.log, self.log_from).unwrap_or_else(|e| format!("<cannot read log: {e}>"))
    }

    /// The HTTP/JSON API's socket: `http.sock` beside the frame socket, the daemon's default.
    pub(crate) fn http_socket(&self) -> PathBuf {
        self.socket.with_file_name("http.sock")
    }

    /// The data dir, for reports.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
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

/// Whether a daemon answers a ping on `socket` now.
async fn ping(socket: &Path) -> bool {
    match Client::connect(socket).await {
        Ok(mut client) => client.ping().await.is_ok(),
        Err(_) => false,
    }
}

fn read_from(path: &Path, offset: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
