//! The outbox over real SMTP (the mail lab's Postfix) with the Sent folder on its real Dovecot:
//! an approved acknowledgement reaches the resident threaded to their email, a copy is kept in
//! Sent, the case is acknowledged, and the letter goes out exactly once — also when Postfix is
//! down for a while and after a crash between counting an attempt and sending.
//!
//! Each test has a resident mailbox of its own (`resident+TAG@example.net` is delivered to the
//! resident account's mailbox `TAG`) and a Sent folder of its own, so tests run side by side.
//! The test that stops Postfix holds the lab's exclusive lock.

#[path = "common/mail_lab.rs"]
mod mail_lab;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mail_lab::{COMPLAINTS, MailLab, RESIDENT};
use redress::config::Loaded;
use redress::core::event::Event;
use redress::core::model::ComplaintDefinition;
use redress::intake::imap::{Account, SentFolder};
use redress::intake::{Inbound, Outcome, ingest};
use redress::letters::{Draft, DraftStatus};
use redress::mail::ParsedMail;
use redress::outbox::{SendError, SmtpTransport, Transport, send_due};
use redress::store::Store;

const STAFF: &str = "sam@example.org";

/// The lab (its CA is trusted through `mail.ca_file` in each test's configuration);
/// `None` means skip.
fn lab() -> Option<MailLab> {
    MailLab::from_env_or_start()
}

fn parse(raw: &[u8]) -> ParsedMail {
    redress::mail::parse(raw, 10 << 20).expect("a letter parses")
}

/// The messages in a folder of `user`'s account, parsed; none if the folder does not exist.
async fn messages(lab: &MailLab, user: &str, folder: &str) -> Vec<ParsedMail> {
    let url = format!(
        "imap://{}@127.0.0.1:{}/INBOX",
        user.replace('@', "%40"),
        lab.imap_port
    );
    let account = Account::parse(&url, mail_lab::PASSWORD).unwrap();
    let mut conn = account.connect().await.expect("the lab's Dovecot answers");
    let mut out = Vec::new();
    if conn.examine(folder).await.is_ok() {
        for uid in conn.uid_search("ALL").await.unwrap() {
            if let Some(m) = conn.fetch(uid).await.unwrap() {
                out.push(parse(&m.raw));
            }
        }
    }
    conn.logout().await;
    out
}

/// One test's world: a store, a configuration sending through the lab's Postfix with a Sent
/// folder of its own, and a resident whose mail lands in a mailbox of its own.
struct Outbox {
    lab: MailLab,
    _dir: tempfile::TempDir,
    /// The resident's mailbox for this test; the Sent folder is `TAG-Sent`.
    tag: String,
    /// The resident's address that delivers into `tag`.
    resident: String,
    store: Store,
    loaded: Arc<Loaded>,
}

impl Outbox {
    /// `smtp` is the query of the lab's SMTP URL: `"?tls=none"`, or `""` for STARTTLS.
    async fn new(lab: &MailLab, name: &str, smtp: &str) -> Outbox {
        let (tag, resident) = lab.unique_mailbox(RESIDENT, name).await;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\nemail = \"complaints@example.org\"\nphone = \"01332 000000\"\n\
             [store]\npath = \"store\"\n\
             [mail]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}{smtp}\"\n\
             imap_url = \"imap://complaints%40example.org@127.0.0.1:{imap_port}/INBOX\"\n\
             imap_password = \"secret\"\nfrom = \"complaints@example.org\"\nsent_folder = \"{tag}-Sent\"\n\
             ca_file = \"{ca}\"\n",
            smtp_port = lab.smtp_port,
            imap_port = lab.imap_port,
            ca = lab.ca_pem.display(),
        );
        let loaded = redress::config::load_str(&text, "redress.toml", dir.path(), Vec::new())
            .expect("the test configuration is valid");
        let store = Store::open(&loaded.store_path, "EH").unwrap();
        Outbox {
            lab: lab.clone(),
            _dir: dir,
            tag,
            resident,
            store,
            loaded: Arc::new(loaded),
        }
    }

    fn sent_folder(&self) -> String {
        format!("{}-Sent", self.tag)
    }

    fn transport(&self) -> Transport {
        Transport::from_config(&self.loaded)
            .expect("the transport builds")
            .expect("smtp_url is set")
    }

    async fn send_due(
        &self,
        transport: &Transport,
        not_before: &mut HashMap<u64, std::time::Instant>,
    ) -> usize {
        send_due(&self.store, &self.loaded, transport, not_before)
            .await
            .expect("the store works")
    }

    /// A resident's complaint email taken in; returns the case reference.
    async fn complaint_from(&self, address: &str, message_id: &str) -> String {
        let raw = format!(
            "From: Rita Resident <{address}>\r\nTo: complaints@example.org\r\n\
             Subject: Damp and mould in my bedroom\r\nMessage-ID: {message_id}\r\n\
             Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n\
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
        let templates = self.loaded.letter_templates().unwrap();
        let today = self.loaded.today();
        let drafts = self
            .store
            .make_drafts(
                |c, l| redress::letters::write::write(&templates, c, l, &config, today),
                &self.loaded.config.mail.id_domain(),
                Utc::now(),
            )
            .await
            .unwrap();
        let ack = drafts
            .into_iter()
            .find(|d| d.reference == reference && d.letter.name().starts_with("acknowledgement"))
            .expect("an acknowledgement is drafted");
        let finalise = redress::letters::write::finalise(&templates, &config, today, STAFF);
        self.store
            .approve_draft(ack.id, STAFF, Utc::now(), finalise)
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

    /// What reached the resident's mailbox for this test.
    async fn received(&self) -> Vec<ParsedMail> {
        messages(&self.lab, RESIDENT, &self.tag).await
    }

    /// Waits for `n` letters in the resident's mailbox.
    async fn wait_for_letters(&self, n: usize) -> Vec<ParsedMail> {
        let raw = self
            .lab
            .wait_for_messages(RESIDENT, &self.tag, n, Duration::from_secs(15))
            .await;
        raw.iter().map(|r| parse(r)).collect()
    }

    /// The copies in this test's Sent folder.
    async fn sent_copies(&self) -> Vec<ParsedMail> {
        messages(&self.lab, COMPLAINTS, &self.sent_folder()).await
    }

    async fn cleanup(self) {
        for (user, folder) in [
            (COMPLAINTS, self.sent_folder()),
            (RESIDENT, self.tag.clone()),
        ] {
            let url = format!(
                "imap://{}@127.0.0.1:{}/INBOX",
                user.replace('@', "%40"),
                self.lab.imap_port
            );
            let mut conn = Account::parse(&url, mail_lab::PASSWORD)
                .unwrap()
                .connect()
                .await
                .unwrap();
            let _ = conn.delete_folder(&folder).await;
            conn.logout().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_acknowledgement_reaches_the_resident_threaded_with_a_sent_copy_exactly_once() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let outbox = Outbox::new(&lab, "ack", "?tls=none").await;
    let reference = outbox
        .complaint_from(&outbox.resident, "<complaint-1@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    let mut not_before = HashMap::new();

    assert_eq!(outbox.send_due(&transport, &mut not_before).await, 1);
    let received = outbox.wait_for_letters(1).await;
    assert_eq!(received.len(), 1);
    let letter = &received[0];
    assert!(reference.starts_with("EH-"), "{reference}");
    assert!(
        letter.subject.starts_with(&format!("[{reference}] ")),
        "{}",
        letter.subject
    );
    assert_eq!(
        letter.message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    assert_eq!(letter.in_reply_to, ["<complaint-1@example.net>"]);
    assert_eq!(letter.from.address, COMPLAINTS);
    // Plain text and HTML side by side; the plain part is the letter as approved.
    let content_type = letter
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.to_lowercase())
        .unwrap_or_default();
    assert!(
        content_type.contains("multipart/alternative"),
        "{content_type}"
    );
    assert!(
        letter.text.contains("Recurring mould in the bedroom"),
        "{}",
        letter.text
    );

    let copies = outbox.sent_copies().await;
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
    let events = outbox.event_names(&reference);
    assert!(events.contains(&"acknowledged".to_owned()), "{events:?}");

    // Sending again sends nothing.
    assert_eq!(outbox.send_due(&transport, &mut not_before).await, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(outbox.received().await.len(), 1, "exactly one letter");
    assert_eq!(outbox.sent_copies().await.len(), 1);
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postfix_stopped_the_letter_stays_queued_and_goes_out_once_when_it_is_back() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_exclusive().await;
    let outbox = Outbox::new(&lab, "down", "?tls=none").await;
    let reference = outbox
        .complaint_from(&outbox.resident, "<complaint-down@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    let mut not_before = HashMap::new();

    lab.stop_postfix_async().await;
    let sent = outbox.send_due(&transport, &mut not_before).await;
    lab.start_postfix_async().await;
    assert_eq!(sent, 0);
    let queued = outbox.store.draft(draft.id).unwrap();
    assert_eq!(queued.status, DraftStatus::Approved, "still in the outbox");
    assert_eq!(queued.attempts, 1);
    assert!(queued.last_error.is_some());
    assert_eq!(outbox.store.outbox().unwrap().len(), 1);

    // The backoff (5 s after a first failure) holds it back; then it goes, once.
    assert_eq!(outbox.send_due(&transport, &mut not_before).await, 0);
    let start = std::time::Instant::now();
    let mut total = 0;
    while total == 0 {
        let draft = outbox.store.draft(draft.id).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not sent after Postfix came back: {draft:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        total += outbox.send_due(&transport, &mut not_before).await;
    }
    assert_eq!(total, 1);
    outbox.wait_for_letters(1).await;
    assert_eq!(outbox.send_due(&transport, &mut not_before).await, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(outbox.received().await.len(), 1, "exactly one letter");
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
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let outbox = Outbox::new(&lab, "crash", "?tls=none").await;
    let reference = outbox
        .complaint_from(&outbox.resident, "<complaint-crash@example.net>")
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
    assert_eq!(
        outbox.send_due(&transport, &mut HashMap::new()).await,
        1,
        "recorded as sent"
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        outbox.received().await.is_empty(),
        "no second copy was sent"
    );
    assert_eq!(outbox.sent_copies().await.len(), 1);
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_before_anything_went_out_the_letter_is_sent_once() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let outbox = Outbox::new(&lab, "crash-early", "?tls=none").await;
    let reference = outbox
        .complaint_from(&outbox.resident, "<complaint-early@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    outbox
        .store
        .record_attempt(draft.id, "sending")
        .await
        .unwrap();
    let transport = outbox.transport();
    assert_eq!(outbox.send_due(&transport, &mut HashMap::new()).await, 1);
    let received = outbox.wait_for_letters(1).await;
    assert_eq!(
        received[0].message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    assert_eq!(outbox.sent_copies().await.len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(outbox.received().await.len(), 1);
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_recipient_is_a_permanent_failure_recorded_on_the_case() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let outbox = Outbox::new(&lab, "unknown", "?tls=none").await;
    let reference = outbox
        .complaint_from(
            "nobody-at-all@example.net",
            "<complaint-unknown@example.net>",
        )
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    assert_eq!(outbox.send_due(&transport, &mut HashMap::new()).await, 0);
    let failed = outbox.store.draft(draft.id).unwrap();
    assert_eq!(failed.status, DraftStatus::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("5.1.1")),
        "{:?}",
        failed.last_error
    );
    let case = outbox.store.case(&reference).unwrap().unwrap();
    assert_eq!(case.delivery_failures.len(), 1);
    assert!(outbox.store.outbox().unwrap().is_empty());
    assert!(
        outbox.sent_copies().await.is_empty(),
        "nothing copied to Sent"
    );
    outbox.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_to_postfix_with_the_lab_ca_delivers_the_letter() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let outbox = Outbox::new(&lab, "starttls", "").await;
    let reference = outbox
        .complaint_from(&outbox.resident, "<complaint-tls@example.net>")
        .await;
    let draft = outbox.approved_acknowledgement(&reference).await;
    let transport = outbox.transport();
    let sent = outbox.send_due(&transport, &mut HashMap::new()).await;
    let after = outbox.store.draft(draft.id).unwrap();
    assert_eq!(sent, 1, "{:?}", after.last_error);
    let received = outbox.wait_for_letters(1).await;
    assert_eq!(
        received[0].message_id.as_deref(),
        Some(draft.message_id.as_str())
    );
    outbox.cleanup().await;
}

/// (lettre's connection pool needs a Tokio runtime even to be built.)
#[tokio::test]
async fn smtp_urls_that_cannot_work_are_refused_with_the_reason() {
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
