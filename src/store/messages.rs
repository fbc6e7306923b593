//! Inbound messages in the store: raw sources, the "seen" marker that makes intake
//! idempotent, per-sender daily counts (loop protection), and set-aside records for messages
//! that open no case (automatic mail, unreadable mail), so that every message ends in exactly
//! one case or one set-aside record.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError as Conflictable, TransactionalTree};

use super::{Store, StoreError, decode, encode, keys};

/// Identifies an inbound message for deduplication, set in the same transaction as the case
/// change the message causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMark {
    /// SHA-256 of the raw source.
    pub hash: String,
    /// The sender's address, for the per-sender daily count.
    pub sender: Option<String>,
    /// The day the message arrived (landlord's time zone).
    pub day: NaiveDate,
}

/// Why a message opened no case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetAsideKind {
    /// An auto-reply, bounce, list mail or our own letter: recorded, never answered.
    Automated,
    /// Unreadable or over the size limit: kept for a person to look at.
    Quarantined,
    /// Over the per-sender daily cap: a likely mail loop.
    OverCap,
}

/// A message that opened no case, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    pub hash: String,
    pub kind: SetAsideKind,
    pub reason: String,
    /// Where it came from (`maildir:NAME`, `imap:UIDVALIDITY:UID`, `ingest:FILE`).
    pub source: String,
    pub arrived: DateTime<Utc>,
    pub from: Option<String>,
    pub subject: Option<String>,
}

impl SetAside {
    /// Whether a person should look at it: unreadable, over the cap, or judged automatic by
    /// its words (headers such as `Auto-Submitted` are reliable; words can misread a resident).
    pub fn needs_a_person(&self) -> bool {
        match self.kind {
            SetAsideKind::Quarantined | SetAsideKind::OverCap => true,
            SetAsideKind::Automated => self.reason.starts_with(crate::intake::verdict::BY_WORDS),
        }
    }
}

/// What the seen-marker of a message says.
pub const SET_ASIDE_HOLDER: &str = "set-aside";

/// Checks and sets a message's seen-marker inside a case transaction.
pub(super) fn mark_message(
    tx: &TransactionalTree,
    mark: &MessageMark,
    holder: &str,
) -> Result<(), Conflictable<StoreError>> {
    let key = keys::seen(&mark.hash);
    if let Some(existing) = tx.get(&key)? {
        return Err(Conflictable::Abort(StoreError::Duplicate {
            hash: mark.hash.clone(),
            holder: String::from_utf8_lossy(&existing).into_owned(),
        }));
    }
    tx.insert(key, holder.as_bytes())?;
    if let Some(sender) = &mark.sender {
        let key = keys::sender_count(mark.day, sender);
        let count = tx.get(&key)?.map_or(0, |v| read_u64(&v)) + 1;
        tx.insert(key, &count.to_be_bytes())?;
    }
    Ok(())
}

fn read_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl Store {
    /// Who holds a message already: a case reference or [`SET_ASIDE_HOLDER`].
    pub fn seen(&self, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tree
            .get(keys::seen(hash))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Keeps a message's raw source. Idempotent; made durable by the flush of the case change
    /// that follows (a crash before it only means the message is read again).
    pub fn put_raw(&self, hash: &str, raw: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(keys::raw(hash), raw)?;
        Ok(())
    }

    /// A message's raw source.
    pub fn raw(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(keys::raw(hash))?.map(|v| v.to_vec()))
    }

    /// How many messages from `sender` have been taken in on `day`.
    pub fn messages_from(&self, sender: &str, day: NaiveDate) -> Result<u64, StoreError> {
        Ok(self
            .tree
            .get(keys::sender_count(day, sender))?
            .map_or(0, |v| read_u64(&v)))
    }

    /// Records a message that opens no case, with its marker, in one transaction; durable on
    /// return. A message already seen is [`StoreError::Duplicate`].
    pub async fn set_aside(&self, record: &SetAside, mark: &MessageMark) -> Result<(), StoreError> {
        let bytes = encode("set-aside record", record)?;
        self.transact(|tx| {
            mark_message(tx, mark, SET_ASIDE_HOLDER)?;
            tx.insert(keys::set_aside(&record.hash), bytes.as_slice())?;
            Ok(())
        })?;
        self.flush().await
    }

    /// The set-aside record of a message, if it was set aside.
    pub fn set_aside_record(&self, hash: &str) -> Result<Option<SetAside>, StoreError> {
        let key = keys::set_aside(hash);
        self.tree.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// A small piece of adapter state (e.g. an IMAP mailbox's UIDVALIDITY and last UID).
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(keys::meta(key))?.map(|v| v.to_vec()))
    }

    /// Sets adapter state. Made durable by the next flush (the next case change), which is
    /// enough for progress records: the mailbox itself says what is left to do.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(keys::meta(key), value)?;
        Ok(())
    }

    /// Every set-aside message, oldest hash order.
    pub fn set_aside_records(&self) -> Result<Vec<SetAside>, StoreError> {
        self.tree
            .scan_prefix(keys::SET_ASIDE)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }
}
