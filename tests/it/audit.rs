//! The audit log: admin actions and refused attempts, with who asked, and never a secret.

use crate::support::{json, require_root, Daemon, NOBODY};
use keyward_client::{Env, Scopes};

/// Every admin action is logged with peer, key, action, target and outcome; refused attempts
/// too; `--since` and `--limit` select; no secret appears.
#[test]
fn admin_actions_are_audited() {
    require_root();
    let daemon = Daemon::start();
    daemon.open_socket_to_all();
    let (mut admin, key) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    admin.revoke(created.session.id).unwrap();
    // A refused attempt: another uid tries to mint an admin key.
    let out = daemon.cli_as(NOBODY, &["admin-key", "create", "--label", "x"]);
    assert_eq!(out.status.code(), Some(1));

    let out = daemon.cli(&["audit", "--json", "--since", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let entries = json(&out)["entries"].as_array().unwrap().clone();
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {text}"))
            .clone()
    };
    let create = find("client_create");
    assert_eq!(create["outcome"], "ok");
    assert_eq!(
        create["target"].as_str(),
        Some(created.client_id.to_string().as_str())
    );
    assert_eq!(create["uid"], 0);
    assert_eq!(create["pid"].as_u64(), Some(u64::from(std::process::id())));
    let key_id = create["admin_key_id"].as_str().unwrap().to_owned();
    let revoke = find("revoke");
    assert_eq!(
        revoke["target"].as_str(),
        Some(created.session.id.to_string().as_str())
    );
    let refused = entries
        .iter()
        .find(|e| e["action"] == "admin_key_create" && e["uid"] == NOBODY)
        .expect("the refused attempt");
    assert_eq!(refused["outcome"], "FORBIDDEN");
    let minted = find("admin_key_create");
    assert_eq!(minted["target"].as_str(), Some(key_id.as_str()));
    for secret in [key.expose(), created.session.token.expose()] {
        assert!(!text.contains(&secret[12..]), "a secret in the audit log");
    }

    let out = daemon.cli(&["audit", "--json", "--limit", "2"]);
    assert_eq!(json(&out)["entries"].as_array().unwrap().len(), 2);

    // Only host admins read it.
    let out = daemon.cli_as(NOBODY, &["audit", "--json"]);
    assert_eq!(json(&out)["error"]["code"], "FORBIDDEN");
}

/// Acknowledged admin actions keep their audit entries through kill -9, including session
/// issues, whose entries only the journal makes durable (sled commits them later, in the
/// background): the kill comes right after the last acknowledgment.
#[test]
fn audit_entries_survive_a_crash() {
    const ISSUES: usize = 50;
    let mut daemon = Daemon::start();
    let (mut admin, _) = daemon.admin_client(Env::Live);
    let created = admin.client_create(None, None, Scopes::new()).unwrap();
    for _ in 0..ISSUES {
        admin.session_issue(created.client_id).unwrap();
    }
    drop(admin);
    daemon.kill9();
    daemon.restart();
    let out = daemon.cli(&["audit", "--json", "--limit", "300"]);
    let entries = json(&out)["entries"].as_array().unwrap().clone();
    let client = created.client_id.to_string();
    assert!(entries.iter().any(|e| e["action"] == "client_create"
        && (e["target"].as_str() == Some(client.as_str()) || e["outcome"] == "pending")));
    let issues = entries
        .iter()
        .filter(|e| e["action"] == "session_issue" && e["target"].as_str() == Some(&client))
        .count();
    assert_eq!(issues, ISSUES, "{entries:#?}");
}
