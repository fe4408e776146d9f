//! A server process the harness started: its log, its memory, and its end.
//!
//! [`Server`] kills its process when dropped, so an error or Ctrl-C anywhere in a run still
//! leaves no daemon behind; [`Server::stop`] is the graceful way (SIGTERM, then wait), used when
//! the data on disk must survive for a restart.

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to exit after SIGTERM before it is killed. keywardd flushes sled
/// on the way out, which takes a while with a million fresh sessions.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// How often an exiting server is checked on.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// Lines of a dead server's log quoted in the error.
const LOG_TAIL_LINES: usize = 15;

/// A running server process, killed on drop.
#[derive(Debug)]
pub(crate) struct Server {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
    started: Instant,
}

impl Server {
    /// Starts `command` with stdout and stderr going to `log`.
    ///
    /// # Errors
    /// If the log cannot be created or the program cannot be executed.
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> Result<Server> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Server {
            name,
            child: Some(child),
            log: log.to_owned(),
            started,
        })
    }

    /// When `exec` was called: the start of a cold-start measurement.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Fails with the tail of the log if the process has exited.
    ///
    /// # Errors
    /// If the process is no longer running.
    pub fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was already stopped", self.name);
        };
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}); last lines of its log:\n{}",
                self.name,
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// The resident set size, in MiB, from `/proc/<pid>/status`.
    ///
    /// # Errors
    /// If the process is gone or the file cannot be read.
    pub fn rss_mib(&self) -> Result<f64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_vm_rss_kib(&status)
            .map(|kib| kib as f64 / 1024.0)
            .with_context(|| format!("no VmRSS line in {path}"))
    }

    /// How many file descriptors the process holds open: the entries of `/proc/<pid>/fd`.
    ///
    /// # Errors
    /// If the process is gone or the directory cannot be read (it must run under our uid).
    pub fn open_fds(&self) -> Result<usize> {
        let path = format!("/proc/{}/fd", self.pid());
        let entries = std::fs::read_dir(&path).with_context(|| format!("reading {path}"))?;
        Ok(entries.count())
    }

    /// Sends `signal` to the process, as a reload (SIGHUP) does.
    ///
    /// # Errors
    /// If the process was already stopped or the signal cannot be sent.
    pub fn send_signal(&self, signal: Signal) -> Result<()> {
        let child = self
            .child
            .as_ref()
            .with_context(|| format!("{} was already stopped", self.name))?;
        let pid = i32::try_from(child.id()).context("a pid above i32::MAX")?;
        kill(Pid::from_raw(pid), signal)
            .with_context(|| format!("sending {signal} to {}", self.name))
    }

    /// Sends SIGTERM and waits for a clean exit; kills the process if it takes too long.
    ///
    /// # Errors
    /// If it had to be killed, or exited with a failure status.
    pub async fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(&child, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!(
                        "{} exited with {status} on SIGTERM; last lines of its log:\n{}",
                        self.name,
                        log_tail(&self.log)
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not exit within {STOP_GRACE:?} of SIGTERM",
                    self.name
                );
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Reached on errors and Ctrl-C: nothing on disk needs to survive, so do not wait for a
        // graceful flush.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The child may have exited already; then there is nothing to signal.
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// The `VmRSS` figure, in KiB, of a `/proc/<pid>/status` text.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident size is read from the `VmRSS` line, in KiB.
    #[test]
    fn vm_rss_is_parsed() {
        let status = "Name:\tkeywardd\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
    }
}
