//! The command line of `keyward`: every subcommand, flag and argument, as clap derive types.
//!
//! It lives in the library, behind the `cli` feature (on by default), so that the `keyward`
//! binary and `keyward-packaging` (man pages, completions) share one definition.
//! Build with `default-features = false` for the client alone, without clap.
//!
//! Parsing only. Nothing here reads a file, standard input or the environment beyond what clap
//! itself does for `--socket`; values that need I/O (a token given as `-`, the admin key) are
//! resolved by the `keyward` binary.

pub mod meta;
pub mod scope;

use crate::{AuditOutcome, CredentialKind, Env, Level, ListOrder};
use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use meta::MetaPair;
use scope::ScopeGrant;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

/// Shown at the end of `keyward --help`: the exit statuses are part of the contract.
const AFTER_HELP: &str = "\
Secrets are never needed on the command line: the admin key comes from $KEYWARD_ADMIN_KEY or \
--admin-key-file, and a TOKEN argument of '-' reads the token from standard input, or when it is \
omitted from $KEYWARD_TOKEN (a token given as an argument works, with a warning: every local \
user can read it). Surrounding spaces and newlines are trimmed from each of these.

Socket: without --socket or $KEYWARD_SOCKET, keyward uses $XDG_RUNTIME_DIR/keyward/keyward.sock, \
or /tmp/keyward-$UID/keyward.sock when $XDG_RUNTIME_DIR is unset (where keywardd started by the \
same user listens); as root, /run/keyward/keyward.sock. When that socket does not exist but \
/run/keyward/keyward.sock does (the packaged daemon, for members of group keyward), keyward \
falls back to /run/keyward/keyward.sock. `keyward ping` prints the socket it used.

Trust: before sending anything, keyward checks who listens on the socket and talks only to a \
daemon running as root, as you, or as the system user keyward; trust another uid with \
KEYWARD_DAEMON_UID=UID[,UID...]. Anything else fails with UNTRUSTED_DAEMON (exit status 3).

Exit status: 0 success, 1 the daemon refused (its error code is printed) or a local file \
error, 2 usage error, 3 the daemon could not be reached or is not trusted.";

/// The help section listing the options every subcommand accepts.
const GLOBAL_HEADING: &str = "Global options";

/// Manage and check credentials held by keywardd.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Options accepted before or after any subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The daemon's socket [default: $RUNTIME_DIRECTORY/keyward.sock under systemd,
    /// /run/keyward/keyward.sock as root, else $XDG_RUNTIME_DIR/keyward/keyward.sock or
    /// /tmp/keyward-$UID/keyward.sock, falling back to /run/keyward/keyward.sock if only that
    /// exists]
    #[arg(
        long,
        global = true,
        env = "KEYWARD_SOCKET",
        value_name = "PATH",
        help_heading = GLOBAL_HEADING
    )]
    pub socket: Option<PathBuf>,

    /// Print exactly one JSON object on stdout, errors included
    #[arg(long, global = true, help_heading = GLOBAL_HEADING)]
    pub json: bool,

    /// Read the admin key from this file (wins over $KEYWARD_ADMIN_KEY)
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL_HEADING)]
    pub admin_key_file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that the daemon answers, and show its version
    Ping,
    /// Create, list and revoke admin keys (host admin only)
    #[command(subcommand)]
    AdminKey(AdminKeyCommand),
    /// Create, show, find, list, update and delete clients, and revoke their sessions (needs an
    /// admin key)
    #[command(subcommand)]
    Client(ClientCommand),
    /// Issue sessions for existing clients (needs an admin key)
    #[command(subcommand)]
    Session(SessionCommand),
    /// Create a client's non-expiring test key (needs an admin key)
    #[command(subcommand)]
    TestKey(TestKeyCommand),
    /// Create, list, show and update scoped API tokens (needs an admin key)
    #[command(subcommand)]
    ApiToken(ApiTokenCommand),
    /// Check a token and show whom it belongs to
    Verify(VerifyArgs),
    /// Revoke the token presented
    Logout {
        /// The token to revoke: '-' reads it from standard input; omitted, it comes from
        /// $KEYWARD_TOKEN
        #[arg(value_name = "TOKEN")]
        token: Option<String>,
    },
    /// Revoke one credential by its id (needs an admin key)
    Revoke {
        /// The credential's id, as shown when it was created or by `client show`
        #[arg(value_name = "CREDENTIAL_ID", value_parser = uuid_arg("CREDENTIAL_ID", "`keyward client show CLIENT_ID`"))]
        credential_id: Uuid,
    },
    /// Disable a client (all its credentials), a credential, an API token or an admin key
    /// (admin keys: host admin only); it answers CREDENTIAL_DISABLED until enabled (needs an
    /// admin key)
    Disable {
        /// A client id, credential id, API token's principal or credential id, or admin key id
        #[arg(value_name = "ID", value_parser = uuid_arg("ID", DISABLE_IDS))]
        id: Uuid,
    },
    /// Enable what `keyward disable` disabled: everything comes back as it was (needs an admin
    /// key)
    Enable {
        /// The id given to `keyward disable`
        #[arg(value_name = "ID", value_parser = uuid_arg("ID", DISABLE_IDS))]
        id: Uuid,
    },
    /// Show counts of what the daemon holds and has done
    Stats,
    /// Show the audit log of admin actions and refused attempts (host admin only), a page at
    /// a time, newest first: `--json` gives "next", the cursor for the older page
    Audit {
        /// Only entries this recent, e.g. 1h or 7d
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        /// At most this many entries, the most recent ones; a page holds fewer when more would
        /// not fit in one frame
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Only entries older than CURSOR: the "next" of an earlier page (--after is the same,
        /// as on the other lists)
        #[arg(
            long,
            value_name = "CURSOR",
            visible_alias = "after",
            conflicts_with = "all"
        )]
        before: Option<String>,
        /// Follow the cursors to the oldest entry and print every entry as one page
        #[arg(long)]
        all: bool,
        /// Only what this uid did or tried
        #[arg(long, value_name = "UID")]
        uid: Option<u32>,
        /// Only this action, e.g. client_create or admin_key_create
        #[arg(long, value_name = "NAME")]
        action: Option<String>,
        /// Only actions done (ok), or refused and failed ones (refused: any outcome but ok and
        /// pending)
        #[arg(long, value_enum, value_name = "OUTCOME")]
        outcome: Option<OutcomeArg>,
    },
    /// Write a consistent snapshot of everything to FILE while the daemon serves (host admin
    /// only); restore it offline with `keywardd restore FILE`
    Backup {
        /// Where to write the backup; it appears only once complete and checked
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print a shell completion script, e.g. `keyward completions bash > /etc/bash_completion.d/keyward`
    Completions {
        /// The shell to complete for
        #[arg(value_name = "SHELL")]
        shell: Shell,
    },
}

/// `keyward admin-key …`.
#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Mint an admin key; its secret is shown once
    Create {
        /// A name for people
        #[arg(long, value_name = "LABEL")]
        label: String,
        /// The environment the key, and everything it creates, belongs to
        #[arg(long, value_enum, default_value_t = EnvArg::Live)]
        env: EnvArg,
    },
    /// List admin keys (never their secrets), a page at a time: `--json` gives "next", the
    /// cursor for the following page
    List {
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        sort: SortArgs,
    },
    /// Revoke an admin key
    Revoke {
        /// The admin key's id
        #[arg(value_name = "ID", value_parser = uuid_arg("ID", "`keyward admin-key list`"))]
        id: Uuid,
    },
}

/// `keyward client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client and its first session; the session token is shown once
    Create {
        /// A name for people
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        /// How many live sessions the client may hold [default: the daemon's setting]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_sessions: Option<u32>,
        /// A scope the client holds, as NAME=LEVEL with LEVEL read, write or admin; repeatable
        #[arg(long = "scope", value_name = "NAME=LEVEL", value_parser = ScopeGrant::parse)]
        scopes: Vec<ScopeGrant>,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Show a client, its scopes and a page of its live credentials
    Show {
        /// The client's id
        #[arg(
            value_name = "CLIENT_ID",
            value_parser = uuid_arg("CLIENT_ID", CLIENT_IDS),
            required_unless_present = "external_id"
        )]
        client_id: Option<Uuid>,
        /// Find the client by the external id it was given instead
        #[arg(long, value_name = "STRING", conflicts_with = "client_id")]
        external_id: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// List the clients of the admin key's environment, a page at a time: `--json` gives
    /// "next", the cursor for the following page
    List {
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        sort: SortArgs,
    },
    /// Revoke every session of a client
    RevokeSessions {
        /// The client's id
        #[arg(value_name = "CLIENT_ID", value_parser = uuid_arg("CLIENT_ID", CLIENT_IDS))]
        client_id: Uuid,
    },
    /// Delete a client: revoke every credential it holds (sessions, test key), then remove it
    Delete {
        /// The client's id
        #[arg(value_name = "CLIENT_ID", value_parser = uuid_arg("CLIENT_ID", CLIENT_IDS))]
        client_id: Uuid,
    },
    /// Change a client's label, seat limit or scopes; a scope change holds from the next
    /// verify of each of its credentials
    Update {
        /// The client's id
        #[arg(value_name = "ID", value_parser = uuid_arg("ID", CLIENT_IDS))]
        client_id: Uuid,
        /// A new label
        #[arg(long, value_name = "L")]
        label: Option<String>,
        /// A new limit on the client's live sessions
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_sessions: Option<u32>,
        #[command(flatten)]
        scopes: ScopeChange,
        #[command(flatten)]
        identity: IdentityChange,
    },
}

/// `--external-id` and `--meta KEY=VALUE`... of the create commands.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Your system's id for it, unique among the environment's clients and API tokens (at most
    /// 256 bytes)
    #[arg(long, value_name = "STRING")]
    pub external_id: Option<String>,
    /// Metadata, as KEY=VALUE; repeatable (at most 16 keys and 4 KiB in all)
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = MetaPair::parse)]
    pub meta: Vec<MetaPair>,
}

/// `--external-id`, `--meta KEY=VALUE`... and `--remove-meta KEY`... of the update commands.
#[derive(Debug, Clone, Args)]
pub struct IdentityChange {
    /// A new external id, unique among the environment's clients and API tokens
    #[arg(long, value_name = "STRING")]
    pub external_id: Option<String>,
    /// Set a metadata key, as KEY=VALUE; repeatable (at most 16 keys and 4 KiB in all)
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = MetaPair::parse)]
    pub meta: Vec<MetaPair>,
    /// Take a metadata key away; repeatable
    #[arg(long = "remove-meta", value_name = "KEY")]
    pub remove_meta: Vec<String>,
}

/// `--scope NAME=LEVEL`... and `--remove-scope NAME`... of the update commands.
#[derive(Debug, Clone, Args)]
pub struct ScopeChange {
    /// Grant a scope, or change its level, as NAME=LEVEL; repeatable
    #[arg(long = "scope", value_name = "NAME=LEVEL", value_parser = ScopeGrant::parse)]
    pub grants: Vec<ScopeGrant>,
    /// Take a scope away; repeatable
    #[arg(long = "remove-scope", value_name = "NAME")]
    pub removals: Vec<String>,
}

/// `--sort` of the lists that may be sorted: clients and API tokens.
#[derive(Debug, Clone, Args)]
pub struct SortArgs {
    /// The order: by id, or least lately used first (as of the daemon's last count of uses,
    /// a few seconds old), to find dead credentials; a cursor works only in its own order
    #[arg(long, value_name = "ORDER", default_value = "id", value_parser = sort_arg())]
    pub sort: ListOrder,
}

/// `--sort`'s values, listed in the help and in the error for any other.
fn sort_arg() -> impl clap::builder::TypedValueParser<Value = ListOrder> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["id", "last-used"]).map(|text| {
        text.parse::<ListOrder>()
            .expect("one of the possible values")
    })
}

/// `--limit`, `--after` and `--all` of the paged lists.
#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// At most this many items in the page
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Start after CURSOR: the "next" of the page before
    #[arg(long, value_name = "CURSOR", conflicts_with = "all")]
    pub after: Option<String>,
    /// Follow the cursors to the end and print every item as one page
    #[arg(long)]
    pub all: bool,
}

/// `keyward session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Issue a fresh session for a client; its token is shown once
    Issue {
        /// The client's id
        #[arg(value_name = "CLIENT_ID", value_parser = uuid_arg("CLIENT_ID", CLIENT_IDS))]
        client_id: Uuid,
    },
}

/// `keyward test-key …`.
#[derive(Debug, Subcommand)]
pub enum TestKeyCommand {
    /// Create a client's test key, which never expires; it is shown once
    Create {
        /// The client's id
        #[arg(value_name = "CLIENT_ID", value_parser = uuid_arg("CLIENT_ID", CLIENT_IDS))]
        client_id: Uuid,
    },
}

/// `keyward api-token …`.
#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create an API token, a scoped pseudo-user; it is shown once
    Create {
        /// A name for people
        #[arg(long, value_name = "NAME")]
        name: String,
        /// A scope the token holds, as NAME=LEVEL with LEVEL read, write or admin; repeatable
        #[arg(long = "scope", value_name = "NAME=LEVEL", value_parser = ScopeGrant::parse)]
        scopes: Vec<ScopeGrant>,
        /// How long until the token expires, e.g. 30d or 12h [default: never]
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// List the API tokens of the admin key's environment (never their secrets), a page at
    /// a time: `--json` gives "next", the cursor for the following page
    List {
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        sort: SortArgs,
    },
    /// Show an API token (never its secret)
    Show {
        /// The token's id or its principal id
        #[arg(value_name = "ID", value_parser = uuid_arg("ID", API_TOKEN_IDS))]
        id: Uuid,
    },
    /// Rename an API token or change its scopes; a scope change holds from its next verify
    Update {
        /// The token's id or its principal id
        #[arg(value_name = "ID", value_parser = uuid_arg("ID", API_TOKEN_IDS))]
        id: Uuid,
        /// A new name
        #[arg(long, value_name = "N")]
        name: Option<String>,
        #[command(flatten)]
        scopes: ScopeChange,
        #[command(flatten)]
        identity: IdentityChange,
    },
}

/// `keyward verify TOKEN [--env test|live] [--kind KIND]... [--scope NAME --level LEVEL]`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token to check: '-' reads it from standard input; omitted, it comes from
    /// $KEYWARD_TOKEN
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
    /// Accept only a credential of this environment (pin it in production)
    #[arg(long, value_enum, value_name = "ENV")]
    pub env: Option<EnvArg>,
    /// Accept only this kind; repeatable [default: session, test_key, api_token; an admin key
    /// verifies only when asked for]
    #[arg(long = "kind", value_enum, value_name = "KIND")]
    pub kinds: Vec<KindArg>,
    /// Also demand at least --level in this scope
    #[arg(long, value_name = "NAME", requires = "level")]
    pub scope: Option<String>,
    /// The minimum level demanded in --scope
    #[arg(long, value_enum, value_name = "LEVEL", requires = "scope")]
    pub level: Option<LevelArg>,
}

/// Where a client's id can be found, for the message about a malformed one.
const CLIENT_IDS: &str = "`keyward client list`";
/// Where the ids `disable` and `enable` take are shown.
const DISABLE_IDS: &str = "`keyward client list`, `keyward client show CLIENT_ID`";

/// Where an API token's id can be found.
const API_TOKEN_IDS: &str = "`keyward api-token list`";

/// A UUID shown as the example in messages about malformed ids.
const EXAMPLE_UUID: &str = "0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978";

/// A parser for the UUID argument `name`: its error says what the value must look like and
/// where to find one (`listed_by`), rather than the UUID parser's "invalid character: found
/// `l` at 1".
fn uuid_arg(
    name: &'static str,
    listed_by: &'static str,
) -> impl Fn(&str) -> Result<Uuid, String> + Clone + Send + Sync + 'static {
    move |text| {
        Uuid::parse_str(text).map_err(|_| {
            format!("{name} must be a UUID such as {EXAMPLE_UUID}, as {listed_by} shows")
        })
    }
}

/// `--env` values. A mirror of [`Env`], because clap's `ValueEnum` cannot be implemented on a
/// protocol type from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvArg {
    /// Development and testing
    Test,
    /// Production
    Live,
}

impl From<EnvArg> for Env {
    fn from(env: EnvArg) -> Env {
        match env {
            EnvArg::Test => Env::Test,
            EnvArg::Live => Env::Live,
        }
    }
}

/// `--kind` values. A mirror of [`CredentialKind`], spelled as in tokens' JSON, for the same
/// reason as [`EnvArg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A client's sliding session
    #[value(name = "session")]
    Session,
    /// A client's test key
    #[value(name = "test_key")]
    TestKey,
    /// A scoped API token
    #[value(name = "api_token")]
    ApiToken,
    /// A backend's admin key
    #[value(name = "admin_key")]
    AdminKey,
}

impl From<KindArg> for CredentialKind {
    fn from(kind: KindArg) -> CredentialKind {
        match kind {
            KindArg::Session => CredentialKind::Session,
            KindArg::TestKey => CredentialKind::TestKey,
            KindArg::ApiToken => CredentialKind::ApiToken,
            KindArg::AdminKey => CredentialKind::AdminKey,
        }
    }
}

/// `keyward audit --outcome` values. A mirror of [`AuditOutcome`], for the same reason as
/// [`EnvArg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    /// Done
    Ok,
    /// Refused or failed: any outcome but ok and pending
    Refused,
}

impl From<OutcomeArg> for AuditOutcome {
    fn from(outcome: OutcomeArg) -> AuditOutcome {
        match outcome {
            OutcomeArg::Ok => AuditOutcome::Ok,
            OutcomeArg::Refused => AuditOutcome::Refused,
        }
    }
}

/// `--level` values. A mirror of [`Level`], for the same reason as [`EnvArg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// May read
    Read,
    /// May read and write
    Write,
    /// May do anything within the scope
    Admin,
}

impl From<LevelArg> for Level {
    fn from(level: LevelArg) -> Level {
        match level {
            LevelArg::Read => Level::Read,
            LevelArg::Write => Level::Write,
            LevelArg::Admin => Level::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    const ID: &str = "0b6f3c1e-5a2d-4c1b-9e7f-2d3c4b5a6978";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keyward").chain(args.iter().copied()))
    }

    /// The clap definition is internally consistent (names, `requires` targets, defaults).
    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `--help` explains both socket fallbacks and the trust rule.
    #[test]
    fn help_explains_socket_fallbacks() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "/tmp/keyward-$UID/keyward.sock",
            "falls back to /run/keyward/keyward.sock",
            "KEYWARD_DAEMON_UID",
            "UNTRUSTED_DAEMON",
        ] {
            assert!(help.contains(needle), "{needle} missing from: {help}");
        }
    }

    /// Global options are accepted before and after the subcommand.
    #[test]
    fn global_options_go_anywhere() {
        for args in [
            &[
                "--json",
                "--socket",
                "/s",
                "--admin-key-file",
                "/k",
                "client",
                "list",
            ][..],
            &[
                "client",
                "list",
                "--json",
                "--socket",
                "/s",
                "--admin-key-file",
                "/k",
            ][..],
            &[
                "client",
                "--json",
                "list",
                "--socket=/s",
                "--admin-key-file=/k",
            ][..],
        ] {
            let cli = parse(args).unwrap();
            assert!(cli.global.json, "{args:?}");
            assert_eq!(
                cli.global.socket.as_deref(),
                Some("/s".as_ref()),
                "{args:?}"
            );
            assert_eq!(cli.global.admin_key_file.as_deref(), Some("/k".as_ref()));
            assert!(matches!(
                cli.command,
                Command::Client(ClientCommand::List { .. })
            ));
        }
    }

    /// `admin-key create` needs a label and defaults to the live environment.
    #[test]
    fn admin_key_create_defaults_to_live() {
        let cli = parse(&["admin-key", "create", "--label", "ci"]).unwrap();
        match cli.command {
            Command::AdminKey(AdminKeyCommand::Create { label, env }) => {
                assert_eq!(label, "ci");
                assert_eq!(env, EnvArg::Live);
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["admin-key", "create", "--label", "ci", "--env", "test"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::AdminKey(AdminKeyCommand::Create {
                env: EnvArg::Test,
                ..
            })
        ));
        let err = parse(&["admin-key", "create"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let err = parse(&["admin-key", "create", "--label", "x", "--env", "prod"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
    }

    /// `client create` collects repeated scopes and its seat limit.
    #[test]
    fn client_create_collects_scopes() {
        let cli = parse(&[
            "client",
            "create",
            "--label",
            "phone",
            "--max-sessions",
            "3",
            "--scope",
            "photos=write",
            "--scope=music=read",
        ])
        .unwrap();
        match cli.command {
            Command::Client(ClientCommand::Create {
                label,
                max_sessions,
                scopes,
                ..
            }) => {
                assert_eq!(label.as_deref(), Some("phone"));
                assert_eq!(max_sessions, Some(3));
                let names: Vec<_> = scopes.iter().map(|s| (s.name.as_str(), s.level)).collect();
                assert_eq!(names, [("photos", Level::Write), ("music", Level::Read)]);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Scope syntax errors and a zero seat limit are usage errors (exit 2).
    #[test]
    fn bad_scopes_are_usage_errors() {
        for args in [
            &["client", "create", "--scope", "photos"][..],
            &["client", "create", "--scope", "photos=owner"][..],
            &["api-token", "create", "--name", "n", "--scope", "=read"][..],
            &["client", "create", "--max-sessions", "0"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
            assert_eq!(err.exit_code(), 2);
        }
        let err = parse(&["client", "create", "--scope", "photos"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("NAME=LEVEL") && text.contains("read, write, admin"),
            "{text}"
        );
    }

    /// Ids that are not UUIDs are usage errors.
    #[test]
    fn bad_uuids_are_usage_errors() {
        for args in [
            &["client", "show", "nope"][..],
            &["session", "issue", "1234"][..],
            &["test-key", "create", "x"][..],
            &["revoke", "kw_ses_live_abc"][..],
            &["admin-key", "revoke", ""][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
        }
        for (args, name) in [
            (&["client", "show", "lol"][..], "CLIENT_ID"),
            (&["client", "revoke-sessions", "x"][..], "CLIENT_ID"),
            (&["client", "delete", "x"][..], "CLIENT_ID"),
            (&["session", "issue", "1234"][..], "CLIENT_ID"),
            (&["test-key", "create", "x"][..], "CLIENT_ID"),
            (&["revoke", "x"][..], "CREDENTIAL_ID"),
            (&["admin-key", "revoke", "x"][..], "ID"),
        ] {
            let text = parse(args).unwrap_err().to_string();
            assert!(
                text.contains(&format!("{name} must be a UUID such as {EXAMPLE_UUID}")),
                "{args:?}: {text}"
            );
            assert!(!text.contains("invalid character"), "{text}");
        }
        let cli = parse(&["client", "revoke-sessions", ID]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Client(ClientCommand::RevokeSessions { client_id }) if client_id.to_string() == ID
        ));
    }

    /// `--expires-in` takes humantime durations; nonsense is a usage error.
    #[test]
    fn expires_in_is_a_humantime_duration() {
        let cli = parse(&["api-token", "create", "--name", "n", "--expires-in", "30d"]).unwrap();
        match cli.command {
            Command::ApiToken(ApiTokenCommand::Create { expires_in, .. }) => {
                assert_eq!(expires_in, Some(Duration::from_secs(30 * 86_400)));
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&["api-token", "create", "--name", "n", "--expires-in", "soon"]);
        assert_eq!(err.unwrap_err().kind(), ErrorKind::ValueValidation);
    }

    /// `verify` takes `--scope` and `--level` together or not at all.
    #[test]
    fn verify_scope_and_level_go_together() {
        let cli = parse(&["verify", "-", "--scope", "photos", "--level", "write"]).unwrap();
        match cli.command {
            Command::Verify(v) => {
                assert_eq!(v.token.as_deref(), Some("-"));
                assert_eq!(v.scope.as_deref(), Some("photos"));
                assert_eq!(v.level, Some(LevelArg::Write));
            }
            other => panic!("{other:?}"),
        }
        for args in [
            &["verify", "t", "--scope", "photos"][..],
            &["verify", "t", "--level", "read"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{args:?}");
        }
    }

    /// Every documented command line parses.
    #[test]
    fn every_command_parses() {
        for args in [
            &["ping"][..],
            &["admin-key", "list"][..],
            &["admin-key", "revoke", ID][..],
            &["client", "create"][..],
            &["client", "show", ID][..],
            &["client", "list"][..],
            &["session", "issue", ID][..],
            &["test-key", "create", ID][..],
            &["api-token", "create", "--name", "ci"][..],
            &["verify", "kw_ses_live_x"][..],
            &["logout", "-"][..],
            &["revoke", ID][..],
            &["stats"][..],
            &["verify"][..],
            &["logout"][..],
            &["completions", "bash"][..],
            &["completions", "zsh"][..],
            &["completions", "fish"][..],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    /// A missing subcommand and an unknown one are errors, not silent no-ops.
    #[test]
    fn subcommand_is_required() {
        assert!(parse(&[]).is_err());
        assert_eq!(
            parse(&["frobnicate"]).unwrap_err().kind(),
            ErrorKind::InvalidSubcommand
        );
    }
}
