//! IMAP intake against the mail lab's real Dovecot and Postfix: mail sent to the complaints
//! address becomes a case and is moved out of the mailbox; a backlog is taken in once; a
//! Dovecot restart is survived; automatic and malformed mail opens no case; flag mode; IMAPS
//! and STARTTLS with the lab's CA.
//!
//! Each test watches a mailbox of its own (`complaints+TAG@example.org` is delivered to the
//! complaints account's mailbox `TAG`), with its own processed and quarantine folders, so the
//! tests run side by side and a run never sees an earlier run's mail. The Dovecot restart test
//! takes the lab to itself.

#[path = "common/mail_lab.rs"]
mod mail_lab;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_lab::{COMPLAINTS, MailLab, RESIDENT, RESIDENT2};
use redress::config::Loaded;
use redress::intake::imap::Account;
use redress::intake::imap::session::Connection;
use redress::store::{SetAsideKind, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The lab (its CA is trusted through `mail.ca_file` in each test's configuration);
/// `None` means skip.
fn lab() -> Option<MailLab> {
    MailLab::from_env_or_start()
}

fn account(lab: &MailLab, mailbox: &str) -> Account {
    let mut account = Account::parse(
        &format!(
            "imap://complaints%40example.org@127.0.0.1:{}/{mailbox}",
            lab.imap_port
        ),
        mail_lab::PASSWORD,
    )
    .expect("the lab account URL is valid");
    account.ca_file = Some(lab.ca_pem.clone());
    account
}

async fn connect(lab: &MailLab) -> Connection {
    account(lab, "INBOX")
        .connect()
        .await
        .expect("the lab's Dovecot answers")
}

/// Messages in a folder of the complaints account.
async fn count(lab: &MailLab, folder: &str) -> u32 {
    let mut conn = connect(lab).await;
    let n = conn
        .examine(folder)
        .await
        .expect("the folder exists")
        .exists;
    conn.logout().await;
    n
}

/// Waits until `done` holds, or panics with `what` after `limit`.
async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, limit: Duration, mut done: F) -> Duration {
    let start = Instant::now();
    loop {
        if done().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Hands a raw message to the lab's Postfix (an empty `from` is the null sender of bounces).
async fn smtp_send(lab: &MailLab, from: &str, to: &str, raw: &[u8]) {
    lab.send_raw(from, to, raw)
        .await
        .unwrap_or_else(|e| panic!("Postfix refused the message to {to}: {e}"));
}

/// A resident's plain email.
fn resident_mail(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Rita Resident <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// One test's intake: a store, a configuration watching a mailbox of the test's own (with its
/// own processed and quarantine folders), and the worker.
struct Intake {
    lab: MailLab,
    dir: tempfile::TempDir,
    tag: String,
    address: String,
    store: Store,
    loaded: Arc<Loaded>,
    worker: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Intake {
    /// `mail_extra` is added to the `[mail]` table.
    async fn new(lab: &MailLab, name: &str, mail_extra: &str) -> Intake {
        let port = lab.imap_port;
        Intake::with_url(lab, name, mail_extra, |tag| {
            format!("imap://complaints%40example.org@127.0.0.1:{port}/{tag}")
        })
        .await
    }

    async fn with_url(
        lab: &MailLab,
        name: &str,
        mail_extra: &str,
        url: impl Fn(&str) -> String,
    ) -> Intake {
        let (tag, address) = lab.unique_mailbox(COMPLAINTS, name).await;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\nemail = \"complaints@example.org\"\nphone = \"01332 000000\"\n\
             [store]\npath = \"store\"\n\
             [mail]\nimap_url = \"{url}\"\nimap_password = \"secret\"\nfrom = \"complaints@example.org\"\n\
             processed_folder = \"{tag}-Processed\"\nquarantine_folder = \"{tag}-Quarantine\"\n\
             ca_file = \"{ca}\"\n{mail_extra}\n",
            url = url(&tag),
            ca = lab.ca_pem.display(),
        );
        let loaded = redress::config::load_str(&text, "redress.toml", dir.path(), Vec::new())
            .expect("the test configuration is valid");
        // Built before the worker starts, as the daemon does, so timings measure mail.
        loaded.classifier.live().expect("the shipped rules load");
        let store = Store::open(&loaded.store_path, "EH").unwrap();
        Intake {
            lab: lab.clone(),
            dir,
            tag,
            address,
            store,
            loaded: Arc::new(loaded),
            worker: None,
        }
    }

    fn processed(&self) -> String {
        format!("{}-Processed", self.tag)
    }

    fn quarantine(&self) -> String {
        format!("{}-Quarantine", self.tag)
    }

    fn start(&mut self) {
        assert!(self.worker.is_none(), "the worker is already running");
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(redress::intake::imap::run(
            self.store.clone(),
            self.loaded.clone(),
            stopped,
        ));
        self.worker = Some((stop, worker));
    }

    /// Asks the worker to stop and waits for it; returns how long it took.
    async fn stop(&mut self) -> Duration {
        let (stop, worker) = self.worker.take().expect("the worker is running");
        let start = Instant::now();
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), worker)
            .await
            .expect("the worker stops within 10 seconds")
            .expect("the worker did not panic");
        start.elapsed()
    }

    fn worker_alive(&self) -> bool {
        self.worker.as_ref().is_some_and(|(_, w)| !w.is_finished())
    }

    /// Puts a message straight into the mailbox (no SMTP: Postfix would repair what these
    /// tests break on purpose).
    async fn append(&self, raw: &[u8]) {
        let mut conn = connect(&self.lab).await;
        conn.append(&self.tag, "()", raw)
            .await
            .expect("Dovecot takes the message");
        conn.logout().await;
    }

    async fn wait_for_cases(&self, n: usize, limit: Duration) -> Duration {
        let store = self.store.clone();
        wait_until(&format!("{n} cases"), limit, async || {
            store.case_count() >= n
        })
        .await
    }

    async fn wait_for_count(&self, folder: &str, n: u32, limit: Duration) -> Duration {
        wait_until(&format!("{n} messages in {folder}"), limit, async || {
            count(&self.lab, folder).await == n
        })
        .await
    }

    /// Messages now in a folder of the complaints account.
    async fn count(&self, folder: &str) -> u32 {
        count(&self.lab, folder).await
    }

    /// Closes and reopens the store (the worker must be stopped), as a restarted daemon would.
    async fn reopen_store(&mut self) {
        assert!(self.worker.is_none(), "stop the worker first");
        let scratch = Store::open(&self.dir.path().join("scratch"), "EH").unwrap();
        drop(std::mem::replace(&mut self.store, scratch));
        let deadline = Instant::now() + Duration::from_secs(10);
        self.store = loop {
            // sled lets go of its lock from a background thread shortly after the last handle.
            match Store::open(&self.loaded.store_path, "EH") {
                Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => break other.expect("the store reopens"),
            }
        };
    }

    async fn cleanup(mut self) {
        if self.worker.is_some() {
            self.stop().await;
        }
        let mut conn = connect(&self.lab).await;
        for folder in [self.tag.clone(), self.processed(), self.quarantine()] {
            let _ = conn.delete_folder(&folder).await;
        }
        conn.logout().await;
    }
}

fn cases(store: &Store) -> Vec<redress::core::model::Case> {
    store.cases().collect::<Result<Vec<_>, _>>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_residents_email_through_postfix_becomes_a_case_within_seconds_and_is_moved_to_processed()
{
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let mut intake = Intake::new(&lab, "first", "").await;
    intake.start();
    // Let the worker reach IDLE, so this measures delivery to case, not start-up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let raw = resident_mail(
        RESIDENT,
        &intake.address,
        "Damp and mould in my bedroom",
        "first-1@example.net",
        "I want to make a complaint: the damp and mould in my bedroom has been reported three times.",
    );
    let sent = Instant::now();
    smtp_send(&lab, RESIDENT, &intake.address, &raw).await;
    intake.wait_for_cases(1, Duration::from_secs(10)).await;
    let latency = sent.elapsed();
    println!("delivery through Postfix and Dovecot to a stored case: {latency:?}");
    let all = cases(&intake.store);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].complainant.email.as_deref(), Some(RESIDENT));
    assert_eq!(all[0].complainant.name.as_deref(), Some("Rita Resident"));
    assert_eq!(all[0].messages.len(), 1);
    assert_eq!(all[0].messages[0].message_id, "<first-1@example.net>");
    intake
        .wait_for_count(&intake.processed(), 1, Duration::from_secs(5))
        .await;
    assert_eq!(intake.count(&intake.tag).await, 0, "the mailbox is empty");
    assert!(
        latency < Duration::from_secs(5),
        "a case within a few seconds, took {latency:?}"
    );
    let stopped = intake.stop().await;
    assert!(
        stopped < Duration::from_secs(3),
        "stopping took {stopped:?}"
    );
    intake.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_delivered_while_stopped_are_all_taken_in_once_on_start() {
    const N: usize = 1000;
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let mut intake = Intake::new(&lab, "backlog", "").await;
    let sending = Instant::now();
    for i in 0..N {
        // Distinct senders: the per-sender daily cap must not set any aside.
        let from = format!("tenant{i}@example.net");
        let raw = resident_mail(
            &from,
            &intake.address,
            &format!("Complaint {i}: repair not done"),
            &format!("backlog-{i}@example.net"),
            &format!("I want to complain that repair job {i} was never done."),
        );
        smtp_send(&lab, &from, &intake.address, &raw).await;
    }
    let handed = sending.elapsed();
    intake
        .wait_for_count(&intake.tag, N as u32, Duration::from_secs(180))
        .await;
    println!(
        "{N} messages handed to Postfix in {handed:?}, all in the mailbox after {:?}",
        sending.elapsed()
    );

    let start = Instant::now();
    intake.start();
    intake.wait_for_cases(N, Duration::from_secs(300)).await;
    let took = start.elapsed();
    println!(
        "{N} messages taken in in {took:?}: {:.0} messages/s",
        N as f64 / took.as_secs_f64()
    );
    intake
        .wait_for_count(&intake.tag, 0, Duration::from_secs(10))
        .await;
    assert_eq!(intake.count(&intake.processed()).await, N as u32);
    intake.stop().await;

    // Exactly once: one case per message, each holding its own message, nothing set aside.
    let all = cases(&intake.store);
    assert_eq!(all.len(), N);
    assert!(all.iter().all(|c| c.messages.len() == 1));
    for i in 0..N {
        let id = format!("<backlog-{i}@example.net>");
        let holder = intake.store.reference_for_message(&id).unwrap();
        assert!(holder.is_some(), "{id} is on a case");
    }
    assert!(intake.store.set_aside_records().unwrap().is_empty());
    intake.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reconnects_after_dovecot_restarts_mid_idle_and_takes_later_mail_in() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_exclusive().await;
    let mut intake = Intake::new(&lab, "restart", "").await;
    intake.start();
    let first = resident_mail(
        RESIDENT,
        &intake.address,
        "Broken boiler",
        "restart-1@example.net",
        "I want to complain: no heating.",
    );
    smtp_send(&lab, RESIDENT, &intake.address, &first).await;
    intake.wait_for_cases(1, Duration::from_secs(10)).await;
    // The worker is IDLE now; take Dovecot away under it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    lab.restart_dovecot_async().await;
    let second = resident_mail(
        RESIDENT2,
        &intake.address,
        "Noise from next door",
        "restart-2@example.net",
        "I want to complain about the noise.",
    );
    let sent = Instant::now();
    smtp_send(&lab, RESIDENT2, &intake.address, &second).await;
    intake.wait_for_cases(2, Duration::from_secs(30)).await;
    println!(
        "taken in {:?} after sending, across the restart",
        sent.elapsed()
    );
    assert!(intake.worker_alive());
    intake
        .wait_for_count(&intake.processed(), 2, Duration::from_secs(5))
        .await;
    assert_eq!(intake.count(&intake.tag).await, 0);
    let mut emails: Vec<String> = cases(&intake.store)
        .into_iter()
        .map(|c| c.complainant.email.unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, [RESIDENT2, RESIDENT]);
    intake.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_replies_bounces_and_list_mail_open_no_case_and_are_moved_out_of_the_mailbox() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let mut intake = Intake::new(&lab, "automated", "").await;
    intake.start();
    let to = intake.address.clone();
    let out_of_office = format!(
        "From: Rita Resident <resident@example.net>\r\nTo: {to}\r\nSubject: Out of office: Your complaint\r\n\
         Message-ID: <ooo-1@example.net>\r\nAuto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
    );
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@example.net>\r\nTo: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@example.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\r\n\r\n\
         --BB\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n\
         --BB\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.net\r\n\r\n\
         Final-Recipient: rfc822; nobody@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--BB--\r\n"
    );
    let list = format!(
        "From: Tenants Forum <forum@example.net>\r\nTo: {to}\r\nSubject: [forum] I want to complain about the bins\r\n\
         Message-ID: <list-1@example.net>\r\nList-Id: Tenants forum <forum.example.net>\r\n\r\n\
         A member's complaint about the bins.\r\n"
    );
    smtp_send(&lab, RESIDENT, &to, out_of_office.as_bytes()).await;
    smtp_send(&lab, "", &to, bounce.as_bytes()).await;
    smtp_send(&lab, "forum@example.net", &to, list.as_bytes()).await;
    let store = intake.store.clone();
    wait_until(
        "three set-aside records",
        Duration::from_secs(15),
        async || store.set_aside_records().unwrap().len() >= 3,
    )
    .await;
    intake
        .wait_for_count(&intake.processed(), 3, Duration::from_secs(5))
        .await;
    assert_eq!(intake.count(&intake.tag).await, 0);
    assert_eq!(intake.store.case_count(), 0);
    let mut records = intake.store.set_aside_records().unwrap();
    records.sort_by(|a, b| a.subject.cmp(&b.subject));
    let seen: Vec<(SetAsideKind, Option<&str>)> = records
        .iter()
        .map(|r| (r.kind, r.from.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (SetAsideKind::Automated, Some("resident@example.net")),
            (SetAsideKind::Automated, Some("mailer-daemon@example.net")),
            (SetAsideKind::Automated, Some("forum@example.net")),
        ]
    );
    assert!(records.iter().all(|r| r.source.starts_with("imap:")));
    intake.cleanup().await;
}

/// A message with an attachment making it `bytes` long.
fn big_message(from: &str, bytes: usize) -> Vec<u8> {
    let mut raw = format!(
        "From: {from}\r\nTo: complaints@example.org\r\nSubject: Photos of the leak\r\n\
         Message-ID: <big-{bytes}@example.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"PP\"\r\n\r\n\
         --PP\r\nContent-Type: text/plain\r\n\r\nI want to complain about the leak; photos attached.\r\n\
         --PP\r\nContent-Type: application/octet-stream; name=photos.bin\r\n\
         Content-Disposition: attachment; filename=photos.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    while raw.len() < bytes {
        raw.extend_from_slice(&[b'Q'; 76]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--PP--\r\n");
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_taken_in_or_quarantined_without_a_panic() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let mut intake = Intake::new(&lab, "malformed", "").await;
    let no_from = b"To: complaints@example.org\r\nSubject: No sender here\r\n\
Message-ID: <nofrom@example.net>\r\n\r\nWho sent this?\r\n"
        .to_vec();
    let broken_boundary = b"From: a@example.net\r\nSubject: Broken boundary\r\n\
Message-ID: <boundary@example.net>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"NEVER\"\r\n\r\n--WRONG\r\nContent-Type: text/plain\r\n\r\n\
I want to complain about the lift.\r\n--WRONG\r\n"
        .to_vec();
    let bad_charset = b"From: b@example.net\r\nSubject: =?x-no-such-charset?Q?Lift_broken?=\r\n\
Message-ID: <charset@example.net>\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n\
The lift \xff\xfe is broken \xc3\x28 again.\r\n"
        .to_vec();
    let nul_bytes =
        b"From: c@example.net\r\nSubject: Nul\0bytes\r\nMessage-ID: <nul@example.net>\r\n\r\n\
The door\0 is broken\0\0.\r\n"
            .to_vec();
    // 20 MB, under the default limit of 25 MiB.
    let big = big_message("d@example.net", 20 * 1024 * 1024);
    for raw in [&no_from, &broken_boundary, &bad_charset, &nul_bytes, &big] {
        intake.append(raw).await;
    }
    intake.start();
    let store = intake.store.clone();
    wait_until(
        "five messages taken in",
        Duration::from_secs(120),
        async || store.case_count() + store.set_aside_records().unwrap().len() >= 5,
    )
    .await;
    assert!(intake.worker_alive(), "the worker is still running");
    let mut senders: Vec<String> = cases(&intake.store)
        .into_iter()
        .map(|c| c.complainant.email.unwrap())
        .collect();
    senders.sort();
    assert_eq!(
        senders,
        [
            "a@example.net",
            "b@example.net",
            "c@example.net",
            "d@example.net"
        ]
    );
    let records = intake.store.set_aside_records().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, SetAsideKind::Quarantined);
    assert_eq!(
        records[0].reason,
        "the message has no sender address (From)"
    );
    intake
        .wait_for_count(&intake.quarantine(), 1, Duration::from_secs(10))
        .await;
    intake
        .wait_for_count(&intake.processed(), 4, Duration::from_secs(10))
        .await;
    assert_eq!(intake.count(&intake.tag).await, 0);
    intake.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_a_lowered_size_limit_are_quarantined_and_moved_to_quarantine() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let mut intake = Intake::new(&lab, "oversize", "max_message_bytes = 100000").await;
    // Over the limit: read whole, quarantined with its size.
    let over = big_message("e@example.net", 200_000);
    // Far over the limit (and over the 1 MiB read cap): only its first MiB is read.
    let far_over = big_message("g@example.net", 1_500_000);
    let small = resident_mail(
        "f@example.net",
        COMPLAINTS,
        "Small one",
        "small@example.net",
        "I want to complain about the gate.",
    );
    for raw in [&over, &far_over, &small] {
        intake.append(raw).await;
    }
    intake.start();
    let store = intake.store.clone();
    wait_until(
        "three messages taken in",
        Duration::from_secs(20),
        async || store.case_count() + store.set_aside_records().unwrap().len() >= 3,
    )
    .await;
    let mut reasons: Vec<(SetAsideKind, String)> = intake
        .store
        .set_aside_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.reason))
        .collect();
    reasons.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        reasons,
        [
            (
                SetAsideKind::Quarantined,
                "the message is 1048576 bytes, over the 100000-byte limit".to_owned()
            ),
            (
                SetAsideKind::Quarantined,
                format!(
                    "the message is {} bytes, over the 100000-byte limit",
                    over.len()
                )
            ),
        ]
    );
    assert_eq!(intake.store.case_count(), 1);
    intake
        .wait_for_count(&intake.quarantine(), 2, Duration::from_secs(5))
        .await;
    intake
        .wait_for_count(&intake.processed(), 1, Duration::from_secs(5))
        .await;
    assert_eq!(intake.count(&intake.tag).await, 0);
    // The server keeps the whole message.
    let mut conn = connect(&lab).await;
    conn.examine(&intake.quarantine()).await.unwrap();
    let mut sizes = Vec::new();
    for uid in conn.uid_search("ALL").await.unwrap() {
        sizes.push(conn.fetch(uid).await.unwrap().unwrap().raw.len());
    }
    conn.logout().await;
    sizes.sort();
    assert_eq!(sizes, [over.len(), far_over.len()]);
    intake.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_move_a_message_is_copied_flagged_deleted_and_expunged() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let (mailbox, _) = lab.unique_mailbox(COMPLAINTS, "nomove").await;
    let target = format!("{mailbox}-Processed");
    let mut conn = connect(&lab).await;
    assert!(conn.can_move(), "the lab's Dovecot has MOVE");
    conn.ensure_folder(&target).await.unwrap();
    let keep = resident_mail(RESIDENT, COMPLAINTS, "Stays", "stays@example.net", "stays");
    let moves = resident_mail(RESIDENT, COMPLAINTS, "Moves", "moves@example.net", "moves");
    conn.append(&mailbox, "()", &keep).await.unwrap();
    conn.append(&mailbox, "()", &moves).await.unwrap();
    conn.select(&mailbox).await.unwrap();
    let uids = conn.uid_search("ALL").await.unwrap();
    assert_eq!(uids.len(), 2);
    conn.copy_delete_expunge(uids[1], &target).await.unwrap();
    assert_eq!(conn.uid_search("ALL").await.unwrap(), [uids[0]]);
    conn.examine(&target).await.unwrap();
    let moved = conn.uid_search("ALL").await.unwrap();
    assert_eq!(moved.len(), 1);
    let raw = conn.fetch(moved[0]).await.unwrap().unwrap().raw;
    assert_eq!(raw, moves);
    for folder in [&mailbox, &target] {
        conn.delete_folder(folder).await.unwrap();
    }
    conn.logout().await;
}

/// Messages in `folder` of the complaints account carrying `$Processed`.
async fn flagged(lab: &MailLab, folder: &str) -> usize {
    let mut conn = connect(lab).await;
    conn.examine(folder).await.unwrap();
    let n = conn.uid_search("KEYWORD $Processed").await.unwrap().len();
    conn.logout().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_after_processing_flag_messages_stay_flagged_and_are_not_taken_in_twice_across_a_restart()
 {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let mut intake = Intake::new(&lab, "flag", "after_processing = \"flag\"").await;
    let to = intake.address.clone();
    intake.start();
    for (i, from) in [RESIDENT, RESIDENT2].iter().enumerate() {
        let raw = resident_mail(
            from,
            &to,
            &format!("Flag test {i}"),
            &format!("flag-{i}@example.net"),
            "I want to complain about the stairs.",
        );
        smtp_send(&lab, from, &to, &raw).await;
    }
    intake.wait_for_cases(2, Duration::from_secs(10)).await;
    let tag = intake.tag.clone();
    wait_until("both flagged", Duration::from_secs(5), async || {
        flagged(&lab, &tag).await == 2
    })
    .await;
    assert_eq!(
        intake.count(&tag).await,
        2,
        "flagged messages stay in the mailbox"
    );
    intake.stop().await;

    // Restart on the same store: the two flagged ones are skipped, a new one is taken in.
    intake.reopen_store().await;
    intake.start();
    let raw = resident_mail(
        "tenant@example.net",
        &to,
        "Flag test 2",
        "flag-2@example.net",
        "I want to complain about the door.",
    );
    smtp_send(&lab, "tenant@example.net", &to, &raw).await;
    intake.wait_for_cases(3, Duration::from_secs(10)).await;
    wait_until("all three flagged", Duration::from_secs(5), async || {
        flagged(&lab, &tag).await == 3
    })
    .await;
    intake.stop().await;
    let all = cases(&intake.store);
    assert_eq!(all.len(), 3);
    assert!(
        all.iter().all(|c| c.messages.len() == 1),
        "no message joined a case twice"
    );
    // Progress is kept as UIDVALIDITY:UID of the last message taken in (here the third).
    let key = format!(
        "imap/complaints@example.org@127.0.0.1:{}/{tag}",
        lab.imap_port
    );
    let progress =
        String::from_utf8(intake.store.meta(&key).unwrap().expect("progress recorded")).unwrap();
    let (validity, uid) = progress.split_once(':').expect("UIDVALIDITY:UID");
    assert!(validity.parse::<u32>().unwrap() > 0, "{progress}");
    assert_eq!(
        uid, "3",
        "three messages, UIDs 1 to 3 in a new mailbox: {progress}"
    );

    // The flag, not only deduplication, keeps them out: a worker with an empty store takes
    // nothing from this mailbox.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(&fresh_dir.path().join("store"), "EH").unwrap();
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(redress::intake::imap::run(
        fresh.clone(),
        intake.loaded.clone(),
        stopped,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(fresh.case_count(), 0);
    assert!(fresh.set_aside_records().unwrap().is_empty());
    assert_eq!(intake.count(&tag).await, 3);
    intake.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaps_and_starttls_with_the_lab_ca_take_mail_in() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let user = "complaints%40example.org";
    for (name, url) in [
        (
            "imaps-ip",
            format!("imaps://{user}@127.0.0.1:{}", lab.imaps_port),
        ),
        (
            "imaps-name",
            format!("imaps://{user}@localhost:{}", lab.imaps_port),
        ),
        (
            "starttls",
            format!("imap://{user}@127.0.0.1:{}", lab.imap_port),
        ),
    ] {
        let query = if name == "starttls" {
            "?tls=starttls"
        } else {
            ""
        };
        let mut intake =
            Intake::with_url(&lab, name, "", |tag| format!("{url}/{tag}{query}")).await;
        intake.start();
        let to = intake.address.clone();
        let raw = resident_mail(
            RESIDENT,
            &to,
            "Over TLS",
            &format!("{name}@example.net"),
            "I want to complain about the windows.",
        );
        smtp_send(&lab, RESIDENT, &to, &raw).await;
        intake.wait_for_cases(1, Duration::from_secs(10)).await;
        intake
            .wait_for_count(&intake.processed(), 1, Duration::from_secs(5))
            .await;
        intake.cleanup().await;
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_login_error_naming_the_user() {
    let Some(lab) = lab() else { return };
    let _lock = lab.lock_shared().await;
    let url = format!(
        "imap://complaints%40example.org@127.0.0.1:{}/INBOX",
        lab.imap_port
    );
    let err = match Account::parse(&url, "not-the-password")
        .unwrap()
        .connect()
        .await
    {
        Ok(_) => panic!("a wrong password was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("the server refused the login of complaints@example.org: "),
        "{err}"
    );
}
