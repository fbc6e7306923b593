//! Classification rules: TOML files a landlord can edit (`rules/*.toml`).
//!
//! ```toml
//! [[rule]]
//! id = "complaint.fed_up"
//! description = "The resident says they are fed up"
//! patterns = ['\bfed\s*up\b']        # regex crate syntax, case-insensitive
//! kind = "complaint"                 # weight towards a kind, or:
//! # flag = "urgent_safety"           # add a flag
//! weight = 2.0                       # default 1.0
//! channels = ["email"]               # optional: only on these channels
//! contexts = ["none"]                # optional: none, open_case, stage1_responded, service_request
//! unless = ['no longer (a )?problem'] # optional: not when these appear near the match
//! unless_window = 60                 # characters either side (default 60)
//! ```
//!
//! Patterns use the `regex` crate, which runs in linear time: a landlord's pattern cannot make
//! classification hang. Loading checks everything and reports every problem with its file and
//! line; a rule set with any problem is refused whole, so the previous set stays in force.

use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::prefilter::Plan;
use super::{Context, MessageKind};
use crate::core::model::{Channel, Flag};

/// Largest compiled size of one pattern: generous for real patterns, and a guard against a
/// pattern that would take memory out of proportion.
pub(super) const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Patterns match regardless of case. [`Plan::new`] parses them again with the same setting,
/// so the literals and the ASCII variant it derives describe exactly the compiled pattern.
pub(super) const CASE_INSENSITIVE: bool = true;

/// One problem in a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Why a rule set was refused.
#[derive(Debug, Error)]
#[error("{} problem(s) in the classification rules:\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct RulesError {
    pub problems: Vec<RuleProblem>,
}

/// A checked, compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub target: Target,
    pub weight: f32,
    pub patterns: Vec<Pattern>,
    pub channels: Vec<Channel>,
    pub contexts: Vec<Context>,
    pub unless: Vec<Regex>,
    pub unless_window: usize,
    /// How to run each of `patterns` fast (same order): worked out once, when compiled.
    pub(crate) plans: Vec<Plan>,
    /// Where the rule is written, for explanations and errors.
    pub file: PathBuf,
    pub line: usize,
}

/// One of a rule's patterns, checked when the rule is loaded. A pattern with an ASCII form
/// ([`Plan::ascii`]) is compiled as written only when a text needs it (one with an accented or
/// other non-ASCII letter): the compiled Unicode forms of a thousand patterns take tens of
/// megabytes, and most residents' messages never need them.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    compiled: std::sync::OnceLock<Option<Regex>>,
}

impl Pattern {
    /// The pattern as written in the rule file.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern compiled as written. It compiled when the rule was loaded, with the same
    /// settings, so it compiles again; were it not to, it would match nothing.
    pub fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| compile(&self.source).ok())
            .as_ref()
    }
}

/// Compiles a rule's pattern with the settings every pattern gets.
fn compile(source: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(source)
        .case_insensitive(CASE_INSENSITIVE)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
}

/// What a rule counts towards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Kind(MessageKind),
    Flag(Flag),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    patterns: Vec<Spanned<String>>,
    kind: Option<MessageKind>,
    flag: Option<Flag>,
    #[serde(default = "one")]
    weight: f32,
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    contexts: Vec<Context>,
    #[serde(default)]
    unless: Vec<Spanned<String>>,
    #[serde(default = "sixty")]
    unless_window: usize,
}

fn one() -> f32 {
    1.0
}

fn sixty() -> usize {
    60
}

include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));

/// The rule set shipped with redress (bundled from `rules/` at build time).
pub fn load_default() -> Result<Vec<Rule>, RulesError> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in DEFAULT_RULES {
        parse_file(
            &Path::new("built-in rules").join(name),
            text,
            &mut rules,
            &mut problems,
        );
    }
    check_unique_ids(&rules, &mut problems);
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(RulesError { problems })
    }
}

/// Loads every `*.toml` file in `dir`, in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>, RulesError> {
    let fail = |message: String| RulesError {
        problems: vec![RuleProblem {
            file: dir.to_path_buf(),
            line: 0,
            message,
        }],
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| fail(format!("cannot read the rules folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => parse_file(&file, &text, &mut rules, &mut problems),
            Err(e) => problems.push(RuleProblem {
                file,
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    check_unique_ids(&rules, &mut problems);
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(RulesError { problems })
    }
}

/// Parses one rule file's text, adding its rules or its problems.
pub fn parse_file(file: &Path, text: &str, rules: &mut Vec<Rule>, problems: &mut Vec<RuleProblem>) {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut problem = |line: usize, message: String| {
        problems.push(RuleProblem {
            file: file.to_path_buf(),
            line,
            message,
        })
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map_or(1, |s| line_of(s.start));
            return problem(line, e.message().trim().to_owned());
        }
    };
    for spanned in raw.rule {
        let line = line_of(spanned.span().start);
        let r = spanned.into_inner();
        let target = match (r.kind, r.flag) {
            (Some(kind), None) => Target::Kind(kind),
            (None, Some(flag)) => Target::Flag(flag),
            _ => {
                problem(
                    line,
                    format!("rule `{}` needs exactly one of `kind` or `flag`", r.id),
                );
                continue;
            }
        };
        if r.id.trim().is_empty() {
            problem(line, "a rule needs an `id`".into());
            continue;
        }
        if !(r.weight.is_finite() && r.weight > 0.0) {
            problem(
                line,
                format!("rule `{}`: weight must be a positive number", r.id),
            );
            continue;
        }
        if r.patterns.is_empty() {
            problem(line, format!("rule `{}` has no patterns", r.id));
            continue;
        }
        let mut compile = |patterns: &[Spanned<String>]| -> Option<Vec<Regex>> {
            let mut out = Vec::new();
            let mut ok = true;
            for p in patterns {
                match compile(p.get_ref()) {
                    Ok(re) => out.push(re),
                    Err(e) => {
                        ok = false;
                        let first = e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or_default()
                            .trim()
                            .trim_start_matches("error: ")
                            .to_owned();
                        problem(
                            line_of(p.span().start),
                            format!(
                                "rule `{}`: regex '{}' does not compile: {first}",
                                r.id,
                                p.get_ref()
                            ),
                        );
                    }
                }
            }
            ok.then_some(out)
        };
        let (Some(patterns), Some(unless)) = (compile(&r.patterns), compile(&r.unless)) else {
            continue;
        };
        let plans: Vec<Plan> = patterns.iter().map(|p| Plan::new(p.as_str())).collect();
        // Keep the compiled form only where no ASCII form stands in for it.
        let patterns = patterns
            .into_iter()
            .zip(&plans)
            .map(|(re, plan)| Pattern {
                source: re.as_str().to_owned(),
                compiled: if plan.ascii.is_some() {
                    std::sync::OnceLock::new()
                } else {
                    std::sync::OnceLock::from(Some(re))
                },
            })
            .collect();
        rules.push(Rule {
            id: r.id,
            description: r.description,
            target,
            weight: r.weight,
            patterns,
            channels: r.channels,
            contexts: r.contexts,
            unless,
            unless_window: r.unless_window,
            plans,
            file: file.to_path_buf(),
            line,
        });
    }
}

fn check_unique_ids(rules: &[Rule], problems: &mut Vec<RuleProblem>) {
    let mut seen = std::collections::HashMap::new();
    for r in rules {
        if let Some((file, line)) = seen.insert(r.id.clone(), (r.file.clone(), r.line)) {
            problems.push(RuleProblem {
                file: r.file.clone(),
                line: r.line,
                message: format!(
                    "rule id `{}` is also used at {}:{line}",
                    r.id,
                    file.display()
                ),
            });
        }
    }
}
