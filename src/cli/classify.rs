//! `redress classify`: classify files with the rules engine, or score a labelled corpus.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::classify::engine::{DEFAULT_INFLUENCE, Engine, INFLUENCE_RANGE, Uncertain};
use crate::classify::eval::{self, Labelled};
use crate::classify::live::load_engine;
use crate::classify::{Context, MessageKind};
use crate::config::Loaded;
use crate::core::model::Channel;

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// `.eml` files, plain-text messages or labelled corpus files; standard input when none.
    files: Vec<PathBuf>,
    /// One JSON object per line (per file), or the evaluation report as JSON.
    #[arg(long)]
    json: bool,
    /// Folder of rule files; default `classify.rules` of the configuration, else `rules`
    /// (the shipped rules when that folder does not exist).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Weight of the learned component next to the rules (default `classify.learned_influence`
    /// of the configuration, else 1); 0 shows what the rules alone decide.
    #[arg(long, value_name = "WEIGHT")]
    influence: Option<f32>,
    /// Score a labelled corpus folder (every `.txt` file below it) instead.
    #[arg(long, value_name = "DIR")]
    eval: Option<PathBuf>,
}

pub fn classify(args: &ClassifyArgs, loaded: Option<&Loaded>) -> anyhow::Result<ExitCode> {
    let settings = loaded.map(|l| &l.config.classify);
    let uncertain = settings.map_or(Uncertain::default(), |c| c.uncertain);
    let influence = args
        .influence
        .or(settings.map(|c| c.learned_influence))
        .unwrap_or(DEFAULT_INFLUENCE);
    anyhow::ensure!(
        INFLUENCE_RANGE.contains(&influence),
        "--influence {influence} is out of range: use 0 (off) to 10"
    );
    let dir = match (&args.rules, loaded) {
        (Some(dir), _) => {
            anyhow::ensure!(
                dir.is_dir(),
                "rules folder {} does not exist",
                dir.display()
            );
            dir.clone()
        }
        (None, Some(l)) => l.resolve(&l.config.classify.rules),
        (None, None) => PathBuf::from("rules"),
    };
    // The learned component as the daemon has it: the daemon's copy also holds the staff
    // corrections in its store; this one is the shipped model.
    let model = crate::classify::learned::shipped();
    let engine = load_engine(&dir, uncertain, &model, influence)?;
    if let Some(corpus) = &args.eval {
        return evaluate(&engine, corpus, args.json);
    }
    if args.files.is_empty() {
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .context("reading standard input")?;
        print_one(&engine, "-", &raw, args.json)?;
    }
    for file in &args.files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        print_one(&engine, &file.display().to_string(), &raw, args.json)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_one(engine: &Engine, name: &str, raw: &[u8], json: bool) -> anyhow::Result<()> {
    let message = read_message(name, raw);
    let v = engine.classify(&message.input());
    if json {
        /// The line format, fields in this order.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            file: &'a str,
            kind: MessageKind,
            confidence: f32,
            flags: &'a [crate::core::model::Flag],
            rules: &'a [crate::classify::engine::Fired],
        }
        let line = Line {
            file: name,
            kind: v.kind,
            confidence: v.confidence,
            flags: &v.flags,
            rules: &v.rules,
        };
        println!("{}", serde_json::to_string(&line)?);
    } else {
        let fired: Vec<String> = v
            .rules
            .iter()
            .map(|f| format!("{} ({:?})", f.id, f.matched))
            .collect();
        println!(
            "{name}: {} ({:.2}) flags {:?}\n  rules: {}",
            v.kind.as_str(),
            v.confidence,
            v.flags,
            fired.join(", ")
        );
    }
    Ok(())
}

/// An `.eml` file, a labelled corpus file, or plain text (with an optional `Subject:` line).
fn read_message(name: &str, raw: &[u8]) -> Labelled {
    let plain = |text: &str| {
        let (subject, body) = eval::split_subject(text);
        Labelled {
            kind: MessageKind::Complaint,
            flags: vec![],
            channel: Channel::Email,
            context: Context::None,
            subject,
            body,
        }
    };
    if name.ends_with(".eml")
        && let Ok(mail) = crate::mail::parse(raw, usize::MAX)
    {
        return Labelled {
            subject: mail.subject,
            body: mail.text,
            ..plain("")
        };
    }
    let text = String::from_utf8_lossy(raw);
    eval::parse_labelled(&text).unwrap_or_else(|_| plain(&text))
}

fn evaluate(engine: &Engine, dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut corpus = Vec::with_capacity(files.len());
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        corpus.push(
            eval::parse_labelled(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
        );
    }
    let report = eval::evaluate(engine, &corpus);
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} messages from {}\n", report.messages, dir.display());
    println!(
        "{:<20} {:>7} {:>9} {:>7} {:>7}",
        "kind", "support", "precision", "recall", "F1"
    );
    for (kind, s) in &report.per_kind {
        println!(
            "{:<20} {:>7} {:>9.3} {:>7.3} {:>7.3}",
            kind.as_str(),
            s.support,
            s.precision,
            s.recall,
            s.f1
        );
    }
    let c = report.complaint();
    println!(
        "\ncomplaint recall {:.3}, precision {:.3}; macro-F1 {:.3}\n",
        c.recall, c.precision, report.macro_f1
    );
    if let Some(l) = &report.learned {
        println!(
            "learned component (influence {}): right alone {:.3}; rules alone {:.3}, with it {:.3}; \
             decisions it changed: {} to the right kind, {} away from it\n",
            l.influence, l.accuracy, l.rules_alone_accuracy, l.combined_accuracy, l.fixed, l.broke
        );
    }
    println!("confusion (rows: truth, columns: predicted)");
    let kinds: Vec<MessageKind> = report.per_kind.keys().copied().collect();
    print!("{:<20}", "");
    for k in &kinds {
        print!(" {:>5}", &k.as_str()[..k.as_str().len().min(5)]);
    }
    println!();
    for truth in &kinds {
        print!("{:<20}", truth.as_str());
        for predicted in &kinds {
            let n = report
                .confusion
                .get(truth)
                .and_then(|r| r.get(predicted))
                .copied()
                .unwrap_or(0);
            print!(" {n:>5}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "txt") {
            out.push(path);
        }
    }
    Ok(())
}
