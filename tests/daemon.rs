//! The daemon on the embedded default (Maildir in, file outbox out), driven as a landlord's
//! staff would: through the real binary and its command line.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[path = "common/daemon.rs"]
mod common_daemon;
use common_daemon::{BIN, configure, hangup, redress, start, start_logging, stop};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Delivers a message into the Maildir the way an MTA does: write in tmp/, rename into new/.
fn deliver(root: &Path, name: &str, raw: &str) {
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::create_dir_all(root.join("new")).unwrap();
    let tmp = root.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, root.join("new").join(name)).unwrap();
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn resident_email_becomes_a_case_with_an_acknowledgement_draft_and_the_approved_letter_goes_out() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = configure(dir.path());
    let d = start(&config, port);
    let maildir = dir.path().join("data/maildir");
    deliver(
        &maildir,
        "1.resident",
        "From: Jo Bloggs <jo@example.net>\r\nTo: complaints@example.org\r\nSubject: Mould again\r\nMessage-ID: <first@example.net>\r\n\r\nI am fed up: the mould in the bedroom is back for the third time.\r\n",
    );
    wait_until("a case exists", || {
        !json_lines(&redress(&config, &["case", "list", "--json"])).is_empty()
    });
    let cases = json_lines(&redress(&config, &["case", "list", "--json"]));
    assert_eq!(cases.len(), 1);
    let reference = cases[0]["reference"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("EH-"), "{reference}");
    assert_eq!(cases[0]["kind"], "complaint");
    assert_eq!(cases[0]["complainant"]["email"], "jo@example.net");

    wait_until("a draft exists", || {
        !json_lines(&redress(&config, &["draft", "list", "--json"])).is_empty()
    });
    let drafts = json_lines(&redress(&config, &["draft", "list", "--json"]));
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0]["letter"]["letter"], "acknowledgement");
    let id = drafts[0]["id"].as_u64().unwrap().to_string();

    // Code 5.6: no acknowledgement before the complaint is defined; refused through the API
    // (the daemon holds the store) with the provision.
    let refused = redress(
        &config,
        &["draft", "approve", &id, "--by", "sam.handler@example.org"],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("5.6"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Staff define the complaint while the daemon runs, then approve.
    let ev = r#"{"type":"definition_recorded","definition":{"understanding":"Recurring mould in the bedroom","outcome_sought":"A lasting repair","responsible_for":"Repairs to the structure","not_responsible_for":"Damaged furniture"}}"#;
    let o = redress(
        &config,
        &[
            "case",
            "record",
            &reference,
            "--by",
            "sam.handler@example.org",
            "--event",
            ev,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let approved = redress(
        &config,
        &["draft", "approve", &id, "--by", "sam.handler@example.org"],
    );
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );

    // Letters only: staff alerts and digests go in `staff/` beside them.
    let outbox = dir.path().join("data/outbox");
    let letters = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&outbox)
            .map(|r| {
                r.filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_until("the letter is written", || !letters().is_empty());
    let letter_path = letters().remove(0);
    let letter = std::fs::read_to_string(&letter_path).unwrap();
    assert!(letter.contains(&format!("[{reference}]")), "{letter}");
    assert!(
        letter.contains("In-Reply-To: <first@example.net>"),
        "{letter}"
    );
    assert!(letter.contains("To: jo@example.net"), "{letter}");
    assert!(
        letter.contains("0300 111 3000"),
        "Housing Ombudsman details: {letter}"
    );
    assert!(
        !letter.contains("Auto-Submitted"),
        "staff-approved letters are not automatic"
    );

    wait_until("the case is acknowledged", || {
        let o = redress(&config, &["case", "show", &reference, "--json"]);
        serde_json::from_str::<serde_json::Value>(&stdout(&o))
            .is_ok_and(|v| v["case"]["status"] == "acknowledged")
    });

    // A restart (SIGTERM: clean exit within 10 s) loses nothing; the resident's reply, delivered
    // while the daemon is down, joins the same case when it is back.
    stop(d);
    let message_id = letter
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_owned();
    deliver(
        &maildir,
        "2.reply",
        &format!(
            "From: jo@example.net\r\nSubject: Re: [{reference}] We have received your complaint\r\nIn-Reply-To: {message_id}\r\nMessage-ID: <second@example.net>\r\n\r\nThank you, photos to follow.\r\n"
        ),
    );
    let d = start(&config, port);
    wait_until("the reply joins the case", || {
        let o = redress(&config, &["case", "show", &reference, "--json"]);
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).is_ok_and(|v| {
            v["case"]["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["message_id"] == "<second@example.net>"))
        })
    });
    assert_eq!(
        json_lines(&redress(&config, &["case", "list", "--json"])).len(),
        1,
        "no second case"
    );
    stop(d);
}

#[tokio::test]
async fn api_needs_the_bearer_token_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = configure(dir.path());
    let d = start(&config, port);
    let token = std::fs::read_to_string(dir.path().join("data/redress.api-token")).unwrap();
    assert!(
        token.trim().len() >= 32,
        "a generated token is long and random"
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    for auth in [None, Some("wrong-token")] {
        let mut request = http.get(format!("{base}/api/cases"));
        if let Some(t) = auth {
            request = request.bearer_auth(t);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            401,
            "token {auth:?}"
        );
    }
    let cases = http
        .get(format!("{base}/api/cases"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(cases.status(), 200);
    assert_eq!(
        cases.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );

    let missing = http
        .get(format!("{base}/api/cases/EH-2026-99999"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "no case EH-2026-99999");

    let approve = |by: &'static str| {
        http.post(format!("{base}/api/drafts/999/approve"))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({ "by": by }))
            .send()
    };
    assert_eq!(
        approve("stranger@example.net").await.unwrap().status(),
        403,
        "only staff approve"
    );
    assert_eq!(
        approve("sam.handler@example.org").await.unwrap().status(),
        404,
        "no draft 999"
    );

    // A case opened through the maildir; acknowledging it undefined is refused (Code 5.6).
    deliver(
        &dir.path().join("data/maildir"),
        "1.m",
        "From: a@example.net\r\nSubject: Not happy\r\n\r\nI am not happy with the repair.\r\n",
    );
    let mut reference = String::new();
    for _ in 0..100 {
        let list = api_get(&base, token.trim(), "/api/cases").await;
        if let Some(r) = list[0]["reference"].as_str() {
            reference = r.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!reference.is_empty(), "the message became a case");
    let refused = http
        .post(format!("{base}/api/cases/{reference}/events"))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "by": "sam.handler@example.org", "event": { "type": "acknowledged", "on": "2026-12-01" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("Code 5.6"),
        "{body}"
    );

    // Staff log a phone complaint and read what is due, while the daemon holds the store.
    let opened = redress(
        &config,
        &[
            "case",
            "open",
            "--kind",
            "complaint",
            "--received",
            "2026-12-18",
            "--name",
            "Sam Caller",
            "--summary",
            "Rang about a leaking roof",
            "--by",
            "sam.handler@example.org",
        ],
    );
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let phone_ref = stdout(&opened).trim().to_owned();
    assert!(phone_ref.starts_with("EH-2026-"), "{phone_ref}");
    // 5 working days after Friday 18 December, skipping Christmas, the Boxing Day substitute
    // and the example configuration's office closure on 24 December.
    let due = json_lines(&redress(
        &config,
        &["due", "--from", "2026-12-19", "--json"],
    ));
    assert!(
        due.iter().any(|e| e["reference"] == phone_ref.as_str()
            && e["what"] == "ack1"
            && e["due"] == "2026-12-30"),
        "{due:?}"
    );

    // No email address: the approved acknowledgement is printed and posted, and recording
    // that acknowledges the case (on the day it is recorded, so the call is in the past).
    let opened = redress(
        &config,
        &[
            "case",
            "open",
            "--kind",
            "complaint",
            "--received",
            "2026-11-02",
            "--name",
            "Pat Letter",
            "--summary",
            "Rang: the communal door is broken again",
            "--by",
            "sam.handler@example.org",
        ],
    );
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let phone_ref = stdout(&opened).trim().to_owned();
    let wait_for_draft = || {
        json_lines(&redress(&config, &["draft", "list", "--json"]))
            .into_iter()
            .find(|d| d["reference"] == phone_ref.as_str())
    };
    let start_wait = Instant::now();
    let draft = loop {
        if let Some(d) = wait_for_draft() {
            break d;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(20),
            "no draft for {phone_ref}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(draft["to"], serde_json::Value::Null, "by post");
    let id = draft["id"].as_u64().unwrap().to_string();
    let by = ["--by", "sam.handler@example.org"];
    let ev = r#"{"type":"definition_recorded","definition":{"understanding":"Roof leak","outcome_sought":"Repair","responsible_for":"The roof","not_responsible_for":"Contents"}}"#;
    assert!(
        redress(
            &config,
            &["case", "record", &phone_ref, "--event", ev, by[0], by[1]]
        )
        .status
        .success()
    );
    let early = redress(&config, &["draft", "posted", &id, by[0], by[1]]);
    assert!(
        !early.status.success(),
        "a letter is approved before it is posted"
    );
    assert!(
        redress(&config, &["draft", "approve", &id, by[0], by[1]])
            .status
            .success()
    );
    let posted = redress(&config, &["draft", "posted", &id, by[0], by[1]]);
    assert!(
        posted.status.success(),
        "{}",
        String::from_utf8_lossy(&posted.stderr)
    );
    let shown: serde_json::Value = serde_json::from_str(&stdout(&redress(
        &config,
        &["case", "show", &phone_ref, "--json"],
    )))
    .unwrap();
    assert_eq!(shown["case"]["status"], "acknowledged");
    stop(d);
}

/// `GET {base}{path}` from the daemon's API with the bearer token, as JSON.
async fn api_get(base: &str, token: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The daemon's log so far.
fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// The kinds of the cases so far, in reference order, through the API (the daemon's own
/// view, whatever the rule files on disk say now).
async fn kinds(base: &str, token: &str) -> Vec<String> {
    let cases = api_get(base, token, "/api/cases").await;
    let mut cases: Vec<(String, String)> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["reference"].as_str().unwrap_or_default().to_owned(),
                c["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    cases.sort();
    cases.into_iter().map(|(_, kind)| kind).collect()
}

/// Waits until the API lists `n` cases, then gives their kinds.
async fn kinds_of(n: usize, base: &str, token: &str, log: &Path) -> Vec<String> {
    let begun = Instant::now();
    loop {
        let kinds = kinds(base, token).await;
        if kinds.len() >= n {
            return kinds;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(20),
            "timed out waiting for case {n}:\n{}",
            log_text(log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A message from `from` that only the test's made-up word can classify.
fn zorblax(from: &str, n: u32) -> String {
    format!(
        "From: {from}\r\nTo: complaints@example.org\r\nSubject: Note {n}\r\nMessage-ID: <z{n}@example.net>\r\n\r\nThe zorblax is here.\r\n"
    )
}

#[test]
fn the_daemon_refuses_to_start_on_a_broken_rule_set_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _port) = configure(dir.path());
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("mine.toml"),
        "[[rule]]\nid = \"mine.tap\"\npatterns = ['dripping (tap']\nkind = \"service_request\"\n",
    )
    .unwrap();
    let stderr = refused_start(dir.path(), &config);
    assert!(
        stderr.contains("classify.rules") && stderr.contains("mine.toml:3"),
        "{stderr}"
    );
}

/// Runs the daemon on `config` and expects it to refuse to start before opening the store;
/// returns what it said.
fn refused_start(dir: &std::path::Path, config: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env_remove("REDRESS_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started: {stderr}");
    // Nothing was opened: the store was never created.
    assert!(!dir.join("data/redress.sled").exists());
    stderr
}

#[test]
fn the_daemon_refuses_to_start_on_a_broken_letter_template_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _port) = configure(dir.path());
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), templates.join(entry.file_name())).unwrap();
    }
    let ack = templates.join("stage1_ack.txt");
    let text = std::fs::read_to_string(&ack).unwrap();
    assert!(text.contains("{% block body %}"));
    std::fs::write(&ack, text.replace("{% block body %}", "{% block body %")).unwrap();
    let stderr = refused_start(dir.path(), &config);
    assert!(
        stderr.contains("letters.templates") && stderr.contains("stage1_ack.txt:3"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sighup_reloads_the_rules_and_a_broken_rule_file_leaves_the_rules_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = configure(dir.path());
    // Rules only (no learned component), so the rule file alone decides.
    let text = std::fs::read_to_string(&config).unwrap();
    let rules_only = text.replace("learned_influence = 0.25", "learned_influence = 0.0");
    assert_ne!(rules_only, text, "the example's [classify] section moved");
    std::fs::write(&config, rules_only).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let rule_file = rules.join("test.toml");
    let rule = |pattern: &str, kind: &str| {
        format!(
            "[[rule]]\nid = \"test.zorblax\"\npatterns = ['{pattern}']\nkind = \"{kind}\"\nweight = 3.0\n"
        )
    };
    std::fs::write(&rule_file, rule("zorblax", "compliment")).unwrap();
    let log = dir.path().join("daemon.log");
    let d = start_logging(&config, port, &log);
    let token = std::fs::read_to_string(dir.path().join("data/redress.api-token")).unwrap();
    let token = token.trim();
    let base = format!("http://127.0.0.1:{port}");
    let maildir = dir.path().join("data/maildir");

    deliver(&maildir, "1.m", &zorblax("a@example.net", 1));
    assert_eq!(kinds_of(1, &base, token, &log).await, ["compliment"]);

    // The landlord edits the rule and signals: the new rule is in force.
    std::fs::write(&rule_file, rule("zorblax", "comment")).unwrap();
    hangup(&d);
    wait_until("the reload is logged", || {
        log_text(&log).contains("classification rules reloaded")
    });
    deliver(&maildir, "2.m", &zorblax("b@example.net", 2));
    assert_eq!(
        kinds_of(2, &base, token, &log).await,
        ["compliment", "comment"]
    );

    // A typo (line 3): refused, every problem logged at error level with file and line, and
    // the rules in force stay.
    std::fs::write(&rule_file, rule("zorblax(", "compliment")).unwrap();
    hangup(&d);
    wait_until("the refusal is logged", || {
        log_text(&log).contains("classification rules refused")
    });
    let logged = log_text(&log);
    assert!(
        logged
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("test.toml:3")),
        "{logged}"
    );
    deliver(&maildir, "3.m", &zorblax("c@example.net", 3));
    assert_eq!(
        kinds_of(3, &base, token, &log).await,
        ["compliment", "comment", "comment"]
    );
    stop(d);
}

#[tokio::test]
async fn a_reclassification_through_the_api_is_kept_as_a_correction_and_retrains_the_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = configure(dir.path());
    let log = dir.path().join("daemon.log");
    let d = start_logging(&config, port, &log);
    let token = std::fs::read_to_string(dir.path().join("data/redress.api-token")).unwrap();
    let token = token.trim().to_owned();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let maildir = dir.path().join("data/maildir");
    // Wording no corpus message and no rule knows.
    let wording = "Flumbergast quintrel wibbleton snorkdash vorpaline.";
    let message = |from: &str, n: u32| {
        format!(
            "From: {from}\r\nTo: complaints@example.org\r\nSubject: Flumbergast\r\nMessage-ID: <f{n}@example.net>\r\n\r\n{wording}\r\n"
        )
    };
    // The learned view kept with the first message of the `n`-th case.
    let learned_of = |n: usize| {
        let (base, token) = (&base, &token);
        async move {
            for _ in 0..200 {
                let cases = api_get(base, token, "/api/cases").await;
                if let Some(reference) = cases[n]["reference"].as_str() {
                    let shown = api_get(base, token, &format!("/api/cases/{reference}")).await;
                    return (
                        reference.to_owned(),
                        shown["case"]["messages"][0]["classification"]["learned"].clone(),
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("case {n} never opened");
        }
    };

    deliver(&maildir, "1.m", &message("a@example.net", 1));
    let (reference, before) = learned_of(0).await;
    assert_ne!(before["kind"], "compliment", "{before}");

    // Staff say what it really was.
    let recorded = http
        .post(format!("{base}/api/cases/{reference}/events"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "by": "sam.handler@example.org",
            "event": { "type": "reclassified", "kind": "compliment", "reason": "the resident was thanking us" }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(recorded.status(), 200, "{}", recorded.text().await.unwrap());

    // The next message in the same words is read with the correction.
    deliver(&maildir, "2.m", &message("b@example.net", 2));
    let (_, after) = learned_of(1).await;
    assert_eq!(after["kind"], "compliment", "{after}");
    assert!(after["probability"].as_f64().unwrap() > 0.5, "{after}");
    stop(d);
    assert!(
        log_text(&log).contains("corrections=1"),
        "the retrained model's size is logged:\n{}",
        log_text(&log)
    );

    // The correction is in the store, with the words of the message that opened the case.
    let loaded = redress::config::load(&config, std::iter::empty()).unwrap();
    let store = redress::store::Store::open(&loaded.store_path, "EH").unwrap();
    let corrections = store.corrections().unwrap();
    assert_eq!(corrections.len(), 1, "{corrections:?}");
    assert_eq!(
        corrections[0].kind,
        redress::classify::MessageKind::Compliment
    );
    assert_eq!(corrections[0].subject, "Flumbergast");
    assert!(corrections[0].body.contains(wording), "{corrections:?}");
}

#[tokio::test]
async fn a_draft_edited_through_the_running_daemon_keeps_before_and_after_and_is_judged_as_edited()
{
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = configure(dir.path());
    let d = start(&config, port);
    let token = std::fs::read_to_string(dir.path().join("data/redress.api-token")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    deliver(
        &dir.path().join("data/maildir"),
        "1.m",
        "From: Jo Bloggs <jo@example.net>\r\nSubject: Mould again\r\n\r\nI am fed up: the mould is back.\r\n",
    );
    let mut draft = serde_json::Value::Null;
    for _ in 0..100 {
        let drafts = api_get(&base, token.trim(), "/api/drafts").await;
        if let Some(first) = drafts.as_array().and_then(|a| a.first()) {
            draft = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = draft["id"]
        .as_u64()
        .expect("an acknowledgement was drafted");
    let original = draft["body"].as_str().unwrap().to_owned();
    assert!(
        draft["html"]
            .as_str()
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    assert!(
        draft["problems"].to_string().contains("Code 5.6"),
        "drafted before the definition: {draft}"
    );

    // The command line reaches the store through the daemon's API while it runs.
    let cut = original
        .split("You can contact the Housing Ombudsman")
        .next()
        .unwrap()
        .to_owned();
    let text = dir.path().join("edited.txt");
    std::fs::write(&text, &cut).unwrap();
    let edited = redress(
        &config,
        &[
            "draft",
            "edit",
            &id.to_string(),
            "--by",
            "sam.handler@example.org",
            "--text",
            text.to_str().unwrap(),
        ],
    );
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    let said = stdout(&edited);
    assert!(
        said.contains("cannot be approved until") && said.contains("Code 3.7"),
        "{said}"
    );
    let shown = api_get(&base, token.trim(), &format!("/api/drafts/{id}")).await;
    assert_eq!(shown["edits"][0]["by"], "sam.handler@example.org");
    assert_eq!(shown["edits"][0]["body_before"], original.as_str());
    assert_eq!(shown["edits"][0]["body_after"], cut.as_str());

    let approve = redress(
        &config,
        &[
            "draft",
            "approve",
            &id.to_string(),
            "--by",
            "sam.handler@example.org",
        ],
    );
    assert!(!approve.status.success());
    let stderr = String::from_utf8_lossy(&approve.stderr);
    assert!(
        stderr.contains("Code 3.7") && stderr.contains("Code 5.6"),
        "{stderr}"
    );
    stop(d);
}
