//! The case model: what a landlord must keep about every complaint and service request.
//!
//! The Code (5.12) demands "a full record … of the complaint, and the outcomes at each stage",
//! so a [`Case`] keeps each stage's dates, decision and extensions side by side rather than
//! overwriting stage 1 when stage 2 starts. A case is never edited directly: it is the fold of
//! its [`Event`]s (see [`crate::core::workflow`]), so this module holds only data and the
//! derivations every reader needs (what is due next, which outcome to record).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::core::code::Stage;

/// What a case is about. Mirrors the kinds the classifier returns, less the two that never open
/// a case of their own (`correspondence` joins an existing case, `automated` is never a case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Code 1.2: an expression of dissatisfaction, however made.
    Complaint,
    /// Code 1.4: a request to put something right; recorded and monitored, not a complaint.
    ServiceRequest,
    /// Recorded for learning (2022 policy §3).
    Compliment,
    /// A suggestion; recorded (2022 policy §3).
    Comment,
    /// Separate route: the resident is asked whether they want an official complaint (2024 §8.4).
    MpEnquiry,
    /// FOI, subject access, or a request to explain a policy (2024 §8.3).
    InformationRequest,
    /// A report of anti-social behaviour, handled under the ASB policy (2024 §8.3).
    AsbReport,
    /// Insurance, legal or disrepair claim (2024 §8.3).
    Claim,
}

impl CaseKind {
    /// Every kind, for parsers and listings.
    pub const ALL: [CaseKind; 8] = [
        CaseKind::Complaint,
        CaseKind::ServiceRequest,
        CaseKind::Compliment,
        CaseKind::Comment,
        CaseKind::MpEnquiry,
        CaseKind::InformationRequest,
        CaseKind::AsbReport,
        CaseKind::Claim,
    ];

    /// The snake_case name used in files, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Complaint => "complaint",
            CaseKind::ServiceRequest => "service_request",
            CaseKind::Compliment => "compliment",
            CaseKind::Comment => "comment",
            CaseKind::MpEnquiry => "mp_enquiry",
            CaseKind::InformationRequest => "information_request",
            CaseKind::AsbReport => "asb_report",
            CaseKind::Claim => "claim",
        }
    }
}

impl std::str::FromStr for CaseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CaseKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = CaseKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown case kind `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// How a message reached the landlord. The Code says a complaint may be made "however made"
/// (1.2), so phone, letter and in-person contacts are recorded by staff alongside the channels
/// the daemon reads itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Facebook,
    X,
    WebForm,
    Phone,
    Letter,
    InPerson,
    Other,
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            format!(
                "unknown channel `{s}`; expected email, facebook, x, web_form, phone, letter, in_person or other"
            )
        })
    }
}

/// Where a case stands. The stage lives beside it in [`Case::stage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Logged, not yet acknowledged (the acknowledgement clock is running).
    Received,
    /// Acknowledged and defined; the response clock is running.
    Acknowledged,
    /// Stage 1 response sent; the resident may still escalate.
    Responded,
    /// Staff decided not to accept it as a complaint, with reasons (2.4).
    NotAccepted,
    /// Finished: final response sent, service request done, or closed by staff.
    Closed,
}

impl Status {
    /// Every status, for parsers and listings.
    pub const ALL: [Status; 5] = [
        Status::Received,
        Status::Acknowledged,
        Status::Responded,
        Status::NotAccepted,
        Status::Closed,
    ];

    /// The snake_case name used in files, indexes, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Acknowledged => "acknowledged",
            Status::Responded => "responded",
            Status::NotAccepted => "not_accepted",
            Status::Closed => "closed",
        }
    }

    /// Open cases are the ones somebody still has to act on.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::NotAccepted)
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status `{s}`; expected received, acknowledged, responded, not_accepted or closed")
            })
    }
}

/// Facts the classifier (or staff) attach to a case. They change which letters, alerts and
/// ombudsman details apply (SPEC §1, §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Dissatisfaction,
    BuildingSafety,
    LgscoMatter,
    UrgentSafety,
    Vulnerability,
    OutOfTime,
    ThirdParty,
    Group,
    CompensationSought,
    LegalAction,
    Abusive,
    /// The classifier was unsure; a person should confirm the kind.
    NeedsReview,
}

/// A person or organisation the landlord corresponds with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Postal address, for residents who want letters on paper.
    pub address: Option<String>,
    /// Platform-scoped id for social media contacts, e.g. `facebook:1234`.
    pub social: Option<String>,
}

impl Contact {
    /// Keys under which the store indexes this contact, so a new message from the same person
    /// finds their open cases. Emails are lower-cased: mailbox names are case-insensitive in
    /// practice and residents type them inconsistently.
    pub fn index_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(email) = &self.email {
            keys.push(format!("email:{}", email.trim().to_lowercase()));
        }
        if let Some(phone) = &self.phone {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                keys.push(format!("phone:{digits}"));
            }
        }
        if let Some(social) = &self.social {
            keys.push(format!("social:{social}"));
        }
        keys
    }

    /// A short human label for listings.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.email.clone())
            .or_else(|| self.social.clone())
            .or_else(|| self.phone.clone())
            .unwrap_or_else(|| "(unknown)".to_owned())
    }
}

/// Somebody acting for the resident. The Code (4.1–4.2) lets residents be represented; the
/// landlord must know the representative acts with consent before sharing details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    pub contact: Contact,
    /// e.g. "daughter", "advocate", "MP".
    pub relationship: String,
    pub consent_recorded: bool,
}

/// "Our understanding of the complaint and the outcomes the resident is seeking" (5.6) and what
/// the landlord is and is not responsible for (5.7). Set at acknowledgement of each stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintDefinition {
    pub understanding: String,
    pub outcome_sought: String,
    pub responsible_for: String,
    pub not_responsible_for: String,
}

/// How a stage was decided. Code 12.4-style recording: upheld, partly upheld or not upheld.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Upheld,
    PartlyUpheld,
    NotUpheld,
}

/// Something offered to put things right (5.13, section 7 of the Code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remedy {
    pub description: String,
    /// Amount in pence, when the remedy is a payment; bands decide who may authorise it.
    pub payment_pence: Option<u64>,
    /// How it will be paid (e.g. "bank transfer", "credit to rent account").
    pub how_paid: Option<String>,
    /// When the payment was made. Until then a payment offered in a response is followed up:
    /// a resident who has not given bank details within a month has it credited to their
    /// rent account (2024 policy §14.28), and staff are reminded to do so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_on: Option<NaiveDate>,
}

/// Something the landlord promised to do after a response (6.6: outstanding actions are tracked
/// and the resident kept updated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub description: String,
    pub due: NaiveDate,
    pub owner: Option<String>,
    pub done_on: Option<NaiveDate>,
}

/// A stage's decision, recorded by staff; the response letter is drafted from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub reasons: String,
    #[serde(default)]
    pub remedies: Vec<Remedy>,
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Learning points for the annual report (8.1).
    #[serde(default)]
    pub learning: Vec<String>,
    /// At stage 2: the reviewer agrees with the stage 1 findings. Under 2024 §12.5 an upheld
    /// stage 1 then stays upheld even if stage 2 finds no fault in how stage 1 was handled.
    #[serde(default)]
    pub agrees_with_stage1: bool,
}

/// An agreed extension (6.4, 6.15): the reason, length and how often the resident is updated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub agreed_on: NaiveDate,
    pub working_days: u32,
    pub reason: String,
    /// Needed when the stage's extensions together exceed the Code's maximum.
    pub good_reason: Option<String>,
    /// Agreed interval for keeping the resident informed (5.9), in working days.
    pub update_interval_working_days: u32,
    /// The response date this extension sets.
    pub new_due: NaiveDate,
    /// The dates the resident is due an update under the agreed interval (5.9), each
    /// `update_interval_working_days` after the last, before `new_due`. Worked out when the
    /// extension is agreed (the calendar lives in the workflow), so the due-date index and
    /// the reminders need no calendar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates_due: Vec<NaiveDate>,
}

/// Everything that happened at one stage of a complaint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Receipt (stage 1) or the escalation request (stage 2): the clock starts here.
    pub received: NaiveDate,
    pub ack_due: NaiveDate,
    pub acknowledged_on: Option<NaiveDate>,
    /// Counted from the actual acknowledgement once there is one, else from `ack_due`.
    pub response_due: NaiveDate,
    pub extensions: Vec<Extension>,
    pub handler: Option<String>,
    pub definition: Option<ComplaintDefinition>,
    pub decision: Option<Decision>,
    pub responded_on: Option<NaiveDate>,
}

impl StageRecord {
    /// The date the response is due after any extensions. The latest date wins, so a case
    /// reopened after an extended response gets its new response date.
    pub fn effective_due(&self) -> NaiveDate {
        self.extensions
            .iter()
            .map(|e| e.new_due)
            .fold(self.response_due, NaiveDate::max)
    }

    /// Working days of extension granted at this stage so far.
    pub fn extension_days(&self) -> u32 {
        self.extensions.iter().map(|e| e.working_days).sum()
    }
}

/// A reasonable adjustment (5.10), with the review date the Code's "active review" needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub description: String,
    /// A disability the resident disclosed; special-category data, shown only to roles that need it.
    pub disclosed_disability: Option<String>,
    pub agreed_on: NaiveDate,
    pub review_on: NaiveDate,
}

/// A contact restriction for unacceptable behaviour (5.14–5.15). It never stops a complaint
/// being logged; it only shapes how the landlord corresponds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    pub description: String,
    pub reason: String,
    pub evidence: String,
    pub imposed_on: NaiveDate,
    pub review_on: NaiveDate,
}

/// Whether a message came in or went out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A message kept on the case record (5.12). The raw source lives with the message store; the
/// case keeps the id to find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedMessage {
    pub message_id: String,
    pub direction: Direction,
    pub channel: Channel,
    pub date: NaiveDate,
    pub summary: String,
    /// SHA-256 of the raw source, which the store keeps (5.12: "all correspondence").
    #[serde(default)]
    pub source_hash: Option<String>,
    /// What the classifier made of an inbound message, so staff can see why it opened the
    /// case it did or changed it (SPEC §1). Absent on outbound letters, on messages staff
    /// logged, and on events stored before it was kept (hence skipped when empty: an old
    /// export re-exports byte for byte).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
}

/// The classifier's decision about one message, with its reasons. The core keeps it and
/// never acts on it: the kind is the classifier's own name (`stage2_request`,
/// `correspondence` and `automated` are kinds no case has), so the core does not depend on
/// the classifier's types and a landlord's renamed rules never make an old record unreadable.
///
/// Numbers are rounded to three decimals: enough to read, and short decimals survive the
/// JSON round trip exactly, so a replayed case equals its snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// `complaint`, `service_request`, `stage2_request`, `correspondence`, …
    pub kind: String,
    /// What the message was read as replying to: `none` (a new message), `open_case`,
    /// `stage1_responded` or `service_request`. It changes what dissatisfaction means.
    #[serde(default)]
    pub context: String,
    /// 0–1: how far the winning kind stood above the rest.
    pub confidence: f32,
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// Every rule that fired, with the text it matched.
    #[serde(default)]
    pub rules: Vec<FiredRule>,
    /// The learned component's view, when one was in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<LearnedView>,
}

// The numbers are finite (the classifier clamps confidence to 0–1 and probabilities are
// normalised), so equality is reflexive and `Eq` holds; cases and events need it.
impl Eq for Classification {}

/// A classification rule that fired and the text it matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredRule {
    pub id: String,
    pub matched: String,
}

/// The learned component's most likely kind for a message, how likely, how much weight it had
/// next to the rules, and how likely it found that the message voices dissatisfaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnedView {
    pub kind: String,
    pub probability: f32,
    pub influence: f32,
    /// Absent from records written before the learned component asked it (read as 0).
    #[serde(default)]
    pub dissatisfied: f32,
}

impl Eq for LearnedView {}

/// A letter that could not be delivered (a permanent SMTP failure), kept on the record so
/// staff can reach the resident another way before the deadline passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFailure {
    pub message_id: String,
    pub on: NaiveDate,
    pub reason: String,
}

/// The reasons a member of staff gave for not accepting a complaint (2.4, 5.11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub on: NaiveDate,
    pub reasons: String,
    pub by: String,
}

/// Why and when a case was closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub on: NaiveDate,
    pub reason: String,
}

/// One complaint, service request or other record, as the fold of its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// `DH-2026-00042`: prefix, year of receipt, sequence within that year.
    pub reference: String,
    pub kind: CaseKind,
    pub status: Status,
    /// Current stage, for complaints only.
    pub stage: Option<Stage>,
    pub channel: Channel,
    pub received: NaiveDate,
    pub summary: String,
    /// The resident (or, for a group complaint, the lead complainant, 2024 §4.3).
    pub complainant: Contact,
    pub representative: Option<Representative>,
    /// Other households in a group complaint.
    pub group_members: Vec<Contact>,
    pub flags: Vec<Flag>,
    /// Who is handling the case now.
    pub handler: Option<String>,
    /// Per-stage records, so stage 1's history survives escalation.
    pub stages: BTreeMap<Stage, StageRecord>,
    /// Target date for a service request, from the policy profile.
    pub service_target: Option<NaiveDate>,
    pub adjustments: Vec<Adjustment>,
    pub restrictions: Vec<Restriction>,
    pub messages: Vec<LinkedMessage>,
    /// Related cases, e.g. the complaint raised about a service request's response (1.5).
    pub linked_cases: Vec<String>,
    pub refusal: Option<Refusal>,
    pub closure: Option<Closure>,
    #[serde(default)]
    pub delivery_failures: Vec<DeliveryFailure>,
    /// How many events have been folded into this snapshot.
    pub version: u32,
}

/// What a due-date index entry is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum DueKind {
    Acknowledgement {
        stage: Stage,
    },
    Response {
        stage: Stage,
    },
    ServiceTarget,
    Action {
        index: usize,
        stage: Stage,
    },
    AdjustmentReview {
        index: usize,
    },
    RestrictionReview {
        index: usize,
    },
    /// The `n`-th update owed to the resident while the stage's response is extended (5.9),
    /// counted over all the stage's extensions.
    ExtensionUpdate {
        stage: Stage,
        n: usize,
    },
    /// A payment offered in the stage's response, not yet made: a month after the response
    /// it is credited to the rent account if no bank details came (2024 policy §14.28).
    PaymentDetails {
        stage: Stage,
        index: usize,
    },
}

impl DueKind {
    /// A stable key fragment for the due-date index.
    pub fn key(&self) -> String {
        match self {
            DueKind::Acknowledgement { stage } => format!("ack{}", stage.number()),
            DueKind::Response { stage } => format!("response{}", stage.number()),
            DueKind::ServiceTarget => "service_target".to_owned(),
            DueKind::Action { index, stage } => format!("action{}.{index}", stage.number()),
            DueKind::AdjustmentReview { index } => format!("adjustment_review.{index}"),
            DueKind::RestrictionReview { index } => format!("restriction_review.{index}"),
            DueKind::ExtensionUpdate { stage, n } => format!("update{}.{n}", stage.number()),
            DueKind::PaymentDetails { stage, index } => {
                format!("payment{}.{index}", stage.number())
            }
        }
    }

    /// The due kind a [`DueKind::key`] names: the index keeps keys, the scheduler and the
    /// forecast need the kind back.
    pub fn from_key(key: &str) -> Option<DueKind> {
        let stage = |n: &str| n.parse().ok().and_then(Stage::from_number);
        let indexed = |rest: &str| -> Option<(Stage, usize)> {
            let (s, i) = rest.split_once('.')?;
            Some((stage(s)?, i.parse().ok()?))
        };
        if key == "service_target" {
            return Some(DueKind::ServiceTarget);
        }
        if let Some(rest) = key.strip_prefix("adjustment_review.") {
            return rest
                .parse()
                .ok()
                .map(|index| DueKind::AdjustmentReview { index });
        }
        if let Some(rest) = key.strip_prefix("restriction_review.") {
            return rest
                .parse()
                .ok()
                .map(|index| DueKind::RestrictionReview { index });
        }
        if let Some(rest) = key.strip_prefix("ack") {
            return stage(rest).map(|stage| DueKind::Acknowledgement { stage });
        }
        if let Some(rest) = key.strip_prefix("response") {
            return stage(rest).map(|stage| DueKind::Response { stage });
        }
        if let Some(rest) = key.strip_prefix("action") {
            return indexed(rest).map(|(stage, index)| DueKind::Action { index, stage });
        }
        if let Some(rest) = key.strip_prefix("update") {
            return indexed(rest).map(|(stage, n)| DueKind::ExtensionUpdate { stage, n });
        }
        if let Some(rest) = key.strip_prefix("payment") {
            return indexed(rest).map(|(stage, index)| DueKind::PaymentDetails { stage, index });
        }
        None
    }
}

/// Something on a case that has a date by which it must happen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueItem {
    pub due: NaiveDate,
    #[serde(flatten)]
    pub what: DueKind,
}

impl Case {
    /// The current stage's record, if the case is a complaint.
    pub fn current_stage(&self) -> Option<&StageRecord> {
        self.stage.and_then(|s| self.stages.get(&s))
    }

    /// Everything still pending with a date. The store indexes these so "what is due next"
    /// is a range scan, not a walk over every case.
    pub fn due_items(&self) -> Vec<DueItem> {
        let mut items = Vec::new();
        let open = self.status.is_open();
        if let (true, Some(stage), Some(rec)) = (open, self.stage, self.current_stage()) {
            if rec.acknowledged_on.is_none() {
                items.push(DueItem {
                    due: rec.ack_due,
                    what: DueKind::Acknowledgement { stage },
                });
            }
            if rec.responded_on.is_none() {
                items.push(DueItem {
                    due: rec.effective_due(),
                    what: DueKind::Response { stage },
                });
                let updates = rec.extensions.iter().flat_map(|e| e.updates_due.iter());
                for (n, due) in updates.enumerate() {
                    items.push(DueItem {
                        due: *due,
                        what: DueKind::ExtensionUpdate { stage, n },
                    });
                }
            }
        }
        if let (true, Some(due)) = (open, self.service_target) {
            items.push(DueItem {
                due,
                what: DueKind::ServiceTarget,
            });
        }
        // Outstanding actions stay due after closure: 6.6 requires they are seen through.
        for (stage, rec) in &self.stages {
            let actions = rec.decision.iter().flat_map(|d| d.actions.iter());
            for (index, action) in actions.enumerate() {
                if action.done_on.is_none() {
                    items.push(DueItem {
                        due: action.due,
                        what: DueKind::Action {
                            index,
                            stage: *stage,
                        },
                    });
                }
            }
            // Like actions, an unpaid payment stays due after closure.
            if let (Some(responded), Some(decision)) = (rec.responded_on, &rec.decision) {
                let month_later = responded
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(responded);
                for (index, remedy) in decision.remedies.iter().enumerate() {
                    if remedy.payment_pence.is_some_and(|p| p > 0) && remedy.paid_on.is_none() {
                        items.push(DueItem {
                            due: month_later,
                            what: DueKind::PaymentDetails {
                                index,
                                stage: *stage,
                            },
                        });
                    }
                }
            }
        }
        if open {
            for (index, a) in self.adjustments.iter().enumerate() {
                items.push(DueItem {
                    due: a.review_on,
                    what: DueKind::AdjustmentReview { index },
                });
            }
            for (index, r) in self.restrictions.iter().enumerate() {
                items.push(DueItem {
                    due: r.review_on,
                    what: DueKind::RestrictionReview { index },
                });
            }
        }
        items
    }

    /// The outcome to record for the complaint as a whole. 2024 §12.5: if stage 1 was upheld and
    /// the stage 2 response agrees with those findings, the complaint stays upheld, even where
    /// stage 2 finds no fault in how stage 1 was handled.
    pub fn recorded_outcome(&self) -> Option<Outcome> {
        let stage1 = self
            .stages
            .get(&Stage::One)
            .and_then(|r| r.decision.as_ref());
        let stage2 = self
            .stages
            .get(&Stage::Two)
            .and_then(|r| r.decision.as_ref());
        match (stage1, stage2) {
            (Some(one), Some(two)) if one.outcome == Outcome::Upheld && two.agrees_with_stage1 => {
                Some(Outcome::Upheld)
            }
            (_, Some(two)) => Some(two.outcome),
            (Some(one), None) => Some(one.outcome),
            (None, None) => None,
        }
    }

    /// Every Message-ID on the record, inbound and outbound, for the threading index.
    pub fn message_ids(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(|m| m.message_id.as_str())
    }

    /// Every contact key of everyone on the case, for the contact index.
    pub fn contact_keys(&self) -> Vec<String> {
        let mut keys = self.complainant.index_keys();
        if let Some(rep) = &self.representative {
            keys.extend(rep.contact.index_keys());
        }
        for member in &self.group_members {
            keys.extend(member.index_keys());
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests;
