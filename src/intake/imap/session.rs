//! A logged-in IMAP connection and the few commands redress needs, each under
//! [`COMMAND_TIMEOUT`]. IDLE is the exception: it waits as long as it is told to.
//!
//! After a timeout or a lost connection the session is in an unknown state; callers drop it and
//! connect again. A NO answer (see [`ImapError::is_no`]) leaves the session usable.

use std::collections::HashSet;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Fetch, Mailbox, UnsolicitedResponse};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use tokio::sync::watch;

use super::connect::ImapSession;
use super::{COMMAND_TIMEOUT, ImapError};

/// The slowest transfer rate a big message is given time for: a 25 MiB message may take
/// 200 seconds on top of [`COMMAND_TIMEOUT`].
const SLOWEST_BYTES_PER_SECOND: usize = 128 * 1024;

/// Runs one command under [`COMMAND_TIMEOUT`].
pub async fn timed<T, E>(
    command: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError>
where
    E: Into<async_imap::error::Error>,
{
    timed_for(command, COMMAND_TIMEOUT, fut).await
}

/// Runs one command under a given timeout.
pub async fn timed_for<T, E>(
    command: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError>
where
    E: Into<async_imap::error::Error>,
{
    match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(ImapError::Timeout {
            command,
            secs: limit.as_secs(),
        }),
        Ok(Err(e)) => Err(ImapError::Imap {
            command,
            source: e.into(),
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

/// A message as fetched.
#[derive(Debug)]
pub struct Fetched {
    pub uid: u32,
    /// The source, `BODY[]` (only its start if the message was bigger than asked for).
    pub raw: Vec<u8>,
    /// The message's full size (RFC822.SIZE).
    pub size: usize,
    /// When the server received it (INTERNALDATE).
    pub internal_date: Option<DateTime<Utc>>,
}

/// Why IDLE ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// The server reported a change (new mail, usually).
    Changed,
    /// The recheck period passed without news.
    Recheck,
    /// Shutdown was asked for.
    Shutdown,
}

/// A logged-in session and what the server can do.
pub struct Connection {
    session: ImapSession,
    /// MOVE (RFC 6851): one command instead of copy, flag and expunge.
    can_move: bool,
    /// UIDPLUS (RFC 4315): UID EXPUNGE removes only our message.
    can_uid_expunge: bool,
    can_idle: bool,
    /// The server announced new mail (EXISTS) since [`Connection::take_new_mail`] last looked.
    new_mail: bool,
}

impl Connection {
    pub(super) async fn new(mut session: ImapSession) -> Result<Connection, ImapError> {
        let caps = timed("CAPABILITY", session.capabilities()).await?;
        let mut conn = Connection {
            can_move: caps.has_str("MOVE"),
            can_uid_expunge: caps.has_str("UIDPLUS"),
            can_idle: caps.has_str("IDLE"),
            session,
            new_mail: false,
        };
        conn.note_unsolicited();
        Ok(conn)
    }

    /// Whether the server announced MOVE.
    pub fn can_move(&self) -> bool {
        self.can_move
    }

    /// Whether the server announced IDLE.
    pub fn can_idle(&self) -> bool {
        self.can_idle
    }

    /// Reads what the server said on the side (its channel holds only 100 entries and drops
    /// the rest, so it is emptied after every command), remembering any new mail.
    fn note_unsolicited(&mut self) {
        while let Ok(response) = self.session.unsolicited_responses.try_recv() {
            if matches!(response, UnsolicitedResponse::Exists(_)) {
                self.new_mail = true;
            }
        }
    }

    /// Whether new mail was announced since the last call; forgets it.
    pub fn take_new_mail(&mut self) -> bool {
        self.note_unsolicited();
        std::mem::take(&mut self.new_mail)
    }

    /// SELECTs a mailbox (read-write).
    pub async fn select(&mut self, mailbox: &str) -> Result<Mailbox, ImapError> {
        let selected = timed("SELECT", self.session.select(mailbox)).await;
        self.note_unsolicited();
        selected
    }

    /// EXAMINEs a mailbox (read-only).
    pub async fn examine(&mut self, mailbox: &str) -> Result<Mailbox, ImapError> {
        let examined = timed("EXAMINE", self.session.examine(mailbox)).await;
        self.note_unsolicited();
        examined
    }

    /// Creates a folder unless it exists.
    pub async fn ensure_folder(&mut self, name: &str) -> Result<(), ImapError> {
        let pattern = super::quote(name);
        let listed: Vec<_> = timed("LIST", async {
            self.session
                .list(Some(""), Some(&pattern))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if listed.iter().any(|n| n.name() == name) {
            return Ok(());
        }
        match timed("CREATE", self.session.create(name)).await {
            // Made meanwhile by another client: fine.
            Err(e) if e.is_no() => {
                tracing::debug!(folder = name, "CREATE refused: {e}");
                Ok(())
            }
            other => {
                if other.is_ok() {
                    tracing::info!(folder = name, "IMAP folder created");
                }
                other
            }
        }
    }

    /// Deletes a folder and what is in it (tests clean up with it; redress never deletes mail).
    pub async fn delete_folder(&mut self, name: &str) -> Result<(), ImapError> {
        timed("DELETE", self.session.delete(name)).await
    }

    /// UID SEARCH, in ascending UID order.
    pub async fn uid_search(&mut self, query: &str) -> Result<Vec<u32>, ImapError> {
        let found: HashSet<u32> = timed("UID SEARCH", self.session.uid_search(query)).await?;
        self.note_unsolicited();
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Fetches one message without setting \Seen. `None` if it is gone.
    pub async fn fetch(&mut self, uid: u32) -> Result<Option<Fetched>, ImapError> {
        self.fetch_at_most(uid, usize::MAX).await
    }

    /// Fetches one message without setting \Seen, but no more than its first `cap` bytes, so
    /// a huge message cannot exhaust memory; [`Fetched::size`] says how big it really is. The
    /// time allowed grows with the size. `None` if it is gone.
    pub async fn fetch_at_most(
        &mut self,
        uid: u32,
        cap: usize,
    ) -> Result<Option<Fetched>, ImapError> {
        let sized: Vec<Fetch> = timed("UID FETCH", async {
            self.session
                .uid_fetch(uid.to_string(), "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let Some(size) = sized
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.size)
        else {
            self.note_unsolicited();
            return Ok(None);
        };
        let size = size as usize;
        let (body, expected) = if size > cap {
            (format!("BODY.PEEK[]<0.{cap}>"), cap)
        } else {
            ("BODY.PEEK[]".to_owned(), size)
        };
        let limit =
            COMMAND_TIMEOUT + Duration::from_secs((expected / SLOWEST_BYTES_PER_SECOND) as u64);
        let query = format!("(UID INTERNALDATE {body})");
        let fetches: Vec<Fetch> = timed_for("UID FETCH", limit, async {
            self.session
                .uid_fetch(uid.to_string(), &query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        self.note_unsolicited();
        Ok(fetches
            .iter()
            .find(|f| f.uid == Some(uid) && f.body().is_some())
            .map(|f| Fetched {
                uid,
                raw: f.body().unwrap_or_default().to_vec(),
                size,
                internal_date: f.internal_date().map(|d| d.with_timezone(&Utc)),
            }))
    }

    /// Moves a message to `folder`: UID MOVE where the server has it, else copy, flag
    /// \Deleted and expunge.
    pub async fn move_to(&mut self, uid: u32, folder: &str) -> Result<(), ImapError> {
        if self.can_move {
            let moved = timed("UID MOVE", self.session.uid_mv(uid.to_string(), folder)).await;
            self.note_unsolicited();
            moved
        } else {
            self.copy_delete_expunge(uid, folder).await
        }
    }

    /// The fallback for servers without MOVE. Without UIDPLUS the EXPUNGE also removes other
    /// messages some client flagged \Deleted, which is what that flag asks for anyway.
    pub async fn copy_delete_expunge(&mut self, uid: u32, folder: &str) -> Result<(), ImapError> {
        let set = uid.to_string();
        timed("UID COPY", self.session.uid_copy(&set, folder)).await?;
        self.store_flags(uid, "+FLAGS.SILENT (\\Deleted)").await?;
        if self.can_uid_expunge {
            timed("UID EXPUNGE", async {
                self.session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        } else {
            timed("EXPUNGE", async {
                self.session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        self.note_unsolicited();
        Ok(())
    }

    /// Sets a keyword (or flag) on a message.
    pub async fn add_keyword(&mut self, uid: u32, keyword: &str) -> Result<(), ImapError> {
        self.store_flags(uid, &format!("+FLAGS.SILENT ({keyword})"))
            .await
    }

    async fn store_flags(&mut self, uid: u32, query: &str) -> Result<(), ImapError> {
        timed("UID STORE", async {
            self.session
                .uid_store(uid.to_string(), query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        self.note_unsolicited();
        Ok(())
    }

    /// APPENDs a message to `folder` with the given flags, e.g. `(\Seen)`.
    pub async fn append(&mut self, folder: &str, flags: &str, raw: &[u8]) -> Result<(), ImapError> {
        let appended = timed(
            "APPEND",
            self.session.append(folder, Some(flags), None, raw),
        )
        .await;
        self.note_unsolicited();
        appended
    }

    /// Says goodbye; errors do not matter any more.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
    }

    /// IDLEs until the server reports a change, `wait` passes, or `shutdown` turns true; then
    /// sends DONE. A server without IDLE is polled instead (at most every 30 seconds).
    pub async fn idle(
        mut self,
        wait: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(Connection, Woken), ImapError> {
        // Servers may drop an IDLE after 30 minutes (RFC 2177): stay below.
        let wait = wait.min(Duration::from_secs(29 * 60));
        if self.take_new_mail() {
            return Ok((self, Woken::Changed));
        }
        if !self.can_idle {
            let woken = tokio::select! {
                () = tokio::time::sleep(wait.min(Duration::from_secs(30))) => Woken::Recheck,
                () = stopped(shutdown) => Woken::Shutdown,
            };
            return Ok((self, woken));
        }
        let Connection {
            session,
            can_move,
            can_uid_expunge,
            can_idle,
            new_mail,
        } = self;
        let side = session.unsolicited_responses.clone();
        let mut handle = session.idle();
        timed("IDLE", handle.init()).await?;
        // New mail announced between our last command and the server's "+ idling".
        let announced = std::iter::from_fn(|| side.try_recv().ok())
            .any(|r| matches!(r, UnsolicitedResponse::Exists(_)));
        let woken = if announced {
            Woken::Changed
        } else {
            let (waiting, _interrupt) = handle.wait_with_timeout(wait + Duration::from_secs(30));
            tokio::select! {
                answer = waiting => idle_answer(answer)?,
                () = tokio::time::sleep(wait) => Woken::Recheck,
                () = stopped(shutdown) => Woken::Shutdown,
            }
        };
        let session = timed("DONE", handle.done()).await?;
        let mut conn = Connection {
            session,
            can_move,
            can_uid_expunge,
            can_idle,
            new_mail,
        };
        conn.note_unsolicited();
        Ok((conn, woken))
    }
}

/// What the server said during IDLE. `BYE` (the server is shutting down) ends the session.
fn idle_answer(answer: async_imap::error::Result<IdleResponse>) -> Result<Woken, ImapError> {
    match answer.map_err(|source| ImapError::Imap {
        command: "IDLE",
        source,
    })? {
        IdleResponse::NewData(data) => match data.parsed() {
            Response::Data {
                status: Status::Bye,
                outcome,
            } => Err(ImapError::Protocol {
                command: "IDLE",
                why: format!(
                    "the server said BYE: {}",
                    outcome.information.as_deref().unwrap_or("")
                ),
            }),
            _ => Ok(Woken::Changed),
        },
        IdleResponse::Timeout => Ok(Woken::Recheck),
        // The stream ended: the connection is gone.
        IdleResponse::ManualInterrupt => Err(ImapError::Imap {
            command: "IDLE",
            source: async_imap::error::Error::ConnectionLost,
        }),
    }
}

/// Resolves once `shutdown` is true, or its sender is gone (nobody left to say stop).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
