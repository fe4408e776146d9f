//! The examples of README.md's "Use from any language", run against the real daemon's
//! `http.sock`: the `curl` block in bash, and the Python and Node demos as real `python3` and
//! `node` processes, each of which must finish, print every step, print no token, and leave
//! behind what it says it created.
//!
//! A missing program fails the test rather than skipping it: `scripts/test` installs them.

use crate::support::{json, require_root, Daemon, ForeignDaemon, NOBODY};
use keyward_client::Env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What each demo prints, in order, with ids cut off where they vary.
const STEPS: [&str; 7] = [
    "created client ",
    "verified session ",
    "refreshed client ",
    "created API token ",
    "scope catalog-a=read: allowed",
    "scope catalog-a=write: refused (403 FORBIDDEN)",
    "done",
];

/// The README section whose first `sh` block is run.
const SECTION: &str = "## Use from any language";

/// The socket path the README's block names, replaced by the test daemon's.
const README_SOCKET: &str = "/run/keyward/http.sock";

/// The repository's `examples/` directory.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Runs `interpreter script` against `d` with a fresh live admin key.
fn run_demo(d: &Daemon, interpreter: &str, script: &Path) -> Output {
    let (_, key) = d.admin_client(Env::Live);
    demo_command(interpreter, script, &d.socket.with_file_name("http.sock"))
        .env("KEYWARD_ADMIN_KEY", key.expose())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {interpreter} ({e}): scripts/test installs it (Debian's python3 and nodejs)")
        })
}

/// The command that runs `interpreter script` against the HTTP socket `socket`.
fn demo_command(interpreter: &str, script: &Path, socket: &Path) -> Command {
    let mut cmd = Command::new(interpreter);
    cmd.arg(script)
        .env("KEYWARD_HTTP_SOCKET", socket)
        .env_remove("KEYWARD_DAEMON_UID")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Asserts the demo succeeded with every step printed and no token, and that the client it
/// created exists with the two sessions it issued.
fn assert_demo(d: &Daemon, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({}): {stdout}{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), STEPS.len(), "{stdout}");
    for (line, step) in lines.iter().zip(STEPS) {
        assert!(line.starts_with(step), "expected {step:?}, got {line:?}");
    }
    assert!(
        !stdout.contains("kw_") && !stderr.contains("kw_"),
        "a demo printed a token: {stdout}{stderr}"
    );

    let client_id = lines[0]
        .strip_prefix("created client ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    let (_, key) = d.admin_client(Env::Live);
    let show = d.cli_with(&["client", "show", client_id, "--json"], Some(&key), None);
    let show = json(&show);
    assert_eq!(show["label"], "demo", "{show}");
    assert_eq!(show["env"], "live", "{show}");
    let sessions = show["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "session")
        .count();
    assert_eq!(sessions, 2, "{show}");
}

/// `examples/python/demo.py`, standard library only, runs the whole flow against the daemon.
#[test]
fn python_demo_runs_against_the_daemon() {
    let d = Daemon::start();
    let out = run_demo(&d, "python3", &examples().join("python/demo.py"));
    assert_demo(&d, &out);
}

/// `examples/node/demo.js`, node's `http` module only, runs the whole flow against the daemon.
#[test]
fn node_demo_runs_against_the_daemon() {
    let d = Daemon::start();
    let out = run_demo(&d, "node", &examples().join("node/demo.js"));
    assert_demo(&d, &out);
}

/// The Python client refuses a daemon whose uid it does not trust, before it sends the admin
/// key, and talks to it once `KEYWARD_DAEMON_UID` names that uid.
#[test]
fn python_client_refuses_an_untrusted_daemon() {
    require_root();
    let foreign = ForeignDaemon::start(NOBODY);
    let socket = foreign.socket.with_file_name("http.sock");
    let script = examples().join("python/demo.py");
    let refused = demo_command("python3", &script, &socket)
        .env("KEYWARD_ADMIN_KEY", "kw_adm_live_notakey")
        .output()
        .expect("run python3 (scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("uid {NOBODY}, which is not trusted")),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "{stderr}");

    // Trusted, the same call reaches the daemon, which refuses the key itself.
    let trusted = demo_command("python3", &script, &socket)
        .env("KEYWARD_ADMIN_KEY", "kw_adm_live_notakey")
        .env("KEYWARD_DAEMON_UID", NOBODY.to_string())
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert_eq!(trusted.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("KeywardError: 401 CREDENTIAL_"), "{stderr}");
}

/// The first `sh` block of the README's [`SECTION`].
fn readme_block() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find(&format!("\n{SECTION}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {SECTION:?}"));
    let body = &readme[start..];
    let block = &body[body.find("```sh\n").expect("an sh block") + 6..];
    block[..block.find("```").expect("the block's end")].to_owned()
}

/// The README's `curl` block creates a client, verifies its session with `env` pinned,
/// refreshes it, and sees a read-only API token refused write with 403.
#[test]
fn readme_curl_block_runs_against_the_daemon() {
    let d = Daemon::start();
    let (_, key) = d.admin_client(Env::Live);
    let sock = d.socket.with_file_name("http.sock");
    let script = readme_block();
    assert!(script.contains(README_SOCKET), "{script}");
    let script = script.replace(README_SOCKET, sock.to_str().unwrap());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("KEYWARD_ADMIN_KEY", key.expose())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's block failed ({}); curl and jq come from scripts/test: {stdout}{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let verified: serde_json::Value = serde_json::from_str(lines[0]).expect("verify's JSON");
    assert_eq!(verified["env"], "live", "{stdout}");
    assert_eq!(verified["kind"], "session", "{stdout}");
    let refreshed: serde_json::Value = serde_json::from_str(lines[1]).expect("the session");
    assert!(
        refreshed["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("kw_ses_live_")),
        "{stdout}"
    );
    assert!(
        lines[2].contains(r#""code":"FORBIDDEN""#) && lines[2].ends_with(" 403"),
        "{stdout}"
    );
}
