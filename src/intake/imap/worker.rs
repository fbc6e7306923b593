//! The IMAP intake worker.
//!
//! Progress is "whatever is still in the mailbox is unprocessed": a pass searches the
//! mailbox (`UNDELETED`, plus `UNKEYWORD $Processed` when `after_processing = "flag"`), takes
//! each message in through [`ingest`], and only after the store has made that durable moves
//! the message out (or flags it). A message whose case change could not be stored stays where
//! it is and is tried again on the next pass; one taken in twice (a crash between storing and
//! moving) is recognised by its content hash and simply moved. Messages are sourced as
//! `imap:UIDVALIDITY:UID` for the record.
//!
//! Between passes the worker IDLEs, with a full pass every `idle_recheck_seconds` in case a
//! notification was missed. A lost connection (server restart, network) is made again with
//! exponential backoff from 1 second to a minute.

use std::sync::Arc;
use std::time::Duration;

use async_imap::types::{Flag, Mailbox};
use chrono::Utc;
use tokio::sync::watch;

use super::session::{Connection, Woken, stopped};
use super::{Account, ImapError, PROCESSED_KEYWORD};
use crate::config::{AfterProcessing, Loaded, MailConfig};
use crate::intake::{Inbound, IntakeError, Outcome, ingest};
use crate::store::{SET_ASIDE_HOLDER, SetAsideKind, Store};

/// After a message could not be stored or moved, the next pass comes this soon rather than at
/// the end of the IDLE recheck period.
pub const RETRY_SOON: Duration = Duration::from_secs(5);

/// Reconnection delays: 1 s doubling to 60 s, back to 1 s once a session is up.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(60);

    pub fn new() -> Backoff {
        Backoff {
            next: Backoff::FIRST,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Backoff::MAX);
        delay
    }

    pub fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Takes mail in from the IMAP mailbox until `shutdown` turns true. Connection problems are
/// logged and retried; the worker only returns on shutdown (or if `mail.imap_url` is unusable).
pub async fn run(store: Store, loaded: Arc<Loaded>, mut shutdown: watch::Receiver<bool>) {
    let account = match Account::from_config(&loaded.config.mail) {
        Ok(Some(account)) => account,
        Ok(None) => {
            tracing::info!("no mail.imap_url: IMAP intake not started");
            return;
        }
        Err(e) => {
            tracing::error!("IMAP intake cannot start: {e}");
            return;
        }
    };
    tracing::info!(server = %account.address(), user = %account.user, mailbox = %account.mailbox, "IMAP intake started");
    let mut backoff = Backoff::new();
    while !*shutdown.borrow() {
        match session(&store, &loaded, &account, &mut shutdown, &mut backoff).await {
            Ok(()) => break,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(server = %account.address(), retry_in = ?delay, "IMAP intake: {e}");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut shutdown) => break,
                }
            }
        }
    }
    tracing::info!("IMAP intake stopped");
}

/// One connection's life: connect, select, then passes and IDLE until shutdown (`Ok`) or the
/// connection fails (`Err`).
async fn session(
    store: &Store,
    loaded: &Loaded,
    account: &Account,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), ImapError> {
    let mail = &loaded.config.mail;
    // A server that accepts the connection and then says nothing must not hold up shutdown.
    let opened = tokio::select! {
        opened = open(account, mail) => opened?,
        () = stopped(shutdown) => return Ok(()),
    };
    let (mut conn, selected) = opened;
    let validity = selected.uid_validity.unwrap_or(0);
    backoff.reset();
    tracing::info!(
        mailbox = %account.mailbox,
        uidvalidity = validity,
        messages = selected.exists,
        "IMAP mailbox selected"
    );
    if mail.after_processing == AfterProcessing::Flag && !keeps_keywords(&selected) {
        tracing::error!(
            mailbox = %account.mailbox,
            "the server does not keep the {PROCESSED_KEYWORD} keyword in this mailbox: every \
             message would be read again on each pass; use mail.after_processing = \"move\""
        );
    }
    let progress = Progress::load(store, account, validity)?;
    let recheck = Duration::from_secs(mail.idle_recheck_seconds.max(1));
    loop {
        let pass = take_in(&mut conn, store, loaded, &progress, shutdown).await?;
        if *shutdown.borrow() {
            conn.logout().await;
            return Ok(());
        }
        if pass.taken + pass.failed > 0 {
            tracing::debug!(taken = pass.taken, failed = pass.failed, "IMAP pass done");
        }
        let wait = if pass.failed > 0 {
            RETRY_SOON.min(recheck)
        } else {
            recheck
        };
        let (next, woken) = conn.idle(wait, shutdown).await?;
        tracing::debug!(?woken, "IDLE ended");
        conn = next;
        if woken == Woken::Shutdown {
            conn.logout().await;
            return Ok(());
        }
    }
}

/// Connects, creates the folders messages are moved to, and selects the mailbox.
async fn open(account: &Account, mail: &MailConfig) -> Result<(Connection, Mailbox), ImapError> {
    let mut conn = account.connect().await?;
    if mail.after_processing == AfterProcessing::Move {
        conn.ensure_folder(&mail.processed_folder).await?;
    }
    conn.ensure_folder(&mail.quarantine_folder).await?;
    let selected = conn.select(&account.mailbox).await?;
    Ok((conn, selected))
}

/// Whether `$Processed` set on a message stays set (PERMANENTFLAGS has it, or `\*`).
fn keeps_keywords(selected: &Mailbox) -> bool {
    selected.permanent_flags.iter().any(|f| match f {
        Flag::MayCreate => true,
        Flag::Custom(name) => name == PROCESSED_KEYWORD,
        _ => false,
    })
}

/// What a pass did.
#[derive(Debug, Default)]
struct Pass {
    /// Messages taken in and moved (or flagged).
    taken: usize,
    /// Messages left in place to try again.
    failed: usize,
}

/// Where intake stands in a mailbox: UIDVALIDITY and the highest UID taken in, kept in the
/// store. The mailbox itself is the authority (a message is moved or flagged only after its
/// case change is stored); this record lets a flagging mailbox be searched from where intake
/// left off instead of from the start, and shows in the log where a restart resumes.
struct Progress {
    key: String,
    validity: u32,
    /// The last UID taken in under this UIDVALIDITY, if known.
    last: std::sync::atomic::AtomicU32,
}

impl Progress {
    fn load(store: &Store, account: &Account, validity: u32) -> Result<Progress, ImapError> {
        let key = format!(
            "imap/{}@{}:{}/{}",
            account.user, account.host, account.port, account.mailbox
        );
        let saved = store.meta(&key)?.and_then(|v| {
            let text = String::from_utf8(v).ok()?;
            let (v, u) = text.split_once(':')?;
            Some((v.parse::<u32>().ok()?, u.parse::<u32>().ok()?))
        });
        let last = match saved {
            Some((v, uid)) if v == validity => {
                tracing::info!(
                    uidvalidity = validity,
                    last_uid = uid,
                    "IMAP intake resumes"
                );
                uid
            }
            Some((v, _)) => {
                // New UIDVALIDITY: old UIDs mean nothing now. Read everything again; messages
                // already taken in are recognised by their content and not doubled.
                tracing::warn!(
                    old = v,
                    new = validity,
                    "mailbox UIDVALIDITY changed: checking every message"
                );
                0
            }
            None => 0,
        };
        Ok(Progress {
            key,
            validity,
            last: std::sync::atomic::AtomicU32::new(last),
        })
    }

    fn last(&self) -> u32 {
        self.last.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn done(&self, store: &Store, uid: u32) -> Result<(), ImapError> {
        if uid > self.last() {
            self.last.store(uid, std::sync::atomic::Ordering::Relaxed);
            store.set_meta(&self.key, format!("{}:{uid}", self.validity).as_bytes())?;
        }
        Ok(())
    }
}

/// Takes in every message still in the mailbox, oldest UID first. Stops early (after the
/// message in hand) on shutdown.
async fn take_in(
    conn: &mut Connection,
    store: &Store,
    loaded: &Loaded,
    progress: &Progress,
    shutdown: &watch::Receiver<bool>,
) -> Result<Pass, ImapError> {
    let mail = &loaded.config.mail;
    let mut pass = Pass::default();
    // Anything announced before this search is covered by it.
    conn.take_new_mail();
    let query = match mail.after_processing {
        // Whatever is still in the mailbox is not done: it is moved out once it is.
        AfterProcessing::Move => "UNDELETED".to_owned(),
        AfterProcessing::Flag => format!(
            "UID {}:* UNDELETED UNKEYWORD {PROCESSED_KEYWORD}",
            progress.last() + 1
        ),
    };
    for uid in conn.uid_search(&query).await? {
        if *shutdown.borrow() {
            break;
        }
        match take_one(conn, store, loaded, progress.validity, uid).await {
            Ok(true) => {
                progress.done(store, uid)?;
                pass.taken += 1;
            }
            Ok(false) => {}
            Err(ImapError::Store(e) | ImapError::Intake(IntakeError::Store(e))) => {
                tracing::error!(uid, "message left in the mailbox: the store failed: {e}");
                pass.failed += 1;
            }
            Err(ImapError::Intake(e)) => {
                tracing::error!(uid, "message left in the mailbox: {e}");
                pass.failed += 1;
            }
            Err(e) if e.is_no() => {
                tracing::error!(uid, "message taken in but left in the mailbox: {e}");
                pass.failed += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(pass)
}

/// Fetches, takes in and puts away one message. `false` if it was gone before it was fetched.
async fn take_one(
    conn: &mut Connection,
    store: &Store,
    loaded: &Loaded,
    validity: u32,
    uid: u32,
) -> Result<bool, ImapError> {
    let Some(fetched) = conn
        .fetch_at_most(uid, fetch_cap(&loaded.config.mail))
        .await?
    else {
        tracing::debug!(uid, "message gone before it was fetched");
        return Ok(false);
    };
    if fetched.raw.len() < fetched.size {
        tracing::warn!(
            uid,
            size = fetched.size,
            fetched = fetched.raw.len(),
            "message far over mail.max_message_bytes: only its start was read"
        );
    }
    let inbound = Inbound {
        raw: &fetched.raw,
        arrived: fetched.internal_date.unwrap_or_else(Utc::now),
        received: None,
        source: format!("imap:{validity}:{uid}"),
    };
    let outcome = ingest(store, loaded, inbound).await?;
    match disposal(store, &loaded.config.mail, &outcome, &fetched.raw)? {
        Disposal::Move(folder) => conn.move_to(uid, folder).await?,
        Disposal::Flag => conn.add_keyword(uid, PROCESSED_KEYWORD).await?,
    }
    tracing::info!(uid, bytes = fetched.raw.len(), ?outcome, "message taken in");
    Ok(true)
}

/// The most of one message read into memory: twice the size limit (at least 1 MiB), so a
/// message over the limit is still read whole and its real size recorded, while a huge one
/// (quarantined anyway) cannot exhaust memory.
fn fetch_cap(mail: &MailConfig) -> usize {
    mail.max_message_bytes.saturating_mul(2).max(1 << 20)
}

/// Where a message goes once its outcome is stored.
#[derive(Debug, PartialEq, Eq)]
enum Disposal<'a> {
    Move(&'a str),
    Flag,
}

fn disposal<'a>(
    store: &Store,
    mail: &'a MailConfig,
    outcome: &Outcome,
    raw: &[u8],
) -> Result<Disposal<'a>, ImapError> {
    let quarantined = match outcome {
        Outcome::SetAside { kind, .. } => *kind == SetAsideKind::Quarantined,
        // Taken in before (a crash or lost connection before it was moved): put it where the
        // first time would have.
        Outcome::Duplicate { holder } if holder == SET_ASIDE_HOLDER => {
            let hash = crate::mail::content_hash(raw);
            store
                .set_aside_records()?
                .iter()
                .any(|r| r.hash == hash && r.kind == SetAsideKind::Quarantined)
        }
        _ => false,
    };
    Ok(if quarantined {
        Disposal::Move(&mail.quarantine_folder)
    } else {
        match mail.after_processing {
            AfterProcessing::Move => Disposal::Move(&mail.processed_folder),
            AfterProcessing::Flag => Disposal::Flag,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_a_minute_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn keywords_are_kept_when_the_server_allows_new_ones_or_lists_ours() {
        let with = |flags: Vec<Flag<'static>>| Mailbox {
            permanent_flags: flags,
            ..Mailbox::default()
        };
        assert!(keeps_keywords(&with(vec![Flag::Seen, Flag::MayCreate])));
        assert!(keeps_keywords(&with(vec![Flag::Custom(
            "$Processed".into()
        )])));
        assert!(!keeps_keywords(&with(vec![Flag::Seen, Flag::Deleted])));
    }

    #[test]
    fn quarantined_messages_go_to_quarantine_and_the_rest_as_configured() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), "EH").unwrap();
        let mut mail = MailConfig::default();
        let quarantined = Outcome::SetAside {
            kind: SetAsideKind::Quarantined,
            reason: "unreadable".into(),
        };
        let automated = Outcome::SetAside {
            kind: SetAsideKind::Automated,
            reason: "auto-reply".into(),
        };
        assert_eq!(
            disposal(&store, &mail, &quarantined, b"x").unwrap(),
            Disposal::Move("Quarantine")
        );
        assert_eq!(
            disposal(&store, &mail, &automated, b"x").unwrap(),
            Disposal::Move("Processed")
        );
        mail.after_processing = AfterProcessing::Flag;
        assert_eq!(
            disposal(&store, &mail, &automated, b"x").unwrap(),
            Disposal::Flag
        );
        assert_eq!(
            disposal(&store, &mail, &quarantined, b"x").unwrap(),
            Disposal::Move("Quarantine")
        );
        let unknown_duplicate = Outcome::Duplicate {
            holder: SET_ASIDE_HOLDER.into(),
        };
        assert_eq!(
            disposal(&store, &mail, &unknown_duplicate, b"x").unwrap(),
            Disposal::Flag
        );
    }
}
