//! Drafts and the outbox.
//!
//! The workflow queues "draft this letter" effects in the same transaction as the event that
//! needs them; [`Store::make_drafts`] turns each into a [`Draft`] and removes the queue entry
//! in one transaction, so no letter is drafted twice or forgotten. Staff edits are kept with
//! the text before and after. Approval, under the policy the caller passes in
//! (`letters::approval`), puts a draft in the outbox (`o/`); a send is recorded, with its effect on the case (acknowledged,
//! responded), in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use sled::transaction::{ConflictableTransactionError as Conflictable, TransactionalTree};

use super::write::{Queued, apply_in};
use super::{Store, StoreError, decode, encode, keys};
use crate::core::event::Event;
use crate::core::model::{Case, Channel, Direction, LinkedMessage};
use crate::core::workflow::{self, Effect, LetterKind, Rules};
use crate::letters::{Draft, DraftEdit, DraftStatus, Written};

type TxResult<T> = Result<T, Conflictable<StoreError>>;

/// Drafts made per call of [`Store::make_drafts`].
const DRAFT_BATCH: usize = 256;

fn refused(id: u64, why: impl Into<String>) -> Conflictable<StoreError> {
    Conflictable::Abort(StoreError::DraftRefused {
        id,
        why: why.into(),
    })
}

fn load_draft(tx: &TransactionalTree, id: u64) -> TxResult<Draft> {
    let key = keys::draft(id);
    let bytes = tx
        .get(&key)?
        .ok_or_else(|| Conflictable::Abort(StoreError::NotFound(format!("draft {id}"))))?;
    decode(&key, &bytes).map_err(Conflictable::Abort)
}

fn save_draft(tx: &TransactionalTree, draft: &Draft) -> TxResult<()> {
    tx.insert(
        keys::draft(draft.id),
        encode("draft", draft).map_err(Conflictable::Abort)?,
    )?;
    Ok(())
}

fn load_case(tx: &TransactionalTree, reference: &str) -> TxResult<Case> {
    let key = keys::case(reference);
    let bytes = tx
        .get(&key)?
        .ok_or_else(|| Conflictable::Abort(StoreError::NotFound(reference.to_owned())))?;
    decode(&key, &bytes).map_err(Conflictable::Abort)
}

impl Store {
    /// Turns every queued draft effect into a draft; returns the new drafts. `render` writes
    /// the letter from the case; `id_domain` is the domain of our Message-IDs.
    pub async fn make_drafts(
        &self,
        render: impl Fn(&Case, LetterKind) -> Written,
        id_domain: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Draft>, StoreError> {
        let mut made = Vec::new();
        // A bounded batch per call: a large backlog is worked through pass by pass.
        for queued in self.queued_drafts(DRAFT_BATCH)? {
            let Effect::Draft(letter) = queued.queued.effect else {
                continue;
            };
            let queue_key = keys::queue(queued.id, &queued.queued.effect);
            let draft = self.transact(|tx| {
                if tx.get(&queue_key)?.is_none() {
                    return Ok(None); // made by another worker meanwhile
                }
                let case = load_case(tx, &queued.queued.reference)?;
                let written = render(&case, letter);
                let id = tx.generate_id()?;
                let draft = new_draft(id, &case, letter, written, id_domain, at);
                save_draft(tx, &draft)?;
                tx.remove(queue_key.as_slice())?;
                Ok(Some(draft))
            })?;
            made.extend(draft);
        }
        if !made.is_empty() {
            self.flush().await?;
        }
        Ok(made)
    }

    /// Every draft, oldest first.
    pub fn drafts(&self) -> Result<Vec<Draft>, StoreError> {
        self.tree
            .scan_prefix(keys::DRAFTS)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// One draft.
    pub fn draft(&self, id: u64) -> Result<Draft, StoreError> {
        let key = keys::draft(id);
        let bytes = self
            .tree
            .get(&key)?
            .ok_or_else(|| StoreError::NotFound(format!("draft {id}")))?;
        decode(&key, &bytes)
    }

    /// Approves a pending draft and puts it in the outbox. `finalise` is the approval policy
    /// (`letters::approval`), asked inside the transaction with the case as it is now: it
    /// returns the letter to send (an unedited draft rewritten from the current case) or every
    /// reason it may not go (a missing element of SPEC §3, Code 6.13, a payment band).
    pub async fn approve_draft(
        &self,
        id: u64,
        by: &str,
        at: DateTime<Utc>,
        finalise: impl Fn(&Draft, &Case) -> Result<Draft, Vec<String>>,
    ) -> Result<Draft, StoreError> {
        self.change_draft(id, |tx, draft| {
            require_pending(draft)?;
            let case = load_case(tx, &draft.reference)?;
            *draft = finalise(draft, &case).map_err(|why| refused(id, why.join("; ")))?;
            draft.status = DraftStatus::Approved;
            draft.decided_by = Some(by.to_owned());
            draft.decided_at = Some(at);
            tx.insert(keys::outbox(id), &[] as &[u8])?;
            Ok(())
        })
        .await
    }

    /// A member of staff's edit of a pending draft: the text before and after is recorded
    /// (SPEC §4), `html` is the HTML made from the new text, and `check` (the compliance
    /// check) says what the edited letter lacks, which is kept on the draft and returned.
    #[allow(clippy::too_many_arguments)]
    pub async fn edit_draft(
        &self,
        id: u64,
        by: &str,
        at: DateTime<Utc>,
        subject: &str,
        body: &str,
        html: Option<String>,
        check: impl Fn(&Draft, &Case) -> Vec<String>,
    ) -> Result<Draft, StoreError> {
        self.change_draft(id, |tx, draft| {
            require_pending(draft)?;
            if subject.trim().is_empty() || body.trim().is_empty() {
                return Err(refused(id, "an edited letter needs a subject and a body"));
            }
            let case = load_case(tx, &draft.reference)?;
            draft.edits.push(DraftEdit {
                by: by.to_owned(),
                at,
                subject_before: draft.subject.clone(),
                body_before: draft.body.clone(),
                subject_after: subject.to_owned(),
                body_after: body.to_owned(),
            });
            draft.subject = subject.to_owned();
            draft.body = body.to_owned();
            draft.html = html.clone();
            draft.problems = check(draft, &case);
            Ok(())
        })
        .await
    }

    /// Rejects a pending draft, with the reason.
    pub async fn reject_draft(
        &self,
        id: u64,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Draft, StoreError> {
        self.change_draft(id, |_, draft| {
            require_pending(draft)?;
            if reason.trim().is_empty() {
                return Err(refused(id, "say why it is rejected"));
            }
            draft.status = DraftStatus::Rejected;
            draft.decided_by = Some(by.to_owned());
            draft.decided_at = Some(at);
            draft.reject_reason = Some(reason.to_owned());
            Ok(())
        })
        .await
    }

    /// Loads a draft, lets `change` alter it (and write alongside it), saves it, all in one
    /// transaction, and returns it once durable.
    async fn change_draft(
        &self,
        id: u64,
        change: impl Fn(&TransactionalTree, &mut Draft) -> TxResult<()>,
    ) -> Result<Draft, StoreError> {
        let draft = self.transact(|tx| {
            let mut draft = load_draft(tx, id)?;
            change(tx, &mut draft)?;
            save_draft(tx, &draft)?;
            Ok(draft)
        })?;
        self.flush().await?;
        Ok(draft)
    }

    /// Approved drafts waiting to be sent, oldest first.
    pub fn outbox(&self) -> Result<Vec<Draft>, StoreError> {
        let mut out = Vec::new();
        for k in self.tree.scan_prefix(keys::OUTBOX).keys() {
            let k = k?;
            let id = std::str::from_utf8(&k[keys::OUTBOX.len()..])
                .ok()
                .and_then(|s| s.parse().ok());
            if let Some(id) = id {
                out.push(self.draft(id)?);
            }
        }
        Ok(out)
    }

    /// Notes why an attempt failed (it will be retried).
    pub async fn record_attempt_error(&self, id: u64, error: &str) -> Result<Draft, StoreError> {
        self.change_draft(id, |_, draft| {
            draft.last_error = Some(error.to_owned());
            Ok(())
        })
        .await
    }

    /// Counts a delivery attempt durably *before* it is made, so that after a crash the next
    /// attempt knows to check whether the letter already went out.
    pub async fn record_attempt(&self, id: u64, note: &str) -> Result<Draft, StoreError> {
        self.change_draft(id, |_, draft| {
            draft.attempts += 1;
            draft.last_error = Some(note.to_owned());
            Ok(())
        })
        .await
    }

    /// Records that a letter went out on `on`, and what that means for its case (the
    /// acknowledgement or response date), in one transaction.
    pub async fn mark_sent(
        &self,
        id: u64,
        at: DateTime<Utc>,
        on: NaiveDate,
        rules: Rules<'_>,
    ) -> Result<Draft, StoreError> {
        let draft = self.transact(|tx| {
            let mut draft = load_draft(tx, id)?;
            if draft.status == DraftStatus::Sent {
                return Ok(draft);
            }
            draft.status = DraftStatus::Sent;
            draft.sent_at = Some(at);
            save_draft(tx, &draft)?;
            tx.remove(keys::outbox(id))?;
            let mut case = load_case(tx, &draft.reference)?;
            for event in sent_events(&draft, on) {
                // A step already recorded by hand (e.g. acknowledged by phone) stays as it was.
                if workflow::apply(&case, &event, rules).is_ok() {
                    case = apply_in(tx, &self.prefix, &case, &event, "outbox", at, rules)?.0;
                }
            }
            Ok(draft)
        })?;
        self.flush().await?;
        Ok(draft)
    }

    /// Records that staff printed and posted an approved letter (a resident with no email
    /// address): for the case it counts as sent on `on`.
    pub async fn mark_posted(
        &self,
        id: u64,
        by: &str,
        at: DateTime<Utc>,
        on: NaiveDate,
        rules: Rules<'_>,
    ) -> Result<Draft, StoreError> {
        let draft = self.draft(id)?;
        if draft.status != DraftStatus::Approved {
            return Err(StoreError::DraftRefused {
                id,
                why: format!(
                    "only an approved letter can be posted; it is {}",
                    draft.status.as_str()
                ),
            });
        }
        tracing::info!(draft = id, case = %draft.reference, %by, "letter posted");
        self.mark_sent(id, at, on, rules).await
    }

    /// Records a permanent delivery failure on the draft and on the case.
    pub async fn mark_failed(
        &self,
        id: u64,
        reason: &str,
        at: DateTime<Utc>,
        on: NaiveDate,
        rules: Rules<'_>,
    ) -> Result<Draft, StoreError> {
        let draft = self.transact(|tx| {
            let mut draft = load_draft(tx, id)?;
            draft.status = DraftStatus::Failed;
            draft.last_error = Some(reason.to_owned());
            save_draft(tx, &draft)?;
            tx.remove(keys::outbox(id))?;
            let case = load_case(tx, &draft.reference)?;
            let event = Event::DeliveryFailed {
                message_id: draft.message_id.clone(),
                on,
                reason: reason.to_owned(),
            };
            apply_in(tx, &self.prefix, &case, &event, "outbox", at, rules)?;
            Ok(draft)
        })?;
        self.flush().await?;
        Ok(draft)
    }
}

fn require_pending(draft: &Draft) -> TxResult<()> {
    if draft.status == DraftStatus::Pending {
        Ok(())
    } else {
        Err(refused(
            draft.id,
            format!("it is {}, not pending", draft.status.as_str()),
        ))
    }
}

/// What sending a letter records on its case.
fn sent_events(draft: &Draft, on: NaiveDate) -> Vec<Event> {
    let mut events = vec![Event::MessageLinked {
        message: LinkedMessage {
            message_id: draft.message_id.clone(),
            direction: Direction::Outbound,
            channel: if draft.to.is_some() {
                Channel::Email
            } else {
                Channel::Letter
            },
            date: on,
            summary: draft.subject.clone(),
            source_hash: None,
            classification: None,
        },
    }];
    match draft.letter {
        LetterKind::Acknowledgement { .. } => events.push(Event::Acknowledged { on }),
        LetterKind::Response { .. } => events.push(Event::Responded { on }),
        _ => {}
    }
    events
}

fn new_draft(
    id: u64,
    case: &Case,
    letter: LetterKind,
    written: Written,
    id_domain: &str,
    at: DateTime<Utc>,
) -> Draft {
    // Letters go to the representative when one acts with consent (Code 4.1–4.2).
    let to = case
        .representative
        .as_ref()
        .filter(|r| r.consent_recorded)
        .and_then(|r| r.contact.email.clone())
        .or_else(|| case.complainant.email.clone());
    let inbound: Vec<String> = case
        .messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound && m.channel == Channel::Email)
        .map(|m| m.message_id.clone())
        .collect();
    Draft {
        id,
        reference: case.reference.clone(),
        letter,
        status: DraftStatus::Pending,
        to,
        subject: written.subject,
        body: written.body,
        message_id: format!("<{id}.{}@{id_domain}>", case.reference),
        in_reply_to: inbound.last().cloned(),
        references: inbound,
        created_at: at,
        decided_by: None,
        decided_at: None,
        reject_reason: None,
        sent_at: None,
        attempts: 0,
        last_error: None,
        html: written.html,
        problems: written.problems,
        edits: Vec::new(),
    }
}

impl Queued {
    /// The letter this queue entry asks for, if it is a draft effect.
    pub fn letter(&self) -> Option<LetterKind> {
        match self.effect {
            Effect::Draft(letter) => Some(letter),
            _ => None,
        }
    }
}
