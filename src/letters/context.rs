//! What a letter template sees: everything the Code asks a letter to say, worked out from the
//! case and the configuration, with dates written out in full and money in pounds. Pure: no
//! I/O, so the compliance check and the tests read exactly what the template read.

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::{Config, OmbudsmanContact, Organisation};
use crate::core::code::Stage;
use crate::core::model::{Action, Case, Flag, Outcome, StageRecord};
use crate::core::workflow::LetterKind;

/// The template context of one letter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LetterContext {
    /// The landlord, from `[organisation]`.
    pub organisation: Organisation,
    /// The case reference, e.g. `DH-2026-00042`; every subject carries it in brackets.
    pub reference: String,
    /// Who the letter is addressed to: the resident, or their named representative.
    pub recipient: Recipient,
    pub resident: Person,
    /// Who is dealing with the case, and how to reach them.
    pub handler: Handler,
    /// 1 or 2 for complaint letters; absent otherwise.
    pub stage: Option<u8>,
    /// "stage 1" or "stage 2" ("" when there is no stage).
    pub stage_name: String,
    /// The date the case was received, in full.
    pub received: String,
    /// The response due date at this stage (extensions included), in full; "" without a stage.
    pub due: String,
    /// The complaint definition (Code 5.6, 5.7); empty texts until staff record it.
    pub definition: Definition,
    pub decision: DecisionView,
    /// Remedies offered at this stage, with amounts in pounds.
    pub remedies: Vec<RemedyView>,
    /// Actions not yet done, oldest due first.
    pub actions: Vec<ActionView>,
    /// The latest extension at this stage; empty texts when there is none.
    pub extension: ExtensionView,
    /// Why the complaint was not accepted (Code 2.4); "" unless it was refused.
    pub refusal: RefusalView,
    /// The service request's target date, in full; "" when there is none.
    pub service_target: String,
    pub ombudsman: OmbudsmanBlock,
    pub adjustments: Adjustments,
    /// The stage 2 response: the landlord's final response (6.20).
    #[serde(rename = "final")]
    pub is_final: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recipient {
    pub name: String,
    pub email: Option<String>,
    /// The letter goes to a representative on the resident's behalf.
    pub for_resident: bool,
    /// The representative's relationship to the resident ("" for the resident themself).
    pub relationship: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Person {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Handler {
    pub name: String,
    /// The handler's own email when they are in `[[staff]]`, else the complaints address.
    pub email: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Definition {
    pub understanding: String,
    pub outcome_sought: String,
    pub responsible_for: String,
    pub not_responsible_for: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecisionView {
    /// "upheld", "partly upheld" or "not upheld"; "" before a decision is recorded.
    pub outcome: String,
    pub reasons: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemedyView {
    pub description: String,
    /// "£1,200.00", when the remedy is a payment.
    pub amount: Option<String>,
    pub how_paid: Option<String>,
    /// The payment in pence, for the approval rules.
    pub pence: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionView {
    pub description: String,
    pub due: String,
    /// "due by …" or "overdue since …": what the resident is told about it.
    pub status: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExtensionView {
    pub reason: String,
    pub new_due: String,
    /// Working days between updates, as agreed with the resident (5.9); "" without one.
    pub update_interval: String,
    pub working_days: Option<u32>,
    /// The good reason recorded for an extension longer than the Code allows without one
    /// (6.4, 6.15); "" when none was needed.
    pub good_reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RefusalView {
    pub reasons: String,
}

/// Where the resident can take the complaint (SPEC §3): `route` is the Housing Ombudsman, or
/// the Local Government and Social Care Ombudsman for its matters (2024 §11.5); `also` holds
/// the Building Safety Regulator for building safety cases (2024 §11.7).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OmbudsmanBlock {
    pub route: OmbudsmanContact,
    pub also: Vec<OmbudsmanContact>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Adjustments {
    /// An agreed adjustment mentions large print: the HTML letter uses larger type.
    pub large_print: bool,
    /// Every agreed adjustment, as recorded (5.10).
    pub agreed: Vec<String>,
}

/// The stage a letter is about: the letter's own, else the case's current one.
pub fn letter_stage(case: &Case, letter: LetterKind) -> Option<Stage> {
    match letter {
        LetterKind::Acknowledgement { stage }
        | LetterKind::Response { stage }
        | LetterKind::Extension { stage } => Some(stage),
        _ => case.stage,
    }
}

/// Builds the context of `letter` for `case`; `today` dates the status of outstanding actions.
pub fn build(case: &Case, letter: LetterKind, config: &Config, today: NaiveDate) -> LetterContext {
    let stage = letter_stage(case, letter);
    let record: Option<&StageRecord> = stage.and_then(|s| case.stages.get(&s));
    let org = &config.organisation;
    let resident_name = case
        .complainant
        .name
        .clone()
        .unwrap_or_else(|| "resident".to_owned());
    // Letters go to a representative who acts with the resident's consent (Code 4.1–4.2),
    // as the draft's address does.
    let recipient = match case.representative.as_ref().filter(|r| r.consent_recorded) {
        Some(rep) => Recipient {
            name: rep
                .contact
                .name
                .clone()
                .unwrap_or_else(|| resident_name.clone()),
            email: rep.contact.email.clone(),
            for_resident: true,
            relationship: rep.relationship.clone(),
        },
        None => Recipient {
            name: resident_name.clone(),
            email: case.complainant.email.clone(),
            for_resident: false,
            relationship: String::new(),
        },
    };
    let handler_name = record
        .and_then(|r| r.handler.clone())
        .or_else(|| case.handler.clone());
    // Cases name their handler by the name or the email in `[[staff]]`: the same lookup
    // approval uses to tell who considered stage 1.
    let staff = handler_name
        .as_deref()
        .and_then(|h| super::approval::staff_member(config, h));
    let handler = Handler {
        email: staff.map(|s| s.email.clone()).or_else(|| org.email.clone()),
        name: staff
            .map(|s| s.name.clone())
            .or(handler_name)
            .unwrap_or_else(|| "Complaints team".to_owned()),
    };
    let definition = record
        .and_then(|r| r.definition.as_ref())
        .map(|d| Definition {
            understanding: d.understanding.clone(),
            outcome_sought: d.outcome_sought.clone(),
            responsible_for: d.responsible_for.clone(),
            not_responsible_for: d.not_responsible_for.clone(),
        })
        .unwrap_or_default();
    let decision = record.and_then(|r| r.decision.as_ref());
    let remedies = decision
        .map(|d| {
            d.remedies
                .iter()
                .map(|r| RemedyView {
                    description: r.description.clone(),
                    amount: r.payment_pence.map(pounds),
                    how_paid: r.how_paid.clone(),
                    pence: r.payment_pence,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut actions: Vec<ActionView> = Vec::new();
    for a in open_actions(case) {
        actions.push(ActionView {
            description: a.description.clone(),
            due: long_date(a.due),
            status: if a.due < today {
                format!("overdue since {}", long_date(a.due))
            } else {
                format!("in hand, due by {}", long_date(a.due))
            },
        });
    }
    let extension = record
        .and_then(|r| r.extensions.last())
        .map(|e| ExtensionView {
            reason: e.reason.clone(),
            new_due: long_date(e.new_due),
            update_interval: e.update_interval_working_days.to_string(),
            working_days: Some(e.working_days),
            good_reason: e.good_reason.clone().unwrap_or_default(),
        })
        .unwrap_or_default();
    let large_print = case
        .adjustments
        .iter()
        .any(|a| a.description.to_lowercase().contains("large print"));
    LetterContext {
        organisation: org.clone(),
        reference: case.reference.clone(),
        recipient,
        resident: Person {
            name: resident_name,
        },
        handler,
        stage: stage.map(Stage::number),
        stage_name: stage.map(|s| s.to_string()).unwrap_or_default(),
        received: long_date(case.received),
        due: record
            .map(|r| long_date(r.effective_due()))
            .unwrap_or_default(),
        definition,
        decision: decision
            .map(|d| DecisionView {
                outcome: outcome_words(d.outcome).to_owned(),
                reasons: d.reasons.clone(),
            })
            .unwrap_or_default(),
        remedies,
        actions,
        extension,
        refusal: RefusalView {
            reasons: case
                .refusal
                .as_ref()
                .map(|r| r.reasons.clone())
                .unwrap_or_default(),
        },
        service_target: case.service_target.map(long_date).unwrap_or_default(),
        ombudsman: ombudsman_block(&case.flags, config),
        adjustments: Adjustments {
            large_print,
            agreed: case
                .adjustments
                .iter()
                .map(|a| a.description.clone())
                .collect(),
        },
        is_final: stage == Some(Stage::Two) && matches!(letter, LetterKind::Response { .. }),
    }
}

/// The actions promised at any stage and not yet done, soonest first. A stage 2 decision often
/// restates the stage 1 actions still open: each is listed once.
pub fn open_actions(case: &Case) -> Vec<&Action> {
    let mut open: Vec<&Action> = case
        .stages
        .values()
        .filter_map(|r| r.decision.as_ref())
        .flat_map(|d| &d.actions)
        .filter(|a| a.done_on.is_none())
        .collect();
    open.sort_by_key(|a| a.due);
    open.dedup_by(|a, b| a.description == b.description && a.due == b.due);
    open
}

/// The ombudsman details for a case with these flags (SPEC §3).
pub fn ombudsman_block(flags: &[Flag], config: &Config) -> OmbudsmanBlock {
    let o = &config.ombudsman;
    let route = if flags.contains(&Flag::LgscoMatter) {
        &o.lgsco
    } else {
        &o.housing
    };
    let also = if flags.contains(&Flag::BuildingSafety) {
        vec![o.building_safety.clone()]
    } else {
        Vec::new()
    };
    OmbudsmanBlock {
        route: route.clone(),
        also,
    }
}

/// The decision in the words a letter uses.
pub fn outcome_words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Upheld => "upheld",
        Outcome::PartlyUpheld => "partly upheld",
        Outcome::NotUpheld => "not upheld",
    }
}

/// "Monday 4 January 2027": the date as a letter writes it.
pub fn long_date(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

/// "£1,200.00" from pence.
pub fn pounds(pence: u64) -> String {
    let whole = (pence / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("£{grouped}.{:02}", pence % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_in_pounds_with_thousands_separated() {
        assert_eq!(pounds(0), "£0.00");
        assert_eq!(pounds(7_505), "£75.05");
        assert_eq!(pounds(120_000), "£1,200.00");
        assert_eq!(pounds(123_456_789), "£1,234,567.89");
    }

    #[test]
    fn dates_are_written_in_full() {
        let d = NaiveDate::from_ymd_opt(2027, 1, 4).unwrap();
        assert_eq!(long_date(d), "Monday 4 January 2027");
    }
}
