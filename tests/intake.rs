//! The intake pipeline in-process: every inbound message ends in exactly one case or one
//! set-aside record, threads onto the right case, and automatic or broken mail never opens a
//! case. Plus the Maildir adapter around it and `redress ingest` from the command line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::FutureExt;
use redress::config::{self, Loaded};
use redress::core::event::{Event, Opened};
use redress::core::model::{
    Case, CaseKind, Channel, ComplaintDefinition, Contact, Decision, Flag, Outcome as Finding,
    Stage, Status,
};
use redress::core::workflow::{Effect, LetterKind};
use redress::intake::maildir::{prepare, scan_once};
use redress::intake::{Inbound, Outcome, ingest};
use redress::mail::content_hash;
use redress::store::{SET_ASIDE_HOLDER, SetAsideKind, Store};

const BIN: &str = env!("CARGO_BIN_EXE_redress");

const CONFIG: &str = r#"[organisation]
name = "T"
reference_prefix = "EH"
homes_owned = 100
email = "complaints@example.org"
phone = "01332 000000"

[store]
path = "store"

[mail]
from = "complaints@example.org"
"#;

/// A configuration and its store in a temporary directory.
struct Lab {
    dir: tempfile::TempDir,
    loaded: Loaded,
    store: Store,
}

impl Lab {
    fn new() -> Lab {
        Lab::with_mail("")
    }

    /// With extra `[mail]` keys, e.g. `daily_cap_per_sender = 3`.
    fn with_mail(extra: &str) -> Lab {
        let dir = tempfile::tempdir().expect("temporary directory");
        let loaded = load(dir.path(), extra);
        let store = Store::open(&loaded.store_path, "EH").expect("store opens");
        Lab { dir, loaded, store }
    }

    /// Takes a message in as if it reached the mailbox on Monday 5 January 2026.
    async fn take(&self, raw: &[u8]) -> Outcome {
        self.take_at(raw, monday()).await
    }

    async fn take_at(&self, raw: &[u8], arrived: DateTime<Utc>) -> Outcome {
        take_with(&self.store, &self.loaded, raw, arrived).await
    }

    fn case(&self, reference: &str) -> Case {
        self.store.require_case(reference).expect("the case exists")
    }

    fn cases(&self) -> Vec<Case> {
        self.store
            .cases()
            .collect::<Result<_, _>>()
            .expect("cases read")
    }

    fn queued_drafts(&self, reference: &str) -> Vec<LetterKind> {
        self.store
            .queued_effects()
            .expect("queue reads")
            .into_iter()
            .filter(|q| q.queued.reference == reference)
            .filter_map(|q| match q.queued.effect {
                Effect::Draft(letter) => Some(letter),
                _ => None,
            })
            .collect()
    }

    fn assert_verifies(&self) {
        let report = self.store.verify(self.loaded.rules()).expect("verify runs");
        assert_eq!(report.problems, Vec::<String>::new(), "store verification");
    }
}

fn load(dir: &Path, extra_mail: &str) -> Loaded {
    let text = format!("{CONFIG}{extra_mail}\n");
    config::load_str(&text, "test", dir, std::iter::empty()).expect("configuration loads")
}

async fn take_with(store: &Store, loaded: &Loaded, raw: &[u8], arrived: DateTime<Utc>) -> Outcome {
    let inbound = Inbound {
        raw,
        arrived,
        received: None,
        source: "test".to_owned(),
    };
    ingest(store, loaded, inbound)
        .await
        .expect("no store failure")
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn monday() -> DateTime<Utc> {
    at(2026, 1, 5)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A well-formed message; `extra` are further header lines.
fn email(from: &str, id: &str, subject: &str, body: &str, extra: &[&str]) -> Vec<u8> {
    let mut s = format!(
        "From: {from}\r\nTo: complaints@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 5 Jan 2026 09:30:00 +0000\r\n"
    );
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.push_str("\r\n");
    s.into_bytes()
}

fn opened(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Opened { reference, .. } => reference.clone(),
        other => panic!("expected a new case, got {other:?}"),
    }
}

/// The new case's reference, checking it was opened as `kind`.
fn opened_as(outcome: &Outcome, kind: CaseKind) -> String {
    match outcome {
        Outcome::Opened { reference, kind: k } if *k == kind => reference.clone(),
        other => panic!("expected a new {kind:?} case, got {other:?}"),
    }
}

fn joined(outcome: &Outcome) -> (String, Vec<String>) {
    match outcome {
        Outcome::Joined { reference, events } => (reference.clone(), events.clone()),
        other => panic!("expected the message to join a case, got {other:?}"),
    }
}

/// Every place a message is held: (case reference or `set-aside`) per content hash.
fn holders(store: &Store) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in store.set_aside_records().expect("set-aside records read") {
        map.entry(record.hash)
            .or_default()
            .push(SET_ASIDE_HOLDER.to_owned());
    }
    for case in store.cases() {
        let case = case.expect("case reads");
        for m in &case.messages {
            if let Some(hash) = &m.source_hash {
                map.entry(hash.clone())
                    .or_default()
                    .push(case.reference.clone());
            }
        }
    }
    map
}

// ---------------------------------------------------------------------------------------------
// Nothing lost, nothing doubled

#[tokio::test]
async fn a_new_email_opens_one_case_and_the_same_bytes_again_are_a_duplicate_naming_that_case() {
    let lab = Lab::new();
    let raw = email(
        "Jo Bloggs <jo@example.net>",
        "first@example.net",
        "Mould again",
        "I am fed up: the mould in the bedroom is back.",
        &[],
    );
    let outcome = lab.take(&raw).await;
    assert_eq!(
        outcome,
        Outcome::Opened {
            reference: "EH-2026-00001".into(),
            kind: CaseKind::Complaint
        }
    );
    let reference = opened(&outcome);
    assert_eq!(lab.store.case_count(), 1);
    let hash = content_hash(&raw);
    assert_eq!(lab.store.seen(&hash).unwrap(), Some(reference.clone()));
    assert_eq!(lab.store.raw(&hash).unwrap().as_deref(), Some(&raw[..]));

    let again = lab.take(&raw).await;
    assert_eq!(
        again,
        Outcome::Duplicate {
            holder: reference.clone()
        }
    );
    assert_eq!(lab.store.case_count(), 1, "no second case");
    let case = lab.case(&reference);
    assert_eq!(case.messages.len(), 1, "the message is kept once");
    assert_eq!(case.messages[0].message_id, "<first@example.net>");
    assert_eq!(case.messages[0].source_hash.as_deref(), Some(hash.as_str()));
    assert!(lab.store.set_aside_records().unwrap().is_empty());
    lab.assert_verifies();
}

#[tokio::test]
async fn a_different_message_reusing_a_message_id_is_kept_under_a_content_derived_id() {
    let lab = Lab::new();
    let first = email(
        "jo@example.net",
        "reused@example.net",
        "Mould",
        "I am unhappy about the mould.",
        &[],
    );
    let reference = opened(&lab.take(&first).await);

    // Same sender, same Message-ID, different content: joins the sender's open case.
    let second = email(
        "jo@example.net",
        "reused@example.net",
        "Mould (photos)",
        "Here are the photos of the bedroom wall.",
        &[],
    );
    let (joined_to, events) = joined(&lab.take(&second).await);
    assert_eq!(joined_to, reference);
    assert_eq!(events, vec!["message_linked".to_owned()]);

    // Another sender, same Message-ID: a case of its own.
    let third = email(
        "sam@example.com",
        "reused@example.net",
        "Broken gate",
        "Please could someone fix the gate at number 4.",
        &[],
    );
    let other = opened(&lab.take(&third).await);
    assert_ne!(other, reference);

    let case = lab.case(&reference);
    assert_eq!(case.messages.len(), 2, "both messages are kept");
    assert_eq!(case.messages[0].message_id, "<reused@example.net>");
    let derived = &case.messages[1].message_id;
    assert!(
        derived.ends_with("@content.redress.invalid>") && derived != "<reused@example.net>",
        "{derived}"
    );
    assert_eq!(
        case.messages[1].source_hash.as_deref(),
        Some(content_hash(&second).as_str())
    );
    let other_case = lab.case(&other);
    assert!(
        other_case.messages[0]
            .message_id
            .ends_with("@content.redress.invalid>")
    );
    // The id still threads to the case that first used it.
    assert_eq!(
        lab.store
            .reference_for_message("<reused@example.net>")
            .unwrap(),
        Some(reference.clone())
    );
    for (raw, holder) in [
        (&first, &reference),
        (&second, &reference),
        (&third, &other),
    ] {
        assert_eq!(
            lab.store.seen(&content_hash(raw)).unwrap().as_ref(),
            Some(holder)
        );
    }
    assert_eq!(holders(&lab.store).len(), 3, "nothing lost");
    lab.assert_verifies();
}

// ---------------------------------------------------------------------------------------------
// Threading (SPEC §8): subject reference, then In-Reply-To / References, then sender + open case

#[tokio::test]
async fn a_reply_with_the_case_reference_in_the_subject_joins_that_case() {
    let lab = Lab::new();
    let reference = opened(
        &lab.take(&email(
            "jo@example.net",
            "a1@example.net",
            "Damp",
            "I am not happy with the damp.",
            &[],
        ))
        .await,
    );
    assert_eq!(reference, "EH-2026-00001");
    // Someone else (a representative), no In-Reply-To: only the subject can thread it.
    let reply = email(
        "advocate@example.com",
        "a2@example.com",
        "Re: [EH-2026-00001] We have received your complaint",
        "I am writing on behalf of my client.",
        &[],
    );
    let (to, events) = joined(&lab.take(&reply).await);
    assert_eq!(to, reference);
    // The classifier sees a representative writing, which the case now shows.
    assert_eq!(
        events,
        vec!["message_linked".to_owned(), "flags_changed".to_owned()]
    );
    assert_eq!(lab.store.case_count(), 1);
    let case = lab.case(&reference);
    assert_eq!(case.messages.len(), 2);
    assert!(case.flags.contains(&Flag::ThirdParty), "{:?}", case.flags);

    // A reference that names no case threads nowhere: a new case.
    let stray = email(
        "other@example.com",
        "a3@example.com",
        "Re: [EH-2026-00099] Your complaint",
        "Please fix the fence.",
        &[],
    );
    let new = opened(&lab.take(&stray).await);
    assert_ne!(new, reference);
    lab.assert_verifies();
}

#[tokio::test]
async fn a_reply_naming_a_known_message_in_in_reply_to_or_references_joins_its_case() {
    let lab = Lab::new();
    let reference = opened(
        &lab.take(&email(
            "jo@example.net",
            "root@example.net",
            "Leak",
            "I am unhappy: water is still coming through the ceiling.",
            &[],
        ))
        .await,
    );
    let by_in_reply_to = email(
        "neighbour@example.com",
        "r1@example.com",
        "Re: Leak",
        "The water is coming into my flat too.",
        &["In-Reply-To: <root@example.net>"],
    );
    let (to, _) = joined(&lab.take(&by_in_reply_to).await);
    assert_eq!(to, reference);

    let by_references = email(
        "landlordwatch@example.org.uk",
        "r2@example.org.uk",
        "Re: Re: Leak",
        "Following this up.",
        &["References: <unknown@elsewhere.example> <r1@example.com>"],
    );
    let (to, _) = joined(&lab.take(&by_references).await);
    assert_eq!(to, reference);
    assert_eq!(lab.store.case_count(), 1);
    assert_eq!(lab.case(&reference).messages.len(), 3);
    lab.assert_verifies();
}

#[tokio::test]
async fn a_new_message_from_a_sender_with_exactly_one_open_case_joins_it() {
    let lab = Lab::new();
    let reference = opened(
        &lab.take(&email(
            "Jo@Example.net",
            "s1@example.net",
            "Boiler",
            "The boiler keeps cutting out, this is unacceptable.",
            &[],
        ))
        .await,
    );
    // No reference, no In-Reply-To, different capitalisation of the address.
    let next = email(
        "jo@example.net",
        "s2@example.net",
        "Another thing",
        "Also the radiator in the hall is cold.",
        &[],
    );
    let (to, events) = joined(&lab.take(&next).await);
    assert_eq!(to, reference);
    assert_eq!(events, vec!["message_linked".to_owned()]);
    assert_eq!(lab.store.case_count(), 1);
    lab.assert_verifies();
}

#[tokio::test]
async fn a_new_message_from_a_sender_with_two_open_cases_opens_a_new_one() {
    let lab = Lab::new();
    let first = opened(
        &lab.take(&email(
            "jo@example.net",
            "t1@example.net",
            "Boiler",
            "The boiler keeps cutting out, this is unacceptable.",
            &[],
        ))
        .await,
    );
    // A second open case for the same resident, logged by staff from a phone call.
    let second = lab
        .store
        .open_case(
            Opened {
                kind: CaseKind::ServiceRequest,
                received: day(2026, 1, 5),
                channel: Channel::Phone,
                complainant: Contact {
                    name: Some("Jo Bloggs".into()),
                    email: Some("jo@example.net".into()),
                    ..Contact::default()
                },
                representative: None,
                group_members: Vec::new(),
                summary: "Garden fence down".into(),
                flags: Vec::new(),
                message: None,
                handler: None,
                linked_to: None,
            },
            "sam.handler@example.org",
            Utc::now(),
            lab.loaded.rules(),
        )
        .await
        .expect("case opens")
        .case
        .reference;
    let next = email(
        "jo@example.net",
        "t2@example.net",
        "Something new",
        "The communal door entry phone is broken.",
        &[],
    );
    let third = opened(&lab.take(&next).await);
    assert!(third != first && third != second);
    assert_eq!(lab.store.case_count(), 3);
    assert_eq!(lab.case(&first).messages.len(), 1);
    assert!(lab.case(&second).messages.is_empty());
    lab.assert_verifies();
}

// ---------------------------------------------------------------------------------------------
// Code 6.12 and 1.5

#[tokio::test]
async fn still_not_happy_after_the_stage_1_response_is_an_escalation_to_stage_2() {
    // 6.12: no reasons needed; "still not happy" is enough, as is asking outright.
    for wording in ["I am still not happy.", "Still unhappy, please escalate."] {
        escalates_after_stage_1(wording).await;
    }
}

async fn escalates_after_stage_1(wording: &str) {
    let lab = Lab::new();
    let reference = opened(
        &lab.take(&email(
            "jo@example.net",
            "e1@example.net",
            "Mould",
            "I want to complain about the mould in the bedroom.",
            &[],
        ))
        .await,
    );
    let rules = lab.loaded.rules();
    let staff = "sam.handler@example.org";
    for event in [
        Event::DefinitionRecorded {
            definition: ComplaintDefinition {
                understanding: "Recurring mould in the bedroom".into(),
                outcome_sought: "A lasting repair".into(),
                responsible_for: "Repairs to the structure".into(),
                not_responsible_for: "Damaged furniture".into(),
            },
        },
        Event::Acknowledged {
            on: day(2026, 1, 6),
        },
        Event::DecisionRecorded {
            decision: Decision {
                outcome: Finding::PartlyUpheld,
                reasons: "The first repair did not treat the cause".into(),
                remedies: Vec::new(),
                actions: Vec::new(),
                learning: Vec::new(),
                agrees_with_stage1: false,
            },
        },
        Event::Responded {
            on: day(2026, 1, 20),
        },
    ] {
        lab.store
            .record(&reference, event, staff, Utc::now(), rules)
            .await
            .expect("staff event recorded");
    }
    assert_eq!(lab.case(&reference).status, Status::Responded);
    assert!(
        !lab.queued_drafts(&reference)
            .contains(&LetterKind::Acknowledgement { stage: Stage::Two })
    );

    // No subject reference: the sender's one open case.
    let reply = email(
        "jo@example.net",
        "e2@example.net",
        "Re: Your complaint",
        wording,
        &[],
    );
    let outcome = lab.take_at(&reply, at(2026, 1, 26)).await;
    let (to, events) = joined(&outcome);
    assert_eq!(to, reference);
    assert_eq!(
        events,
        vec![
            "message_linked".to_owned(),
            "escalation_requested".to_owned()
        ],
        "{wording}"
    );
    let case = lab.case(&reference);
    let class = case.messages[1].classification.as_ref().unwrap();
    assert_eq!(
        (class.kind.as_str(), class.context.as_str()),
        ("stage2_request", "stage1_responded"),
        "{wording}"
    );
    assert_eq!(case.stage, Some(Stage::Two));
    assert_eq!(case.status, Status::Received);
    assert_eq!(case.stages[&Stage::Two].received, day(2026, 1, 26));
    assert_eq!(case.messages.len(), 2);
    assert!(
        lab.queued_drafts(&reference)
            .contains(&LetterKind::Acknowledgement { stage: Stage::Two }),
        "a stage 2 acknowledgement draft is queued: {:?}",
        lab.queued_drafts(&reference)
    );
    assert_eq!(lab.store.case_count(), 1, "no new case");
    lab.assert_verifies();
}

#[tokio::test]
async fn unhappy_with_how_a_repair_was_handled_opens_a_linked_complaint_and_the_service_request_stays_open()
 {
    let lab = Lab::new();
    let outcome = lab
        .take(&email(
            "jo@example.net",
            "sr1@example.net",
            "Kitchen tap",
            "Please can someone fix the dripping kitchen tap.",
            &[],
        ))
        .await;
    let request = opened_as(&outcome, CaseKind::ServiceRequest);

    let unhappy = email(
        "jo@example.net",
        "sr2@example.net",
        "Kitchen tap",
        "I am unhappy with how my repair was handled",
        &[],
    );
    let (to, events) = joined(&lab.take_at(&unhappy, at(2026, 1, 12)).await);
    assert_eq!(to, request);
    assert_eq!(
        events,
        vec![
            "message_linked".to_owned(),
            "dissatisfied_with_response".to_owned()
        ]
    );
    assert_eq!(lab.store.case_count(), 2);
    let service = lab.case(&request);
    assert_eq!(service.kind, CaseKind::ServiceRequest);
    assert!(service.status.is_open(), "the service request carries on");
    assert_eq!(
        service.messages.len(),
        2,
        "the message is on the service request"
    );
    let class = service.messages[1].classification.as_ref().unwrap();
    assert_eq!(
        (class.kind.as_str(), class.context.as_str()),
        ("complaint", "service_request")
    );
    assert!(
        !service.flags.contains(&Flag::Dissatisfaction),
        "the dissatisfaction is the linked complaint's"
    );
    let complaint = lab
        .cases()
        .into_iter()
        .find(|c| c.reference != request)
        .expect("a linked complaint");
    assert_eq!(complaint.kind, CaseKind::Complaint);
    assert_eq!(complaint.stage, Some(Stage::One));
    assert_eq!(complaint.received, day(2026, 1, 12));
    assert_eq!(
        complaint.complainant.email.as_deref(),
        Some("jo@example.net")
    );
    assert!(complaint.linked_cases.contains(&request));
    assert!(service.linked_cases.contains(&complaint.reference));
    assert!(
        lab.queued_drafts(&complaint.reference)
            .contains(&LetterKind::Acknowledgement { stage: Stage::One })
    );
    assert_eq!(
        lab.store.seen(&content_hash(&unhappy)).unwrap(),
        Some(request)
    );
    lab.assert_verifies();
}

// ---------------------------------------------------------------------------------------------
// Classification (SPEC §1): the rules engine decides, and its reasons stay on the record

#[tokio::test]
async fn an_out_of_office_reply_without_automatic_headers_is_set_aside_naming_the_rule_that_fired()
{
    let lab = Lab::new();
    // No Auto-Submitted, Precedence or X-Autoreply: the header checks let it through.
    let raw = email(
        "alex.officer@example.gov.uk",
        "ooo-body@example.gov.uk",
        "Re: Your repair",
        "Thank you for your email. I am currently out of the office until Monday 12 January \
         with limited access to email. I will reply on my return.",
        &[],
    );
    let outcome = lab.take(&raw).await;
    let Outcome::SetAside { kind, reason } = &outcome else {
        panic!("expected the message to be set aside, got {outcome:?}");
    };
    assert_eq!(*kind, SetAsideKind::Automated);
    assert!(
        reason.contains("automated.out_of_office") && reason.contains("out of the office"),
        "the reason names the rule and what it matched: {reason}"
    );
    assert_eq!(lab.store.case_count(), 0, "never a case");
    assert!(
        lab.store.queued_effects().unwrap().is_empty(),
        "never answered"
    );
    let records = lab.store.set_aside_records().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].reason, *reason);
    // Taken in again: the same outcome, so the mailbox files it the same way.
    assert_eq!(lab.take(&raw).await, outcome);
    lab.assert_verifies();
}

#[tokio::test]
async fn a_repair_report_opens_a_service_request() {
    let lab = Lab::new();
    let outcome = lab
        .take(&email(
            "jo@example.net",
            "tap@example.net",
            "Kitchen tap",
            "Please can you fix my dripping kitchen tap",
            &[],
        ))
        .await;
    let case = lab.case(&opened_as(&outcome, CaseKind::ServiceRequest));
    assert!(case.stage.is_none(), "not a complaint: no stage clock");
    assert!(
        lab.queued_drafts(&case.reference)
            .contains(&LetterKind::ServiceRequestLogged)
    );
    lab.assert_verifies();
}

#[tokio::test]
async fn the_classifiers_kind_confidence_rules_and_learned_view_are_kept_with_the_message() {
    let lab = Lab::new();
    let outcome = lab
        .take(&email(
            "jo@example.net",
            "third@example.net",
            "Nobody came",
            "This is the third time nobody turned up, I want to make a complaint",
            &[],
        ))
        .await;
    let case = lab.case(&opened_as(&outcome, CaseKind::Complaint));
    let class = case.messages[0]
        .classification
        .as_ref()
        .expect("the verdict is kept with the message");
    assert_eq!(class.kind, "complaint");
    assert_eq!(class.context, "none");
    assert!(
        class.confidence > 0.0 && class.confidence <= 1.0,
        "{class:?}"
    );
    assert!(
        class
            .rules
            .iter()
            .any(|r| r.id.starts_with("complaint.") && !r.matched.is_empty()),
        "the rules that fired, with what they matched: {class:?}"
    );
    let learned = class
        .learned
        .as_ref()
        .expect("the learned component's view");
    assert!(
        learned.probability > 0.0 && learned.influence > 0.0,
        "{learned:?}"
    );
    // The flags the verdict raised are the case's.
    for flag in &class.flags {
        assert!(
            case.flags.contains(flag),
            "{flag:?} missing from {:?}",
            case.flags
        );
    }
    // It is part of the opening event, so the record and any export keep it.
    let events = lab.store.events(&case.reference).unwrap();
    let Event::Opened(first) = &events[0].event else {
        panic!("the first event opens the case");
    };
    assert_eq!(
        first.message.as_ref().unwrap().classification.as_ref(),
        Some(class)
    );
    lab.assert_verifies();
}

#[tokio::test]
async fn a_gas_smell_mentioned_in_a_reply_flags_the_case_urgent_and_raises_an_alert() {
    let lab = Lab::new();
    let reference = opened(
        &lab.take(&email(
            "jo@example.net",
            "g1@example.net",
            "Mould",
            "I want to complain about the mould in the bedroom.",
            &[],
        ))
        .await,
    );
    assert!(!lab.case(&reference).flags.contains(&Flag::UrgentSafety));
    let reply = email(
        "jo@example.net",
        "g2@example.net",
        &format!("Re: [{reference}] Mould"),
        "Also there is a strong smell of gas in the kitchen now.",
        &[],
    );
    let (to, events) = joined(&lab.take(&reply).await);
    assert_eq!(to, reference);
    assert_eq!(
        events,
        vec!["message_linked".to_owned(), "flags_changed".to_owned()]
    );
    let case = lab.case(&reference);
    assert!(case.flags.contains(&Flag::UrgentSafety), "{:?}", case.flags);
    let reply_class = case.messages[1].classification.as_ref().unwrap();
    assert_eq!(reply_class.context, "open_case");
    assert!(
        reply_class.rules.iter().any(|r| r.matched.contains("gas")),
        "{reply_class:?}"
    );
    let alerts: Vec<_> = lab
        .store
        .queued_effects()
        .unwrap()
        .into_iter()
        .filter(|q| {
            q.queued.reference == reference
                && q.queued.effect == Effect::Alert(redress::core::workflow::Alert::UrgentSafety)
        })
        .collect();
    assert_eq!(alerts.len(), 1, "one urgent-safety alert");
    lab.assert_verifies();
}

// ---------------------------------------------------------------------------------------------
// Loop protection (RFC 3834 and friends)

#[tokio::test]
async fn automatic_mail_is_set_aside_with_no_case_and_no_draft() {
    let lab = Lab::new();
    let messages = [
        (
            "out of office",
            email(
                "jo@example.net",
                "ooo@example.net",
                "Automatic reply: Your complaint",
                "I am away until Monday. I am unhappy to miss your message.",
                &["Auto-Submitted: auto-replied"],
            ),
        ),
        (
            "bounce",
            email(
                "Mail Delivery System <bounces@mx.example.net>",
                "dsn@mx.example.net",
                "Undelivered Mail Returned to Sender",
                "--dsn\r\nContent-Type: text/plain\r\n\r\nThis is unacceptable: delivery failed.\r\n--dsn\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n--dsn--",
                &[
                    "MIME-Version: 1.0",
                    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"",
                ],
            ),
        ),
        (
            "mailing list",
            email(
                "Residents Forum <forum@example.net>",
                "list1@example.net",
                "[forum] Complaints about the bins",
                "Everyone is fed up with the bins.",
                &["List-Id: Residents forum <forum.example.net>"],
            ),
        ),
        (
            "our own letter",
            email(
                "complaints@example.org",
                "1.EH-2026-00001@example.org",
                "[EH-2026-00001] We have received your complaint",
                "We are sorry you are unhappy.",
                &[],
            ),
        ),
    ];
    for (what, raw) in &messages {
        let outcome = lab.take(raw).await;
        assert!(
            matches!(
                outcome,
                Outcome::SetAside {
                    kind: SetAsideKind::Automated,
                    ..
                }
            ),
            "{what}: {outcome:?}"
        );
        assert_eq!(
            lab.store.seen(&content_hash(raw)).unwrap().as_deref(),
            Some(SET_ASIDE_HOLDER),
            "{what}"
        );
    }
    assert_eq!(lab.store.case_count(), 0, "no case");
    assert!(
        lab.store.queued_effects().unwrap().is_empty(),
        "no draft queued"
    );
    assert!(lab.store.drafts().unwrap().is_empty(), "no draft");
    let records = lab.store.set_aside_records().unwrap();
    assert_eq!(records.len(), messages.len());
    assert!(records.iter().all(|r| r.kind == SetAsideKind::Automated));
    lab.assert_verifies();
}

#[tokio::test]
async fn the_fourth_message_in_a_day_from_one_address_is_set_aside_over_the_cap() {
    let lab = Lab::with_mail("daily_cap_per_sender = 3");
    let msg = |n: u32| {
        email(
            "loop@example.net",
            &format!("cap{n}@example.net"),
            &format!("Message {n}"),
            &format!("I am unhappy, message number {n}."),
            &[],
        )
    };
    let reference = opened(&lab.take(&msg(1)).await);
    for n in 2..=3 {
        assert_eq!(joined(&lab.take(&msg(n)).await).0, reference);
    }
    let fourth = lab.take(&msg(4)).await;
    assert!(
        matches!(
            fourth,
            Outcome::SetAside {
                kind: SetAsideKind::OverCap,
                ..
            }
        ),
        "{fourth:?}"
    );
    assert_eq!(lab.case(&reference).messages.len(), 3);
    // Someone else that day is unaffected, and the next day the sender is heard again.
    opened(
        &lab.take(&email(
            "other@example.net",
            "o1@example.net",
            "Fence",
            "The fence is down.",
            &[],
        ))
        .await,
    );
    assert_eq!(
        joined(&lab.take_at(&msg(5), at(2026, 1, 6)).await).0,
        reference
    );
    let records = lab.store.set_aside_records().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].hash, content_hash(&msg(4)));
    assert_eq!(records[0].kind, SetAsideKind::OverCap);
    assert_eq!(records[0].from.as_deref(), Some("loop@example.net"));
    lab.assert_verifies();
}

// ---------------------------------------------------------------------------------------------
// Malformed mail

/// splitmix64: a small fixed-seed generator, so every run builds the same messages.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// What a malformed message must become.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Unreadable: set aside as quarantined.
    Quarantined,
    /// Readable enough to open or join a case.
    Taken,
    /// Any outcome but a duplicate (the point is that it has one, and no panic).
    Any,
}

struct Sample {
    label: String,
    raw: Vec<u8>,
    expect: Expect,
    /// Taken in under the configuration with a lowered size limit.
    lowered: bool,
}

fn sample(label: String, raw: Vec<u8>, expect: Expect) -> Sample {
    Sample {
        label,
        raw,
        expect,
        lowered: false,
    }
}

fn nested_multipart(i: usize, depth: usize, closed: bool) -> Vec<u8> {
    let mut s = format!(
        "From: nest{i}@example.net\r\nSubject: nested {depth} {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"
    );
    for level in 0..depth {
        s.push_str(&format!(
            "--b{level}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
            level + 1
        ));
    }
    s.push_str(&format!(
        "--b{depth}\r\nContent-Type: text/plain\r\n\r\nI am unhappy at depth {depth} ({i})\r\n"
    ));
    if closed {
        for level in (0..=depth).rev() {
            s.push_str(&format!("--b{level}--\r\n"));
        }
    }
    s.into_bytes()
}

fn nested_rfc822(i: usize, depth: usize) -> Vec<u8> {
    let mut s = String::new();
    for level in 0..depth {
        s.push_str(&format!(
            "From: wrap{i}.{level}@example.net\r\nSubject: fwd {level}\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
        ));
    }
    s.push_str(&format!(
        "From: inner{i}@example.net\r\nSubject: inner\r\n\r\nThe innermost message {i}\r\n"
    ));
    s.into_bytes()
}

/// 200 broken messages, each different: `lowered` marks the one over the lowered limit.
fn malformed() -> Vec<Sample> {
    let mut rng = Rng(0x5EED_2026);
    let mut out = Vec::new();
    // A 20 MB attachment: under the default 25 MiB limit, so it is taken in.
    {
        let mut s = String::from(
            "From: big@example.net\r\nSubject: Photos of the damp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nI am unhappy, see the photos.\r\n--big\r\nContent-Type: image/jpeg; name=damp.jpg\r\nContent-Disposition: attachment; filename=damp.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
        while s.len() < 20_000_000 {
            s.push_str(line);
        }
        s.push_str("--big--\r\n");
        assert!(s.len() < 25 * 1024 * 1024);
        out.push(sample(
            "20 MB attachment".into(),
            s.into_bytes(),
            Expect::Taken,
        ));
    }
    // Over the lowered limit (1,000,000 bytes) by one byte.
    {
        let mut s = String::from("From: over@example.net\r\nSubject: too big\r\n\r\n");
        while s.len() < 1_000_000 {
            s.push('x');
        }
        s.push('!');
        assert_eq!(s.len(), 1_000_001);
        out.push(Sample {
            label: "over the lowered size limit".into(),
            raw: s.into_bytes(),
            expect: Expect::Quarantined,
            lowered: true,
        });
    }
    let kinds = 18;
    let mut i = 0;
    while out.len() < 200 {
        let n = i / kinds;
        let from = format!("sender{i}@example.net");
        let (label, raw, expect): (String, Vec<u8>, Expect) = match i % kinds {
            0 => {
                let variants = [
                    format!(
                        "From: {from}\r\nSubject: boundary never used {i}\r\nContent-Type: multipart/mixed; boundary=\"declared\"\r\n\r\n--other\r\nContent-Type: text/plain\r\n\r\nI am unhappy {i}\r\n--other--\r\n"
                    ),
                    format!(
                        "From: {from}\r\nSubject: unterminated {i}\r\nContent-Type: multipart/alternative; boundary=\"u\"\r\n\r\n--u\r\nContent-Type: text/plain\r\n\r\npart one {i}\r\n--u\r\nContent-Type: text/html\r\n\r\n<p>part two"
                    ),
                    format!(
                        "From: {from}\r\nSubject: no boundary parameter {i}\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n\r\nbody {i}\r\n----\r\n"
                    ),
                    format!(
                        "From: {from}\r\nSubject: empty boundary {i}\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n--\r\n{i}"
                    ),
                ];
                (
                    "broken MIME boundary".into(),
                    variants[n % variants.len()].clone().into_bytes(),
                    Expect::Taken,
                )
            }
            1 => {
                let mut raw = format!(
                    "From: =?x-unknown-{i}?Q?Jo_Bl=F8ggs?= <{from}>\r\nSubject: =?x-klingon-{i}?B?AAEC/w==?= leak\r\nContent-Type: text/plain; charset=x-unknown-{i}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                )
                .into_bytes();
                raw.extend(rng.bytes(64));
                ("unknown charset".into(), raw, Expect::Taken)
            }
            2 => {
                let charset = [
                    "\"utf-8\\\"; \"",
                    "",
                    "utf-7",
                    "iso-2022-jp",
                    "\u{00e9}\u{00e9}",
                    "utf-16",
                ][n % 6];
                let mut raw = format!(
                    "From: {from}\r\nSubject: invalid charset {i}\r\nContent-Type: text/plain; charset={charset}\r\n\r\n+ZeVnLIqe-\x1b$B$3$s\x1b(B "
                )
                .into_bytes();
                raw.extend([0xff, 0xfe, 0xd8, 0x00, 0xdc]);
                ("invalid charset".into(), raw, Expect::Taken)
            }
            3 => {
                let mut raw = b"From: \xc3\xc3\xa0\xa1 <".to_vec();
                raw.extend(from.as_bytes());
                raw.extend(b">\r\nSubject: \xf0\x28\x8c\x28 invalid utf-8 \xed\xa0\x80 ");
                raw.extend(i.to_string().as_bytes());
                raw.extend(b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nI am \xe2\x82 unhappy \xff\xfe\xfd\r\n");
                raw.extend(rng.bytes(32));
                ("invalid UTF-8".into(), raw, Expect::Taken)
            }
            4 => {
                let mut raw = email(
                    &from,
                    &format!("nul{i}@example.net"),
                    "NUL bytes",
                    "The heating is not working and I am fed up.",
                    &[],
                );
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(raw.len() + 1);
                    raw.insert(at, 0);
                }
                ("NUL bytes".into(), raw, Expect::Any)
            }
            5 => {
                let variants = [
                    format!("just some words from a resident {i}\r\nand another line"),
                    format!("\r\n\r\nA body after blank lines only {i}\r\n"),
                    format!("{i} no colon anywhere in this message"),
                    format!("  \tleading whitespace line {i}\r\nsecond"),
                ];
                (
                    "no headers at all".into(),
                    variants[n % variants.len()].clone().into_bytes(),
                    Expect::Quarantined,
                )
            }
            6 => {
                let variants = [
                    format!("From: {from}\r\nSubject: headers only {i}"),
                    format!("From: {from}\r\nSubject: headers only {i}\r\n"),
                    format!("From: {from}\r\nSubject: headers only {i}\r\n\r\n"),
                ];
                (
                    "headers only".into(),
                    variants[n % variants.len()].clone().into_bytes(),
                    Expect::Taken,
                )
            }
            7 => {
                // Empty, then distinct runs of white space.
                let raw: Vec<u8> = match n {
                    0 => Vec::new(),
                    _ => std::iter::repeat_n(b" \r\n\t"[n % 4], n).collect(),
                };
                ("empty".into(), raw, Expect::Quarantined)
            }
            8 => {
                let long = "a".repeat(100_000 + 1000 * n);
                let raw = if n % 2 == 0 {
                    format!("From: {from}\r\nSubject: {long}\r\n\r\nlong subject {i}\r\n")
                } else {
                    format!(
                        "From: {from}\r\nX-Long: {long}\r\nSubject: long header {i}\r\n\r\nbody\r\n"
                    )
                };
                (
                    "very long header line".into(),
                    raw.into_bytes(),
                    Expect::Taken,
                )
            }
            9 => {
                let raw = format!(
                    "To: complaints@example.org\r\nSubject: no sender {i}\r\nMessage-ID: <nofrom{i}@example.net>\r\n\r\nI am unhappy but did not say who I am.\r\n"
                );
                ("missing From".into(), raw.into_bytes(), Expect::Quarantined)
            }
            10 => {
                let value = [
                    "Jo Bloggs",
                    "<>",
                    "undisclosed-recipients:;",
                    "\"Jo Bloggs\" <>",
                    "",
                    ";",
                ][n % 6];
                let raw = format!(
                    "From: {value}\r\nSubject: from without address {i}\r\n\r\nPlease fix the door.\r\n"
                );
                (
                    "From with no address".into(),
                    raw.into_bytes(),
                    Expect::Quarantined,
                )
            }
            11 => {
                let raw = match n % 4 {
                    0 => nested_multipart(i, 500, true),
                    1 => nested_multipart(i, 500, false),
                    2 => nested_multipart(i, 3000, true),
                    _ => nested_rfc822(i, 200),
                };
                ("deeply nested".into(), raw, Expect::Any)
            }
            12 => {
                let len = 1 + rng.below(4096);
                ("random bytes".into(), rng.bytes(len), Expect::Any)
            }
            13 => {
                let (cte, body) = [
                    ("base64", "!!!not*base64***\r\n====\r\nQUJD"),
                    ("quoted-printable", "=ZZ=\r\n=0=\r\nsoft break at end="),
                    ("x-unknown", "whatever this is"),
                    ("base64", "QUJD\0REVG\r\n"),
                ][n % 4];
                let raw = format!(
                    "From: {from}\r\nSubject: bad encoding {i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}\r\n"
                );
                (
                    "broken transfer encoding".into(),
                    raw.into_bytes(),
                    Expect::Any,
                )
            }
            14 => {
                let full = format!(
                    "From: {from}\r\nSubject: truncated {i}\r\nContent-Type: multipart/mixed; boundary=\"t\"\r\n\r\n--t\r\nContent-Type: text/plain\r\n\r\nbody\r\n--t--\r\n"
                );
                let cut = 1 + rng.below(full.len() - 1);
                let mut raw = full.into_bytes();
                raw.truncate(cut);
                raw.extend(format!(" #{i}").as_bytes());
                ("truncated".into(), raw, Expect::Any)
            }
            15 => {
                let raw = [
                    format!(
                        "From: {from}\nSubject: bare LF {i}\nContent-Type: text/plain\n\nbody with LF only\n"
                    ),
                    format!("From: {from}\rSubject: bare CR {i}\r\rbody with CR only\r"),
                    format!(
                        "From: {from}\r\nthis line has no colon {i}\r\nSubject: x\r\n\r\nbody\r\n"
                    ),
                    format!(
                        "From: {from}\r\n : folded nothing\r\nSubject:\r\n\t\r\n continued {i}\r\n\r\nbody\r\n"
                    ),
                ][n % 4]
                    .clone();
                ("odd line endings".into(), raw.into_bytes(), Expect::Any)
            }
            16 => {
                let raw = [
                    format!("From: =?utf-8?B?!!!?= <{from}>\r\nSubject: =?utf-8?Q?=ZZ?= {i}\r\n\r\nbody\r\n"),
                    format!(
                        "From: =?utf-8?B?{}?= <{from}>\r\nSubject: {i}\r\n\r\nbody\r\n",
                        "QUFB".repeat(5000)
                    ),
                    format!(
                        "From: {from}\r\nSubject: {}\r\n\r\nencoded words {i}\r\n",
                        "=?utf-8?q?a?= ".repeat(5000)
                    ),
                ][n % 3]
                    .clone();
                ("broken encoded words".into(), raw.into_bytes(), Expect::Any)
            }
            _ => {
                let mut s = format!("From: {from}\r\nSubject: many headers {i}\r\n");
                for h in 0..10_000 {
                    s.push_str(&format!("X-H{h}: {h}\r\n"));
                }
                s.push_str("To: ");
                for r in 0..2_000 {
                    s.push_str(&format!("r{r}@example.net, "));
                }
                s.push_str("\r\n\r\nbody\r\n");
                ("ten thousand headers".into(), s.into_bytes(), Expect::Any)
            }
        };
        out.push(sample(format!("#{i} {label}"), raw, expect));
        i += 1;
    }
    out
}

#[tokio::test]
async fn two_hundred_malformed_messages_each_end_in_exactly_one_place_without_a_panic() {
    let lab = Lab::new();
    let lowered = load(lab.dir.path(), "max_message_bytes = 1000000");
    let samples = malformed();
    assert_eq!(samples.len(), 200);
    let hashes: BTreeSet<String> = samples.iter().map(|s| content_hash(&s.raw)).collect();
    assert_eq!(
        hashes.len(),
        200,
        "the generated messages are all different"
    );

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for s in &samples {
        let loaded = if s.lowered { &lowered } else { &lab.loaded };
        let result = std::panic::AssertUnwindSafe(take_with(&lab.store, loaded, &s.raw, monday()))
            .catch_unwind()
            .await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(_) => panic!("{}: intake panicked", s.label),
        };
        let name = match &outcome {
            Outcome::Opened { .. } => "opened".to_owned(),
            Outcome::Joined { .. } => "joined".to_owned(),
            Outcome::SetAside { kind, .. } => format!("set aside ({kind:?})"),
            Outcome::Duplicate { .. } => panic!("{}: a new message taken as a duplicate", s.label),
        };
        *tally.entry(name).or_default() += 1;
        let quarantined = matches!(
            outcome,
            Outcome::SetAside {
                kind: SetAsideKind::Quarantined,
                ..
            }
        );
        match s.expect {
            Expect::Quarantined => assert!(quarantined, "{}: {outcome:?}", s.label),
            Expect::Taken => assert!(
                matches!(outcome, Outcome::Opened { .. } | Outcome::Joined { .. }),
                "{}: {outcome:?}",
                s.label
            ),
            Expect::Any => {}
        }
        // Where the outcome says it is, the seen-marker agrees.
        let holder = lab.store.seen(&content_hash(&s.raw)).unwrap();
        match &outcome {
            Outcome::Opened { reference, .. } | Outcome::Joined { reference, .. } => {
                assert_eq!(holder.as_ref(), Some(reference), "{}", s.label)
            }
            _ => assert_eq!(holder.as_deref(), Some(SET_ASIDE_HOLDER), "{}", s.label),
        }
    }
    println!("outcomes of 200 malformed messages: {tally:?}");

    let held = holders(&lab.store);
    let mut places = 0;
    for s in &samples {
        let hash = content_hash(&s.raw);
        let at = held.get(&hash).cloned().unwrap_or_default();
        assert_eq!(
            at.len(),
            1,
            "{} is held {} times: {at:?}",
            s.label,
            at.len()
        );
        places += 1;
    }
    let total: usize = held.values().map(Vec::len).sum();
    assert_eq!(total, places, "nothing held that was not sent");
    assert_eq!(total, 200);
    assert_eq!(
        lab.store.set_aside_records().unwrap().len()
            + lab
                .cases()
                .iter()
                .map(|c| c
                    .messages
                    .iter()
                    .filter(|m| m.source_hash.is_some())
                    .count())
                .sum::<usize>(),
        200,
        "set-aside records and case messages account for every message"
    );
    lab.assert_verifies();
}

/// `first_mailbox` accepts any non-empty string as the sender's address: a message whose
/// From holds no usable address (`<@>`, `<jo>`, `jo@`, `@example.net`, a NUL, or what
/// mail-parser returns for a From with an unclosed comment) opens a case with that as the
/// resident's email, and its acknowledgement can never be sent.
#[tokio::test]

async fn a_from_without_a_usable_address_is_quarantined() {
    let lab = Lab::new();
    let values: [&[u8]; 8] = [
        b"<@>",
        b"\"Jo\" <@>",
        b"<jo>",
        b"jo@",
        b"@example.net",
        b"<\0>",
        b"Jo (Flat 3 <jo@example.net>",
        b"\xc3( <jo@example.net>",
    ];
    for (n, value) in values.iter().enumerate() {
        let mut raw = b"From: ".to_vec();
        raw.extend(*value);
        raw.extend(format!("\r\nSubject: no address {n}\r\n\r\nPlease fix the door.\r\n").bytes());
        let outcome = lab.take(&raw).await;
        assert!(
            matches!(
                outcome,
                Outcome::SetAside {
                    kind: SetAsideKind::Quarantined,
                    ..
                }
            ),
            "From: {:?} → {outcome:?}",
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(lab.store.case_count(), 0);
}

/// The same bug, seen from the residents' side: two different people whose From lines both
/// have an unclosed comment are both read as sender `jo`, so the second one's message is
/// threaded onto the first one's case (sender + one open case) and the first resident's
/// case file gains a stranger's letter.
#[tokio::test]

async fn two_residents_with_unreadable_from_lines_are_not_merged_into_one_case() {
    let lab = Lab::new();
    let first = lab
        .take(&email(
            "Jo (Flat 3 <jo@a.example>",
            "x1@a.example",
            "Damp",
            "I am unhappy about the damp in flat 3.",
            &[],
        ))
        .await;
    let second = lab
        .take(&email(
            "Jo (Flat 5 <jo@b.example>",
            "x2@b.example",
            "Noise",
            "The lift in block B has been broken for a week.",
            &[],
        ))
        .await;
    if let (Outcome::Opened { reference, .. }, Outcome::Joined { reference: to, .. }) =
        (&first, &second)
    {
        assert_ne!(
            reference, to,
            "a different resident's message joined {reference}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Maildir

/// Delivers a message into the Maildir the way an MTA does: write in tmp/, rename into new/.
fn deliver(root: &Path, name: &str, raw: &[u8]) {
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::create_dir_all(root.join("new")).unwrap();
    let tmp = root.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, root.join("new").join(name)).unwrap();
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

struct MaildirLab {
    lab: Lab,
    root: PathBuf,
}

/// Four messages in new/: a complaint, a reply from the same resident, an out-of-office reply
/// and one with no sender (unreadable).
fn maildir_lab() -> MaildirLab {
    let lab = Lab::new();
    let root = lab.dir.path().join("maildir");
    prepare(&root).expect("maildir prepared");
    deliver(
        &root,
        "1000.a.host",
        &email(
            "jo@example.net",
            "m1@example.net",
            "Damp",
            "I am unhappy about the damp.",
            &[],
        ),
    );
    deliver(
        &root,
        "1001.b.host",
        &email(
            "jo@example.net",
            "m2@example.net",
            "Damp (photos)",
            "Photos attached.",
            &[],
        ),
    );
    deliver(
        &root,
        "1002.c.host",
        &email(
            "away@example.net",
            "m3@example.net",
            "Out of office",
            "I am away.",
            &["Auto-Submitted: auto-replied"],
        ),
    );
    deliver(
        &root,
        "1003.d.host",
        b"To: complaints@example.org\r\nSubject: who am I\r\n\r\nno sender\r\n",
    );
    MaildirLab { lab, root }
}

#[tokio::test]
async fn a_maildir_scan_takes_in_new_mail_moves_it_to_cur_and_a_second_scan_does_nothing() {
    let MaildirLab { lab, root } = maildir_lab();
    let outcomes = scan_once(&lab.store, &lab.loaded, &root)
        .await
        .expect("scan");
    let got: Vec<&str> = outcomes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        got,
        vec!["1000.a.host", "1001.b.host", "1002.c.host", "1003.d.host"],
        "in file-name order"
    );
    let reference = opened(&outcomes[0].1);
    assert_eq!(joined(&outcomes[1].1).0, reference);
    assert!(matches!(
        outcomes[2].1,
        Outcome::SetAside {
            kind: SetAsideKind::Automated,
            ..
        }
    ));
    assert!(matches!(
        outcomes[3].1,
        Outcome::SetAside {
            kind: SetAsideKind::Quarantined,
            ..
        }
    ));
    assert!(names(&root.join("new")).is_empty(), "new/ is empty");
    assert_eq!(
        names(&root.join("cur")),
        BTreeSet::from([
            "1000.a.host:2,S".to_owned(),
            "1001.b.host:2,S".to_owned(),
            "1002.c.host:2,S".to_owned()
        ])
    );
    assert_eq!(
        names(&root.join(".Quarantine/cur")),
        BTreeSet::from(["1003.d.host:2,S".to_owned()])
    );

    let again = scan_once(&lab.store, &lab.loaded, &root)
        .await
        .expect("second scan");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(lab.store.case_count(), 1);
    assert_eq!(lab.case(&reference).messages.len(), 2);
    assert_eq!(lab.store.set_aside_records().unwrap().len(), 2);
    assert_eq!(names(&root.join("cur")).len(), 3);
    assert_eq!(names(&root.join(".Quarantine/cur")).len(), 1);
    lab.assert_verifies();
}

#[tokio::test]
async fn a_file_left_in_new_after_a_crash_is_found_duplicate_and_moved_with_no_second_case() {
    let MaildirLab { lab, root } = maildir_lab();
    let first = scan_once(&lab.store, &lab.loaded, &root)
        .await
        .expect("scan");
    let reference = opened(&first[0].1);

    // The crash: the case change was stored but the rename out of new/ never happened.
    for name in ["1000.a.host", "1001.b.host", "1002.c.host"] {
        std::fs::copy(
            root.join("cur").join(format!("{name}:2,S")),
            root.join("new").join(name),
        )
        .unwrap();
    }
    let outcomes = scan_once(&lab.store, &lab.loaded, &root)
        .await
        .expect("scan after the crash");
    assert_eq!(
        outcomes,
        vec![
            (
                "1000.a.host".to_owned(),
                Outcome::Duplicate {
                    holder: reference.clone()
                }
            ),
            (
                "1001.b.host".to_owned(),
                Outcome::Duplicate {
                    holder: reference.clone()
                }
            ),
            (
                // Set aside before, set aside again (same kind and reason): never a case.
                "1002.c.host".to_owned(),
                Outcome::SetAside {
                    kind: SetAsideKind::Automated,
                    reason: "Auto-Submitted: auto-replied".to_owned()
                }
            ),
        ]
    );
    assert!(names(&root.join("new")).is_empty());
    assert_eq!(names(&root.join("cur")).len(), 3, "each file in cur/ once");
    assert_eq!(lab.store.case_count(), 1, "no second case");
    assert_eq!(lab.case(&reference).messages.len(), 2);
    assert_eq!(lab.store.set_aside_records().unwrap().len(), 2);
    assert!(
        scan_once(&lab.store, &lab.loaded, &root)
            .await
            .unwrap()
            .is_empty()
    );
    lab.assert_verifies();
}

/// A quarantined message whose set-aside record was stored just before a crash (so the file
/// is still in new/) comes back as a duplicate, and `scan_once` moves every duplicate to cur/:
/// the unreadable message lands among the processed mail instead of the quarantine folder.
#[tokio::test]

async fn a_quarantined_file_left_in_new_after_a_crash_still_goes_to_quarantine() {
    let MaildirLab { lab, root } = maildir_lab();
    scan_once(&lab.store, &lab.loaded, &root)
        .await
        .expect("scan");
    std::fs::rename(
        root.join(".Quarantine/cur/1003.d.host:2,S"),
        root.join("new/1003.d.host"),
    )
    .unwrap();
    let outcomes = scan_once(&lab.store, &lab.loaded, &root)
        .await
        .expect("scan after the crash");
    assert_eq!(
        outcomes,
        vec![(
            "1003.d.host".to_owned(),
            Outcome::SetAside {
                kind: SetAsideKind::Quarantined,
                reason: "the message has no sender address (From)".to_owned()
            }
        )]
    );
    assert!(names(&root.join("new")).is_empty());
    assert_eq!(
        names(&root.join(".Quarantine/cur")),
        BTreeSet::from(["1003.d.host:2,S".to_owned()]),
        "the unreadable message is back in quarantine"
    );
    assert!(!names(&root.join("cur")).contains("1003.d.host:2,S"));
}

// ---------------------------------------------------------------------------------------------
// `redress ingest`

#[test]
fn ingest_with_a_received_date_starts_the_codes_clock_on_that_day() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("redress.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let file = dir.path().join("FILE.eml");
    std::fs::write(
        &file,
        email(
            "Jo Bloggs <jo@example.net>",
            "paper-log-17@example.net",
            "Mould",
            "I want to complain: the mould in the bedroom is back.",
            &[],
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["ingest", "--received", "2026-01-05"])
        .arg(&file)
        .arg("--config")
        .arg(&config)
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("one JSON line");
    assert_eq!(line["result"]["outcome"], "opened", "{line}");
    assert_eq!(line["result"]["kind"], "complaint", "{line}");
    let reference = line["result"]["reference"].as_str().unwrap().to_owned();
    assert_eq!(reference, "EH-2026-00001");

    let loaded = config::load(&config, std::iter::empty()).unwrap();
    let store = Store::open(&loaded.store_path, "EH").unwrap();
    let case = store.require_case(&reference).unwrap();
    assert_eq!(case.received, day(2026, 1, 5));
    let stage1 = &case.stages[&Stage::One];
    assert_eq!(stage1.received, day(2026, 1, 5));
    assert_eq!(stage1.ack_due, day(2026, 1, 12), "5 working days");
    assert_eq!(case.messages[0].date, day(2026, 1, 5));
    assert_eq!(
        store.verify(loaded.rules()).unwrap().problems,
        Vec::<String>::new()
    );
}

#[test]
fn case_show_prints_why_the_classifier_decided() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("redress.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let file = dir.path().join("tap.eml");
    std::fs::write(
        &file,
        email(
            "jo@example.net",
            "tap-cli@example.net",
            "Kitchen tap",
            "Please can you fix my dripping kitchen tap",
            &[],
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("REDRESS_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let line: serde_json::Value =
        serde_json::from_str(run(&["ingest", file.to_str().unwrap()]).trim()).unwrap();
    let reference = line["result"]["reference"].as_str().unwrap().to_owned();

    let shown = run(&["case", "show", &reference]);
    assert!(
        shown.contains("classified service_request (confidence"),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.trim_start().starts_with("rule service_request.") && l.contains("matched")),
        "{shown}"
    );
    assert!(shown.contains("learned component: "), "{shown}");

    let json: serde_json::Value =
        serde_json::from_str(&run(&["case", "show", &reference, "--json"])).unwrap();
    let class = &json["case"]["messages"][0]["classification"];
    assert_eq!(class["kind"], "service_request", "{json}");
    assert!(
        class["rules"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["matched"].as_str().is_some())),
        "{json}"
    );
}
