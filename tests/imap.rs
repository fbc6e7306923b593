use std::sync::Arc;
use std::time::{Duration, Instant};

use redress::intake::imap::Account;
use redress::store::Store;
use tokio::sync::watch;

fn account(mailbox: &str) -> Account {
    Account::parse(
        &format!("imap://complaints%40example.org@127.0.0.1:10143/{mailbox}"),
        "secret",
    )
    .unwrap()
}

#[tokio::test]
async fn smoke() {
    let tag = format!("smoke{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\n[store]\npath = \"store\"\n[mail]\nimap_url = \"imap://complaints%40example.org@127.0.0.1:10143/{tag}\"\nimap_password = \"secret\"\nfrom = \"complaints@example.org\"\nprocessed_folder = \"{tag}-Processed\"\nquarantine_folder = \"{tag}-Quarantine\"\n"
    );
    let loaded = redress::config::load_str(&text, "t.toml", dir.path(), Vec::new()).unwrap();
    let store = Store::open(&loaded.store_path, "EH").unwrap();
    let mut c = account("INBOX").connect().await.unwrap();
    c.ensure_folder(&tag).await.unwrap();
    c.append(&tag, "()", b"From: Rita Resident <resident@example.net>\r\nTo: complaints@example.org\r\nSubject: Damp in my flat\r\nMessage-ID: <a1@example.net>\r\n\r\nI want to complain about the damp and mould in my bedroom.\r\n").await.unwrap();
    c.logout().await;
    let (stop, stopped) = watch::channel(false);
    let w = tokio::spawn(redress::intake::imap::run(
        store.clone(),
        Arc::new(loaded),
        stopped,
    ));
    let start = Instant::now();
    while store.case_count() < 1 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("case after {:?}", start.elapsed());
    assert_eq!(store.case_count(), 1);
    let mut c = account("INBOX").connect().await.unwrap();
    c.append(&tag, "()", b"From: Rita Resident <resident2@example.net>\r\nTo: complaints@example.org\r\nSubject: Noise\r\nMessage-ID: <a2@example.net>\r\n\r\nI want to complain about noise.\r\n").await.unwrap();
    let start = Instant::now();
    while store.case_count() < 2 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("second case after {:?}", start.elapsed());
    assert_eq!(c.examine(&tag).await.unwrap().exists, 0);
    assert_eq!(
        c.examine(&format!("{tag}-Processed")).await.unwrap().exists,
        2
    );
    let t = Instant::now();
    stop.send(true).unwrap();
    w.await.unwrap();
    println!("stopped in {:?}", t.elapsed());
}

#[tokio::test]
async fn bench_smoke() {
    let tag = format!("bench{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\"\nhomes_owned = 12800\n[store]\npath = \"store\"\n[mail]\nimap_url = \"imap://complaints%40example.org@127.0.0.1:10143/{tag}\"\nimap_password = \"secret\"\nfrom = \"complaints@example.org\"\nprocessed_folder = \"{tag}-Processed\"\nquarantine_folder = \"{tag}-Quarantine\"\n"
    );
    let loaded = redress::config::load_str(&text, "t.toml", dir.path(), Vec::new()).unwrap();
    let store = Store::open(&loaded.store_path, "EH").unwrap();
    let mut c = account("INBOX").connect().await.unwrap();
    c.ensure_folder(&tag).await.unwrap();
    let t = Instant::now();
    for i in 0..1000 {
        let m = format!(
            "From: Resident {i} <r{i}@example.net>\r\nTo: complaints@example.org\r\nSubject: Problem {i}\r\nMessage-ID: <b{i}@example.net>\r\n\r\nI want to complain about the repair number {i}.\r\n"
        );
        c.append(&tag, "()", m.as_bytes()).await.unwrap();
    }
    println!("appended in {:?}", t.elapsed());
    let (stop, stopped) = watch::channel(false);
    let t = Instant::now();
    let w = tokio::spawn(redress::intake::imap::run(
        store.clone(),
        Arc::new(loaded),
        stopped,
    ));
    while store.case_count() < 1000 && t.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e = t.elapsed();
    println!("1000 in {e:?}: {:.0}/s", 1000.0 / e.as_secs_f64());
    assert_eq!(store.case_count(), 1000);
    stop.send(true).unwrap();
    w.await.unwrap();
}
