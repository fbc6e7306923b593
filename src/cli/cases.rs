//! Commands over the case store.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::remote::Backend;
use super::{block_on, open_store};
use crate::config::Loaded;
use crate::core::event::{Event, Opened, Recorded};
use crate::core::model::{
    Case, CaseKind, Channel, Classification, Contact, Direction, Flag, Status,
};

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// List cases, optionally only those with one status.
    List {
        #[arg(long)]
        status: Option<Status>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one case with its full event history.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Log a case received by phone, letter or in person (Code 1.2: "however made").
    Open(OpenArgs),
    /// Record an event on a case, given as JSON (see ARCHITECTURE.md for the event shapes).
    Record {
        reference: String,
        /// The event as JSON, `@FILE` to read it from a file, or `-` for standard input.
        #[arg(long)]
        event: String,
        /// Email of the member of staff recording it.
        #[arg(long)]
        by: String,
    },
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[arg(long)]
    kind: CaseKind,
    /// Date received (the Code's clock starts here); today when absent.
    #[arg(long)]
    received: Option<NaiveDate>,
    #[arg(long, default_value = "phone")]
    channel: Channel,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    address: Option<String>,
    /// What the resident said, in a sentence or two.
    #[arg(long)]
    summary: String,
    /// A flag such as urgent_safety or vulnerability; repeatable.
    #[arg(long = "flag", value_parser = parse_flag)]
    flags: Vec<Flag>,
    /// Email of the member of staff logging it.
    #[arg(long)]
    by: String,
}

fn parse_flag(s: &str) -> Result<Flag, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown flag `{s}`"))
}

#[derive(Debug, Args)]
pub struct DueArgs {
    /// Only items due on or after this date; overdue items are included when absent.
    #[arg(long)]
    from: Option<NaiveDate>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn case(cmd: CaseCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    // Every case command also works while the daemon holds the store (through its API).
    let backend = Backend::connect(loaded)?;
    match cmd {
        CaseCommand::List { status, json } => {
            let cases: Vec<Case> = backend
                .cases()?
                .into_iter()
                .filter(|c| status.is_none_or(|s| c.status == s))
                .collect();
            print_cases(&cases, json)?;
        }
        CaseCommand::Show { reference, json } => {
            let (case, events) = backend.case(&reference)?;
            if json {
                println!("{}", serde_json::json!({ "case": case, "events": events }));
            } else {
                print_case(&case, &events);
            }
        }
        CaseCommand::Record {
            reference,
            event,
            by,
        } => {
            check_staff(loaded, &by)?;
            let event: Event = serde_json::from_str(&read_event(&event)?)
                .context("the event is not valid event JSON")?;
            let (case, linked) = backend.record(loaded, &reference, event, &by)?;
            println!(
                "{} is now {} (event {})",
                reference,
                case.status.as_str(),
                case.version
            );
            if let Some(linked) = linked {
                println!(
                    "{} opened as a linked complaint (Code 1.5)",
                    linked.reference
                );
            }
        }
        CaseCommand::Open(args) => {
            check_staff(loaded, &args.by)?;
            let opened = Opened {
                kind: args.kind,
                received: args.received.unwrap_or_else(|| loaded.today()),
                channel: args.channel,
                complainant: Contact {
                    name: args.name,
                    email: args.email,
                    phone: args.phone,
                    address: args.address,
                    social: None,
                },
                representative: None,
                group_members: Vec::new(),
                summary: args.summary,
                flags: args.flags,
                message: None,
                handler: None,
                linked_to: None,
            };
            println!("{}", backend.open_case(loaded, opened, &args.by)?.reference);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Approvals and records name a real member of staff when the configuration lists any.
pub(super) fn check_staff(loaded: &Loaded, by: &str) -> anyhow::Result<()> {
    let staff = &loaded.config.staff;
    if !staff.is_empty() && !staff.iter().any(|s| s.email.eq_ignore_ascii_case(by)) {
        bail!("{by} is not in the [[staff]] list of {}", loaded.origin);
    }
    Ok(())
}

fn read_event(arg: &str) -> anyhow::Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(s);
    }
    if let Some(file) = arg.strip_prefix('@') {
        return std::fs::read_to_string(file).with_context(|| format!("reading {file}"));
    }
    Ok(arg.to_owned())
}

fn print_cases(cases: &[Case], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "{:<16} {:<20} {:<5} {:<13} {:<10} {:<10} complainant",
            "reference", "kind", "stage", "status", "received", "next due"
        )?;
    }
    for c in cases {
        if json {
            writeln!(out, "{}", serde_json::to_string(c)?)?;
            continue;
        }
        let next = c
            .due_items()
            .iter()
            .map(|d| d.due)
            .min()
            .map_or("-".into(), |d| d.to_string());
        let stage = c.stage.map_or("-".into(), |s| s.number().to_string());
        writeln!(
            out,
            "{:<16} {:<20} {:<5} {:<13} {:<10} {:<10} {}",
            c.reference,
            c.kind.as_str(),
            stage,
            c.status.as_str(),
            c.received,
            next,
            c.complainant.label()
        )?;
    }
    Ok(())
}

fn print_case(c: &Case, events: &[Recorded]) {
    println!(
        "{}  {}  {}",
        c.reference,
        c.kind.as_str(),
        c.status.as_str()
    );
    println!("received {} by {:?}: {}", c.received, c.channel, c.summary);
    println!("complainant: {}", c.complainant.label());
    if let Some(h) = &c.handler {
        println!("handler: {h}");
    }
    if !c.flags.is_empty() {
        println!("flags: {:?}", c.flags);
    }
    for (stage, rec) in &c.stages {
        println!(
            "{stage}: received {}, acknowledge by {}, acknowledged {}, respond by {}, responded {}",
            rec.received,
            rec.ack_due,
            opt(rec.acknowledged_on),
            rec.effective_due(),
            opt(rec.responded_on)
        );
    }
    if let Some(o) = c.recorded_outcome() {
        println!("outcome: {o:?}");
    }
    for item in c.due_items() {
        println!("due {}: {}", item.due, item.what.key());
    }
    if !c.messages.is_empty() {
        println!("messages:");
    }
    for m in &c.messages {
        let direction = match m.direction {
            Direction::Inbound => "in ",
            Direction::Outbound => "out",
        };
        println!("  {} {direction} {}  {}", m.date, m.message_id, m.summary);
        if let Some(class) = &m.classification {
            print_classification(class);
        }
    }
    println!("history:");
    for e in events {
        println!(
            "  {:>3} {} {:<24} {}",
            e.seq,
            e.at.format("%Y-%m-%d %H:%M"),
            e.event.name(),
            e.actor
        );
    }
}

/// Why the classifier decided what it did about a message (SPEC §1: staff can see why).
fn print_classification(c: &Classification) {
    let flags: Vec<&str> = c.flags.iter().map(|f| flag_name(*f)).collect();
    println!(
        "      classified {} (confidence {:.2}, replying to: {}){}",
        c.kind,
        c.confidence,
        if c.context.is_empty() {
            "none"
        } else {
            &c.context
        },
        if flags.is_empty() {
            String::new()
        } else {
            format!(", flags {}", flags.join(", "))
        }
    );
    for rule in &c.rules {
        println!("      rule {} matched {:?}", rule.id, rule.matched);
    }
    if let Some(l) = &c.learned {
        println!(
            "      learned component: {} ({:.2}, influence {}); dissatisfied {:.3}",
            l.kind, l.probability, l.influence, l.dissatisfied
        );
    }
}

fn flag_name(flag: Flag) -> &'static str {
    match flag {
        Flag::Dissatisfaction => "dissatisfaction",
        Flag::BuildingSafety => "building_safety",
        Flag::LgscoMatter => "lgsco_matter",
        Flag::UrgentSafety => "urgent_safety",
        Flag::Vulnerability => "vulnerability",
        Flag::OutOfTime => "out_of_time",
        Flag::ThirdParty => "third_party",
        Flag::Group => "group",
        Flag::CompensationSought => "compensation_sought",
        Flag::LegalAction => "legal_action",
        Flag::Abusive => "abusive",
        Flag::NeedsReview => "needs_review",
    }
}

fn opt(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| d.to_string())
}

pub fn due(args: &DueArgs, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let entries = Backend::connect(loaded)?.due(args.from, args.limit)?;
    for e in entries {
        if args.json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            println!("{}  {:<16} {}", e.due, e.reference, e.what);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// Working days ahead.
    #[arg(long, default_value_t = crate::schedule::forecast::DEFAULT_DAYS)]
    days: u32,
    /// The whole forecast as one JSON document.
    #[arg(long)]
    json: bool,
}

pub fn forecast(args: &ForecastArgs, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    use crate::core::alerts::State;
    let f = Backend::connect(loaded)?.forecast(loaded, args.days)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Forecast from {} to {} ({} working days): {} breached, {} due today, {} at risk",
        f.today,
        f.until,
        f.working_days,
        f.count(State::Breached),
        f.count(State::DueToday),
        f.count(State::AtRisk)
    );
    for case in &f.cases {
        println!(
            "\n{}  {}  (handler: {})",
            case.reference,
            case.summary,
            case.handler.as_deref().unwrap_or("not assigned")
        );
        for item in &case.items {
            let state = serde_json::to_value(item.state)?;
            println!(
                "  {}  {:<17} {} ({})",
                item.due,
                state.as_str().unwrap_or_default(),
                item.description,
                item.provision
            );
            for a in &item.alerts {
                let raised = a.raised_at.map_or_else(
                    || "to come".to_owned(),
                    |at| format!("raised {}", at.format("%Y-%m-%d %H:%M")),
                );
                println!("      {} alert {}: {raised}", a.level.as_str(), a.on);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct NotificationsArgs {
    /// Only those not yet delivered on every channel.
    #[arg(long)]
    pending: bool,
    #[arg(long)]
    json: bool,
}

pub fn notifications(args: &NotificationsArgs, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    use crate::store::Delivery;
    let state = |d: &Delivery| match (&d.delivered_at, &d.failed) {
        (Some(at), _) => format!("delivered {}", at.format("%Y-%m-%d %H:%M")),
        (None, Some(why)) => format!("failed: {why}"),
        (None, None) if d.attempts > 0 => format!(
            "retrying after {} attempts ({})",
            d.attempts,
            d.last_error.as_deref().unwrap_or("no answer")
        ),
        (None, None) => "waiting".to_owned(),
    };
    for n in Backend::connect(loaded)?.notifications(args.pending)? {
        if args.json {
            println!("{}", serde_json::to_string(&n)?);
            continue;
        }
        println!(
            "{}  {:<14} {}  to {}",
            n.created.format("%Y-%m-%d %H:%M"),
            n.note.kind,
            n.note.subject,
            if n.note.to.is_empty() {
                "nobody".to_owned()
            } else {
                n.note.to.join(", ")
            }
        );
        println!("    email: {}", state(&n.email));
        if let Some(chat) = &n.chat {
            println!("    chat: {}", state(chat));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(loaded: &Loaded, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let store = open_store(loaded)?;
    let count = match out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            );
            let n = store.export(&mut file)?;
            file.flush()?;
            n
        }
        None => store.export(&mut std::io::stdout().lock())?,
    };
    eprintln!("exported {count} events");
    Ok(ExitCode::SUCCESS)
}

pub fn import(loaded: &Loaded, file: &Path) -> anyhow::Result<ExitCode> {
    let store = open_store(loaded)?;
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let count = block_on(store.import(BufReader::new(text.as_slice()), loaded.rules()))??;
    // The restore is only trusted if exporting it again gives back the same events.
    let mut again = Vec::new();
    store.export(&mut again)?;
    let parse = |bytes: &[u8]| -> anyhow::Result<Vec<Recorded>> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| serde_json::from_slice(l).context("parsing an event line"))
            .collect()
    };
    if parse(&text)? != parse(&again)? {
        bail!(
            "the restored store does not re-export identically to {}; do not use it",
            file.display()
        );
    }
    println!(
        "imported {count} events into {}; re-export is identical",
        store.path().display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn verify(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let store = open_store(loaded)?;
    let report = store.verify(loaded.rules())?;
    for p in &report.problems {
        println!("{p}");
    }
    println!(
        "{} cases, {} events, {} problems",
        report.cases,
        report.events,
        report.problems.len()
    );
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
