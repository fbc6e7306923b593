//! The Housing Ombudsman's Complaint Handling Code (2024): its timescales, the landlord policy
//! profiles that tune them, and a lint that checks a profile against the Code.
//!
//! The Code sets maxima. A landlord may promise to be faster, never slower, so every deadline
//! the daemon computes comes from a profile whose timescales are capped at the Code's (see
//! [`PolicyProfile::timescales`]). Provision numbers (6.2, 5.3, ...) are those of the Code as
//! quoted in its self-assessment form; each limit carries the provision that sets it so that
//! letters, alerts and lint findings can cite it.

mod lint;
mod profile;

pub use lint::{LintFinding, Severity};
pub use profile::{PolicyProfile, ProfileError, StageDef};

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::core::calendar::Calendar;

/// Code provisions, by number, so that messages cite the rule they apply.
pub mod provision {
    /// "A service request is a request from a resident to the landlord requiring action to be
    /// taken to put something right. Service requests are not complaints, but must be recorded,
    /// monitored and reviewed regularly."
    pub const SERVICE_REQUEST: &str = "1.4";
    /// "A complaint must be raised when the resident expresses dissatisfaction with the response
    /// to their service request, even if the handling of the service request remains ongoing."
    pub const SERVICE_REQUEST_DISSATISFACTION: &str = "1.5";
    /// "Landlords must accept complaints referred to them within 12 months of the issue occurring
    /// or the resident becoming aware of the issue, unless they are excluded on other grounds."
    pub const TWELVE_MONTH_WINDOW: &str = "2.3";
    /// "If a landlord decides not to accept a complaint, an explanation must be provided to the
    /// resident setting out the reasons why the matter is not suitable for the complaints process
    /// and the right to take that decision to the Ombudsman."
    pub const NOT_ACCEPTED_REASONS: &str = "2.4";
    /// "It is not appropriate to have extra named stages (such as 'stage 0' or 'informal
    /// complaint') as this causes unnecessary confusion."
    pub const EXTRA_NAMED_STAGE: &str = "5.2";
    /// "A process with more than two stages is not acceptable under any circumstances as this
    /// will make the complaint process unduly long and delay access to the Ombudsman."
    pub const MORE_THAN_TWO_STAGES: &str = "5.3";
    /// "Complaints must be acknowledged, defined and logged at stage 1 of the complaints
    /// procedure within five working days of the complaint being received."
    pub const STAGE1_ACK: &str = "6.2";
    /// "Landlords must issue a full response to stage 1 complaints within 10 working days of the
    /// complaint being acknowledged."
    pub const STAGE1_RESPONSE: &str = "6.3";
    /// "Any extension must be no more than 10 working days without good reason, and the
    /// reason(s) must be clearly explained to the resident."
    pub const STAGE1_EXTENSION: &str = "6.4";
    /// "When an organisation informs a resident about an extension to these timescales, they
    /// must be provided with the contact details of the Ombudsman."
    pub const STAGE1_EXTENSION_LETTER: &str = "6.5";
    /// "If all or part of the complaint is not resolved to the resident's satisfaction at stage
    /// 1, it must be progressed to stage 2 of the landlord's procedure."
    pub const STAGE2_MUST_PROGRESS: &str = "6.10";
    /// "Requests for stage 2 must be acknowledged, defined and logged at stage 2 of the
    /// complaints procedure within five working days of the escalation request being received."
    pub const STAGE2_ACK: &str = "6.11";
    /// "Residents must not be required to explain their reasons for requesting a stage 2
    /// consideration."
    pub const STAGE2_NO_REASONS: &str = "6.12";
    /// "The person considering the complaint at stage 2 must not be the same person that
    /// considered the complaint at stage 1."
    pub const STAGE2_DIFFERENT_HANDLER: &str = "6.13";
    /// "Landlords must issue a final response to the stage 2 within 20 working days of the
    /// complaint being acknowledged."
    pub const STAGE2_RESPONSE: &str = "6.14";
    /// "Any extension must be no more than 20 working days without good reason, and the
    /// reason(s) must be clearly explained to the resident."
    pub const STAGE2_EXTENSION: &str = "6.15";
    /// As 6.5, for stage 2: the extension letter gives the Ombudsman's contact details.
    pub const STAGE2_EXTENSION_LETTER: &str = "6.16";
}

/// A complaint stage under the Code: exactly two exist (5.3), stage 2 being the landlord's
/// final response (6.10). Serialised as its number, 1 or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Stage {
    One,
    Two,
}

impl Stage {
    /// Both stages, in order.
    pub const ALL: [Stage; 2] = [Stage::One, Stage::Two];

    pub fn number(self) -> u8 {
        match self {
            Stage::One => 1,
            Stage::Two => 2,
        }
    }

    pub fn from_number(n: u8) -> Option<Stage> {
        match n {
            1 => Some(Stage::One),
            2 => Some(Stage::Two),
            _ => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage {}", self.number())
    }
}

impl From<Stage> for u8 {
    fn from(stage: Stage) -> u8 {
        stage.number()
    }
}

/// A stage number other than 1 or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no stage {0}: the Code has exactly two stages, 1 and 2")]
pub struct InvalidStage(pub u8);

impl TryFrom<u8> for Stage {
    type Error = InvalidStage;
    fn try_from(n: u8) -> Result<Stage, InvalidStage> {
        Stage::from_number(n).ok_or(InvalidStage(n))
    }
}

/// The three clocks of a stage, in working days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTimescales {
    /// From receipt (stage 1) or the escalation request (stage 2) to the acknowledgement.
    pub acknowledge_working_days: u32,
    /// From the acknowledgement to the full (stage 1) or final (stage 2) response.
    pub respond_working_days: u32,
    /// The longest extension of the response date allowed without good reason.
    pub max_extension_working_days: u32,
}

impl StageTimescales {
    /// The Code's limits: 6.2, 6.3 and 6.4 for stage 1; 6.11, 6.14 and 6.15 for stage 2.
    pub const fn code_maximum(stage: Stage) -> StageTimescales {
        match stage {
            Stage::One => StageTimescales {
                acknowledge_working_days: 5,
                respond_working_days: 10,
                max_extension_working_days: 10,
            },
            Stage::Two => StageTimescales {
                acknowledge_working_days: 5,
                respond_working_days: 20,
                max_extension_working_days: 20,
            },
        }
    }

    /// Each clock capped at the Code's maximum for `stage`: a landlord may be faster, never
    /// slower.
    pub fn capped(self, stage: Stage) -> StageTimescales {
        let max = StageTimescales::code_maximum(stage);
        StageTimescales {
            acknowledge_working_days: self
                .acknowledge_working_days
                .min(max.acknowledge_working_days),
            respond_working_days: self.respond_working_days.min(max.respond_working_days),
            max_extension_working_days: self
                .max_extension_working_days
                .min(max.max_extension_working_days),
        }
    }
}

/// The provision that sets the acknowledgement deadline of `stage`.
pub fn ack_provision(stage: Stage) -> &'static str {
    match stage {
        Stage::One => provision::STAGE1_ACK,
        Stage::Two => provision::STAGE2_ACK,
    }
}

/// The provision that sets the response deadline of `stage`.
pub fn response_provision(stage: Stage) -> &'static str {
    match stage {
        Stage::One => provision::STAGE1_RESPONSE,
        Stage::Two => provision::STAGE2_RESPONSE,
    }
}

/// The provision that limits an extension at `stage`.
pub fn extension_provision(stage: Stage) -> &'static str {
    match stage {
        Stage::One => provision::STAGE1_EXTENSION,
        Stage::Two => provision::STAGE2_EXTENSION,
    }
}

/// The deadlines of one stage of one complaint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub stage: Stage,
    /// When the complaint (stage 1) or escalation request (stage 2) was received.
    pub received: NaiveDate,
    pub ack_due: NaiveDate,
    pub response_due: NaiveDate,
    /// The response date after an extension; `None` when there is no extension.
    pub extended_due: Option<NaiveDate>,
}

/// Computes a stage's deadlines.
///
/// `ack_due` is `t.acknowledge_working_days` working days after `received`. The response clock
/// runs from the acknowledgement (6.3, 6.14: "of the complaint being acknowledged"): from the
/// actual acknowledgement date if there is one, else from `ack_due`. An acknowledgement dated
/// before receipt is a data error and is treated as made on the day of receipt, so the response
/// can never fall due before the complaint existed. `extended_due` is `extension_days` working
/// days after `response_due`; the caller decides the length, since the Code allows a longer
/// extension with good reason (6.4, 6.15).
pub fn deadlines(
    cal: &Calendar,
    t: StageTimescales,
    stage: Stage,
    received: NaiveDate,
    acknowledged: Option<NaiveDate>,
    extension_days: Option<u32>,
) -> Deadlines {
    let ack_due = cal.add_working_days(received, t.acknowledge_working_days);
    let clock_start = acknowledged.map_or(ack_due, |a| a.max(received));
    let response_due = cal.add_working_days(clock_start, t.respond_working_days);
    Deadlines {
        stage,
        received,
        ack_due,
        response_due,
        extended_due: extension_days.map(|n| cal.add_working_days(response_due, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test dates are valid")
    }

    /// The Code's own profile with one clock of one stage set to `days`.
    fn code_with(stage: Stage, step: usize, days: u32) -> PolicyProfile {
        let mut p = PolicyProfile::code_2024();
        let s = &mut p.stages[usize::from(stage.number() - 1)];
        *[
            &mut s.acknowledge_working_days,
            &mut s.respond_working_days,
            &mut s.max_extension_working_days,
        ][step] = days;
        p
    }

    /// Deadlines under the Code's maxima. Dates avoid bank holidays so that the test holds
    /// whatever holidays the calendar knows.
    fn code_deadlines(
        stage: Stage,
        received: &str,
        ack: Option<&str>,
        ext: Option<u32>,
    ) -> Deadlines {
        let t = StageTimescales::code_maximum(stage);
        deadlines(
            &Calendar::england_and_wales(),
            t,
            stage,
            d(received),
            ack.map(d),
            ext,
        )
    }

    /// A clock at the Code's limit is clean; one day more is an error citing `provision`.
    fn assert_limit(stage: Stage, step: usize, limit: u32, provision: &str) {
        assert!(code_with(stage, step, limit).lint().is_empty());
        let findings = code_with(stage, step, limit + 1).lint();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(
            (findings[0].provision, findings[0].severity),
            (provision, Severity::Error)
        );
        assert!(
            findings[0].message.contains("slower than the Code"),
            "{}",
            findings[0]
        );
    }

    #[test]
    fn code_6_2_stage1_ack_within_5_working_days() {
        // Monday, Friday, Saturday and Sunday receipt: a weekend counts from the next working day.
        for (received, ack_due) in [
            ("2026-06-01", "2026-06-08"),
            ("2026-06-05", "2026-06-12"),
            ("2026-06-06", "2026-06-12"),
            ("2026-06-07", "2026-06-12"),
        ] {
            let dl = code_deadlines(Stage::One, received, None, None);
            assert_eq!(dl.ack_due, d(ack_due), "received {received}");
        }
        assert_eq!(ack_provision(Stage::One), provision::STAGE1_ACK);
        assert_limit(Stage::One, 0, 5, "6.2");
    }

    #[test]
    fn code_6_3_stage1_response_within_10_working_days_of_ack() {
        // (acknowledged, response_due): from ack_due when not yet acknowledged, else from the
        // acknowledgement; one dated before receipt counts from receipt.
        for (ack, response_due) in [
            (None, "2026-06-22"),
            (Some("2026-06-02"), "2026-06-16"),
            (Some("2026-05-29"), "2026-06-15"),
        ] {
            let dl = code_deadlines(Stage::One, "2026-06-01", ack, None);
            assert_eq!(dl.response_due, d(response_due), "acknowledged {ack:?}");
            assert_eq!(dl.extended_due, None);
        }
        assert_eq!(response_provision(Stage::One), provision::STAGE1_RESPONSE);
        assert_limit(Stage::One, 1, 10, "6.3");
    }

    #[test]
    fn code_6_4_stage1_extension_at_most_10_working_days() {
        let dl = code_deadlines(Stage::One, "2026-06-01", None, Some(10));
        assert_eq!(dl.extended_due, Some(d("2026-07-06")));
        assert_eq!(extension_provision(Stage::One), provision::STAGE1_EXTENSION);
        assert_limit(Stage::One, 2, 10, "6.4");
    }

    #[test]
    fn code_6_11_stage2_ack_within_5_working_days_of_escalation() {
        let dl = code_deadlines(Stage::Two, "2026-06-03", None, None);
        assert_eq!((dl.stage, dl.ack_due), (Stage::Two, d("2026-06-10")));
        assert_eq!(ack_provision(Stage::Two), provision::STAGE2_ACK);
        assert_limit(Stage::Two, 0, 5, "6.11");
    }

    #[test]
    fn code_6_14_stage2_response_within_20_working_days_of_ack() {
        assert_eq!(
            code_deadlines(Stage::Two, "2026-06-03", None, None).response_due,
            d("2026-07-08")
        );
        let acked = code_deadlines(Stage::Two, "2026-06-03", Some("2026-06-04"), None);
        assert_eq!(acked.response_due, d("2026-07-02"));
        assert_eq!(response_provision(Stage::Two), provision::STAGE2_RESPONSE);
        assert_limit(Stage::Two, 1, 20, "6.14");
    }

    #[test]
    fn code_6_15_stage2_extension_at_most_20_working_days() {
        let dl = code_deadlines(Stage::Two, "2026-06-03", None, Some(20));
        assert_eq!(dl.extended_due, Some(d("2026-08-05")));
        assert_eq!(extension_provision(Stage::Two), provision::STAGE2_EXTENSION);
        assert_limit(Stage::Two, 2, 20, "6.15");
    }

    #[test]
    fn stage1_ack_due_skips_christmas_2026() {
        // Friday 18 December: Christmas Day is a Friday and Boxing Day's substitute is Monday 28.
        let dl = code_deadlines(Stage::One, "2026-12-18", None, None);
        assert_eq!(dl.ack_due, d("2026-12-29"));
        // Then 1 January 2027, a Friday, is skipped too.
        assert_eq!(dl.response_due, d("2027-01-13"));
    }

    #[test]
    fn deadlines_serialise_as_json_with_stage_number_and_iso_dates() {
        let dl = Deadlines {
            stage: Stage::One,
            received: d("2026-12-18"),
            ack_due: d("2026-12-29"),
            response_due: d("2027-01-13"),
            extended_due: None,
        };
        let json = serde_json::to_string(&dl).expect("serialises");
        assert_eq!(
            json,
            r#"{"stage":1,"received":"2026-12-18","ack_due":"2026-12-29","response_due":"2027-01-13","extended_due":null}"#
        );
        let dl = Deadlines {
            stage: Stage::Two,
            extended_due: Some(d("2027-01-27")),
            ..dl
        };
        let json = serde_json::to_string(&dl).expect("serialises");
        assert!(
            json.starts_with(r#"{"stage":2,"#) && json.ends_with(r#""extended_due":"2027-01-27"}"#)
        );
    }

    #[test]
    fn stage_is_numbered_1_and_2() {
        assert_eq!(Stage::ALL.map(Stage::number), [1, 2]);
        assert_eq!(Stage::ALL.map(|s| s.to_string()), ["stage 1", "stage 2"]);
        assert_eq!((Stage::from_number(0), Stage::from_number(3)), (None, None));
        assert_eq!(serde_json::from_str::<Stage>("2").ok(), Some(Stage::Two));
        for bad in ["0", "3", "\"1\""] {
            assert!(serde_json::from_str::<Stage>(bad).is_err(), "{bad}");
        }
        assert_eq!(Stage::try_from(7), Err(InvalidStage(7)));
    }
}
