//! Reporting: rows printed as they arrive (a table, or one JSON line each with `--json`), then
//! the keyward/Redis ratios and the targets. The soak has its own lines, in [`soak`].
//! With `--repeat`, every run's rows are kept apart and [`spread`] sums the runs up.

pub(crate) mod row;
pub(crate) mod soak;
mod spread;
mod table;
pub(crate) mod targets;

pub(crate) use row::{round, Row, Shape, Target, Workload};

use std::io::Write;

/// Prints rows as they come and keeps them for the closing verdicts.
#[derive(Debug)]
pub(crate) struct Reporter {
    json: bool,
    header_done: bool,
    /// Each run's rows; one run unless `--repeat`.
    runs: Vec<Vec<Row>>,
    /// How many runs there will be.
    repeat: usize,
}

impl Reporter {
    /// A reporter printing a table, or JSON lines when `json` is set.
    pub fn new(json: bool) -> Self {
        Reporter {
            json,
            header_done: false,
            runs: vec![Vec::new()],
            repeat: 1,
        }
    }

    /// Starts run `run` (from 1) of `of`: later rows belong to it. A no-op for a single run.
    pub fn start_run(&mut self, run: usize, of: usize) {
        self.repeat = of;
        if of <= 1 {
            return;
        }
        if run > 1 {
            self.runs.push(Vec::new());
        }
        if !self.json {
            println!("\nrun {run} of {of}");
            self.header_done = false;
        }
    }

    /// Prints `row` at once and keeps it.
    pub fn emit(&mut self, mut row: Row) {
        if self.repeat > 1 {
            row.extra.run = Some(self.runs.len());
        }
        let mut out = std::io::stdout().lock();
        if self.json {
            // A row is plain data; serialising it cannot fail.
            let line = serde_json::to_string(&row).expect("rows serialise");
            let _ = writeln!(out, "{line}");
        } else {
            if !self.header_done {
                let _ = writeln!(out, "{}", table::header());
                self.header_done = true;
            }
            let _ = writeln!(out, "{}", table::line(&row));
        }
        let _ = out.flush();
        if let Some(why) = &row.skipped {
            if self.json {
                eprintln!(
                    "keyward-bench: {} on {} skipped: {why}",
                    row.workload, row.target
                );
            }
        }
        self.runs
            .last_mut()
            .expect("there is always a run")
            .push(row);
    }

    /// Prints the ratios and targets: on stdout under the table, or on stderr in JSON mode,
    /// whose stdout carries rows only. With `all`, targets the rows cannot judge are listed too.
    /// With several runs, each run's verdicts come first, then the spread of each figure.
    pub fn finish(&self, all: bool) {
        let verdicts: Vec<Vec<_>> = self
            .runs
            .iter()
            .map(|rows| {
                targets::evaluate(rows)
                    .into_iter()
                    .filter(|v| all || v.measured != "-")
                    .collect()
            })
            .collect();
        if verdicts.iter().all(Vec::is_empty) {
            return;
        }
        let mut text = String::new();
        for (i, run) in verdicts.iter().enumerate() {
            text.push_str("\nratios and targets (issues #3, 14, 15 and 16)");
            if verdicts.len() > 1 {
                text.push_str(&format!(", run {} of {}", i + 1, verdicts.len()));
            }
            text.push_str(":\n");
            for v in run {
                text.push_str(&format!("{v}\n"));
            }
        }
        if verdicts.len() > 1 {
            text.push_str(&format!(
                "\nspread over {} runs (min / median / max of each ratio, or seconds):\n",
                verdicts.len()
            ));
            for s in spread::over(&verdicts) {
                text.push_str(&format!("{s}\n"));
            }
        }
        if self.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
}
