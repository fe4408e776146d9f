//! Where secrets come from: the admin key (`$KEYWARD_ADMIN_KEY` or `--admin-key-file`) and
//! tokens (an argument, or standard input when the argument is `-`).
//!
//! Every error here names the source of a secret, never its contents.

use crate::failure::Failure;
use keyward_client::Secret;
use keyward_protocol::MAX_FRAME_LEN;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The environment variable holding the admin key.
pub(crate) const ADMIN_KEY_VAR: &str = "KEYWARD_ADMIN_KEY";

/// The usage error for a command that needs an admin key when none was given.
pub(crate) const NEEDS_ADMIN_KEY: &str =
    "this command needs an admin key: set KEYWARD_ADMIN_KEY or pass --admin-key-file PATH";

/// The argument that means "read the token from standard input".
const STDIN_ARG: &str = "-";

/// The most bytes read from a key file or standard input. Nothing longer fits in a request
/// frame, and the cap keeps `--admin-key-file /dev/zero` from eating memory.
const READ_LIMIT: usize = MAX_FRAME_LEN;

/// The admin key: the contents of `file` with surrounding whitespace trimmed if a file is given,
/// else the value of `$KEYWARD_ADMIN_KEY` (`env`). The file wins so that an explicit flag beats a
/// variable left over in the shell.
///
/// # Errors
/// A usage failure if neither source is set, the file cannot be read or is empty, or the
/// variable is not UTF-8.
pub(crate) fn admin_key(file: Option<&Path>, env: Option<OsString>) -> Result<Secret, Failure> {
    if let Some(path) = file {
        let what = format!("the admin key file {}", path.display());
        let text = File::open(path)
            .map_err(|e| Failure::Usage(format!("cannot read {what}: {e}")))
            .and_then(|f| read_limited(f, &what))?;
        let key = text.trim();
        if key.is_empty() {
            return Err(Failure::Usage(format!("{what} is empty")));
        }
        return Ok(Secret::new(key));
    }
    match env {
        // An empty variable is how shells unset things in scripts; treat it as absent.
        Some(value) if !value.is_empty() => value
            .into_string()
            .map(Secret::new)
            .map_err(|_| Failure::Usage(format!("{ADMIN_KEY_VAR} is not valid UTF-8"))),
        _ => Err(Failure::Usage(NEEDS_ADMIN_KEY.to_owned())),
    }
}

/// The token an argument stands for: the argument itself, passed as is (the daemon explains
/// whitespace and other mistakes), or for `-` what `stdin` holds with surrounding whitespace
/// trimmed, since `echo` and editors add a final newline.
///
/// # Errors
/// A usage failure if standard input cannot be read, is not UTF-8 or is too long.
pub(crate) fn token(arg: &str, stdin: &mut dyn Read) -> Result<Secret, Failure> {
    if arg != STDIN_ARG {
        return Ok(Secret::new(arg));
    }
    let text = read_limited(stdin, "the token from standard input")?;
    Ok(Secret::new(text.trim()))
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
    use std::io::{Cursor, Write};

    const KEY: &str = "kw_adm_live_secretsecret";

    fn usage_message(result: Result<Secret, Failure>) -> String {
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
        let file = key_file(format!("  {KEY}\n\n").as_bytes());
        let key = admin_key(Some(file.path()), Some("kw_adm_live_other".into())).unwrap();
        assert_eq!(key.expose(), KEY);
    }

    /// Without a file the variable is used; empty or missing is the documented usage error.
    #[test]
    fn env_is_the_fallback() {
        assert_eq!(admin_key(None, Some(KEY.into())).unwrap().expose(), KEY);
        assert_eq!(usage_message(admin_key(None, None)), NEEDS_ADMIN_KEY);
        assert_eq!(
            usage_message(admin_key(None, Some("".into()))),
            NEEDS_ADMIN_KEY
        );
    }

    /// A missing or blank file is a usage error that names the path but no contents.
    #[test]
    fn bad_files_are_usage_errors() {
        let missing = std::env::temp_dir().join("keyward-cli-test-no-such-file");
        let msg = usage_message(admin_key(Some(&missing), Some(KEY.into())));
        assert!(msg.starts_with("cannot read the admin key file"), "{msg}");
        let blank = key_file(b" \n\t");
        let msg = usage_message(admin_key(Some(blank.path()), None));
        assert!(msg.ends_with("is empty"), "{msg}");
        let mut binary = b"\xff\xfe".to_vec();
        binary.extend_from_slice(KEY.as_bytes());
        let binary = key_file(&binary);
        let msg = usage_message(admin_key(Some(binary.path()), None));
        assert!(!msg.contains(KEY), "{msg}");
    }

    /// A token argument is passed as is; `-` reads standard input, trimmed.
    #[test]
    fn token_from_arg_or_stdin() {
        let mut empty = Cursor::new(Vec::new());
        assert_eq!(token(" kw_x ", &mut empty).unwrap().expose(), " kw_x ");
        let mut stdin = Cursor::new(b"\n kw_ses_live_abc \r\n".to_vec());
        assert_eq!(token("-", &mut stdin).unwrap().expose(), "kw_ses_live_abc");
    }

    /// Standard input beyond the frame limit is refused rather than sent.
    #[test]
    fn oversized_stdin_is_refused() {
        let mut big = Vec::new();
        big.write_all(&vec![b'a'; READ_LIMIT + 1]).unwrap();
        let msg = usage_message(token("-", &mut Cursor::new(big)));
        assert!(msg.contains("longer than"), "{msg}");
        let exact = vec![b'a'; READ_LIMIT];
        assert_eq!(
            token("-", &mut Cursor::new(exact)).unwrap().expose().len(),
            READ_LIMIT
        );
    }
}
