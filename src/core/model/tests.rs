//! The model's own derivations: contact keys, due dates, the recorded outcome.
use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

fn decision(outcome: Outcome, agrees: bool) -> Decision {
    Decision {
        outcome,
        reasons: "because".into(),
        remedies: vec![],
        actions: vec![],
        learning: vec![],
        agrees_with_stage1: agrees,
    }
}

fn stage(decision: Option<Decision>) -> StageRecord {
    StageRecord {
        received: d("2026-01-05"),
        ack_due: d("2026-01-12"),
        acknowledged_on: None,
        response_due: d("2026-01-26"),
        extensions: vec![],
        handler: None,
        definition: None,
        decision,
        responded_on: None,
    }
}

#[test]
fn contact_keys_are_case_insensitive_for_email_and_digits_only_for_phone() {
    let c = Contact {
        email: Some(" Jo.Bloggs@Example.org ".into()),
        phone: Some("+44 (0)1332 123 456".into()),
        ..Contact::default()
    };
    assert_eq!(
        c.index_keys(),
        vec!["email:jo.bloggs@example.org", "phone:4401332123456"]
    );
}

#[test]
fn effective_due_follows_the_latest_extension() {
    let mut rec = stage(None);
    assert_eq!(rec.effective_due(), d("2026-01-26"));
    rec.extensions.push(Extension {
        agreed_on: d("2026-01-20"),
        working_days: 5,
        reason: "survey needed".into(),
        good_reason: None,
        update_interval_working_days: 5,
        new_due: d("2026-02-02"),
        updates_due: vec![d("2026-01-27")],
    });
    assert_eq!(rec.effective_due(), d("2026-02-02"));
    assert_eq!(rec.extension_days(), 5);
}

#[test]
fn kind_and_status_names_round_trip() {
    for k in CaseKind::ALL {
        assert_eq!(k.as_str().parse::<CaseKind>(), Ok(k));
    }
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>(), Ok(s));
    }
    assert!("complain".parse::<CaseKind>().is_err());
    assert_eq!("web_form".parse::<Channel>(), Ok(Channel::WebForm));
}

#[test]
fn policy_12_5_upheld_at_stage1_stays_upheld_when_stage2_agrees() {
    let mut stages = BTreeMap::new();
    stages.insert(Stage::One, stage(Some(decision(Outcome::Upheld, false))));
    stages.insert(Stage::Two, stage(Some(decision(Outcome::NotUpheld, true))));
    let case = sample_case(stages.clone());
    assert_eq!(case.recorded_outcome(), Some(Outcome::Upheld));

    // Stage 2 overturning stage 1 (not agreeing) records its own finding.
    stages.insert(Stage::Two, stage(Some(decision(Outcome::NotUpheld, false))));
    assert_eq!(
        sample_case(stages).recorded_outcome(),
        Some(Outcome::NotUpheld)
    );
}

pub(crate) fn sample_case(stages: BTreeMap<Stage, StageRecord>) -> Case {
    Case {
        reference: "DH-2026-00001".into(),
        kind: CaseKind::Complaint,
        status: Status::Acknowledged,
        stage: Some(Stage::One),
        channel: Channel::Email,
        received: d("2026-01-05"),
        summary: "damp".into(),
        complainant: Contact::default(),
        representative: None,
        group_members: vec![],
        flags: vec![],
        handler: None,
        stages,
        service_target: None,
        adjustments: vec![],
        restrictions: vec![],
        messages: vec![],
        linked_cases: vec![],
        refusal: None,
        closure: None,
        delivery_failures: vec![],
        version: 1,
    }
}
