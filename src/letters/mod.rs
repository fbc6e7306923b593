//! Letters: drafts for staff approval, written from landlord-editable templates and checked
//! against what the Code requires of each.
//!
//! Every outgoing letter starts as a [`Draft`] (SPEC §4). [`templates`] renders it from a
//! [`context`] built from the case; [`compliance`] lists what each kind must contain and finds
//! what a rendered or edited letter lacks; [`approval`] decides who may approve it. A template
//! that fails at run time (they are checked at start, so this is a defect) leaves the
//! [`plain`] version in its place, which the same check then judges.

pub mod approval;
pub mod compliance;
pub mod context;
pub mod internal;
pub mod plain;
pub mod sample;
pub mod templates;
pub mod write;

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
    /// The HTML version, sent beside the text; absent for letters drafted before there was
    /// one.
    #[serde(default)]
    pub html: Option<String>,
    /// What the compliance check found missing when it was last written or edited (SPEC §3);
    /// empty when it complies. Approval checks again.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Every staff edit, with the text before and after (SPEC §4).
    #[serde(default)]
    pub edits: Vec<DraftEdit>,
}

/// One staff edit of a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftEdit {
    pub by: String,
    pub at: DateTime<Utc>,
    pub subject_before: String,
    pub body_before: String,
    pub subject_after: String,
    pub body_after: String,
}

/// A letter as written for a case: what a draft is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    /// What the compliance check found missing (empty when it complies).
    pub problems: Vec<String>,
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
