//! Staff corrections of the classifier, kept as training data (SPEC §1: an override "is
//! recorded on the case and is training data").
//!
//! A `reclassified` event says what a case really is, but not the words that misled the
//! classifier: those are in the message that opened the case. So the store keeps an index,
//! `t/REFERENCE` → the corrected kind with that message's subject and body, written in the
//! same transaction as the event. One entry per case: a later correction replaces an earlier
//! one, because only the latest staff decision says what the message was. Like the other
//! indexes it is derived from the events (and the raw messages they name), so `import`
//! rebuilds it and `verify` checks it.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError as Conflictable, TransactionalTree};

use super::{Store, StoreError, decode, encode, keys};
use crate::classify::learned::Correction;
use crate::classify::{Context, MessageKind};
use crate::core::event::{Event, Opened, Recorded};
use crate::core::model::CaseKind;

/// One case's correction as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCorrection {
    /// The event that made it, so a reader can find the staff member and the reason.
    pub seq: u32,
    pub kind: CaseKind,
    pub subject: String,
    pub body: String,
}

impl StoredCorrection {
    /// The correction for the case `opened` began, from its raw message when the store has
    /// one and it parses, else from the case summary (cases staff logged by phone, a
    /// complaint opened from a service request, an imported store without raw messages).
    pub(super) fn new(opened: &Opened, raw: Option<&[u8]>, kind: CaseKind, seq: u32) -> Self {
        // The message was accepted once already: no size limit applies on reading it again.
        let parsed = raw.and_then(|r| crate::mail::parse(r, usize::MAX).ok());
        let (subject, body) = match parsed {
            Some(mail) => (mail.subject, mail.text),
            None => (String::new(), opened.summary.clone()),
        };
        StoredCorrection {
            seq,
            kind,
            subject,
            body,
        }
    }

    /// What the learned component trains on. A case opens from a new message, so the
    /// context is always "none".
    pub fn to_correction(&self) -> Correction {
        Correction {
            kind: message_kind(self.kind),
            context: Context::None,
            subject: self.subject.clone(),
            body: self.body.clone(),
        }
    }
}

/// The classifier's name for a case kind (every case kind is one of its kinds).
pub fn message_kind(kind: CaseKind) -> MessageKind {
    match kind {
        CaseKind::Complaint => MessageKind::Complaint,
        CaseKind::ServiceRequest => MessageKind::ServiceRequest,
        CaseKind::Compliment => MessageKind::Compliment,
        CaseKind::Comment => MessageKind::Comment,
        CaseKind::MpEnquiry => MessageKind::MpEnquiry,
        CaseKind::InformationRequest => MessageKind::InformationRequest,
        CaseKind::AsbReport => MessageKind::AsbReport,
        CaseKind::Claim => MessageKind::Claim,
    }
}

/// The opening event of a case, for the raw message it names.
fn opened_of(recorded: &Recorded) -> Option<&Opened> {
    match &recorded.event {
        Event::Opened(opened) => Some(opened),
        _ => None,
    }
}

/// Writes the correction a `reclassified` event (event `seq` of `reference`) makes, inside
/// that event's transaction.
pub(super) fn index_in(
    tx: &TransactionalTree,
    reference: &str,
    kind: CaseKind,
    seq: u32,
) -> Result<(), Conflictable<StoreError>> {
    let key = keys::event(reference, 1);
    let Some(bytes) = tx.get(&key)? else {
        return Ok(());
    };
    let first: Recorded = decode(&key, &bytes).map_err(Conflictable::Abort)?;
    let Some(opened) = opened_of(&first) else {
        return Ok(());
    };
    let raw = match opened.message.as_ref().and_then(|m| m.source_hash.as_ref()) {
        Some(hash) => tx.get(keys::raw(hash))?,
        None => None,
    };
    let record = StoredCorrection::new(opened, raw.as_deref(), kind, seq);
    tx.insert(
        keys::correction(reference),
        encode("correction", &record).map_err(Conflictable::Abort)?,
    )?;
    Ok(())
}

impl Store {
    /// Every staff correction, for retraining the learned component.
    pub fn corrections(&self) -> Result<Vec<Correction>, StoreError> {
        Ok(self
            .stored_corrections()?
            .into_iter()
            .map(|(_, c)| c.to_correction())
            .collect())
    }

    /// The correction index as stored: (reference, correction), in reference order.
    pub fn stored_corrections(&self) -> Result<Vec<(String, StoredCorrection)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(keys::CORRECTIONS) {
            let (k, v) = kv?;
            let reference = String::from_utf8_lossy(&k[keys::CORRECTIONS.len()..]).into_owned();
            out.push((reference, decode(&k, &v)?));
        }
        Ok(out)
    }

    /// The correction a case's events imply: its latest `reclassified` event, with the words
    /// of the message that opened it. For import and verify.
    pub(super) fn expected_correction(
        &self,
        events: &[Recorded],
    ) -> Result<Option<StoredCorrection>, StoreError> {
        let Some(opened) = events.first().and_then(opened_of) else {
            return Ok(None);
        };
        let latest = events.iter().rev().find_map(|r| match &r.event {
            Event::Reclassified { kind, .. } => Some((*kind, r.seq)),
            _ => None,
        });
        let Some((kind, seq)) = latest else {
            return Ok(None);
        };
        let raw = match opened.message.as_ref().and_then(|m| m.source_hash.as_ref()) {
            Some(hash) => self.raw(hash)?,
            None => None,
        };
        Ok(Some(StoredCorrection::new(
            opened,
            raw.as_deref(),
            kind,
            seq,
        )))
    }
}
