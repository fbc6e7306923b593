//! Integration-test helpers for the mail lab: a real Dovecot (IMAP, IMAPS, LMTP) and Postfix
//! (SMTP) on loopback, run by `scripts/mail-lab`.
//!
//! Include it from a test crate with
//! `#[path = "common/mail_lab.rs"] mod mail_lab;` and start with
//! `let Some(lab) = MailLab::from_env_or_start() else { return };`.
//!
//! Users (password [`PASSWORD`]): [`COMPLAINTS`], [`MANAGER`], [`RESIDENT`], [`RESIDENT2`]. Every
//! user has INBOX, Sent, Processed and Quarantine. Mail to `user+name@domain` is delivered into
//! that user's mailbox `name` (created on delivery): [`MailLab::unique_mailbox`] gives a test a
//! mailbox and address of its own. Postfix accepts mail from 127.0.0.1 for example.org and
//! example.net users only: unknown users and other domains are refused at RCPT time.
//!
//! Tests that stop or restart a server must hold [`MailLab::lock_exclusive`] (the stop/restart
//! helpers panic otherwise); every other test that uses the lab holds [`MailLab::lock_shared`],
//! so that the servers stay up for it. The lock is a file lock in the lab directory: it also
//! orders test binaries that run side by side. Dropping the exclusive lock starts again whatever
//! the test left stopped, even after a panic.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const PASSWORD: &str = "secret";
pub const COMPLAINTS: &str = "complaints@example.org";
pub const MANAGER: &str = "manager@example.org";
pub const RESIDENT: &str = "resident@example.net";
pub const RESIDENT2: &str = "resident2@example.net";

/// Time limit of one network step (connect, one IMAP command, one SMTP reply).
const STEP: Duration = Duration::from_secs(30);

/// An IMAP session to the lab, over plain TCP or TLS.
pub type ImapSession = async_imap::Session<LabStream>;

/// The running mail lab: where its servers listen and where its files are.
#[derive(Clone, Debug)]
pub struct MailLab {
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub lmtp_port: u16,
    /// The lab directory (configuration, mail, logs).
    pub dir: PathBuf,
    /// PEM of the CA that signed the servers' certificate (CN and SAN localhost, 127.0.0.1).
    pub ca_pem: PathBuf,
}

static LAB: OnceLock<Result<MailLab, String>> = OnceLock::new();

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mail-lab")
}

fn skip_requested() -> bool {
    std::env::var("REDRESS_SKIP_MAIL_LAB").is_ok_and(|v| v == "1")
}

fn run_script(args: &[&str], env: &[(&str, String)]) -> Result<String, String> {
    let mut cmd = Command::new(script());
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {} {}: {e}", script().display(), args.join(" ")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`scripts/mail-lab {}` failed ({}):\n{text}",
            args.join(" "),
            out.status
        ))
    }
}

fn start_lab() -> Result<MailLab, String> {
    // While another test (maybe in another test binary) has a server stopped on purpose, wait
    // for it rather than start that server again under its feet.
    let dir = std::env::var_os("MAIL_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/redress-mail-lab"));
    let _shared = dir
        .join("tests.lock")
        .exists()
        .then(|| lock_file(&dir, libc::LOCK_SH));
    run_script(&["start"], &[])?;
    let env = run_script(&["env"], &[])?;
    let vars: HashMap<&str, String> = env
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.trim_matches('\'').to_owned()))
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .ok_or_else(|| format!("`scripts/mail-lab env` printed no {k}:\n{env}"))
    };
    let port = |k: &str| {
        get(k)?
            .parse::<u16>()
            .map_err(|e| format!("`scripts/mail-lab env`: bad {k}: {e}"))
    };
    let lab = MailLab {
        imap_port: port("MAIL_LAB_IMAP_PORT")?,
        imaps_port: port("MAIL_LAB_IMAPS_PORT")?,
        smtp_port: port("MAIL_LAB_SMTP_PORT")?,
        lmtp_port: port("MAIL_LAB_LMTP_PORT")?,
        dir: PathBuf::from(get("MAIL_LAB_DIR")?),
        ca_pem: PathBuf::from(get("MAIL_LAB_CA")?),
    };
    for p in [lab.imap_port, lab.imaps_port, lab.smtp_port] {
        let addr = SocketAddr::from(([127, 0, 0, 1], p));
        StdTcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("mail lab started, but 127.0.0.1:{p} refuses: {e}"))?;
    }
    Ok(lab)
}

impl MailLab {
    /// The lab, started by `scripts/mail-lab start` once per test process (it is idempotent and
    /// quick when the lab is up; as a plain user it succeeds only if root started the lab).
    /// When the lab cannot be had this panics with the script's output, unless
    /// `REDRESS_SKIP_MAIL_LAB=1`, when it returns `None` and the test should return early.
    pub fn from_env_or_start() -> Option<MailLab> {
        match LAB.get_or_init(start_lab) {
            Ok(lab) => Some(lab.clone()),
            Err(e) if skip_requested() => {
                eprintln!("mail lab unavailable, test skipped (REDRESS_SKIP_MAIL_LAB=1): {e}");
                None
            }
            Err(e) => panic!(
                "the mail lab is needed by this test and could not be started.\n{e}\n\
                 (Set REDRESS_SKIP_MAIL_LAB=1 to skip mail-lab tests on a machine without it.)"
            ),
        }
    }

    /// The lab's settings as environment variables, for a child process (the daemon under test).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAIL_LAB_DIR", self.dir.display().to_string()),
            ("MAIL_LAB_IMAP_PORT", self.imap_port.to_string()),
            ("MAIL_LAB_IMAPS_PORT", self.imaps_port.to_string()),
            ("MAIL_LAB_LMTP_PORT", self.lmtp_port.to_string()),
            ("MAIL_LAB_SMTP_PORT", self.smtp_port.to_string()),
            ("MAIL_LAB_CA", self.ca_pem.display().to_string()),
        ]
    }

    // ------------------------------------------------------------------ servers

    fn control(&self, cmd: &str) {
        assert!(
            EXCLUSIVE_HELD.load(Ordering::SeqCst) > 0,
            "`{cmd}` disturbs every test using the mail lab: hold `lab.lock_exclusive().await` \
             for the whole test (and `lab.lock_shared().await` in the tests that only use it)"
        );
        if let Err(e) = run_script(&[cmd], &self.env_vars()) {
            panic!("{e}");
        }
    }

    /// Stops and starts Dovecot: every IMAP connection (IDLE included) is dropped. Blocks.
    pub fn restart_dovecot(&self) {
        self.control("restart-dovecot")
    }
    pub fn stop_dovecot(&self) {
        self.control("stop-dovecot")
    }
    pub fn start_dovecot(&self) {
        self.control("start-dovecot")
    }
    /// Stops Postfix: SMTP connections are refused until [`MailLab::start_postfix`]. Blocks.
    pub fn stop_postfix(&self) {
        self.control("stop-postfix")
    }
    pub fn start_postfix(&self) {
        self.control("start-postfix")
    }

    async fn control_async(&self, cmd: &'static str) {
        let lab = self.clone();
        tokio::task::spawn_blocking(move || lab.control(cmd))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
    /// [`MailLab::restart_dovecot`] off the async worker thread, so that tasks of a
    /// current-thread runtime (an IDLE loop, the daemon under test) keep running meanwhile.
    pub async fn restart_dovecot_async(&self) {
        self.control_async("restart-dovecot").await
    }
    pub async fn stop_dovecot_async(&self) {
        self.control_async("stop-dovecot").await
    }
    pub async fn start_dovecot_async(&self) {
        self.control_async("start-dovecot").await
    }
    pub async fn stop_postfix_async(&self) {
        self.control_async("stop-postfix").await
    }
    pub async fn start_postfix_async(&self) {
        self.control_async("start-postfix").await
    }

    // ------------------------------------------------------------------ test ordering

    /// Held by tests that only use the servers: waits while a test holds the exclusive lock.
    pub async fn lock_shared(&self) -> LabLock {
        self.lock(libc::LOCK_SH).await
    }

    /// Held by tests that stop or restart a server: waits until no other test uses the lab.
    pub async fn lock_exclusive(&self) -> LabLock {
        self.lock(libc::LOCK_EX).await
    }

    async fn lock(&self, how: libc::c_int) -> LabLock {
        let dir = self.dir.clone();
        let file = tokio::task::spawn_blocking(move || lock_file(&dir, how))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let exclusive = how == libc::LOCK_EX;
        if exclusive {
            EXCLUSIVE_HELD.fetch_add(1, Ordering::SeqCst);
        }
        LabLock {
            file: Some(file),
            restore: exclusive.then(|| self.clone()),
        }
    }

    // ------------------------------------------------------------------ SMTP

    /// Sends a lettre message through Postfix (envelope from the message's headers).
    pub async fn send(&self, message: Message) -> Result<Response, lettre::transport::smtp::Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .timeout(Some(STEP))
            .build();
        transport.send(message).await
    }

    /// Sends a plain-text message through Postfix and returns its Message-ID (with the angle
    /// brackets). Panics when Postfix refuses it.
    pub async fn send_text(&self, from: &str, to: &str, subject: &str, body: &str) -> String {
        let id = unique_message_id();
        let message = Message::builder()
            .from(from.parse().expect("from address"))
            .to(to.parse().expect("to address"))
            .subject(subject)
            .message_id(Some(id.clone()))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .expect("message");
        if let Err(e) = self.send(message).await {
            panic!("Postfix refused the message from {from} to {to}: {e}");
        }
        id
    }

    /// Sends raw RFC 5322 bytes (malformed ones too) through Postfix with plain SMTP. Bare LF
    /// line ends become CRLF and lines starting with "." are dot-stuffed; nothing else is
    /// touched. Returns the server's final reply ("250 2.0.0 Ok: queued as …"). A refused
    /// connection is an error of kind `ConnectionRefused`; a refused command is an error whose
    /// text holds the server's reply.
    pub async fn send_raw(&self, from: &str, to: &str, raw: &[u8]) -> io::Result<String> {
        self.send_raw_to(from, &[to], raw).await
    }

    /// [`MailLab::send_raw`] to several recipients.
    pub async fn send_raw_to(&self, from: &str, to: &[&str], raw: &[u8]) -> io::Result<String> {
        let stream = io_step(TcpStream::connect(("127.0.0.1", self.smtp_port))).await?;
        let mut s = BufReader::new(stream);
        smtp_expect(&mut s, "greeting", &[220]).await?;
        smtp_command(&mut s, "EHLO client.localhost", &[250]).await?;
        smtp_command(&mut s, &format!("MAIL FROM:<{from}>"), &[250]).await?;
        for rcpt in to {
            smtp_command(&mut s, &format!("RCPT TO:<{rcpt}>"), &[250, 251]).await?;
        }
        smtp_command(&mut s, "DATA", &[354]).await?;
        io_step(s.get_mut().write_all(&smtp_data(raw))).await?;
        let reply = smtp_expect(&mut s, "end of DATA", &[250]).await?;
        let _ = smtp_command(&mut s, "QUIT", &[221]).await;
        Ok(reply)
    }

    // ------------------------------------------------------------------ IMAP

    /// TLS client settings that trust the lab's CA (aws-lc-rs, as the daemon uses).
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(&self.ca_pem)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.ca_pem.display()));
        for cert in certs {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    async fn tls(&self, tcp: TcpStream) -> io::Result<LabStream> {
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = io_step(TlsConnector::from(self.tls_config()).connect(name, tcp)).await?;
        Ok(LabStream::Tls(Box::new(tls)))
    }

    /// Connects with plain IMAP and logs in (errors returned, for tests that expect failure).
    pub async fn try_imap_session(&self, user: &str) -> Result<ImapSession, String> {
        let tcp = connect(self.imap_port).await?;
        login(LabStream::Plain(tcp), user, PASSWORD, true).await
    }

    /// Connects with IMAPS, checks the certificate against the lab CA, and logs in.
    pub async fn try_imaps_session(&self, user: &str) -> Result<ImapSession, String> {
        let tcp = connect(self.imaps_port).await?;
        let tls = self.tls(tcp).await.map_err(|e| format!("IMAPS TLS: {e}"))?;
        login(tls, user, PASSWORD, true).await
    }

    /// Connects with plain IMAP, upgrades with STARTTLS (lab CA) and logs in.
    pub async fn try_imap_starttls_session(&self, user: &str) -> Result<ImapSession, String> {
        let tcp = connect(self.imap_port).await?;
        let mut client = async_imap::Client::new(LabStream::Plain(tcp));
        read_greeting(&mut client).await?;
        step(client.run_command_and_check_ok("STARTTLS", None))
            .await
            .map_err(|e| format!("STARTTLS: {e}"))?;
        let LabStream::Plain(tcp) = client.into_inner() else {
            unreachable!()
        };
        let tls = self.tls(tcp).await.map_err(|e| format!("STARTTLS: {e}"))?;
        login(tls, user, PASSWORD, false).await
    }

    /// Logs in with a given password (for tests of rejected logins).
    pub async fn try_imap_login(&self, user: &str, password: &str) -> Result<ImapSession, String> {
        let tcp = connect(self.imap_port).await?;
        login(LabStream::Plain(tcp), user, password, true).await
    }

    /// A plain-IMAP session logged in as `user`; panics on failure.
    pub async fn imap_session(&self, user: &str) -> ImapSession {
        self.try_imap_session(user)
            .await
            .unwrap_or_else(|e| panic!("IMAP login as {user}: {e}"))
    }

    /// An IMAPS session (lab CA) logged in as `user`; panics on failure.
    pub async fn imaps_session(&self, user: &str) -> ImapSession {
        self.try_imaps_session(user)
            .await
            .unwrap_or_else(|e| panic!("IMAPS login as {user}: {e}"))
    }

    /// An IMAP session upgraded with STARTTLS (lab CA), logged in as `user`; panics on failure.
    pub async fn imap_starttls_session(&self, user: &str) -> ImapSession {
        self.try_imap_starttls_session(user)
            .await
            .unwrap_or_else(|e| panic!("IMAP STARTTLS login as {user}: {e}"))
    }

    /// Creates `mailbox` for `user` (and subscribes it); an existing mailbox is fine.
    pub async fn create_mailbox(&self, user: &str, mailbox: &str) {
        let mut s = self.imap_session(user).await;
        if let Err(e) = step(s.create(mailbox)).await {
            let text = e.to_string();
            if !text.contains("ALREADYEXISTS") && !text.contains("already exists") {
                panic!("CREATE {mailbox} for {user}: {e}");
            }
        }
        step(s.subscribe(mailbox))
            .await
            .unwrap_or_else(|e| panic!("SUBSCRIBE {mailbox} for {user}: {e}"));
        let _ = step(s.logout()).await;
    }

    /// A new, empty mailbox of `user` for one test, and the address whose mail lands in it:
    /// `("prefix-…", "user+prefix-…@domain")`. `prefix` should be lowercase letters, digits, `-`.
    pub async fn unique_mailbox(&self, user: &str, prefix: &str) -> (String, String) {
        let name = format!("{prefix}-{}", unique_token());
        self.create_mailbox(user, &name).await;
        let (local, domain) = user.split_once('@').expect("user is an address");
        (name.clone(), format!("{local}+{name}@{domain}"))
    }

    /// Deletes and expunges every message in `mailbox` of `user`.
    pub async fn clear_mailbox(&self, user: &str, mailbox: &str) {
        let mut s = self.imap_session(user).await;
        let mb = step(s.select(mailbox))
            .await
            .unwrap_or_else(|e| panic!("SELECT {mailbox} of {user}: {e}"));
        if mb.exists > 0 {
            step(async {
                s.store("1:*", "+FLAGS.SILENT (\\Deleted)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await
            .unwrap_or_else(|e| panic!("STORE \\Deleted in {mailbox} of {user}: {e}"));
            step(async { s.expunge().await?.try_collect::<Vec<_>>().await })
                .await
                .unwrap_or_else(|e| panic!("EXPUNGE {mailbox} of {user}: {e}"));
        }
        let _ = step(s.logout()).await;
    }

    /// Every message in `mailbox` of `user`, raw (BODY.PEEK[], so \Seen is left alone), in UID
    /// order.
    pub async fn fetch_all(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let mut s = self.imap_session(user).await;
        let all = fetch_all_in(&mut s, mailbox)
            .await
            .unwrap_or_else(|e| panic!("reading {mailbox} of {user}: {e}"));
        let _ = step(s.logout()).await;
        all
    }

    /// Polls until `mailbox` of `user` holds at least `n` messages, and returns all of them
    /// (raw, UID order). Panics after `timeout`. Survives a Dovecot restart meanwhile.
    pub async fn wait_for_messages(
        &self,
        user: &str,
        mailbox: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut session: Option<ImapSession> = None;
        let mut last = String::from("no answer yet");
        loop {
            if session.is_none() {
                match self.try_imap_session(user).await {
                    Ok(s) => session = Some(s),
                    Err(e) => last = e,
                }
            }
            if let Some(s) = session.as_mut() {
                match step(s.examine(mailbox)).await {
                    Ok(mb) if mb.exists as usize >= n => match fetch_all_in(s, mailbox).await {
                        Ok(all) if all.len() >= n => {
                            let _ = step(s.logout()).await;
                            return all;
                        }
                        Ok(all) => last = format!("{} messages", all.len()),
                        Err(e) => {
                            last = e;
                            session = None;
                        }
                    },
                    Ok(mb) => last = format!("{} messages", mb.exists),
                    Err(e) => {
                        last = e.to_string();
                        session = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "{mailbox} of {user} did not reach {n} messages within {timeout:?} (last: \
                     {last}); see {}/postfix.log and dovecot.log",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until a message whose Subject contains `needle` (case-insensitive) is in
    /// `mailbox` of `user`, and returns it raw. Panics after `timeout`.
    pub async fn wait_for_subject(
        &self,
        user: &str,
        mailbox: &str,
        needle: &str,
        timeout: Duration,
    ) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut session: Option<ImapSession> = None;
        let mut last = String::from("no answer yet");
        loop {
            if session.is_none() {
                match self.try_imap_session(user).await {
                    Ok(s) => session = Some(s),
                    Err(e) => last = e,
                }
            }
            if let Some(s) = session.as_mut() {
                match find_by_subject(s, mailbox, needle).await {
                    Ok(Some(raw)) => {
                        let _ = step(s.logout()).await;
                        return raw;
                    }
                    Ok(None) => last = "no such message yet".into(),
                    Err(e) => {
                        last = e;
                        session = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "no message with subject containing {needle:?} reached {mailbox} of {user} \
                     within {timeout:?} (last: {last}); see {}/postfix.log and dovecot.log",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The Subject of a raw message, decoded.
pub fn subject_of(raw: &[u8]) -> Option<String> {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.subject().map(str::to_owned))
}

/// A token unique across processes and calls: lowercase letters, digits and `-`.
pub fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 0x1_0000_0000
    )
}

/// A fresh Message-ID, with the angle brackets.
pub fn unique_message_id() -> String {
    format!("<{}@lab.example.net>", unique_token())
}

/// Holds the lab lock until dropped. Dropping an exclusive lock first starts whatever server
/// the test left stopped (also when the test panicked), so the next test finds the lab whole.
pub struct LabLock {
    file: Option<std::fs::File>,
    restore: Option<MailLab>,
}

impl Drop for LabLock {
    fn drop(&mut self) {
        if let Some(lab) = self.restore.take() {
            if let Err(e) = run_script(&["start"], &lab.env_vars()) {
                eprintln!("could not restore the mail lab after an exclusive test: {e}");
            }
            EXCLUSIVE_HELD.fetch_sub(1, Ordering::SeqCst);
        }
        drop(self.file.take());
    }
}

/// How many exclusive locks this process holds (servers may be stopped only under one).
static EXCLUSIVE_HELD: AtomicUsize = AtomicUsize::new(0);

/// Opens the lab's test lock file and flocks it (blocking). Each open() is its own open file
/// description, so flock orders the tests of one process as well as separate processes.
fn lock_file(dir: &Path, how: libc::c_int) -> std::fs::File {
    let mut path = dir.join("tests.lock");
    if std::fs::OpenOptions::new().write(true).open(&path).is_err() {
        path = std::env::temp_dir().join("redress-mail-lab-tests.lock");
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    loop {
        // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), how) };
        if rc == 0 {
            return file;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            panic!("cannot lock {}: {err}", path.display());
        }
    }
}

// ---------------------------------------------------------------------- internals

async fn step<T, E: fmt::Display>(fut: impl Future<Output = Result<T, E>>) -> Result<T, io::Error> {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(io::Error::other(e.to_string())),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {STEP:?}"),
        )),
    }
}

/// Like [`step`] for I/O, keeping the error's kind (`ConnectionRefused` and so on).
async fn io_step<T>(fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(STEP, fut).await.unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {STEP:?}"),
        ))
    })
}

async fn connect(port: u16) -> Result<TcpStream, String> {
    match tokio::time::timeout(STEP, TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("connect 127.0.0.1:{port}: {e}")),
        Err(_) => Err(format!("connect 127.0.0.1:{port}: timed out")),
    }
}

async fn read_greeting(client: &mut async_imap::Client<LabStream>) -> Result<(), String> {
    match tokio::time::timeout(STEP, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err("IMAP server closed the connection before its greeting".into()),
        Ok(Err(e)) => Err(format!("IMAP greeting: {e}")),
        Err(_) => Err("IMAP greeting: timed out".into()),
    }
}

async fn login(
    stream: LabStream,
    user: &str,
    password: &str,
    greeting: bool,
) -> Result<ImapSession, String> {
    let mut client = async_imap::Client::new(stream);
    if greeting {
        read_greeting(&mut client).await?;
    }
    match tokio::time::timeout(STEP, client.login(user, password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(format!("LOGIN {user}: {e}")),
        Err(_) => Err(format!("LOGIN {user}: timed out")),
    }
}

async fn fetch_all_in(s: &mut ImapSession, mailbox: &str) -> Result<Vec<Vec<u8>>, String> {
    let mb = step(s.examine(mailbox))
        .await
        .map_err(|e| format!("EXAMINE {mailbox}: {e}"))?;
    if mb.exists == 0 {
        return Ok(Vec::new());
    }
    let mut fetched = step(async {
        s.uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await
    .map_err(|e| format!("UID FETCH in {mailbox}: {e}"))?;
    fetched.sort_by_key(|f| f.uid);
    Ok(fetched
        .iter()
        .filter_map(|f| f.body().map(<[u8]>::to_vec))
        .collect())
}

async fn find_by_subject(
    s: &mut ImapSession,
    mailbox: &str,
    needle: &str,
) -> Result<Option<Vec<u8>>, String> {
    let mb = step(s.examine(mailbox))
        .await
        .map_err(|e| format!("EXAMINE {mailbox}: {e}"))?;
    if mb.exists == 0 {
        return Ok(None);
    }
    let uids: Vec<u32> = if needle.is_ascii() && !needle.contains(['\r', '\n']) {
        let quoted = needle.replace('\\', "\\\\").replace('"', "\\\"");
        let mut uids: Vec<u32> = step(s.uid_search(format!("SUBJECT \"{quoted}\"")))
            .await
            .map_err(|e| format!("UID SEARCH in {mailbox}: {e}"))?
            .into_iter()
            .collect();
        uids.sort_unstable();
        uids
    } else {
        // Non-ASCII: read the Subject headers and match here.
        let headers = step(async {
            s.uid_fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
        .map_err(|e| format!("UID FETCH in {mailbox}: {e}"))?;
        let lower = needle.to_lowercase();
        let mut uids: Vec<u32> = headers
            .iter()
            .filter(|f| {
                f.header()
                    .and_then(subject_of)
                    .is_some_and(|subj| subj.to_lowercase().contains(&lower))
            })
            .filter_map(|f| f.uid)
            .collect();
        uids.sort_unstable();
        uids
    };
    let Some(uid) = uids.first() else {
        return Ok(None);
    };
    let fetched = step(async {
        s.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await
    .map_err(|e| format!("UID FETCH {uid} in {mailbox}: {e}"))?;
    Ok(fetched.iter().find_map(|f| f.body().map(<[u8]>::to_vec)))
}

async fn smtp_reply(s: &mut BufReader<TcpStream>) -> io::Result<(u16, String)> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = io_step(s.read_line(&mut line)).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("SMTP server closed the connection ({})", text.trim_end()),
            ));
        }
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| io::Error::other(format!("bad SMTP reply line {line:?}")))?;
        text.push_str(line.trim_end());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text));
        }
        text.push('\n');
    }
}

async fn smtp_expect(s: &mut BufReader<TcpStream>, what: &str, ok: &[u16]) -> io::Result<String> {
    let (code, text) = smtp_reply(s).await?;
    if ok.contains(&code) {
        Ok(text)
    } else {
        Err(io::Error::other(format!("SMTP {what}: {text}")))
    }
}

async fn smtp_command(
    s: &mut BufReader<TcpStream>,
    command: &str,
    ok: &[u16],
) -> io::Result<String> {
    io_step(s.get_mut().write_all(format!("{command}\r\n").as_bytes())).await?;
    smtp_expect(s, command, ok).await
}

/// DATA payload: CRLF line ends, dot-stuffing, and the terminating ".".
fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 8);
    let mut line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        line_start = b == b'\n';
        prev = b;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The connection under an [`ImapSession`]: plain TCP or TLS.
pub enum LabStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for LabStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabStream::Plain(s) => write!(f, "Plain({:?})", s.peer_addr().ok()),
            LabStream::Tls(s) => write!(f, "Tls({:?})", s.get_ref().0.peer_addr().ok()),
        }
    }
}

impl AsyncRead for LabStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LabStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LabStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LabStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LabStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LabStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LabStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LabStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LabStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LabStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
