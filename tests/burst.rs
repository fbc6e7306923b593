//! Nothing lost, nothing doubled, under `kill -9`: 2,000 messages delivered into the embedded
//! default's Maildir are taken in by the real daemon while it is killed with SIGKILL ten times
//! at pseudo-random moments, then allowed to finish. Afterwards every message is in exactly
//! one case or one set-aside record, every file in exactly one Maildir folder, and every
//! complaint has exactly one acknowledgement draft.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use redress::config::{self, Loaded};
use redress::core::event::Event;
use redress::core::model::{CaseKind, Stage};
use redress::core::workflow::{Effect, LetterKind};
use redress::mail::content_hash;
use redress::store::{SET_ASIDE_HOLDER, SetAsideKind, Store};

#[path = "common/daemon.rs"]
mod common_daemon;
use common_daemon::{configure, kill_9, redress, spawn, stop};

const MESSAGES: usize = 2000;
const SENDERS: usize = 400;
const KILL_ROUNDS: usize = 10;

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// splitmix64: a small fixed-seed generator, so every run is the same experiment.
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
}

/// What a generated message is meant to be, for the checks afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sort {
    Complaint,
    ServiceRequest,
    SubjectReply,
    InReplyTo,
    SameSender,
    Representative,
    Automated,
    Malformed,
}

struct Message {
    name: String,
    raw: Vec<u8>,
    sort: Sort,
    /// The case it must end on, where that is known in advance.
    case: Option<String>,
}

const COMPLAINTS: &[&str] = &[
    "I am fed up: the mould in the bedroom is back for the third time.",
    "This is unacceptable, nobody has come about the leak in the bathroom.",
    "I want to make a complaint about how the contractor left my kitchen.",
    "I am really disappointed that the heating repair was cancelled again.",
];

const REQUESTS: &[&str] = &[
    "Please can someone fix the dripping kitchen tap.",
    "The front door lock is stiff, could you send someone to look at it.",
    "Could I book a visit to look at the fence between the gardens.",
    "The light in the communal stairwell needs a new bulb.",
];

const REPLIES: &[&str] = &[
    "Thank you, photos to follow.",
    "I will be in on Tuesday morning if that helps.",
    "I am still waiting to hear back about this.",
    "Here is the extra information you asked for.",
];

fn email(
    from: &str,
    id: &str,
    subject: &str,
    body: &str,
    extra: &[String],
    serial: usize,
) -> Vec<u8> {
    let mut s = format!(
        "From: {from}\r\nTo: complaints@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 5 Jan 2026 09:30:00 +0000\r\n"
    );
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str(&format!("\r\n{body}\r\n\r\n-- \r\nmessage {serial}\r\n"));
    s.into_bytes()
}

/// 2,000 distinct messages: first one message from each of the 400 residents (each opens a
/// case, so resident `s` has reference number `s + 1`), then replies by subject reference, by
/// In-Reply-To, new messages from known residents, representatives writing about a resident's
/// case, and a few automated and malformed ones.
fn corpus(year: i32) -> Vec<Message> {
    let mut rng = Rng(0xB0A5_7000_2026);
    let mut out = Vec::with_capacity(MESSAGES);
    let mut sent_ids: Vec<Vec<String>> = Vec::with_capacity(SENDERS);
    let resident = |s: usize| format!("Resident {s} <resident{s}@example.net>");
    for s in 0..SENDERS {
        let idx = out.len();
        let id = format!("m{idx}@example.net");
        let (sort, subject, body) = if s % 2 == 0 {
            (
                Sort::Complaint,
                "Complaint",
                COMPLAINTS[rng.below(COMPLAINTS.len())],
            )
        } else {
            (
                Sort::ServiceRequest,
                "Repair request",
                REQUESTS[rng.below(REQUESTS.len())],
            )
        };
        out.push(Message {
            name: format!("{idx:05}.burst.host"),
            raw: email(&resident(s), &id, subject, body, &[], idx),
            sort,
            case: Some(format!("EH-{year}-{:05}", s + 1)),
        });
        sent_ids.push(vec![format!("<{id}>")]);
    }
    while out.len() < MESSAGES {
        let idx = out.len();
        let s = rng.below(SENDERS);
        let reference = format!("EH-{year}-{:05}", s + 1);
        let id = format!("m{idx}@example.net");
        let reply = REPLIES[rng.below(REPLIES.len())];
        let roll = rng.below(100);
        let (sort, raw) = match roll {
            0..35 => (
                Sort::SubjectReply,
                email(
                    &resident(s),
                    &id,
                    &format!("Re: [{reference}] We have received your message"),
                    reply,
                    &[],
                    idx,
                ),
            ),
            35..55 => {
                let parent = sent_ids[s][rng.below(sent_ids[s].len())].clone();
                (
                    Sort::InReplyTo,
                    email(
                        &resident(s),
                        &id,
                        "Re: my message",
                        reply,
                        &[
                            format!("In-Reply-To: {parent}"),
                            format!("References: {parent}"),
                        ],
                        idx,
                    ),
                )
            }
            55..80 => {
                let body = if rng.below(2) == 0 {
                    COMPLAINTS[rng.below(COMPLAINTS.len())]
                } else {
                    REQUESTS[rng.below(REQUESTS.len())]
                };
                (
                    Sort::SameSender,
                    email(&resident(s), &id, "Another matter", body, &[], idx),
                )
            }
            80..90 => (
                Sort::Representative,
                email(
                    &format!("Advocate {idx} <advocate{idx}@example.com>"),
                    &format!("m{idx}@example.com"),
                    &format!("[{reference}] On behalf of my client"),
                    "I am writing on behalf of my client, who is unhappy with the delay.",
                    &[],
                    idx,
                ),
            ),
            90..95 => {
                let raw = match idx % 4 {
                    0 => email(
                        &resident(s),
                        &id,
                        "Automatic reply: away",
                        "I am away until next week.",
                        &["Auto-Submitted: auto-replied".to_owned()],
                        idx,
                    ),
                    1 => email(
                        "Mail Delivery System <bounces@mx.example.net>",
                        &format!("dsn{idx}@mx.example.net"),
                        "Undelivered Mail Returned to Sender",
                        "--dsn\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--dsn--",
                        &[
                            "MIME-Version: 1.0".to_owned(),
                            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"".to_owned(),
                        ],
                        idx,
                    ),
                    2 => email(
                        "Residents Forum <forum@example.net>",
                        &format!("list{idx}@example.net"),
                        "[forum] This week",
                        "News from the residents' forum.",
                        &["List-Id: Residents forum <forum.example.net>".to_owned()],
                        idx,
                    ),
                    _ => email(
                        "complaints@example.org",
                        &format!("{idx}.{reference}@example.org"),
                        &format!("[{reference}] We have received your complaint"),
                        "We are sorry you are unhappy.",
                        &[],
                        idx,
                    ),
                };
                (Sort::Automated, raw)
            }
            _ => {
                let raw = match idx % 4 {
                    0 => format!(
                        "To: complaints@example.org\r\nSubject: no sender {idx}\r\n\r\nI am unhappy.\r\n"
                    )
                    .into_bytes(),
                    1 => format!("no headers at all, message {idx}\r\nsecond line\r\n")
                        .into_bytes(),
                    2 => format!("From: <>\r\nSubject: empty sender {idx}\r\n\r\nhello\r\n")
                        .into_bytes(),
                    _ => {
                        let mut raw = vec![0u8, 0xff, 0xfe];
                        raw.extend(format!("\0{idx}\0").bytes());
                        raw
                    }
                };
                (Sort::Malformed, raw)
            }
        };
        if matches!(
            sort,
            Sort::SubjectReply | Sort::InReplyTo | Sort::SameSender
        ) {
            sent_ids[s].push(format!("<{id}>"));
        }
        let case = matches!(sort, Sort::SubjectReply | Sort::Representative).then_some(reference);
        out.push(Message {
            name: format!("{idx:05}.burst.host"),
            raw,
            sort,
            case,
        });
    }
    out
}

/// Delivers every message the way an MTA does: write in tmp/, then rename into new/.
fn deliver_all(root: &Path, messages: &[Message]) {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    for m in messages {
        let tmp = root.join("tmp").join(&m.name);
        std::fs::write(&tmp, &m.raw).unwrap();
        std::fs::rename(&tmp, root.join("new").join(&m.name)).unwrap();
    }
}

fn taken_in(root: &Path) -> usize {
    names(&root.join("cur")).len() + names(&root.join(".Quarantine/cur")).len()
}

#[test]
fn two_thousand_messages_through_ten_kill_9s_are_each_taken_in_exactly_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, port) = configure(dir.path());
    let loaded: Loaded = config::load(&config_path, std::iter::empty()).expect("config loads");
    let year = loaded.received_on(Utc::now()).year();
    let maildir = loaded.resolve(loaded.config.mail.maildir.as_deref().unwrap());

    let messages = corpus(year);
    assert_eq!(messages.len(), MESSAGES);
    let hashes: BTreeSet<String> = messages.iter().map(|m| content_hash(&m.raw)).collect();
    assert_eq!(hashes.len(), MESSAGES, "every message is different");
    deliver_all(&maildir, &messages);
    assert_eq!(names(&maildir.join("new")).len(), MESSAGES);

    // Ten runs, each killed with SIGKILL after 100–800 ms. `busy` is the time the daemon ran
    // with mail waiting, for the throughput figure.
    let mut rng = Rng(0x0000_0000_C0FF_EE09);
    let mut busy = Duration::ZERO;
    for round in 1..=KILL_ROUNDS {
        let before = taken_in(&maildir);
        let d = spawn(&config_path);
        let ms = 100 + rng.below(701) as u64;
        std::thread::sleep(Duration::from_millis(ms));
        kill_9(d);
        let after = taken_in(&maildir);
        if before < MESSAGES {
            busy += Duration::from_millis(ms);
        }
        println!(
            "round {round}: killed after {ms} ms; {after} of {MESSAGES} taken in (+{})",
            after - before
        );
    }

    // The final run, to completion.
    let remaining = names(&maildir.join("new")).len();
    let final_start = Instant::now();
    let d = spawn(&config_path);
    wait_until("new/ is empty", Duration::from_secs(90), || {
        names(&maildir.join("new")).is_empty()
    });
    let intake_time = final_start.elapsed();
    wait_until("the HTTP listener is up", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // Drafts are made from the queue a moment after each case change: wait until the
    // counts stop changing.
    let counts = || {
        let cases = redress(&config_path, &["case", "list", "--json"]);
        let drafts = redress(
            &config_path,
            &["draft", "list", "--status", "all", "--json"],
        );
        assert!(
            cases.status.success() && drafts.status.success(),
            "{}{}",
            String::from_utf8_lossy(&cases.stderr),
            String::from_utf8_lossy(&drafts.stderr)
        );
        (
            cases.stdout.iter().filter(|b| **b == b'\n').count(),
            drafts.stdout.iter().filter(|b| **b == b'\n').count(),
        )
    };
    let mut last = counts();
    let mut stable = 0;
    wait_until("the counts stop changing", Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(400));
        let now = counts();
        stable = if now == last { stable + 1 } else { 0 };
        last = now;
        stable >= 2
    });
    stop(d);
    if remaining > 0 {
        busy += intake_time;
        println!(
            "final run: {remaining} messages taken in in {:.2} s: {:.0} messages/s (including start-up)",
            intake_time.as_secs_f64(),
            remaining as f64 / intake_time.as_secs_f64()
        );
    } else {
        println!("final run: no mail was left; the killed runs had taken everything in");
    }
    println!(
        "ingest throughput over every run that had mail waiting: {:.0} messages/s ({MESSAGES} in {:.2} s, start-ups included)",
        MESSAGES as f64 / busy.as_secs_f64(),
        busy.as_secs_f64()
    );

    // The daemon is stopped: look at the store directly.
    let store = Store::open(&loaded.store_path, "EH").expect("store opens");
    let set_aside: BTreeMap<String, SetAsideKind> = store
        .set_aside_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.hash, r.kind))
        .collect();
    let cases: Vec<_> = store.cases().collect::<Result<_, _>>().unwrap();
    let mut places: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for hash in set_aside.keys() {
        places
            .entry(hash.clone())
            .or_default()
            .push(SET_ASIDE_HOLDER.to_owned());
    }
    let mut opened_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &cases {
        let mut on_case = BTreeSet::new();
        for m in &case.messages {
            if let Some(hash) = &m.source_hash {
                assert!(
                    on_case.insert(hash.clone()),
                    "{} lists the message {hash} twice",
                    case.reference
                );
                places
                    .entry(hash.clone())
                    .or_default()
                    .push(case.reference.clone());
            }
        }
        let events = store.events(&case.reference).unwrap();
        if let Some(Event::Opened(o)) = events.first().map(|r| &r.event)
            && let Some(hash) = o.message.as_ref().and_then(|m| m.source_hash.clone())
        {
            opened_by
                .entry(hash)
                .or_default()
                .push(case.reference.clone());
        }
    }
    for (hash, opened) in &opened_by {
        assert_eq!(opened.len(), 1, "{hash} opened {opened:?}");
    }

    let mut by_sort: BTreeMap<Sort, usize> = BTreeMap::new();
    for m in &messages {
        *by_sort.entry(m.sort).or_default() += 1;
        let hash = content_hash(&m.raw);
        let holder = store
            .seen(&hash)
            .unwrap()
            .unwrap_or_else(|| panic!("{} ({:?}) was lost: no seen-marker", m.name, m.sort));
        let at = places.get(&hash).cloned().unwrap_or_default();
        assert_eq!(
            at,
            vec![holder.clone()],
            "{} ({:?}) is held by {holder} but found in {at:?}",
            m.name,
            m.sort
        );
        if let Some(case) = &m.case {
            assert_eq!(
                &holder, case,
                "{} ({:?}) is on the wrong case",
                m.name, m.sort
            );
        }
        match m.sort {
            Sort::Automated => assert_eq!(
                set_aside.get(&hash),
                Some(&SetAsideKind::Automated),
                "{}",
                m.name
            ),
            Sort::Malformed => assert_eq!(
                set_aside.get(&hash),
                Some(&SetAsideKind::Quarantined),
                "{}",
                m.name
            ),
            _ => assert_ne!(holder, SET_ASIDE_HOLDER, "{} ({:?})", m.name, m.sort),
        }
    }
    let held: usize = places.values().map(Vec::len).sum();
    assert_eq!(held, MESSAGES, "nothing held that was not delivered");

    let report = store.verify(loaded.rules()).unwrap();
    assert_eq!(report.problems, Vec::<String>::new(), "store verification");

    // Every file once, in cur/ or the quarantine folder; nothing left in new/.
    assert!(names(&maildir.join("new")).is_empty(), "new/ is empty");
    let mut files: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut misplaced = 0;
    for (folder, quarantine) in [("cur", false), (".Quarantine/cur", true)] {
        for name in names(&maildir.join(folder)) {
            let base = name.strip_suffix(":2,S").unwrap_or(&name).to_owned();
            if quarantine
                != (messages
                    .iter()
                    .any(|m| m.name == base && m.sort == Sort::Malformed))
            {
                misplaced += 1;
            }
            files.entry(base).or_default().push(folder);
        }
    }
    for m in &messages {
        let at = files.get(&m.name).cloned().unwrap_or_default();
        assert_eq!(at.len(), 1, "{} is in {at:?}", m.name);
    }
    assert_eq!(files.len(), MESSAGES, "no stray files");

    // Drafts: one acknowledgement per complaint, one "logged" letter per service request.
    let drafts = store.drafts().unwrap();
    let mut letters: BTreeMap<(String, String), usize> = BTreeMap::new();
    for d in &drafts {
        *letters
            .entry((d.reference.clone(), d.letter.name()))
            .or_default() += 1;
    }
    let ack = LetterKind::Acknowledgement { stage: Stage::One }.name();
    let logged = LetterKind::ServiceRequestLogged.name();
    let mut complaints = 0;
    let mut requests = 0;
    for case in &cases {
        let r = &case.reference;
        let count = |name: &str| letters.get(&(r.clone(), name.to_owned())).copied();
        match case.kind {
            CaseKind::Complaint => {
                complaints += 1;
                assert_eq!(count(&ack), Some(1), "{r}: acknowledgement drafts");
            }
            CaseKind::ServiceRequest => {
                requests += 1;
                assert_eq!(count(&logged), Some(1), "{r}: service request letters");
            }
            _ => {}
        }
    }
    for ((r, letter), n) in &letters {
        assert_eq!(*n, 1, "{r} has {n} drafts of {letter}");
    }
    let still_queued = store
        .queued_effects()
        .unwrap()
        .into_iter()
        .filter(|q| matches!(q.queued.effect, Effect::Draft(_)))
        .count();
    assert_eq!(still_queued, 0, "drafts still waiting to be made");

    println!(
        "{MESSAGES} messages: {} cases ({complaints} complaints, {requests} service requests), {} set aside, {} drafts; by sort {by_sort:?}",
        cases.len(),
        set_aside.len(),
        drafts.len()
    );
    if misplaced > 0 {
        println!(
            "note: {misplaced} file(s) in the other Maildir folder than their outcome suggests"
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
