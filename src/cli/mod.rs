//! The command line. Thin: parse, load what the command needs, call the library, print.
//! Errors here are `anyhow`, with the library's own error text as the cause.

mod cases;
mod classify;
mod letters;
mod mail;
mod remote;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Loaded};
use crate::store::Store;

/// Complaint handling under the Housing Ombudsman's Complaint Handling Code (2024).
#[derive(Debug, Parser)]
#[command(name = "redress", version, about)]
pub struct Cli {
    /// Configuration file. Commands that need no configuration use it only when given.
    #[arg(long, global = true, env = "REDRESS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: intake, drafts, outbox and the HTTP API, until SIGTERM or SIGINT.
    Run,
    /// Take in .eml files (e.g. mail received before redress ran); the Code's clock runs from
    /// --received when given.
    Ingest {
        #[arg(long)]
        received: Option<chrono::NaiveDate>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Drafted letters: list, show, approve, reject.
    #[command(subcommand)]
    Draft(mail::DraftCommand),
    /// Messages that opened no case (automatic or unreadable mail), with the reason.
    SetAside {
        #[arg(long)]
        json: bool,
    },
    /// Alerts, reminders and digests sent to staff: who was told what, when, and whether
    /// it reached them (email, chat).
    Notifications(cases::NotificationsArgs),
    /// Classify messages with the rules, or score a labelled corpus (--eval DIR).
    Classify(classify::ClassifyArgs),
    /// Letters: preview one from a case or the sample case, check the templates.
    #[command(subcommand)]
    Letters(letters::LettersCommand),
    /// Check the configuration and print every problem with its key and line.
    CheckConfig,
    /// Print England & Wales bank holidays (the weekday taken off), one per line.
    Holidays { from_year: i32, to_year: i32 },
    /// Compute the Code's deadlines for a complaint stage.
    Deadlines(tools::DeadlinesArgs),
    /// Policy profiles: check one against the Code.
    #[command(subcommand)]
    Policy(tools::PolicyCommand),
    /// Cases: list, show, open, record an event.
    #[command(subcommand)]
    Case(cases::CaseCommand),
    /// What is due next, from the due-date index.
    Due(cases::DueArgs),
    /// Every deadline and alert falling due over the next N working days, per case, and
    /// the breaches already open.
    Forecast(cases::ForecastArgs),
    /// Write every event as JSON lines (a full backup).
    Export {
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Restore an export into an empty store, then check it re-exports identically.
    Import { file: PathBuf },
    /// Check every snapshot and index against the event log.
    Verify,
}

/// Runs the command line and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_path = cli.config.clone();
    match cli.command {
        Command::Run => mail::run(load_config(&config_file(config_path))?),
        Command::Ingest { received, files } => {
            mail::ingest(&load_config(&config_file(config_path))?, received, &files)
        }
        Command::Draft(cmd) => mail::draft(cmd, &load_config(&config_file(config_path))?),
        Command::SetAside { json } => {
            mail::set_aside(&load_config(&config_file(config_path))?, json)
        }
        Command::Notifications(args) => {
            let loaded = load_config(&config_file(config_path))?;
            cases::notifications(&args, &loaded)
        }
        Command::Classify(args) => {
            let loaded = config_path.map(|p| load_config(&p)).transpose()?;
            classify::classify(&args, loaded.as_ref())
        }
        Command::Letters(cmd) => {
            let loaded = config_path.map(|p| load_config(&p)).transpose()?;
            letters::letters(cmd, loaded.as_ref())
        }
        Command::CheckConfig => tools::check_config(&config_file(config_path)),
        Command::Holidays { from_year, to_year } => tools::holidays(from_year, to_year),
        Command::Deadlines(args) => {
            let loaded = config_path.map(|p| load_config(&p)).transpose()?;
            tools::deadlines(&args, loaded.as_ref())
        }
        Command::Policy(cmd) => tools::policy(cmd),
        Command::Case(cmd) => {
            let loaded = load_config(&config_file(config_path))?;
            cases::case(cmd, &loaded)
        }
        Command::Due(args) => {
            let loaded = load_config(&config_file(config_path))?;
            cases::due(&args, &loaded)
        }
        Command::Forecast(args) => {
            let loaded = load_config(&config_file(config_path))?;
            cases::forecast(&args, &loaded)
        }
        Command::Export { out } => {
            let loaded = load_config(&config_file(config_path))?;
            cases::export(&loaded, out.as_deref())
        }
        Command::Import { file } => {
            let loaded = load_config(&config_file(config_path))?;
            cases::import(&loaded, &file)
        }
        Command::Verify => {
            let loaded = load_config(&config_file(config_path))?;
            cases::verify(&loaded)
        }
    }
}

/// The configuration file to use: the one given, else `redress.toml` here.
fn config_file(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| PathBuf::from("redress.toml"))
}

pub(crate) fn load_config(path: &std::path::Path) -> anyhow::Result<Loaded> {
    config::load(path, std::env::vars()).map_err(|e| match e {
        config::ConfigError::Read { .. } => anyhow::anyhow!(
            "{e}\n  (pass --config FILE or set REDRESS_CONFIG; redress.example.toml is a documented starting point)"
        ),
        other => anyhow::Error::new(other),
    })
}

pub(crate) fn open_store(loaded: &Loaded) -> anyhow::Result<Store> {
    Store::open(
        &loaded.store_path,
        &loaded.config.organisation.reference_prefix,
    )
    .with_context(|| format!("opening the case store ({})", loaded.store_path.display()))
}

/// A small runtime for the commands that wait on the store's durable flush.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(rt.block_on(f))
}
