//! Reading keywardd's log as it is written: the sweeper's lines, and a reload's confirmation.
//!
//! The sweeper logs `sweep swept=N moved=M listed_ms=… ended_ms=… rest_ms=…` when a sweep
//! ends. Reading that line costs the
//! daemon nothing, where `Op::Stats` walks every record: at a million sessions one call takes
//! about as long as a fast sweep should, and polling it would be a second full scan competing
//! with the sweep being timed.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// New lines of a log file, as they are appended.
#[derive(Debug)]
pub(crate) struct LogWatch {
    file: File,
    partial: String,
}

impl LogWatch {
    /// Watches `path` from its beginning.
    ///
    /// # Errors
    /// If it cannot be opened.
    pub fn open(path: &Path) -> Result<LogWatch> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(LogWatch {
            file,
            partial: String::new(),
        })
    }

    /// The whole lines written since the last call.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn lines(&mut self) -> Result<Vec<String>> {
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes)?;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(end) = self.partial.rfind('\n') else {
            return Ok(Vec::new());
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        Ok(done.lines().map(str::to_owned).collect())
    }
}

/// The count a sweeper line reports (`… keywardd::sweeper: sweep swept=N moved=M`).
pub(crate) fn swept_in(line: &str) -> Option<u64> {
    if !line.contains("sweep") {
        return None;
    }
    let after = line.split("swept=").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A sweeper line's timing of its three steps (`listed_ms`, `ended_ms`, `rest_ms`).
pub(crate) fn steps_in(line: &str) -> Option<[f64; 3]> {
    let field = |name: &str| -> Option<f64> {
        let after = line.split(&format!(" {name}=")).nth(1)?;
        after.split_whitespace().next()?.parse().ok()
    };
    swept_in(line)?;
    Some([field("listed_ms")?, field("ended_ms")?, field("rest_ms")?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The sweeper's line yields its count; other lines yield nothing.
    #[test]
    fn sweep_lines_are_recognised() {
        let line = "2026-11-22T11:37:57.496090Z  INFO keywardd::sweeper: sweep swept=20000 moved=0";
        assert_eq!(swept_in(line), Some(20000));
        assert_eq!(swept_in("INFO keywardd::sweeper: sweep swept=7"), Some(7));
        assert_eq!(swept_in("INFO keywardd::daemon: keywardd ready"), None);
        assert_eq!(swept_in("sweep failed swept=x"), None);
    }

    /// The closing line's step timings are read when all three are there.
    #[test]
    fn sweep_steps_are_read() {
        let line = "INFO keywardd::sweeper: sweep swept=9 moved=0 listed_ms=41.5 ended_ms=1200.25 \
                    rest_ms=3";
        assert_eq!(steps_in(line), Some([41.5, 1200.25, 3.0]));
        assert_eq!(
            steps_in("INFO keywardd::sweeper: sweep swept=9 moved=0"),
            None
        );
        assert_eq!(steps_in("INFO x: listed_ms=1 ended_ms=2 rest_ms=3"), None);
    }

    /// Only whole lines are returned; a partly written line waits for its end.
    #[test]
    fn partial_lines_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut file = File::create(&path).unwrap();
        let mut watch = LogWatch::open(&path).unwrap();
        write!(file, "one\ntw").unwrap();
        assert_eq!(watch.lines().unwrap(), ["one"]);
        assert!(watch.lines().unwrap().is_empty());
        writeln!(file, "o").unwrap();
        assert_eq!(watch.lines().unwrap(), ["two"]);
    }
}
