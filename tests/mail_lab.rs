//! The mail lab itself: real Postfix delivers through real Dovecot, IMAP works over plain TCP,
//! STARTTLS and IMAPS with the lab CA, and the servers can be restarted and stopped mid-test.

#[path = "common/mail_lab.rs"]
mod mail_lab;

use std::io::ErrorKind;
use std::time::Duration;

use futures::TryStreamExt;
use mail_lab::{COMPLAINTS, MANAGER, MailLab, RESIDENT, RESIDENT2, subject_of, unique_token};

const DELIVERY: Duration = Duration::from_secs(15);

#[tokio::test]
async fn resident_mail_reaches_the_complaints_inbox() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let _lock = lab.lock_shared().await;
    let subject = format!("Damp in the bathroom {}", unique_token());
    let message_id = lab
        .send_text(
            RESIDENT,
            COMPLAINTS,
            &subject,
            "The bathroom ceiling is black with mould.",
        )
        .await;

    let raw = lab
        .wait_for_subject(COMPLAINTS, "INBOX", &subject, DELIVERY)
        .await;
    let parsed = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("delivered message parses");
    assert_eq!(parsed.subject(), Some(subject.as_str()));
    assert_eq!(
        parsed
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address()),
        Some(RESIDENT)
    );
    assert_eq!(
        parsed.message_id(),
        Some(message_id.trim_matches(['<', '>']))
    );
    // Postfix handed it to Dovecot over LMTP.
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("with LMTP"), "{text}");
}

#[tokio::test]
async fn plus_address_delivers_raw_mail_into_a_mailbox_of_its_own() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let _lock = lab.lock_shared().await;
    let (mailbox, address) = lab.unique_mailbox(RESIDENT2, "lab").await;
    assert!(lab.fetch_all(RESIDENT2, &mailbox).await.is_empty());

    // Bare LF line ends, a line starting with a dot, no Date or Message-ID: Postfix takes it.
    let raw = format!(
        "From: Manager <{MANAGER}>\nTo: {address}\nSubject: raw one\n\n.leading dot\nline two\n"
    );
    let reply = lab
        .send_raw(MANAGER, &address, raw.as_bytes())
        .await
        .expect("Postfix accepts the raw message");
    assert!(reply.starts_with("250"), "{reply}");
    lab.send_raw(MANAGER, &address, b"Subject: raw two\r\n\r\nsecond\r\n")
        .await
        .expect("Postfix accepts the second message");

    let all = lab
        .wait_for_messages(RESIDENT2, &mailbox, 2, DELIVERY)
        .await;
    assert_eq!(all.len(), 2);
    let subjects: Vec<_> = all.iter().filter_map(|m| subject_of(m)).collect();
    assert!(subjects.contains(&"raw one".to_owned()), "{subjects:?}");
    assert!(subjects.contains(&"raw two".to_owned()), "{subjects:?}");
    let one = all
        .iter()
        .find(|m| subject_of(m).as_deref() == Some("raw one"))
        .unwrap();
    let one = String::from_utf8_lossy(one);
    assert!(one.contains("\r\n.leading dot\r\nline two\r\n"), "{one}");

    // Unknown users and foreign domains are refused at RCPT time.
    let err = lab
        .send_raw(MANAGER, "nobody@example.org", b"Subject: x\r\n\r\nx\r\n")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");
    let err = lab
        .send_raw(
            COMPLAINTS,
            "someone@elsewhere.test",
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");

    lab.clear_mailbox(RESIDENT2, &mailbox).await;
    assert!(lab.fetch_all(RESIDENT2, &mailbox).await.is_empty());
}

#[tokio::test]
async fn imaps_with_the_lab_ca_offers_idle_move_uidplus_and_the_mailboxes() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let _lock = lab.lock_shared().await;

    let mut s = lab.imaps_session(COMPLAINTS).await;
    let caps = s.capabilities().await.expect("CAPABILITY");
    for cap in ["IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE"] {
        assert!(caps.has_str(cap), "IMAPS capabilities lack {cap}");
    }
    let names: Vec<String> = s
        .list(Some(""), Some("*"))
        .await
        .expect("LIST")
        .try_collect::<Vec<_>>()
        .await
        .expect("LIST")
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    for mailbox in ["INBOX", "Sent", "Processed", "Quarantine"] {
        assert!(
            names.iter().any(|n| n == mailbox),
            "{mailbox} not in {names:?}"
        );
    }
    s.logout().await.expect("LOGOUT");

    // STARTTLS on the plain port, every lab user, and a wrong password is refused.
    let mut s = lab.imap_starttls_session(MANAGER).await;
    assert!(s.capabilities().await.expect("CAPABILITY").has_str("IDLE"));
    s.logout().await.expect("LOGOUT");
    for user in [COMPLAINTS, MANAGER, RESIDENT, RESIDENT2] {
        let mut s = lab.imap_session(user).await;
        s.select("INBOX").await.expect("SELECT INBOX");
        s.logout().await.expect("LOGOUT");
    }
    let refused = lab.try_imap_login(RESIDENT, "wrong").await;
    assert!(refused.is_err(), "a wrong password was accepted");
}

#[tokio::test]
async fn idle_wakes_up_on_new_mail() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let _lock = lab.lock_shared().await;
    let (mailbox, address) = lab.unique_mailbox(COMPLAINTS, "idle").await;

    let mut s = lab.imap_session(COMPLAINTS).await;
    s.select(&mailbox).await.expect("SELECT");
    let mut idle = s.idle();
    idle.init().await.expect("IDLE");
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(20));
    let (response, _) = tokio::join!(wait, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        lab.send_text(RESIDENT, &address, "wake up", "new mail")
            .await
    });
    assert!(
        matches!(
            response.expect("IDLE wait"),
            async_imap::extensions::idle::IdleResponse::NewData(_)
        ),
        "IDLE did not report the new message"
    );
    let mut s = idle.done().await.expect("DONE");
    s.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn dovecot_restarts_mid_idle_and_postfix_goes_away_and_comes_back() {
    let Some(lab) = MailLab::from_env_or_start() else {
        return;
    };
    let lock = lab.lock_exclusive().await;
    let (mailbox, address) = lab.unique_mailbox(COMPLAINTS, "outage").await;

    // A Dovecot restart ends an IDLE in progress; a new session works afterwards.
    let mut s = lab.imap_session(COMPLAINTS).await;
    s.select(&mailbox).await.expect("SELECT");
    let mut idle = s.idle();
    idle.init().await.expect("IDLE");
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(60));
    let (ended, _) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(30), wait),
        lab.restart_dovecot_async()
    );
    let ended = ended.expect("IDLE noticed nothing of the restart within 30 s");
    assert!(
        !matches!(
            ended,
            Ok(async_imap::extensions::idle::IdleResponse::Timeout)
        ),
        "IDLE timed out instead of seeing the restart"
    );
    drop(idle);
    let mut s = lab.imap_session(COMPLAINTS).await;
    s.select(&mailbox).await.expect("SELECT after restart");
    s.logout().await.expect("LOGOUT");

    // Postfix stopped: SMTP connections are refused. Started again: mail flows.
    lab.stop_postfix_async().await;
    let err = lab
        .send_raw(RESIDENT, &address, b"Subject: lost\r\n\r\nx\r\n")
        .await
        .expect_err("SMTP accepted mail while Postfix was stopped");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    lab.start_postfix_async().await;
    lab.send_text(RESIDENT, &address, "after the outage", "back again")
        .await;
    let all = lab
        .wait_for_messages(COMPLAINTS, &mailbox, 1, DELIVERY)
        .await;
    assert_eq!(subject_of(&all[0]).as_deref(), Some("after the outage"));

    // A server left stopped is started again when the exclusive lock goes.
    lab.stop_dovecot_async().await;
    assert!(lab.try_imap_session(COMPLAINTS).await.is_err());
    drop(lock);
    let mut s = lab.imap_session(COMPLAINTS).await;
    s.logout().await.expect("LOGOUT");
}

#[tokio::test]
#[should_panic(expected = "lock_exclusive")]
async fn stopping_a_server_without_the_exclusive_lock_is_refused() {
    let Some(lab) = MailLab::from_env_or_start() else {
        panic!("lock_exclusive (mail lab skipped)");
    };
    let _lock = lab.lock_shared().await;
    lab.stop_postfix();
}
