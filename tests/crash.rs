//! Killing the process at any point never leaves an event without its snapshot and index
//! update, and never loses or reuses a reference.
//!
//! The real binary writes in a loop (each `redress` invocation opens the store, commits one
//! change and flushes) while this test kills the whole process group with SIGKILL at
//! pseudo-random moments. After every kill the store must verify clean, from the command line
//! and in this process, and its references must run 1..N without a gap.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use chrono::Utc;
use redress::core::calendar::Calendar;
use redress::core::code::PolicyProfile;
use redress::core::event::{Event, Opened};
use redress::core::model::{CaseKind, Channel, Contact};
use redress::core::workflow::{self, Rules};
use redress::store::{Store, StoreError};

const BIN: &str = env!("CARGO_BIN_EXE_redress");

const CONFIG: &str = r#"[organisation]
name = "T"
reference_prefix = "DH"
homes_owned = 100
email = "complaints@example.org"
phone = "01332 000000"

[store]
path = "store"
"#;

/// The writer: complaints taken through definition and acknowledgement, and every third round a
/// service request the resident is unhappy with, which opens a linked complaint in the same
/// transaction (Code 1.5). Each step is its own process.
const WRITER: &str = r#"
B="$1"; C="$2"; D="$3"
for i in $(seq 1 1000); do
  received=$(printf '2026-03-%02d' $(( i % 20 + 2 )))
  r=$("$B" --config "$C" case open --kind complaint --received "$received" \
        --summary "Damp in flat $i" --email "Resident$i@Example.net" --by staff@example.org) || continue
  "$B" --config "$C" case record "$r" --event @"$D/definition.json" --by staff@example.org
  "$B" --config "$C" case record "$r" --event @"$D/acknowledged.json" --by staff@example.org
  if [ $(( i % 3 )) -eq 0 ]; then
    s=$("$B" --config "$C" case open --kind service_request --received "$received" \
          --summary "Leaking tap $i" --phone "01332 000 $i" --by staff@example.org) || continue
    "$B" --config "$C" case record "$s" --event @"$D/dissatisfied.json" --by staff@example.org
  fi
done
"#;

const EVENTS: [(&str, &str); 3] = [
    (
        "definition.json",
        r#"{"type":"definition_recorded","definition":{"understanding":"Damp not treated","outcome_sought":"Treat it","responsible_for":"Repairs","not_responsible_for":"Contents"}}"#,
    ),
    (
        "acknowledged.json",
        r#"{"type":"acknowledged","on":"2026-03-25"}"#,
    ),
    (
        "dissatisfied.json",
        r#"{"type":"dissatisfied_with_response","received":"2026-03-26","summary":"The repair did not last"}"#,
    ),
];

/// A temporary directory with a configuration, its store and the writer's files.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("redress.toml"), CONFIG).unwrap();
        std::fs::write(dir.path().join("writer.sh"), WRITER).unwrap();
        for (name, json) in EVENTS {
            std::fs::write(dir.path().join(name), json).unwrap();
        }
        Lab { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("redress.toml")
    }

    fn store_path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("writer.log")
    }

    fn redress(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("REDRESS_CONFIG")
            .output()
            .expect("the binary runs")
    }

    /// Starts the writer loop in its own process group, so one signal reaches every process in it.
    fn start_writer(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        Command::new("bash")
            .arg(self.dir.path().join("writer.sh"))
            .arg(BIN)
            .arg(self.config())
            .arg(self.dir.path())
            .env_remove("REDRESS_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("bash starts")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// SIGKILL to every process in the child's group, then reap the child.
fn kill_group(child: &mut Child) {
    let pgid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    assert_eq!(
        rc,
        0,
        "kill -9 -{pgid}: {}",
        std::io::Error::last_os_error()
    );
    child.wait().expect("the writer is reaped");
}

/// Runs `redress ARGS`, retrying while the lock is still held by a just-killed writer or by a
/// handle this process has just dropped (sled lets go of it from a background thread).
fn redress_when_free(lab: &Lab, args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = lab.redress(args);
        let in_use = String::from_utf8_lossy(&out.stderr).contains("in use by another process");
        if !in_use || Instant::now() > deadline {
            return out;
        }
        sleep(Duration::from_millis(20));
    }
}

fn open_when_free(path: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(path, "DH") {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                sleep(Duration::from_millis(20));
            }
            other => return other.expect("the store opens after a kill"),
        }
    }
}

/// xorshift64: a fixed sequence of kill moments, so a failure can be re-run as it happened.
struct Prng(u64);

impl Prng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Everything a kill must not break, checked in this process. Returns the number of cases.
fn check_in_process(lab: &Lab, rules: Rules<'_>, round: usize) -> usize {
    let store = open_when_free(&lab.store_path());
    let report = store.verify(rules).expect("verify runs");
    assert!(
        report.problems.is_empty(),
        "round {round}: {:?}",
        report.problems
    );

    let cases: BTreeMap<String, _> = store
        .cases()
        .map(|c| {
            let c = c.expect("every snapshot decodes");
            (c.reference.clone(), c)
        })
        .collect();
    let mut events = 0;
    for (reference, case) in &cases {
        let log = store.events(reference).expect("events decode");
        events += log.len();
        let seqs: Vec<u32> = log.iter().map(|e| e.seq).collect();
        let expected: Vec<u32> = (1..=log.len() as u32).collect();
        assert_eq!(
            seqs, expected,
            "round {round}: {reference} has a gap in its log"
        );
        assert_eq!(
            case.version as usize,
            log.len(),
            "round {round}: {reference}"
        );
        let replayed = workflow::replay(reference, log.iter().map(|e| &e.event), rules)
            .unwrap_or_else(|e| panic!("round {round}: {reference} does not replay: {e}"));
        assert_eq!(
            &replayed, case,
            "round {round}: {reference} snapshot differs from replay"
        );
        for key in case.contact_keys() {
            let refs = store.references_for_contact(&key).unwrap();
            assert!(
                refs.contains(reference),
                "round {round}: {reference} missing under {key}"
            );
        }
        let listed = store.references_with_status(case.status).unwrap();
        assert!(
            listed.contains(reference),
            "round {round}: {reference} not under its status"
        );
        // A linked complaint and its service request were written together: both or neither.
        for other in &case.linked_cases {
            let other = cases
                .get(other)
                .unwrap_or_else(|| panic!("round {round}: {reference} links to missing {other}"));
            assert!(
                other.linked_cases.contains(reference),
                "round {round}: {} does not link back to {reference}",
                other.reference
            );
        }
    }
    assert_eq!(events, report.events, "round {round}");
    let mut exported = Vec::new();
    assert_eq!(
        store.export(&mut exported).unwrap(),
        events,
        "round {round}"
    );

    // References run DH-2026-00001..N: none lost, none twice.
    let numbers: Vec<u64> = cases
        .keys()
        .map(|r| {
            r.strip_prefix("DH-2026-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("round {round}: unexpected reference {r}"))
        })
        .collect();
    let expected: Vec<u64> = (1..=cases.len() as u64).collect();
    assert_eq!(numbers, expected, "round {round}: references have a gap");

    // The counter survived with the cases: the next case takes the next number.
    let opened = Opened {
        kind: CaseKind::Complaint,
        received: "2026-04-01".parse().unwrap(),
        channel: Channel::Letter,
        complainant: Contact {
            name: Some(format!("Checker {round}")),
            ..Contact::default()
        },
        representative: None,
        group_members: Vec::new(),
        summary: "Written between kills".into(),
        flags: Vec::new(),
        message: None,
        handler: None,
        linked_to: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let commit = rt
        .block_on(store.open_case(opened, "checker@example.org", Utc::now(), rules))
        .expect("a case opens after the kill");
    assert_eq!(
        commit.case.reference,
        format!("DH-2026-{:05}", cases.len() + 1),
        "round {round}: the counter does not match the cases"
    );
    let events_of_check = store.events(&commit.case.reference).unwrap();
    assert_eq!(events_of_check.len(), 1);
    assert!(matches!(events_of_check[0].event, Event::Opened(_)));
    cases.len() + 1
}

#[test]
fn killing_the_process_at_any_point_never_leaves_an_event_without_its_snapshot_or_index_update() {
    let lab = Lab::new();
    let cal = Calendar::england_and_wales();
    let policy = PolicyProfile::code_2024();
    let rules = Rules {
        calendar: &cal,
        policy: &policy,
    };
    let mut prng = Prng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let mut counts = Vec::new();
    for round in 1..=12 {
        let mut writer = lab.start_writer();
        // The first round waits long enough to get past the store's creation.
        let delay = 40 + prng.below(if round == 1 { 1500 } else { 1200 });
        sleep(Duration::from_millis(delay));
        kill_group(&mut writer);

        let out = redress_when_free(&lab, &["verify"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(" 0 problems"),
            "round {round} (killed after {delay} ms): verify failed\nstdout:\n{stdout}\nstderr:\n{}\nwriter log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            lab.log_tail()
        );
        counts.push(check_in_process(&lab, rules, round));
    }
    // The writer's own output: references and "is now" lines. A process that was not killed
    // must not have failed for any reason but a held lock.
    let log = std::fs::read_to_string(lab.log()).unwrap_or_default();
    let unexpected: Vec<_> = log
        .lines()
        .filter(|l| !(l.starts_with("DH-") || l.contains("in use by another process")))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the writer failed:\n{}",
        unexpected.join("\n")
    );
    let total = *counts.last().unwrap();
    assert!(
        total > 30,
        "the writer made too little progress to test anything: {counts:?}\n{}",
        lab.log_tail()
    );
    eprintln!(
        "{} rounds, {total} cases, {:.1} s",
        counts.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_store_held_open_by_another_process_is_refused_with_a_clear_error() {
    let lab = Lab::new();
    let store = Store::open(&lab.store_path(), "DH").expect("the store opens");

    for args in [
        &["case", "list"][..],
        &["verify"][..],
        &[
            "case",
            "open",
            "--kind",
            "complaint",
            "--summary",
            "damp",
            "--by",
            "staff@example.org",
        ][..],
    ] {
        let out = lab.redress(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} succeeded while the store was held"
        );
        assert!(
            stderr.contains("in use by another process"),
            "{args:?}: stderr was {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(store.case_count(), 0, "nothing was written");

    drop(store);
    let out = redress_when_free(&lab, &["case", "list"]);
    assert!(
        out.status.success(),
        "once released the store opens: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
