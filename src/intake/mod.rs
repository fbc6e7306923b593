//! Intake: one pipeline for every inbound message, whatever brought it (Maildir, IMAP, a
//! back-filled `.eml` file).
//!
//! Nothing lost, nothing doubled: a message's raw source is kept, then exactly one of these is
//! written, together with the message's seen-marker in one transaction: a new case, an event
//! on an existing case, or a set-aside record (automatic or unreadable mail). Taking the same
//! message in again finds the marker and does nothing. The source (IMAP, Maildir) may forget
//! the message only after this returns.
//!
//! What a message is comes from the classifier in force (`Loaded::classifier`, built on the
//! first message; a SIGHUP reload or a staff correction applies to the next message), read in
//! the context of the case it replies to; [`verdict`] turns the decision into a case kind or
//! follow-up events, and the decision with its reasons is kept with the message for staff to
//! see (SPEC §1).

pub mod imap;
pub mod maildir;
pub mod verdict;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::classify::Context;
use crate::classify::engine::{Input, Verdict};
use crate::classify::live::LiveRules;
use crate::classify::rules::RulesError;
use crate::config::Loaded;
use crate::core::event::{Event, Opened};
use crate::core::model::{CaseKind, Channel, Contact, Direction, LinkedMessage};
use crate::mail::{self, ParsedMail, find_reference};
use crate::store::{MessageMark, SetAside, SetAsideKind, Store, StoreError};

/// Who the store records as the actor for changes intake makes.
pub const ACTOR: &str = "intake";

/// A message as it arrived.
#[derive(Clone, Debug)]
pub struct Inbound<'a> {
    pub raw: &'a [u8],
    /// When it reached the mailbox (IMAP INTERNALDATE, file time, or now).
    pub arrived: DateTime<Utc>,
    /// For back-filled messages: the date it was really received (the Code's clock).
    pub received: Option<NaiveDate>,
    /// Where it came from, for the record (`maildir:NAME`, `imap:UIDVALIDITY:UID`).
    pub source: String,
}

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It opened a new case.
    Opened { reference: String, kind: CaseKind },
    /// It joined an existing case; `events` names what it recorded there.
    Joined {
        reference: String,
        events: Vec<String>,
    },
    /// It was taken in before; `holder` is the case that has it.
    Duplicate { holder: String },
    /// It opened no case and is kept with the reason. Taking it in again gives the same
    /// outcome, so the mailbox can always file it where it belongs.
    SetAside { kind: SetAsideKind, reason: String },
}

/// Why a message could not be taken in now. Either way nothing was recorded for it, so the
/// source keeps it and offers it again.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The classification rules cannot be built (only possible before the first message: the
    /// daemon builds them at start, and a failed reload keeps the rules in force).
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// Takes one message in. Errors are store failures and an unusable rule set only: every
/// message, however broken, has an [`Outcome`].
pub async fn ingest(
    store: &Store,
    loaded: &Loaded,
    inbound: Inbound<'_>,
) -> Result<Outcome, IntakeError> {
    let outcome = ingest_once(store, loaded, inbound).await;
    if let Ok(o) = &outcome {
        crate::metrics::message_ingested(match o {
            Outcome::Opened { .. } => "opened",
            Outcome::Joined { .. } => "joined",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::SetAside { .. } => "set_aside",
        });
    }
    outcome
}

async fn ingest_once(
    store: &Store,
    loaded: &Loaded,
    inbound: Inbound<'_>,
) -> Result<Outcome, IntakeError> {
    let classifier = loaded.classifier.live()?;
    let hash = mail::content_hash(inbound.raw);
    if let Some(holder) = store.seen(&hash)? {
        // A message set aside before is set aside again (same kind and reason), so the
        // mailbox files it where it belongs even if a crash interrupted the first time.
        if let Some(record) = store.set_aside_record(&hash)? {
            return Ok(Outcome::SetAside {
                kind: record.kind,
                reason: record.reason,
            });
        }
        return Ok(Outcome::Duplicate { holder });
    }
    store.put_raw(&hash, inbound.raw)?;
    let day = inbound
        .received
        .unwrap_or_else(|| loaded.received_on(inbound.arrived));
    let mail_config = &loaded.config.mail;
    let parsed = match mail::parse(inbound.raw, mail_config.max_message_bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            let mark = MessageMark {
                hash: hash.clone(),
                sender: None,
                day,
            };
            return set_aside(
                store,
                &inbound,
                &mark,
                None,
                SetAsideKind::Quarantined,
                e.to_string(),
            )
            .await;
        }
    };
    let mark = MessageMark {
        hash: hash.clone(),
        sender: Some(parsed.from.address.clone()),
        day,
    };
    if let Some(reason) = mail::automated_reason(&parsed, &mail_config.id_domain()) {
        return set_aside(
            store,
            &inbound,
            &mark,
            Some(&parsed),
            SetAsideKind::Automated,
            reason,
        )
        .await;
    }
    let count = store.messages_from(&parsed.from.address, day)?;
    if count >= mail_config.daily_cap_per_sender {
        let reason = format!(
            "{} messages from {} today, over the cap of {}: a likely mail loop",
            count + 1,
            parsed.from.address,
            mail_config.daily_cap_per_sender
        );
        return set_aside(
            store,
            &inbound,
            &mark,
            Some(&parsed),
            SetAsideKind::OverCap,
            reason,
        )
        .await;
    }
    let mut linked = linked_message(store, &parsed, &hash, day)?;
    let rules = loaded.rules();
    let now = Utc::now();
    if let Some(reference) = thread(store, loaded, &parsed)? {
        let case = store.require_case(&reference)?;
        let context = verdict::context_of(&case);
        let v = classify_mail(classifier, &parsed, context);
        linked.classification = Some(verdict::evidence(&v, context));
        let follow_up = verdict::follow_up(&case, context, &v, &parsed.text, &linked.summary, day);
        let flags = verdict::new_flags(&case, context, &v, follow_up.as_ref());
        let kept = Event::MessageLinked { message: linked };
        let mut events: Vec<Event> = [Some(kept.clone()), follow_up.clone(), flags.clone()]
            .into_iter()
            .flatten()
            .collect();
        let result = match store
            .record_all(&reference, &events, Some(&mark), ACTOR, now, rules)
            .await
        {
            // The follow-up was refused (the case moved on): keep the message on the record,
            // with any flags it raised.
            Err(StoreError::Workflow(_)) if follow_up.is_some() => {
                events = [Some(kept), flags].into_iter().flatten().collect();
                store
                    .record_all(&reference, &events, Some(&mark), ACTOR, now, rules)
                    .await
            }
            other => other,
        };
        return match result {
            Ok(_) => Ok(Outcome::Joined {
                reference,
                events: events.iter().map(|e| e.name().to_owned()).collect(),
            }),
            Err(StoreError::Duplicate { holder, .. }) => Ok(Outcome::Duplicate { holder }),
            Err(e) => Err(e.into()),
        };
    }
    let v = classify_mail(classifier, &parsed, Context::None);
    // Automatic mail the headers did not give away (SPEC §1: never a case, never answered).
    let Some((kind, extra_flag)) = verdict::case_kind(v.kind) else {
        let reason = verdict::automated_reason(&v);
        return set_aside(
            store,
            &inbound,
            &mark,
            Some(&parsed),
            SetAsideKind::Automated,
            reason,
        )
        .await;
    };
    let mut flags = v.flags.clone();
    flags.extend(extra_flag.filter(|f| !v.flags.contains(f)));
    linked.classification = Some(verdict::evidence(&v, Context::None));
    let opened = Opened {
        kind,
        received: day,
        channel: Channel::Email,
        complainant: Contact {
            name: parsed.from.name.clone(),
            email: Some(parsed.from.address.clone()),
            ..Contact::default()
        },
        representative: None,
        group_members: Vec::new(),
        summary: linked.summary.clone(),
        flags,
        message: Some(linked),
        handler: None,
        linked_to: None,
    };
    match store
        .open_case_for_message(opened, &mark, ACTOR, now, rules)
        .await
    {
        Ok(commit) => Ok(Outcome::Opened {
            reference: commit.case.reference,
            kind: commit.case.kind,
        }),
        Err(StoreError::Duplicate { holder, .. }) => Ok(Outcome::Duplicate { holder }),
        Err(e) => Err(e.into()),
    }
}

/// Classifies a parsed email with the rules and learned component in force (reloaded on
/// SIGHUP, retrained on staff corrections).
fn classify_mail(classifier: &LiveRules, parsed: &ParsedMail, context: Context) -> Verdict {
    classifier.classify(&Input {
        subject: &parsed.subject,
        body: &parsed.text,
        channel: Channel::Email,
        context,
    })
}

async fn set_aside(
    store: &Store,
    inbound: &Inbound<'_>,
    mark: &MessageMark,
    parsed: Option<&ParsedMail>,
    kind: SetAsideKind,
    reason: String,
) -> Result<Outcome, IntakeError> {
    let record = SetAside {
        hash: mark.hash.clone(),
        kind,
        reason: reason.clone(),
        source: inbound.source.clone(),
        arrived: inbound.arrived,
        from: parsed.map(|p| p.from.address.clone()),
        subject: parsed.map(|p| p.subject.clone()),
    };
    match store.set_aside(&record, mark).await {
        Ok(()) => Ok(Outcome::SetAside { kind, reason }),
        Err(StoreError::Duplicate { holder, .. }) => Ok(Outcome::Duplicate { holder }),
        Err(e) => Err(e.into()),
    }
}

/// The message as kept on the case. A Message-ID already used by a different message (some
/// senders reuse them) is replaced by one made from the content hash, so both are kept.
fn linked_message(
    store: &Store,
    parsed: &ParsedMail,
    hash: &str,
    day: NaiveDate,
) -> Result<LinkedMessage, StoreError> {
    let message_id = match &parsed.message_id {
        Some(id) if store.reference_for_message(id)?.is_none() => id.clone(),
        _ => format!("<{}@content.redress.invalid>", &hash[..32]),
    };
    Ok(LinkedMessage {
        message_id,
        direction: Direction::Inbound,
        channel: Channel::Email,
        date: day,
        summary: summary(parsed),
        source_hash: Some(hash.to_owned()),
        classification: None,
    })
}

fn summary(parsed: &ParsedMail) -> String {
    let body: String = parsed.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = if parsed.subject.is_empty() {
        body
    } else {
        format!("{}: {body}", parsed.subject)
    };
    if s.chars().count() > 300 {
        s = s.chars().take(297).collect::<String>() + "...";
    }
    if s.trim().is_empty() {
        "(empty message)".to_owned()
    } else {
        s
    }
}

/// Which case a message belongs to (SPEC §8): the reference in the subject, then the
/// messages it replies to, then the sender's one open case.
fn thread(
    store: &Store,
    loaded: &Loaded,
    parsed: &ParsedMail,
) -> Result<Option<String>, StoreError> {
    let prefix = &loaded.config.organisation.reference_prefix;
    if let Some(reference) = find_reference(&parsed.subject, prefix)
        && store.case(&reference)?.is_some()
    {
        return Ok(Some(reference));
    }
    for id in parsed
        .in_reply_to
        .iter()
        .chain(parsed.references.iter().rev())
    {
        if let Some(reference) = store.reference_for_message(id)? {
            return Ok(Some(reference));
        }
    }
    let mut open = Vec::new();
    for reference in store.references_for_contact(&format!("email:{}", parsed.from.address))? {
        if store.case(&reference)?.is_some_and(|c| c.status.is_open()) {
            open.push(reference);
        }
    }
    Ok(if open.len() == 1 { open.pop() } else { None })
}
