//! Policy profiles: a landlord's complaints policy as data, loaded from TOML.

use std::ops::Range;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Deserializer, Serialize};

use super::{LintFinding, Stage, StageTimescales};

/// A landlord's complaints policy expressed as data (TOML), linted against the Code.
///
/// Every field but `name` and `stages` may be omitted; the defaults are the Code's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyProfile {
    pub name: String,
    /// The document the profile was written from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The landlord's own target for service requests; the Code sets none (1.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_request_target_working_days: Option<u32>,
    /// How long after the issue (or the resident becoming aware of it) a complaint is accepted
    /// as of right; the Code requires at least 12 (2.3).
    #[serde(default = "twelve_months")]
    pub complaint_window_months: u32,
    /// "HH:MM" (24-hour, local time): a message arriving after it counts as received the next
    /// day. Checked when the profile is parsed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_cutoff"
    )]
    pub daily_cutoff: Option<String>,
    /// The policy makes a resident give reasons to escalate to stage 2 (breaks 6.12).
    #[serde(default, skip_serializing_if = "is_false")]
    pub stage2_requires_reasons: bool,
    /// The landlord decides whether a complaint may go to stage 2 (breaks 6.10).
    #[serde(default, skip_serializing_if = "is_false")]
    pub stage2_escalation_discretionary: bool,
    /// The stages in order; a compliant profile has exactly two. Last, so that TOML output
    /// puts the `[[stages]]` tables after the plain keys.
    pub stages: Vec<StageDef>,
}

/// One stage of a landlord's process with its timescales in working days.
///
/// The timescales are plain fields rather than a flattened [`StageTimescales`] because serde
/// cannot combine `flatten` with `deny_unknown_fields`, and a mistyped key must be an error,
/// not a silently ignored line that leaves the Code's default in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    pub name: String,
    pub acknowledge_working_days: u32,
    pub respond_working_days: u32,
    pub max_extension_working_days: u32,
}

impl StageDef {
    pub fn new(name: impl Into<String>, t: StageTimescales) -> StageDef {
        StageDef {
            name: name.into(),
            acknowledge_working_days: t.acknowledge_working_days,
            respond_working_days: t.respond_working_days,
            max_extension_working_days: t.max_extension_working_days,
        }
    }

    pub fn timescales(&self) -> StageTimescales {
        StageTimescales {
            acknowledge_working_days: self.acknowledge_working_days,
            respond_working_days: self.respond_working_days,
            max_extension_working_days: self.max_extension_working_days,
        }
    }
}

fn twelve_months() -> u32 {
    12
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn parse_cutoff(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 5
        && b[2] == b':'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit());
    if shape_ok {
        NaiveTime::parse_from_str(s, "%H:%M").ok()
    } else {
        None
    }
}

fn deserialize_cutoff<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    match parse_cutoff(&s) {
        Some(_) => Ok(Some(s)),
        None => Err(serde::de::Error::custom(format!(
            "invalid daily_cutoff `{s}`: expected HH:MM on the 24-hour clock, e.g. \"17:00\""
        ))),
    }
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The text is not valid TOML or does not fit the profile format; `line` and `column` are
    /// 1-based (column in characters) and point at the offending key or value.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// As `Parse`, for the rare error the TOML parser cannot place.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// 1-based line and column (in characters) in `text` of the start of `span`, a byte range.
fn line_column(text: &str, span: Range<usize>) -> (usize, usize) {
    let offset = span.start.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

impl PolicyProfile {
    /// The Code itself: two stages at the Code's maxima and the 12-month window.
    pub fn code_2024() -> PolicyProfile {
        PolicyProfile {
            name: "code-2024".to_string(),
            source: Some(
                "Housing Ombudsman Complaint Handling Code 2024, sections 2, 5 and 6".into(),
            ),
            service_request_target_working_days: None,
            complaint_window_months: 12,
            daily_cutoff: None,
            stage2_requires_reasons: false,
            stage2_escalation_discretionary: false,
            stages: vec![
                StageDef::new("Stage 1", StageTimescales::code_maximum(Stage::One)),
                StageDef::new("Stage 2", StageTimescales::code_maximum(Stage::Two)),
            ],
        }
    }

    /// Parses a profile. `origin` names the text (usually its file) in error messages, which
    /// read `origin:line:column: message` like a compiler's, so an editor can jump to the fault.
    /// Unknown keys are errors: a misspelt timescale must not silently fall back to a default.
    pub fn from_toml(text: &str, origin: &str) -> Result<PolicyProfile, ProfileError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let message = e.message().trim_end().to_string();
            match e.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span);
                    ProfileError::Parse {
                        origin: origin.to_string(),
                        line,
                        column,
                        message,
                    }
                }
                None => ProfileError::Invalid {
                    origin: origin.to_string(),
                    message,
                },
            }
        })
    }

    /// Checks the profile against the Code; an empty list means compliant. Findings come in a
    /// stable order: stage structure, then each stage's timescales, then the other rules.
    pub fn lint(&self) -> Vec<LintFinding> {
        super::lint::lint(self)
    }

    /// The timescales of a Code stage. On a profile of exactly two stages these are the
    /// profile's, each capped at the Code's maximum, so that even a profile with lint errors
    /// never yields a deadline later than the Code allows; on any other profile the mapping of
    /// stages is ambiguous and the Code maxima are returned.
    pub fn timescales(&self, stage: Stage) -> StageTimescales {
        match (self.stages.len(), stage) {
            (2, Stage::One) => self.stages[0].timescales().capped(stage),
            (2, Stage::Two) => self.stages[1].timescales().capped(stage),
            _ => StageTimescales::code_maximum(stage),
        }
    }

    /// The daily cut-off as a time, if set and valid.
    pub fn daily_cutoff_time(&self) -> Option<NaiveTime> {
        self.daily_cutoff.as_deref().and_then(parse_cutoff)
    }

    /// The date a message arriving at local time `at` counts as received: the next calendar
    /// day if it arrived after the daily cut-off, else its own date. (The working-day
    /// arithmetic in [`deadlines`](super::deadlines) then skips weekends and holidays.)
    pub fn received_on(&self, at: NaiveDateTime) -> NaiveDate {
        match self.daily_cutoff_time() {
            Some(cutoff) if at.time() > cutoff => at.date().succ_opt().unwrap_or(at.date()),
            _ => at.date(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE_2024: &str = include_str!("../../../examples/policies/code-2024.toml");
    const DERBY_2022: &str = include_str!("../../../examples/policies/derby-2022.toml");
    const LIVIN: &str = include_str!("../../../examples/policies/livin.toml");

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test dates are valid")
    }

    fn load(text: &str, origin: &str) -> PolicyProfile {
        PolicyProfile::from_toml(text, origin).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parse_errors_carry_file_line_column() {
        let text = "name = \"x\"\n\n[[stages]]\n  stagez = 1\n";
        let err =
            PolicyProfile::from_toml(text, "examples/policies/x.toml").expect_err("unknown key");
        let shown = err.to_string();
        assert!(
            shown.starts_with("examples/policies/x.toml:4:3: unknown field `stagez`, expected"),
            "{shown}"
        );
        // A bad value is placed at the value, counting columns in characters, not bytes.
        let text =
            "name = \"Cymraeg ŵ\"\nsource = \"ŷ\"\ncomplaint_window_months = -1\nstages = []\n";
        match PolicyProfile::from_toml(text, "w.toml") {
            Err(ProfileError::Parse {
                origin,
                line,
                column,
                message,
            }) => {
                assert_eq!((origin.as_str(), line, column), ("w.toml", 3, 27));
                assert!(message.contains("-1"), "{message}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        let empty = PolicyProfile::from_toml("", "e.toml").expect_err("empty");
        assert!(
            empty.to_string().contains("missing field `name`"),
            "{empty}"
        );
    }

    #[test]
    fn unknown_and_missing_keys_rejected() {
        let stage = "[[stages]]\nname = \"Stage 1\"\nacknowledge_working_days = 5\nrespond_working_days = 10\n";
        for (text, line, needle) in [
            (
                format!(
                    "name = \"x\"\ncomplaint_window = 12\n{stage}max_extension_working_days = 10\n"
                ),
                2,
                "unknown field `complaint_window`",
            ),
            (
                format!("name = \"x\"\n{stage}max_extension_working_days = 10\nrespond_days = 3\n"),
                7,
                "unknown field `respond_days`",
            ),
            (
                format!("name = \"x\"\n{stage}"),
                2,
                "missing field `max_extension_working_days`",
            ),
        ] {
            match PolicyProfile::from_toml(&text, "k.toml") {
                Err(ProfileError::Parse {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{message}");
                    assert!(message.contains(needle), "{message}");
                }
                other => panic!("{needle}: expected a parse error, got {other:?}"),
            }
        }
    }

    #[test]
    fn daily_cutoff_validated_and_applied() {
        for bad in ["25:00", "17:60", "5pm", "9:00", "17:00:00", ""] {
            let text = format!("name = \"x\"\ndaily_cutoff = \"{bad}\"\nstages = []\n");
            let err = PolicyProfile::from_toml(&text, "c.toml")
                .expect_err(bad)
                .to_string();
            assert!(
                err.starts_with("c.toml:2:") && err.contains("daily_cutoff"),
                "{err}"
            );
        }
        let p = load(
            "name = \"x\"\ndaily_cutoff = \"17:00\"\nstages = []\n",
            "c.toml",
        );
        let at =
            |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("test time");
        assert_eq!(p.received_on(at("2026-06-05 17:00:00")), d("2026-06-05"));
        assert_eq!(p.received_on(at("2026-06-05 17:00:01")), d("2026-06-06"));
        assert_eq!(
            PolicyProfile::code_2024().received_on(at("2026-06-05 23:59:59")),
            d("2026-06-05")
        );
    }

    #[test]
    fn code_2024_file_is_the_builtin_profile_and_lints_clean() {
        let p = load(CODE_2024, "code-2024.toml");
        assert_eq!(p, PolicyProfile::code_2024());
        assert_eq!(p.lint(), vec![]);
        for stage in Stage::ALL {
            assert_eq!(p.timescales(stage), StageTimescales::code_maximum(stage));
        }
    }

    #[test]
    fn profiles_round_trip_through_toml() {
        for (text, origin) in [
            (CODE_2024, "code"),
            (DERBY_2022, "derby-2022"),
            (LIVIN, "livin"),
        ] {
            let p = load(text, origin);
            let written = toml::to_string(&p).expect("serialises");
            assert_eq!(load(&written, origin), p);
        }
    }

    #[test]
    fn timescales_never_slower_than_the_code() {
        let max = StageTimescales::code_maximum;
        let mut p = PolicyProfile::code_2024();
        p.stages[0].acknowledge_working_days = 2;
        p.stages[1].respond_working_days = 40;
        let fast = StageTimescales {
            acknowledge_working_days: 2,
            ..max(Stage::One)
        };
        assert_eq!(p.timescales(Stage::One), fast);
        assert_eq!(p.timescales(Stage::Two), max(Stage::Two));
        // Without exactly two stages there is no telling which is which: the Code's maxima.
        p.stages.push(p.stages[0].clone());
        assert_eq!(p.timescales(Stage::One), max(Stage::One));
        p.stages.clear();
        assert_eq!(p.timescales(Stage::Two), max(Stage::Two));
    }
}
