//! The README's walkthroughs, run as written: every `$ ` command of the two walkthrough sections
//! goes to one bash session against the real daemon, and the output the README shows under each
//! must be what it prints, once ids, tokens, times and durations are normalised.
//!
//! Commands marked [`SETUP_MARKER`] (building the binaries, starting and stopping the daemon) are
//! skipped with their output: the test puts its own build on `PATH` and its own daemon's socket
//! in `KEYWARD_SOCKET`. The walkthroughs use `jq`; without it the test fails rather than skips,
//! so a machine that cannot check the README does not pass as one that did.

use crate::support::{binary, Daemon, DEADLINE};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The README sections whose commands are run, in order, in one shell.
const SECTIONS: [&str; 2] = [
    "## Walkthrough: the wallet backend (seed 000)",
    "## Walkthrough: API tokens (seed 003)",
];

/// Ends a command line the test does not run: build and daemon start and stop.
const SETUP_MARKER: &str = "# (setup)";

/// Printed after each command, to cut the shell's output into one piece per command.
const END_MARKER: &str = "@@keyward-readme-test: end of command@@";

/// The fewest commands the walkthroughs hold: fewer means the parser lost track of the README.
const MIN_STEPS: usize = 12;

/// One command of a walkthrough and the output the README shows for it.
#[derive(Debug, PartialEq)]
struct Step {
    command: String,
    shown: Vec<String>,
}

/// The commands (lines starting `$ `) of the `sh` blocks in `SECTIONS`, with the lines under
/// each as its shown output; setup commands are left out with their output.
fn steps(readme: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for heading in SECTIONS {
        let start = readme
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
        let body = &readme[start + heading.len() + 2..];
        let body = &body[..body.find("\n## ").unwrap_or(body.len())];
        let mut in_block = false;
        // Whether the current command is a setup one, whose output is skipped too.
        let mut skipping = false;
        for line in body.lines() {
            if line.starts_with("```") {
                in_block = !in_block && line == "```sh";
                skipping = false;
                continue;
            }
            if !in_block {
                continue;
            }
            if let Some(command) = line.strip_prefix("$ ") {
                skipping = command.trim_end().ends_with(SETUP_MARKER);
                if !skipping {
                    steps.push(Step {
                        command: command.to_owned(),
                        shown: Vec::new(),
                    });
                }
            } else if !skipping {
                let step = steps
                    .last_mut()
                    .unwrap_or_else(|| panic!("output before any command in {heading:?}: {line}"));
                step.shown.push(line.to_owned());
            }
        }
    }
    steps
}

/// `text` with what varies from run to run replaced by a placeholder: UUIDs, token bodies (the
/// `kw_<kind>_<env>_` prefix is kept), RFC 3339 times and spans such as `23h 59m` or `<1m`.
/// Runs of spaces become one, since a span's width moves the columns after it.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after_word = out.chars().last().is_some_and(char::is_alphanumeric);
        let (len, replacement) = if let Some(len) = token_len(rest) {
            (len, format!("{}<body>", &rest[..12]))
        } else if is_uuid(rest) {
            (36, "<uuid>".to_owned())
        } else if is_time(rest) {
            (20, "<time>".to_owned())
        } else if let Some(len) = span_len(rest).filter(|_| !after_word) {
            (len, "<span>".to_owned())
        } else if c == ' ' && out.ends_with(' ') {
            (1, String::new())
        } else {
            (c.len_utf8(), c.to_string())
        };
        out.push_str(&replacement);
        rest = &rest[len..];
    }
    out
}

/// The length of the token at the start of `text`, if one is there.
fn token_len(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let prefix_ok = b.len() >= 70
        && text.starts_with("kw_")
        && b[3..6].iter().all(u8::is_ascii_lowercase)
        && b[6] == b'_'
        && (text[7..].starts_with("live_") || text[7..].starts_with("test_"));
    let body_ok = |b: &[u8]| {
        b.iter()
            .all(|&c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c))
    };
    (prefix_ok && body_ok(&b[12..70])).then_some(70)
}

/// Whether `text` starts with a hyphenated UUID.
fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 36
        && b[..36].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `text` starts with an RFC 3339 UTC time to the second, `2026-11-23T11:00:00Z`.
fn is_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 20
        && b[..20].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The length of the span at the start of `text` (`<1m`, `4m`, `23h 59m`, `6d 23h`), if one is
/// there and ends a word.
fn span_len(text: &str) -> Option<usize> {
    /// One `<number><unit>` part, ending a word.
    fn part(text: &str) -> Option<usize> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let unit = text.as_bytes().get(digits)?;
        let ends = text
            .as_bytes()
            .get(digits + 1)
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        (digits > 0 && b"dhm".contains(unit) && ends).then_some(digits + 1)
    }
    if text.starts_with("<1m") {
        return Some(3);
    }
    let first = part(text)?;
    let second = text[first..]
        .strip_prefix(' ')
        .and_then(part)
        .map_or(0, |len| len + 1);
    Some(first + second)
}

/// Fails loudly when `jq` is missing: the walkthroughs need it, and a skip would hide an
/// unchecked README.
fn require_jq() {
    let found = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "jq is not installed, and the README walkthroughs use it: run scripts/test, which \
         installs it, or apt-get install jq"
    );
}

/// Every walkthrough command, run in one bash session against a real daemon, prints exactly
/// what the README shows under it.
#[test]
fn readme_walkthroughs_run_as_shown() {
    require_jq();
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let steps = steps(&readme);
    assert!(
        steps.len() >= MIN_STEPS,
        "only {} walkthrough commands found in README.md",
        steps.len()
    );

    let daemon = Daemon::start();
    let bin_dir = binary("keyward").parent().expect("bin dir").to_owned();
    let mut script = String::from("exec 2>&1\n");
    for step in &steps {
        script.push_str(&step.command);
        script.push_str(&format!("\nprintf '%s\\n' '{END_MARKER}'\n"));
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .args(["--noprofile", "--norc", "-s"])
        .current_dir(daemon.dir())
        .env("PATH", path)
        .env("KEYWARD_SOCKET", &daemon.socket)
        .env_remove("KEYWARD_ADMIN_KEY")
        .env_remove("KEYWARD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    // The walkthrough is a few dozen CLI runs; several times DEADLINE means it hangs.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE * 3 {
            let _ = child.kill();
            panic!("the README walkthrough did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let outputs: Vec<&str> = text.split(&format!("{END_MARKER}\n")).collect();
    assert_eq!(
        outputs.len(),
        steps.len() + 1,
        "the shell stopped early: {}",
        normalise(&text)
    );
    for (step, real) in steps.iter().zip(&outputs) {
        let shown = normalise(&step.shown.join("\n"));
        let real = normalise(real.trim_end_matches('\n'));
        assert_eq!(
            shown.trim_end(),
            real.trim_end(),
            "README.md shows other output than `{}` prints (normalised)",
            step.command
        );
    }
}

/// The parser takes `$ ` lines as commands and the lines under them as output, only inside `sh`
/// blocks of the walkthrough sections, and skips setup commands with their output.
#[test]
fn walkthrough_parsing() {
    let readme = format!(
        "intro\n{}\n\ntext\n```sh\n$ a   # (setup)\n[1] 4\n$ b\nout 1\n\nout 2\n```\n\
         ```\n$ not sh\n```\n## Other\n```sh\n$ c\n```\n{}\n```sh\n$ d\n```\n",
        SECTIONS[0], SECTIONS[1]
    );
    let steps = steps(&readme);
    let commands: Vec<&str> = steps.iter().map(|s| s.command.as_str()).collect();
    assert_eq!(commands, ["b", "d"]);
    assert_eq!(steps[0].shown, ["out 1", "", "out 2"]);
}

/// Only what varies is normalised: ids, token bodies, times, spans and column padding.
#[test]
fn normalisation() {
    let token = format!(
        "kw_ses_live_{}",
        "0123456789abcdefghijklmnopqrstuv".repeat(2)
    );
    let line = format!(
        "id  0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978 {} 2026-11-23T11:00:00Z (expires in 23h 59m) <1m ago 6d",
        &token[..70]
    );
    assert_eq!(
        normalise(&line),
        "id <uuid> kw_ses_live_<body> <time> (expires in <span>) <span> ago <span>"
    );
    assert_eq!(normalise("exit status 1"), "exit status 1");
    assert_eq!(normalise("catalog-a=write 4m2"), "catalog-a=write 4m2");
    assert_eq!(normalise("kw_ses_live_short"), "kw_ses_live_short");
    assert_eq!(normalise("Revoked 1 session."), "Revoked 1 session.");
}
