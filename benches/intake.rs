//! End-to-end intake measures (run with `cargo bench --bench intake`), printed for the README:
//! - delivery-to-case latency through the Maildir worker (p50, p99);
//! - ingest throughput over a 10,000-message Maildir;
//! - the daemon's resident memory when idle, and with 100,000 cases in its store;
//! - delivery-to-case latency through Postfix, Dovecot and the IMAP worker with IDLE (p50,
//!   p99), when the mail lab (`scripts/mail-lab start`) can be started.
//!
//! `REDRESS_BENCH_MESSAGES` and `REDRESS_BENCH_RSS_CASES` scale them down for a quick run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use redress::config::{Loaded, load_str};
use redress::core::event::Opened;
use redress::core::model::{CaseKind, Channel, Contact};
use redress::intake::maildir;
use redress::store::Store;

#[path = "../tests/common/mail_lab.rs"]
mod mail_lab;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &Path, port: u16) -> Loaded {
    let text = format!(
        "[organisation]\nname = \"Bench Homes\"\nreference_prefix = \"BH\"\nhomes_owned = 1000\n\
         [store]\npath = \"store\"\n[mail]\nfrom = \"complaints@example.org\"\nmaildir = \"maildir\"\n\
         daily_cap_per_sender = 1000000\n[http]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    std::fs::write(dir.join("redress.toml"), &text).unwrap();
    load_str(&text, "bench", dir, std::iter::empty()).unwrap()
}

fn message(i: usize) -> String {
    let body = if i.is_multiple_of(2) {
        "I am fed up, the repair is still not done."
    } else {
        "Please fix the gutter."
    };
    format!(
        "From: Resident {i} <r{i}@example.net>\r\nSubject: Message {i}\r\nMessage-ID: <m{i}@example.net>\r\n\r\n{body}\r\n"
    )
}

fn deliver(root: &Path, i: usize) {
    let tmp = root.join("tmp").join(format!("{i}.bench"));
    std::fs::write(&tmp, message(i)).unwrap();
    std::fs::rename(&tmp, root.join("new").join(format!("{i}.bench"))).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency(samples: usize) {
    let dir = tempfile::tempdir().unwrap();
    let loaded = Arc::new(config(dir.path(), 0));
    let store = Store::open(&loaded.store_path, "BH").unwrap();
    let root = dir.path().join("maildir");
    maildir::prepare(&root).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(maildir::run(
        store.clone(),
        loaded.clone(),
        root.clone(),
        stopped,
    ));
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let hash = redress::mail::content_hash(message(i).as_bytes());
        let start = Instant::now();
        deliver(&root, i);
        while store.seen(&hash).unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(start.elapsed());
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    times.sort();
    println!(
        "delivery-to-case latency (Maildir, {samples} messages one at a time): p50 {:?}, p99 {:?}",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
}

async fn throughput(messages: usize) {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config(dir.path(), 0);
    let store = Store::open(&loaded.store_path, "BH").unwrap();
    let root = dir.path().join("maildir");
    maildir::prepare(&root).unwrap();
    for i in 0..messages {
        deliver(&root, i);
    }
    let start = Instant::now();
    let outcomes = maildir::scan_once(&store, &loaded, &root).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(outcomes.len(), messages);
    println!(
        "ingest throughput ({messages}-message Maildir, each case change flushed): {:.0} messages/s ({elapsed:?})",
        messages as f64 / elapsed.as_secs_f64()
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn daemon_rss(dir: &Path, port: u16) -> u64 {
    let bin = env!("CARGO_BIN_EXE_redress");
    let mut command = Command::new(bin);
    // The daemon refuses REDRESS_* variables that name no configuration key (a misspelt
    // override must not be ignored), so the bench's own settings are not passed on.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("REDRESS_")) {
        command.env_remove(key);
    }
    let mut child = command
        .args(["run", "--config"])
        .arg(dir.join("redress.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the daemon did not start listening"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the daemon exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    if let Ok(Some(status)) = child.try_wait() {
        panic!("the daemon exited early: {status}");
    }
    let rss = rss_kib(child.id());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    rss
}

async fn rss(cases: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let loaded = config(dir.path(), port);
    println!(
        "daemon RSS, idle with an empty store: {} MiB",
        daemon_rss(dir.path(), port) / 1024
    );
    {
        let store = Store::open(&loaded.store_path, "BH").unwrap();
        let received = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        for i in 0..cases {
            let opened = Opened {
                kind: if i.is_multiple_of(2) {
                    CaseKind::Complaint
                } else {
                    CaseKind::ServiceRequest
                },
                received,
                channel: Channel::Email,
                complainant: Contact {
                    email: Some(format!("r{i}@example.net")),
                    ..Contact::default()
                },
                representative: None,
                group_members: vec![],
                summary: format!("Case {i}: damp in the bathroom"),
                flags: vec![],
                message: None,
                handler: None,
                linked_to: None,
            };
            store
                .open_case_buffered(opened, "bench", Utc::now(), loaded.rules())
                .unwrap();
        }
        store.flush().await.unwrap();
        // Steady state: the letters those cases need are already drafted.
        let templates = loaded.letter_templates().unwrap();
        let today = loaded.today();
        let render = |c: &redress::core::model::Case, l| {
            redress::letters::write::write(&templates, c, l, &loaded.config, today)
        };
        while !store
            .make_drafts(render, "example.org", Utc::now())
            .await
            .unwrap()
            .is_empty()
        {}
    }
    // sled releases its lock from a background thread shortly after the last handle drops.
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "daemon RSS with {cases} cases: {} MiB",
        daemon_rss(dir.path(), port) / 1024
    );
}

/// Sends messages through Postfix one at a time and times each until its case exists.
async fn imap_latency(samples: usize) {
    let Some(lab) = mail_lab::MailLab::from_env_or_start() else {
        println!("IMAP latency: mail lab not available, skipped");
        return;
    };
    let _lock = lab.lock_shared().await;
    let (tag, address) = lab.unique_mailbox(mail_lab::COMPLAINTS, "bench").await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[organisation]\nname = \"Bench Homes\"\nreference_prefix = \"BH\"\nhomes_owned = 1000\n\
         [store]\npath = \"store\"\n[mail]\nfrom = \"complaints@example.org\"\n\
         imap_url = \"imap://complaints%40example.org@127.0.0.1:{}/{tag}\"\nimap_password = \"secret\"\n\
         processed_folder = \"{tag}-Processed\"\nquarantine_folder = \"{tag}-Quarantine\"\n\
         daily_cap_per_sender = 1000000\n",
        lab.imap_port
    );
    let loaded = Arc::new(load_str(&text, "bench", dir.path(), std::iter::empty()).unwrap());
    let store = Store::open(&loaded.store_path, "BH").unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(redress::intake::imap::run(
        store.clone(),
        loaded.clone(),
        stopped,
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let raw = format!(
            "From: r{i}@example.net\r\nTo: {address}\r\nSubject: Latency {i}\r\nMessage-ID: <lat{i}.{tag}@example.net>\r\n\r\nPlease fix the gutter.\r\n"
        );
        let before = store.case_count();
        let start = Instant::now();
        lab.send_raw(&format!("r{i}@example.net"), &address, raw.as_bytes())
            .await
            .unwrap();
        while store.case_count() == before {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "message {i} never became a case"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(start.elapsed());
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    times.sort();
    println!(
        "delivery-to-case latency (SMTP to Postfix, Dovecot, IMAP IDLE; {samples} messages one at a time): p50 {:?}, p99 {:?}",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs benches with `--test`: do nothing there.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let messages = env_count("REDRESS_BENCH_MESSAGES", 10_000);
    latency(200.min(messages)).await;
    imap_latency(100.min(messages)).await;
    throughput(messages).await;
    rss(env_count("REDRESS_BENCH_RSS_CASES", 100_000)).await;
}
