//! `--all`: follows a paged list's cursors and joins its pages into one reply, so the output is
//! one JSON object with `"next": null`.

use crate::cli::{AdminKeyCommand, ApiTokenCommand, ClientCommand, Command};
use keyward_client::{Op, Reply};

/// Whether `command` asked for every page.
pub(crate) fn wants_all(command: &Command) -> bool {
    match command {
        Command::ApiToken(ApiTokenCommand::List { page, .. })
        | Command::AdminKey(AdminKeyCommand::List { page, .. })
        | Command::Client(ClientCommand::List { page, .. } | ClientCommand::Show { page, .. }) => {
            page.all
        }
        Command::Audit { all, .. } => *all,
        _ => false,
    }
}

/// The request for the page after `reply`, the answer to `op`; `None` after the last page.
pub(crate) fn next(op: &Op, reply: &Reply) -> Option<Op> {
    let mut op = op.clone();
    let next = match (&mut op, reply) {
        (Op::ApiTokenList { after, .. }, Reply::ApiTokens(page)) => (after, &page.next),
        (Op::AdminKeyList { after, .. }, Reply::AdminKeys(page)) => (after, &page.next),
        (Op::ClientList { after, .. }, Reply::Clients(page)) => (after, &page.next),
        (Op::ClientShow { after, .. } | Op::ClientFind { after, .. }, Reply::Client(details)) => {
            (after, &details.next)
        }
        (Op::Audit { before, .. }, Reply::Audit(page)) => (before, &page.next),
        _ => return None,
    };
    *next.0 = Some(next.1.clone()?);
    Some(op)
}

/// Appends `page`'s items to `into`, and takes its cursor.
pub(crate) fn join(into: &mut Reply, page: Reply) {
    match (into, page) {
        (Reply::ApiTokens(into), Reply::ApiTokens(page)) => {
            into.api_tokens.extend(page.api_tokens);
            into.next = page.next;
        }
        (Reply::AdminKeys(into), Reply::AdminKeys(page)) => {
            into.admin_keys.extend(page.admin_keys);
            into.next = page.next;
        }
        (Reply::Clients(into), Reply::Clients(page)) => {
            into.clients.extend(page.clients);
            into.next = page.next;
        }
        (Reply::Client(into), Reply::Client(page)) => {
            into.credentials.extend(page.credentials);
            into.next = page.next;
        }
        (Reply::Audit(into), Reply::Audit(page)) => {
            // Pages come newest first and each is oldest first: older entries go in front.
            let mut entries = page.entries;
            entries.append(&mut into.entries);
            into.entries = entries;
            into.next = page.next;
        }
        _ => {}
    }
}
