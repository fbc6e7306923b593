//! The built-in placeholder classifier intake uses until the rules engine ([`super::engine`])
//! with its default rule set meets the accuracy floors. A small rule stands behind the
//! interface: it leans towards *complaint* whenever dissatisfaction is
//! expressed, because missing a complaint costs a landlord far more than logging one too many
//! (Code 1.3: the word "complaint" need not appear). Everything it decides is marked for staff
//! review so nothing it gets wrong goes unseen.

use crate::core::event::Event;
use crate::core::model::{Case, CaseKind, Flag, Stage, Status};

/// A message reduced to what classification reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalised {
    pub subject: String,
    pub text: String,
}

/// What a new message is.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub kind: CaseKind,
    /// 0–1: how sure the classifier is.
    pub confidence: f32,
    pub flags: Vec<Flag>,
    /// Which rules fired, with the text they matched.
    pub rules: Vec<(String, String)>,
}

/// Words and phrases that express dissatisfaction (Code 1.2: "however made").
const DISSATISFIED: &[&str] = &[
    "complain",
    "complaint",
    "unhappy",
    "not happy",
    "disappointed",
    "dissatisfied",
    "not satisfied",
    "unacceptable",
    "appalling",
    "disgusting",
    "fed up",
    "still not",
    "still waiting",
    "again and again",
    "no one has",
    "nobody has",
    "not good enough",
    "ridiculous",
    "escalate",
    "compensation",
    "ignored",
    "let down",
    "useless",
];

/// Words that put a message in the urgent-safety group (SPEC §1).
const URGENT: &[&str] = &[
    "gas leak",
    "smell of gas",
    "fire",
    "smoke",
    "no heating",
    "no heat",
    "no hot water",
    "no water",
    "sparking",
    "exposed wires",
    "electric shock",
    "ceiling collapse",
    "ceiling has collapsed",
    "structural",
];

/// Classifies a message that belongs to no existing case.
pub fn classify(message: &Normalised) -> Classification {
    let text = format!("{} {}", message.subject, message.text).to_lowercase();
    let hits = |words: &[&str]| -> Vec<(String, String)> {
        words
            .iter()
            .filter(|w| text.contains(*w))
            .map(|w| ("placeholder.dissatisfaction".to_owned(), (*w).to_owned()))
            .collect()
    };
    let mut rules = hits(DISSATISFIED);
    let mut flags = vec![Flag::NeedsReview];
    let kind = if rules.is_empty() {
        CaseKind::ServiceRequest
    } else {
        flags.push(Flag::Dissatisfaction);
        CaseKind::Complaint
    };
    let urgent = hits(URGENT);
    if !urgent.is_empty() {
        flags.push(Flag::UrgentSafety);
        rules.extend(
            urgent
                .into_iter()
                .map(|(_, w)| ("placeholder.urgent_safety".to_owned(), w)),
        );
    }
    Classification {
        kind,
        confidence: 0.5,
        flags,
        rules,
    }
}

/// What a reply on an existing case asks for beyond being kept on the record: a stage 2
/// request after a stage 1 response (6.12: no reasons needed, "still unhappy" is enough), or
/// a complaint about a service request's response (1.5).
pub fn follow_up(case: &Case, message: &Normalised, received: chrono::NaiveDate) -> Option<Event> {
    let text = format!("{} {}", message.subject, message.text).to_lowercase();
    let dissatisfied = DISSATISFIED.iter().any(|w| text.contains(w))
        || ["stage 2", "stage two", "not resolved", "remain", "still"]
            .iter()
            .any(|w| text.contains(w));
    if !dissatisfied {
        return None;
    }
    let responded_at_stage1 = case.stage == Some(Stage::One)
        && matches!(case.status, Status::Responded | Status::Closed)
        && case
            .stages
            .get(&Stage::One)
            .is_some_and(|r| r.responded_on.is_some());
    if case.kind == CaseKind::Complaint && responded_at_stage1 {
        return Some(Event::EscalationRequested {
            received,
            reasons: Some(first_line(&message.text)),
        });
    }
    if case.kind == CaseKind::ServiceRequest && DISSATISFIED.iter().any(|w| text.contains(w)) {
        return Some(Event::DissatisfiedWithResponse {
            received,
            summary: first_line(&message.text),
            message: None,
        });
    }
    None
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(subject: &str, text: &str) -> Normalised {
        Normalised {
            subject: subject.into(),
            text: text.into(),
        }
    }

    #[test]
    fn dissatisfaction_without_the_word_complaint_is_a_complaint() {
        let c = classify(&msg(
            "Bedroom",
            "I am fed up, the mould is still not sorted after 3 visits",
        ));
        assert_eq!(c.kind, CaseKind::Complaint);
        assert!(c.flags.contains(&Flag::Dissatisfaction));
        assert!(c.rules.iter().any(|(_, m)| m == "fed up"));
    }

    #[test]
    fn a_first_repair_report_is_a_service_request() {
        let c = classify(&msg(
            "Dripping tap",
            "Please can someone fix the kitchen tap",
        ));
        assert_eq!(c.kind, CaseKind::ServiceRequest);
        assert_eq!(c.flags, vec![Flag::NeedsReview]);
    }

    #[test]
    fn a_gas_smell_is_urgent() {
        let c = classify(&msg("Help", "There is a smell of gas in the hallway"));
        assert!(c.flags.contains(&Flag::UrgentSafety));
    }
}
