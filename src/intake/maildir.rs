//! Maildir intake: the embedded default, needing no mail server. Mail delivered into
//! `new/` is taken in, in file-name order, and moved to `cur/` only after the store has made
//! its case change durable; an unreadable message goes to the `.Quarantine` folder instead.
//! A crash between the two leaves the file in `new/`, and taking it in again finds it already
//! seen: nothing lost, nothing doubled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::watch;

use super::{Inbound, Outcome, ingest};
use crate::config::Loaded;
use crate::store::{SetAsideKind, Store, StoreError};

/// How often `new/` is looked at. Short, so a resident's message becomes a case well within a
/// second of delivery; listing an empty directory ten times a second costs next to nothing.
pub const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Error)]
pub enum MaildirError {
    #[error("maildir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Taking a message in failed (the store, or rules that cannot be built); the message
    /// stays where it is and is offered again.
    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MaildirError + '_ {
    move |source| MaildirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `new/`, `cur/`, `tmp/` and the quarantine folder if missing.
pub fn prepare(root: &Path) -> Result<(), MaildirError> {
    for sub in [
        "new",
        "cur",
        "tmp",
        ".Quarantine/new",
        ".Quarantine/cur",
        ".Quarantine/tmp",
    ] {
        let dir = root.join(sub);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    }
    Ok(())
}

/// Takes in everything now in `new/`. Returns what became of each message, in order.
pub async fn scan_once(
    store: &Store,
    loaded: &Loaded,
    root: &Path,
) -> Result<Vec<(String, Outcome)>, MaildirError> {
    let new = root.join("new");
    let mut names: Vec<String> = std::fs::read_dir(&new)
        .map_err(io(&new))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut outcomes = Vec::with_capacity(names.len());
    for name in names {
        let path = new.join(&name);
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            // Gone already (another reader, or moved by hand): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        let arrived = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now());
        let inbound = Inbound {
            raw: &raw,
            arrived,
            received: None,
            source: format!("maildir:{name}"),
        };
        let outcome = ingest(store, loaded, inbound).await?;
        let folder = match &outcome {
            Outcome::SetAside {
                kind: SetAsideKind::Quarantined,
                ..
            } => root.join(".Quarantine/cur"),
            _ => root.join("cur"),
        };
        let target = folder.join(format!("{name}:2,S"));
        std::fs::rename(&path, &target).map_err(io(&path))?;
        tracing::info!(message = %name, ?outcome, "message taken in");
        outcomes.push((name, outcome));
    }
    Ok(outcomes)
}

/// Watches `new/` until `shutdown` turns true. A store failure is logged and retried on the
/// next pass; the message stays in `new/` meanwhile.
pub async fn run(
    store: Store,
    loaded: std::sync::Arc<Loaded>,
    root: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = prepare(&root) {
        tracing::error!("maildir intake cannot start: {e}");
        return;
    }
    tracing::info!(maildir = %root.display(), "maildir intake started");
    while !*shutdown.borrow() {
        match scan_once(&store, &loaded, &root).await {
            Ok(_) => {}
            Err(e) => tracing::error!("maildir intake: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("maildir intake stopped");
}
