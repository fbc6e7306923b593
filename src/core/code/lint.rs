//! The policy lint: each rule cites the Code provision it enforces.

use std::fmt;

use serde::Serialize;

use super::{PolicyProfile, Stage, StageDef, StageTimescales};

use super::{ack_provision, extension_provision, provision, response_provision};

/// How serious a finding is: an error breaks the Code, a warning needs a human look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One way in which a profile departs from the Code, citing the provision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LintFinding {
    pub provision: &'static str,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}]: {}",
            self.severity, self.provision, self.message
        )
    }
}

/// Stage names that mark an extra named stage (5.2), matched as whole words on the name in
/// lower case with punctuation turned into spaces, so "Pre-complaint" and "FIRST RESPONSE" match
/// but "Stage 1 Investigation" does not.
const EXTRA_STAGE_NAMES: &[&str] = &[
    "stage 0",
    "stage zero",
    "informal",
    "pre complaint",
    "precomplaint",
    "first response",
    "first contact",
    "first point of contact",
    "initial complaint",
    "local resolution",
    "early resolution",
    "frontline",
    "front line",
    "quick resolution",
    "triage",
];

/// A stage explicitly named as one of the Code's two ("Stage 1 - local resolution") is not an
/// extra stage, whatever else its name says.
const CODE_STAGE_PREFIXES: &[&str] = &["stage 1", "stage one", "stage 2", "stage two"];

fn normalise(name: &str) -> String {
    let spaced: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    format!(
        " {} ",
        spaced.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// Whether `name` marks an extra named stage such as 'stage 0' or 'informal complaint' (5.2).
pub(super) fn is_extra_named_stage(name: &str) -> bool {
    let n = normalise(name);
    if CODE_STAGE_PREFIXES
        .iter()
        .any(|p| n.starts_with(&format!(" {p} ")))
    {
        return false;
    }
    EXTRA_STAGE_NAMES
        .iter()
        .any(|p| n.contains(&format!(" {p} ")))
}

/// One clock of a stage, with the Code's words for it at stage 1 and at stage 2.
struct Step {
    label: &'static str,
    value: fn(&StageTimescales) -> u32,
    provision: fn(Stage) -> &'static str,
    rules: [&'static str; 2],
}

const STEPS: [Step; 3] = [
    Step {
        label: "acknowledgement",
        value: |t| t.acknowledge_working_days,
        provision: ack_provision,
        rules: [
            "complaints must be acknowledged, defined and logged at stage 1 within five working days of the complaint being received",
            "requests for stage 2 must be acknowledged, defined and logged within five working days of the escalation request being received",
        ],
    },
    Step {
        label: "response",
        value: |t| t.respond_working_days,
        provision: response_provision,
        rules: [
            "landlords must issue a full response to stage 1 complaints within 10 working days of the complaint being acknowledged",
            "landlords must issue a final response to the stage 2 within 20 working days of the complaint being acknowledged",
        ],
    },
    Step {
        label: "maximum extension",
        value: |t| t.max_extension_working_days,
        provision: extension_provision,
        rules: [
            "any extension must be no more than 10 working days without good reason",
            "any extension must be no more than 20 working days without good reason",
        ],
    },
];

fn error(provision: &'static str, message: String) -> LintFinding {
    LintFinding {
        provision,
        severity: Severity::Error,
        message,
    }
}

/// Which Code stage each profile stage stands for: the first stage not named as an extra one
/// is stage 1, the next stage 2; the others stand for none. This lets a three-stage policy such
/// as "informal, stage 1, stage 2" have its real stages checked too, beside the 5.2 and 5.3
/// findings that its structure earns.
fn code_stages(stages: &[StageDef]) -> Vec<Option<Stage>> {
    let mut next = Stage::ALL.iter();
    stages
        .iter()
        .map(|s| {
            if is_extra_named_stage(&s.name) {
                None
            } else {
                next.next().copied()
            }
        })
        .collect()
}

/// The checks of [`PolicyProfile::lint`].
pub(super) fn lint(p: &PolicyProfile) -> Vec<LintFinding> {
    let mut out = Vec::new();
    let n = p.stages.len();
    if n > 2 {
        out.push(error(
            provision::MORE_THAN_TWO_STAGES,
            format!("{n} stages: a process with more than two stages is not acceptable under any circumstances"),
        ));
    } else if n < 2 {
        out.push(error(
            provision::MORE_THAN_TWO_STAGES,
            format!(
                "{n} stage{}: the Code's process has exactly two stages, stage 1 and then stage 2 as the landlord's final response, and a profile must define both",
                if n == 1 { "" } else { "s" }
            ),
        ));
    }
    for s in p.stages.iter().filter(|s| is_extra_named_stage(&s.name)) {
        out.push(error(
            provision::EXTRA_NAMED_STAGE,
            format!(
                "\"{}\" is an extra named stage: it is not appropriate to have extra named stages (such as 'stage 0' or 'informal complaint') as this causes unnecessary confusion; early resolution belongs inside stage 1",
                s.name
            ),
        ));
    }
    for (s, code_stage) in p.stages.iter().zip(code_stages(&p.stages)) {
        let t = s.timescales();
        // A stage that stands for no Code stage has no Code limit of its own; it is checked
        // only for impossible zero clocks, against the stage whose time it takes up.
        let against = code_stage.unwrap_or(if is_extra_named_stage(&s.name) {
            Stage::One
        } else {
            Stage::Two
        });
        let who = match code_stage {
            Some(cs) => format!("{cs} \"{}\"", s.name),
            None => format!("\"{}\"", s.name),
        };
        let max = StageTimescales::code_maximum(against);
        for step in &STEPS {
            let (v, limit) = ((step.value)(&t), (step.value)(&max));
            let rule = step.rules[usize::from(against == Stage::Two)];
            let what = format!("{who}: {} of {v} working days", step.label);
            if v == 0 {
                out.push(error(
                    (step.provision)(against),
                    format!(
                        "{what} is impossible: a clock needs at least one working day ({rule})"
                    ),
                ));
            } else if v > limit && code_stage.is_some() {
                out.push(error(
                    (step.provision)(against),
                    format!("{what} is slower than the Code's {limit}: {rule}"),
                ));
            }
        }
    }
    if p.complaint_window_months < 12 {
        out.push(error(
            provision::TWELVE_MONTH_WINDOW,
            format!(
                "complaint window of {} months is shorter than the Code's 12: landlords must accept complaints referred to them within 12 months of the issue occurring or the resident becoming aware of the issue",
                p.complaint_window_months
            ),
        ));
    }
    if p.stage2_escalation_discretionary {
        out.push(error(
            provision::STAGE2_MUST_PROGRESS,
            "escalation to stage 2 is at the landlord's discretion: if all or part of the complaint is not resolved to the resident's satisfaction at stage 1, it must be progressed to stage 2".to_string(),
        ));
    }
    if p.stage2_requires_reasons {
        out.push(error(
            provision::STAGE2_NO_REASONS,
            "escalation to stage 2 requires reasons: residents must not be required to explain their reasons for requesting a stage 2 consideration".to_string(),
        ));
    }
    if p.service_request_target_working_days == Some(0) {
        out.push(error(
            provision::SERVICE_REQUEST,
            "service-request target of 0 working days is impossible: service requests must be recorded, monitored and reviewed, which needs a target of at least one working day".to_string(),
        ));
    }
    match (&p.daily_cutoff, p.daily_cutoff_time()) {
        (Some(raw), None) => out.push(error(
            provision::STAGE1_ACK,
            format!("daily cut-off \"{raw}\" is not an HH:MM time, so the day a complaint is received cannot be decided"),
        )),
        (Some(raw), Some(_)) => out.push(LintFinding {
            provision: provision::STAGE1_ACK,
            severity: Severity::Warning,
            message: format!(
                "daily cut-off {raw}: a complaint arriving after it is counted from the next day, so its deadlines can fall one working day later than the Code's clock \"of the complaint being received\"; the published policy should say so"
            ),
        }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{PolicyProfile, Stage, StageDef, StageTimescales};
    use super::is_extra_named_stage;
    use super::{LintFinding, Severity};

    const DERBY_2024: &str = include_str!("../../../examples/policies/derby-2024.toml");
    const DERBY_2022: &str = include_str!("../../../examples/policies/derby-2022.toml");
    const FORHOUSING: &str = include_str!("../../../examples/policies/forhousing.toml");
    const LIVIN: &str = include_str!("../../../examples/policies/livin.toml");

    const S1: StageTimescales = StageTimescales::code_maximum(Stage::One);
    const S2: StageTimescales = StageTimescales::code_maximum(Stage::Two);

    fn with_stages(stages: &[(&str, StageTimescales)]) -> PolicyProfile {
        let stages = stages.iter().map(|(n, t)| StageDef::new(*n, *t)).collect();
        PolicyProfile {
            stages,
            ..PolicyProfile::code_2024()
        }
    }

    fn only(findings: &[LintFinding]) -> (&'static str, Severity, &str) {
        assert_eq!(findings.len(), 1, "{findings:?}");
        (
            findings[0].provision,
            findings[0].severity,
            findings[0].message.as_str(),
        )
    }

    fn load(text: &str, origin: &str) -> PolicyProfile {
        PolicyProfile::from_toml(text, origin).unwrap_or_else(|e| panic!("{e}"))
    }

    fn cited(p: &PolicyProfile) -> Vec<&'static str> {
        p.lint().iter().map(|f| f.provision).collect()
    }

    #[test]
    fn code_5_3_more_than_two_stages_rejected() {
        let p = with_stages(&[("Stage 1", S1), ("Stage 2", S2), ("Stage 3", S2)]);
        let findings = p.lint();
        assert_eq!(only(&findings).0, "5.3");
        assert_eq!(
            findings[0].to_string(),
            "error [5.3]: 3 stages: a process with more than two stages is not acceptable under any circumstances"
        );
    }

    #[test]
    fn code_5_3_fewer_than_two_stages_rejected() {
        for (stages, count) in [(vec![], "0 stages"), (vec![("Stage 1", S1)], "1 stage:")] {
            let findings = with_stages(&stages).lint();
            let (provision, severity, message) = only(&findings);
            assert_eq!((provision, severity), ("5.3", Severity::Error));
            assert!(
                message.starts_with(count) && message.contains("exactly two stages"),
                "{message}"
            );
        }
    }

    #[test]
    fn code_5_2_informal_stage_rejected() {
        for name in [
            "Stage 0",
            "stage zero",
            "Informal stage",
            "Informal complaint",
            "Pre-complaint",
            "FIRST RESPONSE",
            "First point of contact",
            "Local resolution",
            "Early Resolution",
            "Frontline resolution",
            "Front-line",
            "Triage",
            "Initial Complaint",
        ] {
            assert!(is_extra_named_stage(name), "{name}");
        }
        for name in [
            "Stage 1",
            "Stage 2",
            "Stage 1 Investigation",
            "Stage 2 Review",
            "Stage one - local resolution",
            "Formal complaint",
            "Information",
            "Review",
            "Final response",
            "",
        ] {
            assert!(!is_extra_named_stage(name), "{name}");
        }
        // The extra stage earns 5.2 beside 5.3; the real stages behind it are still checked.
        let p = with_stages(&[("Informal stage", S1), ("Stage 1", S1), ("Stage 2", S2)]);
        let cited: Vec<_> = p.lint().iter().map(|f| f.provision).collect();
        assert_eq!(cited, ["5.3", "5.2"]);
        let p = with_stages(&[
            ("Informal", S1),
            ("Stage 1", S1),
            (
                "Stage 2",
                StageTimescales {
                    respond_working_days: 25,
                    ..S2
                },
            ),
        ]);
        let cited: Vec<_> = p.lint().iter().map(|f| f.provision).collect();
        assert_eq!(cited, ["5.3", "5.2", "6.14"]);
    }

    #[test]
    fn code_2_3_window_shorter_than_12_months_rejected() {
        for (months, rejected) in [(0, true), (6, true), (11, true), (12, false), (24, false)] {
            let p = PolicyProfile {
                complaint_window_months: months,
                ..PolicyProfile::code_2024()
            };
            let findings = p.lint();
            if rejected {
                let (provision, _, message) = only(&findings);
                assert_eq!(provision, "2.3");
                assert!(
                    message.starts_with(&format!("complaint window of {months} months")),
                    "{message}"
                );
            } else {
                assert_eq!(findings, vec![], "{months} months");
            }
        }
    }

    #[test]
    fn code_6_10_stage2_escalation_not_at_landlord_discretion() {
        let p = PolicyProfile {
            stage2_escalation_discretionary: true,
            ..PolicyProfile::code_2024()
        };
        assert_eq!(only(&p.lint()).0, "6.10");
    }

    #[test]
    fn code_6_12_stage2_reasons_not_required() {
        let p = PolicyProfile {
            stage2_requires_reasons: true,
            ..PolicyProfile::code_2024()
        };
        assert_eq!(only(&p.lint()).0, "6.12");
    }

    #[test]
    fn zero_working_days_rejected() {
        let zero = StageTimescales {
            acknowledge_working_days: 0,
            respond_working_days: 0,
            max_extension_working_days: 0,
        };
        let p = with_stages(&[("Stage 1", zero), ("Stage 2", zero)]);
        let findings = p.lint();
        let cited: Vec<_> = findings.iter().map(|f| f.provision).collect();
        assert_eq!(cited, ["6.2", "6.3", "6.4", "6.11", "6.14", "6.15"]);
        let impossible = |f: &LintFinding| f.message.contains("is impossible");
        let all_impossible = findings
            .iter()
            .all(|f| f.severity == Severity::Error && impossible(f));
        assert!(all_impossible, "{findings:?}");
        // Also on a stage the Code does not have, and for the service-request target.
        let p = with_stages(&[("First response", zero), ("Stage 1", S1), ("Stage 2", S2)]);
        assert_eq!(p.lint().len(), 5);
        let p = PolicyProfile {
            service_request_target_working_days: Some(0),
            ..PolicyProfile::code_2024()
        };
        assert_eq!(only(&p.lint()).0, "1.4");
    }

    #[test]
    fn faster_than_code_is_compliant() {
        let fast = StageTimescales {
            acknowledge_working_days: 1,
            respond_working_days: 1,
            max_extension_working_days: 1,
        };
        let p = PolicyProfile {
            service_request_target_working_days: Some(3),
            complaint_window_months: 24,
            ..with_stages(&[("Stage 1", fast), ("Stage 2", fast)])
        };
        assert_eq!(p.lint(), vec![]);
    }

    #[test]
    fn daily_cutoff_warns_and_bad_cutoff_is_an_error() {
        let p = PolicyProfile {
            daily_cutoff: Some("17:00".into()),
            ..PolicyProfile::code_2024()
        };
        let findings = p.lint();
        let (provision, severity, message) = only(&findings);
        assert_eq!((provision, severity), ("6.2", Severity::Warning));
        assert!(message.starts_with("daily cut-off 17:00"), "{message}");
        let p = PolicyProfile {
            daily_cutoff: Some("late".into()),
            ..PolicyProfile::code_2024()
        };
        assert_eq!(only(&p.lint()).1, Severity::Error);
    }

    #[test]
    fn derby_2024_lints_clean() {
        let p = load(DERBY_2024, "derby-2024.toml");
        assert_eq!(p.lint(), vec![]);
        assert_eq!(
            p.timescales(Stage::Two),
            StageTimescales::code_maximum(Stage::Two)
        );
    }

    #[test]
    fn derby_2022_timescales_comply_but_its_6_month_window_breaks_2_3() {
        let p = load(DERBY_2022, "derby-2022.toml");
        assert_eq!(cited(&p), ["2.3"], "{:?}", p.lint());
        let faster = StageTimescales {
            acknowledge_working_days: 3,
            ..StageTimescales::code_maximum(Stage::One)
        };
        assert_eq!(p.timescales(Stage::One), faster);
        assert_eq!(p.timescales(Stage::Two).acknowledge_working_days, 3);
    }

    #[test]
    fn forhousing_three_stages_rejected() {
        let p = load(FORHOUSING, "forhousing.toml");
        assert_eq!(cited(&p), ["5.3", "5.2", "6.14", "2.3"], "{:?}", p.lint());
        assert!(p.lint()[1].message.starts_with("\"First Response\""));
        assert_eq!(
            p.timescales(Stage::Two),
            StageTimescales::code_maximum(Stage::Two)
        );
    }

    #[test]
    fn livin_informal_stage_rejected() {
        let p = load(LIVIN, "livin.toml");
        assert_eq!(cited(&p), ["5.3", "5.2", "6.10", "6.12"], "{:?}", p.lint());
        assert!(p.lint()[1].message.starts_with("\"Informal stage\""));
        assert_eq!(p.service_request_target_working_days, Some(10));
    }
}
