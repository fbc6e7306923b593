//! The case store, on sled.
//!
//! One write path (DESIGN.md): every change is an event appended here, and the event, the
//! case snapshot, every index entry it changes and the effects still to be carried out are
//! written in one sled transaction, then flushed to disk (`flush_async`) before the caller
//! hears "done". A crash at any moment therefore leaves either all of a change or none of it.
//!
//! Everything lives in one tree under short key prefixes (see [`keys`]); a single-tree
//! transaction is sled's simplest atomic unit and range scans by prefix give the indexes.

mod alerts;
mod backup;
mod corrections;
mod drafts;
pub mod keys;
mod messages;
mod read;
mod write;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::core::workflow::WorkflowError;

pub use alerts::{Delivery, NewNotification, Notification, Once, ScanWindow, alert_mark, run_mark};
pub use backup::VerifyReport;
pub use corrections::{StoredCorrection, message_kind};
pub use messages::{MessageMark, SET_ASIDE_HOLDER, SetAside, SetAsideKind};
pub use read::{DueEntry, QueuedEffect};
pub use write::Commit;

/// The on-disk layout this build reads and writes. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A file beside sled's own, written once the store is initialised. If sled later opens the
/// directory as empty while this file exists, its data was lost or damaged: that must be an
/// error, never a fresh store that would hand out the same case references again.
const MARKER: &str = "redress-store";

/// sled's page cache. Its default (1 GiB) is far more than a complaints store needs; a small
/// cache keeps the daemon's resident memory low.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Why the store refused or failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "the store at {path} is in use by another process (is the daemon running? while it runs, use its API)"
    )]
    Locked { path: PathBuf },
    #[error(
        "the store at {path} is damaged ({detail}); restore it from an export with `redress import`"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the store at {path} has layout version {found}, but this redress reads version {expected}"
    )]
    WrongVersion {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("{path} holds data but is not a redress store")]
    NotAStore { path: PathBuf },
    #[error("no case {0}")]
    NotFound(String),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error("store I/O failed: {0}")]
    Io(#[from] sled::Error),
    #[error("record {key} cannot be converted: {source}")]
    Decode {
        key: String,
        source: serde_json::Error,
    },
    #[error("draft {id} cannot be approved or changed: {why}")]
    DraftRefused { id: u64, why: String },
    #[error("message {hash} was already taken in ({holder})")]
    Duplicate { hash: String, holder: String },
    #[error("import needs an empty store, but {path} already holds cases")]
    NotEmpty { path: PathBuf },
    #[error("import line {line}: {message}")]
    Import { line: usize, message: String },
}

/// An open case store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    /// Prefix of new case references (`DH` in `DH-2026-00042`). Counters are kept per prefix
    /// and year, so changing the prefix later never reuses a reference.
    prefix: String,
    /// Dropped with the last clone, after `db` and `tree` (fields drop in order): see
    /// [`LastHandle`].
    _last: std::sync::Arc<LastHandle>,
}

/// How long closing the store may wait for sled's final flush.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The store's last handles to sled, closed with a time limit.
///
/// sled flushes when its last handle is dropped, and that flush has been seen to wait forever
/// (sled 0.34.7: the final flush parked in `make_stable` with its I/O threads idle). Every
/// change is already flushed when it is written, so nothing depends on that last flush; a
/// process must not hang on it. This flushes first on a helper thread, with a time limit:
/// done in time, the handles drop normally (sled's own flush then has nothing to write);
/// not done, they are left open, with an error logged, until the process exits.
struct LastHandle {
    /// Taken in `drop`: dropped, or forgotten.
    handles: Option<(sled::Db, sled::Tree)>,
    path: PathBuf,
}

impl Drop for LastHandle {
    fn drop(&mut self) {
        let Some(handles) = self.handles.take() else {
            return;
        };
        let db = handles.0.clone();
        // The helper drops its handle before answering: the handles here must be the last
        // ones, so the store is closed (its lock released) when they drop.
        let flushed = finished_within(CLOSE_TIMEOUT, move || {
            let _ = db.flush();
            drop(db);
        });
        if flushed {
            drop(handles);
        } else {
            tracing::error!(
                store = %self.path.display(),
                "the store's final flush did not finish in {CLOSE_TIMEOUT:?}; it is left open until the process exits (every change was already flushed when it was written)"
            );
            std::mem::forget(handles);
        }
    }
}

/// Runs `work` on a helper thread; whether it finished within `limit`. (If not, the thread is
/// left to finish, or not, on its own.)
fn finished_within(limit: std::time::Duration, work: impl FnOnce() + Send + 'static) -> bool {
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("store-close".into())
        .spawn(move || {
            work();
            let _ = done.send(());
        });
    spawned.is_ok() && finished.recv_timeout(limit).is_ok()
}

impl Store {
    /// Opens (or creates) the store at `path`. A store held by another process, a damaged one,
    /// or one written by an incompatible version is a clear error, never a panic.
    pub fn open(path: &Path, reference_prefix: &str) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(500));
        // sled has been seen to panic on some damaged files rather than return an error;
        // a damaged store must be reported, not crash the daemon.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(open_error(&path, e)),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "the storage engine could not read it".to_owned());
                return Err(StoreError::Corrupt { path, detail });
            }
        };
        // Only this store's tree may hold data: a sled database written by something else
        // must not be taken over (its default tree or other trees hold data, ours is absent).
        let foreign = !db.is_empty()
            || db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() != b"__sled__default" && n.as_ref() != b"redress");
        let ours = db.tree_names().iter().any(|n| n.as_ref() == b"redress");
        if foreign && !ours {
            return Err(StoreError::NotAStore { path });
        }
        let tree = db.open_tree("redress")?;
        let last = LastHandle {
            handles: Some((db.clone(), tree.clone())),
            path: path.clone(),
        };
        let store = Store {
            db,
            tree,
            path,
            prefix: reference_prefix.to_owned(),
            _last: std::sync::Arc::new(last),
        };
        store.check_version()?;
        Ok(store)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    fn check_version(&self) -> Result<(), StoreError> {
        self.check_layout()?;
        let marker = self.path.join(MARKER);
        if !marker.exists() {
            std::fs::write(&marker, format!("redress store, layout {SCHEMA_VERSION}\n"))
                .map_err(|e| StoreError::Io(e.into()))?;
        }
        Ok(())
    }

    fn check_layout(&self) -> Result<(), StoreError> {
        match self.tree.get(keys::VERSION)? {
            Some(v) => {
                let found = String::from_utf8_lossy(&v).into_owned();
                if found != SCHEMA_VERSION.to_string() {
                    return Err(StoreError::WrongVersion {
                        path: self.path.clone(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
            None if self.tree.is_empty() && self.path.join(MARKER).exists() => {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: "it was initialised before but its data is missing".to_owned(),
                });
            }
            None if self.tree.is_empty() => {
                self.tree
                    .insert(keys::VERSION, SCHEMA_VERSION.to_string().as_bytes())?;
                self.db.flush()?;
            }
            None => {
                return Err(StoreError::NotAStore {
                    path: self.path.clone(),
                });
            }
        }
        Ok(())
    }
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    let path = path.to_path_buf();
    match e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            StoreError::Locked { path }
        }
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => StoreError::Corrupt {
            path,
            detail: e.to_string(),
        },
        sled::Error::Unsupported(detail) => StoreError::Corrupt { path, detail },
        other => StoreError::Io(other),
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Decode {
        key: what.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::finished_within;

    #[test]
    fn closing_waits_for_a_final_flush_that_finishes_and_gives_up_on_one_that_hangs() {
        assert!(finished_within(Duration::from_secs(5), || {}));
        assert!(!finished_within(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(2))
        }));
    }
}
