//! Where results go: with `--json`, one JSON line on stdout for success and failure alike;
//! otherwise text for people on stdout, and errors on stderr.

use crate::failure::Failure;
use crate::run::Outcome;
use crate::{human, json, when};
use std::ffi::OsString;
use std::io::{self, Write};

/// The flag that selects JSON, looked for by hand when clap could not parse the command line.
const JSON_FLAG: &str = "--json";

/// How output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per run, on stdout.
    Json,
    /// Text for people.
    Human,
}

impl Format {
    /// The format chosen by a parsed `--json`.
    pub(crate) fn new(json: bool) -> Format {
        if json {
            Format::Json
        } else {
            Format::Human
        }
    }

    /// The format for a command line clap refused: JSON if `--json` appears before any `--`.
    pub(crate) fn from_raw_args(args: &[OsString]) -> Format {
        let json = args
            .iter()
            .skip(1)
            .take_while(|arg| *arg != "--")
            .any(|arg| arg == JSON_FLAG);
        Format::new(json)
    }

    /// Prints a successful outcome.
    pub(crate) fn print_outcome(self, outcome: &Outcome) {
        let text = match (self, outcome) {
            (Format::Json, Outcome::Reply(reply) | Outcome::Deleted { reply, .. }) => {
                json::render_reply(reply) + "\n"
            }
            (Format::Json, Outcome::Backup(done)) => json::render_backup(done) + "\n",
            (Format::Json, Outcome::Ping { version, socket }) => {
                json::render_ping(version, socket) + "\n"
            }
            (Format::Human, Outcome::Ping { version, socket }) => {
                human::render_ping(version, socket)
            }
            (Format::Human, Outcome::Reply(reply)) => human::render_reply(reply, when::now()),
            (Format::Human, Outcome::Backup(done)) => human::render_backup(done),
            (Format::Human, Outcome::Deleted { reply, client_id }) => {
                human::render_deleted(*client_id, reply)
            }
        };
        write_out(&mut io::stdout(), &text);
    }

    /// Prints a failure: JSON on stdout, or `keyward: …` on stderr.
    pub(crate) fn print_failure(self, failure: &Failure) {
        match self {
            Format::Json => write_out(&mut io::stdout(), &(json::render_failure(failure) + "\n")),
            Format::Human => write_out(&mut io::stderr(), &(failure.human() + "\n")),
        }
    }
}

/// Writes `text` and flushes, ignoring failures: a closed pipe (`keyward … | head`) means the
/// reader has gone and there is no one left to tell, and the exit status still reports the
/// outcome.
fn write_out(stream: &mut impl Write, text: &str) {
    let _ = stream
        .write_all(text.as_bytes())
        .and_then(|()| stream.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// `--json` anywhere before `--` selects JSON for clap's errors; after `--` it is a value.
    #[test]
    fn raw_json_detection() {
        assert_eq!(
            Format::from_raw_args(&args(&["keyward", "--json", "x"])),
            Format::Json
        );
        assert_eq!(
            Format::from_raw_args(&args(&["keyward", "x", "--json"])),
            Format::Json
        );
        assert_eq!(
            Format::from_raw_args(&args(&["keyward", "x"])),
            Format::Human
        );
        assert_eq!(
            Format::from_raw_args(&args(&["keyward", "verify", "--", "--json"])),
            Format::Human
        );
        assert_eq!(
            Format::from_raw_args(&args(&["--json"])),
            Format::Human,
            "argv[0]"
        );
    }
}
