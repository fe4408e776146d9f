//! Reporting: rows printed as they arrive (a table, or one JSON line each with `--json`), then
//! the keyward/Redis ratios and the targets. The soak has its own lines, in [`soak`].

pub(crate) mod row;
pub(crate) mod soak;
mod table;
pub(crate) mod targets;

pub(crate) use row::{round, Row, Shape, Target, Workload};

use std::io::Write;

/// Prints rows as they come and keeps them for the closing verdicts.
#[derive(Debug)]
pub(crate) struct Reporter {
    json: bool,
    header_done: bool,
    rows: Vec<Row>,
}

impl Reporter {
    /// A reporter printing a table, or JSON lines when `json` is set.
    pub fn new(json: bool) -> Self {
        Reporter {
            json,
            header_done: false,
            rows: Vec::new(),
        }
    }

    /// Prints `row` at once and keeps it.
    pub fn emit(&mut self, row: Row) {
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
        self.rows.push(row);
    }

    /// Prints the ratios and targets: on stdout under the table, or on stderr in JSON mode,
    /// whose stdout carries rows only. With `all`, targets the rows cannot judge are listed too.
    pub fn finish(&self, all: bool) {
        let verdicts: Vec<_> = targets::evaluate(&self.rows)
            .into_iter()
            .filter(|v| all || v.measured != "-")
            .collect();
        if verdicts.is_empty() {
            return;
        }
        let mut text = String::from("\nratios and targets (issue #3):\n");
        for v in &verdicts {
            text.push_str(&format!("{v}\n"));
        }
        if self.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
}
