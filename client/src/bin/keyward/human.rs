//! Text for people: key/value blocks with aligned values, tables with a header row, and times as
//! RFC 3339 with how long ago or until.
//!
//! Block keys are the `--json` field names, so the two outputs read alike and a person can find
//! the field a script should use. Text that other people chose (labels, scope names) has its
//! control characters and bidirectional controls escaped, so it cannot break the layout, drive
//! the terminal or reorder what is shown.

use crate::when;
use keyward_client::{
    AdminKeyCreated, AdminKeyInfo, ApiTokenCreated, ClientCreated, ClientDetails, ClientSummary,
    CredentialInfo, Meta, Reply, Scopes, SessionIssued, Stats, TestKeyCreated, UnixMillis,
    Verified,
};
use std::fmt::Write;

/// Columns of a table, and a key and its value, are separated by this.
const GAP: &str = "  ";

/// `ping`'s answer: the daemon's version and the socket that gave it.
pub(crate) fn render_ping(version: &str, socket: &std::path::Path) -> String {
    format!(
        "keywardd {} is running on {}\n",
        printable(version),
        printable(&socket.display().to_string())
    )
}

/// `reply` as text for people, ending in a newline. `now` anchors relative times.
pub(crate) fn render_reply(reply: &Reply, now: UnixMillis) -> String {
    match reply {
        Reply::Pong { version } => format!("keywardd {} is running\n", printable(version)),
        Reply::AdminKeyCreated(k) => admin_key_created(k),
        Reply::AdminKeys(page) => more(admin_keys(&page.admin_keys, now), &page.next),
        Reply::Revoked { id } => format!("Revoked {id}.\n"),
        Reply::ClientCreated(c) => client_created(c, now),
        Reply::Client(c) => more(client(c, now), &c.next),
        Reply::Clients(page) => more(client_list(&page.clients, now), &page.next),
        Reply::RevokedCount { count: 1 } => "Revoked 1 session.\n".to_owned(),
        Reply::RevokedCount { count } => format!("Revoked {count} sessions.\n"),
        Reply::SessionIssued(s) => session_issued(s, now),
        Reply::TestKeyCreated(t) => test_key_created(t),
        Reply::ApiTokenCreated(t) => api_token_created(t, now),
        Reply::Verified(v) => verified(v, now),
        Reply::Stats(s) => stats(s),
        Reply::Audit(page) => audit(page),
        Reply::BackupStarted { id, bytes } => format!("Backup {id} started ({bytes} bytes).\n"),
        Reply::BackupChunk(bytes) => format!("{} bytes.\n", bytes.len()),
        Reply::BackupEnded => "Backup ended.\n".to_owned(),
        Reply::ApiTokens(page) => more(api_tokens(page, now), &page.next),
        Reply::ApiToken(t) => api_token(t, now),
        Reply::ClientUpdated(c) => client_settings(c),
        Reply::Disabled { id } => format!("Disabled {id}.\n"),
        Reply::Enabled { id } => format!("Enabled {id}.\n"),
    }
}

/// An id in a table, marked when it is disabled: the mark appears only when it says something.
fn marked(id: uuid::Uuid, disabled: bool) -> String {
    if disabled {
        format!("{id} (disabled)")
    } else {
        id.to_string()
    }
}

/// `client delete`'s result: the client, and how many live credentials went with it.
pub(crate) fn render_deleted(client_id: uuid::Uuid, reply: &Reply) -> String {
    match reply {
        Reply::RevokedCount { count: 1 } => {
            format!("Deleted client {client_id}; revoked 1 live credential.\n")
        }
        Reply::RevokedCount { count } => {
            format!("Deleted client {client_id}; revoked {count} live credentials.\n")
        }
        other => render_reply(other, when::now()),
    }
}

/// `keyward backup`'s result.
pub(crate) fn render_backup(done: &crate::backup::BackupDone) -> String {
    block(&[
        ("file", done.file.display().to_string()),
        ("bytes", done.bytes.to_string()),
        ("sha256", done.sha256.clone()),
    ])
}

fn audit(page: &keyward_client::AuditPage) -> String {
    let entries = &page.entries;
    if entries.is_empty() {
        return "No audit entries.\n".to_owned();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                when::rfc3339(e.at),
                e.uid.to_string(),
                e.pid.to_string(),
                printable(&e.action),
                e.target.map_or("-".to_owned(), |t| t.to_string()),
                e.admin_key_id.map_or("-".to_owned(), |k| k.to_string()),
                printable(&e.outcome),
                e.count.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "AT",
            "UID",
            "PID",
            "ACTION",
            "TARGET",
            "ADMIN KEY",
            "OUTCOME",
            "COUNT",
        ],
        &rows,
    );
    if let Some(next) = &page.next {
        out.push_str(&format!("Older entries: add --before {next}\n"));
    }
    out
}

fn admin_key_created(k: &AdminKeyCreated) -> String {
    let mut out = block(&[
        ("id", k.id.to_string()),
        ("label", printable(&k.label)),
        ("env", k.env.to_string()),
        // The one place an admin key is shown: at its creation.
        ("secret", k.secret.expose().to_owned()),
    ]);
    out.push_str(&shown_once(
        "admin key",
        "keep it in a file for --admin-key-file, or in KEYWARD_ADMIN_KEY",
    ));
    out
}

fn admin_keys(keys: &[AdminKeyInfo], now: UnixMillis) -> String {
    if keys.is_empty() {
        return "No admin keys.\n".to_owned();
    }
    let rows = keys
        .iter()
        .map(|k| {
            vec![
                marked(k.id, k.disabled),
                printable(&k.label),
                k.env.to_string(),
                when::rfc3339(k.created_at),
                last_used(k.last_used_at, now),
                k.uses.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &["ID", "LABEL", "ENV", "CREATED", "LAST USED", "USES"],
        &rows,
    )
}

fn client_created(c: &ClientCreated, now: UnixMillis) -> String {
    let mut rows = vec![("client_id".to_owned(), c.client_id.to_string())];
    // Dotted like the JSON path, so the session's id is not mistaken for the client's.
    rows.extend(session_rows(&c.session, "session.", now));
    let mut out = block(&rows);
    out.push_str(&shown_once("session token", "hand it to the client now"));
    out
}

fn session_issued(s: &SessionIssued, now: UnixMillis) -> String {
    let mut out = block(&session_rows(s, "", now));
    out.push_str(&shown_once("session token", "hand it to the client now"));
    out
}

/// The rows every new session shows, each key after `prefix`.
fn session_rows(s: &SessionIssued, prefix: &str, now: UnixMillis) -> Vec<(String, String)> {
    [
        ("id", s.id.to_string()),
        // Shown once, at issue.
        ("token", s.token.expose().to_owned()),
        ("expires_at", expiry(Some(s.expires_at), now)),
        ("max_expires_at", expiry(Some(s.max_expires_at), now)),
    ]
    .into_iter()
    .map(|(key, value)| (format!("{prefix}{key}"), value))
    .collect()
}

/// A client's own settings as rows: what `client show` and `client update` both print.
fn settings_rows(
    client_id: uuid::Uuid,
    client_label: Option<&str>,
    env: keyward_client::Env,
    client_scopes: &keyward_client::Scopes,
    max_sessions: Option<u32>,
    identity: (Option<&str>, &Meta),
) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("client_id", client_id.to_string()),
        ("label", label(client_label)),
        ("env", env.to_string()),
        ("scopes", scopes(client_scopes)),
        (
            "max_sessions",
            max_sessions.map_or_else(|| "the daemon's default".to_owned(), |n| n.to_string()),
        ),
    ];
    rows.extend(identity_rows(identity.0, identity.1));
    rows
}

/// A principal's external id and metadata as rows, each only when it is set: most principals
/// have neither, and the rows would only say so.
fn identity_rows(external_id: Option<&str>, meta: &Meta) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if let Some(id) = external_id {
        rows.push(("external_id", printable(id)));
    }
    if !meta.is_empty() {
        rows.push(("meta", meta_text(meta)));
    }
    rows
}

/// Metadata as `plan=pro, region=eu`.
fn meta_text(meta: &Meta) -> String {
    meta.iter()
        .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn client(c: &ClientDetails, now: UnixMillis) -> String {
    let mut rows = settings_rows(
        c.client_id,
        c.label.as_deref(),
        c.env,
        &c.scopes,
        c.max_sessions,
        (c.external_id.as_deref(), &c.meta),
    );
    rows.push(("last_used_at", last_used(c.last_used_at, now)));
    rows.push(("uses", c.uses.to_string()));
    if c.disabled {
        rows.push((
            "disabled",
            "yes: none of its credentials verifies".to_owned(),
        ));
    }
    let mut out = block(&rows);
    out.push('\n');
    if c.credentials.is_empty() {
        out.push_str("No live credentials.\n");
    } else {
        let rows = c
            .credentials
            .iter()
            .map(|cred| credential_row(cred, now))
            .collect::<Vec<_>>();
        out.push_str(&table(
            &["ID", "KIND", "CREATED", "LAST USED", "USES", "EXPIRES"],
            &rows,
        ));
    }
    out
}

fn api_tokens(page: &keyward_client::ApiTokenPage, now: UnixMillis) -> String {
    let out = if page.api_tokens.is_empty() {
        "No API tokens.\n".to_owned()
    } else {
        let rows = page
            .api_tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.map_or("(revoked)".to_owned(), |id| id.to_string()),
                    printable(&t.name),
                    scopes(&t.scopes),
                    last_used(t.last_used_at, now),
                    t.uses.to_string(),
                    expiry(t.expires_at, now),
                    label(t.external_id.as_deref()),
                ]
            })
            .collect::<Vec<_>>();
        table(
            &[
                "ID",
                "NAME",
                "SCOPES",
                "LAST USED",
                "USES",
                "EXPIRES",
                "EXTERNAL ID",
            ],
            &rows,
        )
    };
    out
}

/// `out`, then how to get the next page, if there is one.
fn more(mut out: String, next: &Option<String>) -> String {
    if let Some(next) = next {
        out.push_str(&format!("More: add --after {next}\n"));
    }
    out
}

fn api_token(t: &keyward_client::ApiTokenInfo, now: UnixMillis) -> String {
    let mut rows = vec![
        ("principal_id", t.principal_id.to_string()),
        (
            "id",
            t.id.map_or("(revoked)".to_owned(), |id| id.to_string()),
        ),
        ("name", printable(&t.name)),
        ("env", t.env.to_string()),
        ("scopes", scopes(&t.scopes)),
        ("created_at", when::rfc3339(t.created_at)),
        ("last_used_at", last_used(t.last_used_at, now)),
        ("uses", t.uses.to_string()),
        ("expires_at", expiry(t.expires_at, now)),
    ];
    rows.extend(identity_rows(t.external_id.as_deref(), &t.meta));
    block(&rows)
}

fn client_settings(c: &keyward_client::ClientSettings) -> String {
    block(&settings_rows(
        c.client_id,
        c.label.as_deref(),
        c.env,
        &c.scopes,
        c.max_sessions,
        (c.external_id.as_deref(), &c.meta),
    ))
}

fn credential_row(c: &CredentialInfo, now: UnixMillis) -> Vec<String> {
    vec![
        marked(c.id, c.disabled),
        c.kind.to_string(),
        when::rfc3339(c.created_at),
        last_used(c.last_used_at, now),
        c.uses.to_string(),
        expiry(c.expires_at, now),
    ]
}

fn client_list(clients: &[ClientSummary], now: UnixMillis) -> String {
    if clients.is_empty() {
        return "No clients.\n".to_owned();
    }
    let rows = clients
        .iter()
        .map(|c| {
            vec![
                marked(c.client_id, c.disabled),
                label(c.label.as_deref()),
                label(c.external_id.as_deref()),
                last_used(c.last_used_at, now),
                c.uses.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &["CLIENT ID", "LABEL", "EXTERNAL ID", "LAST USED", "USES"],
        &rows,
    )
}

fn test_key_created(t: &TestKeyCreated) -> String {
    let mut out = block(&[
        ("id", t.id.to_string()),
        // Shown once, at creation.
        ("token", t.token.expose().to_owned()),
        ("expires_at", expiry(None, 0)),
    ]);
    out.push_str(&shown_once("test key", "store it now"));
    out
}

fn api_token_created(t: &ApiTokenCreated, now: UnixMillis) -> String {
    let mut out = block(&[
        ("id", t.id.to_string()),
        ("principal_id", t.principal_id.to_string()),
        // Shown once, at creation.
        ("token", t.token.expose().to_owned()),
        ("expires_at", expiry(t.expires_at, now)),
    ]);
    out.push_str(&shown_once("API token", "store it now"));
    out
}

fn verified(v: &Verified, now: UnixMillis) -> String {
    let mut rows = vec![
        ("principal_id", v.principal_id.to_string()),
        ("kind", v.kind.to_string()),
        ("env", v.env.to_string()),
        ("scopes", scopes(&v.scopes)),
        ("expires_at", expiry(v.expires_at, now)),
        ("credential_id", v.credential_id.to_string()),
    ];
    rows.extend(identity_rows(v.external_id.as_deref(), &v.meta));
    block(&rows)
}

fn stats(s: &Stats) -> String {
    block(&[
        ("clients", s.clients.to_string()),
        ("live_sessions", s.live_sessions.to_string()),
        ("test_keys", s.test_keys.to_string()),
        ("api_tokens", s.api_tokens.to_string()),
        ("admin_keys", s.admin_keys.to_string()),
        ("sweeps_run", s.sweeps_run.to_string()),
        ("credentials_swept", s.credentials_swept.to_string()),
        ("connections_open", s.connections_open.to_string()),
        ("connections_total", s.connections_total.to_string()),
        ("connections_refused", s.connections_refused.to_string()),
        ("audit_dropped", s.audit_dropped.to_string()),
        ("requests", counts(&s.requests)),
        ("errors", counts(&s.errors)),
        ("uptime", format!("{}s", s.uptime_secs)),
    ])
}

/// Non-zero counts as `name=n` pairs, or `none`.
fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = map
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The note printed under a newly created secret.
fn shown_once(what: &str, advice: &str) -> String {
    format!("\nThis {what} is shown only once and cannot be shown again: {advice}.\n")
}

/// An expiry: `2026-11-23T11:00:00Z (expires in 23h 59m)`, `… (expired)`, or `never expires`.
fn expiry(at: Option<UnixMillis>, now: UnixMillis) -> String {
    match at {
        None => when::expiry(None, now),
        Some(t) => format!("{} ({})", when::rfc3339(t), when::expiry(at, now)),
    }
}

/// A last use: `2026-11-23T11:00:00Z (5m ago)`, or `never`.
fn last_used(at: Option<UnixMillis>, now: UnixMillis) -> String {
    match at {
        None => "never".to_owned(),
        Some(t) => format!("{} ({})", when::rfc3339(t), when::ago(t, now)),
    }
}

/// A label, or `-` when there is none.
fn label(label: Option<&str>) -> String {
    label.map_or_else(|| "-".to_owned(), printable)
}

/// Scopes as `music=read, photos=write`, or `none`.
fn scopes(scopes: &Scopes) -> String {
    if scopes.is_empty() {
        return "none".to_owned();
    }
    scopes
        .iter()
        .map(|(name, level)| format!("{}={level}", printable(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Unicode's bidirectional embedding, override and isolate controls (U+202A-U+202E,
/// U+2066-U+2069). They are not `char::is_control`, yet they reorder what follows them, so a
/// label could make an id or a column read as something else ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control characters (newlines, escape sequences) and bidirectional controls shown
/// escaped, as `\u{202e}`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Display width of a cell. Counting chars is right for the ASCII and most Latin text keyward
/// shows; wide CJK labels may misalign, which is cosmetic.
fn width(text: &str) -> usize {
    text.chars().count()
}

/// `key  value` lines with the values aligned.
fn block(rows: &[(impl AsRef<str>, String)]) -> String {
    let key_width = rows
        .iter()
        .map(|(k, _)| width(k.as_ref()))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let key = key.as_ref();
        let pad = key_width - width(key);
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{key}{:pad$}{GAP}{value}", "");
    }
    out
}

/// A table with a header row; every column but the last is padded to its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(w - width(cell)));
                line.push_str(GAP);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_client::{CredentialKind, Env, Level, Secret};
    use uuid::Uuid;

    /// 2026-11-23T11:00:00Z.
    const T: UnixMillis = 1_795_431_600_000;
    const MINUTE: UnixMillis = 60_000;
    const HOUR: UnixMillis = 60 * MINUTE;
    const DAY: UnixMillis = 24 * HOUR;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Bidirectional controls in a label are escaped like ANSI escapes, so they cannot reorder
    /// the line; other non-ASCII text is kept.
    #[test]
    fn bidi_controls_are_escaped() {
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            let shown = printable(&format!("a{c}b"));
            assert_eq!(shown, format!("a{}b", c.escape_default()), "{:x}", c as u32);
        }
        assert_eq!(printable("caf\u{e9} \u{1b}[31m"), "caf\u{e9} \\u{1b}[31m");
        let text = render_reply(
            &Reply::Clients(keyward_client::ClientPage {
                clients: vec![ClientSummary {
                    client_id: id(1),
                    label: Some("evil\u{202e}cilbup".to_owned()),
                    disabled: false,
                    external_id: None,
                    meta: Default::default(),
                    last_used_at: None,
                    uses: 0,
                }],
                next: None,
            }),
            T,
        );
        assert!(text.contains("evil\\u{202e}cilbup"), "{text}");
        assert!(!text.contains('\u{202e}'), "{text}");
    }

    /// A new session shows aligned keys, expiries with their relative time, and the once-only
    /// note.
    #[test]
    fn session_block() {
        let text = render_reply(
            &Reply::SessionIssued(SessionIssued {
                id: id(1),
                token: Secret::new("kw_ses_live_tok"),
                expires_at: T + DAY,
                max_expires_at: T + 7 * DAY,
            }),
            T + 1000,
        );
        let expected = format!(
            "\
id              {}
token           kw_ses_live_tok
expires_at      2026-11-24T11:00:00Z (expires in 23h 59m)
max_expires_at  2026-11-30T11:00:00Z (expires in 6d 23h)

This session token is shown only once and cannot be shown again: hand it to the client now.
",
            id(1)
        );
        assert_eq!(text, expected);
    }

    /// A new client's session rows are dotted, so its id is not read as the client's.
    #[test]
    fn client_created_block() {
        let text = render_reply(
            &Reply::ClientCreated(ClientCreated {
                client_id: id(1),
                session: SessionIssued {
                    id: id(2),
                    token: Secret::new("kw_ses_live_tok"),
                    expires_at: T + 4 * MINUTE,
                    max_expires_at: T + DAY,
                },
            }),
            T,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("client_id               {}", id(1)));
        assert_eq!(lines[1], format!("session.id              {}", id(2)));
        assert_eq!(lines[2], "session.token           kw_ses_live_tok");
        assert_eq!(
            lines[3],
            "session.expires_at      2026-11-23T11:04:00Z (expires in 4m)"
        );
        assert_eq!(
            lines[4],
            "session.max_expires_at  2026-11-24T11:00:00Z (expires in 1d)"
        );
        assert!(text
            .ends_with("shown only once and cannot be shown again: hand it to the client now.\n"));
    }

    /// Created secrets all carry the once-only note; a test key never expires.
    #[test]
    fn created_secrets_say_shown_once() {
        let replies = [
            Reply::AdminKeyCreated(AdminKeyCreated {
                id: id(1),
                label: "ci".into(),
                env: Env::Live,
                secret: Secret::new("kw_adm_live_s"),
            }),
            Reply::TestKeyCreated(TestKeyCreated {
                id: id(2),
                token: Secret::new("kw_tst_test_t"),
            }),
            Reply::ApiTokenCreated(ApiTokenCreated {
                id: id(3),
                principal_id: id(4),
                token: Secret::new("kw_api_live_a"),
                expires_at: None,
            }),
        ];
        for reply in &replies {
            let text = render_reply(reply, T);
            assert!(text.contains("shown only once"), "{text}");
            assert!(text.contains("kw_"), "the new secret is shown: {text}");
        }
        assert!(render_reply(&replies[1], T).contains("expires_at  never expires"));
    }

    /// A client shows its details, then a credentials table with a header row.
    #[test]
    fn client_details_and_table() {
        let text = render_reply(
            &Reply::Client(ClientDetails {
                client_id: id(1),
                label: Some("phone\x1b[31m".into()),
                env: Env::Test,
                scopes: Scopes::from([
                    ("photos".to_owned(), Level::Write),
                    ("music".to_owned(), Level::Read),
                ]),
                max_sessions: None,
                credentials: vec![
                    CredentialInfo {
                        id: id(2),
                        kind: CredentialKind::Session,
                        created_at: T - DAY,
                        last_used_at: Some(T - 4 * MINUTE),
                        expires_at: Some(T - 1),
                        disabled: false,
                        uses: 7,
                    },
                    CredentialInfo {
                        id: id(3),
                        kind: CredentialKind::TestKey,
                        created_at: T - DAY,
                        last_used_at: None,
                        expires_at: None,
                        disabled: false,
                        uses: 0,
                    },
                ],
                next: None,
                disabled: false,
                external_id: Some("user-42".into()),
                meta: [("plan".to_owned(), "pro\n".to_owned())].into(),
                last_used_at: Some(T - 4 * MINUTE),
                uses: 9,
            }),
            T,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("client_id     {}", id(1)));
        assert_eq!(lines[1], "label         phone\\u{1b}[31m");
        assert_eq!(lines[3], "scopes        music=read, photos=write");
        assert_eq!(lines[4], "max_sessions  the daemon's default");
        assert_eq!(lines[5], "external_id   user-42");
        assert_eq!(lines[6], "meta          plan=pro\\n");
        assert!(lines[7].starts_with("last_used_at  ") && lines[7].ends_with("(4m ago)"));
        assert_eq!(lines[8], "uses          9");
        assert_eq!(lines[9], "");
        let header = lines[10];
        assert!(
            header.starts_with("ID  ") && header.ends_with("EXPIRES"),
            "{header}"
        );
        let created_col = header.find("CREATED").unwrap();
        assert_eq!(lines[11].find("2026-11-22T11:00:00Z"), Some(created_col));
        assert!(lines[11].contains("(4m ago)") && lines[11].ends_with("(expired)"));
        assert!(lines[11].contains(" 7  "), "{}", lines[11]);
        assert!(lines[12].contains("test_key") && lines[12].ends_with("never expires"));
        assert!(
            lines.iter().all(|l| !l.ends_with(' ')),
            "no trailing spaces: {text}"
        );
    }

    /// Lists are tables, and say so when empty.
    #[test]
    fn lists() {
        let text = render_reply(
            &Reply::Clients(keyward_client::ClientPage {
                clients: vec![
                    ClientSummary {
                        client_id: id(1),
                        label: Some("phone".into()),
                        disabled: false,
                        external_id: None,
                        meta: Default::default(),
                        last_used_at: None,
                        uses: 0,
                    },
                    ClientSummary {
                        client_id: id(2),
                        label: None,
                        disabled: false,
                        external_id: Some("user-42".into()),
                        meta: Default::default(),
                        last_used_at: Some(T - 4 * MINUTE),
                        uses: 12,
                    },
                ],
                next: None,
            }),
            T,
        );
        let expected = format!(
            "CLIENT ID{}  LABEL  EXTERNAL ID  LAST USED{}  USES\n{}  phone  -            never{}  0\n{}  -      user-42      {}  12\n",
            " ".repeat(36 - 9),
            " ".repeat(29 - 9),
            id(1),
            " ".repeat(29 - 5),
            id(2),
            "2026-11-23T10:56:00Z (4m ago)",
        );
        assert_eq!(text, expected);
        let off = render_reply(
            &Reply::Clients(keyward_client::ClientPage {
                clients: vec![ClientSummary {
                    client_id: uuid::Uuid::nil(),
                    label: None,
                    disabled: true,
                    external_id: None,
                    meta: Default::default(),
                    last_used_at: None,
                    uses: 0,
                }],
                next: None,
            }),
            T,
        );
        assert!(
            off.contains("00000000-0000-0000-0000-000000000000 (disabled)"),
            "{off}"
        );
        assert_eq!(
            render_reply(
                &Reply::Disabled {
                    id: uuid::Uuid::nil()
                },
                T
            ),
            "Disabled 00000000-0000-0000-0000-000000000000.\n"
        );
        assert_eq!(
            render_reply(
                &Reply::Clients(keyward_client::ClientPage {
                    clients: vec![],
                    next: None
                }),
                T
            ),
            "No clients.\n"
        );
        assert_eq!(
            render_reply(
                &Reply::AdminKeys(keyward_client::AdminKeyPage {
                    admin_keys: vec![],
                    next: None
                }),
                T
            ),
            "No admin keys.\n"
        );
        let keys = render_reply(
            &Reply::AdminKeys(keyward_client::AdminKeyPage {
                admin_keys: vec![AdminKeyInfo {
                    id: id(1),
                    label: "ops".into(),
                    env: Env::Live,
                    created_at: T,
                    last_used_at: None,
                    disabled: false,
                    uses: 0,
                }],
                next: None,
            }),
            T,
        );
        assert!(keys.starts_with("ID "), "{keys}");
        assert!(keys
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("2026-11-23T11:00:00Z  never      0"));
    }

    /// Counts and revocations read as sentences.
    /// The audit table has a COUNT column, and a page with older entries says how to get
    /// them.
    #[test]
    fn audit_page() {
        let entry = keyward_client::AuditEntry {
            at: T,
            uid: 65534,
            gid: 65534,
            pid: 7,
            admin_key_id: None,
            action: "admin_key_create".into(),
            target: None,
            outcome: "FORBIDDEN".into(),
            count: 4321,
        };
        let page = |next: Option<&str>| {
            render_reply(
                &Reply::Audit(keyward_client::AuditPage {
                    entries: vec![entry.clone()],
                    next: next.map(str::to_owned),
                }),
                T,
            )
        };
        let text = page(Some("00ab"));
        assert!(text.lines().next().unwrap().ends_with("COUNT"), "{text}");
        assert!(text.contains("4321"), "{text}");
        assert!(
            text.ends_with("Older entries: add --before 00ab\n"),
            "{text}"
        );
        assert!(!page(None).contains("--before"));
    }

    #[test]
    fn counts() {
        assert_eq!(
            render_reply(&Reply::RevokedCount { count: 1 }, T),
            "Revoked 1 session.\n"
        );
        assert_eq!(
            render_reply(&Reply::RevokedCount { count: 0 }, T),
            "Revoked 0 sessions.\n"
        );
        assert_eq!(
            render_reply(&Reply::Revoked { id: id(9) }, T),
            format!("Revoked {}.\n", id(9))
        );
    }

    /// `client delete` counts credentials of every kind, not sessions.
    #[test]
    fn deleted_counts_credentials() {
        assert_eq!(
            render_deleted(id(1), &Reply::RevokedCount { count: 1 }),
            format!("Deleted client {}; revoked 1 live credential.\n", id(1))
        );
        assert_eq!(
            render_deleted(id(1), &Reply::RevokedCount { count: 3 }),
            format!("Deleted client {}; revoked 3 live credentials.\n", id(1))
        );
    }

    /// `verify` shows no token, and says when the credential never expires.
    #[test]
    fn verify_block() {
        let text = render_reply(
            &Reply::Verified(Verified {
                principal_id: id(1),
                kind: CredentialKind::ApiToken,
                env: Env::Live,
                scopes: Scopes::new(),
                expires_at: None,
                credential_id: id(2),
                external_id: None,
                meta: Default::default(),
            }),
            T,
        );
        assert!(text.contains("kind           api_token\n"), "{text}");
        assert!(text.contains("scopes         none\n"), "{text}");
        assert!(text.contains("expires_at     never expires\n"), "{text}");
        assert!(!text.contains("kw_"));
    }
}
