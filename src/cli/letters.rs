//! `redress letters`: preview a letter and check the templates.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use crate::config::Loaded;
use crate::core::model::{Case, Flag};
use crate::core::workflow::LetterKind;
use crate::letters::compliance::Missing;
use crate::letters::templates::{KINDS, Rendered, Templates, check_samples, render_checked};
use crate::letters::{context, sample};

#[derive(Debug, Subcommand)]
pub enum LettersCommand {
    /// Render one letter from a case, or from the sample case, and say whether it complies.
    Preview(PreviewArgs),
    /// Render every letter from the sample case (with and without the building safety and
    /// LGSCO flags) and check each against what the Code requires of it.
    Check,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// stage1_ack, stage1_response, extension, stage2_ack, stage2_response, not_accepted,
    /// social_info_request, service_request_logged, mp_enquiry or action_update; or the staff
    /// emails `alert` and `digest` (from their samples).
    pub kind: String,
    /// The case to draw it from (needs the configuration's store).
    #[arg(long, conflicts_with = "sample")]
    pub case: Option<String>,
    /// The sample case, with every field filled in.
    #[arg(long)]
    pub sample: bool,
    /// Flags to add, comma-separated: e.g. building_safety,lgsco_matter.
    #[arg(long, value_delimiter = ',')]
    pub flags: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Text,
    Html,
}

pub fn letters(cmd: LettersCommand, loaded: Option<&Loaded>) -> anyhow::Result<ExitCode> {
    // Without a configuration, the sample landlord's details fill the letters.
    let sample_config = sample::config();
    let config = loaded.map_or(&sample_config, |l| &l.config);
    let dir = loaded.map_or_else(
        || config.letters.templates.clone(),
        |l| l.resolve(&config.letters.templates),
    );
    let templates = Templates::load(&dir).context("loading the letter templates")?;
    let today = chrono::Local::now().date_naive();
    match cmd {
        LettersCommand::Preview(args)
            if crate::letters::internal::NAMES.contains(&args.kind.as_str()) =>
        {
            // The staff emails have no case of their own to draw from: their samples.
            if args.case.is_some() {
                bail!("`{}` is previewed from its sample (--sample)", args.kind);
            }
            let rendered = if args.kind == "alert" {
                templates.render_named("alert", &crate::letters::internal::sample_alert(config))?
            } else {
                templates
                    .render_named("digest", &crate::letters::internal::sample_digest(config))?
            };
            print(&rendered, args.format);
            Ok(ExitCode::SUCCESS)
        }
        LettersCommand::Preview(args) => {
            let letter = kind(&args.kind)?;
            let flags = parse_flags(&args.flags)?;
            let mut case = match (&args.case, loaded) {
                (Some(reference), Some(loaded)) => {
                    let store = super::open_store(loaded)?;
                    store
                        .case(reference)?
                        .with_context(|| format!("no case {reference}"))?
                }
                (Some(_), None) => bail!("--case needs a configuration (--config) for the store"),
                (None, _) => sample::case(&[]),
            };
            for f in flags {
                if !case.flags.contains(&f) {
                    case.flags.push(f);
                }
            }
            let letter = at_case_stage(letter, &case);
            let ctx = context::build(&case, letter, config, today);
            let (rendered, missing) = render_checked(&templates, letter, &ctx)?;
            print(&rendered, args.format);
            report(&args.kind, &missing);
            Ok(if missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LettersCommand::Check => {
            let problems = check_samples(&templates, config, today)?;
            if problems.is_empty() {
                println!(
                    "{}: all {} letters render and contain what the Code requires, and the {} staff emails render",
                    templates.origin,
                    KINDS.len(),
                    crate::letters::internal::NAMES.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                eprintln!("{}: {} problem(s)", templates.origin, problems.len());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// The letter kind named on the command line.
fn kind(name: &str) -> anyhow::Result<LetterKind> {
    KINDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .with_context(|| {
            let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown letter `{name}`; expected one of {}",
                names.join(", ")
            )
        })
}

/// An extension is written for the stage the case is at.
fn at_case_stage(letter: LetterKind, case: &Case) -> LetterKind {
    match (letter, case.stage) {
        (LetterKind::Extension { .. }, Some(stage)) => LetterKind::Extension { stage },
        _ => letter,
    }
}

fn parse_flags(names: &[String]) -> anyhow::Result<Vec<Flag>> {
    names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            serde_json::from_value(serde_json::Value::String(n.trim().to_owned()))
                .with_context(|| format!("unknown flag `{n}`"))
        })
        .collect()
}

fn print(rendered: &Rendered, format: Format) {
    match format {
        Format::Text => {
            println!("Subject: {}\n", rendered.subject);
            print!("{}", rendered.text);
        }
        Format::Html => print!("{}", rendered.html),
    }
}

fn report(kind: &str, missing: &[Missing]) {
    if missing.is_empty() {
        eprintln!("{kind}: complies");
    } else {
        eprintln!("{kind}: cannot be approved as it stands:");
        for m in missing {
            eprintln!("  {m}");
        }
    }
}
