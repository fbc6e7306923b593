//! The case store on a real sled database in a temporary directory: references, the one write
//! path (event, snapshot, indexes and queued effects together), queries, export and import,
//! verification, and what opening refuses.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use redress::core::calendar::Calendar;
use redress::core::code::{PolicyProfile, Stage};
use redress::core::event::{Event, Opened};
use redress::core::model::{
    CaseKind, Channel, ComplaintDefinition, Contact, Direction, DueKind, Flag, LinkedMessage,
    Status,
};
use redress::core::workflow::{Effect, LetterKind, Rules, WorkflowError};
use redress::store::{Store, StoreError};

/// The calendar and policy every test runs under.
struct Setup {
    cal: Calendar,
    policy: PolicyProfile,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            cal: Calendar::england_and_wales(),
            policy: PolicyProfile::code_2024(),
        }
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            calendar: &self.cal,
            policy: &self.policy,
        }
    }
}

const STAFF: &str = "sam.handler@example.org";

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test dates are valid")
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test timestamps are valid")
}

/// sled releases its file lock from a background thread shortly after the last handle is
/// dropped, so reopening a directory in the same process retries briefly while it is held.
fn retry_while_locked<T, E>(
    mut open: impl FnMut() -> Result<T, E>,
    locked: fn(&E) -> bool,
) -> Result<T, E> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open() {
            Err(e) if locked(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// `Store::open`, waiting for a handle this process just dropped to let go of the lock.
fn reopen(path: &Path) -> Result<Store, StoreError> {
    retry_while_locked(
        || Store::open(path, "DH"),
        |e| matches!(e, StoreError::Locked { .. }),
    )
}

fn open_store(path: &Path) -> Store {
    reopen(path).expect("the store opens")
}

fn opened(kind: CaseKind, received: &str, email: &str) -> Opened {
    Opened {
        kind,
        received: d(received),
        channel: Channel::Email,
        complainant: Contact {
            name: Some("Jo Resident".into()),
            email: Some(email.into()),
            ..Contact::default()
        },
        representative: None,
        group_members: Vec::new(),
        summary: "Damp in the back bedroom, reported twice".into(),
        flags: Vec::new(),
        message: None,
        handler: None,
        linked_to: None,
    }
}

fn complaint(received: &str) -> Opened {
    opened(CaseKind::Complaint, received, "jo@example.net")
}

fn definition() -> Event {
    Event::DefinitionRecorded {
        definition: ComplaintDefinition {
            understanding: "Damp has not been treated".into(),
            outcome_sought: "Treat the damp and redecorate".into(),
            responsible_for: "Repairs to the structure".into(),
            not_responsible_for: "Contents insurance".into(),
        },
    }
}

async fn new_case(store: &Store, s: &Setup, opened: Opened) -> String {
    store
        .open_case(opened, STAFF, at("2026-01-05T09:00:00Z"), s.rules())
        .await
        .expect("the case opens")
        .case
        .reference
}

async fn record(store: &Store, s: &Setup, reference: &str, event: Event) {
    store
        .record(
            reference,
            event,
            STAFF,
            at("2026-01-06T09:00:00Z"),
            s.rules(),
        )
        .await
        .expect("the event is recorded");
}

fn export_bytes(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    store.export(&mut out).expect("export succeeds");
    out
}

/// Everything the store answers from its records and indexes, for before/after comparisons.
fn fingerprint(store: &Store) -> String {
    let mut out = String::from_utf8(export_bytes(store)).expect("export is UTF-8");
    for case in store.cases() {
        let case = case.expect("case decodes");
        out.push_str(&serde_json::to_string(&case).expect("case encodes"));
        out.push('\n');
        for key in case.contact_keys() {
            let refs = store.references_for_contact(&key).expect("contact query");
            out.push_str(&format!("contact {key} {refs:?}\n"));
        }
        for id in case.message_ids() {
            let found = store.reference_for_message(id).expect("message query");
            out.push_str(&format!("message {id} {found:?}\n"));
        }
    }
    for entry in store.due(None, usize::MAX).expect("due query") {
        out.push_str(&format!(
            "due {} {} {}\n",
            entry.due, entry.reference, entry.what
        ));
    }
    for status in Status::ALL {
        let refs = store.references_with_status(status).expect("status query");
        out.push_str(&format!("status {} {refs:?}\n", status.as_str()));
    }
    for effect in store.queued_effects().expect("queue query") {
        out.push_str(&format!("queued {} {:?}\n", effect.id, effect.queued));
    }
    out
}

fn assert_verify_clean(store: &Store, s: &Setup) {
    let report = store.verify(s.rules()).expect("verify runs");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Reopens the store's directory with sled directly, runs `f` on the `redress` tree and flushes.
fn with_raw_tree(path: &Path, f: impl FnOnce(&sled::Tree)) {
    let db = retry_while_locked(
        || sled::open(path),
        |e| e.to_string().contains("could not acquire lock"),
    )
    .expect("sled opens the directory");
    let tree = db.open_tree("redress").expect("the tree opens");
    f(&tree);
    db.flush().expect("sled flushes");
}

#[tokio::test]
async fn references_are_sequential_per_year_of_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    {
        let store = open_store(dir.path());
        assert_eq!(
            new_case(&store, &s, complaint("2026-03-02")).await,
            "DH-2026-00001"
        );
        assert_eq!(
            new_case(&store, &s, complaint("2026-03-03")).await,
            "DH-2026-00002"
        );
        assert_eq!(
            new_case(&store, &s, complaint("2025-12-30")).await,
            "DH-2025-00001"
        );
    }
    let store = open_store(dir.path());
    assert_eq!(
        new_case(&store, &s, complaint("2026-04-01")).await,
        "DH-2026-00003"
    );
    assert_eq!(
        new_case(&store, &s, complaint("2025-11-03")).await,
        "DH-2025-00002"
    );
    assert_eq!(store.case_count(), 5);
}

#[tokio::test]
async fn open_case_writes_event_one_a_snapshot_and_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(dir.path());
    let mut first = opened(CaseKind::Complaint, "2026-12-18", "Jo@Example.NET");
    first.message = Some(LinkedMessage {
        message_id: "<abc.123@mail.example.net>".into(),
        direction: Direction::Inbound,
        channel: Channel::Email,
        date: d("2026-12-18"),
        summary: "Complaint about damp".into(),
        source_hash: None,
        classification: None,
    });
    let commit = store
        .open_case(first.clone(), STAFF, at("2026-12-18T14:30:00Z"), s.rules())
        .await
        .unwrap();
    let r = commit.case.reference.clone();
    assert_eq!(r, "DH-2026-00001");
    assert!(commit.linked.is_none());

    let events = store.events(&r).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].reference, r);
    assert_eq!(events[0].actor, STAFF);
    assert_eq!(events[0].at, at("2026-12-18T14:30:00Z"));
    assert_eq!(events[0].event, Event::Opened(first));

    let snapshot = store.require_case(&r).unwrap();
    assert_eq!(snapshot, commit.case);
    assert_eq!(snapshot.version, 1);
    assert_eq!(snapshot.status, Status::Received);

    // Received Friday 18 December 2026: 25 and 28 December are bank holidays (Boxing Day falls
    // on a Saturday), so the fifth working day is Tuesday 29 December.
    let due = store.due(None, 10).unwrap();
    let found: Vec<_> = due
        .iter()
        .map(|e| (e.due, e.reference.as_str(), e.what.as_str()))
        .collect();
    let response_due = s.cal.add_working_days(d("2026-12-29"), 10);
    assert_eq!(response_due, d("2027-01-13"));
    assert_eq!(
        found,
        vec![
            (d("2026-12-29"), r.as_str(), "ack1"),
            (response_due, r.as_str(), "response1"),
        ]
    );

    assert_eq!(
        store.references_with_status(Status::Received).unwrap(),
        vec![r.clone()]
    );
    assert!(
        store
            .references_with_status(Status::Acknowledged)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .references_for_contact("email:jo@example.net")
            .unwrap(),
        vec![r.clone()]
    );
    assert!(
        store
            .references_for_contact("email:Jo@Example.NET")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .reference_for_message("<abc.123@mail.example.net>")
            .unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        store.reference_for_message("<other@example.net>").unwrap(),
        None
    );

    let queued = store.queued_effects().unwrap();
    assert!(
        queued.iter().any(|q| q.queued.reference == r
            && q.queued.seq == 1
            && q.queued.effect == Effect::Draft(LetterKind::Acknowledgement { stage: Stage::One })),
        "{queued:?}"
    );
    // Deadlines are indexed, not queued.
    assert!(
        queued
            .iter()
            .all(|q| !matches!(q.queued.effect, Effect::Deadline(_)))
    );
    assert_verify_clean(&store, &s);
}

#[tokio::test]
async fn recording_events_updates_indexes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(dir.path());
    let r = new_case(&store, &s, complaint("2026-12-18")).await;
    let before: Vec<_> = store.due(None, 10).unwrap();
    assert_eq!(before.len(), 2);

    record(&store, &s, &r, definition()).await;
    // A definition changes no index.
    assert_eq!(store.due(None, 10).unwrap(), before);
    assert_eq!(
        store.references_with_status(Status::Received).unwrap(),
        vec![r.clone()]
    );

    record(
        &store,
        &s,
        &r,
        Event::Acknowledged {
            on: d("2026-12-21"),
        },
    )
    .await;
    assert!(
        store
            .references_with_status(Status::Received)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.references_with_status(Status::Acknowledged).unwrap(),
        vec![r.clone()]
    );
    // The acknowledgement entry is gone and the response is due 10 working days after the actual
    // acknowledgement (22, 23, 24, 29, 30, 31 December, 4, 5, 6, 7 January).
    let due = store.due(None, 10).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].reference, r);
    assert_eq!(due[0].what, "response1");
    assert_eq!(due[0].due, d("2027-01-07"));
    assert_eq!(due[0].due, s.cal.add_working_days(d("2026-12-21"), 10));
    assert_eq!(store.events(&r).unwrap().len(), 3);
    assert_eq!(store.require_case(&r).unwrap().version, 3);
    assert_verify_clean(&store, &s);

    record(
        &store,
        &s,
        &r,
        Event::Closed {
            on: d("2026-12-22"),
            reason: "withdrawn by the resident".into(),
        },
    )
    .await;
    assert!(store.due(None, 10).unwrap().is_empty());
    assert!(
        store
            .references_with_status(Status::Acknowledged)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.references_with_status(Status::Closed).unwrap(),
        vec![r.clone()]
    );
    // The contact index keeps closed cases: a new message still finds its history.
    assert_eq!(
        store
            .references_for_contact("email:jo@example.net")
            .unwrap(),
        vec![r]
    );
    assert_verify_clean(&store, &s);
}

#[tokio::test]
async fn a_refused_event_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(dir.path());
    let r = new_case(&store, &s, complaint("2026-12-18")).await;
    let other = new_case(&store, &s, complaint("2026-12-21")).await;
    record(&store, &s, &other, definition()).await;
    let before = fingerprint(&store);
    let snapshot = store.require_case(&r).unwrap();

    let refused = store
        .record(
            &r,
            Event::Acknowledged {
                on: d("2026-12-21"),
            },
            STAFF,
            at("2026-12-21T10:00:00Z"),
            s.rules(),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Workflow(WorkflowError::DefinitionMissing))
        ),
        "{refused:?}"
    );
    assert_eq!(store.events(&r).unwrap().len(), 1);
    assert_eq!(store.require_case(&r).unwrap(), snapshot);
    assert_eq!(fingerprint(&store), before);

    // Acknowledging before receipt is refused too, on a case that does have a definition.
    let refused = store
        .record(
            &other,
            Event::Acknowledged {
                on: d("2026-12-01"),
            },
            STAFF,
            at("2026-12-21T10:00:00Z"),
            s.rules(),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Workflow(WorkflowError::DateOrder { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(fingerprint(&store), before);

    let missing = store
        .record(
            "DH-2026-00099",
            definition(),
            STAFF,
            at("2026-12-21T10:00:00Z"),
            s.rules(),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(ref m)) if m == "DH-2026-00099"),
        "{missing:?}"
    );
    assert_eq!(fingerprint(&store), before);

    // The same store still accepts a valid change afterwards, and it survives a reopen.
    record(&store, &s, &r, definition()).await;
    assert_eq!(store.events(&r).unwrap().len(), 2);
    drop(store);
    let store = open_store(dir.path());
    assert_eq!(store.events(&r).unwrap().len(), 2);
    assert_verify_clean(&store, &s);
}

#[tokio::test]
async fn code_1_5_dissatisfaction_with_a_service_request_opens_a_linked_complaint() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(dir.path());
    let sr = new_case(
        &store,
        &s,
        opened(CaseKind::ServiceRequest, "2026-03-02", "jo@example.net"),
    )
    .await;
    assert_eq!(sr, "DH-2026-00001");
    let queued_before = store.queued_effects().unwrap().len();

    let commit = store
        .record(
            &sr,
            Event::DissatisfiedWithResponse {
                received: d("2026-03-09"),
                summary: "The repair was not done properly".into(),
                message: None,
            },
            STAFF,
            at("2026-03-09T11:00:00Z"),
            s.rules(),
        )
        .await
        .unwrap();
    let linked = commit.linked.expect("a linked complaint is opened");
    assert_eq!(linked.reference, "DH-2026-00002");
    assert_eq!(linked.kind, CaseKind::Complaint);
    assert_eq!(linked.stage, Some(Stage::One));
    assert_eq!(linked.status, Status::Received);
    assert_eq!(linked.linked_cases, vec![sr.clone()]);
    assert!(linked.flags.contains(&Flag::Dissatisfaction));
    assert_eq!(linked.received, d("2026-03-09"));
    assert_eq!(store.require_case(&linked.reference).unwrap(), linked);

    // The service request carries on: still received, now linked to the complaint.
    assert_eq!(commit.case.reference, sr);
    assert_eq!(commit.case.status, Status::Received);
    assert_eq!(commit.case.linked_cases, vec![linked.reference.clone()]);
    let sr_case = store.require_case(&sr).unwrap();
    assert_eq!(sr_case, commit.case);
    let sr_events = store.events(&sr).unwrap();
    let names: Vec<_> = sr_events.iter().map(|e| e.event.name()).collect();
    assert_eq!(
        names,
        ["opened", "dissatisfied_with_response", "case_linked"]
    );
    assert_eq!(
        sr_events[2].event,
        Event::CaseLinked {
            reference: linked.reference.clone()
        }
    );
    assert_eq!(
        sr_events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    let complaint_events = store.events(&linked.reference).unwrap();
    assert_eq!(complaint_events.len(), 1);
    let Event::Opened(o) = &complaint_events[0].event else {
        panic!("the complaint's first event is `opened`");
    };
    assert_eq!(o.linked_to.as_deref(), Some(sr.as_str()));

    let mut received = store.references_with_status(Status::Received).unwrap();
    received.sort();
    assert_eq!(received, vec![sr.clone(), linked.reference.clone()]);
    let mut by_contact = store
        .references_for_contact("email:jo@example.net")
        .unwrap();
    by_contact.sort();
    assert_eq!(by_contact, vec![sr.clone(), linked.reference.clone()]);
    let due = store.due(None, 10).unwrap();
    assert!(
        due.iter()
            .any(|e| e.reference == linked.reference && e.what == "ack1")
    );
    assert!(
        due.iter()
            .any(|e| e.reference == linked.reference && e.what == "response1")
    );
    let queued = store.queued_effects().unwrap();
    assert_eq!(queued.len(), queued_before + 1);
    assert!(queued.iter().any(|q| q.queued.reference == linked.reference
        && q.queued.effect == Effect::Draft(LetterKind::Acknowledgement { stage: Stage::One })));
    assert_verify_clean(&store, &s);

    // Dissatisfaction is a service-request event; on a complaint it is refused and writes nothing.
    let before = fingerprint(&store);
    let refused = store
        .record(
            &linked.reference,
            Event::DissatisfiedWithResponse {
                received: d("2026-03-10"),
                summary: "again".into(),
                message: None,
            },
            STAFF,
            at("2026-03-10T11:00:00Z"),
            s.rules(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Workflow(_))),
        "{refused:?}"
    );
    assert_eq!(fingerprint(&store), before);
    assert_eq!(
        new_case(&store, &s, complaint("2026-03-11")).await,
        "DH-2026-00003"
    );
}

#[tokio::test]
async fn due_is_ordered_by_date_across_many_cases_and_respects_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(dir.path());
    // Receipt dates out of order, over several months and two years.
    let mut day = d("2025-10-01");
    let mut received = Vec::new();
    for i in 0..40u64 {
        day = day + chrono::Days::new((i * 37) % 11 + 1);
        received.push(day);
    }
    received.reverse();
    received.swap(3, 30);
    for (i, r) in received.iter().enumerate() {
        let kind = if i % 5 == 4 {
            CaseKind::ServiceRequest
        } else {
            CaseKind::Complaint
        };
        let o = opened(kind, &r.to_string(), &format!("resident{i}@example.net"));
        new_case(&store, &s, o).await;
    }
    // A few acknowledged, so the response dates move and ack entries drop out.
    let complaints: Vec<_> = store
        .cases()
        .map(Result::unwrap)
        .filter(|c| c.kind == CaseKind::Complaint)
        .collect();
    for c in [&complaints[0], &complaints[9], &complaints[20]] {
        record(&store, &s, &c.reference, definition()).await;
        let on = c.received + chrono::Days::new(1);
        record(&store, &s, &c.reference, Event::Acknowledged { on }).await;
    }

    let all = store.due(None, usize::MAX).unwrap();
    assert_eq!(complaints.len(), received.len() - received.len() / 5);
    assert_eq!(
        all.len(),
        2 * complaints.len() - 3,
        "service requests under code-2024 have no target"
    );
    for pair in all.windows(2) {
        assert!(
            pair[0].due <= pair[1].due,
            "{:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
    // Each entry agrees with its case's own due items.
    for entry in &all {
        let case = store.require_case(&entry.reference).unwrap();
        assert!(
            case.due_items()
                .iter()
                .any(|i| i.due == entry.due && i.what.key() == entry.what),
            "{entry:?}"
        );
    }
    let indexed: usize = store.cases().map(|c| c.unwrap().due_items().len()).sum();
    assert_eq!(indexed, all.len());

    assert_eq!(store.due(None, 7).unwrap(), all[..7]);
    assert!(store.due(None, 0).unwrap().is_empty());

    let from = all[all.len() / 2].due;
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e.due >= from)
        .take(5)
        .cloned()
        .collect();
    let got = store.due(Some(from), 5).unwrap();
    assert_eq!(got, expected);
    assert_eq!(got[0].due, from);
    // A date with nothing due starts at the next date that has something.
    let gap = all
        .windows(2)
        .find(|p| p[1].due > p[0].due.succ_opt().unwrap())
        .expect("some dates have nothing due");
    let next = store.due(gap[0].due.succ_opt(), 1).unwrap();
    assert_eq!(next, vec![gap[1].clone()]);
    // Past the last entry: nothing, not the next tree prefix.
    let last = all.last().unwrap().due;
    assert!(store.due(last.succ_opt(), 10).unwrap().is_empty());
    assert!(
        all.iter()
            .any(|e| e.what == DueKind::Response { stage: Stage::One }.key())
    );
}

/// A store with a bit of everything: two years, several events per case, a linked complaint.
async fn populated(path: &Path, s: &Setup) -> Store {
    let store = open_store(path);
    let a = new_case(&store, s, complaint("2026-02-02")).await;
    record(&store, s, &a, definition()).await;
    record(
        &store,
        s,
        &a,
        Event::Acknowledged {
            on: d("2026-02-03"),
        },
    )
    .await;
    record(
        &store,
        s,
        &a,
        Event::HandlerAssigned {
            handler: STAFF.into(),
        },
    )
    .await;
    let b = new_case(&store, s, complaint("2025-11-10")).await;
    record(&store, s, &b, definition()).await;
    let sr = new_case(
        &store,
        s,
        opened(CaseKind::ServiceRequest, "2026-02-03", "al@example.org"),
    )
    .await;
    let mut message = LinkedMessage {
        message_id: "<sr-1@example.org>".into(),
        direction: Direction::Inbound,
        channel: Channel::Email,
        date: d("2026-02-10"),
        summary: "Still not fixed".into(),
        source_hash: None,
        classification: None,
    };
    store
        .record(
            &sr,
            Event::DissatisfiedWithResponse {
                received: d("2026-02-10"),
                summary: "Still not fixed".into(),
                message: Some(message.clone()),
            },
            STAFF,
            at("2026-02-10T08:00:00Z"),
            s.rules(),
        )
        .await
        .unwrap();
    message.message_id = "<reply-2@example.org>".into();
    message.direction = Direction::Outbound;
    record(&store, s, &a, Event::MessageLinked { message }).await;
    store
}

#[tokio::test]
async fn export_then_import_then_export_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("one"), &s).await;
    let first = export_bytes(&store);
    let lines = first.iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, 11);

    let restored = open_store(&dir.path().join("two"));
    let count = restored.import(first.as_slice(), s.rules()).await.unwrap();
    assert_eq!(count, 11);
    assert_eq!(export_bytes(&restored), first);
    assert_eq!(restored.case_count(), store.case_count());
    for case in store.cases() {
        let case = case.unwrap();
        assert_eq!(restored.require_case(&case.reference).unwrap(), case);
    }
    assert_eq!(
        restored.due(None, 100).unwrap(),
        store.due(None, 100).unwrap()
    );
    for status in Status::ALL {
        assert_eq!(
            restored.references_with_status(status).unwrap(),
            store.references_with_status(status).unwrap()
        );
    }
    assert_eq!(
        restored
            .reference_for_message("<sr-1@example.org>")
            .unwrap(),
        store.reference_for_message("<sr-1@example.org>").unwrap()
    );
    assert_eq!(
        restored
            .reference_for_message("<reply-2@example.org>")
            .unwrap()
            .as_deref(),
        Some("DH-2026-00001")
    );
    // Effects were carried out when the events first happened; a restore queues none again.
    assert!(restored.queued_effects().unwrap().is_empty());
    assert_verify_clean(&restored, &s);

    // And it survives a reopen.
    drop(restored);
    let restored = open_store(&dir.path().join("two"));
    assert_eq!(export_bytes(&restored), first);
}

#[tokio::test]
async fn import_into_a_non_empty_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("one"), &s).await;
    let export = export_bytes(&store);
    let target = open_store(&dir.path().join("two"));
    let only = new_case(&target, &s, complaint("2026-05-05")).await;
    let before = fingerprint(&target);
    let refused = target.import(export.as_slice(), s.rules()).await;
    assert!(
        matches!(refused, Err(StoreError::NotEmpty { .. })),
        "{refused:?}"
    );
    assert_eq!(fingerprint(&target), before);
    assert_eq!(target.case_count(), 1);
    assert_eq!(target.events(&only).unwrap().len(), 1);
}

fn import_error(result: Result<usize, StoreError>) -> (usize, String) {
    match result {
        Err(StoreError::Import { line, message }) => (line, message),
        other => panic!("expected an import error, got {other:?}"),
    }
}

#[tokio::test]
async fn import_reports_the_line_of_a_sequence_gap_or_a_malformed_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("source"), &s).await;
    let export = String::from_utf8(export_bytes(&store)).unwrap();
    let lines: Vec<&str> = export.lines().collect();
    // Reference order: DH-2025-00001 (2 events), then DH-2026-00001 (5 events), ...
    assert!(lines[0].contains("DH-2025-00001") && lines[2].contains("DH-2026-00001"));
    let targets = std::cell::Cell::new(0);
    let empty_store = || {
        targets.set(targets.get() + 1);
        open_store(&dir.path().join(format!("target{}", targets.get())))
    };

    // Event 2 of DH-2026-00001 (line 4) dropped: line 4 now holds event 3.
    let mut gap = lines.clone();
    gap.remove(3);
    let (line, message) = import_error(
        empty_store()
            .import(gap.join("\n").as_bytes(), s.rules())
            .await,
    );
    assert_eq!(line, 4, "{message}");
    assert!(
        message.contains("DH-2026-00001") && message.contains("event 3"),
        "{message}"
    );

    // A case whose log starts at event 2.
    let mut headless = lines.clone();
    headless.remove(0);
    let (line, message) = import_error(
        empty_store()
            .import(headless.join("\n").as_bytes(), s.rules())
            .await,
    );
    assert_eq!(line, 1, "{message}");

    // A malformed line 6.
    let mut malformed = lines.clone();
    malformed[5] = "{\"reference\": \"DH-2026-00001\", \"seq\":";
    let (line, _) = import_error(
        empty_store()
            .import(malformed.join("\n").as_bytes(), s.rules())
            .await,
    );
    assert_eq!(line, 6);

    // Line numbers count blank lines too: they are the file's own lines.
    let mut spaced = lines.clone();
    spaced.insert(2, "");
    spaced.insert(3, "   ");
    spaced[7] = "not json";
    let (line, _) = import_error(
        empty_store()
            .import(spaced.join("\n").as_bytes(), s.rules())
            .await,
    );
    assert_eq!(line, 8);

    // Valid JSON that is not an event.
    let mut wrong = lines.clone();
    wrong[1] = "{\"hello\": 1}";
    let (line, _) = import_error(
        empty_store()
            .import(wrong.join("\n").as_bytes(), s.rules())
            .await,
    );
    assert_eq!(line, 2);
}

#[tokio::test]
async fn after_import_the_next_case_continues_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("one"), &s).await;
    let export = export_bytes(&store);
    let mut refs: Vec<_> = store.cases().map(|c| c.unwrap().reference).collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            "DH-2025-00001",
            "DH-2026-00001",
            "DH-2026-00002",
            "DH-2026-00003"
        ]
    );

    let restored = open_store(&dir.path().join("two"));
    restored.import(export.as_slice(), s.rules()).await.unwrap();
    assert_eq!(
        new_case(&restored, &s, complaint("2026-06-01")).await,
        "DH-2026-00004"
    );
    assert_eq!(
        new_case(&restored, &s, complaint("2025-06-02")).await,
        "DH-2025-00002"
    );
    assert_eq!(
        new_case(&restored, &s, complaint("2024-06-03")).await,
        "DH-2024-00001"
    );
    // The imported cases are untouched by the new ones.
    for r in &refs {
        assert_eq!(
            restored.require_case(r).unwrap(),
            store.require_case(r).unwrap()
        );
    }
    drop(restored);
    let restored = open_store(&dir.path().join("two"));
    assert_eq!(
        new_case(&restored, &s, complaint("2026-06-02")).await,
        "DH-2026-00005"
    );
    assert_verify_clean(&restored, &s);
}

/// The export's lines with DH-2026-00001's definition (line 4) removed and its later events
/// renumbered: a gap-free log that cannot be replayed, since acknowledgement needs a definition.
fn without_definition(export: &str) -> Vec<String> {
    let mut events: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[3]["event"]["type"], "definition_recorded");
    events.remove(3);
    for e in &mut events {
        let seq = e["seq"].as_u64().unwrap();
        if e["reference"] == "DH-2026-00001" && seq > 2 {
            e["seq"] = (seq - 1).into();
        }
    }
    events.iter().map(|e| e.to_string()).collect()
}

#[tokio::test]
async fn import_refuses_a_log_that_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("source"), &s).await;
    let export = String::from_utf8(export_bytes(&store)).unwrap();
    let lines = without_definition(&export);
    let target = open_store(&dir.path().join("target"));
    let (_, message) = import_error(target.import(lines.join("\n").as_bytes(), s.rules()).await);
    assert!(
        message.contains("DH-2026-00001 cannot be replayed") && message.contains("5.6"),
        "{message}"
    );
}

#[tokio::test]

async fn import_reports_the_line_of_the_event_that_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("source"), &s).await;
    let export = String::from_utf8(export_bytes(&store)).unwrap();
    // The acknowledgement, now line 4, is the event the workflow refuses.
    let lines = without_definition(&export);
    let target = open_store(&dir.path().join("t1"));
    let (line, message) = import_error(target.import(lines.join("\n").as_bytes(), s.rules()).await);
    assert_eq!(line, 4, "{message}");

    // The last case, after two blank lines: an acknowledgement without a definition on line 14.
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    lines.push(String::new());
    lines.push(String::new());
    lines.push(
        r#"{"reference":"DH-2026-00003","seq":2,"at":"2026-03-01T09:00:00Z","actor":"x@example.org","event":{"type":"acknowledged","on":"2026-03-01"}}"#
            .into(),
    );
    let target = open_store(&dir.path().join("t2"));
    let (line, message) = import_error(target.import(lines.join("\n").as_bytes(), s.rules()).await);
    assert_eq!(line, 14, "{message}");
}

#[tokio::test]

async fn import_refuses_a_case_whose_events_are_not_together() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("source"), &s).await;
    let export = String::from_utf8(export_bytes(&store)).unwrap();
    let mut lines: Vec<&str> = export.lines().collect();
    // DH-2026-00001's `opened` again at the end, as if its log had been pasted in twice.
    lines.push(lines[2]);
    let target = open_store(&dir.path().join("target"));
    let (line, _) = import_error(target.import(lines.join("\n").as_bytes(), s.rules()).await);
    assert_eq!(line, 12);
    let report = target.verify(s.rules()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]

async fn a_failed_import_leaves_the_store_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(&dir.path().join("one"), &s).await;
    let export = String::from_utf8(export_bytes(&store)).unwrap();
    let mut lines: Vec<&str> = export.lines().collect();
    let last = lines.len() - 1;
    lines[last] = "garbage";
    let target = open_store(&dir.path().join("two"));
    let (line, _) = import_error(target.import(lines.join("\n").as_bytes(), s.rules()).await);
    assert_eq!(line, last + 1);
    assert_eq!(
        target.case_count(),
        0,
        "a refused import must write nothing"
    );
    // Were anything left, the next case must at least not reuse an imported reference.
    let next = new_case(&target, &s, complaint("2026-06-01")).await;
    assert_eq!(target.events(&next).unwrap().len(), 1, "{next} was reused");
}

#[tokio::test]
async fn verify_is_clean_on_a_normal_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(dir.path(), &s).await;
    let report = store.verify(s.rules()).unwrap();
    assert_eq!(report.cases, 4);
    assert_eq!(report.events, 11);
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let empty = open_store(&dir.path().join("empty"));
    let report = empty.verify(s.rules()).unwrap();
    assert_eq!(
        (report.cases, report.events, report.problems.len()),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn verify_detects_a_missing_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(dir.path(), &s).await;
    let due = store.due(None, 1).unwrap().remove(0);
    drop(store);

    let key = format!("d/{}/{}/{}", due.due, due.reference, due.what);
    with_raw_tree(dir.path(), |tree| {
        assert!(
            tree.remove(key.as_bytes()).unwrap().is_some(),
            "{key} exists"
        );
    });

    let store = open_store(dir.path());
    let report = store.verify(s.rules()).unwrap();
    assert_eq!(report.problems, vec![format!("index entry missing: {key}")]);
}

#[tokio::test]
async fn verify_detects_a_stale_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    drop(populated(dir.path(), &s).await);
    let key = "s/closed/DH-2026-00001";
    with_raw_tree(dir.path(), |tree| {
        tree.insert(key, &[] as &[u8]).unwrap();
    });
    let store = open_store(dir.path());
    let report = store.verify(s.rules()).unwrap();
    assert_eq!(report.problems, vec![format!("stale index entry: {key}")]);
}

#[tokio::test]

async fn verify_detects_a_wrong_message_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    drop(populated(dir.path(), &s).await);
    with_raw_tree(dir.path(), |tree| {
        tree.insert("i/<sr-1@example.org>", "DH-2025-00001")
            .unwrap();
        tree.insert("i/<nowhere@example.org>", "DH-2026-00001")
            .unwrap();
    });
    let store = open_store(dir.path());
    let report = store.verify(s.rules()).unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
}

#[tokio::test]
async fn verify_detects_a_snapshot_that_differs_from_replay() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = populated(dir.path(), &s).await;
    let mut case = store.require_case("DH-2026-00001").unwrap();
    drop(store);

    case.summary = "Edited behind the event log's back".into();
    let json = serde_json::to_vec(&case).unwrap();
    with_raw_tree(dir.path(), |tree| {
        assert!(tree.insert("c/DH-2026-00001", json).unwrap().is_some());
    });

    let store = open_store(dir.path());
    assert_eq!(
        store.require_case("DH-2026-00001").unwrap().summary,
        case.summary
    );
    let report = store.verify(s.rules()).unwrap();
    assert_eq!(
        report.problems,
        vec!["DH-2026-00001: snapshot differs from the replay of its 5 events".to_owned()]
    );
}

#[tokio::test]
async fn verify_detects_an_event_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    drop(populated(dir.path(), &s).await);
    with_raw_tree(dir.path(), |tree| {
        assert!(tree.remove("c/DH-2025-00001").unwrap().is_some());
    });
    let store = open_store(dir.path());
    let report = store.verify(s.rules()).unwrap();
    assert!(
        report
            .problems
            .contains(&"DH-2025-00001 has events but no snapshot".to_owned()),
        "{:?}",
        report.problems
    );
    // Its index entries are now stale: nothing the snapshots imply accounts for them.
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("stale index entry: s/"))
    );
}

#[tokio::test]
async fn opening_a_store_with_another_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    drop(populated(dir.path(), &s).await);
    with_raw_tree(dir.path(), |tree| {
        assert_eq!(
            tree.insert("m/version", "2").unwrap().as_deref(),
            Some(redress::store::SCHEMA_VERSION.to_string().as_bytes())
        );
    });
    match reopen(dir.path()) {
        Err(StoreError::WrongVersion {
            found,
            expected,
            path,
        }) => {
            assert_eq!(found, "2");
            assert_eq!(expected, redress::store::SCHEMA_VERSION);
            assert_eq!(path, dir.path());
        }
        Err(other) => panic!("expected WrongVersion, got {other}"),
        Ok(_) => panic!("expected WrongVersion, the store opened"),
    }
    // Refusing must not have rewritten the version.
    with_raw_tree(dir.path(), |tree| {
        assert_eq!(
            tree.get("m/version").unwrap().as_deref(),
            Some(b"2".as_slice())
        );
    });
}

#[test]
fn opening_a_sled_database_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_raw_tree(dir.path(), |tree| {
        tree.insert("users/1", "someone else's data").unwrap();
    });
    match reopen(dir.path()) {
        Err(StoreError::NotAStore { path }) => assert_eq!(path, dir.path()),
        Err(other) => panic!("expected NotAStore, got {other}"),
        Ok(_) => panic!("expected NotAStore, the store opened"),
    }
    // Nothing was written to it.
    with_raw_tree(dir.path(), |tree| {
        assert!(tree.get("m/version").unwrap().is_none());
        assert_eq!(tree.len(), 1);
    });
}

#[test]

fn opening_a_sled_database_with_data_only_in_other_trees_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert("users/1", "someone else's data").unwrap();
        db.open_tree("sessions")
            .unwrap()
            .insert("abc", "def")
            .unwrap();
        db.flush().unwrap();
    }
    let opened = reopen(dir.path());
    assert!(
        matches!(opened, Err(StoreError::NotAStore { .. })),
        "the store opened"
    );
}

#[test]
fn opening_a_directory_of_garbage_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut garbage = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let layouts: [&[(&str, usize)]; 4] = [
        &[("conf", 64), ("db", 4096)],
        &[("conf", 9), ("db", 0)],
        &[
            ("conf", 200),
            ("db", 1 << 20),
            ("snap.0000000000000000", 512),
        ],
        &[
            ("conf", 1024),
            ("db", 1 << 16),
            ("blobs", 0),
            ("snap.00000000000000AA", 64),
        ],
    ];
    for (i, files) in layouts.iter().enumerate() {
        let path = dir.path().join(format!("garbage{i}"));
        std::fs::create_dir(&path).unwrap();
        for (name, len) in *files {
            std::fs::write(path.join(name), garbage(*len)).unwrap();
        }
        match reopen(&path) {
            Err(StoreError::Corrupt { .. } | StoreError::Io(_)) => {}
            Err(other) => panic!("layout {i}: expected Corrupt or Io, got {other}"),
            Ok(_) => panic!("layout {i}: a directory of garbage opened as a store"),
        }
    }
    // A store whose configuration file is overwritten.
    let path = dir.path().join("damaged-conf");
    let s = Setup::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    drop(rt.block_on(populated(&path, &s)));
    std::fs::write(path.join("conf"), garbage(200)).unwrap();
    let opened = reopen(&path);
    assert!(
        matches!(opened, Err(StoreError::Corrupt { .. })),
        "{:?}",
        opened.err()
    );
    // A file where the directory should be.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, garbage(100)).unwrap();
    assert!(Store::open(&file, "DH").is_err());
}

/// Replacement contents for a file of the given length.
type Damage = fn(usize) -> Vec<u8>;

#[tokio::test]
async fn a_store_whose_log_is_lost_is_not_reopened_as_empty() {
    let s = Setup::new();
    let damage: [(&str, Damage); 3] = [
        ("emptied", |_| Vec::new()),
        ("overwritten with one byte", |len| vec![0xa5; len]),
        ("overwritten with a pattern", |len| {
            (0..len).map(|i| (i * 31 % 251) as u8).collect()
        }),
    ];
    for (what, bytes) in damage {
        let dir = tempfile::tempdir().unwrap();
        drop(populated(dir.path(), &s).await);
        let db = dir.path().join("db");
        let len = std::fs::metadata(&db).unwrap().len() as usize;
        std::fs::write(&db, bytes(len)).unwrap();
        // Handing out DH-2026-00001 again would be worse than refusing to start.
        match reopen(dir.path()) {
            Err(StoreError::Corrupt { .. }) => {}
            Err(other) => panic!("log {what}: expected Corrupt, got {other}"),
            Ok(store) => panic!("log {what}: opened with {} cases", store.case_count()),
        }
    }
}

#[tokio::test]
async fn alerts_waiting_for_the_scheduler_are_queued_apart_from_drafts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(dir.path());
    // An ASB report queues a possible-exclusion alert; a complaint queues its acknowledgement.
    new_case(
        &store,
        &s,
        opened(CaseKind::AsbReport, "2026-03-02", "asb@example.net"),
    )
    .await;
    let reference = new_case(&store, &s, complaint("2026-03-02")).await;
    let all = store.queued_effects().unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let drafts = store.queued_drafts(10).unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].queued.reference, reference);
    assert!(matches!(
        drafts[0].queued.effect,
        redress::core::workflow::Effect::Draft(_)
    ));
    assert!(
        store.queued_drafts(0).unwrap().is_empty(),
        "the batch limit is respected"
    );
}

#[tokio::test]
async fn a_reclassification_is_kept_as_training_data_with_the_words_of_the_message_that_opened_the_case()
 {
    use redress::classify::{Context, MessageKind};
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new();
    let store = open_store(&dir.path().join("one"));

    // A case opened from an email the store keeps, and one logged from a phone call.
    let raw = b"From: jo@example.net\r\nSubject: The new porch\r\nMessage-ID: <porch@example.net>\r\n\r\nThe men who built the porch were wonderful, thank you.\r\n";
    let hash = redress::mail::content_hash(raw);
    store.put_raw(&hash, raw).unwrap();
    let mut by_email = opened(CaseKind::ServiceRequest, "2026-01-05", "jo@example.net");
    by_email.message = Some(LinkedMessage {
        message_id: "<porch@example.net>".into(),
        direction: Direction::Inbound,
        channel: Channel::Email,
        date: d("2026-01-05"),
        summary: "The new porch: The men who built the porch were wonderful".into(),
        source_hash: Some(hash),
        classification: None,
    });
    let email_case = new_case(&store, &s, by_email).await;
    let phone_case = new_case(
        &store,
        &s,
        opened(CaseKind::ServiceRequest, "2026-01-05", "al@example.org"),
    )
    .await;
    assert!(store.corrections().unwrap().is_empty());

    let reclassify = |kind| Event::Reclassified {
        kind,
        reason: "read it again".into(),
    };
    record(&store, &s, &email_case, reclassify(CaseKind::Comment)).await;
    // Only the latest staff decision counts.
    record(&store, &s, &email_case, reclassify(CaseKind::Compliment)).await;
    record(&store, &s, &phone_case, reclassify(CaseKind::AsbReport)).await;
    // A refused reclassification writes nothing.
    assert!(
        store
            .record(
                &phone_case,
                reclassify(CaseKind::AsbReport),
                STAFF,
                at("2026-01-06T09:00:00Z"),
                s.rules()
            )
            .await
            .is_err()
    );

    let corrections = store.corrections().unwrap();
    assert_eq!(corrections.len(), 2, "{corrections:?}");
    assert_eq!(corrections[0].kind, MessageKind::Compliment);
    assert_eq!(corrections[0].context, Context::None);
    assert_eq!(corrections[0].subject, "The new porch");
    assert!(
        corrections[0]
            .body
            .contains("The men who built the porch were wonderful"),
        "{corrections:?}"
    );
    // No message: the summary staff wrote stands in for it.
    assert_eq!(corrections[1].kind, MessageKind::AsbReport);
    assert_eq!(corrections[1].subject, "");
    assert_eq!(
        corrections[1].body,
        "Damp in the back bedroom, reported twice"
    );
    assert_verify_clean(&store, &s);

    // The export holds the events; importing rebuilds the index from them.
    let restored = open_store(&dir.path().join("two"));
    restored
        .import(export_bytes(&store).as_slice(), s.rules())
        .await
        .unwrap();
    let again = restored.corrections().unwrap();
    assert_eq!(
        again.iter().map(|c| c.kind).collect::<Vec<_>>(),
        vec![MessageKind::Compliment, MessageKind::AsbReport]
    );
    assert_verify_clean(&restored, &s);

    // Verify notices an entry gone missing.
    drop(store);
    let key = format!("t/{email_case}");
    with_raw_tree(&dir.path().join("one"), |tree| {
        assert!(tree.remove(key.as_bytes()).unwrap().is_some(), "{key}");
    });
    let store = open_store(&dir.path().join("one"));
    let report = store.verify(s.rules()).unwrap();
    assert_eq!(
        report.problems,
        vec![format!(
            "{email_case}: correction (event 3) missing from the correction index"
        )]
    );
}
