//! The `keyward` CLI contract, exactly: exit statuses, stdin tokens, human output, and the
//! helpers `cli_json` checks JSON shapes with.

use crate::support::{binary, json, Daemon};
use keyward_client::Secret;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The keys of a JSON object, for exact-shape assertions.
pub(crate) fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// A set of names, to compare with [`keys`].
pub(crate) fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// An RFC 3339 UTC time to the second, e.g. `2026-11-23T11:00:00Z`.
pub(crate) fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 20
            && s.ends_with('Z')
            && s.as_bytes()[10] == b'T'
            && humantime::parse_rfc3339(s).is_ok()
    })
}

/// Runs the CLI and asserts exit 0 and one JSON object.
pub(crate) fn ok(
    daemon: &Daemon,
    args: &[&str],
    key: Option<&Secret>,
    stdin: Option<&str>,
) -> Value {
    let out = daemon.cli_with(args, key, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout).trim().lines().count();
    assert_eq!(lines, 1, "{args:?}: --json prints exactly one line");
    json(&out)
}

/// Runs the CLI and asserts the exit status and the JSON error code.
pub(crate) fn fails(
    daemon: &Daemon,
    args: &[&str],
    key: Option<&Secret>,
    status: i32,
    code: &str,
) -> String {
    let out = daemon.cli_with(args, key, None);
    assert_eq!(out.status.code(), Some(status), "{args:?}: {out:?}");
    let v = json(&out);
    assert_eq!(keys(&v), set(&["error"]));
    assert_eq!(keys(&v["error"]), set(&["code", "message"]));
    assert_eq!(v["error"]["code"], code, "{args:?}");
    v["error"]["message"].as_str().unwrap().to_owned()
}

/// Exit statuses: 1 for the daemon's errors, 2 for usage, 3 when the daemon is unreachable.
#[test]
fn exit_statuses() {
    let daemon = Daemon::start();
    let bogus = "kw_ses_live_0000000000000000000000000000000000000000000000000000000000";
    let msg = fails(
        &daemon,
        &["verify", bogus, "--json"],
        None,
        1,
        "CREDENTIAL_MALFORMED",
    );
    assert!(msg.contains("checksum"), "{msg}");
    let msg = fails(
        &daemon,
        &["verify", "TOKEN-abc", "--json"],
        None,
        1,
        "CREDENTIAL_MALFORMED",
    );
    assert!(msg.contains("part of the token"), "{msg}");
    fails(&daemon, &["client", "list", "--json"], None, 2, "USAGE");
    let key = Secret::new(
        json(&daemon.cli(&["admin-key", "create", "--label", "k", "--json"]))["secret"]
            .as_str()
            .unwrap(),
    );
    fails(
        &daemon,
        &["client", "create", "--scope", "photos", "--json"],
        Some(&key),
        2,
        "USAGE",
    );
    fails(
        &daemon,
        &["client", "show", "not-a-uuid", "--json"],
        Some(&key),
        2,
        "USAGE",
    );
    fails(&daemon, &["bogus-command", "--json"], None, 2, "USAGE");
    fails(
        &daemon,
        &[
            "client",
            "show",
            "00000000-0000-0000-0000-000000000001",
            "--json",
        ],
        Some(&key),
        1,
        "NOT_FOUND",
    );
    let out = daemon.cli(&["verify", "TOKEN-abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREDENTIAL_MALFORMED"));

    let gone = daemon.dir().join("nobody-here.sock");
    let out = daemon.cli_with(
        &["ping", "--json", "--socket", gone.to_str().unwrap()],
        None,
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json(&out)["error"]["code"], "UNREACHABLE");
}

/// The admin key can come from a file, and never has to be on the command line.
#[test]
fn admin_key_file() {
    let daemon = Daemon::start();
    let key = json(&daemon.cli(&["admin-key", "create", "--label", "k", "--json"]))["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = daemon.dir().join("admin.key");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let out = daemon.cli(&[
        "client",
        "list",
        "--json",
        "--admin-key-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["clients"], serde_json::json!([]));
}

/// Without `--json`, output is for people: durations, aligned fields, a shown-once warning.
#[test]
fn human_output() {
    let daemon = Daemon::start();
    let out = daemon.cli(&["admin-key", "create", "--label", "k"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("shown only once"), "{text}");
    let key = json(&daemon.cli(&["admin-key", "create", "--label", "k2", "--json"]))["secret"]
        .as_str()
        .map(Secret::new)
        .unwrap();
    let out = daemon.cli_with(&["client", "create", "--label", "alice"], Some(&key), None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // A fresh session: about a day to go, and about a week at most.
    assert!(
        text.contains("expires in 23h 59m") || text.contains("expires in 1d"),
        "{text}"
    );
    assert!(text.contains("6d 23h") || text.contains("7d"), "{text}");
    let out = daemon.cli(&["stats"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("live_sessions") || text.contains("live sessions"),
        "{text}"
    );
}

/// Runs the CLI against `daemon` with exactly `envs` set among keyward's variables, and `stdin`.
fn cli_env(daemon: &Daemon, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(binary("keyward"));
    cmd.args(args)
        .env("KEYWARD_SOCKET", &daemon.socket)
        .env_remove("KEYWARD_ADMIN_KEY")
        .env_remove("KEYWARD_TOKEN")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn keyward");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A token with a character outside the body's alphabet gets a message that names the real
/// alphabet (`0-9a-v`, not a-z) and counts positions from 1.
#[test]
fn bad_character_message_names_the_alphabet() {
    let daemon = Daemon::start();
    let mut token = "kw_ses_live_".to_owned();
    token.push('w');
    token.push_str(&"0".repeat(57));
    let out = cli_env(&daemon, &["verify", "-"], &[], &format!("{token}\n"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stderr(&out);
    assert!(text.contains("CREDENTIAL_MALFORMED"), "{text}");
    assert!(text.contains("position 13 (counting from 1)"), "{text}");
    assert!(text.contains("0-9 and a-v"), "{text}");
    assert!(!text.contains("a-z"), "{text}");
    let out = cli_env(&daemon, &["verify", "-"], &[], &format!("\"{token}\""));
    assert!(stderr(&out).contains("wrapped in quotes"), "{out:?}");
}

/// A bad admin key is blamed as the admin key, naming where it came from, whether it is
/// malformed, of another kind, or refused by the daemon; a trailing newline is trimmed as on
/// standard input.
#[test]
fn admin_key_errors_blame_the_admin_key() {
    let daemon = Daemon::start();
    let out = cli_env(
        &daemon,
        &["client", "list"],
        &[("KEYWARD_ADMIN_KEY", "hunter2")],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(&out);
    assert!(
        text.starts_with("keyward: the admin key from $KEYWARD_ADMIN_KEY is malformed: "),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("not a keyward token"), "{text}");

    let key = json(&daemon.cli(&["admin-key", "create", "--label", "k", "--json"]))["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = json(&cli_env(
        &daemon,
        &["client", "create", "--json"],
        &[("KEYWARD_ADMIN_KEY", &format!("{key}\n"))],
        "",
    ));
    let session = created["session"]["token"].as_str().unwrap().to_owned();
    let file = daemon.dir().join("not-an-admin.key");
    std::fs::write(&file, format!("{session} \n")).unwrap();
    let out = cli_env(
        &daemon,
        &["client", "list", "--admin-key-file", file.to_str().unwrap()],
        &[],
        "",
    );
    let text = stderr(&out);
    assert!(
        text.contains(&format!(
            "the admin key from --admin-key-file {} is a session, not an admin key",
            file.display()
        )),
        "{text}"
    );

    let id = json(&daemon.cli(&["admin-key", "list", "--json"]))["admin_keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        daemon.cli(&["admin-key", "revoke", &id]).status.code(),
        Some(0)
    );
    let out = cli_env(
        &daemon,
        &["client", "list"],
        &[("KEYWARD_ADMIN_KEY", &key)],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).starts_with(
            "keyward: CREDENTIAL_INVALID: the admin key from $KEYWARD_ADMIN_KEY was refused: "
        ),
        "{out:?}"
    );
}

/// Every token argument also comes from standard input or `KEYWARD_TOKEN`, silently; on the
/// command line it still works, with a one-line warning on stderr.
#[test]
fn tokens_from_stdin_env_or_argv_with_a_warning() {
    let daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(keyward_client::Env::Live);
    let created = admin.client_create(None, None, Default::default()).unwrap();
    let token = created.session.token.expose().to_owned();
    let warning = "warning: a token given as an argument is visible to every local user";
    for command in ["verify", "logout"] {
        let fresh = admin.session_issue(created.client_id).unwrap().token;
        let fresh = fresh.expose();
        let out = cli_env(&daemon, &[command, "-"], &[], &format!("{fresh}\n"));
        assert_eq!(out.status.code(), Some(0), "{command} -: {out:?}");
        assert!(!stderr(&out).contains(warning), "{out:?}");
        let fresh = admin.session_issue(created.client_id).unwrap().token;
        let out = cli_env(
            &daemon,
            &[command],
            &[("KEYWARD_TOKEN", &format!("{} ", fresh.expose()))],
            "",
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command} $KEYWARD_TOKEN: {out:?}"
        );
        assert!(stderr(&out).is_empty(), "{out:?}");
        let fresh = admin.session_issue(created.client_id).unwrap().token;
        let out = cli_env(&daemon, &[command, fresh.expose()], &[], "");
        assert_eq!(out.status.code(), Some(0), "{command} TOKEN: {out:?}");
        let text = stderr(&out);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(warning), "{text}");
        assert!(!text.contains(fresh.expose()), "{text}");
        let out = cli_env(&daemon, &[command, "--json"], &[], "");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command} without a token: {out:?}"
        );
        assert!(json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("KEYWARD_TOKEN"));
    }
    let out = cli_env(&daemon, &["verify", "-"], &[], &token);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A UUID argument that is not one says which argument must be a UUID, with an example, and a
/// test-env admin key that misses a live client is told the id may be in the other environment.
#[test]
fn id_errors_explain_themselves() {
    let daemon = Daemon::start();
    let (mut live, _) = daemon.admin_client(keyward_client::Env::Live);
    let (_, test_key) = daemon.admin_client(keyward_client::Env::Test);
    let out = cli_env(
        &daemon,
        &["client", "show", "lol"],
        &[("KEYWARD_ADMIN_KEY", test_key.expose())],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(&out);
    assert!(text.contains("CLIENT_ID must be a UUID such as "), "{text}");
    assert!(!text.contains("invalid character"), "{text}");
    let out = cli_env(&daemon, &["revoke", "12", "--json"], &[], "");
    let msg = json(&out)["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("CREDENTIAL_ID must be a UUID such as "),
        "{msg}"
    );

    let client = live
        .client_create(None, None, Default::default())
        .unwrap()
        .client_id
        .to_string();
    let out = cli_env(
        &daemon,
        &["client", "show", &client],
        &[("KEYWARD_ADMIN_KEY", test_key.expose())],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stderr(&out);
    assert!(
        text.starts_with("keyward: NOT_FOUND: no such client in the test environment"),
        "{text}"
    );
    assert!(text.contains("may belong to the other one"), "{text}");
}

/// `keyward completions SHELL` prints a script for each shell clap_complete knows.
#[test]
fn completions_print_a_script() {
    let daemon = Daemon::start();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = cli_env(&daemon, &["completions", shell], &[], "");
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("revoke-sessions"), "{shell}");
    }
    let out = cli_env(&daemon, &["completions", "tcsh"], &[], "");
    assert_eq!(out.status.code(), Some(2));
}
