//! Deadline alerts through real servers: a complaint back-filled ten working days late shows
//! as breached in the forecast, and the running daemon emails exactly one breach alert to the
//! managers' mailbox through Postfix and Dovecot, however often it scans and across a
//! restart. `GET /metrics` counts it.

#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/mail_lab.rs"]
mod mail_lab;

use std::time::Duration;

use mail_lab::{MANAGER, MailLab};
use redress::core::calendar::Calendar;

fn subject(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_owned()
}

fn breach_alerts(all: &[Vec<u8>]) -> Vec<String> {
    all.iter()
        .map(|m| subject(m))
        .filter(|s| s.contains("acknowledgement breached"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_back_filled_complaint_is_breached_in_the_forecast_and_alerted_once_to_managers() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let _lock = lab.lock_shared().await;
    let (managers_box, manager) = lab.unique_mailbox(MANAGER, "breach").await;
    let (seniors_box, senior) = lab.unique_mailbox(MANAGER, "senior").await;
    let dir = tempfile::tempdir().unwrap();
    let port = daemon::free_port();
    let config = dir.path().join("redress.toml");
    std::fs::write(
        &config,
        format!(
            "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\nemail = \"complaints@example.org\"\nphone = \"01332 000000\"\n\
             [store]\npath = \"store\"\n\
             [[staff]]\nname = \"Morgan Manager\"\nemail = \"{manager}\"\nrole = \"manager\"\n\
             [[staff]]\nname = \"Jo Senior\"\nemail = \"{senior}\"\nrole = \"senior\"\n\
             [mail]\nfrom = \"complaints@example.org\"\n\
             smtp_url = \"smtp://127.0.0.1:{smtp}?tls=none\"\n\
             [schedule]\nscan = \"*/2 * * * * *\"\ndigest = \"0 0 3 1 1 *\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n",
            smtp = lab.smtp_port,
        ),
    )
    .unwrap();

    // Received ten working days ago and never acknowledged: the acknowledgement was due five
    // working days ago.
    let calendar = Calendar::england_and_wales();
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let received = calendar.sub_working_days(today, 10);
    let ack_due = calendar.add_working_days(received, 5);
    let letter = dir.path().join("letter.eml");
    std::fs::write(
        &letter,
        "From: Jo Bloggs <jo@example.net>\r\nSubject: Formal complaint about the mould\r\n\r\n\
         I want to make a formal complaint. The mould in the bedroom is back for the third time \
         and nobody has come to fix it.\r\n",
    )
    .unwrap();
    let ingested = daemon::redress(
        &config,
        &[
            "ingest",
            "--received",
            &received.to_string(),
            letter.to_str().unwrap(),
        ],
    );
    assert!(ingested.status.success(), "{ingested:?}");
    let out: serde_json::Value = serde_json::from_slice(&ingested.stdout).unwrap();
    assert_eq!(out["result"]["outcome"], "opened", "{out}");
    let reference = out["result"]["reference"].as_str().unwrap().to_owned();

    let forecast = daemon::redress(&config, &["forecast", "--json"]);
    assert!(forecast.status.success(), "{forecast:?}");
    let f: serde_json::Value = serde_json::from_slice(&forecast.stdout).unwrap();
    let case = f["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference"] == reference.as_str())
        .unwrap_or_else(|| panic!("{reference} in {f}"));
    let ack = case["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["what"] == "ack1")
        .unwrap();
    assert_eq!(ack["state"], "breached", "{ack}");
    assert_eq!(ack["due"], ack_due.to_string());

    // The daemon scans every two seconds: the breach alert reaches the managers once. (The
    // digest is moved to New Year's Day so that it does not join them at 07:30.)
    let d = daemon::start(&config, port);
    let alert = lab
        .wait_for_subject(MANAGER, &managers_box, "breached", Duration::from_secs(60))
        .await;
    let text = String::from_utf8_lossy(&alert);
    assert!(text.contains(&reference), "{text}");
    assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
    assert!(text.contains("Code 6.2"), "{text}");
    // Five working days overdue: escalated to senior staff as well, in their own mailbox.
    lab.wait_for_subject(MANAGER, &seniors_box, "escalated", Duration::from_secs(60))
        .await;

    // While the daemon runs, the forecast comes through its API; the text form says the same.
    let remote = daemon::redress(&config, &["forecast", "--json", "--days", "5"]);
    assert!(remote.status.success(), "{remote:?}");
    let f: serde_json::Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(f["working_days"], 5);
    assert_eq!(f["cases"][0]["items"][0]["state"], "breached", "{f}");
    let raised = &f["cases"][0]["items"][0]["alerts"];
    assert!(
        raised
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["level"] == "breached" && a["raised_at"].is_string()),
        "{raised}"
    );
    let text = daemon::redress(&config, &["forecast"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("1 breached"), "{text}");
    assert!(text.contains(&format!("{ack_due}  breached")), "{text}");

    // The record of who was told what: through the API while the daemon runs.
    let listed = daemon::redress(&config, &["notifications", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let notes: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let breach = notes
        .iter()
        .find(|n| {
            n["subject"]
                .as_str()
                .unwrap()
                .contains("acknowledgement breached")
        })
        .unwrap();
    assert_eq!(breach["to"][0], manager.as_str());
    assert!(breach["email"]["delivered_at"].is_string(), "{breach}");
    let text = daemon::redress(&config, &["notifications"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("email: delivered"));

    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("redress_deadlines{state=\"breached\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("redress_cases{status=\"received\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("redress_job_runs_total{job=\"scan\"}"),
        "{metrics}"
    );

    // More scans, a restart, more scans: still one breach alert.
    tokio::time::sleep(Duration::from_secs(5)).await;
    daemon::stop(d);
    let d = daemon::start(&config, port);
    tokio::time::sleep(Duration::from_secs(5)).await;
    daemon::stop(d);
    let all = lab.fetch_all(MANAGER, &managers_box).await;
    assert_eq!(breach_alerts(&all).len(), 1, "{:?}", breach_alerts(&all));
    let seniors = lab.fetch_all(MANAGER, &seniors_box).await;
    assert_eq!(seniors.len(), 1);
}

#[test]
fn a_report_of_danger_reaches_the_on_call_contact_within_seconds_of_arriving() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = daemon::configure(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let with_on_call = text.replace(
        "auto_send_acknowledgement = false",
        "auto_send_acknowledgement = false\non_call = \"out-of-hours@example.org\"",
    );
    assert_ne!(with_on_call, text, "the example's [schedule] moved");
    std::fs::write(&config, with_on_call).unwrap();
    let d = daemon::start(&config, port);
    let new = dir.path().join("data/maildir/new");
    std::fs::write(
        new.join("gas.eml"),
        "From: Jo Bloggs <jo@example.net>\r\nSubject: Gas\r\n\r\n\
         I can smell gas in the kitchen and it is getting stronger. Please send someone.\r\n",
    )
    .unwrap();
    let staff = dir.path().join("data/outbox/staff");
    let started = std::time::Instant::now();
    let alert = loop {
        let found = std::fs::read_dir(&staff)
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .find(|m| m.contains("To: out-of-hours@example.org"));
        if let Some(m) = found {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no alert to the on-call contact in {}",
            staff.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(alert.contains("urgent"), "{alert}");
    assert!(alert.contains("Auto-Submitted: auto-generated"), "{alert}");
    daemon::stop(d);
}
