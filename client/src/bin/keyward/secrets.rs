//! Where secrets come from: the admin key (`$KEYWARD_ADMIN_KEY` or `--admin-key-file`) and
//! tokens (standard input when the argument is `-`, `$KEYWARD_TOKEN` when it is omitted, or the
//! argument itself, with a warning).
//!
//! Every source is trimmed of surrounding ASCII whitespace, so a trailing newline or space means
//! the same thing wherever the secret came from. Every error here names the source of a secret,
//! never its contents.

use crate::failure::Failure;
use keyward_client::{CredentialKind, Env, Error, ErrorCode, Secret};
use keyward_protocol::token::{self, MalformedToken};
use keyward_protocol::MAX_FRAME_LEN;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable holding the admin key.
pub(crate) const ADMIN_KEY_VAR: &str = "KEYWARD_ADMIN_KEY";

/// The environment variable holding the token when a command's TOKEN argument is omitted.
pub(crate) const TOKEN_VAR: &str = "KEYWARD_TOKEN";

/// The usage error for a command that needs an admin key when none was given.
pub(crate) const NEEDS_ADMIN_KEY: &str =
    "this command needs an admin key: set KEYWARD_ADMIN_KEY or pass --admin-key-file PATH";

/// The usage error for a command that needs a token when none was given.
pub(crate) const NEEDS_TOKEN: &str =
    "this command needs a token: pass '-' and the token on standard input, or set KEYWARD_TOKEN";

/// Printed on standard error when a token is given as an argument: every local user can read a
/// process's arguments in `/proc/PID/cmdline`.
pub(crate) const ARGV_WARNING: &str = "keyward: warning: a token given as an argument is visible to every local user (/proc/PID/cmdline); pass '-' and the token on standard input, or set KEYWARD_TOKEN";

/// The argument that means "read the token from standard input".
const STDIN_ARG: &str = "-";

/// The most bytes read from a key file or standard input. Nothing longer fits in a request
/// frame, and the cap keeps `--admin-key-file /dev/zero` from eating memory.
const READ_LIMIT: usize = MAX_FRAME_LEN;

/// Where the admin key came from, for messages that must say which key is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminKeySource {
    /// `$KEYWARD_ADMIN_KEY`.
    Env,
    /// `--admin-key-file PATH`.
    File(PathBuf),
}

impl fmt::Display for AdminKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminKeySource::Env => write!(f, "${ADMIN_KEY_VAR}"),
            AdminKeySource::File(path) => write!(f, "--admin-key-file {}", path.display()),
        }
    }
}

/// An admin key and where it came from.
#[derive(Debug)]
pub(crate) struct AdminKey {
    /// The key itself.
    pub(crate) secret: Secret,
    /// Its source, named when the key is refused.
    pub(crate) source: AdminKeySource,
}

impl AdminKey {
    /// `err` explained for a command run with this admin key. Such a command carries no other
    /// credential, so `CREDENTIAL_INVALID` can only be about the admin key, and the message
    /// says so and names its source. A `NOT_FOUND` gets a hint that the id may belong to the
    /// other environment, which an admin key never sees.
    pub(crate) fn explain(&self, err: Error) -> Failure {
        let Error::Daemon(mut wire) = err else {
            return Failure::Client(err);
        };
        let why = wire.message.take();
        wire.message = match wire.code {
            ErrorCode::CredentialInvalid => Some(format!(
                "the admin key from {} was refused: {}",
                self.source,
                why.as_deref().unwrap_or("it is unknown, revoked or expired")
            )),
            ErrorCode::NotFound => Some(format!(
                "{} in the {env} environment; the admin key from {} is a {env} key and sees only that environment, so the id may belong to the other one (use an admin key created with --env {other})",
                why.as_deref().unwrap_or("no such object"),
                self.source,
                env = self.env(),
                other = other_env(self.env()),
            )),
            _ => why,
        };
        Failure::Client(Error::Daemon(wire))
    }

    /// The environment the key belongs to, from its prefix.
    fn env(&self) -> Env {
        // `admin_key` only returns keys that parse.
        token::parse(self.secret.expose()).map_or(Env::Live, |info| info.env)
    }
}

/// The environment that is not `env`.
fn other_env(env: Env) -> Env {
    match env {
        Env::Live => Env::Test,
        Env::Test => Env::Live,
    }
}

/// `text` without surrounding ASCII whitespace: the newline `echo` and editors add, or a stray
/// space. Other whitespace is left for the token parser to name.
fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// The admin key: the trimmed contents of `file` if a file is given, else the trimmed value of
/// `$KEYWARD_ADMIN_KEY` (`env`). The file wins so that an explicit flag beats a variable left
/// over in the shell. A key that is not a well-formed admin key is refused here, naming its
/// source, rather than sent for the daemon to call "not a keyward token" as if it were about
/// some other token.
///
/// # Errors
/// A usage failure if neither source is set, the file cannot be read or is empty, the variable
/// is not UTF-8, or the key is malformed or not an admin key.
pub(crate) fn admin_key(file: Option<&Path>, env: Option<OsString>) -> Result<AdminKey, Failure> {
    let (text, source) = if let Some(path) = file {
        let source = AdminKeySource::File(path.to_owned());
        let what = format!("the admin key file {}", path.display());
        let text = File::open(path)
            .map_err(|e| Failure::Usage(format!("cannot read {what}: {e}")))
            .and_then(|f| read_limited(f, &what))?;
        if trimmed(&text).is_empty() {
            return Err(Failure::Usage(format!("{what} is empty")));
        }
        (text, source)
    } else {
        let text = env
            .map(|value| {
                value
                    .into_string()
                    .map_err(|_| Failure::Usage(format!("{ADMIN_KEY_VAR} is not valid UTF-8")))
            })
            .transpose()?
            .unwrap_or_default();
        // An empty variable is how shells unset things in scripts; treat it as absent.
        if trimmed(&text).is_empty() {
            return Err(Failure::Usage(NEEDS_ADMIN_KEY.to_owned()));
        }
        (text, AdminKeySource::Env)
    };
    let secret = Secret::new(trimmed(&text));
    match token::parse(secret.expose()) {
        // Not keyward's at all: say what an admin key looks like, rather than the parser's
        // "not a keyward token", which reads as if it were about some other token.
        Err(MalformedToken::NotKeyward | MalformedToken::UnknownKind) => {
            Err(Failure::Usage(format!(
                "the admin key from {source} is malformed: it does not start with 'kw_adm_'; an admin key reads kw_adm_live_ or kw_adm_test_ and 58 more characters, as `keyward admin-key create` prints it"
            )))
        }
        Err(malformed) => Err(Failure::Usage(format!(
            "the admin key from {source} is malformed: {malformed}"
        ))),
        Ok(info) if info.kind != CredentialKind::AdminKey => Err(Failure::Usage(format!(
            "the admin key from {source} is {}, not an admin key: admin keys start with 'kw_adm_' and come from `keyward admin-key create`",
            with_article(info.kind)
        ))),
        Ok(_) => Ok(AdminKey { secret, source }),
    }
}

/// `kind` with its indefinite article, as in "an api_token".
pub(crate) fn with_article(kind: CredentialKind) -> String {
    let name = kind.as_str();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// The command line itself, which every local user can read.
    Argument,
    /// Standard input, for an argument of `-`.
    Stdin,
    /// `$KEYWARD_TOKEN`, for an omitted argument.
    Env,
}

/// The token a command's TOKEN argument stands for, and where it came from: for `-`, what
/// `stdin` holds; with no argument, `$KEYWARD_TOKEN` (`env`); otherwise the argument itself.
/// Each is trimmed of surrounding ASCII whitespace.
///
/// # Errors
/// A usage failure if no token was given, or standard input or the variable cannot be read, is
/// not UTF-8 or is too long.
pub(crate) fn token(
    arg: Option<&str>,
    env: Option<OsString>,
    stdin: &mut dyn Read,
) -> Result<(Secret, TokenSource), Failure> {
    match arg {
        Some(STDIN_ARG) => {
            let text = read_limited(stdin, "the token from standard input")?;
            Ok((Secret::new(trimmed(&text)), TokenSource::Stdin))
        }
        Some(arg) => Ok((Secret::new(trimmed(arg)), TokenSource::Argument)),
        None => {
            let text = env
                .filter(|value| !value.is_empty())
                .ok_or_else(|| Failure::Usage(NEEDS_TOKEN.to_owned()))?
                .into_string()
                .map_err(|_| Failure::Usage(format!("{TOKEN_VAR} is not valid UTF-8")))?;
            if text.len() > READ_LIMIT {
                return Err(Failure::Usage(format!(
                    "cannot read {TOKEN_VAR}: it is longer than {READ_LIMIT} bytes"
                )));
            }
            Ok((Secret::new(trimmed(&text)), TokenSource::Env))
        }
    }
}

/// Reads all of `reader` as UTF-8, refusing more than [`READ_LIMIT`] bytes.
fn read_limited(reader: impl Read, what: &str) -> Result<String, Failure> {
    let mut text = String::new();
    // One byte over the limit is enough to tell "too long" from "exactly at the limit".
    reader
        .take(READ_LIMIT as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Usage(format!("cannot read {what}: {e}")))?;
    if text.len() > READ_LIMIT {
        return Err(Failure::Usage(format!(
            "cannot read {what}: it is longer than {READ_LIMIT} bytes"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_client::WireError;
    use std::io::{Cursor, Write};

    fn key() -> String {
        token::assemble(CredentialKind::AdminKey, Env::Live, &[3; token::RANDOM_LEN])
            .expose()
            .to_owned()
    }

    fn session() -> String {
        token::assemble(CredentialKind::Session, Env::Live, &[5; token::RANDOM_LEN])
            .expose()
            .to_owned()
    }

    fn usage_message<T: std::fmt::Debug>(result: Result<T, Failure>) -> String {
        match result {
            Err(Failure::Usage(m)) => m,
            other => panic!("expected a usage failure, got {other:?}"),
        }
    }

    fn key_file(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents).unwrap();
        file
    }

    /// The file's trimmed contents win over the variable.
    #[test]
    fn file_wins_and_is_trimmed() {
        let file = key_file(format!("  {}\n\n", key()).as_bytes());
        let found = admin_key(Some(file.path()), Some(session().into())).unwrap();
        assert_eq!(found.secret.expose(), key());
        assert_eq!(found.source, AdminKeySource::File(file.path().to_owned()));
    }

    /// Without a file the variable is used; empty or missing is the documented usage error.
    #[test]
    fn env_is_the_fallback() {
        let found = admin_key(None, Some(key().into())).unwrap();
        assert_eq!(found.secret.expose(), key());
        assert_eq!(found.source, AdminKeySource::Env);
        assert_eq!(usage_message(admin_key(None, None)), NEEDS_ADMIN_KEY);
        for blank in ["", " ", "\n"] {
            assert_eq!(
                usage_message(admin_key(None, Some(blank.into()))),
                NEEDS_ADMIN_KEY
            );
        }
    }

    /// A trailing newline or space is trimmed the same way in the variable, a file, a token
    /// argument, `$KEYWARD_TOKEN` and standard input.
    #[test]
    fn trailing_whitespace_is_trimmed_everywhere() {
        for padded in [
            format!("{}\n", key()),
            format!("{} ", key()),
            format!("\t{}\r\n", key()),
        ] {
            let from_env = admin_key(None, Some(padded.clone().into())).unwrap();
            assert_eq!(from_env.secret.expose(), key(), "{padded:?}");
            let file = key_file(padded.as_bytes());
            let from_file = admin_key(Some(file.path()), None).unwrap();
            assert_eq!(from_file.secret.expose(), key(), "{padded:?}");
            let none = &mut Cursor::new(Vec::new());
            let (t, _) = token(Some(&padded), None, none).unwrap();
            assert_eq!(t.expose(), key());
            let (t, _) = token(None, Some(padded.clone().into()), none).unwrap();
            assert_eq!(t.expose(), key());
            let stdin = &mut Cursor::new(padded.clone().into_bytes());
            let (t, _) = token(Some("-"), None, stdin).unwrap();
            assert_eq!(t.expose(), key());
        }
    }

    /// A malformed admin key, or another kind of token, is refused before anything is sent,
    /// with a message that blames the admin key and names where it came from.
    #[test]
    fn bad_admin_keys_name_their_source() {
        let msg = usage_message(admin_key(None, Some("hunter2".into())));
        assert!(
            msg.starts_with("the admin key from $KEYWARD_ADMIN_KEY is malformed: "),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(!msg.contains("not a keyward token"), "{msg}");
        assert!(msg.contains("'kw_adm_'"), "{msg}");
        let file = key_file(b"hunter2\n");
        let msg = usage_message(admin_key(Some(file.path()), None));
        assert!(
            msg.starts_with(&format!(
                "the admin key from --admin-key-file {} is malformed",
                file.path().display()
            )),
            "{msg}"
        );
        let msg = usage_message(admin_key(None, Some(session().into())));
        assert!(
            msg.contains("$KEYWARD_ADMIN_KEY is a session, not an admin key"),
            "{msg}"
        );
        let api = token::assemble(CredentialKind::ApiToken, Env::Test, &[1; token::RANDOM_LEN]);
        let msg = usage_message(admin_key(None, Some(api.expose().into())));
        assert!(msg.contains("is an api_token, not"), "{msg}");
    }

    /// The daemon's CREDENTIAL_INVALID for an admin-key command is reworded to blame the key,
    /// a NOT_FOUND points at the other environment, and other errors pass through untouched.
    #[test]
    fn refusals_are_explained() {
        let found = admin_key(None, Some(key().into())).unwrap();
        let invalid = Error::Daemon(WireError::new(
            ErrorCode::CredentialInvalid,
            "the credential is revoked",
        ));
        let failure = found.explain(invalid);
        assert_eq!(
            failure.message(),
            "the admin key from $KEYWARD_ADMIN_KEY was refused: the credential is revoked"
        );
        assert_eq!(failure.code(), "CREDENTIAL_INVALID");
        let not_found = Error::Daemon(WireError::new(ErrorCode::NotFound, "no such client"));
        let failure = found.explain(not_found);
        assert_eq!(failure.code(), "NOT_FOUND");
        let msg = failure.message();
        assert!(
            msg.starts_with("no such client in the live environment; "),
            "{msg}"
        );
        assert!(msg.contains("--env test"), "{msg}");
        let limit = Error::Daemon(WireError::new(ErrorCode::SessionLimit, "full"));
        assert_eq!(found.explain(limit).message(), "full");
    }

    /// A missing or blank file is a usage error that names the path but no contents.
    #[test]
    fn bad_files_are_usage_errors() {
        let missing = std::env::temp_dir().join("keyward-cli-test-no-such-file");
        let msg = usage_message(admin_key(Some(&missing), Some(key().into())));
        assert!(msg.starts_with("cannot read the admin key file"), "{msg}");
        let blank = key_file(b" \n\t");
        let msg = usage_message(admin_key(Some(blank.path()), None));
        assert!(msg.ends_with("is empty"), "{msg}");
        let mut binary = b"\xff\xfe".to_vec();
        binary.extend_from_slice(key().as_bytes());
        let binary = key_file(&binary);
        let msg = usage_message(admin_key(Some(binary.path()), None));
        assert!(!msg.contains(&key()), "{msg}");
    }

    /// `-` reads standard input, an omitted argument `$KEYWARD_TOKEN`, and anything else is
    /// the token itself, each reporting its source; nothing at all is a usage error.
    #[test]
    fn token_sources() {
        let none = &mut Cursor::new(Vec::new());
        let (t, from) = token(Some(" kw_x "), Some("kw_env".into()), none).unwrap();
        assert_eq!((t.expose(), from), ("kw_x", TokenSource::Argument));
        let stdin = &mut Cursor::new(b"\n kw_ses_live_abc \r\n".to_vec());
        let (t, from) = token(Some("-"), Some("kw_env".into()), stdin).unwrap();
        assert_eq!((t.expose(), from), ("kw_ses_live_abc", TokenSource::Stdin));
        let (t, from) = token(None, Some("kw_env\n".into()), none).unwrap();
        assert_eq!((t.expose(), from), ("kw_env", TokenSource::Env));
        assert_eq!(usage_message(token(None, None, none)), NEEDS_TOKEN);
        assert_eq!(
            usage_message(token(None, Some("".into()), none)),
            NEEDS_TOKEN
        );
    }

    /// Standard input and the variable beyond the frame limit are refused rather than sent.
    #[test]
    fn oversized_tokens_are_refused() {
        let mut big = Vec::new();
        big.write_all(&vec![b'a'; READ_LIMIT + 1]).unwrap();
        let msg = usage_message(token(Some("-"), None, &mut Cursor::new(big.clone())));
        assert!(msg.contains("longer than"), "{msg}");
        let exact = vec![b'a'; READ_LIMIT];
        let (t, _) = token(Some("-"), None, &mut Cursor::new(exact)).unwrap();
        assert_eq!(t.expose().len(), READ_LIMIT);
        let big = String::from_utf8(big).unwrap();
        let msg = usage_message(token(None, Some(big.into()), &mut Cursor::new(Vec::new())));
        assert!(msg.contains("longer than"), "{msg}");
    }

    /// Articles agree with the kind's name.
    #[test]
    fn articles() {
        assert_eq!(with_article(CredentialKind::ApiToken), "an api_token");
        assert_eq!(with_article(CredentialKind::AdminKey), "an admin_key");
        assert_eq!(with_article(CredentialKind::Session), "a session");
        assert_eq!(with_article(CredentialKind::TestKey), "a test_key");
    }
}
