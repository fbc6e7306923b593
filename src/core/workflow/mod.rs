//! The workflow: a pure function from (case, event) to (new case, effects).
//!
//! This is where the Complaint Handling Code's rules about *sequence* live: what may happen
//! when, which clock starts, which letter must be drafted, who must be told. It does no I/O and
//! reads no clock, so every rule is tested here with plain values, and replaying a case's events
//! always gives the same case. Adapters carry out the returned [`Effect`]s.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::calendar::Calendar;
use crate::core::code::{PolicyProfile, Stage, provision};
use crate::core::event::{Event, Opened};
use crate::core::model::{
    Case, CaseKind, Channel, Closure, DeliveryFailure, DueItem, DueKind, Flag, Refusal, Status,
};

/// What the workflow needs to know about the landlord: its working days and its timescales.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub calendar: &'a Calendar,
    pub policy: &'a PolicyProfile,
}

/// A letter the Code (or good practice) requires to be drafted for staff approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "letter", rename_all = "snake_case")]
pub enum LetterKind {
    Acknowledgement { stage: Stage },
    Response { stage: Stage },
    Extension { stage: Stage },
    NotAccepted,
    ServiceRequestLogged,
    MpEnquiry,
    SocialInfoRequest,
    ActionUpdate,
}

/// Who must be alerted, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "alert", rename_all = "snake_case")]
pub enum Alert {
    /// Gas, fire, no heating or water, electrical or structural danger: act at once.
    UrgentSafety,
    /// Stage 2 needs a handler who did not consider stage 1 (6.13).
    Stage2HandlerNeeded { stage1_handler: Option<String> },
    /// The message may fall outside the process; a person must decide, never the daemon (2.1).
    PossibleExclusion,
}

/// Something the adapters must do because of a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Draft(LetterKind),
    Deadline(DueItem),
    Alert(Alert),
    /// Open a complaint linked to this case (1.5); the store does it in the same transaction.
    OpenLinkedComplaint(Box<Opened>),
}

/// The result of a decision: the new case and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub case: Case,
    pub effects: Vec<Effect>,
}

/// Why an event was refused. Each names the Code provision where one applies.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WorkflowError {
    #[error("cannot record `{event}` on {reference}: {why}")]
    NotAllowed {
        event: &'static str,
        reference: String,
        why: String,
    },
    #[error(
        "Code 6.13: the person considering stage 2 must not be the person who considered stage 1 ({handler})"
    )]
    SameHandlerAtStage2 { handler: String },
    #[error("Code {provision}: {what} must give reasons")]
    ReasonsRequired {
        provision: &'static str,
        what: &'static str,
    },
    #[error(
        "Code {provision}: extensions at {stage} would total {total} working days, more than the {max} allowed without a good reason; record the good reason"
    )]
    ExtensionTooLong {
        provision: &'static str,
        stage: Stage,
        total: u32,
        max: u32,
    },
    #[error(
        "Code 5.6: record the complaint definition (our understanding and the outcome sought) before acknowledging"
    )]
    DefinitionMissing,
    #[error("{what} ({date}) cannot be before {earlier_what} ({earlier})")]
    DateOrder {
        what: &'static str,
        date: NaiveDate,
        earlier_what: &'static str,
        earlier: NaiveDate,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Opens a case from its first event.
pub fn open(reference: &str, opened: &Opened, rules: Rules<'_>) -> Result<Decided, WorkflowError> {
    if opened.summary.trim().is_empty() {
        return Err(WorkflowError::Invalid(
            "a case needs a summary of what the resident said".into(),
        ));
    }
    let mut case = Case {
        reference: reference.to_owned(),
        kind: opened.kind,
        status: Status::Received,
        stage: None,
        channel: opened.channel,
        received: opened.received,
        summary: opened.summary.clone(),
        complainant: opened.complainant.clone(),
        representative: opened.representative.clone(),
        group_members: opened.group_members.clone(),
        flags: Vec::new(),
        handler: opened.handler.clone(),
        stages: Default::default(),
        service_target: None,
        adjustments: Vec::new(),
        restrictions: Vec::new(),
        messages: opened.message.iter().cloned().collect(),
        linked_cases: opened.linked_to.iter().cloned().collect(),
        refusal: None,
        closure: None,
        delivery_failures: Vec::new(),
        version: 1,
    };
    add_flags(&mut case, &opened.flags);
    let mut effects = Vec::new();
    if case.flags.contains(&Flag::UrgentSafety) {
        effects.push(Effect::Alert(Alert::UrgentSafety));
    }
    match opened.kind {
        CaseKind::Complaint => {
            effects.extend(start_stage(&mut case, Stage::One, opened.received, rules));
            if matches!(opened.channel, Channel::Facebook | Channel::X) {
                // 2024 §5.2–5.3: ask for the details a complaint needs, privately.
                effects.push(Effect::Draft(LetterKind::SocialInfoRequest));
            }
        }
        CaseKind::ServiceRequest => {
            if let Some(days) = rules.policy.service_request_target_working_days {
                let due = rules.calendar.add_working_days(opened.received, days);
                case.service_target = Some(due);
                effects.push(deadline(due, DueKind::ServiceTarget));
            }
            effects.push(Effect::Draft(LetterKind::ServiceRequestLogged));
        }
        CaseKind::MpEnquiry => effects.push(Effect::Draft(LetterKind::MpEnquiry)),
        CaseKind::InformationRequest | CaseKind::AsbReport | CaseKind::Claim => {
            // These may fall outside the complaints process (2024 §8.3), but only a person may
            // decide that (Code 2.1, 2.5): flag it for review.
            effects.push(Effect::Alert(Alert::PossibleExclusion));
        }
        CaseKind::Compliment | CaseKind::Comment => {}
    }
    Ok(Decided { case, effects })
}

/// Applies one event to a case.
pub fn apply(case: &Case, event: &Event, rules: Rules<'_>) -> Result<Decided, WorkflowError> {
    let mut next = case.clone();
    next.version += 1;
    let effects = step(&mut next, event, rules)?;
    Ok(Decided {
        case: next,
        effects,
    })
}

/// Rebuilds a case from its full event log; the first event must be `opened`.
pub fn replay<'e>(
    reference: &str,
    events: impl IntoIterator<Item = &'e Event>,
    rules: Rules<'_>,
) -> Result<Case, WorkflowError> {
    let mut events = events.into_iter();
    let Some(Event::Opened(opened)) = events.next() else {
        return Err(WorkflowError::Invalid(format!(
            "{reference}: the event log does not start with `opened`"
        )));
    };
    let mut case = open(reference, opened, rules)?.case;
    for event in events {
        case = apply(&case, event, rules)?.case;
    }
    Ok(case)
}

fn step(case: &mut Case, event: &Event, rules: Rules<'_>) -> Result<Vec<Effect>, WorkflowError> {
    let reference = case.reference.clone();
    let refuse = |why: &str| WorkflowError::NotAllowed {
        event: event.name(),
        reference: reference.clone(),
        why: why.to_owned(),
    };
    let refuse = &refuse;
    let mut effects = Vec::new();
    match event {
        Event::Opened(_) => return Err(refuse("the case is already open")),
        Event::MessageLinked { message } => {
            if case
                .messages
                .iter()
                .any(|m| m.message_id == message.message_id)
            {
                return Err(refuse("that message is already on the case"));
            }
            case.messages.push(message.clone());
        }
        Event::CaseLinked { reference } => {
            if !case.linked_cases.contains(reference) {
                case.linked_cases.push(reference.clone());
            }
        }
        Event::HandlerAssigned { handler } => assign_handler(case, handler)?,
        Event::DefinitionRecorded { definition } => {
            let stage =
                open_stage_mut(case).ok_or_else(|| refuse("it is not an open complaint"))?;
            stage.definition = Some(definition.clone());
        }
        Event::Acknowledged { on } => effects.extend(acknowledge(case, *on, rules, refuse)?),
        Event::ExtensionAgreed {
            on,
            working_days,
            reason,
            good_reason,
            update_interval_working_days,
        } => {
            let ext = ExtensionRequest {
                on: *on,
                working_days: *working_days,
                reason,
                good_reason: good_reason.as_deref(),
                update_interval: *update_interval_working_days,
            };
            effects.extend(extend(case, ext, rules, refuse)?);
        }
        Event::DecisionRecorded { decision } => {
            if case.status != Status::Acknowledged {
                return Err(refuse(
                    "a decision is recorded after acknowledgement and before the response",
                ));
            }
            let stage = case.stage.ok_or_else(|| refuse("it is not a complaint"))?;
            if decision.reasons.trim().is_empty() {
                // 6.7 (stage 1) and 6.18 (stage 2): clear reasons for any decision.
                return Err(WorkflowError::ReasonsRequired {
                    provision: if stage == Stage::One { "6.7" } else { "6.18" },
                    what: "a decision",
                });
            }
            if let Some(rec) = case.stages.get_mut(&stage) {
                rec.decision = Some(decision.clone());
            }
            effects.push(Effect::Draft(LetterKind::Response { stage }));
        }
        Event::Responded { on } => effects.extend(respond(case, *on, refuse)?),
        Event::EscalationRequested { received, .. } => {
            // 6.12: the reasons are optional and never checked.
            let responded = case.stages.get(&Stage::One).and_then(|r| r.responded_on);
            let Some(responded) = responded else {
                return Err(refuse(
                    "stage 2 follows a stage 1 response; none has been sent",
                ));
            };
            if case.stage == Some(Stage::Two) {
                return Err(refuse("the complaint is already at stage 2"));
            }
            if *received < responded {
                return Err(WorkflowError::DateOrder {
                    what: "the escalation request",
                    date: *received,
                    earlier_what: "the stage 1 response",
                    earlier: responded,
                });
            }
            let stage1_handler = case.handler.take();
            case.closure = None;
            effects.extend(start_stage(case, Stage::Two, *received, rules));
            effects.push(Effect::Alert(Alert::Stage2HandlerNeeded { stage1_handler }));
        }
        Event::DissatisfiedWithResponse {
            received,
            summary,
            message,
        } => {
            if case.kind != CaseKind::ServiceRequest {
                return Err(refuse(
                    "only a service request has a response to be unhappy with (1.5)",
                ));
            }
            let opened = Opened {
                kind: CaseKind::Complaint,
                received: *received,
                channel: message.as_ref().map_or(case.channel, |m| m.channel),
                complainant: case.complainant.clone(),
                representative: case.representative.clone(),
                group_members: case.group_members.clone(),
                summary: summary.clone(),
                flags: vec![Flag::Dissatisfaction],
                message: message.clone(),
                handler: None,
                linked_to: Some(case.reference.clone()),
            };
            effects.push(Effect::OpenLinkedComplaint(Box::new(opened)));
        }
        Event::Reclassified { kind, reason } => {
            effects.extend(reclassify(case, *kind, reason, rules, refuse)?)
        }
        Event::FlagsChanged { add, remove } => {
            let was_urgent = case.flags.contains(&Flag::UrgentSafety);
            add_flags(case, add);
            case.flags.retain(|f| !remove.contains(f));
            // A danger reported later in a case (a reply mentioning a gas smell) alerts as
            // at opening: SPEC §1, "alert at once".
            if !was_urgent && case.flags.contains(&Flag::UrgentSafety) {
                effects.push(Effect::Alert(Alert::UrgentSafety));
            }
        }
        Event::NotAccepted { on, reasons, by } => {
            if case.kind != CaseKind::Complaint
                || !matches!(case.status, Status::Received | Status::Acknowledged)
            {
                return Err(refuse(
                    "only a complaint not yet answered can be not accepted",
                ));
            }
            if reasons.trim().is_empty() {
                return Err(WorkflowError::ReasonsRequired {
                    provision: provision::NOT_ACCEPTED_REASONS,
                    what: "a decision not to accept a complaint",
                });
            }
            case.status = Status::NotAccepted;
            case.refusal = Some(Refusal {
                on: *on,
                reasons: reasons.clone(),
                by: by.clone(),
            });
            effects.push(Effect::Draft(LetterKind::NotAccepted));
        }
        Event::ActionCompleted { stage, index, on } => {
            let action = case
                .stages
                .get_mut(stage)
                .and_then(|r| r.decision.as_mut())
                .and_then(|d| d.actions.get_mut(*index))
                .ok_or_else(|| refuse("no such outstanding action"))?;
            if action.done_on.is_some() {
                return Err(refuse("that action is already done"));
            }
            action.done_on = Some(*on);
        }
        Event::PaymentMade {
            stage,
            index,
            on,
            how,
        } => {
            let remedy = case
                .stages
                .get_mut(stage)
                .and_then(|r| r.decision.as_mut())
                .and_then(|d| d.remedies.get_mut(*index))
                .filter(|r| r.payment_pence.is_some_and(|p| p > 0))
                .ok_or_else(|| refuse("no such payment offered"))?;
            if remedy.paid_on.is_some() {
                return Err(refuse("that payment is already recorded as made"));
            }
            if how.trim().is_empty() {
                return Err(refuse("say how the payment was made"));
            }
            remedy.paid_on = Some(*on);
            remedy.how_paid = Some(how.clone());
        }
        Event::AdjustmentRecorded { adjustment } => {
            if adjustment.review_on < adjustment.agreed_on {
                return Err(WorkflowError::DateOrder {
                    what: "the review date",
                    date: adjustment.review_on,
                    earlier_what: "the date agreed",
                    earlier: adjustment.agreed_on,
                });
            }
            case.adjustments.push(adjustment.clone());
            let index = case.adjustments.len() - 1;
            effects.push(deadline(
                adjustment.review_on,
                DueKind::AdjustmentReview { index },
            ));
        }
        Event::RestrictionRecorded { restriction } => {
            if restriction.reason.trim().is_empty() || restriction.evidence.trim().is_empty() {
                return Err(WorkflowError::ReasonsRequired {
                    provision: "5.14",
                    what: "a contact restriction (reason and evidence)",
                });
            }
            case.restrictions.push(restriction.clone());
            let index = case.restrictions.len() - 1;
            effects.push(deadline(
                restriction.review_on,
                DueKind::RestrictionReview { index },
            ));
        }
        Event::Closed { on, reason } => {
            if !case.status.is_open() {
                return Err(refuse("the case is not open"));
            }
            if reason.trim().is_empty() {
                return Err(refuse("say why the case is being closed"));
            }
            case.status = Status::Closed;
            case.closure = Some(Closure {
                on: *on,
                reason: reason.clone(),
            });
        }
        Event::DeliveryFailed {
            message_id,
            on,
            reason,
        } => case.delivery_failures.push(DeliveryFailure {
            message_id: message_id.clone(),
            on: *on,
            reason: reason.clone(),
        }),
        Event::Reopened { on, reason } => effects.extend(reopen(case, *on, reason, rules, refuse)?),
    }
    Ok(effects)
}

mod steps;
#[cfg(test)]
mod tests;

use steps::*;
