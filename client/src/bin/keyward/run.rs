//! Runs one parsed command: builds its request, finds the admin key if it needs one, asks the
//! daemon, and checks the reply is the kind that command gets.

use crate::backup::{self, BackupDone};
use crate::cli::{Cli, Command};
use crate::failure::Failure;
use crate::{request, secrets};
use keyward_client::{Client, Error, Reply};
use std::io;

/// Runs `cli` against the daemon.
///
/// Every usage error (bad scope, missing admin key, unreadable token) is found before
/// connecting, so it is reported as such even when the daemon is down.
///
/// # Errors
/// A [`Failure`] of any kind.
/// What a successful command produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The daemon's reply to the one request the command sent.
    Reply(Reply),
    /// A backup written to a file.
    Backup(BackupDone),
}

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
    let socket = cli
        .global
        .socket
        .clone()
        // An empty --socket or $KEYWARD_SOCKET means "not set", as for the daemon.
        .filter(|path| !path.as_os_str().is_empty())
        .unwrap_or_else(keyward_client::default_socket_path);

    let mut client = Client::connect(&socket).await?;
    if let Some(key) = &admin_key {
        client.set_admin_key(key.secret.clone());
    }
    if let Command::Backup { file } = &cli.command {
        return Ok(Outcome::Backup(backup::run(&mut client, file).await?));
    }
    let reply = match (client.call(op.clone()).await, &admin_key) {
        (Ok(reply), _) => reply,
        (Err(err), Some(key)) => return Err(key.explain(err)),
        (Err(err), None) => return Err(err.into()),
    };
    if !request::answers(&op, &reply) {
        return Err(Error::Protocol(format!(
            "the daemon answered {} with a reply of another kind",
            op.name()
        ))
        .into());
    }
    Ok(Outcome::Reply(reply))
}
