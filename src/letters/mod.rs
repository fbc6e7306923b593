//! Letters: drafts for staff approval, and their plain-text first versions.
//!
//! Every outgoing letter starts as a [`Draft`] (SPEC §4). Until the template capability lands,
//! drafts are written by [`plain::render`]: plain English, the case reference in the subject,
//! and the ombudsman details the Code asks for on complaints correspondence.

pub mod compliance;
pub mod context;
pub mod plain;
pub mod sample;
pub mod templates;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::workflow::LetterKind;

/// Where a draft stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    /// Waiting for a member of staff.
    Pending,
    /// Approved and waiting in the outbox.
    Approved,
    Rejected,
    /// Sent (or, with no email address, handed over for posting).
    Sent,
    /// The mail system refused it permanently; recorded on the case.
    Failed,
}

impl DraftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftStatus::Pending => "pending",
            DraftStatus::Approved => "approved",
            DraftStatus::Rejected => "rejected",
            DraftStatus::Sent => "sent",
            DraftStatus::Failed => "failed",
        }
    }
}

/// A letter drafted for a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub id: u64,
    pub reference: String,
    pub letter: LetterKind,
    pub status: DraftStatus,
    /// The resident's (or representative's) email; `None` means the letter goes by post.
    pub to: Option<String>,
    pub subject: String,
    pub body: String,
    /// Fixed when the draft is made, so a letter sent twice after a crash is recognisable
    /// (and findable in the Sent folder) as the same letter.
    pub message_id: String,
    /// The resident's message this answers, for threading.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Who approved or rejected it, when, and (for rejections) why.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reject_reason: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Delivery attempts so far and the last error, for the outbox's backoff.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl LetterKind {
    /// A short name for listings and the API.
    pub fn name(&self) -> String {
        match self {
            LetterKind::Acknowledgement { stage } => format!("acknowledgement ({stage})"),
            LetterKind::Response { stage } => format!("response ({stage})"),
            LetterKind::Extension { stage } => format!("extension ({stage})"),
            LetterKind::NotAccepted => "not accepted".to_owned(),
            LetterKind::ServiceRequestLogged => "service request logged".to_owned(),
            LetterKind::MpEnquiry => "MP / councillor enquiry".to_owned(),
            LetterKind::SocialInfoRequest => "social media information request".to_owned(),
            LetterKind::ActionUpdate => "outstanding action update".to_owned(),
        }
    }
}
