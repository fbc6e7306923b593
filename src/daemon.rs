//! `redress run`: wires the workers together.
//!
//! Start-up is a linear sequence of logged steps: open the store, start intake (Maildir and/or
//! IMAP), the drafter (queued draft effects → drafts), the scheduler (deadline alerts,
//! reminders, digests; missed runs caught up at once) and the notifier that delivers them, the
//! outbox and the HTTP API, then tell
//! systemd we are ready. On SIGTERM or SIGINT every worker is told to stop, finishes the
//! message in hand, and the process exits 0 within 10 seconds. On SIGHUP the classification
//! rules are read again; a broken set is refused with every problem logged, and the rules in
//! force stay, so a landlord's typo never leaves intake without a classifier.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::classify::live::LiveRules;
use crate::classify::rules::RulesError;
use crate::config::Loaded;
use crate::intake;
use crate::letters::templates::{Templates, check_samples};
use crate::letters::write;
use crate::outbox::{self, Transport};
use crate::schedule::Scheduler;
use crate::schedule::notify::{self, Notifier};
use crate::store::{Store, StoreError};
use crate::web;

/// The first wait before a staff notification is retried (doubling up to 30 minutes).
const NOTIFY_RETRY: Duration = Duration::from_secs(5);

/// How long workers get to finish after a stop signal.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the HTTP listener cannot use {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("the outbox cannot start: {0}")]
    Outbox(#[from] outbox::SendError),
    #[error("the API token file {path}: {source}")]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The classification rules (`classify.rules`) do not load: every problem is listed with
    /// file and line. At start there is no previous rule set to fall back on.
    #[error("classify.rules ({dir}): {source}")]
    Rules { dir: PathBuf, source: RulesError },
    /// The letter templates (`letters.templates`) do not load: a syntax error, with file and
    /// line, or a letter with no template.
    #[error("letters.templates: {0}")]
    Templates(#[from] crate::letters::templates::TemplateError),
    /// A `[schedule]` cron expression does not parse (check-config says so too).
    #[error(transparent)]
    Schedule(#[from] crate::schedule::jobs::JobError),
}

/// Where the daemon keeps the API token it made, when the configuration gives none.
pub fn token_path(loaded: &Loaded) -> PathBuf {
    loaded.store_path.with_extension("api-token")
}

/// The API token: the configured one, or one made at first start and kept beside the store
/// (readable by the owner only) so the command line can find it.
fn api_token(loaded: &Loaded) -> Result<String, DaemonError> {
    if let Some(token) = &loaded.config.api.token {
        return Ok(token.clone());
    }
    let path = token_path(loaded);
    let err = |source| DaemonError::Token {
        path: path.clone(),
        source,
    };
    if let Ok(existing) = std::fs::read_to_string(&path)
        && !existing.trim().is_empty()
    {
        return Ok(existing.trim().to_owned());
    }
    let mut bytes = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(err)?;
    let token = hex::encode(bytes);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(&path, &token).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(token)
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(loaded: Loaded) -> Result<(), DaemonError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing::info!(config = %loaded.origin, "starting redress");
    // Caught from the start: SIGHUP's default action ends the process.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!("SIGHUP cannot be caught ({e}): rules reload needs a restart"))
        .ok();
    let classifier = classifier(&loaded)?;
    tracing::info!(
        rules = classifier.engine().rules().len(),
        "classification rules loaded"
    );
    let templates = Arc::new(loaded.letter_templates()?);
    match check_samples(&templates, &loaded.config, loaded.today())? {
        problems if problems.is_empty() => {
            tracing::info!(templates = %templates.origin, "letter templates loaded and checked");
        }
        // Such letters cannot be approved, so nothing non-compliant goes out; intake and the
        // other letters carry on while the templates are put right.
        problems => {
            for p in &problems {
                tracing::error!(templates = %templates.origin, "letter template falls short: {p}");
            }
        }
    }
    let store = open_store(&loaded).await?;
    // (No case count here: counting scans every snapshot and would pull the whole store into
    // memory at start-up.)
    tracing::info!(store = %loaded.store_path.display(), "store open");
    if let Err(e) = learn_corrections(&store, &loaded) {
        // Intake still works with the shipped learned component; say why corrections are
        // not in use rather than refuse to start.
        tracing::error!("staff corrections cannot be read, the classifier runs without them: {e}");
    }
    let token = api_token(&loaded)?;
    let loaded = Arc::new(loaded);
    let (stop, stopped) = watch::channel(false);
    let mut workers = JoinSet::new();

    if let Some(dir) = &loaded.config.mail.maildir {
        let root = loaded.resolve(dir);
        workers.spawn(intake::maildir::run(
            store.clone(),
            loaded.clone(),
            root,
            stopped.clone(),
        ));
    }
    if loaded.config.mail.imap_url.is_some() {
        workers.spawn(intake::imap::run(
            store.clone(),
            loaded.clone(),
            stopped.clone(),
        ));
    }
    workers.spawn(drafter(
        store.clone(),
        loaded.clone(),
        templates.clone(),
        stopped.clone(),
    ));
    if let Some(hangup) = hangup {
        workers.spawn(reload_on_hangup(hangup, loaded.clone(), stopped.clone()));
    }
    let scheduler = Scheduler::new(store.clone(), loaded.clone(), templates.clone())?;
    workers.spawn(crate::schedule::run(Arc::new(scheduler), stopped.clone()));
    // With the file transport (the embedded default) staff emails go in a folder of their
    // own, so the letters to residents are not mixed with them.
    let staff_transport = match Transport::from_config(&loaded)? {
        Some(Transport::File(t)) => Some(Transport::File(outbox::FileTransport::new(
            t.folder().join("staff"),
        ))),
        other => other,
    };
    let notifier = Notifier::new(store.clone(), &loaded, staff_transport, NOTIFY_RETRY)?;
    workers.spawn(notify::run(notifier, stopped.clone()));
    match Transport::from_config(&loaded)? {
        Some(transport) => {
            workers.spawn(outbox::run(
                store.clone(),
                loaded.clone(),
                transport,
                stopped.clone(),
            ));
        }
        None => tracing::warn!("no mail.smtp_url: approved letters wait in the outbox"),
    }
    let addr = loaded.config.http.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: addr.clone(),
            source,
        })?;
    tracing::info!(%addr, "HTTP API listening");
    let app = web::router(web::AppState {
        store: store.clone(),
        loaded: loaded.clone(),
        token: Arc::new(token),
        templates,
    });
    let mut http_stop = stopped.clone();
    workers.spawn(async move {
        let shutdown = async move {
            let _ = http_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("HTTP API: {e}");
        }
    });

    notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!("ready");
    let watchdog = watchdog(stopped.clone());
    tokio::pin!(watchdog);
    tokio::select! {
        () = signal() => {}
        () = &mut watchdog => {}
    }
    notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping");
    let _ = stop.send(true);
    let finished = tokio::time::timeout(STOP_DEADLINE, async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!("workers did not finish within {STOP_DEADLINE:?}; stopping anyway");
        workers.abort_all();
    }
    // Every change was flushed when it was written; this last flush must not keep a stopping
    // service from stopping (see `store::LastHandle`).
    match tokio::time::timeout(STOP_DEADLINE, store.flush()).await {
        Ok(flushed) => flushed?,
        Err(_) => tracing::error!("the store's final flush did not finish in {STOP_DEADLINE:?}"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Opens the store, waiting a little if a command-line call holds it for a moment (a
/// service restarted while an administrator runs `redress case list` must still start).
async fn open_store(loaded: &Loaded) -> Result<Store, DaemonError> {
    let prefix = &loaded.config.organisation.reference_prefix;
    let started = std::time::Instant::now();
    loop {
        match Store::open(&loaded.store_path, prefix) {
            Err(StoreError::Locked { .. }) if started.elapsed() < STOP_DEADLINE => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Turns queued "draft this letter" effects into drafts for approval, written from the
/// templates and checked.
async fn drafter(
    store: Store,
    loaded: Arc<Loaded>,
    templates: Arc<Templates>,
    mut shutdown: watch::Receiver<bool>,
) {
    let domain = loaded.config.mail.id_domain();
    while !*shutdown.borrow() {
        let today = loaded.today();
        let render = |case: &crate::core::model::Case, letter| {
            write::write(&templates, case, letter, &loaded.config, today)
        };
        match store.make_drafts(render, &domain, Utc::now()).await {
            Ok(made) => {
                for d in made {
                    tracing::info!(draft = d.id, case = %d.reference, letter = %d.letter.name(), "draft waiting for approval");
                    for p in &d.problems {
                        tracing::warn!(draft = d.id, case = %d.reference, "draft cannot be approved yet: {p}");
                    }
                }
            }
            Err(e) => tracing::error!("drafter: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Retrains the classifier's learned component on the shipped corpus and every staff
/// correction in the store (all of them: retraining from scratch takes milliseconds and can
/// never count one twice), and logs how big it is, so staff can see their corrections count.
/// Called at start and after each `reclassified` event the API records.
pub fn learn_corrections(store: &Store, loaded: &Loaded) -> Result<(), DaemonError> {
    let classifier = classifier(loaded)?;
    if loaded.config.classify.learned_influence <= 0.0 {
        tracing::info!(
            rules = classifier.engine().rules().len(),
            "classifier ready (rules only: classify.learned_influence is 0)"
        );
        return Ok(());
    }
    let corrections = store.corrections()?;
    classifier.learn(&corrections);
    tracing::info!(
        rules = classifier.engine().rules().len(),
        examples = classifier.model().examples(),
        corrections = corrections.len(),
        "classifier ready: learned component trained on the shipped corpus and staff corrections"
    );
    Ok(())
}

/// The classifier the configuration names, built now if it is not yet.
fn classifier(loaded: &Loaded) -> Result<&LiveRules, DaemonError> {
    loaded
        .classifier
        .live()
        .map_err(|source| DaemonError::Rules {
            dir: loaded.classifier.dir().to_path_buf(),
            source,
        })
}

/// Reloads the classification rules on each SIGHUP until the daemon stops.
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    loaded: Arc<Loaded>,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        tokio::select! {
            got = hangup.recv() => match got {
                Some(()) => reload_rules(&loaded),
                None => return,
            },
            _ = shutdown.changed() => {}
        }
    }
}

/// One reload: the new rules in force, or every problem logged and the old rules kept.
fn reload_rules(loaded: &Loaded) {
    // Built at start, so this only fails if start-up itself did.
    let live = match classifier(loaded) {
        Ok(live) => live,
        Err(e) => return tracing::error!("SIGHUP: {e}"),
    };
    match live.reload() {
        Ok(count) => tracing::info!(rules = count, "SIGHUP: classification rules reloaded"),
        Err(e) => {
            for problem in &e.problems {
                tracing::error!("classification rules: {problem}");
            }
            tracing::error!(
                problems = e.problems.len(),
                "SIGHUP: classification rules refused; the rules in force are unchanged"
            );
        }
    }
}

async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Pings systemd's watchdog at half its interval while running; never completes.
async fn watchdog(stopped: watch::Receiver<bool>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return std::future::pending().await;
    };
    let every = interval / 2;
    while !*stopped.borrow() {
        notify(&[sd_notify::NotifyState::Watchdog]);
        tokio::time::sleep(every).await;
    }
    std::future::pending().await
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    // Outside systemd there is no socket; that is not an error.
    let _ = sd_notify::notify(state);
}
