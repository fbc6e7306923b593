//! The scheduler on a real store with a simulated clock (SPEC §5): deadline alerts on the right
//! working days and never twice, jobs exactly once across the clock changes, reminders, the
//! chat webhook's retries, urgent alerts, automatic acknowledgements and the forecast.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::London;
use redress::config::Loaded;
use redress::core::alerts::{Level, State};
use redress::core::event::{Event, Opened};
use redress::core::model::{
    Action, Adjustment, CaseKind, Channel, ComplaintDefinition, Contact, Decision, Flag, Outcome,
    Remedy,
};
use redress::core::workflow::LetterKind;
use redress::letters::DraftStatus;
use redress::letters::templates::Templates;
use redress::outbox::{FileTransport, Transport};
use redress::schedule::Scheduler;
use redress::schedule::forecast::forecast;
use redress::schedule::notify::Notifier;
use redress::store::{Notification, Store};

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

[mail]
from = "complaints@example.org"

[[staff]]
name = "Sam Handler"
email = "sam.handler@example.org"
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
const MORGAN: &str = "morgan.manager@example.org";
const JO: &str = "jo.senior@example.org";

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// 09:00 in London on `day`.
fn nine(day: NaiveDate) -> DateTime<Utc> {
    London
        .from_local_datetime(&day.and_hms_opt(9, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

struct Desk {
    dir: tempfile::TempDir,
    loaded: Arc<Loaded>,
    templates: Arc<Templates>,
    store: Option<Store>,
}

impl Desk {
    fn new(extra: &str) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{CONFIG}\n{extra}");
        let loaded =
            redress::config::load_str(&text, "redress.toml", dir.path(), Vec::new()).unwrap();
        let store = Store::open(&loaded.store_path, "EH").unwrap();
        let templates = Arc::new(loaded.letter_templates().unwrap());
        Desk {
            dir,
            loaded: Arc::new(loaded),
            templates,
            store: Some(store),
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn scheduler(&self) -> Scheduler {
        Scheduler::new(
            self.store().clone(),
            self.loaded.clone(),
            self.templates.clone(),
        )
        .unwrap()
    }

    /// Closes the store and opens it again, as a restarted daemon does.
    fn restart(&mut self) {
        self.store = None;
        self.store = Some(Store::open(&self.loaded.store_path, "EH").unwrap());
    }

    fn open(&self, kind: CaseKind, received: NaiveDate, flags: Vec<Flag>) -> String {
        let opened = opened(kind, received, flags);
        let at = nine(received);
        block(self.store().open_case(opened, SAM, at, self.loaded.rules()))
            .unwrap()
            .case
            .reference
    }

    fn record(&self, reference: &str, event: Event, on: NaiveDate) {
        block(
            self.store()
                .record(reference, event, SAM, nine(on), self.loaded.rules()),
        )
        .unwrap();
    }

    /// Records the complaint definition (5.6) and the acknowledgement, both on `on`.
    fn define_and_acknowledge(&self, reference: &str, on: NaiveDate) {
        let definition = Event::DefinitionRecorded {
            definition: definition(),
        };
        self.record(reference, definition, on);
        self.record(reference, Event::Acknowledged { on }, on);
    }

    fn notifications(&self) -> Vec<Notification> {
        self.store().notifications().unwrap()
    }
}

/// A case as the resident's email opens it, handled by Sam.
fn opened(kind: CaseKind, received: NaiveDate, flags: Vec<Flag>) -> Opened {
    Opened {
        kind,
        received,
        channel: Channel::Email,
        complainant: Contact {
            name: Some("Jo Bloggs".into()),
            email: Some("jo@example.net".into()),
            ..Contact::default()
        },
        representative: None,
        group_members: vec![],
        summary: "Mould in the bedroom is back after the repair".into(),
        flags,
        message: None,
        handler: Some(SAM.into()),
        linked_to: None,
    }
}

fn definition() -> ComplaintDefinition {
    ComplaintDefinition {
        understanding: "Mould keeps returning".into(),
        outcome_sought: "A lasting repair".into(),
        responsible_for: "Repairs".into(),
        not_responsible_for: "Furniture".into(),
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Every alert raised, as (local date, due item, level), from the notifications' marks.
fn scan_days(
    desk: &mut Desk,
    from: NaiveDate,
    to: NaiveDate,
    restart_every: u64,
) -> Vec<(NaiveDate, String, Level)> {
    let mut raised = Vec::new();
    let mut day = from;
    let mut n = 0u64;
    while day <= to {
        if n.is_multiple_of(restart_every) {
            desk.restart();
        }
        n += 1;
        let scheduler = desk.scheduler();
        // Twice a day, as a scan every few minutes would: the second finds nothing new.
        for at in [nine(day), nine(day) + chrono::Duration::hours(6)] {
            let report = block(scheduler.scan(at)).unwrap();
            for (_, what, level) in report.raised {
                raised.push((day, what, level));
            }
        }
        day = day.succ_opt().unwrap();
    }
    raised
}

#[test]
fn a_complaint_received_before_christmas_is_at_risk_and_breached_on_the_right_working_days_once() {
    let mut desk = Desk::new("");
    // Friday 18 December 2026. Acknowledgement due Tuesday 29 December (Christmas and Boxing
    // Day's substitute on 25 and 28 December); never acknowledged, so the response is due 10
    // working days after that, on Wednesday 13 January 2027.
    let reference = desk.open(CaseKind::Complaint, d("2026-12-18"), vec![]);
    let raised = scan_days(&mut desk, d("2026-12-18"), d("2027-01-25"), 3);
    assert_eq!(
        raised,
        vec![
            (d("2026-12-23"), "ack1".into(), Level::AtRisk),
            (d("2026-12-30"), "ack1".into(), Level::Breached),
            (d("2027-01-06"), "ack1".into(), Level::Escalated),
            (d("2027-01-11"), "response1".into(), Level::AtRisk),
            (d("2027-01-14"), "response1".into(), Level::Breached),
            (d("2027-01-20"), "response1".into(), Level::Escalated),
        ]
    );
    // Who was told: at risk to the handler and managers, breaches to managers, escalations
    // to senior staff; each once, across the restarts every three days.
    let mut by_subject: BTreeMap<(String, Vec<String>), usize> = BTreeMap::new();
    for n in desk.notifications() {
        assert_eq!(n.note.reference.as_deref(), Some(reference.as_str()));
        *by_subject
            .entry((n.note.subject.clone(), n.note.to.clone()))
            .or_default() += 1;
    }
    assert!(
        by_subject.values().all(|&count| count == 1),
        "{by_subject:#?}"
    );
    let to = |needle: &str| -> Vec<String> {
        by_subject
            .keys()
            .filter(|(s, _)| s.contains(needle))
            .flat_map(|(_, to)| to.clone())
            .collect()
    };
    assert_eq!(to("acknowledgement at risk"), vec![MORGAN, SAM]);
    assert_eq!(to("acknowledgement breached"), vec![MORGAN]);
    assert_eq!(to("acknowledgement escalated"), vec![JO]);
    assert_eq!(by_subject.len(), 8, "{by_subject:#?}");
    let breach = desk
        .notifications()
        .into_iter()
        .find(|n| n.note.subject.contains("acknowledgement breached"))
        .unwrap();
    assert!(
        breach.note.body.contains("Tuesday 29 December 2026"),
        "{}",
        breach.note.body
    );
    assert!(
        breach.note.body.contains("1 working day overdue"),
        "{}",
        breach.note.body
    );
    assert!(
        breach.note.body.contains("Code 6.2"),
        "{}",
        breach.note.body
    );
}

#[test]
fn no_at_risk_alert_once_the_letter_is_sent_and_none_while_one_is_approved() {
    let desk = Desk::new("");
    let reference = desk.open(CaseKind::Complaint, d("2026-12-18"), vec![]);
    desk.define_and_acknowledge(&reference, d("2026-12-21"));
    let scheduler = desk.scheduler();
    let report = block(scheduler.scan(nine(d("2026-12-23")))).unwrap();
    assert!(report.raised.is_empty(), "{:?}", report.raised);
    // The response is due 10 working days after 21 December: 8 January 2027; at risk from 6 January.
    let report = block(scheduler.scan(nine(d("2027-01-06")))).unwrap();
    assert_eq!(
        report.raised,
        vec![(reference.clone(), "response1".into(), Level::AtRisk)]
    );
}

#[test]
fn a_back_filled_complaint_already_overdue_is_alerted_however_late_it_arrives() {
    let mut desk = Desk::new("");
    // The scans have settled everything up to early January...
    scan_days(&mut desk, d("2027-01-04"), d("2027-01-20"), 100);
    // ...then a complaint received ten working days earlier is back-filled.
    let reference = desk.open(CaseKind::Complaint, d("2027-01-06"), vec![]);
    let scheduler = desk.scheduler();
    let report = block(scheduler.scan(nine(d("2027-01-20")))).unwrap();
    assert_eq!(
        report.raised,
        vec![
            (reference.clone(), "ack1".into(), Level::Breached),
            (reference.clone(), "ack1".into(), Level::Escalated),
        ]
    );
    let report = block(scheduler.scan(nine(d("2027-01-21")))).unwrap();
    assert!(report.raised.is_empty(), "{:?}", report.raised);
    // The forecast shows it breached.
    let f = forecast(desk.store(), &desk.loaded, d("2027-01-20"), 10).unwrap();
    let case = f.cases.iter().find(|c| c.reference == reference).unwrap();
    let ack = case.items.iter().find(|i| i.what == "ack1").unwrap();
    assert_eq!(ack.state, State::Breached);
    assert!(ack.alerts.iter().all(|a| a.raised_at.is_some()));
    let response = case.items.iter().find(|i| i.what == "response1").unwrap();
    assert_eq!(response.due, d("2027-01-27"));
    assert_eq!(response.state, State::Upcoming);
    let at_risk = response
        .alerts
        .iter()
        .find(|a| a.level == Level::AtRisk)
        .unwrap();
    assert_eq!((at_risk.on, at_risk.raised_at), (d("2027-01-25"), None));
}

/// Runs the scheduler's tick every `step` minutes from `from` to `to`, restarting the store
/// at `restart_at`; returns the local dates of each digest run.
fn tick_through(
    desk: &mut Desk,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    restart_at: DateTime<Utc>,
) -> Vec<String> {
    let mut runs = Vec::new();
    let mut now = from;
    let mut restarted = false;
    let mut scheduler = desk.scheduler();
    while now <= to {
        if !restarted && now >= restart_at {
            drop(scheduler);
            desk.restart();
            scheduler = desk.scheduler();
            restarted = true;
        }
        for run in block(scheduler.tick(now)).unwrap() {
            if run.job == "digest" {
                runs.push(run.key());
            }
        }
        now += chrono::Duration::minutes(5);
    }
    runs
}

#[test]
fn a_01_30_job_runs_exactly_once_on_each_clock_change_date() {
    let mut desk = Desk::new("[schedule]\ndigest = \"0 30 1 * * *\"\nscan = \"0 0 12 * * *\"\n");
    let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    // Spring: 01:30 does not happen on 29 March 2026 (01:00 GMT becomes 02:00 BST).
    let runs = tick_through(
        &mut desk,
        utc("2026-03-28T00:00:00Z"),
        utc("2026-03-30T06:00:00Z"),
        utc("2026-03-29T00:50:00Z"),
    );
    // The first tick catches up the run of the day before (missed "while the daemon was
    // down"); then one run per date.
    assert_eq!(
        runs,
        vec![
            "digest/2026-03-27T01:30:00",
            "digest/2026-03-28T01:30:00",
            "digest/2026-03-29T01:30:00",
            "digest/2026-03-30T01:30:00"
        ]
    );
    // Autumn: 01:30 happens twice on 25 October 2026 (02:00 BST becomes 01:00 GMT); the
    // restart falls between the two.
    let runs = tick_through(
        &mut desk,
        utc("2026-10-24T00:00:00Z"),
        utc("2026-10-26T06:00:00Z"),
        utc("2026-10-25T01:00:00Z"),
    );
    assert_eq!(
        runs,
        vec![
            "digest/2026-10-23T01:30:00",
            "digest/2026-10-24T01:30:00",
            "digest/2026-10-25T01:30:00",
            "digest/2026-10-26T01:30:00"
        ]
    );
    // The manager got one digest per run.
    let digests: Vec<_> = desk
        .notifications()
        .into_iter()
        .filter(|n| n.note.kind == "digest")
        .collect();
    assert_eq!(digests.len(), 8);
    assert!(digests.iter().all(|n| n.note.to == vec![MORGAN.to_owned()]));
}

#[test]
fn a_run_missed_while_the_daemon_was_down_is_caught_up_once_at_start() {
    let desk = Desk::new("[schedule]\ndigest = \"0 30 7 * * Mon-Fri\"\n");
    let scheduler = desk.scheduler();
    // Started at 11:00 on Monday 23 November 2026: the 07:30 digest was missed.
    let start = "2026-11-23T11:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let runs: Vec<String> = block(scheduler.tick(start))
        .unwrap()
        .into_iter()
        .map(|r| r.key())
        .filter(|k| k.starts_with("digest"))
        .collect();
    assert_eq!(runs, vec!["digest/2026-11-23T07:30:00"]);
    let again = block(scheduler.tick(start + chrono::Duration::minutes(1))).unwrap();
    assert!(again.iter().all(|r| r.job != "digest"));
    // A Saturday start catches up Friday's only if within a day: not on Sunday.
    let sunday = "2026-11-29T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let runs = block(scheduler.tick(sunday)).unwrap();
    assert!(runs.iter().all(|r| r.job != "digest"), "{runs:?}");
}

#[test]
fn the_digest_lists_breached_at_risk_due_today_and_drafts_waiting_oldest_first() {
    // (Nothing listens there: only whether a digest is meant for the chat is checked.)
    let desk = Desk::new("[schedule]\nchat_url = \"http://127.0.0.1:9/hook\"\n");
    let older = desk.open(CaseKind::Complaint, d("2026-11-02"), vec![]);
    let newer = desk.open(CaseKind::Complaint, d("2026-11-09"), vec![]);
    let at_risk = desk.open(CaseKind::Complaint, d("2026-11-18"), vec![]);
    // Drafts for the three acknowledgements.
    let (templates, config) = (desk.templates.clone(), desk.loaded.config.clone());
    block(desk.store().make_drafts(
        |case, letter| {
            redress::letters::write::write(&templates, case, letter, &config, d("2026-11-23"))
        },
        "example.org",
        nine(d("2026-11-20")),
    ))
    .unwrap();
    let scheduler = desk.scheduler();
    let run = redress::schedule::jobs::Run {
        job: "digest".into(),
        local: d("2026-11-23").and_hms_opt(7, 30, 0).unwrap(),
        at: nine(d("2026-11-23")),
    };
    assert_eq!(
        block(scheduler.digest(&run, nine(d("2026-11-23")))).unwrap(),
        2
    );
    assert_eq!(
        block(scheduler.digest(&run, nine(d("2026-11-23")))).unwrap(),
        0
    );
    let notes = desk.notifications();
    let manager = notes
        .iter()
        .find(|n| n.note.to == vec![MORGAN.to_owned()])
        .unwrap();
    let body = &manager.note.body;
    let pos = |needle: &str| {
        body.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {body}"))
    };
    // Breached: both older acknowledgements (due 9 and 16 November), oldest first.
    assert!(
        pos(&format!("{older}: stage 1 acknowledgement"))
            < pos(&format!("{newer}: stage 1 acknowledgement"))
    );
    assert!(pos("Breached (2)") < pos(&format!("{older}:")));
    // At risk: the acknowledgement due 25 November.
    assert!(pos("At risk (1)") < pos(&format!("{at_risk}: stage 1 acknowledgement")));
    assert!(body.contains("Drafts waiting for approval (3)"), "{body}");
    assert!(
        manager
            .note
            .subject
            .contains("2 breached, 1 at risk, 3 drafts waiting")
    );
    // The handler gets their own list; only the managers' digest goes to the team's chat.
    let handler = notes
        .iter()
        .find(|n| n.note.to == vec![SAM.to_owned()])
        .unwrap();
    assert!(manager.chat.is_some());
    assert!(handler.chat.is_none());
}

#[test]
fn reminders_for_actions_reviews_extension_updates_and_payments_come_once_on_their_day() {
    let desk = Desk::new("");
    let reference = desk.open(CaseKind::Complaint, d("2026-11-02"), vec![]);
    desk.define_and_acknowledge(&reference, d("2026-11-03"));
    desk.record(
        &reference,
        Event::ExtensionAgreed {
            on: d("2026-11-10"),
            working_days: 5,
            reason: "Waiting for a damp survey".into(),
            good_reason: None,
            update_interval_working_days: 3,
        },
        d("2026-11-10"),
    );
    desk.record(
        &reference,
        Event::AdjustmentRecorded {
            adjustment: Adjustment {
                description: "Large print letters".into(),
                disclosed_disability: None,
                agreed_on: d("2026-11-03"),
                review_on: d("2026-11-30"),
            },
        },
        d("2026-11-03"),
    );
    let decision = Decision {
        outcome: Outcome::Upheld,
        reasons: "The repair was not done properly".into(),
        remedies: vec![Remedy {
            description: "Compensation".into(),
            payment_pence: Some(15_000),
            how_paid: None,
            paid_on: None,
        }],
        actions: vec![Action {
            description: "Replace the extractor fan".into(),
            due: d("2026-12-04"),
            owner: None,
            done_on: None,
        }],
        learning: vec![],
        agrees_with_stage1: false,
    };
    desk.record(
        &reference,
        Event::DecisionRecorded { decision },
        d("2026-11-20"),
    );
    let mut desk = desk;
    let raised = scan_days(&mut desk, d("2026-11-10"), d("2027-01-08"), 7);
    let reminders: Vec<(NaiveDate, String)> = raised
        .into_iter()
        .filter(|(_, _, l)| *l == Level::Reminder)
        .map(|(day, what, _)| (day, what))
        .collect();
    // Updates every 3 working days after 10 November while the response (due 17 November,
    // extended to 24 November) is awaited; the payment reminder waits for the response.
    assert_eq!(
        reminders,
        vec![
            (d("2026-11-13"), "update1.0".to_owned()),
            (d("2026-11-18"), "update1.1".to_owned()),
            (d("2026-11-23"), "update1.2".to_owned()),
            (d("2026-11-30"), "adjustment_review.0".to_owned()),
            (d("2026-12-04"), "action1.0".to_owned()),
        ]
    );
    // The action's reminder also drafts the update letter to the resident (6.6).
    let queued = desk.store().queued_effects().unwrap();
    assert!(
        queued.iter().any(|q| q.queued.reference == reference
            && q.queued.letter() == Some(LetterKind::ActionUpdate)),
        "{queued:?}"
    );
    // Once the response goes, a month later the unpaid payment is followed up.
    desk.record(
        &reference,
        Event::Responded {
            on: d("2026-12-07"),
        },
        d("2026-12-07"),
    );
    let raised = scan_days(&mut desk, d("2027-01-04"), d("2027-01-12"), 100);
    assert_eq!(
        raised,
        vec![(d("2027-01-07"), "payment1.0".to_owned(), Level::Reminder)]
    );
    let note = desk
        .notifications()
        .into_iter()
        .find(|n| n.note.subject.contains("Payment 1 offered"))
        .unwrap();
    assert_eq!(note.note.to, vec![SAM.to_owned()]);
    assert!(
        note.note.body.contains("rent account"),
        "{}",
        note.note.body
    );
}

#[test]
fn a_report_of_danger_alerts_the_on_call_contact_at_once() {
    let desk = Desk::new("[schedule]\non_call = \"on.call@example.org\"\n");
    let reference = desk.open(
        CaseKind::Complaint,
        d("2026-11-21"),
        vec![Flag::UrgentSafety],
    );
    let scheduler = desk.scheduler();
    // A Saturday night: no job is due, the alert goes anyway.
    let now = "2026-11-21T23:40:00Z".parse::<DateTime<Utc>>().unwrap();
    assert_eq!(block(scheduler.urgent(now)).unwrap(), 1);
    assert_eq!(block(scheduler.urgent(now)).unwrap(), 0);
    let notes = desk.notifications();
    let to: Vec<_> = notes.iter().map(|n| n.note.to.clone()).collect();
    assert_eq!(
        to,
        vec![
            vec!["on.call@example.org".to_owned()],
            vec![MORGAN.to_owned()]
        ]
    );
    assert!(notes.iter().all(|n| n.note.kind == "urgent_safety"
        && n.note.reference.as_deref() == Some(reference.as_str())));
    assert!(
        notes[0].note.subject.contains("urgent"),
        "{}",
        notes[0].note.subject
    );
}

fn drafts_for(desk: &Desk) {
    let (templates, config) = (desk.templates.clone(), desk.loaded.config.clone());
    block(desk.store().make_drafts(
        |case, letter| {
            redress::letters::write::write(&templates, case, letter, &config, d("2026-11-23"))
        },
        "example.org",
        nine(d("2026-11-23")),
    ))
    .unwrap();
}

#[test]
fn an_unapproved_acknowledgement_goes_on_its_due_date_only_when_configured_and_complete() {
    for auto in [false, true] {
        let desk = Desk::new(&format!("[schedule]\nauto_send_acknowledgement = {auto}\n"));
        let complete = desk.open(CaseKind::Complaint, d("2026-11-16"), vec![]);
        let undefined = desk.open(CaseKind::Complaint, d("2026-11-16"), vec![]);
        desk.record(
            &complete,
            Event::DefinitionRecorded {
                definition: definition(),
            },
            d("2026-11-17"),
        );
        drafts_for(&desk);
        let scheduler = desk.scheduler();
        // The day before: nothing goes.
        let report = block(scheduler.scan(nine(d("2026-11-20")))).unwrap();
        assert!(report.auto_sent.is_empty());
        // Due 23 November.
        let report = block(scheduler.scan(nine(d("2026-11-23")))).unwrap();
        let drafts = desk.store().drafts().unwrap();
        let status = |r: &str| drafts.iter().find(|d| d.reference == r).unwrap().status;
        if auto {
            assert_eq!(report.auto_sent.len(), 1);
            assert_eq!(status(&complete), DraftStatus::Approved);
            let sent = drafts.iter().find(|d| d.reference == complete).unwrap();
            assert_eq!(
                sent.decided_by.as_deref(),
                Some(redress::schedule::AUTO_APPROVER)
            );
        } else {
            assert!(report.auto_sent.is_empty());
            assert_eq!(status(&complete), DraftStatus::Pending);
        }
        // Without a complaint definition (5.6) it never goes by itself.
        assert_eq!(status(&undefined), DraftStatus::Pending);
    }
}

/// A chat webhook that answers 500 to the first `fail` posts, then 200; counts every post.
async fn flaky_webhook(
    fail: usize,
) -> (
    String,
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, b) = (hits.clone(), bodies.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (h, b) = (h.clone(), b.clone());
            async move {
                let n = h.fetch_add(1, Ordering::SeqCst);
                b.lock().unwrap().push(body);
                if n < fail {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try later")
                } else {
                    (axum::http::StatusCode::OK, "ok")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits, bodies)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_webhook_that_fails_three_times_then_succeeds_delivers_the_alert_once() {
    let (url, hits, bodies) = flaky_webhook(3).await;
    let desk = Desk::new(&format!(
        "[schedule]\nchat_url = \"{url}\"\nchat_kind = \"teams\"\n"
    ));
    let store = desk.store().clone();
    let opened = store
        .open_case(
            opened(CaseKind::Complaint, d("2026-12-18"), vec![]),
            SAM,
            nine(d("2026-12-18")),
            desk.loaded.rules(),
        )
        .await
        .unwrap();
    let scheduler = desk.scheduler();
    let report = scheduler.scan(nine(d("2026-12-30"))).await.unwrap();
    assert_eq!(report.raised.len(), 1, "{:?}", report.raised);
    let outbox = desk.dir.path().join("outbox");
    let transport = || Some(Transport::File(FileTransport::new(outbox.clone())));
    let mut notifier = Notifier::new(
        store.clone(),
        &desk.loaded,
        transport(),
        Duration::from_millis(50),
    )
    .unwrap();
    let started = Instant::now();
    loop {
        notifier.deliver_due().await.unwrap();
        let chat = store.notifications().unwrap()[0].chat.clone().unwrap();
        if chat.delivered_at.is_some() {
            assert_eq!(chat.attempts, 4);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{chat:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // More passes, and a restarted notifier, post nothing more.
    for _ in 0..5 {
        notifier.deliver_due().await.unwrap();
    }
    let mut restarted = Notifier::new(
        store.clone(),
        &desk.loaded,
        transport(),
        Duration::from_millis(50),
    )
    .unwrap();
    restarted.deliver_due().await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert!(store.pending_notifications().unwrap().is_empty());
    // Every post was the same Teams card about this case; the email went once too.
    let bodies = bodies.lock().unwrap();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let title = bodies[0]["attachments"][0]["content"]["body"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        title.contains(&opened.case.reference) && title.contains("breached"),
        "{title}"
    );
    let emails: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(emails.len(), 1);
    let email = std::fs::read_to_string(emails[0].as_ref().unwrap().path()).unwrap();
    assert!(email.contains("Auto-Submitted: auto-generated"), "{email}");
    assert!(email.contains(&format!("To: {MORGAN}")), "{email}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_chat_post_is_given_up_on_and_not_repeated() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { (axum::http::StatusCode::NOT_FOUND, "no such webhook") }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let desk = Desk::new(&format!(
        "[schedule]\nchat_url = \"{url}\"\non_call = \"on.call@example.org\"\n"
    ));
    let store = desk.store().clone();
    let mut gas = opened(
        CaseKind::Complaint,
        d("2026-11-20"),
        vec![Flag::UrgentSafety],
    );
    gas.handler = None;
    store
        .open_case(gas, SAM, nine(d("2026-11-20")), desk.loaded.rules())
        .await
        .unwrap();
    desk.scheduler()
        .urgent(nine(d("2026-11-20")))
        .await
        .unwrap();
    let mut notifier =
        Notifier::new(store.clone(), &desk.loaded, None, Duration::from_millis(10)).unwrap();
    for _ in 0..5 {
        notifier.deliver_due().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let n = &store.notifications().unwrap()[0];
    let failed = n.chat.as_ref().unwrap().failed.clone().unwrap();
    assert!(
        failed.contains("404") && failed.contains("no such webhook"),
        "{failed}"
    );
}

#[test]
fn a_bad_schedule_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{CONFIG}\n[schedule]\ndigest = \"30 7 * * 1-5\"\nscan = \"0 */10 * * * *\"\non_call = \"not an address\"\nchat_url = \"ftp://example.org/x\"\nescalate_after_working_days = 0\n"
    );
    let err = redress::config::load_str(&text, "redress.toml", dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    for needle in [
        "schedule.digest",
        "30 7 * * 1-5",
        "seconds first",
        "schedule.on_call",
        "schedule.chat_url",
        "schedule.escalate_after_working_days",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
    assert!(!err.contains("schedule.scan"), "{err}");
}

#[test]
fn an_alert_is_not_raised_for_an_item_that_stopped_being_due_since_the_scan_read_it() {
    let desk = Desk::new("");
    let reference = desk.open(CaseKind::Complaint, d("2026-12-18"), vec![]);
    let entry = |what: &str, due: &str| redress::store::DueEntry {
        due: d(due),
        reference: reference.clone(),
        what: what.to_owned(),
    };
    let alert = |entry| redress::store::Once::Alert {
        entry,
        level: Level::Breached,
    };
    let now = nine(d("2026-12-30"));
    // Acknowledged after the scan read the index, before it raised the alert.
    desk.define_and_acknowledge(&reference, d("2026-12-21"));
    let stale =
        block(
            desk.store()
                .notify_once(&alert(entry("ack1", "2026-12-29")), &[], None, now),
        );
    assert!(stale.unwrap().is_none());
    assert!(
        !desk
            .store()
            .alert_raised(&entry("ack1", "2026-12-29"), Level::Breached)
            .unwrap()
    );
    // The response is still due: its alert is raised, once.
    let response = entry("response1", "2027-01-07");
    let first = block(
        desk.store()
            .notify_once(&alert(response.clone()), &[], None, now),
    );
    assert!(first.unwrap().is_some());
    let second = block(desk.store().notify_once(&alert(response), &[], None, now));
    assert!(second.unwrap().is_none());
}

#[test]
fn the_managers_digest_lists_mail_set_aside_since_the_last_digest_that_a_person_should_check() {
    use redress::store::{MessageMark, SetAside, SetAsideKind};
    let desk = Desk::new("");
    let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let record = |n: u8, kind, reason: &str, arrived: &str, subject: &str| {
        let hash = format!("{n:064x}");
        let aside = SetAside {
            hash: hash.clone(),
            kind,
            reason: reason.to_owned(),
            source: format!("maildir:{n}"),
            arrived: utc(arrived),
            from: Some("jo@example.net".into()),
            subject: Some(subject.to_owned()),
        };
        let mark = MessageMark {
            hash,
            sender: None,
            day: utc(arrived).date_naive(),
        };
        block(desk.store().set_aside(&aside, &mark)).unwrap();
    };
    let words = "classified as automated mail (confidence 0.41): rule auto_reply matched \"away\"";
    // Before Friday's digest: reported then, not now.
    record(
        1,
        SetAsideKind::Automated,
        words,
        "2026-11-20T07:00:00Z",
        "Thursday night",
    );
    // Over the weekend: judged automatic by its words, unreadable, and a real auto-reply.
    record(
        2,
        SetAsideKind::Automated,
        words,
        "2026-11-21T14:05:00Z",
        "Away? No: still no heating",
    );
    record(
        3,
        SetAsideKind::Quarantined,
        "the message is not valid MIME",
        "2026-11-22T10:00:00Z",
        "Broken",
    );
    record(
        4,
        SetAsideKind::Automated,
        "Auto-Submitted: auto-replied",
        "2026-11-22T11:00:00Z",
        "Out of office",
    );
    let scheduler = desk.scheduler();
    let run = redress::schedule::jobs::Run {
        job: "digest".into(),
        local: d("2026-11-23").and_hms_opt(7, 30, 0).unwrap(),
        at: utc("2026-11-23T07:30:00Z"),
    };
    block(scheduler.digest(&run, utc("2026-11-23T07:30:00Z"))).unwrap();
    let notes = desk.notifications();
    let manager = notes
        .iter()
        .find(|n| n.note.to == vec![MORGAN.to_owned()])
        .unwrap();
    let body = &manager.note.body;
    assert!(
        body.contains("Set aside since the last digest, for a person to check (2)"),
        "{body}"
    );
    let weekend = body.find("Saturday 21 November 2026 at 14:05").expect(body);
    let broken = body.find("\"Broken\" (quarantined").expect(body);
    assert!(weekend < broken, "{body}");
    assert!(
        !body.contains("Out of office") && !body.contains("Thursday night"),
        "{body}"
    );
    let html = manager.note.html.as_deref().unwrap();
    assert!(html.contains("Away? No: still no heating"), "{html}");
}
