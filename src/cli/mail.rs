//! Commands for mail and letters: the daemon, back-filling messages, drafts, set-aside mail.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::Subcommand;

use super::remote::Backend;
use super::{block_on, open_store};
use crate::config::Loaded;
use crate::intake::{self, Inbound};
use crate::letters::{Draft, DraftStatus};

pub fn run(loaded: Loaded) -> anyhow::Result<ExitCode> {
    init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(crate::daemon::run(loaded))?;
    Ok(ExitCode::SUCCESS)
}

/// Structured logs: to journald when systemd connected our stderr to the journal (it sets
/// `JOURNAL_STREAM`), else formatted to stderr.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = tracing_subscriber::filter::LevelFilter::INFO;
    let journald = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
    match journald {
        Some(layer) => {
            let _ = tracing_subscriber::registry()
                .with(level)
                .with(layer)
                .try_init();
        }
        None => {
            let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
            let _ = tracing_subscriber::registry()
                .with(level)
                .with(fmt)
                .try_init();
        }
    }
}

/// Takes in `.eml` files, e.g. messages received before redress ran or from a paper log.
pub fn ingest(
    loaded: &Loaded,
    received: Option<NaiveDate>,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let store = open_store(loaded)?;
    let mut failed = false;
    for file in files {
        let raw = match std::fs::read(file) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed = true;
                continue;
            }
        };
        let inbound = Inbound {
            raw: &raw,
            arrived: Utc::now(),
            received,
            source: format!("ingest:{}", file.display()),
        };
        let outcome = block_on(intake::ingest(&store, loaded, inbound))??;
        println!(
            "{}",
            serde_json::json!({ "file": file.display().to_string(), "result": outcome })
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Debug, Subcommand)]
pub enum DraftCommand {
    /// List drafts (pending ones by default).
    List {
        /// `pending`, `approved`, `rejected`, `sent`, `failed` or `all`.
        #[arg(long, default_value = "pending")]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a draft in full.
    Show { id: u64 },
    /// Approve a draft: it goes to the outbox.
    Approve {
        id: u64,
        #[arg(long)]
        by: String,
    },
    /// Record that an approved letter was printed and posted (no email address): the case
    /// counts it as sent today.
    Posted {
        id: u64,
        #[arg(long)]
        by: String,
    },
    /// Edit a pending draft's subject and text (the text from a file, `-` for standard
    /// input). The edit is recorded with the text before and after, and the compliance check
    /// says what the edited letter lacks.
    Edit {
        id: u64,
        #[arg(long)]
        by: String,
        /// The new subject; the draft's own when absent.
        #[arg(long)]
        subject: Option<String>,
        /// File holding the new text of the letter.
        #[arg(long)]
        text: PathBuf,
    },
    /// Reject a draft, saying why.
    Reject {
        id: u64,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
}

pub fn draft(cmd: DraftCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let backend = Backend::connect(loaded)?;
    match cmd {
        DraftCommand::List { status, json } => {
            let drafts: Vec<Draft> = backend
                .drafts()?
                .into_iter()
                .filter(|d| status == "all" || d.status.as_str() == status)
                .collect();
            for d in drafts {
                if json {
                    println!("{}", serde_json::to_string(&d)?);
                } else {
                    println!(
                        "{:>5}  {:<9} {:<16} {:<36} {}",
                        d.id,
                        d.status.as_str(),
                        d.reference,
                        d.letter.name(),
                        d.to.as_deref().unwrap_or("(by post)")
                    );
                }
            }
        }
        DraftCommand::Show { id } => print_draft(&backend.draft(loaded, id)?),
        DraftCommand::Approve { id, by } => {
            super::cases::check_staff(loaded, &by)?;
            let d = backend.decide(loaded, id, true, &by, None)?;
            println!("draft {} approved by {by}; it is in the outbox", d.id);
        }
        DraftCommand::Posted { id, by } => {
            super::cases::check_staff(loaded, &by)?;
            let d = backend.posted(loaded, id, &by)?;
            println!("draft {} recorded as posted for {}", d.id, d.reference);
        }
        DraftCommand::Reject { id, by, reason } => {
            super::cases::check_staff(loaded, &by)?;
            let d = backend.decide(loaded, id, false, &by, Some(&reason))?;
            println!("draft {} rejected", d.id);
        }
        DraftCommand::Edit {
            id,
            by,
            subject,
            text,
        } => {
            super::cases::check_staff(loaded, &by)?;
            let body = if text.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading the text")?
            } else {
                std::fs::read_to_string(&text)
                    .with_context(|| format!("reading {}", text.display()))?
            };
            let d = backend.edit(loaded, id, &by, subject.as_deref(), &body)?;
            println!("draft {} edited by {by}", d.id);
            if d.problems.is_empty() {
                println!("it contains what the Code requires and can be approved");
            } else {
                println!("it cannot be approved until it has:");
                for p in &d.problems {
                    println!("  {p}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_draft(d: &Draft) {
    println!(
        "draft {}  {}  {}  ({})",
        d.id,
        d.reference,
        d.letter.name(),
        d.status.as_str()
    );
    println!("To: {}", d.to.as_deref().unwrap_or("(no email: by post)"));
    println!("Subject: {}", d.subject);
    println!("Message-ID: {}", d.message_id);
    if let Some(parent) = &d.in_reply_to {
        println!("In-Reply-To: {parent}");
    }
    if let (Some(by), Some(at)) = (&d.decided_by, d.decided_at) {
        println!("Decided by {by} at {at}");
    }
    if d.status == DraftStatus::Failed || d.last_error.is_some() {
        println!("Last error: {}", d.last_error.as_deref().unwrap_or("-"));
    }
    for e in &d.edits {
        println!("Edited by {} at {}", e.by, e.at);
    }
    if d.status == DraftStatus::Pending && !d.problems.is_empty() {
        println!("Cannot be approved yet:");
        for p in &d.problems {
            println!("  {p}");
        }
    }
    println!("\n{}", d.body);
}

/// Messages that opened no case (automatic or unreadable), with the reason.
pub fn set_aside(loaded: &Loaded, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(loaded)?;
    for r in store.set_aside_records()? {
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{}  {:?}  {}  {}  {}",
                r.arrived.format("%Y-%m-%d %H:%M"),
                r.kind,
                r.from.as_deref().unwrap_or("-"),
                r.source,
                r.reason
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
