//! The whole loop through real servers, as a landlord runs it: a resident emails the
//! complaints address through Postfix, the daemon (IMAP IDLE on Dovecot) opens a case and
//! drafts the acknowledgement, staff approve it from the command line, the letter reaches the
//! resident's mailbox through Postfix, threaded to their message, with a copy in Sent, and the
//! resident's reply joins the same case.

#[path = "common/mail_lab.rs"]
mod mail_lab;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mail_lab::{COMPLAINTS, MailLab, RESIDENT};

const BIN: &str = env!("CARGO_BIN_EXE_redress");

/// Kills the daemon if the test ends early.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redress(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
}

#[tokio::test]
async fn a_residents_email_is_acknowledged_by_an_approved_letter_and_their_reply_joins_the_case() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let _lock = lab.lock_shared().await;
    let (inbox, complaints) = lab.unique_mailbox(COMPLAINTS, "e2e").await;
    let (resident_box, resident) = lab.unique_mailbox(RESIDENT, "e2e").await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("redress.toml");
    std::fs::write(
        &config,
        format!(
            "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\nemail = \"complaints@example.org\"\nphone = \"01332 000000\"\n\
             [store]\npath = \"store\"\n\
             [[staff]]\nname = \"Sam Handler\"\nemail = \"sam.handler@example.org\"\nrole = \"handler\"\n\
             [mail]\nfrom = \"complaints@example.org\"\n\
             imap_url = \"imap://complaints%40example.org@127.0.0.1:{imap}/{inbox}\"\nimap_password = \"secret\"\n\
             processed_folder = \"{inbox}-Processed\"\nquarantine_folder = \"{inbox}-Quarantine\"\nsent_folder = \"{inbox}-Sent\"\n\
             smtp_url = \"smtp://127.0.0.1:{smtp}?tls=none\"\nidle_recheck_seconds = 60\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n",
            imap = lab.imap_port,
            smtp = lab.smtp_port,
        ),
    )
    .unwrap();
    let _daemon = Daemon(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("REDRESS_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the daemon listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;

    // The resident writes in.
    let first_id = format!("<first.{resident_box}@example.net>");
    let complaint = format!(
        "From: Jo Bloggs <{resident}>\r\nTo: {complaints}\r\nSubject: Mould again\r\nMessage-ID: {first_id}\r\n\r\n\
         I am fed up: the mould in the bedroom is back for the third time.\r\n"
    );
    lab.send_raw(&resident, &complaints, complaint.as_bytes())
        .await
        .unwrap();
    wait_until("a case exists", || {
        !json_lines(&redress(&config, &["case", "list", "--json"])).is_empty()
    })
    .await;
    let cases = json_lines(&redress(&config, &["case", "list", "--json"]));
    assert_eq!(cases.len(), 1);
    let reference = cases[0]["reference"].as_str().unwrap().to_owned();
    assert_eq!(cases[0]["kind"], "complaint");
    assert_eq!(cases[0]["complainant"]["email"], resident.as_str());

    // Staff define the complaint and approve the drafted acknowledgement.
    wait_until("the acknowledgement is drafted", || {
        !json_lines(&redress(&config, &["draft", "list", "--json"])).is_empty()
    })
    .await;
    let draft = json_lines(&redress(&config, &["draft", "list", "--json"])).remove(0);
    assert_eq!(draft["letter"]["letter"], "acknowledgement");
    let definition = r#"{"type":"definition_recorded","definition":{"understanding":"Recurring mould in the bedroom","outcome_sought":"A lasting repair","responsible_for":"Repairs to the structure","not_responsible_for":"Damaged furniture"}}"#;
    let recorded = redress(
        &config,
        &[
            "case",
            "record",
            &reference,
            "--by",
            "sam.handler@example.org",
            "--event",
            definition,
        ],
    );
    assert!(
        recorded.status.success(),
        "{}",
        String::from_utf8_lossy(&recorded.stderr)
    );
    let id = draft["id"].as_u64().unwrap().to_string();
    let approved = redress(
        &config,
        &["draft", "approve", &id, "--by", "sam.handler@example.org"],
    );
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );

    // The letter arrives in the resident's own mailbox, threaded to their message.
    let letter = lab
        .wait_for_messages(RESIDENT, &resident_box, 1, Duration::from_secs(30))
        .await
        .remove(0);
    let letter = String::from_utf8_lossy(&letter).into_owned();
    assert!(
        header(&letter, "Subject:").is_some_and(|s| s.contains(&format!("[{reference}]"))),
        "{letter}"
    );
    assert_eq!(
        header(&letter, "In-Reply-To:"),
        Some(first_id.as_str()),
        "{letter}"
    );
    assert!(
        header(&letter, "Auto-Submitted:").is_none(),
        "a staff-approved letter is not automatic"
    );
    let letter_id = header(&letter, "Message-ID:").unwrap().to_owned();
    assert_eq!(letter_id, draft["message_id"].as_str().unwrap());
    let sent = lab
        .wait_for_messages(
            COMPLAINTS,
            &format!("{inbox}-Sent"),
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(sent.len(), 1, "one copy in Sent");
    wait_until("the case is acknowledged", || {
        let o = redress(&config, &["case", "show", &reference, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .is_ok_and(|v| v["case"]["status"] == "acknowledged")
    })
    .await;

    // The resident replies to the letter; the reply joins the same case.
    let reply = format!(
        "From: {resident}\r\nTo: {complaints}\r\nSubject: Re: [{reference}] We have received your complaint\r\n\
         Message-ID: <reply.{resident_box}@example.net>\r\nIn-Reply-To: {letter_id}\r\nReferences: {first_id} {letter_id}\r\n\r\n\
         Thank you. Photos attached later.\r\n"
    );
    lab.send_raw(&resident, &complaints, reply.as_bytes())
        .await
        .unwrap();
    wait_until("the reply joins the case", || {
        let o = redress(&config, &["case", "show", &reference, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok_and(|v| {
            v["case"]["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["direction"] == "inbound" && m["message_id"] != first_id.as_str())
            })
        })
    })
    .await;
    assert_eq!(
        json_lines(&redress(&config, &["case", "list", "--json"])).len(),
        1,
        "no second case"
    );
    assert_eq!(
        lab.fetch_all(RESIDENT, &resident_box).await.len(),
        1,
        "the letter was sent once"
    );
}
