//! The one write path: decide with the pure workflow inside a sled transaction, write event,
//! snapshot, index changes and queued effects together, then flush.
//!
//! The transaction closure may run more than once when sled detects a conflict; it only reads
//! and writes the tree and calls the pure workflow, so re-running it is harmless.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError as Conflictable, TransactionError, TransactionalTree,
};

use super::corrections;
use super::messages::{MessageMark, mark_message};
use super::{Store, StoreError, decode, encode, keys};
use crate::core::event::{Event, Opened, Recorded};
use crate::core::model::Case;
use crate::core::workflow::{self, Effect, Rules};

/// What a successful change wrote.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The case the caller asked to open or change, as it now stands.
    pub case: Case,
    /// The effects the workflow asked for (drafts and alerts are also queued in the store).
    pub effects: Vec<Effect>,
    /// A complaint opened by the same change (1.5: dissatisfaction with a service request).
    pub linked: Option<Case>,
}

/// An effect waiting in the store's queue for an adapter to carry it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub reference: String,
    pub seq: u32,
    pub effect: Effect,
}

type TxResult<T> = Result<T, Conflictable<StoreError>>;

impl Store {
    /// Opens a new case, allocating the next reference for the year it was received, and
    /// returns once it is on disk.
    pub async fn open_case(
        &self,
        opened: Opened,
        actor: &str,
        at: DateTime<Utc>,
        rules: Rules<'_>,
    ) -> Result<Commit, StoreError> {
        let commit = self.open_case_buffered(opened, actor, at, rules)?;
        self.flush().await?;
        Ok(commit)
    }

    /// As [`Store::open_case`] but not yet durable: for bulk loading, followed by
    /// [`Store::flush`]. Atomicity is the same; only durability waits for the flush.
    pub fn open_case_buffered(
        &self,
        opened: Opened,
        actor: &str,
        at: DateTime<Utc>,
        rules: Rules<'_>,
    ) -> Result<Commit, StoreError> {
        self.transact(|tx| {
            let case = open_in(tx, &self.prefix, &opened, actor, at, rules)?;
            Ok(Commit {
                effects: case.1,
                case: case.0,
                linked: None,
            })
        })
    }

    /// Records an event on an existing case and returns once it is on disk. A refused event
    /// (the workflow's [`workflow::WorkflowError`]) changes nothing.
    pub async fn record(
        &self,
        reference: &str,
        event: Event,
        actor: &str,
        at: DateTime<Utc>,
        rules: Rules<'_>,
    ) -> Result<Commit, StoreError> {
        self.record_all(reference, &[event], None, actor, at, rules)
            .await
    }

    /// Records several events on one case in one transaction (e.g. a resident's reply and the
    /// stage 2 request it makes). With `message`, the message's marker is checked and set in
    /// the same transaction, so a message can never change a case twice.
    pub async fn record_all(
        &self,
        reference: &str,
        events: &[Event],
        message: Option<&MessageMark>,
        actor: &str,
        at: DateTime<Utc>,
        rules: Rules<'_>,
    ) -> Result<Commit, StoreError> {
        let prefix = &self.prefix;
        let commit = self.transact(|tx| {
            if let Some(mark) = message {
                mark_message(tx, mark, reference)?;
            }
            let mut case = load(tx, reference)?;
            let mut effects = Vec::new();
            let mut linked = None;
            for event in events {
                let (next, decided, opened) = apply_in(tx, prefix, &case, event, actor, at, rules)?;
                case = next;
                effects.extend(decided);
                linked = linked.or(opened);
            }
            Ok(Commit {
                case,
                effects,
                linked,
            })
        })?;
        self.flush().await?;
        Ok(commit)
    }

    /// Opens a case for an inbound message, setting the message's marker in the same
    /// transaction.
    pub async fn open_case_for_message(
        &self,
        opened: Opened,
        message: &MessageMark,
        actor: &str,
        at: DateTime<Utc>,
        rules: Rules<'_>,
    ) -> Result<Commit, StoreError> {
        let commit = self.transact(|tx| {
            let (case, effects) = open_in(tx, &self.prefix, &opened, actor, at, rules)?;
            mark_message(tx, message, &case.reference)?;
            Ok(Commit {
                case,
                effects,
                linked: None,
            })
        })?;
        self.flush().await?;
        Ok(commit)
    }

    /// Runs a transaction, turning sled's two-level error into ours.
    pub(super) fn transact<T>(
        &self,
        f: impl Fn(&TransactionalTree) -> TxResult<T>,
    ) -> Result<T, StoreError> {
        self.tree.transaction(f).map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Io(e),
        })
    }
}

/// Applies one event inside a transaction, carrying out a linked-complaint effect (1.5) there
/// too. Returns the new case, the effects, and the linked complaint if one was opened.
pub(super) fn apply_in(
    tx: &TransactionalTree,
    prefix: &str,
    old: &Case,
    event: &Event,
    actor: &str,
    at: DateTime<Utc>,
    rules: Rules<'_>,
) -> TxResult<(Case, Vec<Effect>, Option<Case>)> {
    let decided = workflow::apply(old, event, rules).map_err(abort)?;
    let mut case = decided.case;
    write_change(tx, Some(old), &case, event, actor, at, &decided.effects)?;
    let mut linked = None;
    for effect in &decided.effects {
        if let Effect::OpenLinkedComplaint(opened) = effect {
            let (complaint, _) = open_in(tx, prefix, opened, actor, at, rules)?;
            let link = Event::CaseLinked {
                reference: complaint.reference.clone(),
            };
            let next = workflow::apply(&case, &link, rules).map_err(abort)?;
            write_change(tx, Some(&case), &next.case, &link, actor, at, &[])?;
            case = next.case;
            linked = Some(complaint);
        }
    }
    Ok((case, decided.effects, linked))
}

/// Opens a case inside a transaction: next reference for the receipt year, workflow, write.
fn open_in(
    tx: &TransactionalTree,
    prefix: &str,
    opened: &Opened,
    actor: &str,
    at: DateTime<Utc>,
    rules: Rules<'_>,
) -> TxResult<(Case, Vec<Effect>)> {
    let prefix_year = format!("{prefix}-{}", opened.received.year());
    let counter_key = keys::counter(&prefix_year);
    let last = match tx.get(&counter_key)? {
        Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
        None => 0,
    };
    let number = last + 1;
    tx.insert(counter_key, &number.to_be_bytes())?;
    let reference = format!("{prefix_year}-{number:05}");
    if tx.get(keys::case(&reference))?.is_some() {
        // Only reachable if a counter was lost; never overwrite a case's record.
        return Err(Conflictable::Abort(StoreError::Corrupt {
            path: std::path::PathBuf::from(&reference),
            detail: format!(
                "the reference counter for {prefix_year} is behind: {reference} already exists"
            ),
        }));
    }
    let decided = workflow::open(&reference, opened, rules).map_err(abort)?;
    let event = Event::Opened(opened.clone());
    write_change(tx, None, &decided.case, &event, actor, at, &decided.effects)?;
    Ok((decided.case, decided.effects))
}

fn load(tx: &TransactionalTree, reference: &str) -> TxResult<Case> {
    let key = keys::case(reference);
    let bytes = tx
        .get(&key)?
        .ok_or_else(|| Conflictable::Abort(StoreError::NotFound(reference.to_owned())))?;
    decode(&key, &bytes).map_err(Conflictable::Abort)
}

/// Writes one event and everything that follows from it.
pub(super) fn write_change(
    tx: &TransactionalTree,
    old: Option<&Case>,
    new: &Case,
    event: &Event,
    actor: &str,
    at: DateTime<Utc>,
    effects: &[Effect],
) -> TxResult<()> {
    let r = &new.reference;
    let recorded = Recorded {
        reference: r.clone(),
        seq: new.version,
        at,
        actor: actor.to_owned(),
        event: event.clone(),
    };
    tx.insert(
        keys::event(r, new.version),
        encode("event", &recorded).map_err(Conflictable::Abort)?,
    )?;
    write_snapshot(tx, old, new)?;
    if let Event::Reclassified { kind, .. } = event {
        // Training data for the classifier, kept with the event that makes it.
        corrections::index_in(tx, r, *kind, new.version)?;
    }
    for effect in effects {
        if matches!(effect, Effect::Draft(_) | Effect::Alert(_)) {
            queue_effect(tx, r, new.version, effect)?;
        }
    }
    Ok(())
}

/// Queues an effect for an adapter to carry out (the drafter, the scheduler), in the caller's
/// transaction.
pub(super) fn queue_effect(
    tx: &TransactionalTree,
    reference: &str,
    seq: u32,
    effect: &Effect,
) -> TxResult<()> {
    let queued = Queued {
        reference: reference.to_owned(),
        seq,
        effect: effect.clone(),
    };
    let id = tx.generate_id()?;
    tx.insert(
        keys::queue(id, effect),
        encode("effect", &queued).map_err(Conflictable::Abort)?,
    )?;
    Ok(())
}

/// Writes the snapshot and brings the indexes from `old`'s entries to `new`'s.
pub(super) fn write_snapshot(
    tx: &TransactionalTree,
    old: Option<&Case>,
    new: &Case,
) -> TxResult<()> {
    tx.insert(
        keys::case(&new.reference),
        encode("case", new).map_err(Conflictable::Abort)?,
    )?;
    let before = old.map(keys::index_keys).unwrap_or_default();
    let after = keys::index_keys(new);
    for key in before.iter().filter(|k| after.binary_search(k).is_err()) {
        tx.remove(key.as_slice())?;
    }
    for key in after.iter().filter(|k| before.binary_search(k).is_err()) {
        tx.insert(key.as_slice(), &[] as &[u8])?;
        if key.starts_with(keys::DUE) {
            super::alerts::note_if_late(tx, key)?;
        }
    }
    for id in new.message_ids() {
        let key = keys::message(id);
        if tx.get(&key)?.is_none() {
            tx.insert(key, new.reference.as_bytes())?;
        }
    }
    Ok(())
}

fn abort(e: workflow::WorkflowError) -> Conflictable<StoreError> {
    Conflictable::Abort(StoreError::Workflow(e))
}
