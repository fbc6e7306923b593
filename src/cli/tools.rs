//! Commands that need no store: configuration check, holidays, deadlines, policy lint.

use crate::letters::templates::check_samples;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use crate::config::{self, Loaded};
use crate::core::calendar::{self, Calendar};
use crate::core::code::{self, PolicyProfile, Severity, Stage};

/// Checks the configuration and the classification rules it names (the daemon refuses to
/// start with either broken, so this says so first).
pub fn check_config(path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match config::load(path, std::env::vars()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut ok = true;
    let rules = match loaded.classifier.live() {
        Ok(live) => live.engine().rules().len(),
        Err(e) => {
            ok = false;
            eprintln!(
                "{}: classify.rules ({}) cannot be used:",
                loaded.origin,
                loaded.classifier.dir().display()
            );
            for problem in &e.problems {
                eprintln!("  classify.rules: {problem}");
            }
            0
        }
    };
    // The letters, rendered from the sample case with this configuration's landlord, so a
    // template that lost a required paragraph is found before a resident gets the letter.
    let templates = match loaded.letter_templates() {
        Ok(templates) => match check_samples(&templates, &loaded.config, loaded.today()) {
            Ok(problems) if problems.is_empty() => Some(templates.origin),
            Ok(problems) => {
                ok = false;
                eprintln!(
                    "{}: letters.templates ({}) fall short:",
                    loaded.origin, templates.origin
                );
                for p in &problems {
                    eprintln!("  letters.templates: {p}");
                }
                None
            }
            Err(e) => {
                ok = false;
                eprintln!("{}: letters.templates: {e}", loaded.origin);
                None
            }
        },
        Err(e) => {
            ok = false;
            eprintln!("{}: letters.templates: {e}", loaded.origin);
            None
        }
    };
    if !ok {
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: ok ({}, policy {}, {} staff, {} classification rules, letters from {}, store {})",
        loaded.origin,
        loaded.config.organisation.name,
        loaded.policy.name,
        loaded.config.staff.len(),
        rules,
        templates.unwrap_or_default(),
        loaded.store_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn holidays(from: i32, to: i32) -> anyhow::Result<ExitCode> {
    let range = calendar::FIRST_YEAR..=calendar::LAST_YEAR;
    if !range.contains(&from) || !range.contains(&to) || from > to {
        bail!(
            "years must satisfy {} <= FROM_YEAR <= TO_YEAR <= {} (got {from} {to})",
            calendar::FIRST_YEAR,
            calendar::LAST_YEAR
        );
    }
    let mut out = String::new();
    for year in from..=to {
        for day in calendar::bank_holidays(year) {
            out.push_str(&day.format("%Y-%m-%d\n").to_string());
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct DeadlinesArgs {
    /// Complaint stage: 1 or 2.
    #[arg(long, value_parser = parse_stage)]
    stage: Stage,
    /// Date the complaint (or stage 2 request) was received, YYYY-MM-DD.
    #[arg(long)]
    received: NaiveDate,
    /// Date it was actually acknowledged; the response clock runs from here when given.
    #[arg(long)]
    acknowledged: Option<NaiveDate>,
    /// Working days of extension to add to the response date.
    #[arg(long)]
    extension_days: Option<u32>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_stage(s: &str) -> Result<Stage, String> {
    s.parse::<u8>()
        .ok()
        .and_then(Stage::from_number)
        .ok_or_else(|| format!("stage must be 1 or 2, not `{s}`"))
}

pub fn deadlines(args: &DeadlinesArgs, loaded: Option<&Loaded>) -> anyhow::Result<ExitCode> {
    let default_calendar = Calendar::england_and_wales();
    let default_policy = PolicyProfile::code_2024();
    let (calendar, policy) = loaded.map_or((&default_calendar, &default_policy), |l| {
        (&l.calendar, &l.policy)
    });
    if let Some(ack) = args.acknowledged.filter(|a| *a < args.received) {
        bail!(
            "--acknowledged {ack} is before --received {}",
            args.received
        );
    }
    let t = policy.timescales(args.stage);
    let d = code::deadlines(
        calendar,
        t,
        args.stage,
        args.received,
        args.acknowledged,
        args.extension_days,
    );
    if args.json {
        println!("{}", serde_json::to_string(&d)?);
    } else {
        println!("{} received {}", args.stage, d.received);
        println!(
            "  acknowledge by   {} ({} working days, Code {})",
            d.ack_due,
            t.acknowledge_working_days,
            code::ack_provision(args.stage)
        );
        println!(
            "  respond by       {} ({} working days, Code {})",
            d.response_due,
            t.respond_working_days,
            code::response_provision(args.stage)
        );
        if let (Some(due), Some(n)) = (d.extended_due, args.extension_days) {
            let over = if n > t.max_extension_working_days {
                " — over the Code's maximum: a good reason must be recorded"
            } else {
                ""
            };
            println!(
                "  extended to      {due} (+{n} working days, Code {}){over}",
                code::extension_provision(args.stage)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy profile against the Code; exits 1 if it breaks any provision.
    Lint { file: PathBuf },
}

pub fn policy(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Lint { file } = cmd;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let profile = PolicyProfile::from_toml(&text, &file.display().to_string())?;
    let findings = profile.lint();
    for f in &findings {
        println!("{}: {f}", file.display());
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: `{}` complies with the Complaint Handling Code",
        file.display(),
        profile.name
    );
    Ok(ExitCode::SUCCESS)
}
