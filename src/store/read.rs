//! Queries. Each one that could touch many cases is a range scan over an index, so "what is due
//! next" stays fast however many cases the landlord has.

use chrono::NaiveDate;
use serde::Serialize;

use super::write::Queued;
use super::{Store, StoreError, decode, keys};
use crate::core::event::Recorded;
use crate::core::model::{Case, Status};

/// One entry of the due-date index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DueEntry {
    pub due: NaiveDate,
    pub reference: String,
    /// What is due, as in [`crate::core::model::DueKind::key`] (`ack1`, `response2`, ...).
    pub what: String,
}

/// An effect waiting to be carried out, with its queue id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEffect {
    pub id: u64,
    pub queued: Queued,
}

impl Store {
    /// The case with this reference, if any.
    pub fn case(&self, reference: &str) -> Result<Option<Case>, StoreError> {
        let key = keys::case(reference);
        self.tree.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// The case with this reference, or [`StoreError::NotFound`].
    pub fn require_case(&self, reference: &str) -> Result<Case, StoreError> {
        self.case(reference)?
            .ok_or_else(|| StoreError::NotFound(reference.to_owned()))
    }

    /// Every case, in reference order.
    pub fn cases(&self) -> impl Iterator<Item = Result<Case, StoreError>> + '_ {
        self.tree.scan_prefix(keys::CASES).map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        })
    }

    /// References of the cases with this status, from the status index.
    pub fn references_with_status(&self, status: Status) -> Result<Vec<String>, StoreError> {
        self.references_under(&keys::status_of(status))
    }

    /// References of the cases a contact key (`email:…`, `phone:…`, `social:…`) appears on.
    pub fn references_for_contact(&self, contact_key: &str) -> Result<Vec<String>, StoreError> {
        self.references_under(&keys::contact_of(contact_key))
    }

    /// The case a Message-ID belongs to, if any.
    pub fn reference_for_message(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tree
            .get(keys::message(message_id))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The next `limit` due items on or after `from` (or from the earliest, overdue ones
    /// included, when `from` is `None`), in date order.
    pub fn due(&self, from: Option<NaiveDate>, limit: usize) -> Result<Vec<DueEntry>, StoreError> {
        let start = from.map_or_else(|| keys::DUE.to_vec(), keys::due_from);
        let mut out = Vec::with_capacity(limit.min(4096));
        for kv in self.tree.range(start..) {
            let (k, _) = kv?;
            if !k.starts_with(keys::DUE) || out.len() >= limit {
                break;
            }
            if let Some(entry) = parse_due_key(&k) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Every due item up to and including `until`, overdue ones first, in date order.
    pub fn due_until(&self, until: NaiveDate) -> Result<Vec<DueEntry>, StoreError> {
        let end = keys::due_from(until.succ_opt().unwrap_or(until));
        let mut out = Vec::new();
        for kv in self.tree.range(keys::DUE.to_vec()..end) {
            let (k, _) = kv?;
            if let Some(entry) = parse_due_key(&k) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The event log of one case, oldest first.
    pub fn events(&self, reference: &str) -> Result<Vec<Recorded>, StoreError> {
        self.tree
            .scan_prefix(keys::events_of(reference))
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Effects (drafts, alerts) written by the workflow and not yet carried out, oldest first.
    pub fn queued_effects(&self) -> Result<Vec<QueuedEffect>, StoreError> {
        self.queued_under(keys::QUEUE, usize::MAX)
    }

    /// The oldest `limit` queued draft effects.
    pub fn queued_drafts(&self, limit: usize) -> Result<Vec<QueuedEffect>, StoreError> {
        self.queued_under(keys::QUEUE_DRAFTS, limit)
    }

    fn queued_under(&self, prefix: &[u8], limit: usize) -> Result<Vec<QueuedEffect>, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let id = std::str::from_utf8(&k)
                    .ok()
                    .and_then(|s| s.rsplit('/').next()?.parse().ok())
                    .unwrap_or(0);
                Ok(QueuedEffect {
                    id,
                    queued: decode(&k, &v)?,
                })
            })
            .collect()
    }

    /// How many cases have each status, from the status index.
    pub fn status_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut counts: Vec<(String, u64)> = Vec::new();
        for k in self.tree.scan_prefix(keys::STATUS).keys() {
            let k = k?;
            let status = std::str::from_utf8(&k[keys::STATUS.len()..])
                .ok()
                .and_then(|s| s.split_once('/'))
                .map_or("unknown", |(s, _)| s);
            match counts.last_mut() {
                Some((last, n)) if last == status => *n += 1,
                _ => counts.push((status.to_owned(), 1)),
            }
        }
        Ok(counts)
    }

    /// How many cases the store holds.
    pub fn case_count(&self) -> usize {
        self.tree.scan_prefix(keys::CASES).count()
    }

    fn references_under(&self, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .keys()
            .map(|k| Ok(keys::reference_in_index_key(&k?).unwrap_or_default()))
            .collect()
    }
}

pub(super) fn parse_due_key(key: &[u8]) -> Option<DueEntry> {
    let text = std::str::from_utf8(key).ok()?.strip_prefix("d/")?;
    let mut parts = text.splitn(3, '/');
    let due = parts.next()?.parse().ok()?;
    let reference = parts.next()?.to_owned();
    let what = parts.next()?.to_owned();
    Some(DueEntry {
        due,
        reference,
        what,
    })
}
