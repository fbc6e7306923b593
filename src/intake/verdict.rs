//! From the classifier's verdict to what intake records.
//!
//! The classifier ([`crate::classify`]) says what a message is; this module decides what that
//! means for the record: which kind of case a new message opens, what a reply on an existing
//! case asks for (a stage 2 request, 6.12; a complaint about a service request, 1.5; new
//! flags), and the evidence kept with the message so staff can see why (SPEC §1). It is the
//! only place that translates the classifier's kinds into the core's, so the core never
//! depends on the classifier.

use chrono::NaiveDate;

use crate::classify::engine::Verdict;
use crate::classify::{Context, MessageKind};
use crate::core::event::Event;
use crate::core::model::{
    Case, CaseKind, Classification, FiredRule, Flag, LearnedView, Stage, Status,
};

/// What a reply is read against: the classifier needs to know what the message answers,
/// because "still unhappy" after a stage 1 response is a stage 2 request (6.12) and on a
/// service request is a complaint (1.5).
///
/// Every service request counts, open or closed: "the repair you closed was not done
/// properly" is the commonest 1.5 complaint, and reading it as mere correspondence on a
/// closed case would hide a complaint where nobody looks.
pub fn context_of(case: &Case) -> Context {
    match case.kind {
        CaseKind::Complaint if stage1_responded(case) => Context::Stage1Responded,
        CaseKind::ServiceRequest => Context::ServiceRequest,
        _ => Context::OpenCase,
    }
}

/// The stage 1 response was sent and stage 2 has not started (closing after stage 1 does not
/// take away the right to escalate).
fn stage1_responded(case: &Case) -> bool {
    case.stage == Some(Stage::One)
        && matches!(case.status, Status::Responded | Status::Closed)
        && case
            .stages
            .get(&Stage::One)
            .is_some_and(|r| r.responded_on.is_some())
}

/// The kind of case a new message opens, and any flag to add; `None` for automated mail,
/// which is never a case.
///
/// The engine does not return `stage2_request` or `correspondence` for a message with no
/// case, but a landlord's rules could make it: then the message is opened as the nearest
/// kind a new message can be (a request to escalate with nothing to escalate is a complaint;
/// a note that asks for nothing is logged as a service request) and marked for review.
pub fn case_kind(kind: MessageKind) -> Option<(CaseKind, Option<Flag>)> {
    Some(match kind {
        MessageKind::Automated => return None,
        MessageKind::Complaint => (CaseKind::Complaint, None),
        MessageKind::ServiceRequest => (CaseKind::ServiceRequest, None),
        MessageKind::Compliment => (CaseKind::Compliment, None),
        MessageKind::Comment => (CaseKind::Comment, None),
        MessageKind::MpEnquiry => (CaseKind::MpEnquiry, None),
        MessageKind::InformationRequest => (CaseKind::InformationRequest, None),
        MessageKind::AsbReport => (CaseKind::AsbReport, None),
        MessageKind::Claim => (CaseKind::Claim, None),
        MessageKind::Stage2Request => (CaseKind::Complaint, Some(Flag::NeedsReview)),
        MessageKind::Correspondence => (CaseKind::ServiceRequest, Some(Flag::NeedsReview)),
    })
}

/// What a reply asks for beyond being kept on the record: a stage 2 request on a complaint
/// whose stage 1 response was sent (6.12: no reasons needed; the first line is kept as
/// them), or a complaint about how a service request was handled (1.5), opened as a linked
/// case while the service request carries on.
pub fn follow_up(
    case: &Case,
    context: Context,
    verdict: &Verdict,
    text: &str,
    summary: &str,
    received: NaiveDate,
) -> Option<Event> {
    match verdict.kind {
        MessageKind::Stage2Request
            if context == Context::Stage1Responded && case.kind == CaseKind::Complaint =>
        {
            let line = first_line(text);
            Some(Event::EscalationRequested {
                received,
                reasons: (!line.is_empty()).then_some(line),
            })
        }
        // A stage 2 request needs a stage 1 response; on a service request, asking to
        // escalate is dissatisfaction with its handling (the engine already reads it so).
        MessageKind::Complaint | MessageKind::Stage2Request
            if case.kind == CaseKind::ServiceRequest =>
        {
            let line = first_line(text);
            Some(Event::DissatisfiedWithResponse {
                received,
                // The linked complaint needs a summary; an empty first line would refuse it.
                summary: if line.is_empty() {
                    summary.to_owned()
                } else {
                    line
                },
                message: None,
            })
        }
        _ => None,
    }
}

/// Flags the verdict raised that the case does not have yet (a gas smell mentioned in a
/// reply, a disability disclosed later), as one event; `None` when there are none.
///
/// Two are left out. Dissatisfaction that opens a linked complaint (1.5) belongs to that
/// complaint, which the workflow opens with the flag, not to the service request. And a
/// close call on a reply to an open case asks nobody anything: every such reply just joins
/// the case, so marking the case for review would only be noise; on a service request or
/// after a stage 1 response the reply's kind decides whether a complaint or stage 2 starts,
/// and there the review mark stays.
pub fn new_flags(
    case: &Case,
    context: Context,
    verdict: &Verdict,
    follow_up: Option<&Event>,
) -> Option<Event> {
    let linked_complaint = matches!(follow_up, Some(Event::DissatisfiedWithResponse { .. }));
    let add: Vec<Flag> = verdict
        .flags
        .iter()
        .copied()
        .filter(|f| !case.flags.contains(f))
        .filter(|f| !(linked_complaint && *f == Flag::Dissatisfaction))
        .filter(|f| !(context == Context::OpenCase && *f == Flag::NeedsReview))
        .collect();
    (!add.is_empty()).then_some(Event::FlagsChanged {
        add,
        remove: Vec::new(),
    })
}

/// The verdict as kept on the record with the message.
pub fn evidence(verdict: &Verdict, context: Context) -> Classification {
    Classification {
        kind: verdict.kind.as_str().to_owned(),
        context: context_name(context).to_owned(),
        confidence: round3(verdict.confidence),
        flags: verdict.flags.clone(),
        rules: verdict
            .rules
            .iter()
            .map(|f| FiredRule {
                id: f.id.clone(),
                matched: f.matched.clone(),
            })
            .collect(),
        learned: verdict.learned.as_ref().map(|l| LearnedView {
            kind: l.kind.as_str().to_owned(),
            probability: round3(l.probability as f32),
            influence: round3(l.influence),
            dissatisfied: round3(l.dissatisfied as f32),
        }),
    }
}

/// Why a message the headers did not give away as automatic is still set aside: the rules
/// that fired and what they matched, or the learned component's view when no rule did.
/// How the reason of a message set aside by its words (not its headers) begins: the digest
/// lists these for a person to check.
pub const BY_WORDS: &str = "classified as automated mail";

pub fn automated_reason(verdict: &Verdict) -> String {
    let mut reason = format!("{BY_WORDS} (confidence {:.2})", verdict.confidence);
    if verdict.rules.is_empty() {
        reason.push_str(": no rule fired");
    } else {
        let fired: Vec<String> = verdict
            .rules
            .iter()
            .map(|f| format!("rule {} matched {:?}", f.id, f.matched))
            .collect();
        reason.push_str(": ");
        reason.push_str(&fired.join("; "));
    }
    if let Some(l) = &verdict.learned {
        reason.push_str(&format!(
            "; learned component: {} ({:.2}), dissatisfied {:.3}",
            l.kind.as_str(),
            l.probability,
            l.dissatisfied
        ));
    }
    reason
}

fn context_name(context: Context) -> &'static str {
    match context {
        Context::None => "none",
        Context::OpenCase => "open_case",
        Context::Stage1Responded => "stage1_responded",
        Context::ServiceRequest => "service_request",
    }
}

/// Three decimals: readable, and such short decimals read back from JSON as exactly the same
/// number, so a case replayed from its events equals its stored snapshot.
fn round3(x: f32) -> f32 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// The first non-empty line, at most 200 characters: what a resident's reply says up front.
pub fn first_line(text: &str) -> String {
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
    use crate::core::calendar::Calendar;
    use crate::core::code::PolicyProfile;
    use crate::core::event::Opened;
    use crate::core::model::{Channel, Contact};
    use crate::core::workflow::{self, Rules};

    fn case(kind: CaseKind, flags: Vec<Flag>) -> Case {
        let calendar = Calendar::england_and_wales();
        let policy = PolicyProfile::code_2024();
        let rules = Rules {
            calendar: &calendar,
            policy: &policy,
        };
        let opened = Opened {
            kind,
            received: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            channel: Channel::Email,
            complainant: Contact::default(),
            representative: None,
            group_members: Vec::new(),
            summary: "Mould".into(),
            flags,
            message: None,
            handler: None,
            linked_to: None,
        };
        workflow::open("EH-2026-00001", &opened, rules)
            .unwrap()
            .case
    }

    fn verdict(kind: MessageKind, flags: Vec<Flag>) -> Verdict {
        Verdict {
            kind,
            confidence: 0.8,
            flags,
            rules: Vec::new(),
            learned: None,
        }
    }

    #[test]
    fn a_reply_is_read_against_what_its_case_is_waiting_for() {
        let complaint = case(CaseKind::Complaint, Vec::new());
        assert_eq!(context_of(&complaint), Context::OpenCase);
        let mut responded = complaint.clone();
        responded.status = Status::Responded;
        responded.stages.get_mut(&Stage::One).unwrap().responded_on = Some(responded.received);
        assert_eq!(context_of(&responded), Context::Stage1Responded);
        let mut request = case(CaseKind::ServiceRequest, Vec::new());
        assert_eq!(context_of(&request), Context::ServiceRequest);
        request.status = Status::Closed;
        assert_eq!(
            context_of(&request),
            Context::ServiceRequest,
            "a complaint about a closed repair is still 1.5"
        );
        assert_eq!(
            context_of(&case(CaseKind::Compliment, Vec::new())),
            Context::OpenCase
        );
    }

    #[test]
    fn only_flags_the_case_lacks_are_added_and_dissatisfaction_goes_to_the_linked_complaint() {
        let request = case(CaseKind::ServiceRequest, vec![Flag::Vulnerability]);
        let v = verdict(
            MessageKind::Complaint,
            vec![
                Flag::Dissatisfaction,
                Flag::UrgentSafety,
                Flag::Vulnerability,
            ],
        );
        let context = context_of(&request);
        let follow = follow_up(
            &request,
            context,
            &v,
            "\nNot good enough.",
            "s",
            request.received,
        );
        assert!(matches!(
            &follow,
            Some(Event::DissatisfiedWithResponse { summary, .. }) if summary == "Not good enough."
        ));
        assert_eq!(
            new_flags(&request, context, &v, follow.as_ref()),
            Some(Event::FlagsChanged {
                add: vec![Flag::UrgentSafety],
                remove: Vec::new()
            })
        );
        // A close call on a reply to an open complaint changes nothing on the case.
        let complaint = case(CaseKind::Complaint, vec![Flag::Dissatisfaction]);
        let unsure = verdict(
            MessageKind::Complaint,
            vec![Flag::Dissatisfaction, Flag::NeedsReview],
        );
        assert_eq!(
            new_flags(&complaint, Context::OpenCase, &unsure, None),
            None
        );
        assert_eq!(
            follow_up(
                &complaint,
                Context::OpenCase,
                &unsure,
                "x",
                "s",
                complaint.received
            ),
            None
        );
    }

    #[test]
    fn rounded_numbers_survive_the_json_round_trip_exactly() {
        // Every value `evidence` can store (confidence and probability 0–1, influence 0–10).
        for k in 0..=10_000u32 {
            let x = round3(k as f32 / 1000.0);
            let back: f32 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{k}");
        }
    }

    #[test]
    fn every_message_kind_but_automated_opens_a_case() {
        for kind in MessageKind::ALL {
            match case_kind(kind) {
                None => assert_eq!(kind, MessageKind::Automated),
                Some((case, flag)) => {
                    if CaseKind::ALL.iter().any(|k| k.as_str() == kind.as_str()) {
                        assert_eq!(case.as_str(), kind.as_str());
                        assert_eq!(flag, None);
                    } else {
                        assert_eq!(flag, Some(Flag::NeedsReview), "{kind:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_first_line_is_the_first_with_words() {
        assert_eq!(
            first_line("\n  \n I remain unhappy. \nMore"),
            "I remain unhappy."
        );
        assert_eq!(first_line(""), "");
    }
}
