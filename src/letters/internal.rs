//! The emails redress sends to staff rather than residents: a deadline alert, and the daily
//! digest of what is due, at risk, breached and waiting for approval. Their templates
//! (`alert.*`, `digest.*`) sit beside the letters' and are edited the same way; the scheduler
//! fills in these contexts.

use serde::Serialize;

use super::context::long_date;
use crate::config::{Config, Organisation};

/// The names of the internal emails' templates.
pub const NAMES: [&str; 2] = ["alert", "digest"];

/// A deadline alert about one case.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertContext {
    pub organisation: Organisation,
    /// Who it is addressed to (a manager, the handler, the on-call contact).
    pub recipient: String,
    pub reference: String,
    /// "at risk", "breached" or "escalated" for a deadline; "due" for a reminder (an action,
    /// a review, an update, a payment); "urgent" or "waiting" for an alert the workflow raised
    /// (a report of danger, a decision only staff can take).
    pub level: String,
    /// What is due: "stage 1 response", "acknowledgement", "service request target"…
    pub deadline: String,
    /// The due date, in full.
    pub due: String,
    /// "due in 2 working days" or "4 working days overdue".
    pub when: String,
    /// The Code provision the deadline comes from.
    pub provision: String,
    pub handler: String,
    /// What the case is about, as recorded.
    pub summary: String,
    /// What would put it right: "approve draft 12", "record the decision"…
    pub next_step: String,
}

/// One line of a digest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DigestItem {
    pub reference: String,
    pub what: String,
    pub due: String,
    pub handler: String,
}

/// A message that opened no case and may need a person's eye: unreadable, over the
/// per-sender cap, or judged automatic by its words rather than its headers (a resident
/// whose email reads like an auto-reply must not go unanswered).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetAsideItem {
    /// When it arrived, e.g. "Saturday 21 November 2026 at 14:05".
    pub arrived: String,
    pub from: String,
    pub subject: String,
    /// `automated`, `quarantined` or `over_cap`.
    pub kind: String,
    pub reason: String,
}

/// The daily digest for a manager or a handler, each list oldest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DigestContext {
    pub organisation: Organisation,
    pub recipient: String,
    /// The day it covers, in full.
    pub date: String,
    pub breached: Vec<DigestItem>,
    pub at_risk: Vec<DigestItem>,
    pub due_today: Vec<DigestItem>,
    pub drafts_waiting: Vec<DigestItem>,
    /// Messages set aside since the previous digest (managers only; empty for handlers).
    pub set_aside: Vec<SetAsideItem>,
}

/// A sample alert, for previews and the template check.
pub fn sample_alert(config: &Config) -> AlertContext {
    let day = |m, d| long_date(chrono::NaiveDate::from_ymd_opt(2026, m, d).expect("a date"));
    AlertContext {
        organisation: config.organisation.clone(),
        recipient: "Morgan Manager".to_owned(),
        reference: "EH-2026-00042".to_owned(),
        level: "at risk".to_owned(),
        deadline: "stage 1 response".to_owned(),
        due: day(11, 25),
        when: "due in 2 working days".to_owned(),
        provision: "Code 6.3".to_owned(),
        handler: "Priya Shah".to_owned(),
        summary: "Black mould in the back bedroom, reported three times since August".to_owned(),
        next_step: "record the decision so the response can be drafted".to_owned(),
    }
}

/// A sample digest, for previews and the template check.
pub fn sample_digest(config: &Config) -> DigestContext {
    let day = |m, d| long_date(chrono::NaiveDate::from_ymd_opt(2026, m, d).expect("a date"));
    let item = |reference: &str, what: &str, due: String, handler: &str| DigestItem {
        reference: reference.to_owned(),
        what: what.to_owned(),
        due,
        handler: handler.to_owned(),
    };
    DigestContext {
        organisation: config.organisation.clone(),
        recipient: "Morgan Manager".to_owned(),
        date: day(11, 23),
        breached: vec![item(
            "EH-2026-00031",
            "acknowledgement",
            day(11, 20),
            "Sam Handler",
        )],
        at_risk: vec![item(
            "EH-2026-00042",
            "stage 1 response",
            day(11, 25),
            "Priya Shah",
        )],
        due_today: vec![item(
            "EH-2026-00040",
            "service request target",
            day(11, 23),
            "Repairs team",
        )],
        drafts_waiting: vec![item(
            "EH-2026-00044",
            "acknowledgement (stage 1), draft 57",
            day(11, 26),
            "Alex Reviewer",
        )],
        set_aside: vec![SetAsideItem {
            arrived: "Saturday 21 November 2026 at 14:05".to_owned(),
            from: "jo.bloggs@example.net".to_owned(),
            subject: "Away from my desk? No: still no heating".to_owned(),
            kind: "automated".to_owned(),
            reason: "classified as automated mail (confidence 0.41): rule auto_reply matched \"away from my desk\"".to_owned(),
        }],
    }
}
