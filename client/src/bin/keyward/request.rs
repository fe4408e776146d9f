//! The request each command sends, and the reply it must get back.
//!
//! Building the [`Op`] is where arguments are checked beyond clap's reach (repeated scopes, a
//! sub-second expiry) and where a token given as `-` is read, so every usage error is found
//! before the daemon is contacted.

use crate::cli::{
    AdminKeyCommand, ApiTokenCommand, ClientCommand, Command, EnvArg, IdentityArgs, IdentityChange,
    KindArg, LevelArg, ScopeChange, SessionCommand, TestKeyCommand, VerifyArgs,
};
use crate::failure::Failure;
use crate::secrets::TokenSource;
use crate::{meta, scope, secrets};
use keyward_client::{
    Identity, Op, PrincipalUpdate, Reply, Requirements, ScopeRequirement, Secret,
};
use std::io::Read;

/// The operation `command` asks for. `stdin` is read only for a token given as `-`.
///
/// # Errors
/// A usage failure for arguments the daemon should never see.
pub(crate) fn build(command: &Command, stdin: &mut dyn Read) -> Result<Op, Failure> {
    Ok(match command {
        Command::Ping => Op::Ping,
        Command::AdminKey(AdminKeyCommand::Create { label, env }) => Op::AdminKeyCreate {
            label: label.clone(),
            env: (*env).into(),
        },
        Command::AdminKey(AdminKeyCommand::List { page, sort }) => Op::AdminKeyList {
            limit: page.limit,
            after: page.after.clone(),
            order: sort.sort,
        },
        Command::AdminKey(AdminKeyCommand::Revoke { id }) => Op::AdminKeyRevoke { id: *id },
        Command::Client(ClientCommand::Create {
            label,
            max_sessions,
            scopes,
            identity,
        }) => Op::ClientCreate {
            label: label.clone(),
            max_sessions: *max_sessions,
            scopes: scope::collect(scopes).map_err(Failure::Usage)?,
            identity: Box::new(new_identity(identity)?),
        },
        Command::Client(ClientCommand::Show {
            client_id,
            external_id,
            page,
        }) => match (client_id, external_id) {
            (Some(client_id), _) => Op::ClientShow {
                client_id: *client_id,
                limit: page.limit,
                after: page.after.clone(),
            },
            // clap demands one of the two.
            (None, external_id) => Op::ClientFind {
                external_id: external_id.clone().unwrap_or_default(),
                limit: page.limit,
                after: page.after.clone(),
            },
        },
        Command::Client(ClientCommand::List { page, sort }) => Op::ClientList {
            limit: page.limit,
            after: page.after.clone(),
            order: sort.sort,
        },
        Command::Client(ClientCommand::RevokeSessions { client_id }) => Op::ClientRevokeSessions {
            client_id: *client_id,
        },
        Command::Client(ClientCommand::Delete { client_id }) => Op::ClientDelete {
            client_id: *client_id,
        },
        Command::Session(SessionCommand::Issue { client_id }) => Op::SessionIssue {
            client_id: *client_id,
        },
        Command::TestKey(TestKeyCommand::Create { client_id }) => Op::TestKeyCreate {
            client_id: *client_id,
        },
        Command::ApiToken(ApiTokenCommand::Create {
            name,
            scopes,
            expires_in,
            identity,
        }) => Op::ApiTokenCreate {
            name: name.clone(),
            scopes: scope::collect(scopes).map_err(Failure::Usage)?,
            expires_in_secs: expires_in.map(whole_seconds).transpose()?,
            identity: Box::new(new_identity(identity)?),
        },
        Command::ApiToken(ApiTokenCommand::List { page, sort }) => Op::ApiTokenList {
            limit: page.limit,
            after: page.after.clone(),
            order: sort.sort,
        },
        Command::ApiToken(ApiTokenCommand::Show { id }) => Op::ApiTokenShow { id: *id },
        Command::ApiToken(ApiTokenCommand::Update {
            id,
            name,
            scopes,
            identity,
        }) => Op::ApiTokenUpdate {
            id: *id,
            update: Box::new(update(name.clone(), None, scopes, identity)?),
        },
        Command::Client(ClientCommand::Update {
            client_id,
            label,
            max_sessions,
            scopes,
            identity,
        }) => Op::ClientUpdate {
            client_id: *client_id,
            update: Box::new(update(label.clone(), *max_sessions, scopes, identity)?),
        },
        Command::Verify(VerifyArgs {
            token,
            env,
            kinds,
            scope,
            level,
        }) => Op::Verify {
            token: read_token(token.as_deref(), stdin)?,
            require: requirements(*env, kinds, scope.as_deref(), *level),
        },
        Command::Logout { token } => Op::Logout {
            token: read_token(token.as_deref(), stdin)?,
        },
        Command::Disable { id } => Op::Disable { id: *id },
        Command::Enable { id } => Op::Enable { id: *id },
        Command::Revoke { credential_id } => Op::Revoke {
            credential_id: *credential_id,
        },
        Command::Stats => Op::Stats,
        Command::Audit {
            since,
            limit,
            before,
            uid,
            action,
            outcome,
            all: _,
        } => Op::Audit {
            since: since
                .map(|d| crate::when::now() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            limit: *limit,
            before: before.clone(),
            uid: *uid,
            action: action.clone(),
            outcome: outcome.map(Into::into),
        },
        Command::Backup { .. } => Op::BackupBegin,
        Command::Completions { .. } => {
            return Err(Failure::Usage(
                "`keyward completions` prints a script and sends no request".to_owned(),
            ))
        }
    })
}

/// The external id and metadata a create command asks for.
///
/// # Errors
/// A usage failure for a metadata key given twice.
fn new_identity(args: &IdentityArgs) -> Result<Identity, Failure> {
    Ok(Identity {
        external_id: args.external_id.clone(),
        meta: meta::collect(&args.meta).map_err(Failure::Usage)?,
    })
}

/// The change an update command asks for.
///
/// # Errors
/// A usage failure for a scope given twice, or for no change at all.
fn update(
    label: Option<String>,
    max_sessions: Option<u32>,
    change: &ScopeChange,
    identity: &IdentityChange,
) -> Result<PrincipalUpdate, Failure> {
    let update = PrincipalUpdate {
        label,
        max_sessions,
        scopes: scope::collect(&change.grants).map_err(Failure::Usage)?,
        remove_scopes: change.removals.clone(),
        external_id: identity.external_id.clone(),
        meta: meta::collect(&identity.meta).map_err(Failure::Usage)?,
        remove_meta: identity.remove_meta.clone(),
    };
    if update == PrincipalUpdate::default() {
        return Err(Failure::Usage(
            "nothing to change: give at least one of the update's options".to_owned(),
        ));
    }
    Ok(update)
}

/// The token for a TOKEN argument (see [`secrets::token`]), warning on standard error when it
/// was given on the command line, where every local user can read it.
fn read_token(arg: Option<&str>, stdin: &mut dyn Read) -> Result<Secret, Failure> {
    let (token, from) = secrets::token(arg, std::env::var_os(secrets::TOKEN_VAR), stdin)?;
    if from == TokenSource::Argument {
        eprintln!("{}", secrets::ARGV_WARNING);
    }
    Ok(token)
}

/// What `keyward verify` demands of the credential.
fn requirements(
    env: Option<EnvArg>,
    kinds: &[KindArg],
    scope: Option<&str>,
    level: Option<LevelArg>,
) -> Requirements {
    let mut require = kinds
        .iter()
        .fold(Requirements::new(), |r, k| r.kind((*k).into()));
    if let Some(env) = env {
        require = require.env(env.into());
    }
    // clap's `requires` makes these come as a pair.
    if let Some((scope, level)) = scope.zip(level) {
        require = require.scope(ScopeRequirement {
            scope: scope.to_owned(),
            level: level.into(),
        });
    }
    require
}

/// Whether `reply` is the kind of answer `op` gets. A mismatch means daemon and client disagree
/// about the protocol, and printing the wrong shape would break scripts more quietly than an
/// error.
pub(crate) fn answers(op: &Op, reply: &Reply) -> bool {
    match op {
        Op::Ping => matches!(reply, Reply::Pong { .. }),
        Op::AdminKeyCreate { .. } => matches!(reply, Reply::AdminKeyCreated(_)),
        Op::AdminKeyList { .. } => matches!(reply, Reply::AdminKeys(_)),
        Op::AdminKeyRevoke { .. } | Op::Logout { .. } | Op::Revoke { .. } => {
            matches!(reply, Reply::Revoked { .. })
        }
        Op::ClientCreate { .. } => matches!(reply, Reply::ClientCreated(_)),
        Op::ClientShow { .. } | Op::ClientFind { .. } => matches!(reply, Reply::Client(_)),
        Op::ClientList { .. } => matches!(reply, Reply::Clients(_)),
        Op::Disable { .. } => matches!(reply, Reply::Disabled { .. }),
        Op::Enable { .. } => matches!(reply, Reply::Enabled { .. }),
        Op::ClientRevokeSessions { .. } | Op::ClientDelete { .. } => {
            matches!(reply, Reply::RevokedCount { .. })
        }
        Op::SessionIssue { .. } => matches!(reply, Reply::SessionIssued(_)),
        Op::TestKeyCreate { .. } => matches!(reply, Reply::TestKeyCreated(_)),
        Op::ApiTokenCreate { .. } => matches!(reply, Reply::ApiTokenCreated(_)),
        Op::Verify { .. } => matches!(reply, Reply::Verified(_)),
        Op::Stats => matches!(reply, Reply::Stats(_)),
        Op::Audit { .. } => matches!(reply, Reply::Audit(_)),
        Op::BackupBegin => matches!(reply, Reply::BackupStarted { .. }),
        Op::BackupRead { .. } => matches!(reply, Reply::BackupChunk(_)),
        Op::BackupEnd { .. } => matches!(reply, Reply::BackupEnded),
        Op::ApiTokenList { .. } => matches!(reply, Reply::ApiTokens(_)),
        Op::ApiTokenShow { .. } | Op::ApiTokenUpdate { .. } => {
            matches!(reply, Reply::ApiToken(_))
        }
        Op::ClientUpdate { .. } => matches!(reply, Reply::ClientUpdated(_)),
    }
}

/// `--expires-in` in the protocol's whole seconds.
///
/// # Errors
/// A usage failure under one second, which would round to an already-expired token.
fn whole_seconds(duration: std::time::Duration) -> Result<u64, Failure> {
    match duration.as_secs() {
        0 => Err(Failure::Usage(
            "--expires-in must be at least one second, e.g. 30d or 12h".to_owned(),
        )),
        secs => Ok(secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use keyward_client::{CredentialKind, Env, Level, ListOrder, Scopes, Secret};
    use std::io::Cursor;
    use uuid::Uuid;

    const ID: &str = "0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978";

    fn op_with_stdin(args: &[&str], stdin: &str) -> Result<Op, Failure> {
        let cli = Cli::try_parse_from(std::iter::once("keyward").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        build(&cli.command, &mut Cursor::new(stdin.as_bytes().to_vec()))
    }

    fn op(args: &[&str]) -> Op {
        op_with_stdin(args, "").unwrap_or_else(|f| panic!("{args:?}: {f:?}"))
    }

    fn usage(result: Result<Op, Failure>) -> String {
        match result {
            Err(Failure::Usage(m)) => m,
            other => panic!("expected a usage failure, got {other:?}"),
        }
    }

    /// Commands map to the operations the contract names, with their arguments.
    #[test]
    fn commands_map_to_ops() {
        let id: Uuid = ID.parse().unwrap();
        assert_eq!(op(&["ping"]), Op::Ping);
        assert_eq!(
            op(&["admin-key", "create", "--label", "ci"]),
            Op::AdminKeyCreate {
                label: "ci".into(),
                env: Env::Live
            }
        );
        assert_eq!(
            op(&["admin-key", "list"]),
            Op::AdminKeyList {
                limit: 100,
                after: None,
                order: ListOrder::Id,
            }
        );
        assert_eq!(op(&["admin-key", "revoke", ID]), Op::AdminKeyRevoke { id });
        assert_eq!(
            op(&[
                "client",
                "create",
                "--scope",
                "photos=write",
                "--max-sessions",
                "2"
            ]),
            Op::ClientCreate {
                label: None,
                max_sessions: Some(2),
                scopes: Scopes::from([("photos".to_owned(), Level::Write)]),
                identity: Box::default(),
            }
        );
        assert_eq!(
            op(&["client", "show", ID]),
            Op::ClientShow {
                client_id: id,
                limit: 100,
                after: None
            }
        );
        assert_eq!(
            op(&["client", "list", "--limit", "7", "--after", "c"]),
            Op::ClientList {
                limit: 7,
                after: Some("c".into()),
                order: ListOrder::Id,
            }
        );
        assert_eq!(
            op(&["client", "list", "--sort", "last-used"]),
            Op::ClientList {
                limit: 100,
                after: None,
                order: ListOrder::LastUsed,
            }
        );
        assert_eq!(
            op(&["api-token", "list", "--sort", "last-used", "--limit", "5"]),
            Op::ApiTokenList {
                limit: 5,
                after: None,
                order: ListOrder::LastUsed,
            }
        );
        assert_eq!(
            op(&["client", "revoke-sessions", ID]),
            Op::ClientRevokeSessions { client_id: id }
        );
        assert_eq!(
            op(&["client", "delete", ID]),
            Op::ClientDelete { client_id: id }
        );
        assert_eq!(
            op(&["session", "issue", ID]),
            Op::SessionIssue { client_id: id }
        );
        assert_eq!(
            op(&["test-key", "create", ID]),
            Op::TestKeyCreate { client_id: id }
        );
        assert_eq!(
            op(&["api-token", "create", "--name", "ci", "--expires-in", "12h"]),
            Op::ApiTokenCreate {
                name: "ci".into(),
                scopes: Scopes::new(),
                expires_in_secs: Some(12 * 3600),
                identity: Box::default(),
            }
        );
        assert_eq!(
            op(&["verify", "kw_x", "--scope", "photos", "--level", "read"]),
            Op::Verify {
                token: Secret::new("kw_x"),
                require: Requirements::new().scope(ScopeRequirement {
                    scope: "photos".into(),
                    level: Level::Read
                }),
            }
        );
        assert_eq!(
            op(&[
                "verify",
                "kw_x",
                "--env",
                "live",
                "--kind",
                "session",
                "--kind",
                "admin_key"
            ]),
            Op::Verify {
                token: Secret::new("kw_x"),
                require: Requirements::new()
                    .env(Env::Live)
                    .kind(CredentialKind::Session)
                    .kind(CredentialKind::AdminKey),
            }
        );
        assert_eq!(op(&["revoke", ID]), Op::Revoke { credential_id: id });
        assert_eq!(op(&["stats"]), Op::Stats);
    }

    /// Exactly the commands the contract lists need an admin key, agreeing with the protocol.
    #[test]
    fn admin_key_commands() {
        let needs = [
            &["client", "create"][..],
            &["client", "show", ID][..],
            &["client", "list"][..],
            &["client", "revoke-sessions", ID][..],
            &["client", "delete", ID][..],
            &["session", "issue", ID][..],
            &["test-key", "create", ID][..],
            &["api-token", "create", "--name", "n"][..],
            &["revoke", ID][..],
        ];
        let needs_not = [
            &["ping"][..],
            &["admin-key", "create", "--label", "l"][..],
            &["admin-key", "list"][..],
            &["admin-key", "revoke", ID][..],
            &["verify", "t"][..],
            &["logout", "t"][..],
            &["stats"][..],
        ];
        for args in needs {
            assert!(op(args).needs_admin_key(), "{args:?}");
        }
        for args in needs_not {
            assert!(!op(args).needs_admin_key(), "{args:?}");
        }
    }

    /// `-` reads the token from standard input, trimmed; otherwise stdin is left alone.
    #[test]
    fn tokens_from_stdin() {
        assert_eq!(
            op_with_stdin(&["logout", "-"], "kw_tok\n").unwrap(),
            Op::Logout {
                token: Secret::new("kw_tok")
            }
        );
        assert_eq!(
            op_with_stdin(&["verify", "kw_arg"], "kw_stdin").unwrap(),
            Op::Verify {
                token: Secret::new("kw_arg"),
                require: Requirements::new()
            }
        );
    }

    /// A repeated scope and a sub-second expiry are usage errors, found before any connection.
    #[test]
    fn local_usage_errors() {
        let msg = usage(op_with_stdin(
            &[
                "client", "create", "--scope", "a=read", "--scope", "a=write",
            ],
            "",
        ));
        assert!(msg.contains("more than once"), "{msg}");
        let msg = usage(op_with_stdin(
            &[
                "api-token",
                "create",
                "--name",
                "n",
                "--expires-in",
                "500ms",
            ],
            "",
        ));
        assert!(msg.contains("at least one second"), "{msg}");
    }

    /// Each operation accepts its own reply kind and refuses another.
    #[test]
    fn replies_must_match() {
        let pong = Reply::Pong {
            version: "0.1.0".into(),
        };
        let revoked = Reply::Revoked { id: Uuid::nil() };
        assert!(answers(&Op::Ping, &pong));
        assert!(!answers(&Op::Ping, &revoked));
        assert!(answers(
            &Op::Logout {
                token: Secret::new("t")
            },
            &revoked
        ));
        assert!(!answers(&Op::Stats, &pong));
    }
}
