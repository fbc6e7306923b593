//! Approving letters (SPEC §4) on a real store: who may approve what, drafts rewritten from the
//! case as it stands, and staff edits kept with the text before and after.

use chrono::{NaiveDate, Utc};
use redress::config::Loaded;
use redress::core::code::Stage;
use redress::core::event::{Event, Opened};
use redress::core::model::{
    Action, CaseKind, Channel, ComplaintDefinition, Contact, Decision, Outcome, Remedy,
};
use redress::core::workflow::{LetterKind, WorkflowError};
use redress::letters::Draft;
use redress::letters::templates::Templates;
use redress::letters::write::{finalise, write};
use redress::store::{Store, StoreError};

const CONFIG: &str = r#"
[organisation]
name = "Example Homes"
reference_prefix = "EH"
homes_owned = 12800
address = ["Example House", "1 High Street", "Derby", "DE1 1AA"]
email = "complaints@example.org"
phone = "01332 000000"

[store]
path = "store"

[[staff]]
name = "Sam Handler"
email = "sam.handler@example.org"
role = "handler"

[[staff]]
name = "Alex Reviewer"
email = "alex.reviewer@example.org"
role = "handler"

[[staff]]
name = "Morgan Manager"
email = "morgan.manager@example.org"
role = "manager"

[[staff]]
name = "Jo Senior"
email = "jo.senior@example.org"
role = "senior"
"#;

const SAM: &str = "sam.handler@example.org";
const ALEX: &str = "alex.reviewer@example.org";
const MORGAN: &str = "morgan.manager@example.org";
const JO: &str = "jo.senior@example.org";

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

struct Desk {
    _dir: tempfile::TempDir,
    loaded: Loaded,
    store: Store,
    templates: Templates,
}

impl Desk {
    fn new() -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let loaded =
            redress::config::load_str(CONFIG, "redress.toml", dir.path(), Vec::new()).unwrap();
        let store = Store::open(&loaded.store_path, "EH").unwrap();
        let templates = loaded.letter_templates().unwrap();
        Desk {
            _dir: dir,
            loaded,
            store,
            templates,
        }
    }

    fn today(&self) -> NaiveDate {
        d("2026-11-20")
    }

    async fn record(&self, reference: &str, event: Event) -> Result<(), StoreError> {
        self.store
            .record(reference, event, SAM, Utc::now(), self.loaded.rules())
            .await
            .map(|_| ())
    }

    /// A complaint received on Monday 2 November 2026, handled at stage 1 by Sam.
    async fn complaint(&self) -> String {
        let opened = Opened {
            kind: CaseKind::Complaint,
            received: d("2026-11-02"),
            channel: Channel::Email,
            complainant: Contact {
                name: Some("Rita Resident".into()),
                email: Some("rita@example.net".into()),
                ..Contact::default()
            },
            representative: None,
            group_members: vec![],
            summary: "Mould in the bedroom".into(),
            flags: vec![],
            message: None,
            handler: None,
            linked_to: None,
        };
        let commit = self
            .store
            .open_case(opened, SAM, Utc::now(), self.loaded.rules())
            .await
            .unwrap();
        let reference = commit.case.reference.clone();
        self.record(
            &reference,
            Event::HandlerAssigned {
                handler: SAM.into(),
            },
        )
        .await
        .unwrap();
        reference
    }

    async fn define(&self, reference: &str) {
        self.record(
            reference,
            Event::DefinitionRecorded {
                definition: ComplaintDefinition {
                    understanding: "Mould in the bedroom has come back three times".into(),
                    outcome_sought: "A lasting repair".into(),
                    responsible_for: "Repairs to the structure of the home".into(),
                    not_responsible_for: "Damaged furniture (a matter for contents insurance)"
                        .into(),
                },
            },
        )
        .await
        .unwrap();
    }

    async fn acknowledge(&self, reference: &str, on: &str) {
        self.record(reference, Event::Acknowledged { on: d(on) })
            .await
            .unwrap();
    }

    /// A complaint defined and acknowledged on Wednesday 4 November 2026.
    async fn acknowledged(&self) -> String {
        let reference = self.complaint().await;
        self.define(&reference).await;
        self.acknowledge(&reference, "2026-11-04").await;
        reference
    }

    async fn drafts(&self) -> Vec<Draft> {
        let config = &self.loaded.config;
        let today = self.today();
        self.store
            .make_drafts(
                |c, l| write(&self.templates, c, l, config, today),
                "example.org",
                Utc::now(),
            )
            .await
            .unwrap()
    }

    async fn draft_of(&self, letter: LetterKind) -> Draft {
        self.drafts()
            .await
            .into_iter()
            .find(|d| d.letter == letter)
            .unwrap_or_else(|| panic!("a {} is drafted", letter.name()))
    }

    async fn approve(&self, id: u64, by: &str) -> Result<Draft, StoreError> {
        let policy = finalise(&self.templates, &self.loaded.config, self.today(), by);
        self.store.approve_draft(id, by, Utc::now(), policy).await
    }

    /// Stage 1 acknowledged, decided with `pence` paid, and responded; returns the
    /// response draft.
    async fn decided(&self, reference: &str, stage: Stage, pence: u64) -> Draft {
        let decision = Decision {
            outcome: Outcome::Upheld,
            reasons: "Three reports went unanswered for two months.".into(),
            remedies: vec![Remedy {
                description: "Compensation for the delay and distress".into(),
                payment_pence: Some(pence),
                how_paid: Some("bank transfer".into()),
                paid_on: None,
            }],
            actions: vec![Action {
                description: "Treat the mould and replace the extractor fan".into(),
                due: d("2026-12-18"),
                owner: None,
                done_on: None,
            }],
            learning: vec![],
            agrees_with_stage1: false,
        };
        self.record(reference, Event::DecisionRecorded { decision })
            .await
            .unwrap();
        self.draft_of(LetterKind::Response { stage }).await
    }
}

fn refusal(result: Result<Draft, StoreError>) -> String {
    match result {
        Err(StoreError::DraftRefused { why, .. }) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_acknowledgement_drafted_before_the_definition_is_refused_then_rewritten_at_approval() {
    let desk = Desk::new();
    let reference = desk.complaint().await;
    let ack = desk
        .draft_of(LetterKind::Acknowledgement { stage: Stage::One })
        .await;
    assert!(
        ack.problems
            .iter()
            .any(|p| p.contains("complaint definition") && p.contains("Code 5.6")),
        "{:?}",
        ack.problems
    );
    let why = refusal(desk.approve(ack.id, SAM).await);
    assert!(
        why.contains("Code 5.6") && why.contains("has not been recorded"),
        "{why}"
    );

    desk.define(&reference).await;
    // What staff are shown is already the letter approval would send.
    let shown = redress::letters::write::as_it_stands(
        &desk.templates,
        &desk.loaded.config,
        desk.today(),
        &desk.store.draft(ack.id).unwrap(),
        &desk.store.require_case(&reference).unwrap(),
    );
    assert!(
        shown
            .body
            .contains("Mould in the bedroom has come back three times")
    );
    assert!(shown.problems.is_empty(), "{:?}", shown.problems);
    let approved = desk.approve(ack.id, SAM).await.unwrap();
    assert_eq!(approved.body, shown.body);
    assert!(
        approved
            .body
            .contains("Mould in the bedroom has come back three times")
    );
    assert!(
        approved
            .html
            .as_deref()
            .unwrap()
            .contains("A lasting repair")
    );
    assert!(approved.problems.is_empty(), "{:?}", approved.problems);
    assert_eq!(approved.decided_by.as_deref(), Some(SAM));
}

#[tokio::test]
async fn the_stage_1_handler_cannot_approve_the_stage_2_response_code_6_13() {
    let desk = Desk::new();
    let reference = desk.complaint().await;
    desk.define(&reference).await;
    let ack = desk
        .draft_of(LetterKind::Acknowledgement { stage: Stage::One })
        .await;
    desk.approve(ack.id, SAM).await.unwrap();
    desk.acknowledge(&reference, "2026-11-04").await;
    let response = desk.decided(&reference, Stage::One, 0).await;
    desk.approve(response.id, SAM).await.unwrap();
    desk.record(
        &reference,
        Event::Responded {
            on: d("2026-11-13"),
        },
    )
    .await
    .unwrap();
    desk.record(
        &reference,
        Event::EscalationRequested {
            received: d("2026-11-16"),
            reasons: None,
        },
    )
    .await
    .unwrap();
    desk.record(
        &reference,
        Event::HandlerAssigned {
            handler: ALEX.into(),
        },
    )
    .await
    .unwrap();
    desk.define(&reference).await;
    desk.acknowledge(&reference, "2026-11-18").await;
    let stage2 = desk.decided(&reference, Stage::Two, 0).await;
    // Sam, by email or by name, considered stage 1.
    for sam in [SAM, "Sam Handler"] {
        let why = refusal(desk.approve(stage2.id, sam).await);
        assert!(why.contains("Code 6.13"), "{why}");
    }
    let approved = desk.approve(stage2.id, ALEX).await.unwrap();
    assert!(approved.body.contains("This is our final response"));
}

#[tokio::test]
async fn a_1200_pound_remedy_needs_senior_management_to_approve_it() {
    let desk = Desk::new();
    let reference = desk.acknowledged().await;
    let response = desk.decided(&reference, Stage::One, 120_000).await;
    assert!(response.body.contains("£1,200.00"));
    for by in [SAM, MORGAN] {
        let why = refusal(desk.approve(response.id, by).await);
        assert!(
            why.contains("£1,200.00") && why.contains("severe band") && why.contains("senior"),
            "{why}"
        );
    }
    // Someone not in [[staff]] cannot approve at all.
    let why = refusal(desk.approve(response.id, "visitor@example.net").await);
    assert!(why.contains("not a member of staff"), "{why}");
    desk.approve(response.id, JO).await.unwrap();
}

#[tokio::test]
async fn a_manager_may_approve_a_moderate_payment_and_a_handler_a_token_one() {
    let desk = Desk::new();
    for (pence, refused_for_handler) in [(500, false), (75_000, true)] {
        let reference = desk.acknowledged().await;
        let response = desk.decided(&reference, Stage::One, pence).await;
        if refused_for_handler {
            let why = refusal(desk.approve(response.id, SAM).await);
            assert!(
                why.contains("moderate band") && why.contains("manager"),
                "{why}"
            );
            desk.approve(response.id, MORGAN).await.unwrap();
        } else {
            desk.approve(response.id, SAM).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_staff_edit_is_kept_with_before_and_after_and_an_edit_losing_the_ombudsman_is_refused() {
    let desk = Desk::new();
    let reference = desk.complaint().await;
    desk.define(&reference).await;
    let ack = desk
        .draft_of(LetterKind::Acknowledgement { stage: Stage::One })
        .await;
    // The draft was made before the definition: approval would rewrite it, but staff edit
    // the text as it stands, so the edit is what is judged.
    let current = desk.store.draft(ack.id).unwrap();
    let cut = current
        .body
        .split("You can contact the Housing Ombudsman")
        .next()
        .unwrap()
        .to_owned();
    let config = &desk.loaded.config;
    let edited = redress::letters::write::edit(
        &desk.store,
        &desk.templates,
        config,
        desk.today(),
        ack.id,
        SAM,
        None,
        &cut,
    )
    .await
    .unwrap();
    assert_eq!(edited.edits.len(), 1);
    assert_eq!(edited.edits[0].by, SAM);
    assert_eq!(edited.edits[0].body_before, current.body);
    assert_eq!(edited.edits[0].body_after, cut);
    assert!(
        edited
            .problems
            .iter()
            .any(|p| p.contains("ombudsman's contact details") && p.contains("Code 3.7")),
        "{:?}",
        edited.problems
    );
    let why = refusal(desk.approve(ack.id, SAM).await);
    assert!(why.contains("Code 3.7"), "{why}");

    // Put the definition and the ombudsman back by hand: the edit is approved as written,
    // not rewritten from the template.
    let fixed = redress::letters::write::write(
        &desk.templates,
        &desk.store.require_case(&reference).unwrap(),
        ack.letter,
        config,
        desk.today(),
    );
    let by_hand = fixed.body.replace(
        "Thank you for contacting us.",
        "Thank you for writing to us.",
    );
    redress::letters::write::edit(
        &desk.store,
        &desk.templates,
        config,
        desk.today(),
        ack.id,
        SAM,
        Some("[EH-2026-00001] Your complaint"),
        &by_hand,
    )
    .await
    .unwrap();
    let approved = desk.approve(ack.id, SAM).await.unwrap();
    assert_eq!(approved.body, by_hand);
    assert_eq!(approved.subject, "[EH-2026-00001] Your complaint");
    assert_eq!(approved.edits.len(), 2);
    let html = approved.html.expect("an HTML version of the edit");
    assert!(html.contains("Thank you for writing to us."), "{html}");
}

#[tokio::test]
async fn an_11_day_stage_1_extension_needs_a_good_reason_and_its_letter_states_the_reasons() {
    let desk = Desk::new();
    let reference = desk.acknowledged().await;
    let extension = |good_reason: Option<&str>| Event::ExtensionAgreed {
        on: d("2026-11-10"),
        working_days: 11,
        reason: "We are waiting for an independent damp survey.".into(),
        good_reason: good_reason.map(str::to_owned),
        update_interval_working_days: 5,
    };
    let err = desk.record(&reference, extension(None)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Workflow(WorkflowError::ExtensionTooLong { .. })
        ),
        "{err:?}"
    );
    desk.record(
        &reference,
        extension(Some(
            "The surveyor's first date is after the 10 working days.",
        )),
    )
    .await
    .unwrap();
    let letter = desk
        .draft_of(LetterKind::Extension { stage: Stage::One })
        .await;
    assert!(letter.problems.is_empty(), "{:?}", letter.problems);
    assert!(
        letter
            .body
            .contains("We are waiting for an independent damp survey.")
    );
    assert!(
        letter
            .body
            .contains("The surveyor's first date is after the 10 working days.")
    );
    assert!(letter.body.contains("every 5 working days"));
    assert!(letter.body.contains("Housing Ombudsman"));
    desk.approve(letter.id, SAM).await.unwrap();
}
