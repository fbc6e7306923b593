//! Classification: what a message is (SPEC §1).
//!
//! [`engine`] is the rules engine: landlord-editable rules in `rules/*.toml` ([`rules`]) over
//! a normalised message ([`normalise`]), giving a kind, a confidence, flags and the rules that
//! fired with the text they matched, helped on close calls by a naive Bayes model ([`learned`])
//! trained on the shipped corpus and staff corrections. [`live`] holds the rules in force for
//! the daemon (built on first use, reloaded on SIGHUP, retrained on corrections); intake reads
//! its verdicts through `crate::intake::verdict`, which turns them into cases, events and the
//! evidence kept on the record.

pub mod engine;
pub mod eval;
pub mod learned;
pub mod live;
pub mod normalise;
mod prefilter;
pub mod rules;

use serde::{Deserialize, Serialize};

/// What a message is: the kinds of SPEC §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Complaint,
    ServiceRequest,
    Stage2Request,
    /// A reply on an open case that asks for nothing new.
    Correspondence,
    Compliment,
    Comment,
    MpEnquiry,
    InformationRequest,
    AsbReport,
    Claim,
    /// Auto-replies, bounces, newsletters: never a case, never answered.
    Automated,
}

impl MessageKind {
    pub const ALL: [MessageKind; 11] = [
        MessageKind::Complaint,
        MessageKind::ServiceRequest,
        MessageKind::Stage2Request,
        MessageKind::Correspondence,
        MessageKind::Compliment,
        MessageKind::Comment,
        MessageKind::MpEnquiry,
        MessageKind::InformationRequest,
        MessageKind::AsbReport,
        MessageKind::Claim,
        MessageKind::Automated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Complaint => "complaint",
            MessageKind::ServiceRequest => "service_request",
            MessageKind::Stage2Request => "stage2_request",
            MessageKind::Correspondence => "correspondence",
            MessageKind::Compliment => "compliment",
            MessageKind::Comment => "comment",
            MessageKind::MpEnquiry => "mp_enquiry",
            MessageKind::InformationRequest => "information_request",
            MessageKind::AsbReport => "asb_report",
            MessageKind::Claim => "claim",
            MessageKind::Automated => "automated",
        }
    }
}

/// What a message replies to, which changes what dissatisfaction means: after a stage 1
/// response it is a stage 2 request (6.12); on a service request it is a complaint (1.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    /// A new message.
    #[default]
    None,
    /// A reply on an open complaint, before its stage 1 response.
    OpenCase,
    /// A reply on a complaint whose stage 1 response was sent.
    Stage1Responded,
    /// A reply on an open service request.
    ServiceRequest,
}
