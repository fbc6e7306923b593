//! The letter templates (minijinja): the landlord's own `templates/` folder when there is one,
//! else the set bundled into the binary. Every letter kind has a plain-text template (with a
//! `subject` block) and an HTML one; files starting with `_` are shared pieces.
//!
//! Undefined variables are errors, not blanks, so a misspelt field is found when the templates
//! are checked rather than printed as nothing in a resident's letter.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::compliance::{self, Missing};
use super::context::LetterContext;
use crate::core::code::Stage;
use crate::core::workflow::LetterKind;

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/default_templates.rs"));
}

/// The letter kinds, by the names templates and the command line use.
pub const KINDS: [(&str, LetterKind); 10] = [
    (
        "stage1_ack",
        LetterKind::Acknowledgement { stage: Stage::One },
    ),
    (
        "stage1_response",
        LetterKind::Response { stage: Stage::One },
    ),
    ("extension", LetterKind::Extension { stage: Stage::One }),
    (
        "stage2_ack",
        LetterKind::Acknowledgement { stage: Stage::Two },
    ),
    (
        "stage2_response",
        LetterKind::Response { stage: Stage::Two },
    ),
    ("not_accepted", LetterKind::NotAccepted),
    ("social_info_request", LetterKind::SocialInfoRequest),
    ("service_request_logged", LetterKind::ServiceRequestLogged),
    ("mp_enquiry", LetterKind::MpEnquiry),
    ("action_update", LetterKind::ActionUpdate),
];

/// The template name of a letter kind (both stages' extensions share one).
pub fn name_of(letter: LetterKind) -> &'static str {
    match letter {
        LetterKind::Acknowledgement { stage: Stage::One } => "stage1_ack",
        LetterKind::Acknowledgement { stage: Stage::Two } => "stage2_ack",
        LetterKind::Response { stage: Stage::One } => "stage1_response",
        LetterKind::Response { stage: Stage::Two } => "stage2_response",
        LetterKind::Extension { .. } => "extension",
        LetterKind::NotAccepted => "not_accepted",
        LetterKind::SocialInfoRequest => "social_info_request",
        LetterKind::ServiceRequestLogged => "service_request_logged",
        LetterKind::MpEnquiry => "mp_enquiry",
        LetterKind::ActionUpdate => "action_update",
    }
}

/// The template of an edited letter's HTML version.
const EDITED: &str = "_edited.html";

/// A template problem, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{dir}: cannot read the templates folder: {source}")]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", describe(.0))]
    Template(#[from] minijinja::Error),
    #[error("template {0} is missing (every letter needs `{0}`)")]
    Missing(String),
}

/// "undefined value (in stage1_ack.txt:14)" and, on the next lines, the offending line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let Some(info) = e
        .display_debug_info()
        .to_string()
        .lines()
        .find(|l| l.contains('>'))
    {
        s.push_str(&format!("\n    {}", info.trim()));
    }
    s
}

/// A rendered letter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
    /// Where they came from, for messages: a folder, or "the bundled templates".
    pub origin: String,
}

impl Templates {
    /// The templates in `dir`, or the bundled ones when `dir` does not exist. Every file
    /// is parsed now, so a syntax error stops the load with its file and line.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        if !dir.exists() {
            return Templates::bundled();
        }
        let mut sources = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::Folder {
            dir: dir.to_owned(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !(name.ends_with(".txt") || name.ends_with(".html")) {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                file: path.clone(),
                source,
            })?;
            sources.push((name.to_owned(), source));
        }
        Templates::from_sources(sources, dir.display().to_string())
    }

    /// The templates bundled into the binary (the project's `templates/` folder).
    pub fn bundled() -> Result<Templates, TemplateError> {
        Templates::from_sources(
            bundled::DEFAULT_TEMPLATES
                .iter()
                .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                .collect(),
            "the bundled templates".to_owned(),
        )
    }

    fn from_sources(
        sources: Vec<(String, String)>,
        origin: String,
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, source) in sources {
            env.add_template_owned(name, source)?;
        }
        let names = KINDS
            .iter()
            .map(|(kind, _)| *kind)
            .chain(super::internal::NAMES)
            .flat_map(|name| [format!("{name}.txt"), format!("{name}.html")])
            .chain([EDITED.to_owned()]);
        for name in names {
            if env.get_template(&name).is_err() {
                return Err(TemplateError::Missing(name));
            }
        }
        Ok(Templates { env, origin })
    }

    /// Renders `letter` with `ctx`: the subject block and body of the text template, then the
    /// HTML template (which sees the subject as `subject`).
    pub fn render(
        &self,
        letter: LetterKind,
        ctx: &LetterContext,
    ) -> Result<Rendered, TemplateError> {
        self.render_named(name_of(letter), ctx)
    }

    /// Renders the pair of templates `name.txt` (with its `subject` block) and `name.html`
    /// (which sees the subject as `subject`) with any context: the residents' letters and the
    /// internal emails alike.
    pub fn render_named(
        &self,
        name: &str,
        ctx: &impl Serialize,
    ) -> Result<Rendered, TemplateError> {
        let text_template = self.env.get_template(&format!("{name}.txt"))?;
        let mut captured = text_template.render_captured(ctx)?;
        let text = captured.output().trim().to_owned() + "\n";
        let subject = captured
            .with_state_mut(|state| state.render_block("subject"))?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let html = self.env.get_template(&format!("{name}.html"))?.render(
            minijinja::context! { subject => &subject, ..minijinja::Value::from_serialize(ctx) },
        )?;
        Ok(Rendered {
            subject,
            text,
            html: html.trim().to_owned() + "\n",
        })
    }
}

impl Templates {
    /// The HTML version of a letter staff edited: their text, a paragraph per blank-line-
    /// separated block, in the letters' accessible frame.
    pub fn edited_html(
        &self,
        subject: &str,
        text: &str,
        ctx: &LetterContext,
    ) -> Result<String, TemplateError> {
        let paragraphs: Vec<Vec<&str>> = text
            .split("\n\n")
            .map(|p| {
                p.lines()
                    .map(str::trim_end)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|p| !p.is_empty())
            .collect();
        let html = self.env.get_template(EDITED)?.render(minijinja::context! {
            subject => subject,
            paragraphs => paragraphs,
            adjustments => &ctx.adjustments,
        })?;
        Ok(html.trim().to_owned() + "\n")
    }
}

/// Renders a letter and checks it: the rendered letter, and what it lacks (empty when it
/// complies).
pub fn render_checked(
    templates: &Templates,
    letter: LetterKind,
    ctx: &LetterContext,
) -> Result<(Rendered, Vec<Missing>), TemplateError> {
    let rendered = templates.render(letter, ctx)?;
    let missing = compliance::check_letter(
        letter,
        ctx,
        &rendered.subject,
        &rendered.text,
        Some(&rendered.html),
    );
    Ok((rendered, missing))
}

/// Renders every letter from the sample case (plain, with a building safety flag, and with
/// the LGSCO and building safety flags) under `config`, and lists what each lacks, as
/// "stage1_ack (flags building_safety): <missing element>". Run at start-up, by
/// `check-config` and by `letters check`, so a landlord who edits a template and loses a
/// required paragraph finds out before a resident does.
pub fn check_samples(
    templates: &Templates,
    config: &crate::config::Config,
    today: chrono::NaiveDate,
) -> Result<Vec<String>, TemplateError> {
    use crate::core::model::Flag;
    let mut problems = Vec::new();
    for (flags, with) in [
        (vec![], ""),
        (vec![Flag::BuildingSafety], " (flags building_safety)"),
        (
            vec![Flag::LgscoMatter, Flag::BuildingSafety],
            " (flags lgsco_matter, building_safety)",
        ),
    ] {
        let case = super::sample::case(&flags);
        for (name, letter) in KINDS {
            let ctx = super::context::build(&case, letter, config, today);
            let (_, missing) = render_checked(templates, letter, &ctx)?;
            problems.extend(missing.iter().map(|m| format!("{name}{with}: {m}")));
        }
    }
    // The staff emails: rendered from their samples, and each must still say which case,
    // what is due and when.
    let alert = super::internal::sample_alert(config);
    let rendered = templates.render_named("alert", &alert)?;
    for (what, value) in [
        ("the case reference", &alert.reference),
        ("the deadline", &alert.deadline),
        ("the due date", &alert.due),
    ] {
        for (part, text) in [("text", &rendered.text), ("html", &rendered.html)] {
            if !text.contains(value.as_str()) {
                problems.push(format!("alert: the {part} lacks {what} ({value})"));
            }
        }
    }
    let digest = super::internal::sample_digest(config);
    let rendered = templates.render_named("digest", &digest)?;
    for item in digest.breached.iter().chain(&digest.drafts_waiting) {
        for (part, text) in [("text", &rendered.text), ("html", &rendered.html)] {
            if !text.contains(&item.reference) {
                problems.push(format!("digest: the {part} lacks case {}", item.reference));
            }
        }
    }
    Ok(problems)
}
