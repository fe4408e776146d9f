//! Runs one parsed command: builds its request, finds the admin key if it needs one, asks the
//! daemon, and checks the reply is the kind that command gets.

use crate::backup::{self, BackupDone};
use crate::cli::{Cli, Command};
use crate::failure::Failure;
use crate::{pages, request, secrets, socket};
use keyward_client::{Client, Error, Op, Reply};
use std::io;
use std::path::PathBuf;

/// What a successful command produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The daemon's reply to the one request the command sent.
    Reply(Reply),
    /// `ping`'s answer, with the socket that gave it.
    Ping {
        /// The daemon's version.
        version: String,
        /// The socket used.
        socket: PathBuf,
    },
    /// A backup written to a file.
    Backup(BackupDone),
    /// `client delete`'s reply, which counts credentials of every kind, not only sessions.
    Deleted {
        /// The reply, for `--json`.
        reply: Reply,
        /// The deleted client.
        client_id: uuid::Uuid,
    },
}

/// Runs `cli` against the daemon.
///
/// Every usage error (bad scope, missing admin key, unreadable token) is found before
/// connecting, so it is reported as such even when the daemon is down.
///
/// # Errors
/// A [`Failure`] of any kind.
pub(crate) async fn run(cli: &Cli) -> Result<Outcome, Failure> {
    let op = request::build(&cli.command, &mut io::stdin())?;
    let admin_key = if op.needs_admin_key() {
        Some(secrets::admin_key(
            cli.global.admin_key_file.as_deref(),
            std::env::var_os(secrets::ADMIN_KEY_VAR),
        )?)
    } else {
        None
    };
    let tried = socket::candidates(cli.global.socket.as_deref());
    let socket = socket::choose(&tried);

    let mut client = match Client::connect(&socket).await {
        Ok(client) => client,
        Err(error @ (Error::Connect { .. } | Error::UntrustedDaemon { .. })) => {
            return Err(Failure::Connect { error, tried })
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(key) = &admin_key {
        client.set_admin_key(key.secret.clone());
    }
    if let Command::Backup { file } = &cli.command {
        return Ok(Outcome::Backup(backup::run(&mut client, file).await?));
    }
    let mut reply = call(&mut client, &op, admin_key.as_ref()).await?;
    if pages::wants_all(&cli.command) {
        let mut asked = op.clone();
        while let Some(op) = pages::next(&asked, &reply) {
            let page = call(&mut client, &op, admin_key.as_ref()).await?;
            pages::join(&mut reply, page);
            asked = op;
        }
    }
    Ok(match (reply, op) {
        (Reply::Pong { version }, _) => Outcome::Ping { version, socket },
        (reply, keyward_client::Op::ClientDelete { client_id }) => {
            Outcome::Deleted { reply, client_id }
        }
        (reply, _) => Outcome::Reply(reply),
    })
}

/// Sends `op` and checks the reply is the kind it gets.
async fn call(
    client: &mut Client,
    op: &Op,
    admin_key: Option<&secrets::AdminKey>,
) -> Result<Reply, Failure> {
    let reply = match (client.call(op.clone()).await, admin_key) {
        (Ok(reply), _) => reply,
        (Err(err), Some(key)) => return Err(key.explain(err)),
        (Err(err), None) => return Err(err.into()),
    };
    if !request::answers(op, &reply) {
        return Err(Error::Protocol(format!(
            "the daemon answered {} with a reply of another kind",
            op.name()
        ))
        .into());
    }
    Ok(reply)
}
