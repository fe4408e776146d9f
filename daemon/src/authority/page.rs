//! Paging: the one rule every list follows.
//!
//! A list walks a key-ordered range (a sled tree, or a client's credentials sorted by id) from
//! just after its cursor, and the cursor it hands back is the last key the page passed over.
//! So a walk through all pages sees every item that existed for the whole walk exactly once,
//! whatever is created or deleted meanwhile, and a page costs what it reads: it stops at
//! `limit` items, after [`SCAN_PER_ITEM`] keys per item asked for, or before its encoding
//! would outgrow a frame.

use keyward_protocol::{codec, MAX_FRAME_LEN, MAX_PAGE};
use serde::Serialize;
use uuid::Uuid;

use super::Denied;
use crate::store::Place;

/// The most keys one page may pass over, per item asked for: a page of clients that meets
/// mostly API tokens or the other environment's clients stops early with a cursor, so its cost
/// stays proportional to the page.
const SCAN_PER_ITEM: usize = 8;
/// Room left in a frame for the reply's framing and its cursor.
const HEADROOM: usize = 1024;

/// One page: its items and the cursor after them, `None` at the end.
pub(super) struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A list's key, which its cursors name.
pub(super) trait Key: Copy {
    /// The opaque cursor after this key.
    fn cursor(self) -> String;
    /// The key a cursor names, if it is one of this list's.
    fn parse(text: &str) -> Option<Self>;
}

/// Lists in id order.
impl Key for Uuid {
    fn cursor(self) -> String {
        self.simple().to_string()
    }

    fn parse(text: &str) -> Option<Uuid> {
        Uuid::try_parse(text).ok()
    }
}

/// Lists in last-use order: `l`, the last use's 16 hex digits (sign bit flipped, so never
/// is all zeros), then the id's 32.
impl Key for Place {
    fn cursor(self) -> String {
        let (at, id) = self;
        let at = at.unwrap_or(i64::MIN) as u64 ^ (1 << 63);
        format!("l{at:016x}{}", id.simple())
    }

    fn parse(text: &str) -> Option<Place> {
        let rest = text.strip_prefix('l')?;
        let at = u64::from_str_radix(rest.get(..16)?, 16).ok()? ^ (1 << 63);
        let id = Uuid::try_parse(rest.get(16..)?).ok()?;
        Some((((at as i64) != i64::MIN).then_some(at as i64), id))
    }
}

/// The key after which a page starts, from the cursor a page gave.
pub(super) fn parse_cursor<K: Key>(after: Option<&str>) -> Result<Option<K>, Denied> {
    after
        .map(|text| {
            K::parse(text).ok_or_else(|| {
                Denied::BadRequest(
                    "the cursor is not one a page of this list and order returned; \
                     start again without --after"
                        .into(),
                )
            })
        })
        .transpose()
}

/// Takes a page from `entries`, in key order after the cursor: each is its key and the item,
/// or `None` for a key the list passes over. `reserved` is what the rest of the reply takes.
pub(super) fn collect<K: Key, T: Serialize, E>(
    limit: u32,
    reserved: usize,
    entries: impl IntoIterator<Item = Result<(K, Option<T>), E>>,
) -> Result<Page<T>, E> {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let budget = MAX_FRAME_LEN.saturating_sub(HEADROOM + reserved);
    let mut page = Page {
        items: Vec::new(),
        next: None,
    };
    let (mut bytes, mut scanned, mut last) = (0, 0, None::<K>);
    for entry in entries {
        let (key, item) = entry?;
        if page.items.len() == limit || scanned == limit * SCAN_PER_ITEM {
            page.next = last.map(K::cursor);
            break;
        }
        scanned += 1;
        if let Some(item) = item {
            let size = codec::encode(&item).map_or(budget, |b| b.len());
            // One item always goes in: the limits on names and scopes keep it within a frame.
            if bytes + size > budget && !page.items.is_empty() {
                page.next = last.map(K::cursor);
                break;
            }
            bytes += size;
            page.items.push(item);
        }
        last = Some(key);
    }
    Ok(page)
}

/// The opaque cursor after key `id`.
#[cfg(test)]
fn cursor(id: Uuid) -> String {
    id.cursor()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u128) -> impl Iterator<Item = Result<(Uuid, Option<String>), ()>> {
        (1..=n).map(|k| Ok((Uuid::from_u128(k), (k % 2 == 0).then(|| "x".repeat(200)))))
    }

    /// A page stops at its limit, at its scan budget, and before the frame fills, each time
    /// with the cursor of the last key it passed over.
    #[test]
    fn pages_stop_with_a_cursor() {
        let page = collect(2, 0, keys(10)).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next, Some(cursor(Uuid::from_u128(4))));
        let page = collect(1000, 0, keys(100_000)).unwrap();
        assert!(page.items.len() < 1000, "{} items", page.items.len());
        let used: usize = page
            .items
            .iter()
            .map(|i| codec::encode(i).unwrap().len())
            .sum();
        assert!(used <= MAX_FRAME_LEN - HEADROOM);
        let page = collect(
            1,
            0,
            (1..=100u128).map(|k| Ok::<_, ()>((Uuid::from_u128(k), None::<String>))),
        )
        .unwrap();
        assert!(page.items.is_empty());
        assert_eq!(
            page.next,
            Some(cursor(Uuid::from_u128(SCAN_PER_ITEM as u128)))
        );
        assert_eq!(
            parse_cursor(page.next.as_deref()).unwrap(),
            Some(Uuid::from_u128(8))
        );
        assert!(collect(5, 0, keys(4)).unwrap().next.is_none());
    }

    /// A last-use cursor names its place, never and negative times included, and neither
    /// kind of cursor is taken for the other.
    #[test]
    fn last_use_cursors_round_trip() {
        let id = Uuid::from_u128(7);
        for at in [None, Some(-1), Some(1), Some(1_765_000_000_000)] {
            let text = (at, id).cursor();
            assert_eq!(parse_cursor::<Place>(Some(&text)).unwrap(), Some((at, id)));
            assert!(parse_cursor::<Uuid>(Some(&text)).is_err());
        }
        assert!(parse_cursor::<Place>(Some(&id.cursor())).is_err());
        assert!(parse_cursor::<Place>(Some("l00")).is_err());
    }
}
