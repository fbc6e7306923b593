//! When staff must hear about a due date: the alert levels of every due item and the dates
//! they fall due, decided from dates alone.
//!
//! SPEC §5: an at-risk alert N working days before a deadline, a breach alert once it has
//! passed, escalation to senior staff M working days after that; reminders for the things the
//! Code asks landlords to keep track of (6.6 actions, 5.9 updates during an extension, 5.10
//! and 5.14 reviews, payments under 2024 policy §14.28). Alerts fall on working days, so a
//! deadline missed on Christmas Eve is reported on the next working day, not on Boxing Day.
//! The scheduler decides *whether* an alert was already raised; this module only says *when*
//! each is due, so the same answer serves the scan, the digest and the forecast.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::core::calendar::Calendar;
use crate::core::code::{self, Stage};
use crate::core::model::DueKind;

/// How far ahead and how long after a deadline staff are alerted, in working days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertTiming {
    /// At-risk alerts go out this many working days before the due date (0: none).
    pub at_risk_working_days: u32,
    /// A breach still open this many working days after the due date goes to senior staff.
    pub escalate_after_working_days: u32,
}

impl Default for AlertTiming {
    fn default() -> Self {
        AlertTiming {
            at_risk_working_days: 2,
            escalate_after_working_days: 5,
        }
    }
}

/// How serious an alert is. Each (case, due item, due date, level) is raised at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The deadline is close and no letter that meets it is approved.
    AtRisk,
    /// The deadline has passed: a breach of the Code.
    Breached,
    /// Still not put right some working days after the breach: senior staff must act.
    Escalated,
    /// Something to do today that is not itself a Code deadline (a review, an update).
    Reminder,
}

impl Level {
    /// Its name in keys, JSON and emails.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::AtRisk => "at_risk",
            Level::Breached => "breached",
            Level::Escalated => "escalated",
            Level::Reminder => "reminder",
        }
    }

    /// As staff read it in an email: "at risk", "breached".
    pub fn words(self) -> &'static str {
        match self {
            Level::AtRisk => "at risk",
            Level::Breached => "breached",
            Level::Escalated => "escalated",
            Level::Reminder => "due",
        }
    }

    /// The level a key names.
    pub fn from_str_key(s: &str) -> Option<Level> {
        [
            Level::AtRisk,
            Level::Breached,
            Level::Escalated,
            Level::Reminder,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// Whether a due item is a deadline the Code sets (missing it is a breach) or a reminder.
pub fn is_deadline(what: &DueKind) -> bool {
    matches!(
        what,
        DueKind::Acknowledgement { .. } | DueKind::Response { .. } | DueKind::ServiceTarget
    )
}

/// The date each alert of a due item falls due, in level order. Deadlines: at risk (when
/// configured), breached on the first working day after the due date, escalated
/// `escalate_after_working_days` working days after it. Reminders: on the due date, or the
/// next working day when it is not one.
pub fn level_dates(
    due: NaiveDate,
    what: &DueKind,
    calendar: &Calendar,
    timing: AlertTiming,
) -> Vec<(Level, NaiveDate)> {
    if !is_deadline(what) {
        let on = if calendar.is_working_day(due) {
            due
        } else {
            calendar.add_working_days(due, 1)
        };
        return vec![(Level::Reminder, on)];
    }
    let mut dates = Vec::with_capacity(3);
    if timing.at_risk_working_days > 0 {
        dates.push((
            Level::AtRisk,
            calendar.sub_working_days(due, timing.at_risk_working_days),
        ));
    }
    dates.push((Level::Breached, calendar.add_working_days(due, 1)));
    dates.push((
        Level::Escalated,
        calendar.add_working_days(due, timing.escalate_after_working_days.max(1)),
    ));
    dates
}

/// The alerts of a due item that are due by `today`. An at-risk alert is only worth sending
/// while the deadline can still be met; a breach found late (a back-filled complaint) is
/// reported however late, and so is its escalation.
pub fn levels_due(
    due: NaiveDate,
    what: &DueKind,
    today: NaiveDate,
    calendar: &Calendar,
    timing: AlertTiming,
) -> Vec<Level> {
    level_dates(due, what, calendar, timing)
        .into_iter()
        .filter(|(level, on)| *on <= today && (*level != Level::AtRisk || today <= due))
        .map(|(level, _)| level)
        .collect()
}

/// The latest due date any alert can have fallen due for by `today` (at-risk alerts look
/// ahead): a scan need read the due-date index no further.
pub fn horizon(today: NaiveDate, calendar: &Calendar, timing: AlertTiming) -> NaiveDate {
    // sub_working_days(d, n) <= today exactly when d <= the day before the (n+1)-th working
    // day after today.
    calendar
        .add_working_days(today, timing.at_risk_working_days + 1)
        .pred_opt()
        .unwrap_or(today)
}

/// A date before which every due item has had all its alerts fall due by `today`: a scan
/// that has dealt with them need not read them again. Conservative: it may be earlier than
/// the latest such date, never later.
pub fn settled_before(today: NaiveDate, calendar: &Calendar, timing: AlertTiming) -> NaiveDate {
    // The last alert of any item is at most `escalate` working days after its due date, and
    // alerts fall on working days: count back from the last working day up to today.
    let last = timing.escalate_after_working_days.max(1);
    let worked = if calendar.is_working_day(today) {
        today
    } else {
        calendar.sub_working_days(today, 1)
    };
    calendar
        .sub_working_days(worked, last)
        .succ_opt()
        .unwrap_or(today)
}

/// What a due item is, in words staff read: "stage 1 acknowledgement".
pub fn describe(what: &DueKind) -> String {
    match what {
        DueKind::Acknowledgement { stage } => format!("stage {} acknowledgement", stage.number()),
        DueKind::Response { stage } => format!("stage {} response", stage.number()),
        DueKind::ServiceTarget => "service request target".to_owned(),
        DueKind::Action { stage, index } => format!(
            "outstanding action {} from the stage {} response",
            index + 1,
            stage.number()
        ),
        DueKind::AdjustmentReview { index } => {
            format!("review of reasonable adjustment {}", index + 1)
        }
        DueKind::RestrictionReview { index } => {
            format!("review of contact restriction {}", index + 1)
        }
        DueKind::ExtensionUpdate { stage, n } => format!(
            "update {} to the resident while the stage {} response is extended",
            n + 1,
            stage.number()
        ),
        DueKind::PaymentDetails { stage, index } => format!(
            "payment {} offered in the stage {} response",
            index + 1,
            stage.number()
        ),
    }
}

/// The provision a due item comes from, as letters and alerts cite it.
pub fn provision(what: &DueKind) -> String {
    let code = |p: &str| format!("Code {p}");
    match what {
        DueKind::Acknowledgement { stage } => code(code::ack_provision(*stage)),
        DueKind::Response { stage } => code(code::response_provision(*stage)),
        DueKind::ServiceTarget => "the landlord's service standard (Code 1.2)".to_owned(),
        DueKind::Action { .. } => code("6.6"),
        DueKind::AdjustmentReview { .. } => code("5.10"),
        DueKind::RestrictionReview { .. } => code("5.14"),
        DueKind::ExtensionUpdate { .. } => code("5.9"),
        DueKind::PaymentDetails { .. } => "2024 policy §14.28".to_owned(),
    }
}

/// What would put a due item right, for the alert's "next step".
pub fn next_step(what: &DueKind) -> &'static str {
    match what {
        DueKind::Acknowledgement { .. } => {
            "record the complaint definition and approve the acknowledgement"
        }
        DueKind::Response { .. } => {
            "record the decision and approve the response, or agree an extension with reasons"
        }
        DueKind::ServiceTarget => "complete the service request or tell the resident why not",
        DueKind::Action { .. } => {
            "complete the action and record it, and approve the update letter to the resident"
        }
        DueKind::AdjustmentReview { .. } => {
            "review the adjustment with the resident and record the next review date"
        }
        DueKind::RestrictionReview { .. } => {
            "review whether the restriction is still needed and tell the resident the outcome"
        }
        DueKind::ExtensionUpdate { .. } => {
            "update the resident on the complaint, as agreed when the response was extended"
        }
        DueKind::PaymentDetails { .. } => {
            "pay by the details given, or credit the rent account if none came, and record the payment"
        }
    }
}

/// Where a deadline stands on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Past its due date.
    Breached,
    /// Due today.
    DueToday,
    /// Inside the at-risk window.
    AtRisk,
    /// Due later.
    Upcoming,
    /// A reminder whose day has come (or passed).
    ReminderDue,
    /// A reminder for a later day.
    ReminderUpcoming,
}

/// The state of a due item on `today`.
pub fn state(
    due: NaiveDate,
    what: &DueKind,
    today: NaiveDate,
    calendar: &Calendar,
    timing: AlertTiming,
) -> State {
    if !is_deadline(what) {
        return if due <= today {
            State::ReminderDue
        } else {
            State::ReminderUpcoming
        };
    }
    if due < today {
        State::Breached
    } else if due == today {
        State::DueToday
    } else if timing.at_risk_working_days > 0
        && calendar.sub_working_days(due, timing.at_risk_working_days) <= today
    {
        State::AtRisk
    } else {
        State::Upcoming
    }
}

/// The stage a due item belongs to, if any.
pub fn stage_of(what: &DueKind) -> Option<Stage> {
    match what {
        DueKind::Acknowledgement { stage }
        | DueKind::Response { stage }
        | DueKind::Action { stage, .. }
        | DueKind::ExtensionUpdate { stage, .. }
        | DueKind::PaymentDetails { stage, .. } => Some(*stage),
        DueKind::ServiceTarget
        | DueKind::AdjustmentReview { .. }
        | DueKind::RestrictionReview { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn cal() -> Calendar {
        Calendar::england_and_wales()
    }

    const ACK1: DueKind = DueKind::Acknowledgement { stage: Stage::One };

    #[test]
    fn a_deadline_over_christmas_is_at_risk_and_breached_on_working_days() {
        // Received Friday 18 December 2026: acknowledgement due Tuesday 29 December (25 and
        // 28 December are bank holidays, 26 and 27 the weekend).
        let dates = level_dates(d("2026-12-29"), &ACK1, &cal(), AlertTiming::default());
        assert_eq!(
            dates,
            vec![
                (Level::AtRisk, d("2026-12-23")),
                (Level::Breached, d("2026-12-30")),
                (Level::Escalated, d("2027-01-06")),
            ]
        );
    }

    #[test]
    fn an_at_risk_alert_is_not_sent_once_the_deadline_has_passed() {
        let t = AlertTiming::default();
        let due = d("2026-12-29");
        assert_eq!(levels_due(due, &ACK1, d("2026-12-22"), &cal(), t), vec![]);
        assert_eq!(
            levels_due(due, &ACK1, d("2026-12-24"), &cal(), t),
            vec![Level::AtRisk]
        );
        assert_eq!(
            levels_due(due, &ACK1, d("2026-12-30"), &cal(), t),
            vec![Level::Breached]
        );
        assert_eq!(
            levels_due(due, &ACK1, d("2027-01-20"), &cal(), t),
            vec![Level::Breached, Level::Escalated]
        );
    }

    #[test]
    fn reminders_fall_on_their_day_or_the_next_working_day() {
        let review = DueKind::AdjustmentReview { index: 0 };
        let t = AlertTiming::default();
        assert_eq!(
            level_dates(d("2026-12-25"), &review, &cal(), t),
            vec![(Level::Reminder, d("2026-12-29"))]
        );
        assert_eq!(
            level_dates(d("2026-12-21"), &review, &cal(), t),
            vec![(Level::Reminder, d("2026-12-21"))]
        );
    }

    #[test]
    fn no_at_risk_alert_when_the_window_is_zero() {
        let t = AlertTiming {
            at_risk_working_days: 0,
            escalate_after_working_days: 3,
        };
        let levels: Vec<Level> = level_dates(d("2026-12-29"), &ACK1, &cal(), t)
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(levels, vec![Level::Breached, Level::Escalated]);
    }

    /// The scan's bounds must cover every item with an alert due, whatever the day: checked
    /// against the per-item answer over two years of days, Christmas and Easter included.
    #[test]
    fn the_scan_window_holds_every_item_with_an_alert_due() {
        let cal = cal();
        for timing in [
            AlertTiming::default(),
            AlertTiming {
                at_risk_working_days: 0,
                escalate_after_working_days: 1,
            },
            AlertTiming {
                at_risk_working_days: 5,
                escalate_after_working_days: 10,
            },
        ] {
            let mut today = d("2026-01-01");
            while today < d("2027-12-31") {
                let (from, to) = (
                    settled_before(today, &cal, timing),
                    horizon(today, &cal, timing),
                );
                let mut due = today - chrono::Days::new(40);
                while due < today + chrono::Days::new(40) {
                    for what in [ACK1, DueKind::AdjustmentReview { index: 0 }] {
                        let dates = level_dates(due, &what, &cal, timing);
                        let any_due = dates.iter().any(|(_, on)| *on <= today);
                        let all_due = dates.iter().all(|(_, on)| *on <= today);
                        if any_due {
                            assert!(due <= to, "{due} beyond horizon {to} on {today}");
                        }
                        if due < from {
                            assert!(all_due, "{due} settled on {today} but has alerts to come");
                        }
                    }
                    due = due.succ_opt().expect("a date");
                }
                today = today.succ_opt().expect("a date");
            }
        }
    }

    #[test]
    fn a_deadline_is_breached_after_its_day_and_at_risk_inside_the_window() {
        let t = AlertTiming::default();
        let due = d("2026-12-29");
        let on = |today| state(due, &ACK1, d(today), &cal(), t);
        assert_eq!(on("2026-12-21"), State::Upcoming);
        assert_eq!(on("2026-12-23"), State::AtRisk);
        assert_eq!(on("2026-12-29"), State::DueToday);
        assert_eq!(on("2026-12-30"), State::Breached);
    }

    #[test]
    fn every_due_kind_round_trips_through_its_key() {
        let kinds = [
            ACK1,
            DueKind::Response { stage: Stage::Two },
            DueKind::ServiceTarget,
            DueKind::Action {
                index: 3,
                stage: Stage::One,
            },
            DueKind::AdjustmentReview { index: 1 },
            DueKind::RestrictionReview { index: 0 },
            DueKind::ExtensionUpdate {
                stage: Stage::Two,
                n: 2,
            },
            DueKind::PaymentDetails {
                stage: Stage::One,
                index: 0,
            },
        ];
        for kind in kinds {
            assert_eq!(DueKind::from_key(&kind.key()), Some(kind.clone()));
            assert!(!describe(&kind).is_empty());
        }
        assert_eq!(DueKind::from_key("ack9"), None);
        assert_eq!(DueKind::from_key("nonsense"), None);
    }
}
