//! Loading pipeline: text → TOML table → environment overrides → secrets from files → typed
//! sections → semantic checks. Each stage adds to one list of [`Problem`]s, so a landlord fixing
//! their file sees everything that is wrong in one run of `redress check-config`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use thiserror::Error;

use super::source::{Seg, SourceMap, render_path};
use super::{Config, Loaded, SECRET_KEYS};

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `staff[1].email`; empty for the file as a whole.
    pub key: String,
    /// 1-based line in the file, where the key is written there.
    pub line: Option<usize>,
    /// The environment variable the value came from, if any.
    pub env: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}", self.key)?;
            if let Some(env) = &self.env {
                write!(f, " (from {env})")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {} problem(s):\n{}", problems.len(), render(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

fn render(origin: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {origin}:{p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Loads and checks the configuration file at `path`, applying `REDRESS_*` variables from `env`.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    load_str(&text, &path.display().to_string(), base, env)
}

/// Loads a configuration from text; `base` is the folder relative paths are taken from.
pub fn load_str(
    text: &str,
    origin: &str,
    base: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        origin: origin.to_owned(),
        problems,
    };
    let source = SourceMap::parse(text).map_err(|p| invalid(vec![p]))?;
    let mut root: toml::Table = toml::from_str(text).map_err(|e| {
        invalid(vec![Problem {
            key: String::new(),
            line: e.span().map(|s| source.line_of_offset(s.start)),
            env: None,
            message: e.message().to_owned(),
        }])
    })?;
    let mut problems = Vec::new();
    let from_env = apply_env(&mut root, env, &mut problems);
    resolve_secrets(&mut root, base, &mut problems);
    let config = typed(root, &mut problems);
    let typed_problems = problems.len();
    let loaded = super::validate::check(&config, origin, base, &mut problems);
    // A value refused for its type was replaced by its default; the checks that follow must
    // not then complain about the default (e.g. "homes_owned is required" after "many").
    let refused: Vec<String> = problems[..typed_problems]
        .iter()
        .map(|p| p.key.clone())
        .collect();
    let mut i = typed_problems;
    while i < problems.len() {
        if refused.contains(&problems[i].key) {
            problems.remove(i);
        } else {
            i += 1;
        }
    }
    for p in &mut problems {
        if p.line.is_none() {
            p.line = source.line_of_key(&p.key);
        }
        if p.env.is_none() {
            p.env = from_env.get(&p.key).cloned();
        }
    }
    match loaded {
        Some(loaded) if problems.is_empty() => Ok(loaded),
        _ => Err(invalid(problems)),
    }
}

/// Environment variables that are not configuration keys.
const NOT_KEYS: &[&str] = &["REDRESS_CONFIG", "REDRESS_LOG"];

/// Applies `REDRESS_<SECTION>_<KEY>` overrides. The shape of the default configuration says
/// which words name a section and which a key (keys contain underscores too), and whether the
/// value is a number, a boolean, a list (comma-separated) or text. Returns key path → variable.
fn apply_env(
    root: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<Problem>,
) -> HashMap<String, String> {
    let mut origins = HashMap::new();
    let shape = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut vars: Vec<_> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("REDRESS_") && !NOT_KEYS.contains(&k.as_str()))
        .collect();
    vars.sort();
    for (var, value) in vars {
        let words: Vec<String> = var["REDRESS_".len()..]
            .split('_')
            .map(str::to_lowercase)
            .collect();
        let Some((path, kind)) = resolve_env_path(&shape, &words) else {
            problems.push(Problem {
                key: String::new(),
                line: None,
                env: None,
                message: format!("environment variable {var} names no configuration key"),
            });
            continue;
        };
        let key = render_path(&path.iter().map(|k| Seg::Key(k.clone())).collect::<Vec<_>>());
        match typed_env_value(&value, kind) {
            Ok(v) => {
                insert_path(root, &path, v);
                origins.insert(key, var);
            }
            Err(message) => problems.push(Problem {
                key,
                line: None,
                env: Some(var),
                message,
            }),
        }
    }
    origins
}

/// Finds the key path named by upper-case words, walking the default configuration's tables.
/// A key that is not in the defaults (optional keys, `*_file` secrets) is accepted as text when
/// its section exists.
fn resolve_env_path<'s>(
    shape: &'s toml::Table,
    words: &[String],
) -> Option<(Vec<String>, Option<&'s toml::Value>)> {
    for split in (1..=words.len()).rev() {
        let name = words[..split].join("_");
        let rest = &words[split..];
        match shape.get(&name) {
            Some(toml::Value::Table(inner)) if !rest.is_empty() => {
                if let Some((mut path, kind)) = resolve_env_path(inner, rest) {
                    path.insert(0, name);
                    return Some((path, kind));
                }
                return Some((vec![name, rest.join("_")], None));
            }
            Some(value) if rest.is_empty() && !value.is_table() => {
                return Some((vec![name], Some(value)));
            }
            _ => {}
        }
    }
    None
}

fn typed_env_value(raw: &str, kind: Option<&toml::Value>) -> Result<toml::Value, String> {
    Ok(match kind {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not a whole number"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
            raw.trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not true or false"))?,
        ),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

fn insert_path(root: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table = root;
    for p in parents {
        let entry = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = entry else {
            return;
        };
        table = inner;
    }
    table.insert(last.clone(), value);
}

/// Replaces each `<secret>_file` key by the trimmed contents of the file it names.
fn resolve_secrets(root: &mut toml::Table, base: &Path, problems: &mut Vec<Problem>) {
    for secret in SECRET_KEYS {
        let (section, key) = secret.split_once('.').unwrap_or(("", secret));
        let Some(toml::Value::Table(table)) = root.get_mut(section) else {
            continue;
        };
        let file_key = format!("{key}_file");
        let Some(file) = table.remove(&file_key) else {
            continue;
        };
        let problem = |message: String| Problem {
            key: format!("{section}.{file_key}"),
            line: None,
            env: None,
            message,
        };
        let Some(file) = file.as_str() else {
            problems.push(problem("must be the path of a file".into()));
            continue;
        };
        if table.contains_key(key) {
            problems.push(problem(format!(
                "give either `{key}` or `{file_key}`, not both"
            )));
            continue;
        }
        let path = base.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                table.insert(key.to_owned(), toml::Value::String(text.trim().to_owned()));
            }
            Ok(_) => problems.push(problem(format!("{} is empty", path.display()))),
            Err(e) => problems.push(problem(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

/// Deserialises each section on its own, so one section's type error does not hide another's,
/// and collects every unknown key rather than stopping at the first.
fn typed(mut root: toml::Table, problems: &mut Vec<Problem>) -> Config {
    let config = Config {
        organisation: section(&mut root, "organisation", problems),
        store: section(&mut root, "store", problems),
        calendar: section(&mut root, "calendar", problems),
        policy: section(&mut root, "policy", problems),
        staff: list_section(&mut root, "staff", problems),
        ombudsman: section(&mut root, "ombudsman", problems),
        mail: section(&mut root, "mail", problems),
        classify: section(&mut root, "classify", problems),
        letters: section(&mut root, "letters", problems),
        approval: section(&mut root, "approval", problems),
        http: section(&mut root, "http", problems),
        api: section(&mut root, "api", problems),
        schedule: section(&mut root, "schedule", problems),
    };
    for name in root.keys() {
        problems.push(Problem {
            key: name.clone(),
            line: None,
            env: None,
            message: "unknown section or key; expected organisation, store, calendar, policy, \
                      staff, ombudsman, mail, classify, letters, approval, http, api or schedule"
                .into(),
        });
    }
    config
}

fn section<T: DeserializeOwned + Default>(
    root: &mut toml::Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> T {
    match root.remove(name) {
        Some(value) => {
            typed_value(value, &[Seg::Key(name.to_owned())], problems).unwrap_or_default()
        }
        None => T::default(),
    }
}

/// An array of tables (`[[staff]]`), one element at a time, so a bad entry is reported with
/// its own index and line and the good entries are still checked.
fn list_section<T: DeserializeOwned>(
    root: &mut toml::Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Vec<T> {
    match root.remove(name) {
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                typed_value(item, &[Seg::Key(name.to_owned()), Seg::Index(i)], problems)
            })
            .collect(),
        Some(_) => {
            problems.push(Problem {
                key: name.to_owned(),
                line: None,
                env: None,
                message: format!("must be a list of tables, written [[{name}]]"),
            });
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// Deserialises one value, reporting every unknown key and every type error. After a type
/// error the offending value is removed and the rest tried again, so one bad value neither
/// hides the problems after it nor replaces its good neighbours with defaults.
fn typed_value<T: DeserializeOwned>(
    mut value: toml::Value,
    at: &[Seg],
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = std::collections::BTreeSet::new();
    let mut reported: Vec<Vec<Seg>> = Vec::new();
    let report_unknown = |unknown: std::collections::BTreeSet<String>,
                          problems: &mut Vec<Problem>| {
        problems.extend(unknown.into_iter().map(|key| Problem {
            key,
            line: None,
            env: None,
            message: "unknown key (misspelt, or in the wrong section?)".into(),
        }));
    };
    // Each round removes one value, so this ends; the bound is a guard, not a limit in use.
    for _ in 0..256 {
        let mut on_unknown = |path: serde_ignored::Path<'_>| {
            let mut segs = at.to_vec();
            segs.extend(ignored_segments(&path));
            unknown.insert(render_path(&segs));
        };
        let de = serde_ignored::Deserializer::new(value.clone(), &mut on_unknown);
        let err = match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => {
                report_unknown(unknown, problems);
                return Some(v);
            }
            Err(e) => e,
        };
        let inner: Vec<Seg> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                _ => None,
            })
            .collect();
        // "missing field" at a place whose bad value was just removed is the same problem.
        let repeat = reported.iter().any(|r| r.starts_with(&inner));
        if !repeat {
            let mut segs = at.to_vec();
            segs.extend(inner.iter().cloned());
            problems.push(Problem {
                key: render_path(&segs),
                line: None,
                env: None,
                message: err.inner().message().trim().to_owned(),
            });
            reported.push(inner.clone());
        }
        if inner.is_empty() || !remove_at(&mut value, &inner) {
            report_unknown(unknown, problems);
            return None;
        }
    }
    report_unknown(unknown, problems);
    None
}

/// Removes the value at `path`; false when there is nothing there to remove.
fn remove_at(value: &mut toml::Value, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut v = value;
    for seg in parents {
        let next = match (seg, v) {
            (Seg::Key(k), toml::Value::Table(t)) => t.get_mut(k),
            (Seg::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        v = next;
    }
    match (last, v) {
        (Seg::Key(k), toml::Value::Table(t)) => t.remove(k).is_some(),
        // Removing an element would shift the indices after it; an element is only dropped
        // whole by `list_section`.
        _ => false,
    }
}

fn ignored_segments(path: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = ignored_segments(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = ignored_segments(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_segments(parent)
        }
    }
}

/// Serde for lists of dates written either as TOML dates or as `"YYYY-MM-DD"` strings, with an
/// error that shows the offending value.
pub(crate) mod date_list {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(dates: &[NaiveDate], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(dates.iter().map(|d| d.format("%Y-%m-%d").to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
        let values = Vec::<toml::Value>::deserialize(d)?;
        values
            .iter()
            .map(|v| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Datetime(dt) => dt.to_string(),
                    other => other.to_string(),
                };
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not a valid date; write YYYY-MM-DD"
                    ))
                })
            })
            .collect()
    }
}
