//! `--all`: follows a paged list's cursors and joins its pages into one reply, so the output is
//! one JSON object with `"next": null`.

use crate::cli::{ApiTokenCommand, Command, PageArgs};
use keyward_client::{Op, Reply};

/// The paging options of `command`, if it lists a page at a time.
fn page_args(command: &Command) -> Option<&PageArgs> {
    match command {
        Command::ApiToken(ApiTokenCommand::List { page }) => Some(page),
        _ => None,
    }
}

/// Whether `command` asked for every page.
pub(crate) fn wants_all(command: &Command) -> bool {
    page_args(command).is_some_and(|page| page.all)
}

/// The request for the page after `reply`, the answer to `op`; `None` after the last page.
pub(crate) fn next(op: &Op, reply: &Reply) -> Option<Op> {
    match (op, reply) {
        (Op::ApiTokenList { limit, .. }, Reply::ApiTokens(page)) => {
            page.next.as_ref().map(|after| Op::ApiTokenList {
                limit: *limit,
                after: Some(after.clone()),
            })
        }
        _ => None,
    }
}

/// Appends `page`'s items to `into`, and takes its cursor.
pub(crate) fn join(into: &mut Reply, page: Reply) {
    if let (Reply::ApiTokens(into), Reply::ApiTokens(page)) = (into, page) {
        into.api_tokens.extend(page.api_tokens);
        into.next = page.next;
    }
}
