//! The outbox over real SMTP (the mail lab's Postfix) with the Sent folder on its real Dovecot:
//! an approved acknowledgement reaches the resident threaded to their email, a copy is kept in
//! Sent, the case is acknowledged, and the letter goes out exactly once — also when Postfix is
//! down for a while and after a crash between counting an attempt and sending.
//!
//! Each test has a resident mailbox of its own (`resident+TAG@example.net` is delivered to the
//! resident account's mailbox `TAG`) and a Sent folder of its own, so tests run side by side.
//! The test that stops Postfix takes the lab to itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use redress::config::Loaded;
use redress::core::event::Event;
use redress::core::model::ComplaintDefinition;
use redress::intake::imap::{Account, SentFolder};
use redress::intake::{Inbound, Outcome, ingest};
use redress::letters::{Draft, DraftStatus};
use redress::mail::ParsedMail;
use redress::outbox::{SendError, SmtpTransport, Transport, send_due};
use redress::store::Store;
use tokio::sync::RwLock;

/// Tests take this shared; the test that stops Postfix takes it alone.
static LAB: RwLock<()> = RwLock::const_new(());

const IMAP_PORT: u16 = 10143;
const SMTP_PORT: u16 = 10025;
const STAFF: &str = "sam@example.org";

fn unique_tag(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{name}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn account(user: &str, mailbox: &str) -> Account {
    let user = user.replace('@', "%40");
    Account::parse(
        &format!("imap://{user}@127.0.0.1:{IMAP_PORT}/{mailbox}"),
        "secret",
    )
    .unwrap()
}

/// The messages in a folder of `user`'s account, parsed; none if the folder does not exist.
async fn messages(user: &str, folder: &str) -> Vec<ParsedMail> {
    let mut conn = account(user, "INBOX")
        .connect()
        .await
        .expect("the lab's Dovecot answers");
    let mut out = Vec::new();
    if conn.examine(folder).await.is_ok() {
        for uid in conn.uid_search("ALL").await.unwrap() {
            if let Some(m) = conn.fetch(uid).await.unwrap() {
                out.push(redress::mail::parse(&m.raw, 10 << 20).expect("a letter parses"));
            }
        }
    }
    conn.logout().await;
    out
}

/// Waits until `user`'s `folder` holds `n` messages; returns them.
async fn wait_for_messages(user: &str, folder: &str, n: usize, limit: Duration) -> Vec<ParsedMail> {
    let start = Instant::now();
    loop {
        let found = messages(user, folder).await;
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < limit,
            "waited {limit:?} for {n} messages in {user}'s {folder}, found {}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn mail_lab(command: &'static str) {
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mail-lab"))
            .arg(command)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "mail-lab {command}");
}

/// One test's world: a store, a configuration sending through the lab's Postfix with a Sent
/// folder of its own, and a resident whose mail lands in a mailbox of its own.
struct Outbox {
    _dir: tempfile::TempDir,
    tag: String,
    store: Store,
    loaded: Arc<Loaded>,
}

impl Outbox {
    async fn new(name: &str, smtp_url: &str) -> Outbox {
        let tag = unique_tag(name);
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\n\
             [store]\npath = \"store\"\n\
             [mail]\nsmtp_url = \"{smtp_url}\"\n\
             imap_url = \"imap://complaints%40example.org@127.0.0.1:{IMAP_PORT}/INBOX\"\nimap_password = \"secret\"\n\
             from = \"complaints@example.org\"\nsent_folder = \"{tag}-Sent\"\n"
        );
        let loaded = redress::config::load_str(&text, "redress.toml", dir.path(), Vec::new())
            .expect("the test configuration is valid");
        let store = Store::open(&loaded.store_path, "EH").unwrap();
        Outbox {
            _dir: dir,
            tag,
            store,
            loaded: Arc::new(loaded),
        }
    }

    /// The resident's address for this test.
    fn resident(&self, who: &str) -> String {
        format!("{who}+{}@example.net", self.tag)
    }

    fn sent_folder(&self) -> String {
        format!("{}-Sent", self.tag)
    }

    fn transport(&self) -> Transport {
        Transport::from_config(&self.loaded)
            .expect("the transport builds")
            .expect("smtp_url is set")
    }

    /// A resident's complaint email taken in; returns the case reference.
    async fn complaint_from(&self, address: &str, message_id: &str) -> String {
        let raw = format!(
            "From: Rita Resident <{address}>\r\nTo: complaints@example.org\r\nSubject: Damp and mould in my bedroom\r\n\
             Message-ID: {message_id}\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n\
             I want to make a complaint: the damp and mould in my bedroom has been reported three times.\r\n"
        );
        let inbound = Inbound {
            raw: raw.as_bytes(),
            arrived: Utc::now(),
            received: None,
            source: "test".into(),
        };
        match ingest(&self.store, &self.loaded, inbound).await.unwrap() {
            Outcome::Opened { reference, .. } => reference,
            other => panic!("the complaint opened no case: {other:?}"),
        }
    }

    /// Records the definition, drafts the acknowledgement and approves it.
    async fn approved_acknowledgement(&self, reference: &str) -> Draft {
        let definition = Event::DefinitionRecorded {
            definition: ComplaintDefinition {
                understanding: "Recurring mould in the bedroom".into(),
                outcome_sought: "A lasting repair".into(),
                responsible_for: "Repairs to the structure".into(),
                not_responsible_for: "Damaged furniture".into(),
            },
        };
        self.store
            .record(
                reference,
                definition,
                STAFF,
                Utc::now(),
                self.loaded.rules(),
            )
            .await
            .unwrap();
        let config = self.loaded.config.clone();
        let drafts = self
            .store
            .make_drafts(
                |c, l| redress::letters::plain::render(c, l, &config),
                &self.loaded.config.mail.id_domain(),
                Utc::now(),
            )
            .await
            .unwrap();
        let ack = drafts
            .into_iter()
            .find(|d| d.reference == reference && d.letter.name().starts_with("acknowledgement"))
            .expect("an acknowledgement is drafted");
        self.store
            .approve_draft(ack.id, STAFF, Utc::now())
            .await
            .unwrap()
    }

    fn event_names(&self, reference: &str) -> Vec<String> {
        self.store
            .events(reference)
            .unwrap()
            .into_iter()
            .map(|r| r.event.name().to_owned())
            .collect()
    }

    async fn cleanup(self) {
        let mut conn = account("complaints@example.org", "INBOX")
            .connect()
            .await
            .unwrap();
        let _ = conn.delete_folder(&self.sent_folder()).await;
        conn.logout().await;
        let mut conn = account("resident@example.net", "INBOX")
            .connect()
            .await
            .unwrap();
        let _ = conn.delete_folder(&self.tag).await;
        conn.logout().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_acknowledgement_reaches_the_resident_threaded_with_a_sent_copy_exactly_once() {
    let _lab = LAB.read().await;
    let outbox = Outbox::new("ack", &format!("smtp://127.0.0.1:{SMTP_PORT}?tls=none")).await;
    let resident = outbox.resident("resident");
    let reference = outbox
        .complaint_from(&resident, "<complaint-1@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    let mut not_before = HashMap::new();

    let sent = send_due(&outbox.store, &outbox.loaded, &transport, &mut not_before)
        .await
        .unwrap();
    assert_eq!(sent, 1);
    let received = wait_for_messages(
        "resident@example.net",
        &outbox.tag,
        1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(received.len(), 1);
    let letter = &received[0];
    assert!(
        letter.subject.starts_with(&format!("[{reference}] ")),
        "{}",
        letter.subject
    );
    assert!(reference.starts_with("EH-"));
    assert_eq!(
        letter.message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    assert_eq!(letter.in_reply_to, ["<complaint-1@example.net>"]);
    assert_eq!(letter.from.address, "complaints@example.org");

    let copies = messages("complaints@example.org", &outbox.sent_folder()).await;
    assert_eq!(copies.len(), 1, "one copy in Sent");
    assert_eq!(
        copies[0].message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    let sent_folder = SentFolder::from_config(&outbox.loaded.config.mail).unwrap();
    assert!(sent_folder.contains(&draft.message_id).await.unwrap());
    assert!(
        !sent_folder
            .contains("<never-sent@example.org>")
            .await
            .unwrap()
    );

    assert_eq!(
        outbox.store.draft(draft.id).unwrap().status,
        DraftStatus::Sent
    );
    assert!(
        outbox
            .event_names(&reference)
            .contains(&"acknowledged".to_owned()),
        "{:?}",
        outbox.event_names(&reference)
    );

    // Sending again sends nothing.
    assert_eq!(
        send_due(&outbox.store, &outbox.loaded, &transport, &mut not_before)
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        messages("resident@example.net", &outbox.tag).await.len(),
        1,
        "exactly one letter"
    );
    assert_eq!(
        messages("complaints@example.org", &outbox.sent_folder())
            .await
            .len(),
        1
    );
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postfix_stopped_the_letter_stays_queued_and_goes_out_once_when_it_is_back() {
    let _lab = LAB.write().await;
    let outbox = Outbox::new("down", &format!("smtp://127.0.0.1:{SMTP_PORT}?tls=none")).await;
    let reference = outbox
        .complaint_from(&outbox.resident("resident"), "<complaint-down@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    let mut not_before = HashMap::new();

    mail_lab("stop-postfix").await;
    let sent = send_due(&outbox.store, &outbox.loaded, &transport, &mut not_before).await;
    mail_lab("start-postfix").await;
    assert_eq!(sent.unwrap(), 0);
    let queued = outbox.store.draft(draft.id).unwrap();
    assert_eq!(queued.status, DraftStatus::Approved, "still in the outbox");
    assert_eq!(queued.attempts, 1);
    assert!(queued.last_error.is_some());
    assert_eq!(outbox.store.outbox().unwrap().len(), 1);

    // The backoff (5 s after the first failure) holds it back, then it goes.
    assert_eq!(
        send_due(&outbox.store, &outbox.loaded, &transport, &mut not_before)
            .await
            .unwrap(),
        0
    );
    let start = Instant::now();
    let mut total = 0;
    while total == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the letter was not sent after Postfix came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        total += send_due(&outbox.store, &outbox.loaded, &transport, &mut not_before)
            .await
            .unwrap();
    }
    assert_eq!(total, 1);
    wait_for_messages(
        "resident@example.net",
        &outbox.tag,
        1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        send_due(&outbox.store, &outbox.loaded, &transport, &mut not_before)
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        messages("resident@example.net", &outbox.tag).await.len(),
        1,
        "exactly one letter"
    );
    assert_eq!(
        outbox.store.draft(draft.id).unwrap().status,
        DraftStatus::Sent
    );
    assert!(
        outbox
            .event_names(&reference)
            .contains(&"acknowledged".to_owned())
    );
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_mid_send_a_letter_found_in_sent_is_marked_sent_without_a_second_copy() {
    let _lab = LAB.read().await;
    let outbox = Outbox::new("crash", &format!("smtp://127.0.0.1:{SMTP_PORT}?tls=none")).await;
    let reference = outbox
        .complaint_from(
            &outbox.resident("resident"),
            "<complaint-crash@example.net>",
        )
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    // The attempt was counted, the letter went out and was copied to Sent, and the process
    // died before recording the send.
    let attempted = outbox
        .store
        .record_attempt(draft.id, "sending")
        .await
        .unwrap();
    assert_eq!(attempted.attempts, 1);
    let message = redress::outbox::build_message(&attempted, &outbox.loaded.config.mail).unwrap();
    let sent_folder = SentFolder::from_config(&outbox.loaded.config.mail).unwrap();
    sent_folder.append(&message.formatted()).await.unwrap();

    let transport = outbox.transport();
    let sent = send_due(
        &outbox.store,
        &outbox.loaded,
        &transport,
        &mut HashMap::new(),
    )
    .await
    .unwrap();
    assert_eq!(sent, 1, "recorded as sent");
    assert_eq!(
        outbox.store.draft(draft.id).unwrap().status,
        DraftStatus::Sent
    );
    assert!(
        outbox
            .event_names(&reference)
            .contains(&"acknowledged".to_owned())
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        messages("resident@example.net", &outbox.tag)
            .await
            .is_empty(),
        "no second copy was sent"
    );
    assert_eq!(
        messages("complaints@example.org", &outbox.sent_folder())
            .await
            .len(),
        1
    );
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_before_anything_went_out_the_letter_is_sent_once() {
    let _lab = LAB.read().await;
    let outbox = Outbox::new(
        "crash-early",
        &format!("smtp://127.0.0.1:{SMTP_PORT}?tls=none"),
    )
    .await;
    let reference = outbox
        .complaint_from(
            &outbox.resident("resident"),
            "<complaint-early@example.net>",
        )
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    outbox
        .store
        .record_attempt(draft.id, "sending")
        .await
        .unwrap();
    let transport = outbox.transport();
    assert_eq!(
        send_due(
            &outbox.store,
            &outbox.loaded,
            &transport,
            &mut HashMap::new()
        )
        .await
        .unwrap(),
        1
    );
    let received = wait_for_messages(
        "resident@example.net",
        &outbox.tag,
        1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        received[0].message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    assert_eq!(
        messages("complaints@example.org", &outbox.sent_folder())
            .await
            .len(),
        1
    );
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_recipient_is_a_permanent_failure_recorded_on_the_case() {
    let _lab = LAB.read().await;
    let outbox = Outbox::new("unknown", &format!("smtp://127.0.0.1:{SMTP_PORT}?tls=none")).await;
    let reference = outbox
        .complaint_from(
            "nobody-at-all@example.net",
            "<complaint-unknown@example.net>",
        )
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    assert_eq!(
        send_due(
            &outbox.store,
            &outbox.loaded,
            &transport,
            &mut HashMap::new()
        )
        .await
        .unwrap(),
        0
    );
    let failed = outbox.store.draft(draft.id).unwrap();
    assert_eq!(failed.status, DraftStatus::Failed);
    let case = outbox.store.case(&reference).unwrap().unwrap();
    assert_eq!(case.delivery_failures.len(), 1);
    assert!(outbox.store.outbox().unwrap().is_empty());
    assert!(
        messages("complaints@example.org", &outbox.sent_folder())
            .await
            .is_empty(),
        "nothing copied to Sent"
    );
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_to_postfix_with_the_lab_ca_delivers_the_letter() {
    let _lab = LAB.read().await;
    let outbox = Outbox::new("starttls", &format!("smtp://127.0.0.1:{SMTP_PORT}")).await;
    let reference = outbox
        .complaint_from(&outbox.resident("resident"), "<complaint-tls@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    assert_eq!(
        send_due(
            &outbox.store,
            &outbox.loaded,
            &transport,
            &mut HashMap::new()
        )
        .await
        .unwrap(),
        1
    );
    let received = wait_for_messages(
        "resident@example.net",
        &outbox.tag,
        1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        received[0].message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    outbox.cleanup().await;
}

#[test]
fn smtp_urls_that_cannot_work_are_refused_with_the_reason() {
    let mail = redress::config::MailConfig::default();
    let refused = |url: &str| match SmtpTransport::new(url, &mail) {
        Ok(_) => panic!("{url} was accepted"),
        Err(SendError::Permanent(why)) => why,
        Err(other) => panic!("{url}: not a permanent error: {other}"),
    };
    assert_eq!(
        refused("smtps://host?tls=none"),
        "mail.smtp_url `smtps://host?tls=none`: smtps:// is TLS: drop tls=none, or use smtp://"
    );
    assert_eq!(
        refused("smtp://host?tls=maybe"),
        "mail.smtp_url `smtp://host?tls=maybe`: unknown tls=maybe: the only choice is tls=none"
    );
    assert_eq!(
        refused("pop3://host"),
        "mail.smtp_url `pop3://host`: unsupported scheme pop3"
    );
    for url in [
        "smtp://127.0.0.1:10025?tls=none",
        "smtp://u%40x@mail.example.org",
        "smtps://mail.example.org",
    ] {
        assert!(SmtpTransport::new(url, &mail).is_ok(), "{url}");
    }
}
