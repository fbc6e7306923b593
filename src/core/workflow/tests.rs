//! One test per Code provision the workflow enforces, named after it.

use chrono::NaiveDate;

use super::*;
use crate::core::model::{
    Action, Adjustment, ComplaintDefinition, Contact, Decision, LinkedMessage, Outcome, Remedy,
    Restriction,
};

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

struct Fixture {
    calendar: Calendar,
    policy: PolicyProfile,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            calendar: Calendar::england_and_wales(),
            policy: PolicyProfile::code_2024(),
        }
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            calendar: &self.calendar,
            policy: &self.policy,
        }
    }

    fn open(&self, kind: CaseKind, received: &str) -> Decided {
        open(
            "DH-2026-00001",
            &opened(kind, received, Channel::Email),
            self.rules(),
        )
        .expect("opens")
    }

    fn apply(&self, case: &Case, event: Event) -> Result<Decided, WorkflowError> {
        apply(case, &event, self.rules())
    }

    fn ok(&self, case: &Case, event: Event) -> Case {
        self.apply(case, event).expect("event accepted").case
    }

    /// A stage 1 complaint received 2026-01-05 (a Monday), defined and acknowledged 2026-01-07.
    fn acknowledged(&self) -> Case {
        let case = self.open(CaseKind::Complaint, "2026-01-05").case;
        let case = self.ok(&case, definition());
        let case = self.ok(
            &case,
            Event::HandlerAssigned {
                handler: "sam@example.org".into(),
            },
        );
        self.ok(
            &case,
            Event::Acknowledged {
                on: d("2026-01-07"),
            },
        )
    }

    /// The same complaint after its stage 1 response on 2026-01-14.
    fn responded(&self, outcome: Outcome) -> Case {
        let case = self.acknowledged();
        let case = self.ok(&case, decided(outcome, false));
        self.ok(
            &case,
            Event::Responded {
                on: d("2026-01-14"),
            },
        )
    }
}

fn opened(kind: CaseKind, received: &str, channel: Channel) -> Opened {
    Opened {
        kind,
        received: d(received),
        channel,
        complainant: Contact {
            name: Some("Jo Bloggs".into()),
            email: Some("jo@example.net".into()),
            ..Contact::default()
        },
        representative: None,
        group_members: vec![],
        summary: "Mould in the bedroom is back after the repair".into(),
        flags: vec![],
        message: None,
        handler: None,
        linked_to: None,
    }
}

fn definition() -> Event {
    Event::DefinitionRecorded {
        definition: ComplaintDefinition {
            understanding: "The mould treatment in March did not last".into(),
            outcome_sought: "A lasting repair and redecoration".into(),
            responsible_for: "Repairs to the structure".into(),
            not_responsible_for: "The resident's damaged furniture (insurance)".into(),
        },
    }
}

fn decided(outcome: Outcome, agrees_with_stage1: bool) -> Event {
    Event::DecisionRecorded {
        decision: Decision {
            outcome,
            reasons: "The survey found the extractor fan was never connected".into(),
            remedies: vec![Remedy {
                description: "Payment for inconvenience".into(),
                payment_pence: Some(15_000),
                how_paid: Some("bank transfer".into()),
                paid_on: None,
            }],
            actions: vec![Action {
                description: "Connect the extractor fan".into(),
                due: d("2026-02-02"),
                owner: None,
                done_on: None,
            }],
            learning: vec![],
            agrees_with_stage1,
        },
    }
}

fn extension(days: u32, good_reason: Option<&str>) -> Event {
    Event::ExtensionAgreed {
        on: d("2026-01-12"),
        working_days: days,
        reason: "Waiting for a specialist damp survey".into(),
        good_reason: good_reason.map(str::to_owned),
        update_interval_working_days: 5,
    }
}

fn drafts(effects: &[Effect]) -> Vec<LetterKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Draft(l) => Some(*l),
            _ => None,
        })
        .collect()
}

fn escalated(f: &Fixture) -> Case {
    let case = f.responded(Outcome::Upheld);
    f.ok(
        &case,
        Event::EscalationRequested {
            received: d("2026-01-19"),
            reasons: None,
        },
    )
}

#[test]
fn code_6_2_stage1_acknowledgement_due_5_working_days_after_receipt() {
    let f = Fixture::new();
    // Friday 18 December 2026: Christmas Day and the Boxing Day substitute (28th) are skipped.
    let decided = f.open(CaseKind::Complaint, "2026-12-18");
    let rec = decided.case.current_stage().expect("stage 1");
    assert_eq!(decided.case.stage, Some(Stage::One));
    assert_eq!(decided.case.status, Status::Received);
    assert_eq!(rec.ack_due, d("2026-12-29"));
    assert_eq!(
        drafts(&decided.effects),
        vec![LetterKind::Acknowledgement { stage: Stage::One }]
    );
    assert!(decided.effects.contains(&Effect::Deadline(DueItem {
        due: d("2026-12-29"),
        what: DueKind::Acknowledgement { stage: Stage::One },
    })));
}

#[test]
fn code_6_3_stage1_response_due_10_working_days_after_actual_acknowledgement() {
    let f = Fixture::new();
    let case = f.acknowledged();
    let rec = case.current_stage().expect("stage 1");
    assert_eq!(case.status, Status::Acknowledged);
    assert_eq!(rec.acknowledged_on, Some(d("2026-01-07")));
    assert_eq!(rec.response_due, d("2026-01-21"));
    assert!(
        !case
            .due_items()
            .iter()
            .any(|i| matches!(i.what, DueKind::Acknowledgement { .. }))
    );
}

#[test]
fn code_5_6_acknowledgement_needs_the_complaint_definition() {
    let f = Fixture::new();
    let case = f.open(CaseKind::Complaint, "2026-01-05").case;
    let err = f
        .apply(
            &case,
            Event::Acknowledged {
                on: d("2026-01-06"),
            },
        )
        .unwrap_err();
    assert_eq!(err, WorkflowError::DefinitionMissing);
    assert!(err.to_string().contains("5.6"));
}

#[test]
fn acknowledgement_cannot_predate_receipt() {
    let f = Fixture::new();
    let case = f.ok(
        &f.open(CaseKind::Complaint, "2026-01-05").case,
        definition(),
    );
    let err = f
        .apply(
            &case,
            Event::Acknowledged {
                on: d("2026-01-02"),
            },
        )
        .unwrap_err();
    assert!(matches!(err, WorkflowError::DateOrder { .. }), "{err}");
}

#[test]
fn code_1_4_service_request_is_logged_with_its_target_not_as_a_complaint() {
    let mut f = Fixture::new();
    f.policy.service_request_target_working_days = Some(10);
    let decided = f.open(CaseKind::ServiceRequest, "2026-01-05");
    assert_eq!(decided.case.stage, None);
    assert!(decided.case.stages.is_empty());
    assert_eq!(decided.case.service_target, Some(d("2026-01-19")));
    assert_eq!(
        drafts(&decided.effects),
        vec![LetterKind::ServiceRequestLogged]
    );
}

#[test]
fn code_1_5_dissatisfaction_with_a_service_request_response_opens_a_linked_complaint() {
    let f = Fixture::new();
    let sr = f.open(CaseKind::ServiceRequest, "2026-01-05").case;
    let event = Event::DissatisfiedWithResponse {
        received: d("2026-01-20"),
        summary: "Nobody came back to finish the job".into(),
        message: None,
    };
    let decided = f.apply(&sr, event).expect("accepted");
    // The service request carries on (1.5): it is not closed or turned into the complaint.
    assert_eq!(decided.case.kind, CaseKind::ServiceRequest);
    assert_eq!(decided.case.status, Status::Received);
    let [Effect::OpenLinkedComplaint(complaint)] = decided.effects.as_slice() else {
        panic!("expected one linked complaint, got {:?}", decided.effects);
    };
    assert_eq!(complaint.kind, CaseKind::Complaint);
    assert_eq!(complaint.received, d("2026-01-20"));
    assert_eq!(complaint.linked_to.as_deref(), Some("DH-2026-00001"));
    assert_eq!(complaint.flags, vec![Flag::Dissatisfaction]);
    assert_eq!(complaint.complainant, sr.complainant);
}

#[test]
fn code_1_5_only_a_service_request_has_a_response_to_be_unhappy_with() {
    let f = Fixture::new();
    let case = f.open(CaseKind::Complaint, "2026-01-05").case;
    let event = Event::DissatisfiedWithResponse {
        received: d("2026-01-20"),
        summary: "x".into(),
        message: None,
    };
    assert!(matches!(
        f.apply(&case, event),
        Err(WorkflowError::NotAllowed { .. })
    ));
}

#[test]
fn code_6_4_stage1_extension_over_10_working_days_needs_a_good_reason() {
    let f = Fixture::new();
    let case = f.acknowledged();
    let err = f.apply(&case, extension(11, None)).unwrap_err();
    assert_eq!(
        err,
        WorkflowError::ExtensionTooLong {
            provision: "6.4",
            stage: Stage::One,
            total: 11,
            max: 10
        }
    );
    let decided = f
        .apply(
            &case,
            extension(11, Some("Resident in hospital; agreed by phone")),
        )
        .expect("accepted");
    let rec = decided.case.current_stage().expect("stage 1");
    // Response due 2026-01-21, plus 11 working days.
    assert_eq!(rec.effective_due(), d("2026-02-05"));
    assert_eq!(
        drafts(&decided.effects),
        vec![LetterKind::Extension { stage: Stage::One }]
    );
}

#[test]
fn code_6_4_extensions_at_one_stage_add_up_towards_the_maximum() {
    let f = Fixture::new();
    let case = f.ok(&f.acknowledged(), extension(5, None));
    assert_eq!(
        case.current_stage().expect("stage 1").effective_due(),
        d("2026-01-28")
    );
    let err = f.apply(&case, extension(6, None)).unwrap_err();
    assert!(
        matches!(
            err,
            WorkflowError::ExtensionTooLong {
                total: 11,
                max: 10,
                ..
            }
        ),
        "{err}"
    );
    let case = f.ok(&case, extension(5, None));
    assert_eq!(
        case.current_stage().expect("stage 1").effective_due(),
        d("2026-02-04")
    );
}

#[test]
fn code_6_4_extension_must_give_its_reason() {
    let f = Fixture::new();
    let event = Event::ExtensionAgreed {
        on: d("2026-01-12"),
        working_days: 5,
        reason: "  ".into(),
        good_reason: None,
        update_interval_working_days: 5,
    };
    let err = f.apply(&f.acknowledged(), event).unwrap_err();
    assert_eq!(
        err,
        WorkflowError::ReasonsRequired {
            provision: "6.4",
            what: "an extension"
        }
    );
}

#[test]
fn code_5_9_extension_needs_an_agreed_update_interval() {
    let f = Fixture::new();
    let event = Event::ExtensionAgreed {
        on: d("2026-01-12"),
        working_days: 5,
        reason: "Survey".into(),
        good_reason: None,
        update_interval_working_days: 0,
    };
    let err = f.apply(&f.acknowledged(), event).unwrap_err();
    assert!(err.to_string().contains("5.9"), "{err}");
}

#[test]
fn code_6_7_stage1_decision_must_give_reasons() {
    let f = Fixture::new();
    let Event::DecisionRecorded { mut decision } = decided(Outcome::Upheld, false) else {
        unreachable!()
    };
    decision.reasons = String::new();
    let err = f
        .apply(&f.acknowledged(), Event::DecisionRecorded { decision })
        .unwrap_err();
    assert_eq!(
        err,
        WorkflowError::ReasonsRequired {
            provision: "6.7",
            what: "a decision"
        }
    );
}

#[test]
fn code_6_9_decision_drafts_the_stage1_response() {
    let f = Fixture::new();
    let decided = f
        .apply(&f.acknowledged(), decided(Outcome::PartlyUpheld, false))
        .expect("accepted");
    assert_eq!(
        drafts(&decided.effects),
        vec![LetterKind::Response { stage: Stage::One }]
    );
    assert_eq!(
        decided.case.status,
        Status::Acknowledged,
        "sending the letter is a separate event"
    );
}

#[test]
fn response_needs_a_recorded_decision() {
    let f = Fixture::new();
    let err = f
        .apply(
            &f.acknowledged(),
            Event::Responded {
                on: d("2026-01-14"),
            },
        )
        .unwrap_err();
    assert!(matches!(err, WorkflowError::NotAllowed { .. }), "{err}");
}

#[test]
fn code_6_6_outstanding_actions_stay_due_after_the_response() {
    let f = Fixture::new();
    let case = f.responded(Outcome::Upheld);
    assert_eq!(case.status, Status::Responded);
    let action_due = DueItem {
        due: d("2026-02-02"),
        what: DueKind::Action {
            index: 0,
            stage: Stage::One,
        },
    };
    assert!(case.due_items().contains(&action_due));
    let case = f.ok(
        &case,
        Event::ActionCompleted {
            stage: Stage::One,
            index: 0,
            on: d("2026-01-30"),
        },
    );
    assert!(!case.due_items().contains(&action_due));
    let again = f.apply(
        &case,
        Event::ActionCompleted {
            stage: Stage::One,
            index: 0,
            on: d("2026-01-30"),
        },
    );
    assert!(again.is_err(), "an action is completed once");
}

#[test]
fn code_6_12_stage2_request_needs_no_reasons() {
    let f = Fixture::new();
    let case = f.responded(Outcome::NotUpheld);
    let decided = f
        .apply(
            &case,
            Event::EscalationRequested {
                received: d("2026-01-19"),
                reasons: None,
            },
        )
        .expect("no reasons needed");
    assert_eq!(decided.case.stage, Some(Stage::Two));
    assert_eq!(decided.case.status, Status::Received);
    assert_eq!(
        drafts(&decided.effects),
        vec![LetterKind::Acknowledgement { stage: Stage::Two }]
    );
}

#[test]
fn code_6_11_stage2_acknowledgement_due_5_working_days_after_the_request() {
    let f = Fixture::new();
    let case = escalated(&f);
    let rec = case.current_stage().expect("stage 2");
    assert_eq!(rec.received, d("2026-01-19"));
    assert_eq!(rec.ack_due, d("2026-01-26"));
    // Stage 1's record survives escalation (5.12: outcomes at each stage).
    assert_eq!(case.stages[&Stage::One].responded_on, Some(d("2026-01-14")));
}

#[test]
fn code_6_14_stage2_response_due_20_working_days_after_acknowledgement() {
    let f = Fixture::new();
    let case = f.ok(&escalated(&f), definition());
    let case = f.ok(
        &case,
        Event::Acknowledged {
            on: d("2026-01-21"),
        },
    );
    assert_eq!(
        case.current_stage().expect("stage 2").response_due,
        d("2026-02-18")
    );
}

#[test]
fn code_6_15_stage2_extension_over_20_working_days_needs_a_good_reason() {
    let f = Fixture::new();
    let case = f.ok(&escalated(&f), definition());
    let case = f.ok(
        &case,
        Event::Acknowledged {
            on: d("2026-01-21"),
        },
    );
    assert!(f.apply(&case, extension(20, None)).is_ok());
    let err = f.apply(&case, extension(21, None)).unwrap_err();
    assert_eq!(
        err,
        WorkflowError::ExtensionTooLong {
            provision: "6.15",
            stage: Stage::Two,
            total: 21,
            max: 20
        }
    );
}

#[test]
fn code_6_13_stage2_handler_must_not_be_the_stage1_handler() {
    let f = Fixture::new();
    let decided = f
        .apply(
            &f.responded(Outcome::Upheld),
            Event::EscalationRequested {
                received: d("2026-01-19"),
                reasons: None,
            },
        )
        .expect("escalates");
    assert!(
        decided
            .effects
            .contains(&Effect::Alert(Alert::Stage2HandlerNeeded {
                stage1_handler: Some("sam@example.org".into())
            }))
    );
    assert_eq!(
        decided.case.handler, None,
        "the stage 1 handler is not carried into stage 2"
    );
    let err = f
        .apply(
            &decided.case,
            Event::HandlerAssigned {
                handler: "SAM@example.org".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        WorkflowError::SameHandlerAtStage2 {
            handler: "sam@example.org".into()
        }
    );
    let case = f.ok(
        &decided.case,
        Event::HandlerAssigned {
            handler: "alex@example.org".into(),
        },
    );
    assert_eq!(case.handler.as_deref(), Some("alex@example.org"));
}

#[test]
fn stage2_follows_a_stage1_response() {
    let f = Fixture::new();
    let err = f
        .apply(
            &f.acknowledged(),
            Event::EscalationRequested {
                received: d("2026-01-19"),
                reasons: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, WorkflowError::NotAllowed { .. }), "{err}");
    let err = f
        .apply(
            &escalated(&f),
            Event::EscalationRequested {
                received: d("2026-01-20"),
                reasons: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, WorkflowError::NotAllowed { .. }),
        "there is no stage 3 (5.3): {err}"
    );
}

#[test]
fn code_6_20_stage2_response_is_final_and_closes_the_case() {
    let f = Fixture::new();
    let case = f.ok(&escalated(&f), definition());
    let case = f.ok(
        &case,
        Event::Acknowledged {
            on: d("2026-01-21"),
        },
    );
    let case = f.ok(&case, decided(Outcome::Upheld, true));
    let case = f.ok(
        &case,
        Event::Responded {
            on: d("2026-02-10"),
        },
    );
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.closure.as_ref().map(|c| c.on), Some(d("2026-02-10")));
    assert!(
        f.apply(
            &case,
            Event::EscalationRequested {
                received: d("2026-02-11"),
                reasons: None
            }
        )
        .is_err()
    );
}

#[test]
fn policy_12_5_upheld_at_stage1_stays_upheld_when_stage2_agrees() {
    let f = Fixture::new();
    let case = f.ok(&escalated(&f), definition());
    let case = f.ok(
        &case,
        Event::Acknowledged {
            on: d("2026-01-21"),
        },
    );
    // Stage 2 finds no fault in how stage 1 was handled, but agrees with its findings.
    let case = f.ok(&case, decided(Outcome::NotUpheld, true));
    assert_eq!(case.recorded_outcome(), Some(Outcome::Upheld));
}

#[test]
fn code_2_4_not_accepting_a_complaint_requires_reasons() {
    let f = Fixture::new();
    let case = f.open(CaseKind::Complaint, "2026-01-05").case;
    let refuse = |reasons: &str| Event::NotAccepted {
        on: d("2026-01-06"),
        reasons: reasons.into(),
        by: "sam@example.org".into(),
    };
    let err = f.apply(&case, refuse(" ")).unwrap_err();
    assert_eq!(
        err,
        WorkflowError::ReasonsRequired {
            provision: "2.4",
            what: "a decision not to accept a complaint"
        }
    );
    let decided = f
        .apply(
            &case,
            refuse("Legal proceedings have started (disrepair claim)"),
        )
        .expect("accepted");
    assert_eq!(decided.case.status, Status::NotAccepted);
    assert_eq!(drafts(&decided.effects), vec![LetterKind::NotAccepted]);
    assert!(
        decided.case.due_items().is_empty(),
        "a refused complaint has no Code clock"
    );
}

#[test]
fn code_2_1_possible_exclusions_are_flagged_for_a_person_never_decided() {
    let f = Fixture::new();
    for kind in [
        CaseKind::AsbReport,
        CaseKind::InformationRequest,
        CaseKind::Claim,
    ] {
        let decided = f.open(kind, "2026-01-05");
        assert_eq!(decided.case.status, Status::Received, "{kind:?} stays open");
        assert!(
            decided
                .effects
                .contains(&Effect::Alert(Alert::PossibleExclusion)),
            "{kind:?}"
        );
    }
}

#[test]
fn policy_8_4_mp_enquiry_drafts_a_letter_asking_about_an_official_complaint() {
    let f = Fixture::new();
    let decided = f.open(CaseKind::MpEnquiry, "2026-01-05");
    assert_eq!(drafts(&decided.effects), vec![LetterKind::MpEnquiry]);
    assert_eq!(decided.case.stage, None);
}

#[test]
fn policy_5_2_social_media_complaint_drafts_an_information_request() {
    let f = Fixture::new();
    let decided = open(
        "DH-2026-00001",
        &opened(CaseKind::Complaint, "2026-01-05", Channel::Facebook),
        f.rules(),
    )
    .expect("opens");
    assert!(drafts(&decided.effects).contains(&LetterKind::SocialInfoRequest));
}

#[test]
fn urgent_safety_alerts_at_once() {
    let f = Fixture::new();
    let mut o = opened(CaseKind::ServiceRequest, "2026-01-05", Channel::Email);
    o.flags = vec![Flag::UrgentSafety, Flag::Vulnerability];
    let decided = open("DH-2026-00001", &o, f.rules()).expect("opens");
    assert!(
        decided
            .effects
            .contains(&Effect::Alert(Alert::UrgentSafety))
    );
    assert_eq!(
        decided.case.flags,
        vec![Flag::UrgentSafety, Flag::Vulnerability]
    );
}

#[test]
fn urgent_safety_raised_later_in_a_case_alerts_once() {
    let f = Fixture::new();
    let case = f.open(CaseKind::ServiceRequest, "2026-01-05").case;
    let raise = Event::FlagsChanged {
        add: vec![Flag::UrgentSafety],
        remove: Vec::new(),
    };
    let decided = f.apply(&case, raise.clone()).expect("flags change");
    assert!(
        decided
            .effects
            .contains(&Effect::Alert(Alert::UrgentSafety))
    );
    // Already urgent: no second alert.
    let again = f.apply(&decided.case, raise).expect("flags change");
    assert!(again.effects.is_empty(), "{:?}", again.effects);
}

#[test]
fn reclassifying_a_service_request_as_a_complaint_runs_the_clock_from_receipt() {
    let f = Fixture::new();
    let sr = f.open(CaseKind::ServiceRequest, "2026-01-05").case;
    let decided = f
        .apply(
            &sr,
            Event::Reclassified {
                kind: CaseKind::Complaint,
                reason: "Resident said they were unhappy".into(),
            },
        )
        .expect("accepted");
    assert_eq!(decided.case.kind, CaseKind::Complaint);
    assert_eq!(
        decided.case.current_stage().expect("stage 1").ack_due,
        d("2026-01-12")
    );
    assert!(drafts(&decided.effects).contains(&LetterKind::Acknowledgement { stage: Stage::One }));
}

#[test]
fn code_2_4_an_acknowledged_complaint_cannot_be_quietly_reclassified() {
    let f = Fixture::new();
    let err = f
        .apply(
            &f.acknowledged(),
            Event::Reclassified {
                kind: CaseKind::ServiceRequest,
                reason: "not really".into(),
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("not accepted"), "{err}");
}

#[test]
fn closure_needs_a_reason_and_reopening_restores_the_response_clock() {
    let f = Fixture::new();
    let case = f.acknowledged();
    assert!(
        f.apply(
            &case,
            Event::Closed {
                on: d("2026-01-09"),
                reason: "".into()
            }
        )
        .is_err()
    );
    let closed = f.ok(
        &case,
        Event::Closed {
            on: d("2026-01-09"),
            reason: "Withdrawn by the resident".into(),
        },
    );
    assert_eq!(closed.status, Status::Closed);
    assert!(closed.due_items().is_empty());
    let reopened = f.ok(
        &closed,
        Event::Reopened {
            on: d("2026-01-12"),
            reason: "Resident changed their mind".into(),
        },
    );
    assert_eq!(reopened.status, Status::Acknowledged);
    assert_eq!(reopened.closure, None);
    assert_eq!(
        reopened.current_stage().expect("stage 1").effective_due(),
        d("2026-01-26")
    );
    assert!(
        f.apply(
            &reopened,
            Event::Reopened {
                on: d("2026-01-13"),
                reason: "again".into()
            }
        )
        .is_err()
    );
}

#[test]
fn code_5_14_restriction_needs_reason_and_evidence_and_never_stops_logging() {
    let f = Fixture::new();
    let case = f.open(CaseKind::Complaint, "2026-01-05").case;
    let restriction = |evidence: &str| Event::RestrictionRecorded {
        restriction: Restriction {
            description: "Contact by email only".into(),
            reason: "Abusive phone calls".into(),
            evidence: evidence.into(),
            imposed_on: d("2026-01-06"),
            review_on: d("2026-04-06"),
        },
    };
    assert!(matches!(
        f.apply(&case, restriction("")),
        Err(WorkflowError::ReasonsRequired {
            provision: "5.14",
            ..
        })
    ));
    let case = f.ok(&case, restriction("Call notes 2 and 5 January"));
    assert!(case.due_items().iter().any(|i| i.due == d("2026-04-06")));
    // The restricted resident's next complaint is still logged normally.
    let decided = f.open(CaseKind::Complaint, "2026-01-07");
    assert_eq!(decided.case.status, Status::Received);
}

#[test]
fn code_5_10_reasonable_adjustment_is_kept_under_review() {
    let f = Fixture::new();
    let case = f.open(CaseKind::Complaint, "2026-01-05").case;
    let adjustment = Adjustment {
        description: "Letters in large print".into(),
        disclosed_disability: Some("Sight loss".into()),
        agreed_on: d("2026-01-06"),
        review_on: d("2026-07-06"),
    };
    let decided = f
        .apply(&case, Event::AdjustmentRecorded { adjustment })
        .expect("accepted");
    assert!(decided.effects.contains(&Effect::Deadline(DueItem {
        due: d("2026-07-06"),
        what: DueKind::AdjustmentReview { index: 0 }
    })));
}

#[test]
fn a_message_joins_a_case_once() {
    let f = Fixture::new();
    let case = f.open(CaseKind::Complaint, "2026-01-05").case;
    let message = LinkedMessage {
        message_id: "<abc@example.net>".into(),
        direction: crate::core::model::Direction::Inbound,
        channel: Channel::Email,
        date: d("2026-01-06"),
        summary: "photos attached".into(),
        source_hash: None,
        classification: None,
    };
    let case = f.ok(
        &case,
        Event::MessageLinked {
            message: message.clone(),
        },
    );
    assert_eq!(
        case.message_ids().collect::<Vec<_>>(),
        vec!["<abc@example.net>"]
    );
    assert!(f.apply(&case, Event::MessageLinked { message }).is_err());
}

#[test]
fn replaying_the_events_gives_the_same_case() {
    let f = Fixture::new();
    let mut events = vec![
        Event::Opened(opened(CaseKind::Complaint, "2026-01-05", Channel::Email)),
        definition(),
    ];
    events.push(Event::HandlerAssigned {
        handler: "sam@example.org".into(),
    });
    events.push(Event::Acknowledged {
        on: d("2026-01-07"),
    });
    events.push(extension(5, None));
    events.push(decided(Outcome::Upheld, false));
    events.push(Event::Responded {
        on: d("2026-01-20"),
    });
    events.push(Event::EscalationRequested {
        received: d("2026-01-22"),
        reasons: Some("Still damp".into()),
    });
    let Event::Opened(first) = &events[0] else {
        unreachable!()
    };
    let mut case = open("DH-2026-00001", first, f.rules()).expect("opens").case;
    for e in &events[1..] {
        case = f.ok(&case, e.clone());
    }
    assert_eq!(case.version, events.len() as u32);
    assert_eq!(replay("DH-2026-00001", &events, f.rules()), Ok(case));
    assert!(
        replay("DH-2026-00001", &events[1..], f.rules()).is_err(),
        "a log must start with opened"
    );
}

#[test]
fn code_5_9_an_extension_owes_the_resident_updates_at_the_agreed_interval() {
    let f = Fixture::new();
    // Acknowledged 2026-01-07, response due 2026-01-21; extended on 2026-01-12 by 10 working
    // days to 2026-02-04, with an update every 5 working days.
    let case = f.ok(&f.acknowledged(), extension(10, None));
    let ext = &case.current_stage().expect("stage 1").extensions[0];
    assert_eq!(
        ext.updates_due,
        vec![d("2026-01-19"), d("2026-01-26"), d("2026-02-02")]
    );
    let updates: Vec<_> = case
        .due_items()
        .into_iter()
        .filter(|i| matches!(i.what, DueKind::ExtensionUpdate { .. }))
        .map(|i| i.due)
        .collect();
    assert_eq!(
        updates,
        vec![d("2026-01-19"), d("2026-01-26"), d("2026-02-02")]
    );
    // The response ends them.
    let case = f.ok(&case, decided(Outcome::Upheld, false));
    let case = f.ok(
        &case,
        Event::Responded {
            on: d("2026-01-20"),
        },
    );
    assert!(
        !case
            .due_items()
            .iter()
            .any(|i| matches!(i.what, DueKind::ExtensionUpdate { .. }))
    );
}

#[test]
fn policy_14_28_an_offered_payment_is_followed_up_a_month_after_the_response_until_made() {
    let f = Fixture::new();
    let case = f.responded(Outcome::Upheld);
    let payment = DueKind::PaymentDetails {
        stage: Stage::One,
        index: 0,
    };
    let due: Vec<_> = case
        .due_items()
        .into_iter()
        .filter(|i| i.what == payment)
        .collect();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due, d("2026-02-14"));
    let made = Event::PaymentMade {
        stage: Stage::One,
        index: 0,
        on: d("2026-02-16"),
        how: "credited to the rent account".into(),
    };
    let case = f.ok(&case, made.clone());
    assert!(!case.due_items().iter().any(|i| i.what == payment));
    let remedy = &case.stages[&Stage::One]
        .decision
        .as_ref()
        .expect("decided")
        .remedies[0];
    assert_eq!(remedy.paid_on, Some(d("2026-02-16")));
    assert_eq!(
        remedy.how_paid.as_deref(),
        Some("credited to the rent account")
    );
    // Recorded once only; and only a payment that was offered.
    assert!(f.apply(&case, made).is_err());
    let no_such = Event::PaymentMade {
        stage: Stage::One,
        index: 5,
        on: d("2026-02-16"),
        how: "bank transfer".into(),
    };
    assert!(f.apply(&case, no_such).is_err());
}
