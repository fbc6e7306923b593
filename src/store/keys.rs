//! Key layout of the single `redress` tree. Prefixes keep each kind of record in its own
//! contiguous, sorted range, so every index query is one range scan.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m/version` | | layout version |
//! | `m/state/` | name | adapter state, e.g. `imap/USER@HOST:PORT/MAILBOX` → `UIDVALIDITY:UID` |
//! | `n/` | `PREFIX-YEAR` | last sequence number used (u64, big-endian) |
//! | `c/` | reference | case snapshot (JSON) |
//! | `e/` | reference `/` seq (8 digits) | recorded event (JSON) |
//! | `d/` | `YYYY-MM-DD/` reference `/` what | empty: the due-date index |
//! | `s/` | status `/` reference | empty: the status index |
//! | `p/` | contact key NUL reference | empty: the contact index |
//! | `i/` | Message-ID | reference: the message index |
//! | `q/d/`, `q/a/` | id (20 digits) | a draft or alert effect still to be carried out (JSON); two queues, so the drafter never walks alerts waiting for the scheduler |
//! | `h/` | SHA-256 of a raw message | who holds it: a case reference or `set-aside` |
//! | `r/` | SHA-256 | the raw message |
//! | `x/` | SHA-256 | set-aside record (JSON): automatic or unreadable mail |
//! | `k/` | `YYYY-MM-DD/` sender | messages taken in from that sender that day (u64) |
//! | `l/` | id (20 digits) | a draft letter (JSON) |
//! | `o/` | id (20 digits) | an approved letter waiting to be sent (JSON) |
//! | `y/` | `YYYY-MM-DD/` reference `/` what `/` level | when the alert was raised (RFC 3339): each (due item, due date, level) is alerted once |
//! | `z/` | as `d/` | empty: a due item that arrived dated before the scan's settled date (`m/state/scan/settled-before`) |
//! | `w/` | id (20 digits) | a notification to staff (JSON), with its delivery per channel |
//! | `v/` | id (20 digits) | empty: a notification not yet delivered on every channel |
//! | `m/state/run/` | job `/` local date-time | when a scheduled run was done |
//! | `t/` | reference | the latest staff correction of the case's kind, with the words of its first message (JSON): training data for the classifier |
//!
//! Free-form parts that may contain `/` (contact keys, Message-IDs) are either last or ended by
//! a NUL byte, which no email address or header contains.

use chrono::NaiveDate;

use crate::core::model::{Case, DueItem, Status};

pub const VERSION: &[u8] = b"m/version";
pub const CASES: &[u8] = b"c/";
pub const EVENTS: &[u8] = b"e/";
pub const DUE: &[u8] = b"d/";
pub const STATUS: &[u8] = b"s/";
pub const CONTACTS: &[u8] = b"p/";
pub const MESSAGES: &[u8] = b"i/";
pub const QUEUE: &[u8] = b"q/";
pub const SET_ASIDE: &[u8] = b"x/";
pub const DRAFTS: &[u8] = b"l/";
pub const OUTBOX: &[u8] = b"o/";
pub const CORRECTIONS: &[u8] = b"t/";

pub fn seen(hash: &str) -> Vec<u8> {
    format!("h/{hash}").into_bytes()
}

pub fn raw(hash: &str) -> Vec<u8> {
    format!("r/{hash}").into_bytes()
}

pub fn set_aside(hash: &str) -> Vec<u8> {
    format!("x/{hash}").into_bytes()
}

pub fn sender_count(day: NaiveDate, sender: &str) -> Vec<u8> {
    format!("k/{}/{sender}", day.format("%Y-%m-%d")).into_bytes()
}

pub fn draft(id: u64) -> Vec<u8> {
    format!("l/{id:020}").into_bytes()
}

pub fn outbox(id: u64) -> Vec<u8> {
    format!("o/{id:020}").into_bytes()
}

pub fn correction(reference: &str) -> Vec<u8> {
    format!("t/{reference}").into_bytes()
}

pub fn meta(name: &str) -> Vec<u8> {
    format!("m/state/{name}").into_bytes()
}

pub fn counter(prefix_year: &str) -> Vec<u8> {
    format!("n/{prefix_year}").into_bytes()
}

pub fn case(reference: &str) -> Vec<u8> {
    format!("c/{reference}").into_bytes()
}

pub fn event(reference: &str, seq: u32) -> Vec<u8> {
    format!("e/{reference}/{seq:08}").into_bytes()
}

pub fn events_of(reference: &str) -> Vec<u8> {
    format!("e/{reference}/").into_bytes()
}

pub fn due(item: &DueItem, reference: &str) -> Vec<u8> {
    format!(
        "d/{}/{reference}/{}",
        item.due.format("%Y-%m-%d"),
        item.what.key()
    )
    .into_bytes()
}

pub fn due_from(date: NaiveDate) -> Vec<u8> {
    format!("d/{}", date.format("%Y-%m-%d")).into_bytes()
}

pub fn status(status: Status, reference: &str) -> Vec<u8> {
    format!("s/{}/{reference}", status.as_str()).into_bytes()
}

pub fn status_of(status: Status) -> Vec<u8> {
    format!("s/{}/", status.as_str()).into_bytes()
}

pub fn contact(contact_key: &str, reference: &str) -> Vec<u8> {
    format!("p/{contact_key}\0{reference}").into_bytes()
}

pub fn contact_of(contact_key: &str) -> Vec<u8> {
    format!("p/{contact_key}\0").into_bytes()
}

pub fn message(message_id: &str) -> Vec<u8> {
    format!("i/{message_id}").into_bytes()
}

pub const QUEUE_DRAFTS: &[u8] = b"q/d/";
pub const QUEUE_ALERTS: &[u8] = b"q/a/";

/// The queue key of an effect: drafts and alerts are kept apart.
pub fn queue(id: u64, effect: &crate::core::workflow::Effect) -> Vec<u8> {
    let kind = match effect {
        crate::core::workflow::Effect::Draft(_) => 'd',
        _ => 'a',
    };
    format!("q/{kind}/{id:020}").into_bytes()
}

/// Every index key a case snapshot should have. Comparing the sets of an old and a new
/// snapshot gives exactly the index entries a change must remove and add.
pub fn index_keys(case: &Case) -> Vec<Vec<u8>> {
    let r = &case.reference;
    let mut keys: Vec<Vec<u8>> = case.due_items().iter().map(|d| due(d, r)).collect();
    keys.push(status(case.status, r));
    keys.extend(case.contact_keys().iter().map(|c| contact(c, r)));
    keys.sort();
    keys.dedup();
    keys
}

/// Splits a reference `DH-2026-00042` into its counter name `DH-2026` and number 42.
pub fn split_reference(reference: &str) -> Option<(&str, u64)> {
    let (prefix_year, number) = reference.rsplit_once('-')?;
    Some((prefix_year, number.parse().ok()?))
}

/// The value part of the last path segment of a `d/`, `s/` or `p/` key: the reference.
pub fn reference_in_index_key(key: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(key).ok()?;
    if let Some(rest) = text.strip_prefix("p/") {
        return rest.split_once('\0').map(|(_, r)| r.to_owned());
    }
    if let Some(rest) = text.strip_prefix("s/") {
        return rest.split_once('/').map(|(_, r)| r.to_owned());
    }
    let rest = text.strip_prefix("d/")?;
    let mut parts = rest.splitn(3, '/');
    parts.next()?;
    parts.next().map(str::to_owned)
}
