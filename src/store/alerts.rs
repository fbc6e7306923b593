//! What the scheduler keeps: the alerts already raised, the notifications to staff still to
//! be delivered, and the scheduled runs already done.
//!
//! Every notification is written in the same transaction as the mark that says it was made
//! (an alert's `y/` mark, a run's `m/state/run/` mark, or the removal of the queued effect it
//! carries out), so a crash or restart can neither lose an alert nor raise it twice. Delivery
//! (email, chat) is then tracked per channel on the notification itself.
//!
//! The deadline scan reads the due-date index only from a *settled* date onwards: every item
//! due before it has had all its alerts fall due, and each was raised (or found not needed)
//! by an earlier scan. Items that enter the index with a due date already before it (a
//! back-filled complaint, a reopened case) are also written under `z/` by the change that adds
//! them, so the next scan finds them however late they are.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError as Conflictable, TransactionalTree};

use super::read::{DueEntry, parse_due_key};
use super::write::{Queued, queue_effect};
use super::{Store, StoreError, decode, encode, keys};
use crate::core::alerts::Level;
use crate::core::workflow::{Effect, LetterKind};

type TxResult<T> = Result<T, Conflictable<StoreError>>;

/// The date before which the due-date index is settled (`YYYY-MM-DD`).
const SETTLED: &str = "scan/settled-before";

/// One channel's delivery of a notification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub attempts: u32,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set when it will never succeed as it is (a refused address, a 4xx from the chat).
    pub failed: Option<String>,
    pub last_error: Option<String>,
}

impl Delivery {
    /// Delivered, or given up on.
    pub fn finished(&self) -> bool {
        self.delivered_at.is_some() || self.failed.is_some()
    }
}

/// A notification to staff as the scheduler made it, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNotification {
    /// What it is about (`alert`, `digest`, `urgent_safety`, `reminder`…), for logs and metrics.
    pub kind: String,
    pub reference: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    /// Fixed, so a send interrupted by a crash can be found in the Sent folder before retrying.
    pub message_id: String,
    /// Also posted to the chat webhook (alerts are; per-person work lists are not).
    pub post_to_chat: bool,
}

/// A stored notification and how far its delivery has got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: u64,
    pub created: DateTime<Utc>,
    #[serde(flatten)]
    pub note: NewNotification,
    pub email: Delivery,
    /// Absent when it is not posted to chat.
    pub chat: Option<Delivery>,
}

impl Notification {
    /// Every channel delivered or given up on.
    pub fn finished(&self) -> bool {
        self.email.finished() && self.chat.as_ref().is_none_or(Delivery::finished)
    }
}

/// What makes a batch of notifications happen once.
#[derive(Clone, Debug)]
pub enum Once {
    /// A mark that must not exist yet, set with the notifications.
    Mark(Vec<u8>),
    /// A queued effect (`q/a/…`) that must still exist, removed with the notifications.
    Consume(Vec<u8>),
    /// An alert about a due item: its mark must not exist yet and the item must still be in
    /// the due-date index (acknowledged a moment ago means nothing to alert about).
    Alert { entry: DueEntry, level: Level },
}

/// The due-date entries a scan must look at.
#[derive(Clone, Debug, Default)]
pub struct ScanWindow {
    /// In due-date order; those from `z/` (late arrivals) are included once.
    pub entries: Vec<DueEntry>,
    /// The late arrivals among them: they stay listed until [`Store::settle`] says they are done.
    pub late: Vec<DueEntry>,
    /// Late arrivals no longer due: [`Store::settle`] should forget them.
    pub gone: Vec<DueEntry>,
    pub settled_before: Option<NaiveDate>,
}

/// The mark of an alert raised: `y/DATE/REF/what/level`.
pub fn alert_mark(entry: &DueEntry, level: Level) -> Vec<u8> {
    let mut key = entry_key("y/", entry);
    key.push(b'/');
    key.extend_from_slice(level.as_str().as_bytes());
    key
}

/// The mark of a scheduled run done.
pub fn run_mark(run_key: &str) -> Vec<u8> {
    keys::meta(&format!("run/{run_key}"))
}

/// The key of an entry under `prefix`: `d/` (the due-date index itself), `z/` (a late
/// arrival) or `y/` (the start of its alert marks).
fn entry_key(prefix: &str, entry: &DueEntry) -> Vec<u8> {
    format!(
        "{prefix}{}/{}/{}",
        entry.due.format("%Y-%m-%d"),
        entry.reference,
        entry.what
    )
    .into_bytes()
}

fn late_key(entry: &DueEntry) -> Vec<u8> {
    entry_key("z/", entry)
}

/// Called by the write path for each due-date index entry it adds: one dated before the
/// settled date is also noted as a late arrival, or no scan would read it.
pub(super) fn note_if_late(tx: &TransactionalTree, due_key: &[u8]) -> TxResult<()> {
    let Some(entry) = parse_due_key(due_key) else {
        return Ok(());
    };
    let settled = tx
        .get(keys::meta(SETTLED))?
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<NaiveDate>().ok());
    if settled.is_some_and(|s| entry.due < s) {
        tx.insert(late_key(&entry), &[] as &[u8])?;
    }
    Ok(())
}

impl Store {
    /// The entries a scan reads: the due-date index from the settled date up to `horizon`
    /// (inclusive), and the late arrivals still in the index.
    pub fn scan_window(&self, horizon: NaiveDate) -> Result<ScanWindow, StoreError> {
        let settled_before = self
            .meta(SETTLED)?
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok());
        let start = settled_before.map_or_else(|| keys::DUE.to_vec(), keys::due_from);
        let end = keys::due_from(horizon.succ_opt().unwrap_or(horizon));
        let mut entries = Vec::new();
        for kv in self.tree.range(start..end) {
            let (k, _) = kv?;
            if let Some(entry) = parse_due_key(&k) {
                entries.push(entry);
            }
        }
        let (mut late, mut gone) = (Vec::new(), Vec::new());
        for k in self.tree.scan_prefix(b"z/").keys() {
            let k = k?;
            let mut d = b"d/".to_vec();
            d.extend_from_slice(&k[2..]);
            let Some(entry) = parse_due_key(&d) else {
                continue;
            };
            if self.tree.contains_key(&d)? {
                late.push(entry);
            } else {
                // Gone from the index (acknowledged, closed): nothing left to alert about.
                gone.push(entry);
            }
        }
        for entry in &late {
            if settled_before.is_some_and(|s| entry.due < s) {
                entries.push(entry.clone());
            }
        }
        entries.sort_by(|a, b| (a.due, &a.reference, &a.what).cmp(&(b.due, &b.reference, &b.what)));
        entries.dedup();
        Ok(ScanWindow {
            entries,
            late,
            gone,
            settled_before,
        })
    }

    /// Whether this alert was raised already.
    pub fn alert_raised(&self, entry: &DueEntry, level: Level) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(alert_mark(entry, level))?)
    }

    /// The alerts raised for a due entry, with when.
    pub fn alerts_raised(
        &self,
        entry: &DueEntry,
    ) -> Result<Vec<(Level, DateTime<Utc>)>, StoreError> {
        let mut prefix = entry_key("y/", entry);
        prefix.push(b'/');
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let level = std::str::from_utf8(&k[prefix.len()..])
                .ok()
                .and_then(Level::from_str_key);
            let at = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok());
            if let (Some(level), Some(at)) = (level, at) {
                out.push((level, at));
            }
        }
        Ok(out)
    }

    /// Writes `notes` (and queues a draft of `draft` on `reference`'s case, for a reminder
    /// that needs a letter) once: unless `once` says it was done already, in which case
    /// nothing is written and `None` is returned. Flushed before returning.
    pub async fn notify_once(
        &self,
        once: &Once,
        notes: &[NewNotification],
        draft: Option<(&str, LetterKind)>,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<Notification>>, StoreError> {
        let written = self.transact(|tx| {
            match once {
                Once::Mark(mark) => {
                    if tx.get(mark)?.is_some() {
                        return Ok(None);
                    }
                    tx.insert(mark.as_slice(), at.to_rfc3339().as_bytes())?;
                }
                Once::Consume(key) => {
                    if tx.remove(key.as_slice())?.is_none() {
                        return Ok(None);
                    }
                }
                Once::Alert { entry, level } => {
                    let mark = alert_mark(entry, *level);
                    if tx.get(&mark)?.is_some() || tx.get(entry_key("d/", entry))?.is_none() {
                        return Ok(None);
                    }
                    tx.insert(mark, at.to_rfc3339().as_bytes())?;
                }
            }
            if let Some((reference, letter)) = draft {
                queue_draft(tx, reference, letter)?;
            }
            let mut written = Vec::with_capacity(notes.len());
            for note in notes {
                written.push(store_notification(tx, note, at)?);
            }
            Ok(Some(written))
        })?;
        if written.is_some() {
            self.flush().await?;
        }
        Ok(written)
    }

    /// Records that every entry before `before` is settled (never moving the date back), and
    /// that these late arrivals need no more alerts.
    pub async fn settle(&self, before: NaiveDate, done: &[DueEntry]) -> Result<(), StoreError> {
        self.transact(|tx| {
            let key = keys::meta(SETTLED);
            let old = tx
                .get(&key)?
                .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<NaiveDate>().ok());
            if old.is_none_or(|o| o < before) {
                tx.insert(key, before.format("%Y-%m-%d").to_string().as_bytes())?;
            }
            for entry in done {
                tx.remove(late_key(entry))?;
            }
            Ok(())
        })?;
        self.flush().await
    }

    /// Alert effects the workflow queued (urgent safety, stage 2 handler, possible
    /// exclusion), oldest first, with their queue keys.
    pub fn queued_alerts(&self) -> Result<Vec<(Vec<u8>, Queued)>, StoreError> {
        self.tree
            .scan_prefix(keys::QUEUE_ALERTS)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode(&k, &v)?))
            })
            .collect()
    }

    /// Notifications not yet delivered on every channel, oldest first.
    pub fn pending_notifications(&self) -> Result<Vec<Notification>, StoreError> {
        let mut out = Vec::new();
        for k in self.tree.scan_prefix(b"v/").keys() {
            let k = k?;
            let mut key = b"w/".to_vec();
            key.extend_from_slice(&k[2..]);
            if let Some(v) = self.tree.get(&key)? {
                out.push(decode(&key, &v)?);
            }
        }
        Ok(out)
    }

    /// Every notification made, oldest first (the record of who was told what, when).
    pub fn notifications(&self) -> Result<Vec<Notification>, StoreError> {
        self.tree
            .scan_prefix(b"w/")
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Saves a notification's delivery progress; one finished on every channel leaves the
    /// pending list. Flushed before returning, so a delivery is never repeated after it was
    /// recorded.
    pub async fn save_notification(&self, n: &Notification) -> Result<(), StoreError> {
        self.transact(|tx| {
            tx.insert(
                notification_key(n.id),
                encode("notification", n).map_err(Conflictable::Abort)?,
            )?;
            if n.finished() {
                tx.remove(pending_key(n.id))?;
            }
            Ok(())
        })?;
        self.flush().await
    }

    /// Whether a scheduled run was done.
    pub fn run_done(&self, run_key: &str) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(run_mark(run_key))?)
    }

    /// Marks a scheduled run done (for runs that make no notifications of their own).
    pub async fn mark_run(&self, run_key: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let fresh = self
            .notify_once(&Once::Mark(run_mark(run_key)), &[], None, at)
            .await?;
        Ok(fresh.is_some())
    }

    /// Forgets run marks older than `before` (their dates can never come round again).
    pub fn prune_runs(&self, before: NaiveDate) -> Result<usize, StoreError> {
        let prefix = keys::meta("run/");
        let mut removed = 0;
        for k in self.tree.scan_prefix(&prefix).keys() {
            let k = k?;
            // `m/state/run/JOB/YYYY-MM-DDTHH:MM:SS`
            let date = std::str::from_utf8(&k)
                .ok()
                .and_then(|s| s.rsplit('/').next())
                .and_then(|s| s.get(..10))
                .and_then(|s| s.parse::<NaiveDate>().ok());
            if date.is_some_and(|d| d < before) {
                self.tree.remove(&k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn notification_key(id: u64) -> Vec<u8> {
    format!("w/{id:020}").into_bytes()
}

fn pending_key(id: u64) -> Vec<u8> {
    format!("v/{id:020}").into_bytes()
}

fn store_notification(
    tx: &TransactionalTree,
    note: &NewNotification,
    at: DateTime<Utc>,
) -> TxResult<Notification> {
    let id = tx.generate_id()?;
    let n = Notification {
        id,
        created: at,
        note: note.clone(),
        email: Delivery::default(),
        chat: note.post_to_chat.then(Delivery::default),
    };
    tx.insert(
        notification_key(id),
        encode("notification", &n).map_err(Conflictable::Abort)?,
    )?;
    tx.insert(pending_key(id), &[] as &[u8])?;
    Ok(n)
}

fn queue_draft(tx: &TransactionalTree, reference: &str, letter: LetterKind) -> TxResult<()> {
    let case_key = keys::case(reference);
    let case: crate::core::model::Case = match tx.get(&case_key)? {
        Some(v) => decode(&case_key, &v).map_err(Conflictable::Abort)?,
        None => {
            return Err(Conflictable::Abort(StoreError::NotFound(
                reference.to_owned(),
            )));
        }
    };
    queue_effect(tx, reference, case.version, &Effect::Draft(letter))
}
