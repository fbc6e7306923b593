//! Events: the only way a case changes.
//!
//! Every change to a case is an immutable event with who and when (SPEC §6, Code 5.12). Events
//! carry the dates that matter (received, acknowledged, responded) so that folding them again
//! gives the same case; the clock that stamps them is the adapter's business, not the core's.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::core::model::{
    Adjustment, CaseKind, Channel, ComplaintDefinition, Contact, Decision, Flag, LinkedMessage,
    Representative, Restriction, Stage,
};

/// The first event of every case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub kind: CaseKind,
    /// The date the landlord received it: the Code's clocks start here (6.2).
    pub received: NaiveDate,
    pub channel: Channel,
    pub complainant: Contact,
    #[serde(default)]
    pub representative: Option<Representative>,
    #[serde(default)]
    pub group_members: Vec<Contact>,
    pub summary: String,
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// The message that opened it, kept on the record (5.12).
    #[serde(default)]
    pub message: Option<LinkedMessage>,
    #[serde(default)]
    pub handler: Option<String>,
    /// The case this one arose from, e.g. a service request whose response the resident is
    /// unhappy with (1.5).
    #[serde(default)]
    pub linked_to: Option<String>,
}

/// Something that happened to a case.
// `Opened` is larger than the rest, but events are few and short-lived; boxing it would only
// complicate every constructor and pattern.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Opened(Opened),
    /// A further message (either direction) joined the case.
    MessageLinked {
        message: LinkedMessage,
    },
    HandlerAssigned {
        handler: String,
    },
    /// The complaint definition for the current stage (5.6, 5.7).
    DefinitionRecorded {
        definition: ComplaintDefinition,
    },
    /// The current stage was acknowledged on this date (6.2, 6.11).
    Acknowledged {
        on: NaiveDate,
    },
    /// The resident was told the response will take longer (6.4, 6.15).
    ExtensionAgreed {
        on: NaiveDate,
        working_days: u32,
        reason: String,
        #[serde(default)]
        good_reason: Option<String>,
        update_interval_working_days: u32,
    },
    /// Staff decided the current stage; the response letter is drafted from this.
    DecisionRecorded {
        decision: Decision,
    },
    /// The current stage's response was sent on this date (6.3, 6.14).
    Responded {
        on: NaiveDate,
    },
    /// The resident asked for stage 2. They need give no reasons (6.12).
    EscalationRequested {
        received: NaiveDate,
        #[serde(default)]
        reasons: Option<String>,
    },
    /// On a service request: the resident is unhappy with how it was handled. That is a
    /// complaint (1.5), opened as a linked case while the service request carries on.
    DissatisfiedWithResponse {
        received: NaiveDate,
        summary: String,
        #[serde(default)]
        message: Option<LinkedMessage>,
    },
    /// Another case was linked to this one.
    CaseLinked {
        reference: String,
    },
    /// Staff corrected the kind; recorded so it can train the classifier.
    Reclassified {
        kind: CaseKind,
        reason: String,
    },
    FlagsChanged {
        #[serde(default)]
        add: Vec<Flag>,
        #[serde(default)]
        remove: Vec<Flag>,
    },
    /// Staff decided this is not a complaint the process covers, with reasons (2.4).
    NotAccepted {
        on: NaiveDate,
        reasons: String,
        by: String,
    },
    /// An outstanding action from a stage's decision was done (6.6).
    ActionCompleted {
        stage: Stage,
        index: usize,
        on: NaiveDate,
    },
    /// A payment offered in a stage's response was made (or credited to the rent account,
    /// 2024 policy §14.28): the reminder to follow it up stops.
    PaymentMade {
        stage: Stage,
        /// Which of the stage decision's remedies, from 0.
        index: usize,
        on: NaiveDate,
        /// How it was paid ("bank transfer", "credited to the rent account").
        how: String,
    },
    AdjustmentRecorded {
        adjustment: Adjustment,
    },
    RestrictionRecorded {
        restriction: Restriction,
    },
    Closed {
        on: NaiveDate,
        reason: String,
    },
    Reopened {
        on: NaiveDate,
        reason: String,
    },
    /// A letter was refused permanently by the mail system (a 5xx reply).
    DeliveryFailed {
        message_id: String,
        on: NaiveDate,
        reason: String,
    },
}

impl Event {
    /// The event's name as stored (`snake_case`), for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Opened(_) => "opened",
            Event::MessageLinked { .. } => "message_linked",
            Event::HandlerAssigned { .. } => "handler_assigned",
            Event::DefinitionRecorded { .. } => "definition_recorded",
            Event::Acknowledged { .. } => "acknowledged",
            Event::ExtensionAgreed { .. } => "extension_agreed",
            Event::DecisionRecorded { .. } => "decision_recorded",
            Event::Responded { .. } => "responded",
            Event::EscalationRequested { .. } => "escalation_requested",
            Event::DissatisfiedWithResponse { .. } => "dissatisfied_with_response",
            Event::CaseLinked { .. } => "case_linked",
            Event::Reclassified { .. } => "reclassified",
            Event::FlagsChanged { .. } => "flags_changed",
            Event::NotAccepted { .. } => "not_accepted",
            Event::ActionCompleted { .. } => "action_completed",
            Event::PaymentMade { .. } => "payment_made",
            Event::AdjustmentRecorded { .. } => "adjustment_recorded",
            Event::RestrictionRecorded { .. } => "restriction_recorded",
            Event::Closed { .. } => "closed",
            Event::Reopened { .. } => "reopened",
            Event::DeliveryFailed { .. } => "delivery_failed",
        }
    }
}

/// An event as stored: which case, its place in the case's log, when and by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub reference: String,
    /// 1 for the `opened` event, then consecutive.
    pub seq: u32,
    pub at: DateTime<Utc>,
    /// A staff email, or `system` / `intake` for the daemon itself.
    pub actor: String,
    pub event: Event,
}
