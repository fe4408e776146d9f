//! What went wrong, as the user sees it: a code, a message and an exit status.
//!
//! One exit status each: the command line was wrong (2, nothing was sent), the daemon said no
//! or a local file could not be written (1, with its code), or the daemon could not be asked
//! (3).

use keyward_client::{Error, ErrorCode};
use std::ffi::OsString;
use std::path::PathBuf;

/// Exit status when the daemon reported an error, or a local file could not be written.
pub(crate) const EXIT_DAEMON: u8 = 1;
/// Exit status for a usage error, as clap uses for its own.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status when the daemon could not be reached.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;

/// The JSON error code of a usage error.
pub(crate) const USAGE_CODE: &str = "USAGE";
/// The JSON error code when a local file could not be written.
pub(crate) const IO_CODE: &str = "IO";
/// The JSON error code when the daemon could not be reached.
pub(crate) const UNREACHABLE_CODE: &str = "UNREACHABLE";
/// The JSON error code when the socket's listener runs as an untrusted uid.
pub(crate) const UNTRUSTED_DAEMON_CODE: &str = "UNTRUSTED_DAEMON";

/// Stands in for a command-line argument that looks like a secret in clap's error text.
const REDACTED: &str = "<redacted>";

/// Shortest run of token-body characters treated as a secret: a token body is 58 characters,
/// and a UUID has dashes, so ids are never mistaken for one.
const SECRET_MIN_LEN: usize = 32;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// clap refused the command line.
    Arguments {
        /// The gist, for JSON: clap's first paragraph without its `error: ` prefix.
        message: String,
        /// clap's full text (usage line and hint included), for people.
        rendered: String,
    },
    /// An argument or local input was wrong; nothing was sent.
    Usage(String),
    /// A local file (a backup) could not be written; the command line was fine.
    Io(String),
    /// The daemon answered with an error, or could not be reached.
    Client(Error),
    /// No trusted daemon could be reached at the sockets considered.
    Connect {
        /// Why the chosen socket failed.
        error: Error,
        /// Every socket path considered, the chosen one among them.
        tried: Vec<PathBuf>,
    },
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::Client(err)
    }
}

impl Failure {
    /// A clap error, with every argument that looks like a secret cut out of its text: clap
    /// echoes offending values, and a token pasted in the wrong place must not reach a terminal
    /// log or CI output.
    pub(crate) fn from_clap(err: &clap::Error, args: &[OsString]) -> Failure {
        let rendered = redact(&err.render().to_string(), args);
        let first_paragraph: Vec<&str> = rendered
            .lines()
            .take_while(|line| !line.trim().is_empty())
            .map(str::trim)
            .collect();
        let joined = first_paragraph.join(" ");
        let message = joined.strip_prefix("error: ").unwrap_or(&joined).to_owned();
        Failure::Arguments { message, rendered }
    }

    /// The process exit status.
    pub(crate) fn exit_status(&self) -> u8 {
        match self {
            Failure::Arguments { .. } | Failure::Usage(_) => EXIT_USAGE,
            Failure::Io(_) => EXIT_DAEMON,
            Failure::Connect { .. } => EXIT_UNREACHABLE,
            // Anything but a daemon's answer, an untrusted daemon and a broken connection
            // included: the CLI could not get an answer.
            Failure::Client(e) if e.code().is_none() => EXIT_UNREACHABLE,
            Failure::Client(_) => EXIT_DAEMON,
        }
    }

    /// The error code in JSON: the daemon's code, `USAGE`, `UNREACHABLE` or
    /// `UNTRUSTED_DAEMON`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Failure::Arguments { .. } | Failure::Usage(_) => USAGE_CODE,
            Failure::Io(_) => IO_CODE,
            Failure::Connect {
                error: Error::UntrustedDaemon { .. },
                ..
            }
            | Failure::Client(Error::UntrustedDaemon { .. }) => UNTRUSTED_DAEMON_CODE,
            Failure::Connect { .. } => UNREACHABLE_CODE,
            Failure::Client(e) => e.code().map_or(UNREACHABLE_CODE, ErrorCode::as_str),
        }
    }

    /// The explanation for people, without the code.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Arguments { message, .. } => message.clone(),
            Failure::Usage(message) | Failure::Io(message) => message.clone(),
            Failure::Client(Error::Daemon(e)) => match &e.message {
                Some(m) => m.clone(),
                None => describe(e.code).to_owned(),
            },
            Failure::Connect { error, tried } => crate::socket::explain(error, tried),
            Failure::Client(e @ (Error::Connect { .. } | Error::UntrustedDaemon { .. })) => {
                crate::socket::explain(e, &[])
            }
            Failure::Client(e) => e.to_string(),
        }
    }

    /// The whole text for standard error: `keyward: <message>`, with the code first for daemon
    /// errors and an untrusted daemon, or clap's own text for a bad command line.
    pub(crate) fn human(&self) -> String {
        match self {
            Failure::Arguments { rendered, .. } => rendered.trim_end().to_owned(),
            Failure::Client(Error::Daemon(e)) => format!("keyward: {}: {}", e.code, self.message()),
            // Named like a daemon's code, so a person (or a script reading stderr) sees why.
            Failure::Connect {
                error: Error::UntrustedDaemon { .. },
                ..
            } => format!("keyward: {UNTRUSTED_DAEMON_CODE}: {}", self.message()),
            _ => format!("keyward: {}", self.message()),
        }
    }
}

/// A default explanation for a daemon error that came without text.
fn describe(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::CredentialMalformed => "the token is not well formed",
        ErrorCode::CredentialInvalid => "the credential is unknown, revoked or expired",
        ErrorCode::CredentialDisabled => "the credential is disabled; ask its operator",
        ErrorCode::Forbidden => "not allowed",
        ErrorCode::SessionLimit => "the client already holds as many sessions as it may",
        ErrorCode::Conflict => {
            "the external id is taken in this environment; pick another, or find its holder"
        }
        ErrorCode::NotFound => "no such object in this environment",
        ErrorCode::BadRequest => "the daemon refused the request as invalid",
        ErrorCode::Unavailable => "the daemon cannot serve this now; retrying may work",
        ErrorCode::Internal => "the daemon hit an internal error",
        ErrorCode::Unknown => "the daemon answered with an error code this keyward does not know",
    }
}

/// `text` with every argument in `args` that looks like a secret (whole, or after a `--flag=`)
/// replaced by [`REDACTED`].
fn redact(text: &str, args: &[OsString]) -> String {
    let mut secrets: Vec<String> = Vec::new();
    for arg in args {
        let arg = arg.to_string_lossy();
        let value = arg.split_once('=').map(|(_, v)| v.to_owned());
        for candidate in std::iter::once(arg.into_owned()).chain(value) {
            if looks_secret(&candidate) {
                secrets.push(candidate);
            }
        }
    }
    // Longest first, so a secret that contains another is cut out whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), REDACTED)
    })
}

/// Whether an argument may be a token or key: anything mentioning keyward's `kw_` prefix, or a
/// long run of the characters token bodies are made of.
fn looks_secret(arg: &str) -> bool {
    arg.contains("kw_")
        || (arg.len() >= SECRET_MIN_LEN
            && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use keyward_client::WireError;

    const TOKEN: &str = "kw_ses_live_0123456789abcdefghijklmnopqrstuv0123456789abcdefghijklmnop";

    fn clap_failure(args: &[&str]) -> Failure {
        let args: Vec<OsString> = std::iter::once("keyward")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let err = Cli::try_parse_from(&args).unwrap_err();
        Failure::from_clap(&err, &args)
    }

    fn io_error() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "gone")
    }

    /// Each kind of failure maps to its documented exit status and code.
    #[test]
    fn exit_statuses_and_codes() {
        let cases = [
            (Failure::Usage("x".into()), EXIT_USAGE, "USAGE"),
            (Failure::Io("x".into()), EXIT_DAEMON, "IO"),
            (clap_failure(&["nope"]), EXIT_USAGE, "USAGE"),
            (
                Failure::Client(Error::Daemon(WireError::new(
                    ErrorCode::CredentialInvalid,
                    "m",
                ))),
                EXIT_DAEMON,
                "CREDENTIAL_INVALID",
            ),
            (
                Failure::Client(Error::Connect {
                    path: "/nowhere".into(),
                    source: io_error(),
                }),
                EXIT_UNREACHABLE,
                "UNREACHABLE",
            ),
            (
                Failure::Connect {
                    error: Error::UntrustedDaemon {
                        path: "/tmp/keyward-1000/keyward.sock".into(),
                        uid: 1001,
                    },
                    tried: vec!["/tmp/keyward-1000/keyward.sock".into()],
                },
                EXIT_UNREACHABLE,
                "UNTRUSTED_DAEMON",
            ),
            (
                Failure::Client(Error::Io(io_error())),
                EXIT_UNREACHABLE,
                "UNREACHABLE",
            ),
            (
                Failure::Client(Error::Protocol("closed".into())),
                EXIT_UNREACHABLE,
                "UNREACHABLE",
            ),
        ];
        for (failure, status, code) in cases {
            assert_eq!(failure.exit_status(), status, "{failure:?}");
            assert_eq!(failure.code(), code, "{failure:?}");
        }
        assert_eq!((EXIT_DAEMON, EXIT_USAGE, EXIT_UNREACHABLE), (1, 2, 3));
    }

    /// Every daemon code survives into the JSON code unchanged.
    #[test]
    fn daemon_codes_pass_through() {
        for code in ErrorCode::ALL {
            let failure = Failure::Client(Error::Daemon(WireError {
                code,
                message: None,
            }));
            assert_eq!(failure.code(), code.as_str());
            assert_eq!(failure.exit_status(), EXIT_DAEMON);
            assert!(!failure.message().is_empty());
        }
    }

    /// Daemon errors print with their code; the rest with just the message.
    #[test]
    fn human_text() {
        let daemon = Failure::Client(Error::Daemon(WireError::new(
            ErrorCode::CredentialInvalid,
            "the token is revoked",
        )));
        assert_eq!(
            daemon.human(),
            "keyward: CREDENTIAL_INVALID: the token is revoked"
        );
        assert_eq!(daemon.message(), "the token is revoked");
        let usage = Failure::Usage("bad".into());
        assert_eq!(usage.human(), "keyward: bad");
        let connect = Failure::Client(Error::Connect {
            path: "/run/keyward/keyward.sock".into(),
            source: io_error(),
        });
        assert!(connect
            .human()
            .starts_with("keyward: cannot reach keywardd at /run/keyward/keyward.sock"));
    }

    /// clap's message becomes one line for JSON and keeps its full text for people.
    #[test]
    fn clap_messages() {
        let failure = clap_failure(&["admin-key", "create"]);
        assert_eq!(
            failure.message(),
            "the following required arguments were not provided: --label <LABEL>"
        );
        assert!(failure.human().contains("Usage:"), "{}", failure.human());
        let failure = clap_failure(&["client", "create", "--scope", "photos"]);
        assert!(failure
            .message()
            .starts_with("invalid value 'photos' for '--scope"));
        assert!(failure.message().contains("NAME=LEVEL"));
    }

    /// A token pasted where clap does not expect it is not echoed back.
    #[test]
    fn clap_errors_do_not_echo_tokens() {
        for args in [
            &["logout", "-", TOKEN][..],
            &["stats", TOKEN][..],
            &["revoke", TOKEN][..],
            &["client", "create", &format!("--label={TOKEN}"), "--bogus"][..],
            &["verify", TOKEN, "--scope", "photos"][..],
            &["revoke", &TOKEN[12..]][..],
        ] {
            let failure = clap_failure(args);
            let body = &TOKEN[20..40];
            assert!(!failure.human().contains(body), "{}", failure.human());
            assert!(!failure.message().contains(body), "{}", failure.message());
        }
        let failure = clap_failure(&["stats", TOKEN]);
        assert!(
            failure.message().contains(REDACTED),
            "{}",
            failure.message()
        );
    }

    /// Ids and ordinary words are not mistaken for secrets.
    #[test]
    fn ordinary_arguments_are_kept() {
        assert!(!looks_secret("0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978"));
        assert!(!looks_secret("photos=write"));
        assert!(looks_secret("kw_"));
        assert!(looks_secret(&TOKEN[12..]));
    }
}
